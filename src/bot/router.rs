//! One update in, one handler called: messages (payments first, then slash
//! commands), button presses and Stars pre-checkouts. Each kind runs in its
//! own span carrying the sender's id (never message texts or tokens); rate
//! limits, private-chat checks and callback decoding happen here, the
//! features in [`super::user`], [`super::admin`] and [`super::stars`].

use std::sync::Arc;

use teloxide::payloads::AnswerCallbackQuerySetters;
use teloxide::requests::{Request, Requester};
use teloxide::types::{CallbackQuery, Message, MessageKind, Update, UpdateKind, User};

use super::callback::Callback;
use super::commands::Input;
use super::context::BotContext;
use super::i18n::{Lang, tr};
use super::reply::{Target, show};
use super::screens::{Screen, back_to_menu};
use super::{admin, stars, user};

/// Handles one update (never panics on input; errors are logged and the user
/// gets a polite message).
pub async fn handle(ctx: &Arc<BotContext>, update: Update) {
    match update.kind {
        UpdateKind::Message(msg) if carries_payment(&msg) => stars::payment_message(ctx, msg).await,
        UpdateKind::Message(msg) => on_message(ctx, msg).await,
        UpdateKind::CallbackQuery(q) => on_callback(ctx, q).await,
        UpdateKind::PreCheckoutQuery(q) => stars::pre_checkout(ctx, q).await,
        _ => {}
    }
}

/// The language the user chose (Telegram's before they did, or when the
/// store cannot be read).
async fn chosen_lang(ctx: &BotContext, from: &User) -> Lang {
    match ctx.stored_user(from).await {
        Ok(s) => ctx.lang_of(s.as_ref(), from),
        Err(_) => ctx.telegram_lang(from),
    }
}

/// A Stars payment or refund: money moved, so never rate-limited, never dropped.
fn carries_payment(msg: &Message) -> bool {
    msg.successful_payment().is_some() || matches!(msg.kind, MessageKind::RefundedPayment(_))
}

/// A text message: a command for the user or admin handlers.
#[tracing::instrument(name = "message", skip_all, fields(user = msg.from.as_ref().map(|u| u.id.0)))]
async fn on_message(ctx: &Arc<BotContext>, msg: Message) {
    let Some(from) = msg.from.clone() else { return };
    // Screens carry subscription links and keys: private chats only (a
    // /sub in a group would post them for everyone there).
    if !msg.chat.is_private() {
        return;
    }
    let uid = from.id.0 as i64;
    let target = Target::chat(msg.chat.id);
    if !ctx.admit(uid) {
        if ctx.should_warn(uid) {
            let lang = chosen_lang(ctx, &from).await;
            show(ctx, target, Screen::text(tr(lang, "rate-limited"))).await;
        }
        return;
    }
    // A photo, a sticker, a voice message: where to get help.
    let Some(text) = msg.text() else {
        return user::media(ctx, &from, target).await;
    };
    // The code after "Have a promo code?" (a command cancels it).
    if !text.trim_start().starts_with('/') && user::promo::awaiting(ctx, uid) {
        return user::promo::entered(ctx, &from, target, text).await;
    }
    match Input::parse(text, ctx.username(), ctx.is_admin(uid)) {
        Input::Admin(command, args) => admin::command(ctx, &from, target, command, args).await,
        Input::User(command, args) => user::command(ctx, &from, target, command, args).await,
        Input::Unknown => user::unknown_command(ctx, &from, target, text).await,
    }
}

/// A button press: answered right away (stale buttons with "expired"), then
/// handled by the user or admin handlers.
#[tracing::instrument(name = "callback", skip_all, fields(user = q.from.id.0))]
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
        // The store is read for the language only when the warning is due.
        let mut answer = ctx.bot.answer_callback_query(q.id.clone());
        if ctx.should_warn(uid) {
            answer = answer.text(tr(chosen_lang(ctx, &q.from).await, "rate-limited"));
        }
        let _ = answer.send().await;
        return;
    }
    let action = match q.data.as_deref().map(Callback::decode) {
        Some(Ok(action)) => action,
        _ => {
            let lang = chosen_lang(ctx, &q.from).await;
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
    if admin::is_admin_action(&action) {
        if ctx.is_admin(uid) {
            admin::callback(ctx, &q.from, target, action).await;
        } else {
            let lang = chosen_lang(ctx, &q.from).await;
            let screen = Screen::with(tr(lang, "button-expired"), vec![back_to_menu(lang)]);
            show(ctx, target, screen).await;
        }
        return;
    }
    user::callback(ctx, &q.from, target, action).await;
}
