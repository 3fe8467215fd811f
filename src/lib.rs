//! The `subvisor` binary's library: configuration, wiring and the CLI.

pub mod bot;
pub mod cli;
pub mod config;
pub mod keys;
pub mod node_config;
pub mod ops_client;
pub mod startup;
pub mod telemetry;
