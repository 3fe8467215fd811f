//! subvisor's actor system: domain rules, the store, and the actors that
//! serialize every change of a user's money or access.

pub mod clock;
pub mod domain;
mod error;
pub mod faults;
pub mod leader;
pub mod links;
pub mod messages;
pub mod metrics;
pub mod notifier;
pub mod payments;
pub mod provisioning;
mod registry;
pub mod scheduler;
pub mod store;
mod user_actor;
pub mod workers;

pub use error::{Error, Result};
pub use registry::{Registry, RegistrySettings, RegistryStats};
pub use user_actor::UserActor;
