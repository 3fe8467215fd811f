//! The SQL of [`Settings`](crate::store::Settings).

use super::prelude::*;

#[async_trait]
impl crate::store::Settings for This {
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "setting"))]
    async fn setting(&self, key: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
                .bind(key)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "set_setting"))]
    async fn set_setting(&self, ctx: &WriteCtx<'_>, key: &str, value: &str) -> Result<()> {
        let mut w = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(key)
        .bind(value)
        .bind(t(ctx.now))
        .execute(&mut *w.tx)
        .await?;
        sqlx::query(
            "INSERT INTO audit_log (actor, action, user_id, details, created_at) VALUES ($1, 'set_setting', NULL, $2, $3)",
        )
        .bind(ctx.by.to_string())
        .bind(json!({ "key": key, "value": value }).to_string())
        .bind(t(ctx.now))
        .execute(&mut *w.tx)
        .await?;
        w.tx.commit().await?;
        Ok(())
    }
}
