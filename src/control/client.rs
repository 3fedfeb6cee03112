//! Control API client (to be written).
