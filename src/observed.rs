//! The observed store and its reflector (stub).
