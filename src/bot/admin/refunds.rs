//! Refunding a paid order from a user's view (asks first), through the
//! payment intake.

use subvisor_actors::domain::OrderId;

use super::Admin;
use super::access::open_user;
use crate::bot::BotContext;
use crate::bot::callback::Callback;
use crate::bot::error::BotError;
use crate::bot::i18n::{Lang, html_escape};
use crate::bot::screens::{self, Screen};
use crate::bot::user::expired;
use crate::t;

/// "Refund order … of …?" (an order that is gone: "button expired").
pub async fn ask(ctx: &BotContext, lang: Lang, order: OrderId) -> Result<Screen, BotError> {
    let Some(o) = ctx.registry.queries().order(order).await? else {
        return Ok(expired(lang));
    };
    Ok(screens::confirm(
        lang,
        t!(
            lang,
            "admin-refund-confirm",
            order = order.to_string(),
            amount = screens::money(lang, &o.amount)
        ),
        Callback::AdminRefund {
            order: order.uuid(),
        },
        Callback::AdminUser { user: o.user.get() },
    ))
}

/// Refunds the order; a refusal (not paid, provider failed) is shown with
/// its reason and clears the dialogue state.
pub async fn refund(ctx: &BotContext, admin: &Admin, order: OrderId) -> Result<Screen, BotError> {
    let lang = admin.lang;
    let Some(o) = ctx.registry.queries().order(order).await? else {
        return Ok(expired(lang));
    };
    match ctx.intake.refund_order(&o, admin.principal()).await {
        Ok(_) => {
            ctx.notifier.notify_one();
            let text = t!(lang, "admin-refunded", order = order.to_string());
            Ok(Screen::with(text, open_user(lang, o.user.get())))
        }
        Err(e) => {
            ctx.admin_state.remove(&admin.id);
            Ok(Screen::text(t!(
                lang,
                "admin-refund-failed",
                reason = html_escape(&e.to_string())
            )))
        }
    }
}
