//! The SQL of [`AlertOutbox`](crate::store::AlertOutbox).

use super::prelude::*;

#[async_trait]
impl crate::store::AlertOutbox for This {
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "raise_alert"))]
    async fn raise_alert(
        &self,
        ctx: &WriteCtx<'_>,
        kind: AlertKind,
        payload: serde_json::Value,
    ) -> Result<()> {
        let mut w = self.begin_write().await?;
        alert(&mut w.tx, ctx, kind, payload.clone()).await?;
        sqlx::query(
            "INSERT INTO audit_log (actor, action, user_id, details, created_at) VALUES ($1, $2, NULL, $3, $4)",
        )
        .bind(ctx.by.to_string())
        .bind(format!("alert_{}", kind.as_str()))
        .bind(payload.to_string())
        .bind(t(ctx.now))
        .execute(&mut *w.tx)
        .await?;
        w.tx.commit().await?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "due_alerts"))]
    async fn due_alerts(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<crate::store::PendingAlert>> {
        let rows: Vec<(i64, String, String, i32)> = sqlx::query_as(
            "SELECT id, kind, payload, attempts FROM alerts
             WHERE state = 'pending' AND next_attempt_at <= $1 ORDER BY id LIMIT $2",
        )
        .bind(t(now))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|(id, kind, payload, attempts)| {
                Ok(crate::store::PendingAlert {
                    id,
                    kind: kind.parse().map_err(corrupt)?,
                    payload: serde_json::from_str(&payload).map_err(corrupt)?,
                    attempts,
                })
            })
            .collect()
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "alert_sent"))]
    async fn alert_sent(&self, id: i64, now: DateTime<Utc>) -> Result<()> {
        self.outbox_sent("alerts", id, now).await
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "alert_retry"))]
    async fn alert_retry(
        &self,
        id: i64,
        error: &str,
        next_attempt_at: DateTime<Utc>,
    ) -> Result<()> {
        self.outbox_retry("alerts", id, error, next_attempt_at)
            .await
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "alert_failed"))]
    async fn alert_failed(&self, id: i64, error: &str, now: DateTime<Utc>) -> Result<()> {
        self.outbox_failed("alerts", id, error, now).await
    }
}
