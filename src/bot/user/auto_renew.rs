//! Auto-renewal from the balance: the toggle on "My subscription", turning
//! it on (the plan the user last paid for, if the balance can pay it) or off
//! through the user's actor, and the two notices the renewal sends.

use subvisor_actors::Error as CoreError;
use subvisor_actors::domain::{
    Money, NotificationKind, OrderKind, OrderStatus, Plan, Principal, UserId, renewal_price,
};
use subvisor_actors::messages::SetAutoRenew;
use subvisor_actors::store::UserSnapshot;

use super::subscription;
use crate::bot::BotContext;
use crate::bot::callback::Callback;
use crate::bot::error::BotError;
use crate::bot::i18n::{Lang, html_escape, tr};
use crate::bot::locale::Locale;
use crate::bot::screens::{self, Screen, row};
use crate::t;

/// The plan the user last paid for, if the balance can pay its renewal.
async fn renewable_plan(ctx: &BotContext, user: UserId) -> Result<Option<Plan>, BotError> {
    let orders = ctx.registry.queries().orders_of(user, 50).await?;
    let last = orders
        .iter()
        .find(|o| o.kind == OrderKind::Plan && o.status == OrderStatus::Paid);
    Ok(last.and_then(|o| {
        let plan = ctx.registry.plans().get(&o.plan)?;
        renewal_price(Some(plan), &ctx.balance_currency).ok()?;
        Some(plan.clone())
    }))
}

/// Adds the toggle above the last row of "My subscription" (a live
/// subscription and auto-renewal offered here).
pub async fn with_toggle(
    ctx: &BotContext,
    lang: Lang,
    s: Option<&UserSnapshot>,
    mut screen: Screen,
) -> Screen {
    let Some(s) = s else { return screen };
    if ctx.auto_renew.is_none() || !screens::is_live(Some(s), ctx.registry.clock().now()) {
        return screen;
    }
    let on = match ctx.registry.queries().auto_renew_plan(s.user).await {
        Ok(plan) => plan.is_some(),
        Err(e) => {
            tracing::warn!(error = %e, "auto-renewal not read for the card");
            return screen;
        }
    };
    let toggle = if on {
        row([(tr(lang, "btn-auto-renew-on"), Callback::AutoRenewOff)])
    } else {
        row([(tr(lang, "btn-auto-renew-off"), Callback::AutoRenewOn)])
    };
    if let Some(kb) = screen.keyboard.as_mut() {
        let at = kb.inline_keyboard.len().saturating_sub(1);
        kb.inline_keyboard.insert(at, toggle);
    }
    screen
}

/// The toggle pressed: on (with the plan last paid for) or off.
pub async fn set(ctx: &BotContext, lang: Lang, user: UserId, on: bool) -> Result<Screen, BotError> {
    let Some(before) = ctx.auto_renew else {
        return Ok(super::expired(lang));
    };
    let plan = if on {
        match renewable_plan(ctx, user).await? {
            Some(plan) => Some(plan),
            None => {
                return Ok(Screen::with(
                    tr(lang, "auto-renew-no-plan"),
                    vec![
                        row([
                            (tr(lang, "btn-buy"), Callback::Buy),
                            (tr(lang, "btn-back"), Callback::MySub),
                        ]),
                        screens::back_to_menu(lang),
                    ],
                ));
            }
        }
    } else {
        None
    };
    let msg = SetAutoRenew {
        plan: plan.as_ref().map(|p| p.id.clone()),
        by: Principal::User(user),
    };
    let change = match ctx.registry.send(user, msg).await {
        Ok(change) => change,
        Err(CoreError::InvalidInput { .. }) => return Ok(super::expired(lang)),
        Err(e) => return Err(e.into()),
    };
    let head = match &plan {
        Some(plan) => {
            let price = renewal_price(Some(plan), &ctx.balance_currency)
                .map(|m| screens::money(lang, &m))
                .unwrap_or_default();
            t!(
                lang,
                "auto-renew-enabled",
                plan = html_escape(&ctx.locale.plan_title(lang, plan)),
                price = price,
                hours = (before.as_secs() / 3600).max(1)
            )
        }
        None => tr(lang, "auto-renew-disabled"),
    };
    let screen = subscription::card_with(ctx, lang, Some(head), Some(&change.snapshot)).await;
    Ok(with_toggle(ctx, lang, Some(&change.snapshot), screen).await)
}

/// The notice of a renewal from the balance, or of one the balance could
/// not pay (with a top-up button when topping up would do).
pub fn notice(
    locale: &Locale,
    lang: Lang,
    kind: NotificationKind,
    p: &serde_json::Value,
) -> Screen {
    let money = |key: &str| {
        p.get(key)
            .and_then(|v| serde_json::from_value::<Money>(v.clone()).ok())
            .map(|m| screens::money(lang, &m))
            .unwrap_or_default()
    };
    let date = p
        .get("expires_at")
        .and_then(|v| serde_json::from_value::<chrono::DateTime<chrono::Utc>>(v.clone()).ok())
        .map(|d| locale.date(lang, d))
        .unwrap_or_default();
    if kind == NotificationKind::AutoRenewed {
        let days = p.get("days").and_then(|d| d.as_i64()).unwrap_or(0);
        let text = t!(
            lang,
            "notify-auto-renewed",
            days = days,
            price = money("price"),
            balance = money("balance"),
            expires = date
        );
        return Screen::with(
            text,
            vec![
                row([(tr(lang, "btn-my-sub"), Callback::MySub)]),
                screens::back_to_menu(lang),
            ],
        );
    }
    let short = p.get("reason").and_then(|r| r.as_str()) == Some("balance_short");
    if short {
        let text = t!(
            lang,
            "notify-auto-renew-short",
            price = money("price"),
            balance = money("balance"),
            expires = date
        );
        return Screen::with(
            text,
            vec![
                row([(tr(lang, "btn-topup"), Callback::TopUp)]),
                row([(tr(lang, "btn-my-sub"), Callback::MySub)]),
                screens::back_to_menu(lang),
            ],
        );
    }
    Screen::with(
        t!(lang, "notify-auto-renew-unpayable", expires = date),
        screens::renew_keyboard(lang),
    )
}
