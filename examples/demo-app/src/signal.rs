//! SIGTERM and SIGINT end the process at once with code 0.
//!
//! As PID 1 in a container the kernel ignores signals that have no handler, so `docker stop`
//! would wait its whole timeout and then SIGKILL; a handler makes the stop prompt.

/// The handler: `_exit(0)` is async-signal-safe, and nothing is buffered that matters.
extern "C" fn exit_now(_signal: libc::c_int) {
    // SAFETY: `_exit` is async-signal-safe and never returns.
    unsafe { libc::_exit(0) }
}

/// Installs the handler for SIGTERM and SIGINT.
pub fn exit_on_termination() {
    let handler = exit_now as extern "C" fn(libc::c_int) as libc::sighandler_t;
    for signal in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: installing a handler that only calls an async-signal-safe function.
        unsafe {
            libc::signal(signal, handler);
        }
    }
}
