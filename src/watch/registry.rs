//! The registry's tag list (`GET /v2/<name>/tags/list`), which the Engine API does not
//! give: what semver watching chooses from. Plain http for a registry on `127.0.0.1`,
//! `::1` or `localhost` (as the engine trusts them), https otherwise, through the crate's
//! one HTTP client ([`crate::gate::client`]). Authentication follows the registry's
//! challenge: a bearer token from the `WWW-Authenticate` realm (anonymous, or with the
//! Docker config's credentials for that registry), or basic auth. Credentials and tokens
//! never reach an error or a log line.

use std::time::Duration;

use crate::gate::client::{self, Response};
use crate::redact::Url;
use crate::redact::shapes::percent_encode;
use crate::runtime::docker::auth;

/// How long one request to the registry may take.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// The most tags asked for in one page (`n`); the registry's `Link` header leads to the
/// next page.
pub const PAGE: u32 = 1000;

/// The most pages read (100 000 tags at [`PAGE`]): a repository with more is read in part.
pub const MAX_PAGES: usize = 100;

/// Why the tag list could not be read; every variant names the registry.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request failed (connection, TLS, timeout).
    #[error("registry {registry}: {message}")]
    Request {
        /// The registry host.
        registry: String,
        /// What failed (the URL shown without credentials).
        message: String,
    },
    /// The registry answered with an error status.
    #[error("registry {registry}: listing the tags of {repository} answered {status}{hint}")]
    Status {
        /// The registry host.
        registry: String,
        /// The repository.
        repository: String,
        /// The HTTP status.
        status: u16,
        /// What to check.
        hint: &'static str,
    },
    /// The answer was not the tag list.
    #[error("registry {registry}: the tag list of {repository} is not valid JSON: {message}")]
    Invalid {
        /// The registry host.
        registry: String,
        /// The repository.
        repository: String,
        /// What the JSON parser said.
        message: String,
    },
    /// The Docker config file could not be read.
    #[error("registry {registry}: {message}")]
    Credentials {
        /// The registry host.
        registry: String,
        /// What is wrong with the config file.
        message: String,
    },
}

/// Result alias of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where a reference's repository lives: the API's base URL and the repository path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The registry host as references name it (`docker.io`, `127.0.0.1:5000`).
    pub registry: String,
    /// `http://127.0.0.1:5000` or `https://registry-1.docker.io`.
    pub base: String,
    /// `library/nginx`, `shop/web`.
    pub repository: String,
}

/// The location of `reference`'s repository.
pub fn locate(reference: &str) -> Location {
    let registry = auth::registry_host(reference);
    let (name, _) = auth::split_reference(reference);
    let path = match name.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => rest,
        _ => name.as_str(),
    };
    let repository = if registry == "docker.io" && !path.contains('/') {
        format!("library/{path}")
    } else {
        path.to_owned()
    };
    let host = registry
        .rsplit_once(':')
        .map_or(registry.as_str(), |(h, _)| h);
    let local = matches!(host, "127.0.0.1" | "localhost" | "[::1]");
    let base = match (local, registry.as_str()) {
        (_, "docker.io") => "https://registry-1.docker.io".to_owned(),
        (true, _) => format!("http://{registry}"),
        (false, _) => format!("https://{registry}"),
    };
    Location {
        registry,
        base,
        repository,
    }
}

/// Every tag of `reference`'s repository, page after page ([`PAGE`] tags each, at most
/// [`MAX_PAGES`] pages).
pub async fn tags(reference: &str) -> Result<Vec<String>> {
    tags_paged(reference, PAGE).await
}

/// [`tags`], asking for `page` tags at a time.
pub async fn tags_paged(reference: &str, page: u32) -> Result<Vec<String>> {
    let at = locate(reference);
    let url = Url::new(format!(
        "{}/v2/{}/tags/list?n={page}",
        at.base, at.repository
    ));
    let credentials = auth::credentials_for(reference).map_err(|e| Error::Credentials {
        registry: at.registry.clone(),
        message: e.to_string(),
    })?;
    let userinfo = credentials.as_ref().and_then(|c| {
        let user = c.username.as_deref()?;
        let pass = c.password.as_deref()?;
        Some(format!("{}:{}", percent_encode(user), percent_encode(pass)))
    });
    let mut headers = Vec::new();
    let mut answer = get(&at, &url, &headers).await?;
    if answer.status == 401 {
        let challenge = answer.header("www-authenticate").unwrap_or_default();
        let authorization = match parse_challenge(challenge) {
            Some(Challenge::Bearer { realm, params }) => {
                let token = token(&at, &realm, &params, userinfo.as_deref()).await?;
                Some(format!("Bearer {token}"))
            }
            Some(Challenge::Basic) => userinfo
                .as_deref()
                .and_then(|u| Url::new(format!("http://{u}@registry/")).basic_auth()),
            None => None,
        };
        if let Some(authorization) = authorization {
            headers.push(("Authorization", authorization));
            answer = get(&at, &url, &headers).await?;
        }
    }
    let mut tags = Vec::new();
    for _ in 0..MAX_PAGES {
        tags.extend(page_tags(&at, &answer)?);
        let Some(next) = answer.header("link").and_then(|l| next_page(l, &at.base)) else {
            break;
        };
        answer = get(&at, &Url::new(next), &headers).await?;
    }
    Ok(tags)
}

/// The tags of one tag list answer, or the error its status says.
fn page_tags(at: &Location, answer: &Response) -> Result<Vec<String>> {
    if answer.status != 200 {
        let hint = match answer.status {
            401 | 403 => "; log in on this host (docker login) for this registry",
            404 => "; check the image name",
            _ => "",
        };
        return Err(Error::Status {
            registry: at.registry.clone(),
            repository: at.repository.clone(),
            status: answer.status,
            hint,
        });
    }
    parse_tags(&answer.body).map_err(|message| Error::Invalid {
        registry: at.registry.clone(),
        repository: at.repository.clone(),
        message,
    })
}

/// The next page's URL from a `Link: <...>; rel="next"` header (RFC 8288), made absolute
/// against `base` when the registry gives a path, as the distribution spec's registries do.
/// Only a link on `base` itself is followed: a registry cannot send composectl's
/// credentials elsewhere.
fn next_page(link: &str, base: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (target, params) = part.trim().split_once(';')?;
        let is_next = params.split(';').any(|p| {
            let p = p.trim().replace(' ', "");
            p == "rel=\"next\"" || p == "rel=next"
        });
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        match is_next {
            true if target.starts_with('/') => Some(format!("{base}{target}")),
            true if target.starts_with(&format!("{base}/")) => Some(target.to_owned()),
            _ => None,
        }
    })
}

async fn get(at: &Location, url: &Url, headers: &[(&str, String)]) -> Result<Response> {
    client::get_with(url, headers, TIMEOUT)
        .await
        .map_err(|e| Error::Request {
            registry: at.registry.clone(),
            message: e.to_string(),
        })
}

/// A bearer token from `realm` for `params` (service, scope), with basic credentials
/// when the Docker config has some.
async fn token(
    at: &Location,
    realm: &str,
    params: &[(String, String)],
    userinfo: Option<&str>,
) -> Result<String> {
    let query: Vec<String> = params
        .iter()
        .filter(|(k, _)| k == "service" || k == "scope")
        .map(|(k, v)| format!("{k}={}", percent_encode(v)))
        .collect();
    let mut realm_url = realm.to_owned();
    if let Some(userinfo) = userinfo
        && let Some((scheme, rest)) = realm.split_once("://")
    {
        realm_url = format!("{scheme}://{userinfo}@{rest}");
    }
    let sep = if realm_url.contains('?') { '&' } else { '?' };
    let url = Url::new(format!("{realm_url}{sep}{}", query.join("&")));
    let answer = get(at, &url, &[]).await?;
    if answer.status != 200 {
        return Err(Error::Status {
            registry: at.registry.clone(),
            repository: at.repository.clone(),
            status: answer.status,
            hint: "; the token service refused (docker login on this host?)",
        });
    }
    let json: serde_json::Value =
        serde_json::from_str(&answer.body).map_err(|e| Error::Invalid {
            registry: at.registry.clone(),
            repository: at.repository.clone(),
            message: e.to_string(),
        })?;
    json.get("token")
        .or_else(|| json.get("access_token"))
        .and_then(|t| t.as_str())
        .map(str::to_owned)
        .ok_or_else(|| Error::Invalid {
            registry: at.registry.clone(),
            repository: at.repository.clone(),
            message: "the token service gave no token".to_owned(),
        })
}

/// A `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// `Bearer realm="...",service="...",scope="..."`.
    Bearer {
        /// Where tokens come from.
        realm: String,
        /// Every parameter, realm included.
        params: Vec<(String, String)>,
    },
    /// `Basic realm="..."`.
    Basic,
}

/// Reads a `WWW-Authenticate` header.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let (scheme, rest) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut params = Vec::new();
    let mut rest = rest.trim();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let after = after.trim_start();
        let (value, tail) = match after.strip_prefix('"') {
            Some(quoted) => {
                let end = quoted.find('"')?;
                (&quoted[..end], &quoted[end + 1..])
            }
            None => after.split_once(',').map_or((after, ""), |(v, t)| (v, t)),
        };
        params.push((key.trim().to_ascii_lowercase(), value.to_owned()));
        rest = tail.trim_start_matches([',', ' ']);
    }
    let realm = params.iter().find(|(k, _)| k == "realm")?.1.clone();
    Some(Challenge::Bearer { realm, params })
}

/// The `tags` of a tag list answer (`{"name": ..., "tags": [...]}`; `null` is none).
fn parse_tags(body: &str) -> std::result::Result<Vec<String>, String> {
    #[derive(serde::Deserialize)]
    struct TagList {
        tags: Option<Vec<String>>,
    }
    let list: TagList = serde_json::from_str(body).map_err(|e| e.to_string())?;
    Ok(list.tags.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_locate_their_registry_and_repository() {
        let cases = [
            (
                "127.0.0.1:5000/shop/web:1.2.3",
                "http://127.0.0.1:5000",
                "shop/web",
            ),
            ("localhost:5000/web", "http://localhost:5000", "web"),
            ("ghcr.io/acme/app:1.0.0", "https://ghcr.io", "acme/app"),
            (
                "nginx:1.27",
                "https://registry-1.docker.io",
                "library/nginx",
            ),
            (
                "grafana/grafana:11.0.0",
                "https://registry-1.docker.io",
                "grafana/grafana",
            ),
        ];
        for (reference, base, repository) in cases {
            let at = locate(reference);
            assert_eq!(
                (at.base.as_str(), at.repository.as_str()),
                (base, repository),
                "{reference}"
            );
        }
    }

    #[test]
    fn a_bearer_challenge_gives_its_realm_service_and_scope() {
        let header = r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull""#;
        let Some(Challenge::Bearer { realm, params }) = parse_challenge(header) else {
            panic!("not a bearer challenge");
        };
        assert_eq!(realm, "https://auth.docker.io/token");
        assert!(params.contains(&("service".into(), "registry.docker.io".into())));
        assert!(params.contains(&("scope".into(), "repository:library/nginx:pull".into())));
        assert_eq!(
            parse_challenge(r#"Basic realm="x""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge("Negotiate"), None);
    }

    #[test]
    fn the_next_page_is_the_link_with_rel_next_on_the_same_registry() {
        let base = "https://ghcr.io";
        let cases = [
            (
                r#"</v2/acme/app/tags/list?last=1.9&n=1000>; rel="next""#,
                Some("https://ghcr.io/v2/acme/app/tags/list?last=1.9&n=1000"),
            ),
            (
                r#"<https://ghcr.io/v2/acme/app/tags/list?last=2>; rel=next"#,
                Some("https://ghcr.io/v2/acme/app/tags/list?last=2"),
            ),
            (
                r#"</v2/a/tags/list?last=0>; rel="prev", </v2/a/tags/list?last=9>; rel="next""#,
                Some("https://ghcr.io/v2/a/tags/list?last=9"),
            ),
            (r#"</v2/a/tags/list?last=0>; rel="prev""#, None),
            // Another host never gets the registry's credentials.
            (r#"<https://evil.example/v2/a/tags/list>; rel="next""#, None),
            (r#"<https://ghcr.io.evil.example/x>; rel="next""#, None),
            ("garbage", None),
        ];
        for (link, want) in cases {
            assert_eq!(next_page(link, base).as_deref(), want, "{link}");
        }
    }

    /// A registry on loopback that lists `tags` `n` at a time, as the distribution spec
    /// pages (`last`, `n`, a `Link` to the next page), one request per connection.
    async fn paging_registry(tags: &'static [&'static str]) -> u16 {
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let head = client::read_head(&mut stream).await;
                let target = head.split(' ').nth(1).unwrap().to_owned();
                let query = target.split_once('?').map_or("", |(_, q)| q);
                let param = |key: &str| {
                    query
                        .split('&')
                        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
                        .map(str::to_owned)
                };
                let n: usize = param("n").unwrap().parse().unwrap();
                let from = param("last")
                    .map_or(0, |last| tags.iter().position(|t| *t == last).unwrap() + 1);
                let page = &tags[from..(from + n).min(tags.len())];
                let body = serde_json::json!({"name": "shop/web", "tags": page}).to_string();
                let link = match page.last() {
                    Some(last) if from + n < tags.len() => format!(
                        "Link: </v2/shop/web/tags/list?last={last}&n={n}>; rel=\"next\"\r\n"
                    ),
                    _ => String::new(),
                };
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{link}\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                stream.write_all(answer.as_bytes()).await.unwrap();
            }
        });
        port
    }

    #[tokio::test]
    async fn a_tag_list_longer_than_a_page_is_read_to_its_end() {
        const TAGS: &[&str] = &["1.0.0", "1.0.1", "1.1.0", "2.0.0", "latest"];
        let port = paging_registry(TAGS).await;
        let reference = format!("127.0.0.1:{port}/shop/web:1.0.0");

        let listed = tags_paged(&reference, 2).await.unwrap();
        assert_eq!(listed, TAGS, "three pages of at most two tags");
        let listed = tags_paged(&reference, 5).await.unwrap();
        assert_eq!(listed, TAGS, "one page");
    }

    #[test]
    fn a_tag_list_reads_its_tags_and_null_as_none() {
        assert_eq!(
            parse_tags(r#"{"name":"web","tags":["1.2.3","latest"]}"#).unwrap(),
            vec!["1.2.3", "latest"]
        );
        assert!(
            parse_tags(r#"{"name":"web","tags":null}"#)
                .unwrap()
                .is_empty()
        );
        assert!(parse_tags("<html>").is_err());
    }
}
