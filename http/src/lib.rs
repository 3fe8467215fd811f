//! subvisor's HTTP edges (actix-web): the ops listener (health, readiness,
//! Prometheus metrics, the ops API) and the public listener. Handlers only send
//! messages to actors or make read-only store queries: no SQL and no node calls
//! live here.

mod access_log;
mod auth;
mod console;
mod error;
pub mod metrics;
mod ops;
mod ops_devices;
mod ops_promos;
mod ops_traffic;
mod public;
mod rate_limit;
pub mod signature;
mod subscription;
mod telegram;
mod views;
mod webhooks;

pub use access_log::{REDACTED, RedactedRootSpan, access_log, redact_target};
pub use error::ApiError;
pub use ops::{OpsState, configure_ops};
pub use public::{PublicState, configure_public};
pub use rate_limit::{IpRateLimit, TrustedProxies};
pub use subscription::devices::{DEVICES_REFUSED, DevicePolicy};
/// The VPN apps per OS the subscription page offers (the bot links the same ones).
pub use subscription::page::apps as vpn_apps;
pub use subscription::{
    Announce, BotName, Entry, Format, LanguageMap, RenderOptions, SubscriptionOptions,
    SubscriptionView, ViewStatus, render, support_url_from_contact,
};
pub use subvisor_actors::payments::PaymentClients;
pub use telegram::{
    BotIntakeView, BotProbe, BotState, BotView, MAX_UPDATE_BODY, Refusal, TelegramWebhook,
    UpdateSink,
};
pub use views::{DeviceView, DevicesView, NodeView, NodesView, UserView};
pub use webhooks::{MAX_WEBHOOK_BODY, WebhookSecrets};
