//! User flows: commands and button presses of ordinary users. Admin commands
//! are in [`admin`](super::admin), Stars checkout in [`stars`](super::stars).

use std::sync::Arc;

use subvisor_actors::Error as CoreError;
use subvisor_actors::domain::{Money, PlanId, Principal, Provider, UserId};
use subvisor_actors::messages::{Reissue, RotateSubToken, SetLanguage, StartTrial, Touch, View};
use subvisor_actors::payments::Purchase;
use subvisor_actors::store::{Profile, UserSnapshot};
use teloxide::payloads::{
    AnswerCallbackQuerySetters, EditMessageTextSetters, SendInvoiceSetters, SendMessageSetters,
    SendPhotoSetters,
};
use teloxide::requests::{Request, Requester};
use teloxide::types::{
    CallbackQuery, ChatId, InlineKeyboardButton, InputFile, LabeledPrice, Message, MessageId,
    ParseMode, Update, UpdateKind, User,
};

use super::BotContext;
use super::callback::Callback;
use super::i18n::{Lang, html_escape, tr};
use super::screens::{self, Screen, row};
use crate::t;

/// Where a screen goes: a new message, or in place of the message whose button was pressed.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    pub chat: ChatId,
    pub edit: Option<MessageId>,
}

/// Handles one update (never panics on input; errors are logged and the user
/// gets a polite message).
pub async fn handle(ctx: &Arc<BotContext>, update: Update) {
    match update.kind {
        UpdateKind::Message(msg) => on_message(ctx, msg).await,
        UpdateKind::CallbackQuery(q) => on_callback(ctx, q).await,
        UpdateKind::PreCheckoutQuery(q) => super::stars::pre_checkout(ctx, q).await,
        _ => {}
    }
}

/// The user's language: their choice, else Telegram's `language_code`.
pub fn lang_of(snapshot: Option<&UserSnapshot>, user: &User) -> Lang {
    match snapshot.and_then(|s| s.language.as_deref()) {
        Some(code) => Lang::from_code(Some(code)),
        None => Lang::from_code(user.language_code.as_deref()),
    }
}

fn user_id(user: &User) -> Option<UserId> {
    i64::try_from(user.id.0)
        .ok()
        .and_then(|id| UserId::new(id).ok())
}

/// The user's state, creating them on first contact.
pub async fn load(
    ctx: &BotContext,
    user: &User,
    referrer: Option<UserId>,
    always_touch: bool,
) -> Option<UserSnapshot> {
    let id = user_id(user)?;
    // A user marked as having blocked the bot is talking to us again: touch
    // them, which clears the mark (or their notifications stay dropped).
    if !always_touch
        && let Ok(Some(s)) = ctx.registry.send(id, View).await
        && !s.bot_blocked
    {
        return Some(s);
    }
    let profile = Profile {
        username: user.username.clone(),
        language_code: user.language_code.clone(),
        referrer,
    };
    match ctx.registry.send(id, Touch { profile }).await {
        Ok((_, s)) => Some(s),
        Err(e) => {
            tracing::warn!(user = %id, error = %e, "cannot load user");
            None
        }
    }
}

/// Sends or edits; an edit that fails (message too old, identical) falls back to a new message.
pub async fn show(ctx: &BotContext, target: Target, screen: Screen) {
    if let Some(id) = target.edit {
        let mut req = ctx
            .bot
            .edit_message_text(target.chat, id, screen.text.clone())
            .parse_mode(ParseMode::Html);
        if let Some(kb) = screen.keyboard.clone() {
            req = req.reply_markup(kb);
        }
        match req.send().await {
            Ok(_) => return,
            Err(teloxide::RequestError::Api(teloxide::ApiError::MessageNotModified)) => return,
            Err(e) => tracing::debug!(error = %e, "edit failed; sending a new message"),
        }
    }
    let mut req = ctx
        .bot
        .send_message(target.chat, screen.text)
        .parse_mode(ParseMode::Html);
    if let Some(kb) = screen.keyboard {
        req = req.reply_markup(kb);
    }
    if let Err(e) = req.send().await {
        tracing::warn!(error = %e, chat = target.chat.0, "sendMessage failed");
    }
}

async fn on_message(ctx: &Arc<BotContext>, msg: Message) {
    let Some(from) = msg.from.clone() else { return };
    if msg.successful_payment().is_some()
        || matches!(msg.kind, teloxide::types::MessageKind::RefundedPayment(_))
    {
        // Money moved: never rate-limited, never dropped.
        super::stars::payment_message(ctx, &from, &msg).await;
        return;
    }
    // Screens carry subscription links and keys: private chats only (a
    // /sub in a group would post them for everyone there).
    if !msg.chat.is_private() {
        return;
    }
    let Some(text) = msg.text().map(str::trim).map(str::to_owned) else {
        return;
    };
    let uid = from.id.0 as i64;
    if !ctx.admit(uid) {
        if ctx.should_warn(uid) {
            let lang = Lang::from_code(from.language_code.as_deref());
            show(
                ctx,
                Target {
                    chat: msg.chat.id,
                    edit: None,
                },
                Screen::text(tr(lang, "rate-limited")),
            )
            .await;
        }
        return;
    }
    let target = Target {
        chat: msg.chat.id,
        edit: None,
    };
    let (command, args) = split_command(&text, &ctx.username);
    if ctx.is_admin(uid) && super::admin::handles(&command) {
        super::admin::command(ctx, &from, target, &command, args).await;
        return;
    }
    match command.as_str() {
        "/start" => {
            let referrer = args
                .strip_prefix("ref")
                .and_then(|r| r.parse::<i64>().ok())
                .and_then(|r| UserId::new(r).ok());
            let s = load(ctx, &from, referrer, true).await;
            let lang = lang_of(s.as_ref(), &from);
            menu(ctx, target, &from, s.as_ref(), lang).await;
        }
        "/menu" => {
            let s = load(ctx, &from, None, false).await;
            let lang = lang_of(s.as_ref(), &from);
            menu(ctx, target, &from, s.as_ref(), lang).await;
        }
        "/help" => {
            let s = load(ctx, &from, None, false).await;
            show(ctx, target, help(ctx, lang_of(s.as_ref(), &from))).await;
        }
        "/sub" => {
            let s = load(ctx, &from, None, false).await;
            let lang = lang_of(s.as_ref(), &from);
            show(ctx, target, subscription_screen(ctx, lang, s.as_ref())).await;
        }
        _ => {
            let s = load(ctx, &from, None, false).await;
            let lang = lang_of(s.as_ref(), &from);
            show(ctx, target, screens::notice(lang, "unknown-command")).await;
        }
    }
}

/// `/cmd@botname args` → ("/cmd", "args").
pub fn split_command<'a>(text: &'a str, bot: &str) -> (String, &'a str) {
    let (head, args) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    let command = match head.split_once('@') {
        Some((cmd, name)) if name.eq_ignore_ascii_case(bot) => cmd,
        Some(_) => "",
        None => head,
    };
    (command.to_ascii_lowercase(), args.trim())
}

async fn menu(ctx: &BotContext, target: Target, from: &User, s: Option<&UserSnapshot>, lang: Lang) {
    let now = ctx.registry.clock().now();
    show(
        ctx,
        target,
        screens::main_menu(lang, &from.first_name, s, now, ctx.trial_days),
    )
    .await;
}

fn help(ctx: &BotContext, lang: Lang) -> Screen {
    let text = match &ctx.support {
        Some(support) => t!(lang, "help", support = html_escape(support)),
        None => tr(lang, "help-no-support"),
    };
    Screen::with(text, vec![screens::back_to_menu(lang)])
}

fn subscription_screen(ctx: &BotContext, lang: Lang, s: Option<&UserSnapshot>) -> Screen {
    let now = ctx.registry.clock().now();
    let links = s.map(|s| ctx.links.links(s, now)).unwrap_or_default();
    let url = s.and_then(|s| ctx.links.subscription_url(s));
    screens::subscription(lang, s, &links, url.as_deref(), now)
}

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

async fn on_callback(ctx: &Arc<BotContext>, q: CallbackQuery) {
    let uid = q.from.id.0 as i64;
    let Some(message) = q.message.as_ref() else {
        let _ = ctx.bot.answer_callback_query(q.id.clone()).send().await;
        return;
    };
    if !message.chat().is_private() {
        let _ = ctx.bot.answer_callback_query(q.id.clone()).send().await;
        return;
    }
    let target = Target {
        chat: message.chat().id,
        edit: Some(message.id()),
    };
    if !ctx.admit(uid) {
        let lang = Lang::from_code(q.from.language_code.as_deref());
        let _ = ctx
            .bot
            .answer_callback_query(q.id.clone())
            .text(tr(lang, "rate-limited"))
            .send()
            .await;
        return;
    }
    let action = q.data.as_deref().map(Callback::decode);
    let action = match action {
        Some(Ok(action)) => action,
        _ => {
            let lang = Lang::from_code(q.from.language_code.as_deref());
            metrics::counter!("subvisor_bot_stale_callbacks_total").increment(1);
            let _ = ctx
                .bot
                .answer_callback_query(q.id.clone())
                .text(tr(lang, "button-expired"))
                .send()
                .await;
            return;
        }
    };
    // Stop the button's spinner right away; screens follow.
    let _ = ctx.bot.answer_callback_query(q.id.clone()).send().await;
    if super::admin::is_admin_action(&action) {
        if ctx.is_admin(uid) {
            super::admin::callback(ctx, &q.from, target, action).await;
        } else {
            let lang = Lang::from_code(q.from.language_code.as_deref());
            show(ctx, target, Screen::text(tr(lang, "button-expired"))).await;
        }
        return;
    }
    user_action(ctx, &q.from, target, action).await;
}

async fn user_action(ctx: &Arc<BotContext>, from: &User, target: Target, action: Callback) {
    let Some(user) = user_id(from) else { return };
    let s = load(ctx, from, None, false).await;
    let lang = lang_of(s.as_ref(), from);
    let now = ctx.registry.clock().now();
    let balance = Money::new(
        s.as_ref().map_or(0, |s| s.balance_minor),
        ctx.balance_currency.clone(),
    );
    match action {
        Callback::Menu | Callback::Cancel => menu(ctx, target, from, s.as_ref(), lang).await,
        Callback::Buy => {
            let screen = screens::plans(lang, ctx.registry.plans().iter(), &offered(ctx));
            show(ctx, target, screen).await;
        }
        Callback::Plan { plan } => {
            let Some(plan) = PlanId::new(plan)
                .ok()
                .and_then(|p| ctx.registry.plans().get(&p).cloned())
            else {
                show(ctx, target, Screen::text(tr(lang, "button-expired"))).await;
                return;
            };
            show(
                ctx,
                target,
                screens::pay_methods(lang, &plan, &offered(ctx), &balance),
            )
            .await;
        }
        Callback::Pay {
            plan,
            provider,
            key,
        } => {
            let Ok(plan) = PlanId::new(plan) else {
                show(ctx, target, Screen::text(tr(lang, "button-expired"))).await;
                return;
            };
            let press = Press {
                purchase: Purchase::Plan(plan),
                provider,
                idempotency_key: key.map(|k| format!("tg:{k:x}")),
            };
            pay(ctx, user, lang, target, press, &balance).await;
        }
        Callback::TopUp => {
            let mut rows = Vec::new();
            for amount in &ctx.topups {
                let m = Money::new(*amount, ctx.balance_currency.clone());
                for provider in offered(ctx) {
                    if matches!(provider, Provider::Balance | Provider::Stars) {
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
            show(ctx, target, Screen::with(tr(lang, "topup-title"), rows)).await;
        }
        Callback::TopUpPay {
            amount_minor,
            provider,
        } => {
            // Only the amounts and providers the top-up screen offers: a
            // forged Stars button would get an invoice of N Stars for N cents.
            if !ctx.topups.contains(&amount_minor)
                || matches!(provider, Provider::Stars | Provider::Balance)
            {
                show(ctx, target, Screen::text(tr(lang, "button-expired"))).await;
                return;
            }
            let amount = Money::new(amount_minor, ctx.balance_currency.clone());
            let press = Press {
                purchase: Purchase::TopUp(amount),
                provider,
                idempotency_key: None,
            };
            pay(ctx, user, lang, target, press, &balance).await;
        }
        Callback::MySub => show(ctx, target, subscription_screen(ctx, lang, s.as_ref())).await,
        Callback::Links => send_links(ctx, target.chat, lang, s.as_ref()).await,
        Callback::ReissueAsk => {
            let screen = screens::confirm(
                lang,
                tr(lang, "reissue-confirm"),
                Callback::ReissueConfirm,
                Callback::MySub,
            );
            show(ctx, target, screen).await;
        }
        Callback::ReissueConfirm => match ctx
            .registry
            .send(
                user,
                Reissue {
                    by: Principal::User(user),
                },
            )
            .await
        {
            Ok(change) => {
                ctx.notifier.notify_one();
                let mut screen = subscription_screen(ctx, lang, Some(&change.snapshot));
                screen.text = format!("{}\n\n{}", tr(lang, "reissued"), screen.text);
                show(ctx, target, screen).await;
            }
            Err(CoreError::NotActive(_) | CoreError::NoSubscription(_)) => {
                show(ctx, target, screens::notice(lang, "no-subscription")).await;
            }
            Err(e) => failed(ctx, target, lang, e).await,
        },
        Callback::ResetLinkAsk => {
            let screen = screens::confirm(
                lang,
                tr(lang, "reset-link-confirm"),
                Callback::ResetLinkConfirm,
                Callback::MySub,
            );
            show(ctx, target, screen).await;
        }
        Callback::ResetLinkConfirm => match ctx
            .registry
            .send(
                user,
                RotateSubToken {
                    by: Principal::User(user),
                },
            )
            .await
        {
            Ok(change) => {
                let url = ctx
                    .links
                    .subscription_url(&change.snapshot)
                    .unwrap_or_default();
                let text = t!(lang, "link-reset", url = html_escape(&url));
                show(
                    ctx,
                    target,
                    Screen::with(text, vec![row([(tr(lang, "btn-my-sub"), Callback::MySub)])]),
                )
                .await;
            }
            Err(CoreError::NoSubscription(_) | CoreError::NotActive(_)) => {
                show(ctx, target, screens::notice(lang, "no-subscription")).await;
            }
            Err(e) => failed(ctx, target, lang, e).await,
        },
        Callback::Trial => {
            if ctx.trial_days == 0 {
                show(ctx, target, screens::notice(lang, "trial-disabled")).await;
                return;
            }
            match ctx.registry.send(user, StartTrial).await {
                Ok(_) => {
                    ctx.notifier.notify_one();
                    let text = t!(lang, "trial-started", days = ctx.trial_days);
                    show(
                        ctx,
                        target,
                        Screen::with(text, vec![row([(tr(lang, "btn-my-sub"), Callback::MySub)])]),
                    )
                    .await;
                }
                Err(CoreError::TrialAlreadyUsed(_)) => {
                    show(
                        ctx,
                        target,
                        Screen::with(
                            tr(lang, "trial-used"),
                            vec![
                                row([(tr(lang, "btn-buy"), Callback::Buy)]),
                                screens::back_to_menu(lang),
                            ],
                        ),
                    )
                    .await;
                }
                Err(e) => failed(ctx, target, lang, e).await,
            }
        }
        Callback::Balance => {
            let text = t!(
                lang,
                "balance-title",
                balance = screens::money(lang, &balance)
            );
            let mut rows = Vec::new();
            if offered(ctx)
                .iter()
                .any(|p| matches!(p, Provider::Cryptobot | Provider::Nowpayments))
            {
                rows.push(row([(tr(lang, "btn-topup"), Callback::TopUp)]));
            }
            rows.push(screens::back_to_menu(lang));
            show(ctx, target, Screen::with(text, rows)).await;
        }
        Callback::Referral => {
            let link = format!("https://t.me/{}?start=ref{}", ctx.username, user);
            let count = ctx.registry.store().referral_count(user).await.unwrap_or(0);
            let text = match &ctx.referral_bonus {
                Some(bonus) => t!(
                    lang,
                    "referral",
                    link = html_escape(&link),
                    bonus = screens::money(lang, bonus),
                    count = count
                ),
                None => t!(
                    lang,
                    "referral-no-bonus",
                    link = html_escape(&link),
                    count = count
                ),
            };
            show(
                ctx,
                target,
                Screen::with(text, vec![screens::back_to_menu(lang)]),
            )
            .await;
        }
        Callback::Help => show(ctx, target, help(ctx, lang)).await,
        Callback::Language => {
            let mut rows = screens::languages();
            rows.push(screens::back_to_menu(lang));
            show(ctx, target, Screen::with(tr(lang, "language-title"), rows)).await;
        }
        Callback::SetLanguage(new) => {
            let language = new.code().to_owned();
            match ctx.registry.send(user, SetLanguage { language }).await {
                Ok(change) => {
                    let screen = screens::main_menu(
                        new,
                        &from.first_name,
                        Some(&change.snapshot),
                        now,
                        ctx.trial_days,
                    );
                    let screen = Screen {
                        text: format!("{}\n\n{}", tr(new, "language-set"), screen.text),
                        ..screen
                    };
                    show(ctx, target, screen).await;
                }
                Err(e) => failed(ctx, target, lang, e).await,
            }
        }
        // Admin actions are routed before this.
        _ => show(ctx, target, Screen::text(tr(lang, "button-expired"))).await,
    }
}

/// A press of a Pay button: what, through whom, and the press's key.
struct Press {
    purchase: Purchase,
    provider: Provider,
    idempotency_key: Option<String>,
}

/// Creates (or reuses) the order and shows how to pay.
async fn pay(
    ctx: &Arc<BotContext>,
    user: UserId,
    lang: Lang,
    target: Target,
    press: Press,
    balance: &Money,
) {
    let Press {
        purchase,
        provider,
        idempotency_key,
    } = press;
    if ctx.purchases_paused().await {
        show(ctx, target, screens::notice(lang, "purchases-paused")).await;
        return;
    }
    if !ctx.payments.offers(provider) {
        show(ctx, target, screens::notice(lang, "provider-unavailable")).await;
        return;
    }
    let plan = match &purchase {
        Purchase::Plan(p) => ctx.registry.plans().get(p).cloned(),
        Purchase::TopUp(_) => None,
    };
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
            let price = plan
                .as_ref()
                .and_then(|p| p.price_for(Provider::Balance))
                .map(|m| screens::money(lang, &m))
                .unwrap_or_default();
            let text = t!(
                lang,
                "insufficient-funds",
                balance = screens::money(lang, balance),
                price = price
            );
            let mut rows = Vec::new();
            if offered(ctx)
                .iter()
                .any(|p| matches!(p, Provider::Cryptobot | Provider::Nowpayments))
            {
                rows.push(row([(tr(lang, "btn-topup"), Callback::TopUp)]));
            }
            rows.push(row([(tr(lang, "btn-back"), Callback::Buy)]));
            show(ctx, target, Screen::with(text, rows)).await;
            return;
        }
        Err(CoreError::Provider { .. }) => {
            show(ctx, target, screens::notice(lang, "provider-unavailable")).await;
            return;
        }
        Err(e) => {
            failed(ctx, target, lang, e).await;
            return;
        }
    };
    if checkout.paid.is_some() {
        // Paid from the balance: the "activated"/"extended" message with the
        // links comes through the outbox right away.
        ctx.notifier.notify_one();
        show(
            ctx,
            target,
            Screen::with(
                tr(lang, "order-paid"),
                vec![row([(tr(lang, "btn-my-sub"), Callback::MySub)])],
            ),
        )
        .await;
        return;
    }
    let order = checkout.order;
    match provider {
        Provider::Stars => {
            let title = plan.as_ref().map(|p| p.title.clone()).unwrap_or_default();
            let days = plan.as_ref().map_or(0, |p| p.days);
            let Ok(amount) = u32::try_from(order.amount.minor) else {
                failed(
                    ctx,
                    target,
                    lang,
                    CoreError::invalid("amount", "too large for Stars"),
                )
                .await;
                return;
            };
            let result = ctx
                .bot
                .send_invoice(
                    target.chat,
                    t!(lang, "invoice-title", plan = title.clone()),
                    t!(
                        lang,
                        "invoice-description",
                        plan = title.clone(),
                        days = days
                    ),
                    order.id.to_string(),
                    "XTR",
                    [LabeledPrice::new(
                        t!(lang, "invoice-label", plan = title),
                        amount,
                    )],
                )
                .provider_token("")
                .send()
                .await;
            if let Err(e) = result {
                tracing::warn!(error = %e, order = %order.id, "sendInvoice failed");
                show(ctx, target, screens::notice(lang, "provider-unavailable")).await;
            }
        }
        _ => {
            let Some(url) = checkout.pay_url.and_then(|u| reqwest::Url::parse(&u).ok()) else {
                show(ctx, target, screens::notice(lang, "provider-unavailable")).await;
                return;
            };
            let name = screens::provider_label(lang, provider, balance);
            let text = t!(
                lang,
                "pay-with-link",
                provider = html_escape(&name),
                amount = screens::money(lang, &order.amount),
                ttl_minutes = ctx.order_ttl.as_secs() / 60
            );
            let rows = vec![
                vec![InlineKeyboardButton::url(
                    t!(lang, "btn-pay-url", provider = name),
                    url,
                )],
                screens::back_to_menu(lang),
            ];
            show(ctx, target, Screen::with(text, rows)).await;
        }
    }
}

/// The links, subscription URL and a QR code of the subscription URL.
pub async fn send_links(ctx: &BotContext, chat: ChatId, lang: Lang, s: Option<&UserSnapshot>) {
    let now = ctx.registry.clock().now();
    let Some(s) = s.filter(|s| screens::is_live(Some(s), now)) else {
        show(
            ctx,
            Target { chat, edit: None },
            Screen::with(
                tr(lang, "no-subscription"),
                vec![row([(tr(lang, "btn-buy"), Callback::Buy)])],
            ),
        )
        .await;
        return;
    };
    let links = ctx.links.links(s, now);
    let url = ctx.links.subscription_url(s);
    show(
        ctx,
        Target { chat, edit: None },
        Screen::with(
            screens::links_text(lang, &links, url.as_deref()),
            vec![screens::back_to_menu(lang)],
        ),
    )
    .await;
    if let Some(url) = url {
        send_qr(ctx, chat, lang, &url).await;
    }
}

pub async fn send_qr(ctx: &BotContext, chat: ChatId, lang: Lang, text: &str) {
    match super::qr::qr_png(text) {
        Ok(png) => {
            let photo = InputFile::memory(png).file_name("subscription-qr.png");
            if let Err(e) = ctx
                .bot
                .send_photo(chat, photo)
                .caption(tr(lang, "qr-caption"))
                .send()
                .await
            {
                tracing::warn!(error = %e, "sendPhoto failed");
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot render the QR code"),
    }
}

async fn failed(ctx: &BotContext, target: Target, lang: Lang, error: CoreError) {
    tracing::warn!(%error, "bot action failed");
    show(
        ctx,
        Target {
            edit: None,
            ..target
        },
        screens::notice(lang, "error-generic"),
    )
    .await;
}
