//! The SQL of [`Subscriptions`](crate::store::Subscriptions).

use super::prelude::*;

#[async_trait]
impl crate::store::Subscriptions for This {
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "user", user = %user))]
    async fn user(&self, user: UserId) -> Result<Option<UserSnapshot>> {
        let mut conn = self.pool().acquire().await?;
        read_user(&mut conn, user).await
    }

    #[tracing::instrument(
        level = "debug",
        name = "store",
        skip_all,
        fields(op = "user_by_sub_token")
    )]
    async fn user_by_sub_token(&self, token: &str) -> Result<Option<UserSnapshot>> {
        let mut conn = self.pool().acquire().await?;
        let user: Option<i64> =
            sqlx::query_scalar("SELECT user_id FROM subscriptions WHERE sub_token = $1")
                .bind(token)
                .fetch_optional(&mut *conn)
                .await?;
        match user {
            Some(id) => read_user(&mut conn, UserId::new(id).map_err(corrupt)?).await,
            None => Ok(None),
        }
    }

    #[tracing::instrument(
        level = "debug",
        name = "store",
        skip_all,
        fields(op = "due_expirations")
    )]
    async fn due_expirations(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<DueExpiry>> {
        let rows: Vec<(i64, DbTime)> = sqlx::query_as(
            "SELECT user_id, expires_at FROM subscriptions
             WHERE status = 'active' AND expires_at <= $1
             ORDER BY expires_at LIMIT $2",
        )
        .bind(t(now))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|(user, at)| {
                Ok(DueExpiry {
                    user: UserId::new(user).map_err(corrupt)?,
                    expires_at: at.0,
                })
            })
            .collect()
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "grant_days", user = %user))]
    async fn grant_days(&self, ctx: &WriteCtx<'_>, user: UserId, days: u32) -> Result<Change> {
        let mut w = self.begin_user_write(user).await?;
        let ops = extend(&mut w.tx, ctx, user, days, "grant").await?;
        audit(&mut w.tx, ctx, user, "grant_days", json!({ "days": days })).await?;
        let snapshot = read_committed_user(&mut w.tx, user).await?;
        w.tx.commit().await?;
        Ok(Change {
            applied: true,
            snapshot,
            ops,
        })
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "grant_days_once", user = %user))]
    async fn grant_days_once(
        &self,
        ctx: &WriteCtx<'_>,
        user: UserId,
        days: u32,
        key: &str,
    ) -> Result<Change> {
        let mut w = self.begin_user_write(user).await?;
        let claimed = sqlx::query(
            "INSERT INTO grant_keys (key, user_id, days, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(user.get())
        .bind(i64::from(days))
        .bind(t(ctx.now))
        .execute(&mut *w.tx)
        .await?;
        if claimed.rows_affected() != 1 {
            let snapshot = read_committed_user(&mut w.tx, user).await?;
            w.tx.commit().await?;
            return Ok(Change {
                applied: false,
                snapshot,
                ops: Vec::new(),
            });
        }
        let ops = extend(&mut w.tx, ctx, user, days, "grant").await?;
        audit(&mut w.tx, ctx, user, "grant_days", json!({ "days": days })).await?;
        let snapshot = read_committed_user(&mut w.tx, user).await?;
        w.tx.commit().await?;
        Ok(Change {
            applied: true,
            snapshot,
            ops,
        })
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "revoke", user = %user))]
    async fn revoke(&self, ctx: &WriteCtx<'_>, user: UserId) -> Result<Change> {
        let mut w = self.begin_user_write(user).await?;
        let sub = read_sub(&mut w.tx, user)
            .await?
            .ok_or(Error::NoSubscription(user))?;
        let status: SubscriptionStatus = sub.status.parse().map_err(corrupt)?;
        let mut ops = Vec::new();
        let applied = status != SubscriptionStatus::Revoked;
        if applied {
            update_sub(
                &mut w.tx,
                ctx,
                user,
                SubscriptionStatus::Revoked,
                ctx.now.min(sub.expires_at.0),
                sub.version,
            )
            .await?;
            if status == SubscriptionStatus::Active {
                ops = remove_access(&mut w.tx, ctx, user).await?;
            }
            notify(&mut w.tx, ctx, user, NotificationKind::Revoked, json!({})).await?;
            audit(
                &mut w.tx,
                ctx,
                user,
                "revoke",
                json!({ "previous_status": status, "previous_expires_at": sub.expires_at.0 }),
            )
            .await?;
        }
        let snapshot = read_committed_user(&mut w.tx, user).await?;
        w.tx.commit().await?;
        Ok(Change {
            applied,
            snapshot,
            ops,
        })
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "reissue", user = %user))]
    async fn reissue(&self, ctx: &WriteCtx<'_>, user: UserId) -> Result<Change> {
        let mut w = self.begin_user_write(user).await?;
        let sub = read_sub(&mut w.tx, user)
            .await?
            .ok_or(Error::NoSubscription(user))?;
        let live = sub.status == SubscriptionStatus::Active.as_str() && sub.expires_at.0 > ctx.now;
        if !live {
            return Err(Error::NotActive(user));
        }
        // Bump the version: another instance racing on this user fails its guard.
        update_sub(
            &mut w.tx,
            ctx,
            user,
            SubscriptionStatus::Active,
            sub.expires_at.0,
            sub.version,
        )
        .await?;
        let keys = user_keys(&mut w.tx, user).await?;
        let old = keys.active();
        let new = new_key(&mut w.tx, user, keys.next_seq(), ctx.now).await?;
        // Add the new key before removing the old one: ops run in id order.
        // A subscription limited for traffic gets its new key when the limit
        // is lifted, not now.
        let mut ops = if is_traffic_limited(&mut w.tx, user).await? {
            Vec::new()
        } else {
            write_ops(&mut w.tx, ctx, user, &new, OpKind::Add).await?
        };
        for key in &old {
            sqlx::query("UPDATE keys SET state = 'retired', retired_at = $1 WHERE uuid = $2")
                .bind(t(ctx.now))
                .bind(key.uuid)
                .execute(&mut *w.tx)
                .await?;
            ops.extend(write_ops(&mut w.tx, ctx, user, key, OpKind::Remove).await?);
        }
        notify(
            &mut w.tx,
            ctx,
            user,
            NotificationKind::Reissued,
            // Asked for by the user: the bot's screen already says so.
            json!({
                "email": new.email,
                "by_user": ctx.by == crate::domain::Principal::User(user),
            }),
        )
        .await?;
        audit(
            &mut w.tx,
            ctx,
            user,
            "reissue",
            json!({
                "new_key": new.email,
                "retired": old.iter().map(|k| k.email.as_str()).collect::<Vec<_>>(),
            }),
        )
        .await?;
        let snapshot = read_committed_user(&mut w.tx, user).await?;
        w.tx.commit().await?;
        Ok(Change {
            applied: true,
            snapshot,
            ops,
        })
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "expire", user = %user))]
    async fn expire(&self, ctx: &WriteCtx<'_>, user: UserId) -> Result<Change> {
        let mut w = self.begin_user_write(user).await?;
        // The guard lives in the statement itself: a renewal committed a
        // moment ago moved expires_at into the future and this matches nothing.
        let done = sqlx::query(
            "UPDATE subscriptions SET status = 'expired', version = version + 1, updated_at = $1
             WHERE user_id = $2 AND status = 'active' AND expires_at <= $1",
        )
        .bind(t(ctx.now))
        .bind(user.get())
        .execute(&mut *w.tx)
        .await?;
        let applied = done.rows_affected() == 1;
        let mut ops = Vec::new();
        if applied {
            ops = remove_access(&mut w.tx, ctx, user).await?;
            notify(&mut w.tx, ctx, user, NotificationKind::Expired, json!({})).await?;
            audit(&mut w.tx, ctx, user, "expire", json!({})).await?;
        }
        let snapshot = read_user(&mut w.tx, user).await?;
        w.tx.commit().await?;
        let snapshot = snapshot.ok_or(Error::NoSubscription(user))?;
        Ok(Change {
            applied,
            snapshot,
            ops,
        })
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "start_trial", user = %user))]
    async fn start_trial(
        &self,
        ctx: &WriteCtx<'_>,
        user: UserId,
        days: u32,
        only_new: bool,
    ) -> Result<Change> {
        let mut w = self.begin_user_write(user).await?;
        ensure_user(&mut w.tx, user, ctx.now).await?;
        if is_banned(&mut w.tx, user).await? {
            return Err(Error::Banned(user));
        }
        if only_new {
            let paid = sqlx::query(
                "SELECT 1 FROM orders WHERE user_id = $1 AND kind = 'plan'
                   AND status IN ('paid', 'refunded') LIMIT 1",
            )
            .bind(user.get())
            .fetch_optional(&mut *w.tx)
            .await?;
            if paid.is_some() {
                return Err(Error::TrialAfterPayment(user));
            }
        }
        let claimed = sqlx::query(
            "UPDATE users SET trial_used_at = $1 WHERE telegram_id = $2 AND trial_used_at IS NULL",
        )
        .bind(t(ctx.now))
        .bind(user.get())
        .execute(&mut *w.tx)
        .await?;
        if claimed.rows_affected() != 1 {
            return Err(Error::TrialAlreadyUsed(user));
        }
        let ops = extend(&mut w.tx, ctx, user, days, "trial").await?;
        audit(&mut w.tx, ctx, user, "start_trial", json!({ "days": days })).await?;
        let snapshot = read_committed_user(&mut w.tx, user).await?;
        w.tx.commit().await?;
        Ok(Change {
            applied: true,
            snapshot,
            ops,
        })
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "set_banned", user = %user))]
    async fn set_banned(&self, ctx: &WriteCtx<'_>, user: UserId, banned: bool) -> Result<Change> {
        let mut w = self.begin_user_write(user).await?;
        ensure_user(&mut w.tx, user, ctx.now).await?;
        let done = if banned {
            sqlx::query(
                "UPDATE users SET banned_at = $1 WHERE telegram_id = $2 AND banned_at IS NULL",
            )
            .bind(t(ctx.now))
            .bind(user.get())
            .execute(&mut *w.tx)
            .await?
        } else {
            sqlx::query("UPDATE users SET banned_at = NULL WHERE telegram_id = $1 AND banned_at IS NOT NULL")
                .bind(user.get())
                .execute(&mut *w.tx)
                .await?
        };
        let applied = done.rows_affected() == 1;
        if applied {
            let action = if banned { "ban" } else { "unban" };
            audit(&mut w.tx, ctx, user, action, json!({})).await?;
        }
        let snapshot = read_committed_user(&mut w.tx, user).await?;
        w.tx.commit().await?;
        Ok(Change {
            applied,
            snapshot,
            ops: Vec::new(),
        })
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "rotate_sub_token", user = %user))]
    async fn rotate_sub_token(&self, ctx: &WriteCtx<'_>, user: UserId) -> Result<Change> {
        let mut w = self.begin_user_write(user).await?;
        let sub = read_sub(&mut w.tx, user)
            .await?
            .ok_or(Error::NoSubscription(user))?;
        let done = sqlx::query(
            "UPDATE subscriptions SET sub_token = $1, version = version + 1, updated_at = $2
             WHERE user_id = $3 AND version = $4",
        )
        .bind(new_sub_token())
        .bind(t(ctx.now))
        .bind(user.get())
        .bind(sub.version)
        .execute(&mut *w.tx)
        .await?;
        if done.rows_affected() != 1 {
            return Err(Error::Conflict(user));
        }
        audit(&mut w.tx, ctx, user, "rotate_sub_token", json!({})).await?;
        let snapshot = read_committed_user(&mut w.tx, user).await?;
        w.tx.commit().await?;
        Ok(Change {
            applied: true,
            snapshot,
            ops: Vec::new(),
        })
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "touch_user", user = %user))]
    async fn touch_user(
        &self,
        ctx: &WriteCtx<'_>,
        user: UserId,
        profile: &crate::store::Profile,
    ) -> Result<(bool, UserSnapshot)> {
        let mut w = self.begin_user_write(user).await?;
        let referrer = profile.referrer.filter(|r| *r != user).map(|r| r.get());
        // Searched by substring, lowercased here (SQLite's LOWER is ASCII only).
        let name_key = profile.display_name.as_deref().map(str::to_lowercase);
        let created = sqlx::query(
            "INSERT INTO users (telegram_id, created_at, username, language, referrer, display_name, name_key)
             VALUES ($1, $2, $3, $4, (SELECT telegram_id FROM users WHERE telegram_id = $5), $6, $7)
             ON CONFLICT (telegram_id) DO NOTHING",
        )
        .bind(user.get())
        .bind(t(ctx.now))
        .bind(profile.username.as_deref())
        .bind(profile.language_code.as_deref())
        .bind(referrer)
        .bind(profile.display_name.as_deref())
        .bind(name_key.as_deref())
        .execute(&mut *w.tx)
        .await?
        .rows_affected()
            == 1;
        if created {
            audit(
                &mut w.tx,
                ctx,
                user,
                "first_contact",
                json!({ "referrer": referrer }),
            )
            .await?;
        } else {
            // Talking to us again means the bot is not blocked (any more).
            sqlx::query(
                "UPDATE users SET username = $1, language = COALESCE(language, $2), bot_blocked = FALSE,
                                  display_name = $4, name_key = $5
                 WHERE telegram_id = $3",
            )
            .bind(profile.username.as_deref())
            .bind(profile.language_code.as_deref())
            .bind(user.get())
            .bind(profile.display_name.as_deref())
            .bind(name_key.as_deref())
            .execute(&mut *w.tx)
            .await?;
        }
        let snapshot = read_committed_user(&mut w.tx, user).await?;
        w.tx.commit().await?;
        Ok((created, snapshot))
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "set_language", user = %user))]
    async fn set_language(
        &self,
        ctx: &WriteCtx<'_>,
        user: UserId,
        language: &str,
    ) -> Result<Change> {
        let mut w = self.begin_user_write(user).await?;
        ensure_user(&mut w.tx, user, ctx.now).await?;
        sqlx::query("UPDATE users SET language = $1 WHERE telegram_id = $2")
            .bind(language)
            .bind(user.get())
            .execute(&mut *w.tx)
            .await?;
        let snapshot = read_committed_user(&mut w.tx, user).await?;
        w.tx.commit().await?;
        Ok(Change {
            applied: true,
            snapshot,
            ops: Vec::new(),
        })
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "set_bot_blocked", user = %user))]
    async fn set_bot_blocked(&self, user: UserId, blocked: bool, now: DateTime<Utc>) -> Result<()> {
        let mut w = self.begin_user_write(user).await?;
        sqlx::query("UPDATE users SET bot_blocked = $1 WHERE telegram_id = $2")
            .bind(blocked)
            .bind(user.get())
            .execute(&mut *w.tx)
            .await?;
        if blocked {
            sqlx::query(
                "UPDATE notifications SET state = 'failed', last_error = $1, sent_at = $2
                 WHERE user_id = $3 AND state = 'pending'",
            )
            .bind(crate::store::BLOCKED)
            .bind(t(now))
            .bind(user.get())
            .execute(&mut *w.tx)
            .await?;
        }
        w.tx.commit().await?;
        Ok(())
    }
}

/// Whether `user` is banned (`/ban`), read inside the write.
pub(super) async fn is_banned(conn: &mut Conn, user: UserId) -> Result<bool> {
    let row = sqlx::query("SELECT 1 FROM users WHERE telegram_id = $1 AND banned_at IS NOT NULL")
        .bind(user.get())
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.is_some())
}
