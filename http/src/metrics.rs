//! The Prometheus recorder, installed once per process, rendered by `/metrics`.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use subvisor_actors::metrics as m;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the global recorder on first call and returns its handle.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("_seconds".into()),
                    &[
                        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                        5.0,
                    ],
                )
                .map(PrometheusBuilder::build_recorder)
                .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics may be empty");
            }
            describe();
            handle
        })
        .clone()
}

/// HELP texts, and zero values so every series exists from the start.
fn describe() {
    use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge};
    describe_gauge!(m::ACTORS_ACTIVE, "User actors alive now");
    describe_counter!(m::ACTOR_ACTIVATIONS, "User actors activated");
    describe_counter!(
        m::ACTOR_PASSIVATIONS,
        "User actors stopped after being idle"
    );
    describe_counter!(
        m::ACTOR_RESTARTS,
        "User actors that died and were re-activated"
    );
    describe_counter!(
        m::ACTOR_RESTART_LIMIT_HITS,
        "Activations refused by the restart limit"
    );
    describe_counter!(
        m::MAILBOX_FULL_REJECTIONS,
        "Messages refused because a user's mailbox was full"
    );
    describe_histogram!(
        m::HANDLER_SECONDS,
        metrics::Unit::Seconds,
        "User actor handler latency"
    );
    describe_gauge!(m::OUTBOX_DEPTH, "Pending rows per outbox");
    describe_counter!(
        m::PROVISIONING_OPS,
        "Provisioning ops applied to nodes, by outcome"
    );
    describe_counter!(m::EXPIRATIONS, "Subscriptions expired");
    describe_counter!(m::SCHEDULER_RUNS, "Scheduler passes");
    gauge!(m::ACTORS_ACTIVE).increment(0.0);
    for name in [
        m::ACTOR_ACTIVATIONS,
        m::ACTOR_PASSIVATIONS,
        m::ACTOR_RESTARTS,
        m::ACTOR_RESTART_LIMIT_HITS,
        m::MAILBOX_FULL_REJECTIONS,
        m::EXPIRATIONS,
        m::SCHEDULER_RUNS,
    ] {
        counter!(name).increment(0);
    }
    // Series the dashboard and the alert rules read, present before their
    // first event.
    for outcome in ["sent", "retry", "retry_after", "blocked", "failed"] {
        counter!(m::NOTIFICATIONS, "outcome" => outcome).increment(0);
    }
    for outcome in ["sent", "retry", "retry_after", "failed"] {
        counter!(m::ALERTS, "outcome" => outcome).increment(0);
    }
    counter!(m::PAYMENTS, "provider" => "none", "outcome" => "flagged").increment(0);
    counter!(m::CONFLICT_RETRIES, "message" => "none").increment(0);
    describe_gauge!(
        m::OUTBOX_OLDEST_AGE,
        metrics::Unit::Seconds,
        "Age of the oldest pending row of each outbox"
    );
    describe_gauge!(m::OUTBOX_FAILED, "Rows each outbox gave up on");
    describe_gauge!(m::NODE_PENDING_OPS, "Pending provisioning ops per node");
    describe_gauge!(
        m::NODE_OLDEST_PENDING_AGE,
        metrics::Unit::Seconds,
        "Age of each node's oldest pending provisioning op"
    );
    describe_gauge!(m::PAYMENTS_FLAGGED, "Payments and orders flagged for ops");
    describe_gauge!(m::LEADER, "1 while this instance leads the role");
    gauge!(m::PAYMENTS_FLAGGED).set(0.0);
}

/// Sets the gauges read from the store and the elections, just before a
/// scrape renders them.
pub(crate) async fn refresh(state: &crate::OpsState) {
    use metrics::gauge;
    let queries = state.registry.queries();
    let now = state.registry.clock().now();
    let age = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map_or(0.0, |t| (now - t).num_milliseconds().max(0) as f64 / 1000.0)
    };
    match queries.outbox_stats().await {
        Ok(stats) => {
            for s in stats {
                gauge!(m::OUTBOX_OLDEST_AGE, "outbox" => s.outbox).set(age(s.oldest_at));
                gauge!(m::OUTBOX_FAILED, "outbox" => s.outbox).set(s.failed as f64);
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not read outbox stats for /metrics"),
    }
    match queries.node_backlogs().await {
        Ok(backlogs) => {
            for name in state.registry.provisioner().node_names() {
                let b = backlogs.iter().find(|b| b.node == name.as_str());
                let label = name.to_string();
                gauge!(m::NODE_PENDING_OPS, "node" => label.clone())
                    .set(b.map_or(0.0, |b| b.pending as f64));
                gauge!(m::NODE_OLDEST_PENDING_AGE, "node" => label)
                    .set(age(b.map(|b| b.oldest_at)));
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not read node backlogs for /metrics"),
    }
    match queries.flagged_payments(10_000).await {
        Ok(flagged) => gauge!(m::PAYMENTS_FLAGGED).set(flagged.len() as f64),
        Err(e) => tracing::warn!(error = %e, "could not count flagged payments for /metrics"),
    }
    for role in state.leadership.views() {
        gauge!(m::LEADER, "role" => role.role).set(if role.leader { 1.0 } else { 0.0 });
    }
}
