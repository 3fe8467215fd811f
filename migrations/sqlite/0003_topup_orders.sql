-- Orders may top up the balance instead of buying a plan: `kind` says which;
-- top-ups carry no plan days. SQLite cannot alter a CHECK, so the table is rebuilt.
CREATE TABLE orders_new (
    id                  BLOB    PRIMARY KEY,
    user_id             INTEGER NOT NULL REFERENCES users (telegram_id),
    kind                TEXT    NOT NULL DEFAULT 'plan' CHECK (kind IN ('plan', 'topup')),
    plan_id             TEXT    NOT NULL,
    days                INTEGER NOT NULL CHECK (days >= 0),
    provider            TEXT    NOT NULL,
    amount              INTEGER NOT NULL CHECK (amount > 0),
    currency            TEXT    NOT NULL,
    status              TEXT    NOT NULL CHECK (status IN ('pending', 'paid', 'failed', 'expired', 'refunded')),
    provider_payment_id TEXT    UNIQUE,
    flag                TEXT,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    paid_at             INTEGER,
    CHECK ((kind = 'plan' AND days > 0) OR (kind = 'topup' AND days = 0))
);
INSERT INTO orders_new (id, user_id, kind, plan_id, days, provider, amount, currency, status,
                        provider_payment_id, flag, created_at, updated_at, paid_at)
SELECT id, user_id, 'plan', plan_id, days, provider, amount, currency, status,
       provider_payment_id, flag, created_at, updated_at, paid_at
FROM orders;
DROP TABLE orders;
ALTER TABLE orders_new RENAME TO orders;
CREATE INDEX orders_user ON orders (user_id, created_at);
CREATE INDEX orders_pending ON orders (created_at) WHERE status = 'pending';
