//! Write steps on subscriptions and keys, and the provisioning ops they commit.

use super::prelude::*;

pub(super) async fn ensure_user(conn: &mut Conn, user: UserId, now: DateTime<Utc>) -> Result<()> {
    sqlx::query(
        "INSERT INTO users (telegram_id, created_at) VALUES ($1, $2)
         ON CONFLICT (telegram_id) DO NOTHING",
    )
    .bind(user.get())
    .bind(t(now))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A new active key with sequence number `seq` (see [`UserKeys::next_seq`]).
pub(super) async fn new_key(
    conn: &mut Conn,
    user: UserId,
    seq: i64,
    now: DateTime<Utc>,
) -> Result<KeyRow> {
    let key = KeyRow {
        uuid: Uuid::new_v4(),
        email: key_email(user, seq),
        seq,
        state: KeyState::Active.as_str().to_owned(),
        created_at: t(now),
        upload_bytes: 0,
        download_bytes: 0,
    };
    sqlx::query(
        "INSERT INTO keys (user_id, seq, uuid, email, state, created_at)
         VALUES ($1, $2, $3, $4, 'active', $5)",
    )
    .bind(user.get())
    .bind(key.seq)
    .bind(key.uuid)
    .bind(&key.email)
    .bind(key.created_at)
    .execute(&mut *conn)
    .await?;
    Ok(key)
}

/// One outbox row per configured node for `key`.
pub(super) async fn write_ops(
    conn: &mut Conn,
    ctx: &WriteCtx<'_>,
    user: UserId,
    key: &KeyRow,
    kind: OpKind,
) -> Result<Vec<ProvisioningOp>> {
    let mut ops = Vec::with_capacity(ctx.nodes.len());
    for node in ctx.nodes {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO provisioning_ops
               (node, user_id, key_uuid, email, op, state, attempts, next_attempt_at, created_at)
             VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6) RETURNING id",
        )
        .bind(node.as_str())
        .bind(user.get())
        .bind(key.uuid)
        .bind(&key.email)
        .bind(op_kind_of(kind))
        .bind(t(ctx.now))
        .fetch_one(&mut *conn)
        .await?;
        ops.push(ProvisioningOp {
            id,
            node: node.clone(),
            user,
            key_uuid: key.uuid,
            email: key.email.clone(),
            kind,
            attempts: 0,
        });
    }
    Ok(ops)
}

/// Sets status and expiry if nobody changed the row since we read `version`.
pub(super) async fn update_sub(
    conn: &mut Conn,
    ctx: &WriteCtx<'_>,
    user: UserId,
    status: SubscriptionStatus,
    expires_at: DateTime<Utc>,
    version: i64,
) -> Result<()> {
    let done = sqlx::query(
        "UPDATE subscriptions SET status = $1, expires_at = $2, version = version + 1, updated_at = $3
         WHERE user_id = $4 AND version = $5",
    )
    .bind(status.as_str())
    .bind(t(expires_at))
    .bind(t(ctx.now))
    .bind(user.get())
    .bind(version)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 1 {
        Ok(())
    } else {
        Err(Error::Conflict(user))
    }
}

/// The heart of grant, trial and payment: the rule ([`extend`](crate::domain::extend))
/// decides the new expiry, the keys to provision, the notice and the reminders
/// already due; this writes it. `origin` ("payment", "grant", "trial") goes
/// into the notice: the bot shows a trial on the screen the user tapped, and
/// does not send its notice again.
pub(super) async fn extend(
    conn: &mut Conn,
    ctx: &WriteCtx<'_>,
    user: UserId,
    days: u32,
    origin: &str,
) -> Result<Vec<ProvisioningOp>> {
    let (sub, keys) = read_sub_and_keys(conn, user).await?;
    if sub.is_none() {
        // A subscription row implies its user row (foreign key).
        ensure_user(conn, user, ctx.now).await?;
    }
    let current = match &sub {
        Some(s) => Some((s.status.parse().map_err(corrupt)?, s.expires_at.0)),
        None => None,
    };
    let active = keys.active();
    let plan = crate::domain::extend(ctx.now, current, days, active.len());
    match &sub {
        None => {
            sqlx::query(
                "INSERT INTO subscriptions (user_id, status, expires_at, sub_token, version, created_at, updated_at)
                 VALUES ($1, 'active', $2, $3, 0, $4, $4)",
            )
            .bind(user.get())
            .bind(t(plan.expires_at))
            .bind(new_sub_token())
            .bind(t(ctx.now))
            .execute(&mut *conn)
            .await?;
        }
        Some(s) => {
            let active = SubscriptionStatus::Active;
            update_sub(conn, ctx, user, active, plan.expires_at, s.version).await?
        }
    }
    let mut ops = Vec::new();
    // A subscription limited for traffic keeps its keys off the nodes until
    // the limit is lifted (which adds them back).
    let limited = is_traffic_limited(conn, user).await?;
    match plan.keys {
        KeyPlan::Create => {
            let key = new_key(conn, user, keys.next_seq(), ctx.now).await?;
            if !limited {
                ops.extend(write_ops(conn, ctx, user, &key, OpKind::Add).await?);
            }
        }
        KeyPlan::Restore if limited => {}
        KeyPlan::Restore => {
            for key in active {
                ops.extend(write_ops(conn, ctx, user, key, OpKind::Add).await?);
            }
        }
        KeyPlan::Keep => {}
    }
    let payload = json!({ "expires_at": plan.expires_at, "days": days, "origin": origin });
    notify(conn, ctx, user, plan.notification(), payload).await?;
    for reminder in &plan.reminders_done {
        sqlx::query(
            "INSERT INTO reminders (user_id, kind, expires_at, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (user_id, kind, expires_at) DO NOTHING",
        )
        .bind(user.get())
        .bind(reminder.as_str())
        .bind(t(plan.expires_at))
        .bind(t(ctx.now))
        .execute(&mut *conn)
        .await?;
    }
    Ok(ops)
}

/// Remove ops for every active key (the user loses access on all nodes).
pub(super) async fn remove_access(
    conn: &mut Conn,
    ctx: &WriteCtx<'_>,
    user: UserId,
) -> Result<Vec<ProvisioningOp>> {
    let mut ops = Vec::new();
    for key in user_keys(conn, user).await?.active() {
        ops.extend(write_ops(conn, ctx, user, key, OpKind::Remove).await?);
    }
    Ok(ops)
}
