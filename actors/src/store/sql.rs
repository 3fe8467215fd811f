//! The SQL shared by both backends.
//!
//! SQLite and PostgreSQL differ in DDL (see `migrations/`), but the statements
//! here are written in the subset both understand (`$N` placeholders, `RETURNING`,
//! `ON CONFLICT`, typed binds through [`DbTime`]). `sql_store!` instantiates the
//! whole [`Store`] implementation for one concrete backend, so the logic exists
//! once and each backend only supplies its pool, its `BEGIN`, and its migrations.
//!
//! [`DbTime`]: super::db_time::DbTime
//! [`Store`]: super::Store

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
        "id, user_id, kind, plan_id, days, provider, amount, currency, status, \
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

/// Generates, in the invoking module, the shared statements as free functions on
/// a connection of `$db` and `impl Store for $store`. The invoking module
/// provides `$store::{pool, begin_write, backend_kind, run_migrations}`.
macro_rules! sql_store {
    ($store:ty, $db:ty) => {
        use async_trait::async_trait;
        use chrono::{DateTime, Utc};
        use serde_json::json;
        use uuid::Uuid;

        use crate::domain::{
            AlertKind, Excess, KeyState, LedgerEntry, LedgerKind, NewOrder, NotificationKind, OpKind,
            Order, OrderId, OrderStatus, PaymentSettlement, ProvisioningOp, Settlement,
            SubscriptionStatus, UserId, extended_expiry, key_email, new_sub_token,
        };
        use crate::store::sql::{
            AuditRow, KeyRow, OpRow, OrderRow, PaymentRow, SubRow, UserRow, WebhookRow, conflict_on_unique,
            corrupt, event_columns, is_unique_violation, op_kind_of, order_columns, payment_columns,
            snapshot, t,
        };
        use crate::store::{
            AuditEntry, Backend, Change, DueExpiry, EventRecord, IncomingPayment, OpenedOrder,
            OutboxDepth, PendingOp, Refunded, Settled, Store, UserSnapshot, WriteCtx,
        };
        use crate::{Error, Result};

        type Conn = <$db as sqlx::Database>::Connection;

        async fn read_user(conn: &mut Conn, user: UserId) -> Result<Option<UserSnapshot>> {
            let row: Option<UserRow> = sqlx::query_as(
                "SELECT telegram_id, balance, bot_blocked, trial_used_at, created_at, username, language, referrer
                 FROM users WHERE telegram_id = $1",
            )
            .bind(user.get())
            .fetch_optional(&mut *conn)
            .await?;
            let Some(row) = row else { return Ok(None) };
            let sub = read_sub(conn, user).await?;
            let keys: Vec<KeyRow> = sqlx::query_as(
                "SELECT uuid, email, seq, state, created_at, upload_bytes, download_bytes FROM keys
                 WHERE user_id = $1 ORDER BY seq",
            )
            .bind(user.get())
            .fetch_all(&mut *conn)
            .await?;
            snapshot(row, sub, keys).map(Some)
        }

        async fn read_committed_user(conn: &mut Conn, user: UserId) -> Result<UserSnapshot> {
            read_user(conn, user)
                .await?
                .ok_or_else(|| corrupt(format!("user {user} vanished inside its own transaction")))
        }

        async fn read_order(conn: &mut Conn, id: OrderId) -> Result<Option<Order>> {
            let row: Option<OrderRow> = sqlx::query_as(
                concat!("SELECT ", order_columns!(), " FROM orders WHERE id = $1"),
            )
            .bind(id.uuid())
            .fetch_optional(&mut *conn)
            .await?;
            row.map(OrderRow::into_domain).transpose()
        }

        async fn read_sub(conn: &mut Conn, user: UserId) -> Result<Option<SubRow>> {
            Ok(sqlx::query_as(
                "SELECT status, expires_at, sub_token, version FROM subscriptions WHERE user_id = $1",
            )
            .bind(user.get())
            .fetch_optional(&mut *conn)
            .await?)
        }

        async fn ensure_user(conn: &mut Conn, user: UserId, now: DateTime<Utc>) -> Result<()> {
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

        async fn active_keys(conn: &mut Conn, user: UserId) -> Result<Vec<KeyRow>> {
            Ok(sqlx::query_as(
                "SELECT uuid, email, seq, state, created_at, upload_bytes, download_bytes FROM keys
                 WHERE user_id = $1 AND state = 'active' ORDER BY seq",
            )
            .bind(user.get())
            .fetch_all(&mut *conn)
            .await?)
        }

        async fn new_key(conn: &mut Conn, user: UserId, now: DateTime<Utc>) -> Result<KeyRow> {
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
        async fn write_ops(
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

        async fn notify(
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

        async fn audit(
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

        /// The user's balance in minor units (kept equal to the ledger sum).
        async fn read_balance(conn: &mut Conn, user: UserId) -> Result<i64> {
            Ok(sqlx::query_scalar("SELECT balance FROM users WHERE telegram_id = $1")
                .bind(user.get())
                .fetch_one(&mut *conn)
                .await?)
        }

        /// Takes an order's amount off the balance, refusing to go below zero.
        async fn debit(
            conn: &mut Conn,
            ctx: &WriteCtx<'_>,
            user: UserId,
            kind: LedgerKind,
            order: &Order,
            note: &str,
        ) -> Result<()> {
            ledger_entry(conn, ctx, user, kind, -order.amount.minor, order.amount.currency.as_str(), Some(order.id), note).await
        }

        /// Flags an order for review (once per reason): tells the user and the
        /// admins and records why in the audit log. `false` if it already carried it.
        async fn flag(
            conn: &mut Conn,
            ctx: &WriteCtx<'_>,
            order: &Order,
            reason: &str,
            details: serde_json::Value,
        ) -> Result<bool> {
            let done = sqlx::query(
                "UPDATE orders SET flag = $1, updated_at = $2 WHERE id = $3 AND (flag IS NULL OR flag <> $1)",
            )
            .bind(reason)
            .bind(t(ctx.now))
            .bind(order.id.uuid())
            .execute(&mut *conn)
            .await?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            notify(conn, ctx, order.user, NotificationKind::PaymentFlagged, json!({ "order": order.id, "flag": reason })).await?;
            alert(conn, ctx, AlertKind::PaymentFlagged, json!({
                "order": order.id, "user": order.user, "flag": reason, "amount": order.amount, "details": details,
            })).await?;
            audit(conn, ctx, order.user, "flag_order", json!({ "order": order.id, "flag": reason, "details": details })).await?;
            Ok(true)
        }

        /// Queues an alert for the admins (sent by the Notifier after commit).
        async fn alert(
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

        /// Records how a payment was settled (once per provider payment id).
        #[allow(clippy::too_many_arguments)]
        async fn record_payment(
            conn: &mut Conn,
            ctx: &WriteCtx<'_>,
            user: UserId,
            order: Option<OrderId>,
            payment: &IncomingPayment,
            amount: &crate::domain::Money,
            settlement: PaymentSettlement,
            reason: Option<&str>,
        ) -> Result<()> {
            sqlx::query(
                "INSERT INTO payments (provider, provider_payment_id, order_id, user_id, amount, currency,
                                       settlement, reason, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
            )
            .bind(payment.provider.as_str())
            .bind(&payment.provider_payment_id)
            .bind(order.map(|o| o.uuid()))
            .bind(user.get())
            .bind(amount.minor)
            .bind(amount.currency.as_str())
            .bind(settlement.as_str())
            .bind(reason)
            .bind(t(ctx.now))
            .execute(&mut *conn)
            .await
            .map_err(conflict_on_unique(user))?;
            Ok(())
        }

        async fn read_payment(
            conn: &mut Conn,
            provider: crate::domain::Provider,
            provider_payment_id: &str,
        ) -> Result<Option<crate::store::PaymentRecord>> {
            let row: Option<PaymentRow> = sqlx::query_as(concat!(
                "SELECT ", payment_columns!(), " FROM payments WHERE provider = $1 AND provider_payment_id = $2"
            ))
            .bind(provider.as_str())
            .bind(provider_payment_id)
            .fetch_optional(&mut *conn)
            .await?;
            row.map(PaymentRow::into_domain).transpose()
        }

        /// Money the order could not take, kept for the user on their balance.
        async fn credit_payment(
            conn: &mut Conn,
            ctx: &WriteCtx<'_>,
            user: UserId,
            order: Option<OrderId>,
            amount: &crate::domain::Money,
            reason: crate::domain::Unexpected,
            provider: crate::domain::Provider,
        ) -> Result<()> {
            let note = format!("{} through {provider}", reason.as_str());
            ledger_entry(conn, ctx, user, LedgerKind::PaymentCredit, amount.minor, amount.currency.as_str(), order, &note).await?;
            let balance = read_balance(conn, user).await?;
            let balance = crate::domain::Money::new(balance, amount.currency.clone());
            notify(conn, ctx, user, NotificationKind::PaymentCredited, json!({
                "order": order, "amount": amount, "balance": balance, "reason": reason,
            })).await?;
            alert(conn, ctx, AlertKind::PaymentCredited, json!({
                "user": user, "order": order, "amount": amount, "reason": reason, "provider": provider,
            })).await?;
            audit(conn, ctx, user, "payment_credited", json!({
                "order": order, "amount": amount, "reason": reason, "provider": provider,
            })).await
        }

        /// Carries out a settlement of a payment its order (if any) cannot
        /// take: credit, queue for sending back, or flag.
        async fn settle_unexpected(
            conn: &mut Conn,
            ctx: &WriteCtx<'_>,
            user: UserId,
            order: Option<&Order>,
            payment: &IncomingPayment,
            amount: &crate::domain::Money,
            settlement: &Settlement,
        ) -> Result<()> {
            let order_id = order.map(|o| o.id);
            match settlement {
                Settlement::Credit { amount, reason } => {
                    credit_payment(conn, ctx, user, order_id, amount, *reason, payment.provider).await?;
                }
                Settlement::Refund { amount, reason } => {
                    alert(conn, ctx, AlertKind::PaymentReturned, json!({
                        "user": user, "order": order_id, "amount": amount, "reason": reason,
                        "provider": payment.provider, "provider_payment_id": payment.provider_payment_id,
                    })).await?;
                    audit(conn, ctx, user, "payment_return_queued", json!({
                        "order": order_id, "amount": amount, "reason": reason,
                        "provider_payment_id": payment.provider_payment_id,
                    })).await?;
                }
                Settlement::Flag { reason } => {
                    let details = json!({
                        "provider": payment.provider, "provider_payment_id": payment.provider_payment_id,
                        "paid": amount,
                    });
                    match order {
                        Some(order) => {
                            flag(conn, ctx, order, reason.as_str(), details).await?;
                        }
                        None => {
                            alert(conn, ctx, AlertKind::UnknownOrder, json!({
                                "user": user, "paid": amount, "provider": payment.provider,
                                "provider_payment_id": payment.provider_payment_id,
                            })).await?;
                            audit(conn, ctx, user, "stray_payment_flagged", details).await?;
                        }
                    }
                }
                Settlement::Duplicate | Settlement::Apply { .. } => {}
            }
            Ok(())
        }

        /// Reverses the referral bonus `order` earned (as far as the
        /// referrer's balance allows; a shortfall is flagged to the admins).
        async fn reverse_referral(conn: &mut Conn, ctx: &WriteCtx<'_>, order: &Order) -> Result<()> {
            let bonuses: Vec<(i64, i64, String)> = sqlx::query_as(
                "SELECT user_id, amount, currency FROM ledger WHERE kind = 'referral_bonus' AND order_id = $1",
            )
            .bind(order.id.uuid())
            .fetch_all(&mut *conn)
            .await?;
            for (referrer, amount, currency) in bonuses {
                let referrer = UserId::new(referrer).map_err(corrupt)?;
                let balance = read_balance(conn, referrer).await?;
                let (taken, short) = crate::domain::take_back(amount, balance);
                let note = format!("referral bonus of refunded order {}", order.id);
                if taken > 0 {
                    ledger_entry(conn, ctx, referrer, LedgerKind::ReferralReversal, -taken, &currency, Some(order.id), &note).await?;
                }
                let currency = crate::domain::Currency::new(currency).map_err(corrupt)?;
                if short > 0 {
                    alert(conn, ctx, AlertKind::RefundShortfall, json!({
                        "user": referrer, "order": order.id, "what": "referral_bonus",
                        "wanted": crate::domain::Money::new(amount, currency.clone()),
                        "shortfall": crate::domain::Money::new(short, currency.clone()),
                    })).await?;
                }
                audit(conn, ctx, referrer, "referral_reversed", json!({
                    "order": order.id, "referred": order.user,
                    "taken": crate::domain::Money::new(taken, currency.clone()),
                    "shortfall": crate::domain::Money::new(short, currency),
                })).await?;
            }
            Ok(())
        }

        /// Appends a ledger movement and keeps `users.balance` equal to the
        /// ledger sum. A debit is guarded in the same statement (never below
        /// zero, whichever instance writes): [`Error::InsufficientFunds`].
        #[allow(clippy::too_many_arguments)]
        async fn ledger_entry(
            conn: &mut Conn,
            ctx: &WriteCtx<'_>,
            user: UserId,
            kind: LedgerKind,
            amount: i64,
            currency: &str,
            order: Option<OrderId>,
            note: &str,
        ) -> Result<()> {
            let moved = sqlx::query(
                "UPDATE users SET balance = balance + $1 WHERE telegram_id = $2 AND balance + $1 >= 0",
            )
            .bind(amount)
            .bind(user.get())
            .execute(&mut *conn)
            .await?;
            if moved.rows_affected() != 1 {
                let balance = read_balance(conn, user).await?;
                return Err(Error::InsufficientFunds {
                    needed: format!("{} {currency}", -amount),
                    available: format!("{balance} {currency}"),
                });
            }
            sqlx::query(
                "INSERT INTO ledger (user_id, kind, amount, currency, order_id, note, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(user.get())
            .bind(kind.as_str())
            .bind(amount)
            .bind(currency)
            .bind(order.map(|o| o.uuid()))
            .bind(note)
            .bind(t(ctx.now))
            .execute(&mut *conn)
            .await?;
            Ok(())
        }

        /// Sets status and expiry if nobody changed the row since we read `version`.
        async fn update_sub(
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
            if done.rows_affected() == 1 { Ok(()) } else { Err(Error::Conflict(user)) }
        }

        /// The heart of grant, trial and payment: extend from `max(now, expires_at)`,
        /// make sure an active key exists, and provision it if it was not live.
        async fn extend(
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
                    update_sub(conn, ctx, user, SubscriptionStatus::Active, expires_at, s.version).await?
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
            let kind = if was_active { NotificationKind::Extended } else { NotificationKind::Activated };
            notify(conn, ctx, user, kind, json!({ "expires_at": expires_at, "days": days })).await?;
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

        /// Credits `bonus` to the user's referrer once (the first paid plan of a
        /// referred user), with a ledger entry and a notification for the referrer.
        async fn reward_referrer(
            conn: &mut Conn,
            ctx: &WriteCtx<'_>,
            user: UserId,
            bonus: &crate::domain::Money,
            order: OrderId,
        ) -> Result<()> {
            let referrer: Option<Option<i64>> = sqlx::query_scalar(
                "UPDATE users SET referral_rewarded_at = $1
                 WHERE telegram_id = $2 AND referrer IS NOT NULL AND referral_rewarded_at IS NULL
                 RETURNING referrer",
            )
            .bind(t(ctx.now))
            .bind(user.get())
            .fetch_optional(&mut *conn)
            .await?;
            let Some(Some(referrer)) = referrer else { return Ok(()) };
            let referrer = UserId::new(referrer).map_err(corrupt)?;
            let note = format!("referral bonus for {user}");
            ledger_entry(conn, ctx, referrer, LedgerKind::ReferralBonus, bonus.minor, bonus.currency.as_str(), Some(order), &note).await?;
            notify(conn, ctx, referrer, NotificationKind::ReferralBonus, json!({ "amount": bonus, "referred": user })).await?;
            audit(conn, ctx, referrer, "referral_bonus", json!({ "referred": user, "amount": bonus, "order": order })).await
        }

        /// Remove ops for every active key (the user loses access on all nodes).
        async fn remove_access(
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

        /// The bookkeeping both message outboxes (`notifications`, `alerts`) share.
        impl $store {
            async fn outbox_sent(&self, table: &'static str, id: i64, now: DateTime<Utc>) -> Result<()> {
                let mut w = self.begin_write().await?;
                sqlx::query(&format!(
                    "UPDATE {table} SET state = 'sent', sent_at = $1, attempts = attempts + 1 WHERE id = $2"
                ))
                .bind(t(now))
                .bind(id)
                .execute(&mut *w.tx)
                .await?;
                w.tx.commit().await?;
                Ok(())
            }

            /// A 429 (`error` = "429") does not use up an attempt.
            async fn outbox_retry(
                &self,
                table: &'static str,
                id: i64,
                error: &str,
                next_attempt_at: DateTime<Utc>,
            ) -> Result<()> {
                let mut w = self.begin_write().await?;
                sqlx::query(&format!(
                    "UPDATE {table} SET attempts = attempts + CASE WHEN $1 = '429' THEN 0 ELSE 1 END,
                            last_error = $1, next_attempt_at = $2
                     WHERE id = $3 AND state = 'pending'"
                ))
                .bind(error)
                .bind(t(next_attempt_at))
                .bind(id)
                .execute(&mut *w.tx)
                .await?;
                w.tx.commit().await?;
                Ok(())
            }

            async fn outbox_failed(&self, table: &'static str, id: i64, error: &str, now: DateTime<Utc>) -> Result<()> {
                let mut w = self.begin_write().await?;
                sqlx::query(&format!(
                    "UPDATE {table} SET state = 'failed', attempts = attempts + 1, last_error = $1, sent_at = $2
                     WHERE id = $3 AND state = 'pending'"
                ))
                .bind(error)
                .bind(t(now))
                .bind(id)
                .execute(&mut *w.tx)
                .await?;
                w.tx.commit().await?;
                Ok(())
            }
        }

        #[async_trait]
        impl Store for $store {
            fn backend(&self) -> Backend {
                Self::backend_kind()
            }

            async fn migrate(&self) -> Result<()> {
                self.run_migrations().await
            }

            async fn ping(&self) -> Result<()> {
                sqlx::query("SELECT 1").execute(self.pool()).await?;
                Ok(())
            }

            async fn close(&self) {
                self.pool().close().await;
            }

            async fn user(&self, user: UserId) -> Result<Option<UserSnapshot>> {
                let mut conn = self.pool().acquire().await?;
                read_user(&mut conn, user).await
            }

            async fn order(&self, id: OrderId) -> Result<Option<Order>> {
                let mut conn = self.pool().acquire().await?;
                read_order(&mut conn, id).await
            }

            async fn due_expirations(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<DueExpiry>> {
                let rows: Vec<(i64, crate::store::db_time::DbTime)> = sqlx::query_as(
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
                        Ok(DueExpiry { user: UserId::new(user).map_err(corrupt)?, expires_at: at.0 })
                    })
                    .collect()
            }

            async fn pending_ops(&self, limit: u32) -> Result<Vec<PendingOp>> {
                let rows: Vec<OpRow> = sqlx::query_as(
                    "SELECT id, node, user_id, key_uuid, email, op, attempts, next_attempt_at
                     FROM provisioning_ops WHERE state = 'pending' ORDER BY id LIMIT $1",
                )
                .bind(i64::from(limit))
                .fetch_all(self.pool())
                .await?;
                rows.into_iter().map(OpRow::into_domain).collect()
            }

            async fn due_ops(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<PendingOp>> {
                let rows: Vec<OpRow> = sqlx::query_as(
                    "SELECT o.id, o.node, o.user_id, o.key_uuid, o.email, o.op, o.attempts, o.next_attempt_at
                     FROM provisioning_ops o
                     WHERE o.state = 'pending' AND o.next_attempt_at <= $1
                       AND NOT EXISTS (
                           SELECT 1 FROM provisioning_ops p
                           WHERE p.state = 'pending' AND p.node = o.node AND p.email = o.email
                             AND p.id < o.id AND p.next_attempt_at > $1)
                     ORDER BY o.id LIMIT $2",
                )
                .bind(t(now))
                .bind(i64::from(limit))
                .fetch_all(self.pool())
                .await?;
                rows.into_iter().map(OpRow::into_domain).collect()
            }

            async fn pending_ops_by_node(&self) -> Result<Vec<(String, i64)>> {
                Ok(sqlx::query_as(
                    "SELECT node, COUNT(*) FROM provisioning_ops WHERE state = 'pending'
                     GROUP BY node ORDER BY node",
                )
                .fetch_all(self.pool())
                .await?)
            }

            async fn outbox_depth(&self) -> Result<OutboxDepth> {
                let (provisioning, notifications, alerts, payment_events): (i64, i64, i64, i64) = sqlx::query_as(
                    "SELECT (SELECT COUNT(*) FROM provisioning_ops WHERE state = 'pending'),
                            (SELECT COUNT(*) FROM notifications WHERE state = 'pending'),
                            (SELECT COUNT(*) FROM alerts WHERE state = 'pending'),
                            (SELECT COUNT(*) FROM webhook_events WHERE finished_at IS NULL)",
                )
                .fetch_one(self.pool())
                .await?;
                Ok(OutboxDepth { provisioning, notifications, alerts, payment_events })
            }

            async fn ledger_sum(&self, user: UserId) -> Result<i64> {
                Ok(sqlx::query_scalar(
                    "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM ledger WHERE user_id = $1",
                )
                .bind(user.get())
                .fetch_one(self.pool())
                .await?)
            }

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

            async fn desired_keys(&self) -> Result<Vec<(String, Uuid)>> {
                Ok(sqlx::query_as(
                    "SELECT k.email, k.uuid FROM keys k
                     JOIN subscriptions s ON s.user_id = k.user_id
                     WHERE k.state = 'active' AND s.status = 'active'",
                )
                .fetch_all(self.pool())
                .await?)
            }

            async fn user_by_sub_token(&self, token: &str) -> Result<Option<UserSnapshot>> {
                let mut conn = self.pool().acquire().await?;
                let user: Option<i64> = sqlx::query_scalar("SELECT user_id FROM subscriptions WHERE sub_token = $1")
                    .bind(token)
                    .fetch_optional(&mut *conn)
                    .await?;
                match user {
                    Some(id) => read_user(&mut conn, UserId::new(id).map_err(corrupt)?).await,
                    None => Ok(None),
                }
            }

            async fn grant_days(&self, ctx: &WriteCtx<'_>, user: UserId, days: u32) -> Result<Change> {
                let mut w = self.begin_write().await?;
                let ops = extend(&mut w.tx, ctx, user, days).await?;
                audit(&mut w.tx, ctx, user, "grant_days", json!({ "days": days })).await?;
                let snapshot = read_committed_user(&mut w.tx, user).await?;
                w.tx.commit().await?;
                Ok(Change { applied: true, snapshot, ops })
            }

            async fn revoke(&self, ctx: &WriteCtx<'_>, user: UserId) -> Result<Change> {
                let mut w = self.begin_write().await?;
                let sub = read_sub(&mut w.tx, user).await?.ok_or(Error::NoSubscription(user))?;
                let status: SubscriptionStatus = sub.status.parse().map_err(corrupt)?;
                let mut ops = Vec::new();
                let applied = status != SubscriptionStatus::Revoked;
                if applied {
                    update_sub(&mut w.tx, ctx, user, SubscriptionStatus::Revoked, ctx.now.min(sub.expires_at.0), sub.version).await?;
                    if status == SubscriptionStatus::Active {
                        ops = remove_access(&mut w.tx, ctx, user).await?;
                    }
                    notify(&mut w.tx, ctx, user, NotificationKind::Revoked, json!({})).await?;
                    audit(&mut w.tx, ctx, user, "revoke", json!({ "previous_status": status, "previous_expires_at": sub.expires_at.0 })).await?;
                }
                let snapshot = read_committed_user(&mut w.tx, user).await?;
                w.tx.commit().await?;
                Ok(Change { applied, snapshot, ops })
            }

            async fn reissue(&self, ctx: &WriteCtx<'_>, user: UserId) -> Result<Change> {
                let mut w = self.begin_write().await?;
                let sub = read_sub(&mut w.tx, user).await?.ok_or(Error::NoSubscription(user))?;
                let live = sub.status == SubscriptionStatus::Active.as_str() && sub.expires_at.0 > ctx.now;
                if !live {
                    return Err(Error::NotActive(user));
                }
                // Bump the version: another instance racing on this user fails its guard.
                update_sub(&mut w.tx, ctx, user, SubscriptionStatus::Active, sub.expires_at.0, sub.version).await?;
                let old = active_keys(&mut w.tx, user).await?;
                let new = new_key(&mut w.tx, user, ctx.now).await?;
                // Add the new key before removing the old one: ops run in id order.
                let mut ops = write_ops(&mut w.tx, ctx, user, &new, OpKind::Add).await?;
                for key in &old {
                    sqlx::query("UPDATE keys SET state = 'retired', retired_at = $1 WHERE uuid = $2")
                        .bind(t(ctx.now))
                        .bind(key.uuid)
                        .execute(&mut *w.tx)
                        .await?;
                    ops.extend(write_ops(&mut w.tx, ctx, user, key, OpKind::Remove).await?);
                }
                notify(&mut w.tx, ctx, user, NotificationKind::Reissued, json!({ "email": new.email })).await?;
                audit(&mut w.tx, ctx, user, "reissue", json!({
                    "new_key": new.email,
                    "retired": old.iter().map(|k| k.email.as_str()).collect::<Vec<_>>(),
                })).await?;
                let snapshot = read_committed_user(&mut w.tx, user).await?;
                w.tx.commit().await?;
                Ok(Change { applied: true, snapshot, ops })
            }

            async fn expire(&self, ctx: &WriteCtx<'_>, user: UserId) -> Result<Change> {
                let mut w = self.begin_write().await?;
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
                Ok(Change { applied, snapshot, ops })
            }

            async fn start_trial(&self, ctx: &WriteCtx<'_>, user: UserId, days: u32) -> Result<Change> {
                let mut w = self.begin_write().await?;
                ensure_user(&mut w.tx, user, ctx.now).await?;
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
                let ops = extend(&mut w.tx, ctx, user, days).await?;
                audit(&mut w.tx, ctx, user, "start_trial", json!({ "days": days })).await?;
                let snapshot = read_committed_user(&mut w.tx, user).await?;
                w.tx.commit().await?;
                Ok(Change { applied: true, snapshot, ops })
            }

            async fn create_order(&self, ctx: &WriteCtx<'_>, order: &NewOrder) -> Result<OpenedOrder> {
                let days = i32::try_from(order.days).map_err(|_| Error::invalid("days", "too large"))?;
                let mut w = self.begin_write().await?;
                if let Some(key) = &order.idempotency_key {
                    let existing: Option<OrderRow> = sqlx::query_as(concat!(
                        "SELECT ", order_columns!(), " FROM orders WHERE user_id = $1 AND idempotency_key = $2"
                    ))
                    .bind(order.user.get())
                    .bind(key)
                    .fetch_optional(&mut *w.tx)
                    .await?;
                    if let Some(row) = existing {
                        return Ok(OpenedOrder { order: row.into_domain()?, reused: true });
                    }
                }
                if let Some(since) = order.reuse_since {
                    let open: Option<OrderRow> = sqlx::query_as(concat!(
                        "SELECT ", order_columns!(), " FROM orders
                         WHERE user_id = $1 AND plan_id = $2 AND provider = $3 AND kind = $4 AND amount = $5
                           AND currency = $6 AND status = 'pending' AND created_at >= $7
                         ORDER BY created_at DESC LIMIT 1"
                    ))
                    .bind(order.user.get())
                    .bind(order.plan.as_str())
                    .bind(order.provider.as_str())
                    .bind(order.kind.as_str())
                    .bind(order.amount.minor)
                    .bind(order.amount.currency.as_str())
                    .bind(t(since))
                    .fetch_optional(&mut *w.tx)
                    .await?;
                    if let Some(row) = open {
                        return Ok(OpenedOrder { order: row.into_domain()?, reused: true });
                    }
                }
                ensure_user(&mut w.tx, order.user, ctx.now).await?;
                sqlx::query(
                    "INSERT INTO orders (id, user_id, kind, plan_id, days, provider, amount, currency, status,
                                         created_at, updated_at, idempotency_key)
                     VALUES ($1, $2, $9, $3, $4, $5, $6, $7, 'pending', $8, $8, $10)",
                )
                .bind(order.id.uuid())
                .bind(order.user.get())
                .bind(order.plan.as_str())
                .bind(days)
                .bind(order.provider.as_str())
                .bind(order.amount.minor)
                .bind(order.amount.currency.as_str())
                .bind(t(ctx.now))
                .bind(order.kind.as_str())
                .bind(order.idempotency_key.as_deref())
                .execute(&mut *w.tx)
                .await
                // The same key from another instance, committed after our read.
                .map_err(conflict_on_unique(order.user))?;
                audit(&mut w.tx, ctx, order.user, "create_order", json!({
                    "kind": order.kind,
                    "order": order.id, "plan": order.plan, "provider": order.provider,
                    "amount": order.amount.minor, "currency": order.amount.currency,
                })).await?;
                let created = read_order(&mut w.tx, order.id)
                    .await?
                    .ok_or_else(|| corrupt(format!("order {} vanished inside its own transaction", order.id)))?;
                w.tx.commit().await?;
                Ok(OpenedOrder { order: created, reused: false })
            }

            async fn attach_invoice(
                &self,
                ctx: &WriteCtx<'_>,
                order: OrderId,
                provider_invoice_id: &str,
                pay_url: &str,
            ) -> Result<()> {
                let mut w = self.begin_write().await?;
                sqlx::query(
                    "UPDATE orders SET provider_invoice_id = $1, pay_url = $2, updated_at = $3 WHERE id = $4",
                )
                .bind(provider_invoice_id)
                .bind(pay_url)
                .bind(t(ctx.now))
                .bind(order.uuid())
                .execute(&mut *w.tx)
                .await?;
                w.tx.commit().await?;
                Ok(())
            }

            async fn apply_payment(
                &self,
                ctx: &WriteCtx<'_>,
                user: UserId,
                order_id: OrderId,
                payment: &IncomingPayment,
            ) -> Result<Settled> {
                let mut w = self.begin_write().await?;
                let order = read_order(&mut w.tx, order_id)
                    .await?
                    .ok_or_else(|| Error::OrderNotFound(order_id.to_string()))?;
                if order.user != user {
                    return Err(Error::OrderOfAnotherUser { order: order_id.to_string() });
                }
                let unchanged = |snapshot, previously| Settled {
                    change: Change { applied: false, snapshot, ops: Vec::new() },
                    settlement: Settlement::Duplicate,
                    previously,
                };
                if let Some(seen) = read_payment(&mut w.tx, payment.provider, &payment.provider_payment_id).await? {
                    let snapshot = read_committed_user(&mut w.tx, user).await?;
                    return Ok(unchanged(snapshot, Some(seen.settlement)));
                }
                let settlement = crate::domain::settle(
                    &order,
                    crate::domain::ReportedPayment {
                        provider: payment.provider,
                        provider_payment_id: &payment.provider_payment_id,
                        amount: payment.amount.as_ref(),
                        payer: payment.payer,
                    },
                    self.settlement_policy(),
                );
                let paid = payment.amount.clone().unwrap_or_else(|| order.amount.clone());
                let mut ops = Vec::new();
                match &settlement {
                    Settlement::Duplicate => {
                        let snapshot = read_committed_user(&mut w.tx, user).await?;
                        return Ok(unchanged(snapshot, Some(PaymentSettlement::Applied)));
                    }
                    Settlement::Apply { excess } => {
                        if order.provider == crate::domain::Provider::Balance {
                            debit(&mut w.tx, ctx, user, LedgerKind::Purchase, &order, "plan purchase").await?;
                        }
                        let moved = sqlx::query(
                            "UPDATE orders SET status = 'paid', paid_at = $1, updated_at = $1, provider_payment_id = $2
                             WHERE id = $3 AND status IN ('pending', 'expired', 'failed')",
                        )
                        .bind(t(ctx.now))
                        .bind(&payment.provider_payment_id)
                        .bind(order_id.uuid())
                        .execute(&mut *w.tx)
                        .await
                        .map_err(|e| {
                            if is_unique_violation(&e) {
                                Error::DuplicateProviderPayment(payment.provider_payment_id.clone())
                            } else {
                                e.into()
                            }
                        })?;
                        if moved.rows_affected() != 1 {
                            // Another instance applied it between our read and our write.
                            return Err(Error::Conflict(user));
                        }
                        match order.kind {
                            crate::domain::OrderKind::Plan => {
                                if order.provider != crate::domain::Provider::Balance {
                                    // The money passes through the user's ledger: in, then spent.
                                    let note = format!("paid through {}", order.provider);
                                    ledger_entry(&mut w.tx, ctx, user, LedgerKind::Payment, order.amount.minor,
                                        order.amount.currency.as_str(), Some(order_id), &note).await?;
                                    ledger_entry(&mut w.tx, ctx, user, LedgerKind::Purchase, -order.amount.minor,
                                        order.amount.currency.as_str(), Some(order_id), "plan purchase").await?;
                                }
                                ops = extend(&mut w.tx, ctx, user, order.days).await?;
                                if let Some(bonus) = self.referral_bonus() {
                                    reward_referrer(&mut w.tx, ctx, user, bonus, order_id).await?;
                                }
                            }
                            crate::domain::OrderKind::Topup => {
                                ledger_entry(&mut w.tx, ctx, user, LedgerKind::TopUp, order.amount.minor,
                                    order.amount.currency.as_str(), Some(order_id), "top-up").await?;
                                let balance = read_balance(&mut w.tx, user).await?;
                                notify(&mut w.tx, ctx, user, NotificationKind::TopUp, json!({
                                    "amount": order.amount, "balance": crate::domain::Money::new(balance, order.amount.currency.clone()),
                                })).await?;
                            }
                        }
                        match excess {
                            Some(Excess::Credit(rest)) => {
                                credit_payment(&mut w.tx, ctx, user, Some(order_id), rest,
                                    crate::domain::Unexpected::Overpaid, payment.provider).await?;
                            }
                            Some(Excess::Flag(rest)) => {
                                flag(&mut w.tx, ctx, &order, crate::domain::Unexpected::Overpaid.as_str(),
                                    json!({ "paid": paid, "excess": rest })).await?;
                            }
                            None => {}
                        }
                        audit(&mut w.tx, ctx, user, "apply_payment", json!({
                            "kind": order.kind,
                            "order": order_id,
                            "provider": order.provider,
                            "provider_payment_id": payment.provider_payment_id,
                            "amount": order.amount.minor,
                            "currency": order.amount.currency,
                            "paid": paid,
                            "days": order.days,
                            "order_was": order.status,
                        })).await?;
                    }
                    other => {
                        settle_unexpected(&mut w.tx, ctx, user, Some(&order), payment, &paid, other).await?;
                    }
                }
                if let Some(recorded) = settlement.recorded_as() {
                    let reason = settlement.reason().map(crate::domain::Unexpected::as_str);
                    record_payment(&mut w.tx, ctx, user, Some(order_id), payment, &paid, recorded, reason).await?;
                }
                let snapshot = read_committed_user(&mut w.tx, user).await?;
                w.tx.commit().await?;
                let applied = matches!(settlement, Settlement::Apply { .. });
                Ok(Settled { change: Change { applied, snapshot, ops }, settlement, previously: None })
            }

            async fn record_stray_payment(
                &self,
                ctx: &WriteCtx<'_>,
                payer: UserId,
                payment: &IncomingPayment,
            ) -> Result<Settled> {
                let amount = payment
                    .amount
                    .clone()
                    .ok_or_else(|| Error::invalid("amount", "a payment without an order must state its amount"))?;
                let mut w = self.begin_write().await?;
                ensure_user(&mut w.tx, payer, ctx.now).await?;
                if let Some(seen) = read_payment(&mut w.tx, payment.provider, &payment.provider_payment_id).await? {
                    let snapshot = read_committed_user(&mut w.tx, payer).await?;
                    return Ok(Settled {
                        change: Change { applied: false, snapshot, ops: Vec::new() },
                        settlement: Settlement::Duplicate,
                        previously: Some(seen.settlement),
                    });
                }
                let settlement = crate::domain::settle_without_order(payment.provider, &amount, self.settlement_policy());
                settle_unexpected(&mut w.tx, ctx, payer, None, payment, &amount, &settlement).await?;
                if let Some(recorded) = settlement.recorded_as() {
                    let reason = settlement.reason().map(crate::domain::Unexpected::as_str);
                    record_payment(&mut w.tx, ctx, payer, None, payment, &amount, recorded, reason).await?;
                }
                let snapshot = read_committed_user(&mut w.tx, payer).await?;
                w.tx.commit().await?;
                Ok(Settled { change: Change { applied: false, snapshot, ops: Vec::new() }, settlement, previously: None })
            }

            async fn payment(
                &self,
                provider: crate::domain::Provider,
                provider_payment_id: &str,
            ) -> Result<Option<crate::store::PaymentRecord>> {
                let mut conn = self.pool().acquire().await?;
                read_payment(&mut conn, provider, provider_payment_id).await
            }

            async fn payments_of_order(&self, order: OrderId) -> Result<Vec<crate::store::PaymentRecord>> {
                let rows: Vec<PaymentRow> = sqlx::query_as(concat!(
                    "SELECT ", payment_columns!(), " FROM payments WHERE order_id = $1 ORDER BY id"
                ))
                .bind(order.uuid())
                .fetch_all(self.pool())
                .await?;
                rows.into_iter().map(PaymentRow::into_domain).collect()
            }

            async fn payments_to_return(&self, limit: u32) -> Result<Vec<crate::store::PaymentRecord>> {
                let rows: Vec<PaymentRow> = sqlx::query_as(concat!(
                    "SELECT ", payment_columns!(), " FROM payments WHERE settlement = 'refund_pending' ORDER BY id LIMIT $1"
                ))
                .bind(i64::from(limit))
                .fetch_all(self.pool())
                .await?;
                rows.into_iter().map(PaymentRow::into_domain).collect()
            }

            async fn payment_returned(
                &self,
                ctx: &WriteCtx<'_>,
                user: UserId,
                provider: crate::domain::Provider,
                provider_payment_id: &str,
            ) -> Result<Change> {
                let mut w = self.begin_write().await?;
                let record = read_payment(&mut w.tx, provider, provider_payment_id).await?;
                let moved = sqlx::query(
                    "UPDATE payments SET settlement = 'refunded', updated_at = $1
                     WHERE provider = $2 AND provider_payment_id = $3 AND settlement = 'refund_pending'",
                )
                .bind(t(ctx.now))
                .bind(provider.as_str())
                .bind(provider_payment_id)
                .execute(&mut *w.tx)
                .await?;
                let applied = moved.rows_affected() == 1;
                if applied && let Some(record) = record {
                    notify(&mut w.tx, ctx, user, NotificationKind::PaymentReturned, json!({
                        "order": record.order, "amount": record.amount, "reason": record.reason,
                    })).await?;
                    audit(&mut w.tx, ctx, user, "payment_returned", json!({
                        "order": record.order, "amount": record.amount, "provider": provider,
                        "provider_payment_id": provider_payment_id,
                    })).await?;
                }
                let snapshot = read_committed_user(&mut w.tx, user).await?;
                w.tx.commit().await?;
                Ok(Change { applied, snapshot, ops: Vec::new() })
            }

            async fn orders_to_reconcile(&self, since: DateTime<Utc>, limit: u32) -> Result<Vec<Order>> {
                let rows: Vec<OrderRow> = sqlx::query_as(concat!(
                    "SELECT ", order_columns!(), " FROM orders
                     WHERE status IN ('pending', 'expired', 'failed') AND provider <> 'balance' AND created_at >= $1
                     ORDER BY created_at LIMIT $2"
                ))
                .bind(t(since))
                .bind(i64::from(limit))
                .fetch_all(self.pool())
                .await?;
                rows.into_iter().map(OrderRow::into_domain).collect()
            }

            async fn record_payment_event(&self, event: &crate::store::NewPaymentEvent) -> Result<EventRecord> {
                let mut w = self.begin_write().await?;
                let inserted = sqlx::query(
                    "INSERT INTO webhook_events (provider, event_id, order_id, received_at, outcome, payload, event)
                     VALUES ($1, $2, $3, $4, 'received', $5, $6) ON CONFLICT (provider, event_id) DO NOTHING",
                )
                .bind(&event.provider)
                .bind(&event.event_id)
                .bind(event.order.map(|o| o.uuid()))
                .bind(t(event.received_at))
                .bind(&event.payload)
                .bind(&event.event)
                .execute(&mut *w.tx)
                .await?;
                let record = if inserted.rows_affected() == 1 {
                    EventRecord::New
                } else {
                    let (outcome, finished): (String, Option<crate::store::db_time::DbTime>) = sqlx::query_as(
                        "SELECT outcome, finished_at FROM webhook_events WHERE provider = $1 AND event_id = $2",
                    )
                    .bind(&event.provider)
                    .bind(&event.event_id)
                    .fetch_one(&mut *w.tx)
                    .await?;
                    if finished.is_some() {
                        EventRecord::Finished(outcome)
                    } else {
                        // Stored before the intake kept the neutral form: add it now.
                        sqlx::query(
                            "UPDATE webhook_events SET event = $1 WHERE provider = $2 AND event_id = $3 AND event IS NULL",
                        )
                        .bind(&event.event)
                        .bind(&event.provider)
                        .bind(&event.event_id)
                        .execute(&mut *w.tx)
                        .await?;
                        EventRecord::Unfinished
                    }
                };
                w.tx.commit().await?;
                Ok(record)
            }

            async fn finish_payment_event(
                &self,
                provider: &str,
                event_id: &str,
                outcome: &str,
                now: DateTime<Utc>,
            ) -> Result<bool> {
                let mut w = self.begin_write().await?;
                let done = sqlx::query(
                    "UPDATE webhook_events SET outcome = $1, finished_at = $2, attempts = attempts + 1
                     WHERE provider = $3 AND event_id = $4 AND finished_at IS NULL",
                )
                .bind(outcome)
                .bind(t(now))
                .bind(provider)
                .bind(event_id)
                .execute(&mut *w.tx)
                .await?;
                w.tx.commit().await?;
                Ok(done.rows_affected() == 1)
            }

            async fn payment_event_failed(&self, provider: &str, event_id: &str, error: &str) -> Result<()> {
                let mut w = self.begin_write().await?;
                sqlx::query(
                    "UPDATE webhook_events SET attempts = attempts + 1, last_error = $1
                     WHERE provider = $2 AND event_id = $3 AND finished_at IS NULL",
                )
                .bind(error)
                .bind(provider)
                .bind(event_id)
                .execute(&mut *w.tx)
                .await?;
                w.tx.commit().await?;
                Ok(())
            }

            async fn unfinished_payment_events(
                &self,
                received_before: DateTime<Utc>,
                limit: u32,
            ) -> Result<Vec<crate::store::WebhookEvent>> {
                let rows: Vec<WebhookRow> = sqlx::query_as(concat!(
                    "SELECT ", event_columns!(), " FROM webhook_events
                     WHERE finished_at IS NULL AND received_at <= $1 ORDER BY received_at, id LIMIT $2"
                ))
                .bind(t(received_before))
                .bind(i64::from(limit))
                .fetch_all(self.pool())
                .await?;
                Ok(rows.into_iter().map(WebhookRow::into_domain).collect())
            }

            async fn webhook_events_for_order(&self, order: OrderId) -> Result<Vec<crate::store::WebhookEvent>> {
                let rows: Vec<WebhookRow> = sqlx::query_as(concat!(
                    "SELECT ", event_columns!(), " FROM webhook_events WHERE order_id = $1 ORDER BY id"
                ))
                .bind(order.uuid())
                .fetch_all(self.pool())
                .await?;
                Ok(rows.into_iter().map(WebhookRow::into_domain).collect())
            }

            async fn webhook_event(&self, provider: &str, event_id: &str) -> Result<Option<crate::store::WebhookEvent>> {
                let row: Option<WebhookRow> = sqlx::query_as(concat!(
                    "SELECT ", event_columns!(), " FROM webhook_events WHERE provider = $1 AND event_id = $2"
                ))
                .bind(provider)
                .bind(event_id)
                .fetch_optional(self.pool())
                .await?;
                Ok(row.map(WebhookRow::into_domain))
            }

            async fn recent_payment_events(&self, limit: u32) -> Result<Vec<crate::store::WebhookEvent>> {
                let rows: Vec<WebhookRow> = sqlx::query_as(concat!(
                    "SELECT ", event_columns!(), " FROM webhook_events ORDER BY id DESC LIMIT $1"
                ))
                .bind(i64::from(limit))
                .fetch_all(self.pool())
                .await?;
                Ok(rows.into_iter().map(WebhookRow::into_domain).collect())
            }

            async fn flag_order(&self, ctx: &WriteCtx<'_>, order_id: OrderId, reason: &str) -> Result<bool> {
                let mut w = self.begin_write().await?;
                let order = read_order(&mut w.tx, order_id)
                    .await?
                    .ok_or_else(|| Error::OrderNotFound(order_id.to_string()))?;
                let flagged = flag(&mut w.tx, ctx, &order, reason, json!({})).await?;
                w.tx.commit().await?;
                Ok(flagged)
            }

            async fn raise_alert(
                &self,
                ctx: &WriteCtx<'_>,
                kind: AlertKind,
                payload: serde_json::Value,
            ) -> Result<()> {
                let mut w = self.begin_write().await?;
                alert(&mut w.tx, ctx, kind, payload.clone()).await?;
                sqlx::query(
                    "INSERT INTO audit_log (actor, action, user_id, details, created_at) VALUES ($1, $2, NULL, $3, $4)",
                )
                .bind(ctx.by.to_string())
                .bind(format!("alert_{}", kind.as_str()))
                .bind(payload.to_string())
                .bind(t(ctx.now))
                .execute(&mut *w.tx)
                .await?;
                w.tx.commit().await?;
                Ok(())
            }

            async fn close_order(&self, ctx: &WriteCtx<'_>, order_id: OrderId, status: OrderStatus) -> Result<bool> {
                if !OrderStatus::Pending.can_become(status) || status == OrderStatus::Paid {
                    return Err(Error::invalid("status", format!("an order cannot be closed as {status}")));
                }
                let mut w = self.begin_write().await?;
                let done = sqlx::query(
                    "UPDATE orders SET status = $1, updated_at = $2 WHERE id = $3 AND status = 'pending'",
                )
                .bind(status.as_str())
                .bind(t(ctx.now))
                .bind(order_id.uuid())
                .execute(&mut *w.tx)
                .await?;
                let closed = done.rows_affected() == 1;
                if closed && let Some(order) = read_order(&mut w.tx, order_id).await? {
                    audit(&mut w.tx, ctx, order.user, "close_order", json!({ "order": order_id, "status": status })).await?;
                }
                w.tx.commit().await?;
                Ok(closed)
            }

            async fn expire_stale_orders(&self, ctx: &WriteCtx<'_>, cutoff: DateTime<Utc>) -> Result<u64> {
                let mut w = self.begin_write().await?;
                let done = sqlx::query(
                    "UPDATE orders SET status = 'expired', updated_at = $1 WHERE status = 'pending' AND created_at <= $2",
                )
                .bind(t(ctx.now))
                .bind(t(cutoff))
                .execute(&mut *w.tx)
                .await?;
                w.tx.commit().await?;
                Ok(done.rows_affected())
            }

            async fn refund_order(&self, ctx: &WriteCtx<'_>, user: UserId, order_id: OrderId) -> Result<Refunded> {
                let mut w = self.begin_write().await?;
                let order = read_order(&mut w.tx, order_id)
                    .await?
                    .ok_or_else(|| Error::OrderNotFound(order_id.to_string()))?;
                if order.user != user {
                    return Err(Error::OrderOfAnotherUser { order: order_id.to_string() });
                }
                let moved = sqlx::query(
                    "UPDATE orders SET status = 'refunded', updated_at = $1 WHERE id = $2 AND status = 'paid'",
                )
                .bind(t(ctx.now))
                .bind(order_id.uuid())
                .execute(&mut *w.tx)
                .await?;
                if moved.rows_affected() != 1 {
                    let snapshot = read_committed_user(&mut w.tx, user).await?;
                    return Ok(Refunded { change: Change { applied: false, snapshot, ops: Vec::new() }, shortfall: None });
                }
                let mut ops = Vec::new();
                let mut shortfall = None;
                if order.kind == crate::domain::OrderKind::Topup {
                    // Take back what is left of the top-up; a spent part is a
                    // shortfall for ops, never a negative balance or a retry loop.
                    let balance = read_balance(&mut w.tx, user).await?;
                    let (taken, short) = crate::domain::take_back(order.amount.minor, balance);
                    if taken > 0 {
                        ledger_entry(&mut w.tx, ctx, user, LedgerKind::Refund, -taken,
                            order.amount.currency.as_str(), Some(order_id), "refund of a top-up").await?;
                    }
                    if short > 0 {
                        let missing = crate::domain::Money::new(short, order.amount.currency.clone());
                        sqlx::query("UPDATE orders SET flag = 'refund_shortfall', updated_at = $1 WHERE id = $2")
                            .bind(t(ctx.now))
                            .bind(order_id.uuid())
                            .execute(&mut *w.tx)
                            .await?;
                        alert(&mut w.tx, ctx, AlertKind::RefundShortfall, json!({
                            "user": user, "order": order_id, "what": "top_up",
                            "wanted": order.amount, "shortfall": missing,
                        })).await?;
                        shortfall = Some(missing);
                    }
                } else if let Some(sub) = read_sub(&mut w.tx, user).await? {
                    let status: SubscriptionStatus = sub.status.parse().map_err(corrupt)?;
                    let shortened = sub.expires_at.0 - chrono::Duration::days(i64::from(order.days));
                    let ends_now = shortened <= ctx.now;
                    let (new_status, new_expiry) = match status {
                        SubscriptionStatus::Active if ends_now => (SubscriptionStatus::Expired, ctx.now),
                        other => (other, shortened.max(ctx.now.min(sub.expires_at.0))),
                    };
                    update_sub(&mut w.tx, ctx, user, new_status, new_expiry, sub.version).await?;
                    if status == SubscriptionStatus::Active && new_status == SubscriptionStatus::Expired {
                        ops = remove_access(&mut w.tx, ctx, user).await?;
                        notify(&mut w.tx, ctx, user, NotificationKind::Expired, json!({ "reason": "refund" })).await?;
                    }
                }
                if order.provider == crate::domain::Provider::Balance {
                    ledger_entry(&mut w.tx, ctx, user, LedgerKind::Refund, order.amount.minor,
                        order.amount.currency.as_str(), Some(order_id), "refund of a balance purchase").await?;
                } else if order.kind == crate::domain::OrderKind::Plan {
                    // Mirror of the payment: the purchase is reversed, the money goes back out.
                    let note = format!("returned through {}", order.provider);
                    ledger_entry(&mut w.tx, ctx, user, LedgerKind::Refund, order.amount.minor,
                        order.amount.currency.as_str(), Some(order_id), "refund of a plan purchase").await?;
                    ledger_entry(&mut w.tx, ctx, user, LedgerKind::Payout, -order.amount.minor,
                        order.amount.currency.as_str(), Some(order_id), &note).await?;
                }
                reverse_referral(&mut w.tx, ctx, &order).await?;
                notify(&mut w.tx, ctx, user, NotificationKind::Refunded, json!({
                    "order": order_id, "amount": order.amount, "days": order.days,
                })).await?;
                audit(&mut w.tx, ctx, user, "refund_order", json!({
                    "order": order_id, "provider": order.provider, "days": order.days,
                    "amount": order.amount.minor, "currency": order.amount.currency,
                    "shortfall": shortfall,
                })).await?;
                let snapshot = read_committed_user(&mut w.tx, user).await?;
                w.tx.commit().await?;
                Ok(Refunded { change: Change { applied: true, snapshot, ops }, shortfall })
            }

            async fn adjust_balance(
                &self,
                ctx: &WriteCtx<'_>,
                user: UserId,
                kind: LedgerKind,
                amount: &crate::domain::Money,
                note: &str,
            ) -> Result<Change> {
                let (amount, currency) = (amount.minor, amount.currency.as_str());
                let mut w = self.begin_write().await?;
                ensure_user(&mut w.tx, user, ctx.now).await?;
                ledger_entry(&mut w.tx, ctx, user, kind, amount, currency, None, note).await?;
                audit(&mut w.tx, ctx, user, "adjust_balance", json!({ "kind": kind, "amount": amount, "note": note })).await?;
                let snapshot = read_committed_user(&mut w.tx, user).await?;
                w.tx.commit().await?;
                Ok(Change { applied: true, snapshot, ops: Vec::new() })
            }

            async fn ledger(&self, user: UserId) -> Result<Vec<LedgerEntry>> {
                let rows: Vec<(String, i64, String, Option<Uuid>, String, crate::store::db_time::DbTime)> = sqlx::query_as(
                    "SELECT kind, amount, currency, order_id, note, created_at FROM ledger WHERE user_id = $1 ORDER BY id",
                )
                .bind(user.get())
                .fetch_all(self.pool())
                .await?;
                rows.into_iter()
                    .map(|(kind, amount, currency, order, note, at)| {
                        Ok(LedgerEntry {
                            kind: kind.parse().map_err(corrupt)?,
                            amount: crate::domain::Money::new(amount, crate::domain::Currency::new(currency).map_err(corrupt)?),
                            order: order.map(OrderId::from_uuid),
                            note,
                            created_at: at.0,
                        })
                    })
                    .collect()
            }

            async fn complete_ops(&self, ids: &[i64], now: DateTime<Utc>) -> Result<()> {
                if ids.is_empty() {
                    return Ok(());
                }
                let mut w = self.begin_write().await?;
                for id in ids {
                    sqlx::query(
                        "UPDATE provisioning_ops SET state = 'done', done_at = $1, attempts = attempts + 1
                         WHERE id = $2 AND state = 'pending'",
                    )
                    .bind(t(now))
                    .bind(*id)
                    .execute(&mut *w.tx)
                    .await?;
                }
                w.tx.commit().await?;
                Ok(())
            }

            async fn retry_op_later(&self, id: i64, error: &str, next_attempt_at: DateTime<Utc>) -> Result<()> {
                let mut w = self.begin_write().await?;
                sqlx::query(
                    "UPDATE provisioning_ops SET attempts = attempts + 1, last_error = $1, next_attempt_at = $2
                     WHERE id = $3 AND state = 'pending'",
                )
                .bind(error)
                .bind(t(next_attempt_at))
                .bind(id)
                .execute(&mut *w.tx)
                .await?;
                w.tx.commit().await?;
                Ok(())
            }

            async fn add_traffic(&self, deltas: &[(String, u64, u64)]) -> Result<()> {
                if deltas.is_empty() {
                    return Ok(());
                }
                let mut w = self.begin_write().await?;
                for (email, up, down) in deltas {
                    sqlx::query(
                        "UPDATE keys SET upload_bytes = upload_bytes + $1, download_bytes = download_bytes + $2
                         WHERE email = $3",
                    )
                    .bind(i64::try_from(*up).unwrap_or(i64::MAX))
                    .bind(i64::try_from(*down).unwrap_or(i64::MAX))
                    .bind(email.to_ascii_lowercase())
                    .execute(&mut *w.tx)
                    .await?;
                }
                w.tx.commit().await?;
                Ok(())
            }

            async fn lead(&self, role: &str) -> Result<Option<Box<dyn crate::store::Lease>>> {
                self.lead_role(role).await
            }

            async fn reschedule_node_ops(&self, node: &crate::domain::NodeName, now: DateTime<Utc>) -> Result<u64> {
                let mut w = self.begin_write().await?;
                let done = sqlx::query(
                    "UPDATE provisioning_ops SET next_attempt_at = $1
                     WHERE node = $2 AND state = 'pending' AND next_attempt_at > $1",
                )
                .bind(t(now))
                .bind(node.as_str())
                .execute(&mut *w.tx)
                .await?;
                w.tx.commit().await?;
                Ok(done.rows_affected())
            }

            async fn rotate_sub_token(&self, ctx: &WriteCtx<'_>, user: UserId) -> Result<Change> {
                let mut w = self.begin_write().await?;
                let sub = read_sub(&mut w.tx, user).await?.ok_or(Error::NoSubscription(user))?;
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
                Ok(Change { applied: true, snapshot, ops: Vec::new() })
            }

            async fn cancel_op(&self, id: i64, reason: &str, now: DateTime<Utc>) -> Result<()> {
                let mut w = self.begin_write().await?;
                sqlx::query(
                    "UPDATE provisioning_ops SET state = 'cancelled', last_error = $1, done_at = $2
                     WHERE id = $3 AND state = 'pending'",
                )
                .bind(reason)
                .bind(t(now))
                .bind(id)
                .execute(&mut *w.tx)
                .await?;
                w.tx.commit().await?;
                Ok(())
            }

            async fn touch_user(
                &self,
                ctx: &WriteCtx<'_>,
                user: UserId,
                profile: &crate::store::Profile,
            ) -> Result<(bool, UserSnapshot)> {
                let mut w = self.begin_write().await?;
                let referrer = profile.referrer.filter(|r| *r != user).map(|r| r.get());
                let created = sqlx::query(
                    "INSERT INTO users (telegram_id, created_at, username, language, referrer)
                     VALUES ($1, $2, $3, $4, (SELECT telegram_id FROM users WHERE telegram_id = $5))
                     ON CONFLICT (telegram_id) DO NOTHING",
                )
                .bind(user.get())
                .bind(t(ctx.now))
                .bind(profile.username.as_deref())
                .bind(profile.language_code.as_deref())
                .bind(referrer)
                .execute(&mut *w.tx)
                .await?
                .rows_affected()
                    == 1;
                if created {
                    audit(&mut w.tx, ctx, user, "first_contact", json!({ "referrer": referrer })).await?;
                } else {
                    // Talking to us again means the bot is not blocked (any more).
                    sqlx::query(
                        "UPDATE users SET username = $1, language = COALESCE(language, $2), bot_blocked = FALSE
                         WHERE telegram_id = $3",
                    )
                    .bind(profile.username.as_deref())
                    .bind(profile.language_code.as_deref())
                    .bind(user.get())
                    .execute(&mut *w.tx)
                    .await?;
                }
                let snapshot = read_committed_user(&mut w.tx, user).await?;
                w.tx.commit().await?;
                Ok((created, snapshot))
            }

            async fn set_language(&self, ctx: &WriteCtx<'_>, user: UserId, language: &str) -> Result<Change> {
                let mut w = self.begin_write().await?;
                ensure_user(&mut w.tx, user, ctx.now).await?;
                sqlx::query("UPDATE users SET language = $1 WHERE telegram_id = $2")
                    .bind(language)
                    .bind(user.get())
                    .execute(&mut *w.tx)
                    .await?;
                let snapshot = read_committed_user(&mut w.tx, user).await?;
                w.tx.commit().await?;
                Ok(Change { applied: true, snapshot, ops: Vec::new() })
            }

            async fn set_bot_blocked(&self, user: UserId, blocked: bool, now: DateTime<Utc>) -> Result<()> {
                let mut w = self.begin_write().await?;
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

            async fn due_notifications(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<crate::store::PendingNotification>> {
                type Row = (i64, i64, String, String, i32, Option<i64>, Option<String>, bool);
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
                    .map(|(id, user, kind, payload, attempts, broadcast, language, user_blocked_bot)| {
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
                    })
                    .collect()
            }

            async fn notification_sent(&self, id: i64, now: DateTime<Utc>) -> Result<()> {
                self.outbox_sent("notifications", id, now).await
            }

            async fn notification_retry(&self, id: i64, error: &str, next_attempt_at: DateTime<Utc>) -> Result<()> {
                self.outbox_retry("notifications", id, error, next_attempt_at).await
            }

            async fn notification_failed(&self, id: i64, error: &str, now: DateTime<Utc>) -> Result<()> {
                self.outbox_failed("notifications", id, error, now).await
            }

            async fn due_alerts(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<crate::store::PendingAlert>> {
                let rows: Vec<(i64, String, String, i32)> = sqlx::query_as(
                    "SELECT id, kind, payload, attempts FROM alerts
                     WHERE state = 'pending' AND next_attempt_at <= $1 ORDER BY id LIMIT $2",
                )
                .bind(t(now))
                .bind(i64::from(limit))
                .fetch_all(self.pool())
                .await?;
                rows.into_iter()
                    .map(|(id, kind, payload, attempts)| {
                        Ok(crate::store::PendingAlert {
                            id,
                            kind: kind.parse().map_err(corrupt)?,
                            payload: serde_json::from_str(&payload).map_err(corrupt)?,
                            attempts,
                        })
                    })
                    .collect()
            }

            async fn alert_sent(&self, id: i64, now: DateTime<Utc>) -> Result<()> {
                self.outbox_sent("alerts", id, now).await
            }

            async fn alert_retry(&self, id: i64, error: &str, next_attempt_at: DateTime<Utc>) -> Result<()> {
                self.outbox_retry("alerts", id, error, next_attempt_at).await
            }

            async fn alert_failed(&self, id: i64, error: &str, now: DateTime<Utc>) -> Result<()> {
                self.outbox_failed("alerts", id, error, now).await
            }

            async fn due_reminders(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<crate::store::DueReminder>> {
                let mut due = Vec::new();
                for kind in crate::domain::ReminderKind::BOTH {
                    let (low, high) = kind.due_expiries(now);
                    let rows: Vec<(i64, crate::store::db_time::DbTime)> = sqlx::query_as(
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
                        due.push(crate::store::DueReminder { user: UserId::new(user).map_err(corrupt)?, kind, expires_at: at.0 });
                    }
                }
                Ok(due)
            }

            async fn remind(
                &self,
                ctx: &WriteCtx<'_>,
                user: UserId,
                kind: crate::domain::ReminderKind,
                expires_at: DateTime<Utc>,
            ) -> Result<Change> {
                let mut w = self.begin_write().await?;
                let sub = read_sub(&mut w.tx, user).await?.ok_or(Error::NoSubscription(user))?;
                let (from, until) = kind.window(sub.expires_at.0);
                let current = sub.status == SubscriptionStatus::Active.as_str()
                    && crate::store::db_time::DbTime(expires_at) == sub.expires_at
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
                        notify(&mut w.tx, ctx, user, kind.notification(), json!({ "expires_at": sub.expires_at.0 })).await?;
                    }
                }
                let snapshot = read_committed_user(&mut w.tx, user).await?;
                w.tx.commit().await?;
                Ok(Change { applied, snapshot, ops: Vec::new() })
            }

            async fn setting(&self, key: &str) -> Result<Option<String>> {
                Ok(sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
                    .bind(key)
                    .fetch_optional(self.pool())
                    .await?)
            }

            async fn set_setting(&self, ctx: &WriteCtx<'_>, key: &str, value: &str) -> Result<()> {
                let mut w = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                )
                .bind(key)
                .bind(value)
                .bind(t(ctx.now))
                .execute(&mut *w.tx)
                .await?;
                sqlx::query(
                    "INSERT INTO audit_log (actor, action, user_id, details, created_at) VALUES ($1, 'set_setting', NULL, $2, $3)",
                )
                .bind(ctx.by.to_string())
                .bind(json!({ "key": key, "value": value }).to_string())
                .bind(t(ctx.now))
                .execute(&mut *w.tx)
                .await?;
                w.tx.commit().await?;
                Ok(())
            }

            async fn stats(&self, now: DateTime<Utc>, since: DateTime<Utc>) -> Result<crate::store::Stats> {
                let (users, blocked, active): (i64, i64, i64) = sqlx::query_as(
                    "SELECT (SELECT COUNT(*) FROM users),
                            (SELECT COUNT(*) FROM users WHERE bot_blocked = TRUE),
                            (SELECT COUNT(*) FROM subscriptions WHERE status = 'active' AND expires_at > $1)",
                )
                .bind(t(now))
                .fetch_one(self.pool())
                .await?;
                let rows: Vec<(String, String, i64, crate::store::db_time::DbTime)> = sqlx::query_as(
                    "SELECT provider, currency, amount, paid_at FROM orders
                     WHERE status = 'paid' AND paid_at >= $1 AND provider <> 'balance'",
                )
                .bind(t(since))
                .fetch_all(self.pool())
                .await?;
                let mut sums: std::collections::BTreeMap<(chrono::NaiveDate, String, String), i64> = Default::default();
                for (provider, currency, amount, paid_at) in rows {
                    *sums.entry((paid_at.0.date_naive(), provider, currency)).or_default() += amount;
                }
                let mut revenue = Vec::with_capacity(sums.len());
                for ((day, provider, currency), minor) in sums.into_iter().rev() {
                    revenue.push(crate::store::Revenue {
                        day,
                        provider: provider.parse().map_err(corrupt)?,
                        amount: crate::domain::Money::new(minor, crate::domain::Currency::new(currency).map_err(corrupt)?),
                    });
                }
                Ok(crate::store::Stats { users, active, blocked, revenue })
            }

            async fn list_users(&self, search: Option<&str>, offset: u32, limit: u32) -> Result<crate::store::UserPage> {
                type Row = (i64, Option<String>, crate::store::db_time::DbTime, Option<String>, Option<crate::store::db_time::DbTime>);
                let search = search.map(str::trim).filter(|s| !s.is_empty());
                let id = search.and_then(|s| s.parse::<i64>().ok()).unwrap_or(0);
                let pattern = search.map(|s| {
                    let s = s.trim_start_matches('@').to_lowercase();
                    let escaped = s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
                    format!("%{escaped}%")
                });
                let filter = "($1 IS NULL OR u.telegram_id = $2 OR LOWER(u.username) LIKE $1 ESCAPE '\\')";
                let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM users u WHERE {filter}"))
                    .bind(pattern.as_deref())
                    .bind(id)
                    .fetch_one(self.pool())
                    .await?;
                let rows: Vec<Row> = sqlx::query_as(&format!(
                    "SELECT u.telegram_id, u.username, u.created_at, s.status, s.expires_at
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
                    .map(|(user, username, created_at, status, expires_at)| {
                        Ok(crate::store::UserListItem {
                            user: UserId::new(user).map_err(corrupt)?,
                            username,
                            created_at: created_at.0,
                            status: status.map(|s| s.parse()).transpose().map_err(corrupt)?,
                            expires_at: expires_at.map(|t| t.0),
                        })
                    })
                    .collect::<Result<_>>()?;
                Ok(crate::store::UserPage { users, total })
            }

            async fn orders_of(&self, user: UserId, limit: u32) -> Result<Vec<Order>> {
                let rows: Vec<OrderRow> = sqlx::query_as(
                    concat!("SELECT ", order_columns!(), " FROM orders WHERE user_id = $1 ORDER BY created_at DESC LIMIT $2"),
                )
                .bind(user.get())
                .bind(i64::from(limit))
                .fetch_all(self.pool())
                .await?;
                rows.into_iter().map(OrderRow::into_domain).collect()
            }

            async fn referral_count(&self, user: UserId) -> Result<i64> {
                Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE referrer = $1")
                    .bind(user.get())
                    .fetch_one(self.pool())
                    .await?)
            }

            async fn create_broadcast(&self, ctx: &WriteCtx<'_>, text: &str) -> Result<crate::store::BroadcastReport> {
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
                let total = i64::try_from(total).map_err(corrupt)?;
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
                Ok(crate::store::BroadcastReport { id, total, pending: total, ..Default::default() })
            }

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
                let mut report = crate::store::BroadcastReport { id, total, ..Default::default() };
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
    };
}

pub(super) use sql_store;
