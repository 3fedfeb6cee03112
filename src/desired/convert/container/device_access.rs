//! The keys that give a container host devices: `devices` (short and long syntax, as the
//! docker CLI reads them; CDI names refused on this engine) and `device_cgroup_rules`.

use super::{Error, seq, texts};
use crate::desired::convert::Ctx;
use crate::desired::convert::fields::{self, child, index, quoted_literal};
use crate::desired::yaml::Node;
use crate::model::spec::DeviceMapping;

/// `devices`: the short syntax `HOST[:CONTAINER[:PERMISSIONS]]` and the long syntax
/// `{source, target, permissions}`.
pub fn devices(cx: &mut Ctx, node: &Node, key: &str) -> Vec<DeviceMapping> {
    let mut out = Vec::new();
    for (i, item) in seq(cx, node, key).iter().enumerate() {
        let at = index(key, i);
        cx.origins.mark(item, &at);
        let parsed = if item.as_map().is_some() {
            long_device(cx, item, &at)
        } else {
            let Some(text) = fields::text(cx, item, &at) else {
                continue;
            };
            device(&text).map_err(|e| (item.clone(), e))
        };
        match parsed {
            Ok(device) => out.push(device),
            Err((at_node, e)) => {
                cx.error(&at_node, &at, format!("{} {e}", quoted_literal(&at_node)))
            }
        }
    }
    out
}

fn long_device(cx: &mut Ctx, node: &Node, key: &str) -> Result<DeviceMapping, (Node, Error)> {
    fields::check_keys(cx, node, key, &["source", "target", "permissions"]);
    let get = |cx: &mut Ctx, name: &str| {
        node.get(name)
            .and_then(|n| fields::text(cx, n, &child(key, name)))
    };
    let Some(source) = get(cx, "source") else {
        return Err((node.clone(), Error::Device));
    };
    let target = get(cx, "target").unwrap_or_else(|| source.clone());
    let permissions = get(cx, "permissions").unwrap_or_else(|| "rwm".into());
    let short = format!("{source}:{target}:{permissions}");
    device(&short).map_err(|e| (node.clone(), e))
}

/// One short device mapping. As the docker CLI reads it, a second field that is a valid
/// permission set is the permissions (`/dev/sda:rw`), else the container path.
pub fn device(text: &str) -> Result<DeviceMapping, Error> {
    if is_cdi_name(text) {
        return Err(Error::CdiDevice);
    }
    let parts: Vec<&str> = text.split(':').collect();
    let (source, target, permissions) = match parts.as_slice() {
        [source] => (*source, *source, "rwm"),
        [source, perms] if is_permissions(perms) => (*source, *source, *perms),
        [source, target] => (*source, *target, "rwm"),
        [source, target, perms] => (*source, *target, *perms),
        _ => return Err(Error::Device),
    };
    if !source.starts_with('/') || !target.starts_with('/') {
        return Err(Error::Device);
    }
    if !is_permissions(permissions) {
        return Err(Error::Permissions);
    }
    Ok(DeviceMapping {
        source: source.into(),
        target: target.into(),
        permissions: permissions.into(),
    })
}

/// `vendor.com/class=name`: a fully qualified CDI device name.
fn is_cdi_name(text: &str) -> bool {
    let Some((kind, name)) = text.split_once('=') else {
        return false;
    };
    let Some((vendor, class)) = kind.split_once('/') else {
        return false;
    };
    !vendor.is_empty() && !vendor.starts_with('/') && !class.is_empty() && !name.is_empty()
}

fn is_permissions(text: &str) -> bool {
    !text.is_empty() && text.len() <= 3 && text.chars().all(|c| matches!(c, 'r' | 'w' | 'm'))
}

/// `device_cgroup_rules`: `TYPE MAJOR:MINOR ACCESS` as the kernel's device controller
/// reads them (`a`, `b` or `c`; numbers or `*`; a combination of `r`, `w`, `m`).
pub fn device_cgroup_rules(cx: &mut Ctx, node: &Node, key: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (item, at, text) in texts(cx, node, key) {
        if is_cgroup_rule(&text) {
            out.push(text.trim().to_owned());
        } else {
            cx.error(
                item,
                &at,
                format!("{} {}", quoted_literal(item), Error::CgroupRule),
            );
        }
    }
    out
}

/// True for a rule such as `c 1:3 mr` or `a *:* rwm`.
pub fn is_cgroup_rule(text: &str) -> bool {
    let words: Vec<&str> = text.split_whitespace().collect();
    let number = |n: &str| n == "*" || (!n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
    match words.as_slice() {
        [kind, numbers, access] => {
            matches!(*kind, "a" | "b" | "c")
                && numbers
                    .split_once(':')
                    .is_some_and(|(major, minor)| number(major) && number(minor))
                && is_permissions(access)
        }
        _ => false,
    }
}
