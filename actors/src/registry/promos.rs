//! Promo codes as a named service of the Registry (they belong to no user):
//! made and disabled by admins and ops, audited.

use super::Registry;
use crate::Result;
use crate::domain::{NewPromo, Principal, Promo};

impl Registry {
    /// Makes a promo code (case-insensitive unique), audited.
    pub async fn create_promo(&self, by: Principal, promo: &NewPromo) -> Result<Promo> {
        let ctx = self.write_ctx(by);
        self.shared.store.create_promo(&ctx, promo).await
    }

    /// Disables a promo code, audited; `false` if unknown or already disabled.
    pub async fn disable_promo(&self, by: Principal, code: &str) -> Result<bool> {
        let ctx = self.write_ctx(by);
        self.shared.store.disable_promo(&ctx, code).await
    }
}
