//! Hand-written prost messages of the Xray / v2ray gRPC API.
//!
//! Xray's packages start with `xray.`, v2ray's with `v2ray.core.`; the messages
//! and field numbers are the same. Sources: `common/serial/typed_message.proto`,
//! `common/protocol/user.proto`, `proxy/vless/account.proto`,
//! `app/proxyman/command/command.proto` and `app/stats/command/command.proto`.

/// `common.serial.TypedMessage`: a message packed with its full proto name.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TypedMessage {
    /// Full proto name, e.g. `xray.proxy.vless.Account`.
    #[prost(string, tag = "1")]
    pub r#type: String,
    /// The encoded message.
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

/// `common.protocol.User`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct User {
    #[prost(uint32, tag = "1")]
    pub level: u32,
    #[prost(string, tag = "2")]
    pub email: String,
    /// A protocol account, e.g. a VLESS [`Account`].
    #[prost(message, optional, tag = "3")]
    pub account: Option<TypedMessage>,
}

/// `proxy.vless.Account`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Account {
    /// The UUID, as text.
    #[prost(string, tag = "1")]
    pub id: String,
    /// E.g. `xtls-rprx-vision`; empty for none.
    #[prost(string, tag = "2")]
    pub flow: String,
    /// Always `none` for VLESS.
    #[prost(string, tag = "3")]
    pub encryption: String,
}

/// `app.proxyman.command.AddUserOperation`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AddUserOperation {
    #[prost(message, optional, tag = "1")]
    pub user: Option<User>,
}

/// `app.proxyman.command.RemoveUserOperation`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RemoveUserOperation {
    #[prost(string, tag = "1")]
    pub email: String,
}

/// `app.proxyman.command.AlterInboundRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AlterInboundRequest {
    #[prost(string, tag = "1")]
    pub tag: String,
    /// An [`AddUserOperation`] or a [`RemoveUserOperation`].
    #[prost(message, optional, tag = "2")]
    pub operation: Option<TypedMessage>,
}

/// `app.proxyman.command.AlterInboundResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AlterInboundResponse {}

/// `app.proxyman.command.GetInboundUserRequest` (Xray ≥ 24.11.5).
#[derive(Clone, PartialEq, prost::Message)]
pub struct GetInboundUserRequest {
    #[prost(string, tag = "1")]
    pub tag: String,
    /// Empty: all users of the inbound.
    #[prost(string, tag = "2")]
    pub email: String,
}

/// `app.proxyman.command.GetInboundUserResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GetInboundUserResponse {
    #[prost(message, repeated, tag = "1")]
    pub users: Vec<User>,
}

/// `app.stats.command.QueryStatsRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct QueryStatsRequest {
    /// Substring of the counter names to return; empty for all.
    #[prost(string, tag = "1")]
    pub pattern: String,
    /// Reset the returned counters to zero.
    #[prost(bool, tag = "2")]
    pub reset: bool,
}

/// `app.stats.command.Stat`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Stat {
    /// E.g. `user>>>EMAIL>>>traffic>>>uplink`.
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(int64, tag = "2")]
    pub value: i64,
}

/// `app.stats.command.QueryStatsResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct QueryStatsResponse {
    #[prost(message, repeated, tag = "1")]
    pub stat: Vec<Stat>,
}

/// `app.stats.command.SysStatsRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SysStatsRequest {}

/// `app.stats.command.SysStatsResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SysStatsResponse {
    #[prost(uint32, tag = "1")]
    pub num_goroutine: u32,
    #[prost(uint32, tag = "2")]
    pub num_gc: u32,
    #[prost(uint64, tag = "3")]
    pub alloc: u64,
    #[prost(uint64, tag = "4")]
    pub total_alloc: u64,
    #[prost(uint64, tag = "5")]
    pub sys: u64,
    #[prost(uint64, tag = "6")]
    pub mallocs: u64,
    #[prost(uint64, tag = "7")]
    pub frees: u64,
    #[prost(uint64, tag = "8")]
    pub live_objects: u64,
    #[prost(uint64, tag = "9")]
    pub pause_total_ns: u64,
    /// Seconds since the node started.
    #[prost(uint32, tag = "10")]
    pub uptime: u32,
}

/// `app.proxyman.command.ListInboundsRequest` (Xray-core; v2ray has no `ListInbounds`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ListInboundsRequest {
    /// Only the tags, no settings.
    #[prost(bool, tag = "1")]
    pub is_only_tags: bool,
}

/// `app.proxyman.command.ListInboundsResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ListInboundsResponse {
    #[prost(message, repeated, tag = "1")]
    pub inbounds: Vec<InboundHandlerConfig>,
}

/// `core.InboundHandlerConfig`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct InboundHandlerConfig {
    #[prost(string, tag = "1")]
    pub tag: String,
    /// An `app.proxyman.ReceiverConfig` ([`ReceiverConfig`]).
    #[prost(message, optional, tag = "2")]
    pub receiver_settings: Option<TypedMessage>,
    /// The proxy's config, e.g. `proxy.vless.inbound.Config`.
    #[prost(message, optional, tag = "3")]
    pub proxy_settings: Option<TypedMessage>,
}

/// `app.proxyman.ReceiverConfig` (only the fields drift checks read).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ReceiverConfig {
    #[prost(message, optional, tag = "1")]
    pub port_list: Option<PortList>,
    #[prost(message, optional, tag = "3")]
    pub stream_settings: Option<StreamConfig>,
}

/// `common.net.PortList`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PortList {
    #[prost(message, repeated, tag = "1")]
    pub range: Vec<PortRange>,
}

/// `common.net.PortRange` (inclusive).
#[derive(Clone, PartialEq, prost::Message)]
pub struct PortRange {
    #[prost(uint32, tag = "1")]
    pub from: u32,
    #[prost(uint32, tag = "2")]
    pub to: u32,
}

/// `transport.internet.StreamConfig` (only the security part).
#[derive(Clone, PartialEq, prost::Message)]
pub struct StreamConfig {
    /// The full proto name of the security settings, e.g. `xray.transport.internet.reality.Config`.
    #[prost(string, tag = "3")]
    pub security_type: String,
    #[prost(message, repeated, tag = "4")]
    pub security_settings: Vec<TypedMessage>,
}

/// `transport.internet.reality.Config` (the server side's fields drift checks read).
#[derive(Clone, PartialEq, prost::Message)]
pub struct RealityConfig {
    #[prost(string, tag = "2")]
    pub dest: String,
    #[prost(string, repeated, tag = "5")]
    pub server_names: Vec<String>,
    /// The raw 32-byte X25519 private key.
    #[prost(bytes = "vec", tag = "6")]
    pub private_key: Vec<u8>,
    /// Raw bytes (the config's hex, decoded).
    #[prost(bytes = "vec", repeated, tag = "10")]
    pub short_ids: Vec<Vec<u8>>,
}
