//! The pure planner (stub): `plan(desired, observed, context) -> Plan`.

mod action;

pub use action::{Action, ContainerRef, Deferred, Plan, Reason};
