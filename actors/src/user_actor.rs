//! `UserActor`: one per active Telegram user; serializes everything that
//! changes that user's money or access.
//!
//! Every handler is an [`AtomicResponse`]: while its transaction runs, the
//! mailbox stays closed, so two messages never interleave across an `.await`.
//! The store work itself is spawned on the main multi-threaded runtime (sqlx
//! connections live there, not on the arbiter threads); a panic in it is
//! re-raised inside the actor, which then dies and is re-activated from the
//! store by the Registry on the next message.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use actix::{
    Actor, ActorContext, ActorFutureExt, AsyncContext, AtomicResponse, Context, Handler, WrapFuture,
};
use chrono::{DateTime, Utc};
use tracing::Instrument;

use crate::domain::{
    LedgerKind, NewOrder, NodeName, Order, OrderId, OrderKind, PlanId, Principal, Provider,
    ProvisioningOp, TOPUP_PLAN, UserId,
};
use crate::messages::{
    AdjustBalance, ApplyPayment, CreateOrder, CreateTopUp, Expire, GrantDays, RefundOrder, Reissue,
    Remind, Revoke, RotateSubToken, SetLanguage, StartTrial, Touch, View,
};
use crate::metrics as m;
use crate::registry::Shared;
use crate::store::{Change, Store, UserSnapshot, WriteCtx};
use crate::{Error, Result};

pub struct UserActor {
    user: UserId,
    generation: u64,
    shared: Arc<Shared>,
    last_active: Instant,
}

/// What a store call needs, moved into the spawned future.
struct TxEnv {
    store: Arc<dyn Store>,
    user: UserId,
    now: DateTime<Utc>,
    nodes: Arc<[NodeName]>,
}

impl TxEnv {
    fn ctx(&self, by: Principal) -> WriteCtx<'_> {
        WriteCtx {
            now: self.now,
            by,
            nodes: &self.nodes,
        }
    }
}

/// What a handler's result hands to the provisioner after commit.
trait Effects {
    fn ops(&self) -> &[ProvisioningOp];
}

impl Effects for Change {
    fn ops(&self) -> &[ProvisioningOp] {
        &self.ops
    }
}

impl Effects for Order {
    fn ops(&self) -> &[ProvisioningOp] {
        &[]
    }
}

impl Effects for Option<UserSnapshot> {
    fn ops(&self) -> &[ProvisioningOp] {
        &[]
    }
}

impl UserActor {
    pub(crate) fn new(user: UserId, generation: u64, shared: Arc<Shared>) -> Self {
        shared.live.fetch_add(1, Ordering::Relaxed);
        metrics::gauge!(m::ACTORS_ACTIVE).increment(1.0);
        Self {
            user,
            generation,
            shared,
            last_active: Instant::now(),
        }
    }

    /// Runs `work` on the main runtime with the mailbox closed; after commit,
    /// caches the new state and hands committed ops to the provisioner.
    fn transact<T, F, Fut>(
        &mut self,
        name: &'static str,
        work: F,
    ) -> AtomicResponse<Self, Result<T>>
    where
        T: Effects + Send + 'static,
        F: FnOnce(TxEnv) -> Fut,
        Fut: Future<Output = Result<T>> + Send + 'static,
    {
        let env = TxEnv {
            store: self.shared.store.clone(),
            user: self.user,
            now: self.shared.clock.now(),
            nodes: self.shared.node_names.clone(),
        };
        let span = tracing::info_span!("user_actor", user = %self.user, message = name);
        let spawned = self.shared.rt.spawn(work(env).instrument(span));
        let started = Instant::now();
        AtomicResponse::new(Box::pin(spawned.into_actor(self).map(
            move |joined, act, _ctx| {
                metrics::histogram!(m::HANDLER_SECONDS, "message" => name)
                    .record(started.elapsed().as_secs_f64());
                act.last_active = Instant::now();
                let result = match joined {
                    Ok(result) => result,
                    // Die like the handler itself panicked: the Registry notices the
                    // closed mailbox and re-activates this user from the store.
                    Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                    Err(_) => Err(Error::ShuttingDown),
                };
                if let Ok(value) = &result {
                    act.shared.provisioner.submit(value.ops());
                }
                result
            },
        )))
    }

    fn maybe_passivate(&mut self, ctx: &mut Context<Self>) {
        if self.last_active.elapsed() < self.shared.settings.idle_timeout {
            return;
        }
        let generation = self.generation;
        let removed = self.shared.slots.remove_if(&self.user, |_, slot| {
            slot.generation == generation && slot.inflight.load(Ordering::SeqCst) == 0
        });
        let still_mine = self
            .shared
            .slots
            .get(&self.user)
            .is_some_and(|slot| slot.generation == generation);
        if removed.is_some() || !still_mine {
            metrics::counter!(m::ACTOR_PASSIVATIONS).increment(1);
            self.shared.passivations.fetch_add(1, Ordering::Relaxed);
            ctx.stop();
        }
    }
}

impl Drop for UserActor {
    fn drop(&mut self) {
        self.shared.live.fetch_sub(1, Ordering::Relaxed);
        metrics::gauge!(m::ACTORS_ACTIVE).decrement(1.0);
    }
}

impl Actor for UserActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // The Registry bounds messages in flight per user (`mailbox_capacity`)
        // and rejects past it; actix's own bound only parks senders, so give it
        // headroom it can never reach.
        ctx.set_mailbox_capacity(self.shared.settings.mailbox_capacity * 2 + 16);
        let tick = (self.shared.settings.idle_timeout / 4)
            .clamp(Duration::from_millis(10), Duration::from_secs(30));
        ctx.run_interval(tick, Self::maybe_passivate);
    }
}

impl Handler<GrantDays> for UserActor {
    type Result = AtomicResponse<Self, Result<Change>>;
    fn handle(&mut self, msg: GrantDays, _: &mut Context<Self>) -> Self::Result {
        self.transact("grant_days", move |env| async move {
            if msg.days == 0 {
                return Err(Error::invalid("days", "must be at least 1"));
            }
            env.store
                .grant_days(&env.ctx(msg.by), env.user, msg.days)
                .await
        })
    }
}

impl Handler<Revoke> for UserActor {
    type Result = AtomicResponse<Self, Result<Change>>;
    fn handle(&mut self, msg: Revoke, _: &mut Context<Self>) -> Self::Result {
        self.transact("revoke", move |env| async move {
            env.store.revoke(&env.ctx(msg.by), env.user).await
        })
    }
}

impl Handler<Reissue> for UserActor {
    type Result = AtomicResponse<Self, Result<Change>>;
    fn handle(&mut self, msg: Reissue, _: &mut Context<Self>) -> Self::Result {
        self.transact("reissue", move |env| async move {
            env.store.reissue(&env.ctx(msg.by), env.user).await
        })
    }
}

impl Handler<RotateSubToken> for UserActor {
    type Result = AtomicResponse<Self, Result<Change>>;
    fn handle(&mut self, msg: RotateSubToken, _: &mut Context<Self>) -> Self::Result {
        self.transact("rotate_sub_token", move |env| async move {
            env.store.rotate_sub_token(&env.ctx(msg.by), env.user).await
        })
    }
}

impl Handler<Expire> for UserActor {
    type Result = AtomicResponse<Self, Result<Change>>;
    fn handle(&mut self, msg: Expire, _: &mut Context<Self>) -> Self::Result {
        self.transact("expire", move |env| async move {
            let change = env
                .store
                .expire(&env.ctx(Principal::System), env.user)
                .await?;
            if change.applied {
                metrics::counter!(m::EXPIRATIONS).increment(1);
            } else {
                tracing::debug!(due = %msg.due, "expiry skipped: renewed or already expired");
            }
            Ok(change)
        })
    }
}

impl Handler<StartTrial> for UserActor {
    type Result = AtomicResponse<Self, Result<Change>>;
    fn handle(&mut self, _: StartTrial, _: &mut Context<Self>) -> Self::Result {
        let days = self.shared.settings.trial_days;
        self.transact("start_trial", move |env| async move {
            env.store
                .start_trial(&env.ctx(Principal::User(env.user)), env.user, days)
                .await
        })
    }
}

impl Handler<CreateOrder> for UserActor {
    type Result = AtomicResponse<Self, Result<Order>>;
    fn handle(&mut self, msg: CreateOrder, _: &mut Context<Self>) -> Self::Result {
        let priced = self.shared.plans.get(&msg.plan).cloned();
        self.transact("create_order", move |env| async move {
            let plan = priced.ok_or_else(|| Error::UnknownPlan(msg.plan.to_string()))?;
            let amount = plan.price_for(msg.provider).ok_or_else(|| {
                Error::invalid(
                    "provider",
                    format!("plan {} has no price for {}", plan.id, msg.provider),
                )
            })?;
            let order = NewOrder {
                id: OrderId::random(),
                user: env.user,
                plan: plan.id.clone(),
                kind: OrderKind::Plan,
                days: plan.days,
                provider: msg.provider,
                amount,
            };
            env.store.create_order(&env.ctx(msg.by), &order).await
        })
    }
}

impl Handler<CreateTopUp> for UserActor {
    type Result = AtomicResponse<Self, Result<Order>>;
    fn handle(&mut self, msg: CreateTopUp, _: &mut Context<Self>) -> Self::Result {
        self.transact("create_topup", move |env| async move {
            if msg.provider == Provider::Balance {
                return Err(Error::invalid(
                    "provider",
                    "a top-up cannot be paid from the balance",
                ));
            }
            if msg.amount.minor <= 0 {
                return Err(Error::invalid("amount", "must be positive"));
            }
            let order = NewOrder {
                id: OrderId::random(),
                user: env.user,
                kind: OrderKind::Topup,
                plan: PlanId::new(TOPUP_PLAN)?,
                days: 0,
                provider: msg.provider,
                amount: msg.amount,
            };
            env.store.create_order(&env.ctx(msg.by), &order).await
        })
    }
}

impl Handler<ApplyPayment> for UserActor {
    type Result = AtomicResponse<Self, Result<Change>>;
    fn handle(&mut self, msg: ApplyPayment, _: &mut Context<Self>) -> Self::Result {
        self.transact("apply_payment", move |env| async move {
            env.store
                .apply_payment(
                    &env.ctx(Principal::User(env.user)),
                    env.user,
                    msg.order,
                    &msg.provider_payment_id,
                    msg.paid.as_ref(),
                )
                .await
        })
    }
}

impl Handler<RefundOrder> for UserActor {
    type Result = AtomicResponse<Self, Result<Change>>;
    fn handle(&mut self, msg: RefundOrder, _: &mut Context<Self>) -> Self::Result {
        self.transact("refund_order", move |env| async move {
            env.store
                .refund_order(&env.ctx(msg.by), env.user, msg.order)
                .await
        })
    }
}

impl Handler<AdjustBalance> for UserActor {
    type Result = AtomicResponse<Self, Result<Change>>;
    fn handle(&mut self, msg: AdjustBalance, _: &mut Context<Self>) -> Self::Result {
        self.transact("adjust_balance", move |env| async move {
            env.store
                .adjust_balance(
                    &env.ctx(msg.by),
                    env.user,
                    LedgerKind::Admin,
                    &msg.amount,
                    &msg.note,
                )
                .await
        })
    }
}

impl Handler<View> for UserActor {
    type Result = AtomicResponse<Self, Result<Option<UserSnapshot>>>;
    fn handle(&mut self, _: View, _: &mut Context<Self>) -> Self::Result {
        self.transact(
            "view",
            move |env| async move { env.store.user(env.user).await },
        )
    }
}

impl Effects for (bool, UserSnapshot) {
    fn ops(&self) -> &[ProvisioningOp] {
        &[]
    }
}

impl Handler<Touch> for UserActor {
    type Result = AtomicResponse<Self, Result<(bool, UserSnapshot)>>;
    fn handle(&mut self, msg: Touch, _: &mut Context<Self>) -> Self::Result {
        self.transact("touch", move |env| async move {
            env.store
                .touch_user(&env.ctx(Principal::User(env.user)), env.user, &msg.profile)
                .await
        })
    }
}

impl Handler<SetLanguage> for UserActor {
    type Result = AtomicResponse<Self, Result<Change>>;
    fn handle(&mut self, msg: SetLanguage, _: &mut Context<Self>) -> Self::Result {
        self.transact("set_language", move |env| async move {
            env.store
                .set_language(&env.ctx(Principal::User(env.user)), env.user, &msg.language)
                .await
        })
    }
}

impl Handler<Remind> for UserActor {
    type Result = AtomicResponse<Self, Result<Change>>;
    fn handle(&mut self, msg: Remind, _: &mut Context<Self>) -> Self::Result {
        self.transact("remind", move |env| async move {
            env.store
                .remind(
                    &env.ctx(Principal::System),
                    env.user,
                    msg.kind,
                    msg.expires_at,
                )
                .await
        })
    }
}
