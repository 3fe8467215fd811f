//! `XrayGateway`: one actor per configured node, the only code that talks to
//! Xray. Calls run concurrently (the gRPC work is spawned on the main runtime),
//! each with a per-call timeout and a bounded retry with exponential back-off
//! and jitter (`backon`); a circuit breaker fails calls fast while the node is
//! down, and the outbox keeps the work. A periodic health check reads the
//! node's uptime: a drop means Xray restarted and lost its API-added users, a
//! success after failures means the node came back — either way the
//! Reconciler is told to converge that node at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use actix::{
    Actor, ActorFutureExt, AsyncContext, Context, Handler, Message, ResponseActFuture, WrapFuture,
};
use async_trait::async_trait;
use backon::{ExponentialBuilder, Retryable};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::breaker::{Breaker, BreakerState};
use super::xray_api::{ApiFlavor, XrayApi, XrayError};
use super::{NodeClient, NodeError, NodeStatus};
use crate::domain::{LinkParams, NodeName, VISION_FLOW};

/// One `[[nodes]]` entry, validated.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub name: NodeName,
    /// `host:port` of the node's gRPC API.
    pub api: String,
    pub api_flavor: ApiFlavor,
    pub inbound_tag: String,
    pub link: LinkParams,
}

#[derive(Debug, Clone)]
pub struct GatewaySettings {
    pub call_timeout: Duration,
    /// Extra attempts after a transient failure (unreachable, timeout).
    pub retries: usize,
    pub failure_threshold: u32,
    pub cooldown: Duration,
    pub health_interval: Duration,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            call_timeout: Duration::from_secs(5),
            retries: 2,
            failure_threshold: 3,
            cooldown: Duration::from_secs(10),
            health_interval: Duration::from_secs(5),
        }
    }
}

/// What the gateway tells the Reconciler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeEvent {
    /// Uptime went down: Xray restarted and lost every API-added user.
    Restarted(NodeName),
    /// Reachable again after failures.
    Recovered(NodeName),
}

#[derive(Debug, Clone)]
enum Call {
    Add { email: String, uuid: Uuid },
    Remove { email: String },
    List,
    TakeTraffic,
}

#[derive(Debug)]
enum Reply {
    Done,
    Users(Option<Vec<(String, Uuid)>>),
    Traffic(HashMap<String, (u64, u64)>),
}

impl Message for Call {
    type Result = Result<Reply, NodeError>;
}

/// What `/ops/nodes` and metrics read without asking the actor.
#[derive(Debug)]
struct Shared {
    name: NodeName,
    view: RwLock<View>,
    in_flight: AtomicUsize,
}

#[derive(Debug, Clone)]
struct View {
    up: Option<bool>,
    breaker: BreakerState,
    last_error: Option<String>,
    uptime: Option<u64>,
}

pub struct XrayGateway {
    api: Arc<XrayApi>,
    settings: GatewaySettings,
    breaker: Breaker,
    shared: Arc<Shared>,
    rt: tokio::runtime::Handle,
    events: mpsc::UnboundedSender<NodeEvent>,
    health_in_flight: bool,
}

/// The `NodeClient` for a gateway: sends calls to the actor.
#[derive(Clone)]
pub struct GatewayHandle {
    addr: actix::Addr<XrayGateway>,
    shared: Arc<Shared>,
}

impl XrayGateway {
    /// Starts the gateway actor for `node` (inside an actix System). Events go to `events`.
    pub fn start(
        node: &NodeConfig,
        settings: GatewaySettings,
        events: mpsc::UnboundedSender<NodeEvent>,
    ) -> crate::Result<GatewayHandle> {
        let api = XrayApi::new(
            &node.api,
            node.api_flavor,
            &node.inbound_tag,
            settings.call_timeout,
        )
        .map_err(|e| crate::Error::invalid("nodes.api", e.to_string()))?;
        let shared = Arc::new(Shared {
            name: node.name.clone(),
            view: RwLock::new(View {
                up: None,
                breaker: BreakerState::Closed,
                last_error: None,
                uptime: None,
            }),
            in_flight: AtomicUsize::new(0),
        });
        let gateway = XrayGateway {
            api: Arc::new(api),
            breaker: Breaker::new(settings.failure_threshold, settings.cooldown),
            settings,
            shared: shared.clone(),
            rt: tokio::runtime::Handle::current(),
            events,
            health_in_flight: false,
        };
        let addr = gateway.start();
        Ok(GatewayHandle { addr, shared })
    }

    fn name(&self) -> &NodeName {
        &self.shared.name
    }

    fn publish(&self, error: Option<String>, up: Option<bool>) {
        let mut view = self.shared.view.write().unwrap_or_else(|p| p.into_inner());
        view.breaker = self.breaker.state();
        if let Some(e) = error {
            view.last_error = Some(e);
        }
        if let Some(up) = up {
            view.up = Some(up);
        }
        let node = self.name().to_string();
        metrics::gauge!(crate::metrics::NODE_BREAKER_STATE, "node" => node.clone())
            .set(view.breaker.gauge());
        if let Some(up) = view.up {
            metrics::gauge!(crate::metrics::NODE_UP, "node" => node).set(if up {
                1.0
            } else {
                0.0
            });
        }
    }

    fn check_health(&mut self, ctx: &mut Context<Self>) {
        if self.health_in_flight {
            return;
        }
        self.health_in_flight = true;
        let api = self.api.clone();
        let task = self.rt.spawn(async move { api.uptime().await });
        ctx.spawn(task.into_actor(self).map(|joined, act, _| {
            act.health_in_flight = false;
            let result = joined.unwrap_or_else(|e| Err(XrayError::Unreachable(e.to_string())));
            let (was_up, last_uptime) = {
                let view = act.shared.view.read().unwrap_or_else(|p| p.into_inner());
                (view.up, view.uptime)
            };
            match result {
                Ok(uptime) => {
                    act.breaker.on_success();
                    act.publish(None, Some(true));
                    act.shared.view.write().unwrap_or_else(|p| p.into_inner()).uptime = Some(uptime);
                    let name = act.name().clone();
                    if last_uptime.is_some_and(|last| uptime < last) {
                        tracing::warn!(node = %name, uptime, "node restarted (uptime dropped): full reconcile");
                        let _ = act.events.send(NodeEvent::Restarted(name));
                    } else if was_up == Some(false) {
                        tracing::info!(node = %name, "node reachable again: full reconcile");
                        let _ = act.events.send(NodeEvent::Recovered(name));
                    }
                }
                Err(e) => {
                    act.breaker.on_failure(Instant::now());
                    if was_up != Some(false) {
                        tracing::warn!(node = %act.name(), error = %e, "node unreachable");
                    }
                    act.publish(Some(e.to_string()), Some(false));
                }
            }
        }));
    }
}

impl Actor for XrayGateway {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(100_000);
        self.publish(None, None);
        self.check_health(ctx);
        ctx.run_interval(self.settings.health_interval, Self::check_health);
    }
}

/// Runs one call with bounded retries on transient failures.
async fn run_call(api: Arc<XrayApi>, call: Call, retries: usize) -> Result<Reply, XrayError> {
    let backoff = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(50))
        .with_max_delay(Duration::from_secs(1))
        .with_max_times(retries)
        .with_jitter();
    let transient = |e: &XrayError| matches!(e, XrayError::Unreachable(_) | XrayError::Timeout);
    let attempt = || {
        let api = api.clone();
        let call = call.clone();
        async move {
            match call {
                Call::Add { email, uuid } => api
                    .add_user(&email, uuid, VISION_FLOW)
                    .await
                    .map(|()| Reply::Done),
                Call::Remove { email } => api.remove_user(&email).await.map(|()| Reply::Done),
                Call::List => api.list_users().await.map(Reply::Users),
                Call::TakeTraffic => api.user_traffic(true).await.map(Reply::Traffic),
            }
        }
    };
    attempt.retry(backoff).when(transient).await
}

impl Handler<Call> for XrayGateway {
    type Result = ResponseActFuture<Self, Result<Reply, NodeError>>;

    fn handle(&mut self, call: Call, _: &mut Context<Self>) -> Self::Result {
        if !self.breaker.allow(Instant::now()) {
            let name = self.name().to_string();
            return Box::pin(actix::fut::ready(Err(NodeError::Transient(format!(
                "circuit open for node {name}"
            )))));
        }
        self.publish(None, None);
        self.shared.in_flight.fetch_add(1, Ordering::SeqCst);
        let task = self
            .rt
            .spawn(run_call(self.api.clone(), call, self.settings.retries));
        Box::pin(task.into_actor(self).map(|joined, act, _| {
            act.shared.in_flight.fetch_sub(1, Ordering::SeqCst);
            let node = act.name().to_string();
            let result = joined.unwrap_or_else(|e| Err(XrayError::Unreachable(e.to_string())));
            match result {
                Ok(reply) => {
                    act.breaker.on_success();
                    act.publish(None, Some(true));
                    metrics::counter!(crate::metrics::NODE_CALLS, "node" => node, "outcome" => "ok").increment(1);
                    Ok(reply)
                }
                Err(e) => {
                    // A refusal is a configuration problem, not an outage: it
                    // does not trip the breaker, but it is reported.
                    if matches!(e, XrayError::Rejected(_)) {
                        act.breaker.on_success();
                    } else {
                        act.breaker.on_failure(Instant::now());
                    }
                    let up = !matches!(e, XrayError::Unreachable(_) | XrayError::Timeout);
                    act.publish(Some(e.to_string()), Some(up));
                    metrics::counter!(crate::metrics::NODE_CALLS, "node" => node, "outcome" => "error").increment(1);
                    Err(NodeError::Transient(e.to_string()))
                }
            }
        }))
    }
}

impl GatewayHandle {
    async fn call(&self, call: Call) -> Result<Reply, NodeError> {
        self.addr.send(call).await.map_err(|e| {
            NodeError::Transient(format!(
                "gateway of node {} unavailable: {e}",
                self.shared.name
            ))
        })?
    }
}

#[async_trait]
impl NodeClient for GatewayHandle {
    fn name(&self) -> &NodeName {
        &self.shared.name
    }

    async fn add_user(&self, email: &str, uuid: Uuid) -> Result<(), NodeError> {
        self.call(Call::Add {
            email: email.to_owned(),
            uuid,
        })
        .await
        .map(|_| ())
    }

    async fn remove_user(&self, email: &str) -> Result<(), NodeError> {
        self.call(Call::Remove {
            email: email.to_owned(),
        })
        .await
        .map(|_| ())
    }

    async fn list_users(&self) -> Result<Option<Vec<(String, Uuid)>>, NodeError> {
        match self.call(Call::List).await? {
            Reply::Users(users) => Ok(users),
            Reply::Done | Reply::Traffic(_) => Ok(None),
        }
    }

    async fn take_traffic(&self) -> Result<Option<HashMap<String, (u64, u64)>>, NodeError> {
        match self.call(Call::TakeTraffic).await? {
            Reply::Traffic(t) => Ok(Some(t)),
            Reply::Done | Reply::Users(_) => Ok(None),
        }
    }

    fn status(&self) -> NodeStatus {
        let view = self
            .shared
            .view
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        NodeStatus {
            name: self.shared.name.to_string(),
            kind: "xray",
            state: match view.up {
                Some(true) => "up",
                Some(false) => "down",
                None => "unknown",
            }
            .into(),
            users: None,
            note: view.uptime.map(|u| format!("uptime {u}s")),
            breaker: Some(view.breaker),
            in_flight: self.shared.in_flight.load(Ordering::SeqCst),
            last_error: view.last_error,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fmt;

    use subvisor_testkit::fake_xray::FakeXrayNode;
    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata, Subscriber};

    use super::*;

    const TAG: &str = "vless-in";

    fn node_name() -> NodeName {
        NodeName::new("de-1").unwrap()
    }

    fn node(api: String) -> NodeConfig {
        NodeConfig {
            name: node_name(),
            api,
            api_flavor: ApiFlavor::Xray,
            inbound_tag: TAG.into(),
            link: LinkParams {
                host: "vpn.example.com".into(),
                port: 443,
                sni: "www.example.com".into(),
                public_key: "A".repeat(43),
                short_id: String::new(),
                fingerprint: "chrome".into(),
                label: "test".into(),
            },
        }
    }

    /// Counts the events logged with one message (on the thread it is the
    /// default subscriber of: the test's, which runs the actor too).
    struct CountLogs {
        message: &'static str,
        seen: Arc<AtomicUsize>,
    }

    impl Subscriber for CountLogs {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            struct Message(String);
            impl Visit for Message {
                fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
                    if field.name() == "message" {
                        self.0 = format!("{value:?}");
                    }
                }
            }
            let mut message = Message(String::new());
            event.record(&mut message);
            if message.0 == self.message {
                self.seen.fetch_add(1, Ordering::SeqCst);
            }
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    /// Polls the gateway's status until `done` holds; fails after 10 s.
    async fn until(gateway: &GatewayHandle, what: &str, done: impl Fn(&NodeStatus) -> bool) {
        let start = Instant::now();
        loop {
            let status = gateway.status();
            if done(&status) {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "no {what} after 10 s: {status:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn next_event(events: &mut mpsc::UnboundedReceiver<NodeEvent>) -> NodeEvent {
        tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("an event within 10 s")
            .expect("the gateway keeps the channel open")
    }

    /// Lets several more health checks run, then checks none was an event.
    async fn quiet(events: &mut mpsc::UnboundedReceiver<NodeEvent>, what: &str) {
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(events.try_recv().ok(), None, "{what}");
    }

    #[actix_rt::test]
    async fn health_checks_report_a_restart_and_a_recovery_and_nothing_else() {
        let unreachable = Arc::new(AtomicUsize::new(0));
        let _logs = tracing::subscriber::set_default(CountLogs {
            message: "node unreachable",
            seen: unreachable.clone(),
        });
        let fake = FakeXrayNode::start(TAG).expect("fake node");
        let (tx, mut events) = mpsc::unbounded_channel();
        let settings = GatewaySettings {
            call_timeout: Duration::from_secs(2),
            health_interval: Duration::from_millis(20),
            ..GatewaySettings::default()
        };
        let gateway = XrayGateway::start(&node(fake.api_addr()), settings, tx).expect("gateway");

        // The fake's uptime is in whole seconds: the checks read 0 several
        // times, then 1. Equal and growing readings are no restart, and a
        // node that was never down did not "recover".
        until(&gateway, "uptime of 1 s", |s| {
            s.state == "up" && s.note.as_deref().is_some_and(|n| n != "uptime 0s")
        })
        .await;
        quiet(&mut events, "a healthy node is no event").await;

        // The uptime drops: Xray restarted and lost its users.
        fake.restart();
        assert_eq!(
            next_event(&mut events).await,
            NodeEvent::Restarted(node_name())
        );
        quiet(&mut events, "one restart, one event").await;

        // Unreachable: no event, and one warning however many checks fail.
        fake.set_unavailable(true);
        until(&gateway, "down", |s| s.state == "down").await;
        quiet(&mut events, "going down is no event").await;
        assert_eq!(
            unreachable.load(Ordering::SeqCst),
            1,
            "one warning per outage"
        );
        // Reachable again.
        fake.set_unavailable(false);
        assert_eq!(
            next_event(&mut events).await,
            NodeEvent::Recovered(node_name())
        );
        quiet(&mut events, "one recovery, one event").await;
    }
}
