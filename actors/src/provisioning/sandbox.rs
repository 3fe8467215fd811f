//! The sandbox node: an in-memory stand-in used when no `[[nodes]]` are
//! configured, so the whole system runs on a laptop. Nothing is provisioned
//! anywhere real; the log and `/ops/nodes` say so.

use async_trait::async_trait;
use dashmap::DashMap;
use uuid::Uuid;

use super::{NodeClient, NodeError, NodeStatus};
use crate::domain::NodeName;

pub struct SandboxNode {
    name: NodeName,
    users: DashMap<String, Uuid>,
}

impl SandboxNode {
    pub const NAME: &'static str = "sandbox";

    pub fn new() -> Self {
        Self {
            name: NodeName::new(Self::NAME).unwrap_or_else(|_| unreachable!("valid constant")),
            users: DashMap::new(),
        }
    }

    /// The UUID the node holds for `email` (case-insensitive, like Xray).
    pub fn user(&self, email: &str) -> Option<Uuid> {
        self.users.get(&email.to_ascii_lowercase()).map(|u| *u)
    }

    pub fn user_count(&self) -> usize {
        self.users.len()
    }

    /// Adds a user behind the system's back (tests: drift).
    pub fn insert_by_hand(&self, email: &str, uuid: Uuid) {
        self.users.insert(email.to_ascii_lowercase(), uuid);
    }
}

impl Default for SandboxNode {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl NodeClient for SandboxNode {
    fn name(&self) -> &NodeName {
        &self.name
    }

    async fn add_user(&self, email: &str, uuid: Uuid) -> Result<(), NodeError> {
        self.users.insert(email.to_ascii_lowercase(), uuid);
        Ok(())
    }

    async fn remove_user(&self, email: &str) -> Result<(), NodeError> {
        self.users.remove(&email.to_ascii_lowercase());
        Ok(())
    }

    async fn list_users(&self) -> Result<Option<Vec<(String, Uuid)>>, NodeError> {
        Ok(Some(
            self.users
                .iter()
                .map(|e| (e.key().clone(), *e.value()))
                .collect(),
        ))
    }

    async fn read_traffic(
        &self,
    ) -> Result<Option<std::collections::HashMap<String, (u64, u64)>>, NodeError> {
        Ok(None)
    }

    fn status(&self) -> NodeStatus {
        NodeStatus {
            name: self.name.to_string(),
            kind: "sandbox",
            state: "up".into(),
            users: Some(self.users.len()),
            note: Some(
                "in-memory sandbox node: no [[nodes]] configured, keys are not provisioned on any real server"
                    .into(),
            ),
            breaker: None,
            in_flight: 0,
            last_error: None,
        }
    }
}
