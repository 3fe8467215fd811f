//! Opening, migrating, probing and closing the database, and leadership of singleton roles.

use async_trait::async_trait;

use std::time::Duration;

use super::{Acquired, Backend};
use crate::Result;

/// Opening, migrating, probing and closing the database, and leadership of singleton roles.
#[async_trait]
pub trait Lifecycle: Send + Sync {
    fn backend(&self) -> Backend;

    /// Applies the embedded migrations of this backend.
    async fn migrate(&self) -> Result<()>;

    /// A trivial query: is the database reachable?
    async fn ping(&self) -> Result<()>;

    /// Closes the pool, waiting for checked-out connections to come back.
    async fn close(&self);

    /// Tries to become the one instance that runs `role` (a singleton such as
    /// the Scheduler), with a lease of `term`. `None`: another instance leads.
    /// A holder whose lease ran out (it stopped renewing: frozen, cut off)
    /// has its session ended first. The lease lasts while the returned handle
    /// lives and [`Lease::renew`](super::Lease::renew) succeeds.
    async fn lead(&self, role: &str, term: Duration) -> Result<Option<Acquired>>;
}
