//! The SQL of [`Lifecycle`](crate::store::Lifecycle).

use super::prelude::*;

#[async_trait]
impl crate::store::Lifecycle for This {
    fn backend(&self) -> Backend {
        Self::backend_kind()
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "migrate"))]
    async fn migrate(&self) -> Result<()> {
        self.run_migrations().await
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "ping"))]
    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(self.pool()).await?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "close"))]
    async fn close(&self) {
        self.close_pools().await;
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "lead"))]
    async fn lead(
        &self,
        role: &str,
        term: std::time::Duration,
    ) -> Result<Option<crate::store::Acquired>> {
        self.lead_role(role, term).await
    }
}
