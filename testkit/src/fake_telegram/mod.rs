//! A fake Telegram Bot API server ([`FakeTelegram`]) for end-to-end tests and
//! benchmarks of the bot: an HTTP/1.1 server on `127.0.0.1` and a port of its
//! own that a real teloxide `Bot` talks to after
//! `Bot::new(token).set_api_url(fake.api_url().parse()?)`.
//!
//! # What it fakes
//!
//! Requests are `GET` or `POST {api_url}/bot{token}/{method}` with the
//! parameters in the query string, a JSON body, an
//! `application/x-www-form-urlencoded` body or a `multipart/form-data` body
//! (teloxide sends JSON, and multipart for `sendPhoto`/`setWebhook`). Method
//! names are matched case-insensitively, as Telegram does (teloxide sends
//! `SendMessage`); calls are recorded under the documented spelling
//! (`sendMessage`). Answers are `{"ok":true,"result":…}` or
//! `{"ok":false,"error_code":N,"description":"…"}` (plus
//! `"parameters":{"retry_after":N}` for 429), with the HTTP status equal to
//! `error_code`. The fake never answers 5xx (teloxide sleeps 10 s after one).
//!
//! * A token other than the one given to [`FakeTelegram::start`]: 401
//!   `Unauthorized` (teloxide: `ApiError::InvalidToken`). An unknown method
//!   or path: 404 `Not Found` (teloxide maps that to `InvalidToken` too).
//! * `getMe`: the bot `@subvisor_test_bot`, whose id is the token's prefix
//!   before `:`.
//! * `getUpdates`: the queue filled by [`push_update`](FakeTelegram::push_update);
//!   honours `offset` (updates below it are confirmed and dropped; a negative
//!   offset keeps the last `-offset`), `limit` (1–100), `timeout` (long poll,
//!   woken at once by `push_update`, `[]` at the timeout) and
//!   `allowed_updates` (remembered across calls like Telegram does; the
//!   default set excludes `chat_member`, `message_reaction` and
//!   `message_reaction_count`; updates of other kinds are dropped unseen).
//!   While a webhook is set it answers 409 `Conflict: can't use getUpdates
//!   method while webhook is active; …`.
//! * `sendMessage`, `sendPhoto`, `sendInvoice`, `editMessageText`,
//!   `editMessageReplyMarkup`, `editMessageCaption`: a `Message` from the bot
//!   with a new `message_id` (one counter for the whole process, so ids never
//!   collide with the builders'), `date`, a `chat` (`private` for positive
//!   ids, `supergroup` for negative ones), and the `text`/`caption`/inline
//!   `reply_markup` echoed as sent (no HTML/Markdown parsing, no `entities`;
//!   reply keyboards are accepted but, as in Telegram, not echoed). `sendPhoto`
//!   answers a one-size `photo` (the PNG's dimensions when the upload is a
//!   PNG), `sendInvoice` an `invoice`. Edits of a message the fake knows keep
//!   its other content and answer `message is not modified` (400) when nothing
//!   changes, like Telegram; edits of unknown messages (e.g. ids made up for
//!   [`callback`](FakeTelegram::callback)) succeed; edits or deletes of a
//!   deleted message answer `message to edit/delete not found`.
//! * `deleteMessage`, `answerCallbackQuery`, `answerPreCheckoutQuery`
//!   (recorded, see [`answered_pre_checkouts`](FakeTelegram::answered_pre_checkouts)),
//!   `refundStarPayment` (a second refund of one charge answers
//!   `CHARGE_ALREADY_REFUNDED`; a refund of a charge recorded with
//!   [`add_star_payment`](FakeTelegram::add_star_payment) adds the outgoing
//!   refund transaction), `setMyCommands`/`deleteMyCommands`/
//!   `getMyCommands` (per scope and language), `setWebhook` (HTTPS on port
//!   443, 80, 88 or 8443 only, secret token of `A-Za-z0-9_-`, as Telegram
//!   requires), `deleteWebhook`, `getWebhookInfo` (reflecting the webhook's
//!   url, pending update count and `allowed_updates`), `setChatMenuButton`:
//!   `true` or the stored value.
//! * `createInvoiceLink`: a string `https://t.me/$…`.
//! * `getStarTransactions` (`offset` ≥ 0, default 0; `limit` 1–100, default
//!   100, else 400 `invalid limit`): `{"transactions":[StarTransaction…]}`
//!   from the list kept by the fake, **newest first**. The Bot API
//!   documentation says "in chronological order"; the MTProto method
//!   underneath (`payments.getStarsTransactions`) returns transactions "in
//!   descending order by date" unless asked for `ascending`, and client
//!   libraries describe the default page as "the most recent 100
//!   transactions", so the fake assumes newest first — do not rely on the
//!   order, match by id. [`add_star_payment`](FakeTelegram::add_star_payment)
//!   records an incoming payment (`id` = the charge id, `amount`, `date`
//!   now, `source` = `{"type":"user","transaction_type":"invoice_payment",
//!   "user":{…},"invoice_payload":…}`); a successful `refundStarPayment` of
//!   that charge appends the outgoing refund (same `id`, as the Bot API
//!   documents for refunds, `receiver` = that user). Both deserialize into
//!   teloxide's `StarTransactions` (Bot API `StarTransaction`,
//!   `TransactionPartnerUser` with the `transaction_type` required since Bot
//!   API 9.0).
//!
//! Validation follows Telegram's documented limits where a bot could trip
//! over them: required parameters (`Bad Request: chat_id is empty`, …),
//! empty text (`message text is empty`), text over 4096 / captions over 1024
//! characters (HTML tags not counted), `callback_data` of 1–64 bytes
//! (`BUTTON_DATA_INVALID`), invoice title ≤ 32, description ≤ 255 and
//! payload ≤ 128 bytes, a provider token for currencies other than `XTR`.
//! The wording of errors teloxide does not know is an approximation.
//!
//! # Fault injection and inspection
//!
//! [`fail_next`](FakeTelegram::fail_next) (429 with `retry_after`),
//! [`block_chat`](FakeTelegram::block_chat) (403 `Forbidden: bot was blocked
//! by the user` for sends and edits), [`fail_refund`](FakeTelegram::fail_refund)
//! (400 `CHARGE_NOT_FOUND`), [`set_latency`](FakeTelegram::set_latency).
//! Every request addressed to `/bot…/method` is recorded as a [`Call`];
//! [`wait_for_calls`](FakeTelegram::wait_for_calls) and
//! [`wait_for_calls_async`](FakeTelegram::wait_for_calls_async) wait for them.
//!
//! Update builders ([`message`](FakeTelegram::message),
//! [`callback`](FakeTelegram::callback), [`pre_checkout`](FakeTelegram::pre_checkout),
//! [`successful_payment`](FakeTelegram::successful_payment)) make updates of
//! a private chat whose id is the user's id, with username `user{id}` and
//! first name `User{id}`; they are plain JSON, so a test can change any field
//! before pushing. [`push_update`](FakeTelegram::push_update) replaces the
//! message of a callback query by the one the bot last sent or edited under
//! that id when the fake knows it.
//!
//! The server (`crate::http_fake`) runs a thread per connection and closes
//! each connection after one answer, so a long poll never blocks other
//! calls. It works from sync and async tests; it stops when dropped (pending
//! long polls return `[]`).

use std::collections::{HashMap, HashSet, VecDeque};
use std::io;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use percent_encoding::percent_decode_str;
use serde_json::{Map, Value, json};

use crate::http_fake::{Request, Response, Server, parse_form};

mod calls;
mod dispatch;
mod faults;
mod messages;
mod objects;
mod params;
mod polling;
mod state;
mod updates;

// What the submodules share (they see it through `use super::*`).
pub use calls::Call;
use dispatch::{Answer, Failure, Incoming, bad, handle};
use messages::{
    check_invoice, delete_message, edit_message_caption, edit_message_reply_markup,
    edit_message_text, send_invoice, send_message, send_photo,
};
use objects::{
    bot_message, bot_user, me, next_message_id, star_partner, unix_now, user, user_message,
};
use params::{
    boolean, caption, check_markup, int, json_field, message_text, parse_params, photo_dimensions,
    required_chat, required_text, string_list, text,
};
use polling::{commands_key, get_updates, set_webhook};
use state::{Shared, State, Webhook, successful};

/// The bot's username in `getMe` and in messages sent by the bot.
pub const BOT_USERNAME: &str = "subvisor_test_bot";
/// The bot's first name in `getMe`.
pub const BOT_FIRST_NAME: &str = "Subvisor Test Bot";

/// Bot id used by the builders (which know no token); `push_update` puts the
/// fake's own bot in its place.
const PLACEHOLDER_BOT_ID: i64 = 1;
const MAX_TEXT: usize = 4096;
const MAX_CAPTION: usize = 1024;
const MAX_UPDATES: usize = 100;
/// How often [`FakeTelegram::wait_for_calls_async`] looks again.
const ASYNC_POLL: Duration = Duration::from_millis(5);

/// Every method the fake answers, spelled as in the Bot API documentation.
const METHODS: &[&str] = &[
    "getMe",
    "getUpdates",
    "sendMessage",
    "editMessageText",
    "editMessageReplyMarkup",
    "editMessageCaption",
    "deleteMessage",
    "sendPhoto",
    "answerCallbackQuery",
    "sendInvoice",
    "createInvoiceLink",
    "answerPreCheckoutQuery",
    "refundStarPayment",
    "getStarTransactions",
    "setMyCommands",
    "deleteMyCommands",
    "getMyCommands",
    "setWebhook",
    "deleteWebhook",
    "getWebhookInfo",
    "setChatMenuButton",
];

/// Methods that answer 403 for a chat blocked with [`FakeTelegram::block_chat`].
const BLOCKABLE: &[&str] = &[
    "sendMessage",
    "sendPhoto",
    "sendInvoice",
    "editMessageText",
    "editMessageReplyMarkup",
    "editMessageCaption",
];

/// Methods whose `text`/`caption` [`FakeTelegram::sent_texts_to`] reports.
const TEXT_METHODS: &[&str] = &[
    "sendMessage",
    "editMessageText",
    "sendPhoto",
    "editMessageCaption",
];

/// Form and multipart fields whose text is JSON (parsed into `Call::params`).
const JSON_FIELDS: &[&str] = &[
    "reply_markup",
    "entities",
    "caption_entities",
    "prices",
    "allowed_updates",
    "commands",
    "scope",
    "menu_button",
    "reply_parameters",
    "link_preview_options",
    "suggested_tip_amounts",
    "media",
];

/// Update kinds Telegram leaves out when `allowed_updates` is empty.
const NOT_BY_DEFAULT: &[&str] = &["chat_member", "message_reaction", "message_reaction_count"];

/// Message ids, shared by the builders and every fake in the process.
static NEXT_MESSAGE_ID: AtomicI64 = AtomicI64::new(1);
/// Callback query ids made by [`FakeTelegram::callback`].
static NEXT_CALLBACK_ID: AtomicI64 = AtomicI64::new(1);

/// A fake Telegram Bot API for one bot token; see the [module docs](self).
pub struct FakeTelegram {
    server: Server,
    shared: Arc<Shared>,
}

impl FakeTelegram {
    /// Starts the fake on a free port of `127.0.0.1`, accepting `token`
    /// (`"123456:secret"`: the bot id is the part before `:`).
    pub fn start(token: &str) -> io::Result<FakeTelegram> {
        let bot_id = token
            .split(':')
            .next()
            .and_then(|id| id.parse().ok())
            .unwrap_or(PLACEHOLDER_BOT_ID);
        let shared = Arc::new(Shared {
            token: token.to_owned(),
            bot_id,
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            stopped: AtomicBool::new(false),
        });
        let handler_shared = Arc::clone(&shared);
        let server = Server::start("fake Telegram", move |req| handle(&handler_shared, req))?;
        Ok(FakeTelegram { server, shared })
    }

    /// What to pass to `Bot::set_api_url`: `http://127.0.0.1:PORT`.
    pub fn api_url(&self) -> String {
        format!("http://{}", self.server.addr)
    }

    /// The accepted token.
    pub fn token(&self) -> &str {
        &self.shared.token
    }

    /// The bot's user id (the token's prefix before `:`).
    pub fn bot_id(&self) -> i64 {
        self.shared.bot_id
    }
}

impl Drop for FakeTelegram {
    fn drop(&mut self) {
        // Wake long polls so their threads end; `server` stops accepting next.
        self.shared.stopped.store(true, Ordering::SeqCst);
        self.shared.changed.notify_all();
    }
}

impl std::fmt::Debug for FakeTelegram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeTelegram")
            .field("addr", &self.server.addr)
            .field("bot_id", &self.shared.bot_id)
            .finish_non_exhaustive()
    }
}
