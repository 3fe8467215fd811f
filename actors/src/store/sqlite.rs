//! The SQLite store: the embedded default. SQLite has one write lock per file,
//! so the store has one writer: a one-connection pool that queues writers in
//! order (no busy-handler sleeps, no two connections contending for the lock),
//! each transaction `BEGIN IMMEDIATE` (the lock is taken up front, never
//! upgraded late). Reads run on their own pooled connections beside it (WAL).

use std::path::Path;
use std::str::FromStr;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};

use super::StoreOptions;

/// SQLite implementation of [`Store`](super::Store).
pub struct SqliteStore {
    /// Readers (`max_connections` of them).
    readers: SqlitePool,
    /// The one writer connection; its pool is the queue of waiting writers.
    writer: SqlitePool,
    referral_bonus: Option<crate::domain::Money>,
    referral_bonus_days: u32,
    settlement: crate::domain::SettlementPolicy,
    plan_devices: super::PlanDevices,
    plan_traffic_resets: super::PlanTrafficResets,
}

/// A write transaction on the writer connection (the next writer waits for it).
pub(crate) struct WriteTx {
    pub tx: Transaction<'static, Sqlite>,
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
        // A SQLite connection cannot go stale: no ping before each use.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(opts.acquire_timeout)
            .test_before_acquire(false)
            .connect_with(connect.clone())
            .await?;
        // Every connection of an in-memory database is a database of its own:
        // there, one connection does everything.
        let readers = if is_memory(file) {
            writer.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(opts.max_connections.max(1))
                .acquire_timeout(opts.acquire_timeout)
                .test_before_acquire(false)
                .connect_with(connect)
                .await?
        };
        Ok(Self {
            readers,
            writer,
            referral_bonus: opts.referral_bonus.clone(),
            referral_bonus_days: opts.referral_bonus_days,
            settlement: opts.settlement.clone(),
            plan_devices: opts.plan_devices.clone(),
            plan_traffic_resets: opts.plan_traffic_resets.clone(),
        })
    }

    /// The pool reads run on.
    fn pool(&self) -> &SqlitePool {
        &self.readers
    }

    /// Where a single-statement write runs (autocommit): the one writer.
    fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    async fn close_pools(&self) {
        self.readers.close().await;
        self.writer.close().await;
    }

    fn referral_bonus(&self) -> Option<&crate::domain::Money> {
        self.referral_bonus.as_ref()
    }

    /// `[referral] bonus_days` (0: none).
    fn referral_bonus_days(&self) -> u32 {
        self.referral_bonus_days
    }

    fn settlement_policy(&self) -> &crate::domain::SettlementPolicy {
        &self.settlement
    }

    /// The device limit `plan` sets when applied (`None`: it sets none).
    fn plan_devices(&self, plan: &str) -> Option<u32> {
        self.plan_devices.get(plan).copied()
    }

    /// The traffic reset rule of `plan` (`none` when it has none).
    fn plan_traffic_reset(&self, plan: &str) -> crate::domain::TrafficReset {
        self.plan_traffic_resets
            .get(plan)
            .copied()
            .unwrap_or_default()
    }

    fn backend_kind() -> super::Backend {
        super::Backend::Sqlite
    }

    async fn begin_write(&self) -> crate::Result<WriteTx> {
        let tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        Ok(WriteTx { tx })
    }

    /// A write that changes `user`: with one writer there is nothing more to
    /// serialize.
    async fn begin_user_write(&self, _user: crate::domain::UserId) -> crate::Result<WriteTx> {
        self.begin_write().await
    }

    /// One SQLite file has one writer process: this instance always leads.
    async fn lead_role(
        &self,
        _role: &str,
        _term: std::time::Duration,
    ) -> crate::Result<Option<super::Acquired>> {
        Ok(Some(super::Acquired {
            lease: Box::new(SoleInstance),
            previous_expires_in: std::time::Duration::ZERO,
        }))
    }

    async fn run_migrations(&self) -> crate::Result<()> {
        sqlx::migrate!("../migrations/sqlite")
            .run(&self.writer)
            .await?;
        Ok(())
    }
}

struct SoleInstance;

#[async_trait::async_trait]
impl super::Lease for SoleInstance {
    async fn renew(&mut self, _term: std::time::Duration) -> bool {
        true
    }

    async fn release(self: Box<Self>) {}
}

fn is_memory(file: &Path) -> bool {
    file.as_os_str() == ":memory:"
}

/// The shared SQL (`sql/`), compiled for Sqlite.
#[path = "sql/mod.rs"]
#[allow(clippy::duplicate_mod)] // on purpose: the same SQL, once per backend
mod sql;
/// The database the shared SQL is compiled for.
type Db = Sqlite;
/// The store the shared SQL implements the traits for.
type This = SqliteStore;
