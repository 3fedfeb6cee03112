//! The reconcile loop (stub).
