//! Reads inside a transaction (or on a pooled connection).

use super::prelude::*;

/// Everything about one user in one query (a row per key).
pub(super) async fn read_user(conn: &mut Conn, user: UserId) -> Result<Option<UserSnapshot>> {
    let rows: Vec<UserKeyRow> = sqlx::query_as(
        "SELECT u.telegram_id, u.balance, u.bot_blocked, u.trial_used_at, u.created_at, u.username,
                u.display_name, u.language, u.referrer, s.status, s.expires_at, s.sub_token, s.version,
                k.uuid AS key_uuid, k.email AS key_email, k.seq AS key_seq, k.state AS key_state,
                k.created_at AS key_created_at, k.upload_bytes AS key_upload_bytes,
                k.download_bytes AS key_download_bytes
         FROM users u
         LEFT JOIN subscriptions s ON s.user_id = u.telegram_id
         LEFT JOIN keys k ON k.user_id = u.telegram_id
         WHERE u.telegram_id = $1
         ORDER BY k.seq",
    )
    .bind(user.get())
    .fetch_all(&mut *conn)
    .await?;
    UserKeyRow::snapshot(rows)
}

pub(super) async fn read_committed_user(conn: &mut Conn, user: UserId) -> Result<UserSnapshot> {
    read_user(conn, user)
        .await?
        .ok_or_else(|| corrupt(format!("user {user} vanished inside its own transaction")))
}

pub(super) async fn read_order(conn: &mut Conn, id: OrderId) -> Result<Option<Order>> {
    let row: Option<OrderRow> = sqlx::query_as(concat!(
        "SELECT ",
        order_columns!(),
        " FROM orders WHERE id = $1"
    ))
    .bind(id.uuid())
    .fetch_optional(&mut *conn)
    .await?;
    row.map(OrderRow::into_domain).transpose()
}

pub(super) async fn read_sub(conn: &mut Conn, user: UserId) -> Result<Option<SubRow>> {
    Ok(sqlx::query_as(
        "SELECT status, expires_at, sub_token, version FROM subscriptions WHERE user_id = $1",
    )
    .bind(user.get())
    .fetch_optional(&mut *conn)
    .await?)
}

/// The user's balance in minor units (kept equal to the ledger sum).
pub(super) async fn read_balance(conn: &mut Conn, user: UserId) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT balance FROM users WHERE telegram_id = $1")
            .bind(user.get())
            .fetch_one(&mut *conn)
            .await?,
    )
}

pub(super) async fn read_payment(
    conn: &mut Conn,
    provider: crate::domain::Provider,
    provider_payment_id: &str,
) -> Result<Option<crate::store::PaymentRecord>> {
    let row: Option<PaymentRow> = sqlx::query_as(concat!(
        "SELECT ",
        payment_columns!(),
        " FROM payments WHERE provider = $1 AND provider_payment_id = $2"
    ))
    .bind(provider.as_str())
    .bind(provider_payment_id)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(PaymentRow::into_domain).transpose()
}

/// The user's keys, oldest first (retired ones included).
pub(super) async fn user_keys(conn: &mut Conn, user: UserId) -> Result<UserKeys> {
    let all: Vec<KeyRow> = sqlx::query_as(
        "SELECT uuid, email, seq, state, created_at, upload_bytes, download_bytes FROM keys
         WHERE user_id = $1 ORDER BY seq",
    )
    .bind(user.get())
    .fetch_all(&mut *conn)
    .await?;
    Ok(UserKeys(all))
}

/// The subscription and every key of `user` in one query (no subscription:
/// no keys either — keys are only ever created with one).
pub(super) async fn read_sub_and_keys(
    conn: &mut Conn,
    user: UserId,
) -> Result<(Option<SubRow>, UserKeys)> {
    let rows: Vec<SubKeyRow> = sqlx::query_as(
        "SELECT s.status, s.expires_at, s.sub_token, s.version,
                k.uuid AS key_uuid, k.email AS key_email, k.seq AS key_seq, k.state AS key_state,
                k.created_at AS key_created_at, k.upload_bytes AS key_upload_bytes,
                k.download_bytes AS key_download_bytes
         FROM subscriptions s LEFT JOIN keys k ON k.user_id = s.user_id
         WHERE s.user_id = $1
         ORDER BY k.seq",
    )
    .bind(user.get())
    .fetch_all(&mut *conn)
    .await?;
    let keys = UserKeys(rows.iter().filter_map(SubKeyRow::key).collect());
    Ok((rows.into_iter().next().map(|r| r.sub), keys))
}

/// A user's keys as read in a transaction.
pub(super) struct UserKeys(Vec<KeyRow>);

impl UserKeys {
    pub fn active(&self) -> Vec<&KeyRow> {
        let active = KeyState::Active.as_str();
        self.0.iter().filter(|k| k.state == active).collect()
    }

    /// The sequence number of the next key.
    pub fn next_seq(&self) -> i64 {
        self.0.last().map_or(1, |k| k.seq + 1)
    }
}
