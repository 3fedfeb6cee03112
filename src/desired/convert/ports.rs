//! `ports:` in both syntaxes, one [`PortSpec`] per container port.
//!
//! Short: `[HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL]`, where ports may be ranges of
//! equal length (`8000-8001:80-81`), the host IP may be IPv6 in brackets
//! (`[::1]:8080:80`) and an empty host port lets Docker choose (`127.0.0.1::80`). Long:
//! `{target, published, host_ip, protocol, mode}`. Identical entries are kept once. A
//! service has at most [`MAX_PORTS_PER_SERVICE`] mappings once ranges are expanded.

use std::collections::BTreeSet;

use super::Ctx;
use super::fields::{self, check_keys, child, index, quoted_literal};
use crate::desired::limits::MAX_PORTS_PER_SERVICE;
use crate::desired::yaml::{Node, Value};
use crate::model::spec::PortSpec;

/// A malformed short port mapping.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Not `HOST:CONTAINER`.
    #[error(
        "is not a port mapping; write HOST:CONTAINER such as \"8080:80\" (or \"127.0.0.1:8080:80\")"
    )]
    Shape,
    /// A port that is not 1-65535 or a range that is not `LOW-HIGH`.
    #[error("has a port that is not a number from 1 to 65535 (or a range LOW-HIGH)")]
    Port,
    /// Host and container ranges of different length.
    #[error("maps ranges of different lengths; make the host and container ranges equally long")]
    RangeLength,
    /// A protocol other than tcp, udp or sctp.
    #[error("has an unknown protocol; use /tcp, /udp or /sctp")]
    Protocol,
    /// A range longer than a service may publish.
    #[error(
        "has a range of more than {MAX_PORTS_PER_SERVICE} ports, the most a service may map; map a shorter range"
    )]
    TooMany,
}

/// Result alias of this module.
pub type Result<T> = std::result::Result<T, Error>;

/// Reads `ports:`.
pub fn ports(cx: &mut Ctx, node: &Node, key: &str) -> Vec<PortSpec> {
    let Some(items) = node.as_seq() else {
        cx.error(
            node,
            key,
            format!("expected a list of ports, found {}", node.kind()),
        );
        return Vec::new();
    };
    let mut out: Vec<PortSpec> = Vec::new();
    let mut seen: BTreeSet<PortSpec> = BTreeSet::new();
    for (i, item) in items.iter().enumerate() {
        let path = index(key, i);
        let specs = match &item.value {
            Value::Map(_) => long(cx, item, &path).into_iter().collect(),
            Value::Int(_) | Value::Str(_) => {
                let text = item.scalar_text().unwrap_or_default();
                parse_short(&text).unwrap_or_else(|e| {
                    cx.error(item, &path, format!("{} {e}", quoted_literal(item)));
                    Vec::new()
                })
            }
            _ => {
                cx.error(
                    item,
                    &path,
                    format!(
                        "expected \"HOST:CONTAINER\" or a mapping, found {}",
                        item.kind()
                    ),
                );
                Vec::new()
            }
        };
        for spec in specs {
            if seen.insert(spec.clone()) {
                out.push(spec);
            }
        }
        if out.len() > MAX_PORTS_PER_SERVICE {
            let message = format!(
                "more than {MAX_PORTS_PER_SERVICE} port mappings (ranges count each port), the most a service may have; map fewer ports"
            );
            cx.error(item, &path, message);
            return Vec::new();
        }
    }
    out
}

/// Parses one short-syntax mapping.
pub fn parse_short(text: &str) -> Result<Vec<PortSpec>> {
    let (mapping, protocol) = match text.rsplit_once('/') {
        Some((m, p)) => (m, protocol(p)?),
        None => (text, "tcp".to_string()),
    };
    let (host_ip, rest) = split_ip(mapping)?;
    let parts: Vec<&str> = rest.split(':').collect();
    let (host_ip, published, target) = match (host_ip, parts.as_slice()) {
        (None, [target]) => (None, "", *target),
        (None, [published, target]) => (None, *published, *target),
        (None, [ip, published, target]) => (Some(ip.to_string()), *published, *target),
        (Some(ip), [published, target]) => (Some(ip), *published, *target),
        _ => return Err(Error::Shape),
    };
    let targets = range(target)?;
    let published: Vec<Option<u16>> = if published.is_empty() {
        vec![None; targets.len()]
    } else {
        range(published)?.into_iter().map(Some).collect()
    };
    if published.len() != targets.len() {
        return Err(Error::RangeLength);
    }
    let host_ip = host_ip.filter(|ip| !ip.is_empty());
    Ok(targets
        .into_iter()
        .zip(published)
        .map(|(target, published)| PortSpec {
            target,
            published,
            host_ip: host_ip.clone(),
            protocol: protocol.clone(),
        })
        .collect())
}

/// `[v6]:rest` → (`v6`, rest); anything else → (None, all).
fn split_ip(mapping: &str) -> Result<(Option<String>, &str)> {
    let Some(bracketed) = mapping.strip_prefix('[') else {
        return Ok((None, mapping));
    };
    let (ip, rest) = bracketed.split_once("]:").ok_or(Error::Shape)?;
    Ok((Some(ip.to_string()), rest))
}

fn protocol(text: &str) -> Result<String> {
    let lower = text.to_ascii_lowercase();
    match lower.as_str() {
        "tcp" | "udp" | "sctp" => Ok(lower),
        _ => Err(Error::Protocol),
    }
}

fn port(text: &str) -> Result<u16> {
    text.trim()
        .parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or(Error::Port)
}

fn range(text: &str) -> Result<Vec<u16>> {
    match text.split_once('-') {
        None => Ok(vec![port(text)?]),
        Some((low, high)) => {
            let (low, high) = (port(low)?, port(high)?);
            if low > high {
                return Err(Error::Port);
            }
            if usize::from(high - low) >= MAX_PORTS_PER_SERVICE {
                return Err(Error::TooMany);
            }
            Ok((low..=high).collect())
        }
    }
}

const LONG_KEYS: &[&str] = &[
    "target",
    "published",
    "host_ip",
    "protocol",
    "mode",
    "name",
    "app_protocol",
];

fn long(cx: &mut Ctx, node: &Node, key: &str) -> Option<PortSpec> {
    check_keys(cx, node, key, LONG_KEYS);
    let Some(target_node) = node.get("target") else {
        cx.error(
            node,
            key,
            "a long-syntax port needs `target:` (the container port)",
        );
        return None;
    };
    let target = fields::int::<u16>(cx, target_node, &child(key, "target"))?;
    let published = node.get("published").and_then(|n| {
        let text = fields::text(cx, n, &child(key, "published"))?;
        port(&text)
            .map_err(|e| {
                cx.error(
                    n,
                    &child(key, "published"),
                    format!("{} {e}", quoted_literal(n)),
                )
            })
            .ok()
    });
    let host_ip = node
        .get("host_ip")
        .and_then(|n| fields::text(cx, n, &child(key, "host_ip")));
    let protocol = match node.get("protocol") {
        None => "tcp".to_string(),
        Some(n) => {
            let text = fields::text(cx, n, &child(key, "protocol"))?;
            protocol(&text)
                .map_err(|e| {
                    cx.error(
                        n,
                        &child(key, "protocol"),
                        format!("{} {e}", quoted_literal(n)),
                    )
                })
                .ok()?
        }
    };
    Some(PortSpec {
        target,
        published,
        host_ip,
        protocol,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(target: u16, published: Option<u16>, ip: Option<&str>, protocol: &str) -> PortSpec {
        PortSpec {
            target,
            published,
            host_ip: ip.map(String::from),
            protocol: protocol.into(),
        }
    }

    #[test]
    fn short_syntax_forms_parse() {
        let cases: Vec<(&str, Vec<PortSpec>)> = vec![
            ("80", vec![spec(80, None, None, "tcp")]),
            ("8080:80", vec![spec(80, Some(8080), None, "tcp")]),
            (
                "127.0.0.1:8080:80",
                vec![spec(80, Some(8080), Some("127.0.0.1"), "tcp")],
            ),
            (
                "127.0.0.1::80",
                vec![spec(80, None, Some("127.0.0.1"), "tcp")],
            ),
            ("8080:80/udp", vec![spec(80, Some(8080), None, "udp")]),
            ("53:53/UDP", vec![spec(53, Some(53), None, "udp")]),
            (
                "[::1]:8080:80",
                vec![spec(80, Some(8080), Some("::1"), "tcp")],
            ),
            (
                "8000-8001:80-81",
                vec![
                    spec(80, Some(8000), None, "tcp"),
                    spec(81, Some(8001), None, "tcp"),
                ],
            ),
            (
                "3000-3001",
                vec![spec(3000, None, None, "tcp"), spec(3001, None, None, "tcp")],
            ),
        ];
        for (text, want) in cases {
            assert_eq!(parse_short(text).unwrap(), want, "{text}");
        }
    }

    #[test]
    fn malformed_short_syntax_says_why() {
        let cases = [
            ("80:abc", Error::Port),
            ("0", Error::Port),
            ("70000", Error::Port),
            ("81-80", Error::Port),
            ("8000-8002:80-81", Error::RangeLength),
            ("8000-8001:80", Error::RangeLength),
            ("80/icmp", Error::Protocol),
            ("1:2:3:4", Error::Shape),
            ("[::1:80", Error::Shape),
            ("1-65535", Error::TooMany),
            ("1000-3000:1000-3000", Error::TooMany),
        ];
        for (text, want) in cases {
            assert_eq!(parse_short(text).unwrap_err(), want, "{text}");
        }
    }
}
