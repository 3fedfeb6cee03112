//! Test receivers: a local HTTP or HTTPS server (with a CA made for the test by rcgen)
//! that answers each request with the next status of a list and hands over what it got.

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::{Event, EventKind, RolloutFacts};

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    /// Request line and headers.
    pub head: String,
    /// The body.
    pub body: Vec<u8>,
}

impl Received {
    /// The request line.
    pub fn request_line(&self) -> &str {
        self.head.lines().next().unwrap_or_default()
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// A CA and a server certificate for `127.0.0.1` and `localhost`, signed by it.
pub struct TestCa {
    /// The CA certificate, PEM.
    pub ca_pem: String,
    /// The server's TLS configuration.
    pub server: Arc<rustls::ServerConfig>,
}

impl TestCa {
    /// A fresh CA and server certificate.
    pub fn new() -> Self {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "composectl test CA");
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let params =
            rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .unwrap();
        let cert = params.signed_by(&key, &ca).unwrap();
        let key_der = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.der().clone()], key_der)
            .unwrap();
        Self {
            ca_pem: ca.pem(),
            server: Arc::new(server),
        }
    }
}

/// Serves one request per status of `statuses` (`"200 OK"`), over TLS with `tls` when
/// given; returns the base URL (`http[s]://127.0.0.1:PORT`) and the requests as they come.
pub async fn serve(
    statuses: Vec<&'static str>,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> (String, mpsc::UnboundedReceiver<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let scheme = if tls.is_some() { "https" } else { "http" };
    let url = format!("{scheme}://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut statuses = statuses.into_iter();
        let mut status = statuses.next();
        while let Some(answering) = status {
            // The test process may briefly run out of descriptors (other tests run in
            // parallel): a failed accept is tried again, not the end of the receiver.
            let Ok((tcp, _)) = listener.accept().await else {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                continue;
            };
            let received = match &tls {
                None => answer(tcp, answering).await,
                Some(config) => {
                    let acceptor = tokio_rustls::TlsAcceptor::from(config.clone());
                    match acceptor.accept(tcp).await {
                        Ok(stream) => answer(stream, answering).await,
                        // A client that refused our certificate: nothing received.
                        Err(_) => None,
                    }
                }
            };
            // A request cut short (a client that gave up) uses no answer.
            let Some(received) = received else {
                continue;
            };
            status = statuses.next();
            if tx.send(received).is_err() {
                return;
            }
        }
    });
    (url, rx)
}

async fn answer(mut stream: impl AsyncRead + AsyncWrite + Unpin, status: &str) -> Option<Received> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut buf).await.ok().filter(|n| *n > 0)?;
        raw.extend_from_slice(&buf[..n]);
        if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
    };
    let head = String::from_utf8(raw[..head_end].to_vec()).ok()?;
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())
                .flatten()
        })
        .unwrap_or(0);
    let mut body = raw[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut buf).await.ok().filter(|n| *n > 0)?;
        body.extend_from_slice(&buf[..n]);
    }
    let answer = format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    stream.write_all(answer.as_bytes()).await.ok()?;
    stream.shutdown().await.ok();
    Some(Received { head, body })
}

/// A rolled-back rollout of shop/web.
pub fn rolled_back() -> Event {
    Event {
        event: EventKind::RolledBack,
        project: "shop".into(),
        service: Some("web".into()),
        rollout: Some(RolloutFacts {
            revision: 4,
            previous_revision: 3,
            image: "shop/web:1.5".into(),
        }),
        reason: Some("gate prometheus failed: 5xx ratio 0.21 > 0.05".into()),
        at: crate::timefmt::rfc3339(1_714_566_605),
    }
}

/// Project `shop` failing to load.
pub fn load_failed() -> Event {
    Event {
        event: EventKind::LoadFailed,
        project: "shop".into(),
        service: None,
        rollout: None,
        reason: Some("compose.yaml: line 3: mapping values are not allowed here".into()),
        at: crate::timefmt::rfc3339(1_714_566_605),
    }
}
