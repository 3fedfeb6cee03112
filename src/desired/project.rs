//! Loading one project from its source: read `.env`, parse each compose file and make it
//! ready ([`super::files`]: interpolated, includes imported, extends resolved), lay the
//! override over the base, resolve the name and profiles, convert, validate. The project's
//! config files are every compose file read, included and extended ones too.
//! Every problem of the project is collected; any error fails the whole project.
//!
//! The secret values a load meets are handed to [`crate::redact`] once the files are
//! converted, failed loads included: `.env` values (except compose's own `COMPOSE_*`
//! settings), `env_file` values, and the services' final environments and build args;
//! except a value that is a name the project shows anyway (its name, a service, container,
//! network or volume name, an image or a part of one): `POSTGRES_USER=postgres` must not
//! hide the `postgres` service from every log line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::convert::{self, Ctx};
use super::files::{App, Loading};
use super::hostpath::Root;
use super::origins::{HostPath, HostPathUse, Origin, Origins};
use super::yaml::Node;
use super::{
    Diagnostic, Env, Error, Limits, Loaded, ProjectLoad, Result, envfile, layout, merge, read,
    validate, yaml,
};
use crate::model::spec::ProjectSpec;

/// Loads the project `dir_name` from `source`, reading no file larger than `limits` allow.
pub fn load(
    dir_name: &str,
    source: &layout::ProjectSource,
    env: &dyn Env,
    limits: &Limits,
) -> Result<Loaded> {
    load_named(dir_name, source, env, limits).1
}

/// Like [`load`], also returning the project's final name (the top-level `name:` when the
/// files got far enough to read it, else the normalized directory name), so a failed
/// project is reported under the same name as when it loads.
pub fn load_named(
    dir_name: &str,
    source: &layout::ProjectSource,
    env: &dyn Env,
    limits: &Limits,
) -> (String, Result<Loaded>) {
    let mut name = layout::normalize_name(dir_name);
    let result = load_into(dir_name, source, env, limits, &mut name);
    (name, result)
}

fn load_into(
    dir_name: &str,
    source: &layout::ProjectSource,
    env: &dyn Env,
    limits: &Limits,
    final_name: &mut String,
) -> Result<Loaded> {
    let working_dir = absolute(&source.working_dir());
    let root = Root::at(&absolute(source.path().parent().unwrap_or(Path::new("/"))));
    let mut origins = Origins::new(root);
    let dotenv = read_dotenv(&source.working_dir(), env, limits, &mut origins)?;
    let lookup = |name: &str| env.var(name).or_else(|| dotenv.get(name).cloned());
    let mut ld = Loading::new(*limits, origins.root.clone());
    let app = App {
        dir: working_dir.clone(),
        lookup: &lookup,
        chain: Vec::new(),
    };
    let files = layout::compose_files(source);
    let mut doc: Option<Node> = None;
    for file in &files {
        let Some(mut node) = read_compose(file, limits)? else {
            ld.errors.push(Diagnostic::file(file, "the file is empty; write the project's `services:` (or wait for the write to finish)"));
            continue;
        };
        ld.note_file(&absolute(file));
        if node.as_map().is_none() {
            ld.errors.push(Diagnostic::at(
                &node,
                "",
                format!(
                    "a compose file is a mapping with `services:`, found {}",
                    node.kind()
                ),
            ));
            continue;
        }
        let app = App {
            chain: vec![absolute(file)],
            ..app.clone()
        };
        ld.prepare(&mut node, &app);
        doc = Some(match doc {
            None => node,
            Some(base) => merge::merge(base, node),
        });
    }
    let Loading {
        files: config_files,
        env_values,
        host_paths,
        warnings,
        mut errors,
        ..
    } = ld;
    origins.host_paths.extend(host_paths);
    if let Some(doc) = &doc {
        *final_name = project_name(dir_name, doc, &mut Vec::new());
    }
    let Some(doc) = doc.filter(|_| errors.is_empty()) else {
        return Err(Error::Invalid(errors));
    };
    let name = project_name(dir_name, &doc, &mut errors);
    let profiles = active_profiles(&lookup);
    let mut cx = Ctx {
        project: name,
        dir: working_dir.clone(),
        home: env.var("HOME").map(PathBuf::from),
        lookup: &lookup,
        limits: *limits,
        env_files: BTreeMap::new(),
        env_bytes: 0,
        volumes: BTreeMap::new(),
        networks: BTreeMap::new(),
        files: Default::default(),
        inactive: Default::default(),
        origins,
        errors,
        warnings,
    };
    let mut spec = convert::project(&mut cx, &doc, &profiles);
    remember_secrets(&spec, &dotenv, &env_values, &cx.env_files);
    validate::validate(&mut cx, &mut spec, &doc);
    if cx.errors.is_empty() {
        convert::build::read_contexts(&mut cx, &mut spec, &doc);
    }
    if !cx.errors.is_empty() {
        return Err(Error::Invalid(cx.errors));
    }
    spec.config_files = config_files;
    Ok(Loaded {
        spec,
        warnings: cx.warnings,
        origins: cx.origins,
    })
}

/// Hands the secret values of a load to [`crate::redact`] (see the module doc).
fn remember_secrets(
    spec: &ProjectSpec,
    dotenv: &BTreeMap<String, String>,
    included: &[String],
    env_files: &BTreeMap<(PathBuf, bool), convert::environment::EnvFile>,
) {
    let shown = shown_names(spec);
    let mut values: Vec<&str> = dotenv
        .iter()
        .filter(|(key, _)| !key.starts_with("COMPOSE_"))
        .map(|(_, value)| value.as_str())
        .chain(included.iter().map(String::as_str))
        .collect();
    for file in env_files.values() {
        if let convert::environment::EnvFile::Vars(vars) = file {
            values.extend(vars.iter().map(|(_, value)| value.as_str()));
        }
    }
    // The contents of secrets (configs are not secret: compose prints them).
    values.extend(
        spec.secrets
            .values()
            .filter_map(|s| std::str::from_utf8(&s.content.0).ok()),
    );
    for service in spec.services.values() {
        values.extend(service.environment.values().map(String::as_str));
        if let Some(build) = &service.build {
            values.extend(build.args.values().map(String::as_str));
        }
    }
    crate::redact::global().remember_all(values.into_iter().filter(|v| !shown.contains(v)));
}

/// The names `spec` shows in output anyway: the project's, its services', containers',
/// networks', volumes', its images and every part of them (`registry:5000/shop/web:1.4`
/// gives `registry`, `5000`, `shop`, `web`, `1.4`).
fn shown_names(spec: &ProjectSpec) -> std::collections::BTreeSet<&str> {
    let mut names = std::collections::BTreeSet::from([spec.name.as_str()]);
    for (key, service) in &spec.services {
        names.insert(key);
        names.extend(service.container_name.as_deref());
        names.extend(service.hostname.as_deref());
        names.insert(&service.image);
        names.extend(service.image.split(['/', ':', '@']));
    }
    for (key, network) in &spec.networks {
        names.extend([key.as_str(), network.name.as_str()]);
    }
    for (key, volume) in &spec.volumes {
        names.extend([key.as_str(), volume.name.as_str()]);
    }
    names
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

fn read_compose(file: &Path, limits: &Limits) -> Result<Option<Node>> {
    let text = read::read_text(file, limits.compose())?;
    yaml::parse(&text, file).map_err(|e| Error::Yaml {
        file: file.to_path_buf(),
        line: e.line,
        column: e.column,
        message: e.message,
    })
}

/// The project directory's `.env`, interpolated against the environment; missing is empty.
/// Where it really is goes into `origins` (a committed symlink may lead out of the desired
/// directory).
fn read_dotenv(
    dir: &Path,
    env: &dyn Env,
    limits: &Limits,
    origins: &mut Origins,
) -> Result<BTreeMap<String, String>> {
    let file = dir.join(".env");
    let text = match read::read_text(&file, limits.env()) {
        Ok(text) => text,
        Err(e) if e.is_not_found() => return Ok(BTreeMap::new()),
        Err(e) => return Err(e.into()),
    };
    let path = origins
        .root
        .resolve(&absolute(&file))
        .unwrap_or_else(|_| absolute(&file));
    origins.host_paths.push(HostPath {
        path,
        usage: HostPathUse::DotEnv,
        origin: Origin::file(&file, ".env"),
    });
    let lookup = |name: &str| env.var(name);
    envfile::parse(&text, &lookup)
        .map(|vars| vars.into_iter().collect())
        .map_err(|e| {
            let line = match &e {
                envfile::Error::Syntax { line, .. }
                | envfile::Error::Interpolation { line, .. } => *line,
            };
            Error::Invalid(vec![Diagnostic {
                line: Some(line),
                ..Diagnostic::file(&file, e.to_string())
            }])
        })
}

/// The top-level `name:` if set, else the directory name, normalized.
fn project_name(dir_name: &str, doc: &Node, errors: &mut Vec<Diagnostic>) -> String {
    let explicit = doc.get("name").and_then(Node::scalar_text);
    let name = layout::normalize_name(explicit.as_deref().unwrap_or(dir_name));
    if name.is_empty() {
        let at = doc.get("name").unwrap_or(doc);
        errors.push(Diagnostic::at(
            at,
            "name",
            "the project name has no letters or digits; set `name:` to something like `shop`",
        ));
    }
    name
}

/// `COMPOSE_PROFILES` (environment over `.env`), comma-separated.
fn active_profiles(lookup: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    lookup("COMPOSE_PROFILES")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(String::from)
        .collect()
}

/// Builds the report's maps (loads and sources by name); two sources with the same name
/// both fail, under the first source.
pub fn reject_duplicates(
    loads: Vec<(String, PathBuf, ProjectLoad)>,
) -> (BTreeMap<String, ProjectLoad>, BTreeMap<String, PathBuf>) {
    let mut out: BTreeMap<String, (PathBuf, ProjectLoad)> = BTreeMap::new();
    for (name, path, load) in loads {
        match out.remove(&name) {
            None => {
                out.insert(name, (path, load));
            }
            Some((first, _)) => {
                let error = Error::DuplicateProject {
                    name: name.clone(),
                    first: first.clone(),
                    second: path,
                };
                out.insert(name, (first, Err(error)));
            }
        }
    }
    let mut projects = BTreeMap::new();
    let mut sources = BTreeMap::new();
    for (name, (path, load)) in out {
        sources.insert(name.clone(), path);
        projects.insert(name, load);
    }
    (projects, sources)
}
