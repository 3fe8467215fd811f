//! The user actor's traffic messages: limit, new period, admin reset; and
//! what buying a traffic pack needs.

use actix::{AtomicResponse, Context, Handler};

use super::{TxEnv, UserActor};
use crate::domain::Principal;
use crate::messages::{LimitTraffic, ResetTraffic, RollTrafficPeriod};
use crate::store::Change;
use crate::{Error, Result};

handle!(LimitTraffic => Change, "limit_traffic", |env, msg| {
    env.store.limit_traffic(&env.ctx(Principal::System), env.user).await
});

handle!(RollTrafficPeriod => Change, "roll_traffic_period", |env, msg| {
    env.store.roll_traffic_period(&env.ctx(Principal::System), env.user).await
});

handle!(ResetTraffic => Change, "reset_traffic", |env, msg| {
    if msg.reason.trim().is_empty() {
        return Err(Error::invalid("reason", "say why the traffic is reset"));
    }
    env.store.reset_traffic(&env.ctx(msg.by), env.user, &msg.reason).await
});

/// A pack is only for a subscription with a traffic allowance.
pub(super) async fn check_pack_buyer(env: &TxEnv) -> Result<()> {
    let state = env.store.traffic_state(env.user).await?;
    if state.is_some_and(|s| s.is_limited_plan()) {
        Ok(())
    } else {
        Err(Error::invalid(
            "plan",
            "traffic packs are for subscriptions with a traffic allowance",
        ))
    }
}
