//! What a user is given to connect: one `vless://` link per node for each
//! active key, and the subscription URL clients refresh from. The bot, the
//! subscription endpoint and the ops API all build links here.

use chrono::{DateTime, Utc};

use crate::domain::{LinkParams, vless_link};
use crate::store::UserSnapshot;

/// Where links and subscription URLs point: the nodes' client parameters and
/// the public base URL.
#[derive(Debug, Clone, Default)]
pub struct LinkBook {
    /// (node label, parameters) of every configured node, in config order.
    pub nodes: Vec<LinkParams>,
    /// `subscription.public_url`, without a trailing slash.
    pub public_url: String,
}

impl LinkBook {
    /// One `vless://` link per node for each active key of a live subscription.
    pub fn links(&self, s: &UserSnapshot, now: DateTime<Utc>) -> Vec<String> {
        let live = s.subscription.as_ref().is_some_and(|sub| sub.is_live(now));
        if !live {
            return Vec::new();
        }
        s.active_keys()
            .flat_map(|k| self.nodes.iter().map(move |n| vless_link(k.uuid, n)))
            .collect()
    }

    pub fn subscription_url(&self, s: &UserSnapshot) -> Option<String> {
        s.subscription
            .as_ref()
            .map(|sub| format!("{}/sub/{}", self.public_url, sub.sub_token))
    }
}
