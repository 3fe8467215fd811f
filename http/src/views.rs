//! JSON shapes of the ops API.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use subvisor_actors::links::LinkBook;
use subvisor_actors::provisioning::{BreakerState, LastReconcile, Mismatch, NodeStatus};
use subvisor_actors::store::UserSnapshot;

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct KeyView {
    pub uuid: String,
    pub email: String,
    pub state: String,
    pub created_at: String,
    pub upload_bytes: i64,
    pub download_bytes: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BalanceView {
    pub minor: i64,
    pub currency: String,
}

/// `GET /ops/users/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct UserView {
    pub user_id: i64,
    /// `active`, `expired`, `revoked`, or `none` (never subscribed).
    pub status: String,
    /// RFC 3339, UTC.
    pub expires_at: Option<String>,
    pub keys: Vec<KeyView>,
    pub balance: BalanceView,
    pub trial_used: bool,
    pub bot_blocked: bool,
    pub created_at: String,
    /// `vless://` links, one per node (empty unless the subscription is live).
    pub links: Vec<String>,
    pub subscription_url: Option<String>,
    /// The user's devices (`x-hwid`), on `GET /ops/users/{id}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub devices: Option<DevicesView>,
    /// The plan renewed from the balance before expiry (`null`: auto-renewal
    /// off), on `GET /ops/users/{id}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_renew: Option<Option<String>>,
    /// The subscription's traffic (allowance, period usage, limit), on
    /// `GET /ops/users/{id}` and the answers of writes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic: Option<subvisor_actors::domain::TrafficState>,
}

/// A user's devices and the limit they are held to.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DevicesView {
    /// The limit in force (`null`: none).
    pub limit: Option<u32>,
    /// The limit the last applied plan set (`null`: none did, the default applies).
    pub plan_limit: Option<u32>,
    pub devices: Vec<DeviceView>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeviceView {
    /// What `DELETE /ops/users/{id}/devices/{device}` takes.
    pub id: i64,
    pub hwid: String,
    pub os: Option<String>,
    pub model: Option<String>,
    pub app: Option<String>,
    pub first_seen: String,
    pub last_seen: String,
}

impl DevicesView {
    pub fn new(list: &subvisor_actors::domain::DeviceList, default_limit: u32) -> Self {
        Self {
            limit: list.limit(default_limit),
            plan_limit: list.plan_limit,
            devices: list
                .devices
                .iter()
                .map(|d| DeviceView {
                    id: d.id,
                    hwid: d.hwid.as_str().to_owned(),
                    os: d.os.clone(),
                    model: d.model.clone(),
                    app: d.app.clone(),
                    first_seen: rfc3339(d.first_seen),
                    last_seen: rfc3339(d.last_seen),
                })
                .collect(),
        }
    }
}

impl UserView {
    pub fn new(
        s: &UserSnapshot,
        balance_currency: &str,
        book: &LinkBook,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            user_id: s.user.get(),
            status: s
                .subscription
                .as_ref()
                .map_or("none", |sub| sub.status.as_str())
                .to_owned(),
            expires_at: s.subscription.as_ref().map(|sub| rfc3339(sub.expires_at)),
            keys: s
                .keys
                .iter()
                .map(|k| KeyView {
                    uuid: k.uuid.to_string(),
                    email: k.email.clone(),
                    state: k.state.to_string(),
                    created_at: rfc3339(k.created_at),
                    upload_bytes: k.upload_bytes,
                    download_bytes: k.download_bytes,
                })
                .collect(),
            balance: BalanceView {
                minor: s.balance_minor,
                currency: balance_currency.to_owned(),
            },
            trial_used: s.trial_used,
            bot_blocked: s.bot_blocked,
            created_at: rfc3339(s.created_at),
            links: book.links(s, now),
            subscription_url: book.subscription_url(s),
            devices: None,
            auto_renew: None,
            traffic: None,
        }
    }
}

/// One node on `GET /ops/nodes`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct NodeView {
    pub name: String,
    pub kind: String,
    pub state: String,
    pub users: Option<usize>,
    pub pending_ops: i64,
    pub note: Option<String>,
    pub breaker: Option<BreakerState>,
    pub in_flight: usize,
    pub last_error: Option<String>,
    /// Where the node differs from its `[[nodes]]` entry (`[]`: nowhere);
    /// `null` when unknown (not checked yet, unreachable) or unsupported
    /// (the node cannot list its inbounds: v2ray, Xray before `ListInbounds`).
    pub drift: Option<Vec<Mismatch>>,
    /// When the oldest pending op of this node was written.
    pub oldest_pending_at: Option<DateTime<Utc>>,
    /// The last reconcile that could change the node (not a dry run), since start.
    pub last_reconcile: Option<LastReconcile>,
}

/// `GET /ops/nodes`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct NodesView {
    /// True when no `[[nodes]]` are configured and the in-memory sandbox node is used.
    pub sandbox: bool,
    pub nodes: Vec<NodeView>,
}

impl NodeView {
    pub fn new(status: NodeStatus, pending_ops: i64) -> Self {
        Self {
            name: status.name,
            kind: status.kind.to_owned(),
            state: status.state,
            users: status.users,
            pending_ops,
            note: status.note,
            breaker: status.breaker,
            in_flight: status.in_flight,
            last_error: status.last_error,
            drift: None,
            oldest_pending_at: None,
            last_reconcile: None,
        }
    }
}
