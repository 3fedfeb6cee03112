//! Grants as texts, what covers what, judging, and the policy file.

use std::os::unix::fs::symlink;
use std::path::Path;

use super::Host;
use crate::policy::{Grant, Mode, Privilege, file, judge};

fn grant(text: &str) -> Grant {
    text.parse().unwrap()
}

#[test]
fn grants_read_back_as_written_and_odd_texts_are_refused() {
    for text in [
        "privileged",
        "network:host",
        "network:container:vpn",
        "cap:NET_ADMIN",
        "cap:ALL",
        "bind:/srv/media",
        "bind:/srv/media:ro",
        "env_file:/etc/app.env",
        "file:/etc/db.key",
        "device:/dev/sdb1",
        "network-driver:macvlan",
        "volumes-from:legacy",
        "link:legacy_db",
        "device-requests",
        "oom-protection",
    ] {
        assert_eq!(grant(text).to_string(), text);
    }
    assert_eq!(grant("cap:cap_sys_admin").to_string(), "cap:SYS_ADMIN");
    for bad in [
        "root",
        "bind:relative",
        "network:bridge",
        "cap:",
        "env_file:x",
        "file:relative",
        "mount:/x",
        "volumes-from:",
        "link:two words",
    ] {
        assert!(bad.parse::<Grant>().is_err(), "{bad}");
    }
}

#[test]
fn a_grant_covers_those_that_give_no_more() {
    let table = [
        ("privileged", "cap:SYS_ADMIN", true),
        ("cap:ALL", "cap:NET_ADMIN", true),
        ("cap:NET_ADMIN", "cap:SYS_ADMIN", false),
        ("cap:SYS_ADMIN", "privileged", false),
        ("bind:/srv", "bind:/srv/media:ro", true),
        ("bind:/srv", "bind:/srv/media", true),
        ("bind:/srv:ro", "bind:/srv/media", false),
        ("bind:/srv:ro", "bind:/srv/media:ro", true),
        ("bind:/srv/media", "bind:/srv", false),
        ("bind:/srv/m", "bind:/srv/media", false),
        ("bind:/srv", "env_file:/srv/app.env", true),
        ("env_file:/etc/app", "env_file:/etc/app/x.env", true),
        ("env_file:/etc/app.env", "bind:/etc/app.env", false),
        ("bind:/srv", "file:/srv/db.key", true),
        ("file:/etc/keys", "file:/etc/keys/db.key", true),
        ("file:/etc/keys", "env_file:/etc/keys/x.env", false),
        ("env_file:/etc/keys", "file:/etc/keys/db.key", false),
        ("network:host", "network:host", true),
        ("network:host", "network:container:x", false),
        ("device:/dev/sdb1", "device:/dev/sdb1", true),
    ];
    for (allowed, asked, covers) in table {
        assert_eq!(
            grant(allowed).covers(&grant(asked)),
            covers,
            "{allowed} covers {asked}"
        );
    }
}

fn asked(grants: &[&str]) -> Vec<Privilege> {
    grants
        .iter()
        .map(|g| Privilege {
            grant: grant(g),
            origins: Vec::new(),
        })
        .collect()
}

pub(super) fn grants(texts: &[&str]) -> Vec<Grant> {
    texts.iter().map(|t| grant(t)).collect()
}

#[test]
fn judging_pins_what_predates_the_records_and_holds_more_than_recorded_or_allowed() {
    use crate::policy::FirstSight::{self, New, Trusted};
    let held = |v: crate::policy::Verdict| -> Vec<String> {
        v.held.iter().map(|p| p.grant.to_string()).collect()
    };
    let ask = asked(&["privileged", "bind:/srv/media:ro"]);
    let recorded = grants(&["privileged", "bind:/srv"]);
    let only_privileged = grants(&["privileged"]);
    let file = grants(&["bind:/srv/media"]);
    type Row<'a> = (
        &'a str,
        Mode,
        Option<&'a [Grant]>,
        &'a [Grant],
        FirstSight,
        &'a [&'a str],
        bool,
    );
    let table: [Row; 8] = [
        (
            "trusted first sight is pinned",
            Mode::Pinned,
            None,
            &[],
            Trusted,
            &[],
            true,
        ),
        (
            "a new project asking for privileges is held",
            Mode::Pinned,
            None,
            &[],
            New,
            &["privileged", "bind:/srv/media:ro"],
            false,
        ),
        (
            "a new project is pinned when the file allows all it asks",
            Mode::Pinned,
            None,
            &grants(&["privileged", "bind:/srv"]),
            New,
            &[],
            true,
        ),
        (
            "what the record covers passes",
            Mode::Pinned,
            Some(&recorded),
            &[],
            New,
            &[],
            false,
        ),
        (
            "more than recorded is held",
            Mode::Pinned,
            Some(&only_privileged),
            &[],
            Trusted,
            &["bind:/srv/media:ro"],
            false,
        ),
        (
            "the policy file adds to the record",
            Mode::Pinned,
            Some(&only_privileged),
            &file,
            New,
            &[],
            false,
        ),
        (
            "strict ignores the record",
            Mode::Strict,
            Some(&recorded),
            &grants(&["bind:/srv"]),
            Trusted,
            &["privileged"],
            false,
        ),
        (
            "strict allows only the file",
            Mode::Strict,
            None,
            &[],
            Trusted,
            &["privileged", "bind:/srv/media:ro"],
            false,
        ),
    ];
    for (what, mode, record, allowed, first, want, pin) in table {
        let verdict = judge(mode, &ask, record, allowed, first);
        assert_eq!(verdict.pin, pin, "{what}");
        assert_eq!(held(verdict), want, "{what}");
    }
    let nothing = judge(Mode::Pinned, &[], None, &[], New);
    assert!(
        nothing.pin && nothing.held.is_empty(),
        "a project asking for nothing is pinned"
    );
}

#[test]
fn the_policy_file_lists_grants_per_project_and_names_the_line_of_a_bad_one() {
    let path = Path::new("/etc/composectl/policy.yaml");
    let parsed = file::parse(
        "# host policy\nshop:\n  - cap:NET_ADMIN\n  - bind:/volume1/media:ro\nblog:\n",
        path,
    )
    .unwrap();
    assert_eq!(
        parsed.allowed("shop"),
        grants(&["cap:NET_ADMIN", "bind:/volume1/media:ro"])
    );
    assert!(parsed.allowed("blog").is_empty() && parsed.allowed("other").is_empty());
    assert_eq!(file::parse("", path).unwrap().projects.len(), 0);
    for (text, line, needle) in [
        ("shop:\n  - cap:NET_ADMIN\n  - root\n", 3, "not a privilege"),
        ("shop: privileged\n", 1, "takes a list"),
        ("Shop:\n  - privileged\n", 1, "write `shop`"),
        ("- shop\n", 1, "expected a mapping"),
    ] {
        let err = file::parse(text, path).unwrap_err().to_string();
        assert!(
            err.contains(&format!("policy.yaml:{line}:")) && err.contains(needle),
            "{text:?}: {err}"
        );
    }
}

#[test]
fn a_policy_file_inside_the_desired_directory_is_refused_even_through_a_symlink() {
    let host = Host::new();
    host.write("policy.yaml", "shop: [privileged]\n");
    let err = file::load(&host.desired().join("policy.yaml"), &host.desired()).unwrap_err();
    assert!(
        err.to_string().contains("inside the desired directory"),
        "{err}"
    );
    symlink(
        host.desired().join("policy.yaml"),
        host.base.join("policy.yaml"),
    )
    .unwrap();
    let err = file::load(&host.base.join("policy.yaml"), &host.desired()).unwrap_err();
    assert!(
        err.to_string().contains("a commit could change it"),
        "{err}"
    );
    std::fs::write(host.base.join("host-policy.yaml"), "shop: [privileged]\n").unwrap();
    let ok = file::load(&host.base.join("host-policy.yaml"), &host.desired()).unwrap();
    assert_eq!(ok.allowed("shop"), grants(&["privileged"]));
}
