-- Traffic per key, accumulated from the nodes' per-user counters (bytes).
ALTER TABLE keys ADD COLUMN upload_bytes BIGINT NOT NULL DEFAULT 0;
ALTER TABLE keys ADD COLUMN download_bytes BIGINT NOT NULL DEFAULT 0;
