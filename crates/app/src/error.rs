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
}

impl AppError {
    /// Whether this is certmail's own failure (the database, the file system, corrupt stored
    /// data) rather than something about the request: such errors are logged with an id
    /// and the client is told only the id.
    pub fn is_internal(&self) -> bool {
        use certmail_store::StoreError as S;
        match self {
            AppError::Store(
                S::NotFound { .. }
                | S::Ambiguous(_)
                | S::BadThumbprint(_)
                | S::Invalid(_)
                | S::Conflict(_)
                | S::KeyInUse { .. },
            ) => false,
            AppError::Store(_) | AppError::Io { .. } | AppError::Corrupt { .. } => true,
            _ => false,
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
