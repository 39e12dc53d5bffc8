-- certmail schema v2 (PostgreSQL): the CRL store and the certificate trust list.
CREATE TABLE crls (
    id BIGSERIAL PRIMARY KEY,
    sha256 TEXT NOT NULL UNIQUE,
    issuer TEXT NOT NULL,
    authority_key_id TEXT,
    number TEXT,
    delta_base TEXT,
    this_update BIGINT NOT NULL,
    next_update BIGINT,
    entries BIGINT NOT NULL,
    current BIGINT NOT NULL,
    problem TEXT,
    der BYTEA NOT NULL,
    imported_at BIGINT NOT NULL
);
CREATE INDEX crls_issuer ON crls (issuer);
CREATE TABLE ctl (
    sha512 TEXT PRIMARY KEY,
    status TEXT NOT NULL CHECK (status IN ('whitelisted', 'blacklisted')),
    allow_expired BIGINT NOT NULL,
    created_at BIGINT NOT NULL
)
