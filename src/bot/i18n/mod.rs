//! Texts and formatting for the bot, in English and Russian.
//!
//! * [`Lang`]: the two languages, picked from Telegram's `language_code`.
//! * [`tr`], [`tr_with`] and the [`t!`](crate::t) macro: Fluent messages from
//!   `locales/{en,ru}/main.ftl`, compiled into the binary. Every key and the
//!   variables it takes are listed in [`KEYS`]; the variables named in
//!   [`NUMERIC_VARS`] drive plural selectors and must be passed as integers.
//!   A missing key or variable never panics: it is logged and the key (or the
//!   English text) is returned.
//! * [`html_escape`], [`format_money`], [`format_date`], [`format_bytes`]
//!   (in [`mod@format`]): values to pass into messages.
//!
//! Messages are Telegram HTML (`<b>`, `<i>`, `<code>`, `<a href>` only) and
//! variables are inserted verbatim, so callers pass user-controlled values
//! through [`html_escape`] first. The `btn-*`, `cmd-*`, `invoice-*` and
//! `precheckout-*` messages are plain text (button labels, the command menu,
//! invoices, checkout errors): pass their variables unescaped.
//!
//! Fluent's Unicode isolation marks are turned off: they would end up inside
//! the links and URLs users copy.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use fluent_templates::fluent_bundle::FluentValue;
use fluent_templates::{LanguageIdentifier, langid};

fluent_templates::static_loader! {
    static LOCALES = {
        locales: "./locales",
        fallback_language: "en",
        customise: |bundle| bundle.set_use_isolating(false),
    };
}

pub mod format;

pub use self::format::{format_bytes, format_date, format_money, html_escape};

static EN: LanguageIdentifier = langid!("en");
static RU: LanguageIdentifier = langid!("ru");

/// A language the bot speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lang {
    En,
    Ru,
}

impl Lang {
    pub const ALL: &'static [Lang] = &[Lang::En, Lang::Ru];

    /// The language for Telegram's `language_code` (`"ru"`, `"ru-RU"`, …):
    /// Russian for Russian, Ukrainian, Belarusian and Kazakh speakers,
    /// English for everyone else.
    pub fn from_code(code: Option<&str>) -> Lang {
        let primary = code
            .and_then(|c| c.trim().split(['-', '_']).next())
            .unwrap_or_default()
            .to_ascii_lowercase();
        match primary.as_str() {
            "ru" | "uk" | "be" | "kk" => Lang::Ru,
            _ => Lang::En,
        }
    }

    /// The ISO 639-1 code: `"en"` or `"ru"`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ru => "ru",
        }
    }

    /// The language's name in itself, for the language picker.
    pub fn native_name(self) -> &'static str {
        match self {
            Lang::En => "🇬🇧 English",
            Lang::Ru => "🇷🇺 Русский",
        }
    }

    fn langid(self) -> &'static LanguageIdentifier {
        match self {
            Lang::En => &EN,
            Lang::Ru => &RU,
        }
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A language code other than `en` or `ru`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown language {0:?} (expected \"en\" or \"ru\")")]
pub struct UnknownLang(pub String);

impl FromStr for Lang {
    type Err = UnknownLang;
    /// Exactly one of the [`Lang::code`]s, ignoring case and surrounding space.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let code = s.trim();
        Lang::ALL
            .iter()
            .copied()
            .find(|l| l.code().eq_ignore_ascii_case(code))
            .ok_or_else(|| UnknownLang(s.to_owned()))
    }
}

/// A value for a message variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    Str(String),
    /// A number: selects plural forms (`1 day`, `2 дня`).
    Int(i64),
}

impl From<&str> for Arg {
    fn from(s: &str) -> Self {
        Arg::Str(s.to_owned())
    }
}
impl From<String> for Arg {
    fn from(s: String) -> Self {
        Arg::Str(s)
    }
}
impl From<&String> for Arg {
    fn from(s: &String) -> Self {
        Arg::Str(s.clone())
    }
}
impl From<i64> for Arg {
    fn from(n: i64) -> Self {
        Arg::Int(n)
    }
}
impl From<i32> for Arg {
    fn from(n: i32) -> Self {
        Arg::Int(n.into())
    }
}
impl From<u32> for Arg {
    fn from(n: u32) -> Self {
        Arg::Int(n.into())
    }
}
/// Saturates at `i64::MAX`.
impl From<u64> for Arg {
    fn from(n: u64) -> Self {
        Arg::Int(i64::try_from(n).unwrap_or(i64::MAX))
    }
}
/// Saturates at `i64::MAX`.
impl From<usize> for Arg {
    fn from(n: usize) -> Self {
        Arg::Int(i64::try_from(n).unwrap_or(i64::MAX))
    }
}

/// The message `key` in `lang`, for messages without variables.
pub fn tr(lang: Lang, key: &str) -> String {
    tr_with(lang, key, &[])
}

/// The message `key` in `lang` with variables, e.g.
/// `tr_with(lang, "trial-started", &[("days", 3.into())])`.
///
/// Falls back to English, then to the key itself (logged with `warn`) when
/// the key is missing or a variable it needs was not passed.
pub fn tr_with(lang: Lang, key: &str, args: &[(&str, Arg)]) -> String {
    let map: HashMap<&str, FluentValue<'_>> = args
        .iter()
        .map(|(name, value)| {
            let value = match value {
                Arg::Str(s) => FluentValue::from(s.as_str()),
                Arg::Int(n) => FluentValue::from(*n),
            };
            (*name, value)
        })
        .collect();
    let mut tried = vec![lang];
    if lang != Lang::En {
        tried.push(Lang::En);
    }
    for l in tried {
        match LOCALES.lookup_single_language(l.langid(), key, Some(&map)) {
            Ok(text) => return text,
            Err(error) => {
                tracing::warn!(key, lang = l.code(), %error, "missing or broken translation");
            }
        }
    }
    key.to_owned()
}

/// `t!(lang, "key")` or `t!(lang, "key", days = 3, url = url)`: shorthand for
/// [`tr`] / [`tr_with`](crate::bot::i18n::tr_with); values go through
/// [`Arg::from`](crate::bot::i18n::Arg).
#[macro_export]
macro_rules! t {
    ($lang:expr, $key:expr $(,)?) => {
        $crate::bot::i18n::tr($lang, $key)
    };
    ($lang:expr, $key:expr, $($name:ident = $value:expr),+ $(,)?) => {
        $crate::bot::i18n::tr_with(
            $lang,
            $key,
            &[$((stringify!($name), $crate::bot::i18n::Arg::from($value))),+],
        )
    };
}

/// Variables that select plural forms: pass them as integers ([`Arg::Int`]).
pub const NUMERIC_VARS: &[&str] = &["days", "days_left", "count", "ttl_minutes", "hours"];

/// Every message key with the variables it uses (same in both languages).
pub const KEYS: &[(&str, &[&str])] = &[
    // Buttons (plain text).
    ("btn-buy", &[]),
    ("btn-renew", &[]),
    ("btn-my-sub", &[]),
    ("btn-trial", &[]),
    ("btn-balance", &[]),
    ("btn-topup", &[]),
    ("btn-referral", &[]),
    ("btn-help", &[]),
    ("btn-language", &[]),
    ("btn-back", &[]),
    ("btn-menu", &[]),
    ("btn-reissue", &[]),
    ("btn-reset-link", &[]),
    ("btn-links", &[]),
    ("btn-confirm", &[]),
    ("btn-cancel", &[]),
    ("btn-pay-url", &["provider"]),
    ("btn-plan", &["title", "price"]),
    ("btn-provider-stars", &[]),
    ("btn-provider-cryptobot", &[]),
    ("btn-provider-nowpayments", &[]),
    ("btn-provider-balance", &["balance"]),
    ("btn-topup-amount", &["amount"]),
    ("btn-grant", &["days"]),
    ("btn-revoke", &[]),
    ("btn-refund", &["amount"]),
    ("btn-prev", &[]),
    ("btn-next", &[]),
    ("btn-open-user", &["user"]),
    // Main menu: the greeting plus one status line.
    ("menu-greeting", &["name"]),
    ("status-active", &["expires", "days_left"]),
    ("status-expired", &["expired_at"]),
    ("status-revoked", &[]),
    ("status-none", &[]),
    // Buying.
    ("plans-title", &[]),
    ("plan-line", &["title", "days", "price"]),
    ("pay-method-title", &["plan", "days", "price"]),
    ("invoice-title", &["plan"]),
    ("invoice-description", &["plan", "days"]),
    ("invoice-label", &["plan"]),
    ("pay-with-link", &["provider", "amount", "ttl_minutes"]),
    ("order-failed", &[]),
    ("order-paid", &[]),
    ("provider-unavailable", &[]),
    ("insufficient-funds", &["balance", "price"]),
    ("purchases-paused", &[]),
    // Access and links.
    ("activated", &["expires", "days"]),
    ("extended", &["expires", "days"]),
    ("links-header", &[]),
    ("sub-url", &["url"]),
    ("howto", &[]),
    ("qr-caption", &[]),
    // My subscription.
    ("sub-title", &[]),
    ("sub-active", &["expires", "days_left"]),
    ("sub-expired", &["expired_at"]),
    ("sub-revoked", &[]),
    ("sub-none", &[]),
    ("traffic-used", &["used"]),
    // Reissue and reset.
    ("reissue-confirm", &[]),
    ("reissued", &[]),
    ("reset-link-confirm", &[]),
    ("link-reset", &["url"]),
    ("no-subscription", &[]),
    // Trial.
    ("trial-started", &["days"]),
    ("trial-used", &[]),
    ("trial-disabled", &[]),
    // Balance.
    ("balance-title", &["balance"]),
    ("balance-topup-hint", &[]),
    ("topup-title", &[]),
    ("topup-created", &["amount"]),
    // Referrals.
    ("referral", &["link", "bonus", "count"]),
    ("referral-no-bonus", &["link", "count"]),
    ("referral-days", &["link", "days", "count"]),
    // Help and commands.
    ("help-title", &[]),
    ("help-buy", &[]),
    ("help-sub", &[]),
    ("help-reissue", &[]),
    ("help-trial", &[]),
    ("help-balance", &[]),
    ("help-referral", &[]),
    ("help-language", &[]),
    ("help-support", &["support"]),
    ("cmd-start", &[]),
    ("cmd-help", &[]),
    ("cmd-menu", &[]),
    ("cmd-sub", &[]),
    // Language.
    ("language-title", &[]),
    ("language-set", &[]),
    // Errors.
    ("button-expired", &[]),
    ("rate-limited", &[]),
    ("error-generic", &[]),
    ("unknown-command", &[]),
    // Telegram Stars pre-checkout refusals (plain text).
    ("precheckout-expired", &[]),
    ("precheckout-paid", &[]),
    ("precheckout-mismatch", &[]),
    ("precheckout-paused", &[]),
    ("precheckout-unknown", &[]),
    // Notifications.
    ("notify-activated", &["expires"]),
    ("notify-extended", &["expires", "days"]),
    ("notify-expired", &[]),
    ("notify-revoked", &[]),
    ("notify-reissued", &[]),
    ("notify-remind-3d", &["expires"]),
    ("notify-remind-1d", &["expires"]),
    ("notify-refunded", &["amount"]),
    ("notify-partially-paid", &[]),
    ("notify-topup", &["amount", "balance"]),
    // Auto-renewal from the balance.
    ("btn-auto-renew-on", &[]),
    ("btn-auto-renew-off", &[]),
    ("auto-renew-enabled", &["plan", "price", "hours"]),
    ("auto-renew-disabled", &[]),
    ("auto-renew-no-plan", &[]),
    (
        "notify-auto-renewed",
        &["days", "price", "balance", "expires"],
    ),
    ("notify-auto-renew-short", &["price", "balance", "expires"]),
    ("notify-auto-renew-unpayable", &["expires"]),
    ("notify-referral-bonus", &["amount"]),
    ("notify-referral-days", &["days", "expires"]),
    ("notify-payment-flagged", &[]),
    ("notify-payment-credited", &["amount", "balance"]),
    ("notify-payment-credited-underpaid", &["amount", "balance"]),
    ("notify-payment-returned", &["amount"]),
    // Traffic.
    ("notify-traffic-low", &["used", "total"]),
    ("notify-traffic-exhausted", &["total"]),
    ("notify-traffic-exhausted-resets", &["total", "resets"]),
    ("notify-traffic-added", &["amount"]),
    ("notify-traffic-restored", &[]),
    ("card-traffic", &["bar", "used", "total"]),
    ("card-traffic-resets", &["bar", "used", "total", "resets"]),
    ("card-traffic-limited", &[]),
    ("btn-buy-traffic", &[]),
    ("traffic-packs-title", &[]),
    ("admin-traffic", &["used", "total"]),
    ("btn-admin-traffic-reset", &[]),
    ("admin-traffic-reset-done", &[]),
    ("admin-traffic-reset-confirm", &["user"]),
    ("admin-stats-traffic", &["limited", "today", "month"]),
    ("invoice-description-pack", &["plan", "size"]),
    ("pack-line", &["title", "size", "price"]),
    ("pack-pay-title", &["title", "size", "price"]),
    ("payment-delayed", &[]),
    // Admin alerts (HTML, values escaped).
    (
        "alert-payment-credited",
        &["user", "amount", "reason", "order"],
    ),
    (
        "alert-payment-returned",
        &["user", "amount", "reason", "charge"],
    ),
    ("alert-payment-flagged", &["order", "user", "flag"]),
    ("alert-unknown-order", &["provider", "payment", "amount"]),
    (
        "alert-refund-shortfall",
        &["user", "order", "what", "shortfall"],
    ),
    (
        "alert-worker-crash-loop",
        &["worker", "restarts", "failure"],
    ),
    // Admin.
    (
        "admin-stats",
        &["users", "active", "blocked", "revenue", "nodes"],
    ),
    ("admin-users-title", &["page", "pages", "total"]),
    (
        "admin-user",
        &[
            "user", "username", "status", "balance", "created", "orders", "audit",
        ],
    ),
    ("admin-granted", &["user", "days", "expires"]),
    ("admin-revoked", &["user"]),
    ("admin-revoke-confirm", &["user"]),
    ("admin-refund-confirm", &["order", "amount"]),
    ("admin-refunded", &["order"]),
    ("admin-refund-failed", &["reason"]),
    ("admin-broadcast-usage", &[]),
    ("admin-broadcast-preview", &["count", "text"]),
    (
        "admin-broadcast-progress",
        &["done", "total", "delivered", "blocked", "failed"],
    ),
    (
        "admin-broadcast-report",
        &["total", "delivered", "blocked", "failed"],
    ),
    ("admin-broadcast-cancelled", &[]),
    ("admin-maintenance-on", &[]),
    ("admin-maintenance-off", &[]),
    ("admin-maintenance-usage", &[]),
    ("admin-usage-grant", &[]),
    ("admin-usage-revoke", &[]),
    ("admin-usage-user", &[]),
    ("admin-user-not-found", &["user"]),
    ("admin-cancelled", &[]),
    // Devices (x-hwid).
    ("btn-devices", &[]),
    ("btn-device-remove", &["name"]),
    ("btn-reset-devices", &["count"]),
    ("devices-title-limit", &["count", "limit"]),
    ("devices-title", &["count"]),
    ("devices-none", &[]),
    ("device-line", &["name", "os", "seen"]),
    ("device-unnamed", &["id"]),
    ("device-remove-confirm", &["name"]),
    ("device-removed", &[]),
    ("admin-devices-reset-confirm", &["user"]),
    ("admin-devices-reset", &["user", "count"]),
    // The status card.
    ("btn-connect", &[]),
    ("btn-copy-link", &[]),
    ("btn-qr", &[]),
    ("btn-keys", &[]),
    ("btn-apps", &[]),
    ("card-devices-limit", &["count", "limit"]),
    ("card-devices", &["count"]),
    ("card-connect-hint", &[]),
    ("link-title", &["url"]),
    ("keys-title", &[]),
    ("keys-none", &[]),
    ("apps-title", &[]),
    ("apps-line", &["platform", "apps"]),
    // Support.
    ("btn-support", &[]),
    ("cmd-paysupport", &[]),
    ("cmd-terms", &[]),
    ("support-contact", &["support"]),
    ("support-contact-none", &[]),
    ("terms-default", &[]),
    ("paysupport-default", &[]),
    ("media-reply", &[]),
    // Bans and the trial for new users.
    ("banned", &[]),
    ("trial-new-users", &[]),
    ("admin-banned", &["user"]),
    ("admin-unbanned", &["user"]),
    ("admin-usage-ban", &[]),
    // One open invoice per purchase.
    ("invoice-below", &[]),
    ("invoice-paid", &[]),
    ("precheckout-superseded", &[]),
    // Admin screens for people.
    ("btn-back-to-users", &[]),
    ("admin-sub-active", &["expires"]),
    ("admin-sub-expired", &["expires"]),
    ("admin-sub-revoked", &[]),
    ("admin-order-topup", &[]),
    ("admin-provider-balance", &[]),
    ("admin-order-pending", &[]),
    ("admin-order-paid", &[]),
    ("admin-order-expired", &[]),
    ("admin-order-failed", &[]),
    ("admin-order-refunded", &[]),
    ("admin-by-user", &[]),
    ("admin-by-admin", &["id"]),
    ("admin-by-ops", &[]),
    ("admin-by-system", &[]),
    ("admin-action-first-contact", &[]),
    ("admin-action-create-order", &[]),
    ("admin-action-close-order", &[]),
    ("admin-action-apply-payment", &[]),
    ("admin-action-payment-credited", &[]),
    ("admin-action-payment-return-queued", &[]),
    ("admin-action-payment-returned", &[]),
    ("admin-action-stray-payment-flagged", &[]),
    ("admin-action-flag-order", &[]),
    ("admin-action-refund-order", &[]),
    ("admin-action-adjust-balance", &[]),
    ("admin-action-grant-days", &[]),
    ("admin-action-revoke", &[]),
    ("admin-action-expire", &[]),
    ("admin-action-start-trial", &[]),
    ("admin-action-reissue", &[]),
    ("admin-action-rotate-sub-token", &[]),
    ("admin-action-referral-bonus", &[]),
    ("admin-action-referral-reversed", &[]),
    ("admin-action-device-added", &[]),
    ("admin-action-device-removed", &[]),
    ("admin-action-devices-reset", &[]),
    ("admin-action-gift-created", &[]),
    ("admin-action-gift-redeemed", &[]),
    ("admin-action-gift-voided", &[]),
    ("admin-action-promo-used", &[]),
    ("admin-action-reset-traffic", &[]),
    ("admin-action-set-auto-renew", &[]),
    ("admin-action-traffic-limited", &[]),
    ("admin-action-traffic-unlimited", &[]),
    ("admin-grant-bad-arguments", &[]),
    ("admin-grant-bad-user", &[]),
    ("admin-grant-bad-days", &[]),
    ("admin-grant-days-range", &["max"]),
    ("admin-grant-unknown-confirm", &["user", "days"]),
    ("admin-grant-already", &["user"]),
    ("admin-node-up", &[]),
    ("admin-node-down", &[]),
    ("admin-node-unknown", &[]),
    ("alert-purchase", &["user", "what", "amount", "provider"]),
    // Promo codes.
    ("btn-promo", &[]),
    ("btn-promo-retry", &[]),
    ("promo-ask", &["plan"]),
    ("promo-applied", &["code", "plan", "prices"]),
    ("promo-price-line", &["provider", "list", "price"]),
    ("promo-days-redeemed", &["expires"]),
    ("promo-refused-unknown", &[]),
    ("promo-refused-disabled", &[]),
    ("promo-refused-expired", &[]),
    ("promo-refused-used-up", &[]),
    ("promo-refused-already-used", &[]),
    ("promo-refused-wrong-plan", &[]),
    ("promo-refused-not-first-purchase", &[]),
    ("promo-refused-wrong-currency", &[]),
    ("promo-refused-wrong-kind", &[]),
    ("admin-promo-usage", &[]),
    ("admin-promo-none", &[]),
    ("admin-promo-list", &["lines"]),
    ("admin-promo-created", &["line"]),
    ("admin-promo-disabled", &["code"]),
    ("admin-promo-not-found", &["code"]),
    ("admin-promo-error", &["reason"]),
    ("admin-promo-days", &["days"]),
    // Gifts.
    ("btn-gift", &[]),
    ("gift-title", &[]),
    ("gift-pay-title", &["plan", "days", "price"]),
    ("gift-paid", &[]),
    ("gift-activated", &["days", "expires"]),
    ("gift-unknown", &[]),
    ("gift-already-redeemed", &[]),
    ("gift-voided", &[]),
    ("notify-gift-ready", &["link", "days"]),
    ("notify-gift-redeemed", &["days"]),
    ("notify-promo-used-up", &[]),
    ("notify-gift-refund-refused", &[]),
];

#[cfg(test)]
mod tests;
