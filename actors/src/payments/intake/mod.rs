//! The payment intake: the one path every payment event takes, whoever
//! delivers it — a Crypto Pay or NOWPayments callback, a Telegram update with
//! a Stars payment or refund, the payment reconciler, an admin's refund.
//!
//! 1. **Store** the event durably by (provider, event id), with the raw body
//!    and its provider-neutral form ([`PaymentEvent`]), before it is
//!    acknowledged to anyone ([`Intake::record`]). A finished event seen again
//!    is a plain duplicate.
//! 2. **Apply** it through the order's user actor (per-user order holds), which
//!    settles a payment once by the provider's payment id: applied, credited,
//!    queued to be sent back, or flagged. Transient failures (a busy actor, the
//!    database, a lost race) are retried here with back-off.
//! 3. **Finish** it with a typed [`Outcome`] (one set of names in metrics, the
//!    ops order view and admin alerts).
//!
//! An event stored but never finished — the process died, or every retry
//! failed — is finished by [`Intake::recover`], which the payments worker runs
//! at start and periodically: not only when a provider happens to retry. So is
//! a payment queued to be sent back (Stars) whose refund call failed.

mod apply;

use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use chrono::{DateTime, Utc};
use dashmap::DashMap;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use super::stars::{self, StarsGateway};
use crate::domain::{
    AlertKind, Money, Order, OrderId, OrderStatus, PaymentSettlement, Principal, Provider,
    Settlement, UserId, text_enum,
};
use crate::faults::{FaultHook, FaultPoint};
use crate::messages::{
    ApplyPayment, CloseOrder, FlagOrder, PaymentReturned, RefundOrder, StrayPayment,
};
use crate::metrics as m;
use crate::registry::Registry;
use crate::store::{
    EventRecord, IncomingPayment, NewPaymentEvent, PaymentRecord, UserSnapshot, WriteCtx,
};
use crate::{Error, Result};

/// Events received at least this long ago and still unfinished are taken over
/// by the periodic recovery (younger ones are probably still in progress).
pub const RECOVERY_GRACE: Duration = Duration::from_secs(30);

/// A payment event, provider-neutral.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentEvent {
    pub provider: Provider,
    /// Unique per provider; every delivery of the same fact shares it (a
    /// callback and the reconciler's finding of the same payment included).
    pub event_id: String,
    /// Our order, when the event names one we can read.
    pub order: Option<OrderId>,
    /// Who paid, when the provider says (Stars).
    pub payer: Option<UserId>,
    /// Who asked for it, for events we make ourselves (an admin's refund).
    #[serde(default)]
    pub by: Option<Principal>,
    pub action: PaymentAction,
}

/// What a payment event says happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PaymentAction {
    /// Money arrived: `amount`, the provider's id of this payment.
    Paid { payment_id: String, amount: Money },
    /// Less than the invoice arrived and the provider stopped (NOWPayments).
    PartiallyPaid,
    /// The provider gave up on the invoice (`failed`, `expired`).
    Closed { status: OrderStatus },
    /// Money went back to the payer: the refund of `payment_id`, or of the
    /// order's payment when `None`.
    Refunded { payment_id: Option<String> },
    /// On the way (waiting, confirming…): stored only.
    Progress { status: String },
    /// A status we do not know: logged as an error, nothing granted.
    Unknown { status: String },
}

/// How an event ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The payment paid its order.
    Applied,
    /// The payment was settled before (another event about the same payment).
    AlreadyApplied,
    /// The order could not take it; it was credited to the balance.
    Credited,
    /// The order could not take it; it was sent back to the payer.
    Returned,
    /// To be sent back; the refund call failed and is retried by the service.
    ReturnPending,
    /// Ops must look (amounts, currency, partial payment…); admins told.
    Flagged,
    /// A pending order closed by the provider.
    Closed,
    /// A close for an order that was no longer pending.
    NotPending,
    /// A paid order reversed.
    Refunded,
    /// A paid order reversed as far as possible; the rest is flagged.
    RefundShortfall,
    /// A refund for an order that was not paid.
    NotPaid,
    /// Informational; stored only.
    Recorded,
    UnknownStatus,
    UnknownOrder,
    /// The core refused it for good (e.g. a payment id another order already
    /// used); admins told, nothing changed.
    Rejected,
}

text_enum!(Outcome, "payment outcome" {
    Applied => "applied",
    AlreadyApplied => "already_applied",
    Credited => "credited",
    Returned => "returned",
    ReturnPending => "return_pending",
    Flagged => "flagged",
    Closed => "closed",
    NotPending => "not_pending",
    Refunded => "refunded",
    RefundShortfall => "refund_shortfall",
    NotPaid => "not_paid",
    Recorded => "recorded",
    UnknownStatus => "unknown_status",
    UnknownOrder => "unknown_order",
    Rejected => "rejected",
});

impl Outcome {
    /// The outcome that names how a payment was settled.
    pub fn of_settlement(settlement: PaymentSettlement) -> Self {
        match settlement {
            PaymentSettlement::Applied => Outcome::Applied,
            PaymentSettlement::Credited => Outcome::Credited,
            PaymentSettlement::RefundPending => Outcome::ReturnPending,
            PaymentSettlement::Refunded => Outcome::Returned,
            PaymentSettlement::Flagged => Outcome::Flagged,
        }
    }
}

/// What the intake answers.
#[derive(Debug, Clone)]
pub struct Receipt {
    pub outcome: Outcome,
    /// The event was finished before: nothing was done now.
    pub duplicate: bool,
    /// The user's state after the event, when it touched one.
    pub snapshot: Option<UserSnapshot>,
}

/// What one recovery pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Recovery {
    pub events_finished: usize,
    pub events_failed: usize,
    pub payments_returned: usize,
    pub returns_failed: usize,
}

/// The intake. Cheap to clone.
#[derive(Clone)]
pub struct Intake {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    registry: Registry,
    stars: Option<Arc<dyn StarsGateway>>,
    faults: Option<Arc<dyn FaultHook>>,
    wake: Option<Arc<Notify>>,
    retry: ExponentialBuilder,
    /// Events being processed on this instance: a redelivery that arrives
    /// meanwhile waits for the first delivery instead of queueing a second
    /// apply in the user's mailbox (a storm of 200 retries costs one apply).
    in_flight: Arc<DashMap<(Provider, String), Gate>>,
}

/// Held by the delivery of an event that is processing it.
type Gate = Arc<tokio::sync::Mutex<()>>;

impl Intake {
    /// `stars`: where duplicate Stars charges are sent back (and Stars refunds
    /// made); `None` without a bot token.
    pub fn new(registry: Registry, stars: Option<Arc<dyn StarsGateway>>) -> Self {
        Self {
            inner: Arc::new(Inner {
                registry,
                stars,
                faults: crate::faults::from_env(),
                wake: None,
                retry: ExponentialBuilder::default()
                    .with_min_delay(Duration::from_millis(50))
                    .with_max_delay(Duration::from_millis(800))
                    .with_max_times(4)
                    .with_jitter(),
                in_flight: Arc::default(),
            }),
        }
    }

    /// Crash injection for tests (replaces `SUBVISOR_FAULTS`).
    pub fn with_faults(self, faults: Arc<dyn FaultHook>) -> Self {
        self.rebuild(|inner| inner.faults = Some(faults))
    }

    /// Wakes the Notifier after an event queued a message.
    pub fn with_waker(self, wake: Arc<Notify>) -> Self {
        self.rebuild(|inner| inner.wake = Some(wake))
    }

    fn rebuild(self, change: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = (*self.inner).clone();
        change(&mut inner);
        Self {
            inner: Arc::new(inner),
        }
    }

    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// The answer to an event that was finished before (`outcome` as stored).
    fn duplicate(event: &PaymentEvent, outcome: &str) -> Receipt {
        metrics::counter!(m::PAYMENTS, "provider" => event.provider.as_str(), "outcome" => "duplicate")
            .increment(1);
        Receipt {
            outcome: outcome.parse().unwrap_or(Outcome::Recorded),
            duplicate: true,
            snapshot: None,
        }
    }

    /// Stores `event` (with the `raw` body as received) and processes it —
    /// unless it was finished before, which is answered as a duplicate.
    #[tracing::instrument(name = "payment_event", skip_all, fields(provider = %event.provider, event = %event.event_id))]
    pub async fn receive(&self, event: PaymentEvent, raw: &str) -> Result<Receipt> {
        match self.record(&event, raw).await? {
            EventRecord::Finished(outcome) => Ok(Self::duplicate(&event, &outcome)),
            EventRecord::New | EventRecord::Unfinished => self.process_once(event).await,
        }
    }

    /// Processes `event` unless another delivery of it on this instance is
    /// doing so: then waits for that one and answers what it stored.
    async fn process_once(&self, event: PaymentEvent) -> Result<Receipt> {
        let key = (event.provider, event.event_id.clone());
        let gate = self.inner.in_flight.entry(key.clone()).or_default().clone();
        let result = match gate.try_lock() {
            Ok(_first) => self.process(event).await,
            Err(_) => {
                let _after = gate.lock().await;
                let store = self.inner.registry.store();
                match store
                    .webhook_event(event.provider.as_str(), &event.event_id)
                    .await?
                {
                    Some(stored) if stored.finished_at.is_some() => {
                        Ok(Self::duplicate(&event, &stored.outcome))
                    }
                    // The first delivery did not finish it (a transient failure).
                    _ => self.process(event).await,
                }
            }
        };
        // Forget the gate once nobody else holds it (the map and `gate` are two).
        self.inner
            .in_flight
            .remove_if(&key, |_, g| Arc::strong_count(g) <= 2);
        result
    }

    /// Processes an event its front door already stored (the webhook handler
    /// or the polling loop store Telegram payment updates before they are
    /// acknowledged): a finished one is a duplicate. One that was never
    /// stored is processed all the same, and logged as the bug it is.
    #[tracing::instrument(name = "payment_event", skip_all, fields(provider = %event.provider, event = %event.event_id))]
    pub async fn resume(&self, event: PaymentEvent) -> Result<Receipt> {
        let store = self.inner.registry.store();
        match store
            .webhook_event(event.provider.as_str(), &event.event_id)
            .await?
        {
            Some(stored) if stored.finished_at.is_some() => {
                Ok(Self::duplicate(&event, &stored.outcome))
            }
            Some(_) => self.process_once(event).await,
            None => {
                tracing::error!(provider = %event.provider, event = %event.event_id,
                    "a payment event reached processing without being stored first");
                self.process_once(event).await
            }
        }
    }

    /// Stores `event` durably (nothing else): after this returns the event
    /// may be acknowledged, since the service will finish it whatever happens.
    pub async fn record(&self, event: &PaymentEvent, raw: &str) -> Result<EventRecord> {
        let neutral = serde_json::to_string(event)
            .map_err(|e| Error::invalid("payment event", e.to_string()))?;
        let stored = NewPaymentEvent {
            provider: event.provider.as_str().to_owned(),
            event_id: event.event_id.clone(),
            order: event.order,
            received_at: self.inner.registry.clock().now(),
            payload: raw.to_owned(),
            event: neutral,
        };
        let store = self.inner.registry.store();
        let record = (|| store.record_payment_event(&stored))
            .retry(self.inner.retry)
            .when(Error::is_transient)
            .await?;
        self.fault(FaultPoint::AfterRecord, event)?;
        Ok(record)
    }

    /// Applies a stored event and finishes it. Transient failures are retried
    /// a few times; if they persist the event stays unfinished (the error is
    /// returned, and [`recover`](Self::recover) finishes it later).
    pub async fn process(&self, event: PaymentEvent) -> Result<Receipt> {
        self.fault(FaultPoint::BeforeApply, &event)?;
        let applied = (|| self.apply(&event))
            .retry(self.inner.retry)
            .when(Error::is_transient)
            .await;
        let (mut outcome, snapshot) = match applied {
            Ok(done) => done,
            Err(e) if !e.is_transient() => {
                tracing::error!(provider = %event.provider, event = %event.event_id, error = %e,
                    "payment event refused; admins are told");
                let ctx = WriteCtx {
                    now: self.inner.registry.clock().now(),
                    by: Principal::System,
                    nodes: &[],
                };
                let payload = serde_json::json!({
                    "provider": event.provider, "event": event.event_id, "order": event.order,
                    "error": e.to_string(),
                });
                self.inner
                    .registry
                    .store()
                    .raise_alert(&ctx, AlertKind::PaymentFlagged, payload)
                    .await?;
                (Outcome::Rejected, None)
            }
            Err(e) => {
                tracing::warn!(provider = %event.provider, event = %event.event_id, error = %e,
                    "payment event not finished; the service will try it again");
                let store = self.inner.registry.store();
                if let Err(mark) = store
                    .payment_event_failed(event.provider.as_str(), &event.event_id, &e.to_string())
                    .await
                {
                    tracing::warn!(error = %mark, "cannot count the failed attempt");
                }
                metrics::counter!(m::PAYMENTS, "provider" => event.provider.as_str(), "outcome" => "retry")
                    .increment(1);
                return Err(e);
            }
        };
        self.fault(FaultPoint::AfterApply, &event)?;
        if outcome == Outcome::ReturnPending
            && let PaymentAction::Paid { payment_id, .. } = &event.action
        {
            let store = self.inner.registry.store();
            if let Some(record) = store.payment(event.provider, payment_id).await?
                && self.send_back(&record).await
            {
                outcome = Outcome::Returned;
            }
        }
        self.fault(FaultPoint::BeforeOutcome, &event)?;
        let now = self.inner.registry.clock().now();
        let store = self.inner.registry.store();
        // A concurrent delivery of this very event may have settled the
        // payment a moment ago: the event's outcome is what became of the
        // payment, whichever delivery gets to write it.
        let stored = match (&outcome, &event.action) {
            (Outcome::AlreadyApplied, PaymentAction::Paid { payment_id, .. }) => store
                .payment(event.provider, payment_id)
                .await?
                .map_or(outcome, |p| Outcome::of_settlement(p.settlement)),
            _ => outcome,
        };
        (|| {
            store.finish_payment_event(
                event.provider.as_str(),
                &event.event_id,
                stored.as_str(),
                now,
            )
        })
        .retry(self.inner.retry)
        .when(Error::is_transient)
        .await?;
        metrics::counter!(m::PAYMENTS, "provider" => event.provider.as_str(), "outcome" => outcome.as_str())
            .increment(1);
        if let Some(wake) = &self.inner.wake {
            wake.notify_one();
        }
        Ok(Receipt {
            outcome,
            duplicate: false,
            snapshot,
        })
    }

    /// Refunds a paid order: Stars go back through Telegram first and that
    /// fact is stored before our side changes (so a crash in between is
    /// finished by the recovery); for the invoice-page providers the money is
    /// returned by hand in their dashboards and this records it.
    #[tracing::instrument(skip_all, fields(order = %order.id, user = %order.user))]
    pub async fn refund_order(&self, order: &Order, by: Principal) -> Result<Receipt> {
        // A gift its receiver activated is not refunded (checked before any
        // money goes back; the store refuses it again, flagged for ops).
        self.refuse_redeemed_gift(order).await?;
        let event = match (order.provider, order.status, &order.provider_payment_id) {
            (Provider::Stars, OrderStatus::Paid, Some(charge)) => {
                let stars = self.inner.stars.as_ref().ok_or_else(|| {
                    Error::invalid(
                        "provider",
                        "Telegram Stars are not configured (no bot token)",
                    )
                })?;
                stars.refund(order.user, charge).await?;
                let mut event = stars::refund_event(charge, Some(order.id), Some(order.user));
                event.by = Some(by);
                event
            }
            (Provider::Stars, OrderStatus::Paid, None) => {
                return Err(Error::invalid(
                    "order",
                    "paid Stars order without a telegram_payment_charge_id",
                ));
            }
            _ => PaymentEvent {
                provider: order.provider,
                event_id: format!("refund:{}", order.id),
                order: Some(order.id),
                payer: None,
                by: Some(by),
                action: PaymentAction::Refunded { payment_id: None },
            },
        };
        let raw = serde_json::json!({ "refund": order.id, "by": by.to_string() }).to_string();
        let receipt = self.receive(event, &raw).await?;
        if receipt.snapshot.is_some() {
            return Ok(receipt);
        }
        // A repeated refund: answer with the user's state all the same.
        let snapshot = self.inner.registry.store().user(order.user).await?;
        Ok(Receipt {
            snapshot,
            ..receipt
        })
    }

    /// Finishes what was left unfinished: stored events older than
    /// `received_before` and payments queued to be sent back.
    #[tracing::instrument(name = "payment_recovery", skip_all)]
    pub async fn recover(&self, received_before: DateTime<Utc>) -> Result<Recovery> {
        let store = self.inner.registry.store().clone();
        let mut report = Recovery::default();
        let stuck = store
            .unfinished_payment_events(received_before, 500)
            .await?;
        metrics::gauge!(m::PAYMENT_EVENTS_UNFINISHED).set(stuck.len() as f64);
        for stored in stuck {
            let Some(event) = stored
                .event
                .as_deref()
                .and_then(|e| serde_json::from_str::<PaymentEvent>(e).ok())
            else {
                tracing::error!(provider = %stored.provider, event = %stored.event_id,
                    "an unfinished payment event has no readable form; ops must look at it");
                report.events_failed += 1;
                continue;
            };
            tracing::warn!(provider = %stored.provider, event = %stored.event_id,
                attempts = stored.attempts, "finishing a payment event left unfinished");
            match self.process(event).await {
                Ok(_) => {
                    report.events_finished += 1;
                    metrics::counter!(m::PAYMENT_EVENTS_RECOVERED).increment(1);
                }
                Err(_) => report.events_failed += 1,
            }
        }
        for record in store.payments_to_return(100).await? {
            if self.send_back(&record).await {
                report.payments_returned += 1;
            } else {
                report.returns_failed += 1;
            }
        }
        Ok(report)
    }

    fn fault(&self, point: FaultPoint, event: &PaymentEvent) -> Result<()> {
        match &self.inner.faults {
            Some(hook) if hook.crash_at(point, &event.event_id) => Err(Error::ShuttingDown),
            _ => Ok(()),
        }
    }
}
