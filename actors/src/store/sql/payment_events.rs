//! The SQL of [`PaymentEventLog`](crate::store::PaymentEventLog).

use super::prelude::*;

#[async_trait]
impl crate::store::PaymentEventLog for This {
    #[tracing::instrument(
        level = "debug",
        name = "store",
        skip_all,
        fields(op = "record_payment_event")
    )]
    async fn record_payment_event(
        &self,
        event: &crate::store::NewPaymentEvent,
    ) -> Result<EventRecord> {
        // Single statements, each atomic: no transaction (one round trip
        // for a new event instead of three).
        let inserted = sqlx::query(
            "INSERT INTO webhook_events (provider, event_id, order_id, received_at, outcome, payload, event)
             VALUES ($1, $2, $3, $4, 'received', $5, $6) ON CONFLICT (provider, event_id) DO NOTHING",
        )
        .bind(&event.provider)
        .bind(&event.event_id)
        .bind(event.order.map(|o| o.uuid()))
        .bind(t(event.received_at))
        .bind(&event.payload)
        .bind(&event.event)
        .execute(self.writer())
        .await?;
        let record = if inserted.rows_affected() == 1 {
            EventRecord::New
        } else {
            let (outcome, finished): (String, Option<DbTime>) = sqlx::query_as(
                "SELECT outcome, finished_at FROM webhook_events WHERE provider = $1 AND event_id = $2",
            )
            .bind(&event.provider)
            .bind(&event.event_id)
            .fetch_one(self.writer())
            .await?;
            if finished.is_some() {
                EventRecord::Finished(outcome)
            } else {
                // Stored before the intake kept the neutral form: add it now.
                sqlx::query(
                    "UPDATE webhook_events SET event = $1 WHERE provider = $2 AND event_id = $3 AND event IS NULL",
                )
                .bind(&event.event)
                .bind(&event.provider)
                .bind(&event.event_id)
                .execute(self.writer())
                .await?;
                EventRecord::Unfinished
            }
        };
        Ok(record)
    }

    #[tracing::instrument(
        level = "debug",
        name = "store",
        skip_all,
        fields(op = "finish_payment_event")
    )]
    async fn finish_payment_event(
        &self,
        provider: &str,
        event_id: &str,
        outcome: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE webhook_events SET outcome = $1, finished_at = $2, attempts = attempts + 1
             WHERE provider = $3 AND event_id = $4 AND finished_at IS NULL",
        )
        .bind(outcome)
        .bind(t(now))
        .bind(provider)
        .bind(event_id)
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    #[tracing::instrument(
        level = "debug",
        name = "store",
        skip_all,
        fields(op = "payment_event_failed")
    )]
    async fn payment_event_failed(
        &self,
        provider: &str,
        event_id: &str,
        error: &str,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE webhook_events SET attempts = attempts + 1, last_error = $1
             WHERE provider = $2 AND event_id = $3 AND finished_at IS NULL",
        )
        .bind(error)
        .bind(provider)
        .bind(event_id)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    #[tracing::instrument(
        level = "debug",
        name = "store",
        skip_all,
        fields(op = "unfinished_payment_events")
    )]
    async fn unfinished_payment_events(
        &self,
        received_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<crate::store::WebhookEvent>> {
        let rows: Vec<WebhookRow> = sqlx::query_as(concat!(
            "SELECT ",
            event_columns!(),
            " FROM webhook_events
             WHERE finished_at IS NULL AND received_at <= $1 ORDER BY received_at, id LIMIT $2"
        ))
        .bind(t(received_before))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(WebhookRow::into_domain).collect())
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "webhook_events_for_order", order = %order))]
    async fn webhook_events_for_order(
        &self,
        order: OrderId,
    ) -> Result<Vec<crate::store::WebhookEvent>> {
        let rows: Vec<WebhookRow> = sqlx::query_as(concat!(
            "SELECT ",
            event_columns!(),
            " FROM webhook_events WHERE order_id = $1 ORDER BY id"
        ))
        .bind(order.uuid())
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(WebhookRow::into_domain).collect())
    }

    #[tracing::instrument(
        level = "debug",
        name = "store",
        skip_all,
        fields(op = "webhook_event")
    )]
    async fn webhook_event(
        &self,
        provider: &str,
        event_id: &str,
    ) -> Result<Option<crate::store::WebhookEvent>> {
        let row: Option<WebhookRow> = sqlx::query_as(concat!(
            "SELECT ",
            event_columns!(),
            " FROM webhook_events WHERE provider = $1 AND event_id = $2"
        ))
        .bind(provider)
        .bind(event_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(WebhookRow::into_domain))
    }

    #[tracing::instrument(
        level = "debug",
        name = "store",
        skip_all,
        fields(op = "recent_payment_events")
    )]
    async fn recent_payment_events(&self, limit: u32) -> Result<Vec<crate::store::WebhookEvent>> {
        let rows: Vec<WebhookRow> = sqlx::query_as(concat!(
            "SELECT ",
            event_columns!(),
            " FROM webhook_events ORDER BY id DESC LIMIT $1"
        ))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(WebhookRow::into_domain).collect())
    }
}
