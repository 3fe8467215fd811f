-- Traffic per key, accumulated from the nodes' per-user counters (bytes).
ALTER TABLE keys ADD COLUMN upload_bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE keys ADD COLUMN download_bytes INTEGER NOT NULL DEFAULT 0;
