-- certmail schema v3: users, domains and global settings; certificate selections.
CREATE TABLE parties (
    scope TEXT NOT NULL CHECK (scope IN ('global', 'domain', 'user')),
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (scope, name)
);
CREATE TABLE settings (
    scope TEXT NOT NULL,
    name TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (scope, name, key)
);
CREATE TABLE selections (
    scope TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('encryption', 'signing', 'additional')),
    sha256 TEXT NOT NULL,
    PRIMARY KEY (scope, name, kind, sha256)
);
CREATE INDEX selections_sha256 ON selections (sha256)
