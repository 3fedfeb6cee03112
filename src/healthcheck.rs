//! `composectl healthcheck [URL]`: one HTTP GET of the daemon's `/healthz`, so a `FROM
//! scratch` image (no shell, no curl) can have a `HEALTHCHECK`. The request is the gates'
//! own small client ([`crate::gate::client`]).

use std::net::SocketAddr;
use std::time::Duration;

use crate::gate::client;

/// Why a health check failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The URL is not `http://HOST[:PORT][/PATH]`, the connection failed or no answer came in
    /// time.
    #[error("{0}")]
    Request(#[source] crate::gate::Error),
    /// The answer's status is not 200.
    #[error("GET {url}: status {status}")]
    Status {
        /// The URL, without userinfo and query values.
        url: String,
        /// The status code.
        status: u16,
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
pub async fn check(url: &str, timeout: Duration) -> Result<()> {
    let url = crate::redact::Url::new(url);
    let response = client::get(&url, timeout).await.map_err(Error::Request)?;
    if response.status == 200 {
        Ok(())
    } else {
        Err(Error::Status {
            url: url.to_string(),
            status: response.status,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
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

    #[tokio::test]
    async fn a_200_answer_is_healthy_and_anything_else_is_not() {
        let ok = serve_once("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
        check(&ok, Duration::from_secs(2)).await.unwrap();
        let unready = serve_once("HTTP/1.1 503 Service Unavailable\r\n\r\n");
        let err = check(&unready, Duration::from_secs(2)).await.unwrap_err();
        assert!(err.to_string().contains("503"), "{err}");
    }

    #[tokio::test]
    async fn nobody_listening_is_unhealthy() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/healthz");
        assert!(matches!(
            check(&url, Duration::from_secs(2)).await,
            Err(Error::Request(_))
        ));
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
