//! Integration tests of `subvisor-actors` against real SQLite files and a
//! throwaway PostgreSQL cluster. One test binary (faster to link).

mod actors;
mod auto_renew;
mod bot_store;
mod commerce;
mod devices_store;
mod helpers;
mod intake;
mod leadership;
mod lease_fencing;
mod notifier;
mod ops_views;
mod passivation;
mod payments_suite;
mod store_suite;
mod traffic_store;
mod user_actor_rules;
mod workers;
