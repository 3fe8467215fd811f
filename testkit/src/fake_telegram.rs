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

/// One request to the fake, as recorded.
#[derive(Clone, Debug)]
pub struct Call {
    /// The method as documented (`sendMessage`), whatever the request's casing
    /// (an unknown method is kept as sent).
    pub method: String,
    /// A JSON object: the JSON body, or the form / multipart text fields as
    /// strings (fields holding JSON, such as `reply_markup`, parsed), plus
    /// query-string fields. A multipart file part is
    /// `{"file_name": …, "size": N}` under the part's name.
    pub params: Value,
    /// Multipart file parts: (part name, bytes). teloxide names the part with
    /// a random id and sends `"photo": "attach://<id>"`.
    pub files: Vec<(String, Vec<u8>)>,
    /// `chat_id` when it is a number or a numeric string.
    pub chat_id: Option<i64>,
    /// When the request arrived.
    pub at: Instant,
    /// The HTTP status the fake answered (equal to `error_code` on errors).
    pub status: u16,
}

impl Call {
    /// A parameter as text: strings as they are, numbers and booleans printed.
    pub fn param_str(&self, key: &str) -> Option<String> {
        self.params.as_object().and_then(|p| text(p, key))
    }
}

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

    // --- recorded calls -----------------------------------------------------

    /// Every recorded call, in the order they were answered.
    pub fn calls(&self) -> Vec<Call> {
        self.shared.lock().calls.clone()
    }

    /// The recorded calls to `method` (case-insensitive), successful or not.
    pub fn calls_to(&self, method: &str) -> Vec<Call> {
        self.shared
            .lock()
            .calls
            .iter()
            .filter(|c| c.method.eq_ignore_ascii_case(method))
            .cloned()
            .collect()
    }

    /// Forgets the recorded calls (and answered pre-checkout queries).
    pub fn clear_calls(&self) {
        let mut state = self.shared.lock();
        state.calls.clear();
        state.pre_checkouts.clear();
    }

    /// Blocks until at least `n` calls to `method` succeeded (status 200) or
    /// `timeout` passed; returns the successful calls to `method` so far.
    /// Blocks the thread: from async code use
    /// [`wait_for_calls_async`](Self::wait_for_calls_async).
    pub fn wait_for_calls(&self, method: &str, n: usize, timeout: Duration) -> Vec<Call> {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        loop {
            let ok = successful(&state.calls, method);
            let now = Instant::now();
            if ok.len() >= n || now >= deadline {
                return ok;
            }
            state = self
                .shared
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// [`wait_for_calls`](Self::wait_for_calls) for async tests (polls every
    /// few milliseconds with `tokio::time::sleep`).
    pub async fn wait_for_calls_async(
        &self,
        method: &str,
        n: usize,
        timeout: Duration,
    ) -> Vec<Call> {
        let deadline = Instant::now() + timeout;
        loop {
            let ok = successful(&self.shared.lock().calls, method);
            if ok.len() >= n || Instant::now() >= deadline {
                return ok;
            }
            tokio::time::sleep(ASYNC_POLL).await;
        }
    }

    /// The `text` or `caption` of every successful `sendMessage`,
    /// `editMessageText`, `sendPhoto` and `editMessageCaption` to `chat_id`,
    /// in order (as sent: HTML/Markdown markup included).
    pub fn sent_texts_to(&self, chat_id: i64) -> Vec<String> {
        self.shared
            .lock()
            .calls
            .iter()
            .filter(|c| c.status == 200 && c.chat_id == Some(chat_id))
            .filter(|c| TEXT_METHODS.contains(&c.method.as_str()))
            .filter_map(|c| c.param_str("text").or_else(|| c.param_str("caption")))
            .collect()
    }

    /// The answered pre-checkout queries: (query id, ok, error message).
    pub fn answered_pre_checkouts(&self) -> Vec<(String, bool, Option<String>)> {
        self.shared.lock().pre_checkouts.clone()
    }

    /// The webhook set by the last successful `setWebhook` (none after
    /// `deleteWebhook`): (url, secret token, allowed updates).
    pub fn webhook(&self) -> Option<(String, Option<String>, Vec<String>)> {
        self.shared.lock().webhook.as_ref().map(|w| {
            (
                w.url.clone(),
                w.secret_token.clone(),
                w.allowed_updates.clone(),
            )
        })
    }

    // --- updates ------------------------------------------------------------

    /// Queues an update for `getUpdates` and wakes a waiting long poll.
    ///
    /// Assigns `update_id` (1, 2, … per fake) unless the update has one, and
    /// returns it. For a callback query whose message the bot sent or edited
    /// through this fake, the message is replaced by the bot's last version;
    /// otherwise a message from a bot gets this fake's bot as sender.
    ///
    /// Panics if `update` is not a JSON object.
    pub fn push_update(&self, mut update: Value) -> i64 {
        let bot = bot_user(self.shared.bot_id);
        let mut state = self.shared.lock();
        let Some(object) = update.as_object_mut() else {
            panic!("FakeTelegram::push_update: an update must be a JSON object, got {update}");
        };
        let id = match object.get("update_id").and_then(Value::as_i64) {
            Some(id) => id,
            None => {
                let id = state.next_update_id;
                object.insert("update_id".into(), json!(id));
                id
            }
        };
        state.next_update_id = state.next_update_id.max(id + 1);
        if let Some(message) = object
            .get_mut("callback_query")
            .and_then(|q| q.get_mut("message"))
        {
            let key = (
                message["chat"]["id"].as_i64().unwrap_or_default(),
                message["message_id"].as_i64().unwrap_or_default(),
            );
            if let Some(known) = state.messages.get(&key) {
                *message = known.clone();
            } else if message["from"]["is_bot"] == json!(true) {
                message["from"] = bot;
            }
        }
        state.updates.push_back(update);
        drop(state);
        self.shared.changed.notify_all();
        id
    }

    /// How many updates are queued and not yet confirmed.
    pub fn pending_updates(&self) -> usize {
        self.shared.lock().updates.len()
    }

    /// An update with a text message from user `user_id` in their private
    /// chat. Text starting with `/` gets a `bot_command` entity over its first
    /// word, as Telegram sends.
    pub fn message(user_id: i64, text: &str, language_code: Option<&str>) -> Value {
        let mut message = user_message(user_id, language_code);
        message["text"] = json!(text);
        if text.starts_with('/') {
            let command = text.split_whitespace().next().unwrap_or(text);
            message["entities"] = json!([{
                "type": "bot_command",
                "offset": 0,
                "length": command.encode_utf16().count(),
            }]);
        }
        json!({ "message": message })
    }

    /// An update with a callback query from user `user_id` pressing a button
    /// with `data` under message `message_id`, a text message the bot sent
    /// in the user's private chat (replaced by the real one by
    /// [`push_update`](Self::push_update) when the fake knows it).
    pub fn callback(user_id: i64, data: &str, message_id: i64) -> Value {
        let mut message = bot_message(PLACEHOLDER_BOT_ID, user_id, message_id);
        message["text"] = json!(format!("message {message_id}"));
        let n = NEXT_CALLBACK_ID.fetch_add(1, Ordering::Relaxed);
        json!({ "callback_query": {
            "id": format!("{}{n:06}", user_id.unsigned_abs()),
            "from": user(user_id, None),
            "message": message,
            "chat_instance": user_id.wrapping_mul(-7_046_029_254_386_353_131).to_string(),
            "data": data,
        }})
    }

    /// An update with a pre-checkout query from user `user_id`.
    pub fn pre_checkout(
        user_id: i64,
        query_id: &str,
        currency: &str,
        total_amount: u32,
        invoice_payload: &str,
    ) -> Value {
        json!({ "pre_checkout_query": {
            "id": query_id,
            "from": user(user_id, None),
            "currency": currency,
            "total_amount": total_amount,
            "invoice_payload": invoice_payload,
        }})
    }

    /// An update with the service message of a successful payment by user
    /// `user_id` (`provider_payment_charge_id` is empty for `XTR`, made up
    /// otherwise).
    pub fn successful_payment(
        user_id: i64,
        currency: &str,
        total_amount: u32,
        invoice_payload: &str,
        telegram_payment_charge_id: &str,
    ) -> Value {
        let provider_charge = if currency == "XTR" {
            String::new()
        } else {
            format!("provider_{telegram_payment_charge_id}")
        };
        let mut message = user_message(user_id, None);
        message["successful_payment"] = json!({
            "currency": currency,
            "total_amount": total_amount,
            "invoice_payload": invoice_payload,
            "telegram_payment_charge_id": telegram_payment_charge_id,
            "provider_payment_charge_id": provider_charge,
        });
        json!({ "message": message })
    }

    // --- fault injection ----------------------------------------------------

    /// The next `n` calls of `method` (case-insensitive) answer 429
    /// `Too Many Requests: retry after N` with `retry_after` N (teloxide:
    /// `RequestError::RetryAfter`). Replaces a previous setting for `method`.
    pub fn fail_next(&self, method: &str, n: usize, retry_after_secs: u32) {
        self.shared
            .lock()
            .failures
            .insert(method.to_ascii_lowercase(), (n, retry_after_secs));
    }

    /// Sends and edits to `chat_id` answer 403 `Forbidden: bot was blocked by
    /// the user` (teloxide: `ApiError::BotBlocked`).
    pub fn block_chat(&self, chat_id: i64) {
        self.shared.lock().blocked.insert(chat_id);
    }

    /// Undoes [`block_chat`](Self::block_chat).
    pub fn unblock_chat(&self, chat_id: i64) {
        self.shared.lock().blocked.remove(&chat_id);
    }

    /// `refundStarPayment` of `charge_id` answers 400 `Bad Request: CHARGE_NOT_FOUND`.
    pub fn fail_refund(&self, charge_id: &str) {
        self.shared
            .lock()
            .failing_refunds
            .insert(charge_id.to_owned());
    }

    /// Records an incoming Telegram Stars payment for `getStarTransactions`:
    /// `amount` Stars from user `user_id` (username `user{id}`), transaction
    /// id `charge_id` (the `telegram_payment_charge_id`), dated now, with
    /// `invoice_payload`. A later `refundStarPayment` of `charge_id` adds the
    /// outgoing refund transaction.
    pub fn add_star_payment(
        &self,
        user_id: i64,
        charge_id: &str,
        amount: u32,
        invoice_payload: &str,
    ) {
        let transaction = json!({
            "id": charge_id,
            "amount": amount,
            "date": unix_now(),
            "source": star_partner(user_id, invoice_payload),
        });
        let mut state = self.shared.lock();
        state
            .star_charges
            .insert(charge_id.to_owned(), (amount, invoice_payload.to_owned()));
        state.star_transactions.push(transaction);
    }

    /// Delays every answer except `getUpdates` by `latency` (zero: none).
    pub fn set_latency(&self, latency: Duration) {
        self.shared.lock().latency = latency;
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

// ---------------------------------------------------------------------------
// State

struct Shared {
    token: String,
    bot_id: i64,
    state: Mutex<State>,
    /// Notified on every recorded call, pushed update and on stop.
    changed: Condvar,
    stopped: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking handler thread must not take the fake down with it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct State {
    calls: Vec<Call>,
    updates: VecDeque<Value>,
    next_update_id: i64,
    /// The last `allowed_updates` given to getUpdates/setWebhook; empty: default.
    allowed_updates: Vec<String>,
    /// Lowercased method → (calls left to fail, retry_after).
    failures: HashMap<String, (usize, u32)>,
    blocked: HashSet<i64>,
    failing_refunds: HashSet<String>,
    refunded: HashSet<String>,
    /// Star transactions, oldest first (served newest first).
    star_transactions: Vec<Value>,
    /// Charge id → (Stars, invoice payload) of payments from `add_star_payment`.
    star_charges: HashMap<String, (u32, String)>,
    latency: Duration,
    webhook: Option<Webhook>,
    pre_checkouts: Vec<(String, bool, Option<String>)>,
    /// (scope JSON, language code) → commands.
    commands: HashMap<(String, String), Value>,
    /// (chat id, message id) → the bot's last version of the message.
    messages: HashMap<(i64, i64), Value>,
    deleted: HashSet<(i64, i64)>,
}

impl Default for State {
    fn default() -> Self {
        Self {
            calls: Vec::new(),
            updates: VecDeque::new(),
            next_update_id: 1,
            allowed_updates: Vec::new(),
            failures: HashMap::new(),
            blocked: HashSet::new(),
            failing_refunds: HashSet::new(),
            refunded: HashSet::new(),
            star_transactions: Vec::new(),
            star_charges: HashMap::new(),
            latency: Duration::ZERO,
            webhook: None,
            pre_checkouts: Vec::new(),
            commands: HashMap::new(),
            messages: HashMap::new(),
            deleted: HashSet::new(),
        }
    }
}

struct Webhook {
    url: String,
    secret_token: Option<String>,
    allowed_updates: Vec<String>,
    max_connections: i64,
}

fn successful(calls: &[Call], method: &str) -> Vec<Call> {
    calls
        .iter()
        .filter(|c| c.status == 200 && c.method.eq_ignore_ascii_case(method))
        .cloned()
        .collect()
}

// ---------------------------------------------------------------------------
// Request handling

/// A Bot API error: HTTP status = `error_code`.
struct Failure {
    code: u16,
    description: String,
    retry_after: Option<u32>,
}

type Answer = Result<Value, Failure>;

fn bad(what: impl std::fmt::Display) -> Failure {
    Failure {
        code: 400,
        description: format!("Bad Request: {what}"),
        retry_after: None,
    }
}

fn not_found() -> Failure {
    Failure {
        code: 404,
        description: "Not Found".into(),
        retry_after: None,
    }
}

/// The parameters of one request.
struct Incoming {
    params: Map<String, Value>,
    files: Vec<(String, Vec<u8>)>,
}

fn handle(shared: &Shared, req: &Request) -> Response {
    let arrived = Instant::now();
    let path = percent_decode_str(&req.path).decode_utf8_lossy();
    let Some((token, raw_method)) = path
        .strip_prefix("/bot")
        .and_then(|rest| rest.split_once('/'))
        .filter(|(_, method)| !method.is_empty() && !method.contains('/'))
    else {
        return reply(Err(not_found()));
    };
    let method = METHODS
        .iter()
        .find(|m| m.eq_ignore_ascii_case(raw_method))
        .map_or_else(|| raw_method.to_owned(), |m| (*m).to_owned());

    let incoming = parse_params(req);
    let (params, files) = match &incoming {
        Ok(inc) => (Value::Object(inc.params.clone()), inc.files.clone()),
        Err(_) => (json!({}), Vec::new()),
    };
    let chat_id = params.as_object().and_then(|p| int(p, "chat_id"));

    if method != "getUpdates" {
        let latency = shared.lock().latency;
        if !latency.is_zero() {
            std::thread::sleep(latency);
        }
    }

    let answer = if token != shared.token {
        Err(Failure {
            code: 401,
            description: "Unauthorized".into(),
            retry_after: None,
        })
    } else {
        match incoming {
            Err(failure) => Err(failure),
            Ok(incoming) => dispatch(shared, &method, chat_id, &incoming),
        }
    };

    let response = reply(answer);
    let mut state = shared.lock();
    state.calls.push(Call {
        method,
        params,
        files,
        chat_id,
        at: arrived,
        status: response.status,
    });
    drop(state);
    shared.changed.notify_all();
    response
}

fn reply(answer: Answer) -> Response {
    match answer {
        Ok(result) => Response::json(200, &json!({"ok": true, "result": result})),
        Err(failure) => {
            let mut body = json!({
                "ok": false,
                "error_code": failure.code,
                "description": failure.description,
            });
            if let Some(secs) = failure.retry_after {
                body["parameters"] = json!({ "retry_after": secs });
            }
            Response::json(failure.code, &body)
        }
    }
}

fn dispatch(shared: &Shared, method: &str, chat_id: Option<i64>, inc: &Incoming) -> Answer {
    if !METHODS.contains(&method) {
        return Err(not_found());
    }
    {
        let mut state = shared.lock();
        if let Some((left, secs)) = state.failures.get_mut(&method.to_ascii_lowercase())
            && *left > 0
        {
            *left -= 1;
            return Err(Failure {
                code: 429,
                description: format!("Too Many Requests: retry after {secs}"),
                retry_after: Some(*secs),
            });
        }
        if BLOCKABLE.contains(&method) && chat_id.is_some_and(|id| state.blocked.contains(&id)) {
            return Err(Failure {
                code: 403,
                description: "Forbidden: bot was blocked by the user".into(),
                retry_after: None,
            });
        }
    }
    let p = &inc.params;
    match method {
        "getMe" => Ok(me(shared.bot_id)),
        "getUpdates" => get_updates(shared, p),
        "sendMessage" => send_message(shared, p),
        "editMessageText" => edit_message_text(shared, p),
        "editMessageReplyMarkup" => edit_message_reply_markup(shared, p),
        "editMessageCaption" => edit_message_caption(shared, p),
        "deleteMessage" => delete_message(shared, p),
        "sendPhoto" => send_photo(shared, inc),
        "answerCallbackQuery" => {
            required_text(p, "callback_query_id")?;
            Ok(json!(true))
        }
        "sendInvoice" => send_invoice(shared, p),
        "createInvoiceLink" => {
            check_invoice(p)?;
            let id = uuid::Uuid::new_v4().simple().to_string();
            Ok(json!(format!("https://t.me/${}", &id[..22])))
        }
        "answerPreCheckoutQuery" => {
            let id = required_text(p, "pre_checkout_query_id")?;
            let ok = boolean(p, "ok").ok_or_else(|| bad("ok is empty"))?;
            let error = text(p, "error_message");
            shared.lock().pre_checkouts.push((id, ok, error));
            Ok(json!(true))
        }
        "refundStarPayment" => {
            let user_id = int(p, "user_id").ok_or_else(|| bad("user_id is empty"))?;
            let charge = required_text(p, "telegram_payment_charge_id")?;
            let mut state = shared.lock();
            if state.failing_refunds.contains(&charge) {
                return Err(bad("CHARGE_NOT_FOUND"));
            }
            if !state.refunded.insert(charge.clone()) {
                return Err(bad("CHARGE_ALREADY_REFUNDED"));
            }
            if let Some((amount, payload)) = state.star_charges.get(&charge).cloned() {
                state.star_transactions.push(json!({
                    "id": charge,
                    "amount": amount,
                    "date": unix_now(),
                    "receiver": star_partner(user_id, &payload),
                }));
            }
            Ok(json!(true))
        }
        "getStarTransactions" => {
            let offset = match p.get("offset") {
                None | Some(Value::Null) => 0,
                Some(_) => int(p, "offset")
                    .filter(|o| *o >= 0)
                    .ok_or_else(|| bad("invalid offset"))?,
            };
            let limit = match p.get("limit") {
                None | Some(Value::Null) => 100,
                Some(_) => int(p, "limit")
                    .filter(|l| (1..=100).contains(l))
                    .ok_or_else(|| bad("invalid limit"))?,
            };
            let state = shared.lock();
            let transactions: Vec<Value> = state
                .star_transactions
                .iter()
                .rev()
                .skip(usize::try_from(offset).unwrap_or(usize::MAX))
                .take(usize::try_from(limit).unwrap_or(100))
                .cloned()
                .collect();
            Ok(json!({ "transactions": transactions }))
        }
        "setMyCommands" => {
            let commands = json_field(p, "commands")
                .filter(Value::is_array)
                .ok_or_else(|| bad("commands is empty"))?;
            for command in commands.as_array().into_iter().flatten() {
                let name = command["command"].as_str().unwrap_or_default();
                let ok_name = (1..=32).contains(&name.len())
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
                if !ok_name {
                    return Err(bad("BOT_COMMAND_INVALID"));
                }
                let description = command["description"].as_str().unwrap_or_default();
                if !(1..=256).contains(&description.chars().count()) {
                    return Err(bad("BOT_COMMAND_DESCRIPTION_INVALID"));
                }
            }
            shared.lock().commands.insert(commands_key(p), commands);
            Ok(json!(true))
        }
        "deleteMyCommands" => {
            shared.lock().commands.remove(&commands_key(p));
            Ok(json!(true))
        }
        "getMyCommands" => Ok(shared
            .lock()
            .commands
            .get(&commands_key(p))
            .cloned()
            .unwrap_or_else(|| json!([]))),
        "setWebhook" => set_webhook(shared, p),
        "deleteWebhook" => {
            let mut state = shared.lock();
            state.webhook = None;
            if boolean(p, "drop_pending_updates") == Some(true) {
                state.updates.clear();
            }
            Ok(json!(true))
        }
        "getWebhookInfo" => {
            let state = shared.lock();
            let mut info = json!({
                "url": "",
                "has_custom_certificate": false,
                "pending_update_count": state.updates.len(),
            });
            if let Some(hook) = &state.webhook {
                info["url"] = json!(hook.url);
                info["max_connections"] = json!(hook.max_connections);
                if !hook.allowed_updates.is_empty() {
                    info["allowed_updates"] = json!(hook.allowed_updates);
                }
            }
            Ok(info)
        }
        "setChatMenuButton" => {
            if let Some(button) = json_field(p, "menu_button") {
                let kind = button["type"].as_str().unwrap_or_default();
                if !["commands", "web_app", "default"].contains(&kind) {
                    return Err(bad("can't parse menu button JSON object"));
                }
            }
            Ok(json!(true))
        }
        _ => Err(not_found()),
    }
}

fn get_updates(shared: &Shared, p: &Map<String, Value>) -> Answer {
    let offset = int(p, "offset").unwrap_or(0);
    let limit = int(p, "limit").map_or(MAX_UPDATES, |n| n.clamp(1, MAX_UPDATES as i64) as usize);
    let timeout = Duration::from_secs(int(p, "timeout").unwrap_or(0).clamp(0, 3600) as u64);
    let deadline = Instant::now() + timeout;

    let mut state = shared.lock();
    if state.webhook.is_some() {
        return Err(Failure {
            code: 409,
            description: "Conflict: can't use getUpdates method while webhook is active; \
                          use deleteWebhook to delete the webhook first"
                .into(),
            retry_after: None,
        });
    }
    if let Some(allowed) = json_field(p, "allowed_updates") {
        state.allowed_updates = string_list(&allowed);
    }
    if offset > 0 {
        state
            .updates
            .retain(|u| u["update_id"].as_i64().unwrap_or(0) >= offset);
    } else if offset < 0 {
        let keep = offset.unsigned_abs() as usize;
        let excess = state.updates.len().saturating_sub(keep);
        state.updates.drain(..excess);
    }
    loop {
        let allowed = state.allowed_updates.clone();
        state.updates.retain(|u| is_allowed(u, &allowed));
        if !state.updates.is_empty()
            || shared.stopped.load(Ordering::SeqCst)
            || Instant::now() >= deadline
        {
            let batch: Vec<Value> = state.updates.iter().take(limit).cloned().collect();
            return Ok(Value::Array(batch));
        }
        let wait = deadline.saturating_duration_since(Instant::now());
        state = shared
            .changed
            .wait_timeout(state, wait)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}

/// Whether an update's kind (its key other than `update_id`) may be delivered.
fn is_allowed(update: &Value, allowed: &[String]) -> bool {
    let Some(kind) = update
        .as_object()
        .and_then(|o| o.keys().find(|k| *k != "update_id"))
    else {
        return true;
    };
    if allowed.is_empty() {
        !NOT_BY_DEFAULT.contains(&kind.as_str())
    } else {
        allowed.iter().any(|a| a == kind)
    }
}

fn send_message(shared: &Shared, p: &Map<String, Value>) -> Answer {
    let chat = required_chat(p)?;
    let text = message_text(p)?;
    let markup = check_markup(p)?;
    let mut message = bot_message(shared.bot_id, chat, next_message_id());
    message["text"] = json!(text);
    if let Some(markup) = markup {
        message["reply_markup"] = markup;
    }
    Ok(remember(shared, chat, message))
}

fn send_photo(shared: &Shared, inc: &Incoming) -> Answer {
    let p = &inc.params;
    let chat = required_chat(p)?;
    let (size, width, height) = match p.get("photo") {
        None | Some(Value::Null) => return Err(bad("there is no photo in the request")),
        Some(Value::String(s)) if s.is_empty() => {
            return Err(bad("there is no photo in the request"));
        }
        Some(Value::String(s)) => match s.strip_prefix("attach://") {
            Some(name) => {
                let bytes = inc
                    .files
                    .iter()
                    .find(|(part, _)| part == name)
                    .map(|(_, bytes)| bytes)
                    .ok_or_else(|| bad("wrong file identifier/HTTP URL specified"))?;
                photo_dimensions(bytes)
            }
            // A file id or URL: nothing to look at.
            None => (0, 512, 512),
        },
        // The file itself uploaded as the `photo` part.
        Some(Value::Object(_)) => inc
            .files
            .iter()
            .find(|(part, _)| part == "photo")
            .map_or((0, 512, 512), |(_, bytes)| photo_dimensions(bytes)),
        Some(_) => return Err(bad("wrong file identifier/HTTP URL specified")),
    };
    let caption = caption(p)?;
    let markup = check_markup(p)?;
    let id = next_message_id();
    let mut message = bot_message(shared.bot_id, chat, id);
    message["photo"] = json!([{
        "file_id": format!("fake-photo-{id}"),
        "file_unique_id": format!("fake-unique-{id}"),
        "file_size": size,
        "width": width,
        "height": height,
    }]);
    if let Some(caption) = caption {
        message["caption"] = json!(caption);
    }
    if let Some(markup) = markup {
        message["reply_markup"] = markup;
    }
    Ok(remember(shared, chat, message))
}

fn send_invoice(shared: &Shared, p: &Map<String, Value>) -> Answer {
    let chat = required_chat(p)?;
    let total = check_invoice(p)?;
    check_markup(p)?;
    let mut message = bot_message(shared.bot_id, chat, next_message_id());
    message["invoice"] = json!({
        "title": text(p, "title"),
        "description": text(p, "description"),
        "start_parameter": text(p, "start_parameter").unwrap_or_default(),
        "currency": text(p, "currency"),
        "total_amount": total,
    });
    Ok(remember(shared, chat, message))
}

/// Validates the invoice fields of sendInvoice/createInvoiceLink; returns the total.
fn check_invoice(p: &Map<String, Value>) -> Result<i64, Failure> {
    let title = required_text(p, "title")?;
    let description = required_text(p, "description")?;
    let payload = required_text(p, "payload")?;
    let currency = required_text(p, "currency")?;
    if title.chars().count() > 32 {
        return Err(bad("INVOICE_TITLE_INVALID"));
    }
    if description.chars().count() > 255 {
        return Err(bad("INVOICE_DESCRIPTION_INVALID"));
    }
    if payload.len() > 128 {
        return Err(bad("INVOICE_PAYLOAD_INVALID"));
    }
    let provider_token = text(p, "provider_token").unwrap_or_default();
    if currency != "XTR" && provider_token.is_empty() {
        return Err(bad("PAYMENT_PROVIDER_INVALID"));
    }
    let prices = json_field(p, "prices").ok_or_else(|| bad("prices is empty"))?;
    let prices = prices.as_array().filter(|a| !a.is_empty());
    let mut total = 0i64;
    for price in prices.ok_or_else(|| bad("CURRENCY_TOTAL_AMOUNT_INVALID"))? {
        let amount = price["amount"].as_i64().unwrap_or(0);
        if price["label"].as_str().is_none_or(str::is_empty) || amount <= 0 {
            return Err(bad("CURRENCY_TOTAL_AMOUNT_INVALID"));
        }
        total += amount;
    }
    if currency == "XTR" && prices.is_some_and(|a| a.len() != 1) {
        return Err(bad("STARS_INVOICE_INVALID"));
    }
    Ok(total)
}

/// What an edit addresses: an inline message (answered with `true`) or a chat message.
enum Target {
    Inline,
    Message(i64, i64),
}

fn edit_target(p: &Map<String, Value>) -> Result<Target, Failure> {
    if text(p, "inline_message_id").is_some_and(|id| !id.is_empty()) {
        return Ok(Target::Inline);
    }
    let chat = required_chat(p)?;
    let id = int(p, "message_id").ok_or_else(|| bad("message identifier is not specified"))?;
    Ok(Target::Message(chat, id))
}

/// The current version of a message for an edit, or a made-up one.
fn editable(shared: &Shared, chat: i64, id: i64) -> Result<Option<Value>, Failure> {
    let state = shared.lock();
    if state.deleted.contains(&(chat, id)) {
        return Err(bad("message to edit not found"));
    }
    Ok(state.messages.get(&(chat, id)).cloned())
}

fn not_modified() -> Failure {
    bad(
        "message is not modified: specified new message content and reply markup are \
         exactly the same as a current content and reply markup of the message",
    )
}

fn set_markup(message: &mut Value, markup: Option<Value>) {
    let object = message.as_object_mut().expect("messages are objects");
    match markup {
        Some(markup) => object.insert("reply_markup".into(), markup),
        None => object.remove("reply_markup"),
    };
}

fn edit_message_text(shared: &Shared, p: &Map<String, Value>) -> Answer {
    let target = edit_target(p)?;
    let text = message_text(p)?;
    let markup = check_markup(p)?;
    let Target::Message(chat, id) = target else {
        return Ok(json!(true));
    };
    let mut message = match editable(shared, chat, id)? {
        Some(old) if old.get("text").is_none() => {
            return Err(bad("there is no text in the message to edit"));
        }
        Some(old) if old["text"] == json!(text) && old.get("reply_markup") == markup.as_ref() => {
            return Err(not_modified());
        }
        Some(old) => old,
        None => bot_message(shared.bot_id, chat, id),
    };
    message["text"] = json!(text);
    set_markup(&mut message, markup);
    message["edit_date"] = json!(unix_now());
    Ok(remember(shared, chat, message))
}

fn edit_message_reply_markup(shared: &Shared, p: &Map<String, Value>) -> Answer {
    let target = edit_target(p)?;
    let markup = check_markup(p)?;
    let Target::Message(chat, id) = target else {
        return Ok(json!(true));
    };
    let mut message = match editable(shared, chat, id)? {
        Some(old) if old.get("reply_markup") == markup.as_ref() => return Err(not_modified()),
        Some(old) => old,
        None => {
            let mut message = bot_message(shared.bot_id, chat, id);
            message["text"] = json!(format!("message {id}"));
            message
        }
    };
    set_markup(&mut message, markup);
    message["edit_date"] = json!(unix_now());
    Ok(remember(shared, chat, message))
}

fn edit_message_caption(shared: &Shared, p: &Map<String, Value>) -> Answer {
    let target = edit_target(p)?;
    let caption = caption(p)?;
    let markup = check_markup(p)?;
    let Target::Message(chat, id) = target else {
        return Ok(json!(true));
    };
    let mut message = match editable(shared, chat, id)? {
        Some(old) if old.get("text").is_some() => {
            return Err(bad("there is no caption in the message to edit"));
        }
        Some(old)
            if old.get("caption") == caption.as_ref().map(|c| json!(c)).as_ref()
                && old.get("reply_markup") == markup.as_ref() =>
        {
            return Err(not_modified());
        }
        Some(old) => old,
        None => {
            let mut message = bot_message(shared.bot_id, chat, id);
            message["photo"] = json!([{
                "file_id": format!("fake-photo-{id}"),
                "file_unique_id": format!("fake-unique-{id}"),
                "width": 512,
                "height": 512,
            }]);
            message
        }
    };
    let object = message.as_object_mut().expect("messages are objects");
    match caption {
        Some(caption) => object.insert("caption".into(), json!(caption)),
        None => object.remove("caption"),
    };
    set_markup(&mut message, markup);
    message["edit_date"] = json!(unix_now());
    Ok(remember(shared, chat, message))
}

fn delete_message(shared: &Shared, p: &Map<String, Value>) -> Answer {
    let chat = required_chat(p)?;
    let id = int(p, "message_id").ok_or_else(|| bad("message identifier is not specified"))?;
    let mut state = shared.lock();
    if !state.deleted.insert((chat, id)) {
        return Err(bad("message to delete not found"));
    }
    state.messages.remove(&(chat, id));
    Ok(json!(true))
}

fn set_webhook(shared: &Shared, p: &Map<String, Value>) -> Answer {
    let url = text(p, "url").ok_or_else(|| bad("url is empty"))?;
    let allowed = json_field(p, "allowed_updates").map(|v| string_list(&v));
    let drop_pending = boolean(p, "drop_pending_updates") == Some(true);
    let mut state = shared.lock();
    if let Some(allowed) = &allowed {
        state.allowed_updates = allowed.clone();
    }
    if drop_pending {
        state.updates.clear();
    }
    if url.is_empty() {
        state.webhook = None;
        return Ok(json!(true));
    }
    let Some(rest) = url.strip_prefix("https://") else {
        return Err(bad("bad webhook: HTTPS url must be provided for webhook"));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    let port = match host_port.strip_prefix('[') {
        Some(ipv6) => ipv6.split_once("]:").map(|(_, port)| port),
        None => host_port.split_once(':').map(|(_, port)| port),
    };
    let port = port.map_or(Some(443), |port| port.parse::<u16>().ok());
    if !matches!(port, Some(80 | 88 | 443 | 8443)) {
        return Err(bad(
            "bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443",
        ));
    }
    let secret_token = text(p, "secret_token");
    if let Some(secret) = &secret_token {
        let valid = (1..=256).contains(&secret.len())
            && secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid {
            return Err(bad("secret token contains unallowed characters"));
        }
    }
    let max_connections = int(p, "max_connections").unwrap_or(40);
    state.webhook = Some(Webhook {
        url,
        secret_token,
        allowed_updates: allowed.unwrap_or_else(|| state.allowed_updates.clone()),
        max_connections,
    });
    Ok(json!(true))
}

fn commands_key(p: &Map<String, Value>) -> (String, String) {
    let scope = json_field(p, "scope").unwrap_or_else(|| json!({"type": "default"}));
    (
        scope.to_string(),
        text(p, "language_code").unwrap_or_default(),
    )
}

/// Stores a message the bot sent or edited and returns it.
fn remember(shared: &Shared, chat: i64, message: Value) -> Value {
    let id = message["message_id"].as_i64().unwrap_or_default();
    shared.lock().messages.insert((chat, id), message.clone());
    message
}

// ---------------------------------------------------------------------------
// Parameters

fn int(p: &Map<String, Value>, key: &str) -> Option<i64> {
    match p.get(key)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn text(p: &Map<String, Value>, key: &str) -> Option<String> {
    match p.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn boolean(p: &Map<String, Value>, key: &str) -> Option<bool> {
    match p.get(key)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.as_str() {
            "true" | "True" | "1" => Some(true),
            "false" | "False" | "0" => Some(false),
            _ => None,
        },
        Value::Number(n) => Some(n.as_i64() != Some(0)),
        _ => None,
    }
}

/// A JSON-valued parameter: as sent in a JSON body, or parsed from text.
fn json_field(p: &Map<String, Value>, key: &str) -> Option<Value> {
    match p.get(key)? {
        Value::String(s) => serde_json::from_str(s).ok(),
        Value::Null => None,
        other => Some(other.clone()),
    }
}

fn string_list(value: &Value) -> Vec<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

fn required_text(p: &Map<String, Value>, key: &str) -> Result<String, Failure> {
    text(p, key)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| bad(format!("{key} is empty")))
}

fn required_chat(p: &Map<String, Value>) -> Result<i64, Failure> {
    match p.get("chat_id") {
        None | Some(Value::Null) => Err(bad("chat_id is empty")),
        Some(Value::String(s)) if s.is_empty() => Err(bad("chat_id is empty")),
        Some(_) => int(p, "chat_id")
            .filter(|id| *id != 0)
            .ok_or_else(|| bad("chat not found")),
    }
}

fn message_text(p: &Map<String, Value>) -> Result<String, Failure> {
    let text = text(p, "text")
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| bad("message text is empty"))?;
    if visible_len(&text, p) > MAX_TEXT {
        return Err(bad("message is too long"));
    }
    Ok(text)
}

fn caption(p: &Map<String, Value>) -> Result<Option<String>, Failure> {
    let caption = text(p, "caption");
    if caption
        .as_ref()
        .is_some_and(|c| visible_len(c, p) > MAX_CAPTION)
    {
        return Err(bad("message caption is too long"));
    }
    Ok(caption)
}

/// Length in UTF-16 units as Telegram counts it: HTML tags do not count and
/// an entity such as `&amp;` counts as one character.
fn visible_len(text: &str, p: &Map<String, Value>) -> usize {
    let html = text_field_is(p, "parse_mode", "html");
    if !html {
        return text.encode_utf16().count();
    }
    let mut len = 0;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '<' => {
                for c in chars.by_ref() {
                    if c == '>' {
                        break;
                    }
                }
            }
            '&' => {
                let rest = chars.as_str();
                if let Some(end) = rest.find(';').filter(|end| *end <= 8) {
                    chars = rest[end + 1..].chars();
                }
                len += 1;
            }
            c => len += c.len_utf16(),
        }
    }
    len
}

fn text_field_is(p: &Map<String, Value>, key: &str, value: &str) -> bool {
    text(p, key).is_some_and(|v| v.eq_ignore_ascii_case(value))
}

/// Checks `reply_markup`; returns it when it is an inline keyboard (the only
/// kind Telegram echoes in the sent message).
fn check_markup(p: &Map<String, Value>) -> Result<Option<Value>, Failure> {
    let Some(raw) = p.get("reply_markup").filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let markup = json_field(p, "reply_markup")
        .filter(Value::is_object)
        .ok_or_else(|| {
            bad(format!(
                "can't parse reply keyboard markup JSON object: {raw}"
            ))
        })?;
    let Some(rows) = markup.get("inline_keyboard") else {
        return Ok(None);
    };
    let rows = rows
        .as_array()
        .ok_or_else(|| bad("field \"inline_keyboard\" must be an Array"))?;
    for button in rows
        .iter()
        .flat_map(|row| row.as_array().into_iter().flatten())
    {
        if button["text"].as_str().is_none_or(str::is_empty) {
            return Err(bad(
                "can't parse inline keyboard button: Text must be non-empty",
            ));
        }
        if let Some(data) = button.get("callback_data") {
            let len = data.as_str().map_or(0, str::len);
            if !(1..=64).contains(&len) {
                return Err(bad("BUTTON_DATA_INVALID"));
            }
        }
    }
    Ok(Some(markup))
}

/// Query string, then the body by content type.
fn parse_params(req: &Request) -> Result<Incoming, Failure> {
    let mut params = Map::new();
    let mut files = Vec::new();
    let content_type = req.header("content-type").unwrap_or("").to_owned();
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if !req.body.is_empty() {
        match mime.as_str() {
            "application/json" => match serde_json::from_slice(&req.body) {
                Ok(Value::Object(body)) => params = body,
                _ => return Err(bad("can't parse JSON object")),
            },
            "application/x-www-form-urlencoded" => {
                let body = String::from_utf8_lossy(&req.body);
                for (key, value) in parse_form(&body) {
                    insert_text(&mut params, key, value);
                }
            }
            "multipart/form-data" => {
                let boundary = content_type
                    .split(';')
                    .filter_map(|part| part.trim().strip_prefix("boundary="))
                    .next()
                    .map(|b| b.trim_matches('"').to_owned())
                    .ok_or_else(|| bad("multipart boundary is missing"))?;
                for part in parse_multipart(&req.body, &boundary).map_err(bad)? {
                    match part.file_name {
                        Some(file_name) => {
                            params.insert(
                                part.name.clone(),
                                json!({"file_name": file_name, "size": part.data.len()}),
                            );
                            files.push((part.name, part.data));
                        }
                        None => {
                            let value = String::from_utf8_lossy(&part.data).into_owned();
                            insert_text(&mut params, part.name, value);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    for (key, value) in parse_form(&req.query) {
        if !params.contains_key(&key) {
            insert_text(&mut params, key, value);
        }
    }
    Ok(Incoming { params, files })
}

/// A text field; JSON-valued fields are stored parsed when they parse.
fn insert_text(params: &mut Map<String, Value>, key: String, value: String) {
    let parsed = JSON_FIELDS
        .contains(&key.as_str())
        .then(|| serde_json::from_str::<Value>(&value).ok())
        .flatten();
    params.insert(key, parsed.unwrap_or(Value::String(value)));
}

struct Part {
    name: String,
    file_name: Option<String>,
    data: Vec<u8>,
}

fn parse_multipart(body: &[u8], boundary: &str) -> Result<Vec<Part>, String> {
    let delimiter = format!("--{boundary}").into_bytes();
    let next_delimiter = [b"\r\n".as_slice(), &delimiter].concat();
    let mut pos =
        find(body, &delimiter, 0).ok_or("multipart boundary not found")? + delimiter.len();
    let mut parts = Vec::new();
    loop {
        let rest = &body[pos..];
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        if !rest.starts_with(b"\r\n") {
            return Err("malformed multipart body".into());
        }
        let head_start = pos + 2;
        let (head_end, data_start) = if body[head_start..].starts_with(b"\r\n") {
            (head_start, head_start + 2) // a part without headers
        } else {
            let end = find(body, b"\r\n\r\n", head_start).ok_or("unterminated multipart head")?;
            (end, end + 4)
        };
        let data_end =
            find(body, &next_delimiter, data_start).ok_or("unterminated multipart part")?;
        let head = String::from_utf8_lossy(&body[head_start..head_end]);
        let mut name = None;
        let mut file_name = None;
        for line in head.split("\r\n") {
            let Some((header, value)) = line.split_once(':') else {
                continue;
            };
            if !header.trim().eq_ignore_ascii_case("content-disposition") {
                continue;
            }
            for param in value.split(';').skip(1) {
                let Some((key, value)) = param.trim().split_once('=') else {
                    continue;
                };
                let value = value.trim().trim_matches('"');
                match key.trim().to_ascii_lowercase().as_str() {
                    "name" => name = Some(value.to_owned()),
                    "filename" => file_name = Some(value.to_owned()),
                    "filename*" => {
                        let encoded = value.rsplit('\'').next().unwrap_or(value);
                        file_name = Some(percent_decode_str(encoded).decode_utf8_lossy().into());
                    }
                    _ => {}
                }
            }
        }
        parts.push(Part {
            name: name.ok_or("multipart part without a name")?,
            file_name,
            data: body[data_start..data_end].to_vec(),
        });
        pos = data_end + next_delimiter.len();
    }
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|window| window == needle)
        .map(|i| i + from)
}

/// (size, width, height) of an uploaded photo: the PNG header's when it is a PNG.
fn photo_dimensions(bytes: &[u8]) -> (usize, u32, u32) {
    let be =
        |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    if bytes.len() >= 24 && bytes.starts_with(b"\x89PNG\r\n\x1a\n") && &bytes[12..16] == b"IHDR" {
        (bytes.len(), be(16), be(20))
    } else {
        (bytes.len(), 512, 512)
    }
}

// ---------------------------------------------------------------------------
// Telegram objects

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn next_message_id() -> i64 {
    NEXT_MESSAGE_ID.fetch_add(1, Ordering::Relaxed)
}

fn me(bot_id: i64) -> Value {
    let mut me = bot_user(bot_id);
    let object = me.as_object_mut().expect("users are objects");
    for (key, value) in [
        ("can_join_groups", true),
        ("can_read_all_group_messages", false),
        ("supports_inline_queries", false),
        ("can_connect_to_business", false),
        ("has_main_web_app", false),
    ] {
        object.insert(key.into(), json!(value));
    }
    me
}

fn bot_user(bot_id: i64) -> Value {
    json!({
        "id": bot_id,
        "is_bot": true,
        "first_name": BOT_FIRST_NAME,
        "username": BOT_USERNAME,
    })
}

fn user(user_id: i64, language_code: Option<&str>) -> Value {
    let mut user = json!({
        "id": user_id,
        "is_bot": false,
        "first_name": format!("User{user_id}"),
        "username": format!("user{user_id}"),
    });
    if let Some(code) = language_code {
        user["language_code"] = json!(code);
    }
    user
}

/// A `TransactionPartnerUser` for an invoice payment of user `user_id`.
fn star_partner(user_id: i64, invoice_payload: &str) -> Value {
    json!({
        "type": "user",
        "transaction_type": "invoice_payment",
        "user": user(user_id, None),
        "invoice_payload": invoice_payload,
    })
}

/// A private chat for positive ids (users), a supergroup for negative ones.
fn chat(chat_id: i64) -> Value {
    if chat_id > 0 {
        json!({
            "id": chat_id,
            "type": "private",
            "first_name": format!("User{chat_id}"),
            "username": format!("user{chat_id}"),
        })
    } else {
        json!({"id": chat_id, "type": "supergroup", "title": format!("Chat {chat_id}")})
    }
}

/// The common part of a message the bot sent to `chat_id`.
fn bot_message(bot_id: i64, chat_id: i64, message_id: i64) -> Value {
    json!({
        "message_id": message_id,
        "from": bot_user(bot_id),
        "chat": chat(chat_id),
        "date": unix_now(),
    })
}

/// The common part of a message user `user_id` sent in their private chat.
fn user_message(user_id: i64, language_code: Option<&str>) -> Value {
    json!({
        "message_id": next_message_id(),
        "from": user(user_id, language_code),
        "chat": chat(user_id),
        "date": unix_now(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_parts_and_files() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"chat_id\"\r\n\r\n42\r\n\
                     --XyZ\r\nContent-Disposition: form-data; name=\"reply_markup\"\r\n\r\n\
                     {\"inline_keyboard\":[]}\r\n\
                     --XyZ\r\nContent-Disposition: form-data; name=\"f1\"; filename=\"a.bin\"\r\n\
                     Content-Type: application/octet-stream\r\n\r\n\x00\r\n--X\x01\r\n--XyZ--\r\n";
        let parts = parse_multipart(body, "XyZ").unwrap();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0].name, "chat_id");
        assert_eq!(parts[0].data, b"42");
        assert_eq!(parts[2].file_name.as_deref(), Some("a.bin"));
        assert_eq!(parts[2].data, b"\x00\r\n--X\x01");
    }

    #[test]
    fn form_decoding_and_json_fields() {
        let mut params = Map::new();
        for (k, v) in parse_form("text=a+b%26c&reply_markup=%7B%22inline_keyboard%22%3A%5B%5D%7D") {
            insert_text(&mut params, k, v);
        }
        assert_eq!(params["text"], json!("a b&c"));
        assert_eq!(params["reply_markup"], json!({"inline_keyboard": []}));
    }

    #[test]
    fn html_length_ignores_tags() {
        let mut p = Map::new();
        p.insert("parse_mode".into(), json!("HTML"));
        assert_eq!(visible_len("<b>ab</b>&amp;c", &p), 4);
        assert_eq!(visible_len("<b>ab</b>", &Map::new()), 9);
    }

    #[test]
    fn png_dimensions() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        png.extend_from_slice(&300u32.to_be_bytes());
        png.extend_from_slice(&200u32.to_be_bytes());
        assert_eq!(photo_dimensions(&png), (24, 300, 200));
        assert_eq!(photo_dimensions(b"nope"), (4, 512, 512));
    }
}
