//! The PostgreSQL store: production and several instances. Every state change is
//! guarded in SQL (version or expected state), so any instance may hold an actor.

use sqlx::postgres::{PgConnection, PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};

use super::StoreOptions;

/// PostgreSQL implementation of [`Store`](super::Store).
pub struct PgStore {
    pool: PgPool,
    referral_bonus: Option<crate::domain::Money>,
    settlement: crate::domain::SettlementPolicy,
}

/// A write transaction (PostgreSQL needs no in-process gate).
pub(crate) struct WriteTx {
    pub tx: Transaction<'static, Postgres>,
}

impl PgStore {
    pub async fn connect(opts: &StoreOptions) -> crate::Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(opts.max_connections.max(1))
            .acquire_timeout(opts.acquire_timeout)
            .connect(&opts.url)
            .await?;
        Ok(Self {
            pool,
            referral_bonus: opts.referral_bonus.clone(),
            settlement: opts.settlement.clone(),
        })
    }

    fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Where a single-statement write runs (autocommit).
    fn writer(&self) -> &PgPool {
        &self.pool
    }

    async fn close_pools(&self) {
        self.pool.close().await;
    }

    fn referral_bonus(&self) -> Option<&crate::domain::Money> {
        self.referral_bonus.as_ref()
    }

    fn settlement_policy(&self) -> &crate::domain::SettlementPolicy {
        &self.settlement
    }

    fn backend_kind() -> super::Backend {
        super::Backend::Postgres
    }

    async fn begin_write(&self) -> crate::Result<WriteTx> {
        Ok(WriteTx {
            tx: self.pool.begin().await?,
        })
    }

    /// A write that changes `user`: takes a transaction-scoped advisory lock
    /// on the user first, so writers for one user on different instances
    /// queue instead of failing each other's version guards (the guards stay,
    /// for anything that writes without the lock).
    async fn begin_user_write(&self, user: crate::domain::UserId) -> crate::Result<WriteTx> {
        let (class, object) = user_lock_key(user);
        // One round trip: the two statements go as one simple query.
        let begin = format!("BEGIN; SELECT pg_advisory_xact_lock({class}, {object})");
        Ok(WriteTx {
            tx: self.pool.begin_with(begin).await?,
        })
    }

    /// A session-level advisory lock on a connection taken out of the pool:
    /// closing that connection (dropping the lease, or the process dying)
    /// releases the lock for another instance.
    async fn lead_role(&self, role: &str) -> crate::Result<Option<Box<dyn super::Lease>>> {
        let mut conn = self.pool.acquire().await?.detach();
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(super::lock_key(role))
            .fetch_one(&mut conn)
            .await?;
        Ok(got.then(|| Box::new(PgLease { conn }) as Box<dyn super::Lease>))
    }

    async fn run_migrations(&self) -> crate::Result<()> {
        sqlx::migrate!("../migrations/postgres")
            .run(&self.pool)
            .await?;
        Ok(())
    }
}

struct PgLease {
    conn: PgConnection,
}

#[async_trait::async_trait]
impl super::Lease for PgLease {
    async fn still_held(&mut self) -> bool {
        sqlx::query("SELECT 1")
            .execute(&mut self.conn)
            .await
            .is_ok()
    }
}

/// The shared SQL (`sql/`), compiled for Postgres.
#[path = "sql/mod.rs"]
#[allow(clippy::duplicate_mod)] // on purpose: the same SQL, once per backend
mod sql;
/// The database the shared SQL is compiled for.
type Db = Postgres;
/// The store the shared SQL implements the traits for.
type This = PgStore;

/// The two-key advisory lock of a user's writes: a class of its own (the
/// two-key space never overlaps the one-key space of the leadership locks),
/// the user id folded to 32 bits (two users sharing a key only queue).
fn user_lock_key(user: crate::domain::UserId) -> (i32, i32) {
    const USER_WRITES: i32 = 0x5356_5752; // "SVWR"
    let id = user.get();
    (USER_WRITES, (id ^ (id >> 32)) as i32)
}
