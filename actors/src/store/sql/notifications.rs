//! The SQL of [`NotificationOutbox`](crate::store::NotificationOutbox).

use super::prelude::*;

#[async_trait]
impl crate::store::NotificationOutbox for This {
    #[tracing::instrument(
        level = "debug",
        name = "store",
        skip_all,
        fields(op = "due_notifications")
    )]
    async fn due_notifications(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<crate::store::PendingNotification>> {
        type Row = (
            i64,
            i64,
            String,
            String,
            i32,
            Option<i64>,
            Option<String>,
            bool,
        );
        // Like `due_ops`: nothing overtakes an earlier notification of the
        // same user that waits for a retry (one chat, commit order).
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT n.id, n.user_id, n.kind, n.payload, n.attempts, n.broadcast_id, u.language, u.bot_blocked
             FROM notifications n JOIN users u ON u.telegram_id = n.user_id
             WHERE n.state = 'pending' AND n.next_attempt_at <= $1
               AND NOT EXISTS (
                   SELECT 1 FROM notifications p
                   WHERE p.state = 'pending' AND p.user_id = n.user_id
                     AND p.id < n.id AND p.next_attempt_at > $1)
             ORDER BY CASE WHEN n.broadcast_id IS NULL THEN 0 ELSE 1 END, n.id LIMIT $2",
        )
        .bind(t(now))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(
                |(id, user, kind, payload, attempts, broadcast, language, user_blocked_bot)| {
                    Ok(crate::store::PendingNotification {
                        id,
                        user: UserId::new(user).map_err(corrupt)?,
                        kind: kind.parse().map_err(corrupt)?,
                        payload: serde_json::from_str(&payload).map_err(corrupt)?,
                        attempts,
                        broadcast,
                        language,
                        user_blocked_bot,
                    })
                },
            )
            .collect()
    }

    #[tracing::instrument(
        level = "debug",
        name = "store",
        skip_all,
        fields(op = "notification_sent")
    )]
    async fn notification_sent(&self, id: i64, now: DateTime<Utc>) -> Result<()> {
        self.outbox_sent("notifications", id, now).await
    }

    #[tracing::instrument(
        level = "debug",
        name = "store",
        skip_all,
        fields(op = "notification_retry")
    )]
    async fn notification_retry(
        &self,
        id: i64,
        error: &str,
        next_attempt_at: DateTime<Utc>,
    ) -> Result<()> {
        self.outbox_retry("notifications", id, error, next_attempt_at)
            .await
    }

    #[tracing::instrument(
        level = "debug",
        name = "store",
        skip_all,
        fields(op = "notification_failed")
    )]
    async fn notification_failed(&self, id: i64, error: &str, now: DateTime<Utc>) -> Result<()> {
        self.outbox_failed("notifications", id, error, now).await
    }

    #[tracing::instrument(
        level = "debug",
        name = "store",
        skip_all,
        fields(op = "due_reminders")
    )]
    async fn due_reminders(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<crate::store::DueReminder>> {
        let mut due = Vec::new();
        for kind in crate::domain::ReminderKind::BOTH {
            let (low, high) = kind.due_expiries(now);
            let rows: Vec<(i64, DbTime)> = sqlx::query_as(
                "SELECT s.user_id, s.expires_at FROM subscriptions s
                 WHERE s.status = 'active' AND s.expires_at > $1 AND s.expires_at <= $2
                   AND NOT EXISTS (SELECT 1 FROM reminders r
                                   WHERE r.user_id = s.user_id AND r.kind = $3 AND r.expires_at = s.expires_at)
                 ORDER BY s.expires_at LIMIT $4",
            )
            .bind(t(low))
            .bind(t(high))
            .bind(kind.as_str())
            .bind(i64::from(limit))
            .fetch_all(self.pool())
            .await?;
            for (user, at) in rows {
                due.push(crate::store::DueReminder {
                    user: UserId::new(user).map_err(corrupt)?,
                    kind,
                    expires_at: at.0,
                });
            }
        }
        Ok(due)
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "remind", user = %user))]
    async fn remind(
        &self,
        ctx: &WriteCtx<'_>,
        user: UserId,
        kind: crate::domain::ReminderKind,
        expires_at: DateTime<Utc>,
    ) -> Result<Change> {
        let mut w = self.begin_user_write(user).await?;
        let sub = read_sub(&mut w.tx, user)
            .await?
            .ok_or(Error::NoSubscription(user))?;
        let (from, until) = kind.window(sub.expires_at.0);
        let current = sub.status == SubscriptionStatus::Active.as_str()
            && DbTime(expires_at) == sub.expires_at
            && from <= ctx.now
            && ctx.now < until;
        let mut applied = false;
        if current {
            applied = sqlx::query(
                "INSERT INTO reminders (user_id, kind, expires_at, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (user_id, kind, expires_at) DO NOTHING",
            )
            .bind(user.get())
            .bind(kind.as_str())
            .bind(sub.expires_at)
            .bind(t(ctx.now))
            .execute(&mut *w.tx)
            .await?
            .rows_affected()
                == 1;
            if applied {
                notify(
                    &mut w.tx,
                    ctx,
                    user,
                    kind.notification(),
                    json!({ "expires_at": sub.expires_at.0 }),
                )
                .await?;
            }
        }
        let snapshot = read_committed_user(&mut w.tx, user).await?;
        w.tx.commit().await?;
        Ok(Change {
            applied,
            snapshot,
            ops: Vec::new(),
        })
    }

    #[tracing::instrument(
        level = "debug",
        name = "store",
        skip_all,
        fields(op = "create_broadcast")
    )]
    async fn create_broadcast(
        &self,
        ctx: &WriteCtx<'_>,
        text: &str,
        exclude: &[UserId],
    ) -> Result<crate::store::BroadcastReport> {
        let mut w = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO broadcasts (text, created_by, total, created_at) VALUES ($1, $2, 0, $3) RETURNING id",
        )
        .bind(text)
        .bind(ctx.by.to_string())
        .bind(t(ctx.now))
        .fetch_one(&mut *w.tx)
        .await?;
        let payload = json!({ "text": text, "broadcast": id }).to_string();
        let total = sqlx::query(
            "INSERT INTO notifications (user_id, kind, payload, state, attempts, next_attempt_at, created_at, broadcast_id)
             SELECT telegram_id, $1, $2, 'pending', 0, $3, $3, $4 FROM users WHERE bot_blocked = FALSE
             ORDER BY telegram_id",
        )
        .bind(NotificationKind::Broadcast.as_str())
        .bind(&payload)
        .bind(t(ctx.now))
        .bind(id)
        .execute(&mut *w.tx)
        .await?
        .rows_affected();
        let mut total = i64::try_from(total).map_err(corrupt)?;
        // The few excluded (admins) are taken out again: one statement each,
        // the same on both backends.
        for user in exclude {
            let removed =
                sqlx::query("DELETE FROM notifications WHERE broadcast_id = $1 AND user_id = $2")
                    .bind(id)
                    .bind(user.get())
                    .execute(&mut *w.tx)
                    .await?
                    .rows_affected();
            total -= i64::try_from(removed).map_err(corrupt)?;
        }
        sqlx::query("UPDATE broadcasts SET total = $1 WHERE id = $2")
            .bind(total)
            .bind(id)
            .execute(&mut *w.tx)
            .await?;
        sqlx::query(
            "INSERT INTO audit_log (actor, action, user_id, details, created_at) VALUES ($1, 'broadcast', NULL, $2, $3)",
        )
        .bind(ctx.by.to_string())
        .bind(json!({ "broadcast": id, "total": total, "chars": text.chars().count() }).to_string())
        .bind(t(ctx.now))
        .execute(&mut *w.tx)
        .await?;
        w.tx.commit().await?;
        Ok(crate::store::BroadcastReport {
            id,
            total,
            pending: total,
            ..Default::default()
        })
    }

    #[tracing::instrument(
        level = "debug",
        name = "store",
        skip_all,
        fields(op = "broadcast_report")
    )]
    async fn broadcast_report(&self, id: i64) -> Result<Option<crate::store::BroadcastReport>> {
        let total: Option<i64> = sqlx::query_scalar("SELECT total FROM broadcasts WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        let Some(total) = total else { return Ok(None) };
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT CASE WHEN state = 'failed' AND last_error = $2 THEN 'blocked' ELSE state END, COUNT(*)
             FROM notifications WHERE broadcast_id = $1 GROUP BY 1",
        )
        .bind(id)
        .bind(crate::store::BLOCKED)
        .fetch_all(self.pool())
        .await?;
        let mut report = crate::store::BroadcastReport {
            id,
            total,
            ..Default::default()
        };
        for (state, n) in rows {
            match state.as_str() {
                "sent" => report.delivered += n,
                "blocked" => report.blocked += n,
                "failed" => report.failed += n,
                _ => report.pending += n,
            }
        }
        Ok(Some(report))
    }
}
