//! The SQL both backends share, as ordinary modules compiled once per backend:
//! `sqlite.rs` and `postgres.rs` each include this directory with `#[path]`,
//! next to their `Db` (the sqlx database) and `This` (the store type). The
//! statements use the subset both engines understand (`$N` placeholders,
//! `RETURNING`, `ON CONFLICT`, typed binds through `DbTime`); each backend only
//! supplies its pool, its `BEGIN`, its leadership and its migrations.
//!
//! One file per store trait (`orders.rs` implements [`Orders`](crate::store::Orders)…),
//! plus the steps several of them share: `reads`, `access` (subscriptions and
//! keys), `money` (ledger, payments, referral) and `outbox` (notifications,
//! alerts, audit).

mod access;
mod admin;
mod alerts;
mod devices;
mod ledger;
mod lifecycle;
mod money;
mod notifications;
mod ops_views;
mod orders;
mod outbox;
mod payment_events;
mod payments;
mod promos;
mod provisioning;
mod reads;
mod referral_days;
mod renewals;
mod settings;
mod subscriptions;
mod traffic;

/// A connection of this backend (what the shared steps run on).
type Conn = <super::Db as sqlx::Database>::Connection;

/// What every file here uses.
mod prelude {
    pub(super) use async_trait::async_trait;
    pub(super) use chrono::{DateTime, Utc};
    pub(super) use serde_json::json;
    pub(super) use uuid::Uuid;

    pub(super) use super::super::This;
    pub(super) use super::Conn;
    pub(super) use super::access::*;
    pub(super) use super::money::*;
    pub(super) use super::outbox::*;
    pub(super) use super::reads::*;
    pub(super) use super::traffic::*;
    pub(super) use crate::domain::{
        AlertKind, Excess, KeyPlan, KeyState, LedgerEntry, LedgerKind, NewOrder, NotificationKind,
        OpKind, Order, OrderId, OrderStatus, PaymentSettlement, ProvisioningOp, Settlement,
        SubscriptionStatus, UserId, key_email, new_sub_token,
    };
    pub(super) use crate::store::db_time::DbTime;
    pub(super) use crate::store::rows::{
        AuditRow, KeyRow, OpRow, OrderRow, PaymentRow, SubKeyRow, SubRow, UserKeyRow, WebhookRow,
        conflict_on_unique, corrupt, event_columns, is_unique_violation, op_kind_of, order_columns,
        payment_columns, t,
    };
    pub(super) use crate::store::{
        AuditEntry, Backend, Change, DueExpiry, EventRecord, IncomingPayment, OpenedOrder,
        OutboxDepth, PendingOp, Refunded, Settled, UserSnapshot, WriteCtx,
    };
    pub(super) use crate::{Error, Result};
}
