//! Wiring: builds the store, nodes, actors, background workers and both HTTP
//! listeners from [`Settings`], zero2prod-style: listeners may be bound to port
//! 0 so tests run the real application.
//!
//! [`Application::build`] runs the named steps in order, each in its own file:
//! - `store.rs`: open the store (connect, migrate);
//! - `nodes.rs`: start the nodes (one gateway per `[[nodes]]`, or the sandbox);
//! - `workers.rs`: prepare the workers (elections, provisioning outbox,
//!   reconciler, expiry scheduler, notifier, payment intake and worker) and
//!   spawn them;
//! - `bot.rs`: connect and start the Telegram bot (when a token is set);
//! - `http.rs`: bind both listeners, serve ops, serve public;
//! - `shutdown.rs`: run until a signal, then stop in order.

mod bot;
mod http;
mod nodes;
mod shutdown;
mod store;
mod workers;

use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use subvisor_actors::Registry;
use subvisor_actors::clock::{Clock, SystemClock};
use subvisor_actors::leader::Leadership;
use subvisor_actors::store::Store;
use subvisor_actors::workers::Supervisor;
use subvisor_http::{IpRateLimit, OpsState, PublicState};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use self::http::Listeners;
pub use self::shutdown::shutdown_signal;
use self::workers::{PaymentWorkers, Upkeep};
use crate::config::Settings;

/// How long graceful shutdown may take in total (SIGTERM → exit).
const HTTP_DRAIN: Duration = Duration::from_secs(4);
const ACTOR_DRAIN: Duration = Duration::from_secs(3);
const POOL_CLOSE: Duration = Duration::from_secs(2);

/// The service, built: store open, nodes and workers started, both listeners
/// bound. [`run_until`](Self::run_until) serves and then stops it in order.
pub struct Application {
    public_port: u16,
    ops_port: u16,
    public_server: Server,
    ops_server: Server,
    registry: Registry,
    store: Arc<dyn Store>,
    stop_workers: watch::Sender<bool>,
    workers: Vec<JoinHandle<()>>,
    supervisor: Supervisor,
}

impl Application {
    /// Builds everything and binds both listeners. Must run inside an actix
    /// `System` (user actors live on its arbiters).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// As [`build`](Self::build), with time from `clock` (tests move it).
    pub async fn build_with_clock(
        settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let metrics = subvisor_http::metrics::install();
        let store = store::open_store(&settings).await?;
        let nodes = nodes::start_nodes(&settings)?;
        let registry = Registry::start(
            store.clone(),
            nodes.provisioner.clone(),
            clock.clone(),
            settings.plans()?,
            settings.registry_settings(),
        );

        let supervisor =
            Supervisor::with_alerts(settings.supervisor_settings(), store.clone(), clock.clone());
        // Workers are prepared in this order (each election is tried as it is
        // built) and spawned together once the bot is started (it connects
        // to Telegram in the background).
        let (stop_workers, stopped) = watch::channel(false);
        let leadership = Leadership::new(store.clone(), settings.lease_policy());
        let (upkeep, node_reconciler) = Upkeep::prepare(
            &settings,
            &store,
            &leadership,
            &registry,
            nodes.provisioner,
            nodes.events,
            clock,
        )
        .await;
        let mut payment_clients = settings.payment_clients()?;
        let bot = bot::connect_bot(&settings, &mut payment_clients)?;
        let notifier = workers::notifier(
            &settings,
            &store,
            &registry,
            &nodes.links,
            bot.as_ref(),
            &upkeep,
        );
        let (payment_workers, payments) = PaymentWorkers::prepare(
            &settings,
            &leadership,
            &registry,
            &payment_clients,
            notifier.as_ref(),
        )
        .await;
        let bot = bot::start_bot(
            &settings,
            bot,
            notifier.as_ref(),
            &registry,
            &nodes.links,
            &payment_clients,
            &payments.intake,
            &supervisor,
            stopped.clone(),
        )?;
        let drift_stopped = stopped.clone();
        let mut workers = workers::spawn_workers(
            &supervisor,
            upkeep,
            payment_workers,
            notifier,
            bot.tasks,
            stopped,
        );
        // Every instance checks drift (read-only, no leader needed).
        if let Some(checker) = nodes.drift_checker {
            workers.push(supervisor.spawn("node-drift", checker, drift_stopped));
        }

        // Both listeners are bound before either is served.
        let listeners = Listeners::bind(&settings)?;
        let ops_state = OpsState {
            registry: registry.clone(),
            metrics,
            token: settings.ops_token(),
            balance_currency: settings.payments.balance_currency.clone(),
            links: nodes.links.clone(),
            reconciler: node_reconciler,
            payments: payment_clients,
            intake: payments.intake.clone(),
            payment_reconciler: payments.reconciler,
            workers: supervisor.clone(),
            leadership,
            bot: bot.probe,
            drift: nodes.drift,
            default_devices: settings.subscription.default_devices,
            ops_public: !settings.http.ops_addr.ip().is_loopback(),
        };
        let public_state = PublicState {
            registry: registry.clone(),
            links: nodes.links,
            title: settings.subscription.title.clone(),
            update_interval_hours: settings.subscription.update_interval_hours,
            devices: subvisor_http::DevicePolicy {
                hwid_required: settings.subscription.hwid_required,
                default_limit: settings.subscription.default_devices,
            },
            subscription: settings.subscription_options(bot.username.clone()),
            webhooks: settings.webhook_secrets(),
            intake: payments.intake,
            trusted_proxies: settings.trusted_proxies()?,
            telegram: bot.webhook,
            rate_limit: IpRateLimit::per_minute(
                settings.http.public_rate_per_minute,
                settings.http.public_rate_burst,
            ),
        };
        let ops_server = http::serve_ops(&settings, listeners.ops, ops_state)?;
        let public_server = http::serve_public(listeners.public, public_state)?;
        let (public_port, ops_port) = (listeners.public_port, listeners.ops_port);
        tracing::info!(
            public = %settings.http.public_addr, public_port,
            ops = %settings.http.ops_addr, ops_port,
            "listening"
        );
        Ok(Self {
            public_port,
            ops_port,
            public_server,
            ops_server,
            registry,
            store,
            stop_workers,
            workers,
            supervisor,
        })
    }

    pub fn public_port(&self) -> u16 {
        self.public_port
    }

    pub fn ops_port(&self) -> u16 {
        self.ops_port
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The background workers' supervisor (their states; tests inject faults).
    pub fn supervisor(&self) -> &Supervisor {
        &self.supervisor
    }
}
