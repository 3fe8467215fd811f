//! Write steps that move money: ledger entries, payments, credits, referral bonuses, flags.

use super::prelude::*;

/// Appends a ledger movement and keeps `users.balance` equal to the
/// ledger sum. A debit is guarded in the same statement (never below
/// zero, whichever instance writes): [`Error::InsufficientFunds`].
#[allow(clippy::too_many_arguments)]
pub(super) async fn ledger_entry(
    conn: &mut Conn,
    ctx: &WriteCtx<'_>,
    user: UserId,
    kind: LedgerKind,
    amount: i64,
    currency: &str,
    order: Option<OrderId>,
    note: &str,
) -> Result<()> {
    let moved = sqlx::query(
        "UPDATE users SET balance = balance + $1 WHERE telegram_id = $2 AND balance + $1 >= 0",
    )
    .bind(amount)
    .bind(user.get())
    .execute(&mut *conn)
    .await?;
    if moved.rows_affected() != 1 {
        let balance = read_balance(conn, user).await?;
        return Err(Error::InsufficientFunds {
            needed: format!("{} {currency}", -amount),
            available: format!("{balance} {currency}"),
        });
    }
    sqlx::query(
        "INSERT INTO ledger (user_id, kind, amount, currency, order_id, note, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(user.get())
    .bind(kind.as_str())
    .bind(amount)
    .bind(currency)
    .bind(order.map(|o| o.uuid()))
    .bind(note)
    .bind(t(ctx.now))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Money paid through a provider and spent at once on `order`: a payment in
/// and a purchase out, in one statement. The balance does not move (nothing
/// to guard).
pub(super) async fn ledger_pass_through(
    conn: &mut Conn,
    ctx: &WriteCtx<'_>,
    user: UserId,
    order: &Order,
    note: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO ledger (user_id, kind, amount, currency, order_id, note, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7), ($1, $8, $9, $4, $5, $10, $7)",
    )
    .bind(user.get())
    .bind(LedgerKind::Payment.as_str())
    .bind(order.amount.minor)
    .bind(order.amount.currency.as_str())
    .bind(order.id.uuid())
    .bind(note)
    .bind(t(ctx.now))
    .bind(LedgerKind::Purchase.as_str())
    .bind(-order.amount.minor)
    .bind("plan purchase")
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Takes an order's amount off the balance, refusing to go below zero.
pub(super) async fn debit(
    conn: &mut Conn,
    ctx: &WriteCtx<'_>,
    user: UserId,
    kind: LedgerKind,
    order: &Order,
    note: &str,
) -> Result<()> {
    ledger_entry(
        conn,
        ctx,
        user,
        kind,
        -order.amount.minor,
        order.amount.currency.as_str(),
        Some(order.id),
        note,
    )
    .await
}

/// Records how a payment was settled (once per provider payment id).
#[allow(clippy::too_many_arguments)]
pub(super) async fn record_payment(
    conn: &mut Conn,
    ctx: &WriteCtx<'_>,
    user: UserId,
    order: Option<OrderId>,
    payment: &IncomingPayment,
    amount: &crate::domain::Money,
    settlement: PaymentSettlement,
    reason: Option<&str>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO payments (provider, provider_payment_id, order_id, user_id, amount, currency,
                               settlement, reason, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
    )
    .bind(payment.provider.as_str())
    .bind(&payment.provider_payment_id)
    .bind(order.map(|o| o.uuid()))
    .bind(user.get())
    .bind(amount.minor)
    .bind(amount.currency.as_str())
    .bind(settlement.as_str())
    .bind(reason)
    .bind(t(ctx.now))
    .execute(&mut *conn)
    .await
    .map_err(conflict_on_unique(user))?;
    Ok(())
}

/// Money the order could not take, kept for the user on their balance.
pub(super) async fn credit_payment(
    conn: &mut Conn,
    ctx: &WriteCtx<'_>,
    user: UserId,
    order: Option<OrderId>,
    amount: &crate::domain::Money,
    reason: crate::domain::Unexpected,
    provider: crate::domain::Provider,
) -> Result<()> {
    let note = format!("{} through {provider}", reason.as_str());
    ledger_entry(
        conn,
        ctx,
        user,
        LedgerKind::PaymentCredit,
        amount.minor,
        amount.currency.as_str(),
        order,
        &note,
    )
    .await?;
    let balance = read_balance(conn, user).await?;
    let balance = crate::domain::Money::new(balance, amount.currency.clone());
    notify(
        conn,
        ctx,
        user,
        NotificationKind::PaymentCredited,
        json!({
            "order": order, "amount": amount, "balance": balance, "reason": reason,
        }),
    )
    .await?;
    alert(
        conn,
        ctx,
        AlertKind::PaymentCredited,
        json!({
            "user": user, "order": order, "amount": amount, "reason": reason, "provider": provider,
        }),
    )
    .await?;
    audit(
        conn,
        ctx,
        user,
        "payment_credited",
        json!({
            "order": order, "amount": amount, "reason": reason, "provider": provider,
        }),
    )
    .await
}

/// Carries out a settlement of a payment its order (if any) cannot
/// take: credit, queue for sending back, or flag.
pub(super) async fn settle_unexpected(
    conn: &mut Conn,
    ctx: &WriteCtx<'_>,
    user: UserId,
    order: Option<&Order>,
    payment: &IncomingPayment,
    amount: &crate::domain::Money,
    settlement: &Settlement,
) -> Result<()> {
    let order_id = order.map(|o| o.id);
    match settlement {
        Settlement::Credit { amount, reason } => {
            credit_payment(conn, ctx, user, order_id, amount, *reason, payment.provider).await?;
        }
        Settlement::Refund { amount, reason } => {
            alert(conn, ctx, AlertKind::PaymentReturned, json!({
                "user": user, "order": order_id, "amount": amount, "reason": reason,
                "provider": payment.provider, "provider_payment_id": payment.provider_payment_id,
            })).await?;
            audit(
                conn,
                ctx,
                user,
                "payment_return_queued",
                json!({
                    "order": order_id, "amount": amount, "reason": reason,
                    "provider_payment_id": payment.provider_payment_id,
                }),
            )
            .await?;
        }
        Settlement::Flag { reason } => {
            let details = json!({
                "provider": payment.provider, "provider_payment_id": payment.provider_payment_id,
                "paid": amount,
            });
            match order {
                Some(order) => {
                    flag(conn, ctx, order, reason.as_str(), details).await?;
                }
                None => {
                    alert(
                        conn,
                        ctx,
                        AlertKind::UnknownOrder,
                        json!({
                            "user": user, "paid": amount, "provider": payment.provider,
                            "provider_payment_id": payment.provider_payment_id,
                        }),
                    )
                    .await?;
                    audit(conn, ctx, user, "stray_payment_flagged", details).await?;
                }
            }
        }
        Settlement::Duplicate | Settlement::Apply { .. } => {}
    }
    Ok(())
}

/// Reverses the referral bonus `order` earned (as far as the
/// referrer's balance allows; a shortfall is flagged to the admins).
pub(super) async fn reverse_referral(
    conn: &mut Conn,
    ctx: &WriteCtx<'_>,
    order: &Order,
) -> Result<()> {
    let bonuses: Vec<(i64, i64, String)> = sqlx::query_as(
        "SELECT user_id, amount, currency FROM ledger WHERE kind = 'referral_bonus' AND order_id = $1",
    )
    .bind(order.id.uuid())
    .fetch_all(&mut *conn)
    .await?;
    for (referrer, amount, currency) in bonuses {
        let referrer = UserId::new(referrer).map_err(corrupt)?;
        let balance = read_balance(conn, referrer).await?;
        let (taken, short) = crate::domain::take_back(amount, balance);
        let note = format!("referral bonus of refunded order {}", order.id);
        if taken > 0 {
            ledger_entry(
                conn,
                ctx,
                referrer,
                LedgerKind::ReferralReversal,
                -taken,
                &currency,
                Some(order.id),
                &note,
            )
            .await?;
        }
        let currency = crate::domain::Currency::new(currency).map_err(corrupt)?;
        if short > 0 {
            alert(
                conn,
                ctx,
                AlertKind::RefundShortfall,
                json!({
                    "user": referrer, "order": order.id, "what": "referral_bonus",
                    "wanted": crate::domain::Money::new(amount, currency.clone()),
                    "shortfall": crate::domain::Money::new(short, currency.clone()),
                }),
            )
            .await?;
        }
        audit(
            conn,
            ctx,
            referrer,
            "referral_reversed",
            json!({
                "order": order.id, "referred": order.user,
                "taken": crate::domain::Money::new(taken, currency.clone()),
                "shortfall": crate::domain::Money::new(short, currency),
            }),
        )
        .await?;
    }
    Ok(())
}

/// Credits `bonus` to the user's referrer once (the first paid plan of a
/// referred user), with a ledger entry and a notification for the referrer.
pub(super) async fn reward_referrer(
    conn: &mut Conn,
    ctx: &WriteCtx<'_>,
    user: UserId,
    bonus: &crate::domain::Money,
    order: OrderId,
) -> Result<()> {
    let referrer: Option<Option<i64>> = sqlx::query_scalar(
        "UPDATE users SET referral_rewarded_at = $1
         WHERE telegram_id = $2 AND referrer IS NOT NULL AND referral_rewarded_at IS NULL
         RETURNING referrer",
    )
    .bind(t(ctx.now))
    .bind(user.get())
    .fetch_optional(&mut *conn)
    .await?;
    let Some(Some(referrer)) = referrer else {
        return Ok(());
    };
    let referrer = UserId::new(referrer).map_err(corrupt)?;
    let note = format!("referral bonus for {user}");
    ledger_entry(
        conn,
        ctx,
        referrer,
        LedgerKind::ReferralBonus,
        bonus.minor,
        bonus.currency.as_str(),
        Some(order),
        &note,
    )
    .await?;
    notify(
        conn,
        ctx,
        referrer,
        NotificationKind::ReferralBonus,
        json!({ "amount": bonus, "referred": user }),
    )
    .await?;
    audit(
        conn,
        ctx,
        referrer,
        "referral_bonus",
        json!({ "referred": user, "amount": bonus, "order": order }),
    )
    .await
}

/// Flags an order for review (once per reason): tells the user and the
/// admins and records why in the audit log. `false` if it already carried it.
pub(super) async fn flag(
    conn: &mut Conn,
    ctx: &WriteCtx<'_>,
    order: &Order,
    reason: &str,
    details: serde_json::Value,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE orders SET flag = $1, updated_at = $2 WHERE id = $3 AND (flag IS NULL OR flag <> $1)",
    )
    .bind(reason)
    .bind(t(ctx.now))
    .bind(order.id.uuid())
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    notify(
        conn,
        ctx,
        order.user,
        NotificationKind::PaymentFlagged,
        json!({ "order": order.id, "flag": reason }),
    )
    .await?;
    alert(conn, ctx, AlertKind::PaymentFlagged, json!({
        "order": order.id, "user": order.user, "flag": reason, "amount": order.amount, "details": details,
    })).await?;
    audit(
        conn,
        ctx,
        order.user,
        "flag_order",
        json!({ "order": order.id, "flag": reason, "details": details }),
    )
    .await?;
    Ok(true)
}
