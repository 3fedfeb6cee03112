//! Wiring of the daemon (stub).
