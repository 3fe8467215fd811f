-- Users' Telegram names, for the admin screens: `display_name` as Telegram
-- shows it (first and last name), `name_key` the same lowercased by the
-- service (SQLite's LOWER() knows only ASCII) for search by substring.
ALTER TABLE users ADD COLUMN display_name TEXT;
ALTER TABLE users ADD COLUMN name_key TEXT;
