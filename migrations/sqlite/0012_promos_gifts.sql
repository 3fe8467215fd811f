-- Promo codes and gifts.
-- A promo code gives a percent or fixed discount on a plan order, or free
-- days (redeemed at once). `used` counts paid orders (and days redemptions);
-- `reserved` counts pending orders holding a use until they are paid or
-- expire; the guard is `used + reserved < max_uses` (NULL: unlimited).
CREATE TABLE promo_codes (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    code                TEXT    NOT NULL,
    code_key            TEXT    NOT NULL UNIQUE, -- lower(code): codes are case-insensitive
    kind                TEXT    NOT NULL CHECK (kind IN ('percent', 'fixed', 'days')),
    value               INTEGER NOT NULL CHECK (value > 0),
    currency            TEXT,                    -- a fixed discount's currency
    max_uses            INTEGER CHECK (max_uses IS NULL OR max_uses > 0),
    per_user            INTEGER NOT NULL DEFAULT 1 CHECK (per_user > 0),
    valid_until         INTEGER,
    first_purchase_only BOOLEAN NOT NULL DEFAULT FALSE,
    plans               TEXT    NOT NULL DEFAULT '', -- comma-separated plan ids; '' = all
    used                INTEGER NOT NULL DEFAULT 0 CHECK (used >= 0),
    reserved            INTEGER NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    disabled_at         INTEGER,
    created_by          TEXT    NOT NULL,
    created_at          INTEGER NOT NULL,
    CHECK (kind <> 'percent' OR value < 100),
    CHECK (kind <> 'fixed' OR currency IS NOT NULL)
);

-- One row per order that carries a code (UNIQUE: never counted twice), or per
-- days redemption (no order). state: reserved (pending order) → used (paid) |
-- released (the order expired or failed unpaid).
CREATE TABLE promo_uses (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    promo_id   INTEGER NOT NULL REFERENCES promo_codes (id),
    user_id    INTEGER NOT NULL REFERENCES users (telegram_id),
    order_id   BLOB    UNIQUE,
    state      TEXT    NOT NULL CHECK (state IN ('reserved', 'used', 'released')),
    created_at INTEGER NOT NULL,
    used_at    INTEGER
);
CREATE INDEX promo_uses_user ON promo_uses (promo_id, user_id);
CREATE INDEX promo_uses_reserved ON promo_uses (order_id) WHERE state = 'reserved';

ALTER TABLE orders ADD COLUMN promo_code TEXT;
ALTER TABLE orders ADD COLUMN list_amount INTEGER;

-- A paid gift order yields one gift; the receiver activates it once.
CREATE TABLE gifts (
    code        TEXT    PRIMARY KEY,
    order_id    BLOB    NOT NULL UNIQUE REFERENCES orders (id),
    buyer       INTEGER NOT NULL REFERENCES users (telegram_id),
    plan_id     TEXT    NOT NULL,
    days        INTEGER NOT NULL CHECK (days > 0),
    created_at  INTEGER NOT NULL,
    redeemed_by INTEGER REFERENCES users (telegram_id),
    redeemed_at INTEGER,
    voided_at   INTEGER
);
CREATE INDEX gifts_buyer ON gifts (buyer, created_at);
