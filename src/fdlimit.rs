//! The daemon's file descriptor limit (`RLIMIT_NOFILE`).
//!
//! The soft limit is often 1024 while the hard limit is far higher (systemd's default is
//! 1024:524288): the soft limit is kept low only for programs that still use `select(2)`,
//! and a program that needs more raises it itself. `composectl run` does so at start
//! ([`raise`]): the HTTP server and the control socket bound their connections
//! ([`crate::accept`]), but the reconcile loop must never be the one that runs out.
//! Programs composectl starts (the `exec` gate) get the original soft limit back
//! ([`restore_in_child`]), as systemd recommends.

use std::io;
use std::sync::OnceLock;

/// Errors of reading or changing the limit.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `getrlimit(RLIMIT_NOFILE)` failed.
    #[error("cannot read the file descriptor limit (RLIMIT_NOFILE): {0}")]
    Read(#[source] io::Error),
    /// `setrlimit(RLIMIT_NOFILE)` failed; the limit stays as it was.
    #[error(
        "cannot raise the file descriptor limit (RLIMIT_NOFILE) from {} to {}: {source}; \
         it stays at {}",
        from.soft, to, from.soft
    )]
    Raise {
        /// The limit before.
        from: NoFile,
        /// The soft limit asked for.
        to: u64,
        /// Why.
        #[source]
        source: io::Error,
    },
}

/// Result alias for this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One reading of `RLIMIT_NOFILE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoFile {
    /// The limit in force: how many descriptors the process may have open.
    pub soft: u64,
    /// How far an unprivileged process may raise `soft`.
    pub hard: u64,
}

/// The soft limit found before [`raise`] changed it, for [`restore_in_child`].
static ORIGINAL_SOFT: OnceLock<u64> = OnceLock::new();

/// The current limit.
pub fn current() -> Result<NoFile> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable rlimit for the call to fill.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    if rc != 0 {
        return Err(Error::Read(io::Error::last_os_error()));
    }
    Ok(NoFile {
        soft: widen(limit.rlim_cur),
        hard: widen(limit.rlim_max),
    })
}

/// An `rlim_t` (32 bits on some 32-bit ARM NAS systems, 64 elsewhere) as a `u64`.
#[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
fn widen(value: libc::rlim_t) -> u64 {
    value as u64
}

/// A `u64` read through [`widen`] back as an `rlim_t` (lossless: it came from one).
#[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
fn narrow(value: u64) -> libc::rlim_t {
    value as libc::rlim_t
}

/// Raises the soft limit to the hard limit; returns the limit before and after (equal when
/// the soft limit already was the hard one).
pub fn raise() -> Result<(NoFile, NoFile)> {
    let before = current()?;
    if before.soft >= before.hard {
        return Ok((before, before));
    }
    let wanted = libc::rlimit {
        rlim_cur: narrow(before.hard),
        rlim_max: narrow(before.hard),
    };
    // SAFETY: `wanted` is a valid rlimit; setrlimit only reads it.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) };
    if rc != 0 {
        return Err(Error::Raise {
            from: before,
            to: before.hard,
            source: io::Error::last_os_error(),
        });
    }
    let _ = ORIGINAL_SOFT.set(before.soft);
    Ok((before, current()?))
}

/// Makes `command`'s process start with the soft limit found before [`raise`] (a no-op when
/// nothing was raised), so a program that uses `select(2)` is not handed descriptors it
/// cannot watch.
pub fn restore_in_child(command: &mut tokio::process::Command) {
    let Some(&soft) = ORIGINAL_SOFT.get() else {
        return;
    };
    let Ok(now) = current() else {
        return;
    };
    let limit = libc::rlimit {
        rlim_cur: narrow(soft),
        rlim_max: narrow(now.hard),
    };
    // SAFETY: the closure runs in the child between fork and exec, where only
    // async-signal-safe calls are allowed: it makes one system call on a value prepared
    // before the fork, and allocates nothing.
    unsafe {
        command.pre_exec(move || {
            // Best effort: a child with the raised limit still runs.
            let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_current_limit_is_readable_and_the_soft_limit_never_exceeds_the_hard_one() {
        let limit = current().unwrap();
        assert!(limit.soft > 0 && limit.soft <= limit.hard, "{limit:?}");
    }

    #[test]
    fn raising_ends_with_the_soft_limit_at_the_hard_one() {
        let (before, after) = raise().unwrap();
        assert_eq!(after.soft, after.hard);
        assert_eq!(after.hard, before.hard);
        assert_eq!(current().unwrap(), after);
    }

    #[tokio::test]
    async fn a_child_starts_with_the_soft_limit_found_before_the_raise() {
        let start = current().unwrap();
        let low = start.hard.min(1024);
        let lowered = libc::rlimit {
            rlim_cur: narrow(low),
            rlim_max: narrow(start.hard),
        };
        // SAFETY: `lowered` is a valid rlimit; setrlimit only reads it.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lowered) }, 0);
        let (_, raised) = raise().unwrap();
        assert_eq!(raised.soft, start.hard);

        let mut command = tokio::process::Command::new("sh");
        command.args(["-c", "ulimit -n"]);
        restore_in_child(&mut command);
        let output = command.output().await.unwrap();
        let child_soft: u64 = String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .unwrap();
        assert_eq!(child_soft, low);
        assert_eq!(
            current().unwrap().soft,
            start.hard,
            "the daemon keeps its limit"
        );
    }

    #[test]
    fn a_failed_raise_names_both_limits() {
        let err = Error::Raise {
            from: NoFile {
                soft: 1024,
                hard: 4096,
            },
            to: 4096,
            source: io::Error::from_raw_os_error(libc::EPERM),
        };
        let text = err.to_string();
        assert!(
            text.contains("from 1024 to 4096") && text.contains("stays at 1024"),
            "{text}"
        );
    }
}
