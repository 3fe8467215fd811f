//! The SQL of [`AdminQueries`](crate::store::AdminQueries).

use super::prelude::*;

#[async_trait]
impl crate::store::AdminQueries for This {
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "stats"))]
    async fn stats(&self, now: DateTime<Utc>, since: DateTime<Utc>) -> Result<crate::store::Stats> {
        let (users, blocked, active): (i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM users),
                    (SELECT COUNT(*) FROM users WHERE bot_blocked = TRUE),
                    (SELECT COUNT(*) FROM subscriptions WHERE status = 'active' AND expires_at > $1)",
        )
        .bind(t(now))
        .fetch_one(self.pool())
        .await?;
        let rows: Vec<(String, String, i64, DbTime)> = sqlx::query_as(
            "SELECT provider, currency, amount, paid_at FROM orders
             WHERE status = 'paid' AND paid_at >= $1 AND provider <> 'balance'",
        )
        .bind(t(since))
        .fetch_all(self.pool())
        .await?;
        let mut sums: std::collections::BTreeMap<(chrono::NaiveDate, String, String), i64> =
            Default::default();
        for (provider, currency, amount, paid_at) in rows {
            *sums
                .entry((paid_at.0.date_naive(), provider, currency))
                .or_default() += amount;
        }
        let mut revenue = Vec::with_capacity(sums.len());
        for ((day, provider, currency), minor) in sums.into_iter().rev() {
            revenue.push(crate::store::Revenue {
                day,
                provider: provider.parse().map_err(corrupt)?,
                amount: crate::domain::Money::new(
                    minor,
                    crate::domain::Currency::new(currency).map_err(corrupt)?,
                ),
            });
        }
        Ok(crate::store::Stats {
            users,
            active,
            blocked,
            revenue,
        })
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "list_users"))]
    async fn list_users(
        &self,
        search: Option<&str>,
        offset: u32,
        limit: u32,
    ) -> Result<crate::store::UserPage> {
        type Row = (
            i64,
            Option<String>,
            Option<String>,
            DbTime,
            Option<String>,
            Option<DbTime>,
        );
        let search = search.map(str::trim).filter(|s| !s.is_empty());
        let id = search.and_then(|s| s.parse::<i64>().ok()).unwrap_or(0);
        let pattern = search.map(|s| {
            let s = s.trim_start_matches('@').to_lowercase();
            let escaped = s
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            format!("%{escaped}%")
        });
        let filter = "($1 IS NULL OR u.telegram_id = $2 OR LOWER(u.username) LIKE $1 ESCAPE '\\'
                      OR u.name_key LIKE $1 ESCAPE '\\')";
        let total: i64 =
            sqlx::query_scalar(&format!("SELECT COUNT(*) FROM users u WHERE {filter}"))
                .bind(pattern.as_deref())
                .bind(id)
                .fetch_one(self.pool())
                .await?;
        let rows: Vec<Row> = sqlx::query_as(&format!(
            "SELECT u.telegram_id, u.username, u.display_name, u.created_at, s.status, s.expires_at
             FROM users u LEFT JOIN subscriptions s ON s.user_id = u.telegram_id
             WHERE {filter}
             ORDER BY u.created_at DESC, u.telegram_id DESC LIMIT $3 OFFSET $4"
        ))
        .bind(pattern.as_deref())
        .bind(id)
        .bind(i64::from(limit))
        .bind(i64::from(offset))
        .fetch_all(self.pool())
        .await?;
        let users = rows
            .into_iter()
            .map(
                |(user, username, display_name, created_at, status, expires_at)| {
                    Ok(crate::store::UserListItem {
                        user: UserId::new(user).map_err(corrupt)?,
                        username,
                        display_name,
                        created_at: created_at.0,
                        status: status.map(|s| s.parse()).transpose().map_err(corrupt)?,
                        expires_at: expires_at.map(|t| t.0),
                    })
                },
            )
            .collect::<Result<_>>()?;
        Ok(crate::store::UserPage { users, total })
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "referral_count", user = %user))]
    async fn referral_count(&self, user: UserId) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE referrer = $1")
                .bind(user.get())
                .fetch_one(self.pool())
                .await?,
        )
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "trial_open", user = %user))]
    async fn trial_open(&self, user: UserId, only_new: bool) -> Result<bool> {
        let closed = sqlx::query(
            "SELECT 1 FROM users WHERE telegram_id = $1
               AND (trial_used_at IS NOT NULL OR banned_at IS NOT NULL)",
        )
        .bind(user.get())
        .fetch_optional(self.pool())
        .await?;
        if closed.is_some() {
            return Ok(false);
        }
        if !only_new {
            return Ok(true);
        }
        // The same orders `start_trial` refuses after.
        let paid = sqlx::query(
            "SELECT 1 FROM orders WHERE user_id = $1 AND kind = 'plan'
               AND status IN ('paid', 'refunded') LIMIT 1",
        )
        .bind(user.get())
        .fetch_optional(self.pool())
        .await?;
        Ok(paid.is_none())
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "recent_audit", user = %user))]
    async fn recent_audit(&self, user: UserId, limit: u32) -> Result<Vec<AuditEntry>> {
        let rows: Vec<AuditRow> = sqlx::query_as(
            "SELECT actor, action, details, created_at FROM audit_log
             WHERE user_id = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(user.get())
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(AuditRow::into_domain).collect())
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "outbox_depth"))]
    async fn outbox_depth(&self) -> Result<OutboxDepth> {
        let (provisioning, notifications, alerts, payment_events): (i64, i64, i64, i64) =
            sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM provisioning_ops WHERE state = 'pending'),
                    (SELECT COUNT(*) FROM notifications WHERE state = 'pending'),
                    (SELECT COUNT(*) FROM alerts WHERE state = 'pending'),
                    (SELECT COUNT(*) FROM webhook_events WHERE finished_at IS NULL)",
            )
            .fetch_one(self.pool())
            .await?;
        Ok(OutboxDepth {
            provisioning,
            notifications,
            alerts,
            payment_events,
        })
    }
}
