//! End-to-end tests of the loader over temporary desired directories.
