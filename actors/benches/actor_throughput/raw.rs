//! The raw baseline: the statements one `GrantDays` on an active subscription
//! runs in the store, issued by hand on ONE connection (no pool, no store, no
//! mapping into domain types), each transaction waiting for the previous one.
//! What the engine and the driver can do; the store's direct path is measured
//! against it.
//!
//! Kept in step with `store/sql/subscriptions.rs` (`grant_days`) by hand: read
//! the subscription, read the keys, guarded update, a notification, an audit
//! row, then the committed user (user ⋈ subscription, keys).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::{Connection, PgConnection, SqliteConnection};
use subvisor_actors::domain::UserId;
use tokio::sync::Mutex;

const READ_SUB: &str =
    "SELECT status, expires_at, sub_token, version FROM subscriptions WHERE user_id = $1";
const READ_KEYS: &str = "SELECT uuid, email, seq, state, created_at, upload_bytes, download_bytes \
     FROM keys WHERE user_id = $1 ORDER BY seq";
const UPDATE_SUB: &str = "UPDATE subscriptions SET status = $1, expires_at = $2, \
     version = version + 1, updated_at = $3 WHERE user_id = $4 AND version = $5";
const NOTIFY: &str = "INSERT INTO notifications \
     (user_id, kind, payload, state, attempts, next_attempt_at, created_at) \
     VALUES ($1, $2, $3, 'pending', 0, $4, $4)";
const AUDIT: &str = "INSERT INTO audit_log (actor, action, user_id, details, created_at) \
     VALUES ($1, $2, $3, $4, $5)";
const READ_USER: &str = "SELECT u.telegram_id, u.balance, u.bot_blocked, u.trial_used_at, \
     u.created_at, u.username, u.language, u.referrer, s.status, s.expires_at, s.sub_token, \
     s.version FROM users u LEFT JOIN subscriptions s ON s.user_id = u.telegram_id \
     WHERE u.telegram_id = $1";

/// The statements of one grant on `$begin`'s transaction; `$t` turns an
/// instant into the backend's column type `$time`.
macro_rules! grant {
    ($begin:expr, $user:expr, $now:expr, $t:expr, $time:ty) => {{
        let user = $user.get();
        let mut tx = $begin.await.expect("begin");
        let (status, expires_at, _token, version): (String, $time, String, i64) =
            sqlx::query_as(READ_SUB)
                .bind(user)
                .fetch_one(&mut *tx)
                .await
                .expect("read subscription");
        let keys: Vec<(uuid::Uuid, String, i64, String, $time, i64, i64)> =
            sqlx::query_as(READ_KEYS)
                .bind(user)
                .fetch_all(&mut *tx)
                .await
                .expect("read keys");
        assert!(
            status == "active" && !keys.is_empty(),
            "warm-up makes every subscription active"
        );
        let expires = std::cmp::max($t($now), expires_at);
        let day = $t($now + chrono::Duration::days(1)) - $t($now);
        let moved = sqlx::query(UPDATE_SUB)
            .bind("active")
            .bind(expires + day)
            .bind($t($now))
            .bind(user)
            .bind(version)
            .execute(&mut *tx)
            .await
            .expect("update subscription");
        assert_eq!(moved.rows_affected(), 1, "one writer: no conflicts");
        sqlx::query(NOTIFY)
            .bind(user)
            .bind("extended")
            .bind(r#"{"days":1}"#)
            .bind($t($now))
            .execute(&mut *tx)
            .await
            .expect("notification");
        sqlx::query(AUDIT)
            .bind("ops")
            .bind("grant_days")
            .bind(user)
            .bind(r#"{"days":1}"#)
            .bind($t($now))
            .execute(&mut *tx)
            .await
            .expect("audit");
        type UserSub<T> = (
            i64,
            i64,
            bool,
            Option<T>,
            T,
            Option<String>,
            Option<String>,
            Option<i64>,
            Option<String>,
            Option<T>,
            Option<String>,
            Option<i64>,
        );
        let _user: UserSub<$time> = sqlx::query_as(READ_USER)
            .bind(user)
            .fetch_one(&mut *tx)
            .await
            .expect("read user");
        let _keys: Vec<(uuid::Uuid, String, i64, String, $time, i64, i64)> =
            sqlx::query_as(READ_KEYS)
                .bind(user)
                .fetch_all(&mut *tx)
                .await
                .expect("read keys");
        tx.commit().await.expect("commit");
    }};
}

/// One connection of either backend, shared by every client in turn.
#[derive(Clone)]
pub enum RawConn {
    Sqlite(Arc<Mutex<SqliteConnection>>),
    Postgres(Arc<Mutex<PgConnection>>),
}

impl RawConn {
    pub async fn open(url: &str) -> Self {
        if url.starts_with("sqlite:") {
            let opts: sqlx::sqlite::SqliteConnectOptions = url.parse().expect("sqlite url");
            let opts = opts
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
                .foreign_keys(true);
            let conn = SqliteConnection::connect_with(&opts).await.expect("sqlite");
            Self::Sqlite(Arc::new(Mutex::new(conn)))
        } else {
            let conn = PgConnection::connect(url).await.expect("postgres");
            Self::Postgres(Arc::new(Mutex::new(conn)))
        }
    }

    /// One `GrantDays { days: 1 }` on an active subscription, by hand.
    pub async fn grant_one_day(&self, user: UserId) {
        let now = Utc::now();
        match self {
            Self::Sqlite(conn) => {
                let mut conn = conn.lock().await;
                let t = |at: DateTime<Utc>| at.timestamp_millis();
                grant!(conn.begin_with("BEGIN IMMEDIATE"), user, now, t, i64);
            }
            Self::Postgres(conn) => {
                let mut conn = conn.lock().await;
                let t = |at: DateTime<Utc>| at;
                grant!(conn.begin(), user, now, t, DateTime<Utc>);
            }
        }
    }
}
