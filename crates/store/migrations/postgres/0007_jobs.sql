-- certmail schema v7: background jobs. CRL distribution points with their download state
-- (one row per URL, registered when a certificate naming it is stored), and job leases so
-- that several nodes on one database run each job once.
CREATE TABLE crl_sources (
    url TEXT PRIMARY KEY,
    first_seen BIGINT NOT NULL,
    next_attempt BIGINT NOT NULL,
    last_attempt BIGINT,
    last_success BIGINT,
    last_error TEXT,
    etag TEXT,
    last_modified TEXT,
    size BIGINT,
    crl_number TEXT,
    issuer TEXT
);
CREATE INDEX crl_sources_next ON crl_sources (next_attempt);
CREATE TABLE job_leases (
    job TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at BIGINT NOT NULL
)
