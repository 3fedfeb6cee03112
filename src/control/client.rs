//! The CLI's side of the control socket: one request, one response.

use std::io::ErrorKind;
use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use super::{Error, Request, Response, Result};

/// The longest wait for the whole exchange (a controller in the middle of a reconcile still
/// answers in well under this).
pub const TIMEOUT: Duration = Duration::from_secs(30);
/// The largest answer read (a status of every service of a large host fits easily).
const MAX_RESPONSE: u64 = 16 << 20;

/// Sends `request` to the controller listening on `path` and returns its answer.
pub async fn request(path: &Path, request: &Request) -> Result<Response> {
    let exchange_error = |message: String| Error::Exchange {
        path: path.to_owned(),
        message,
    };
    let mut stream = UnixStream::connect(path)
        .await
        .map_err(|err| match err.kind() {
            ErrorKind::NotFound | ErrorKind::ConnectionRefused => Error::NotRunning {
                path: path.to_owned(),
            },
            ErrorKind::PermissionDenied => Error::PermissionDenied {
                path: path.to_owned(),
            },
            _ => exchange_error(format!("cannot connect: {err}")),
        })?;
    let mut line = serde_json::to_vec(request).expect("a request serializes");
    line.push(b'\n');
    let exchange = async {
        stream.write_all(&line).await?;
        let mut raw = Vec::new();
        (&mut stream)
            .take(MAX_RESPONSE)
            .read_to_end(&mut raw)
            .await?;
        Ok::<_, std::io::Error>(raw)
    };
    let raw = match tokio::time::timeout(TIMEOUT, exchange).await {
        Err(_) => return Err(exchange_error(format!("no answer within {TIMEOUT:?}"))),
        Ok(Err(err)) => return Err(exchange_error(err.to_string())),
        Ok(Ok(raw)) => raw,
    };
    if raw.is_empty() {
        return Err(exchange_error(
            "the connection closed without an answer".into(),
        ));
    }
    serde_json::from_slice(&raw)
        .map_err(|err| exchange_error(format!("the answer is not a control response ({err})")))
}
