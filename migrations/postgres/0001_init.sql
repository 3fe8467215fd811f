-- subvisor schema, PostgreSQL dialect. Times are TIMESTAMPTZ (UTC); money is BIGINT
-- minor units; UUIDs are native UUID.

CREATE TABLE users (
    telegram_id   BIGINT PRIMARY KEY,
    language      TEXT,
    username      TEXT,
    referrer      BIGINT REFERENCES users (telegram_id),
    balance       BIGINT NOT NULL DEFAULT 0,
    bot_blocked   BOOLEAN NOT NULL DEFAULT FALSE,
    trial_used_at TIMESTAMPTZ,
    created_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE subscriptions (
    user_id    BIGINT PRIMARY KEY REFERENCES users (telegram_id),
    status     TEXT    NOT NULL CHECK (status IN ('active', 'expired', 'revoked')),
    expires_at TIMESTAMPTZ NOT NULL,
    sub_token  TEXT    NOT NULL UNIQUE,
    version    BIGINT NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX subscriptions_due ON subscriptions (expires_at) WHERE status = 'active';

CREATE TABLE keys (
    id         BIGSERIAL PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (telegram_id),
    seq        BIGINT NOT NULL,
    uuid       UUID    NOT NULL UNIQUE,
    email      TEXT    NOT NULL UNIQUE,
    state      TEXT    NOT NULL CHECK (state IN ('active', 'retired')),
    created_at TIMESTAMPTZ NOT NULL,
    retired_at TIMESTAMPTZ,
    UNIQUE (user_id, seq)
);
CREATE INDEX keys_user ON keys (user_id, state);

CREATE TABLE orders (
    id                  UUID    PRIMARY KEY,
    user_id             BIGINT NOT NULL REFERENCES users (telegram_id),
    plan_id             TEXT    NOT NULL,
    days                INTEGER NOT NULL CHECK (days > 0),
    provider            TEXT    NOT NULL,
    amount              BIGINT NOT NULL CHECK (amount > 0),
    currency            TEXT    NOT NULL,
    status              TEXT    NOT NULL CHECK (status IN ('pending', 'paid', 'failed', 'expired', 'refunded')),
    provider_payment_id TEXT    UNIQUE,
    flag                TEXT,
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL,
    paid_at             TIMESTAMPTZ
);
CREATE INDEX orders_user ON orders (user_id, created_at);
CREATE INDEX orders_pending ON orders (created_at) WHERE status = 'pending';

CREATE TABLE ledger (
    id         BIGSERIAL PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (telegram_id),
    kind       TEXT    NOT NULL,
    amount     BIGINT NOT NULL,
    currency   TEXT    NOT NULL,
    order_id   UUID,
    note       TEXT    NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX ledger_user ON ledger (user_id);

CREATE TABLE provisioning_ops (
    id              BIGSERIAL PRIMARY KEY,
    node            TEXT    NOT NULL,
    user_id         BIGINT NOT NULL,
    key_uuid        UUID    NOT NULL,
    email           TEXT    NOT NULL,
    op              TEXT    NOT NULL CHECK (op IN ('add', 'remove')),
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'done', 'cancelled')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    last_error      TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    done_at         TIMESTAMPTZ
);
CREATE INDEX provisioning_ops_pending ON provisioning_ops (id) WHERE state = 'pending';

CREATE TABLE notifications (
    id              BIGSERIAL PRIMARY KEY,
    user_id         BIGINT NOT NULL REFERENCES users (telegram_id),
    kind            TEXT    NOT NULL,
    payload         TEXT    NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    last_error      TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    sent_at         TIMESTAMPTZ
);
CREATE INDEX notifications_pending ON notifications (next_attempt_at) WHERE state = 'pending';

CREATE TABLE webhook_events (
    id          BIGSERIAL PRIMARY KEY,
    provider    TEXT    NOT NULL,
    event_id    TEXT    NOT NULL,
    order_id    UUID,
    received_at TIMESTAMPTZ NOT NULL,
    outcome     TEXT    NOT NULL,
    payload     TEXT    NOT NULL,
    UNIQUE (provider, event_id)
);

CREATE TABLE audit_log (
    id         BIGSERIAL PRIMARY KEY,
    actor      TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    user_id    BIGINT,
    details    TEXT    NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX audit_log_user ON audit_log (user_id, id);
