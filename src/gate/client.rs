//! The crate's one HTTP client: a GET (the network gates, `healthcheck`) or a POST (the
//! webhook) over a fresh tokio `TcpStream` (HTTP/1.1, `Connection: close`), with TLS for
//! `https://` URLs ([`super::tls`]: the system's roots, or those plus a CA file),
//! whole-request timeout, answers up to 8 MiB, plain or chunked. Small on purpose: it talks
//! to a replica, a Prometheus or a webhook receiver, never through proxies.
//!
//! URLs are [`Url`]s: a userinfo (`http://user:pass@host/`) is sent as an
//! `Authorization: Basic` header, never in the `Host` header, and errors show the URL
//! without userinfo and query values.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::tls::Tls;
use super::{Error, Result};
use crate::redact::Url;

/// The largest body read.
const MAX_BODY: u64 = 8 << 20;

/// An answer: status and body (lossily decoded as UTF-8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The body.
    pub body: String,
    /// The headers, names lowercased, in order.
    pub headers: Vec<(String, String)>,
}

impl Response {
    /// The first value of the header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `GET url` with `timeout` for the whole exchange. `url` is
/// `http[s]://[USER:PASS@]HOST[:PORT][/PATH]`; `https://` trusts the system's roots.
pub async fn get(url: &Url, timeout: Duration) -> Result<Response> {
    exchange("GET", url, &[], None, None, timeout).await
}

/// `GET url` with extra request `headers` (`Authorization: Bearer ...` for a registry;
/// never shown in errors) and `timeout` for the whole exchange.
pub async fn get_with(
    url: &Url,
    headers: &[(&str, String)],
    timeout: Duration,
) -> Result<Response> {
    exchange("GET", url, headers, None, None, timeout).await
}

/// `POST url` with `body` of type `content_type` and `timeout` for the whole exchange.
/// `url` is `http[s]://[USER:PASS@]HOST[:PORT][/PATH]`; `https://` trusts `tls` (the
/// system's roots when `None`).
pub async fn post(
    url: &Url,
    content_type: &str,
    body: &[u8],
    tls: Option<&Tls>,
    timeout: Duration,
) -> Result<Response> {
    exchange("POST", url, &[], Some((content_type, body)), tls, timeout).await
}

/// [`post`] with extra request `headers` (an API key header; never shown in errors).
pub async fn post_with(
    url: &Url,
    content_type: &str,
    body: &[u8],
    tls: Option<&Tls>,
    headers: &[(&str, String)],
    timeout: Duration,
) -> Result<Response> {
    exchange(
        "POST",
        url,
        headers,
        Some((content_type, body)),
        tls,
        timeout,
    )
    .await
}

/// One request over a fresh connection, `Connection: close`, the answer read to the end.
async fn exchange(
    method: &'static str,
    url: &Url,
    headers: &[(&str, String)],
    body: Option<(&str, &[u8])>,
    tls: Option<&Tls>,
    timeout: Duration,
) -> Result<Response> {
    let fail = |message: String| Error::Http {
        method,
        url: url.to_string(),
        message,
    };
    let parts = url
        .http_parts()
        .ok_or_else(|| fail("not an http:// or https:// URL".into()))?;
    let tls = match (parts.tls, tls) {
        (false, _) => None,
        (true, Some(tls)) => Some(tls.clone()),
        (true, None) => Some(Tls::system().map_err(|e| fail(e.to_string()))?),
    };
    let mut request = format!(
        "{method} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: composectl/{}\r\n\
         Accept: */*\r\nConnection: close\r\n",
        parts.path,
        parts.authority,
        env!("CARGO_PKG_VERSION")
    );
    if let Some(credential) = url.basic_auth() {
        request.push_str(&format!("Authorization: {credential}\r\n"));
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some((content_type, body)) = body {
        request.push_str(&format!(
            "Content-Type: {content_type}\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    if let Some((_, body)) = body {
        bytes.extend_from_slice(body);
    }
    let exchange = async {
        let tcp = TcpStream::connect((parts.host, parts.port)).await?;
        match tls {
            None => talk(tcp, &bytes).await,
            Some(tls) => talk(tls.connect(parts.host, tcp).await?, &bytes).await,
        }
    };
    let raw = match tokio::time::timeout(timeout, exchange).await {
        Err(_) => return Err(fail(format!("no answer within {timeout:?}"))),
        Ok(Err(e)) => return Err(fail(e.to_string())),
        Ok(Ok(raw)) => raw,
    };
    parse_response(&raw).map_err(fail)
}

/// Writes `request` to `stream` and reads the answer until the server closes. A TLS server
/// that closes without `close_notify` after answering is common: what was read counts.
async fn talk(
    mut stream: impl AsyncRead + AsyncWrite + Unpin,
    request: &[u8],
) -> std::io::Result<Vec<u8>> {
    stream.write_all(request).await?;
    stream.flush().await?;
    let mut raw = Vec::new();
    match (&mut stream).take(MAX_BODY).read_to_end(&mut raw).await {
        Ok(_) => Ok(raw),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => Ok(raw),
        Err(e) => Err(e),
    }
}

/// `text` percent-encoded for a query string value (everything but unreserved characters).
pub fn encode_component(text: &str) -> String {
    crate::redact::shapes::percent_encode(text)
}

/// Status and body of a raw HTTP/1.x response.
fn parse_response(raw: &[u8]) -> std::result::Result<Response, String> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("the answer has no complete header")?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let body = &raw[split + 4..];
    let mut lines = head.lines();
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .strip_prefix("HTTP/1.")
        .and_then(|s| s.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("not an HTTP status line: {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let chunked = headers.iter().any(|(name, value)| {
        name == "transfer-encoding" && value.to_ascii_lowercase().contains("chunked")
    });
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_vec()
    };
    Ok(Response {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
        headers,
    })
}

/// Decodes a chunked body.
fn dechunk(mut body: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(body.len());
    loop {
        let line_end = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("a chunk size line is cut short")?;
        let size_text = String::from_utf8_lossy(&body[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| format!("bad chunk size {size_text:?}"))?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        let chunk = body.get(..size).ok_or("a chunk is cut short")?;
        out.extend_from_slice(chunk);
        body = body.get(size + 2..).unwrap_or_default();
    }
}

/// Reads an HTTP request's head (up to the blank line) from `stream`, for the tests' small
/// servers; panics when the request ends first.
#[cfg(test)]
pub(crate) async fn read_head(stream: &mut (impl AsyncRead + Unpin)) -> String {
    let mut raw = Vec::new();
    let mut buf = [0u8; 1024];
    while !raw.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "the request ended before its head did");
        raw.extend_from_slice(&buf[..n]);
    }
    String::from_utf8(raw).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_chunked_bodies_are_read() {
        let plain = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        assert_eq!(
            parse_response(plain).unwrap(),
            Response {
                status: 200,
                body: "ok".into(),
                headers: vec![("content-length".into(), "2".into())],
            }
        );
        let chunked =
            b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n3;x=y\r\nefg\r\n0\r\n\r\n";
        assert_eq!(
            parse_response(chunked).unwrap(),
            Response {
                status: 503,
                body: "abcdefg".into(),
                headers: vec![("transfer-encoding".into(), "chunked".into())],
            }
        );
        assert!(parse_response(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\n").is_err());
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(
            encode_component(r#"sum(x{a="b"}) / 2"#),
            "sum%28x%7Ba%3D%22b%22%7D%29%20%2F%202"
        );
        assert_eq!(encode_component("a-b_c.d~e"), "a-b_c.d~e");
    }

    #[tokio::test]
    async fn a_closed_port_is_an_error_naming_the_url() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let url = format!("http://127.0.0.1:{port}/");
        let err = get(&Url::new(&url), Duration::from_secs(2))
            .await
            .unwrap_err();
        assert!(
            err.to_string().starts_with(&format!("GET {url}: ")),
            "{err}"
        );
        let secret = format!("http://probe:closed-port-pw@127.0.0.1:{port}/?token=qtok-1");
        let err = get(&Url::new(secret), Duration::from_secs(2))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!("GET http://***@127.0.0.1:{port}/?token=***: ")),
            "{err}"
        );
    }

    /// Accepts one connection, answers 200 and returns the request head it read.
    async fn one_request() -> (u16, tokio::task::JoinHandle<String>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let head = read_head(&mut stream).await;
            stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                .await
                .unwrap();
            head
        });
        (port, task)
    }

    #[tokio::test]
    async fn userinfo_is_sent_as_basic_auth_and_not_in_the_host_header() {
        let (port, request) = one_request().await;
        let url = Url::new(format!(
            "http://gate%40user:p%3Ass@127.0.0.1:{port}/ready?k=v"
        ));
        let response = get(&url, Duration::from_secs(5)).await.unwrap();
        assert_eq!(response.status, 200);
        let head = request.await.unwrap();
        assert!(head.starts_with("GET /ready?k=v HTTP/1.1\r\n"), "{head}");
        assert!(
            head.contains(&format!("\r\nHost: 127.0.0.1:{port}\r\n")),
            "{head}"
        );
        // base64("gate@user:p:ss")
        assert!(
            head.contains("\r\nAuthorization: Basic Z2F0ZUB1c2VyOnA6c3M=\r\n"),
            "{head}"
        );
        assert!(
            !head.contains("p%3Ass") && !head.contains("p:ss@"),
            "{head}"
        );
    }

    #[tokio::test]
    async fn a_url_without_userinfo_sends_no_authorization() {
        let (port, request) = one_request().await;
        let url = Url::new(format!("http://127.0.0.1:{port}"));
        get(&url, Duration::from_secs(5)).await.unwrap();
        let head = request.await.unwrap();
        assert!(head.starts_with("GET / HTTP/1.1\r\n"), "{head}");
        assert!(
            !head.to_ascii_lowercase().contains("authorization"),
            "{head}"
        );
    }
}
