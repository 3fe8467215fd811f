//! A fake Xray node: the gRPC API of Xray-core (the `xray.` flavor) served
//! from memory, for tests that need a node without running one.
//!
//! [`FakeXrayNode`] serves, on `127.0.0.1` and a port of its own,
//!
//! * `xray.app.proxyman.command.HandlerService/AlterInbound` (add and remove
//!   VLESS users), `…/GetInboundUsers` and, once [`FakeXrayNode::set_inbound`]
//!   has described the inbound, `…/ListInbounds` (before that it answers
//!   `UNIMPLEMENTED`, like an Xray without that method),
//! * `xray.app.stats.command.StatsService/GetSysStats` (an uptime that grows
//!   from the fake's start, see [`FakeXrayNode::set_uptime`]) and
//!   `…/QueryStats` (no counters: nothing flows through a fake),
//!
//! over one inbound whose tag is given to [`FakeXrayNode::start`]. The answers
//! mirror Xray's: emails compare case-insensitively; adding an email that
//! exists fails with `UNKNOWN` "User EMAIL already exists.", removing a missing
//! one with `UNKNOWN` "User EMAIL not found."; an unknown tag fails with
//! `UNKNOWN` "… failed to get handler: TAG > … handler not found: TAG"; unknown
//! services and methods answer `UNIMPLEMENTED` with grpc-go's messages.
//!
//! The messages are the hand-written prost structs of
//! [`subvisor_actors::provisioning::xray_api::proto`]; the server is tonic's
//! generic [`tonic::server::Grpc`] behind a small path router (no codegen).
//! It runs on a thread with its own Tokio runtime, so it works from sync and
//! async tests alike, and stops when the [`FakeXrayNode`] is dropped.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, mpsc};
use std::task::{Context, Poll};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use prost::Message as _;
use subvisor_actors::provisioning::CANARY_EMAIL;
use subvisor_actors::provisioning::xray_api::proto::{
    Account, AddUserOperation, AlterInboundRequest, AlterInboundResponse, GetInboundUserRequest,
    GetInboundUserResponse, InboundHandlerConfig, ListInboundsRequest, ListInboundsResponse,
    PortList, PortRange, QueryStatsRequest, QueryStatsResponse, RealityConfig, ReceiverConfig,
    RemoveUserOperation, StreamConfig, SysStatsRequest, SysStatsResponse, TypedMessage, User,
};
use tokio::sync::oneshot;
use tonic::Status;
use tonic::body::Body;
use tonic::transport::server::TcpIncoming;
use uuid::Uuid;

use super::annotate;

const HANDLER_SERVICE: &str = "xray.app.proxyman.command.HandlerService";
const STATS_SERVICE: &str = "xray.app.stats.command.StatsService";
const ADD_USER_OPERATION: &str = "xray.app.proxyman.command.AddUserOperation";
const REMOVE_USER_OPERATION: &str = "xray.app.proxyman.command.RemoveUserOperation";
const VLESS_ACCOUNT: &str = "xray.proxy.vless.Account";
const REALITY_CONFIG: &str = "xray.transport.internet.reality.Config";

/// The VLESS inbound's settings as `ListInbounds` reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeInbound {
    pub port: u16,
    /// REALITY `serverNames`.
    pub server_names: Vec<String>,
    /// REALITY private key (raw X25519 bytes).
    pub private_key: [u8; 32],
    /// REALITY `shortIds` as configured (hex, up to 16 digits).
    pub short_ids: Vec<String>,
}

/// Largest request and answer, both ways (a `GetInboundUsers` of 100,000
/// users is about 10 MB; tonic's default for decoding is 4 MiB).
const MAX_MESSAGE_SIZE: usize = 256 * 1024 * 1024;

/// A fake Xray node serving the gRPC API from an in-memory user table.
///
/// Dropping it stops the server (open connections are cut).
pub struct FakeXrayNode {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl FakeXrayNode {
    /// Starts serving on 127.0.0.1:0 in a background thread with its own tokio runtime (so it works from sync and async tests alike).
    ///
    /// `inbound_tag` is the tag of the node's only (VLESS) inbound; calls
    /// naming another tag fail like Xray's "handler not found".
    pub fn start(inbound_tag: &str) -> io::Result<FakeXrayNode> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(|e| annotate(e, "fake Xray: cannot bind a port on 127.0.0.1"))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            inbound_tag: inbound_tag.to_owned(),
            api_port: addr.port(),
            table: Mutex::new(Table {
                users: HashMap::new(),
                started: Instant::now(),
                uptime_before: Duration::ZERO,
                inbound: None,
            }),
            down: AtomicBool::new(false),
            listing: AtomicBool::new(true),
            calls: AtomicU64::new(0),
        });
        let (shutdown, shutdown_rx) = oneshot::channel();
        let (ready_tx, ready_rx) = mpsc::channel();
        let router = Router {
            shared: Arc::clone(&shared),
        };
        let thread = thread::Builder::new()
            .name(format!("fake-xray-{}", addr.port()))
            .spawn(move || serve(listener, router, shutdown_rx, ready_tx))
            .map_err(|e| annotate(e, "fake Xray: cannot spawn the server thread"))?;
        let started = ready_rx.recv().unwrap_or_else(|_| {
            Err(io::Error::other(
                "fake Xray: the server thread ended during startup",
            ))
        });
        let node = FakeXrayNode {
            addr,
            shared,
            shutdown: Some(shutdown),
            thread: Some(thread),
        };
        // On failure, dropping `node` joins the (ending) thread.
        started.map(|()| node)
    }

    /// "127.0.0.1:PORT" of the gRPC API.
    pub fn api_addr(&self) -> String {
        self.addr.to_string()
    }

    /// The inbound tag given to [`start`](Self::start).
    pub fn inbound_tag(&self) -> &str {
        &self.shared.inbound_tag
    }

    /// The user table without the gateway's canary
    /// ([`CANARY_EMAIL`](subvisor_actors::provisioning::CANARY_EMAIL)),
    /// i.e. the users the service put there: (email as added, uuid), sorted by email.
    pub fn users(&self) -> Vec<(String, Uuid)> {
        let mut users = self.all_users();
        users.retain(|(email, _)| !email.eq_ignore_ascii_case(CANARY_EMAIL));
        users
    }

    /// The whole user table, canary included: (email as added, uuid), sorted by email.
    pub fn all_users(&self) -> Vec<(String, Uuid)> {
        let mut users: Vec<(String, Uuid)> = self
            .shared
            .table()
            .users
            .values()
            .map(|entry| (entry.user.email.clone(), entry.uuid))
            .collect();
        users.sort();
        users
    }

    /// When the user with this email (case-insensitively) was stored, by the
    /// fake's own clock; `None` when it has no such user.
    pub fn added_at(&self, email: &str) -> Option<Instant> {
        self.shared
            .table()
            .users
            .get(&email.to_lowercase())
            .map(|entry| entry.added_at)
    }

    /// Adds a user "by hand" (as if from the node's config file), bypassing
    /// the API: no "already exists" check, a user with the same email
    /// (case-insensitively) is replaced.
    pub fn insert_user(&self, email: &str, uuid: Uuid) {
        let entry = Entry::new(email, uuid, "", 0);
        self.shared
            .table()
            .users
            .insert(email.to_lowercase(), entry);
    }

    /// Simulates a node restart: clears the users (those added over the API
    /// live in memory only) and sets the uptime back to 0.
    ///
    /// Open connections stay up, unlike a real restart.
    pub fn restart(&self) {
        let mut table = self.shared.table();
        table.users.clear();
        table.started = Instant::now();
        table.uptime_before = Duration::ZERO;
    }

    /// Makes the node report `uptime` now (growing from there), as if it had
    /// been running that long; nothing else changes. With
    /// [`restart`](Self::restart) a test can show an uptime drop without
    /// waiting for the uptime to grow.
    pub fn set_uptime(&self, uptime: Duration) {
        let mut table = self.shared.table();
        table.started = Instant::now();
        table.uptime_before = uptime;
    }

    /// Describes the VLESS inbound for `ListInbounds` (which answers from
    /// then on, listing it after an `api` inbound, as a node configured by
    /// `subvisor node-config` would).
    pub fn set_inbound(&self, inbound: FakeInbound) {
        self.shared.table().inbound = Some(inbound);
    }

    /// While `down`, every call fails with `UNAVAILABLE` (and changes nothing).
    pub fn set_unavailable(&self, down: bool) {
        self.shared.down.store(down, Ordering::SeqCst);
    }

    /// With `false`, the node cannot list its users: `GetInboundUsers`
    /// answers `UNIMPLEMENTED` like Xray before v24.11.5 (and v2ray).
    pub fn set_listing(&self, listing: bool) {
        self.shared.listing.store(listing, Ordering::SeqCst);
    }

    /// Number of RPCs received so far (any method, failed ones included).
    pub fn calls(&self) -> u64 {
        self.shared.calls.load(Ordering::SeqCst)
    }
}

impl std::fmt::Debug for FakeXrayNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeXrayNode")
            .field("addr", &self.addr)
            .field("inbound_tag", &self.shared.inbound_tag)
            .finish_non_exhaustive()
    }
}

impl Drop for FakeXrayNode {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            // Err: the server has already ended.
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            // A panic of the server thread has already been printed.
            let _ = thread.join();
        }
    }
}

/// The server thread: runs the server until `shutdown` fires (or its sender is
/// dropped), then drops the runtime, which cuts the open connections.
fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: oneshot::Receiver<()>,
    ready: mpsc::Sender<io::Result<()>>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            let _ = ready.send(Err(annotate(e, "fake Xray: cannot build a Tokio runtime")));
            return;
        }
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(listener) => listener,
            Err(e) => {
                let _ = ready.send(Err(annotate(e, "fake Xray: cannot register the listener")));
                return;
            }
        };
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        let _ = ready.send(Ok(()));
        let server = tonic::transport::Server::builder().serve_with_incoming(router, incoming);
        tokio::select! {
            result = server => {
                if let Err(e) = result {
                    eprintln!("fake Xray: the server failed: {e}");
                }
            }
            _ = shutdown => {}
        }
    });
}

/// State shared by the handle and the server.
struct Shared {
    inbound_tag: String,
    /// The gRPC API's port (the `api` inbound `ListInbounds` reports).
    api_port: u16,
    table: Mutex<Table>,
    down: AtomicBool,
    /// Whether `GetInboundUsers` is served (else: as Xray before v24.11.5).
    listing: AtomicBool,
    calls: AtomicU64,
}

struct Table {
    /// Lowercased email → user.
    users: HashMap<String, Entry>,
    /// When the fake "started" (start, last restart or [`FakeXrayNode::set_uptime`]).
    started: Instant,
    /// Uptime already reached at `started` (set by [`FakeXrayNode::set_uptime`]).
    uptime_before: Duration,
    /// What `ListInbounds` reports; `None`: it answers `UNIMPLEMENTED`.
    inbound: Option<FakeInbound>,
}

impl Table {
    fn uptime(&self) -> Duration {
        self.uptime_before + self.started.elapsed()
    }
}

struct Entry {
    uuid: Uuid,
    /// When the fake stored it.
    added_at: Instant,
    /// As `GetInboundUsers` returns it (email as added, packed VLESS account).
    user: User,
}

impl Entry {
    fn new(email: &str, uuid: Uuid, flow: &str, level: u32) -> Entry {
        let account = Account {
            id: uuid.to_string(),
            flow: flow.to_owned(),
            encryption: "none".to_owned(),
        };
        Entry {
            uuid,
            added_at: Instant::now(),
            user: User {
                level,
                email: email.to_owned(),
                account: Some(TypedMessage {
                    r#type: VLESS_ACCOUNT.to_owned(),
                    value: account.encode_to_vec(),
                }),
            },
        }
    }
}

impl Shared {
    fn table(&self) -> MutexGuard<'_, Table> {
        // A panicking test thread must not take the fake down with it.
        self.table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Xray's answer to an unknown inbound tag.
    fn check_tag(&self, tag: &str) -> Result<(), Status> {
        if tag == self.inbound_tag {
            Ok(())
        } else {
            Err(Status::unknown(format!(
                "app/proxyman/command: failed to get handler: {tag} > \
                 app/proxyman/inbound: handler not found: {tag}"
            )))
        }
    }

    async fn route(&self, request: http::Request<Body>) -> http::Response<Body> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            return Status::unavailable("fake Xray node is down").into_http();
        }
        let path = request.uri().path().to_owned();
        let (service, method) = path
            .strip_prefix('/')
            .and_then(|path| path.split_once('/'))
            .unwrap_or((path.as_str(), ""));
        match (service, method) {
            (HANDLER_SERVICE, "AlterInbound") => unary(request, |r| self.alter_inbound(r)).await,
            (HANDLER_SERVICE, "GetInboundUsers") if self.listing.load(Ordering::SeqCst) => {
                unary(request, |r| self.get_inbound_users(r)).await
            }
            (HANDLER_SERVICE, "ListInbounds") if self.table().inbound.is_some() => {
                unary(request, |r| self.list_inbounds(r)).await
            }
            (STATS_SERVICE, "GetSysStats") => unary(request, |r| self.get_sys_stats(r)).await,
            (STATS_SERVICE, "QueryStats") => unary(request, |r| self.query_stats(r)).await,
            (HANDLER_SERVICE | STATS_SERVICE, _) => {
                Status::unimplemented(format!("unknown method {method} for service {service}"))
                    .into_http()
            }
            _ => Status::unimplemented(format!("unknown service {service}")).into_http(),
        }
    }

    fn alter_inbound(&self, request: AlterInboundRequest) -> Result<AlterInboundResponse, Status> {
        // Like Xray: the operation is decoded before the handler is looked up.
        let operation = request
            .operation
            .ok_or_else(|| Status::unknown("app/proxyman/command: unknown operation"))?;
        let malformed = |e: prost::DecodeError| {
            Status::unknown(format!("app/proxyman/command: unknown operation > {e}"))
        };
        match operation.r#type.as_str() {
            ADD_USER_OPERATION => {
                let operation =
                    AddUserOperation::decode(operation.value.as_slice()).map_err(malformed)?;
                self.check_tag(&request.tag)?;
                self.add_user(operation)
            }
            REMOVE_USER_OPERATION => {
                let operation =
                    RemoveUserOperation::decode(operation.value.as_slice()).map_err(malformed)?;
                self.check_tag(&request.tag)?;
                self.remove_user(&operation.email)
            }
            other => Err(Status::unknown(format!(
                "app/proxyman/command: unknown operation > \
                 common/serial: Serial: unknown type: {other}"
            ))),
        }?;
        Ok(AlterInboundResponse {})
    }

    fn add_user(&self, operation: AddUserOperation) -> Result<(), Status> {
        let user = operation.user.unwrap_or_default();
        let account = user
            .account
            .as_ref()
            .filter(|account| account.r#type == VLESS_ACCOUNT)
            .ok_or_else(|| {
                Status::unknown(format!(
                    "app/proxyman/command: failed to get user account: expected {VLESS_ACCOUNT}"
                ))
            })?;
        let account = Account::decode(account.value.as_slice()).map_err(|e| {
            Status::unknown(format!("app/proxyman/command: bad VLESS account: {e}"))
        })?;
        let uuid = Uuid::parse_str(account.id.trim()).map_err(|e| {
            Status::unknown(format!(
                "proxy/vless: failed to get VLESS account ID > common/uuid: {e}"
            ))
        })?;
        if user.email.is_empty() {
            // Xray accepts these (they cannot be removed by email); the fake's table is keyed by email.
            return Err(Status::unknown(
                "fake Xray: users without an email are not supported",
            ));
        }
        let mut table = self.table();
        let key = user.email.to_lowercase();
        if table.users.contains_key(&key) {
            return Err(Status::unknown(format!(
                "User {} already exists.",
                user.email
            )));
        }
        let entry = Entry::new(&user.email, uuid, &account.flow, user.level);
        table.users.insert(key, entry);
        Ok(())
    }

    fn remove_user(&self, email: &str) -> Result<(), Status> {
        if email.is_empty() {
            return Err(Status::unknown("Email must not be empty."));
        }
        match self.table().users.remove(&email.to_lowercase()) {
            Some(_) => Ok(()),
            None => Err(Status::unknown(format!("User {email} not found."))),
        }
    }

    fn get_inbound_users(
        &self,
        request: GetInboundUserRequest,
    ) -> Result<GetInboundUserResponse, Status> {
        self.check_tag(&request.tag)?;
        let table = self.table();
        let users = if request.email.is_empty() {
            table
                .users
                .values()
                .map(|entry| entry.user.clone())
                .collect()
        } else {
            // Xray answers a list with one empty user for a missing email; none here.
            table
                .users
                .get(&request.email.to_lowercase())
                .map(|entry| entry.user.clone())
                .into_iter()
                .collect()
        };
        Ok(GetInboundUserResponse { users })
    }

    fn list_inbounds(&self, request: ListInboundsRequest) -> Result<ListInboundsResponse, Status> {
        let Some(inbound) = self.table().inbound.clone() else {
            return Err(Status::unimplemented(format!(
                "unknown method ListInbounds for service {HANDLER_SERVICE}"
            )));
        };
        let typed = |name: &str, value: Vec<u8>| TypedMessage {
            r#type: name.to_owned(),
            value,
        };
        let receiver = |port: u16, stream: Option<StreamConfig>| {
            typed(
                "xray.app.proxyman.ReceiverConfig",
                ReceiverConfig {
                    port_list: Some(PortList {
                        range: vec![PortRange {
                            from: u32::from(port),
                            to: u32::from(port),
                        }],
                    }),
                    stream_settings: stream,
                }
                .encode_to_vec(),
            )
        };
        let short_ids = inbound
            .short_ids
            .iter()
            .map(|id| {
                // Xray decodes the hex into 8 zero-padded bytes.
                let mut bytes = hex::decode(id).unwrap_or_default();
                bytes.resize(8, 0);
                bytes
            })
            .collect();
        let reality = RealityConfig {
            dest: format!(
                "{}:443",
                inbound.server_names.first().map_or("", String::as_str)
            ),
            server_names: inbound.server_names.clone(),
            private_key: inbound.private_key.to_vec(),
            short_ids,
        };
        let stream = StreamConfig {
            security_type: REALITY_CONFIG.to_owned(),
            security_settings: vec![typed(REALITY_CONFIG, reality.encode_to_vec())],
        };
        let full = !request.is_only_tags;
        let inbounds = vec![
            InboundHandlerConfig {
                tag: "api".to_owned(),
                receiver_settings: full.then(|| receiver(self.api_port, None)),
                proxy_settings: full.then(|| typed("xray.proxy.dokodemo.Config", Vec::new())),
            },
            InboundHandlerConfig {
                tag: self.inbound_tag.clone(),
                receiver_settings: full.then(|| receiver(inbound.port, Some(stream))),
                proxy_settings: full.then(|| typed("xray.proxy.vless.inbound.Config", Vec::new())),
            },
        ];
        Ok(ListInboundsResponse { inbounds })
    }

    fn get_sys_stats(&self, _: SysStatsRequest) -> Result<SysStatsResponse, Status> {
        let uptime = self.table().uptime().as_secs();
        Ok(SysStatsResponse {
            num_goroutine: 8,
            uptime: u32::try_from(uptime).unwrap_or(u32::MAX),
            ..SysStatsResponse::default()
        })
    }

    /// No traffic flows through a fake: no counters.
    fn query_stats(&self, _: QueryStatsRequest) -> Result<QueryStatsResponse, Status> {
        Ok(QueryStatsResponse { stat: Vec::new() })
    }
}

/// One unary call: decode `Req`, run `handler`, encode its answer or status.
async fn unary<Req, Resp>(
    request: http::Request<Body>,
    handler: impl FnMut(Req) -> Result<Resp, Status> + Send,
) -> http::Response<Body>
where
    Req: prost::Message + Default + Send + 'static,
    Resp: prost::Message + Send + 'static,
{
    let codec = tonic_prost::ProstCodec::<Resp, Req>::default();
    tonic::server::Grpc::new(codec)
        .max_decoding_message_size(MAX_MESSAGE_SIZE)
        .max_encoding_message_size(MAX_MESSAGE_SIZE)
        .unary(Handler(handler), request)
        .await
}

/// A synchronous handler as the `Service` that [`tonic::server::Grpc::unary`]
/// wants (it implements `UnaryService` through tonic's blanket impl).
struct Handler<F>(F);

impl<F, Req, Resp> tower_service::Service<tonic::Request<Req>> for Handler<F>
where
    F: FnMut(Req) -> Result<Resp, Status>,
{
    type Response = tonic::Response<Resp>;
    type Error = Status;
    type Future = std::future::Ready<Result<tonic::Response<Resp>, Status>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Status>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: tonic::Request<Req>) -> Self::Future {
        std::future::ready((self.0)(request.into_inner()).map(tonic::Response::new))
    }
}

/// Routes every HTTP/2 request by its gRPC path.
#[derive(Clone)]
struct Router {
    shared: Arc<Shared>,
}

impl tower_service::Service<http::Request<Body>> for Router {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<http::Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let shared = Arc::clone(&self.shared);
        Box::pin(async move { Ok(shared.route(request).await) })
    }
}
