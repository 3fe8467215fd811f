//! Startup step: open the store (connect to the database, apply migrations).

use std::sync::Arc;

use anyhow::Context;
use subvisor_actors::store::{self, Store};

use crate::config::Settings;

/// Connects to `database.url` and migrates it.
pub(super) async fn open_store(settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    let store = store::connect(&settings.store_options())
        .await
        .context("cannot open the database (database.url)")?;
    store
        .migrate()
        .await
        .context("cannot migrate the database")?;
    tracing::info!(backend = ?store.backend(), "database ready");
    Ok(store)
}
