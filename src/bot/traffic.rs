//! Traffic in the bot: the notices (80 %, 100 %, pack added, access back) and
//! the card's usage line ("▰▰▱▱▱ 3.1 GB / 10.0 GB, resets 1 Jan").

use subvisor_actors::domain::{NotificationKind, TrafficState, usage_bar};

use super::i18n::{Lang, format_date, tr};
use super::screens::{Screen, back_to_menu};
use crate::t;

/// Decimal units, as plans are sold ("10 GB" is 10^9 × 10 bytes).
pub fn format_size(lang: Lang, bytes: u64) -> String {
    let (units, point) = match lang {
        Lang::En => (["B", "KB", "MB", "GB", "TB"], '.'),
        Lang::Ru => (["Б", "КБ", "МБ", "ГБ", "ТБ"], ','),
    };
    if bytes < 1000 {
        return format!("{bytes} {}", units[0]);
    }
    let mut shown = String::new();
    for (i, unit) in units.iter().enumerate().skip(1) {
        let divisor = 10u128.pow(3 * u32::try_from(i).unwrap_or(4));
        let tenths = (u128::from(bytes) * 10 + divisor / 2) / divisor;
        shown = format!("{}{point}{} {unit}", tenths / 10, tenths % 10);
        if tenths < 10_000 {
            break;
        }
    }
    shown
}

/// The card's traffic line for a traffic-limited subscription (`None` for
/// an unlimited one: the card shows lifetime usage as before).
pub fn card_line(lang: Lang, state: &TrafficState) -> Option<String> {
    if !state.is_limited_plan() {
        return None;
    }
    let (used, total) = (state.used(), state.total());
    let bar = usage_bar(used, total, 5);
    let mut line = match state.period_ends_at {
        Some(at) => t!(
            lang,
            "card-traffic-resets",
            bar = bar,
            used = format_size(lang, used),
            total = format_size(lang, total),
            resets = format_date(lang, at)
        ),
        None => t!(
            lang,
            "card-traffic",
            bar = bar,
            used = format_size(lang, used),
            total = format_size(lang, total)
        ),
    };
    if state.is_limited() {
        line.push('\n');
        line.push_str(&tr(lang, "card-traffic-limited"));
    }
    Some(line)
}

/// The message of a traffic notification.
pub fn notice(lang: Lang, kind: NotificationKind, p: &serde_json::Value) -> Screen {
    let bytes = |key: &str| format_size(lang, p.get(key).and_then(|v| v.as_u64()).unwrap_or(0));
    let resets = p
        .get("resets_at")
        .and_then(|v| serde_json::from_value::<chrono::DateTime<chrono::Utc>>(v.clone()).ok());
    let text = match kind {
        NotificationKind::TrafficLow => t!(
            lang,
            "notify-traffic-low",
            used = bytes("used"),
            total = bytes("total")
        ),
        NotificationKind::TrafficExhausted => match resets {
            Some(at) => t!(
                lang,
                "notify-traffic-exhausted-resets",
                total = bytes("total"),
                resets = format_date(lang, at)
            ),
            None => t!(lang, "notify-traffic-exhausted", total = bytes("total")),
        },
        NotificationKind::TrafficAdded => {
            t!(lang, "notify-traffic-added", amount = bytes("traffic_bytes"))
        }
        _ => tr(lang, "notify-traffic-restored"),
    };
    Screen::with(text, vec![back_to_menu(lang)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_in_decimal_units() {
        assert_eq!(format_size(Lang::En, 999), "999 B");
        assert_eq!(format_size(Lang::En, 3_140_000_000), "3.1 GB");
        assert_eq!(format_size(Lang::Ru, 10_000_000_000), "10,0 ГБ");
        assert_eq!(format_size(Lang::En, 300_000), "300.0 KB");
    }
}
