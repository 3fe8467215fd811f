//! The SQL of [`ProvisioningOutbox`](crate::store::ProvisioningOutbox).

use super::prelude::*;

#[async_trait]
impl crate::store::ProvisioningOutbox for This {
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "pending_ops"))]
    async fn pending_ops(&self, limit: u32) -> Result<Vec<PendingOp>> {
        let rows: Vec<OpRow> = sqlx::query_as(
            "SELECT id, node, user_id, key_uuid, email, op, attempts, next_attempt_at
             FROM provisioning_ops WHERE state = 'pending' ORDER BY id LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(OpRow::into_domain).collect()
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "due_ops"))]
    async fn due_ops(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<PendingOp>> {
        self.due(None, now, limit).await
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "due_node_ops", node = %node))]
    async fn due_node_ops(
        &self,
        node: &crate::domain::NodeName,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<PendingOp>> {
        self.due(Some(node), now, limit).await
    }

    #[tracing::instrument(
        level = "debug",
        name = "store",
        skip_all,
        fields(op = "pending_ops_by_node")
    )]
    async fn pending_ops_by_node(&self) -> Result<Vec<(String, i64)>> {
        Ok(sqlx::query_as(
            "SELECT node, COUNT(*) FROM provisioning_ops WHERE state = 'pending'
             GROUP BY node ORDER BY node",
        )
        .fetch_all(self.pool())
        .await?)
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "complete_ops"))]
    async fn complete_ops(&self, ids: &[i64], now: DateTime<Utc>) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        // One statement per chunk of ids (atomic, one round trip each).
        for chunk in ids.chunks(500) {
            let placeholders: Vec<String> = (2..chunk.len() + 2).map(|i| format!("${i}")).collect();
            let sql = format!(
                "UPDATE provisioning_ops SET state = 'done', done_at = $1, attempts = attempts + 1
                 WHERE state = 'pending' AND id IN ({})",
                placeholders.join(", ")
            );
            let mut query = sqlx::query(&sql).bind(t(now));
            for id in chunk {
                query = query.bind(*id);
            }
            query.execute(self.writer()).await?;
        }
        Ok(())
    }

    #[tracing::instrument(
        level = "debug",
        name = "store",
        skip_all,
        fields(op = "retry_op_later")
    )]
    async fn retry_op_later(
        &self,
        id: i64,
        error: &str,
        next_attempt_at: DateTime<Utc>,
    ) -> Result<()> {
        let mut w = self.begin_write().await?;
        sqlx::query(
            "UPDATE provisioning_ops SET attempts = attempts + 1, last_error = $1, next_attempt_at = $2
             WHERE id = $3 AND state = 'pending'",
        )
        .bind(error)
        .bind(t(next_attempt_at))
        .bind(id)
        .execute(&mut *w.tx)
        .await?;
        w.tx.commit().await?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "cancel_op"))]
    async fn cancel_op(&self, id: i64, reason: &str, now: DateTime<Utc>) -> Result<()> {
        let mut w = self.begin_write().await?;
        sqlx::query(
            "UPDATE provisioning_ops SET state = 'cancelled', last_error = $1, done_at = $2
             WHERE id = $3 AND state = 'pending'",
        )
        .bind(reason)
        .bind(t(now))
        .bind(id)
        .execute(&mut *w.tx)
        .await?;
        w.tx.commit().await?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "add_traffic"))]
    async fn add_traffic(&self, deltas: &[(String, u64, u64)]) -> Result<()> {
        if deltas.is_empty() {
            return Ok(());
        }
        let mut w = self.begin_write().await?;
        for (email, up, down) in deltas {
            sqlx::query(
                "UPDATE keys SET upload_bytes = upload_bytes + $1, download_bytes = download_bytes + $2
                 WHERE email = $3",
            )
            .bind(i64::try_from(*up).unwrap_or(i64::MAX))
            .bind(i64::try_from(*down).unwrap_or(i64::MAX))
            .bind(email.to_ascii_lowercase())
            .execute(&mut *w.tx)
            .await?;
        }
        w.tx.commit().await?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "desired_keys"))]
    async fn desired_keys(&self) -> Result<Vec<(String, Uuid)>> {
        Ok(sqlx::query_as(
            "SELECT k.email, k.uuid FROM keys k
             JOIN subscriptions s ON s.user_id = k.user_id
             WHERE k.state = 'active' AND s.status = 'active' AND s.limited_at IS NULL",
        )
        .fetch_all(self.pool())
        .await?)
    }

    #[tracing::instrument(
        level = "debug",
        name = "store",
        skip_all,
        fields(op = "reschedule_node_ops")
    )]
    async fn reschedule_node_ops(
        &self,
        node: &crate::domain::NodeName,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        let mut w = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE provisioning_ops SET next_attempt_at = $1
             WHERE node = $2 AND state = 'pending' AND next_attempt_at > $1",
        )
        .bind(t(now))
        .bind(node.as_str())
        .execute(&mut *w.tx)
        .await?;
        w.tx.commit().await?;
        Ok(done.rows_affected())
    }
}

impl This {
    /// Due pending ops (all nodes, or one), oldest first; an op waits while an
    /// earlier op of the same key on its node is not due yet (per-key order).
    async fn due(
        &self,
        node: Option<&crate::domain::NodeName>,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<PendingOp>> {
        // `$3 = ''`: every node (node names are never empty).
        let query = sqlx::query_as(
            "SELECT o.id, o.node, o.user_id, o.key_uuid, o.email, o.op, o.attempts, o.next_attempt_at
             FROM provisioning_ops o
             WHERE o.state = 'pending' AND ($3 = '' OR o.node = $3) AND o.next_attempt_at <= $1
               AND NOT EXISTS (
                   SELECT 1 FROM provisioning_ops p
                   WHERE p.state = 'pending' AND p.node = o.node AND p.email = o.email
                     AND p.id < o.id AND p.next_attempt_at > $1)
             ORDER BY o.id LIMIT $2",
        )
        .bind(t(now))
        .bind(i64::from(limit))
        .bind(node.map_or("", |n| n.as_str()));
        let rows: Vec<OpRow> = query.fetch_all(self.pool()).await?;
        rows.into_iter().map(OpRow::into_domain).collect()
    }
}
