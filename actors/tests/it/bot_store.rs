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

use crate::helpers::{System, both_backends, ctx, nodes, plan_order, settings, t0};

fn uid(n: i64) -> UserId {
    UserId::new(n).expect("valid user id")
}

fn usd(minor: i64) -> Money {
    Money::new(minor, Currency::new("USD").expect("valid"))
}

fn xtr(n: i64) -> Money {
    Money::new(n, Currency::stars())
}

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
        opts.referral_bonus = referral_bonus;
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

both_backends!(
    touch_user_creates_once_and_refreshes_after,
    set_language_overrides_the_telegram_language,
    notifications_are_sent_retried_given_up_and_blocked,
    reminders_fire_once_per_period,
    scheduler_queues_each_reminder_once,
    settings_are_upserted,
    stats_count_users_and_revenue_per_day_and_provider,
    list_users_pages_and_searches,
    orders_of_newest_first,
    referral_bonus_is_paid_once_on_the_first_plan,
    stars_payments_and_refunds_pass_through_the_ledger,
    broadcasts_reach_everyone_who_has_not_blocked_the_bot,
    a_flagged_payment_tells_the_user,
);

async fn touch_user_creates_once_and_refreshes_after(backend: Backend) {
    let db = Db::open(backend, None).await;
    let s = db.store.as_ref();
    let (referrer, user, selfish, orphan, known) =
        (uid(1001), uid(1002), uid(1003), uid(1004), uid(1005));

    let (new, snap) = s
        .touch_user(
            &ctx(t0(), &[]),
            referrer,
            &profile(Some("ref"), Some("en"), None),
        )
        .await
        .expect("touch");
    assert!(new);
    assert_eq!(snap.referrer, None);
    assert_eq!(snap.created_at, t0());

    let at = t0() + Duration::minutes(1);
    let (new, snap) = s
        .touch_user(
            &ctx(at, &[]),
            user,
            &profile(Some("Alice"), Some("ru"), Some(referrer)),
        )
        .await
        .expect("touch");
    assert!(new, "first contact creates the user");
    assert_eq!(snap.user, user);
    assert_eq!(snap.username.as_deref(), Some("Alice"));
    assert_eq!(snap.language.as_deref(), Some("ru"));
    assert_eq!(snap.referrer, Some(referrer));
    assert!(!snap.bot_blocked);
    assert!(snap.subscription.is_none());
    assert_eq!(snap.balance_minor, 0);
    assert_eq!(snap.created_at, at);
    let audit = s.recent_audit(user, 10).await.expect("audit");
    assert_eq!(audit[0].action, "first_contact");
    assert_eq!(audit[0].details["referrer"], json!(referrer.get()));

    // Self-referral is ignored.
    let (new, snap) = s
        .touch_user(&ctx(at, &[]), selfish, &profile(None, None, Some(selfish)))
        .await
        .expect("touch");
    assert!(new);
    assert_eq!(snap.referrer, None, "nobody refers themself");
    // An unknown referrer is recorded as none (and not created).
    let ghost = uid(999_999);
    let (new, snap) = s
        .touch_user(
            &ctx(at, &[]),
            orphan,
            &profile(None, Some("en"), Some(ghost)),
        )
        .await
        .expect("touch with an unknown referrer");
    assert!(new);
    assert_eq!(snap.referrer, None);
    assert!(s.user(ghost).await.expect("read").is_none());
    assert_eq!(s.referral_count(referrer).await.expect("count"), 1);
    assert_eq!(s.referral_count(selfish).await.expect("count"), 0);
    assert_eq!(s.referral_count(ghost).await.expect("count"), 0);

    // Second contact: not new, username refreshed, language and referrer kept,
    // and the bot is no longer blocked (they talk to us).
    s.set_bot_blocked(user, true, at).await.expect("block");
    assert!(
        s.user(user)
            .await
            .expect("read")
            .expect("exists")
            .bot_blocked
    );
    let later = t0() + Duration::hours(1);
    let (new, snap) = s
        .touch_user(
            &ctx(later, &[]),
            user,
            &profile(Some("alice_new"), Some("de"), Some(selfish)),
        )
        .await
        .expect("touch");
    assert!(!new);
    assert_eq!(snap.username.as_deref(), Some("alice_new"));
    assert_eq!(
        snap.language.as_deref(),
        Some("ru"),
        "the first language (or the user's choice) wins"
    );
    assert_eq!(snap.referrer, Some(referrer), "the referrer never changes");
    assert!(!snap.bot_blocked, "talking to us again clears bot_blocked");
    assert_eq!(snap.created_at, at);
    assert_eq!(s.referral_count(selfish).await.expect("count"), 0);
    // The username was removed on Telegram: refreshed to none.
    let (_, snap) = s
        .touch_user(&ctx(later, &[]), user, &profile(None, None, None))
        .await
        .expect("touch");
    assert_eq!(snap.username, None);
    assert_eq!(snap.language.as_deref(), Some("ru"));

    // A user first seen through a grant (no language yet) gets the Telegram
    // language on first touch, but no referrer: they are not brand-new.
    s.grant_days(&ctx(t0(), &[]), known, 3)
        .await
        .expect("grant");
    let (new, snap) = s
        .touch_user(
            &ctx(later, &[]),
            known,
            &profile(Some("k"), Some("uk"), Some(referrer)),
        )
        .await
        .expect("touch");
    assert!(!new);
    assert_eq!(snap.language.as_deref(), Some("uk"));
    assert_eq!(snap.username.as_deref(), Some("k"));
    assert_eq!(snap.referrer, None);
    assert_eq!(s.referral_count(referrer).await.expect("count"), 1);
}

async fn set_language_overrides_the_telegram_language(backend: Backend) {
    let db = Db::open(backend, None).await;
    let s = db.store.as_ref();
    let user = uid(1101);
    s.touch_user(&ctx(t0(), &[]), user, &profile(Some("u"), Some("ru"), None))
        .await
        .expect("touch");
    let change = s
        .set_language(&ctx(t0(), &[]), user, "en")
        .await
        .expect("set language");
    assert!(change.applied);
    assert_eq!(change.snapshot.language.as_deref(), Some("en"));
    assert_eq!(
        s.user(user)
            .await
            .expect("read")
            .expect("exists")
            .language
            .as_deref(),
        Some("en")
    );
    // Telegram's language_code on later contacts does not override the choice.
    let (_, snap) = s
        .touch_user(&ctx(t0(), &[]), user, &profile(Some("u"), Some("de"), None))
        .await
        .expect("touch");
    assert_eq!(snap.language.as_deref(), Some("en"));
    // And the notifications carry it.
    s.grant_days(&ctx(t0(), &[]), user, 1).await.expect("grant");
    let due = pending(s).await;
    assert_eq!(due[0].language.as_deref(), Some("en"));
}

async fn notifications_are_sent_retried_given_up_and_blocked(backend: Backend) {
    let db = Db::open(backend, None).await;
    let s = db.store.as_ref();
    let (user, other) = (uid(2001), uid(2002));
    s.touch_user(&ctx(t0(), &[]), user, &profile(Some("n"), Some("ru"), None))
        .await
        .expect("touch");
    assert!(pending(s).await.is_empty(), "contact alone notifies nobody");

    s.grant_days(&ctx(t0(), &nodes()), user, 30)
        .await
        .expect("grant");
    assert!(
        s.due_notifications(t0() - Duration::seconds(1), 10)
            .await
            .expect("due")
            .is_empty(),
        "not due before it was committed"
    );
    let due = s.due_notifications(t0(), 10).await.expect("due");
    assert_eq!(due.len(), 1);
    let activated = due[0].clone();
    assert_eq!(activated.user, user);
    assert_eq!(activated.kind, NotificationKind::Activated);
    assert_eq!(activated.payload["days"], 30);
    let exp: DateTime<Utc> =
        serde_json::from_value(activated.payload["expires_at"].clone()).expect("a time");
    assert_eq!(exp, t0() + Duration::days(30));
    assert_eq!(activated.language.as_deref(), Some("ru"));
    assert!(!activated.user_blocked_bot);
    assert_eq!(activated.attempts, 0);
    assert_eq!(activated.broadcast, None);
    assert_eq!(s.outbox_depth().await.expect("depth").notifications, 1);

    let t1 = t0() + Duration::seconds(10);
    s.grant_days(&ctx(t1, &nodes()), user, 5)
        .await
        .expect("grant");
    s.grant_days(&ctx(t1, &nodes()), other, 5)
        .await
        .expect("grant");
    let due = s.due_notifications(t1, 10).await.expect("due");
    assert_eq!(
        kinds(&due),
        vec![
            NotificationKind::Activated,
            NotificationKind::Extended,
            NotificationKind::Activated
        ],
        "oldest first"
    );
    assert_eq!(due[1].payload["days"], 5);
    assert_eq!(due[2].language, None, "a user without a language");
    assert_eq!(
        s.due_notifications(t1, 2).await.expect("due").len(),
        2,
        "limited"
    );
    let (extended, for_other) = (due[1].clone(), due[2].clone());
    assert_eq!(s.outbox_depth().await.expect("depth").notifications, 3);

    // Sent: gone from the outbox.
    s.notification_sent(activated.id, t1).await.expect("sent");
    let due = s.due_notifications(t1, 10).await.expect("due");
    assert_eq!(
        due.iter().map(|n| n.id).collect::<Vec<_>>(),
        vec![extended.id, for_other.id]
    );
    assert_eq!(s.outbox_depth().await.expect("depth").notifications, 2);

    // Retried later: not due before, due after, attempts counted.
    let retry_at = t1 + Duration::seconds(60);
    s.notification_retry(extended.id, "HTTP 502", retry_at)
        .await
        .expect("retry");
    let ids = |v: Vec<PendingNotification>| v.iter().map(|n| n.id).collect::<Vec<_>>();
    assert!(
        !ids(s
            .due_notifications(retry_at - Duration::milliseconds(1), 10)
            .await
            .expect("due"))
        .contains(&extended.id)
    );
    let again = s.due_notifications(retry_at, 10).await.expect("due");
    let again = again
        .iter()
        .find(|n| n.id == extended.id)
        .expect("due again at its time");
    assert_eq!(again.attempts, 1);
    s.notification_retry(extended.id, "HTTP 502", retry_at)
        .await
        .expect("retry");
    let again = of(&pending(s).await, user);
    assert_eq!(again[0].attempts, 2);
    assert_eq!(s.outbox_depth().await.expect("depth").notifications, 2);

    // Given up: never due again.
    s.notification_failed(extended.id, "Bad Request: message is too long", retry_at)
        .await
        .expect("failed");
    assert!(of(&pending(s).await, user).is_empty());
    assert_eq!(s.outbox_depth().await.expect("depth").notifications, 1);
    // Sent or failed notifications stay as they are.
    s.notification_failed(activated.id, "late", retry_at)
        .await
        .expect("failed");
    s.notification_retry(extended.id, "late", retry_at)
        .await
        .expect("retry");
    let expected: Vec<NotificationRow> = vec![
        ("activated".into(), "sent".into(), 1, None),
        (
            "extended".into(),
            "failed".into(),
            3,
            Some("Bad Request: message is too long".into()),
        ),
    ];
    assert_eq!(db.notification_rows(user).await, expected);

    // Blocking gives up everything pending for that user (and only them).
    let t2 = t1 + Duration::minutes(5);
    s.reissue(&ctx(t2, &nodes()), user).await.expect("reissue");
    s.revoke(&ctx(t2, &nodes()), user).await.expect("revoke");
    assert_eq!(of(&pending(s).await, user).len(), 2);
    s.set_bot_blocked(user, true, t2).await.expect("block");
    assert!(of(&pending(s).await, user).is_empty());
    assert_eq!(s.outbox_depth().await.expect("depth").notifications, 1);
    assert_eq!(of(&pending(s).await, other).len(), 1, "others unaffected");
    let rows = db.notification_rows(user).await;
    assert_eq!(rows.len(), 4);
    for (kind, state, _, error) in &rows[2..] {
        assert_eq!(
            (state.as_str(), error.as_deref()),
            ("failed", Some(BLOCKED)),
            "{kind}"
        );
    }
    assert!(
        s.user(user)
            .await
            .expect("read")
            .expect("exists")
            .bot_blocked
    );

    // Queued after the block: pending, but flagged so nobody tries to send it.
    s.grant_days(&ctx(t2, &nodes()), user, 1)
        .await
        .expect("grant");
    let mine = of(&pending(s).await, user);
    assert_eq!(mine.len(), 1);
    assert!(mine[0].user_blocked_bot);
    assert_eq!(mine[0].kind, NotificationKind::Activated);
    assert_eq!(s.outbox_depth().await.expect("depth").notifications, 2);
    s.set_bot_blocked(user, false, t2).await.expect("unblock");
    let mine = of(&pending(s).await, user);
    assert!(!mine[0].user_blocked_bot);
    assert!(
        !s.user(user)
            .await
            .expect("read")
            .expect("exists")
            .bot_blocked
    );
}

/// The reminders due for `user` at `now`.
async fn due_for(
    s: &dyn Store,
    now: DateTime<Utc>,
    user: UserId,
) -> Vec<(ReminderKind, DateTime<Utc>)> {
    s.due_reminders(now, 100)
        .await
        .expect("due reminders")
        .into_iter()
        .filter(|d| d.user == user)
        .map(|d| (d.kind, d.expires_at))
        .collect()
}

fn count(all: &[PendingNotification], user: UserId, kind: NotificationKind) -> usize {
    all.iter()
        .filter(|n| n.user == user && n.kind == kind)
        .count()
}

async fn reminders_fire_once_per_period(backend: Backend) {
    use ReminderKind::{OneDay, ThreeDays};
    let db = Db::open(backend, None).await;
    let s = db.store.as_ref();
    let remind = |now: DateTime<Utc>, user: UserId, kind: ReminderKind, exp: DateTime<Utc>| async move {
        s.remind(&ctx(now, &[]), user, kind, exp)
            .await
            .expect("remind")
            .applied
    };
    let a = uid(3001);
    s.grant_days(&ctx(t0(), &[]), a, 10).await.expect("grant");
    let exp = t0() + Duration::days(10);
    assert!(due_for(s, t0(), a).await.is_empty(), "10 days left");
    assert!(
        due_for(s, exp - Duration::days(3) - Duration::minutes(1), a)
            .await
            .is_empty()
    );

    let n1 = exp - Duration::days(3) + Duration::minutes(1);
    assert_eq!(due_for(s, n1, a).await, vec![(ThreeDays, exp)]);
    assert!(!remind(n1, a, OneDay, exp).await, "not in its window yet");
    assert!(remind(n1, a, ThreeDays, exp).await);
    assert!(
        !remind(n1 + Duration::minutes(1), a, ThreeDays, exp).await,
        "once per period"
    );
    assert!(due_for(s, n1, a).await.is_empty());
    assert!(due_for(s, n1 + Duration::hours(12), a).await.is_empty());

    let n2 = exp - Duration::days(1) + Duration::minutes(1);
    assert_eq!(
        due_for(s, n2, a).await,
        vec![(OneDay, exp)],
        "the one-day reminder only; the three-day one is not due again"
    );
    assert!(remind(n2, a, OneDay, exp).await);
    assert!(!remind(n2, a, OneDay, exp).await);
    assert!(due_for(s, n2, a).await.is_empty());
    assert!(due_for(s, exp - Duration::minutes(1), a).await.is_empty());
    assert!(
        due_for(s, exp, a).await.is_empty(),
        "at expiry: `expired` instead"
    );
    // A reminder for an expiry the subscription no longer has is refused.
    assert!(!remind(n2, a, OneDay, exp - Duration::hours(1)).await);
    assert!(!remind(n2, a, ThreeDays, exp + Duration::days(1)).await);

    let all = pending(s).await;
    assert_eq!(count(&all, a, NotificationKind::RemindThreeDays), 1);
    assert_eq!(count(&all, a, NotificationKind::RemindOneDay), 1);
    let reminder = all
        .iter()
        .find(|n| n.kind == NotificationKind::RemindOneDay)
        .expect("queued");
    let at: DateTime<Utc> =
        serde_json::from_value(reminder.payload["expires_at"].clone()).expect("a time");
    assert_eq!(at, exp);

    // A renewal starts a new period: both reminders fire again for the new expiry.
    let renewed = s.grant_days(&ctx(n2, &[]), a, 30).await.expect("grant");
    let exp2 = exp + Duration::days(30);
    assert_eq!(renewed.snapshot.subscription.expect("sub").expires_at, exp2);
    assert!(due_for(s, n2, a).await.is_empty());
    assert!(!remind(n2, a, OneDay, exp).await, "the old period is over");
    let m1 = exp2 - Duration::days(3) + Duration::minutes(1);
    assert_eq!(due_for(s, m1, a).await, vec![(ThreeDays, exp2)]);
    assert!(remind(m1, a, ThreeDays, exp2).await);
    let m2 = exp2 - Duration::days(1) + Duration::minutes(1);
    assert_eq!(due_for(s, m2, a).await, vec![(OneDay, exp2)]);
    assert!(remind(m2, a, OneDay, exp2).await);
    let all = pending(s).await;
    assert_eq!(count(&all, a, NotificationKind::RemindThreeDays), 2);
    assert_eq!(count(&all, a, NotificationKind::RemindOneDay), 2);

    // A 2-day trial gets only the one-day reminder, a day before it ends.
    let b = uid(3002);
    s.start_trial(&ctx(t0(), &[]), b, 2).await.expect("trial");
    let exp_b = t0() + Duration::days(2);
    assert!(
        !remind(t0() + Duration::minutes(1), b, ThreeDays, exp_b).await,
        "a 2-day trial never hears `3 days left`"
    );
    let mut reminded = Vec::new();
    let mut now = t0();
    while now <= exp_b {
        for (kind, at) in due_for(s, now, b).await {
            if remind(now, b, kind, at).await {
                reminded.push((kind, now));
            }
        }
        now += Duration::minutes(30);
    }
    assert_eq!(reminded, vec![(OneDay, exp_b - Duration::days(1))]);
    let all = pending(s).await;
    assert_eq!(count(&all, b, NotificationKind::RemindThreeDays), 0);
    assert_eq!(count(&all, b, NotificationKind::RemindOneDay), 1);

    // Revoked and expired subscriptions get none.
    let (c, d) = (uid(3003), uid(3004));
    for u in [c, d] {
        s.grant_days(&ctx(t0(), &[]), u, 10).await.expect("grant");
    }
    s.revoke(&ctx(t0() + Duration::days(1), &[]), c)
        .await
        .expect("revoke");
    let revoked_exp = t0() + Duration::days(1);
    for now in [
        revoked_exp - Duration::hours(12),
        t0() + Duration::days(7) + Duration::minutes(1),
    ] {
        assert!(due_for(s, now, c).await.is_empty());
    }
    assert!(!remind(t0() + Duration::hours(13), c, OneDay, revoked_exp).await);
    let n = t0() + Duration::days(9) + Duration::minutes(1);
    assert_eq!(
        due_for(s, n, d).await,
        vec![(OneDay, t0() + Duration::days(10))]
    );
    s.revoke(&ctx(n, &[]), d).await.expect("revoke");
    assert!(due_for(s, n, d).await.is_empty());
}

async fn scheduler_queues_each_reminder_once(backend: Backend) {
    let sys = System::start(backend, settings()).await;
    let user = uid(3101);
    sys.registry
        .send(
            user,
            GrantDays {
                days: 10,
                by: Principal::Ops,
            },
        )
        .await
        .expect("grant");
    let exp = t0() + Duration::days(10);
    let scheduler = Scheduler::new(sys.registry.clone(), std::time::Duration::from_secs(60), 2);
    assert_eq!(scheduler.tick().await.expect("tick").reminded, 0);
    sys.clock
        .inner
        .set(exp - Duration::days(3) + Duration::minutes(1));
    assert_eq!(scheduler.tick().await.expect("tick").reminded, 1);
    assert_eq!(scheduler.tick().await.expect("tick").reminded, 0);
    sys.clock
        .inner
        .set(exp - Duration::days(1) + Duration::minutes(1));
    assert_eq!(scheduler.tick().await.expect("tick").reminded, 1);
    assert_eq!(scheduler.tick().await.expect("tick").reminded, 0);
    sys.clock.inner.set(exp);
    let report = scheduler.tick().await.expect("tick");
    assert_eq!((report.expired, report.reminded), (1, 0));
    assert_eq!(
        kinds(&of(&pending(sys.store().as_ref()).await, user)),
        vec![
            NotificationKind::Activated,
            NotificationKind::RemindThreeDays,
            NotificationKind::RemindOneDay,
            NotificationKind::Expired,
        ]
    );
}

async fn settings_are_upserted(backend: Backend) {
    let db = Db::open(backend, None).await;
    let s = db.store.as_ref();
    assert_eq!(s.setting("purchases_paused").await.expect("read"), None);
    s.set_setting(&ctx(t0(), &[]), "purchases_paused", "1")
        .await
        .expect("set");
    assert_eq!(
        s.setting("purchases_paused")
            .await
            .expect("read")
            .as_deref(),
        Some("1")
    );
    s.set_setting(
        &ctx(t0() + Duration::minutes(1), &[]),
        "purchases_paused",
        "0",
    )
    .await
    .expect("set again");
    assert_eq!(
        s.setting("purchases_paused")
            .await
            .expect("read")
            .as_deref(),
        Some("0")
    );
    s.set_setting(&ctx(t0(), &[]), "other", "x")
        .await
        .expect("set");
    assert_eq!(
        s.setting("purchases_paused")
            .await
            .expect("read")
            .as_deref(),
        Some("0")
    );
    assert_eq!(
        s.setting("other").await.expect("read").as_deref(),
        Some("x")
    );
}

async fn stats_count_users_and_revenue_per_day_and_provider(backend: Backend) {
    let db = Db::open(backend, None).await;
    let s = db.store.as_ref();
    let u: Vec<UserId> = (201..=206).map(uid).collect();
    for &user in &u {
        s.touch_user(
            &ctx(t0() - Duration::days(5), &[]),
            user,
            &Profile::default(),
        )
        .await
        .expect("touch");
    }
    let day1 = t0();
    let day2 = t0() + Duration::days(1);
    // 201 and 202 pay on both days.
    pay(s, &plan_order(s, u[0], Provider::Stars, day1).await, day1).await;
    pay(
        s,
        &plan_order(s, u[1], Provider::Stars, day1).await,
        day1 + Duration::hours(1),
    )
    .await;
    pay(
        s,
        &plan_order(s, u[0], Provider::Cryptobot, day1).await,
        day1 + Duration::hours(2),
    )
    .await;
    pay(
        s,
        &plan_order(s, u[1], Provider::Cryptobot, day1).await,
        day2,
    )
    .await;
    // 203: paid before `since`, then paid and refunded, then revoked.
    let before = t0() - Duration::days(2);
    pay(
        s,
        &plan_order(s, u[2], Provider::Cryptobot, before).await,
        before,
    )
    .await;
    let refunded = plan_order(s, u[2], Provider::Stars, day2).await;
    pay(s, &refunded, day2).await;
    assert!(
        s.refund_order(&ctx(day2 + Duration::hours(1), &[]), u[2], refunded.id)
            .await
            .expect("refund")
            .change
            .applied
    );
    s.revoke(&ctx(day2 + Duration::hours(2), &[]), u[2])
        .await
        .expect("revoke");
    // 204: a day granted (past by now, still `active` until the Scheduler runs); blocked.
    s.grant_days(&ctx(day1, &[]), u[3], 1).await.expect("grant");
    s.set_bot_blocked(u[3], true, day1).await.expect("block");
    // 205: an unpaid order; blocked.
    plan_order(s, u[4], Provider::Nowpayments, day1).await;
    s.set_bot_blocked(u[4], true, day1).await.expect("block");

    let now = t0() + Duration::days(2);
    let stats = s.stats(now, t0() - Duration::days(1)).await.expect("stats");
    assert_eq!(stats.users, 6);
    assert_eq!(
        stats.active, 2,
        "201 and 202; 204's day is over, 203 revoked"
    );
    assert_eq!(stats.blocked, 2);
    let days: Vec<_> = stats.revenue.iter().map(|r| r.day).collect();
    assert!(
        days.windows(2).all(|w| w[0] >= w[1]),
        "newest day first: {days:?}"
    );
    let mut revenue = stats.revenue.clone();
    revenue.sort_by_key(|r| (std::cmp::Reverse(r.day), r.provider.as_str()));
    assert_eq!(
        revenue,
        vec![
            Revenue {
                day: day2.date_naive(),
                provider: Provider::Cryptobot,
                amount: usd(299),
            },
            Revenue {
                day: day1.date_naive(),
                provider: Provider::Cryptobot,
                amount: usd(299),
            },
            Revenue {
                day: day1.date_naive(),
                provider: Provider::Stars,
                amount: xtr(300),
            },
        ]
    );
    let later = s.stats(now, t0() + Duration::days(1)).await.expect("stats");
    assert_eq!(later.revenue.len(), 1, "since filters by payment time");
}

async fn list_users_pages_and_searches(backend: Backend) {
    let db = Db::open(backend, None).await;
    let s = db.store.as_ref();
    let names = [
        (9001, Some("Alice_Smith")),
        (9002, Some("bob")),
        (9003, Some("carol%x")),
        (9004, None),
        (9005, Some("ALICEBOB")),
    ];
    for (i, (id, name)) in names.iter().enumerate() {
        s.touch_user(
            &ctx(t0() + Duration::minutes(i as i64), &[]),
            uid(*id),
            &profile(*name, None, None),
        )
        .await
        .expect("touch");
    }
    s.grant_days(&ctx(t0(), &[]), uid(9002), 30)
        .await
        .expect("grant");
    let list = |search: Option<&'static str>, offset: u32, limit: u32| async move {
        let page = s.list_users(search, offset, limit).await.expect("list");
        (
            page.users.iter().map(|u| u.user.get()).collect::<Vec<_>>(),
            page.total,
        )
    };
    assert_eq!(
        list(None, 0, 10).await,
        (vec![9005, 9004, 9003, 9002, 9001], 5)
    );
    assert_eq!(list(None, 0, 2).await, (vec![9005, 9004], 5));
    assert_eq!(list(None, 2, 2).await, (vec![9003, 9002], 5));
    assert_eq!(list(None, 4, 2).await, (vec![9001], 5));
    assert_eq!(list(None, 10, 2).await, (vec![], 5));
    assert_eq!(
        list(Some(""), 0, 10).await.1,
        5,
        "an empty search is no search"
    );

    assert_eq!(list(Some("9003"), 0, 10).await, (vec![9003], 1), "exact id");
    assert_eq!(
        list(Some("900"), 0, 10).await,
        (vec![], 0),
        "ids match exactly"
    );
    assert_eq!(list(Some("alice"), 0, 10).await, (vec![9005, 9001], 2));
    assert_eq!(list(Some("@BOB"), 0, 10).await, (vec![9005, 9002], 2));
    assert_eq!(list(Some("  bob "), 0, 10).await, (vec![9005, 9002], 2));
    assert_eq!(list(Some("@alice"), 1, 10).await, (vec![9001], 2));
    assert_eq!(
        list(Some("_"), 0, 10).await,
        (vec![9001], 1),
        "`_` is literal"
    );
    assert_eq!(
        list(Some("%"), 0, 10).await,
        (vec![9003], 1),
        "`%` is literal"
    );
    assert_eq!(list(Some("e_s"), 0, 10).await, (vec![9001], 1));
    assert_eq!(list(Some("a%"), 0, 10).await, (vec![], 0));
    assert_eq!(list(Some("nobody"), 0, 10).await, (vec![], 0));

    let page = s.list_users(Some("bob"), 0, 10).await.expect("list");
    let bob = &page.users[1];
    assert_eq!(bob.username.as_deref(), Some("bob"));
    assert_eq!(bob.status, Some(SubscriptionStatus::Active));
    assert_eq!(bob.expires_at, Some(t0() + Duration::days(30)));
    assert_eq!(bob.created_at, t0() + Duration::minutes(1));
    assert_eq!(
        (page.users[0].status, page.users[0].expires_at),
        (None, None)
    );
}

async fn orders_of_newest_first(backend: Backend) {
    let db = Db::open(backend, None).await;
    let s = db.store.as_ref();
    let (user, other) = (uid(8001), uid(8002));
    let o1 = plan_order(s, user, Provider::Stars, t0()).await;
    let o2 = plan_order(s, user, Provider::Cryptobot, t0() + Duration::minutes(1)).await;
    let o3 = topup_order(s, user, usd(500), t0() + Duration::minutes(2)).await;
    plan_order(s, other, Provider::Stars, t0() + Duration::minutes(3)).await;
    pay(s, &o2, t0() + Duration::minutes(4)).await;
    let ids = |v: Vec<Order>| v.iter().map(|o| o.id).collect::<Vec<_>>();
    assert_eq!(
        ids(s.orders_of(user, 10).await.expect("orders")),
        vec![o3.id, o2.id, o1.id]
    );
    assert_eq!(
        ids(s.orders_of(user, 2).await.expect("orders")),
        vec![o3.id, o2.id]
    );
    let orders = s.orders_of(user, 10).await.expect("orders");
    assert_eq!(orders[1].status, OrderStatus::Paid);
    assert_eq!(orders[0].kind, OrderKind::Topup);
    assert_eq!(orders[2], o1);
    assert!(s.orders_of(uid(8999), 10).await.expect("orders").is_empty());
}

async fn referral_bonus_is_paid_once_on_the_first_plan(backend: Backend) {
    let db = Db::open(backend, Some(usd(100))).await;
    let s = db.store.as_ref();
    let (referrer, referred, loner, thrifty) = (uid(4001), uid(4002), uid(4003), uid(4004));
    s.touch_user(&ctx(t0(), &[]), referrer, &profile(Some("r"), None, None))
        .await
        .expect("touch");
    for u in [referred, thrifty] {
        s.touch_user(&ctx(t0(), &[]), u, &profile(None, None, Some(referrer)))
            .await
            .expect("touch");
    }
    s.touch_user(&ctx(t0(), &[]), loner, &Profile::default())
        .await
        .expect("touch");
    assert_eq!(s.referral_count(referrer).await.expect("count"), 2);
    let bonuses = || async {
        s.ledger(referrer)
            .await
            .expect("ledger")
            .into_iter()
            .filter(|e| e.kind == LedgerKind::ReferralBonus)
            .count()
    };

    // A top-up is not a plan: no bonus.
    let top = topup_order(s, referred, usd(500), t0()).await;
    pay(s, &top, t0()).await;
    assert_eq!(bonuses().await, 0);

    // The first paid plan: the referrer is credited once.
    let first = plan_order(s, referred, Provider::Cryptobot, t0()).await;
    let at = t0() + Duration::minutes(1);
    pay(s, &first, at).await;
    let ledger = s.ledger(referrer).await.expect("ledger");
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0].kind, LedgerKind::ReferralBonus);
    assert_eq!(ledger[0].amount, usd(100));
    assert_eq!(ledger[0].created_at, at);
    let snap = s.user(referrer).await.expect("read").expect("exists");
    assert_eq!(snap.balance_minor, 100);
    assert_eq!(s.ledger_sum(referrer).await.expect("sum"), 100);
    let mine = of(&pending(s).await, referrer);
    assert_eq!(kinds(&mine), vec![NotificationKind::ReferralBonus]);
    assert_eq!(mine[0].payload["referred"], json!(referred.get()));
    assert_eq!(mine[0].payload["amount"], json!(usd(100)));
    // The referred user's own ledger: top-up, then the payment passing through.
    let own: Vec<_> = s
        .ledger(referred)
        .await
        .expect("ledger")
        .into_iter()
        .map(|e| (e.kind, e.amount.minor))
        .collect();
    assert_eq!(
        own,
        vec![
            (LedgerKind::TopUp, 500),
            (LedgerKind::Payment, 299),
            (LedgerKind::Purchase, -299)
        ]
    );

    // The second plan order: no second bonus (not even from the balance).
    let second = plan_order(s, referred, Provider::Stars, t0()).await;
    pay(s, &second, t0() + Duration::minutes(2)).await;
    let third = plan_order(s, referred, Provider::Balance, t0()).await;
    pay(s, &third, t0() + Duration::minutes(3)).await;
    assert_eq!(bonuses().await, 1);
    // No referrer: nobody is credited.
    let alone = plan_order(s, loner, Provider::Cryptobot, t0()).await;
    pay(s, &alone, t0() + Duration::minutes(4)).await;
    assert_eq!(bonuses().await, 1);
    assert_eq!(
        s.ledger_sum(loner).await.expect("sum"),
        0,
        "the loner's payment passed through"
    );
    // A plan bought from the balance is a paid plan too.
    let top = topup_order(s, thrifty, usd(500), t0()).await;
    pay(s, &top, t0()).await;
    assert_eq!(bonuses().await, 1);
    let from_balance = plan_order(s, thrifty, Provider::Balance, t0()).await;
    pay(s, &from_balance, t0() + Duration::minutes(5)).await;
    assert_eq!(bonuses().await, 2);
    let snap = s.user(referrer).await.expect("read").expect("exists");
    assert_eq!(snap.balance_minor, 200);
    assert_eq!(s.ledger_sum(referrer).await.expect("sum"), 200);
    assert_eq!(
        count(&pending(s).await, referrer, NotificationKind::ReferralBonus),
        2
    );
}

async fn stars_payments_and_refunds_pass_through_the_ledger(backend: Backend) {
    let db = Db::open(backend, None).await;
    let s = db.store.as_ref();
    let nodes = nodes();
    let user = uid(5001);
    let o = plan_order(s, user, Provider::Stars, t0()).await;
    assert_eq!(o.amount, xtr(150));
    let paid = s
        .apply_payment(
            &ctx(t0(), &nodes),
            user,
            o.id,
            &crate::helpers::paid(Provider::Stars, "tg-charge-1", xtr(150)),
        )
        .await
        .expect("pay")
        .change;
    assert!(paid.applied);
    assert_eq!(paid.snapshot.balance_minor, 0);
    assert_eq!(
        paid.snapshot.subscription.as_ref().expect("sub").expires_at,
        t0() + Duration::days(30)
    );
    let key = paid.snapshot.keys[0].clone();
    let entries = |v: Vec<subvisor_actors::domain::LedgerEntry>| {
        v.into_iter()
            .map(|e| (e.kind, e.amount, e.order))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        entries(s.ledger(user).await.expect("ledger")),
        vec![
            (LedgerKind::Payment, xtr(150), Some(o.id)),
            (LedgerKind::Purchase, xtr(-150), Some(o.id)),
        ]
    );
    assert_eq!(s.ledger_sum(user).await.expect("sum"), 0);

    let at = t0() + Duration::days(1);
    let refunded = s
        .refund_order(&ctx(at, &nodes), user, o.id)
        .await
        .expect("refund")
        .change;
    assert!(refunded.applied);
    let sub = refunded.snapshot.subscription.clone().expect("sub");
    assert_eq!(sub.status, SubscriptionStatus::Expired, "nothing left");
    assert_eq!(sub.expires_at, at);
    assert_eq!(refunded.ops.len(), 1);
    assert_eq!(
        (refunded.ops[0].kind, refunded.ops[0].email.as_str()),
        (OpKind::Remove, key.email.as_str())
    );
    assert_eq!(refunded.snapshot.balance_minor, 0);
    let ledger = s.ledger(user).await.expect("ledger");
    assert_eq!(
        entries(ledger.clone())[2..],
        [
            (LedgerKind::Refund, xtr(150), Some(o.id)),
            (LedgerKind::Payout, xtr(-150), Some(o.id)),
        ]
    );
    assert_eq!(ledger.iter().map(|e| e.amount.minor).sum::<i64>(), 0);
    assert_eq!(s.ledger_sum(user).await.expect("sum"), 0);
    assert_eq!(
        s.order(o.id).await.expect("read").expect("exists").status,
        OrderStatus::Refunded
    );
    let mine = of(&pending(s).await, user);
    assert_eq!(
        kinds(&mine),
        vec![
            NotificationKind::Activated,
            NotificationKind::Expired,
            NotificationKind::Refunded
        ]
    );
    assert_eq!(mine[1].payload["reason"], "refund");
    assert_eq!(mine[2].payload["order"], json!(o.id));
    assert_eq!(mine[2].payload["days"], 30);
    assert_eq!(mine[2].payload["amount"], json!(xtr(150)));

    let again = s
        .refund_order(&ctx(at, &nodes), user, o.id)
        .await
        .expect("refund")
        .change;
    assert!(!again.applied);
    assert!(again.ops.is_empty());
    assert_eq!(s.ledger(user).await.expect("ledger").len(), 4);
    assert_eq!(of(&pending(s).await, user).len(), 3);
}

async fn broadcasts_reach_everyone_who_has_not_blocked_the_bot(backend: Backend) {
    let db = Db::open(backend, None).await;
    let s = db.store.as_ref();
    let users: Vec<UserId> = (6001..=6005).map(uid).collect();
    for &u in &users {
        s.touch_user(&ctx(t0(), &[]), u, &Profile::default())
            .await
            .expect("touch");
    }
    s.set_bot_blocked(users[2], true, t0())
        .await
        .expect("block");
    // An unrelated notification of someone else stays out of the report.
    s.grant_days(&ctx(t0(), &[]), users[0], 1)
        .await
        .expect("grant");

    let b = s
        .create_broadcast(&ctx(t0() + Duration::minutes(1), &[]), "Hello, world")
        .await
        .expect("broadcast");
    assert_eq!(
        b,
        BroadcastReport {
            id: b.id,
            total: 4,
            delivered: 0,
            blocked: 0,
            failed: 0,
            pending: 4
        }
    );
    assert!(!b.done());
    assert_eq!(s.broadcast_report(b.id).await.expect("report"), Some(b));
    let queued: Vec<_> = pending(s)
        .await
        .into_iter()
        .filter(|n| n.broadcast == Some(b.id))
        .collect();
    assert_eq!(
        queued.iter().map(|n| n.user).collect::<Vec<_>>(),
        vec![users[0], users[1], users[3], users[4]]
    );
    for n in &queued {
        assert_eq!(n.kind, NotificationKind::Broadcast);
        assert_eq!(n.payload["text"], "Hello, world");
        assert_eq!(n.payload["broadcast"], json!(b.id));
    }
    assert_eq!(s.outbox_depth().await.expect("depth").notifications, 5);

    let now = t0() + Duration::minutes(2);
    s.notification_sent(queued[0].id, now).await.expect("sent");
    let r = s
        .broadcast_report(b.id)
        .await
        .expect("report")
        .expect("exists");
    assert_eq!((r.delivered, r.pending), (1, 3));
    s.notification_failed(queued[1].id, BLOCKED, now)
        .await
        .expect("failed");
    s.notification_retry(queued[2].id, "HTTP 502", now)
        .await
        .expect("retry");
    let r = s
        .broadcast_report(b.id)
        .await
        .expect("report")
        .expect("exists");
    assert_eq!(
        (r.delivered, r.blocked, r.failed, r.pending),
        (1, 1, 0, 2),
        "a retry is still pending"
    );
    s.notification_failed(queued[2].id, "Bad Request: chat not found", now)
        .await
        .expect("failed");
    s.set_bot_blocked(users[4], true, now).await.expect("block");
    let r = s
        .broadcast_report(b.id)
        .await
        .expect("report")
        .expect("exists");
    assert_eq!(
        r,
        BroadcastReport {
            id: b.id,
            total: 4,
            delivered: 1,
            blocked: 2,
            failed: 1,
            pending: 0
        }
    );
    assert!(r.done());

    // A later broadcast skips the users marked as blocked (6003, 6005).
    let b2 = s
        .create_broadcast(&ctx(now, &[]), "again")
        .await
        .expect("broadcast");
    assert_ne!(b2.id, b.id);
    assert_eq!(b2.total, 3);
    assert_eq!(
        s.broadcast_report(b.id).await.expect("report"),
        Some(r),
        "the first report is untouched"
    );
    assert_eq!(
        s.broadcast_report(b.id.max(b2.id) + 1000)
            .await
            .expect("report"),
        None
    );
}

async fn a_flagged_payment_tells_the_user(backend: Backend) {
    let db = Db::open(backend, None).await;
    let s = db.store.as_ref();
    let user = uid(7001);
    let o = plan_order(s, user, Provider::Cryptobot, t0()).await;
    let eur = Money::new(299, Currency::new("EUR").expect("valid"));
    let result = s
        .apply_payment(
            &ctx(t0(), &nodes()),
            user,
            o.id,
            &crate::helpers::paid(Provider::Cryptobot, "cb-1", eur),
        )
        .await
        .expect("settled");
    assert!(matches!(
        result.settlement,
        subvisor_actors::domain::Settlement::Flag { .. }
    ));
    let stored = s.order(o.id).await.expect("read").expect("exists");
    assert_eq!(stored.status, OrderStatus::Pending);
    assert_eq!(stored.flag.as_deref(), Some("currency_mismatch"));
    let mine = of(&pending(s).await, user);
    assert_eq!(kinds(&mine), vec![NotificationKind::PaymentFlagged]);
    assert_eq!(mine[0].payload["order"], json!(o.id));
    assert_eq!(mine[0].payload["flag"], "currency_mismatch");

    assert!(
        s.flag_order(&ctx(t0(), &nodes()), o.id, "partially_paid")
            .await
            .expect("flag")
    );
    assert!(
        !s.flag_order(&ctx(t0(), &nodes()), o.id, "partially_paid")
            .await
            .expect("flag"),
        "the same flag twice tells nobody twice"
    );
    let mine = of(&pending(s).await, user);
    assert_eq!(
        kinds(&mine),
        vec![
            NotificationKind::PaymentFlagged,
            NotificationKind::PaymentFlagged
        ]
    );
    assert_eq!(mine[1].payload["flag"], "partially_paid");
    assert_eq!(
        s.order(o.id)
            .await
            .expect("read")
            .expect("exists")
            .flag
            .as_deref(),
        Some("partially_paid")
    );
}
