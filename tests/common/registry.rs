//! [`Registry`]: a throwaway registry container (testcontainers, sync runner) on a random
//! host port, so real pulls are testable. The engine trusts registries on 127.0.0.0/8
//! without TLS.
//!
//! Use it from synchronous tests (or inside `spawn_blocking`): the sync runner blocks on
//! its own tokio runtime, also when dropped.

use std::sync::Mutex;

use testcontainers::core::{IntoContainerPort, WaitFor};
use testcontainers::runners::SyncRunner;
use testcontainers::{Container, GenericImage};

use super::{docker, registry_image, try_docker};

/// A running registry; removed (with the local tags it pushed) on drop.
pub struct Registry {
    container: Container<GenericImage>,
    host: String,
    pushed: Mutex<Vec<String>>,
}

impl Registry {
    /// Starts `composectl-test/registry:latest` and waits until it listens.
    pub fn start() -> Self {
        let image = registry_image();
        let (name, tag) = image.rsplit_once(':').expect("a tagged image");
        let container = GenericImage::new(name, tag)
            .with_exposed_port(5000.tcp())
            .with_wait_for(WaitFor::message_on_stderr("listening on"))
            .start()
            .unwrap_or_else(|e| panic!("cannot start the registry: {e}"));
        let port = container
            .get_host_port_ipv4(5000.tcp())
            .unwrap_or_else(|e| panic!("the registry publishes no port: {e}"));
        Self {
            container,
            host: format!("127.0.0.1:{port}"),
            pushed: Mutex::new(Vec::new()),
        }
    }

    /// `127.0.0.1:<port>`: the registry part of image references.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The reference of `name` (`repo[:tag]`) in this registry.
    pub fn reference(&self, name: &str) -> String {
        format!("{}/{name}", self.host)
    }

    /// Pushes the local image `local_tag` as `name` (`repo[:tag]`) and removes the local
    /// registry tag again, so the returned reference must be pulled to be used.
    pub fn push(&self, local_tag: &str, name: &str) -> String {
        let reference = self.reference(name);
        docker(&["tag", local_tag, &reference]);
        composectl::sync::lock(&self.pushed).push(reference.clone());
        docker(&["push", &reference]);
        docker(&["rmi", &reference]);
        reference
    }

    /// Pushes the local image `local_tag` as `name` (`repo:tag`) through the registry's
    /// other name, `localhost:<port>`, and returns the `127.0.0.1:<port>` reference: a local
    /// tag of that reference (one a daemon pulled) stays where it is, as on a host whose CI
    /// pushes from elsewhere.
    pub fn push_from_elsewhere(&self, local_tag: &str, name: &str) -> String {
        let port = self.host.rsplit_once(':').expect("host:port").1;
        let alias = format!("localhost:{port}/{name}");
        docker(&["tag", local_tag, &alias]);
        docker(&["push", &alias]);
        docker(&["rmi", &alias]);
        self.reference(name)
    }

    /// Tracks `reference` for removal on drop (a tag a daemon pulled).
    pub fn forget_on_drop(&self, reference: &str) {
        composectl::sync::lock(&self.pushed).push(reference.to_owned());
    }

    /// The container ID of the registry.
    pub fn id(&self) -> &str {
        self.container.id()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        // Tags pulled back (by a test or by composectl) would otherwise outlive the registry.
        for reference in composectl::sync::lock(&self.pushed).drain(..) {
            let _ = try_docker(&["rmi", "-f", &reference]);
        }
    }
}
