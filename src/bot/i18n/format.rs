//! Values for people, to pass into messages: HTML escaping, money, dates
//! and byte counts in each [`Lang`]'s conventions.

use chrono::{DateTime, Datelike, Timelike, Utc};

use super::Lang;

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

/// A moment for people, in the time zone `tz` (the configured one, see
/// [`Locale`](crate::bot::locale::Locale)), without naming it:
/// `23 Dec 2026, 14:05` / `23 дек. 2026, 14:05`.
pub fn format_date(lang: Lang, tz: &jiff::tz::TimeZone, at: DateTime<Utc>) -> String {
    let months = match lang {
        Lang::En => &MONTHS_EN,
        Lang::Ru => &MONTHS_RU,
    };
    let local = jiff::Timestamp::from_second(at.timestamp())
        .map(|ts| tz.to_datetime(ts))
        .ok();
    let Some(local) = local else {
        // Outside jiff's range (years beyond ±9999): UTC as chrono has it.
        let month = months.get(at.month0() as usize).copied().unwrap_or("?");
        return format!(
            "{} {month} {}, {:02}:{:02}",
            at.day(),
            at.year(),
            at.hour(),
            at.minute()
        );
    };
    let month = usize::try_from(local.month() - 1)
        .ok()
        .and_then(|m| months.get(m))
        .copied()
        .unwrap_or("?");
    format!(
        "{} {month} {}, {:02}:{:02}",
        local.day(),
        local.year(),
        local.hour(),
        local.minute()
    )
}

/// A byte count for people, in binary units: `512 B`, `1.5 GiB` /
/// `512 Б`, `1,5 ГиБ`.
pub fn format_bytes(lang: Lang, bytes: u64) -> String {
    let (byte, units, point) = match lang {
        Lang::En => ("B", ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"], '.'),
        Lang::Ru => ("Б", ["КиБ", "МиБ", "ГиБ", "ТиБ", "ПиБ", "ЭиБ"], ','),
    };
    if bytes < 1024 {
        return format!("{bytes} {byte}");
    }
    let mut shown = String::new();
    for (i, unit) in units.iter().enumerate() {
        let divisor = 1u128 << (10 * (i + 1));
        let tenths = (u128::from(bytes) * 10 + divisor / 2) / divisor;
        shown = format!("{}{point}{} {unit}", tenths / 10, tenths % 10);
        if tenths < 10_240 {
            break;
        }
    }
    shown
}
