//! The fake's state behind its lock: calls, updates, messages, webhook,
//! Stars, commands.

use super::*;

pub(super) struct Shared {
    pub(super) token: String,
    pub(super) bot_id: i64,
    pub(super) state: Mutex<State>,
    /// Notified on every recorded call, pushed update and on stop.
    pub(super) changed: Condvar,
    pub(super) stopped: AtomicBool,
}

impl Shared {
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking handler thread must not take the fake down with it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub(super) struct State {
    pub(super) calls: Vec<Call>,
    pub(super) updates: VecDeque<Value>,
    pub(super) next_update_id: i64,
    /// The last `allowed_updates` given to getUpdates/setWebhook; empty: default.
    pub(super) allowed_updates: Vec<String>,
    /// Lowercased method → (calls left to fail, retry_after).
    pub(super) failures: HashMap<String, (usize, u32)>,
    pub(super) blocked: HashSet<i64>,
    pub(super) failing_refunds: HashSet<String>,
    pub(super) refunded: HashSet<String>,
    /// Star transactions, oldest first (served newest first).
    pub(super) star_transactions: Vec<Value>,
    /// Charge id → (Stars, invoice payload) of payments from `add_star_payment`.
    pub(super) star_charges: HashMap<String, (u32, String)>,
    pub(super) latency: Duration,
    pub(super) webhook: Option<Webhook>,
    pub(super) pre_checkouts: Vec<(String, bool, Option<String>)>,
    /// (scope JSON, language code) → commands.
    pub(super) commands: HashMap<(String, String), Value>,
    /// (chat id, message id) → the bot's last version of the message.
    pub(super) messages: HashMap<(i64, i64), Value>,
    pub(super) deleted: HashSet<(i64, i64)>,
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

pub(super) struct Webhook {
    pub(super) url: String,
    pub(super) secret_token: Option<String>,
    pub(super) allowed_updates: Vec<String>,
    pub(super) max_connections: i64,
}

pub(super) fn successful(calls: &[Call], method: &str) -> Vec<Call> {
    calls
        .iter()
        .filter(|c| c.status == 200 && c.method.eq_ignore_ascii_case(method))
        .cloned()
        .collect()
}
