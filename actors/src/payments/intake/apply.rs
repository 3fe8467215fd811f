//! How a stored payment event is applied: through the order's user actor,
//! or without an order (a stray Stars payment, an unknown order), and how a
//! payment queued for return is sent back.

use super::*;

impl Intake {
    /// Refuses (and flags for ops) the refund of a gift order whose gift was
    /// activated: its receiver has the days.
    pub(super) async fn refuse_redeemed_gift(&self, order: &Order) -> Result<()> {
        if order.kind != crate::domain::OrderKind::Gift {
            return Ok(());
        }
        let registry = &self.inner.registry;
        let redeemed = registry
            .store()
            .gift_of_order(order.id)
            .await?
            .is_some_and(|g| g.redeemed_by.is_some());
        if !redeemed {
            return Ok(());
        }
        let flag = FlagOrder {
            order: order.id,
            reason: "gift_redeemed".into(),
        };
        registry.send(order.user, flag).await?;
        Err(Error::GiftRefused(
            crate::domain::GiftRefusal::AlreadyRedeemed,
        ))
    }

    /// Sends a payment queued for return back through its provider and
    /// records that; `false` (kept for a later try) when that failed.
    pub(super) async fn send_back(&self, record: &PaymentRecord) -> bool {
        let Some(stars) = self
            .inner
            .stars
            .as_ref()
            .filter(|_| record.provider == Provider::Stars)
        else {
            tracing::warn!(provider = %record.provider, payment = %record.provider_payment_id,
                "a payment waits to be sent back but its provider cannot do it here");
            return false;
        };
        if let Err(e) = stars.refund(record.user, &record.provider_payment_id).await {
            tracing::warn!(payment = %record.provider_payment_id, error = %e,
                "sending a payment back failed; will try again");
            return false;
        }
        let returned = PaymentReturned {
            provider: record.provider,
            provider_payment_id: record.provider_payment_id.clone(),
        };
        let registry = &self.inner.registry;
        match (|| registry.send(record.user, returned.clone()))
            .retry(self.inner.retry)
            .when(Error::is_transient)
            .await
        {
            Ok(_) => true,
            Err(e) => {
                // Sent at Telegram; the next pass sends again (an
                // already-refunded charge counts as done) and records it.
                tracing::warn!(payment = %record.provider_payment_id, error = %e,
                    "payment sent back but not recorded yet; will record it later");
                false
            }
        }
    }

    /// Routes the event to the user actor it concerns and names the outcome.
    pub(super) async fn apply(
        &self,
        event: &PaymentEvent,
    ) -> Result<(Outcome, Option<UserSnapshot>)> {
        let registry = &self.inner.registry;
        let store = registry.store();
        let order = match event.order {
            Some(id) => store.order(id).await?,
            None => None,
        };
        let Some(order) = order else {
            return self.without_order(event).await;
        };
        let user = order.user;
        match &event.action {
            PaymentAction::Paid { payment_id, amount } => {
                let msg = ApplyPayment {
                    order: order.id,
                    payment: IncomingPayment {
                        provider: event.provider,
                        provider_payment_id: payment_id.clone(),
                        amount: Some(amount.clone()),
                        payer: event.payer,
                    },
                };
                let settled = registry.send(user, msg).await?;
                let outcome = match settled.settlement {
                    Settlement::Duplicate => Outcome::AlreadyApplied,
                    Settlement::Apply { .. } => Outcome::Applied,
                    Settlement::Credit { .. } => Outcome::Credited,
                    Settlement::Refund { .. } => Outcome::ReturnPending,
                    Settlement::Flag { .. } => Outcome::Flagged,
                };
                Ok((outcome, Some(settled.change.snapshot)))
            }
            PaymentAction::PartiallyPaid => {
                let msg = FlagOrder {
                    order: order.id,
                    reason: "partially_paid".into(),
                };
                registry.send(user, msg).await?;
                Ok((Outcome::Flagged, None))
            }
            PaymentAction::Closed { status } => {
                let msg = CloseOrder {
                    order: order.id,
                    status: *status,
                };
                let closed = registry.send(user, msg).await?;
                Ok((
                    if closed {
                        Outcome::Closed
                    } else {
                        Outcome::NotPending
                    },
                    None,
                ))
            }
            PaymentAction::Refunded { payment_id } => {
                // The refund of a payment that did not pay the order (a
                // duplicate we sent back) leaves the order alone.
                if let Some(id) = payment_id
                    && order.provider_payment_id.as_deref() != Some(id.as_str())
                {
                    let msg = PaymentReturned {
                        provider: event.provider,
                        provider_payment_id: id.clone(),
                    };
                    let change = registry.send(user, msg).await?;
                    return Ok((
                        if change.applied {
                            Outcome::Returned
                        } else {
                            Outcome::NotPaid
                        },
                        Some(change.snapshot),
                    ));
                }
                let msg = RefundOrder {
                    order: order.id,
                    by: event.by.unwrap_or(Principal::System),
                };
                let refunded = registry.send(user, msg).await?;
                let outcome = match (&refunded.change.applied, &refunded.shortfall) {
                    (false, _) => Outcome::NotPaid,
                    (true, Some(_)) => Outcome::RefundShortfall,
                    (true, None) => Outcome::Refunded,
                };
                Ok((outcome, Some(refunded.change.snapshot)))
            }
            PaymentAction::Progress { .. } => Ok((Outcome::Recorded, None)),
            PaymentAction::Unknown { status } => {
                tracing::error!(provider = %event.provider, %status, order = %order.id,
                    "unknown payment status: nothing granted");
                Ok((Outcome::UnknownStatus, None))
            }
        }
    }

    /// An event whose order we cannot find. Money from a known payer (Stars)
    /// is settled like a payment its order cannot take; anything else is kept
    /// for ops and the admins are told.
    pub(super) async fn without_order(
        &self,
        event: &PaymentEvent,
    ) -> Result<(Outcome, Option<UserSnapshot>)> {
        let registry = &self.inner.registry;
        match (&event.action, event.payer) {
            (PaymentAction::Paid { payment_id, amount }, Some(payer)) => {
                let msg = StrayPayment {
                    payment: IncomingPayment {
                        provider: event.provider,
                        provider_payment_id: payment_id.clone(),
                        amount: Some(amount.clone()),
                        payer: Some(payer),
                    },
                };
                let settled = registry.send(payer, msg).await?;
                let outcome = match settled.settlement {
                    Settlement::Duplicate => Outcome::AlreadyApplied,
                    Settlement::Credit { .. } => Outcome::Credited,
                    Settlement::Refund { .. } => Outcome::ReturnPending,
                    _ => Outcome::UnknownOrder,
                };
                Ok((outcome, Some(settled.change.snapshot)))
            }
            (PaymentAction::Paid { payment_id, amount }, None) => {
                tracing::error!(provider = %event.provider, event = %event.event_id,
                    "money arrived for an order we do not know; admins are told");
                let ctx = WriteCtx {
                    now: registry.clock().now(),
                    by: Principal::System,
                    nodes: &[],
                };
                let payload = serde_json::json!({
                    "provider": event.provider, "event": event.event_id, "order": event.order,
                    "provider_payment_id": payment_id, "paid": amount,
                });
                registry
                    .store()
                    .raise_alert(&ctx, AlertKind::UnknownOrder, payload)
                    .await?;
                Ok((Outcome::UnknownOrder, None))
            }
            (PaymentAction::Unknown { status }, _) => {
                tracing::error!(provider = %event.provider, %status, event = %event.event_id,
                    "unknown payment event: nothing granted");
                Ok((Outcome::UnknownStatus, None))
            }
            // Stars sent back for a payment that had no order of ours.
            (
                PaymentAction::Refunded {
                    payment_id: Some(id),
                },
                Some(payer),
            ) => {
                let msg = PaymentReturned {
                    provider: event.provider,
                    provider_payment_id: id.clone(),
                };
                let change = registry.send(payer, msg).await?;
                let outcome = if change.applied {
                    Outcome::Returned
                } else {
                    Outcome::NotPaid
                };
                Ok((outcome, Some(change.snapshot)))
            }
            _ => {
                tracing::warn!(provider = %event.provider, event = %event.event_id,
                    "payment event for an unknown order; recorded for ops");
                Ok((Outcome::UnknownOrder, None))
            }
        }
    }
}
