-- The Telegram front: reminders once per subscription period, runtime settings
-- (purchases paused), broadcasts through the notification outbox, referral
-- bonus paid once per referred user, users listed newest first.
CREATE TABLE reminders (
    user_id    BIGINT  NOT NULL REFERENCES users (telegram_id),
    kind       TEXT    NOT NULL,
    -- The expiry this reminder was about: a renewal starts a new period.
    expires_at TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, kind, expires_at)
);

CREATE TABLE settings (
    key        TEXT    PRIMARY KEY,
    value      TEXT    NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE broadcasts (
    id         BIGSERIAL PRIMARY KEY,
    text       TEXT    NOT NULL,
    created_by TEXT    NOT NULL,
    total      BIGINT  NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

ALTER TABLE notifications ADD COLUMN broadcast_id BIGINT REFERENCES broadcasts (id);
CREATE INDEX notifications_broadcast ON notifications (broadcast_id) WHERE broadcast_id IS NOT NULL;
-- The Notifier keeps a chat's messages in order ("is an earlier one still waiting?").
CREATE INDEX notifications_user_pending ON notifications (user_id, id) WHERE state = 'pending';
ALTER TABLE users ADD COLUMN referral_rewarded_at TIMESTAMPTZ;
CREATE INDEX users_created ON users (created_at, telegram_id);
CREATE INDEX users_referrer ON users (referrer) WHERE referrer IS NOT NULL;
CREATE INDEX orders_paid ON orders (paid_at) WHERE status = 'paid';
