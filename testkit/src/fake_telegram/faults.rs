//! Fault injection: rate limits, blocked chats, failing refunds, latency.

use super::*;

impl FakeTelegram {
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
