//! Where a handler's answer goes ([`Target`]), what it is ([`Reply`]), and
//! how a [`Screen`] is put on the user's screen ([`show`]).

use teloxide::payloads::{EditMessageTextSetters, SendMessageSetters};
use teloxide::requests::{Request, Requester};
use teloxide::types::{ChatId, MessageId, ParseMode};

use super::BotContext;
use super::screens::Screen;

/// Where a screen goes: a new message, or in place of the message whose button was pressed.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    pub chat: ChatId,
    pub edit: Option<MessageId>,
}

impl Target {
    /// A new message in `chat`.
    pub fn chat(chat: ChatId) -> Self {
        Self { chat, edit: None }
    }

    /// The same chat, but as a new message rather than an edit.
    pub fn new_message(self) -> Self {
        Self { edit: None, ..self }
    }
}

/// What a handler answers with.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Show this screen at the target.
    Show(Screen),
    /// The handler already sent what it had to (an invoice, links and a QR
    /// code), or there is nothing to show.
    Done,
}

impl From<Screen> for Reply {
    fn from(screen: Screen) -> Self {
        Reply::Show(screen)
    }
}

/// Shows `reply` at `target` (nothing for [`Reply::Done`]).
pub async fn send(ctx: &BotContext, target: Target, reply: Reply) {
    if let Reply::Show(screen) = reply {
        show(ctx, target, screen).await;
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
