//! Control API server (to be written).
