//! `demo-app healthcheck [URL]`: one GET, exit 0 on 200 (a scratch image has no curl).
//!
//! No DNS: a static glibc binary in a scratch image cannot resolve names, so the host is
//! an IP literal or `localhost`.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

/// How long the whole check may take per step (connect, write, read).
const TIMEOUT: Duration = Duration::from_secs(3);

/// Errors of one health check.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The URL is not `http://<ip or localhost>[:port][/path]`.
    #[error("unsupported URL {0:?}: expected http://<ip or localhost>[:port][/path]")]
    Url(String),
    /// Connecting, writing or reading failed.
    #[error("request failed: {0}")]
    Io(#[from] io::Error),
    /// The server answered something other than 200.
    #[error("answered status {0}")]
    Status(u16),
}

/// This module's result.
pub type Result<T> = std::result::Result<T, Error>;

/// The URL checked when none is given: `/healthz` on `port` of the loopback address.
pub fn default_url(port: u16) -> String {
    format!("http://127.0.0.1:{port}/healthz")
}

/// GETs `url`; `Ok` only when it answers 200.
pub fn check(url: &str) -> Result<()> {
    let (addr, path) = parse_url(url)?;
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut status_line = String::new();
    BufReader::new(stream).read_line(&mut status_line)?;
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    if status == 200 {
        Ok(())
    } else {
        Err(Error::Status(status))
    }
}

/// Splits `http://host[:port][/path]` into a socket address and a path.
fn parse_url(url: &str) -> Result<(SocketAddr, String)> {
    let bad = || Error::Url(url.to_owned());
    let rest = url.strip_prefix("http://").ok_or_else(bad)?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = split_port(authority).ok_or_else(bad)?;
    let ip = match host {
        "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
        _ => host.parse().map_err(|_| bad())?,
    };
    Ok((SocketAddr::new(ip, port), path.to_owned()))
}

/// `host:port`, `[v6]:port`, `host` or `[v6]`; the port defaults to 80.
fn split_port(authority: &str) -> Option<(&str, u16)> {
    if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if after.is_empty() => 80,
            None => return None,
        };
        return Some((host, port));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => Some((host, port.parse().ok()?)),
        None => Some((authority, 80)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_address_and_path() {
        let cases = [
            (
                "http://127.0.0.1:8080/healthz",
                "127.0.0.1:8080",
                "/healthz",
            ),
            ("http://localhost:9000", "127.0.0.1:9000", "/"),
            ("http://10.0.0.2/x?y=1", "10.0.0.2:80", "/x?y=1"),
            ("http://[::1]:81/h", "[::1]:81", "/h"),
        ];
        for (url, addr, path) in cases {
            let (a, p) = parse_url(url).unwrap();
            assert_eq!((a.to_string().as_str(), p.as_str()), (addr, path), "{url}");
        }
    }

    #[test]
    fn names_and_other_schemes_are_refused() {
        for url in [
            "https://127.0.0.1/",
            "http://example.com/",
            "127.0.0.1:80",
            "http://1.2.3.4:x/",
        ] {
            assert!(matches!(parse_url(url), Err(Error::Url(_))), "{url}");
        }
    }

    #[test]
    fn a_closed_port_fails_the_check() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        assert!(matches!(check(&default_url(port)), Err(Error::Io(_))));
    }
}
