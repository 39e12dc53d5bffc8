//! Store errors.

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL names no supported back end.
    #[error(
        "unsupported database URL scheme {0:?}: use sqlite:///path/file.db or postgres://user@host/db"
    )]
    UnsupportedUrl(String),
    /// The database could not be reached or opened.
    #[error("cannot open the database: {0}")]
    Connect(String),
    /// A migration failed; the schema is left at the previous version.
    #[error("database migration {version} ({name}) failed: {reason}")]
    Migration {
        /// Migration number.
        version: i64,
        /// Migration name.
        name: &'static str,
        /// The database's message.
        reason: String,
    },
    /// The database is newer than this program.
    #[error(
        "the database schema is version {found}, newer than this certmail ({supported}); upgrade certmail"
    )]
    SchemaTooNew {
        /// Version in the database.
        found: i64,
        /// Newest version known here.
        supported: i64,
    },
    /// Nothing matched.
    #[error("no entry {id:?} in the {what} store")]
    NotFound {
        /// Which store.
        what: &'static str,
        /// What was looked up.
        id: String,
    },
    /// A prefix matched more than one entry.
    #[error("thumbprint prefix {0:?} is ambiguous: give more characters")]
    Ambiguous(String),
    /// Not a hex thumbprint.
    #[error("{0:?} is not a hexadecimal thumbprint")]
    BadThumbprint(String),
    /// A key still used by certificates.
    #[error("key {key_id} is used by {} certificate(s): {}; delete them first or pass --force", certificates.len(), certificates.join(", "))]
    KeyInUse {
        /// The key.
        key_id: String,
        /// SHA-256 of the certificates that use it.
        certificates: Vec<String>,
    },
    /// A request the store cannot answer as asked (the text says why).
    #[error("{0}")]
    Invalid(String),
    /// The object exists already (the text names it).
    #[error("{0}")]
    Conflict(String),
    /// The database answered something that cannot be (a bug or a concurrent schema change).
    #[error("inconsistent database answer: {0}")]
    Inconsistent(&'static str),
    /// Any other database failure.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}
