//! The store methods of the Telegram front (users, notification outbox,
//! reminders, settings, stats, admin lists, referral bonus, Stars, broadcasts),
//! on SQLite and PostgreSQL.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use subvisor_actors::domain::{
    Currency, LedgerKind, Money, NewOrder, NotificationKind, OpKind, Order, OrderId, OrderKind,
    OrderStatus, PlanId, Principal, Provider, ReminderKind, SubscriptionStatus, TOPUP_PLAN, UserId,
};
use subvisor_actors::messages::GrantDays;
use subvisor_actors::scheduler::Scheduler;
use subvisor_actors::store::{
    self, BLOCKED, Backend, BroadcastReport, Change, PendingNotification, Profile, Revenue, Store,
    StoreOptions,
};
use tempfile::TempDir;

use crate::helpers::{System, both_backends, ctx, nodes, plan_order, settings, t0, uid, usd, xtr};

mod admin;
mod broadcasts;
mod money;
mod notifications;
mod trial_open;
mod users;

/// A migrated store on a fresh database (with the given referral bonus), plus
/// a raw connection to the same database for what the Store API does not show
/// (the state and error of notifications that are no longer pending).
pub struct Db {
    pub store: Arc<dyn Store>,
    raw: Raw,
    _dir: Option<TempDir>,
}

enum Raw {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// One stored notification: (kind, state, attempts, last_error).
pub type NotificationRow = (String, String, i32, Option<String>);

impl Db {
    pub async fn open(backend: Backend, referral_bonus: Option<Money>) -> Self {
        Self::open_with(backend, |opts| opts.referral_bonus = referral_bonus).await
    }

    /// A fresh store whose options `configure` changes.
    pub async fn open_with(backend: Backend, configure: impl FnOnce(&mut StoreOptions)) -> Self {
        let (url, dir) = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}/subvisor.db", dir.path().display());
                (url, Some(dir))
            }
            Backend::Postgres => {
                let url = subvisor_testkit::shared_pg()
                    .fresh_database()
                    .expect("create database");
                (url, None)
            }
        };
        let mut opts = StoreOptions::new(url.clone());
        opts.max_connections = 4;
        configure(&mut opts);
        let store = store::connect(&opts).await.expect("connect");
        store.migrate().await.expect("migrate");
        let raw = match backend {
            Backend::Sqlite => Raw::Sqlite(
                sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect(&url)
                    .await
                    .expect("raw connect"),
            ),
            Backend::Postgres => Raw::Postgres(
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(1)
                    .connect(&url)
                    .await
                    .expect("raw connect"),
            ),
        };
        Self {
            store,
            raw,
            _dir: dir,
        }
    }

    /// Every notification of `user` as stored, in commit order.
    pub async fn notification_rows(&self, user: UserId) -> Vec<NotificationRow> {
        const SQL: &str = "SELECT kind, state, attempts, last_error FROM notifications
                           WHERE user_id = $1 ORDER BY id";
        match &self.raw {
            Raw::Sqlite(pool) => sqlx::query_as(SQL).bind(user.get()).fetch_all(pool).await,
            Raw::Postgres(pool) => sqlx::query_as(SQL).bind(user.get()).fetch_all(pool).await,
        }
        .expect("read notifications")
    }
}

/// Far enough ahead that every pending notification is due.
fn far() -> DateTime<Utc> {
    t0() + Duration::days(3650)
}

/// Every pending notification, in commit order.
pub async fn pending(store: &dyn Store) -> Vec<PendingNotification> {
    store.due_notifications(far(), 10_000).await.expect("due")
}

fn of(all: &[PendingNotification], user: UserId) -> Vec<PendingNotification> {
    all.iter().filter(|n| n.user == user).cloned().collect()
}

fn kinds(all: &[PendingNotification]) -> Vec<NotificationKind> {
    all.iter().map(|n| n.kind).collect()
}

fn profile(username: Option<&str>, language: Option<&str>, referrer: Option<UserId>) -> Profile {
    Profile {
        username: username.map(Into::into),
        display_name: None,
        language_code: language.map(Into::into),
        referrer,
    }
}

async fn topup_order(store: &dyn Store, user: UserId, amount: Money, at: DateTime<Utc>) -> Order {
    let new = NewOrder {
        id: OrderId::random(),
        user,
        kind: OrderKind::Topup,
        plan: PlanId::new(TOPUP_PLAN).expect("valid"),
        days: 0,
        traffic_bytes: 0,
        provider: Provider::Cryptobot,
        amount,
        idempotency_key: None,
        reuse_since: None,
    };
    store
        .create_order(&ctx(at, &[]), &new)
        .await
        .expect("order")
        .order
}

/// Pays `order` with exactly its amount.
async fn pay(store: &dyn Store, order: &Order, at: DateTime<Utc>) -> Change {
    let change = store
        .apply_payment(
            &ctx(at, &[]),
            order.user,
            order.id,
            &crate::helpers::paid(
                order.provider,
                &format!("pay-{}", order.id),
                order.amount.clone(),
            ),
        )
        .await
        .expect("pay")
        .change;
    assert!(change.applied);
    change
}

fn count(all: &[PendingNotification], user: UserId, kind: NotificationKind) -> usize {
    all.iter()
        .filter(|n| n.user == user && n.kind == kind)
        .count()
}
