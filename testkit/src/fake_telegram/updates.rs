//! Updates for the bot: queueing them for `getUpdates` and the builders of
//! messages, callback queries, pre-checkout queries and payments.

use super::*;

impl FakeTelegram {
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
}
