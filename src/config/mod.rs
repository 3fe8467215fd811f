//! Configuration: embedded defaults, then `<dir>/default.toml`, then
//! `<dir>/local.toml` if present, then `SUBVISOR__SECTION__KEY` environment
//! variables. Every error names the key at fault.
//!
//! - `mod.rs` (here): [`Settings`], the whole file, and [`ConfigError`].
//! - `sections.rs`: one struct per `[section]` as written in the files, with
//!   the defaults of optional keys.
//! - `load.rs`: the layers and environment overrides ([`Settings::load`]).
//! - `validate.rs`: the checks `load` (and so `subvisor check-config`) runs.
//! - `bot.rs`: `[bot]` (time zone, language map) and the bot's `Locale`.
//! - `warnings.rs`: what `check-config` warns about without failing.
//! - `derived.rs`: what the rest of the program takes from the settings:
//!   validated plans and nodes, the store's, actors' and gateways' settings,
//!   payment clients and the secrets.
//! - `traffic.rs`: plans' traffic allowances and `[[traffic_packs]]`.

mod auto_renew;
mod bot;
mod derived;
mod load;
mod localized;
mod sections;
#[cfg(test)]
mod tests;
mod traffic;
mod validate;
mod warnings;

use serde::Deserialize;

pub use auto_renew::AutoRenewSettings;
pub use bot::BotConfig;
pub use localized::LocalizedText;
pub use sections::{
    ActorSettings, ClusterSettings, CryptoBotSettings, DatabaseSettings, FiatPrice, GatewayConfig,
    HttpSettings, LogFormat, LogSettings, NodeSettings, NotifierConfig, NowPaymentsSettings,
    OpsSettings, OutboxSettings, PaymentSettings, PlanSettings, ReconcileSettings,
    ReferralSettings, SchedulerSettings, SubscriptionSettings, TelegramMode, TelegramSettings,
    TrialSettings, WorkersSettings,
};

/// A configuration problem, naming the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Load(#[from] config::ConfigError),
    #[error("{key}: {reason}")]
    Invalid { key: String, reason: String },
}

/// A [`ConfigError::Invalid`] for `key`.
fn invalid(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        reason: reason.into(),
    }
}

/// The whole configuration, one field per `[section]` (see `sections.rs`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub http: HttpSettings,
    #[serde(default)]
    pub ops: OpsSettings,
    pub actors: ActorSettings,
    pub scheduler: SchedulerSettings,
    pub outbox: OutboxSettings,
    pub trial: TrialSettings,
    pub payments: PaymentSettings,
    pub log: LogSettings,
    pub gateway: GatewayConfig,
    pub reconcile: ReconcileSettings,
    pub subscription: SubscriptionSettings,
    pub cluster: ClusterSettings,
    pub workers: WorkersSettings,
    #[serde(default)]
    pub telegram: TelegramSettings,
    pub notifier: NotifierConfig,
    #[serde(default)]
    pub referral: ReferralSettings,
    #[serde(default)]
    pub auto_renew: AutoRenewSettings,
    #[serde(default)]
    pub bot: BotConfig,
    #[serde(default)]
    pub plans: Vec<PlanSettings>,
    /// Traffic packs on sale (`[[traffic_packs]]`).
    #[serde(default)]
    pub traffic_packs: Vec<traffic::TrafficPackSettings>,
    #[serde(default)]
    pub nodes: Vec<NodeSettings>,
}
