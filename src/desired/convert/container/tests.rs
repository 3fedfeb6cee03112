//! Unit tests of the container keys' parsers: `expose` ranges, device mappings, cgroup
//! rules and security options.

use super::*;

#[test]
fn expose_entries_expand_ranges_with_their_protocol() {
    assert_eq!(expose_entry("80").unwrap(), ["80/tcp"]);
    assert_eq!(expose_entry("53/udp").unwrap(), ["53/udp"]);
    assert_eq!(
        expose_entry("8000-8002").unwrap(),
        ["8000/tcp", "8001/tcp", "8002/tcp"]
    );
    for bad in ["", "0", "x", "80/icmp", "90-80", "1-65535", "80:80"] {
        assert!(expose_entry(bad).is_err(), "{bad}");
    }
}

#[test]
fn devices_read_like_the_docker_cli() {
    let d = |s| device(s).unwrap();
    assert_eq!(d("/dev/null").target, "/dev/null");
    assert_eq!(d("/dev/null").permissions, "rwm");
    assert_eq!(d("/dev/null:rw").target, "/dev/null");
    assert_eq!(d("/dev/null:rw").permissions, "rw");
    assert_eq!(d("/dev/zero:/dev/z").target, "/dev/z");
    assert_eq!(d("/dev/zero:/dev/z:r").permissions, "r");
    assert_eq!(device("nvidia.com/gpu=all"), Err(Error::CdiDevice));
    assert_eq!(device("/dev/zero:/dev/z:rx"), Err(Error::Permissions));
    assert_eq!(device("dev/zero"), Err(Error::Device));
    assert_eq!(device("/a:/b:r:x"), Err(Error::Device));
}

#[test]
fn cgroup_rules_follow_the_kernel_format() {
    assert!(is_cgroup_rule("c 1:3 mr"));
    assert!(is_cgroup_rule("a *:* rwm"));
    assert!(is_cgroup_rule("b 8:* r"));
    for bad in ["c 1:3", "x 1:3 r", "c 1-3 r", "c a:3 r", "c 1:3 rx"] {
        assert!(!is_cgroup_rule(bad), "{bad}");
    }
}

#[test]
fn security_options_take_either_separator() {
    assert_eq!(security_option("label:disable"), Some(("label", "disable")));
    assert_eq!(
        security_option("seccomp=unconfined"),
        Some(("seccomp", "unconfined"))
    );
    assert_eq!(
        security_option("no-new-privileges"),
        Some(("no-new-privileges", ""))
    );
    assert_eq!(security_option("bogus"), None);
}
