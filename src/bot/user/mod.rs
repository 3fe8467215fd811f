//! What ordinary users can do: slash commands ([`command`]) and button
//! presses ([`callback`]), routed by a `match` on [`Command`] and
//! [`Callback`] to one module per feature. Admin commands are in
//! [`admin`](super::admin), Stars payments in [`stars`](super::stars).

pub mod auto_renew;
pub mod balance;
pub mod checkout;
pub mod devices;
pub mod gift;
pub mod language;
pub mod menu;
pub mod promo;
pub mod referral;
pub mod subscription;

use std::sync::Arc;

use subvisor_actors::domain::{Money, UserId};
use subvisor_actors::store::UserSnapshot;
use teloxide::types::User;

use super::callback::Callback;
use super::commands::Command;
use super::context::{BotContext, user_id};
use super::error::{Audience, BotError, report};
use super::i18n::Lang;
use super::reply::{Reply, Target, send, show};
use super::screens::{self, Screen};
use super::support;

/// Who pressed or typed: the Telegram user, their state and language.
pub struct Caller<'a> {
    pub from: &'a User,
    /// `None` before the user is known (an id outside Telegram's range).
    pub snapshot: Option<UserSnapshot>,
    pub lang: Lang,
}

impl Caller<'_> {
    /// The user's balance (zero before they are known).
    pub fn balance(&self, ctx: &BotContext) -> Money {
        Money::new(
            self.snapshot.as_ref().map_or(0, |s| s.balance_minor),
            ctx.balance_currency.clone(),
        )
    }
}

/// Loads the caller (creating them on first contact); a failure is reported
/// to them in Telegram's language and gives `None`.
pub(super) async fn caller<'a>(
    ctx: &BotContext,
    from: &'a User,
    target: Target,
    referrer: Option<UserId>,
    always_touch: bool,
) -> Option<Caller<'a>> {
    match ctx.load_user(from, referrer, always_touch).await {
        Ok(snapshot) => Some(Caller {
            from,
            lang: ctx.lang_of(snapshot.as_ref(), from),
            snapshot,
        }),
        Err(error) => {
            report(ctx, target, ctx.telegram_lang(from), error, Audience::User).await;
            None
        }
    }
}

/// A slash command.
pub async fn command(
    ctx: &Arc<BotContext>,
    from: &User,
    target: Target,
    command: Command,
    args: &str,
) {
    // `/start` (also from a referral link) refreshes the profile.
    let (referrer, always_touch) = match command {
        Command::Start => (menu::referrer(args), true),
        _ => (None, false),
    };
    let Some(caller) = caller(ctx, from, target, referrer, always_touch).await else {
        return;
    };
    let lang = caller.lang;
    if command == Command::Start
        && let Some(code) = gift::code_of(args)
        && let Some(user) = user_id(from)
    {
        match gift::activate(ctx, &caller, user, code).await {
            Ok(screen) => show(ctx, target, screen).await,
            Err(error) => report(ctx, target, lang, error, Audience::User).await,
        }
        return;
    }
    let screen = match command {
        Command::Start | Command::Menu => menu::main(ctx, &caller).await,
        Command::Help => menu::help(ctx, lang),
        Command::Paysupport => {
            support::paysupport(lang, ctx.paysupport.as_ref(), ctx.support.as_deref())
        }
        Command::Terms => support::terms(lang, ctx.terms.as_ref(), ctx.support.as_deref()),
        Command::Sub => {
            let s = caller.snapshot.as_ref();
            auto_renew::with_toggle(ctx, lang, s, subscription::screen(ctx, lang, s).await).await
        }
    };
    show(ctx, target, screen).await;
}

/// A message that is no command of this user's: a slash command it does not
/// know gets "unknown command" and the menu, free text the menu itself.
pub async fn unknown_command(ctx: &Arc<BotContext>, from: &User, target: Target, text: &str) {
    let Some(caller) = caller(ctx, from, target, None, false).await else {
        return;
    };
    let screen = if text.trim_start().starts_with('/') {
        screens::notice(caller.lang, "unknown-command")
    } else {
        menu::main(ctx, &caller).await
    };
    show(ctx, target, screen).await;
}

/// A photo, sticker or anything else without text: where to get help.
pub async fn media(ctx: &Arc<BotContext>, from: &User, target: Target) {
    if let Some(caller) = caller(ctx, from, target, None, false).await {
        let screen = support::media(caller.lang, ctx.support.as_deref());
        show(ctx, target, screen).await;
    }
}

/// A button press (admin buttons are routed elsewhere before this).
pub async fn callback(ctx: &Arc<BotContext>, from: &User, target: Target, action: Callback) {
    let Some(user) = user_id(from) else { return };
    let Some(caller) = caller(ctx, from, target, None, false).await else {
        return;
    };
    let lang = caller.lang;
    match action_reply(ctx, &caller, user, target, action).await {
        Ok(reply) => send(ctx, target, reply).await,
        Err(error) => report(ctx, target, lang, error, Audience::User).await,
    }
}

async fn action_reply(
    ctx: &Arc<BotContext>,
    caller: &Caller<'_>,
    user: UserId,
    target: Target,
    action: Callback,
) -> Result<Reply, BotError> {
    let lang = caller.lang;
    let s = caller.snapshot.as_ref();
    if !matches!(action, Callback::PromoAsk { .. }) {
        promo::stop_awaiting(ctx, user.get());
    }
    Ok(match action {
        Callback::Menu | Callback::Cancel => menu::main(ctx, caller).await.into(),
        Callback::Help => menu::help(ctx, lang).into(),
        Callback::Buy => checkout::plans(ctx, caller).into(),
        Callback::Plan { plan } => checkout::pay_methods(ctx, caller, &plan).into(),
        Callback::Pay {
            plan,
            provider,
            key,
        } => checkout::pay_plan(ctx, caller, user, target, &plan, provider, key).await?,
        Callback::PromoAsk { plan } => promo::ask(ctx, lang, user.get(), &plan).into(),
        Callback::PromoPay {
            plan,
            provider,
            key,
        } => promo::pay_with_code(ctx, caller, user, target, &plan, provider, key).await?,
        Callback::GiftPlans => gift::plans(ctx, caller).into(),
        Callback::GiftPlan { plan } => gift::pay_methods(ctx, caller, &plan).into(),
        Callback::GiftPay {
            plan,
            provider,
            key,
        } => gift::pay_gift(ctx, caller, user, target, &plan, provider, key).await?,
        Callback::Balance => balance::screen(ctx, caller).into(),
        Callback::TopUp => balance::top_up(ctx, caller).into(),
        Callback::TopUpPay {
            amount_minor,
            provider,
        } => balance::top_up_pay(ctx, caller, user, target, amount_minor, provider).await?,
        Callback::MySub => {
            let screen = subscription::screen(ctx, lang, s).await;
            auto_renew::with_toggle(ctx, lang, s, screen).await.into()
        }
        Callback::AutoRenewOn => auto_renew::set(ctx, lang, user, true).await?.into(),
        Callback::AutoRenewOff => auto_renew::set(ctx, lang, user, false).await?.into(),
        Callback::Links => subscription::link(ctx, lang, s).into(),
        Callback::Qr => subscription::send_qr_of(ctx, target.chat, lang, s).await,
        Callback::Keys => subscription::keys(ctx, lang, s).into(),
        Callback::Apps => subscription::apps(ctx, lang, s).into(),
        Callback::ReissueAsk => subscription::reissue_ask(lang).into(),
        Callback::ReissueConfirm => subscription::reissue(ctx, lang, user).await?.into(),
        Callback::ResetLinkAsk => subscription::reset_link_ask(lang).into(),
        Callback::ResetLinkConfirm => subscription::reset_link(ctx, lang, user).await?.into(),
        Callback::Trial => subscription::trial(ctx, lang, user).await?.into(),
        Callback::Devices => devices::list(ctx, lang, user).await?.into(),
        Callback::DeviceRemoveAsk { device } => {
            devices::remove_ask(ctx, lang, user, device).await?.into()
        }
        Callback::DeviceRemove { device } => devices::remove(ctx, lang, user, device).await?.into(),
        Callback::Referral => referral::screen(ctx, lang, user).await?.into(),
        Callback::BuyTraffic => crate::bot::traffic::packs_screen(ctx, caller).into(),
        Callback::Language => language::picker(lang).into(),
        Callback::SetLanguage(new) => language::set(ctx, caller, user, new).await?.into(),
        // Admin actions are routed before this.
        Callback::AdminUser { .. }
        | Callback::AdminUsers { .. }
        | Callback::AdminGrant { .. }
        | Callback::AdminRevokeAsk { .. }
        | Callback::AdminRevoke { .. }
        | Callback::AdminRefundAsk { .. }
        | Callback::AdminRefund { .. }
        | Callback::AdminDevicesResetAsk { .. }
        | Callback::AdminDevicesReset { .. }
        | Callback::AdminTrafficResetAsk { .. }
        | Callback::AdminTrafficReset { .. }
        | Callback::BroadcastConfirm { .. }
        | Callback::BroadcastCancel { .. } => expired(lang).into(),
    })
}

/// "This button has expired": for buttons whose target is gone (with the
/// way back to the menu).
pub fn expired(lang: Lang) -> Screen {
    screens::notice(lang, "button-expired")
}
