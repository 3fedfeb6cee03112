//! What a check of one watched service decides, and when the next check runs. Pure: no
//! I/O, no clock; the watcher ([`super::task`]) feeds it what the registry and the engine
//! said, and a random sample for the jitter.

use std::collections::BTreeSet;
use std::time::Duration;

/// The longest wait after registry errors.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30 * 60);

/// The share of the interval a check may move either way (±10 %).
pub const JITTER: f64 = 0.10;

/// What a digest check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DigestDecision {
    /// The local image was pulled by the digest the registry names: nothing to do.
    UpToDate,
    /// The registry names another digest: pull the tag (a new revision follows).
    Update {
        /// The digest the local image was pulled by, if it was pulled at all.
        from: Option<String>,
        /// The registry's digest.
        to: String,
    },
    /// The registry names a digest whose rollout failed here: it is not pulled again until
    /// the registry names yet another one.
    Held {
        /// The held digest.
        digest: String,
    },
}

/// The digest part of each `repository@sha256:...` of `repo_digests` for `repository`.
pub fn local_digests<'a>(repo_digests: &'a [String], repository: &str) -> Vec<&'a str> {
    repo_digests
        .iter()
        .filter_map(|d| d.split_once('@'))
        .filter(|(repo, _)| same_repository(repo, repository))
        .map(|(_, digest)| digest)
        .collect()
}

/// Whether two repository names name the same repository (`docker.io/library/` aside).
fn same_repository(a: &str, b: &str) -> bool {
    fn short(r: &str) -> &str {
        r.strip_prefix("docker.io/library/")
            .or_else(|| r.strip_prefix("docker.io/"))
            .unwrap_or(r)
    }
    short(a) == short(b)
}

/// Compares the registry's digest with the local image's and the held ones.
pub fn digest(remote: &str, local: &[&str], held: &BTreeSet<String>) -> DigestDecision {
    if local.contains(&remote) {
        DigestDecision::UpToDate
    } else if held.contains(remote) {
        DigestDecision::Held {
            digest: remote.to_owned(),
        }
    } else {
        DigestDecision::Update {
            from: local.first().map(|d| (*d).to_owned()),
            to: remote.to_owned(),
        }
    }
}

/// How long to wait before the next check: `interval` (at least `minimum`) moved by up to
/// ±10 % (`sample` in 0..1 picks where), or after `failures` registry errors in a row,
/// the interval doubled per failure up to [`MAX_BACKOFF`] (never shorter than the
/// interval).
pub fn next_delay(interval: Duration, minimum: Duration, failures: u32, sample: f64) -> Duration {
    let base = interval.max(minimum);
    let base = if failures == 0 {
        base
    } else {
        let factor = 2u32.saturating_pow(failures.min(16));
        base.saturating_mul(factor).min(MAX_BACKOFF.max(base))
    };
    let spread = (sample.clamp(0.0, 1.0) * 2.0 - 1.0) * JITTER;
    base.mul_f64(1.0 + spread)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(digests: &[&str]) -> BTreeSet<String> {
        digests.iter().map(|d| (*d).to_owned()).collect()
    }

    #[test]
    fn a_digest_check_decides_from_the_registry_the_local_image_and_the_held_digests() {
        let table: &[(&str, &[&str], &[&str], DigestDecision)] = &[
            ("sha256:a", &["sha256:a"], &[], DigestDecision::UpToDate),
            (
                "sha256:b",
                &["sha256:a"],
                &[],
                DigestDecision::Update {
                    from: Some("sha256:a".into()),
                    to: "sha256:b".into(),
                },
            ),
            (
                "sha256:b",
                &[],
                &[],
                DigestDecision::Update {
                    from: None,
                    to: "sha256:b".into(),
                },
            ),
            (
                "sha256:b",
                &["sha256:a"],
                &["sha256:b"],
                DigestDecision::Held {
                    digest: "sha256:b".into(),
                },
            ),
            (
                "sha256:c",
                &["sha256:a"],
                &["sha256:b"],
                DigestDecision::Update {
                    from: Some("sha256:a".into()),
                    to: "sha256:c".into(),
                },
            ),
            // The running image was pulled by the held digest: what runs is what the
            // registry names, nothing to pull.
            (
                "sha256:b",
                &["sha256:b"],
                &["sha256:b"],
                DigestDecision::UpToDate,
            ),
        ];
        for (remote, local, held_digests, want) in table {
            assert_eq!(
                digest(remote, local, &held(held_digests)),
                *want,
                "remote {remote}, local {local:?}, held {held_digests:?}"
            );
        }
    }

    #[test]
    fn local_digests_keep_only_the_watched_repository() {
        let repo_digests = vec![
            "127.0.0.1:5000/app@sha256:a".to_owned(),
            "other/app@sha256:b".to_owned(),
            "docker.io/library/nginx@sha256:c".to_owned(),
        ];
        assert_eq!(
            local_digests(&repo_digests, "127.0.0.1:5000/app"),
            vec!["sha256:a"]
        );
        assert_eq!(local_digests(&repo_digests, "nginx"), vec!["sha256:c"]);
    }

    #[test]
    fn the_next_check_is_the_interval_within_ten_percent() {
        let five_min = Duration::from_secs(300);
        let min = Duration::from_secs(10);
        assert_eq!(next_delay(five_min, min, 0, 0.5), five_min);
        assert_eq!(next_delay(five_min, min, 0, 0.0), Duration::from_secs(270));
        assert_eq!(next_delay(five_min, min, 0, 1.0), Duration::from_secs(330));
        for i in 0..=100 {
            let d = next_delay(five_min, min, 0, f64::from(i) / 100.0);
            assert!(d >= Duration::from_secs(270) && d <= Duration::from_secs(330));
        }
    }

    #[test]
    fn an_interval_below_the_minimum_is_raised_to_it() {
        let d = next_delay(Duration::from_secs(1), Duration::from_secs(10), 0, 0.5);
        assert_eq!(d, Duration::from_secs(10));
    }

    #[test]
    fn registry_errors_double_the_wait_up_to_thirty_minutes() {
        let one_min = Duration::from_secs(60);
        let min = Duration::from_secs(10);
        assert_eq!(next_delay(one_min, min, 1, 0.5), Duration::from_secs(120));
        assert_eq!(next_delay(one_min, min, 2, 0.5), Duration::from_secs(240));
        assert_eq!(next_delay(one_min, min, 5, 0.5), MAX_BACKOFF);
        assert_eq!(next_delay(one_min, min, 40, 0.5), MAX_BACKOFF);
        // An interval longer than the cap is never shortened by an error.
        let hour = Duration::from_secs(3600);
        assert_eq!(next_delay(hour, min, 3, 0.5), hour);
    }
}
