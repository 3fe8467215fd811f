//! Promo codes in the bot: "Have a promo code?" on a plan's payment screen →
//! the next text message is the code → checked (a read; the order checks
//! again) → the payment screen with the discounted prices, whose Pay buttons
//! order with the code. A free-days code is redeemed at once through the
//! user's actor. The entered code is kept in memory per user (a restart
//! forgets it: the buttons then say "expired").

use std::sync::Arc;

use subvisor_actors::Error as CoreError;
use subvisor_actors::domain::{
    Plan, PlanId, Principal, Promo, PromoKind, PromoRefusal, Provider, UserId,
};
use subvisor_actors::messages::RedeemPromoDays;
use subvisor_actors::payments::Purchase;
use teloxide::types::User;

use super::checkout::{Press, offered, pay, press_key};
use super::{Caller, caller, expired};
use crate::bot::BotContext;
use crate::bot::callback::Callback;
use crate::bot::error::{Audience, BotError, report};
use crate::bot::i18n::{Lang, html_escape, tr};
use crate::bot::reply::{Reply, Target, show};
use crate::bot::screens::{self, Screen, row};
use crate::t;

/// Users remembered at most (beyond it the map is cleared: a cosmetic loss).
const MAX_ENTRIES: usize = 10_000;

/// Where a user is in entering a promo code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromoEntry {
    /// The next text message is the code for `plan`.
    Awaiting { plan: String },
    /// `code` was accepted for `plan`.
    Entered { plan: String, code: String },
}

/// Adds the "Have a promo code?" row above the last row (Back / Menu) of a
/// plan's payment screen.
pub fn with_promo_button(mut screen: Screen, lang: Lang, plan: &str) -> Screen {
    let button = row([(
        tr(lang, "btn-promo"),
        Callback::PromoAsk {
            plan: plan.to_owned(),
        },
    )]);
    insert_before_last(&mut screen, button);
    screen
}

/// Inserts a row above the last one of the screen's keyboard.
pub fn insert_before_last(screen: &mut Screen, new: Vec<teloxide::types::InlineKeyboardButton>) {
    if let Some(kb) = screen.keyboard.as_mut() {
        let at = kb.inline_keyboard.len().saturating_sub(1);
        kb.inline_keyboard.insert(at, new);
    }
}

/// "Send the code": the next text message of this user is the code.
pub fn ask(ctx: &BotContext, lang: Lang, uid: i64, plan: &str) -> Screen {
    let Some(found) = find_plan(ctx, plan) else {
        return expired(lang);
    };
    remember(
        ctx,
        uid,
        PromoEntry::Awaiting {
            plan: plan.to_owned(),
        },
    );
    Screen::with(
        t!(
            lang,
            "promo-ask",
            plan = html_escape(&ctx.locale.plan_title(lang, &found))
        ),
        vec![row([
            (
                tr(lang, "btn-cancel"),
                Callback::Plan {
                    plan: plan.to_owned(),
                },
            ),
            (tr(lang, "btn-menu"), Callback::Menu),
        ])],
    )
}

/// Another button was pressed: the next text message is no code any more.
pub fn stop_awaiting(ctx: &BotContext, uid: i64) {
    ctx.promo_entries
        .remove_if(&uid, |_, e| matches!(e, PromoEntry::Awaiting { .. }));
}

fn remember(ctx: &BotContext, uid: i64, entry: PromoEntry) {
    if ctx.promo_entries.len() >= MAX_ENTRIES {
        ctx.promo_entries.clear();
    }
    ctx.promo_entries.insert(uid, entry);
}

/// Whether this user's next text message is a promo code.
pub fn awaiting(ctx: &BotContext, uid: i64) -> bool {
    matches!(
        ctx.promo_entries.get(&uid).map(|e| e.clone()),
        Some(PromoEntry::Awaiting { .. })
    )
}

fn find_plan(ctx: &BotContext, plan: &str) -> Option<Plan> {
    let id = PlanId::new(plan).ok()?;
    ctx.registry.plans().get(&id).cloned()
}

/// The text message after "Have a promo code?": the code, checked.
pub async fn entered(ctx: &Arc<BotContext>, from: &User, target: Target, text: &str) {
    let Some(caller) = caller(ctx, from, target, None, false).await else {
        return;
    };
    let lang = caller.lang;
    let uid = from.id.0 as i64;
    let Some(PromoEntry::Awaiting { plan }) = ctx.promo_entries.get(&uid).map(|e| e.clone()) else {
        return;
    };
    ctx.promo_entries.remove(&uid);
    let Some(user) = crate::bot::context::user_id(from) else {
        return;
    };
    match check(ctx, &caller, user, &plan, text.trim()).await {
        Ok(screen) => show(ctx, target, screen).await,
        Err(error) => report(ctx, target, lang, error, Audience::User).await,
    }
}

async fn check(
    ctx: &Arc<BotContext>,
    caller: &Caller<'_>,
    user: UserId,
    plan: &str,
    code: &str,
) -> Result<Screen, BotError> {
    let lang = caller.lang;
    let Some(found) = find_plan(ctx, plan) else {
        return Ok(expired(lang));
    };
    let queries = ctx.registry.queries();
    if let Some(promo) = queries.promo(code).await?
        && promo.kind == PromoKind::Days
    {
        return redeem_days(ctx, lang, user, code, plan).await;
    }
    let now = ctx.registry.clock().now();
    match queries.promo_quote(now, user, code, &found.id).await? {
        Ok(promo) => {
            remember(
                ctx,
                user.get(),
                PromoEntry::Entered {
                    plan: plan.to_owned(),
                    code: promo.code.to_ascii_lowercase(),
                },
            );
            Ok(discounted(ctx, caller, &found, &promo))
        }
        Err(why) => Ok(refused(lang, why, plan)),
    }
}

async fn redeem_days(
    ctx: &Arc<BotContext>,
    lang: Lang,
    user: UserId,
    code: &str,
    plan: &str,
) -> Result<Screen, BotError> {
    let msg = RedeemPromoDays {
        code: code.to_owned(),
        by: Principal::User(user),
    };
    match ctx.registry.send(user, msg).await {
        Ok(change) => {
            ctx.notifier.notify_one();
            let expires = change
                .snapshot
                .subscription
                .as_ref()
                .map(|s| ctx.locale.date(lang, s.expires_at))
                .unwrap_or_default();
            Ok(Screen::with(
                t!(lang, "promo-days-redeemed", expires = expires),
                vec![row([(tr(lang, "btn-my-sub"), Callback::MySub)])],
            ))
        }
        Err(CoreError::PromoRefused(why)) => Ok(refused(lang, why, plan)),
        Err(e) => Err(e.into()),
    }
}

/// The payment screen with the code's prices: one Pay button per method
/// whose price the code can discount.
fn discounted(ctx: &BotContext, caller: &Caller<'_>, plan: &Plan, promo: &Promo) -> Screen {
    let lang = caller.lang;
    let balance = caller.balance(ctx);
    let mut lines = Vec::new();
    let mut rows = Vec::new();
    // A discounted price may fit a balance the list price does not: every
    // method is listed here and the balance checked against the code's price.
    for provider in offered(ctx) {
        let Some(list) = plan.price_for(provider) else {
            continue;
        };
        let Ok(price) = promo.price(&list) else {
            continue;
        };
        if provider == Provider::Balance && balance.minor < price.minor {
            continue;
        }
        lines.push(t!(
            lang,
            "promo-price-line",
            provider = html_escape(&screens::provider_label(lang, provider, &balance)),
            list = screens::money(lang, &list),
            price = screens::money(lang, &price)
        ));
        rows.push(row([(
            t!(
                lang,
                "btn-plan",
                title = screens::provider_label(lang, provider, &balance),
                price = screens::money(lang, &price)
            ),
            Callback::PromoPay {
                plan: plan.id.to_string(),
                provider,
                key: Some(getrandom::u32().unwrap_or_default()),
            },
        )]));
    }
    rows.push(row([
        (
            tr(lang, "btn-back"),
            Callback::Plan {
                plan: plan.id.to_string(),
            },
        ),
        (tr(lang, "btn-menu"), Callback::Menu),
    ]));
    let text = t!(
        lang,
        "promo-applied",
        code = html_escape(&promo.code),
        plan = html_escape(&ctx.locale.plan_title(lang, plan)),
        prices = lines.join("\n")
    );
    Screen::with(text, rows)
}

/// Why a code was refused, with Try again and Back.
pub fn refused(lang: Lang, why: PromoRefusal, plan: &str) -> Screen {
    let key = match why {
        PromoRefusal::Unknown => "promo-refused-unknown",
        PromoRefusal::Disabled => "promo-refused-disabled",
        PromoRefusal::Expired => "promo-refused-expired",
        PromoRefusal::UsedUp => "promo-refused-used-up",
        PromoRefusal::AlreadyUsed => "promo-refused-already-used",
        PromoRefusal::WrongPlan => "promo-refused-wrong-plan",
        PromoRefusal::NotFirstPurchase => "promo-refused-not-first-purchase",
        PromoRefusal::WrongCurrency => "promo-refused-wrong-currency",
        PromoRefusal::WrongKind => "promo-refused-wrong-kind",
    };
    Screen::with(
        tr(lang, key),
        vec![
            row([(
                tr(lang, "btn-promo-retry"),
                Callback::PromoAsk {
                    plan: plan.to_owned(),
                },
            )]),
            row([
                (
                    tr(lang, "btn-back"),
                    Callback::Plan {
                        plan: plan.to_owned(),
                    },
                ),
                (tr(lang, "btn-menu"), Callback::Menu),
            ]),
        ],
    )
}

/// A Pay button of the discounted screen: orders with the entered code.
pub async fn pay_with_code(
    ctx: &Arc<BotContext>,
    caller: &Caller<'_>,
    user: UserId,
    target: Target,
    plan: &str,
    provider: Provider,
    key: Option<u32>,
) -> Result<Reply, BotError> {
    let lang = caller.lang;
    let code = match ctx.promo_entries.get(&user.get()).map(|e| e.clone()) {
        Some(PromoEntry::Entered { plan: p, code }) if p == plan => code,
        _ => return Ok(expired(lang).into()),
    };
    let Ok(plan_id) = PlanId::new(plan) else {
        return Ok(expired(lang).into());
    };
    let press = Press {
        purchase: Purchase::PlanWith {
            plan: plan_id,
            promo: Some(code),
            gift: false,
        },
        provider,
        idempotency_key: key.map(press_key),
    };
    let reply = pay(ctx, caller, user, target, press).await;
    if let Err(BotError::Core(CoreError::PromoRefused(why))) = &reply {
        return Ok(refused(lang, *why, plan).into());
    }
    reply
}
