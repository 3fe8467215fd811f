//! The user actor's handlers for promo codes and gifts.

use super::*;
use crate::messages::{ActivateGift, CreatePlanOrder, RedeemPromoDays};
use crate::store::GiftActivated;

impl Effects for GiftActivated {
    fn ops(&self) -> &[ProvisioningOp] {
        &self.change.ops
    }
}

impl Handler<CreatePlanOrder> for UserActor {
    type Result = AtomicResponse<Self, Result<OpenedOrder>>;
    fn handle(&mut self, msg: CreatePlanOrder, _: &mut Context<Self>) -> Self::Result {
        let priced = self.shared.plans.get(&msg.plan).cloned();
        let balance_currency = self.shared.settings.balance_currency.clone();
        let reuse_since = self.reuse_since(self.shared.clock.now());
        self.transact("create_plan_order", move |env| {
            let (msg, priced, balance_currency) =
                (msg.clone(), priced.clone(), balance_currency.clone());
            async move {
                let plan = priced.ok_or_else(|| Error::UnknownPlan(msg.plan.to_string()))?;
                let amount = price_of(&plan, msg.provider, &balance_currency)?;
                let order = NewOrder {
                    id: OrderId::random(),
                    user: env.user,
                    plan: plan.id.clone(),
                    kind: if msg.gift {
                        OrderKind::Gift
                    } else {
                        OrderKind::Plan
                    },
                    days: plan.days,
                    traffic_bytes: plan.traffic.map_or(0, |t| t.bytes),
                    provider: msg.provider,
                    amount,
                    idempotency_key: msg.idempotency_key.clone(),
                    reuse_since: reuse_since.filter(|_| msg.provider != Provider::Balance),
                };
                let ctx = env.ctx(msg.by);
                match &msg.promo {
                    Some(code) => env.store.create_promo_order(&ctx, &order, code).await,
                    None => env.store.create_order(&ctx, &order).await,
                }
            }
        })
    }
}

handle!(RedeemPromoDays => Change, "redeem_promo_days", |env, msg| {
    env.store.redeem_promo_days(&env.ctx(msg.by), env.user, &msg.code).await
});

handle!(ActivateGift => GiftActivated, "activate_gift", |env, msg| {
    env.store
        .activate_gift(&env.ctx(Principal::User(env.user)), env.user, &msg.code)
        .await
});
