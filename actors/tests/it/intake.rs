//! The payment intake under crashes: every provider's events delivered many
//! times, concurrently, with the process "dying" at each step of the intake;
//! a restart's recovery finishes everything. On SQLite and PostgreSQL.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::Duration;
use futures_util::future::join_all;
use subvisor_actors::domain::{
    Money, Order, OrderStatus, PaymentSettlement, PlanId, Principal, Provider, UserId,
};
use subvisor_actors::faults::{FaultHook, FaultPoint};
use subvisor_actors::messages::CreateOrder;
use subvisor_actors::payments::stars::refund_event;
use subvisor_actors::payments::{
    Intake, Outcome, PaymentAction, PaymentEvent, StarTransaction, StarsGateway, events,
};
use subvisor_actors::store::Backend;

use crate::helpers::{System, both_backends, plan_order, settings, t0, uid, usd, xtr};

/// A Stars gateway that records what was sent back.
#[derive(Default)]
struct FakeStars {
    refunded: Mutex<Vec<String>>,
}

#[async_trait]
impl StarsGateway for FakeStars {
    async fn invoice_link(
        &self,
        order: &Order,
        _: &str,
        _: &str,
    ) -> subvisor_actors::Result<String> {
        Ok(format!("https://t.me/$fake-{}", order.id))
    }
    async fn refund(&self, _user: UserId, charge: &str) -> subvisor_actors::Result<()> {
        self.refunded.lock().expect("lock").push(charge.to_owned());
        Ok(())
    }
    async fn transactions(&self, _: u32, _: u32) -> subvisor_actors::Result<Vec<StarTransaction>> {
        Ok(Vec::new())
    }
}

/// Crashes once at each armed (step, event).
#[derive(Default)]
struct Crashes {
    armed: Mutex<HashSet<(FaultPoint, String)>>,
    fired: Mutex<Vec<(FaultPoint, String)>>,
}

impl Crashes {
    fn arm(&self, point: FaultPoint, event: &str) {
        self.armed
            .lock()
            .expect("lock")
            .insert((point, event.to_owned()));
    }
}

impl FaultHook for Crashes {
    fn crash_at(&self, point: FaultPoint, event_id: &str) -> bool {
        let key = (point, event_id.to_owned());
        let hit = self.armed.lock().expect("lock").remove(&key);
        if hit {
            self.fired.lock().expect("lock").push(key);
        }
        hit
    }
}

/// A xorshift generator: the run is random but repeatable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

both_backends!(
    every_paid_order_is_applied_once_whatever_crashes,
    duplicate_stars_charges_go_back_once,
    a_late_deposit_after_failed_is_honoured,
);

/// What a run expects of one order.
struct Expect {
    user: UserId,
    paid: bool,
}

async fn every_paid_order_is_applied_once_whatever_crashes(backend: Backend) {
    let sys = System::start(backend, settings()).await;
    let stars = Arc::new(FakeStars::default());
    let crashes = Arc::new(Crashes::default());
    let dying = Intake::new(
        sys.registry.clone(),
        Some(stars.clone() as Arc<dyn StarsGateway>),
    )
    .with_faults(crashes.clone());
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let users: Vec<UserId> = (300..306).map(uid).collect();
    let providers = [Provider::Cryptobot, Provider::Nowpayments, Provider::Stars];
    let mut expect: Vec<(Order, Expect)> = Vec::new();
    let mut deliveries: Vec<PaymentEvent> = Vec::new();
    let mut extra_paid: HashMap<UserId, i64> = HashMap::new();
    let mut stars_twice = 0;
    for i in 0..36 {
        let user = users[rng.below(users.len())];
        let provider = providers[i % providers.len()];
        let order = plan_order(sys.store().as_ref(), user, provider, t0()).await;
        let pays = rng.below(4) != 0; // a quarter are never paid
        let paid_event = |n: u64| match provider {
            Provider::Cryptobot => {
                events::cryptobot_paid(9_000 + n as i64, Some(order.id), usd(299))
            }
            Provider::Nowpayments => events::nowpayments_status(
                &(7_000 + n).to_string(),
                "finished",
                Some(order.id),
                Some(usd(299)),
            )
            .expect("event"),
            _ => PaymentEvent {
                provider: Provider::Stars,
                event_id: format!("charge-{n}"),
                order: Some(order.id),
                payer: Some(user),
                by: None,
                action: PaymentAction::Paid {
                    payment_id: format!("charge-{n}"),
                    amount: xtr(150),
                },
            },
        };
        if pays {
            let first = paid_event(i as u64 * 10);
            // Delivered one to four times (provider retries, duplicates).
            for _ in 0..=rng.below(4) {
                deliveries.push(first.clone());
            }
            if provider == Provider::Nowpayments {
                let waiting = events::nowpayments_status(
                    &(7_000 + i as u64 * 10).to_string(),
                    "waiting",
                    Some(order.id),
                    None,
                )
                .expect("event");
                deliveries.push(waiting);
            }
            // Sometimes a second, distinct payment for the same order.
            if rng.below(3) == 0 {
                deliveries.push(paid_event(i as u64 * 10 + 1));
                if provider == Provider::Stars {
                    stars_twice += 1;
                } else {
                    *extra_paid.entry(user).or_default() += 299;
                }
            }
        }
        expect.push((order, Expect { user, paid: pays }));
    }
    // Shuffle, arm a crash on a third of the deliveries, deliver in
    // concurrent waves.
    for i in (1..deliveries.len()).rev() {
        let j = rng.below(i + 1);
        deliveries.swap(i, j);
    }
    for event in &deliveries {
        if rng.below(3) == 0 {
            crashes.arm(FaultPoint::ALL[rng.below(4)], &event.event_id);
        }
    }
    for wave in deliveries.chunks(12) {
        let sends = wave.iter().map(|event| {
            let intake = dying.clone();
            let event = event.clone();
            async move {
                let raw = serde_json::to_string(&event).expect("json");
                intake.receive(event, &raw).await
            }
        });
        for result in join_all(sends).await {
            if let Err(e) = result {
                assert!(
                    matches!(e, subvisor_actors::Error::ShuttingDown),
                    "only injected crashes fail: {e}"
                );
            }
        }
    }
    assert!(
        !crashes.fired.lock().expect("lock").is_empty(),
        "crashes were injected"
    );

    // The restart: a fresh intake finishes what the dead one left.
    let restarted = Intake::new(
        sys.registry.clone(),
        Some(stars.clone() as Arc<dyn StarsGateway>),
    );
    let recovery = restarted
        .recover(t0() + Duration::hours(1))
        .await
        .expect("recover");
    assert_eq!(recovery.events_failed, 0, "{recovery:?}");
    let store = sys.store();
    assert!(
        store
            .unfinished_payment_events(t0() + Duration::days(365), 100)
            .await
            .expect("unfinished")
            .is_empty(),
        "no event left unfinished"
    );
    assert!(
        store
            .payments_to_return(100)
            .await
            .expect("queue")
            .is_empty()
    );

    let mut paid_per_user: HashMap<UserId, i64> = HashMap::new();
    for (order, want) in &expect {
        let stored = store.order(order.id).await.expect("read").expect("exists");
        let payments = store.payments_of_order(order.id).await.expect("payments");
        let applied = payments
            .iter()
            .filter(|p| p.settlement == PaymentSettlement::Applied)
            .count();
        if want.paid {
            assert_eq!(stored.status, OrderStatus::Paid, "order {}", order.id);
            assert_eq!(applied, 1, "applied exactly once: {payments:?}");
            *paid_per_user.entry(want.user).or_default() += 1;
        } else {
            assert_eq!(stored.status, OrderStatus::Pending);
            assert!(payments.is_empty());
        }
    }
    for &user in &users {
        let snap = store.user(user).await.expect("read");
        let paid = paid_per_user.get(&user).copied().unwrap_or(0);
        let expires = snap
            .as_ref()
            .and_then(|s| s.subscription.as_ref())
            .map(|s| s.expires_at);
        if paid > 0 {
            assert_eq!(
                expires,
                Some(t0() + Duration::days(30 * paid)),
                "user {user}: one extension per paid order"
            );
        }
        let balance = snap.map_or(0, |s| s.balance_minor);
        assert_eq!(
            balance,
            store.ledger_sum(user).await.expect("sum"),
            "user {user}: balance equals the ledger"
        );
        assert_eq!(
            balance,
            extra_paid.get(&user).copied().unwrap_or(0),
            "user {user}: every second payment credited, once"
        );
    }
    // Every second Stars charge went back exactly once.
    let refunded = stars.refunded.lock().expect("lock").clone();
    let unique: HashSet<&String> = refunded.iter().collect();
    assert_eq!(
        unique.len(),
        refunded.len(),
        "never sent back twice: {refunded:?}"
    );
    assert_eq!(refunded.len(), stars_twice, "{refunded:?}");
}

async fn duplicate_stars_charges_go_back_once(backend: Backend) {
    let sys = System::start(backend, settings()).await;
    let stars = Arc::new(FakeStars::default());
    let intake = Intake::new(
        sys.registry.clone(),
        Some(stars.clone() as Arc<dyn StarsGateway>),
    );
    let user = uid(400);
    let order = plan_order(sys.store().as_ref(), user, Provider::Stars, t0()).await;
    let charge = |id: &str| PaymentEvent {
        provider: Provider::Stars,
        event_id: id.into(),
        order: Some(order.id),
        payer: Some(user),
        by: None,
        action: PaymentAction::Paid {
            payment_id: id.into(),
            amount: xtr(150),
        },
    };
    let first = intake.receive(charge("c-1"), "{}").await.expect("first");
    assert_eq!(first.outcome, Outcome::Applied);
    let second = intake.receive(charge("c-2"), "{}").await.expect("second");
    assert_eq!(second.outcome, Outcome::Returned);
    // Telegram's own service message about that refund: a duplicate fact.
    let echo = intake
        .receive(refund_event("c-2", Some(order.id), Some(user)), "{}")
        .await
        .expect("echo");
    assert_eq!(
        echo.outcome,
        Outcome::NotPaid,
        "already recorded as returned"
    );
    assert_eq!(
        *stars.refunded.lock().expect("lock"),
        vec!["c-2".to_owned()]
    );
    let snap = sys.store().user(user).await.expect("read").expect("exists");
    assert_eq!(
        snap.subscription.expect("sub").expires_at,
        t0() + Duration::days(30),
        "one extension"
    );
    assert_eq!(
        sys.store()
            .order(order.id)
            .await
            .expect("read")
            .expect("exists")
            .status,
        OrderStatus::Paid,
        "the order keeps its payment"
    );
    // A Stars payment for no order of ours goes back too.
    let stray = PaymentEvent {
        order: None,
        ..charge("c-3")
    };
    let stray = intake.receive(stray, "{}").await.expect("stray");
    assert_eq!(stray.outcome, Outcome::Returned);
    assert_eq!(stars.refunded.lock().expect("lock").len(), 2);
}

async fn a_late_deposit_after_failed_is_honoured(backend: Backend) {
    let sys = System::start(backend, settings()).await;
    let intake = Intake::new(sys.registry.clone(), None);
    let user = uid(401);
    let order = sys
        .registry
        .send(
            user,
            CreateOrder {
                plan: PlanId::new("month").expect("valid"),
                provider: Provider::Nowpayments,
                by: Principal::User(user),
                idempotency_key: None,
            },
        )
        .await
        .expect("order")
        .order;
    let status = |s: &str, price: Option<Money>| {
        events::nowpayments_status("555", s, Some(order.id), price).expect("event")
    };
    let failed = intake
        .receive(status("failed", None), "{}")
        .await
        .expect("failed");
    assert_eq!(failed.outcome, Outcome::Closed);
    let finished = intake
        .receive(status("finished", Some(usd(299))), "{}")
        .await
        .expect("finished");
    assert_eq!(finished.outcome, Outcome::Applied);
    let again = intake
        .receive(status("finished", Some(usd(299))), "{}")
        .await
        .expect("again");
    assert!(again.duplicate);
    let snap = sys.store().user(user).await.expect("read").expect("exists");
    assert_eq!(
        snap.subscription.expect("sub").expires_at,
        t0() + Duration::days(30)
    );
    let audit = sys.store().recent_audit(user, 10).await.expect("audit");
    assert!(
        audit
            .iter()
            .any(|a| a.action == "apply_payment" && a.details["order_was"] == "failed"),
        "a late payment is audited: {audit:?}"
    );
}
