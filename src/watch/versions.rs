//! Semver watching's choice, pure: of the registry's tags, the highest version newer than
//! the running one that matches the pattern, never a downgrade, pre-releases only when
//! asked, never a held tag. Tags parse as semantic versions (the `semver` crate), with an
//! optional leading `v`.

use std::collections::BTreeSet;

use regex::Regex;
use semver::Version;

/// `tag` as a version (`1.2.3`, `v1.2.3`, `1.3.0-rc.1`); `None` when it is none.
pub fn parse(tag: &str) -> Option<Version> {
    Version::parse(tag.strip_prefix('v').unwrap_or(tag)).ok()
}

/// What the choice needs besides the tags.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    /// Only tags it matches are considered (`None`: every tag).
    pub pattern: Option<&'a Regex>,
    /// Whether pre-release versions are considered.
    pub prereleases: bool,
    /// Tags whose rollout failed here.
    pub held: &'a BTreeSet<String>,
}

/// The tag to move to from `running`, if one is newer; `Err` when `running` is no
/// version (nothing can be compared with it).
pub fn choose<'t>(
    tags: &'t [String],
    running: &str,
    rules: Rules<'_>,
) -> Result<Option<&'t str>, String> {
    let current = parse(running).ok_or_else(|| running.to_owned())?;
    Ok(tags
        .iter()
        .filter(|t| rules.pattern.is_none_or(|p| p.is_match(t)))
        .filter(|t| !rules.held.contains(*t))
        .filter_map(|t| parse(t).map(|v| (v, t)))
        .filter(|(v, _)| rules.prereleases || v.pre.is_empty())
        .filter(|(v, _)| *v > current)
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, t)| t.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(list: &[&str]) -> Vec<String> {
        list.iter().map(|t| (*t).to_owned()).collect()
    }

    #[test]
    fn the_highest_newer_version_matching_the_pattern_is_chosen() {
        let pattern = Regex::new(r"^1\.\d+\.\d+$").unwrap();
        let none = BTreeSet::new();
        let strict = Rules {
            pattern: Some(&pattern),
            prereleases: false,
            held: &none,
        };
        let any = Rules {
            pattern: None,
            prereleases: false,
            held: &none,
        };
        let pre = Rules {
            pattern: None,
            prereleases: true,
            held: &none,
        };
        let all = tags(&["1.1.9", "1.2.3", "1.2.4", "2.0.0-rc1", "latest"]);
        let table: &[(&[String], &str, Rules<'_>, Option<&str>)] = &[
            // 1.2.3 -> 1.2.4, ignoring the older 1.1.9 and the pre-release 2.0.0-rc1.
            (&all, "1.2.3", strict, Some("1.2.4")),
            (&all, "1.2.3", any, Some("1.2.4")),
            // Pre-releases only when asked.
            (&all, "1.2.3", pre, Some("2.0.0-rc1")),
            // Never a downgrade, nothing newer: stay.
            (&all, "1.2.4", strict, None),
            (&all, "1.3.0", any, None),
        ];
        for (list, running, rules, want) in table {
            assert_eq!(
                choose(list, running, *rules).unwrap(),
                *want,
                "from {running} with pattern {:?}, prereleases {}",
                rules.pattern.map(Regex::as_str),
                rules.prereleases
            );
        }
    }

    #[test]
    fn the_pattern_keeps_a_major_version_out() {
        let pattern = Regex::new(r"^1\.\d+\.\d+$").unwrap();
        let none = BTreeSet::new();
        let rules = Rules {
            pattern: Some(&pattern),
            prereleases: false,
            held: &none,
        };
        let list = tags(&["1.2.3", "1.4.0", "2.0.0", "v3.0.0"]);
        assert_eq!(choose(&list, "1.2.3", rules).unwrap(), Some("1.4.0"));
    }

    #[test]
    fn a_held_tag_is_never_chosen_but_a_newer_one_is() {
        let held: BTreeSet<String> = ["1.2.4".to_owned()].into();
        let rules = Rules {
            pattern: None,
            prereleases: false,
            held: &held,
        };
        assert_eq!(choose(&tags(&["1.2.4"]), "1.2.3", rules).unwrap(), None);
        assert_eq!(
            choose(&tags(&["1.2.4", "1.2.5"]), "1.2.3", rules).unwrap(),
            Some("1.2.5")
        );
    }

    #[test]
    fn a_leading_v_is_a_version_and_a_running_tag_that_is_none_is_an_error() {
        let none = BTreeSet::new();
        let rules = Rules {
            pattern: None,
            prereleases: false,
            held: &none,
        };
        assert_eq!(
            choose(&tags(&["v1.2.4"]), "v1.2.3", rules).unwrap(),
            Some("v1.2.4")
        );
        assert_eq!(
            choose(&tags(&["1.2.4"]), "latest", rules),
            Err("latest".to_owned())
        );
    }
}
