//! What every answer of `/sub/{token}` is built from: the subscription as the
//! client should see it, computed once per request from the user's snapshot.
//! The formats, the stub entries and the HTML page all render this, so they
//! cannot disagree on status, expiry, traffic or links.

use chrono::{DateTime, Utc};
use subvisor_actors::domain::UserId;
use subvisor_actors::domain::{LinkParams, SubscriptionStatus, vless_link};
use subvisor_actors::links::LinkBook;
use subvisor_actors::store::UserSnapshot;
use uuid::Uuid;

/// Why a subscription serves no working entries (or that it does). Every
/// status but `Active` is answered with a stub entry saying so, in every format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewStatus {
    Active,
    Expired,
    Revoked,
    /// This device would be one past the subscription's device limit.
    DeviceLimit {
        limit: u32,
    },
    /// `subscription.hwid_required` and the client sent no `x-hwid`.
    HwidRequired,
    /// The period's traffic is used up: access pauses until a new period,
    /// a pack or a renewal.
    Limited,
}

/// One key on one node: what a client connects with.
#[derive(Debug, Clone)]
pub struct Entry {
    pub uuid: Uuid,
    pub node: LinkParams,
}

impl Entry {
    pub fn vless_link(&self) -> String {
        vless_link(self.uuid, &self.node)
    }
}

#[derive(Debug, Clone)]
pub struct SubscriptionView {
    pub user: UserId,
    pub status: ViewStatus,
    pub expires_at: DateTime<Utc>,
    pub upload: u64,
    pub download: u64,
    /// Traffic allowance in bytes; 0: no cap.
    pub total: u64,
    /// One per node for each active key; empty unless `status` is `Active`.
    pub entries: Vec<Entry>,
    /// The subscription URL itself (`{public_url}/sub/{token}`).
    pub url: String,
    /// The language the user chose in the bot, if any.
    pub language: Option<String>,
}

impl SubscriptionView {
    /// `None` for a user without a subscription.
    pub fn build(links: &LinkBook, s: &UserSnapshot, now: DateTime<Utc>) -> Option<Self> {
        let sub = s.subscription.as_ref()?;
        let status = match sub.status {
            SubscriptionStatus::Revoked => ViewStatus::Revoked,
            _ if sub.is_live(now) => ViewStatus::Active,
            _ => ViewStatus::Expired,
        };
        let entries = if status == ViewStatus::Active {
            s.active_keys()
                .flat_map(|k| {
                    links.nodes.iter().map(move |n| Entry {
                        uuid: k.uuid,
                        node: n.clone(),
                    })
                })
                .collect()
        } else {
            Vec::new()
        };
        let (upload, download) = s.traffic();
        Some(Self {
            user: s.user,
            status,
            expires_at: sub.expires_at,
            upload: u64::try_from(upload).unwrap_or(0),
            download: u64::try_from(download).unwrap_or(0),
            total: 0,
            entries,
            url: links.subscription_url(s)?,
            language: s.language.clone(),
        })
    }

    /// A traffic-limited subscription shows its period: `total` is the
    /// allowance, upload/download the period's usage; a subscription limited
    /// for traffic serves the stub entry saying so.
    pub fn apply_traffic(&mut self, traffic: Option<&subvisor_actors::domain::TrafficState>) {
        let Some(t) = traffic.filter(|t| t.is_limited_plan()) else {
            return;
        };
        self.total = t.total();
        self.upload = t.upload_bytes;
        self.download = t.download_bytes;
        if t.is_limited() && self.status == ViewStatus::Active {
            self.refuse(ViewStatus::Limited);
        }
    }

    /// Serve this request no working entries, saying why (`status` is not `Active`).
    pub fn refuse(&mut self, status: ViewStatus) {
        self.status = status;
        self.entries.clear();
    }

    /// The `vless://` link of every entry, in order.
    pub fn vless_links(&self) -> Vec<String> {
        self.entries.iter().map(Entry::vless_link).collect()
    }
}
