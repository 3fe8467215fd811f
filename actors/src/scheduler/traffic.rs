//! The Scheduler's traffic pass: subscriptions at or past their allowance are
//! limited, ended calendar periods roll over — each through the user's actor.

use futures_util::stream::{self, StreamExt};

use super::{Scheduler, TickReport};
use crate::domain::UserId;
use crate::messages::{LimitTraffic, RollTrafficPeriod};
use crate::store::Change;

impl Scheduler {
    pub(super) async fn traffic(&self, report: &mut TickReport) -> crate::Result<()> {
        let due = self
            .store
            .due_traffic_periods(self.clock.now(), self.batch)
            .await?;
        report.rolled += self
            .send_all(
                due,
                "traffic period",
                |r, u| async move { r.send(u, RollTrafficPeriod).await },
                report,
            )
            .await;
        let over = self.store.over_allowance(self.batch).await?;
        report.limited += self
            .send_all(
                over,
                "traffic limit",
                |r, u| async move { r.send(u, LimitTraffic).await },
                report,
            )
            .await;
        Ok(())
    }

    /// Sends one message per user (32 at a time); how many were applied.
    async fn send_all<F, Fut>(
        &self,
        users: Vec<UserId>,
        what: &'static str,
        send: F,
        report: &mut TickReport,
    ) -> usize
    where
        F: Fn(crate::registry::Registry, UserId) -> Fut,
        Fut: std::future::Future<Output = crate::Result<Change>>,
    {
        let results: Vec<_> = stream::iter(users)
            .map(|user| {
                let fut = send(self.registry.clone(), user);
                async move { (user, fut.await) }
            })
            .buffer_unordered(32)
            .collect()
            .await;
        let mut applied = 0;
        for (user, result) in results {
            match result {
                Ok(change) if change.applied => applied += 1,
                Ok(_) => {}
                Err(e) => {
                    report.failed += 1;
                    tracing::warn!(%user, error = %e, what, "traffic pass failed; will retry next pass");
                }
            }
        }
        applied
    }
}
