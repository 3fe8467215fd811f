-- An admin's grant button carries a key drawn with it: the grant it made is
-- kept here, so pressing Confirm twice (or two instances handling the two
-- presses) grants once.
CREATE TABLE grant_keys (
    key TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL,
    days BIGINT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

-- [referral] bonus_days: the days a paid order gave its buyer's referrer,
-- taken back (reversed_at) when that order is refunded.
CREATE TABLE referral_days (
    order_id UUID PRIMARY KEY,
    referrer BIGINT NOT NULL,
    days BIGINT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    reversed_at TIMESTAMPTZ
);
