//! The balance: what is on it, and topping it up by one of the configured
//! amounts through an invoice-page provider (Crypto Pay, NOWPayments).

use std::sync::Arc;

use subvisor_actors::domain::{Money, Provider, UserId};
use subvisor_actors::payments::Purchase;

use super::checkout::{self, Press, offered, offers_top_ups};
use super::{Caller, expired};
use crate::bot::BotContext;
use crate::bot::callback::Callback;
use crate::bot::error::BotError;
use crate::bot::i18n::tr;
use crate::bot::reply::{Reply, Target};
use crate::bot::screens::{self, Screen, row};
use crate::t;

/// The balance, with a Top up button when a provider can top it up.
pub fn screen(ctx: &BotContext, caller: &Caller<'_>) -> Screen {
    let lang = caller.lang;
    let mut text = t!(
        lang,
        "balance-title",
        balance = screens::money(lang, &caller.balance(ctx))
    );
    let mut rows = Vec::new();
    // "Pay in one tap" only where the balance can be topped up.
    if offers_top_ups(ctx) {
        text = format!("{text}\n{}", tr(lang, "balance-topup-hint"));
        rows.push(row([(tr(lang, "btn-topup"), Callback::TopUp)]));
    }
    rows.push(screens::back_to_menu(lang));
    Screen::with(text, rows)
}

/// One button per configured amount and invoice-page provider.
pub fn top_up(ctx: &BotContext, caller: &Caller<'_>) -> Screen {
    let lang = caller.lang;
    let balance = caller.balance(ctx);
    let mut rows = Vec::new();
    for amount in &ctx.topups {
        let m = Money::new(*amount, ctx.balance_currency.clone());
        for provider in offered(ctx) {
            if !tops_up(provider) {
                continue;
            }
            let label = format!(
                "{} · {}",
                t!(lang, "btn-topup-amount", amount = screens::money(lang, &m)),
                screens::provider_label(lang, provider, &balance)
            );
            rows.push(row([(
                label,
                Callback::TopUpPay {
                    amount_minor: *amount,
                    provider,
                },
            )]));
        }
    }
    rows.push(row([(tr(lang, "btn-back"), Callback::Balance)]));
    Screen::with(tr(lang, "topup-title"), rows)
}

/// Whether `provider` can top up the balance (not Stars, not the balance itself).
fn tops_up(provider: Provider) -> bool {
    !matches!(provider, Provider::Balance | Provider::Stars)
}

/// A top-up button pressed: an order for the amount through the provider.
pub async fn top_up_pay(
    ctx: &Arc<BotContext>,
    caller: &Caller<'_>,
    user: UserId,
    target: Target,
    amount_minor: i64,
    provider: Provider,
) -> Result<Reply, BotError> {
    // Only the amounts and providers the top-up screen offers: a forged
    // Stars button would get an invoice of N Stars for N cents.
    if !ctx.topups.contains(&amount_minor) || !tops_up(provider) {
        return Ok(expired(caller.lang).into());
    }
    let press = Press {
        purchase: Purchase::TopUp(Money::new(amount_minor, ctx.balance_currency.clone())),
        provider,
        idempotency_key: None,
    };
    checkout::pay(ctx, caller, user, target, press).await
}
