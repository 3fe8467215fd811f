//! Gifts: the buyer's message with the link, the receiver's `/start gift<code>`,
//! and the buyer's message once it was activated.

use std::sync::Arc;

use subvisor_actors::Error as CoreError;
use subvisor_actors::domain::{GiftRefusal, PlanId, UserId};
use subvisor_actors::messages::ActivateGift;

use super::Caller;
use crate::bot::BotContext;
use crate::bot::callback::Callback;
use crate::bot::error::BotError;
use crate::bot::i18n::{Lang, html_escape, tr};
use crate::bot::screens::{self, Screen, row};
use crate::t;

/// The `/start` argument of a gift link: `gift<code>`.
pub fn code_of(args: &str) -> Option<&str> {
    let code = args.trim().strip_prefix("gift")?;
    let ok = (16..=64).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_alphanumeric());
    ok.then_some(code)
}

/// The link the buyer passes on.
pub fn link(bot: &str, code: &str) -> String {
    format!("https://t.me/{bot}?start=gift{code}")
}

/// The buyer's message once the gift order is paid.
pub fn ready(lang: Lang, bot: &str, code: &str, days: i64) -> Screen {
    Screen::with(
        t!(
            lang,
            "notify-gift-ready",
            link = html_escape(&link(bot, code)),
            days = days
        ),
        vec![screens::back_to_menu(lang)],
    )
}

/// The buyer's message once someone activated the gift.
pub fn redeemed(lang: Lang, days: i64) -> Screen {
    Screen::with(
        t!(lang, "notify-gift-redeemed", days = days),
        vec![screens::back_to_menu(lang)],
    )
}

/// `/start gift<code>`: activates the gift for the caller (once, whoever
/// they are — the buyer may activate their own gift).
pub async fn activate(
    ctx: &Arc<BotContext>,
    caller: &Caller<'_>,
    user: UserId,
    code: &str,
) -> Result<Screen, BotError> {
    let lang = caller.lang;
    let msg = ActivateGift {
        code: code.to_owned(),
    };
    match ctx.registry.send(user, msg).await {
        Ok(done) => {
            ctx.notifier.notify_one();
            let expires = done
                .change
                .snapshot
                .subscription
                .as_ref()
                .map(|s| ctx.locale.date(lang, s.expires_at))
                .unwrap_or_default();
            Ok(Screen::with(
                t!(
                    lang,
                    "gift-activated",
                    days = i64::from(done.gift.days),
                    expires = expires
                ),
                vec![row([(tr(lang, "btn-my-sub"), Callback::MySub)])],
            ))
        }
        Err(CoreError::GiftRefused(why)) => Ok(refused(lang, why)),
        Err(e) => Err(e.into()),
    }
}

fn refused(lang: Lang, why: GiftRefusal) -> Screen {
    let key = match why {
        GiftRefusal::Unknown => "gift-unknown",
        GiftRefusal::AlreadyRedeemed => "gift-already-redeemed",
        GiftRefusal::Voided => "gift-voided",
    };
    Screen::with(tr(lang, key), vec![screens::back_to_menu(lang)])
}

/// Adds the "🎁 Gift" row above the last row (Menu) of the plans screen.
pub fn with_gift_button(mut screen: Screen, lang: Lang) -> Screen {
    super::promo::insert_before_last(
        &mut screen,
        row([(tr(lang, "btn-gift"), Callback::GiftPlans)]),
    );
    screen
}

/// The plans to give, each with its price.
pub fn plans(ctx: &BotContext, caller: &Caller<'_>) -> Screen {
    let lang = caller.lang;
    let balance = caller.balance(ctx);
    let offered = super::checkout::offered(ctx);
    let mut rows = Vec::new();
    for plan in ctx.registry.plans().iter() {
        let price = screens::plan_price(lang, plan, &offered, &balance);
        if price.is_empty() {
            continue;
        }
        rows.push(row([(
            t!(
                lang,
                "btn-plan",
                title = ctx.locale.plan_title(lang, plan),
                price = price
            ),
            Callback::GiftPlan {
                plan: plan.id.to_string(),
            },
        )]));
    }
    rows.push(row([
        (tr(lang, "btn-back"), Callback::Buy),
        (tr(lang, "btn-menu"), Callback::Menu),
    ]));
    Screen::with(tr(lang, "gift-title"), rows)
}

/// How to pay for `plan` as a gift.
pub fn pay_methods(ctx: &BotContext, caller: &Caller<'_>, plan: &str) -> Screen {
    let lang = caller.lang;
    let Some(found) = PlanId::new(plan)
        .ok()
        .and_then(|id| ctx.registry.plans().get(&id).cloned())
    else {
        return super::expired(lang);
    };
    let balance = caller.balance(ctx);
    let offered = super::checkout::offered(ctx);
    let mut rows: Vec<_> = screens::payable(&found, &offered, &balance)
        .into_iter()
        .map(|provider| {
            row([(
                screens::provider_label(lang, provider, &balance),
                Callback::GiftPay {
                    plan: found.id.to_string(),
                    provider,
                    key: Some(getrandom::u32().unwrap_or_default()),
                },
            )])
        })
        .collect();
    rows.push(row([
        (tr(lang, "btn-back"), Callback::GiftPlans),
        (tr(lang, "btn-menu"), Callback::Menu),
    ]));
    Screen::with(
        t!(
            lang,
            "gift-pay-title",
            plan = html_escape(&ctx.locale.plan_title(lang, &found)),
            days = found.days,
            price = screens::plan_price(lang, &found, &offered, &balance)
        ),
        rows,
    )
}

/// A Pay button of the gift screen: the same checkout, as a gift order.
pub async fn pay_gift(
    ctx: &Arc<BotContext>,
    caller: &Caller<'_>,
    user: UserId,
    target: crate::bot::reply::Target,
    plan: &str,
    provider: subvisor_actors::domain::Provider,
    key: Option<u32>,
) -> Result<crate::bot::reply::Reply, BotError> {
    let Ok(plan) = PlanId::new(plan) else {
        return Ok(super::expired(caller.lang).into());
    };
    let press = super::checkout::Press {
        purchase: subvisor_actors::payments::Purchase::PlanWith {
            plan,
            promo: None,
            gift: true,
        },
        provider,
        idempotency_key: key.map(super::checkout::press_key),
    };
    super::checkout::pay(ctx, caller, user, target, press).await
}
