//! The policy file (`--policy-file`, `COMPOSECTL_POLICY_FILE`): what each project may do to
//! this host, kept on the host.
//!
//! A YAML mapping of project names to lists of privileges, written as [`Grant`]s are:
//!
//! ```yaml
//! # /etc/composectl/policy.yaml
//! shop:
//!   - cap:NET_ADMIN
//!   - bind:/volume1/media:ro
//! monitoring:
//!   - bind:/var/run/docker.sock:ro
//!   - bind:/proc:ro
//! ```
//!
//! Under `--policy strict` a project has exactly what the file allows it (a project the
//! file does not name has no privilege); under `--policy pinned` the file's allowances add
//! to what each project's record holds. A grant covers the grants that give no more
//! (`bind:/volume1/media` covers `bind:/volume1/media/films:ro`).
//!
//! The file is refused when it lies inside the desired directory (after symlinks), where a
//! commit could change it. It is read like the loader's files ([`crate::desired::read`]):
//! a regular file of at most [`MAX_BYTES`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{Error, Grant, Result};
use crate::desired::hostpath::real_path;
use crate::desired::yaml::{self, Node, Value};
use crate::desired::{layout, read};

/// The largest policy file read.
pub const MAX_BYTES: u64 = 1024 * 1024;

/// The allowances of a policy file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyFile {
    /// The file, as named.
    pub path: PathBuf,
    /// Grants by project name.
    pub projects: BTreeMap<String, Vec<Grant>>,
}

impl PolicyFile {
    /// What the file allows `project` (nothing when it does not name it).
    pub fn allowed(&self, project: &str) -> &[Grant] {
        self.projects.get(project).map_or(&[], Vec::as_slice)
    }
}

/// Reads and checks the policy file at `path`, refusing it when it lies inside
/// `desired_dir`.
pub fn load(path: &Path, desired_dir: &Path) -> Result<PolicyFile> {
    check_outside(path, desired_dir)?;
    let max = read::Max {
        bytes: MAX_BYTES,
        what: "policy file",
        raise_with: None,
    };
    let text = read::read_text(path, max)?;
    parse(&text, path)
}

/// Fails when `path` (or where its symlinks lead) lies inside `desired_dir` (or where its
/// symlinks lead).
pub fn check_outside(path: &Path, desired_dir: &Path) -> Result<()> {
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let (file, desired) = (absolute(path), absolute(desired_dir));
    let real_file = real_path(&file).unwrap_or_else(|_| file.clone());
    let real_desired = real_path(&desired).unwrap_or_else(|_| desired.clone());
    let inside = [&file, &real_file]
        .iter()
        .any(|f| f.starts_with(&desired) || f.starts_with(&real_desired));
    if inside {
        return Err(Error::InsideDesired {
            path: path.to_path_buf(),
            desired: desired_dir.to_path_buf(),
        });
    }
    Ok(())
}

/// Parses the text of the policy file `path`.
pub fn parse(text: &str, path: &Path) -> Result<PolicyFile> {
    let invalid = |line: usize, message: String| Error::Invalid {
        path: path.to_path_buf(),
        line,
        message,
    };
    let doc = yaml::parse(text, path).map_err(|e| invalid(e.line, e.message))?;
    let mut file = PolicyFile {
        path: path.to_path_buf(),
        projects: BTreeMap::new(),
    };
    let Some(doc) = doc else {
        return Ok(file);
    };
    let Some(entries) = doc.as_map() else {
        return Err(invalid(
            doc.line,
            format!(
                "expected a mapping of project names to lists of privileges, found {}",
                doc.kind()
            ),
        ));
    };
    for (key, value) in entries {
        let project = layout::normalize_name(&key.name);
        if project != key.name {
            return Err(invalid(
                key.line,
                format!(
                    "`{}` is not a project name as composectl normalizes it; write `{project}`",
                    key.name
                ),
            ));
        }
        let grants = grants(value, &key.name).map_err(|(line, m)| invalid(line, m))?;
        file.projects.insert(project, grants);
    }
    Ok(file)
}

/// The grants of one project's entry (a list of privilege texts, or nothing).
fn grants(node: &Node, project: &str) -> std::result::Result<Vec<Grant>, (usize, String)> {
    let items = match &node.value {
        Value::Null => return Ok(Vec::new()),
        Value::Seq(items) => items,
        _ => {
            return Err((
                node.line,
                format!(
                    "`{project}:` takes a list of privileges (`- cap:NET_ADMIN`), found {}",
                    node.kind()
                ),
            ));
        }
    };
    items
        .iter()
        .map(|item| {
            let text = item.scalar_text().ok_or_else(|| {
                (
                    item.line,
                    format!("expected a privilege, found {}", item.kind()),
                )
            })?;
            text.parse::<Grant>()
                .map_err(|e| (item.line, e.to_string()))
        })
        .collect()
}
