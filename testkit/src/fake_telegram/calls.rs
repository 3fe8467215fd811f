//! Recorded calls: [`Call`] and the [`FakeTelegram`] methods that read and
//! wait for them.

use super::*;

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

impl FakeTelegram {
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
}
