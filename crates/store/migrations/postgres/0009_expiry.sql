-- certmail schema v9: expiry notices sent (one per certificate and threshold in days), so
-- the expiry job never sends the same warning twice, across restarts and nodes.
CREATE TABLE expiry_notices (
    sha256 TEXT NOT NULL,
    threshold BIGINT NOT NULL,
    sent_at BIGINT NOT NULL,
    PRIMARY KEY (sha256, threshold)
)
