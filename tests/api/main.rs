//! End-to-end tests of the subvisor program: the application in-process on
//! real databases (SQLite file, throwaway PostgreSQL), and the real binary as a
//! child process (CLI, signals, kill -9).

mod actor_panic;
mod binary;
mod bot;
mod console;
mod failure_matrix;
mod helpers;
mod leader_failover;
mod log_secrets;
mod node_config;
mod node_drift;
mod node_faults;
mod ops_api;
mod ops_promos;
mod payment_crash;
mod payment_intake;
mod payment_transient;
mod payments;
mod provisioning;
mod soak;
mod subscription_devices;
mod subscription_formats;
mod subscription_page;
mod traffic;
mod webhook_mutants;
