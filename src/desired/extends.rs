//! A service's `extends`: the service is laid over the service it names, as compose-go's
//! `ApplyExtends` does.
//!
//! `extends: NAME` and `extends: {service: NAME}` name a service of the same file (after
//! its includes are imported); `extends: {file: F, service: NAME}` one of the file `F`,
//! relative to the application's project directory. A file named so is read, interpolated
//! with the extending application's variables, its own includes ignored (as compose
//! does), and its relative paths made absolute against its own directory
//! ([`super::relpaths`]), so a base's build context, bind mounts and env files stay where
//! the base's author meant them. The base is resolved first (chains of `extends` are
//! followed, at most [`MAX_EXTENDS_DEPTH`] long; a cycle is an error), then the service is
//! merged over it with compose's merge rules ([`super::merge::merge_service`]). Everything
//! of the base is inherited, `depends_on` included (compose v2 does so; the referenced
//! services must then exist in the project).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::files::{App, Loading, get_mut, take};
use super::limits::MAX_EXTENDS_DEPTH;
use super::yaml::{Node, Value};
use super::{merge, relpaths};

/// The services of one file, where `extends` looks its base up.
struct Scope {
    /// The file.
    file: PathBuf,
    /// Its directory, for a relative `extends.file`.
    dir: PathBuf,
    /// The services, as written (before their own `extends`).
    services: Vec<(String, Node)>,
}

impl Scope {
    fn service(&self, name: &str) -> Option<&Node> {
        self.services
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, node)| node)
    }
}

/// What a service's `extends` says.
struct Extends<'n> {
    /// The base service's name.
    service: String,
    /// The base's file, as written.
    file: Option<String>,
    /// The `extends` node.
    node: &'n Node,
}

/// The state of resolving one file's services.
struct Resolver<'l, 'a> {
    ld: &'l mut Loading,
    app: &'a App<'a>,
    /// Base files read, by absolute path (`None`: failed, already reported).
    bases: BTreeMap<PathBuf, Option<Arc<Scope>>>,
    /// The (file, service) pairs being resolved, outermost first.
    chain: Vec<(PathBuf, String)>,
}

/// Resolves the `extends` of every service of `doc`, which is a file of `app`.
pub fn apply(ld: &mut Loading, doc: &mut Node, app: &App) {
    let Some(Value::Map(services)) = doc.get("services").map(|s| &s.value) else {
        return;
    };
    if !services.iter().any(|(_, s)| s.get("extends").is_some()) {
        return;
    }
    let scope = Arc::new(Scope {
        file: doc.file.to_path_buf(),
        dir: app.dir.clone(),
        services: services
            .iter()
            .map(|(k, v)| (k.name.clone(), v.clone()))
            .collect(),
    });
    let mut resolver = Resolver {
        ld,
        app,
        bases: BTreeMap::new(),
        chain: Vec::new(),
    };
    let mut resolved = Vec::new();
    for (name, service) in &scope.services {
        if service.get("extends").is_some() {
            resolved.push((name.clone(), resolver.resolve(&scope, name)));
        }
    }
    let Some(Value::Map(services)) = get_mut(doc, "services").map(|s| &mut s.value) else {
        return;
    };
    for (name, merged) in resolved {
        if let Some((_, slot)) = services.iter_mut().find(|(k, _)| k.name == name) {
            match merged {
                Some(merged) => *slot = merged,
                // Failed (reported): the service stays without its `extends`.
                None => drop(take(slot, "extends")),
            }
        }
    }
}

impl Resolver<'_, '_> {
    /// The service `name` of `scope` with its `extends` resolved; `None` when it fails
    /// (recorded).
    fn resolve(&mut self, scope: &Arc<Scope>, name: &str) -> Option<Node> {
        let service = scope.service(name)?;
        let key = format!("services.{name}.extends");
        let Some(extends) = read(self.ld, service, &key) else {
            return Some(service.clone());
        };
        if self.chain.len() >= MAX_EXTENDS_DEPTH {
            let message = format!(
                "`extends` chains more than {MAX_EXTENDS_DEPTH} services; shorten the chain"
            );
            self.ld.error(extends.node, &key, message);
            return None;
        }
        let base_scope = match &extends.file {
            Some(file) => self.base_file(&relpaths::join(&scope.dir, file), extends.node, &key)?,
            None => scope.clone(),
        };
        if base_scope.service(&extends.service).is_none() {
            let message = format!(
                "`{}` is not a service of {}; fix the name{}",
                extends.service,
                base_scope.file.display(),
                if extends.file.is_some() {
                    " or the file"
                } else {
                    ""
                }
            );
            self.ld.error(extends.node, &key, message);
            return None;
        }
        self.chain.push((scope.file.clone(), name.to_owned()));
        let target = (base_scope.file.clone(), extends.service.clone());
        let base = if self.chain.contains(&target) {
            let mut steps: Vec<String> = self
                .chain
                .iter()
                .map(|(file, service)| format!("{service} ({})", file.display()))
                .collect();
            steps.push(format!("{} ({})", target.1, target.0.display()));
            let message = format!(
                "`extends` forms a cycle: {}; remove one of these extends",
                steps.join(" extends ")
            );
            self.ld.error(extends.node, &key, message);
            None
        } else {
            self.resolve(&base_scope, &extends.service)
        };
        self.chain.pop();
        let mut own = service.clone();
        take(&mut own, "extends");
        Some(merge::merge_service(base?, own))
    }

    /// The services of the base file `path`, read once per resolved file.
    fn base_file(&mut self, path: &Path, at: &Node, key: &str) -> Option<Arc<Scope>> {
        if let Some(known) = self.bases.get(path) {
            return known.clone();
        }
        let scope = self.load_base(path, at, key).map(Arc::new);
        self.bases.insert(path.to_path_buf(), scope.clone());
        scope
    }

    fn load_base(&mut self, path: &Path, at: &Node, key: &str) -> Option<Scope> {
        let mut doc = self.ld.read_compose(path, at, key)?;
        super::interpolate::interpolate_tree(
            &mut doc,
            "",
            self.app.lookup,
            &mut self.ld.warnings,
            &mut self.ld.errors,
        );
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        relpaths::resolve_document(&mut doc, &dir);
        let services = match doc.get("services").map(|s| &s.value) {
            Some(Value::Map(services)) => services
                .iter()
                .map(|(k, v)| (k.name.clone(), v.clone()))
                .collect(),
            _ => {
                let message = format!(
                    "{} has no `services:` mapping to extend a service of",
                    path.display()
                );
                self.ld.error(at, key, message);
                return None;
            }
        };
        Some(Scope {
            file: doc.file.to_path_buf(),
            dir,
            services,
        })
    }
}

/// The `extends` of `service`, if any; a malformed one is an error (and `None`).
fn read<'n>(ld: &mut Loading, service: &'n Node, key: &str) -> Option<Extends<'n>> {
    let node = service.get("extends")?;
    let text = |n: &Node| match &n.value {
        Value::Str(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    if let Some(name) = text(node) {
        return Some(Extends {
            service: name,
            file: None,
            node,
        });
    }
    let Some(entries) = node.as_map() else {
        let message = format!(
            "`extends` is a service name or a mapping with `service:` (and `file:`), found {}",
            node.kind()
        );
        ld.error(node, key, message);
        return None;
    };
    let mut ok = true;
    for (k, v) in entries {
        if !matches!(k.name.as_str(), "service" | "file") {
            let message = format!(
                "`{}` is not a key of `extends`; use service and file",
                k.name
            );
            ld.error(v, &format!("{key}.{}", k.name), message);
            ok = false;
        } else if text(v).is_none() {
            let message = format!("expected a string, found {}", v.kind());
            ld.error(v, &format!("{key}.{}", k.name), message);
            ok = false;
        }
    }
    let Some(service) = node.get("service").and_then(text) else {
        if ok {
            ld.error(
                node,
                key,
                "`extends` needs `service:` (the service to extend)",
            );
        }
        return None;
    };
    let file = node.get("file").and_then(text);
    ok.then_some(Extends {
        service,
        file,
        node,
    })
}
