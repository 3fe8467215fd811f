//! A gRPC client for one Xray (or v2ray) node's API.
//!
//! Covers what provisioning needs: add and remove VLESS users on one inbound
//! (`HandlerService.AlterInbound`), list them where the node can
//! (`HandlerService.GetInboundUsers`, Xray ≥ 24.11.5), per-user traffic
//! (`StatsService.QueryStats`), the inbounds' settings for drift checks
//! (`HandlerService.ListInbounds`, Xray-core only) and the node's uptime
//! (`StatsService.GetSysStats`, to notice restarts: users added over the API
//! live in memory only, so a restarted node has lost them).
//!
//! The messages are hand-written prost structs ([`proto`]); calls go through
//! tonic's generic [`tonic::client::Grpc`] on paths built from the node's
//! [`ApiFlavor`] (Xray's proto packages start with `xray.`, v2ray's with
//! `v2ray.core.`). Every call is bounded by the per-call timeout; there are no
//! retries here, the caller decides.

pub mod proto;

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use http::uri::PathAndQuery;
use prost::Message as _;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};
use uuid::Uuid;

use proto::{
    Account, AddUserOperation, AlterInboundRequest, AlterInboundResponse, GetInboundUserRequest,
    GetInboundUserResponse, InboundHandlerConfig, ListInboundsRequest, ListInboundsResponse,
    PortList, QueryStatsRequest, QueryStatsResponse, RealityConfig, ReceiverConfig,
    RemoveUserOperation, SysStatsRequest, SysStatsResponse, TypedMessage, User,
};

/// Largest answer accepted (a `GetInboundUsers` of a big inbound; tonic's default is 4 MiB).
const MAX_DECODING_MESSAGE_SIZE: usize = 64 * 1024 * 1024;
/// Prefix of the per-user traffic counters.
const USER_STATS_PREFIX: &str = "user>>>";

/// Which proto package names the node speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ApiFlavor {
    /// Xray-core: `xray.app.proxyman.command.HandlerService`, `xray.proxy.vless.Account`, …
    #[default]
    Xray,
    /// v2ray (v4): `v2ray.core.app.proxyman.command.HandlerService`, …
    V2ray,
}

impl ApiFlavor {
    /// The prefix of every proto name: `xray.` or `v2ray.core.`.
    pub fn package_prefix(self) -> &'static str {
        match self {
            ApiFlavor::Xray => "xray.",
            ApiFlavor::V2ray => "v2ray.core.",
        }
    }

    /// The full proto name of `name` (e.g. `proxy.vless.Account`) for this flavor.
    pub fn type_name(self, name: &str) -> String {
        format!("{}{name}", self.package_prefix())
    }

    /// The gRPC path of `service/method` (e.g. `app.stats.command.StatsService/GetSysStats`).
    fn path(self, service_method: &str) -> PathAndQuery {
        let path = format!("/{}{service_method}", self.package_prefix());
        PathAndQuery::try_from(path).expect("gRPC paths built from constants are valid")
    }
}

/// Why a node call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum XrayError {
    /// No connection (refused, reset, DNS, `UNAVAILABLE`): worth retrying later.
    #[error("node unreachable: {0}")]
    Unreachable(String),
    /// The call did not finish within the per-call timeout; it may or may not have been applied.
    #[error("call timed out")]
    Timeout,
    /// The node answered with an error status (the message, prefixed with the code).
    #[error("node refused: {0}")]
    Rejected(String),
}

/// The gRPC paths for one flavor.
#[derive(Debug, Clone)]
struct Paths {
    alter_inbound: PathAndQuery,
    get_inbound_users: PathAndQuery,
    list_inbounds: PathAndQuery,
    query_stats: PathAndQuery,
    get_sys_stats: PathAndQuery,
}

impl Paths {
    fn new(flavor: ApiFlavor) -> Self {
        Paths {
            alter_inbound: flavor.path("app.proxyman.command.HandlerService/AlterInbound"),
            get_inbound_users: flavor.path("app.proxyman.command.HandlerService/GetInboundUsers"),
            list_inbounds: flavor.path("app.proxyman.command.HandlerService/ListInbounds"),
            query_stats: flavor.path("app.stats.command.StatsService/QueryStats"),
            get_sys_stats: flavor.path("app.stats.command.StatsService/GetSysStats"),
        }
    }
}

/// A client for one node's gRPC API and one inbound.
///
/// Cheap to share (`Arc` it); calls may run concurrently over one HTTP/2
/// connection, which is opened on the first call and re-opened after it breaks
/// (a restarted node is reached again without a new `XrayApi`).
///
/// The connection's background task is spawned on the Tokio runtime that makes
/// the first call, and lives as long as that runtime: make calls from one
/// long-lived runtime (not from a short-lived `Arbiter`).
#[derive(Debug)]
pub struct XrayApi {
    addr: String,
    endpoint: Endpoint,
    /// Created on the first call (needs a runtime), reused afterwards.
    channel: OnceLock<Channel>,
    flavor: ApiFlavor,
    inbound_tag: String,
    call_timeout: Duration,
    paths: Paths,
}

impl XrayApi {
    /// `api` is "host:port" of the node's gRPC API. Does not connect yet (lazy).
    ///
    /// Needs no runtime. Fails (as [`XrayError::Unreachable`]) only when `api`
    /// is not a `host:port`.
    pub fn new(
        api: &str,
        flavor: ApiFlavor,
        inbound_tag: &str,
        call_timeout: Duration,
    ) -> Result<Self, XrayError> {
        let invalid =
            |why: &str| XrayError::Unreachable(format!("invalid node API address {api:?}: {why}"));
        if api.contains("://") || api.contains('/') {
            return Err(invalid("expected host:port"));
        }
        let uri: http::Uri = format!("http://{api}")
            .parse()
            .map_err(|e: http::uri::InvalidUri| invalid(&e.to_string()))?;
        if uri.host().is_none_or(str::is_empty) || uri.port_u16().is_none() {
            return Err(invalid("expected host:port"));
        }
        let endpoint = Endpoint::from(uri)
            .connect_timeout(call_timeout)
            .tcp_nodelay(true);
        Ok(XrayApi {
            addr: api.to_owned(),
            endpoint,
            channel: OnceLock::new(),
            flavor,
            inbound_tag: inbound_tag.to_owned(),
            call_timeout,
            paths: Paths::new(flavor),
        })
    }

    /// The "host:port" this client talks to.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The flavor given to [`new`](Self::new).
    pub fn flavor(&self) -> ApiFlavor {
        self.flavor
    }

    /// The inbound tag given to [`new`](Self::new).
    pub fn inbound_tag(&self) -> &str {
        &self.inbound_tag
    }

    /// AddUserOperation with a VLESS account {id: uuid, flow, encryption: "none"}, level 0. "already exists" counts as success.
    ///
    /// "Already exists" is decided by email only: the node keeps the uuid it
    /// had. To change a user's uuid, remove it first.
    pub async fn add_user(&self, email: &str, uuid: Uuid, flow: &str) -> Result<(), XrayError> {
        self.add_user_reporting(email, uuid, flow).await.map(|_| ())
    }

    /// Like [`add_user`](Self::add_user), telling the two successes apart:
    /// `Ok(true)` the node added the user, `Ok(false)` it already had it.
    pub async fn add_user_reporting(
        &self,
        email: &str,
        uuid: Uuid,
        flow: &str,
    ) -> Result<bool, XrayError> {
        let request = AlterInboundRequest {
            tag: self.inbound_tag.clone(),
            operation: Some(add_user_operation(self.flavor, email, uuid, flow)),
        };
        match self.alter_inbound(request).await {
            Ok(()) => Ok(true),
            Err(Failure::Status(status)) if user_error_says(&status, "already exists") => Ok(false),
            Err(failure) => Err(failure.into_error()),
        }
    }

    /// RemoveUserOperation; "not found" counts as success.
    pub async fn remove_user(&self, email: &str) -> Result<(), XrayError> {
        let request = AlterInboundRequest {
            tag: self.inbound_tag.clone(),
            operation: Some(remove_user_operation(self.flavor, email)),
        };
        match self.alter_inbound(request).await {
            Err(Failure::Status(status)) if user_error_says(&status, "not found") => Ok(()),
            other => other.map_err(Failure::into_error),
        }
    }

    /// All users of the inbound (GetInboundUsers with empty email): Ok(None) when the node answers UNIMPLEMENTED (v2ray, old Xray).
    ///
    /// Users whose account is not a VLESS account with a UUID id are skipped.
    pub async fn list_users(&self) -> Result<Option<Vec<(String, Uuid)>>, XrayError> {
        let request = GetInboundUserRequest {
            tag: self.inbound_tag.clone(),
            email: String::new(),
        };
        let response: GetInboundUserResponse =
            match self.unary(request, &self.paths.get_inbound_users).await {
                Ok(response) => response,
                Err(Failure::Status(status)) if method_unimplemented(&status) => return Ok(None),
                Err(failure) => return Err(failure.into_error()),
            };
        Ok(Some(response.users.iter().filter_map(vless_user).collect()))
    }

    /// Every inbound of the node as it runs (HandlerService.ListInbounds):
    /// Ok(None) when the node cannot tell (v2ray and Xray before `ListInbounds`
    /// answer UNIMPLEMENTED). Only what drift checks compare is decoded.
    pub async fn list_inbounds(&self) -> Result<Option<Vec<InboundInfo>>, XrayError> {
        let request = ListInboundsRequest {
            is_only_tags: false,
        };
        let response: ListInboundsResponse =
            match self.unary(request, &self.paths.list_inbounds).await {
                Ok(response) => response,
                Err(Failure::Status(status)) if method_unimplemented(&status) => return Ok(None),
                Err(failure) => return Err(failure.into_error()),
            };
        Ok(Some(
            response.inbounds.iter().map(InboundInfo::decode).collect(),
        ))
    }

    /// Per-user traffic from StatsService.QueryStats (pattern "user>>>"): map email -> (uplink, downlink) bytes.
    ///
    /// With `reset`, the node zeroes the counters it returns (deltas since the
    /// previous reset). Counters appear after a user's first connection and
    /// vanish when the node restarts.
    pub async fn user_traffic(
        &self,
        reset: bool,
    ) -> Result<HashMap<String, (u64, u64)>, XrayError> {
        let request = QueryStatsRequest {
            pattern: USER_STATS_PREFIX.to_owned(),
            reset,
        };
        let response: QueryStatsResponse = self
            .unary(request, &self.paths.query_stats)
            .await
            .map_err(Failure::into_error)?;
        Ok(parse_user_traffic(&response.stat))
    }

    /// StatsService.GetSysStats uptime in seconds (used to detect node restarts).
    pub async fn uptime(&self) -> Result<u64, XrayError> {
        let response: SysStatsResponse = self
            .unary(SysStatsRequest {}, &self.paths.get_sys_stats)
            .await
            .map_err(Failure::into_error)?;
        Ok(u64::from(response.uptime))
    }

    async fn alter_inbound(&self, request: AlterInboundRequest) -> Result<(), Failure> {
        let _: AlterInboundResponse = self.unary(request, &self.paths.alter_inbound).await?;
        Ok(())
    }

    /// One unary call, bounded by the call timeout.
    async fn unary<Req, Resp>(&self, request: Req, path: &PathAndQuery) -> Result<Resp, Failure>
    where
        Req: prost::Message + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        let channel = self
            .channel
            .get_or_init(|| self.endpoint.connect_lazy())
            .clone();
        let call = async move {
            let mut grpc = tonic::client::Grpc::new(channel)
                .max_decoding_message_size(MAX_DECODING_MESSAGE_SIZE);
            grpc.ready()
                .await
                .map_err(|e| Failure::Transport(error_chain(&e)))?;
            let codec = tonic_prost::ProstCodec::<Req, Resp>::default();
            grpc.unary(tonic::Request::new(request), path.clone(), codec)
                .await
                .map(tonic::Response::into_inner)
                .map_err(Failure::Status)
        };
        tokio::time::timeout(self.call_timeout, call)
            .await
            .unwrap_or(Err(Failure::Timeout))
    }
}

/// One inbound as the node reports it: what drift checks compare.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InboundInfo {
    pub tag: String,
    /// Inclusive port ranges the inbound listens on.
    pub ports: Vec<(u32, u32)>,
    /// The REALITY settings, when the inbound's security is REALITY.
    pub reality: Option<RealityInfo>,
    /// The security settings' proto name when it is not REALITY (e.g. TLS), or
    /// empty for none.
    pub other_security: String,
}

/// The server side of an inbound's REALITY settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RealityInfo {
    pub server_names: Vec<String>,
    /// The raw 32-byte X25519 private key.
    pub private_key: Vec<u8>,
    /// As Xray holds them: the configured hex, decoded into 8 bytes (zero-padded).
    pub short_ids: Vec<Vec<u8>>,
    pub dest: String,
}

impl InboundInfo {
    /// Decodes the receiver and security settings it can; what does not
    /// decode stays empty (the comparison then reports it as a mismatch).
    pub fn decode(config: &InboundHandlerConfig) -> InboundInfo {
        let mut info = InboundInfo {
            tag: config.tag.clone(),
            ..InboundInfo::default()
        };
        let Some(receiver) = config
            .receiver_settings
            .as_ref()
            .filter(|m| m.r#type.ends_with("app.proxyman.ReceiverConfig"))
            .and_then(|m| ReceiverConfig::decode(m.value.as_slice()).ok())
        else {
            return info;
        };
        info.ports = receiver
            .port_list
            .unwrap_or(PortList { range: Vec::new() })
            .range
            .iter()
            .map(|r| (r.from, r.to))
            .collect();
        let Some(stream) = receiver.stream_settings else {
            return info;
        };
        let reality = stream
            .security_settings
            .iter()
            .find(|m| m.r#type.ends_with("transport.internet.reality.Config"))
            .and_then(|m| RealityConfig::decode(m.value.as_slice()).ok());
        match reality {
            Some(r) => {
                info.reality = Some(RealityInfo {
                    server_names: r.server_names,
                    private_key: r.private_key,
                    short_ids: r.short_ids,
                    dest: r.dest,
                });
            }
            None => info.other_security = stream.security_type,
        }
        info
    }
}

/// How one call failed, before deciding what "already exists" etc. mean.
#[derive(Debug)]
enum Failure {
    /// The channel could not be readied.
    Transport(String),
    Timeout,
    Status(Status),
}

impl Failure {
    fn into_error(self) -> XrayError {
        match self {
            Failure::Transport(message) => XrayError::Unreachable(message),
            Failure::Timeout => XrayError::Timeout,
            Failure::Status(status) => status_error(&status),
        }
    }
}

/// Connection problems and `UNAVAILABLE` → `Unreachable`; deadlines → `Timeout`;
/// any other status the node sent → `Rejected`.
fn status_error(status: &Status) -> XrayError {
    let local = std::error::Error::source(status).is_some();
    match status.code() {
        Code::DeadlineExceeded => XrayError::Timeout,
        _ if local && chain_has::<tonic::TimeoutExpired>(status) => XrayError::Timeout,
        // A status built by tonic from a local error (connection refused or
        // reset, h2 GOAWAY, …) carries that error as its source; one sent by
        // the node does not.
        Code::Unavailable => XrayError::Unreachable(status_chain(status)),
        _ if local => XrayError::Unreachable(status_chain(status)),
        code => XrayError::Rejected(format!("{code:?}: {}", status.message())),
    }
}

/// Whether the node's status message is about the user and contains `needle`
/// (ASCII case-insensitive). The nodes answer `UNKNOWN` with `… User EMAIL already
/// exists.` / `… User EMAIL not found.`; an unknown inbound tag gives
/// `failed to get handler: TAG > … handler not found: TAG`, which is no success.
fn user_error_says(status: &Status, needle: &str) -> bool {
    let message = status.message().to_ascii_lowercase();
    std::error::Error::source(status).is_none()
        && message.contains(&needle.to_ascii_lowercase())
        && !message.contains("failed to get handler")
        && !message.contains("handler not found")
}

fn chain_has<E: std::error::Error + 'static>(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(err) = next {
        if err.is::<E>() {
            return true;
        }
        next = err.source();
    }
    false
}

/// The status message and its source chain.
fn status_chain(status: &Status) -> String {
    match std::error::Error::source(status) {
        Some(source) => {
            let chain = error_chain(source);
            if status.message().is_empty() || chain.contains(status.message()) {
                chain
            } else {
                format!("{}: {chain}", status.message())
            }
        }
        None => status.message().to_owned(),
    }
}

/// `outer: inner: innermost`, skipping repeats.
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut next = err.source();
    while let Some(err) = next {
        let part = err.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        next = err.source();
    }
    text
}

fn pack<M: prost::Message>(flavor: ApiFlavor, name: &str, message: &M) -> TypedMessage {
    TypedMessage {
        r#type: flavor.type_name(name),
        value: message.encode_to_vec(),
    }
}

/// The `TypedMessage` of an `AddUserOperation` for a VLESS user at level 0.
pub fn add_user_operation(flavor: ApiFlavor, email: &str, uuid: Uuid, flow: &str) -> TypedMessage {
    let account = Account {
        id: uuid.to_string(),
        flow: flow.to_owned(),
        encryption: "none".to_owned(),
    };
    let operation = AddUserOperation {
        user: Some(User {
            level: 0,
            email: email.to_owned(),
            account: Some(pack(flavor, "proxy.vless.Account", &account)),
        }),
    };
    pack(flavor, "app.proxyman.command.AddUserOperation", &operation)
}

/// The `TypedMessage` of a `RemoveUserOperation`.
pub fn remove_user_operation(flavor: ApiFlavor, email: &str) -> TypedMessage {
    let operation = RemoveUserOperation {
        email: email.to_owned(),
    };
    pack(
        flavor,
        "app.proxyman.command.RemoveUserOperation",
        &operation,
    )
}

/// `(email, uuid)` of a user with a VLESS account (either flavor).
fn vless_user(user: &User) -> Option<(String, Uuid)> {
    let account = user.account.as_ref()?;
    if !account.r#type.ends_with("proxy.vless.Account") {
        return None;
    }
    let account = Account::decode(account.value.as_slice()).ok()?;
    let uuid = Uuid::parse_str(account.id.trim()).ok()?;
    Some((user.email.clone(), uuid))
}

/// `user>>>EMAIL>>>traffic>>>uplink|downlink` counters → email → (uplink, downlink).
fn parse_user_traffic(stats: &[proto::Stat]) -> HashMap<String, (u64, u64)> {
    let mut traffic: HashMap<String, (u64, u64)> = HashMap::new();
    for stat in stats {
        let Some(rest) = stat.name.strip_prefix(USER_STATS_PREFIX) else {
            continue;
        };
        let Some((email, direction)) = rest.rsplit_once(">>>traffic>>>") else {
            continue;
        };
        let value = u64::try_from(stat.value).unwrap_or(0);
        let entry = traffic.entry(email.to_owned()).or_default();
        match direction {
            "uplink" => entry.0 = entry.0.saturating_add(value),
            "downlink" => entry.1 = entry.1.saturating_add(value),
            _ => {}
        }
    }
    traffic
}

/// The node does not know this method ("unknown method GetInboundUsers for
/// service …": v2ray, an older Xray), as opposed to "unknown service …" (a
/// wrong API flavor), which must not pass for "the node cannot tell".
fn method_unimplemented(status: &Status) -> bool {
    status.code() == Code::Unimplemented
        && !status
            .message()
            .to_ascii_lowercase()
            .contains("unknown service")
}

#[cfg(test)]
mod tests {
    use super::*;

    const UUID: &str = "6f6cd4b4-2c0a-4a43-9a2b-1c8d3b8f8f0a";

    #[test]
    fn add_user_operation_round_trips() {
        let uuid = Uuid::parse_str(UUID).unwrap();
        for (flavor, prefix) in [
            (ApiFlavor::Xray, "xray."),
            (ApiFlavor::V2ray, "v2ray.core."),
        ] {
            let typed = add_user_operation(flavor, "sv.42.1", uuid, "xtls-rprx-vision");
            assert_eq!(
                typed.r#type,
                format!("{prefix}app.proxyman.command.AddUserOperation")
            );

            // Through the wire as part of the request, and back.
            let request = AlterInboundRequest {
                tag: "vless-in".to_owned(),
                operation: Some(typed.clone()),
            };
            let decoded = AlterInboundRequest::decode(request.encode_to_vec().as_slice()).unwrap();
            assert_eq!(decoded, request);

            let op = AddUserOperation::decode(typed.value.as_slice()).unwrap();
            let user = op.user.expect("user");
            assert_eq!(user.level, 0);
            assert_eq!(user.email, "sv.42.1");
            let account = user.account.expect("account");
            assert_eq!(account.r#type, format!("{prefix}proxy.vless.Account"));
            let vless = Account::decode(account.value.as_slice()).unwrap();
            assert_eq!(
                vless,
                Account {
                    id: UUID.to_owned(),
                    flow: "xtls-rprx-vision".to_owned(),
                    encryption: "none".to_owned(),
                }
            );
            assert_eq!(
                vless_user(&User {
                    level: 0,
                    email: "sv.42.1".to_owned(),
                    account: Some(account),
                }),
                Some(("sv.42.1".to_owned(), uuid))
            );
        }
    }

    #[test]
    fn wire_format_matches_protoc() {
        // Bytes as protoc-generated code encodes them: field 1 (len 4) "Ab.1".
        let op = RemoveUserOperation {
            email: "Ab.1".to_owned(),
        };
        assert_eq!(op.encode_to_vec(), b"\x0a\x04Ab.1");
        let typed = remove_user_operation(ApiFlavor::V2ray, "Ab.1");
        assert_eq!(
            typed.r#type,
            "v2ray.core.app.proxyman.command.RemoveUserOperation"
        );
        // SysStatsResponse.Uptime is field 10, varint: key 0x50.
        let stats = SysStatsResponse::decode(&b"\x50\x07"[..]).unwrap();
        assert_eq!(stats.uptime, 7);
    }

    /// Field numbers as in Xray-core's protos (`common/net/port.proto`,
    /// `app/proxyman/config.proto`, `transport/internet/config.proto`,
    /// `transport/internet/reality/config.proto`), bytes built by hand.
    #[test]
    fn list_inbounds_decodes_protoc_bytes() {
        // reality.Config: dest (2) "d:443", server_names (5) "a", private_key (6) [7; 32],
        // short_ids (10) [0x6b, 0xa8, 0 × 6].
        let mut reality = b"\x12\x05d:443\x2a\x01a\x32\x20".to_vec();
        reality.extend([7u8; 32]);
        reality.extend(b"\x52\x08\x6b\xa8\0\0\0\0\0\0");
        let security = pack_raw("xray.transport.internet.reality.Config", &reality);
        // StreamConfig: security_type (3), security_settings (4).
        let mut stream = vec![0x1a, 38];
        stream.extend(b"xray.transport.internet.reality.Config");
        stream.push(0x22);
        stream.extend(len_prefixed(&security));
        // ReceiverConfig: port_list (1) { range (1) { From (1) 443, To (2) 443 } }, stream_settings (3).
        let mut receiver = b"\x0a\x08\x0a\x06\x08\xbb\x03\x10\xbb\x03".to_vec();
        receiver.push(0x1a);
        receiver.extend(len_prefixed(&stream));
        let config = InboundHandlerConfig {
            tag: "in".into(),
            receiver_settings: Some(TypedMessage {
                r#type: "xray.app.proxyman.ReceiverConfig".into(),
                value: receiver,
            }),
            proxy_settings: None,
        };
        let info = InboundInfo::decode(&config);
        assert_eq!(info.ports, [(443, 443)]);
        let reality = info.reality.expect("reality");
        assert_eq!(reality.server_names, ["a"]);
        assert_eq!(reality.private_key, [7u8; 32]);
        assert_eq!(reality.short_ids, [vec![0x6b, 0xa8, 0, 0, 0, 0, 0, 0]]);
        assert_eq!(reality.dest, "d:443");
    }

    fn pack_raw(name: &str, value: &[u8]) -> Vec<u8> {
        TypedMessage {
            r#type: name.into(),
            value: value.to_vec(),
        }
        .encode_to_vec()
    }

    fn len_prefixed(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        prost::encoding::encode_varint(bytes.len() as u64, &mut out);
        out.extend(bytes);
        out
    }

    #[test]
    fn user_traffic_is_parsed_from_counter_names() {
        let stat = |name: &str, value| proto::Stat {
            name: name.to_owned(),
            value,
        };
        let traffic = parse_user_traffic(&[
            stat("user>>>a@x>>>traffic>>>uplink", 10),
            stat("user>>>a@x>>>traffic>>>downlink", 20),
            stat("user>>>B@x>>>traffic>>>downlink", 5),
            stat("inbound>>>vless-in>>>traffic>>>uplink", 99),
            stat("user>>>neg>>>traffic>>>uplink", -1),
        ]);
        assert_eq!(traffic.get("a@x"), Some(&(10, 20)));
        assert_eq!(traffic.get("B@x"), Some(&(0, 5)));
        assert_eq!(traffic.get("neg"), Some(&(0, 0)));
        assert_eq!(traffic.len(), 3);
    }

    #[test]
    fn statuses_map_to_errors() {
        assert!(matches!(
            status_error(&Status::unavailable("down")),
            XrayError::Unreachable(_)
        ));
        assert!(matches!(
            status_error(&Status::deadline_exceeded("slow")),
            XrayError::Timeout
        ));
        match status_error(&Status::unknown("failed to add user > already exists")) {
            XrayError::Rejected(message) => {
                assert!(message.contains("already exists"), "{message}")
            }
            other => panic!("{other:?}"),
        }
        let local = Status::from_error(Box::new(std::io::Error::other("connection reset")));
        assert!(matches!(status_error(&local), XrayError::Unreachable(_)));
        assert!(user_error_says(
            &Status::unknown("User sv.1 Already Exists."),
            "already exists"
        ));
        assert!(!user_error_says(
            &Status::unknown(
                "app/proxyman/command: failed to get handler: nope > \
                 app/proxyman/inbound: handler not found: nope"
            ),
            "not found"
        ));
    }

    #[test]
    fn new_validates_the_address_without_a_runtime() {
        let timeout = Duration::from_secs(1);
        assert!(XrayApi::new("127.0.0.1:10085", ApiFlavor::Xray, "in", timeout).is_ok());
        assert!(XrayApi::new("node.example:443", ApiFlavor::V2ray, "in", timeout).is_ok());
        for bad in ["127.0.0.1", "http://127.0.0.1:1", "", "a b:1", "host:1/x"] {
            assert!(
                XrayApi::new(bad, ApiFlavor::Xray, "in", timeout).is_err(),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn flavor_deserializes_lowercase() {
        #[derive(serde::Deserialize)]
        struct Node {
            api_flavor: ApiFlavor,
        }
        let node: Node = serde_json::from_str(r#"{"api_flavor":"v2ray"}"#).unwrap();
        assert_eq!(node.api_flavor, ApiFlavor::V2ray);
        assert_eq!(ApiFlavor::default(), ApiFlavor::Xray);
    }
}
