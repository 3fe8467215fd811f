//! Buying: the plans, the payment methods of a plan, and Pay — an order
//! created (or reused, for a second press of the same button) through a
//! provider: paid at once from the balance, a Stars invoice, or a payment
//! link. Top-ups of the balance go through [`pay`] too ([`balance`](super::balance)).

use std::sync::Arc;

use subvisor_actors::Error as CoreError;
use subvisor_actors::domain::{Money, OrderId, Plan, PlanId, Principal, Provider, UserId};
use subvisor_actors::messages::ClaimInvoice;
use subvisor_actors::payments::stars::invoice_payload;
use subvisor_actors::payments::{Checkout, Purchase};
use teloxide::payloads::SendInvoiceSetters;
use teloxide::requests::{Request, Requester};
use teloxide::types::{InlineKeyboardButton, LabeledPrice};

use super::{Caller, expired};
use crate::bot::BotContext;
use crate::bot::callback::Callback;
use crate::bot::context::InvoiceScreen;
use crate::bot::error::BotError;
use crate::bot::i18n::{Lang, html_escape, tr};
use crate::bot::reply::{Reply, Target};
use crate::bot::screens::{self, Screen, row};
use crate::t;

/// Providers the bot offers, in display order.
pub fn offered(ctx: &BotContext) -> Vec<Provider> {
    [
        Provider::Stars,
        Provider::Cryptobot,
        Provider::Nowpayments,
        Provider::Balance,
    ]
    .into_iter()
    .filter(|p| ctx.payments.offers(*p))
    .collect()
}

/// Whether a provider that can top up the balance is offered.
pub fn offers_top_ups(ctx: &BotContext) -> bool {
    offered(ctx)
        .iter()
        .any(|p| matches!(p, Provider::Cryptobot | Provider::Nowpayments))
}

/// The plans and their prices (in what the caller can pay with), and 🎁 Gift.
pub fn plans(ctx: &BotContext, caller: &Caller<'_>) -> Screen {
    let balance = caller.balance(ctx);
    let screen = screens::plans(
        &ctx.locale,
        caller.lang,
        ctx.registry.plans().iter(),
        &offered(ctx),
        &balance,
    );
    super::gift::with_gift_button(screen, caller.lang)
}

/// The payment methods of `plan` (a plan that is gone: "button expired").
pub fn pay_methods(ctx: &BotContext, caller: &Caller<'_>, plan: &str) -> Screen {
    if let Some(pack) = PlanId::new(plan)
        .ok()
        .and_then(|id| ctx.registry.traffic_packs().get(&id).cloned())
    {
        let offered = offered(ctx);
        return crate::bot::traffic::pack_pay_methods(
            caller.lang,
            &pack,
            &offered,
            &caller.balance(ctx),
        );
    }
    match find_plan(ctx, plan) {
        Some(plan) => super::promo::with_promo_button(
            screens::pay_methods(
                &ctx.locale,
                caller.lang,
                &plan,
                &offered(ctx),
                &caller.balance(ctx),
            ),
            caller.lang,
            plan.id.as_str(),
        ),
        None => expired(caller.lang),
    }
}

fn find_plan(ctx: &BotContext, plan: &str) -> Option<Plan> {
    let id = PlanId::new(plan).ok()?;
    ctx.registry.plans().get(&id).cloned()
}

/// A plan, or a traffic pack shaped as one (no days).
fn plan_or_pack(ctx: &BotContext, id: &PlanId) -> Option<Plan> {
    ctx.registry
        .plans()
        .get(id)
        .cloned()
        .or_else(|| ctx.registry.traffic_packs().get(id).map(|p| p.as_plan()))
}

/// A press of a Pay button: what, through whom, and the press's key.
pub struct Press {
    pub purchase: Purchase,
    pub provider: Provider,
    pub idempotency_key: Option<String>,
}

/// Pay for a plan: the Pay button of the payment methods screen.
pub async fn pay_plan(
    ctx: &Arc<BotContext>,
    caller: &Caller<'_>,
    user: UserId,
    target: Target,
    plan: &str,
    provider: Provider,
    key: Option<u32>,
) -> Result<Reply, BotError> {
    let Ok(plan) = PlanId::new(plan) else {
        return Ok(expired(caller.lang).into());
    };
    let press = Press {
        purchase: Purchase::Plan(plan),
        provider,
        idempotency_key: key.map(press_key),
    };
    pay(ctx, caller, user, target, press).await
}

/// The idempotency key of a button press with `key`.
pub(super) fn press_key(key: u32) -> String {
    format!("tg:{key:x}")
}

/// The button key back from an idempotency key made by [`press_key`].
fn key_of_press(idempotency_key: &str) -> Option<u32> {
    let hex = idempotency_key.strip_prefix("tg:")?;
    u32::from_str_radix(hex, 16).ok()
}

/// Creates (or reuses) the order and shows how to pay.
pub async fn pay(
    ctx: &Arc<BotContext>,
    caller: &Caller<'_>,
    user: UserId,
    target: Target,
    press: Press,
) -> Result<Reply, BotError> {
    let lang = caller.lang;
    let balance = caller.balance(ctx);
    let Press {
        purchase,
        provider,
        idempotency_key,
    } = press;
    if ctx.purchases_paused().await? {
        return Ok(screens::notice(lang, "purchases-paused").into());
    }
    if !ctx.payments.offers(provider) {
        return Ok(screens::notice(lang, "provider-unavailable").into());
    }
    let plan = match &purchase {
        Purchase::Plan(p) | Purchase::PlanWith { plan: p, .. } => plan_or_pack(ctx, p),
        Purchase::TopUp(_) => None,
    };
    let key = idempotency_key.as_deref().and_then(key_of_press);
    let checkout = ctx
        .payments
        .checkout(
            &ctx.registry,
            user,
            purchase,
            provider,
            Principal::User(user),
            false,
            idempotency_key,
        )
        .await;
    let checkout = match checkout {
        Ok(c) => c,
        Err(CoreError::InsufficientFunds { .. }) => {
            return Ok(insufficient_funds(ctx, lang, plan.as_ref(), &balance).into());
        }
        Err(CoreError::Provider { .. }) => {
            return Ok(screens::notice(lang, "provider-unavailable").into());
        }
        Err(e) => return Err(e.into()),
    };
    if checkout.paid.is_some() {
        // Paid from the balance: the "activated"/"extended" message with the
        // links comes through the outbox right away.
        ctx.notifier.notify_one();
        let key = if checkout.order.kind == subvisor_actors::domain::OrderKind::Gift {
            "gift-paid"
        } else {
            "order-paid"
        };
        return Ok(Screen::with(
            tr(lang, key),
            vec![row([(tr(lang, "btn-my-sub"), Callback::MySub)])],
        )
        .into());
    }
    match provider {
        Provider::Stars => send_invoice(ctx, lang, target, plan.as_ref(), &checkout, key).await,
        _ => Ok(pay_link(ctx, lang, provider, &balance, checkout).into()),
    }
}

fn insufficient_funds(
    ctx: &BotContext,
    lang: Lang,
    plan: Option<&Plan>,
    balance: &Money,
) -> Screen {
    let price = plan
        .and_then(|p| p.price_for(Provider::Balance))
        .map(|m| screens::money(lang, &m))
        .unwrap_or_default();
    let text = t!(
        lang,
        "insufficient-funds",
        balance = screens::money(lang, balance),
        price = price
    );
    // The methods that can pay instead, a top-up when one exists, Menu.
    let mut rows = match plan {
        Some(plan) => screens::pay_rows(lang, plan, &offered(ctx), balance),
        None => Vec::new(),
    };
    if offers_top_ups(ctx) {
        rows.push(row([(tr(lang, "btn-topup"), Callback::TopUp)]));
    }
    rows.push(row([
        (tr(lang, "btn-back"), Callback::Buy),
        (tr(lang, "btn-menu"), Callback::Menu),
    ]));
    Screen::with(text, rows)
}

/// A Stars invoice for the order (sent as its own message), one open invoice
/// per purchase: further taps of the same button show "invoice below" and
/// send nothing; a press from another screen sends a new invoice that
/// supersedes the order's last one (whose pre-checkout is then refused). The
/// invoice is made the order's current one (stored) before it is sent, and
/// the payment screen then says "invoice below" (and "paid ✓" once applied).
async fn send_invoice(
    ctx: &BotContext,
    lang: Lang,
    target: Target,
    plan: Option<&Plan>,
    checkout: &Checkout,
    press_key: Option<u32>,
) -> Result<Reply, BotError> {
    let order = &checkout.order;
    // Each press's invoice is tagged with its key: a tap of the same button
    // finds its own invoice current and sends nothing.
    let payload = invoice_payload(order.id, press_key);
    let current = order.provider_invoice_id.clone();
    if checkout.reused && current.as_deref() == Some(payload.as_str()) {
        return Ok(invoice_below(lang).into());
    }
    let claim = ClaimInvoice {
        order: order.id,
        invoice: payload.clone(),
        expected: current,
    };
    if !ctx.registry.send(order.user, claim).await? {
        // Another tap sent it (or the order was paid or closed meanwhile).
        return Ok(invoice_below(lang).into());
    }
    let title = plan
        .map(|p| ctx.locale.plan_title(lang, p))
        .unwrap_or_default();
    let days = plan.map_or(0, |p| p.days);
    // The plan's own description when one is configured (Telegram takes 255 characters).
    let description = plan
        .and_then(|p| ctx.locale.plan_description(lang, p))
        .map(|d| d.chars().take(255).collect::<String>())
        .unwrap_or_else(|| {
            t!(
                lang,
                "invoice-description",
                plan = title.clone(),
                days = days
            )
        });
    let amount =
        u32::try_from(order.amount.minor).map_err(|_| BotError::StarsAmount(order.amount.minor))?;
    let result = ctx
        .bot
        .send_invoice(
            target.chat,
            t!(lang, "invoice-title", plan = title.clone()),
            match plan.filter(|p| p.days == 0).and_then(|p| p.traffic) {
                // A traffic pack: its size, not days.
                Some(pack) => t!(
                    lang,
                    "invoice-description-pack",
                    plan = title.clone(),
                    size = crate::bot::traffic::format_size(lang, pack.bytes)
                ),
                None => description,
            },
            payload,
            "XTR",
            [LabeledPrice::new(
                t!(lang, "invoice-label", plan = title),
                amount,
            )],
        )
        .provider_token("")
        .send()
        .await;
    match result {
        Ok(_) => {
            if let Some(message) = target.edit {
                remember_screen(ctx, order.id, target.chat, message, lang);
            }
            Ok(invoice_below(lang).into())
        }
        Err(e) => {
            tracing::warn!(error = %e, order = %order.id, "sendInvoice failed");
            Ok(screens::notice(lang, "provider-unavailable").into())
        }
    }
}

/// Screens remembered at most (a cosmetic edit: beyond it they are dropped).
const MAX_INVOICE_SCREENS: usize = 10_000;

fn remember_screen(
    ctx: &BotContext,
    order: OrderId,
    chat: teloxide::types::ChatId,
    message: teloxide::types::MessageId,
    lang: Lang,
) {
    if ctx.invoice_screens.len() >= MAX_INVOICE_SCREENS {
        ctx.invoice_screens.clear();
    }
    ctx.invoice_screens.insert(
        order,
        InvoiceScreen {
            chat,
            message,
            lang,
        },
    );
}

/// The payment screen while its invoice waits below it.
fn invoice_below(lang: Lang) -> Screen {
    Screen::with(tr(lang, "invoice-below"), vec![screens::back_to_menu(lang)])
}

/// The payment screen once its invoice is paid.
pub fn invoice_paid(lang: Lang) -> Screen {
    Screen::with(
        tr(lang, "invoice-paid"),
        vec![row([(tr(lang, "btn-my-sub"), Callback::MySub)])],
    )
}

/// The provider's payment link for the order.
fn pay_link(
    ctx: &BotContext,
    lang: Lang,
    provider: Provider,
    balance: &Money,
    checkout: Checkout,
) -> Screen {
    let Some(url) = checkout.pay_url.and_then(|u| reqwest::Url::parse(&u).ok()) else {
        return screens::notice(lang, "provider-unavailable");
    };
    let name = screens::provider_label(lang, provider, balance);
    let text = t!(
        lang,
        "pay-with-link",
        provider = html_escape(&name),
        amount = screens::money(lang, &checkout.order.amount),
        ttl_minutes = ctx.order_ttl.as_secs() / 60
    );
    let rows = vec![
        vec![InlineKeyboardButton::url(
            t!(lang, "btn-pay-url", provider = name),
            url,
        )],
        screens::back_to_menu(lang),
    ];
    Screen::with(text, rows)
}
