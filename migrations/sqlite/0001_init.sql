-- subvisor schema, SQLite dialect. Times are INTEGER milliseconds since the
-- Unix epoch (UTC); money is INTEGER minor units; UUIDs are 16-byte BLOBs.

CREATE TABLE users (
    telegram_id   INTEGER PRIMARY KEY,
    language      TEXT,
    username      TEXT,
    referrer      INTEGER REFERENCES users (telegram_id),
    balance       INTEGER NOT NULL DEFAULT 0,
    bot_blocked   BOOLEAN NOT NULL DEFAULT FALSE,
    trial_used_at INTEGER,
    created_at    INTEGER NOT NULL
);

CREATE TABLE subscriptions (
    user_id    INTEGER PRIMARY KEY REFERENCES users (telegram_id),
    status     TEXT    NOT NULL CHECK (status IN ('active', 'expired', 'revoked')),
    expires_at INTEGER NOT NULL,
    sub_token  TEXT    NOT NULL UNIQUE,
    version    INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX subscriptions_due ON subscriptions (expires_at) WHERE status = 'active';

CREATE TABLE keys (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER NOT NULL REFERENCES users (telegram_id),
    seq        INTEGER NOT NULL,
    uuid       BLOB    NOT NULL UNIQUE,
    email      TEXT    NOT NULL UNIQUE,
    state      TEXT    NOT NULL CHECK (state IN ('active', 'retired')),
    created_at INTEGER NOT NULL,
    retired_at INTEGER,
    UNIQUE (user_id, seq)
);
CREATE INDEX keys_user ON keys (user_id, state);

CREATE TABLE orders (
    id                  BLOB    PRIMARY KEY,
    user_id             INTEGER NOT NULL REFERENCES users (telegram_id),
    plan_id             TEXT    NOT NULL,
    days                INTEGER NOT NULL CHECK (days > 0),
    provider            TEXT    NOT NULL,
    amount              INTEGER NOT NULL CHECK (amount > 0),
    currency            TEXT    NOT NULL,
    status              TEXT    NOT NULL CHECK (status IN ('pending', 'paid', 'failed', 'expired', 'refunded')),
    provider_payment_id TEXT    UNIQUE,
    flag                TEXT,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    paid_at             INTEGER
);
CREATE INDEX orders_user ON orders (user_id, created_at);
CREATE INDEX orders_pending ON orders (created_at) WHERE status = 'pending';

CREATE TABLE ledger (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER NOT NULL REFERENCES users (telegram_id),
    kind       TEXT    NOT NULL,
    amount     INTEGER NOT NULL,
    currency   TEXT    NOT NULL,
    order_id   BLOB,
    note       TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);
CREATE INDEX ledger_user ON ledger (user_id);

CREATE TABLE provisioning_ops (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    node            TEXT    NOT NULL,
    user_id         INTEGER NOT NULL,
    key_uuid        BLOB    NOT NULL,
    email           TEXT    NOT NULL,
    op              TEXT    NOT NULL CHECK (op IN ('add', 'remove')),
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'done', 'cancelled')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    done_at         INTEGER
);
CREATE INDEX provisioning_ops_pending ON provisioning_ops (id) WHERE state = 'pending';

CREATE TABLE notifications (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id         INTEGER NOT NULL REFERENCES users (telegram_id),
    kind            TEXT    NOT NULL,
    payload         TEXT    NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER
);
CREATE INDEX notifications_pending ON notifications (next_attempt_at) WHERE state = 'pending';

CREATE TABLE webhook_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    provider    TEXT    NOT NULL,
    event_id    TEXT    NOT NULL,
    order_id    BLOB,
    received_at INTEGER NOT NULL,
    outcome     TEXT    NOT NULL,
    payload     TEXT    NOT NULL,
    UNIQUE (provider, event_id)
);

CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    actor      TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    user_id    INTEGER,
    details    TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX audit_log_user ON audit_log (user_id, id);
