//! The SQL of [`Traffic`](crate::store::Traffic), and the traffic steps other
//! writes share (a plan's allowance, a pack, lifting a limit).

use super::prelude::*;
use crate::domain::{
    TrafficAllowance, TrafficReset, TrafficState, level, next_reset, parse_key_email,
};
use crate::store::{CounterReading, Recorded, TrafficTotals};

/// The traffic columns of `subscriptions`, in [`TrafficRow`]'s order.
const TRAFFIC_COLUMNS: &str = "traffic_allowance_bytes, traffic_extra_bytes, traffic_reset, \
     period_started_at, period_ends_at, period_upload_bytes, period_download_bytes, \
     traffic_notified, limited_at";

#[derive(sqlx::FromRow)]
struct TrafficRow {
    traffic_allowance_bytes: i64,
    traffic_extra_bytes: i64,
    traffic_reset: String,
    period_started_at: Option<DbTime>,
    period_ends_at: Option<DbTime>,
    period_upload_bytes: i64,
    period_download_bytes: i64,
    traffic_notified: i64,
    limited_at: Option<DbTime>,
}

impl TrafficRow {
    fn into_domain(self) -> Result<(TrafficState, u8)> {
        let bytes = |v: i64| u64::try_from(v).map_err(corrupt);
        Ok((
            TrafficState {
                allowance_bytes: bytes(self.traffic_allowance_bytes)?,
                extra_bytes: bytes(self.traffic_extra_bytes)?,
                reset: self.traffic_reset.parse().map_err(corrupt)?,
                period_started_at: self.period_started_at.map(|t| t.0),
                period_ends_at: self.period_ends_at.map(|t| t.0),
                upload_bytes: bytes(self.period_upload_bytes)?,
                download_bytes: bytes(self.period_download_bytes)?,
                limited_at: self.limited_at.map(|t| t.0),
            },
            u8::try_from(self.traffic_notified).unwrap_or(100),
        ))
    }
}

fn to_i64(v: u64, what: &'static str) -> Result<i64> {
    i64::try_from(v).map_err(|_| Error::invalid(what, format!("{v} is out of range")))
}

pub(super) async fn read_traffic(
    conn: &mut Conn,
    user: UserId,
) -> Result<Option<(TrafficState, u8)>> {
    let row: Option<TrafficRow> = sqlx::query_as(&format!(
        "SELECT {TRAFFIC_COLUMNS} FROM subscriptions WHERE user_id = $1"
    ))
    .bind(user.get())
    .fetch_optional(&mut *conn)
    .await?;
    row.map(TrafficRow::into_domain).transpose()
}

/// Whether the subscription's access is off for traffic (read in the write).
pub(super) async fn is_traffic_limited(conn: &mut Conn, user: UserId) -> Result<bool> {
    let row =
        sqlx::query("SELECT 1 FROM subscriptions WHERE user_id = $1 AND limited_at IS NOT NULL")
            .bind(user.get())
            .fetch_optional(&mut *conn)
            .await?;
    Ok(row.is_some())
}

/// A plan was applied: its allowance and reset rule become the
/// subscription's. A fresh period starts with `period`, with a changed rule,
/// or coming from unlimited; a plan of the same calendar rule keeps the
/// period (and its usage); with `none` the plan's bytes are added to the
/// allowance. Then a limit is lifted if the usage fits.
pub(super) async fn apply_plan_traffic(
    conn: &mut Conn,
    ctx: &WriteCtx<'_>,
    user: UserId,
    allowance: Option<TrafficAllowance>,
) -> Result<Vec<ProvisioningOp>> {
    let Some((current, _)) = read_traffic(conn, user).await? else {
        return Ok(Vec::new());
    };
    let (bytes, reset) = allowance.map_or((0, TrafficReset::None), |a| (a.bytes, a.reset));
    let fresh = bytes == 0
        || reset == TrafficReset::Period
        || reset != current.reset
        || current.allowance_bytes == 0;
    if fresh {
        sqlx::query(
            "UPDATE subscriptions SET traffic_allowance_bytes = $1, traffic_reset = $2,
                    traffic_extra_bytes = 0, period_started_at = $3, period_ends_at = $4,
                    period_upload_bytes = 0, period_download_bytes = 0, traffic_notified = 0
             WHERE user_id = $5",
        )
        .bind(to_i64(bytes, "traffic_bytes")?)
        .bind(reset.as_str())
        .bind(t(ctx.now))
        .bind(next_reset(reset, ctx.now).map(t))
        .bind(user.get())
        .execute(&mut *conn)
        .await?;
    } else {
        // A calendar rule keeps its period and takes the plan's allowance;
        // `none` (one allowance for the subscription's life) grows by it.
        let allowance = if reset == TrafficReset::None {
            current.allowance_bytes.saturating_add(bytes)
        } else {
            bytes
        };
        sqlx::query("UPDATE subscriptions SET traffic_allowance_bytes = $1 WHERE user_id = $2")
            .bind(to_i64(allowance, "traffic_bytes")?)
            .bind(user.get())
            .execute(&mut *conn)
            .await?;
    }
    lift_limit(conn, ctx, user).await
}

/// A pack was applied: `bytes` more for the current period; a limit is
/// lifted if the usage fits now.
pub(super) async fn apply_pack(
    conn: &mut Conn,
    ctx: &WriteCtx<'_>,
    user: UserId,
    bytes: u64,
) -> Result<Vec<ProvisioningOp>> {
    sqlx::query(
        "UPDATE subscriptions SET traffic_extra_bytes = traffic_extra_bytes + $1 WHERE user_id = $2",
    )
    .bind(to_i64(bytes, "traffic_bytes")?)
    .bind(user.get())
    .execute(&mut *conn)
    .await?;
    lift_limit(conn, ctx, user).await
}

/// A refunded pack: its bytes leave the current period (never below zero).
/// A subscription now past its allowance is limited by the next collection.
/// A pack paid before the current period began was already dropped with
/// its period: nothing is taken from packs bought since.
pub(super) async fn take_back_pack(
    conn: &mut Conn,
    user: UserId,
    bytes: u64,
    paid_at: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "UPDATE subscriptions
         SET traffic_extra_bytes = CASE WHEN traffic_extra_bytes > $1
                                        THEN traffic_extra_bytes - $1 ELSE 0 END
         WHERE user_id = $2 AND (period_started_at IS NULL OR period_started_at <= $3)",
    )
    .bind(to_i64(bytes, "traffic_bytes")?)
    .bind(user.get())
    .bind(t(paid_at))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Clears `limited` if the usage fits the allowance now (guarded in the
/// statement) and, for a live subscription, puts its keys back on the nodes.
pub(super) async fn lift_limit(
    conn: &mut Conn,
    ctx: &WriteCtx<'_>,
    user: UserId,
) -> Result<Vec<ProvisioningOp>> {
    let lifted: Option<(String, DbTime)> = sqlx::query_as(
        "UPDATE subscriptions SET limited_at = NULL, version = version + 1, updated_at = $1
         WHERE user_id = $2 AND limited_at IS NOT NULL
           AND (traffic_allowance_bytes = 0
                OR period_upload_bytes + period_download_bytes
                   < traffic_allowance_bytes + traffic_extra_bytes)
         RETURNING status, expires_at",
    )
    .bind(t(ctx.now))
    .bind(user.get())
    .fetch_optional(&mut *conn)
    .await?;
    let Some((status, expires_at)) = lifted else {
        return Ok(Vec::new());
    };
    let mut ops = Vec::new();
    if status == SubscriptionStatus::Active.as_str() && expires_at.0 > ctx.now {
        for key in user_keys(conn, user).await?.active() {
            ops.extend(write_ops(conn, ctx, user, key, OpKind::Add).await?);
        }
        notify(
            conn,
            ctx,
            user,
            NotificationKind::TrafficRestored,
            json!({}),
        )
        .await?;
    }
    audit(conn, ctx, user, "traffic_unlimited", json!({})).await?;
    Ok(ops)
}

/// Sends the notice of the highest level reached, once per period (the
/// guard `traffic_notified < level` is in the statement).
async fn notify_level(conn: &mut Conn, now: DateTime<Utc>, user: UserId) -> Result<()> {
    let Some((state, notified)) = read_traffic(conn, user).await? else {
        return Ok(());
    };
    let reached = level(state.used(), state.total());
    if reached <= notified {
        return Ok(());
    }
    let claimed = sqlx::query(
        "UPDATE subscriptions SET traffic_notified = $1 WHERE user_id = $2 AND traffic_notified < $1",
    )
    .bind(i64::from(reached))
    .bind(user.get())
    .execute(&mut *conn)
    .await?;
    if claimed.rows_affected() == 1 {
        let kind = if reached >= 100 {
            NotificationKind::TrafficExhausted
        } else {
            NotificationKind::TrafficLow
        };
        let ctx = WriteCtx {
            now,
            by: crate::domain::Principal::System,
            nodes: &[],
        };
        let payload = json!({
            "used": state.used(), "total": state.total(), "resets_at": state.period_ends_at,
        });
        notify(conn, &ctx, user, kind, payload).await?;
    }
    Ok(())
}

#[async_trait]
impl crate::store::Traffic for This {
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "record_traffic", node = %node))]
    async fn record_traffic(
        &self,
        node: &crate::domain::NodeName,
        readings: &[CounterReading],
        now: DateTime<Utc>,
    ) -> Result<Recorded> {
        // One order for every collector (by user, then key): two transactions
        // touching the same users lock their rows in the same order.
        let mut keyed: Vec<(UserId, i64, String, u64, u64)> = readings
            .iter()
            .filter_map(|(email, up, down)| {
                let (user, seq) = parse_key_email(email)?;
                Some((user, seq, email.to_ascii_lowercase(), *up, *down))
            })
            .collect();
        keyed.sort_by_key(|(user, seq, ..)| (user.get(), *seq));
        let mut recorded = Recorded::default();
        if keyed.is_empty() {
            return Ok(recorded);
        }
        let mut w = self.begin_write().await?;
        let mut touched: Vec<UserId> = Vec::new();
        for (user, _, email, up, down) in &keyed {
            let (up_i, down_i) = (to_i64(*up, "uplink")?, to_i64(*down, "downlink")?);
            let stored: Option<(i64, i64, DbTime)> = sqlx::query_as(
                "SELECT upload_bytes, download_bytes, updated_at FROM traffic_counters
                 WHERE node = $1 AND email = $2",
            )
            .bind(node.as_str())
            .bind(email)
            .fetch_optional(&mut *w.tx)
            .await?;
            // A baseline from a reading taken after ours (another collector,
            // around a leadership handover): ours is stale, and its lower
            // counters are no node restart.
            if stored.as_ref().is_some_and(|(_, _, at)| at.0 > now) {
                continue;
            }
            let last = stored.map(|(u, d, _)| (u, d));
            let last_u =
                last.map(|(u, d)| (u64::try_from(u).unwrap_or(0), u64::try_from(d).unwrap_or(0)));
            let (du, dd) = crate::domain::counter_delta(last_u, (*up, *down));
            let moved = match last {
                None => sqlx::query(
                    "INSERT INTO traffic_counters (node, email, upload_bytes, download_bytes, updated_at)
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (node, email) DO NOTHING",
                )
                .bind(node.as_str())
                .bind(email)
                .bind(up_i)
                .bind(down_i)
                .bind(t(now))
                .execute(&mut *w.tx)
                .await?
                .rows_affected(),
                Some(_) if last_u == Some((*up, *down)) => continue,
                Some((old_u, old_d)) => sqlx::query(
                    "UPDATE traffic_counters SET upload_bytes = $1, download_bytes = $2, updated_at = $3
                     WHERE node = $4 AND email = $5 AND upload_bytes = $6 AND download_bytes = $7",
                )
                .bind(up_i)
                .bind(down_i)
                .bind(t(now))
                .bind(node.as_str())
                .bind(email)
                .bind(old_u)
                .bind(old_d)
                .execute(&mut *w.tx)
                .await?
                .rows_affected(),
            };
            if moved != 1 {
                // Another collector counted this reading (or a newer one)
                // since we read the baseline: it is theirs.
                continue;
            }
            if du == 0 && dd == 0 {
                continue;
            }
            let (du_i, dd_i) = (to_i64(du, "uplink")?, to_i64(dd, "downlink")?);
            sqlx::query(
                "UPDATE subscriptions SET period_upload_bytes = period_upload_bytes + $1,
                        period_download_bytes = period_download_bytes + $2
                 WHERE user_id = $3",
            )
            .bind(du_i)
            .bind(dd_i)
            .bind(user.get())
            .execute(&mut *w.tx)
            .await?;
            sqlx::query(
                "UPDATE keys SET upload_bytes = upload_bytes + $1, download_bytes = download_bytes + $2
                 WHERE email = $3",
            )
            .bind(du_i)
            .bind(dd_i)
            .bind(email)
            .execute(&mut *w.tx)
            .await?;
            recorded.keys += 1;
            recorded.bytes = recorded.bytes.saturating_add(du).saturating_add(dd);
            if touched.last() != Some(user) {
                touched.push(*user);
            }
        }
        for user in &touched {
            notify_level(&mut w.tx, now, *user).await?;
        }
        if recorded.bytes > 0 {
            sqlx::query(
                "INSERT INTO traffic_days (day, bytes) VALUES ($1, $2)
                 ON CONFLICT (day) DO UPDATE SET bytes = traffic_days.bytes + excluded.bytes",
            )
            .bind(now.format("%Y-%m-%d").to_string())
            .bind(to_i64(recorded.bytes, "bytes")?)
            .execute(&mut *w.tx)
            .await?;
        }
        w.tx.commit().await?;
        Ok(recorded)
    }

    #[tracing::instrument(
        level = "debug",
        name = "store",
        skip_all,
        fields(op = "over_allowance")
    )]
    async fn over_allowance(&self, limit: u32) -> Result<Vec<UserId>> {
        let rows: Vec<i64> = sqlx::query_scalar(
            "SELECT user_id FROM subscriptions
             WHERE status = 'active' AND limited_at IS NULL AND traffic_allowance_bytes > 0
               AND period_upload_bytes + period_download_bytes
                   >= traffic_allowance_bytes + traffic_extra_bytes
             ORDER BY user_id LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|u| UserId::new(u).map_err(corrupt))
            .collect()
    }

    #[tracing::instrument(
        level = "debug",
        name = "store",
        skip_all,
        fields(op = "due_traffic_periods")
    )]
    async fn due_traffic_periods(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<UserId>> {
        let rows: Vec<i64> = sqlx::query_scalar(
            "SELECT user_id FROM subscriptions
             WHERE period_ends_at IS NOT NULL AND period_ends_at <= $1
             ORDER BY period_ends_at LIMIT $2",
        )
        .bind(t(now))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|u| UserId::new(u).map_err(corrupt))
            .collect()
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "traffic_state", user = %user))]
    async fn traffic_state(&self, user: UserId) -> Result<Option<TrafficState>> {
        let mut conn = self.pool().acquire().await?;
        Ok(read_traffic(&mut conn, user).await?.map(|(s, _)| s))
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "limit_traffic", user = %user))]
    async fn limit_traffic(&self, ctx: &WriteCtx<'_>, user: UserId) -> Result<Change> {
        let mut w = self.begin_user_write(user).await?;
        let done = sqlx::query(
            "UPDATE subscriptions SET limited_at = $1, version = version + 1, updated_at = $1
             WHERE user_id = $2 AND status = 'active' AND limited_at IS NULL
               AND traffic_allowance_bytes > 0
               AND period_upload_bytes + period_download_bytes
                   >= traffic_allowance_bytes + traffic_extra_bytes",
        )
        .bind(t(ctx.now))
        .bind(user.get())
        .execute(&mut *w.tx)
        .await?;
        let applied = done.rows_affected() == 1;
        let mut ops = Vec::new();
        if applied {
            ops = remove_access(&mut w.tx, ctx, user).await?;
            audit(&mut w.tx, ctx, user, "traffic_limited", json!({})).await?;
        }
        let snapshot = read_user(&mut w.tx, user)
            .await?
            .ok_or(Error::NoSubscription(user))?;
        w.tx.commit().await?;
        Ok(Change {
            applied,
            snapshot,
            ops,
        })
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "roll_traffic_period", user = %user))]
    async fn roll_traffic_period(&self, ctx: &WriteCtx<'_>, user: UserId) -> Result<Change> {
        let mut w = self.begin_user_write(user).await?;
        let mut applied = false;
        let mut ops = Vec::new();
        if let Some((state, _)) = read_traffic(&mut w.tx, user).await? {
            let done = sqlx::query(
                "UPDATE subscriptions SET period_started_at = $1, period_ends_at = $2,
                        period_upload_bytes = 0, period_download_bytes = 0,
                        traffic_extra_bytes = 0, traffic_notified = 0
                 WHERE user_id = $3 AND period_ends_at IS NOT NULL AND period_ends_at <= $1",
            )
            .bind(t(ctx.now))
            .bind(next_reset(state.reset, ctx.now).map(t))
            .bind(user.get())
            .execute(&mut *w.tx)
            .await?;
            applied = done.rows_affected() == 1;
            if applied {
                ops = lift_limit(&mut w.tx, ctx, user).await?;
            }
        }
        let snapshot = read_user(&mut w.tx, user)
            .await?
            .ok_or(Error::NoSubscription(user))?;
        w.tx.commit().await?;
        Ok(Change {
            applied,
            snapshot,
            ops,
        })
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "reset_traffic", user = %user))]
    async fn reset_traffic(
        &self,
        ctx: &WriteCtx<'_>,
        user: UserId,
        reason: &str,
    ) -> Result<Change> {
        let mut w = self.begin_user_write(user).await?;
        let (before, _) = read_traffic(&mut w.tx, user)
            .await?
            .ok_or(Error::NoSubscription(user))?;
        sqlx::query(
            "UPDATE subscriptions SET period_upload_bytes = 0, period_download_bytes = 0,
                    traffic_notified = 0, version = version + 1, updated_at = $1
             WHERE user_id = $2",
        )
        .bind(t(ctx.now))
        .bind(user.get())
        .execute(&mut *w.tx)
        .await?;
        let ops = lift_limit(&mut w.tx, ctx, user).await?;
        audit(
            &mut w.tx,
            ctx,
            user,
            "reset_traffic",
            json!({ "reason": reason, "used": before.used(), "was_limited": before.is_limited() }),
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

    #[tracing::instrument(
        level = "debug",
        name = "store",
        skip_all,
        fields(op = "traffic_totals")
    )]
    async fn traffic_totals(&self, now: DateTime<Utc>) -> Result<TrafficTotals> {
        let limited: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM subscriptions WHERE limited_at IS NOT NULL")
                .fetch_one(self.pool())
                .await?;
        let today = now.format("%Y-%m-%d").to_string();
        let month = now.format("%Y-%m-").to_string();
        let day: Option<i64> = sqlx::query_scalar("SELECT bytes FROM traffic_days WHERE day = $1")
            .bind(&today)
            .fetch_optional(self.pool())
            .await?;
        let days: Vec<i64> =
            sqlx::query_scalar("SELECT bytes FROM traffic_days WHERE day >= $1 AND day <= $2")
                .bind(format!("{month}01"))
                .bind(format!("{month}31"))
                .fetch_all(self.pool())
                .await?;
        let sum = |v: i64| u64::try_from(v).unwrap_or(0);
        Ok(TrafficTotals {
            limited,
            today_bytes: day.map_or(0, sum),
            month_bytes: days.into_iter().map(sum).sum(),
        })
    }
}
