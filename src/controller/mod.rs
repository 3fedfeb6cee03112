//! The reconcile loop (being assembled).

pub mod backoff;
pub mod scheduler;
