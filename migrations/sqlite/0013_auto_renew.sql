-- Auto-renewal from the balance (opt-in in the bot): the plan the user's
-- actor buys from the balance shortly before expiry; NULL: off.
ALTER TABLE users ADD COLUMN auto_renew_plan TEXT;

-- A subscription period (its expiry) the balance could not renew: the user
-- was reminded once. `amount` is the price the balance fell short of (the
-- Scheduler tries again once the balance covers it); NULL: the balance cannot
-- pay this plan at all (gone from config, no price in the balance currency).
CREATE TABLE auto_renew_reminders (
    user_id    INTEGER NOT NULL REFERENCES users (telegram_id),
    period_end INTEGER NOT NULL,
    amount     INTEGER,
    reason     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, period_end)
);
CREATE INDEX users_auto_renew ON users (telegram_id) WHERE auto_renew_plan IS NOT NULL;
