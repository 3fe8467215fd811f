-- Traffic-limited plans, packs and usage collection.
-- A subscription's allowance per period (0 = unlimited), the bytes packs added
-- to the current period, the reset rule, the period's bounds and usage, the
-- share of the allowance the user was told about (0, 80, 100) and whether
-- access is cut for traffic (`limited_at`: keys off the nodes while status
-- stays 'active'; expiry, revoke and renewal work as before).
ALTER TABLE subscriptions ADD COLUMN traffic_allowance_bytes BIGINT NOT NULL DEFAULT 0 CHECK (traffic_allowance_bytes >= 0);
ALTER TABLE subscriptions ADD COLUMN traffic_extra_bytes BIGINT NOT NULL DEFAULT 0 CHECK (traffic_extra_bytes >= 0);
ALTER TABLE subscriptions ADD COLUMN traffic_reset TEXT NOT NULL DEFAULT 'none'
    CHECK (traffic_reset IN ('none', 'day', 'week', 'month', 'period'));
ALTER TABLE subscriptions ADD COLUMN period_started_at TIMESTAMPTZ;
ALTER TABLE subscriptions ADD COLUMN period_ends_at TIMESTAMPTZ;
ALTER TABLE subscriptions ADD COLUMN period_upload_bytes BIGINT NOT NULL DEFAULT 0;
ALTER TABLE subscriptions ADD COLUMN period_download_bytes BIGINT NOT NULL DEFAULT 0;
ALTER TABLE subscriptions ADD COLUMN traffic_notified BIGINT NOT NULL DEFAULT 0;
ALTER TABLE subscriptions ADD COLUMN limited_at TIMESTAMPTZ;
CREATE INDEX subscriptions_period_due ON subscriptions (period_ends_at) WHERE period_ends_at IS NOT NULL;
CREATE INDEX subscriptions_limited ON subscriptions (limited_at) WHERE limited_at IS NOT NULL;

-- The last counters read per (node, key email): the next reading counts only
-- what grew since (or all of it after the node restarted and began at zero).
CREATE TABLE traffic_counters (
    node           TEXT    NOT NULL,
    email          TEXT    NOT NULL,
    upload_bytes   BIGINT  NOT NULL,
    download_bytes BIGINT  NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (node, email)
);

-- Bytes counted per UTC day (for /stats: today, this month).
CREATE TABLE traffic_days (
    day   TEXT    PRIMARY KEY,
    bytes BIGINT  NOT NULL DEFAULT 0
);
