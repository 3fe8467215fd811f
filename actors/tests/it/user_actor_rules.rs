//! The rules `UserActor` itself adds around the store (issue 16: written from
//! the survivors of mutation testing `actors/src/user_actor.rs`): which orders
//! it opens and refuses, when an order is reused (the order TTL), that ops
//! committed by a grant, a payment and a refund wake the provisioner at once,
//! and how often a transaction that keeps losing a race is tried before the
//! caller is told. Every expected value is computed here from the test's own
//! inputs. One backend: these rules are the actor's, not the database's.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use subvisor_actors::domain::{Currency, OrderKind, PlanId, Principal, Provider, UserId};
use subvisor_actors::messages::{
    ApplyPayment, CreateOrder, CreateTopUp, GrantDays, RefundOrder, SetLanguage,
};
use subvisor_actors::provisioning::{NodeClient, OutboxDriver, Provisioner, SandboxNode};
use subvisor_actors::store::{self, Backend, OpenedOrder, Store, StoreOptions};
use subvisor_actors::workers::Worker;
use subvisor_actors::{Error, Registry, RegistrySettings};

use crate::helpers::{System, TestClock, paid, plan_order, plans, settings, t0, uid, usd, xtr};

fn month() -> PlanId {
    PlanId::new("month").expect("valid")
}

fn buy(user: UserId, provider: Provider) -> CreateOrder {
    CreateOrder {
        plan: month(),
        provider,
        by: Principal::User(user),
        idempotency_key: None,
    }
}

fn top_up(user: UserId, amount: subvisor_actors::domain::Money, provider: Provider) -> CreateTopUp {
    CreateTopUp {
        amount,
        provider,
        by: Principal::User(user),
        idempotency_key: None,
    }
}

fn invalid_field(result: subvisor_actors::Result<OpenedOrder>) -> &'static str {
    match result {
        Err(Error::InvalidInput { field, .. }) => field,
        other => panic!("expected invalid input, got {other:?}"),
    }
}

/// Plan orders: priced per provider; a balance purchase only in the balance
/// currency; the same pending purchase is reused within the order TTL (one
/// hour here) and not after it, except from the balance (paid at once, never
/// reused by purchase).
#[actix_rt::test]
async fn plan_orders_are_priced_checked_and_reused_within_the_ttl() {
    let ttl = Duration::from_secs(3600);
    let sys = System::start(
        Backend::Sqlite,
        RegistrySettings {
            order_ttl: ttl,
            ..settings()
        },
    )
    .await;
    let user = uid(701);

    let first = sys
        .registry
        .send(user, buy(user, Provider::Cryptobot))
        .await
        .expect("order");
    assert!(!first.reused);
    assert_eq!(first.order.amount, usd(299));
    assert_eq!(first.order.days, 30);
    assert_eq!(first.order.kind, OrderKind::Plan);

    sys.clock
        .inner
        .advance(chrono::Duration::from_std(ttl - Duration::from_secs(60)).expect("ttl"));
    let again = sys
        .registry
        .send(user, buy(user, Provider::Cryptobot))
        .await
        .expect("order");
    assert!(again.reused, "a minute before the TTL the order is reused");
    assert_eq!(again.order.id, first.order.id);

    sys.clock
        .inner
        .advance(chrono::Duration::from_std(Duration::from_secs(120)).expect("step"));
    let later = sys
        .registry
        .send(user, buy(user, Provider::Cryptobot))
        .await
        .expect("order");
    assert!(!later.reused, "past the TTL a new order is opened");
    assert_ne!(later.order.id, first.order.id);

    let stars = sys
        .registry
        .send(user, buy(user, Provider::Stars))
        .await
        .expect("stars order");
    assert_eq!(stars.order.amount, xtr(150));

    let from_balance = sys
        .registry
        .send(user, buy(user, Provider::Balance))
        .await
        .expect("balance order in the balance currency");
    assert_eq!(from_balance.order.amount, usd(299));
    let second = sys
        .registry
        .send(user, buy(user, Provider::Balance))
        .await
        .expect("balance order");
    assert!(
        !second.reused,
        "a balance purchase is not reused by purchase"
    );
    assert_ne!(second.order.id, from_balance.order.id);
}

/// With the balance held in Stars, the USD-priced plan cannot be bought from
/// it; the other providers still can.
#[actix_rt::test]
async fn a_balance_purchase_must_be_priced_in_the_balance_currency() {
    let sys = System::start(
        Backend::Sqlite,
        RegistrySettings {
            balance_currency: Currency::stars(),
            ..settings()
        },
    )
    .await;
    let user = uid(702);
    let refused = sys.registry.send(user, buy(user, Provider::Balance)).await;
    assert_eq!(invalid_field(refused), "provider");
    let stars = sys
        .registry
        .send(user, buy(user, Provider::Stars))
        .await
        .expect("stars order");
    assert_eq!(stars.order.amount, xtr(150));
}

/// Top-ups: a positive amount through a provider other than the balance;
/// the same pending top-up is reused.
#[actix_rt::test]
async fn top_ups_need_a_provider_and_a_positive_amount() {
    let sys = System::start(Backend::Sqlite, settings()).await;
    let user = uid(703);
    let opened = sys
        .registry
        .send(user, top_up(user, usd(500), Provider::Cryptobot))
        .await
        .expect("top-up");
    assert!(!opened.reused);
    assert_eq!(opened.order.kind, OrderKind::Topup);
    assert_eq!(opened.order.amount, usd(500));
    assert_eq!(opened.order.days, 0);
    let again = sys
        .registry
        .send(user, top_up(user, usd(500), Provider::Cryptobot))
        .await
        .expect("top-up");
    assert!(again.reused);
    assert_eq!(again.order.id, opened.order.id);
    let one_cent = sys
        .registry
        .send(user, top_up(user, usd(1), Provider::Nowpayments))
        .await
        .expect("the smallest top-up");
    assert_eq!(one_cent.order.amount, usd(1));

    for (amount, provider, field) in [
        (usd(500), Provider::Balance, "provider"),
        (usd(0), Provider::Cryptobot, "amount"),
        (usd(-500), Provider::Cryptobot, "amount"),
    ] {
        let refused = sys
            .registry
            .send(user, top_up(user, amount, provider))
            .await;
        assert_eq!(invalid_field(refused), field, "{provider}");
    }
}

async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The outbox driver polls only once an hour here: a grant, a payment and a
/// refund reach the node at once only because the actor hands the committed
/// ops to the provisioner.
#[actix_rt::test]
async fn committed_ops_wake_the_provisioner_at_once() {
    let sys = System::start(Backend::Sqlite, settings()).await;
    let mut driver = OutboxDriver::new(
        sys.store().clone(),
        sys.provisioner.clone(),
        sys.clock.clone(),
        Duration::from_secs(3600),
    );
    // A grant committed before the driver runs: its first pass takes it (the
    // outbox is drained at start). Once it is on the node and the pass is
    // over, only a wake-up makes the driver look again within the hour.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    sys.registry
        .send(
            uid(708),
            GrantDays {
                days: 1,
                by: Principal::Ops,
            },
        )
        .await
        .expect("grant");
    let task = tokio::spawn(async move { driver.run(stopped).await });
    eventually("the first pass", || sys.sandbox.user_count() == 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let granted = uid(704);
    sys.registry
        .send(
            granted,
            GrantDays {
                days: 1,
                by: Principal::Ops,
            },
        )
        .await
        .expect("grant");
    eventually("the grant on the node", || sys.sandbox.user_count() == 2).await;

    let payer = uid(705);
    let order = plan_order(sys.store().as_ref(), payer, Provider::Cryptobot, t0()).await;
    sys.registry
        .send(
            payer,
            ApplyPayment {
                order: order.id,
                payment: paid(Provider::Cryptobot, "cryptobot:705", usd(299)),
            },
        )
        .await
        .expect("payment");
    eventually("the paid order's access on the node", || {
        sys.sandbox.user_count() == 3
    })
    .await;

    sys.registry
        .send(
            payer,
            RefundOrder {
                order: order.id,
                by: Principal::Ops,
            },
        )
        .await
        .expect("refund");
    eventually("the refunded access off the node", || {
        sys.sandbox.user_count() == 2
    })
    .await;

    stop.send(true).expect("driver running");
    task.await.expect("driver stopped");
}

/// Counts `subvisor_conflict_retries_total{message="set_language"}`.
struct RetryCounter(Arc<AtomicU64>);

impl metrics::Recorder for RetryCounter {
    fn describe_counter(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_gauge(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_histogram(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn register_counter(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        let ours = key.name() == subvisor_actors::metrics::CONFLICT_RETRIES
            && key
                .labels()
                .any(|l| l.key() == "message" && l.value() == "set_language");
        if ours {
            metrics::Counter::from_arc(self.0.clone())
        } else {
            metrics::Counter::noop()
        }
    }
    fn register_gauge(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        metrics::Gauge::noop()
    }
    fn register_histogram(
        &self,
        _: &metrics::Key,
        _: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        metrics::Histogram::noop()
    }
}

/// A migrated store on `opts`: opening the pool with a short acquire timeout
/// can time out on a loaded machine (all tests run at once), so try again.
async fn connect_patiently(opts: &StoreOptions) -> Arc<dyn Store> {
    let mut last = None;
    for _ in 0..20 {
        match store::connect(opts).await {
            Ok(store) => match store.migrate().await {
                Ok(()) => return store,
                Err(e) => last = Some(e),
            },
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("could not open the store: {last:?}");
}

/// While another connection holds SQLite's write lock, every attempt loses
/// (SQLITE_BUSY after the 200 ms busy timeout): the actor tries exactly
/// `CONFLICT_ATTEMPTS` (8) times — 7 retries — and then tells the caller the
/// conflict. Once the lock is gone the same message goes through.
#[actix_rt::test]
async fn a_transaction_that_keeps_losing_is_tried_eight_times() {
    let retries = Arc::new(AtomicU64::new(0));
    metrics::set_global_recorder(RetryCounter(retries.clone()))
        .expect("no other recorder in this test binary");

    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/subvisor.db", dir.path().display());
    let mut opts = StoreOptions::new(url.clone());
    // The store's acquire timeout is also SQLite's busy timeout: short, so
    // that eight lost attempts take under two seconds.
    opts.acquire_timeout = Duration::from_millis(200);
    let store = connect_patiently(&opts).await;
    let sandbox = Arc::new(SandboxNode::new());
    let provisioner = Provisioner::new(vec![sandbox as Arc<dyn NodeClient>]);
    let registry = Registry::start(
        store,
        provisioner,
        TestClock::new(t0()),
        plans(),
        settings(),
    );
    let user = uid(706);
    registry
        .send(
            user,
            GrantDays {
                days: 1,
                by: Principal::Ops,
            },
        )
        .await
        .expect("the user exists");

    use sqlx::Connection as _;
    let mut holder = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("connect");
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut holder)
        .await
        .expect("take the write lock");
    let before = retries.load(Ordering::SeqCst);
    let lost = registry
        .send(
            user,
            SetLanguage {
                language: "de".into(),
            },
        )
        .await;
    let err = lost.expect_err("every attempt lost the lock");
    assert!(err.is_conflict(), "{err:?}");
    assert_eq!(retries.load(Ordering::SeqCst) - before, 7, "8 attempts");

    sqlx::query("ROLLBACK")
        .execute(&mut holder)
        .await
        .expect("release the lock");
    registry
        .send(
            user,
            SetLanguage {
                language: "de".into(),
            },
        )
        .await
        .expect("through once the lock is gone");
}

/// A panic inside the store work (on the main runtime, not in the actor)
/// kills the actor as if its handler had panicked: the caller is told the
/// actor died, nothing was committed, and the user is served again from the
/// store. The trigger is a grant past chrono's range (`u32::MAX` days
/// overflows `DateTime + TimeDelta` inside the transaction); should grants
/// ever be bounded before the store, this test needs another way to panic
/// there.
#[actix_rt::test]
async fn a_panic_in_the_store_work_kills_the_actor_not_the_caller() {
    let sys = System::start(Backend::Sqlite, settings()).await;
    let user = uid(707);
    let grant = |days| GrantDays {
        days,
        by: Principal::Ops,
    };
    sys.registry.send(user, grant(10)).await.expect("grant");
    let crashed = sys.registry.send(user, grant(u32::MAX)).await;
    assert!(
        matches!(crashed, Err(Error::ActorDied(u)) if u == user),
        "{crashed:?}"
    );
    let view = sys
        .registry
        .send(user, subvisor_actors::messages::View)
        .await
        .expect("re-activated from the store")
        .expect("known user");
    assert_eq!(
        view.subscription.expect("subscription").expires_at,
        t0() + chrono::Duration::days(10),
        "the crashed grant committed nothing"
    );
    assert_eq!(sys.registry.stats().restarts, 1);
}

/// An actor that was just used stays (the idle check ticks every
/// `idle_timeout / 4`, 1 s here); past its idle timeout of 4 s it is
/// passivated once, on one of the next ticks, and dropped. The bounds leave
/// seconds of slack for a loaded machine: a tick of `idle_timeout * 4` (16 s)
/// would still miss them.
#[actix_rt::test]
async fn an_actor_is_passivated_after_its_idle_timeout_not_before() {
    let idle = Duration::from_secs(4);
    let sys = System::start(
        Backend::Sqlite,
        RegistrySettings {
            idle_timeout: idle,
            ..settings()
        },
    )
    .await;
    let user = uid(709);
    sys.registry
        .send(
            user,
            GrantDays {
                days: 1,
                by: Principal::Ops,
            },
        )
        .await
        .expect("grant");
    let used = Instant::now();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let stats = sys.registry.stats();
    assert_eq!(
        (stats.live, stats.registered, stats.passivations),
        (1, 1, 0),
        "used 1.2 s ago with an idle timeout of 4 s"
    );
    eventually("the passivation", || sys.registry.stats().passivations == 1).await;
    let after = used.elapsed();
    assert!(after >= idle, "passivated after {after:?}");
    assert!(
        after < idle + Duration::from_secs(6),
        "the first ticks after the idle timeout passivate it, not {after:?}"
    );
    eventually("the actor dropped", || sys.registry.live() == 0).await;
    assert_eq!(sys.registry.stats().registered, 0);
}

fn quick_idle() -> RegistrySettings {
    RegistrySettings {
        idle_timeout: Duration::from_secs(1),
        ..settings()
    }
}

/// A message counted in flight but not yet in the mailbox (a caller between
/// taking the slot and delivering) keeps an idle actor alive: passivating it
/// then would close the mailbox under that message. Once the message is gone
/// the actor passivates as usual. (Idle timeout 1 s, a check every 250 ms:
/// three seconds held is a dozen checks.)
#[actix_rt::test]
async fn an_actor_with_a_message_in_flight_is_not_passivated() {
    let sys = System::start(Backend::Sqlite, quick_idle()).await;
    let user = uid(711);
    let held = sys.registry.hold(user).expect("hold");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let stats = sys.registry.stats();
    assert_eq!(
        (
            stats.live,
            stats.registered,
            stats.in_flight,
            stats.passivations
        ),
        (1, 1, 1, 0),
        "idle for 3 s with a message in flight"
    );
    drop(held);
    eventually("the passivation", || sys.registry.stats().passivations == 1).await;
    eventually("the actor dropped", || sys.registry.live() == 0).await;
    assert_eq!(sys.registry.stats().registered, 0);
}

/// An actor the Registry no longer knows (forgotten at a burial or a
/// shutdown while it still ran) stops itself once idle instead of living on
/// unreachable; the user's next message activates a new one.
#[actix_rt::test]
async fn an_actor_the_registry_forgot_stops_itself() {
    let sys = System::start(Backend::Sqlite, quick_idle()).await;
    let user = uid(712);
    sys.registry
        .send(
            user,
            GrantDays {
                days: 2,
                by: Principal::Ops,
            },
        )
        .await
        .expect("grant");
    assert!(sys.registry.forget(user), "the actor was registered");
    assert_eq!(
        (sys.registry.live(), sys.registry.stats().registered),
        (1, 0)
    );
    eventually("the orphan stopping", || sys.registry.live() == 0).await;
    assert_eq!(sys.registry.stats().passivations, 1);
    let view = sys
        .registry
        .send(user, subvisor_actors::messages::View)
        .await
        .expect("view")
        .expect("the user exists");
    assert_eq!(view.user, user);
    assert_eq!(sys.registry.stats().activations, 2);
}
