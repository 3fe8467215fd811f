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

pub(super) async fn new_key(conn: &mut Conn, user: UserId, now: DateTime<Utc>) -> Result<KeyRow> {
    let last: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM keys WHERE user_id = $1")
        .bind(user.get())
        .fetch_one(&mut *conn)
        .await?;
    let key = KeyRow {
        uuid: Uuid::new_v4(),
        email: key_email(user, last + 1),
        seq: last + 1,
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

/// The heart of grant, trial and payment: extend from `max(now, expires_at)`,
/// make sure an active key exists, and provision it if it was not live.
pub(super) async fn extend(
    conn: &mut Conn,
    ctx: &WriteCtx<'_>,
    user: UserId,
    days: u32,
) -> Result<Vec<ProvisioningOp>> {
    ensure_user(conn, user, ctx.now).await?;
    let sub = read_sub(conn, user).await?;
    let was_active = sub
        .as_ref()
        .is_some_and(|s| s.status == SubscriptionStatus::Active.as_str());
    let expires_at = extended_expiry(ctx.now, sub.as_ref().map(|s| s.expires_at.0), days);
    match &sub {
        None => {
            sqlx::query(
                "INSERT INTO subscriptions (user_id, status, expires_at, sub_token, version, created_at, updated_at)
                 VALUES ($1, 'active', $2, $3, 0, $4, $4)",
            )
            .bind(user.get())
            .bind(t(expires_at))
            .bind(new_sub_token())
            .bind(t(ctx.now))
            .execute(&mut *conn)
            .await?;
        }
        Some(s) => {
            update_sub(
                conn,
                ctx,
                user,
                SubscriptionStatus::Active,
                expires_at,
                s.version,
            )
            .await?
        }
    }
    let mut ops = Vec::new();
    let keys = active_keys(conn, user).await?;
    if keys.is_empty() {
        let key = new_key(conn, user, ctx.now).await?;
        ops.extend(write_ops(conn, ctx, user, &key, OpKind::Add).await?);
    } else if !was_active {
        for key in &keys {
            ops.extend(write_ops(conn, ctx, user, key, OpKind::Add).await?);
        }
    }
    let kind = if was_active {
        NotificationKind::Extended
    } else {
        NotificationKind::Activated
    };
    notify(
        conn,
        ctx,
        user,
        kind,
        json!({ "expires_at": expires_at, "days": days }),
    )
    .await?;
    // A reminder whose window is already open as the period starts (a
    // 2-day trial and "3 days left") would only repeat this notice:
    // record it as done for this expiry.
    for reminder in crate::domain::ReminderKind::BOTH {
        let (from, until) = reminder.window(expires_at);
        if from <= ctx.now && ctx.now < until {
            sqlx::query(
                "INSERT INTO reminders (user_id, kind, expires_at, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (user_id, kind, expires_at) DO NOTHING",
            )
            .bind(user.get())
            .bind(reminder.as_str())
            .bind(t(expires_at))
            .bind(t(ctx.now))
            .execute(&mut *conn)
            .await?;
        }
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
    for key in active_keys(conn, user).await? {
        ops.extend(write_ops(conn, ctx, user, &key, OpKind::Remove).await?);
    }
    Ok(ops)
}
