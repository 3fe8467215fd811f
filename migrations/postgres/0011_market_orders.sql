-- Orders may also buy a traffic pack (`pack`: bytes, no days) or a plan for
-- someone else (`gift`: days, applied when the receiver activates the gift).
-- `traffic_bytes` is what the order brings: a pack's size, or a plan's traffic
-- allowance per period (0 = unlimited), copied from config when the order is
-- made, like `days`.
ALTER TABLE orders ADD COLUMN traffic_bytes BIGINT NOT NULL DEFAULT 0 CHECK (traffic_bytes >= 0);
ALTER TABLE orders DROP CONSTRAINT orders_kind_check;
ALTER TABLE orders ADD CONSTRAINT orders_kind_check CHECK (kind IN ('plan', 'topup', 'pack', 'gift'));
ALTER TABLE orders DROP CONSTRAINT orders_days_kind_check;
ALTER TABLE orders ADD CONSTRAINT orders_days_kind_check
    CHECK ((kind IN ('plan', 'gift') AND days > 0)
        OR (kind = 'topup' AND days = 0)
        OR (kind = 'pack' AND days = 0 AND traffic_bytes > 0));
