//! TLS for the crate's one HTTP client ([`super::client`]): which servers an `https://`
//! URL trusts. [`Tls::system`] trusts the system's root certificates (read once, through
//! `rustls-native-certs`, which honours `SSL_CERT_FILE` and `SSL_CERT_DIR`);
//! [`Tls::with_ca_file`] adds the certificates of a PEM file to them (a private CA, a
//! self-signed receiver). rustls with the ring provider, TLS 1.2 and 1.3, no client
//! certificate, HTTP/1.1 only.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tracing::{debug, warn};

/// The largest CA file read.
const MAX_CA_FILE: u64 = 1 << 20;

/// Errors of the TLS module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The CA file cannot be used.
    #[error("CA file {path}: {message}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// What is wrong and what to do.
        message: String,
    },
    /// Neither the system nor a CA file gave a root certificate.
    #[error(
        "no root certificate to verify https:// servers with: the system store has none \
         (install the ca-certificates package, or set SSL_CERT_FILE) and no CA file was given"
    )]
    NoRoots,
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// Result alias of the TLS module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A client TLS configuration; cheap to clone.
#[derive(Clone)]
pub struct Tls {
    connector: TlsConnector,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls")
    }
}

/// The system's root certificates, read once; the number read is logged the first time.
fn system_roots() -> &'static RootCertStore {
    static ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        for error in &found.errors {
            warn!(%error, "a system root certificate could not be read");
        }
        let mut roots = RootCertStore::empty();
        let (added, ignored) = roots.add_parsable_certificates(found.certs);
        debug!(added, ignored, "system root certificates read");
        roots
    })
}

impl Tls {
    /// Trusts the system's root certificates.
    pub fn system() -> Result<Self> {
        static SYSTEM: OnceLock<Option<Tls>> = OnceLock::new();
        SYSTEM
            .get_or_init(|| Self::from_roots(system_roots().clone()).ok())
            .clone()
            .ok_or(Error::NoRoots)
    }

    /// Trusts the system's root certificates and every certificate of the PEM file at
    /// `path` (read now, synchronously: call it at startup).
    pub fn with_ca_file(path: &Path) -> Result<Self> {
        let fail = |message: String| Error::CaFile {
            path: path.to_owned(),
            message,
        };
        let meta = std::fs::metadata(path).map_err(|e| fail(format!("cannot be read: {e}")))?;
        if !meta.is_file() {
            return Err(fail("is not a regular file".into()));
        }
        if meta.len() > MAX_CA_FILE {
            return Err(fail(format!(
                "is larger than {MAX_CA_FILE} bytes; name a PEM file of CA certificates"
            )));
        }
        let pem = std::fs::read(path).map_err(|e| fail(format!("cannot be read: {e}")))?;
        let mut roots = system_roots().clone();
        let mut count = 0;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| fail(format!("is not valid PEM: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| fail(format!("holds a certificate rustls refuses: {e}")))?;
            count += 1;
        }
        if count == 0 {
            return Err(fail(
                "holds no certificate (expected -----BEGIN CERTIFICATE----- blocks)".into(),
            ));
        }
        Self::from_roots(roots)
    }

    fn from_roots(roots: RootCertStore) -> Result<Self> {
        if roots.is_empty() {
            return Err(Error::NoRoots);
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Config(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Self {
            connector: TlsConnector::from(Arc::new(config)),
        })
    }

    /// A TLS session over `tcp` with the server named `host` (a DNS name or an IP
    /// address), its certificate verified.
    pub async fn connect(
        &self,
        host: &str,
        tcp: TcpStream,
    ) -> std::io::Result<TlsStream<TcpStream>> {
        let name = ServerName::try_from(host.to_owned()).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the host is neither a DNS name nor an IP address",
            )
        })?;
        self.connector.connect(name, tcp).await
    }
}
