//! Devices (`x-hwid`): registered under the subscription's device limit,
//! listed, removed and reset.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::WriteCtx;
use crate::Result;
use crate::domain::{Admission, DeviceInfo, DeviceList, UserId};

/// Devices (`x-hwid`): registered under the subscription's device limit,
/// listed, removed and reset.
#[async_trait]
pub trait Devices: Send + Sync {
    /// The user's devices (oldest first) and the limit the last plan set.
    async fn devices(&self, user: UserId) -> Result<DeviceList>;

    /// Refreshes last-seen (and what the client says about itself) of a device
    /// already registered; false if it is not. One statement; the count of
    /// devices does not change, so it needs no actor.
    async fn device_seen(
        &self,
        user: UserId,
        device: &DeviceInfo,
        now: DateTime<Utc>,
    ) -> Result<bool>;

    /// Admits `device`: known → refreshed; new → registered only while the
    /// user has fewer devices than the limit in force (the plan's, else
    /// `default_limit`; 0: none). The insert holds the limit by itself.
    async fn register_device(
        &self,
        ctx: &WriteCtx<'_>,
        user: UserId,
        device: &DeviceInfo,
        default_limit: u32,
    ) -> Result<Admission>;

    /// Removes one device (by our id); false if the user has no such device.
    async fn remove_device(&self, ctx: &WriteCtx<'_>, user: UserId, id: i64) -> Result<bool>;

    /// Removes every device of the user; how many there were.
    async fn reset_devices(&self, ctx: &WriteCtx<'_>, user: UserId) -> Result<u64>;
}
