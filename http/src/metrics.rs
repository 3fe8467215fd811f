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
}
