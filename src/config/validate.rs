//! Validation: every check [`Settings::load`] runs before handing out the
//! settings (and so what `subvisor check-config` reports), each naming the key
//! at fault.

use std::time::Duration;

use secrecy::ExposeSecret;
use subvisor_actors::domain::Currency;
use subvisor_actors::store::backend_of;

use super::{ConfigError, Settings, TelegramMode, invalid};

impl Settings {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
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
        self.bot_locale()?;
        if self.referral.bonus_minor < 0 {
            return Err(invalid("referral.bonus_minor", "must not be negative"));
        }
        if self.referral.bonus_days > 3660 {
            return Err(invalid("referral.bonus_days", "must be 0..=3660"));
        }
        if self.referral.bonus_days > 0 && self.referral.bonus_minor > 0 {
            return Err(invalid(
                "referral.bonus_days",
                "set bonus_days or bonus_minor, not both (the bonus is days or money)",
            ));
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
        self.auto_renew.validate(&self.plans)?;
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
        self.traffic_packs()?;
        self.nodes()?;
        if self.cluster.leader_interval < Duration::from_millis(50) {
            return Err(invalid("cluster.leader_interval", "must be at least 50ms"));
        }
        if self.cluster.leader_lease < 2 * self.cluster.leader_interval {
            return Err(invalid(
                "cluster.leader_lease",
                "must be at least twice cluster.leader_interval",
            ));
        }
        for (key, value) in [
            ("cluster.db_keepalive_idle", self.cluster.db_keepalive_idle),
            (
                "cluster.db_keepalive_interval",
                self.cluster.db_keepalive_interval,
            ),
        ] {
            if !value.is_zero() && value < Duration::from_secs(1) {
                return Err(invalid(key, "must be 0 (server default) or at least 1s"));
            }
        }
        let w = &self.workers;
        if w.restart_backoff_min.is_zero() {
            return Err(invalid(
                "workers.restart_backoff_min",
                "must be more than 0",
            ));
        }
        if w.restart_backoff_max < w.restart_backoff_min {
            return Err(invalid(
                "workers.restart_backoff_max",
                "must be at least workers.restart_backoff_min",
            ));
        }
        if w.crash_loop_restarts == 0 {
            return Err(invalid("workers.crash_loop_restarts", "must be at least 1"));
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
        self.validate_subscription_links()
    }

    /// Links served in headers and entry names: http(s) URLs of visible ASCII.
    fn validate_subscription_links(&self) -> Result<(), ConfigError> {
        let links = [
            ("subscription.support_url", &self.subscription.support_url),
            ("subscription.renew_url", &self.subscription.renew_url),
        ];
        for (key, url) in links {
            if let Some(url) = url
                && !((url.starts_with("http://") || url.starts_with("https://"))
                    && url.bytes().all(|b| b.is_ascii_graphic()))
            {
                return Err(invalid(key, "must be an http:// or https:// URL"));
            }
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
        if t.max_pending_per_user == 0 || t.max_pending_updates < t.max_pending_per_user {
            return Err(invalid(
                "telegram.max_pending_updates",
                "max_pending_per_user must be at least 1 and at most max_pending_updates",
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
}
