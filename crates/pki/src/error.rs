//! Errors of the pki layer, one variant per reason.

use std::fmt;

/// Why a certificate, container or PEM block could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PkiError {
    /// The bytes are not a DER certificate.
    #[error("not a valid X.509 certificate: {0}")]
    BadCertificate(DerDetail),
    /// A PEM block could not be decoded.
    #[error("PEM block {label:?} starting at line {line} is corrupt: {reason}")]
    BadPem {
        /// The label after BEGIN.
        label: String,
        /// 1-based line of the BEGIN marker.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The bytes are not a CRL.
    #[error("not a valid CRL: {0}")]
    BadCrl(DerDetail),
    /// The bytes are not valid BER.
    #[error("malformed BER/DER: {0}")]
    BadBer(DerDetail),
    /// The bytes are not a PKCS#7 / CMS certificate bundle.
    #[error("not a valid PKCS#7 certificate bundle: {0}")]
    BadPkcs7(DerDetail),
    /// A PKCS#7 content type other than signed-data.
    #[error(
        "PKCS#7 content type {0} is not signed-data; only certificate bundles (.p7b/.p7c) hold certificates"
    )]
    UnsupportedPkcs7Content(String),
}

/// A DER decoding error, kept as text so the error type stays `Clone + Eq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerDetail(pub String);

impl fmt::Display for DerDetail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<der::Error> for DerDetail {
    fn from(e: der::Error) -> Self {
        DerDetail(e.to_string())
    }
}
