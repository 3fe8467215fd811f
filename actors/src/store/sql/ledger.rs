//! The SQL of [`Ledger`](crate::store::Ledger).

use super::prelude::*;

#[async_trait]
impl crate::store::Ledger for This {
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "adjust_balance", user = %user))]
    async fn adjust_balance(
        &self,
        ctx: &WriteCtx<'_>,
        user: UserId,
        kind: LedgerKind,
        amount: &crate::domain::Money,
        note: &str,
    ) -> Result<Change> {
        let (amount, currency) = (amount.minor, amount.currency.as_str());
        let mut w = self.begin_user_write(user).await?;
        ensure_user(&mut w.tx, user, ctx.now).await?;
        ledger_entry(&mut w.tx, ctx, user, kind, amount, currency, None, note).await?;
        audit(
            &mut w.tx,
            ctx,
            user,
            "adjust_balance",
            json!({ "kind": kind, "amount": amount, "note": note }),
        )
        .await?;
        let snapshot = read_committed_user(&mut w.tx, user).await?;
        w.tx.commit().await?;
        Ok(Change {
            applied: true,
            snapshot,
            ops: Vec::new(),
        })
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "ledger", user = %user))]
    async fn ledger(&self, user: UserId) -> Result<Vec<LedgerEntry>> {
        let rows: Vec<(String, i64, String, Option<Uuid>, String, DbTime)> = sqlx::query_as(
            "SELECT kind, amount, currency, order_id, note, created_at FROM ledger WHERE user_id = $1 ORDER BY id",
        )
        .bind(user.get())
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|(kind, amount, currency, order, note, at)| {
                Ok(LedgerEntry {
                    kind: kind.parse().map_err(corrupt)?,
                    amount: crate::domain::Money::new(
                        amount,
                        crate::domain::Currency::new(currency).map_err(corrupt)?,
                    ),
                    order: order.map(OrderId::from_uuid),
                    note,
                    created_at: at.0,
                })
            })
            .collect()
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "ledger_sum", user = %user))]
    async fn ledger_sum(&self, user: UserId) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM ledger WHERE user_id = $1",
        )
        .bind(user.get())
        .fetch_one(self.pool())
        .await?)
    }
}
