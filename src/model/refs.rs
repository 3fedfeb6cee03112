//! References from one service to other containers: `network_mode`, `pid`, `ipc`,
//! `volumes_from`, `links` and `external_links` as the desired spec holds them, and the
//! [`labels::REFERENCES`](super::labels::REFERENCES) label that records which containers a
//! replica was created against, so the planner can tell when one of them was replaced.
//!
//! A reference to a service of the project (`service:NAME`, `volumes_from: [NAME]`) names
//! the service; the executor resolves it to one of its containers at create time (replica 1
//! when it exists, else the lowest number), as compose does. A reference to a container
//! outside the project (`container:NAME`) is passed to the engine as written.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `network_mode`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NetworkMode {
    /// `host`: the host's network namespace.
    Host,
    /// `none`: a loopback interface only.
    None,
    /// `bridge`: Docker's default bridge network (no project network, no aliases).
    Bridge,
    /// `service:NAME`: the network namespace of a container of service `NAME`.
    Service(String),
    /// `container:NAME`: the network namespace of a container outside the project.
    Container(String),
}

impl NetworkMode {
    /// The service whose namespace this mode joins, when it joins one.
    pub fn service(&self) -> Option<&str> {
        match self {
            Self::Service(name) => Some(name),
            _ => None,
        }
    }

    /// The engine's `HostConfig.NetworkMode`, with `service:NAME` resolved to the container
    /// `resolved` names (`container:<resolved>`); unresolved, the service's name stands in
    /// (the engine then refuses it: the executor always resolves first).
    pub fn engine_mode(&self, resolved: Option<&str>) -> String {
        match self {
            Self::Host => "host".to_owned(),
            Self::None => "none".to_owned(),
            Self::Bridge => "bridge".to_owned(),
            Self::Service(name) => format!("container:{}", resolved.unwrap_or(name)),
            Self::Container(name) => format!("container:{name}"),
        }
    }
}

/// The service a `pid` or `ipc` mode of `service:NAME` names (the spec holds these modes as
/// written; the executor resolves `service:NAME` to `container:<id>` at create time).
pub fn namespace_service(mode: Option<&str>) -> Option<&str> {
    mode?
        .strip_prefix(SERVICE_PREFIX)
        .filter(|name| !name.is_empty())
}

/// The prefix of a namespace mode that names a service of the project.
pub const SERVICE_PREFIX: &str = "service:";

/// One `volumes_from` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumesFrom {
    /// Whose volumes.
    pub source: VolumesSource,
    /// `:ro`.
    pub read_only: bool,
}

/// The source of a `volumes_from` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum VolumesSource {
    /// `NAME` or `service:NAME`: a service of the project.
    Service(String),
    /// `container:NAME`: a container outside the project.
    Container(String),
}

impl VolumesFrom {
    /// The engine's `HostConfig.VolumesFrom` entry (`NAME[:ro]`), with a service resolved
    /// to the container `resolved` names.
    pub fn engine_entry(&self, resolved: Option<&str>) -> String {
        let name = match &self.source {
            VolumesSource::Service(name) => resolved.unwrap_or(name),
            VolumesSource::Container(name) => name,
        };
        let mode = if self.read_only { ":ro" } else { "" };
        format!("{name}{mode}")
    }
}

/// One `links` (`SERVICE[:ALIAS]`) or `external_links` (`CONTAINER[:ALIAS]`) entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// The service (for `links`) or container (for `external_links`).
    pub target: String,
    /// The alias; the target's name when none is written.
    pub alias: String,
}

/// Why a replica references another service's container, as the [`REFERENCES`] label
/// records it.
///
/// [`REFERENCES`]: super::labels::REFERENCES
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RefKind {
    /// `network_mode: service:NAME`.
    Network,
    /// `ipc: service:NAME`.
    Ipc,
    /// `pid: service:NAME`.
    Pid,
    /// `volumes_from: [NAME]`.
    Volumes,
    /// `depends_on` with `restart: true` (written, or implied by `links`,
    /// `network_mode: service:NAME`, `ipc: service:NAME` and `pid: service:NAME` as compose
    /// implies it).
    Restart,
}

impl RefKind {
    /// The label's word for it.
    fn word(self) -> &'static str {
        match self {
            Self::Network => "network",
            Self::Ipc => "ipc",
            Self::Pid => "pid",
            Self::Volumes => "volumes",
            Self::Restart => "restart",
        }
    }

    fn parse(word: &str) -> Option<Self> {
        match word {
            "network" => Some(Self::Network),
            "ipc" => Some(Self::Ipc),
            "pid" => Some(Self::Pid),
            "volumes" => Some(Self::Volumes),
            "restart" => Some(Self::Restart),
            _ => None,
        }
    }

    /// The compose key that asked for the reference.
    pub fn key(self) -> &'static str {
        match self {
            Self::Network => "network_mode",
            Self::Ipc => "ipc",
            Self::Pid => "pid",
            Self::Volumes => "volumes_from",
            Self::Restart => "depends_on",
        }
    }
}

/// The containers a replica was created against: (kind, service) -> container IDs.
pub type References = BTreeMap<(RefKind, String), Vec<String>>;

/// The label value: `network:vpn=ID,restart:db=ID+ID` (in key order).
pub fn encode_references(references: &References) -> String {
    references
        .iter()
        .map(|((kind, service), ids)| format!("{}:{service}={}", kind.word(), ids.join("+")))
        .collect::<Vec<_>>()
        .join(",")
}

/// Parses the label back; malformed entries are skipped.
pub fn decode_references(label: &str) -> References {
    label
        .split(',')
        .filter_map(|entry| {
            let (kind, rest) = entry.split_once(':')?;
            let (service, ids) = rest.split_once('=')?;
            let ids: Vec<String> = ids
                .split('+')
                .filter(|id| !id.is_empty())
                .map(str::to_owned)
                .collect();
            Some(((RefKind::parse(kind)?, service.to_owned()), ids))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_round_trip_through_the_label() {
        let mut refs = References::new();
        refs.insert((RefKind::Network, "vpn".into()), vec!["abc".into()]);
        refs.insert(
            (RefKind::Restart, "db".into()),
            vec!["d1".into(), "d2".into()],
        );
        let label = encode_references(&refs);
        assert_eq!(label, "network:vpn=abc,restart:db=d1+d2");
        assert_eq!(decode_references(&label), refs);
        refs.insert((RefKind::Pid, "a".into()), vec!["p1".into()]);
        refs.insert((RefKind::Ipc, "a".into()), vec!["i1".into()]);
        let label = encode_references(&refs);
        assert_eq!(label, "network:vpn=abc,ipc:a=i1,pid:a=p1,restart:db=d1+d2");
        assert_eq!(decode_references(&label), refs);
        assert!(decode_references("garbage,other:x=1").is_empty());
    }

    #[test]
    fn references_are_hashed_by_their_compose_keys_and_dependency_options_are_not() {
        use crate::model::hash::{
            config_hash, decode_fields, differing_fields, encode_fields, field_hashes,
        };
        use crate::model::spec::{ProjectSpec, ServiceSpec};
        let project = ProjectSpec::default();
        let a = ServiceSpec::new("b", "img");
        let observed = decode_fields(&encode_fields(&field_hashes(&project, &a)));
        let mut b = a.clone();
        b.network_mode = Some(NetworkMode::Service("a".into()));
        b.links = vec![Link {
            target: "db".into(),
            alias: "db".into(),
        }];
        assert_eq!(
            differing_fields(&field_hashes(&project, &b), &observed),
            ["links", "network_mode"]
        );
        let mut c = a.clone();
        c.restart_with.insert("db".into());
        c.optional_dependencies.insert("cache".into());
        assert_eq!(config_hash(&project, &a), config_hash(&project, &c));
    }

    #[test]
    fn modes_and_volume_sources_map_to_the_engine_form() {
        assert_eq!(NetworkMode::Host.engine_mode(None), "host");
        assert_eq!(
            NetworkMode::Service("vpn".into()).engine_mode(Some("abc")),
            "container:abc"
        );
        assert_eq!(
            NetworkMode::Container("other".into()).engine_mode(None),
            "container:other"
        );
        let from = VolumesFrom {
            source: VolumesSource::Service("data".into()),
            read_only: true,
        };
        assert_eq!(from.engine_entry(Some("abc")), "abc:ro");
    }

    #[test]
    fn a_service_namespace_names_its_service() {
        assert_eq!(namespace_service(Some("service:a")), Some("a"));
        assert_eq!(namespace_service(Some("service:")), None);
        assert_eq!(namespace_service(Some("container:a")), None);
        assert_eq!(namespace_service(Some("host")), None);
        assert_eq!(namespace_service(None), None);
    }
}
