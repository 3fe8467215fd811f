-- Orders may top up the balance instead of buying a plan: `kind` says which;
-- top-ups carry no plan days.
ALTER TABLE orders ADD COLUMN kind TEXT NOT NULL DEFAULT 'plan' CHECK (kind IN ('plan', 'topup'));
ALTER TABLE orders DROP CONSTRAINT orders_days_check;
ALTER TABLE orders ADD CONSTRAINT orders_days_kind_check
    CHECK ((kind = 'plan' AND days > 0) OR (kind = 'topup' AND days = 0));
