//! `composectl healthcheck [URL]`: one HTTP GET with the standard library, so a `FROM
//! scratch` image (no shell, no curl) can have a `HEALTHCHECK`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Why a health check failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The URL is not `http://HOST:PORT/PATH`.
    #[error("{url:?} is not an http://HOST:PORT/PATH URL")]
    Url {
        /// The URL given.
        url: String,
    },
    /// The host did not resolve, the connection failed or the answer did not come in time.
    #[error("GET {url}: {source}")]
    Io {
        /// The URL.
        url: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The answer is not HTTP or its status is not 200.
    #[error("GET {url}: {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status line (or what came instead).
        status: String,
    },
}

/// Result alias of this module.
pub type Result<T> = std::result::Result<T, Error>;

/// The default URL for a daemon listening on `listen`: `http://<listen>/healthz`, with an
/// unspecified address (`0.0.0.0`, `[::]`) replaced by loopback.
pub fn default_url(listen: &str) -> String {
    let reachable = match listen.parse::<SocketAddr>() {
        Ok(addr) if addr.ip().is_unspecified() && addr.is_ipv4() => {
            format!("127.0.0.1:{}", addr.port())
        }
        Ok(addr) if addr.ip().is_unspecified() => format!("[::1]:{}", addr.port()),
        _ => listen.to_owned(),
    };
    format!("http://{reachable}/healthz")
}

/// GETs `url`; `Ok` when the answer's status is 200.
pub fn check(url: &str, timeout: Duration) -> Result<()> {
    let (authority, path) = split_url(url).ok_or_else(|| Error::Url {
        url: url.to_owned(),
    })?;
    let io = |source| Error::Io {
        url: url.to_owned(),
        source,
    };
    let addr = authority
        .to_socket_addrs()
        .map_err(io)?
        .next()
        .ok_or_else(|| io(std::io::Error::other("the host has no address")))?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(io)?;
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )
    .map_err(io)?;
    let mut head = [0u8; 64];
    let read = stream.read(&mut head).map_err(io)?;
    let status_line = String::from_utf8_lossy(&head[..read]);
    let status_line = status_line.lines().next().unwrap_or_default().trim();
    if status_line.split_whitespace().nth(1) == Some("200") {
        Ok(())
    } else {
        Err(Error::Status {
            url: url.to_owned(),
            status: status_line.to_owned(),
        })
    }
}

/// `http://HOST:PORT/PATH` -> (`HOST:PORT`, `/PATH`).
fn split_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("http://")?;
    let (authority, path) = match rest.find('/') {
        Some(slash) => rest.split_at(slash),
        None => (rest, "/"),
    };
    (authority.contains(':') && !authority.is_empty()).then_some((authority, path))
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use super::*;

    /// Serves one connection with `answer` on a loopback port; returns the URL.
    fn serve_once(answer: &'static str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            // Read the whole request head before answering and closing: closing with
            // unread bytes resets the connection under the client's feet.
            let mut request = Vec::new();
            let mut buf = [0u8; 512];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let _ = stream.write_all(answer.as_bytes());
        });
        format!("http://{addr}/healthz")
    }

    #[test]
    fn a_200_answer_is_healthy_and_anything_else_is_not() {
        let ok = serve_once("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
        check(&ok, Duration::from_secs(2)).unwrap();
        let unready = serve_once("HTTP/1.1 503 Service Unavailable\r\n\r\n");
        let err = check(&unready, Duration::from_secs(2)).unwrap_err();
        assert!(err.to_string().contains("503"), "{err}");
    }

    #[test]
    fn nobody_listening_is_unhealthy() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/healthz");
        assert!(matches!(
            check(&url, Duration::from_secs(2)),
            Err(Error::Io { .. })
        ));
    }

    #[test]
    fn urls_split_into_authority_and_path() {
        let cases = [
            (
                "http://127.0.0.1:9631/healthz",
                Some(("127.0.0.1:9631", "/healthz")),
            ),
            ("http://localhost:80", Some(("localhost:80", "/"))),
            ("https://127.0.0.1:9631/", None),
            ("http://no-port/x", None),
        ];
        for (url, want) in cases {
            assert_eq!(split_url(url), want, "{url}");
        }
    }

    #[test]
    fn the_default_url_reaches_an_unspecified_listen_address_on_loopback() {
        let cases = [
            ("0.0.0.0:9631", "http://127.0.0.1:9631/healthz"),
            ("[::]:9631", "http://[::1]:9631/healthz"),
            ("127.0.0.1:1234", "http://127.0.0.1:1234/healthz"),
            ("nas.local:9631", "http://nas.local:9631/healthz"),
        ];
        for (listen, want) in cases {
            assert_eq!(default_url(listen), want, "{listen}");
        }
    }
}
