//! Application errors: typed, readable, and free of secrets.

use std::path::Path;

use certmail_crypto::CryptoError;
use certmail_pki::PkiError;
use certmail_store::StoreError;

/// Why a use case failed.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// No key-encryption key in the data directory.
    #[error("{0} is not initialised: run `certmail init` first")]
    NotInitialised(String),
    /// `init` found an existing key.
    #[error(
        "{0} already holds a key-encryption key; refusing to overwrite it (it protects every stored private key)"
    )]
    AlreadyInitialised(String),
    /// The KEK is passphrase-derived and no passphrase was given.
    #[error(
        "the key store is protected by a passphrase: set {} in the environment",
        crate::PASSPHRASE_ENV
    )]
    PassphraseRequired,
    /// A file-system failure.
    #[error("{path}: {reason}")]
    Io {
        /// The path.
        path: String,
        /// The OS message.
        reason: String,
    },
    /// A database failure.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A crypto failure.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// A parse failure.
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// An S/MIME operation failed (bad message, no key, unsupported algorithm...).
    #[error(transparent)]
    Smime(#[from] certmail_smime::SmimeError),
    /// The certificate has no private key in the key store.
    #[error("certificate {0} has no private key in the key store")]
    NoPrivateKey(String),
    /// A PKCS#12 export needs a password.
    #[error("a PKCS#12 export needs a password: pass --password-file FILE or --password-env VAR")]
    PasswordRequired,
    /// Input that is not acceptable: a setting, a selection, a name, a form field (the
    /// reason in words). HTTP 400, exit 1.
    #[error("{0}")]
    Invalid(String),
    /// What was asked for does not exist: "no {what} {id}" (`what`: "account named",
    /// `id`: the name quoted). HTTP 404, exit 1.
    #[error("no {what} {id}")]
    NotFound {
        /// What kind of thing, as the message reads.
        what: &'static str,
        /// Which one.
        id: String,
    },
    /// A stored setting is corrupt.
    #[error("corrupt {what}: {reason}")]
    Corrupt {
        /// Which setting.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// The request conflicts with the present state (the text says what has to happen
    /// first). HTTP 409, exit 1.
    #[error("{0}")]
    Conflict(String),
    /// Policy refuses it, whoever asks (the text says which rule). HTTP 403, exit 1.
    #[error("{0}")]
    Forbidden(String),
    /// Something it needs cannot be reached now; the same request may work later.
    /// HTTP 503, exit 75 (EX_TEMPFAIL).
    #[error("{0}")]
    Unavailable(String),
    /// certmail's own failure (the text is for the log). HTTP 500, exit 1.
    #[error("{0}")]
    Internal(String),
}

/// What kind of failure an [`AppError`] is: the HTTP status and the exit code follow from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad input (400).
    Invalid,
    /// Needs input that was not given: the password of an export (400, exit 2).
    Incomplete,
    /// Does not exist (404).
    NotFound,
    /// Conflicts with the present state (409).
    Conflict,
    /// Refused by policy (403).
    Forbidden,
    /// Not reachable now; retry later (503).
    Unavailable,
    /// certmail's own failure (500): logged with an id, the client gets the id.
    Internal,
}

impl ErrorKind {
    /// The HTTP status.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::Invalid | ErrorKind::Incomplete => 400,
            ErrorKind::NotFound => 404,
            ErrorKind::Conflict => 409,
            ErrorKind::Forbidden => 403,
            ErrorKind::Unavailable => 503,
            ErrorKind::Internal => 500,
        }
    }

    /// The CLI exit code: 2 when input is missing, 75 (EX_TEMPFAIL) when a retry may
    /// work, 1 otherwise.
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::Incomplete => 2,
            ErrorKind::Unavailable => 75,
            _ => 1,
        }
    }
}

impl AppError {
    /// Whether this is certmail's own failure (the database, the file system, corrupt stored
    /// data) rather than something about the request: such errors are logged with an id
    /// and the client is told only the id.
    pub fn is_internal(&self) -> bool {
        self.kind() == ErrorKind::Internal
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        use certmail_store::StoreError as S;
        match self {
            AppError::Store(S::NotFound { .. }) | AppError::NotFound { .. } => ErrorKind::NotFound,
            AppError::NoPrivateKey(_) => ErrorKind::NotFound,
            AppError::Store(S::Conflict(_) | S::KeyInUse { .. })
            | AppError::Conflict(_)
            | AppError::AlreadyInitialised(_) => ErrorKind::Conflict,
            AppError::Store(S::Ambiguous(_) | S::BadThumbprint(_) | S::Invalid(_)) => {
                ErrorKind::Invalid
            }
            AppError::Unavailable(_) => ErrorKind::Unavailable,
            AppError::Store(_)
            | AppError::Io { .. }
            | AppError::Corrupt { .. }
            | AppError::Internal(_) => ErrorKind::Internal,
            AppError::PasswordRequired => ErrorKind::Incomplete,
            AppError::Forbidden(_) => ErrorKind::Forbidden,
            AppError::NotInitialised(_)
            | AppError::PassphraseRequired
            | AppError::Crypto(_)
            | AppError::Pki(_)
            | AppError::Smime(_)
            | AppError::Invalid(_) => ErrorKind::Invalid,
        }
    }

    pub(crate) fn io(path: &Path, e: std::io::Error) -> Self {
        AppError::Io {
            path: path.display().to_string(),
            reason: e.to_string(),
        }
    }
}

/// Why one file could not be imported. Nothing of the file was stored.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// Could not read the file.
    #[error("cannot read: {0}")]
    Read(String),
    /// Larger than any certificate or key container.
    #[error(
        "file is {size} bytes, larger than the {limit}-byte limit for certificate and key files"
    )]
    TooLarge {
        /// File size.
        size: u64,
        /// Limit.
        limit: u64,
    },
    /// Not a format certmail reads.
    #[error(
        "unrecognised format: not PEM, and not a DER certificate ({cert_error}), PKCS#7 bundle, PKCS#12 file or private key"
    )]
    Unrecognised {
        /// What the certificate parser said.
        cert_error: String,
    },
    /// A PEM block of a kind that does not belong here.
    #[error("PEM block {label:?} is not a certificate, PKCS#7 bundle or private key{hint}")]
    UnsupportedBlock {
        /// The label.
        label: String,
        /// A hint where it belongs.
        hint: &'static str,
    },
    /// PEM text without blocks, or a container with nothing inside.
    #[error("no certificate or private key found")]
    Empty,
    /// A bundle none of whose items could be read (the first one's reason).
    #[error("nothing in it could be read: {0}")]
    Unreadable(String),
    /// A certificate or container that does not parse.
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// An S/MIME operation failed (bad message, no key, unsupported algorithm...).
    #[error(transparent)]
    Smime(#[from] certmail_smime::SmimeError),
    /// A key or PKCS#12 that cannot be read.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// The database refused the transaction (nothing was written).
    #[error(transparent)]
    Store(StoreError),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The status and exit code follow from the variant, not from the text.
    #[test]
    fn kinds_give_status_and_exit_code() {
        let cases: [(AppError, u16, u8); 9] = [
            (AppError::Invalid("x".into()), 400, 1),
            (
                AppError::NotFound {
                    what: "account",
                    id: "a".into(),
                },
                404,
                1,
            ),
            (AppError::Conflict("no account".into()), 409, 1),
            (AppError::Forbidden("no directory".into()), 403, 1),
            (AppError::Unavailable("later".into()), 503, 75),
            (AppError::Internal("disk".into()), 500, 1),
            (AppError::PasswordRequired, 400, 2),
            (
                AppError::Store(StoreError::Connect("refused".into())),
                500,
                1,
            ),
            (
                AppError::Store(StoreError::Conflict("exists".into())),
                409,
                1,
            ),
        ];
        for (e, status, code) in cases {
            assert_eq!(e.kind().http_status(), status, "{e:?}");
            assert_eq!(e.kind().exit_code(), code, "{e:?}");
            assert_eq!(e.is_internal(), status == 500, "{e:?}");
        }
    }
}
