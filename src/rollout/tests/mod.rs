//! Tests of the rollout strategies: table tests per strategy, whole rollouts run through
//! a small simulator of replicas and time ([`sim`]), and properties over random shapes.

mod canary;
mod config;
mod recreate;
mod rolling;
mod sim;
