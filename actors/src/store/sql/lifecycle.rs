//! The SQL of [`Lifecycle`](crate::store::Lifecycle).

use super::prelude::*;

#[async_trait]
impl crate::store::Lifecycle for This {
    fn backend(&self) -> Backend {
        Self::backend_kind()
    }

    async fn migrate(&self) -> Result<()> {
        self.run_migrations().await
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(self.pool()).await?;
        Ok(())
    }

    async fn close(&self) {
        self.close_pools().await;
    }

    async fn lead(&self, role: &str) -> Result<Option<Box<dyn crate::store::Lease>>> {
        self.lead_role(role).await
    }
}
