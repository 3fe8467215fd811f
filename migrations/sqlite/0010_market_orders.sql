-- Orders may also buy a traffic pack (`pack`: bytes, no days) or a plan for
-- someone else (`gift`: days, applied when the receiver activates the gift).
-- `traffic_bytes` is what the order brings: a pack's size, or a plan's traffic
-- allowance per period (0 = unlimited), copied from config when the order is
-- made, like `days`. SQLite cannot alter a CHECK, so the table is rebuilt.
CREATE TABLE orders_new (
    id                  BLOB    PRIMARY KEY,
    user_id             INTEGER NOT NULL REFERENCES users (telegram_id),
    kind                TEXT    NOT NULL DEFAULT 'plan' CHECK (kind IN ('plan', 'topup', 'pack', 'gift')),
    plan_id             TEXT    NOT NULL,
    days                INTEGER NOT NULL CHECK (days >= 0),
    traffic_bytes       INTEGER NOT NULL DEFAULT 0 CHECK (traffic_bytes >= 0),
    provider            TEXT    NOT NULL,
    amount              INTEGER NOT NULL CHECK (amount > 0),
    currency            TEXT    NOT NULL,
    status              TEXT    NOT NULL CHECK (status IN ('pending', 'paid', 'failed', 'expired', 'refunded')),
    provider_payment_id TEXT    UNIQUE,
    flag                TEXT,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    paid_at             INTEGER,
    provider_invoice_id TEXT,
    pay_url             TEXT,
    idempotency_key     TEXT,
    CHECK ((kind IN ('plan', 'gift') AND days > 0)
        OR (kind = 'topup' AND days = 0)
        OR (kind = 'pack' AND days = 0 AND traffic_bytes > 0))
);
INSERT INTO orders_new (id, user_id, kind, plan_id, days, provider, amount, currency, status,
                        provider_payment_id, flag, created_at, updated_at, paid_at,
                        provider_invoice_id, pay_url, idempotency_key)
SELECT id, user_id, kind, plan_id, days, provider, amount, currency, status,
       provider_payment_id, flag, created_at, updated_at, paid_at,
       provider_invoice_id, pay_url, idempotency_key
FROM orders;
DROP TABLE orders;
ALTER TABLE orders_new RENAME TO orders;
CREATE INDEX orders_user ON orders (user_id, created_at);
CREATE INDEX orders_pending ON orders (created_at) WHERE status = 'pending';
CREATE INDEX orders_paid ON orders (paid_at) WHERE status = 'paid';
CREATE UNIQUE INDEX orders_idempotency ON orders (user_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX orders_open ON orders (user_id, plan_id, provider) WHERE status = 'pending';
CREATE INDEX orders_unpaid ON orders (created_at) WHERE status IN ('pending', 'expired', 'failed');
