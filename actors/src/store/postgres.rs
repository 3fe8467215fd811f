//! The PostgreSQL store: production and several instances. Every state change is
//! guarded in SQL (version or expected state), so any instance may hold an actor.

use std::time::Duration;

use sqlx::postgres::{PgConnection, PgPool, PgPoolOptions};
use sqlx::{Connection, Postgres, Transaction};

use super::{SessionKeepalive, StoreOptions};

/// PostgreSQL implementation of [`Store`](super::Store).
pub struct PgStore {
    pool: PgPool,
    referral_bonus: Option<crate::domain::Money>,
    referral_bonus_days: u32,
    settlement: crate::domain::SettlementPolicy,
    plan_devices: super::PlanDevices,
    plan_traffic_resets: super::PlanTrafficResets,
    lock_keepalive: SessionKeepalive,
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
            referral_bonus_days: opts.referral_bonus_days,
            settlement: opts.settlement.clone(),
            plan_devices: opts.plan_devices.clone(),
            plan_traffic_resets: opts.plan_traffic_resets.clone(),
            lock_keepalive: opts.lock_keepalive,
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

    /// A session-level advisory lock plus a lease row. The lock is tried on a
    /// pooled connection; when it is held by a session whose lease ran out
    /// (its leader stopped renewing: frozen, cut off), that session is ended
    /// first. Once taken, the connection leaves the pool and holds the lock:
    /// closing it (dropping the lease, or the process dying) releases the
    /// lock, and the server ends it on its own when the peer is gone
    /// (keepalive, `tcp_user_timeout`).
    async fn lead_role(
        &self,
        role: &str,
        term: Duration,
    ) -> crate::Result<Option<super::Acquired>> {
        let key = super::lock_key(role);
        let mut conn = self.pool.acquire().await?;
        let mut got = try_lock(&mut conn, key).await?;
        if !got && end_expired_holder(&mut conn, role, key).await? {
            // The ended backend drops the lock as it exits; give it a moment.
            for _ in 0..TAKEOVER_TRIES {
                tokio::time::sleep(TAKEOVER_PAUSE).await;
                got = try_lock(&mut conn, key).await?;
                if got {
                    break;
                }
            }
        }
        if !got {
            return Ok(None);
        }
        let mut conn = conn.detach();
        if let Some(settings) = keepalive_sql(&self.lock_keepalive) {
            let set = sqlx::Executor::execute(&mut conn, settings.as_str()).await;
            if let Err(e) = set {
                tracing::warn!(role, error = %e, "could not set TCP keepalive on the lock's session");
            }
        }
        let previous: Option<f64> = sqlx::query_scalar(
            "SELECT GREATEST(EXTRACT(EPOCH FROM expires_at - now()), 0)::float8 \
             FROM leader_leases WHERE role = $1",
        )
        .bind(role)
        .fetch_optional(&mut conn)
        .await?;
        sqlx::query(
            "INSERT INTO leader_leases (role, holder, backend_pid, expires_at) \
             VALUES ($1, $2, pg_backend_pid(), now() + make_interval(secs => $3)) \
             ON CONFLICT (role) DO UPDATE SET holder = EXCLUDED.holder, \
             backend_pid = EXCLUDED.backend_pid, expires_at = EXCLUDED.expires_at",
        )
        .bind(role)
        .bind(holder_name())
        .bind(term.as_secs_f64())
        .execute(&mut conn)
        .await?;
        let previous_expires_in = previous
            .filter(|s| s.is_finite() && *s > 0.0)
            .map(Duration::from_secs_f64)
            .unwrap_or_default();
        Ok(Some(super::Acquired {
            lease: Box::new(PgLease {
                conn,
                role: role.to_owned(),
                key,
            }),
            previous_expires_in,
        }))
    }

    async fn run_migrations(&self) -> crate::Result<()> {
        sqlx::migrate!("../migrations/postgres")
            .run(&self.pool)
            .await?;
        Ok(())
    }
}

/// After ending a silent holder's session: how often, and how many times,
/// to try the lock again while that backend exits.
const TAKEOVER_TRIES: u32 = 40;
const TAKEOVER_PAUSE: Duration = Duration::from_millis(50);

async fn try_lock(conn: &mut PgConnection, key: i64) -> crate::Result<bool> {
    Ok(sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(key)
        .fetch_one(&mut *conn)
        .await?)
}

/// Ends the session holding `role`'s lock if its lease ran out (by the
/// server's clock). Only a backend that really holds the lock is ended (a
/// stale row may name a pid the server has since reused). True if one was.
async fn end_expired_holder(conn: &mut PgConnection, role: &str, key: i64) -> crate::Result<bool> {
    let (class, object) = advisory_parts(key);
    let ended: Vec<(String, i32, bool)> = sqlx::query_as(
        "WITH stale AS MATERIALIZED ( \
             SELECT l.holder, l.backend_pid FROM leader_leases l \
             JOIN pg_locks k ON k.pid = l.backend_pid \
             WHERE l.role = $1 AND l.expires_at < now() \
               AND k.locktype = 'advisory' AND k.granted AND k.objsubid = 1 \
               AND k.classid::bigint = $2 AND k.objid::bigint = $3) \
         SELECT holder, backend_pid, pg_terminate_backend(backend_pid) FROM stale",
    )
    .bind(role)
    .bind(class)
    .bind(object)
    .fetch_all(&mut *conn)
    .await?;
    for (holder, pid, done) in &ended {
        tracing::warn!(
            role,
            holder,
            backend_pid = pid,
            ended = done,
            "the leader's lease ran out; ending its database session to take over"
        );
    }
    Ok(ended.iter().any(|(_, _, done)| *done))
}

/// How `pg_locks` shows a one-key (bigint) advisory lock: the high 32 bits
/// in `classid`, the low 32 in `objid` (`objsubid` = 1).
fn advisory_parts(key: i64) -> (i64, i64) {
    let bits = key as u64;
    ((bits >> 32) as i64, (bits & 0xffff_ffff) as i64)
}

/// The `SET`s of the keepalive settings that are not zero; `None`: none.
fn keepalive_sql(k: &SessionKeepalive) -> Option<String> {
    let mut sets = Vec::new();
    if !k.idle.is_zero() {
        sets.push(format!(
            "SET tcp_keepalives_idle = {}",
            k.idle.as_secs().max(1)
        ));
    }
    if !k.interval.is_zero() {
        sets.push(format!(
            "SET tcp_keepalives_interval = {}",
            k.interval.as_secs().max(1)
        ));
    }
    if k.count > 0 {
        sets.push(format!("SET tcp_keepalives_count = {}", k.count));
    }
    if !k.user_timeout.is_zero() {
        sets.push(format!(
            "SET tcp_user_timeout = {}",
            k.user_timeout.as_millis()
        ));
    }
    (!sets.is_empty()).then(|| sets.join("; "))
}

/// Who holds a lease, as the `leader_leases` row shows it.
fn holder_name() -> String {
    super::instance_name()
}

struct PgLease {
    conn: PgConnection,
    role: String,
    key: i64,
}

#[async_trait::async_trait]
impl super::Lease for PgLease {
    /// On the lock's own session: a dead session fails, and a row that names
    /// another backend (the lock was lost and taken) updates nothing.
    async fn renew(&mut self, term: Duration) -> bool {
        sqlx::query(
            "UPDATE leader_leases SET expires_at = now() + make_interval(secs => $2) \
             WHERE role = $1 AND backend_pid = pg_backend_pid()",
        )
        .bind(&self.role)
        .bind(term.as_secs_f64())
        .execute(&mut self.conn)
        .await
        .is_ok_and(|done| done.rows_affected() == 1)
    }

    async fn release(self: Box<Self>) {
        let PgLease {
            mut conn,
            role,
            key,
        } = *self;
        let expired = sqlx::query(
            "UPDATE leader_leases SET expires_at = LEAST(expires_at, now()) \
             WHERE role = $1 AND backend_pid = pg_backend_pid()",
        )
        .bind(&role)
        .execute(&mut conn)
        .await;
        if let Err(e) = expired {
            tracing::debug!(role, error = %e, "could not mark the lease expired");
        }
        let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(key)
            .execute(&mut conn)
            .await;
        let _ = conn.close().await;
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
