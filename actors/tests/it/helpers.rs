//! Shared setup: stores on both backends, a registry with the sandbox node.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use subvisor_actors::clock::{Clock, ManualClock};
use subvisor_actors::domain::{Currency, Money, NodeName, Plan, PlanId, Plans, Principal};
use subvisor_actors::provisioning::{NodeClient, OutboxDriver, Provisioner, SandboxNode};
use subvisor_actors::store::{self, Backend, Store, StoreOptions, WriteCtx};
use subvisor_actors::{Registry, RegistrySettings};
use tempfile::TempDir;

pub(crate) use subvisor_testkit::both_backends;
pub use subvisor_testkit::fixtures::{uid, usd, xtr};

/// A migrated store on a fresh database; keeps its temp dir alive.
pub struct TestStore {
    pub store: Arc<dyn Store>,
    _dir: Option<TempDir>,
}

pub async fn fresh_store(backend: Backend, max_connections: u32) -> TestStore {
    fresh_store_with(backend, max_connections, |_| {}).await
}

/// [`fresh_store`] with options changed by `edit` before connecting.
pub async fn fresh_store_with(
    backend: Backend,
    max_connections: u32,
    edit: impl FnOnce(&mut StoreOptions),
) -> TestStore {
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
    let mut opts = StoreOptions::new(url);
    opts.max_connections = max_connections;
    edit(&mut opts);
    let store = store::connect(&opts).await.expect("connect");
    store.migrate().await.expect("migrate");
    TestStore { store, _dir: dir }
}

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0)
        .single()
        .expect("valid date")
}

pub fn nodes() -> Vec<NodeName> {
    vec![NodeName::new("sandbox").expect("valid")]
}

pub fn ctx(now: DateTime<Utc>, nodes: &[NodeName]) -> WriteCtx<'_> {
    WriteCtx {
        now,
        by: Principal::Ops,
        nodes,
    }
}

pub fn plans() -> Plans {
    Plans::new(vec![Plan {
        id: PlanId::new("month").expect("valid"),
        title: "1 month".into(),
        days: 30,
        stars: Some(150),
        fiat: Some(Money::new(299, Currency::new("USD").expect("valid"))),
        traffic: None,
    }])
    .expect("valid plans")
}

/// A clock that can be told to panic on its next reading, to make a handler
/// panic from inside the actor.
pub struct TestClock {
    pub inner: ManualClock,
    pub panic_next: AtomicBool,
}

impl TestClock {
    pub fn new(start: DateTime<Utc>) -> Arc<Self> {
        Arc::new(Self {
            inner: ManualClock::new(start),
            panic_next: AtomicBool::new(false),
        })
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        if self.panic_next.swap(false, Ordering::SeqCst) {
            panic!("injected panic inside a user actor handler");
        }
        self.inner.now()
    }
}

pub struct System {
    pub registry: Registry,
    pub sandbox: Arc<SandboxNode>,
    pub provisioner: Provisioner,
    pub clock: Arc<TestClock>,
    pub db: TestStore,
}

impl System {
    pub async fn start(backend: Backend, settings: RegistrySettings) -> Self {
        Self::start_with_plans(backend, settings, plans()).await
    }

    /// [`System::start`] selling `plans` instead of [`plans()`].
    pub async fn start_with_plans(
        backend: Backend,
        settings: RegistrySettings,
        plans: Plans,
    ) -> Self {
        let db = fresh_store(backend, 8).await;
        let sandbox = Arc::new(SandboxNode::new());
        let provisioner = Provisioner::new(vec![sandbox.clone() as Arc<dyn NodeClient>]);
        let clock = TestClock::new(t0());
        let registry = Registry::start(
            db.store.clone(),
            provisioner.clone(),
            clock.clone(),
            plans,
            settings,
        );
        Self {
            registry,
            sandbox,
            provisioner,
            clock,
            db,
        }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.db.store
    }

    /// Applies every due provisioning op to the sandbox node.
    pub async fn drain_outbox(&self) {
        let driver = OutboxDriver::new(
            self.db.store.clone(),
            self.provisioner.clone(),
            self.clock.clone(),
            Duration::from_secs(1),
        );
        while driver.drain_once().await.expect("drain") > 0 {}
    }
}

pub fn settings() -> RegistrySettings {
    RegistrySettings {
        arbiters: 2,
        mailbox_capacity: 256,
        ..RegistrySettings::default()
    }
}

/// A provider's payment of `amount` with its own id.
pub fn paid(
    provider: subvisor_actors::domain::Provider,
    id: &str,
    amount: Money,
) -> subvisor_actors::store::IncomingPayment {
    subvisor_actors::store::IncomingPayment {
        provider,
        provider_payment_id: id.to_owned(),
        amount: Some(amount),
        payer: None,
    }
}

/// Paying `order` from the balance (the id the checkout uses).
pub fn from_balance(
    order: subvisor_actors::domain::OrderId,
) -> subvisor_actors::store::IncomingPayment {
    subvisor_actors::store::IncomingPayment {
        provider: subvisor_actors::domain::Provider::Balance,
        provider_payment_id: format!("balance:{order}"),
        amount: None,
        payer: None,
    }
}

/// A pending order of the `month` plan through `provider`, made directly in
/// the store (never reused: each call is a new order).
pub async fn plan_order(
    store: &dyn Store,
    user: subvisor_actors::domain::UserId,
    provider: subvisor_actors::domain::Provider,
    at: DateTime<Utc>,
) -> subvisor_actors::domain::Order {
    let plan = plans()
        .get(&PlanId::new("month").expect("valid"))
        .cloned()
        .expect("plan");
    let new = subvisor_actors::domain::NewOrder {
        id: subvisor_actors::domain::OrderId::random(),
        user,
        kind: subvisor_actors::domain::OrderKind::Plan,
        plan: plan.id.clone(),
        days: plan.days,
        traffic_bytes: 0,
        provider,
        amount: plan.price_for(provider).expect("price"),
        idempotency_key: None,
        reuse_since: None,
    };
    store
        .create_order(&ctx(at, &[]), &new)
        .await
        .expect("order")
        .order
}
