//! Startup step: the background workers. They are prepared first (elections
//! taken or tried, handles for the HTTP listeners created) and spawned together
//! once the bot is up, in a fixed order: elections, one provisioning worker
//! per node (its outbox and its reconciles), payment worker, notifier, expiry
//! scheduler, then the bot's tasks.

use std::collections::HashMap;
use std::sync::Arc;

use subvisor_actors::Registry;
use subvisor_actors::clock::Clock;
use subvisor_actors::domain::NodeName;
use subvisor_actors::leader::{Election, LeaderFlag, Leadership};
use subvisor_actors::links::LinkBook;
use subvisor_actors::notifier::Notifier;
use subvisor_actors::payments::{Intake, PaymentClients, PaymentReconciler, PaymentWorker};
use subvisor_actors::provisioning::{
    NodeEvent, NodeWorker, OutboxDriver, Provisioner, Reconciler, ReconcilerHandle,
};
use subvisor_actors::scheduler::Scheduler;
use subvisor_actors::store::Store;
use subvisor_actors::workers::Supervisor;
use teloxide::Bot;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::config::Settings;

/// The workers that keep nodes and subscriptions in shape: one worker per
/// node draining its outbox and reconciling it (led by the `provisioning`
/// election), and the expiry scheduler (led by the `scheduler` election).
pub(super) struct Upkeep {
    scheduling: Election,
    provisioning: Election,
    /// Whoever leads the scheduler also runs the notifier.
    scheduler_lead: LeaderFlag,
    nodes: Vec<NodeWorker>,
    scheduler: Scheduler,
}

impl Upkeep {
    /// Tries the `scheduler` and `provisioning` elections and prepares the
    /// workers; also returns the handle the ops API asks the reconciler with.
    pub(super) async fn prepare(
        settings: &Settings,
        store: &Arc<dyn Store>,
        leadership: &Leadership,
        registry: &Registry,
        provisioner: Provisioner,
        node_events: HashMap<NodeName, mpsc::UnboundedReceiver<NodeEvent>>,
        clock: Arc<dyn Clock>,
    ) -> (Self, ReconcilerHandle) {
        let (scheduling, scheduler_lead) = leadership.elect("scheduler").await;
        let (provisioning, provisioning_lead) = leadership.elect("provisioning").await;
        let driver = OutboxDriver::new(
            store.clone(),
            provisioner,
            clock,
            settings.outbox.poll_interval,
        )
        .with_leader(provisioning_lead);
        let (nodes, reconciler_handle) =
            Reconciler::per_node(driver, settings.reconcile.interval, node_events);
        let scheduler = Scheduler::new(
            registry.clone(),
            settings.scheduler.interval,
            settings.scheduler.batch,
        )
        .with_order_ttl(settings.payments.order_ttl)
        .with_leader(scheduler_lead.clone());
        let scheduler = if settings.auto_renew.enabled {
            scheduler.with_auto_renew(settings.auto_renew.before)
        } else {
            scheduler
        };
        let upkeep = Self {
            scheduling,
            provisioning,
            scheduler_lead,
            nodes,
            scheduler,
        };
        (upkeep, reconciler_handle)
    }
}

/// The notifier delivering the notification outbox through the bot; `None`
/// when the bot is off (notifications then stay queued).
pub(super) fn notifier(
    settings: &Settings,
    store: &Arc<dyn Store>,
    registry: &Registry,
    links: &LinkBook,
    bot: Option<&Bot>,
    upkeep: &Upkeep,
) -> Option<Notifier> {
    let bot = bot?;
    let alert_chats = match settings.telegram.alerts_chat {
        Some(chat) => vec![chat],
        None => settings.telegram.admins.clone(),
    };
    let messenger = crate::bot::notify::TelegramMessenger::new(
        bot.clone(),
        registry.clone(),
        links.clone(),
        alert_chats,
        settings.subscription.default_devices,
        settings.telegram.support.clone(),
        settings.telegram.purchase_alerts,
        // Validated at load: the default only if that changed since.
        Arc::new(settings.bot_locale().unwrap_or_default()),
    );
    Some(
        Notifier::new(
            store.clone(),
            messenger,
            registry.clock().clone(),
            settings.notifier_settings(),
        )
        .with_leader(upkeep.scheduler_lead.clone()),
    )
}

/// The payment intake and the reconciler that asks the providers about unpaid
/// orders: what the bot and both listeners hand payments to.
pub(super) struct Payments {
    pub intake: Intake,
    pub reconciler: PaymentReconciler,
}

/// The payment worker (recovery of unfinished events, periodic provider
/// reconciliation), led by the `payments` election.
pub(super) struct PaymentWorkers {
    election: Election,
    worker: PaymentWorker,
}

impl PaymentWorkers {
    /// Builds the intake (waking the notifier when there is one), tries the
    /// `payments` election and prepares the worker.
    pub(super) async fn prepare(
        settings: &Settings,
        leadership: &Leadership,
        registry: &Registry,
        clients: &PaymentClients,
        notifier: Option<&Notifier>,
    ) -> (Self, Payments) {
        let mut intake = Intake::new(registry.clone(), clients.stars.clone());
        if let Some(notifier) = notifier {
            intake = intake.with_waker(notifier.waker());
        }
        let reconciler = PaymentReconciler::new(
            intake.clone(),
            clients.clone(),
            settings.payments.reconcile_lookback,
        );
        let (election, payments_lead) = leadership.elect("payments").await;
        let worker = PaymentWorker::new(
            intake.clone(),
            reconciler.clone(),
            settings.payments.recovery_interval,
            settings.payments.reconcile_interval,
        )
        .with_leader(payments_lead);
        (Self { election, worker }, Payments { intake, reconciler })
    }
}

/// Spawns every worker under `supervisor`; they all stop when `stopped`
/// turns true. The bot's workers were spawned when it started.
pub(super) fn spawn_workers(
    supervisor: &Supervisor,
    upkeep: Upkeep,
    payments: PaymentWorkers,
    notifier: Option<Notifier>,
    bot_tasks: Vec<JoinHandle<()>>,
    stopped: watch::Receiver<bool>,
) -> Vec<JoinHandle<()>> {
    let mut workers = vec![
        supervisor.spawn("election-scheduler", upkeep.scheduling, stopped.clone()),
        supervisor.spawn(
            "election-provisioning",
            upkeep.provisioning,
            stopped.clone(),
        ),
        supervisor.spawn("election-payments", payments.election, stopped.clone()),
    ];
    for node in upkeep.nodes {
        let name = format!("provisioning-outbox:{}", node.node());
        workers.push(supervisor.spawn(name, node, stopped.clone()));
    }
    workers.push(supervisor.spawn("payments", payments.worker, stopped.clone()));
    if let Some(notifier) = notifier {
        workers.push(supervisor.spawn("notifier", notifier, stopped.clone()));
    }
    workers.push(supervisor.spawn("scheduler", upkeep.scheduler, stopped));
    workers.extend(bot_tasks);
    workers
}
