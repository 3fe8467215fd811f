-- Per-key order of pending provisioning ops (the driver asks "is an earlier op
-- of this key still waiting?").
CREATE INDEX provisioning_ops_key ON provisioning_ops (node, email, id) WHERE state = 'pending';
CREATE INDEX provisioning_ops_due ON provisioning_ops (next_attempt_at) WHERE state = 'pending';
