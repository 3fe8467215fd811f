//! `XrayGateway`: one actor per configured node, the only code that talks to
//! Xray. Calls run concurrently (the gRPC work is spawned on the main runtime),
//! each with a per-call timeout and a bounded retry with exponential back-off
//! and jitter (`backon`); a circuit breaker fails calls fast while the node is
//! down, and the outbox keeps the work. A periodic health check reads the
//! node's uptime and re-adds a canary user; [`judge`] turns what it saw into a restart (Xray lost its API-added
//! users) or a recovery (the node came back), and either way the node's
//! worker is told to converge that node at once.
//!
//! A restart is a sample whose uptime advanced less than the wall-clock time
//! since the previous one, by more than [`RESTART_TOLERANCE`], or a canary
//! the node no longer had; on a node that cannot list, also any unreachable →
//! reachable transition. The uptime alone cannot see a process that lived
//! less than the tolerance before it restarted (its uptime lags by exactly
//! its lifetime); the canary sees that, on every node. The canary is the
//! gateway's own: listings and traffic never show it to anyone else.

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

/// How much a node's uptime may lag the wall clock between two samples before
/// it counts as a restart. The uptime is whole seconds (a reading may be up to
/// 1 s short of the truth, so two readings may differ by up to 1 s less than
/// the time between them); the wall clock between the two readings is taken
/// at its shortest (answer of the previous sample → request of this one), so
/// network and scheduling delays can only make it shorter, never longer. One
/// more second covers clocks that disagree on the length of a second and a
/// node that reads its clock late. A node that lived less than this before
/// restarting is seen by the canary (or the down → up transition) instead.
pub const RESTART_TOLERANCE: Duration = Duration::from_secs(2);

/// The canary user kept on every node: in our namespace (`sv.`) but never a
/// key email, and left out of every listing and traffic reading the gateway
/// hands on. Re-adding it answers "already exists" while the node keeps its
/// users.
pub const CANARY_EMAIL: &str = "sv.canary";

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

/// One uptime reading: whole seconds, and when the request left and the
/// answer arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UptimeSample {
    pub uptime: u64,
    pub sent: Instant,
    pub received: Instant,
}

/// What re-adding the canary showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// Not probed, the probe failed, or the canary was placed for the first time.
    Unknown,
    /// The node still had the canary.
    Kept,
    /// The node had lost the canary we placed earlier.
    Lost,
}

/// What one successful health check saw, next to what came before it.
#[derive(Debug, Clone, Copy)]
pub struct HealthCheck {
    /// The previous successful uptime reading.
    pub previous: Option<UptimeSample>,
    pub current: UptimeSample,
    /// How the node was seen before this check (`None`: never checked).
    pub was_up: Option<bool>,
    /// Whether the node can list its users (`Some(false)`: v2ray, old Xray).
    pub lists_users: Option<bool>,
    pub presence: Presence,
}

/// What a health check means for the node's users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Steady,
    /// The node restarted and lost its API-added users.
    Restarted,
    /// Reachable again after failures (users may be intact).
    Recovered,
}

/// What re-adding the canary showed (`added`: `Some(true)` the node added
/// it, `Some(false)` it already had it, `None` no probe or it failed), given
/// whether an earlier probe had placed it.
pub fn presence(placed_before: bool, added: Option<bool>) -> Presence {
    match added {
        Some(true) if placed_before => Presence::Lost,
        Some(false) => Presence::Kept,
        Some(true) | None => Presence::Unknown,
    }
}

/// Whether the uptime advanced less than the wall clock between two samples
/// (beyond [`RESTART_TOLERANCE`]); a lower uptime always does.
pub fn uptime_lags(previous: &UptimeSample, current: &UptimeSample) -> bool {
    let Some(advance) = current.uptime.checked_sub(previous.uptime) else {
        return true;
    };
    let elapsed = current.sent.saturating_duration_since(previous.received);
    Duration::from_secs(advance).saturating_add(RESTART_TOLERANCE) < elapsed
}

/// The restart rule (pure): see the module docs.
pub fn judge(check: &HealthCheck) -> Verdict {
    let lagged = check
        .previous
        .is_some_and(|previous| uptime_lags(&previous, &check.current));
    if lagged || check.presence == Presence::Lost {
        return Verdict::Restarted;
    }
    if check.was_up == Some(false) {
        // A node that cannot list cannot show what it kept: assume nothing.
        return if check.lists_users == Some(false) {
            Verdict::Restarted
        } else {
            Verdict::Recovered
        };
    }
    Verdict::Steady
}

#[derive(Debug, Clone)]
enum Call {
    Add { email: String, uuid: Uuid },
    Remove { email: String },
    List,
    ReadTraffic,
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
    /// The last successful uptime reading.
    last_sample: Option<UptimeSample>,
    /// Learned from the flavor (v2ray cannot list) or from a listing.
    lists_users: Option<bool>,
    /// The canary's id for this process (never shown to anyone).
    canary: Uuid,
    /// Whether a probe placed (or found) the canary on the node.
    canary_placed: bool,
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
            last_sample: None,
            lists_users: match node.api_flavor {
                ApiFlavor::V2ray => Some(false),
                ApiFlavor::Xray => None,
            },
            canary: Uuid::new_v4(),
            canary_placed: false,
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
        let canary = self.canary;
        let task = self.rt.spawn(async move {
            let sent = Instant::now();
            let uptime = api.uptime().await?;
            let current = UptimeSample {
                uptime,
                sent,
                received: Instant::now(),
            };
            let added = api
                .add_user_reporting(CANARY_EMAIL, canary, VISION_FLOW)
                .await;
            Ok::<_, XrayError>((current, added))
        });
        ctx.spawn(task.into_actor(self).map(|joined, act, _| {
            act.health_in_flight = false;
            let result = joined.unwrap_or_else(|e| Err(XrayError::Unreachable(e.to_string())));
            let was_up = act.shared.view.read().unwrap_or_else(|p| p.into_inner()).up;
            match result {
                Ok((current, added)) => {
                    if let Err(e) = &added {
                        tracing::debug!(node = %act.name(), error = %e, "canary probe failed");
                    }
                    let added = added.ok();
                    let presence = presence(act.canary_placed, added);
                    act.canary_placed |= added.is_some();
                    let verdict = judge(&HealthCheck {
                        previous: act.last_sample,
                        current,
                        was_up,
                        lists_users: act.lists_users,
                        presence,
                    });
                    // A restart may fall between this check's uptime reading
                    // and its canary probe: a sample that came with a restart
                    // is no baseline (the next one would count it again).
                    act.last_sample = (verdict != Verdict::Restarted).then_some(current);
                    act.breaker.on_success();
                    act.publish(None, Some(true));
                    act.shared.view.write().unwrap_or_else(|p| p.into_inner()).uptime =
                        Some(current.uptime);
                    let name = act.name().clone();
                    match verdict {
                        Verdict::Restarted => {
                            tracing::warn!(node = %name, uptime = current.uptime, ?presence, "node restarted: full reconcile");
                            let _ = act.events.send(NodeEvent::Restarted(name));
                        }
                        Verdict::Recovered => {
                            tracing::info!(node = %name, "node reachable again: full reconcile");
                            let _ = act.events.send(NodeEvent::Recovered(name));
                        }
                        Verdict::Steady => {}
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
                Call::ReadTraffic => api.user_traffic(false).await.map(Reply::Traffic),
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
                    if let Reply::Users(users) = &reply {
                        act.lists_users = Some(users.is_some());
                    }
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
            Reply::Users(users) => Ok(users.map(|mut users| {
                users.retain(|(email, _)| !email.eq_ignore_ascii_case(CANARY_EMAIL));
                users
            })),
            Reply::Done | Reply::Traffic(_) => Ok(None),
        }
    }

    async fn read_traffic(&self) -> Result<Option<HashMap<String, (u64, u64)>>, NodeError> {
        match self.call(Call::ReadTraffic).await? {
            Reply::Traffic(mut t) => {
                t.retain(|email, _| !email.eq_ignore_ascii_case(CANARY_EMAIL));
                Ok(Some(t))
            }
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

    /// A sample read `uptime` s, its answer arriving `at` ms after `t0` (the
    /// request left 10 ms before).
    fn sample(t0: Instant, at_ms: u64, uptime: u64) -> UptimeSample {
        let received = t0 + Duration::from_millis(at_ms);
        UptimeSample {
            uptime,
            sent: received - Duration::from_millis(10),
            received,
        }
    }

    fn check(previous: Option<UptimeSample>, current: UptimeSample) -> HealthCheck {
        HealthCheck {
            previous,
            current,
            was_up: Some(true),
            lists_users: Some(true),
            presence: Presence::Unknown,
        }
    }

    #[test]
    fn an_uptime_lagging_the_wall_clock_is_a_restart() {
        let t0 = Instant::now();
        let at = |ms, up| sample(t0, ms, up);
        // The brief's field case: 0 s, then 0 s again 5 s later.
        assert!(uptime_lags(&at(0, 0), &at(5_010, 0)));
        // Steady growth, equal readings within a second, readings that jump ahead.
        assert!(!uptime_lags(&at(0, 10), &at(5_010, 15)));
        assert!(!uptime_lags(&at(0, 0), &at(200, 0)));
        assert!(!uptime_lags(&at(0, 10), &at(1_010, 3_600)));
        // Down, whatever the time.
        assert!(uptime_lags(&at(0, 10), &at(100, 9)));
        // The tolerance boundary: wall clock between the answer and the next
        // request 2 s + advance → not; 1 ms more → restart.
        assert!(!uptime_lags(&at(0, 0), &at(2_010, 0)));
        assert!(uptime_lags(&at(0, 0), &at(2_011, 0)));
        assert!(!uptime_lags(&at(0, 7), &at(4_010, 9)));
        assert!(uptime_lags(&at(0, 7), &at(4_011, 9)));
        // Request sent before the previous answer (overlap): no time passed.
        let early = UptimeSample {
            uptime: 0,
            sent: t0,
            received: t0 + Duration::from_secs(9),
        };
        assert!(!uptime_lags(&at(1_000, 0), &early));
    }

    #[test]
    fn judge_combines_uptime_presence_and_recovery() {
        let t0 = Instant::now();
        let steady = check(Some(sample(t0, 0, 10)), sample(t0, 5_010, 15));
        assert_eq!(judge(&steady), Verdict::Steady);
        assert_eq!(
            judge(&check(Some(sample(t0, 0, 0)), sample(t0, 5_010, 0))),
            Verdict::Restarted
        );
        // First check ever: nothing to compare.
        assert_eq!(judge(&check(None, sample(t0, 0, 0))), Verdict::Steady);
        let fresh = HealthCheck {
            was_up: None,
            ..check(None, sample(t0, 0, 0))
        };
        assert_eq!(judge(&fresh), Verdict::Steady);
        // The canary is gone though the uptime looks fine.
        let lost = HealthCheck {
            presence: Presence::Lost,
            lists_users: Some(false),
            ..steady
        };
        assert_eq!(judge(&lost), Verdict::Restarted);
        let kept = HealthCheck {
            presence: Presence::Kept,
            lists_users: Some(false),
            ..steady
        };
        assert_eq!(judge(&kept), Verdict::Steady);
        // Back after failures: a node that lists is "recovered"; one that
        // cannot list (or whose ability is unknown) ...
        let back = HealthCheck {
            was_up: Some(false),
            ..steady
        };
        assert_eq!(judge(&back), Verdict::Recovered);
        assert_eq!(
            judge(&HealthCheck {
                lists_users: None,
                ..back
            }),
            Verdict::Recovered
        );
        // ... but on a node that cannot list, recovery is a restart.
        assert_eq!(
            judge(&HealthCheck {
                lists_users: Some(false),
                ..back
            }),
            Verdict::Restarted
        );
        // A restart seen while coming back is a restart.
        let both = HealthCheck {
            was_up: Some(false),
            ..check(Some(sample(t0, 0, 10)), sample(t0, 100, 1))
        };
        assert_eq!(judge(&both), Verdict::Restarted);
    }

    #[test]
    fn the_canary_is_lost_only_once_it_was_placed() {
        assert_eq!(presence(true, Some(true)), Presence::Lost);
        assert_eq!(presence(false, Some(true)), Presence::Unknown);
        assert_eq!(presence(true, Some(false)), Presence::Kept);
        assert_eq!(presence(false, Some(false)), Presence::Kept);
        assert_eq!(presence(true, None), Presence::Unknown);
    }

    /// On every node, listing or not, the gateway keeps its canary, never
    /// shows it in a listing, and a node that lost its users while its
    /// uptime kept growing is reported restarted (the canary alone shows it).
    #[actix_rt::test]
    async fn a_lost_canary_is_a_restart() {
        // Every node outlives the loop: a node dropped under its running
        // gateway would log "node unreachable" from a thread without this
        // test's subscriber, and tracing's callsite cache is process-wide
        // (the warning count in the test below would read 0).
        let mut keep = Vec::new();
        for listing in [false, true] {
            let fake = FakeXrayNode::start(TAG).expect("fake node");
            fake.set_listing(listing);
            fake.set_uptime(Duration::from_secs(3600));
            let (tx, mut events) = mpsc::unbounded_channel();
            let settings = GatewaySettings {
                call_timeout: Duration::from_secs(2),
                health_interval: Duration::from_millis(20),
                ..GatewaySettings::default()
            };
            let gateway =
                XrayGateway::start(&node(fake.api_addr()), settings, tx).expect("gateway");
            let start = Instant::now();
            while fake.added_at(CANARY_EMAIL).is_none() {
                assert!(start.elapsed() < Duration::from_secs(10), "no canary");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            quiet(&mut events, "a kept canary is no event").await;
            assert_eq!(fake.all_users().len(), 1, "the canary only");
            let listed = gateway.list_users().await.expect("list");
            assert_eq!(listed, listing.then(Vec::new), "the canary is never listed");

            // Users gone, uptime still growing (set forward at once).
            fake.restart();
            fake.set_uptime(Duration::from_secs(3601));
            assert_eq!(
                next_event(&mut events).await,
                NodeEvent::Restarted(node_name()),
                "listing: {listing}"
            );
            quiet(&mut events, "the canary is back: one event").await;
            assert!(fake.added_at(CANARY_EMAIL).is_some(), "placed again");
            keep.push((fake, gateway));
        }
    }

    #[test]
    fn the_canary_is_ours_and_never_a_key() {
        assert!(CANARY_EMAIL.starts_with(crate::domain::EMAIL_NAMESPACE));
        assert_eq!(crate::domain::parse_key_email(CANARY_EMAIL), None);
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
