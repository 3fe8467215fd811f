-- The device limit (`x-hwid`).
--
-- `subscriptions.device_limit`: set by the plan last applied to the
-- subscription, in the same transaction (NULL: no plan set one, the
-- configured default applies; 0: no limit).
-- `devices`: the clients that fetched this user's subscription, by the
-- hardware id they send. The limit is held by the insert itself (a guarded
-- `INSERT … SELECT … WHERE count < limit` in the user's write transaction,
-- which holds the user's advisory lock).
ALTER TABLE subscriptions ADD COLUMN device_limit BIGINT CHECK (device_limit >= 0);

CREATE TABLE devices (
    id         BIGSERIAL PRIMARY KEY,
    user_id    BIGINT      NOT NULL REFERENCES users (telegram_id),
    hwid       TEXT        NOT NULL CHECK (length(hwid) BETWEEN 1 AND 128),
    os         TEXT,
    model      TEXT,
    app        TEXT,
    first_seen TIMESTAMPTZ NOT NULL,
    last_seen  TIMESTAMPTZ NOT NULL,
    UNIQUE (user_id, hwid)
);
