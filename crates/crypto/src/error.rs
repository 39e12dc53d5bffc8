//! Crypto-layer errors. None of them carries key material.

/// Why a key, PKCS#12 or sealed blob could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The file is password-protected and no password was given.
    #[error(
        "a password is required to read this {0}; pass --password-file FILE or --password-env VAR"
    )]
    PasswordRequired(&'static str),
    /// The password does not open the PKCS#12 (MAC check failed) or encrypted key.
    #[error("wrong password for this {0} (integrity check failed)")]
    WrongPassword(&'static str),
    /// An RFC 1421 encrypted PEM key (`Proc-Type: 4,ENCRYPTED`).
    #[error(
        "this is a legacy password-encrypted PEM key (\"Proc-Type: 4,ENCRYPTED\", {dek_info}), which certmail does not read; \
         convert it to encrypted PKCS#8 with `openssl pkcs8 -topk8 -in KEY.pem -out KEY-pkcs8.pem` and import that"
    )]
    LegacyEncryptedPem {
        /// The DEK-Info header (cipher and IV), harmless to show.
        dek_info: String,
    },
    /// The key structure does not decode or is inconsistent.
    #[error("invalid private key: {0}")]
    BadKey(String),
    /// A key type certmail cannot use.
    #[error("unsupported private key algorithm {0}")]
    UnsupportedKeyAlgorithm(String),
    /// The PKCS#12 file is corrupt or uses something unsupported.
    #[error("invalid PKCS#12 file: {0}")]
    BadPkcs12(String),
    /// Writing a PKCS#12 failed.
    #[error("could not write PKCS#12: {0}")]
    Pkcs12Write(String),
    /// The key-encryption key does not open a sealed value.
    #[error(
        "the key-encryption key does not open this data (wrong passphrase, or a master key from another installation)"
    )]
    KekMismatch,
    /// Key derivation failed.
    #[error("key derivation failed: {0}")]
    Kdf(String),
    /// The system random generator failed.
    #[error("the system random number generator failed")]
    Rng,
}
