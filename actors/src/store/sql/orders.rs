//! The SQL of [`Orders`](crate::store::Orders).

use super::prelude::*;

#[async_trait]
impl crate::store::Orders for This {
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "order"))]
    async fn order(&self, id: OrderId) -> Result<Option<Order>> {
        let mut conn = self.pool().acquire().await?;
        read_order(&mut conn, id).await
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "create_order"))]
    async fn create_order(&self, ctx: &WriteCtx<'_>, order: &NewOrder) -> Result<OpenedOrder> {
        open_order(self, ctx, order, None).await
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "attach_invoice", order = %order))]
    async fn attach_invoice(
        &self,
        ctx: &WriteCtx<'_>,
        order: OrderId,
        provider_invoice_id: &str,
        pay_url: &str,
    ) -> Result<()> {
        let mut w = self.begin_write().await?;
        sqlx::query(
            "UPDATE orders SET provider_invoice_id = $1, pay_url = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(provider_invoice_id)
        .bind(pay_url)
        .bind(t(ctx.now))
        .bind(order.uuid())
        .execute(&mut *w.tx)
        .await?;
        w.tx.commit().await?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "claim_invoice", order = %order))]
    async fn claim_invoice(
        &self,
        ctx: &WriteCtx<'_>,
        order: OrderId,
        invoice: &str,
        expected: Option<&str>,
    ) -> Result<bool> {
        let mut w = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE orders SET provider_invoice_id = $1, updated_at = $2
             WHERE id = $3 AND status = 'pending' AND COALESCE(provider_invoice_id, '') = $4",
        )
        .bind(invoice)
        .bind(t(ctx.now))
        .bind(order.uuid())
        .bind(expected.unwrap_or(""))
        .execute(&mut *w.tx)
        .await?;
        w.tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "close_order", order = %order_id))]
    async fn close_order(
        &self,
        ctx: &WriteCtx<'_>,
        order_id: OrderId,
        status: OrderStatus,
    ) -> Result<bool> {
        if !OrderStatus::Pending.can_become(status) || status == OrderStatus::Paid {
            return Err(Error::invalid(
                "status",
                format!("an order cannot be closed as {status}"),
            ));
        }
        let mut w = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE orders SET status = $1, updated_at = $2 WHERE id = $3 AND status = 'pending'",
        )
        .bind(status.as_str())
        .bind(t(ctx.now))
        .bind(order_id.uuid())
        .execute(&mut *w.tx)
        .await?;
        let closed = done.rows_affected() == 1;
        if closed {
            super::promos::release_promo_uses(&mut w.tx).await?;
        }
        if closed && let Some(order) = read_order(&mut w.tx, order_id).await? {
            audit(
                &mut w.tx,
                ctx,
                order.user,
                "close_order",
                json!({ "order": order_id, "status": status }),
            )
            .await?;
        }
        w.tx.commit().await?;
        Ok(closed)
    }

    #[tracing::instrument(
        level = "debug",
        name = "store",
        skip_all,
        fields(op = "expire_stale_orders")
    )]
    async fn expire_stale_orders(&self, ctx: &WriteCtx<'_>, cutoff: DateTime<Utc>) -> Result<u64> {
        let mut w = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE orders SET status = 'expired', updated_at = $1 WHERE status = 'pending' AND created_at <= $2",
        )
        .bind(t(ctx.now))
        .bind(t(cutoff))
        .execute(&mut *w.tx)
        .await?;
        super::promos::release_promo_uses(&mut w.tx).await?;
        w.tx.commit().await?;
        Ok(done.rows_affected())
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "flag_order", order = %order_id))]
    async fn flag_order(
        &self,
        ctx: &WriteCtx<'_>,
        order_id: OrderId,
        reason: &str,
    ) -> Result<bool> {
        let mut w = self.begin_write().await?;
        let order = read_order(&mut w.tx, order_id)
            .await?
            .ok_or_else(|| Error::OrderNotFound(order_id.to_string()))?;
        let flagged = flag(&mut w.tx, ctx, &order, reason, json!({})).await?;
        w.tx.commit().await?;
        Ok(flagged)
    }

    #[tracing::instrument(
        level = "debug",
        name = "store",
        skip_all,
        fields(op = "orders_to_reconcile")
    )]
    async fn orders_to_reconcile(&self, since: DateTime<Utc>, limit: u32) -> Result<Vec<Order>> {
        let rows: Vec<OrderRow> = sqlx::query_as(concat!(
            "SELECT ", order_columns!(), " FROM orders
             WHERE status IN ('pending', 'expired', 'failed') AND provider <> 'balance' AND created_at >= $1
             ORDER BY created_at LIMIT $2"
        ))
        .bind(t(since))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(OrderRow::into_domain).collect()
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "orders_of", user = %user))]
    async fn orders_of(&self, user: UserId, limit: u32) -> Result<Vec<Order>> {
        let rows: Vec<OrderRow> = sqlx::query_as(concat!(
            "SELECT ",
            order_columns!(),
            " FROM orders WHERE user_id = $1 ORDER BY created_at DESC LIMIT $2"
        ))
        .bind(user.get())
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(OrderRow::into_domain).collect()
    }
}

/// Creates an order (see [`Orders::create_order`](crate::store::Orders::create_order)),
/// with a discount code when `promo` is given: the price is the code's, a
/// use is reserved in the same transaction (`promos::reserve_promo`).
pub(super) async fn open_order(
    store: &This,
    ctx: &WriteCtx<'_>,
    order: &NewOrder,
    promo: Option<&str>,
) -> Result<OpenedOrder> {
    let days = i32::try_from(order.days).map_err(|_| Error::invalid("days", "too large"))?;
    let mut w = store.begin_user_write(order.user).await?;
    if super::subscriptions::is_banned(&mut w.tx, order.user).await? {
        return Err(Error::Banned(order.user));
    }
    let promo_key = promo.map(crate::domain::normalize_code).transpose()?;
    if let Some(key) = &order.idempotency_key {
        let existing: Option<OrderRow> = sqlx::query_as(concat!(
            "SELECT ",
            order_columns!(),
            " FROM orders WHERE user_id = $1 AND idempotency_key = $2"
        ))
        .bind(order.user.get())
        .bind(key)
        .fetch_optional(&mut *w.tx)
        .await?;
        if let Some(row) = existing {
            return Ok(OpenedOrder {
                order: row.into_domain()?,
                reused: true,
            });
        }
    }
    if let Some(since) = order.reuse_since {
        let open: Option<OrderRow> = sqlx::query_as(concat!(
            "SELECT ",
            order_columns!(),
            " FROM orders
             WHERE user_id = $1 AND plan_id = $2 AND provider = $3 AND kind = $4
               AND COALESCE(list_amount, amount) = $5
               AND currency = $6 AND status = 'pending' AND created_at >= $7
               AND COALESCE(promo_code, '') = $8
             ORDER BY created_at DESC LIMIT 1"
        ))
        .bind(order.user.get())
        .bind(order.plan.as_str())
        .bind(order.provider.as_str())
        .bind(order.kind.as_str())
        .bind(order.amount.minor)
        .bind(order.amount.currency.as_str())
        .bind(t(since))
        .bind(promo_key.as_deref().unwrap_or(""))
        .fetch_optional(&mut *w.tx)
        .await?;
        if let Some(row) = open {
            return Ok(OpenedOrder {
                order: row.into_domain()?,
                reused: true,
            });
        }
    }
    ensure_user(&mut w.tx, order.user, ctx.now).await?;
    let reserved = match &promo_key {
        Some(key) => Some(super::promos::reserve_promo(&mut w.tx, ctx, order, key).await?),
        None => None,
    };
    let amount = reserved
        .as_ref()
        .map_or(order.amount.minor, |r| r.price.minor);
    sqlx::query(
        "INSERT INTO orders (id, user_id, kind, plan_id, days, provider, amount, currency, status,
                             created_at, updated_at, idempotency_key, promo_code, list_amount,
                             traffic_bytes)
         VALUES ($1, $2, $9, $3, $4, $5, $6, $7, 'pending', $8, $8, $10, $11, $12, $13)",
    )
    .bind(order.id.uuid())
    .bind(order.user.get())
    .bind(order.plan.as_str())
    .bind(days)
    .bind(order.provider.as_str())
    .bind(amount)
    .bind(order.amount.currency.as_str())
    .bind(t(ctx.now))
    .bind(order.kind.as_str())
    .bind(order.idempotency_key.as_deref())
    .bind(reserved.as_ref().map(|r| r.code.clone()))
    .bind(reserved.as_ref().map(|_| order.amount.minor))
    .bind(
        i64::try_from(order.traffic_bytes)
            .map_err(|_| Error::invalid("traffic_bytes", "too large"))?,
    )
    .execute(&mut *w.tx)
    .await
    // The same key from another instance, committed after our read.
    .map_err(conflict_on_unique(order.user))?;
    audit(
        &mut w.tx,
        ctx,
        order.user,
        "create_order",
        json!({
            "kind": order.kind,
            "order": order.id, "plan": order.plan, "provider": order.provider,
            "amount": amount, "currency": order.amount.currency,
            "promo": reserved.as_ref().map(|r| &r.code),
            "list_amount": reserved.as_ref().map(|_| order.amount.minor),
        }),
    )
    .await?;
    if let Some(r) = &reserved {
        super::promos::record_reservation(&mut w.tx, ctx, order, r).await?;
    }
    let created = read_order(&mut w.tx, order.id).await?.ok_or_else(|| {
        corrupt(format!(
            "order {} vanished inside its own transaction",
            order.id
        ))
    })?;
    w.tx.commit().await?;
    Ok(OpenedOrder {
        order: created,
        reused: false,
    })
}
