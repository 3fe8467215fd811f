//! Operator settings (key/value), e.g. purchases paused.

use async_trait::async_trait;

use super::WriteCtx;
use crate::Result;

/// Operator settings (key/value), e.g. purchases paused.
#[async_trait]
pub trait Settings: Send + Sync {
    async fn setting(&self, key: &str) -> Result<Option<String>>;

    async fn set_setting(&self, ctx: &WriteCtx<'_>, key: &str, value: &str) -> Result<()>;
}
