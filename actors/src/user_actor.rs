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
    Admission, LedgerKind, NewOrder, NodeName, OrderId, OrderKind, PlanId, Principal, Provider,
    ProvisioningOp, TOPUP_PLAN, UserId,
};
use crate::messages::{
    AdjustBalance, ApplyPayment, AttachInvoice, ClaimInvoice, CloseOrder, CreateOrder, CreateTopUp,
    Expire, FlagOrder, GrantDays, GrantDaysOnce, PaymentReturned, RefundOrder, RegisterDevice,
    Reissue, Remind, RemoveDevice, ResetDevices, Revoke, RotateSubToken, SetBanned, SetLanguage,
    StartTrial, StrayPayment, Touch, View,
};
use crate::metrics as m;
use crate::registry::Shared;
use crate::store::{Change, OpenedOrder, Refunded, Settled, Store, UserSnapshot, WriteCtx};
use crate::{Error, Result};

/// Attempts at a transaction that lost a race with another instance (a
/// guarded write that found the row changed), before the caller is told.
const CONFLICT_ATTEMPTS: usize = 8;

mod auto_renew;

pub struct UserActor {
    user: UserId,
    generation: u64,
    shared: Arc<Shared>,
    last_active: Instant,
}

/// What a store call needs, moved into the spawned future.
#[derive(Clone)]
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

impl Effects for OpenedOrder {
    fn ops(&self) -> &[ProvisioningOp] {
        &[]
    }
}

impl Effects for Settled {
    fn ops(&self) -> &[ProvisioningOp] {
        &self.change.ops
    }
}

impl Effects for Refunded {
    fn ops(&self) -> &[ProvisioningOp] {
        &self.change.ops
    }
}

impl Effects for bool {
    fn ops(&self) -> &[ProvisioningOp] {
        &[]
    }
}

impl Effects for () {
    fn ops(&self) -> &[ProvisioningOp] {
        &[]
    }
}

impl Effects for Admission {
    fn ops(&self) -> &[ProvisioningOp] {
        &[]
    }
}

impl Effects for u64 {
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
    /// hands committed ops to the provisioner. A transaction that lost a race
    /// with another instance ([`Error::is_conflict`]) is run again, with
    /// jittered back-off, while the mailbox stays closed: callers never see a
    /// transient conflict unless every attempt lost.
    fn transact<T, F, Fut>(
        &mut self,
        name: &'static str,
        work: F,
    ) -> AtomicResponse<Self, Result<T>>
    where
        T: Effects + Send + 'static,
        F: Fn(TxEnv) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T>> + Send + 'static,
    {
        use backon::{ExponentialBuilder, Retryable};
        let env = TxEnv {
            store: self.shared.store.clone(),
            user: self.user,
            now: self.shared.clock.now(),
            nodes: self.shared.node_names.clone(),
        };
        let span = tracing::info_span!("user_actor", user = %self.user, message = name);
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(2))
            .with_max_delay(Duration::from_millis(200))
            .with_max_times(CONFLICT_ATTEMPTS - 1)
            .with_jitter();
        let attempts = (move || {
            // Runs inside the spawned task, as the store work does.
            #[cfg(feature = "fault-injection")]
            crate::faults::store_work(env.user);
            work(env.clone())
        })
        .retry(backoff)
        .when(Error::is_conflict)
        .notify(move |e, _| {
            metrics::counter!(m::CONFLICT_RETRIES, "message" => name).increment(1);
            tracing::debug!(error = %e, "transaction lost a race; trying again");
        });
        let spawned = self.shared.rt.spawn(attempts.instrument(span));
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

/// `impl Handler<$msg>`: one store transaction through [`UserActor::transact`].
/// The body sees `env` (the transaction's environment) and `msg` (a clone of
/// the message for each attempt).
macro_rules! handle {
    ($msg:ty => $ret:ty, $name:literal, |$env:ident, $m:ident| $body:expr) => {
        impl Handler<$msg> for UserActor {
            type Result = AtomicResponse<Self, Result<$ret>>;
            #[allow(unused_variables)]
            fn handle(&mut self, msg: $msg, _: &mut Context<Self>) -> Self::Result {
                self.transact($name, move |$env| {
                    let $m = msg.clone();
                    async move { $body }
                })
            }
        }
    };
}

handle!(GrantDaysOnce => Change, "grant_days_once", |env, msg| {
    if msg.days == 0 {
        return Err(Error::invalid("days", "must be at least 1"));
    }
    env.store
        .grant_days_once(&env.ctx(msg.by), env.user, msg.days, &msg.key)
        .await
});

mod traffic;

handle!(GrantDays => Change, "grant_days", |env, msg| {
    if msg.days == 0 {
        return Err(Error::invalid("days", "must be at least 1"));
    }
    env.store.grant_days(&env.ctx(msg.by), env.user, msg.days).await
});

handle!(Revoke => Change, "revoke", |env, msg| {
    env.store.revoke(&env.ctx(msg.by), env.user).await
});

handle!(SetBanned => Change, "set_banned", |env, msg| {
    env.store.set_banned(&env.ctx(msg.by), env.user, msg.banned).await
});

handle!(Reissue => Change, "reissue", |env, msg| {
    env.store.reissue(&env.ctx(msg.by), env.user).await
});

handle!(RotateSubToken => Change, "rotate_sub_token", |env, msg| {
    env.store.rotate_sub_token(&env.ctx(msg.by), env.user).await
});

handle!(Expire => Change, "expire", |env, msg| {
    let change = env.store.expire(&env.ctx(Principal::System), env.user).await?;
    if change.applied {
        metrics::counter!(m::EXPIRATIONS).increment(1);
    } else {
        tracing::debug!(due = %msg.due, "expiry skipped: renewed or already expired");
    }
    Ok(change)
});

impl Handler<StartTrial> for UserActor {
    type Result = AtomicResponse<Self, Result<Change>>;
    fn handle(&mut self, _: StartTrial, _: &mut Context<Self>) -> Self::Result {
        let days = self.shared.settings.trial_days;
        let only_new = self.shared.settings.trial_only_new_users;
        self.transact("start_trial", move |env| async move {
            env.store
                .start_trial(
                    &env.ctx(Principal::User(env.user)),
                    env.user,
                    days,
                    only_new,
                )
                .await
        })
    }
}

impl UserActor {
    /// Where a new order may reuse a pending one of the same purchase.
    fn reuse_since(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let ttl = chrono::Duration::from_std(self.shared.settings.order_ttl).ok()?;
        Some(now - ttl)
    }
}

impl Handler<CreateOrder> for UserActor {
    type Result = AtomicResponse<Self, Result<OpenedOrder>>;
    fn handle(&mut self, msg: CreateOrder, _: &mut Context<Self>) -> Self::Result {
        // A plan, or a traffic pack (packs share the plans' id space).
        let priced = self
            .shared
            .plans
            .get(&msg.plan)
            .cloned()
            .map(|p| (p, false))
            .or_else(|| {
                self.shared
                    .settings
                    .traffic_packs
                    .get(&msg.plan)
                    .map(|p| (p.as_plan(), true))
            });
        let balance_currency = self.shared.settings.balance_currency.clone();
        let reuse_since = self.reuse_since(self.shared.clock.now());
        self.transact("create_order", move |env| {
            let (msg, priced, balance_currency) =
                (msg.clone(), priced.clone(), balance_currency.clone());
            async move {
                let (plan, is_pack) =
                    priced.ok_or_else(|| Error::UnknownPlan(msg.plan.to_string()))?;
                if is_pack {
                    traffic::check_pack_buyer(&env).await?;
                }
                let amount = price_of(&plan, msg.provider, &balance_currency)?;
                let order = NewOrder {
                    id: OrderId::random(),
                    user: env.user,
                    plan: plan.id.clone(),
                    kind: if is_pack {
                        OrderKind::Pack
                    } else {
                        OrderKind::Plan
                    },
                    days: plan.days,
                    traffic_bytes: plan.traffic.map_or(0, |t| t.bytes),
                    provider: msg.provider,
                    amount,
                    idempotency_key: msg.idempotency_key.clone(),
                    // A balance purchase is paid at once: only its key reuses it.
                    reuse_since: reuse_since.filter(|_| msg.provider != Provider::Balance),
                };
                env.store.create_order(&env.ctx(msg.by), &order).await
            }
        })
    }
}

/// What `plan` costs through `provider`; a balance payment must be priced in
/// the balance's currency.
fn price_of(
    plan: &crate::domain::Plan,
    provider: Provider,
    balance_currency: &crate::domain::Currency,
) -> Result<crate::domain::Money> {
    let amount = plan.price_for(provider).ok_or_else(|| {
        Error::invalid(
            "provider",
            format!("plan {} has no price for {provider}", plan.id),
        )
    })?;
    if provider == Provider::Balance && &amount.currency != balance_currency {
        return Err(Error::invalid(
            "provider",
            format!(
                "plan {} is priced in {}, the balance is held in {balance_currency}",
                plan.id, amount.currency
            ),
        ));
    }
    Ok(amount)
}

impl Handler<CreateTopUp> for UserActor {
    type Result = AtomicResponse<Self, Result<OpenedOrder>>;
    fn handle(&mut self, msg: CreateTopUp, _: &mut Context<Self>) -> Self::Result {
        let reuse_since = self.reuse_since(self.shared.clock.now());
        self.transact("create_topup", move |env| {
            let msg = msg.clone();
            async move {
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
                    traffic_bytes: 0,
                    provider: msg.provider,
                    amount: msg.amount,
                    idempotency_key: msg.idempotency_key,
                    reuse_since,
                };
                env.store.create_order(&env.ctx(msg.by), &order).await
            }
        })
    }
}

handle!(AttachInvoice => (), "attach_invoice", |env, msg| {
    env.store
        .attach_invoice(
            &env.ctx(Principal::User(env.user)),
            msg.order,
            &msg.provider_invoice_id,
            &msg.pay_url,
        )
        .await
});

handle!(ClaimInvoice => bool, "claim_invoice", |env, msg| {
    env.store
        .claim_invoice(
            &env.ctx(Principal::User(env.user)),
            msg.order,
            &msg.invoice,
            msg.expected.as_deref(),
        )
        .await
});

handle!(ApplyPayment => Settled, "apply_payment", |env, msg| {
    env.store
        .apply_payment(&env.ctx(Principal::User(env.user)), env.user, msg.order, &msg.payment)
        .await
});

handle!(StrayPayment => Settled, "stray_payment", |env, msg| {
    env.store
        .record_stray_payment(&env.ctx(Principal::User(env.user)), env.user, &msg.payment)
        .await
});

handle!(PaymentReturned => Change, "payment_returned", |env, msg| {
    env.store
        .payment_returned(&env.ctx(Principal::System), env.user, msg.provider, &msg.provider_payment_id)
        .await
});

handle!(CloseOrder => bool, "close_order", |env, msg| {
    env.store.close_order(&env.ctx(Principal::System), msg.order, msg.status).await
});

handle!(FlagOrder => bool, "flag_order", |env, msg| {
    env.store.flag_order(&env.ctx(Principal::System), msg.order, &msg.reason).await
});

handle!(RefundOrder => Refunded, "refund_order", |env, msg| {
    env.store.refund_order(&env.ctx(msg.by), env.user, msg.order).await
});

handle!(AdjustBalance => Change, "adjust_balance", |env, msg| {
    env.store
        .adjust_balance(&env.ctx(msg.by), env.user, LedgerKind::Admin, &msg.amount, &msg.note)
        .await
});

handle!(View => Option<UserSnapshot>, "view", |env, msg| {
    env.store.user(env.user).await
});

impl Effects for (bool, UserSnapshot) {
    fn ops(&self) -> &[ProvisioningOp] {
        &[]
    }
}

handle!(Touch => (bool, UserSnapshot), "touch", |env, msg| {
    env.store
        .touch_user(&env.ctx(Principal::User(env.user)), env.user, &msg.profile)
        .await
});

handle!(SetLanguage => Change, "set_language", |env, msg| {
    env.store
        .set_language(&env.ctx(Principal::User(env.user)), env.user, &msg.language)
        .await
});

handle!(Remind => Change, "remind", |env, msg| {
    env.store
        .remind(&env.ctx(Principal::System), env.user, msg.kind, msg.expires_at)
        .await
});

handle!(RegisterDevice => Admission, "register_device", |env, msg| {
    let by = Principal::User(env.user);
    env.store
        .register_device(&env.ctx(by), env.user, &msg.device, msg.default_limit)
        .await
});

handle!(RemoveDevice => bool, "remove_device", |env, msg| {
    env.store.remove_device(&env.ctx(msg.by), env.user, msg.id).await
});

handle!(ResetDevices => u64, "reset_devices", |env, msg| {
    env.store.reset_devices(&env.ctx(msg.by), env.user).await
});

mod commerce;
