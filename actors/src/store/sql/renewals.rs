//! The SQL of [`Renewals`](crate::store::Renewals).

use super::prelude::*;

#[async_trait]
impl crate::store::Renewals for This {
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "auto_renew_plan", user = %user))]
    async fn auto_renew_plan(&self, user: UserId) -> Result<Option<String>> {
        let plan: Option<Option<String>> =
            sqlx::query_scalar("SELECT auto_renew_plan FROM users WHERE telegram_id = $1")
                .bind(user.get())
                .fetch_optional(self.pool())
                .await?;
        Ok(plan.flatten())
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "set_auto_renew", user = %user))]
    async fn set_auto_renew(
        &self,
        ctx: &WriteCtx<'_>,
        user: UserId,
        plan: Option<&str>,
    ) -> Result<Change> {
        let mut w = self.begin_user_write(user).await?;
        ensure_user(&mut w.tx, user, ctx.now).await?;
        // Guarded: only a real change is written and audited.
        let applied = sqlx::query(
            "UPDATE users SET auto_renew_plan = $1
             WHERE telegram_id = $2 AND COALESCE(auto_renew_plan, '') <> COALESCE($1, '')",
        )
        .bind(plan)
        .bind(user.get())
        .execute(&mut *w.tx)
        .await?
        .rows_affected()
            == 1;
        if applied {
            audit(
                &mut w.tx,
                ctx,
                user,
                "set_auto_renew",
                json!({ "plan": plan, "on": plan.is_some() }),
            )
            .await?;
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
        fields(op = "due_auto_renewals")
    )]
    async fn due_auto_renewals(
        &self,
        now: DateTime<Utc>,
        horizon: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<crate::store::DueRenewal>> {
        let rows: Vec<(i64, String, DbTime)> = sqlx::query_as(
            "SELECT u.telegram_id, u.auto_renew_plan, s.expires_at
             FROM users u JOIN subscriptions s ON s.user_id = u.telegram_id
             WHERE u.auto_renew_plan IS NOT NULL AND u.banned_at IS NULL
               AND s.status = 'active' AND s.expires_at > $1 AND s.expires_at <= $2
               AND NOT EXISTS (SELECT 1 FROM auto_renew_reminders r
                               WHERE r.user_id = u.telegram_id AND r.period_end = s.expires_at
                                 AND (r.amount IS NULL OR u.balance < r.amount))
             ORDER BY s.expires_at LIMIT $3",
        )
        .bind(t(now))
        .bind(t(horizon))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|(user, plan, at)| {
                Ok(crate::store::DueRenewal {
                    user: UserId::new(user).map_err(corrupt)?,
                    plan,
                    period_end: at.0,
                })
            })
            .collect()
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "remind_auto_renew", user = %user))]
    async fn remind_auto_renew(
        &self,
        ctx: &WriteCtx<'_>,
        user: UserId,
        period_end: DateTime<Utc>,
        short: Option<&crate::domain::Money>,
        reason: &str,
    ) -> Result<Change> {
        let mut w = self.begin_user_write(user).await?;
        let plan: Option<Option<String>> = sqlx::query_scalar(
            "SELECT auto_renew_plan FROM users WHERE telegram_id = $1 AND banned_at IS NULL",
        )
        .bind(user.get())
        .fetch_optional(&mut *w.tx)
        .await?;
        let sub = read_sub(&mut w.tx, user).await?;
        let current = plan.flatten().is_some()
            && sub.is_some_and(|s| {
                s.status == SubscriptionStatus::Active.as_str()
                    && s.expires_at == DbTime(period_end)
            });
        let mut applied = false;
        if current {
            applied = sqlx::query(
                "INSERT INTO auto_renew_reminders (user_id, period_end, amount, reason, created_at)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (user_id, period_end) DO NOTHING",
            )
            .bind(user.get())
            .bind(t(period_end))
            .bind(short.map(|m| m.minor))
            .bind(reason)
            .bind(t(ctx.now))
            .execute(&mut *w.tx)
            .await?
            .rows_affected()
                == 1;
            if applied {
                let balance = read_balance(&mut w.tx, user).await?;
                notify(
                    &mut w.tx,
                    ctx,
                    user,
                    NotificationKind::AutoRenewFailed,
                    json!({
                        "expires_at": period_end,
                        "reason": reason,
                        "price": short,
                        "balance": short.map(|m| crate::domain::Money::new(balance, m.currency.clone())),
                    }),
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
}

/// The "renewed from the balance" message of a paid auto-renewal order, in
/// the payment's transaction (the `extended` notice of the same extension
/// carries `origin = "auto_renew"` and is not sent).
pub(super) async fn notify_renewed(
    conn: &mut Conn,
    ctx: &WriteCtx<'_>,
    user: UserId,
    order: &Order,
) -> Result<()> {
    let balance = read_balance(conn, user).await?;
    let expires_at = read_sub(conn, user).await?.map(|s| s.expires_at.0);
    notify(
        conn,
        ctx,
        user,
        NotificationKind::AutoRenewed,
        json!({
            "plan": order.plan,
            "days": order.days,
            "price": order.amount,
            "balance": crate::domain::Money::new(balance, order.amount.currency.clone()),
            "expires_at": expires_at,
        }),
    )
    .await
}

/// Whether the order is an auto-renewal (its idempotency key names a period).
pub(super) async fn is_auto_renewal(conn: &mut Conn, order: OrderId) -> Result<bool> {
    let key: Option<Option<String>> =
        sqlx::query_scalar("SELECT idempotency_key FROM orders WHERE id = $1")
            .bind(order.uuid())
            .fetch_optional(&mut *conn)
            .await?;
    Ok(crate::store::is_auto_renew_key(key.flatten().as_deref()))
}
