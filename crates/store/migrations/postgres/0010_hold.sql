-- certmail schema v10: the hold queue (mail that could not be protected as its policy requires,
-- kept until released, deleted or expired). One row per held recipient; `dedupe` makes a
-- retried transaction (the MTA sending the same message again after a 4xx) hold it once.
CREATE TABLE held_messages (
    id BIGSERIAL PRIMARY KEY,
    dedupe TEXT NOT NULL UNIQUE,
    gateway_id TEXT NOT NULL,
    sender TEXT NOT NULL,
    recipient TEXT NOT NULL,
    reason TEXT NOT NULL,
    subject TEXT NOT NULL,
    size BIGINT NOT NULL,
    message BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    last_error TEXT
);
CREATE INDEX held_messages_expires ON held_messages (expires_at)
