//! Traffic in the bot: the notices (80 %, 100 %, pack added, access back) and
//! the card's usage line ("▰▰▱▱▱ 3.1 GB / 10.0 GB, resets 1 Jan").

use subvisor_actors::domain::{
    Money, NotificationKind, Provider, TrafficPack, TrafficState, UserId, usage_bar,
};
use subvisor_actors::messages::ResetTraffic;

use super::BotContext;
use super::admin::Admin;
use super::admin::access::open_user;
use super::callback::Callback;
use super::error::BotError;
use super::i18n::{Lang, html_escape, tr};
use super::locale::Locale;
use super::screens::{self, Screen, back_to_menu, row};
use super::user::Caller;
use crate::t;

/// The packs on sale, each with its price (what the caller can pay with).
pub fn packs_screen(ctx: &BotContext, caller: &Caller<'_>) -> Screen {
    let lang = caller.lang;
    let offered = super::user::checkout::offered(ctx);
    let balance = caller.balance(ctx);
    let mut lines = vec![tr(lang, "traffic-packs-title")];
    let mut rows = Vec::new();
    for pack in ctx.registry.traffic_packs().iter() {
        let price = screens::plan_price(lang, &pack.as_plan(), &offered, &balance);
        if price.is_empty() {
            continue;
        }
        lines.push(t!(
            lang,
            "pack-line",
            title = html_escape(&pack.title),
            size = format_size(lang, pack.bytes),
            price = price.clone()
        ));
        rows.push(row([(
            t!(lang, "btn-plan", title = pack.title.clone(), price = price),
            Callback::Plan {
                plan: pack.id.to_string(),
            },
        )]));
    }
    rows.push(row([
        (tr(lang, "btn-back"), Callback::MySub),
        (tr(lang, "btn-menu"), Callback::Menu),
    ]));
    Screen::with(lines.join("\n"), rows)
}

/// The payment methods of a pack (the same Pay buttons as a plan's).
pub fn pack_pay_methods(
    lang: Lang,
    pack: &TrafficPack,
    offered: &[Provider],
    balance: &Money,
) -> Screen {
    let plan = pack.as_plan();
    let text = t!(
        lang,
        "pack-pay-title",
        title = html_escape(&pack.title),
        size = format_size(lang, pack.bytes),
        price = screens::plan_price(lang, &plan, offered, balance)
    );
    let mut rows = screens::pay_rows(lang, &plan, offered, balance);
    rows.push(row([
        (tr(lang, "btn-back"), Callback::BuyTraffic),
        (tr(lang, "btn-menu"), Callback::Menu),
    ]));
    Screen::with(text, rows)
}

/// Whether the card offers "Buy traffic": packs on sale and a subscription
/// with a traffic allowance.
pub fn offers_packs(ctx: &BotContext, state: Option<&TrafficState>) -> bool {
    !ctx.registry.traffic_packs().is_empty() && state.is_some_and(TrafficState::is_limited_plan)
}

/// The admin's user view with the period's traffic under it.
pub fn admin_line(locale: &Locale, lang: Lang, state: &TrafficState, mut text: String) -> String {
    text.push_str("\n\n");
    text.push_str(&t!(
        lang,
        "admin-traffic",
        used = format_size(lang, state.used()),
        total = format_size(lang, state.total())
    ));
    if let Some(line) = card_line(locale, lang, state).filter(|_| state.is_limited()) {
        text.push('\n');
        text.push_str(line.lines().last().unwrap_or_default());
    }
    text
}

pub fn admin_reset_ask(lang: Lang, user: i64) -> Screen {
    screens::confirm(
        lang,
        t!(lang, "admin-traffic-reset-confirm", user = user),
        Callback::AdminTrafficReset { user },
        Callback::AdminUser { user },
    )
}

/// Resets the user's traffic period through the user's actor (audited with
/// the admin's id).
pub async fn admin_reset(
    ctx: &BotContext,
    admin: &Admin,
    user: UserId,
) -> Result<Screen, BotError> {
    let msg = ResetTraffic {
        by: admin.principal(),
        reason: format!("bot: reset by admin {}", admin.id),
    };
    ctx.registry.send(user, msg).await?;
    Ok(Screen::with(
        tr(admin.lang, "admin-traffic-reset-done"),
        open_user(admin.lang, user.get()),
    ))
}

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
pub fn card_line(locale: &Locale, lang: Lang, state: &TrafficState) -> Option<String> {
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
            resets = locale.date(lang, at)
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
pub fn notice(
    locale: &Locale,
    lang: Lang,
    kind: NotificationKind,
    p: &serde_json::Value,
) -> Screen {
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
                resets = locale.date(lang, at)
            ),
            None => t!(lang, "notify-traffic-exhausted", total = bytes("total")),
        },
        NotificationKind::TrafficAdded => {
            t!(
                lang,
                "notify-traffic-added",
                amount = bytes("traffic_bytes")
            )
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
