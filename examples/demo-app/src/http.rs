//! Just enough HTTP/1.1: read one request head (discarding any body), write one response.

use std::io::{self, BufRead, Read, Write};

/// The longest request head accepted, in bytes.
const MAX_HEAD: u64 = 16 * 1024;

/// One parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `HEAD`, ...
    pub method: String,
    /// The path without the query string.
    pub path: String,
    /// Whether the connection stays open after the response.
    pub keep_alive: bool,
}

/// One response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The `Content-Type` header.
    pub content_type: &'static str,
    /// The body.
    pub body: String,
}

impl Response {
    /// A `text/plain` response.
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into(),
        }
    }
}

/// Reads the next request from `reader`; `None` when the peer closed the connection first.
pub fn read_request(reader: &mut impl BufRead) -> io::Result<Option<Request>> {
    let mut head = reader.take(MAX_HEAD);
    let mut line = String::new();
    if head.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid("malformed request line"));
    };
    let mut request = Request {
        method: method.to_owned(),
        path: target.split('?').next().unwrap_or("/").to_owned(),
        keep_alive: version == "HTTP/1.1",
    };
    let mut body_len = 0u64;
    loop {
        line.clear();
        if head.read_line(&mut line)? == 0 {
            return Err(invalid("request head too long or truncated"));
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let Some((name, value)) = header.split_once(':') else {
            return Err(invalid("malformed header"));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("connection") {
            request.keep_alive = connection_keeps_alive(value, request.keep_alive);
        } else if name.eq_ignore_ascii_case("content-length") {
            body_len = value.parse().map_err(|_| invalid("bad content-length"))?;
        }
    }
    io::copy(&mut reader.take(body_len), &mut io::sink())?;
    Ok(Some(request))
}

fn connection_keeps_alive(value: &str, default: bool) -> bool {
    let has = |token: &str| {
        value
            .split(',')
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    if has("close") {
        false
    } else {
        has("keep-alive") || default
    }
}

/// Writes `response` to `writer`; the body is left out when `head_only` (a `HEAD` request).
pub fn write_response(
    writer: &mut impl Write,
    response: &Response,
    keep_alive: bool,
    head_only: bool,
) -> io::Result<()> {
    let connection = if keep_alive { "keep-alive" } else { "close" };
    write!(
        writer,
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: {}\r\n\r\n",
        response.status,
        reason(response.status),
        response.content_type,
        response.body.len(),
        connection,
    )?;
    if !head_only {
        writer.write_all(response.body.as_bytes())?;
    }
    writer.flush()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

fn invalid(message: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> io::Result<Option<Request>> {
        read_request(&mut io::Cursor::new(raw.as_bytes()))
    }

    #[test]
    fn http_1_1_requests_keep_the_connection_unless_asked_to_close() {
        let cases = [
            ("GET / HTTP/1.1\r\nHost: x\r\n\r\n", true),
            ("GET / HTTP/1.1\r\nConnection: close\r\n\r\n", false),
            ("GET / HTTP/1.0\r\n\r\n", false),
            ("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true),
        ];
        for (raw, keep_alive) in cases {
            assert_eq!(
                parse(raw).unwrap().unwrap().keep_alive,
                keep_alive,
                "{raw:?}"
            );
        }
    }

    #[test]
    fn the_query_string_is_not_part_of_the_path() {
        let request = parse("GET /metrics?x=1 HTTP/1.1\r\n\r\n").unwrap().unwrap();
        assert_eq!(request.path, "/metrics");
        assert_eq!(request.method, "GET");
    }

    #[test]
    fn a_body_is_skipped_so_the_next_request_parses() {
        let raw = "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /version HTTP/1.1\r\n\r\n";
        let mut reader = io::Cursor::new(raw.as_bytes());
        assert_eq!(read_request(&mut reader).unwrap().unwrap().method, "POST");
        assert_eq!(read_request(&mut reader).unwrap().unwrap().path, "/version");
        assert_eq!(read_request(&mut reader).unwrap(), None);
    }

    #[test]
    fn malformed_heads_are_errors() {
        for raw in [
            "GARBAGE\r\n\r\n",
            "GET / HTTP/1.1\r\nno-colon\r\n\r\n",
            "GET / HTTP/1.1\r\n",
        ] {
            assert!(parse(raw).is_err(), "{raw:?}");
        }
    }

    #[test]
    fn responses_carry_length_and_connection_headers() {
        let mut out = Vec::new();
        write_response(&mut out, &Response::text(503, "down\n"), false, false).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Length: 5\r\nConnection: close\r\n\r\ndown\n"
        );
    }
}
