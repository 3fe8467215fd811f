//! Names of the metrics this crate emits (all prefixed `subvisor_`).

pub const ACTORS_ACTIVE: &str = "subvisor_actors_active";
pub const ACTOR_ACTIVATIONS: &str = "subvisor_actor_activations_total";
pub const ACTOR_PASSIVATIONS: &str = "subvisor_actor_passivations_total";
pub const ACTOR_RESTARTS: &str = "subvisor_actor_restarts_total";
pub const ACTOR_RESTART_LIMIT_HITS: &str = "subvisor_actor_restart_limit_hits_total";
pub const MAILBOX_FULL_REJECTIONS: &str = "subvisor_mailbox_full_rejections_total";
pub const HANDLER_SECONDS: &str = "subvisor_actor_handler_seconds";
pub const OUTBOX_DEPTH: &str = "subvisor_outbox_depth";
pub const PROVISIONING_OPS: &str = "subvisor_provisioning_ops_total";
pub const EXPIRATIONS: &str = "subvisor_expirations_total";
pub const SCHEDULER_RUNS: &str = "subvisor_scheduler_runs_total";
pub const AUTO_RENEWALS: &str = "subvisor_auto_renewals_total";
pub const NODE_UP: &str = "subvisor_node_up";
pub const NODE_BREAKER_STATE: &str = "subvisor_node_breaker_state";
pub const NODE_CALLS: &str = "subvisor_node_calls_total";
pub const RECONCILE_DRIFT_FOUND: &str = "subvisor_reconcile_drift_found_total";
pub const RECONCILE_DRIFT_FIXED: &str = "subvisor_reconcile_drift_fixed_total";
pub const RECONCILE_LAST_RUN: &str = "subvisor_reconcile_last_run_timestamp_seconds";
pub const RECONCILE_SECONDS: &str = "subvisor_reconcile_duration_seconds";
pub const NOTIFICATIONS: &str = "subvisor_notifications_total";
pub const REMINDERS: &str = "subvisor_reminders_total";
/// Transactions run again after losing a race with another instance.
pub const CONFLICT_RETRIES: &str = "subvisor_conflict_retries_total";
/// Payment events by provider and outcome (one set of outcome names).
pub const PAYMENTS: &str = "subvisor_payments_total";
/// Payment events the intake could not finish yet (retried by the service).
pub const PAYMENT_EVENTS_UNFINISHED: &str = "subvisor_payment_events_unfinished";
/// Payment events finished by the service's own recovery (the process died, or
/// processing failed, before they were finished).
pub const PAYMENT_EVENTS_RECOVERED: &str = "subvisor_payment_events_recovered_total";
/// Orders asked about at their provider by the payment reconciler.
pub const PAYMENT_RECONCILE_CHECKED: &str = "subvisor_payment_reconcile_checked_total";
/// Payments the reconciler found at a provider that we had not settled.
pub const PAYMENT_RECONCILE_FOUND: &str = "subvisor_payment_reconcile_found_total";
/// Payments the reconciler applied through the intake.
pub const PAYMENT_RECONCILE_APPLIED: &str = "subvisor_payment_reconcile_applied_total";
/// Alerts sent to admins, by outcome.
pub const ALERTS: &str = "subvisor_alerts_total";
/// Background workers restarted by their supervisor (after a panic or an
/// unexpected exit), by worker.
pub const WORKER_RESTARTS: &str = "subvisor_worker_restarts_total";
/// 1 while a background worker runs, 0 while it waits to be restarted or is stopped.
pub const WORKER_UP: &str = "subvisor_worker_up";
/// 1 while a background worker is crash-looping.
pub const WORKER_CRASH_LOOPING: &str = "subvisor_worker_crash_looping";
/// Age of the oldest pending row of each outbox (0 when empty).
pub const OUTBOX_OLDEST_AGE: &str = "subvisor_outbox_oldest_age_seconds";
/// Rows each outbox gave up on (notifications and alerts that failed for good).
pub const OUTBOX_FAILED: &str = "subvisor_outbox_failed";
/// Pending provisioning ops per node.
pub const NODE_PENDING_OPS: &str = "subvisor_node_pending_ops";
/// Age of each node's oldest pending provisioning op (0 when none).
pub const NODE_OLDEST_PENDING_AGE: &str = "subvisor_node_oldest_pending_op_age_seconds";
/// Payments and orders flagged for ops now (up to 10 000 counted).
pub const PAYMENTS_FLAGGED: &str = "subvisor_payments_flagged";
/// 1 while this instance leads a singleton role, by role.
pub const LEADER: &str = "subvisor_leader";
/// 1 while the Telegram bot is connected (set by the binary).
pub const BOT_CONNECTED: &str = "subvisor_bot_connected";
