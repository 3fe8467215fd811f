-- Leases of the singleton roles (PostgreSQL only: one SQLite instance always
-- leads). The holder of a role's advisory lock renews its row on the lock's
-- own session; a standby that finds `expires_at` passed while `backend_pid`
-- still holds the lock ends that session and takes the lock, and whoever takes
-- the lock acts only after the previous `expires_at`.
CREATE TABLE leader_leases (
    role        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    backend_pid INTEGER NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL
);
