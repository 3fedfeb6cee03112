//! The bollard implementation of [`super::ContainerRuntime`] (stub).
