-- certmail schema v4: certificate authorities and their issued-certificate records.
CREATE TABLE cas (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    root_sha256 TEXT NOT NULL,
    signer_sha256 TEXT NOT NULL,
    hash TEXT NOT NULL,
    is_default BIGINT NOT NULL,
    crl_number BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE issued (
    ca_id BIGINT NOT NULL REFERENCES cas (id),
    serial TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    subject TEXT NOT NULL,
    email TEXT,
    requester TEXT NOT NULL,
    handler TEXT NOT NULL,
    issued_at BIGINT NOT NULL,
    revoked_at BIGINT,
    reason BIGINT,
    PRIMARY KEY (ca_id, serial)
);
CREATE INDEX issued_sha256 ON issued (sha256)
