//! The SQLite store: the embedded default. WAL, a busy timeout, `BEGIN IMMEDIATE`
//! for every read-then-write transaction, and an in-process write gate so
//! writers queue on a fair async mutex instead of spinning on SQLITE_BUSY.

use std::path::Path;
use std::str::FromStr;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};
use tokio::sync::{Mutex, MutexGuard};

use super::StoreOptions;

/// SQLite implementation of [`Store`](super::Store).
pub struct SqliteStore {
    pool: SqlitePool,
    /// SQLite has one writer at a time; queue our writers here.
    write_gate: Mutex<()>,
    referral_bonus: Option<crate::domain::Money>,
    settlement: crate::domain::SettlementPolicy,
}

/// A write transaction holding the write gate until it is dropped.
pub(crate) struct WriteTx<'a> {
    pub tx: Transaction<'static, Sqlite>,
    _gate: MutexGuard<'a, ()>,
}

impl SqliteStore {
    pub async fn connect(opts: &StoreOptions) -> crate::Result<Self> {
        let connect = SqliteConnectOptions::from_str(&opts.url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(opts.acquire_timeout)
            .foreign_keys(true);
        let file = connect.get_filename();
        if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.exists()
            && !is_memory(file)
        {
            std::fs::create_dir_all(dir).map_err(|e| {
                crate::Error::invalid(
                    "database.url",
                    format!("cannot create directory {}: {e}", dir.display()),
                )
            })?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(opts.max_connections.max(1))
            .acquire_timeout(opts.acquire_timeout)
            .connect_with(connect)
            .await?;
        Ok(Self {
            pool,
            write_gate: Mutex::new(()),
            referral_bonus: opts.referral_bonus.clone(),
            settlement: opts.settlement.clone(),
        })
    }

    fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    fn referral_bonus(&self) -> Option<&crate::domain::Money> {
        self.referral_bonus.as_ref()
    }

    fn settlement_policy(&self) -> &crate::domain::SettlementPolicy {
        &self.settlement
    }

    fn backend_kind() -> super::Backend {
        super::Backend::Sqlite
    }

    async fn begin_write(&self) -> crate::Result<WriteTx<'_>> {
        let gate = self.write_gate.lock().await;
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        Ok(WriteTx { tx, _gate: gate })
    }

    /// One SQLite file has one writer process: this instance always leads.
    async fn lead_role(&self, _role: &str) -> crate::Result<Option<Box<dyn super::Lease>>> {
        Ok(Some(Box::new(SoleInstance)))
    }

    async fn run_migrations(&self) -> crate::Result<()> {
        sqlx::migrate!("../migrations/sqlite")
            .run(&self.pool)
            .await?;
        Ok(())
    }
}

struct SoleInstance;

#[async_trait::async_trait]
impl super::Lease for SoleInstance {
    async fn still_held(&mut self) -> bool {
        true
    }
}

fn is_memory(file: &Path) -> bool {
    file.as_os_str() == ":memory:"
}

/// The shared SQL (`sql/`), compiled for Sqlite.
#[path = "sql/mod.rs"]
mod sql;
/// The database the shared SQL is compiled for.
type Db = Sqlite;
/// The store the shared SQL implements the traits for.
type This = SqliteStore;
