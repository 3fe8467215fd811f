//! Texts and formatting for the bot, in English and Russian.
//!
//! * [`Lang`]: the two languages, picked from Telegram's `language_code`.
//! * [`tr`], [`tr_with`] and the [`t!`](crate::t) macro: Fluent messages from
//!   `locales/{en,ru}/main.ftl`, compiled into the binary. Every key and the
//!   variables it takes are listed in [`KEYS`]; the variables named in
//!   [`NUMERIC_VARS`] drive plural selectors and must be passed as integers.
//!   A missing key or variable never panics: it is logged and the key (or the
//!   English text) is returned.
//! * [`html_escape`], [`format_money`], [`format_date`], [`format_bytes`]:
//!   values to pass into messages.
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

use chrono::{DateTime, Datelike, Timelike, Utc};
use fluent_templates::fluent_bundle::FluentValue;
use fluent_templates::{LanguageIdentifier, langid};

fluent_templates::static_loader! {
    static LOCALES = {
        locales: "./locales",
        fallback_language: "en",
        customise: |bundle| bundle.set_use_isolating(false),
    };
}

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
pub const NUMERIC_VARS: &[&str] = &["days", "days_left", "count", "ttl_minutes"];

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
    ("topup-title", &[]),
    ("topup-created", &["amount"]),
    // Referrals.
    ("referral", &["link", "bonus", "count"]),
    ("referral-no-bonus", &["link", "count"]),
    // Help and commands.
    ("help", &["support"]),
    ("help-no-support", &[]),
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
    ("notify-referral-bonus", &["amount"]),
    ("notify-payment-flagged", &[]),
    ("notify-payment-credited", &["amount", "balance"]),
    ("notify-payment-credited-underpaid", &["amount", "balance"]),
    ("notify-payment-returned", &["amount"]),
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
];

/// Escapes `&`, `<`, `>` and `"` for Telegram's HTML parse mode.
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// An amount in minor units for people: `XTR` → `150 ⭐`, `USD` → `$2.99`
/// (`2,99 $` in Russian), `RUB` → `299 ₽` or `299.50 ₽`, anything else →
/// `2.99 EUR`. Every currency but Stars is shown with two decimals (the
/// domain's `Money` keeps no per-currency exponent). Russian uses a decimal
/// comma; thousands are grouped (`1,234` / `1 234` with a no-break space).
/// The result contains no HTML-special characters for valid currency codes.
pub fn format_money(lang: Lang, minor: i64, currency: &str) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    if currency == "XTR" {
        return format!("{sign}{} ⭐", group_thousands(lang, abs));
    }
    let (int, frac) = (group_thousands(lang, abs / 100), abs % 100);
    let point = match lang {
        Lang::En => '.',
        Lang::Ru => ',',
    };
    let number = format!("{int}{point}{frac:02}");
    match (currency, lang) {
        ("USD", Lang::En) => format!("{sign}${number}"),
        ("USD", Lang::Ru) => format!("{sign}{number} $"),
        ("RUB", _) if frac == 0 => format!("{sign}{int} ₽"),
        ("RUB", _) => format!("{sign}{number} ₽"),
        (other, _) => format!("{sign}{number} {other}"),
    }
}

fn group_thousands(lang: Lang, n: u64) -> String {
    let (sep, min) = match lang {
        Lang::En => (',', 1_000),
        // Russian typography leaves four-digit numbers whole.
        Lang::Ru => ('\u{a0}', 10_000),
    };
    let digits = n.to_string();
    if n < min {
        return digits;
    }
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(sep);
        }
        out.push(c);
    }
    out
}

const MONTHS_EN: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const MONTHS_RU: [&str; 12] = [
    "янв.",
    "февр.",
    "мар.",
    "апр.",
    "мая",
    "июн.",
    "июл.",
    "авг.",
    "сент.",
    "окт.",
    "нояб.",
    "дек.",
];

/// A moment for people, in UTC: `23 Dec 2026, 14:05 UTC` /
/// `23 дек. 2026, 14:05 UTC`.
pub fn format_date(lang: Lang, at: DateTime<Utc>) -> String {
    let months = match lang {
        Lang::En => &MONTHS_EN,
        Lang::Ru => &MONTHS_RU,
    };
    let month = months.get(at.month0() as usize).copied().unwrap_or("?");
    format!(
        "{} {month} {}, {:02}:{:02} UTC",
        at.day(),
        at.year(),
        at.hour(),
        at.minute()
    )
}

/// A byte count for people, in binary units: `512 B`, `1.5 GiB`.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut shown = String::new();
    for (i, unit) in UNITS.iter().enumerate() {
        let divisor = 1u128 << (10 * (i + 1));
        let tenths = (u128::from(bytes) * 10 + divisor / 2) / divisor;
        shown = format!("{}.{} {unit}", tenths / 10, tenths % 10);
        if tenths < 10_240 {
            break;
        }
    }
    shown
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use chrono::TimeZone;

    use super::*;

    const FTL: [(Lang, &str); 2] = [
        (Lang::En, include_str!("../../locales/en/main.ftl")),
        (Lang::Ru, include_str!("../../locales/ru/main.ftl")),
    ];

    /// Message ids of an .ftl file with the `$variables` each one mentions.
    fn parse_ftl(src: &str) -> BTreeMap<String, BTreeSet<String>> {
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut current: Option<String> = None;
        for line in src.lines() {
            if line.starts_with('#') {
                continue;
            }
            if line.starts_with(|c: char| c.is_ascii_lowercase())
                && let Some((id, _)) = line.split_once(" =")
            {
                current = Some(id.trim().to_owned());
                out.entry(id.trim().to_owned()).or_default();
            }
            let Some(id) = &current else { continue };
            let mut rest = line;
            while let Some(at) = rest.find('$') {
                rest = rest.get(at + 1..).unwrap_or_default();
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                    .collect();
                out.entry(id.clone()).or_default().insert(name);
            }
        }
        out
    }

    /// A value for each variable: `2` for numbers, `«name»` for strings.
    fn sample_args<'a>(vars: &[&'a str]) -> Vec<(&'a str, Arg)> {
        vars.iter()
            .map(|v| {
                let value = if NUMERIC_VARS.contains(v) {
                    Arg::Int(2)
                } else {
                    Arg::Str(format!("«{v}»"))
                };
                (*v, value)
            })
            .collect()
    }

    #[test]
    fn files_define_exactly_the_listed_keys_and_variables() {
        let expected: BTreeMap<String, BTreeSet<String>> = KEYS
            .iter()
            .map(|(k, vars)| (k.to_string(), vars.iter().map(|v| v.to_string()).collect()))
            .collect();
        assert_eq!(expected.len(), KEYS.len(), "duplicate keys in KEYS");
        for (lang, src) in FTL {
            let found = parse_ftl(src);
            for (key, vars) in &expected {
                assert_eq!(found.get(key), Some(vars), "{lang}: {key}");
            }
            for key in found.keys() {
                assert!(expected.contains_key(key), "{lang}: {key} is not in KEYS");
            }
        }
    }

    #[test]
    fn every_key_renders_in_both_languages() {
        for lang in Lang::ALL.iter().copied() {
            for (key, vars) in KEYS {
                let args = sample_args(vars);
                let text = tr_with(lang, key, &args);
                assert_ne!(text, *key, "{lang}: {key} did not render");
                assert!(!text.trim().is_empty(), "{lang}: {key} is empty");
                assert!(!text.contains(['{', '}']), "{lang}: {key}: {text}");
                for (name, value) in &args {
                    if let Arg::Str(s) = value {
                        assert!(text.contains(s.as_str()), "{lang}: {key} lost ${name}");
                    }
                }
                if vars.is_empty() {
                    assert_eq!(tr(lang, key), text);
                }
            }
        }
    }

    #[test]
    fn russian_is_really_russian() {
        let same = KEYS.iter().filter(|(key, vars)| {
            let args = sample_args(vars);
            tr_with(Lang::En, key, &args) == tr_with(Lang::Ru, key, &args)
        });
        // Only language-neutral labels may be identical.
        let neutral = [
            "btn-plan",
            "invoice-title",
            "invoice-label",
            "btn-provider-stars",
            "btn-provider-cryptobot",
            "btn-topup-amount",
            "btn-open-user",
        ];
        for (key, _) in same {
            assert!(neutral.contains(key), "{key} is not translated");
        }
    }

    #[test]
    fn only_telegram_html_is_used() {
        let allowed = ["b", "/b", "i", "/i", "code", "/code", "/a"];
        let plain = ["btn-", "cmd-", "invoice-", "precheckout-"];
        for lang in Lang::ALL.iter().copied() {
            for (key, vars) in KEYS {
                let text = tr_with(lang, key, &sample_args(vars));
                if plain.iter().any(|p| key.starts_with(p)) {
                    assert!(!text.contains(['<', '>']), "{lang}: {key} has markup");
                    continue;
                }
                for (at, _) in text.match_indices('&') {
                    let entity = text.get(at..).unwrap_or_default();
                    assert!(
                        ["&lt;", "&gt;", "&amp;", "&quot;"]
                            .iter()
                            .any(|e| entity.starts_with(e)),
                        "{lang}: {key}: bare '&'"
                    );
                }
                let mut rest = text.as_str();
                while let Some(at) = rest.find('<') {
                    let tail = rest.get(at + 1..).unwrap_or_default();
                    let Some(end) = tail.find('>') else {
                        panic!("{lang}: {key}: unclosed tag");
                    };
                    let tag = tail.get(..end).unwrap_or_default();
                    assert!(
                        allowed.contains(&tag) || tag.starts_with("a href=\""),
                        "{lang}: {key}: <{tag}>"
                    );
                    rest = tail.get(end..).unwrap_or_default();
                }
            }
        }
    }

    #[test]
    fn russian_plurals() {
        let days = |n: i64| t!(Lang::Ru, "trial-started", days = n);
        assert!(days(1).contains("1 день "), "{}", days(1));
        assert!(days(2).contains("2 дня "), "{}", days(2));
        assert!(days(5).contains("5 дней "), "{}", days(5));
        assert!(days(11).contains("11 дней "), "{}", days(11));
        assert!(days(21).contains("21 день "), "{}", days(21));
        assert!(days(24).contains("24 дня "), "{}", days(24));
        let mins = |n: i64| {
            t!(
                Lang::Ru,
                "pay-with-link",
                provider = "X",
                amount = "Y",
                ttl_minutes = n
            )
        };
        assert!(mins(1).contains("1 минуту."), "{}", mins(1));
        assert!(mins(3).contains("3 минуты."), "{}", mins(3));
        assert!(mins(30).contains("30 минут."), "{}", mins(30));
    }

    #[test]
    fn english_plurals() {
        assert!(t!(Lang::En, "trial-started", days = 1).contains("1 day of"));
        assert!(t!(Lang::En, "trial-started", days = 3).contains("3 days of"));
        assert_eq!(t!(Lang::En, "btn-grant", days = 30u32), "+30 days");
        assert_eq!(t!(Lang::En, "btn-grant", days = 1), "+1 day");
    }

    #[test]
    fn urls_come_out_untouched() {
        let url = "https://sub.example.com/s/AbC_123-xyz?x=1&amp;y=2";
        let vless = "vless://0b5f9c1e-1111-4222-8333-944455556666@1.2.3.4:443?security=reality&amp;sni=www.example.com#de-1";
        for lang in Lang::ALL.iter().copied() {
            for text in [
                t!(lang, "sub-url", url = url),
                t!(lang, "link-reset", url = vless),
                t!(lang, "referral", link = url, bonus = "$1.00", count = 3),
            ] {
                assert!(!text.contains(['\u{2068}', '\u{2069}']), "{text:?}");
                assert!(text.contains(url) || text.contains(vless), "{text:?}");
            }
        }
        assert!(t!(Lang::En, "sub-url", url = url).contains(&format!("<code>{url}</code>")));
    }

    #[test]
    fn missing_keys_and_variables_do_not_panic() {
        assert_eq!(tr(Lang::Ru, "no-such-key"), "no-such-key");
        assert_eq!(tr(Lang::En, "no-such-key"), "no-such-key");
        // A missing variable is an error, not a half-rendered text.
        assert_eq!(tr(Lang::Ru, "sub-url"), "sub-url");
    }

    #[test]
    fn languages_from_telegram_codes() {
        for (code, lang) in [
            (Some("ru"), Lang::Ru),
            (Some("ru-RU"), Lang::Ru),
            (Some("RU"), Lang::Ru),
            (Some("uk"), Lang::Ru),
            (Some("be"), Lang::Ru),
            (Some("kk"), Lang::Ru),
            (Some("en"), Lang::En),
            (Some("en-US"), Lang::En),
            (Some("de"), Lang::En),
            (Some("rus"), Lang::En),
            (Some(""), Lang::En),
            (None, Lang::En),
        ] {
            assert_eq!(Lang::from_code(code), lang, "{code:?}");
        }
        for lang in Lang::ALL.iter().copied() {
            assert_eq!(lang.code().parse::<Lang>(), Ok(lang));
            assert_eq!(lang.to_string(), lang.code());
        }
        assert_eq!(" RU ".parse::<Lang>(), Ok(Lang::Ru));
        assert!("de".parse::<Lang>().is_err());
    }

    #[test]
    fn money() {
        use Lang::{En, Ru};
        let cases = [
            (En, 150, "XTR", "150 ⭐"),
            (Ru, 150, "XTR", "150 ⭐"),
            (En, 299, "USD", "$2.99"),
            (Ru, 299, "USD", "2,99 $"),
            (En, 5, "USD", "$0.05"),
            (En, -299, "USD", "-$2.99"),
            (En, 29_900, "RUB", "299 ₽"),
            (Ru, 29_900, "RUB", "299 ₽"),
            (En, 29_950, "RUB", "299.50 ₽"),
            (Ru, 29_950, "RUB", "299,50 ₽"),
            (En, 299, "EUR", "2.99 EUR"),
            (Ru, 299, "EUR", "2,99 EUR"),
            (En, 1_050, "USDT", "10.50 USDT"),
            (En, 123_456_789, "USD", "$1,234,567.89"),
            (Ru, 123_456_789, "USD", "1\u{a0}234\u{a0}567,89 $"),
            (En, 1_500, "XTR", "1,500 ⭐"),
            (Ru, 1_500, "XTR", "1500 ⭐"),
            (Ru, 15_000, "XTR", "15\u{a0}000 ⭐"),
        ];
        for (lang, minor, cur, want) in cases {
            assert_eq!(format_money(lang, minor, cur), want, "{lang} {minor} {cur}");
        }
        // Extremes do not overflow.
        assert!(format_money(En, i64::MIN, "USD").starts_with("-$92,233,720,368,547,758.08"));
    }

    #[test]
    fn dates() {
        let at = Utc.with_ymd_and_hms(2026, 12, 23, 14, 5, 0).single();
        let at = at.unwrap_or_default();
        assert_eq!(format_date(Lang::En, at), "23 Dec 2026, 14:05 UTC");
        assert_eq!(format_date(Lang::Ru, at), "23 дек. 2026, 14:05 UTC");
        let may = Utc.with_ymd_and_hms(2027, 5, 1, 0, 0, 0).single();
        assert_eq!(
            format_date(Lang::Ru, may.unwrap_or_default()),
            "1 мая 2027, 00:00 UTC"
        );
    }

    #[test]
    fn bytes() {
        assert_eq!(format_bytes(0), "0 B");
        assert_eq!(format_bytes(1023), "1023 B");
        assert_eq!(format_bytes(1024), "1.0 KiB");
        assert_eq!(format_bytes(1536), "1.5 KiB");
        assert_eq!(format_bytes(3 * (1 << 29)), "1.5 GiB");
        assert_eq!(format_bytes((1 << 20) - 1), "1.0 MiB");
        assert_eq!(format_bytes(u64::MAX), "16.0 EiB");
    }

    #[test]
    fn escaping() {
        assert_eq!(
            html_escape(r#"<b>"Tom" & Jerry</b>"#),
            "&lt;b&gt;&quot;Tom&quot; &amp; Jerry&lt;/b&gt;"
        );
        assert_eq!(html_escape("Привет 👋"), "Привет 👋");
    }
}
