//! Wiring: builds the store, nodes, actors, background workers and both HTTP
//! listeners from [`Settings`], zero2prod-style: listeners may be bound to port
//! 0 so tests run the real application.

use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{App, HttpServer};
use anyhow::Context;
use subvisor_actors::Registry;
use subvisor_actors::clock::{Clock, SystemClock};
use subvisor_actors::domain::Currency;
use subvisor_actors::leader::Election;
use subvisor_actors::notifier::Notifier;
use subvisor_actors::payments::{Intake, PaymentReconciler, PaymentWorker};
use subvisor_actors::provisioning::{
    NodeClient, OutboxDriver, Provisioner, Reconciler, SandboxNode, XrayGateway,
};
use subvisor_actors::scheduler::Scheduler;
use subvisor_actors::store::{self, Store};
use subvisor_http::{
    IpRateLimit, LinkBook, OpsState, PublicState, TelegramWebhook, configure_ops, configure_public,
};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing_actix_web::TracingLogger;

use crate::config::{Settings, TelegramMode};

/// How long graceful shutdown may take in total (SIGTERM → exit).
const HTTP_DRAIN: Duration = Duration::from_secs(4);
const ACTOR_DRAIN: Duration = Duration::from_secs(3);
const POOL_CLOSE: Duration = Duration::from_secs(2);

pub struct Application {
    public_port: u16,
    ops_port: u16,
    public_server: Server,
    ops_server: Server,
    registry: Registry,
    store: Arc<dyn Store>,
    stop_workers: watch::Sender<bool>,
    workers: Vec<JoinHandle<()>>,
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
        let store = store::connect(&settings.store_options())
            .await
            .context("cannot open the database (database.url)")?;
        store
            .migrate()
            .await
            .context("cannot migrate the database")?;
        tracing::info!(backend = ?store.backend(), "database ready");

        let node_configs = settings.nodes()?;
        let (node_events, node_events_rx) = mpsc::unbounded_channel();
        let nodes: Vec<Arc<dyn NodeClient>> = if node_configs.is_empty() {
            tracing::warn!(
                "no [[nodes]] configured: using the in-memory sandbox node; keys are not provisioned on any real server"
            );
            vec![Arc::new(SandboxNode::new())]
        } else {
            let mut nodes: Vec<Arc<dyn NodeClient>> = Vec::new();
            for node in &node_configs {
                tracing::info!(node = %node.name, api = %node.api, flavor = ?node.api_flavor, "starting node gateway");
                nodes.push(Arc::new(XrayGateway::start(
                    node,
                    settings.gateway_settings(),
                    node_events.clone(),
                )?));
            }
            nodes
        };
        let links = LinkBook {
            nodes: node_configs.iter().map(|n| n.link.clone()).collect(),
            public_url: settings
                .subscription
                .public_url
                .trim_end_matches('/')
                .to_owned(),
        };
        let provisioner = Provisioner::new(nodes);
        let registry = Registry::start(
            store.clone(),
            provisioner.clone(),
            clock.clone(),
            settings.plans()?,
            settings.registry_settings(),
        );

        let (stop_workers, stopped) = watch::channel(false);
        let (scheduling, scheduler_lead) = Election::start(store.clone(), "scheduler").await;
        let (provisioning, provisioning_lead) =
            Election::start(store.clone(), "provisioning").await;
        let driver = OutboxDriver::new(
            store.clone(),
            provisioner,
            clock,
            settings.outbox.poll_interval,
        )
        .with_leader(provisioning_lead);
        let (reconciler, reconciler_handle) =
            Reconciler::new(driver.clone(), settings.reconcile.interval, node_events_rx);
        let scheduler = Scheduler::new(
            registry.clone(),
            settings.scheduler.interval,
            settings.scheduler.batch,
        )
        .with_order_ttl(settings.payments.order_ttl)
        .with_leader(scheduler_lead.clone());
        let every = settings.cluster.leader_interval;
        let mut payments = settings.payment_clients()?;
        let bot = match settings.telegram_token() {
            Some(token) => Some(crate::bot::client(
                &token,
                settings.telegram.api_url.as_deref(),
            )?),
            None => {
                tracing::info!(
                    "telegram.token is not set: the Telegram bot is off (notifications stay queued)"
                );
                None
            }
        };
        if let Some(bot) = &bot
            && settings.telegram.stars
        {
            payments.stars = Some(Arc::new(crate::bot::stars::TelegramStars::new(bot.clone())));
        }
        let notifier = bot.as_ref().map(|bot| {
            let alert_chats = match settings.telegram.alerts_chat {
                Some(chat) => vec![chat],
                None => settings.telegram.admins.clone(),
            };
            let messenger = crate::bot::notify::TelegramMessenger::new(
                bot.clone(),
                registry.clone(),
                links.clone(),
                alert_chats,
            );
            Notifier::new(
                store.clone(),
                messenger,
                registry.clock().clone(),
                settings.notifier_settings(),
            )
            .with_leader(scheduler_lead.clone())
        });
        let mut intake = Intake::new(registry.clone(), payments.stars.clone());
        if let Some(notifier) = &notifier {
            intake = intake.with_waker(notifier.waker());
        }
        let payment_reconciler = PaymentReconciler::new(
            intake.clone(),
            payments.clone(),
            settings.payments.reconcile_lookback,
        );
        let (payment_election, payments_lead) = Election::start(store.clone(), "payments").await;
        let payment_worker = PaymentWorker::new(
            intake.clone(),
            payment_reconciler.clone(),
            settings.payments.recovery_interval,
            settings.payments.reconcile_interval,
        )
        .with_leader(payments_lead);
        let mut telegram_webhook = None;
        let mut bot_tasks = Vec::new();
        if let (Some(bot), Some(notifier)) = (bot, &notifier) {
            let webhook = match settings.telegram.mode {
                TelegramMode::Polling => None,
                TelegramMode::Webhook => {
                    let (tx, rx) = mpsc::channel(1024);
                    let secret = settings.telegram_webhook_secret().unwrap_or_default();
                    telegram_webhook = Some(TelegramWebhook {
                        secret: secret.clone(),
                        updates: tx,
                        intake: intake.clone(),
                    });
                    Some(crate::bot::WebhookMode {
                        url: settings.telegram.webhook_url.clone().unwrap_or_default(),
                        secret,
                        updates: rx,
                    })
                }
            };
            let bot_settings = crate::bot::BotSettings {
                webhook,
                admins: settings.telegram.admins.clone(),
                support: settings.telegram.support.clone(),
                topups: settings.telegram.topup_amounts_minor.clone(),
                balance_currency: Currency::new(settings.payments.balance_currency.clone())?,
                trial_days: settings.trial.days,
                referral_bonus: settings.referral_bonus(),
                order_ttl: settings.payments.order_ttl,
                stars: settings.telegram.stars,
                user_rate_per_minute: settings.telegram.user_rate_per_minute,
                user_rate_burst: settings.telegram.user_rate_burst,
            };
            let (tasks, _ctx) = crate::bot::start(
                bot_settings,
                bot,
                registry.clone(),
                links.clone(),
                payments.clone(),
                intake.clone(),
                notifier.waker(),
                stopped.clone(),
            )
            .await?;
            bot_tasks = tasks;
        }
        let mut workers = vec![
            tokio::spawn(scheduling.run(every, stopped.clone())),
            tokio::spawn(provisioning.run(every, stopped.clone())),
            tokio::spawn(payment_election.run(every, stopped.clone())),
            tokio::spawn(driver.run(stopped.clone())),
            tokio::spawn(reconciler.run(stopped.clone())),
            tokio::spawn(payment_worker.run(stopped.clone())),
        ];
        if let Some(notifier) = notifier {
            workers.push(tokio::spawn(notifier.run(stopped.clone())));
        }
        workers.push(tokio::spawn(scheduler.run(stopped)));
        workers.extend(bot_tasks);

        let ops_listener = TcpListener::bind(settings.http.ops_addr).with_context(|| {
            format!("cannot listen on http.ops_addr {}", settings.http.ops_addr)
        })?;
        let public_listener = TcpListener::bind(settings.http.public_addr).with_context(|| {
            format!(
                "cannot listen on http.public_addr {}",
                settings.http.public_addr
            )
        })?;
        let ops_port = ops_listener.local_addr()?.port();
        let public_port = public_listener.local_addr()?.port();

        let ops_state = OpsState {
            registry: registry.clone(),
            metrics,
            token: settings.ops_token(),
            balance_currency: settings.payments.balance_currency.clone(),
            links: links.clone(),
            reconciler: reconciler_handle,
            payments,
            intake: intake.clone(),
            payment_reconciler,
        };
        let public_state = PublicState {
            registry: registry.clone(),
            links,
            title: settings.subscription.title.clone(),
            update_interval_hours: settings.subscription.update_interval_hours,
            webhooks: settings.webhook_secrets(),
            intake,
            trusted_proxies: settings.trusted_proxies()?,
            telegram: telegram_webhook,
            rate_limit: IpRateLimit::per_minute(
                settings.http.public_rate_per_minute,
                settings.http.public_rate_burst,
            ),
        };
        if ops_state.token.is_none() {
            tracing::info!(
                "ops.token is not set: /ops/* is open to anyone who reaches {}",
                settings.http.ops_addr
            );
        }
        let ops_server = HttpServer::new(move || {
            App::new()
                .wrap(TracingLogger::default())
                .configure(configure_ops(ops_state.clone()))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(HTTP_DRAIN.as_secs())
        .listen(ops_listener)?
        .run();
        let public_server = HttpServer::new(move || {
            App::new()
                .wrap(TracingLogger::default())
                .configure(configure_public(public_state.clone()))
        })
        .disable_signals()
        .shutdown_timeout(HTTP_DRAIN.as_secs())
        .listen(public_listener)?
        .run();
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

    /// Serves until `shutdown` resolves (or a listener fails), then stops
    /// gracefully: listeners stop accepting and finish in-flight requests,
    /// background workers stop, in-flight actor messages finish, the pool closes.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let public = self.public_server.handle();
        let ops = self.ops_server.handle();
        let mut public_task = actix_web::rt::spawn(self.public_server);
        let mut ops_task = actix_web::rt::spawn(self.ops_server);
        let failed = tokio::select! {
            () = shutdown => None,
            r = &mut public_task => Some(("public", r)),
            r = &mut ops_task => Some(("ops", r)),
        };
        if let Some((which, result)) = &failed {
            tracing::error!(
                listener = which,
                ?result,
                "a listener stopped unexpectedly; shutting down"
            );
        } else {
            tracing::info!("shutting down");
        }
        tokio::join!(public.stop(true), ops.stop(true));
        let _ = self.stop_workers.send(true);
        for worker in self.workers {
            if tokio::time::timeout(Duration::from_secs(2), worker)
                .await
                .is_err()
            {
                tracing::warn!("a background worker did not stop in time");
            }
        }
        if !self.registry.shutdown(ACTOR_DRAIN).await {
            tracing::warn!("some actor messages were still in flight at shutdown");
        }
        if tokio::time::timeout(POOL_CLOSE, self.store.close())
            .await
            .is_err()
        {
            tracing::warn!("database pool did not close in time");
        }
        tracing::info!("stopped");
        match failed {
            Some((which, _)) => anyhow::bail!("the {which} listener stopped unexpectedly"),
            None => Ok(()),
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
