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
pub const NODE_UP: &str = "subvisor_node_up";
pub const NODE_BREAKER_STATE: &str = "subvisor_node_breaker_state";
pub const NODE_CALLS: &str = "subvisor_node_calls_total";
pub const RECONCILE_DRIFT_FOUND: &str = "subvisor_reconcile_drift_found_total";
pub const RECONCILE_DRIFT_FIXED: &str = "subvisor_reconcile_drift_fixed_total";
pub const RECONCILE_LAST_RUN: &str = "subvisor_reconcile_last_run_timestamp_seconds";
pub const RECONCILE_SECONDS: &str = "subvisor_reconcile_duration_seconds";
pub const NOTIFICATIONS: &str = "subvisor_notifications_total";
pub const REMINDERS: &str = "subvisor_reminders_total";
