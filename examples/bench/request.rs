//! Finding the HTTP/1.1 requests in one client-to-engine byte stream (keep-alive: many
//! requests per connection, bodies sized by `Content-Length` or chunked), and naming each
//! request's endpoint with its IDs elided, so calls can be counted by kind.

/// Where the parser is within the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a request line and headers.
    Head,
    /// Skipping this many body bytes.
    Body(u64),
    /// Reading a chunk-size line.
    ChunkSize,
    /// Skipping a chunk's data and its CRLF.
    ChunkData(u64),
    /// Reading trailer lines up to the empty one.
    Trailer,
    /// The connection was upgraded (attach, exec): no more HTTP to parse.
    Raw,
}

/// Longest request head kept while waiting for its end (longer ones are dropped).
const MAX_HEAD: usize = 256 * 1024;

/// An incremental request finder for one connection.
#[derive(Debug)]
pub struct Parser {
    buf: Vec<u8>,
    state: State,
}

impl Default for Parser {
    fn default() -> Self {
        Self {
            buf: Vec::new(),
            state: State::Head,
        }
    }
}

impl Parser {
    /// Feeds the next bytes; calls `on_request(method, target)` for every request head
    /// completed by them.
    pub fn feed(&mut self, bytes: &[u8], on_request: &mut impl FnMut(&str, &str)) {
        self.buf.extend_from_slice(bytes);
        while !self.buf.is_empty() && self.step(on_request) {}
        if self.state == State::Head && self.buf.len() > MAX_HEAD {
            self.buf.clear();
        }
    }

    /// One transition; false when more bytes are needed.
    fn step(&mut self, on_request: &mut impl FnMut(&str, &str)) -> bool {
        match self.state {
            State::Head => self.head(on_request),
            State::Body(n) => {
                self.state = self.skip(n).map_or(State::Head, State::Body);
                true
            }
            State::ChunkData(n) => {
                self.state = self.skip(n).map_or(State::ChunkSize, State::ChunkData);
                true
            }
            State::ChunkSize => self.line().is_some_and(|line| {
                let size = line.split(';').next().unwrap_or("0").trim();
                let size = u64::from_str_radix(size, 16).unwrap_or(0);
                self.state = if size == 0 {
                    State::Trailer
                } else {
                    State::ChunkData(size + 2)
                };
                true
            }),
            State::Trailer => self.line().is_some_and(|line| {
                if line.is_empty() {
                    self.state = State::Head;
                }
                true
            }),
            State::Raw => {
                self.buf.clear();
                false
            }
        }
    }

    /// Drops up to `n` buffered bytes; the count still to skip, `None` when done.
    fn skip(&mut self, n: u64) -> Option<u64> {
        let take = n.min(self.buf.len() as u64);
        self.buf.drain(..take as usize);
        (take < n).then_some(n - take)
    }

    /// Takes one CRLF-terminated line, without the CRLF.
    fn line(&mut self) -> Option<String> {
        let end = find(&self.buf, b"\r\n")?;
        let line = String::from_utf8_lossy(&self.buf[..end]).into_owned();
        self.buf.drain(..end + 2);
        Some(line)
    }

    /// Parses a complete head, if buffered.
    fn head(&mut self, on_request: &mut impl FnMut(&str, &str)) -> bool {
        let Some(end) = find(&self.buf, b"\r\n\r\n") else {
            return false;
        };
        let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
        self.buf.drain(..end + 4);
        let mut lines = head.split("\r\n");
        let mut first = lines.next().unwrap_or_default().split(' ');
        let (method, target) = (first.next().unwrap_or(""), first.next().unwrap_or(""));
        on_request(method, target);
        let (mut length, mut chunked, mut upgrade) = (0, false, false);
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
            match name.as_str() {
                "content-length" => length = value.parse().unwrap_or(0),
                "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
                "upgrade" => upgrade = true,
                _ => {}
            }
        }
        self.state = match (upgrade, chunked, length) {
            (true, _, _) => State::Raw,
            (_, true, _) => State::ChunkSize,
            (_, _, 0) => State::Head,
            (_, _, n) => State::Body(n),
        };
        true
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// True for methods that change engine state.
pub fn is_write(method: &str) -> bool {
    !matches!(method, "GET" | "HEAD" | "OPTIONS")
}

/// `METHOD /path` with the query, the API version prefix and object IDs or names elided:
/// `GET /v1.41/containers/abc/json?size=0` -> `GET /containers/{id}/json`.
pub fn endpoint(method: &str, target: &str) -> String {
    let path = target.split('?').next().unwrap_or_default();
    let mut segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if segments.first().is_some_and(|s| is_version(s)) {
        segments.remove(0);
    }
    let named = match segments.first().copied() {
        Some("images") if segments.len() > 2 => {
            // Image names contain slashes: keep the first and last segments only.
            let last = segments[segments.len() - 1];
            format!("/images/{{name}}/{last}")
        }
        Some(kind @ ("containers" | "networks" | "volumes" | "exec" | "images")) => {
            let rest: Vec<&str> = segments[1..]
                .iter()
                .enumerate()
                .map(|(i, s)| if i == 0 && !is_verb(s) { "{id}" } else { s })
                .collect();
            format!(
                "/{kind}{}",
                rest.iter().map(|s| format!("/{s}")).collect::<String>()
            )
        }
        _ => format!("/{}", segments.join("/")),
    };
    format!("{method} {named}")
}

fn is_version(segment: &str) -> bool {
    segment.strip_prefix('v').is_some_and(|v| {
        v.split('.')
            .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    })
}

fn is_verb(segment: &str) -> bool {
    matches!(segment, "json" | "create" | "prune")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn requests(chunks: &[&[u8]]) -> Vec<String> {
        let mut parser = Parser::default();
        let mut seen = Vec::new();
        for chunk in chunks {
            parser.feed(chunk, &mut |m, t| seen.push(format!("{m} {t}")));
        }
        seen
    }

    #[test]
    fn keep_alive_requests_with_bodies_are_each_found_once() {
        let stream = b"POST /v1.41/containers/create HTTP/1.1\r\nContent-Length: 4\r\n\r\n{}{}\
GET /v1.41/containers/json HTTP/1.1\r\nHost: d\r\n\r\n";
        assert_eq!(
            requests(&[stream]),
            [
                "POST /v1.41/containers/create",
                "GET /v1.41/containers/json"
            ]
        );
    }

    #[test]
    fn requests_split_across_reads_and_chunked_bodies_are_found() {
        let seen = requests(&[
            b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc",
            b"\r\n0\r\n\r\nGET /b HT",
            b"TP/1.1\r\n\r\n",
        ]);
        assert_eq!(seen, ["POST /a", "GET /b"]);
    }

    #[test]
    fn endpoints_elide_versions_queries_and_object_names() {
        let cases = [
            (
                "GET",
                "/v1.41/containers/json?all=1",
                "GET /containers/json",
            ),
            (
                "GET",
                "/v1.41/containers/abc123/json",
                "GET /containers/{id}/json",
            ),
            (
                "POST",
                "/containers/create?name=x",
                "POST /containers/create",
            ),
            (
                "POST",
                "/v1.41/containers/abc/start",
                "POST /containers/{id}/start",
            ),
            (
                "DELETE",
                "/v1.41/containers/abc?force=1",
                "DELETE /containers/{id}",
            ),
            (
                "GET",
                "/v1.41/images/library/demo:v1/json",
                "GET /images/{name}/json",
            ),
            ("GET", "/v1.41/networks/bench_default", "GET /networks/{id}"),
            ("GET", "/_ping", "GET /_ping"),
            ("GET", "/v1.41/events?filters=x", "GET /events"),
        ];
        for (method, target, want) in cases {
            assert_eq!(endpoint(method, target), want, "{target}");
        }
    }
}
