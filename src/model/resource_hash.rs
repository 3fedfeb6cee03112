//! The definition identity of a network or volume composectl creates: a short hash per
//! compose key of its definition, written on the object as labels
//! ([`labels::CONFIG_HASH`] over all of them, [`labels::FIELDS`] one by one, as containers
//! carry theirs), so a changed definition is seen as drift naming the keys that changed.
//!
//! The Docker name and `external` are no part of it: another name is another object, and
//! composectl never creates an external one. Values are hashed, never stored.

use std::collections::BTreeMap;

use super::hash::{self, digest, field};
use super::labels;
use super::spec::{NetworkSpec, VolumeSpec};

/// A short hash of each key of a network definition, by compose key.
pub fn network_fields(spec: &NetworkSpec) -> BTreeMap<String, String> {
    let NetworkSpec {
        name: _,
        external: _,
        driver,
        driver_opts,
        internal,
        attachable,
        labels,
        ipam,
        enable_ipv6,
    } = spec;
    [
        ("driver", field(driver)),
        ("driver_opts", field(driver_opts)),
        ("internal", field(internal)),
        ("attachable", field(attachable)),
        ("labels", field(labels)),
        ("ipam", field(ipam)),
        ("enable_ipv6", field(enable_ipv6)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// A short hash of each key of a volume definition, by compose key.
pub fn volume_fields(spec: &VolumeSpec) -> BTreeMap<String, String> {
    let VolumeSpec {
        name: _,
        external: _,
        driver,
        driver_opts,
        labels,
    } = spec;
    [
        ("driver", field(driver)),
        ("driver_opts", field(driver_opts)),
        ("labels", field(labels)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// The labels that carry `fields` on the object: the hash over all of them and each one.
pub fn identity_labels(fields: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let encoded = hash::encode_fields(fields);
    BTreeMap::from([
        (labels::CONFIG_HASH.to_owned(), digest(encoded.as_bytes())),
        (labels::FIELDS.to_owned(), encoded),
    ])
}

/// The compose keys whose hashes differ between the desired `fields` and the
/// [`labels::FIELDS`] label read back from an object; `None` when the object carries no
/// such label (created before composectl labelled definitions: its definition is unknown,
/// and it is not judged).
pub fn changed_fields(
    desired: &BTreeMap<String, String>,
    observed_labels: &BTreeMap<String, String>,
) -> Option<Vec<String>> {
    let observed = hash::decode_fields(observed_labels.get(labels::FIELDS)?);
    Some(hash::differing_fields(desired, &observed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::spec::{Ipam, IpamPool};

    fn labelled(spec: &NetworkSpec) -> BTreeMap<String, String> {
        identity_labels(&network_fields(spec))
    }

    #[test]
    fn an_unchanged_network_has_no_changed_fields() {
        let spec = NetworkSpec {
            name: "shop_back".into(),
            ..NetworkSpec::default()
        };
        assert_eq!(
            changed_fields(&network_fields(&spec), &labelled(&spec)),
            Some(vec![])
        );
    }

    #[test]
    fn a_changed_subnet_names_ipam_only() {
        let old = NetworkSpec {
            name: "shop_back".into(),
            ..NetworkSpec::default()
        };
        let new = NetworkSpec {
            ipam: Some(Ipam {
                config: vec![IpamPool {
                    subnet: Some("10.1.0.0/24".into()),
                    ..IpamPool::default()
                }],
                ..Ipam::default()
            }),
            ..old.clone()
        };
        assert_eq!(
            changed_fields(&network_fields(&new), &labelled(&old)),
            Some(vec!["ipam".to_owned()])
        );
    }

    #[test]
    fn the_name_is_no_part_of_the_identity() {
        let a = NetworkSpec {
            name: "a".into(),
            ..NetworkSpec::default()
        };
        let b = NetworkSpec {
            name: "b".into(),
            ..NetworkSpec::default()
        };
        assert_eq!(labelled(&a), labelled(&b));
    }

    #[test]
    fn specs_written_before_the_network_options_read_and_hash_as_before() {
        use crate::model::spec::ServiceNetwork;
        // A container's `networks` field hash covers its ServiceNetworks: options left
        // unset must serialize exactly as before, or every container would be recreated
        // by an upgrade.
        let old = r#"{"aliases":["api"],"ipv4_address":null}"#;
        let read: ServiceNetwork = serde_json::from_str(old).unwrap();
        assert_eq!(serde_json::to_string(&read).unwrap(), old);
        let old_net = r#"{"name":"shop_back","external":false,"driver":null,"driver_opts":{},"internal":false,"attachable":false,"labels":{}}"#;
        let read: NetworkSpec = serde_json::from_str(old_net).unwrap();
        assert_eq!(serde_json::to_string(&read).unwrap(), old_net);
    }

    #[test]
    fn an_object_without_the_label_is_not_judged() {
        let spec = VolumeSpec::default();
        assert_eq!(
            changed_fields(&volume_fields(&spec), &BTreeMap::new()),
            None
        );
    }
}
