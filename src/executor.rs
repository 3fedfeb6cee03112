//! Carries a plan out through the runtime (stub).
