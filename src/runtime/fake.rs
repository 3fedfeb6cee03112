//! An in-memory [`super::ContainerRuntime`] for unit tests (stub).
