//! Templating of gate URLs, queries and commands with the target's facts.
//!
//! `{container}`, `{ip}`, `{port}`, `{number}`, `{service}` and `{project}` are replaced;
//! every other brace is kept as written, so PromQL label matchers
//! (`metric{status=~"5.."}`) pass through untouched. An IPv6 `{ip}` is written in
//! brackets (`[fd00::2]`), the form both URLs and Prometheus `instance` labels use.
//! [`check`] rejects a `{word}` that looks like a placeholder but is not one, at
//! configuration time.

use super::{Error, Probe, Result};

/// The placeholders a template may use.
pub const PLACEHOLDERS: [&str; 6] = ["container", "ip", "port", "number", "service", "project"];

/// `text` with every placeholder replaced by `target`'s value; fails when the target lacks
/// the value (no IP or no port yet).
pub fn render(text: &str, target: &Probe) -> Result<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match placeholder_at(after) {
            Some(name) => {
                out.push_str(&value(name, target)?);
                rest = &after[name.len() + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Checks that every `{word}` in `text` (lowercase letters and `_` between braces) is a
/// known placeholder; `key` names the configuration key in the error.
pub fn check(text: &str, key: &str) -> Result<()> {
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let word_len = after
            .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
            .unwrap_or(after.len());
        let word = &after[..word_len];
        let closed = after[word_len..].starts_with('}');
        if closed && !word.is_empty() && !PLACEHOLDERS.contains(&word) {
            return Err(Error::Config {
                key: key.to_owned(),
                message: format!(
                    "unknown placeholder {{{word}}}; use one of {}",
                    PLACEHOLDERS.map(|p| format!("{{{p}}}")).join(", ")
                ),
            });
        }
        rest = after;
    }
    Ok(())
}

/// The known placeholder `text` starts with (followed by `}`), if any.
fn placeholder_at(text: &str) -> Option<&'static str> {
    PLACEHOLDERS
        .into_iter()
        .find(|p| text.starts_with(p) && text[p.len()..].starts_with('}'))
}

fn value(name: &'static str, target: &Probe) -> Result<String> {
    let missing = || Error::Missing { placeholder: name };
    Ok(match name {
        "container" => target.container_name.clone(),
        "ip" => match target.ip.ok_or_else(missing)? {
            std::net::IpAddr::V4(ip) => ip.to_string(),
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        },
        "port" => target.port.ok_or_else(missing)?.to_string(),
        "number" => target.number.to_string(),
        "service" => target.service.clone(),
        _ => target.project.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Probe {
        Probe {
            project: "shop".into(),
            service: "web".into(),
            number: 2,
            container_name: "shop-web-2".into(),
            ip: Some("172.18.0.5".parse().unwrap()),
            port: Some(8080),
        }
    }

    #[test]
    fn placeholders_are_replaced_and_other_braces_kept() {
        let cases = [
            ("http://{ip}:8080/healthz", "http://172.18.0.5:8080/healthz"),
            ("http://{ip}:{port}/", "http://172.18.0.5:8080/"),
            ("{project}/{service}/{number}", "shop/web/2"),
            ("{container}", "shop-web-2"),
            (
                r#"sum(rate(x{status=~"5..",instance="{ip}:8080"}[30s]))"#,
                r#"sum(rate(x{status=~"5..",instance="172.18.0.5:8080"}[30s]))"#,
            ),
            ("{unknown} {ip", "{unknown} {ip"),
            ("", ""),
        ];
        for (template, expected) in cases {
            assert_eq!(render(template, &target()).unwrap(), expected, "{template}");
        }
    }

    #[test]
    fn ipv6_addresses_are_bracketed() {
        let mut t = target();
        t.ip = Some("fd00::2".parse().unwrap());
        assert_eq!(
            render("http://{ip}:80/", &t).unwrap(),
            "http://[fd00::2]:80/"
        );
    }

    #[test]
    fn a_missing_ip_or_port_is_an_error_naming_it() {
        let mut t = target();
        t.ip = None;
        t.port = None;
        let err = render("http://{ip}/", &t).unwrap_err();
        assert_eq!(err.to_string(), "the target has no ip yet");
        let err = render("{port}", &t).unwrap_err();
        assert_eq!(err.to_string(), "the target has no port yet");
        assert_eq!(render("{service}", &t).unwrap(), "web");
    }

    #[test]
    fn check_rejects_unknown_placeholders_but_not_promql() {
        assert!(check(r#"x{status=~"5.."} {ip}"#, "query").is_ok());
        assert!(check("{}", "url").is_ok());
        let err = check("http://{adress}:80/", "url").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("url: unknown placeholder {adress}")
        );
    }
}
