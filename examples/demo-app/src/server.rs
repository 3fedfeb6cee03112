//! The server: routes, the request counter behind the failure schedule, thread per
//! connection.

use std::io::{self, BufReader};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::config::{Config, Health};
use crate::failure::FailureSchedule;
use crate::http::{self, Response};
use crate::metrics::Metrics;

/// How long an idle keep-alive connection is kept.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// The state every connection shares.
#[derive(Debug)]
pub struct App {
    version: String,
    health: Health,
    schedule: FailureSchedule,
    requests: AtomicU64,
    metrics: Metrics,
}

impl App {
    /// The app as `config` describes it.
    pub fn new(config: &Config) -> Self {
        Self {
            version: config.version.clone(),
            health: config.health,
            schedule: FailureSchedule::new(config.failure_rate),
            requests: AtomicU64::new(0),
            metrics: Metrics::new(&config.version),
        }
    }

    /// The response to `method` on `path`.
    pub fn respond(&self, method: &str, path: &str) -> Response {
        if method != "GET" && method != "HEAD" {
            return Response::text(405, "method not allowed\n");
        }
        match path {
            "/" => self.root(),
            "/healthz" => match self.health {
                Health::Ok => Response::text(200, "ok\n"),
                Health::Fail => Response::text(503, "unhealthy\n"),
            },
            "/version" => Response::text(200, format!("{}\n", self.version)),
            "/metrics" => Response {
                status: 200,
                content_type: "text/plain; version=0.0.4; charset=utf-8",
                body: self.metrics.render(),
            },
            _ => Response::text(404, "not found\n"),
        }
    }

    fn root(&self) -> Response {
        let n = self.requests.fetch_add(1, Ordering::Relaxed) + 1;
        let response = if self.schedule.fails(n) {
            Response::text(
                500,
                format!("demo-app {} failed request {n}\n", self.version),
            )
        } else {
            Response::text(200, format!("hello from demo-app {}\n", self.version))
        };
        self.metrics.record(response.status);
        response
    }
}

/// Listens on `config.port` on every IPv4 address and serves until the process exits.
pub fn serve(config: &Config) -> io::Result<()> {
    let listener = TcpListener::bind((Ipv4Addr::UNSPECIFIED, config.port))?;
    println!(
        "demo-app {} listening on port {}",
        config.version, config.port
    );
    serve_on(&listener, &Arc::new(App::new(config)));
    Ok(())
}

/// Serves every connection `listener` accepts, each on its own thread.
fn serve_on(listener: &TcpListener, app: &Arc<App>) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let app = Arc::clone(app);
        std::thread::spawn(move || {
            // A broken connection only ends that connection.
            let _ = handle(&app, stream);
        });
    }
}

fn handle(app: &App, stream: TcpStream) -> io::Result<()> {
    stream.set_read_timeout(Some(IDLE_TIMEOUT))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    loop {
        let request = match http::read_request(&mut reader) {
            Ok(Some(request)) => request,
            Ok(None) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                let bad = Response::text(400, "bad request\n");
                return http::write_response(&mut writer, &bad, false, false);
            }
            Err(e) => return Err(e),
        };
        let response = app.respond(&request.method, &request.path);
        let head_only = request.method == "HEAD";
        http::write_response(&mut writer, &response, request.keep_alive, head_only)?;
        if !request.keep_alive {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(vars: &[(&str, &str)]) -> App {
        let config = Config::from_lookup(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
        .unwrap();
        App::new(&config)
    }

    #[test]
    fn root_fails_on_schedule_and_metrics_count_it() {
        let app = app(&[("FAILURE_RATE", "0.2"), ("VERSION", "v2")]);
        let statuses: Vec<u16> = (0..10).map(|_| app.respond("GET", "/").status).collect();
        assert_eq!(statuses, [200, 200, 200, 200, 500, 200, 200, 200, 200, 500]);
        let metrics = app.respond("GET", "/metrics").body;
        assert!(metrics.contains("demo_http_requests_total{status=\"200\",version=\"v2\"} 8\n"));
        assert!(metrics.contains("demo_http_requests_total{status=\"500\",version=\"v2\"} 2\n"));
    }

    #[test]
    fn other_endpoints_do_not_advance_the_failure_schedule() {
        let app = app(&[("FAILURE_RATE", "1.0")]);
        assert_eq!(app.respond("GET", "/healthz").status, 200);
        assert_eq!(app.respond("GET", "/version").body, "v1\n");
        let metrics = app.respond("GET", "/metrics").body;
        assert!(metrics.contains("status=\"500\",version=\"v1\"} 0\n"));
        assert_eq!(app.respond("GET", "/").status, 500);
    }

    #[test]
    fn health_setting_decides_healthz() {
        assert_eq!(
            app(&[("HEALTH", "ok")]).respond("GET", "/healthz").status,
            200
        );
        assert_eq!(
            app(&[("HEALTH", "fail")]).respond("GET", "/healthz").status,
            503
        );
    }

    #[test]
    fn unknown_paths_and_methods_are_refused() {
        let app = app(&[]);
        assert_eq!(app.respond("GET", "/nope").status, 404);
        assert_eq!(app.respond("POST", "/").status, 405);
    }

    #[test]
    fn one_keep_alive_connection_serves_several_requests() {
        use std::io::{BufRead, Read, Write};

        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(app(&[("VERSION", "v3")]));
        std::thread::spawn(move || serve_on(&listener, &shared));

        let mut stream = TcpStream::connect(addr).unwrap();
        stream.write_all(b"GET /version HTTP/1.1\r\n\r\n").unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut head = String::new();
        while !head.ends_with("\r\n\r\n") {
            reader.read_line(&mut head).unwrap();
        }
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert!(head.contains("Connection: keep-alive\r\n"), "{head}");
        let mut body = [0u8; 3];
        reader.read_exact(&mut body).unwrap();
        assert_eq!(&body, b"v3\n");

        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut rest = String::new();
        reader.read_to_string(&mut rest).unwrap();
        assert!(rest.starts_with("HTTP/1.1 200 OK\r\n"), "{rest}");
        assert!(rest.ends_with("Connection: close\r\n\r\nok\n"), "{rest}");
    }

    #[test]
    fn root_names_the_version() {
        let body = app(&[("VERSION", "v7")]).respond("GET", "/").body;
        assert!(body.contains("v7"), "{body}");
    }
}
