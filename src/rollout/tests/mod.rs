//! Tests of the rollout strategies: table tests per strategy, whole rollouts run through
//! a small simulator of replicas and time ([`sim`]), and properties over random shapes;
//! table tests of the lifecycle's transitions and of the control commands.

mod canary;
mod command;
mod config;
mod fixtures;
mod lifecycle;
mod recreate;
mod rolling;
mod sim;
