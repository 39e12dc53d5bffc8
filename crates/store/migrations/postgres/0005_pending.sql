-- certmail schema v5: pending certificate requests (asynchronous request handlers).
CREATE TABLE pending_requests (
    id BIGSERIAL PRIMARY KEY,
    handler TEXT NOT NULL,
    email TEXT NOT NULL,
    subject TEXT NOT NULL,
    key_id TEXT NOT NULL UNIQUE,
    csr BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    next_attempt BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    last_error TEXT
)
