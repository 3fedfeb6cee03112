//! The local control API: a unix socket, readable by root only, over which
//! `composectl rollout ...` talks to the running controller.
//!
//! [`protocol`] holds the messages; [`server`] accepts connections and hands each request
//! to a [`Handler`] (the controller implements it); [`client`] is the CLI's side;
//! [`render`] turns answers into the text `rollout status` and `rollout history` print;
//! [`command`] runs the `composectl rollout ...` subcommands.
//! [`socket_path`] is the one place that says where the socket lives, for both sides.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;

pub mod client;
pub mod command;
pub mod protocol;
pub mod render;
pub mod server;

pub use protocol::{Request, Response, Selector};

/// The file name of the socket inside the state directory.
pub const SOCKET_NAME: &str = "control.sock";

/// The default state directory (`--state-dir`, `COMPOSECTL_STATE_DIR`).
pub const DEFAULT_STATE_DIR: &str = "/var/lib/composectl";

/// The future a [`Handler`] returns.
pub type HandlerFuture<'a> = Pin<Box<dyn Future<Output = Response> + Send + 'a>>;

/// Answers control requests (the controller).
pub trait Handler: Send + Sync + 'static {
    /// Carries out `request` and answers it. Never panics: a request that cannot be
    /// carried out is a [`Response::Error`] that says what to do instead.
    fn handle(&self, request: Request) -> HandlerFuture<'_>;
}

/// The directory of one instance's state: `<state_dir>/<instance>`.
pub fn instance_dir(state_dir: &Path, instance: &str) -> PathBuf {
    state_dir.join(instance)
}

/// The control socket of one instance: `<state_dir>/<instance>/control.sock`. The daemon
/// binds it and the CLI connects to it; both compute it here.
pub fn socket_path(state_dir: &Path, instance: &str) -> PathBuf {
    instance_dir(state_dir, instance).join(SOCKET_NAME)
}

/// Errors of the control API, on both sides of the socket. Every message names the socket
/// path and what to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The directory that holds the socket could not be created.
    #[error(
        "cannot create the state directory {}: {source}; create it or pass a different --state-dir",
        path.display()
    )]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A controller already answers on the socket.
    #[error(
        "another composectl uses this state directory: {} accepts connections; stop it, or \
         pass a different --state-dir or --instance",
        path.display()
    )]
    InUse {
        /// The socket.
        path: PathBuf,
    },
    /// Something that is not a socket sits where the socket belongs.
    #[error(
        "{} exists and is not a socket; move it away or pass a different --state-dir or --instance",
        path.display()
    )]
    NotASocket {
        /// The path.
        path: PathBuf,
    },
    /// A stale socket (left by a killed controller) could not be removed, or the socket
    /// could not be bound or made root-only.
    #[error("cannot {action} the control socket {}: {source}", path.display())]
    Socket {
        /// `bind`, `remove the stale`, `restrict`, ...
        action: &'static str,
        /// The socket.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Nothing listens on the socket (the CLI's side).
    #[error(
        "no controller answers on {}: is `composectl run` running with the same \
         --state-dir/--instance?",
        path.display()
    )]
    NotRunning {
        /// The socket.
        path: PathBuf,
    },
    /// The caller may not open the socket (the CLI's side).
    #[error(
        "permission denied on {}: the control socket is readable by root only: run as root (sudo)",
        path.display()
    )]
    PermissionDenied {
        /// The socket.
        path: PathBuf,
    },
    /// The exchange failed after connecting: an I/O error, no answer in time or an answer
    /// that is not a response.
    #[error(
        "talking to the controller on {}: {message}; check the controller's log \
         (journalctl -u composectl)",
        path.display()
    )]
    Exchange {
        /// The socket.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// Result alias of the control module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_socket_lives_in_the_instance_directory() {
        let path = socket_path(Path::new("/var/lib/composectl"), "nas");
        assert_eq!(path, Path::new("/var/lib/composectl/nas/control.sock"));
        assert_eq!(
            path.parent(),
            Some(instance_dir(Path::new("/var/lib/composectl"), "nas").as_path())
        );
    }

    #[test]
    fn selectors_parse_every_form() {
        let sel = |p: Option<&str>, s: Option<&str>| Selector {
            project: p.map(str::to_owned),
            service: s.map(str::to_owned),
        };
        let cases = [
            ("shop/web", sel(Some("shop"), Some("web"))),
            ("shop/", sel(Some("shop"), None)),
            ("web", sel(None, Some("web"))),
            ("  web ", sel(None, Some("web"))),
            ("", sel(None, None)),
            ("/web", sel(None, Some("web"))),
        ];
        for (text, expected) in cases {
            assert_eq!(Selector::parse(text), expected, "{text:?}");
        }
        let shop_web = Selector::parse("shop/web");
        assert!(shop_web.matches("shop", "web"));
        assert!(!shop_web.matches("shop", "db"));
        assert!(!shop_web.matches("blog", "web"));
        assert!(Selector::parse("shop/").matches("shop", "db"));
        assert!(!Selector::parse("shop/").matches("blog", "db"));
        assert!(Selector::parse("web").matches("blog", "web"));
        assert!(Selector::parse("").matches("any", "thing"));
        assert_eq!(Selector::parse("shop/").to_string(), "shop/");
        assert_eq!(Selector::parse("").to_string(), "every service");
    }
}
