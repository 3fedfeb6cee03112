//! Registry credentials for pulls, read from the Docker CLI's config file
//! (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`): the `auths.<registry>.auth`
//! entry (base64 `user:pass`) or its `identitytoken`, for the registry host of the image
//! reference (`docker.io` matches `https://index.docker.io/v1/`).
//!
//! Credential helpers (`credsStore`, `credHelpers`) are not supported: with them the file
//! holds no secret, so the pull goes anonymous. Credentials are never logged; errors name
//! the file and the registry, never a value. The secrets found (the `auth` entry, the
//! password, the identity token) are handed to [`crate::redact`].

use std::path::{Path, PathBuf};

use bollard::auth::DockerCredentials;

/// Errors reading credentials.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The config file exists but cannot be read.
    #[error("cannot read Docker config {path}: {source}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The config file is not valid JSON of the expected shape.
    #[error("Docker config {path} is not valid: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong (no values).
        message: String,
    },
    /// An `auth` entry is not base64 of `user:password`.
    #[error("Docker config: the auth entry for {registry} is not base64 of user:password")]
    BadAuth {
        /// The registry whose entry is malformed.
        registry: String,
    },
}

/// Result alias for this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The registry name Docker Hub's aliases normalize to.
const DOCKER_HUB: &str = "docker.io";
/// The server address Docker Hub credentials are sent with.
const DOCKER_HUB_SERVER: &str = "https://index.docker.io/v1/";

/// Splits a reference into the `fromImage` and `tag` of a pull: the tag, or the digest
/// after `@`, or `latest`.
pub(crate) fn split_reference(reference: &str) -> (String, String) {
    if let Some((name, digest)) = reference.split_once('@') {
        return (name.to_owned(), digest.to_owned());
    }
    let last_slash = reference.rfind('/').map_or(0, |i| i + 1);
    match reference[last_slash..].rfind(':') {
        Some(colon) => {
            let at = last_slash + colon;
            (reference[..at].to_owned(), reference[at + 1..].to_owned())
        }
        None => (reference.to_owned(), "latest".to_owned()),
    }
}

/// The registry host of a reference (`docker.io` when the first component is no host).
pub(crate) fn registry_host(reference: &str) -> String {
    match reference.split_once('/') {
        Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => {
            normalize_registry(first)
        }
        _ => DOCKER_HUB.to_owned(),
    }
}

/// A config key or host reduced to the bare host (`https://index.docker.io/v1/` ->
/// `docker.io`, `http://reg:5000/x` -> `reg:5000`).
fn normalize_registry(key: &str) -> String {
    let bare = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = bare.split('/').next().unwrap_or(bare);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" => DOCKER_HUB.to_owned(),
        other => other.to_owned(),
    }
}

/// The credentials `config_json` holds for the registry of `reference`, if any.
pub(crate) fn credentials_from(
    config_json: &str,
    path: &Path,
    reference: &str,
) -> Result<Option<DockerCredentials>> {
    let invalid = |message: String| Error::Invalid {
        path: path.to_owned(),
        message,
    };
    let config: serde_json::Value =
        serde_json::from_str(config_json).map_err(|e| invalid(format!("not JSON ({e})")))?;
    let Some(auths) = config.get("auths") else {
        return Ok(None);
    };
    let auths = auths
        .as_object()
        .ok_or_else(|| invalid("`auths` is not an object".into()))?;
    let registry = registry_host(reference);
    let Some(entry) = auths
        .iter()
        .find(|(key, _)| normalize_registry(key) == registry)
        .map(|(_, entry)| entry)
    else {
        return Ok(None);
    };
    entry_credentials(entry, &registry)
}

fn entry_credentials(
    entry: &serde_json::Value,
    registry: &str,
) -> Result<Option<DockerCredentials>> {
    let text = |key: &str| {
        entry
            .get(key)
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
    };
    let server = if registry == DOCKER_HUB {
        DOCKER_HUB_SERVER.to_owned()
    } else {
        registry.to_owned()
    };
    let bad = || Error::BadAuth {
        registry: registry.to_owned(),
    };
    let mut creds = DockerCredentials {
        serveraddress: Some(server),
        identitytoken: text("identitytoken").map(str::to_owned),
        ..DockerCredentials::default()
    };
    if let Some(auth) = text("auth") {
        let decoded = decode_base64(auth).ok_or_else(bad)?;
        let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
        let (user, pass) = decoded.split_once(':').ok_or_else(bad)?;
        creds.username = Some(user.to_owned());
        creds.password = Some(pass.to_owned());
    }
    let redactor = crate::redact::global();
    redactor.remember_all(
        [
            text("auth"),
            creds.password.as_deref(),
            creds.identitytoken.as_deref(),
        ]
        .into_iter()
        .flatten(),
    );
    let has_secret = creds.password.is_some() || creds.identitytoken.is_some();
    Ok(has_secret.then_some(creds))
}

/// The config file the Docker CLI would read.
pub(crate) fn config_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".docker/config.json"))
}

/// Credentials for pulling `reference`; `None` without a config file or a matching entry.
pub(crate) fn credentials_for(reference: &str) -> Result<Option<DockerCredentials>> {
    let Some(path) = config_path() else {
        return Ok(None);
    };
    match std::fs::read_to_string(&path) {
        Ok(json) => credentials_from(&json, &path, reference),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Unreadable { path, source }),
    }
}

/// Decodes standard base64 (padding optional); `None` on any invalid character.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for byte in text.trim_end_matches('=').bytes() {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        buffer = (buffer << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
#[path = "auth_tests.rs"]
mod tests;
