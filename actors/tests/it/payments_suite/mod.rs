//! Money paths in the store and the actors, on SQLite and PostgreSQL: every
//! payment applied, credited, sent back or flagged — never silently kept.

use chrono::Duration;
use futures_util::future::join_all;
use subvisor_actors::Error;
use subvisor_actors::domain::{
    AlertKind, LedgerKind, Money, NewOrder, NotificationKind, Order, OrderId, OrderKind,
    OrderStatus, PaymentSettlement, PlanId, Principal, Provider, Settlement, TOPUP_PLAN,
    Unexpected, UserId,
};
use subvisor_actors::messages::{AdjustBalance, ApplyPayment, CreateOrder, RefundOrder};
use subvisor_actors::store::{Backend, EventRecord, NewPaymentEvent, Profile, Store};

use crate::bot_store::Db;
use crate::helpers::{
    System, both_backends, ctx, fresh_store, from_balance, nodes, paid, plan_order, settings, t0,
    uid, usd, xtr,
};

mod ledger;
mod market_ledger;
mod orders;
mod referral_days;
mod refunds;
mod settlement;

async fn topup(store: &dyn Store, user: UserId, amount: Money) -> Order {
    let new = NewOrder {
        id: OrderId::random(),
        user,
        kind: OrderKind::Topup,
        plan: PlanId::new(TOPUP_PLAN).expect("valid"),
        days: 0,
        traffic_bytes: 0,
        provider: Provider::Nowpayments,
        amount,
        idempotency_key: None,
        reuse_since: None,
    };
    store
        .create_order(&ctx(t0(), &nodes()), &new)
        .await
        .expect("order")
        .order
}

/// Alerts still queued, by kind.
async fn alerts(store: &dyn Store, kind: AlertKind) -> Vec<serde_json::Value> {
    store
        .due_alerts(t0() + Duration::days(30), 1000)
        .await
        .expect("alerts")
        .into_iter()
        .filter(|a| a.kind == kind)
        .map(|a| a.payload)
        .collect()
}

async fn notifications(store: &dyn Store, user: UserId, kind: NotificationKind) -> usize {
    store
        .due_notifications(t0() + Duration::days(30), 1000)
        .await
        .expect("notifications")
        .iter()
        .filter(|n| n.user == user && n.kind == kind)
        .count()
}
