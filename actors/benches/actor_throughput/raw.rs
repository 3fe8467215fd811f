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

const READ_SUB_KEYS: &str = "SELECT s.status, s.expires_at, s.sub_token, s.version, \
     k.uuid, k.email, k.seq, k.state, k.created_at, k.upload_bytes, k.download_bytes \
     FROM subscriptions s LEFT JOIN keys k ON k.user_id = s.user_id WHERE s.user_id = $1 \
     ORDER BY k.seq";
const UPDATE_SUB: &str = "UPDATE subscriptions SET status = $1, expires_at = $2, \
     version = version + 1, updated_at = $3 WHERE user_id = $4 AND version = $5";
const NOTIFY: &str = "INSERT INTO notifications \
     (user_id, kind, payload, state, attempts, next_attempt_at, created_at) \
     VALUES ($1, $2, $3, 'pending', 0, $4, $4)";
const AUDIT: &str = "INSERT INTO audit_log (actor, action, user_id, details, created_at) \
     VALUES ($1, $2, $3, $4, $5)";
const READ_USER: &str = "SELECT u.telegram_id, u.balance, u.bot_blocked, u.trial_used_at, \
     u.created_at, u.username, u.language, u.referrer, s.status, s.expires_at, s.sub_token, \
     s.version, k.uuid, k.email, k.seq, k.state, k.created_at, k.upload_bytes, \
     k.download_bytes FROM users u LEFT JOIN subscriptions s ON s.user_id = u.telegram_id \
     LEFT JOIN keys k ON k.user_id = u.telegram_id WHERE u.telegram_id = $1 ORDER BY k.seq";

/// A key's columns, as the LEFT JOINs return them.
type KeyCols<T> = (
    Option<uuid::Uuid>,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<T>,
    Option<i64>,
    Option<i64>,
);

/// Decodes every column of a `READ_USER` row, as the store does.
macro_rules! decode_user_row {
    ($row:expr, $time:ty) => {{
        use sqlx::Row;
        let r = $row;
        let _: (i64, i64, bool) = (get(r, 0), get(r, 1), get(r, 2));
        let _: (Option<$time>, $time) = (get(r, 3), get(r, 4));
        let _: (Option<String>, Option<String>, Option<i64>) = (get(r, 5), get(r, 6), get(r, 7));
        let _: (Option<String>, Option<$time>) = (get(r, 8), get(r, 9));
        let _: (Option<String>, Option<i64>) = (get(r, 10), get(r, 11));
        let _: (Option<uuid::Uuid>, Option<String>) = (get(r, 12), get(r, 13));
        let _: (Option<i64>, Option<String>, Option<$time>) = (get(r, 14), get(r, 15), get(r, 16));
        let _: (Option<i64>, Option<i64>) = (get(r, 17), get(r, 18));
        fn get<'r, R: Row, T: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>>(
            row: &'r R,
            i: usize,
        ) -> T
        where
            usize: sqlx::ColumnIndex<R>,
        {
            row.try_get(i).expect("column")
        }
    }};
}

/// The statements of one grant on `$begin`'s transaction; `$t` turns an
/// instant into the backend's column type `$time`.
macro_rules! grant {
    ($begin:expr, $user:expr, $now:expr, $t:expr, $time:ty) => {{
        let user = $user.get();
        let mut tx = $begin.await.expect("begin");
        let rows: Vec<((String, $time, String, i64), KeyCols<$time>)> =
            sqlx::query_as::<_, SubKey<$time>>(READ_SUB_KEYS)
                .bind(user)
                .fetch_all(&mut *tx)
                .await
                .expect("read subscription and keys")
                .into_iter()
                .map(|r| ((r.0, r.1, r.2, r.3), (r.4, r.5, r.6, r.7, r.8, r.9, r.10)))
                .collect();
        let ((status, expires_at, _token, version), _) = rows[0].clone();
        assert!(
            status == "active" && rows.iter().any(|(_, k)| k.0.is_some()),
            "warm-up makes every subscription active, with a key"
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
        let users = sqlx::query(READ_USER)
            .bind(user)
            .fetch_all(&mut *tx)
            .await
            .expect("read user");
        for row in &users {
            decode_user_row!(row, $time);
        }
        tx.commit().await.expect("commit");
    }};
}

/// A subscription row with one key's columns.
type SubKey<T> = (
    String,
    T,
    String,
    i64,
    Option<uuid::Uuid>,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<T>,
    Option<i64>,
    Option<i64>,
);

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
