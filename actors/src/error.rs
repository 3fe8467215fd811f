//! The one error type of `subvisor-actors`.

use crate::domain::UserId;

/// Everything that can go wrong inside the actor system and its store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A value from outside (config, ops API, CLI) does not satisfy a domain rule.
    #[error("invalid {field}: {reason}")]
    InvalidInput { field: &'static str, reason: String },
    #[error("user {0} has no subscription")]
    NoSubscription(UserId),
    #[error("user {0} has no active subscription")]
    NotActive(UserId),
    #[error("user {0} already used the trial")]
    TrialAlreadyUsed(UserId),
    /// The trial is for users who never paid for a plan (`trial.only_new_users`).
    #[error("user {0} has paid before: the trial is for new users")]
    TrialAfterPayment(UserId),
    /// Banned by an admin (`/ban`): no purchases, no trial until `/unban`.
    #[error("user {0} is banned")]
    Banned(UserId),
    #[error("order {0} not found")]
    OrderNotFound(String),
    #[error("order {order} belongs to another user")]
    OrderOfAnotherUser { order: String },
    #[error("order {order} cannot be applied: it is {status}")]
    OrderNotPayable { order: String, status: String },
    #[error("provider payment id {0} was already used by another order")]
    DuplicateProviderPayment(String),
    #[error("unknown plan {0}")]
    UnknownPlan(String),
    #[error("promo code refused: {0}")]
    PromoRefused(crate::domain::PromoRefusal),
    #[error("gift refused: {0}")]
    GiftRefused(crate::domain::GiftRefusal),
    /// The provider confirmed a different amount or currency than the order's; the order is flagged.
    #[error("order {order}: paid {paid}, expected {expected}; the order is flagged for review")]
    AmountMismatch {
        order: String,
        expected: String,
        paid: String,
    },
    #[error("not enough balance: {needed} needed, {available} available")]
    InsufficientFunds { needed: String, available: String },
    /// Another instance changed the same row between our read and our guarded
    /// write. The user's actor retries these itself; callers see this only
    /// when every retry lost.
    #[error("concurrent update of user {0}")]
    Conflict(UserId),
    /// The user's mailbox is full: the caller should answer "busy, try again".
    #[error("user {0} is busy, try again")]
    Busy(UserId),
    /// The user's actor crashed while handling this message.
    #[error("the actor of user {0} stopped while handling the message")]
    ActorDied(UserId),
    /// The user's actor crashed too often recently; activation is refused for a while.
    #[error("the actor of user {0} crashed too often; refusing to restart it for now")]
    RestartLimit(UserId),
    #[error("the actor system is shutting down")]
    ShuttingDown,
    /// Another instance runs this singleton; ask that one.
    #[error("another instance leads {0}; ask that one")]
    NotLeader(&'static str),
    #[error("unsupported database url (expected sqlite:// or postgres://)")]
    UnsupportedDatabase,
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// A payment provider (Crypto Pay, NOWPayments) refused the request, failed,
    /// or could not be reached. The message never contains credentials.
    #[error("payment provider {provider}: {message}")]
    Provider {
        provider: &'static str,
        message: String,
    },
}

impl Error {
    /// A conflict with a concurrent writer that goes away when the whole
    /// transaction is tried again: our own guarded-write conflict, a
    /// PostgreSQL serialization failure or deadlock, SQLite's busy lock.
    pub fn is_conflict(&self) -> bool {
        match self {
            Error::Conflict(_) => true,
            Error::Database(sqlx::Error::Database(db)) => matches!(
                db.code().as_deref(),
                Some("40001" | "40P01" | "5" | "261" | "517")
            ),
            _ => false,
        }
    }

    /// Worth trying again later: the database, an actor, the provider or a
    /// conflict, not the request itself.
    pub fn is_transient(&self) -> bool {
        self.is_conflict()
            || matches!(
                self,
                Error::Busy(_)
                    | Error::ActorDied(_)
                    | Error::RestartLimit(_)
                    | Error::ShuttingDown
                    | Error::Database(_)
                    | Error::Provider { .. }
            )
    }

    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidInput {
            field,
            reason: reason.into(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
