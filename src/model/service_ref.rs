//! The name of one service of one project, as rollouts, the control socket and status key
//! their per-service state.

use std::fmt;

/// A service of a project (`shop/web`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServiceRef {
    /// The project.
    pub project: String,
    /// The service.
    pub service: String,
}

impl ServiceRef {
    /// `project`/`service`.
    pub fn new(project: &str, service: &str) -> Self {
        Self {
            project: project.to_owned(),
            service: service.to_owned(),
        }
    }
}

impl fmt::Display for ServiceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.project, self.service)
    }
}
