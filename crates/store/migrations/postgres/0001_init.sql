-- certmail schema v1 (PostgreSQL). Certificates and roots share one table, told apart by `store`.
CREATE TABLE meta (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE certificates (
    id BIGSERIAL PRIMARY KEY,
    store TEXT NOT NULL CHECK (store IN ('certificates', 'roots')),
    sha256 TEXT NOT NULL,
    sha512 TEXT NOT NULL,
    subject TEXT NOT NULL,
    common_name TEXT,
    issuer TEXT NOT NULL,
    serial TEXT NOT NULL,
    not_before BIGINT NOT NULL,
    not_after BIGINT NOT NULL,
    ski TEXT,
    aki TEXT,
    key_id TEXT NOT NULL,
    is_ca BIGINT NOT NULL,
    der BYTEA NOT NULL,
    imported_at BIGINT NOT NULL,
    -- sha256 first: look-ups by thumbprint (prefix) use it; store alone is not selective.
    UNIQUE (sha256, store)
);
CREATE INDEX certificates_sha512 ON certificates (sha512);
CREATE INDEX certificates_issuer_serial ON certificates (issuer, serial);
CREATE INDEX certificates_ski ON certificates (ski);
CREATE INDEX certificates_key_id ON certificates (key_id);
CREATE INDEX certificates_subject ON certificates (subject);
CREATE INDEX certificates_not_after ON certificates (not_after);
CREATE TABLE certificate_emails (
    certificate_id BIGINT NOT NULL REFERENCES certificates (id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    PRIMARY KEY (email, certificate_id)
);
CREATE INDEX certificate_emails_certificate ON certificate_emails (certificate_id);
CREATE TABLE private_keys (
    id BIGSERIAL PRIMARY KEY,
    key_id TEXT NOT NULL UNIQUE,
    algorithm TEXT NOT NULL,
    sealed BYTEA NOT NULL,
    imported_at BIGINT NOT NULL
)
