-- Payments that cannot be lost.
--
-- `payments`: every distinct payment a provider reported (by its own id), and
-- what became of it: applied to its order, credited to the balance, sent back
-- (Stars), or flagged for ops. A payment is settled once, whatever delivers it
-- (a webhook, a retry, the reconciler).
CREATE TABLE payments (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    provider            TEXT   NOT NULL,
    provider_payment_id TEXT   NOT NULL,
    order_id            BLOB,
    user_id             INTEGER NOT NULL REFERENCES users (telegram_id),
    amount              INTEGER NOT NULL,
    currency            TEXT   NOT NULL,
    settlement          TEXT   NOT NULL
        CHECK (settlement IN ('applied', 'credited', 'refund_pending', 'refunded', 'flagged')),
    reason              TEXT,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    UNIQUE (provider, provider_payment_id)
);
CREATE INDEX payments_order ON payments (order_id);
CREATE INDEX payments_refund_pending ON payments (id) WHERE settlement = 'refund_pending';
INSERT INTO payments (provider, provider_payment_id, order_id, user_id, amount, currency,
                      settlement, created_at, updated_at)
SELECT provider, provider_payment_id, id, user_id, amount, currency, 'applied',
       COALESCE(paid_at, updated_at), updated_at
FROM orders WHERE provider_payment_id IS NOT NULL;

-- The intake: an event is stored (with its provider-neutral form) before it is
-- acknowledged, and finished (`finished_at`, `outcome`) by whoever gets there
-- first: the request, the bot, or the service's own recovery.
ALTER TABLE webhook_events ADD COLUMN event TEXT;
ALTER TABLE webhook_events ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhook_events ADD COLUMN last_error TEXT;
ALTER TABLE webhook_events ADD COLUMN finished_at INTEGER;
UPDATE webhook_events SET finished_at = received_at WHERE outcome <> 'received';
CREATE INDEX webhook_events_unfinished ON webhook_events (received_at) WHERE finished_at IS NULL;
CREATE INDEX webhook_events_order ON webhook_events (order_id, id);

-- Orders remember their invoice (reused by a second press of Pay, asked about
-- by the reconciler) and the idempotency key of the press that made them.
ALTER TABLE orders ADD COLUMN provider_invoice_id TEXT;
ALTER TABLE orders ADD COLUMN pay_url TEXT;
ALTER TABLE orders ADD COLUMN idempotency_key TEXT;
CREATE UNIQUE INDEX orders_idempotency ON orders (user_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX orders_open ON orders (user_id, plan_id, provider) WHERE status = 'pending';
CREATE INDEX orders_unpaid ON orders (created_at) WHERE status IN ('pending', 'expired', 'failed');

-- What admins must hear about (unexpected payments, refund shortfalls…),
-- written in the same transaction as the change, sent by the Notifier.
CREATE TABLE alerts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT    NOT NULL,
    payload         TEXT    NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER
);
CREATE INDEX alerts_pending ON alerts (next_attempt_at, id) WHERE state = 'pending';

-- A balance never goes below zero. SQLite cannot add a CHECK to an existing
-- table without rebuilding it (and every table that references it), so two
-- triggers enforce the same rule.
CREATE TRIGGER users_balance_nonnegative_insert BEFORE INSERT ON users
WHEN NEW.balance < 0
BEGIN
    SELECT RAISE(ABORT, 'CHECK constraint failed: users_balance_nonnegative');
END;
CREATE TRIGGER users_balance_nonnegative_update BEFORE UPDATE OF balance ON users
WHEN NEW.balance < 0
BEGIN
    SELECT RAISE(ABORT, 'CHECK constraint failed: users_balance_nonnegative');
END;
