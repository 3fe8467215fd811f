//! Provisioning operations: the outbox rows that add or remove keys on nodes.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{NodeName, UserId, text_enum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    Add,
    Remove,
}

text_enum!(OpKind, "provisioning op" {
    Add => "add",
    Remove => "remove",
});

/// One pending change on one node, committed with the state change that caused it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisioningOp {
    pub id: i64,
    pub node: NodeName,
    pub user: UserId,
    pub key_uuid: Uuid,
    pub email: String,
    pub kind: OpKind,
    pub attempts: i32,
}
