//! The user actor's side of auto-renewal from the balance: the opt-in and
//! the renewal of one period (bought from the balance through the ordinary
//! balance order, or one reminder).

use actix::{AtomicResponse, Context, Handler};
use chrono::{DateTime, Utc};

use super::{Effects, TxEnv, UserActor};
use crate::domain::{
    Currency, NewOrder, OrderId, OrderKind, OrderStatus, PlanId, Plans, Principal, Provider,
    ProvisioningOp, RenewalOutcome, RenewalStep, SubscriptionStatus, renewal_price, renewal_step,
};
use crate::messages::{AutoRenew, SetAutoRenew};
use crate::store::{AutoRenewal, Change, IncomingPayment, auto_renew_key};
use crate::{Error, Result};

impl Effects for AutoRenewal {
    fn ops(&self) -> &[ProvisioningOp] {
        &self.ops
    }
}

impl Handler<SetAutoRenew> for UserActor {
    type Result = AtomicResponse<Self, Result<Change>>;
    fn handle(&mut self, msg: SetAutoRenew, _: &mut Context<Self>) -> Self::Result {
        let plans = self.shared.plans.clone();
        let currency = self.shared.settings.balance_currency.clone();
        self.transact("set_auto_renew", move |env| {
            let (msg, plans, currency) = (msg.clone(), plans.clone(), currency.clone());
            async move {
                if let Some(plan) = &msg.plan
                    && let Err(why) = renewal_price(plans.get(plan), &currency)
                {
                    return Err(Error::invalid(
                        "plan",
                        format!(
                            "plan {plan} cannot be renewed from the balance ({})",
                            why.as_str()
                        ),
                    ));
                }
                let plan = msg.plan.as_ref().map(PlanId::as_str);
                env.store
                    .set_auto_renew(&env.ctx(msg.by), env.user, plan)
                    .await
            }
        })
    }
}

impl Handler<AutoRenew> for UserActor {
    type Result = AtomicResponse<Self, Result<AutoRenewal>>;
    fn handle(&mut self, msg: AutoRenew, _: &mut Context<Self>) -> Self::Result {
        let plans = self.shared.plans.clone();
        let currency = self.shared.settings.balance_currency.clone();
        self.transact("auto_renew", move |env| {
            let (plans, currency) = (plans.clone(), currency.clone());
            async move { renew(env, &plans, &currency, msg.period_end).await }
        })
    }
}

fn outcome(outcome: RenewalOutcome) -> AutoRenewal {
    AutoRenewal {
        outcome,
        ops: Vec::new(),
    }
}

/// Renews the period ending at `period_end` once: every step is guarded
/// (the opt-in and the period re-read here, the order by its period key,
/// its payment by the order), so a repeat — here or on another instance —
/// finds the first order paid and debits nothing.
async fn renew(
    env: TxEnv,
    plans: &Plans,
    currency: &Currency,
    period_end: DateTime<Utc>,
) -> Result<AutoRenewal> {
    let Some(plan) = env.store.auto_renew_plan(env.user).await? else {
        return Ok(outcome(RenewalOutcome::Skipped));
    };
    let Some(snapshot) = env.store.user(env.user).await? else {
        return Ok(outcome(RenewalOutcome::Skipped));
    };
    let current = snapshot
        .subscription
        .as_ref()
        .is_some_and(|s| s.status == SubscriptionStatus::Active && s.expires_at == period_end);
    if !current {
        return Ok(outcome(RenewalOutcome::Skipped));
    }
    let plan = PlanId::new(&plan).ok().and_then(|id| plans.get(&id));
    let ctx = env.ctx(Principal::System);
    let remind = |short: Option<crate::domain::Money>, reason: &'static str| {
        let env = env.clone();
        async move {
            let ctx = env.ctx(Principal::System);
            let change = env
                .store
                .remind_auto_renew(&ctx, env.user, period_end, short.as_ref(), reason)
                .await?;
            Ok(outcome(if change.applied {
                RenewalOutcome::Reminded
            } else {
                RenewalOutcome::Skipped
            }))
        }
    };
    let (plan, price) = match renewal_step(renewal_price(plan, currency), snapshot.balance_minor) {
        RenewalStep::Unpayable(why) => return remind(None, why.as_str()).await,
        RenewalStep::Short(price) => return remind(Some(price), "balance_short").await,
        RenewalStep::Buy(price) => match plan {
            Some(plan) => (plan, price),
            None => return Ok(outcome(RenewalOutcome::Skipped)),
        },
    };
    let order = NewOrder {
        id: OrderId::random(),
        user: env.user,
        plan: plan.id.clone(),
        kind: OrderKind::Plan,
        days: plan.days,
        traffic_bytes: plan.traffic.map_or(0, |t| t.bytes),
        provider: Provider::Balance,
        amount: price.clone(),
        idempotency_key: Some(auto_renew_key(period_end)),
        reuse_since: None,
    };
    let opened = match env.store.create_order(&ctx, &order).await {
        Ok(opened) => opened,
        Err(Error::Banned(_)) => return Ok(outcome(RenewalOutcome::Skipped)),
        Err(e) => return Err(e),
    };
    if matches!(
        opened.order.status,
        OrderStatus::Paid | OrderStatus::Refunded
    ) {
        return Ok(outcome(RenewalOutcome::AlreadyRenewed));
    }
    let payment = IncomingPayment {
        provider: Provider::Balance,
        provider_payment_id: format!("balance:{}", opened.order.id),
        amount: None,
        payer: None,
    };
    match env
        .store
        .apply_payment(&ctx, env.user, opened.order.id, &payment)
        .await
    {
        Ok(settled) if settled.change.applied => {
            metrics::counter!(crate::metrics::AUTO_RENEWALS).increment(1);
            Ok(AutoRenewal {
                outcome: RenewalOutcome::Renewed,
                ops: settled.change.ops,
            })
        }
        Ok(_) => Ok(outcome(RenewalOutcome::AlreadyRenewed)),
        // The balance moved since it was read: remind instead.
        Err(Error::InsufficientFunds { .. }) => remind(Some(price), "balance_short").await,
        Err(e) => Err(e),
    }
}
