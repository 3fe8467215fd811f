//! Rows as either database returns them, and their mapping to domain types.
//! Backend-neutral (compiled once); the statements live in `sql/`.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::db_time::DbTime;
use super::{AuditEntry, PendingOp, UserSnapshot};
use crate::domain::{
    Currency, Key, Money, NodeName, OpKind, Order, OrderId, PlanId, ProvisioningOp, Subscription,
    UserId,
};
use crate::{Error, Result};

#[derive(sqlx::FromRow)]
pub(super) struct UserRow {
    pub telegram_id: i64,
    pub balance: i64,
    pub bot_blocked: bool,
    pub trial_used_at: Option<DbTime>,
    pub created_at: DbTime,
    pub username: Option<String>,
    pub language: Option<String>,
    pub referrer: Option<i64>,
    pub display_name: Option<String>,
}

/// A user with their subscription, if any (one `LEFT JOIN` instead of two reads).
#[derive(sqlx::FromRow)]
pub(super) struct UserSubRow {
    #[sqlx(flatten)]
    pub user: UserRow,
    pub status: Option<String>,
    pub expires_at: Option<DbTime>,
    pub sub_token: Option<String>,
    pub version: Option<i64>,
}

impl UserSubRow {
    pub fn split(self) -> (UserRow, Option<SubRow>) {
        let sub = match (self.status, self.expires_at, self.sub_token, self.version) {
            (Some(status), Some(expires_at), Some(sub_token), Some(version)) => Some(SubRow {
                status,
                expires_at,
                sub_token,
                version,
            }),
            _ => None,
        };
        (self.user, sub)
    }
}

/// A key's columns as a `LEFT JOIN keys k` returns them (`k.uuid AS key_uuid`,
/// …): all `NULL` when there is no key.
#[derive(sqlx::FromRow)]
pub(super) struct JoinedKey {
    pub key_uuid: Option<Uuid>,
    pub key_email: Option<String>,
    pub key_seq: Option<i64>,
    pub key_state: Option<String>,
    pub key_created_at: Option<DbTime>,
    pub key_upload_bytes: Option<i64>,
    pub key_download_bytes: Option<i64>,
}

impl JoinedKey {
    fn key(&self) -> Option<KeyRow> {
        Some(KeyRow {
            uuid: self.key_uuid?,
            email: self.key_email.clone()?,
            seq: self.key_seq?,
            state: self.key_state.clone()?,
            created_at: self.key_created_at?,
            upload_bytes: self.key_upload_bytes?,
            download_bytes: self.key_download_bytes?,
        })
    }
}

/// A user with their subscription and one of their keys (a row per key, or
/// one row without a key): a whole snapshot in one query.
#[derive(sqlx::FromRow)]
pub(super) struct UserKeyRow {
    #[sqlx(flatten)]
    pub user_sub: UserSubRow,
    #[sqlx(flatten)]
    pub key: JoinedKey,
}

impl UserKeyRow {
    /// The snapshot these rows (of one user, keys in order) make; `None` for no rows.
    pub fn snapshot(rows: Vec<UserKeyRow>) -> Result<Option<UserSnapshot>> {
        let keys = rows.iter().filter_map(|r| r.key.key()).collect();
        let Some(first) = rows.into_iter().next() else {
            return Ok(None);
        };
        let (user, sub) = first.user_sub.split();
        snapshot(user, sub, keys).map(Some)
    }
}

/// A subscription and one of its user's keys (a row per key).
#[derive(sqlx::FromRow)]
pub(super) struct SubKeyRow {
    #[sqlx(flatten)]
    pub sub: SubRow,
    #[sqlx(flatten)]
    pub key: JoinedKey,
}

impl SubKeyRow {
    pub fn key(&self) -> Option<KeyRow> {
        self.key.key()
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct SubRow {
    pub status: String,
    pub expires_at: DbTime,
    pub sub_token: String,
    pub version: i64,
}

impl SubRow {
    pub fn into_domain(self) -> Result<Subscription> {
        Ok(Subscription {
            status: self.status.parse().map_err(corrupt)?,
            expires_at: self.expires_at.0,
            sub_token: self.sub_token,
            version: self.version,
        })
    }
}

#[derive(sqlx::FromRow, Clone)]
pub(super) struct KeyRow {
    pub uuid: Uuid,
    pub email: String,
    pub seq: i64,
    pub state: String,
    pub created_at: DbTime,
    pub upload_bytes: i64,
    pub download_bytes: i64,
}

impl KeyRow {
    pub fn into_domain(self) -> Result<Key> {
        Ok(Key {
            uuid: self.uuid,
            email: self.email,
            seq: self.seq,
            state: self.state.parse().map_err(corrupt)?,
            created_at: self.created_at.0,
            upload_bytes: self.upload_bytes,
            download_bytes: self.download_bytes,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct OrderRow {
    pub id: Uuid,
    pub user_id: i64,
    pub kind: String,
    pub plan_id: String,
    pub days: i32,
    pub traffic_bytes: i64,
    pub provider: String,
    pub amount: i64,
    pub currency: String,
    pub status: String,
    pub provider_payment_id: Option<String>,
    pub flag: Option<String>,
    pub created_at: DbTime,
    pub paid_at: Option<DbTime>,
    pub provider_invoice_id: Option<String>,
    pub pay_url: Option<String>,
}

/// The columns of [`OrderRow`], in order, for `SELECT {ORDER_COLUMNS} FROM orders`.
macro_rules! order_columns {
    () => {
        "id, user_id, kind, plan_id, days, traffic_bytes, provider, amount, currency, status, \
         provider_payment_id, flag, created_at, paid_at, provider_invoice_id, pay_url"
    };
}
pub(super) use order_columns;

/// The columns of a `webhook_events` row as read into `WebhookRow`.
macro_rules! event_columns {
    () => {
        "provider, event_id, order_id, received_at, outcome, payload, event, attempts, \
         last_error, finished_at"
    };
}
pub(super) use event_columns;

#[derive(sqlx::FromRow)]
pub(super) struct WebhookRow {
    pub provider: String,
    pub event_id: String,
    pub order_id: Option<Uuid>,
    pub received_at: DbTime,
    pub outcome: String,
    pub payload: String,
    pub event: Option<String>,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub finished_at: Option<DbTime>,
}

impl WebhookRow {
    pub fn into_domain(self) -> super::WebhookEvent {
        super::WebhookEvent {
            provider: self.provider,
            event_id: self.event_id,
            order: self.order_id.map(OrderId::from_uuid),
            received_at: self.received_at.0,
            outcome: self.outcome,
            payload: self.payload,
            event: self.event,
            attempts: self.attempts,
            last_error: self.last_error,
            finished_at: self.finished_at.map(|t| t.0),
        }
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct PaymentRow {
    pub provider: String,
    pub provider_payment_id: String,
    pub order_id: Option<Uuid>,
    pub user_id: i64,
    pub amount: i64,
    pub currency: String,
    pub settlement: String,
    pub reason: Option<String>,
    pub created_at: DbTime,
}

/// The columns of [`PaymentRow`].
macro_rules! payment_columns {
    () => {
        "provider, provider_payment_id, order_id, user_id, amount, currency, settlement, reason, \
         created_at"
    };
}
pub(super) use payment_columns;

impl PaymentRow {
    pub fn into_domain(self) -> Result<super::PaymentRecord> {
        Ok(super::PaymentRecord {
            provider: self.provider.parse().map_err(corrupt)?,
            provider_payment_id: self.provider_payment_id,
            order: self.order_id.map(OrderId::from_uuid),
            user: UserId::new(self.user_id).map_err(corrupt)?,
            amount: Money::new(self.amount, Currency::new(self.currency).map_err(corrupt)?),
            settlement: self.settlement.parse().map_err(corrupt)?,
            reason: self.reason,
            created_at: self.created_at.0,
        })
    }
}

impl OrderRow {
    pub fn into_domain(self) -> Result<Order> {
        Ok(Order {
            id: OrderId::from_uuid(self.id),
            user: UserId::new(self.user_id).map_err(corrupt)?,
            kind: self.kind.parse().map_err(corrupt)?,
            plan: PlanId::new(self.plan_id).map_err(corrupt)?,
            days: u32::try_from(self.days).map_err(corrupt)?,
            traffic_bytes: u64::try_from(self.traffic_bytes).map_err(corrupt)?,
            provider: self.provider.parse().map_err(corrupt)?,
            amount: Money::new(self.amount, Currency::new(self.currency).map_err(corrupt)?),
            status: self.status.parse().map_err(corrupt)?,
            provider_payment_id: self.provider_payment_id,
            flag: self.flag,
            created_at: self.created_at.0,
            paid_at: self.paid_at.map(|t| t.0),
            provider_invoice_id: self.provider_invoice_id,
            pay_url: self.pay_url,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct OpRow {
    pub id: i64,
    pub node: String,
    pub user_id: i64,
    pub key_uuid: Uuid,
    pub email: String,
    pub op: String,
    pub attempts: i32,
    pub next_attempt_at: DbTime,
}

impl OpRow {
    pub fn into_domain(self) -> Result<PendingOp> {
        Ok(PendingOp {
            op: ProvisioningOp {
                id: self.id,
                node: NodeName::new(self.node).map_err(corrupt)?,
                user: UserId::new(self.user_id).map_err(corrupt)?,
                key_uuid: self.key_uuid,
                email: self.email,
                kind: self.op.parse().map_err(corrupt)?,
                attempts: self.attempts,
            },
            next_attempt_at: self.next_attempt_at.0,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct AuditRow {
    pub actor: String,
    pub action: String,
    pub details: String,
    pub created_at: DbTime,
}

impl AuditRow {
    pub fn into_domain(self) -> AuditEntry {
        AuditEntry {
            actor: self.actor,
            action: self.action,
            details: serde_json::from_str(&self.details)
                .unwrap_or(serde_json::Value::String(self.details)),
            created_at: self.created_at.0,
        }
    }
}

pub(super) fn corrupt(e: impl std::fmt::Display) -> Error {
    Error::Corrupt(e.to_string())
}

pub(super) fn snapshot(
    user: UserRow,
    sub: Option<SubRow>,
    keys: Vec<KeyRow>,
) -> Result<UserSnapshot> {
    Ok(UserSnapshot {
        user: UserId::new(user.telegram_id).map_err(corrupt)?,
        subscription: sub.map(SubRow::into_domain).transpose()?,
        keys: keys
            .into_iter()
            .map(KeyRow::into_domain)
            .collect::<Result<_>>()?,
        balance_minor: user.balance,
        trial_used: user.trial_used_at.is_some(),
        bot_blocked: user.bot_blocked,
        created_at: user.created_at.0,
        username: user.username,
        display_name: user.display_name,
        language: user.language,
        referrer: user
            .referrer
            .map(UserId::new)
            .transpose()
            .map_err(corrupt)?,
    })
}

pub(super) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// A unique violation on `table` means another instance created the same row
/// between our read and our insert: a conflict the caller retries.
pub(super) fn conflict_on_unique(user: UserId) -> impl FnOnce(sqlx::Error) -> Error {
    move |e| {
        if is_unique_violation(&e) {
            Error::Conflict(user)
        } else {
            e.into()
        }
    }
}

pub(super) fn op_kind_of(kind: OpKind) -> &'static str {
    kind.as_str()
}

pub(super) fn t(at: DateTime<Utc>) -> DbTime {
    DbTime(at)
}
