-- A ban (admin /ban): the user can neither buy nor start the trial until /unban.
ALTER TABLE users ADD COLUMN banned_at TIMESTAMPTZ;
