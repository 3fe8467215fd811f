//! The SQL of [`Payments`](crate::store::Payments).

use super::prelude::*;

/// The flag of a gift order refunded after its gift was activated.
const GIFT_REFUNDED_AFTER_ACTIVATION: &str = "gift_refunded_after_activation";

#[async_trait]
impl crate::store::Payments for This {
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "apply_payment", user = %user, order = %order_id))]
    async fn apply_payment(
        &self,
        ctx: &WriteCtx<'_>,
        user: UserId,
        order_id: OrderId,
        payment: &IncomingPayment,
    ) -> Result<Settled> {
        let mut w = self.begin_user_write(user).await?;
        let order = read_order(&mut w.tx, order_id)
            .await?
            .ok_or_else(|| Error::OrderNotFound(order_id.to_string()))?;
        if order.user != user {
            return Err(Error::OrderOfAnotherUser {
                order: order_id.to_string(),
            });
        }
        let unchanged = |snapshot, previously| Settled {
            change: Change {
                applied: false,
                snapshot,
                ops: Vec::new(),
            },
            settlement: Settlement::Duplicate,
            previously,
        };
        if let Some(seen) =
            read_payment(&mut w.tx, payment.provider, &payment.provider_payment_id).await?
        {
            let snapshot = read_committed_user(&mut w.tx, user).await?;
            return Ok(unchanged(snapshot, Some(seen.settlement)));
        }
        let settlement = crate::domain::settle(
            &order,
            crate::domain::ReportedPayment {
                provider: payment.provider,
                provider_payment_id: &payment.provider_payment_id,
                amount: payment.amount.as_ref(),
                payer: payment.payer,
            },
            self.settlement_policy(),
        );
        let paid = payment
            .amount
            .clone()
            .unwrap_or_else(|| order.amount.clone());
        let mut ops = Vec::new();
        match &settlement {
            Settlement::Duplicate => {
                let snapshot = read_committed_user(&mut w.tx, user).await?;
                return Ok(unchanged(snapshot, Some(PaymentSettlement::Applied)));
            }
            Settlement::Apply { excess } => {
                if order.provider == crate::domain::Provider::Balance {
                    debit(
                        &mut w.tx,
                        ctx,
                        user,
                        LedgerKind::Purchase,
                        &order,
                        "plan purchase",
                    )
                    .await?;
                }
                let moved = sqlx::query(
                    "UPDATE orders SET status = 'paid', paid_at = $1, updated_at = $1, provider_payment_id = $2
                     WHERE id = $3 AND status IN ('pending', 'expired', 'failed')",
                )
                .bind(t(ctx.now))
                .bind(&payment.provider_payment_id)
                .bind(order_id.uuid())
                .execute(&mut *w.tx)
                .await
                .map_err(|e| {
                    if is_unique_violation(&e) {
                        Error::DuplicateProviderPayment(payment.provider_payment_id.clone())
                    } else {
                        e.into()
                    }
                })?;
                if moved.rows_affected() != 1 {
                    // Another instance applied it between our read and our write.
                    return Err(Error::Conflict(user));
                }
                match order.kind {
                    crate::domain::OrderKind::Plan => {
                        if order.provider != crate::domain::Provider::Balance {
                            // The money passes through the user's ledger: in, then spent.
                            let note = format!("paid through {}", order.provider);
                            ledger_pass_through(&mut w.tx, ctx, user, &order, &note).await?;
                        }
                        let auto_renew =
                            super::renewals::is_auto_renewal(&mut w.tx, order_id).await?;
                        let origin = if auto_renew { "auto_renew" } else { "payment" };
                        ops = extend(&mut w.tx, ctx, user, order.days, origin).await?;
                        if auto_renew {
                            super::renewals::notify_renewed(&mut w.tx, ctx, user, &order).await?;
                        }
                        let allowance =
                            (order.traffic_bytes > 0).then(|| crate::domain::TrafficAllowance {
                                bytes: order.traffic_bytes,
                                reset: self.plan_traffic_reset(order.plan.as_str()),
                            });
                        ops.extend(apply_plan_traffic(&mut w.tx, ctx, user, allowance).await?);
                        if let Some(limit) = self.plan_devices(order.plan.as_str()) {
                            super::devices::set_device_limit(&mut w.tx, user, limit).await?;
                        }
                        if let Some(bonus) = self.referral_bonus() {
                            reward_referrer(&mut w.tx, ctx, user, bonus, order_id).await?;
                        }
                        let days = self.referral_bonus_days();
                        if days > 0 {
                            super::referral_days::reward_referrer_days(
                                &mut w.tx, ctx, user, days, order_id,
                            )
                            .await?;
                        }
                    }
                    crate::domain::OrderKind::Pack => {
                        if order.provider != crate::domain::Provider::Balance {
                            let note = format!("paid through {}", order.provider);
                            ledger_pass_through(&mut w.tx, ctx, user, &order, &note).await?;
                        }
                        ops = apply_pack(&mut w.tx, ctx, user, order.traffic_bytes).await?;
                        notify(
                            &mut w.tx,
                            ctx,
                            user,
                            NotificationKind::TrafficAdded,
                            json!({
                                "traffic_bytes": order.traffic_bytes,
                            }),
                        )
                        .await?;
                    }
                    crate::domain::OrderKind::Gift => {
                        if order.provider != crate::domain::Provider::Balance {
                            let note = format!("paid through {}", order.provider);
                            ledger_pass_through(&mut w.tx, ctx, user, &order, &note).await?;
                        }
                        super::promos::create_gift(&mut w.tx, ctx, &order).await?;
                    }
                    crate::domain::OrderKind::Topup => {
                        ledger_entry(
                            &mut w.tx,
                            ctx,
                            user,
                            LedgerKind::TopUp,
                            order.amount.minor,
                            order.amount.currency.as_str(),
                            Some(order_id),
                            "top-up",
                        )
                        .await?;
                        let balance = read_balance(&mut w.tx, user).await?;
                        notify(&mut w.tx, ctx, user, NotificationKind::TopUp, json!({
                            "amount": order.amount, "balance": crate::domain::Money::new(balance, order.amount.currency.clone()),
                        })).await?;
                    }
                }
                super::promos::count_promo_use(&mut w.tx, ctx, &order).await?;
                match excess {
                    Some(Excess::Credit(rest)) => {
                        credit_payment(
                            &mut w.tx,
                            ctx,
                            user,
                            Some(order_id),
                            rest,
                            crate::domain::Unexpected::Overpaid,
                            payment.provider,
                        )
                        .await?;
                    }
                    Some(Excess::Flag(rest)) => {
                        flag(
                            &mut w.tx,
                            ctx,
                            &order,
                            crate::domain::Unexpected::Overpaid.as_str(),
                            json!({ "paid": paid, "excess": rest }),
                        )
                        .await?;
                    }
                    None => {}
                }
                // For the admins who asked to hear about purchases (stored
                // with the payment; dropped at delivery when they did not).
                alert(
                    &mut w.tx,
                    ctx,
                    AlertKind::Purchase,
                    json!({
                        "user": user, "order": order_id, "kind": order.kind,
                        "plan": order.plan, "provider": order.provider, "paid": paid,
                    }),
                )
                .await?;
                audit(
                    &mut w.tx,
                    ctx,
                    user,
                    "apply_payment",
                    json!({
                        "kind": order.kind,
                        "order": order_id,
                        "provider": order.provider,
                        "provider_payment_id": payment.provider_payment_id,
                        "amount": order.amount.minor,
                        "currency": order.amount.currency,
                        "paid": paid,
                        "days": order.days,
                        "order_was": order.status,
                    }),
                )
                .await?;
            }
            other => {
                settle_unexpected(&mut w.tx, ctx, user, Some(&order), payment, &paid, other)
                    .await?;
            }
        }
        if let Some(recorded) = settlement.recorded_as() {
            let reason = settlement.reason().map(crate::domain::Unexpected::as_str);
            record_payment(
                &mut w.tx,
                ctx,
                user,
                Some(order_id),
                payment,
                &paid,
                recorded,
                reason,
            )
            .await?;
        }
        let snapshot = read_committed_user(&mut w.tx, user).await?;
        w.tx.commit().await?;
        let applied = matches!(settlement, Settlement::Apply { .. });
        Ok(Settled {
            change: Change {
                applied,
                snapshot,
                ops,
            },
            settlement,
            previously: None,
        })
    }

    #[tracing::instrument(
        level = "debug",
        name = "store",
        skip_all,
        fields(op = "record_stray_payment")
    )]
    async fn record_stray_payment(
        &self,
        ctx: &WriteCtx<'_>,
        payer: UserId,
        payment: &IncomingPayment,
    ) -> Result<Settled> {
        let amount = payment.amount.clone().ok_or_else(|| {
            Error::invalid("amount", "a payment without an order must state its amount")
        })?;
        let mut w = self.begin_write().await?;
        ensure_user(&mut w.tx, payer, ctx.now).await?;
        if let Some(seen) =
            read_payment(&mut w.tx, payment.provider, &payment.provider_payment_id).await?
        {
            let snapshot = read_committed_user(&mut w.tx, payer).await?;
            return Ok(Settled {
                change: Change {
                    applied: false,
                    snapshot,
                    ops: Vec::new(),
                },
                settlement: Settlement::Duplicate,
                previously: Some(seen.settlement),
            });
        }
        let settlement = crate::domain::settle_without_order(
            payment.provider,
            &amount,
            self.settlement_policy(),
        );
        settle_unexpected(&mut w.tx, ctx, payer, None, payment, &amount, &settlement).await?;
        if let Some(recorded) = settlement.recorded_as() {
            let reason = settlement.reason().map(crate::domain::Unexpected::as_str);
            record_payment(
                &mut w.tx, ctx, payer, None, payment, &amount, recorded, reason,
            )
            .await?;
        }
        let snapshot = read_committed_user(&mut w.tx, payer).await?;
        w.tx.commit().await?;
        Ok(Settled {
            change: Change {
                applied: false,
                snapshot,
                ops: Vec::new(),
            },
            settlement,
            previously: None,
        })
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "payment"))]
    async fn payment(
        &self,
        provider: crate::domain::Provider,
        provider_payment_id: &str,
    ) -> Result<Option<crate::store::PaymentRecord>> {
        let mut conn = self.pool().acquire().await?;
        read_payment(&mut conn, provider, provider_payment_id).await
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "payments_of_order", order = %order))]
    async fn payments_of_order(&self, order: OrderId) -> Result<Vec<crate::store::PaymentRecord>> {
        let rows: Vec<PaymentRow> = sqlx::query_as(concat!(
            "SELECT ",
            payment_columns!(),
            " FROM payments WHERE order_id = $1 ORDER BY id"
        ))
        .bind(order.uuid())
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(PaymentRow::into_domain).collect()
    }

    #[tracing::instrument(
        level = "debug",
        name = "store",
        skip_all,
        fields(op = "payments_to_return")
    )]
    async fn payments_to_return(&self, limit: u32) -> Result<Vec<crate::store::PaymentRecord>> {
        let rows: Vec<PaymentRow> = sqlx::query_as(concat!(
            "SELECT ",
            payment_columns!(),
            " FROM payments WHERE settlement = 'refund_pending' ORDER BY id LIMIT $1"
        ))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(PaymentRow::into_domain).collect()
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "payment_returned", user = %user))]
    async fn payment_returned(
        &self,
        ctx: &WriteCtx<'_>,
        user: UserId,
        provider: crate::domain::Provider,
        provider_payment_id: &str,
    ) -> Result<Change> {
        let mut w = self.begin_user_write(user).await?;
        let record = read_payment(&mut w.tx, provider, provider_payment_id).await?;
        let moved = sqlx::query(
            "UPDATE payments SET settlement = 'refunded', updated_at = $1
             WHERE provider = $2 AND provider_payment_id = $3 AND settlement = 'refund_pending'",
        )
        .bind(t(ctx.now))
        .bind(provider.as_str())
        .bind(provider_payment_id)
        .execute(&mut *w.tx)
        .await?;
        let applied = moved.rows_affected() == 1;
        if applied && let Some(record) = record {
            notify(
                &mut w.tx,
                ctx,
                user,
                NotificationKind::PaymentReturned,
                json!({
                    "order": record.order, "amount": record.amount, "reason": record.reason,
                }),
            )
            .await?;
            audit(
                &mut w.tx,
                ctx,
                user,
                "payment_returned",
                json!({
                    "order": record.order, "amount": record.amount, "provider": provider,
                    "provider_payment_id": provider_payment_id,
                }),
            )
            .await?;
        }
        let snapshot = read_committed_user(&mut w.tx, user).await?;
        w.tx.commit().await?;
        Ok(Change {
            applied,
            snapshot,
            ops: Vec::new(),
        })
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "refund_order", user = %user, order = %order_id))]
    async fn refund_order(
        &self,
        ctx: &WriteCtx<'_>,
        user: UserId,
        order_id: OrderId,
    ) -> Result<Refunded> {
        let mut w = self.begin_user_write(user).await?;
        let order = read_order(&mut w.tx, order_id)
            .await?
            .ok_or_else(|| Error::OrderNotFound(order_id.to_string()))?;
        if order.user != user {
            return Err(Error::OrderOfAnotherUser {
                order: order_id.to_string(),
            });
        }
        // A refund reaching the store is a fact (the provider sent the money
        // back, or ops returned it by hand): voluntary refunds of an activated
        // gift are refused before any money moves (`Intake::refund_order`).
        // One that happened anyway (a provider's own refund, a race with the
        // activation) is recorded like any other; its receiver keeps the days
        // and ops are told.
        let gift_kept = order.kind == crate::domain::OrderKind::Gift
            && order.status == OrderStatus::Paid
            && !super::promos::void_gift(&mut w.tx, ctx, &order).await?;
        if gift_kept {
            sqlx::query("UPDATE orders SET flag = $1, updated_at = $2 WHERE id = $3")
                .bind(GIFT_REFUNDED_AFTER_ACTIVATION)
                .bind(t(ctx.now))
                .bind(order_id.uuid())
                .execute(&mut *w.tx)
                .await?;
            alert(
                &mut w.tx,
                ctx,
                AlertKind::PaymentFlagged,
                json!({
                    "order": order_id, "user": user, "flag": GIFT_REFUNDED_AFTER_ACTIVATION,
                    "amount": order.amount,
                }),
            )
            .await?;
        }
        let moved = sqlx::query(
            "UPDATE orders SET status = 'refunded', updated_at = $1 WHERE id = $2 AND status = 'paid'",
        )
        .bind(t(ctx.now))
        .bind(order_id.uuid())
        .execute(&mut *w.tx)
        .await?;
        if moved.rows_affected() != 1 {
            let snapshot = read_committed_user(&mut w.tx, user).await?;
            return Ok(Refunded {
                change: Change {
                    applied: false,
                    snapshot,
                    ops: Vec::new(),
                },
                shortfall: None,
            });
        }
        let mut ops = Vec::new();
        let mut shortfall = None;
        if order.kind == crate::domain::OrderKind::Topup {
            // Take back what is left of the top-up; a spent part is a
            // shortfall for ops, never a negative balance or a retry loop.
            let balance = read_balance(&mut w.tx, user).await?;
            let (taken, short) = crate::domain::take_back(order.amount.minor, balance);
            if taken > 0 {
                ledger_entry(
                    &mut w.tx,
                    ctx,
                    user,
                    LedgerKind::Refund,
                    -taken,
                    order.amount.currency.as_str(),
                    Some(order_id),
                    "refund of a top-up",
                )
                .await?;
            }
            if short > 0 {
                let missing = crate::domain::Money::new(short, order.amount.currency.clone());
                sqlx::query(
                    "UPDATE orders SET flag = 'refund_shortfall', updated_at = $1 WHERE id = $2",
                )
                .bind(t(ctx.now))
                .bind(order_id.uuid())
                .execute(&mut *w.tx)
                .await?;
                alert(
                    &mut w.tx,
                    ctx,
                    AlertKind::RefundShortfall,
                    json!({
                        "user": user, "order": order_id, "what": "top_up",
                        "wanted": order.amount, "shortfall": missing,
                    }),
                )
                .await?;
                shortfall = Some(missing);
            }
        } else if order.kind == crate::domain::OrderKind::Pack {
            // The pack's bytes leave the period; past the allowance now, the
            // next collection limits the subscription (through its actor).
            take_back_pack(
                &mut w.tx,
                user,
                order.traffic_bytes,
                order.paid_at.unwrap_or(ctx.now),
            )
            .await?;
        } else if order.kind != crate::domain::OrderKind::Gift
            && let Some(sub) = read_sub(&mut w.tx, user).await?
        {
            let status: SubscriptionStatus = sub.status.parse().map_err(corrupt)?;
            let after = crate::domain::shorten(ctx.now, status, sub.expires_at.0, order.days);
            update_sub(
                &mut w.tx,
                ctx,
                user,
                after.status,
                after.expires_at,
                sub.version,
            )
            .await?;
            if after.ends_access {
                ops = remove_access(&mut w.tx, ctx, user).await?;
                notify(
                    &mut w.tx,
                    ctx,
                    user,
                    NotificationKind::Expired,
                    json!({ "reason": "refund" }),
                )
                .await?;
            }
        }
        if order.provider == crate::domain::Provider::Balance {
            ledger_entry(
                &mut w.tx,
                ctx,
                user,
                LedgerKind::Refund,
                order.amount.minor,
                order.amount.currency.as_str(),
                Some(order_id),
                "refund of a balance purchase",
            )
            .await?;
        } else if matches!(
            order.kind,
            crate::domain::OrderKind::Plan
                | crate::domain::OrderKind::Pack
                | crate::domain::OrderKind::Gift
        ) {
            // Mirror of the payment: the purchase is reversed, the money goes back out.
            let note = format!("returned through {}", order.provider);
            ledger_entry(
                &mut w.tx,
                ctx,
                user,
                LedgerKind::Refund,
                order.amount.minor,
                order.amount.currency.as_str(),
                Some(order_id),
                "refund of a plan purchase",
            )
            .await?;
            ledger_entry(
                &mut w.tx,
                ctx,
                user,
                LedgerKind::Payout,
                -order.amount.minor,
                order.amount.currency.as_str(),
                Some(order_id),
                &note,
            )
            .await?;
        }
        reverse_referral(&mut w.tx, ctx, &order).await?;
        super::referral_days::reverse_referral_days(&mut w.tx, ctx, &order).await?;
        notify(
            &mut w.tx,
            ctx,
            user,
            NotificationKind::Refunded,
            json!({
                "order": order_id, "amount": order.amount, "days": order.days,
            }),
        )
        .await?;
        audit(
            &mut w.tx,
            ctx,
            user,
            "refund_order",
            json!({
                "order": order_id, "provider": order.provider, "days": order.days,
                "amount": order.amount.minor, "currency": order.amount.currency,
                "shortfall": shortfall,
            }),
        )
        .await?;
        let snapshot = read_committed_user(&mut w.tx, user).await?;
        w.tx.commit().await?;
        Ok(Refunded {
            change: Change {
                applied: true,
                snapshot,
                ops,
            },
            shortfall,
        })
    }
}
