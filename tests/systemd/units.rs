//! The unit files: `systemd-analyze verify` accepts them (with ExecStart pointing at the
//! built binary and the sync script), and they say what the README promises.

use std::path::Path;
use std::process::Command;

const UNITS: [&str; 3] = [
    "composectl.service",
    "composectl-git-sync.service",
    "composectl-git-sync.timer",
];

fn unit(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("systemd")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The units with their installed paths replaced by the ones of this build.
fn units_for_this_build(dir: &Path) -> Vec<String> {
    let binary = env!("CARGO_BIN_EXE_composectl");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/git-sync.sh");
    UNITS
        .iter()
        .map(|name| {
            let text = unit(name)
                .replace("/usr/local/bin/composectl", binary)
                .replace(
                    "/usr/local/libexec/composectl/git-sync",
                    script.to_str().unwrap(),
                );
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            path.to_str().unwrap().to_owned()
        })
        .collect()
}

#[test]
fn systemd_analyze_verify_accepts_the_units() {
    let found = Command::new("sh")
        .args(["-c", "command -v systemd-analyze"])
        .output()
        .unwrap();
    assert!(
        found.status.success(),
        "systemd-analyze is missing: install the Debian package `systemd` (.ci/run does)"
    );
    let dir = tempfile::tempdir().unwrap();
    let paths = units_for_this_build(dir.path());
    let output = Command::new("systemd-analyze")
        .arg("verify")
        .args(&paths)
        .output()
        .unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success() && report.trim().is_empty(),
        "systemd-analyze verify ({}):\n{report}",
        output.status
    );
}

#[test]
fn the_units_carry_the_promised_settings() {
    let cases = [
        ("composectl.service", "Type=notify"),
        ("composectl.service", "NotifyAccess=main"),
        ("composectl.service", "WatchdogSec=60"),
        ("composectl.service", "Restart=on-failure"),
        (
            "composectl.service",
            "ExecStart=/usr/local/bin/composectl run",
        ),
        (
            "composectl.service",
            "EnvironmentFile=-/etc/composectl/composectl.env",
        ),
        ("composectl.service", "After=docker.service"),
        ("composectl.service", "Wants=docker.service"),
        ("composectl.service", "ProtectSystem=strict"),
        ("composectl.service", "NoNewPrivileges=yes"),
        ("composectl.service", "LimitNOFILE=8192"),
        (
            "composectl.service",
            "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
        ),
        ("composectl-git-sync.service", "Type=oneshot"),
        (
            "composectl-git-sync.service",
            "EnvironmentFile=-/etc/composectl/composectl.env",
        ),
        (
            "composectl-git-sync.service",
            "ExecStart=/usr/local/libexec/composectl/git-sync",
        ),
        ("composectl-git-sync.timer", "Persistent=true"),
        ("composectl-git-sync.timer", "WantedBy=timers.target"),
    ];
    for (name, setting) in cases {
        assert!(
            has_setting(&unit(name), setting),
            "{name} lacks `{setting}`"
        );
    }
    let service = unit("composectl.service");
    for forbidden in ["Requires=docker", "BindsTo=docker", "PartOf=docker"] {
        assert!(
            !service.contains(forbidden),
            "a Docker restart must not stop composectl: {forbidden}"
        );
    }
}

/// True when a line of `text` sets the key of `setting` (`Key=values`) to values that
/// include every value of `setting`.
fn has_setting(text: &str, setting: &str) -> bool {
    let (key, wanted) = setting.split_once('=').unwrap();
    text.lines()
        .filter_map(|line| line.split_once('='))
        .filter(|(k, _)| k.trim() == key)
        .any(|(_, values)| {
            let values: Vec<&str> = values.split_whitespace().collect();
            wanted.split_whitespace().all(|w| values.contains(&w))
        })
}
