-- certmail schema v11: automatic renewals (`auto-renew`): one row per renewed certificate, so
-- the job renews each certificate once, across restarts and nodes; a claim whose renewal
-- never finished (new_sha256 still empty after an hour) may be taken again.
CREATE TABLE renewals (
    old_sha256 TEXT PRIMARY KEY,
    new_sha256 TEXT,
    email TEXT NOT NULL,
    claimed_at BIGINT NOT NULL,
    renewed_at BIGINT,
    sent_at BIGINT,
    problem TEXT
)
