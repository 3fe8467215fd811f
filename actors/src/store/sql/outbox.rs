//! Write steps that queue messages and audit: notifications, alerts, the audit log, and the
//! bookkeeping the message outboxes share.

use super::prelude::*;

pub(super) async fn notify(
    conn: &mut Conn,
    ctx: &WriteCtx<'_>,
    user: UserId,
    kind: NotificationKind,
    payload: serde_json::Value,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO notifications (user_id, kind, payload, state, attempts, next_attempt_at, created_at)
         VALUES ($1, $2, $3, 'pending', 0, $4, $4)",
    )
    .bind(user.get())
    .bind(kind.as_str())
    .bind(payload.to_string())
    .bind(t(ctx.now))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(super) async fn audit(
    conn: &mut Conn,
    ctx: &WriteCtx<'_>,
    user: UserId,
    action: &str,
    details: serde_json::Value,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (actor, action, user_id, details, created_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(ctx.by.to_string())
    .bind(action)
    .bind(user.get())
    .bind(details.to_string())
    .bind(t(ctx.now))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Queues an alert for the admins (sent by the Notifier after commit).
pub(super) async fn alert(
    conn: &mut Conn,
    ctx: &WriteCtx<'_>,
    kind: AlertKind,
    payload: serde_json::Value,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO alerts (kind, payload, state, attempts, next_attempt_at, created_at)
         VALUES ($1, $2, 'pending', 0, $3, $3)",
    )
    .bind(kind.as_str())
    .bind(payload.to_string())
    .bind(t(ctx.now))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The bookkeeping both message outboxes (`notifications`, `alerts`) share.
impl This {
    pub(super) async fn outbox_sent(
        &self,
        table: &'static str,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(&format!(
            "UPDATE {table} SET state = 'sent', sent_at = $1, attempts = attempts + 1 WHERE id = $2"
        ))
        .bind(t(now))
        .bind(id)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// A 429 (`error` = "429") does not use up an attempt.
    pub(super) async fn outbox_retry(
        &self,
        table: &'static str,
        id: i64,
        error: &str,
        next_attempt_at: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(&format!(
            "UPDATE {table} SET attempts = attempts + CASE WHEN $1 = '429' THEN 0 ELSE 1 END,
                    last_error = $1, next_attempt_at = $2
             WHERE id = $3 AND state = 'pending'"
        ))
        .bind(error)
        .bind(t(next_attempt_at))
        .bind(id)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    pub(super) async fn outbox_failed(
        &self,
        table: &'static str,
        id: i64,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(&format!(
            "UPDATE {table} SET state = 'failed', attempts = attempts + 1, last_error = $1, sent_at = $2
             WHERE id = $3 AND state = 'pending'"
        ))
        .bind(error)
        .bind(t(now))
        .bind(id)
        .execute(self.writer())
        .await?;
        Ok(())
    }
}
