//! Tests of reference splitting and credential lookup.

use super::*;

#[test]
fn references_split_into_repository_and_tag_or_digest() {
    let cases = [
        ("nginx", ("nginx", "latest")),
        ("nginx:1.27", ("nginx", "1.27")),
        ("127.0.0.1:5000/app", ("127.0.0.1:5000/app", "latest")),
        ("127.0.0.1:5000/app:v2", ("127.0.0.1:5000/app", "v2")),
        ("app@sha256:abc", ("app", "sha256:abc")),
        ("reg:5000/team/app:v1", ("reg:5000/team/app", "v1")),
    ];
    for (reference, (repo, tag)) in cases {
        assert_eq!(
            split_reference(reference),
            (repo.to_owned(), tag.to_owned()),
            "{reference}"
        );
    }
}

#[test]
fn registry_host_is_the_first_component_only_when_it_looks_like_a_host() {
    let cases = [
        ("nginx", "docker.io"),
        ("library/nginx:1", "docker.io"),
        ("grafana/grafana", "docker.io"),
        ("docker.io/library/nginx", "docker.io"),
        ("index.docker.io/library/nginx", "docker.io"),
        ("127.0.0.1:5000/app:v2", "127.0.0.1:5000"),
        ("localhost/app", "localhost"),
        ("ghcr.io/org/app", "ghcr.io"),
    ];
    for (reference, host) in cases {
        assert_eq!(registry_host(reference), host, "{reference}");
    }
}

#[test]
fn base64_decodes_with_and_without_padding_and_rejects_garbage() {
    assert_eq!(decode_base64("dXNlcjpwYXNz").unwrap(), b"user:pass");
    assert_eq!(decode_base64("YQ==").unwrap(), b"a");
    assert_eq!(decode_base64("YWI").unwrap(), b"ab");
    assert_eq!(decode_base64("").unwrap(), b"");
    assert!(decode_base64("not base64!").is_none());
}

const CONFIG: &str = r#"{
  "auths": {
    "https://index.docker.io/v1/": {"auth": "aHViOnNlY3JldA=="},
    "127.0.0.1:5000": {"auth": "dXNlcjpwYXNz"},
    "ghcr.io": {"identitytoken": "tok"},
    "helper.example": {}
  },
  "credsStore": "desktop"
}"#;

fn lookup(reference: &str) -> Option<DockerCredentials> {
    credentials_from(CONFIG, Path::new("/cfg.json"), reference).expect("a valid config")
}

#[test]
fn docker_hub_references_use_the_index_entry() {
    let creds = lookup("nginx:1.27").expect("hub credentials");
    assert_eq!(creds.username.as_deref(), Some("hub"));
    assert_eq!(creds.password.as_deref(), Some("secret"));
    assert_eq!(creds.serveraddress.as_deref(), Some(DOCKER_HUB_SERVER));
}

#[test]
fn private_registry_references_use_their_host_entry() {
    let creds = lookup("127.0.0.1:5000/app:v2").expect("registry credentials");
    assert_eq!(creds.username.as_deref(), Some("user"));
    assert_eq!(creds.password.as_deref(), Some("pass"));
    assert_eq!(creds.serveraddress.as_deref(), Some("127.0.0.1:5000"));
    let token = lookup("ghcr.io/org/app").expect("token credentials");
    assert_eq!(token.identitytoken.as_deref(), Some("tok"));
}

#[test]
fn unknown_registries_and_helper_only_entries_pull_anonymously() {
    assert!(lookup("quay.io/org/app").is_none());
    assert!(lookup("helper.example/app").is_none());
}

#[test]
fn malformed_config_and_auth_are_errors_that_show_no_secret() {
    let err = credentials_from("{", Path::new("/cfg.json"), "nginx").unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }));
    let bad = r#"{"auths": {"reg:5000": {"auth": "c2VjcmV0"}}}"#;
    let err = credentials_from(bad, Path::new("/cfg.json"), "reg:5000/app").unwrap_err();
    assert!(matches!(err, Error::BadAuth { .. }));
    assert!(!err.to_string().contains("secret"));
}

#[test]
fn the_credentials_found_are_remembered_as_secrets() {
    // base64("robot:registry-pass-4471")
    let auth = crate::redact::base64("robot:registry-pass-4471");
    let config = format!(
        r#"{{"auths": {{"reg.local:5000": {{"auth": "{auth}", "identitytoken": "id-token-4471"}}}}}}"#
    );
    let creds = credentials_from(&config, Path::new("config.json"), "reg.local:5000/app:1")
        .unwrap()
        .unwrap();
    assert_eq!(creds.password.as_deref(), Some("registry-pass-4471"));
    let line = format!("pull failed: {auth} registry-pass-4471 id-token-4471");
    assert_eq!(crate::redact::text(&line), "pull failed: *** *** ***");
}
