//! Configuration: embedded defaults, then `<dir>/default.toml`, then
//! `<dir>/local.toml` if present, then `SUBVISOR__SECTION__KEY` environment
//! variables. Every error names the key at fault.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use config::{Config, Environment, File, FileFormat};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use subvisor_actors::RegistrySettings;
use subvisor_actors::domain::{Currency, LinkParams, Money, NodeName, Plan, PlanId, Plans};
use subvisor_actors::provisioning::xray_api::ApiFlavor;
use subvisor_actors::provisioning::{GatewaySettings, NodeConfig};
use subvisor_actors::store::{StoreOptions, backend_of};

/// The repository's `config/default.toml`, compiled in so the binary runs anywhere.
const EMBEDDED_DEFAULTS: &str = include_str!("../config/default.toml");

/// A configuration problem, naming the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Load(#[from] config::ConfigError),
    #[error("{key}: {reason}")]
    Invalid { key: String, reason: String },
}

fn invalid(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        reason: reason.into(),
    }
}

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
    #[serde(default)]
    pub telegram: TelegramSettings,
    pub notifier: NotifierConfig,
    #[serde(default)]
    pub referral: ReferralSettings,
    #[serde(default)]
    pub plans: Vec<PlanSettings>,
    #[serde(default)]
    pub nodes: Vec<NodeSettings>,
}

/// How the bot receives updates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TelegramMode {
    /// `getUpdates` long polling (one instance).
    #[default]
    Polling,
    /// Telegram posts to `POST /telegram/webhook` on the public listener.
    Webhook,
}

/// `[telegram]`: the bot. Without a token the service runs with the bot off.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelegramSettings {
    pub token: Option<SecretString>,
    #[serde(default)]
    pub mode: TelegramMode,
    /// Another Bot API server (self-hosted, tests); default Telegram's.
    pub api_url: Option<String>,
    /// Webhook mode: the public HTTPS URL Telegram posts to (ending in `/telegram/webhook`).
    pub webhook_url: Option<String>,
    /// Webhook mode: `X-Telegram-Bot-Api-Secret-Token` (1–256 of `A-Za-z0-9_-`).
    pub webhook_secret: Option<SecretString>,
    /// Telegram ids allowed to use the admin commands.
    #[serde(default)]
    pub admins: Vec<i64>,
    /// Shown in /help, e.g. "@support_handle".
    pub support: Option<String>,
    /// Per-user budget of messages and button presses.
    #[serde(default = "default_user_rate")]
    pub user_rate_per_minute: u32,
    #[serde(default = "default_user_burst")]
    pub user_rate_burst: u32,
    /// Top-up amounts offered by the bot, in minor units of the balance currency.
    #[serde(default = "default_topups")]
    pub topup_amounts_minor: Vec<i64>,
    /// Telegram Stars (on by default whenever a token is set).
    #[serde(default = "yes")]
    pub stars: bool,
    /// Where admin alerts go (unexpected payments, refund shortfalls, flagged
    /// orders): a chat id (a group of the admins); unset: each admin in `admins`.
    pub alerts_chat: Option<i64>,
}

impl Default for TelegramSettings {
    fn default() -> Self {
        Self {
            token: None,
            mode: TelegramMode::Polling,
            api_url: None,
            webhook_url: None,
            webhook_secret: None,
            admins: Vec::new(),
            support: None,
            user_rate_per_minute: default_user_rate(),
            user_rate_burst: default_user_burst(),
            topup_amounts_minor: default_topups(),
            stars: true,
            alerts_chat: None,
        }
    }
}

fn default_user_rate() -> u32 {
    30
}
fn default_user_burst() -> u32 {
    10
}
fn default_topups() -> Vec<i64> {
    vec![500, 1000, 2500]
}
fn yes() -> bool {
    true
}

/// `[notifier]`: delivery of the notification outbox to Telegram.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifierConfig {
    pub global_per_second: u32,
    #[serde(with = "humantime_serde")]
    pub per_chat_interval: Duration,
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    pub batch: u32,
    pub max_attempts: i32,
}

/// `[referral]`: the bonus a referrer gets when a referred user first pays.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferralSettings {
    /// Minor units of `payments.balance_currency`; 0 = no bonus.
    #[serde(default)]
    pub bonus_minor: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    #[serde(with = "humantime_serde")]
    pub call_timeout: Duration,
    pub retries: usize,
    pub failure_threshold: u32,
    #[serde(with = "humantime_serde")]
    pub cooldown: Duration,
    #[serde(with = "humantime_serde")]
    pub health_interval: Duration,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSettings {
    /// How often an instance checks (or tries to take) the lead of the singletons.
    #[serde(with = "humantime_serde")]
    pub leader_interval: Duration,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconcileSettings {
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionSettings {
    /// Base URL users' clients fetch subscriptions from, e.g. https://vpn.example.com
    pub public_url: String,
    /// Shown as the profile name in clients.
    pub title: String,
    /// Hours between client refreshes (`profile-update-interval`).
    pub update_interval_hours: u32,
}

/// One `[[nodes]]` entry as written in config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSettings {
    pub name: String,
    pub api: String,
    #[serde(default)]
    pub api_flavor: ApiFlavor,
    pub inbound_tag: String,
    pub host: String,
    pub port: u16,
    pub sni: String,
    pub public_key: String,
    #[serde(default)]
    pub short_id: String,
    #[serde(default = "default_fingerprint")]
    pub fingerprint: String,
    pub label: String,
    /// Optional: when given, the public key must be derived from it.
    pub private_key: Option<SecretString>,
}

fn default_fingerprint() -> String {
    "chrome".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: String,
    pub max_connections: u32,
    #[serde(with = "humantime_serde")]
    pub acquire_timeout: Duration,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    pub public_addr: SocketAddr,
    pub ops_addr: SocketAddr,
    /// Requests per minute per client IP on `/sub`, and the budget of payment
    /// callbacks that fail verification (verified ones are never limited).
    pub public_rate_per_minute: u32,
    pub public_rate_burst: u32,
    /// Reverse proxies (addresses or networks) whose `Forwarded` /
    /// `X-Forwarded-For` headers name the client; empty: the TCP peer is the client.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpsSettings {
    pub token: Option<SecretString>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActorSettings {
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    pub mailbox_capacity: usize,
    pub max_restarts: u32,
    #[serde(with = "humantime_serde")]
    pub restart_window: Duration,
    pub arbiters: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulerSettings {
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    pub batch: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxSettings {
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrialSettings {
    pub days: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentSettings {
    pub balance_currency: String,
    /// Unpaid orders expire after this long (a late confirmation is still honoured).
    #[serde(with = "humantime_serde")]
    pub order_ttl: Duration,
    pub cryptobot: Option<CryptoBotSettings>,
    pub nowpayments: Option<NowPaymentsSettings>,
    /// Send a Stars payment its order cannot take (a second charge, a
    /// stranger's payment) back through `refundStarPayment`; off: flag it for ops.
    #[serde(default = "yes")]
    pub refund_unexpected_stars: bool,
    /// How often payment events left unfinished are finished by the service.
    #[serde(with = "humantime_serde", default = "thirty_seconds")]
    pub recovery_interval: Duration,
    /// How often the providers are asked about unpaid orders.
    #[serde(with = "humantime_serde", default = "five_minutes")]
    pub reconcile_interval: Duration,
    /// How far back the reconciler looks (orders created since, Stars transactions since).
    #[serde(with = "humantime_serde", default = "three_days")]
    pub reconcile_lookback: Duration,
}

fn thirty_seconds() -> Duration {
    Duration::from_secs(30)
}
fn five_minutes() -> Duration {
    Duration::from_secs(300)
}
fn three_days() -> Duration {
    Duration::from_secs(3 * 24 * 3600)
}

/// `[payments.cryptobot]`: Crypto Pay (@CryptoBot).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CryptoBotSettings {
    pub token: SecretString,
    #[serde(default = "cryptobot_mainnet")]
    pub base_url: String,
    /// `fiat` (invoice in the plan's fiat currency) or `asset` (in `asset`).
    #[serde(default = "fiat_pricing")]
    pub pricing: String,
    pub asset: Option<String>,
    pub accepted_assets: Option<String>,
    #[serde(default = "two")]
    pub decimals: u32,
}

/// `[payments.nowpayments]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NowPaymentsSettings {
    pub api_key: SecretString,
    pub ipn_secret: SecretString,
    #[serde(default = "nowpayments_live")]
    pub base_url: String,
    #[serde(default = "two")]
    pub decimals: u32,
    /// The NOWPayments account's e-mail and password: the payments list the
    /// reconciler needs for orders whose callbacks never came (optional).
    pub email: Option<String>,
    pub password: Option<SecretString>,
}

fn cryptobot_mainnet() -> String {
    "https://pay.crypt.bot/api".into()
}
fn nowpayments_live() -> String {
    "https://api.nowpayments.io/v1".into()
}
fn fiat_pricing() -> String {
    "fiat".into()
}
fn two() -> u32 {
    2
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    pub level: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanSettings {
    pub id: String,
    pub title: String,
    pub days: u32,
    pub stars: Option<i64>,
    pub fiat: Option<FiatPrice>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FiatPrice {
    pub amount_minor: i64,
    pub currency: String,
}

impl Settings {
    /// Loads and validates the configuration. `dir` is `--config DIR` (its
    /// `default.toml` must then exist) or `None` for `./config` (optional:
    /// the embedded defaults are used without it).
    pub fn load(dir: Option<&Path>) -> Result<Self, ConfigError> {
        let (dir, explicit) = match dir {
            Some(d) => (d.to_path_buf(), true),
            None => (PathBuf::from("config"), false),
        };
        let raw = Config::builder()
            .add_source(File::from_str(EMBEDDED_DEFAULTS, FileFormat::Toml))
            .add_source(File::from(dir.join("default.toml")).required(explicit))
            .add_source(File::from(dir.join("local.toml")).required(false))
            .add_source(
                Environment::with_prefix("SUBVISOR")
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true)
                    // Lists from the environment: comma-separated.
                    .list_separator(",")
                    .with_list_parse_key("http.trusted_proxies")
                    .with_list_parse_key("telegram.admins")
                    .with_list_parse_key("telegram.topup_amounts_minor"),
            )
            .build()?;
        let settings: Settings = raw.try_deserialize()?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if backend_of(&self.database.url).is_none() {
            return Err(invalid(
                "database.url",
                "expected sqlite://PATH or postgres://USER@HOST/DB",
            ));
        }
        if self.http.public_rate_per_minute == 0 || self.http.public_rate_burst == 0 {
            return Err(invalid(
                "http.public_rate_per_minute",
                "rate and burst must be at least 1",
            ));
        }
        if self.database.max_connections == 0 {
            return Err(invalid("database.max_connections", "must be at least 1"));
        }
        if let Some(token) = &self.ops.token {
            if token.expose_secret().trim().len() < 16 {
                return Err(invalid("ops.token", "must be at least 16 characters"));
            }
        } else if !self.http.ops_addr.ip().is_loopback() {
            return Err(invalid(
                "ops.token",
                format!(
                    "must be set when http.ops_addr ({}) is not a loopback address",
                    self.http.ops_addr
                ),
            ));
        }
        self.validate_telegram()?;
        if self.referral.bonus_minor < 0 {
            return Err(invalid("referral.bonus_minor", "must not be negative"));
        }
        if self.notifier.global_per_second == 0 || self.notifier.batch == 0 {
            return Err(invalid(
                "notifier.global_per_second",
                "rate and batch must be at least 1",
            ));
        }
        if self.actors.mailbox_capacity == 0 {
            return Err(invalid("actors.mailbox_capacity", "must be at least 1"));
        }
        if self.actors.idle_timeout < Duration::from_millis(10) {
            return Err(invalid("actors.idle_timeout", "must be at least 10ms"));
        }
        if self.scheduler.interval < Duration::from_millis(50) {
            return Err(invalid("scheduler.interval", "must be at least 50ms"));
        }
        if self.scheduler.batch == 0 {
            return Err(invalid("scheduler.batch", "must be at least 1"));
        }
        if self.outbox.poll_interval < Duration::from_millis(50) {
            return Err(invalid("outbox.poll_interval", "must be at least 50ms"));
        }
        if self.trial.days > 365 {
            return Err(invalid("trial.days", "must be 0..=365"));
        }
        Currency::new(self.payments.balance_currency.clone())
            .map_err(|e| invalid("payments.balance_currency", e.to_string()))?;
        if self.payments.order_ttl < Duration::from_secs(1) {
            return Err(invalid("payments.order_ttl", "must be at least 1s"));
        }
        let url_ok = |u: &str| u.starts_with("https://") || u.starts_with("http://");
        if let Some(cb) = &self.payments.cryptobot {
            if cb.token.expose_secret().trim().is_empty() {
                return Err(invalid("payments.cryptobot.token", "must not be empty"));
            }
            if !url_ok(&cb.base_url) {
                return Err(invalid(
                    "payments.cryptobot.base_url",
                    "must be an http(s) URL",
                ));
            }
            if let ("asset", Some(asset)) = (cb.pricing.as_str(), &cb.asset) {
                // Invoices are priced in the asset: a plan priced in anything else
                // could never be sold through Crypto Pay (no silent conversion).
                for (i, plan) in self.plans.iter().enumerate() {
                    if let Some(fiat) = &plan.fiat
                        && !fiat.currency.eq_ignore_ascii_case(asset)
                    {
                        return Err(invalid(
                            format!("plans[{i}].fiat.currency"),
                            format!(
                                "is {} but payments.cryptobot prices in asset {asset}",
                                fiat.currency
                            ),
                        ));
                    }
                }
            }
            match (cb.pricing.as_str(), &cb.asset) {
                ("fiat", _) | ("asset", Some(_)) => {}
                ("asset", None) => {
                    return Err(invalid(
                        "payments.cryptobot.asset",
                        "required with pricing = \"asset\"",
                    ));
                }
                _ => {
                    return Err(invalid(
                        "payments.cryptobot.pricing",
                        "must be \"fiat\" or \"asset\"",
                    ));
                }
            }
            if cb.decimals > 12 {
                return Err(invalid("payments.cryptobot.decimals", "must be 0..=12"));
            }
        }
        if let Some(np) = &self.payments.nowpayments {
            if np.api_key.expose_secret().trim().is_empty() {
                return Err(invalid("payments.nowpayments.api_key", "must not be empty"));
            }
            if np.ipn_secret.expose_secret().trim().is_empty() {
                return Err(invalid(
                    "payments.nowpayments.ipn_secret",
                    "must not be empty",
                ));
            }
            if !url_ok(&np.base_url) {
                return Err(invalid(
                    "payments.nowpayments.base_url",
                    "must be an http(s) URL",
                ));
            }
            if np.decimals > 12 {
                return Err(invalid("payments.nowpayments.decimals", "must be 0..=12"));
            }
            if np.email.is_some() != np.password.is_some() {
                return Err(invalid(
                    "payments.nowpayments.email",
                    "email and password go together (the reconciler logs in with both)",
                ));
            }
        }
        if self.payments.recovery_interval < Duration::from_millis(50) {
            return Err(invalid(
                "payments.recovery_interval",
                "must be at least 50ms",
            ));
        }
        if self.payments.reconcile_interval < Duration::from_millis(100) {
            return Err(invalid(
                "payments.reconcile_interval",
                "must be at least 100ms",
            ));
        }
        self.trusted_proxies()?;
        self.validate_balance_prices()?;
        tracing_subscriber::EnvFilter::try_new(&self.log.level)
            .map_err(|e| invalid("log.level", e.to_string()))?;
        self.plans()?;
        self.nodes()?;
        if self.cluster.leader_interval < Duration::from_millis(50) {
            return Err(invalid("cluster.leader_interval", "must be at least 50ms"));
        }
        if self.reconcile.interval < Duration::from_millis(100) {
            return Err(invalid("reconcile.interval", "must be at least 100ms"));
        }
        if self.gateway.call_timeout < Duration::from_millis(10) {
            return Err(invalid("gateway.call_timeout", "must be at least 10ms"));
        }
        if self.gateway.health_interval < Duration::from_millis(50) {
            return Err(invalid("gateway.health_interval", "must be at least 50ms"));
        }
        if !(self.subscription.public_url.starts_with("http://")
            || self.subscription.public_url.starts_with("https://"))
        {
            return Err(invalid(
                "subscription.public_url",
                "must start with http:// or https://",
            ));
        }
        Ok(())
    }

    /// Balance purchases debit a plan's fiat price from a balance held in
    /// `payments.balance_currency`: a plan priced in another currency would
    /// take the wrong units, so such a configuration is refused.
    fn validate_balance_prices(&self) -> Result<(), ConfigError> {
        for (i, plan) in self.plans.iter().enumerate() {
            if let Some(fiat) = &plan.fiat
                && fiat.currency != self.payments.balance_currency
            {
                return Err(invalid(
                    format!("plans[{i}].fiat.currency"),
                    format!(
                        "is {} but the balance is held in {} (payments.balance_currency): a balance \
                         purchase would debit the wrong currency; price the plan in {} or set \
                         payments.balance_currency = \"{}\"",
                        fiat.currency,
                        self.payments.balance_currency,
                        self.payments.balance_currency,
                        fiat.currency
                    ),
                ));
            }
        }
        Ok(())
    }

    /// `http.trusted_proxies`, parsed.
    pub fn trusted_proxies(&self) -> Result<subvisor_http::TrustedProxies, ConfigError> {
        subvisor_http::TrustedProxies::parse(&self.http.trusted_proxies)
            .map_err(|e| invalid("http.trusted_proxies", e))
    }

    /// The validated nodes (unique names, link parameters, key pairs).
    pub fn nodes(&self) -> Result<Vec<NodeConfig>, ConfigError> {
        let mut out: Vec<NodeConfig> = Vec::with_capacity(self.nodes.len());
        for (i, n) in self.nodes.iter().enumerate() {
            let key = |field: &str| format!("nodes[{i}].{field}");
            let name =
                NodeName::new(n.name.clone()).map_err(|e| invalid(key("name"), e.to_string()))?;
            if out.iter().any(|o| o.name == name) {
                return Err(invalid(key("name"), format!("duplicate node name {name}")));
            }
            if name.as_str() == subvisor_actors::provisioning::SandboxNode::NAME {
                return Err(invalid(key("name"), "\"sandbox\" is reserved"));
            }
            if n.api.parse::<SocketAddr>().is_err() && !n.api.contains(':') {
                return Err(invalid(
                    key("api"),
                    "must be host:port of the node's gRPC API",
                ));
            }
            if n.inbound_tag.trim().is_empty() {
                return Err(invalid(key("inbound_tag"), "must not be empty"));
            }
            let link = LinkParams {
                host: n.host.clone(),
                port: n.port,
                sni: n.sni.clone(),
                public_key: n.public_key.clone(),
                short_id: n.short_id.clone(),
                fingerprint: n.fingerprint.clone(),
                label: n.label.clone(),
            };
            link.validate().map_err(|e| match e {
                subvisor_actors::Error::InvalidInput { field, reason } => {
                    invalid(key(field), reason)
                }
                other => invalid(key("link"), other.to_string()),
            })?;
            if let Some(private) = &n.private_key {
                let derived = crate::keys::public_from_private(private.expose_secret())
                    .map_err(|reason| invalid(key("private_key"), reason))?;
                if derived != n.public_key.trim_end_matches('=') {
                    return Err(invalid(
                        key("public_key"),
                        "does not match the public key derived from private_key",
                    ));
                }
            }
            out.push(NodeConfig {
                name,
                api: n.api.clone(),
                api_flavor: n.api_flavor,
                inbound_tag: n.inbound_tag.clone(),
                link,
            });
        }
        Ok(out)
    }

    pub fn gateway_settings(&self) -> GatewaySettings {
        GatewaySettings {
            call_timeout: self.gateway.call_timeout,
            retries: self.gateway.retries,
            failure_threshold: self.gateway.failure_threshold,
            cooldown: self.gateway.cooldown,
            health_interval: self.gateway.health_interval,
        }
    }

    fn validate_telegram(&self) -> Result<(), ConfigError> {
        let t = &self.telegram;
        if let Some(token) = self.telegram_token() {
            // Telegram's form: <bot id>:<35 characters>.
            let well_formed = token
                .split_once(':')
                .is_some_and(|(id, rest)| id.parse::<u64>().is_ok() && !rest.is_empty());
            if !well_formed {
                return Err(invalid(
                    "telegram.token",
                    "expected the form <bot id>:<secret> from @BotFather (not shown)",
                ));
            }
        }
        if let Some(url) = &t.api_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(invalid("telegram.api_url", "must be an http(s) URL"));
        }
        if t.mode == TelegramMode::Webhook && self.telegram_token().is_some() {
            let url = t.webhook_url.as_deref().unwrap_or("");
            if !url.starts_with("https://") && !url.starts_with("http://") {
                return Err(invalid(
                    "telegram.webhook_url",
                    "webhook mode needs the public URL Telegram posts to (https://…/telegram/webhook)",
                ));
            }
            let secret = self.telegram_webhook_secret().unwrap_or_default();
            let valid = (1..=256).contains(&secret.len())
                && secret
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !valid || secret.len() < 16 {
                return Err(invalid(
                    "telegram.webhook_secret",
                    "webhook mode needs 16–256 characters of A-Z a-z 0-9 _ - (not shown)",
                ));
            }
        }
        if t.user_rate_per_minute == 0 || t.user_rate_burst == 0 {
            return Err(invalid(
                "telegram.user_rate_per_minute",
                "rate and burst must be at least 1",
            ));
        }
        if let Some(bad) = t.topup_amounts_minor.iter().find(|a| **a <= 0) {
            return Err(invalid(
                "telegram.topup_amounts_minor",
                format!("{bad}: amounts must be positive"),
            ));
        }
        Ok(())
    }

    /// The validated plans.
    pub fn plans(&self) -> Result<Plans, ConfigError> {
        let mut plans = Vec::with_capacity(self.plans.len());
        for (i, p) in self.plans.iter().enumerate() {
            let key = |field: &str| format!("plans[{i}].{field}");
            if !crate::bot::callback::is_valid_plan_id(&p.id) {
                return Err(invalid(
                    key("id"),
                    format!(
                        "{:?}: plan ids travel in button data: 1–32 of a-z 0-9 _ -",
                        p.id
                    ),
                ));
            }
            let fiat = match &p.fiat {
                Some(f) => Some(Money::new(
                    f.amount_minor,
                    Currency::new(f.currency.clone())
                        .map_err(|e| invalid(key("fiat.currency"), e.to_string()))?,
                )),
                None => None,
            };
            plans.push(Plan {
                id: PlanId::new(p.id.clone()).map_err(|e| invalid(key("id"), e.to_string()))?,
                title: p.title.clone(),
                days: p.days,
                stars: p.stars,
                fiat,
            });
        }
        Plans::new(plans).map_err(|e| invalid("plans", e.to_string()))
    }

    pub fn store_options(&self) -> StoreOptions {
        StoreOptions {
            url: self.database.url.clone(),
            max_connections: self.database.max_connections,
            acquire_timeout: self.database.acquire_timeout,
            referral_bonus: self.referral_bonus(),
            settlement: subvisor_actors::domain::SettlementPolicy {
                balance_currency: self.balance_currency(),
                refund_unexpected_stars: self.payments.refund_unexpected_stars,
            },
        }
    }

    /// `payments.balance_currency` (validated at load).
    pub fn balance_currency(&self) -> Currency {
        Currency::new(self.payments.balance_currency.clone()).unwrap_or_else(|_| Currency::stars())
    }

    /// The referral bonus, if one is configured.
    pub fn referral_bonus(&self) -> Option<Money> {
        let currency = Currency::new(self.payments.balance_currency.clone()).ok()?;
        (self.referral.bonus_minor > 0).then(|| Money::new(self.referral.bonus_minor, currency))
    }

    /// The bot token, if the bot is on.
    pub fn telegram_token(&self) -> Option<String> {
        self.telegram
            .token
            .as_ref()
            .map(|t| t.expose_secret().trim().to_owned())
            .filter(|t| !t.is_empty())
    }

    /// Webhook mode's secret header value.
    pub fn telegram_webhook_secret(&self) -> Option<String> {
        self.telegram
            .webhook_secret
            .as_ref()
            .map(|t| t.expose_secret().trim().to_owned())
    }

    pub fn notifier_settings(&self) -> subvisor_actors::notifier::NotifierSettings {
        subvisor_actors::notifier::NotifierSettings {
            global_per_second: self.notifier.global_per_second,
            per_chat_interval: self.notifier.per_chat_interval,
            poll_interval: self.notifier.poll_interval,
            batch: self.notifier.batch,
            max_attempts: self.notifier.max_attempts,
            ..Default::default()
        }
    }

    pub fn registry_settings(&self) -> RegistrySettings {
        RegistrySettings {
            idle_timeout: self.actors.idle_timeout,
            mailbox_capacity: self.actors.mailbox_capacity,
            max_restarts: self.actors.max_restarts,
            restart_window: self.actors.restart_window,
            trial_days: self.trial.days,
            arbiters: self.actors.arbiters,
            balance_currency: self.balance_currency(),
            order_ttl: self.payments.order_ttl,
        }
    }

    /// Clients of the configured invoice-page providers.
    pub fn payment_clients(&self) -> Result<subvisor_http::PaymentClients, ConfigError> {
        use subvisor_actors::payments::{
            CryptoBotClient, CryptoBotConfig, CryptoBotPricing, NowPaymentsClient,
            NowPaymentsConfig,
        };
        let cryptobot = match &self.payments.cryptobot {
            Some(c) => Some(
                CryptoBotClient::new(CryptoBotConfig {
                    token: c.token.clone(),
                    base_url: c.base_url.clone(),
                    pricing: match &c.asset {
                        Some(asset) if c.pricing == "asset" => CryptoBotPricing::Asset {
                            asset: asset.clone(),
                            decimals: c.decimals,
                        },
                        _ => CryptoBotPricing::Fiat {
                            accepted_assets: c.accepted_assets.clone(),
                            decimals: c.decimals,
                        },
                    },
                    expires_in: Some(
                        u32::try_from(self.payments.order_ttl.as_secs())
                            .unwrap_or(u32::MAX)
                            .clamp(1, 2_678_400),
                    ),
                })
                .map_err(|e| invalid("payments.cryptobot", e.to_string()))?,
            ),
            None => None,
        };
        let nowpayments = match &self.payments.nowpayments {
            Some(n) => Some(
                NowPaymentsClient::new(NowPaymentsConfig {
                    api_key: n.api_key.clone(),
                    base_url: n.base_url.clone(),
                    ipn_callback_url: format!(
                        "{}/pay/nowpayments",
                        self.subscription.public_url.trim_end_matches('/')
                    ),
                    decimals: n.decimals,
                    email: n.email.clone(),
                    password: n.password.clone(),
                })
                .map_err(|e| invalid("payments.nowpayments", e.to_string()))?,
            ),
            None => None,
        };
        Ok(subvisor_http::PaymentClients {
            cryptobot,
            nowpayments,
            // Set by the startup when a bot token is configured.
            stars: None,
        })
    }

    /// Secrets the webhook endpoints verify with.
    pub fn webhook_secrets(&self) -> subvisor_http::WebhookSecrets {
        subvisor_http::WebhookSecrets {
            cryptobot: self
                .payments
                .cryptobot
                .as_ref()
                .map(|c| (c.token.expose_secret().to_owned(), c.decimals)),
            nowpayments: self
                .payments
                .nowpayments
                .as_ref()
                .map(|n| (n.ipn_secret.expose_secret().to_owned(), n.decimals)),
        }
    }

    /// The ops token, if any (exposed only to the code that compares or sends it).
    pub fn ops_token(&self) -> Option<String> {
        self.ops
            .token
            .as_ref()
            .map(|t| t.expose_secret().trim().to_owned())
    }
}
