//! One struct per `[section]` of the configuration files, as written there,
//! with the defaults of the keys that may be left out.

use std::net::SocketAddr;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;
use subvisor_actors::provisioning::xray_api::ApiFlavor;

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
    /// `/terms`: the terms of service (a string, or `{ en = "…", ru = "…" }`);
    /// unset: a short default naming the support contact.
    pub terms: Option<super::LocalizedText>,
    /// `/paysupport`: help with payments (Telegram asks bots that sell with
    /// Stars for it); same forms and default as `terms`.
    pub paysupport: Option<super::LocalizedText>,
    /// Per-user budget of messages and button presses.
    #[serde(default = "default_user_rate")]
    pub user_rate_per_minute: u32,
    #[serde(default = "default_user_burst")]
    pub user_rate_burst: u32,
    /// Updates taken and not yet handled, all users together: beyond it the
    /// webhook answers 429 and polling stops fetching.
    #[serde(default = "default_max_pending")]
    pub max_pending_updates: usize,
    /// Updates taken and not yet handled for one user: beyond it the webhook
    /// answers 429 and polling waits until that user's queue has room.
    #[serde(default = "default_max_pending_per_user")]
    pub max_pending_per_user: usize,
    /// Top-up amounts offered by the bot, in minor units of the balance currency.
    #[serde(default = "default_topups")]
    pub topup_amounts_minor: Vec<i64>,
    /// Telegram Stars (on by default whenever a token is set).
    #[serde(default = "yes")]
    pub stars: bool,
    /// Where admin alerts go (unexpected payments, refund shortfalls, flagged
    /// orders): a chat id (a group of the admins); unset: each admin in `admins`.
    pub alerts_chat: Option<i64>,
    /// Also alert the admins (as above) of every purchase and top-up paid.
    #[serde(default)]
    pub purchase_alerts: bool,
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
            terms: None,
            paysupport: None,
            user_rate_per_minute: default_user_rate(),
            user_rate_burst: default_user_burst(),
            max_pending_updates: default_max_pending(),
            max_pending_per_user: default_max_pending_per_user(),
            topup_amounts_minor: default_topups(),
            stars: true,
            alerts_chat: None,
            purchase_alerts: false,
        }
    }
}

fn default_user_rate() -> u32 {
    30
}
fn default_user_burst() -> u32 {
    10
}
fn default_max_pending() -> usize {
    1024
}
fn default_max_pending_per_user() -> usize {
    20
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
    /// Days of access instead of money (where the balance cannot be spent);
    /// 0 = none. Not together with `bonus_minor`.
    #[serde(default)]
    pub bonus_days: u32,
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
    /// How often an instance renews (or tries to take) the lead of the singletons.
    #[serde(with = "humantime_serde")]
    pub leader_interval: Duration,
    /// How long one renewal of the lead lasts: a leader that has not renewed
    /// for this long stops acting, and a standby ends its database session
    /// and takes over. Worst-case failover: `leader_lease + leader_interval`.
    #[serde(with = "humantime_serde")]
    pub leader_lease: Duration,
    /// PostgreSQL `tcp_keepalives_idle` on the session that holds a lead (0: server default).
    #[serde(with = "humantime_serde")]
    pub db_keepalive_idle: Duration,
    /// PostgreSQL `tcp_keepalives_interval` on that session (0: server default).
    #[serde(with = "humantime_serde")]
    pub db_keepalive_interval: Duration,
    /// PostgreSQL `tcp_keepalives_count` on that session (0: server default).
    pub db_keepalive_count: u32,
    /// PostgreSQL `tcp_user_timeout` on that session (0: server default; Linux only).
    #[serde(with = "humantime_serde")]
    pub db_tcp_user_timeout: Duration,
}

/// `[workers]`: how background workers are restarted and judged.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkersSettings {
    #[serde(with = "humantime_serde")]
    pub restart_backoff_min: Duration,
    #[serde(with = "humantime_serde")]
    pub restart_backoff_max: Duration,
    /// A run this long counts as recovered (the back-off starts over).
    #[serde(with = "humantime_serde")]
    pub stable_after: Duration,
    /// How long a worker may be down before `/readyz` fails.
    #[serde(with = "humantime_serde")]
    pub ready_grace: Duration,
    /// This many restarts within `crash_loop_window` is a crash loop.
    pub crash_loop_restarts: u32,
    #[serde(with = "humantime_serde")]
    pub crash_loop_window: Duration,
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
    /// A request without `x-hwid` gets the stub (device limit).
    #[serde(default)]
    pub hwid_required: bool,
    /// Device limit of a subscription no plan set one for (grants, trials); 0: none.
    #[serde(default)]
    pub default_devices: u32,
    /// `support-url` header; unset: `telegram.support` when it is a URL or `@name`.
    #[serde(default)]
    pub support_url: Option<String>,
    /// `announce` header: one text, or a table per language (`en` the fallback).
    #[serde(default)]
    pub announce: subvisor_http::Announce,
    /// Start the base64 and xray lists with an entry "12 days left · 3.2 GB used".
    #[serde(default)]
    pub info_entries: bool,
    /// Where stub entries send people to renew; unset: the bot, else support.
    #[serde(default)]
    pub renew_url: Option<String>,
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
    /// The trial only for users who never paid for a plan (default true).
    #[serde(default = "yes")]
    pub only_new_users: bool,
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
    /// `"1 month"`, or one per language: `{ en = "1 month", ru = "1 месяц" }`.
    pub title: super::LocalizedText,
    /// Optional: shown on the payment screen and the Stars invoice (same forms).
    #[serde(default)]
    pub description: Option<super::LocalizedText>,
    pub days: u32,
    pub stars: Option<i64>,
    pub fiat: Option<FiatPrice>,
    /// Device limit (`x-hwid`) while this plan is the last applied; absent / 0: none.
    #[serde(default)]
    pub devices: u32,
    /// Traffic per period in GB (10^9 bytes; decimals allowed); absent: unlimited.
    #[serde(default)]
    pub traffic_gb: Option<f64>,
    /// The same in bytes (instead of `traffic_gb`; small allowances for tests).
    #[serde(default)]
    pub traffic_bytes: Option<u64>,
    /// When the used traffic starts again: none | day | week | month | period.
    #[serde(default)]
    pub traffic_reset: subvisor_actors::domain::TrafficReset,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FiatPrice {
    pub amount_minor: i64,
    pub currency: String,
}
