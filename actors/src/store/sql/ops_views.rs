//! The SQL of [`OpsViews`](crate::store::OpsViews).

use super::prelude::*;
use crate::domain::{Currency, Money};
use crate::store::Lifecycle as _;
use crate::store::{FlaggedPayment, LeaseHolder, NodeBacklog, OutboxStats, PendingKeyOp};

type FlagRow = (
    String,
    Option<String>,
    Option<Uuid>,
    i64,
    i64,
    String,
    Option<String>,
    DbTime,
);

fn flagged(row: FlagRow) -> Result<FlaggedPayment> {
    let (provider, payment_id, order, user, amount, currency, reason, at) = row;
    Ok(FlaggedPayment {
        provider,
        provider_payment_id: payment_id,
        order: order.map(OrderId::from_uuid),
        user: UserId::new(user).map_err(corrupt)?,
        amount: Money::new(amount, Currency::new(currency).map_err(corrupt)?),
        reason: reason.unwrap_or_else(|| "flagged".to_owned()),
        at: at.0,
    })
}

#[async_trait]
impl crate::store::OpsViews for This {
    #[tracing::instrument(
        level = "debug",
        name = "store",
        skip_all,
        fields(op = "flagged_payments")
    )]
    async fn flagged_payments(&self, limit: u32) -> Result<Vec<FlaggedPayment>> {
        let payments: Vec<FlagRow> = sqlx::query_as(
            "SELECT provider, provider_payment_id, order_id, user_id, amount, currency, reason, updated_at
             FROM payments WHERE settlement = 'flagged' ORDER BY id DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        let orders: Vec<FlagRow> = sqlx::query_as(
            "SELECT provider, NULL, id, user_id, amount, currency, flag, updated_at
             FROM orders WHERE flag IS NOT NULL ORDER BY updated_at DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        let mut out = payments
            .into_iter()
            .chain(orders)
            .map(flagged)
            .collect::<Result<Vec<_>>>()?;
        out.sort_by_key(|f| std::cmp::Reverse(f.at));
        out.truncate(limit as usize);
        Ok(out)
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "outbox_stats"))]
    async fn outbox_stats(&self) -> Result<Vec<OutboxStats>> {
        let mut out = Vec::with_capacity(4);
        for (outbox, table, created) in [
            ("provisioning", "provisioning_ops", "created_at"),
            ("notifications", "notifications", "created_at"),
            ("alerts", "alerts", "created_at"),
        ] {
            let failed = if outbox == "provisioning" {
                "CAST(0 AS BIGINT)".to_owned()
            } else {
                format!("(SELECT COUNT(*) FROM {table} WHERE state = 'failed')")
            };
            let (depth, oldest, retrying, failed): (i64, Option<DbTime>, i64, i64) =
                sqlx::query_as(&format!(
                    "SELECT (SELECT COUNT(*) FROM {table} WHERE state = 'pending'),
                        (SELECT MIN({created}) FROM {table} WHERE state = 'pending'),
                        (SELECT COUNT(*) FROM {table} WHERE state = 'pending' AND attempts > 0),
                        {failed}"
                ))
                .fetch_one(self.pool())
                .await?;
            let last_error: Option<String> = sqlx::query_scalar(&format!(
                "SELECT last_error FROM {table}
                 WHERE last_error IS NOT NULL AND state <> 'done' AND state <> 'sent'
                 ORDER BY id DESC LIMIT 1"
            ))
            .fetch_optional(self.pool())
            .await?
            .flatten();
            out.push(OutboxStats {
                outbox,
                depth,
                oldest_at: oldest.map(|t| t.0),
                retrying,
                failed,
                last_error,
            });
        }
        let (depth, oldest, retrying): (i64, Option<DbTime>, i64) = sqlx::query_as(
            "SELECT COUNT(*), MIN(received_at), COALESCE(SUM(CASE WHEN attempts > 0 THEN 1 ELSE 0 END), 0)
             FROM webhook_events WHERE finished_at IS NULL",
        )
        .fetch_one(self.pool())
        .await?;
        let last_error: Option<String> = sqlx::query_scalar(
            "SELECT last_error FROM webhook_events
             WHERE finished_at IS NULL AND last_error IS NOT NULL ORDER BY id DESC LIMIT 1",
        )
        .fetch_optional(self.pool())
        .await?
        .flatten();
        out.push(OutboxStats {
            outbox: "payment_events",
            depth,
            oldest_at: oldest.map(|t| t.0),
            retrying,
            failed: 0,
            last_error,
        });
        Ok(out)
    }

    #[tracing::instrument(
        level = "debug",
        name = "store",
        skip_all,
        fields(op = "node_backlogs")
    )]
    async fn node_backlogs(&self) -> Result<Vec<NodeBacklog>> {
        let rows: Vec<(String, i64, DbTime)> = sqlx::query_as(
            "SELECT node, COUNT(*), MIN(created_at) FROM provisioning_ops
             WHERE state = 'pending' GROUP BY node ORDER BY node",
        )
        .fetch_all(self.pool())
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for (node, pending, oldest) in rows {
            let last_error: Option<String> = sqlx::query_scalar(
                "SELECT last_error FROM provisioning_ops
                 WHERE state = 'pending' AND node = $1 AND last_error IS NOT NULL
                 ORDER BY id DESC LIMIT 1",
            )
            .bind(&node)
            .fetch_optional(self.pool())
            .await?
            .flatten();
            out.push(NodeBacklog {
                node,
                pending,
                oldest_at: oldest.0,
                last_error,
            });
        }
        Ok(out)
    }

    #[tracing::instrument(
        level = "debug",
        name = "store",
        skip_all,
        fields(op = "lease_holders")
    )]
    async fn lease_holders(&self) -> Result<Vec<LeaseHolder>> {
        if self.backend() == Backend::Sqlite {
            return Ok(Vec::new());
        }
        let rows: Vec<(String, String, DbTime)> =
            sqlx::query_as("SELECT role, holder, expires_at FROM leader_leases ORDER BY role")
                .fetch_all(self.pool())
                .await?;
        Ok(rows
            .into_iter()
            .map(|(role, holder, expires_at)| LeaseHolder {
                role,
                holder,
                expires_at: expires_at.0,
            })
            .collect())
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "pending_ops_of", user = %user))]
    async fn pending_ops_of(&self, user: UserId) -> Result<Vec<PendingKeyOp>> {
        let rows: Vec<(String, String, String, i32, Option<String>)> = sqlx::query_as(
            "SELECT node, email, op, attempts, last_error FROM provisioning_ops
             WHERE user_id = $1 AND state = 'pending' ORDER BY id",
        )
        .bind(user.get())
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(node, email, op, attempts, last_error)| PendingKeyOp {
                node,
                email,
                op,
                attempts,
                last_error,
            })
            .collect())
    }

    #[tracing::instrument(
        level = "debug",
        name = "store",
        skip_all,
        fields(op = "recent_ops_audit")
    )]
    async fn recent_ops_audit(&self, limit: u32) -> Result<Vec<AuditEntry>> {
        let rows: Vec<AuditRow> = sqlx::query_as(
            "SELECT actor, action, details, created_at FROM audit_log
             WHERE actor = 'ops' OR user_id IS NULL ORDER BY id DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(AuditRow::into_domain).collect())
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "record_audit", action = action))]
    async fn record_audit(
        &self,
        ctx: &WriteCtx<'_>,
        user: Option<UserId>,
        action: &str,
        details: serde_json::Value,
    ) -> Result<()> {
        let mut w = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO audit_log (actor, action, user_id, details, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(ctx.by.to_string())
        .bind(action)
        .bind(user.map(UserId::get))
        .bind(details.to_string())
        .bind(t(ctx.now))
        .execute(&mut *w.tx)
        .await?;
        w.tx.commit().await?;
        Ok(())
    }
}
