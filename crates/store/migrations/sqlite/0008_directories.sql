-- certmail schema v8: LDAP directories asked for certificates (and, for host-less CRL
-- distribution points, the default one), and the results of asking, per directory and
-- address, positive and negative, until they expire. The bind password is sealed under the
-- key-encryption key (associated data: the directory's name), never stored in clear.
CREATE TABLE directories (
    name TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    base TEXT NOT NULL,
    bind_dn TEXT,
    bind_password_sealed BLOB,
    filter TEXT NOT NULL,
    is_default BIGINT NOT NULL DEFAULT 0,
    timeout_ms BIGINT NOT NULL,
    cache_ttl BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE directory_lookups (
    directory TEXT NOT NULL REFERENCES directories (name) ON DELETE CASCADE,
    email TEXT NOT NULL,
    checked_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    found BIGINT NOT NULL,
    error TEXT,
    PRIMARY KEY (directory, email)
)
