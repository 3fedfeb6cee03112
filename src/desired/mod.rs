//! Loading the desired directory (stub: the loader lands here).
pub mod watch;
