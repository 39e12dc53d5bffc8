//! The CA objects as shown: one JSON shape each for the CLI's `--json` and the API.

use certmail_store::CaRow;
use serde::Serialize;

/// A CA as shown: one shape for `certmail ca list --json` and `GET /api/v1/cas`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CaInfo {
    /// Id.
    pub id: i64,
    /// Name (the intermediate's common name).
    pub name: String,
    /// SHA-256 of the root certificate.
    pub root_sha256: String,
    /// SHA-256 of the certificate that signs end-user certificates (the intermediate).
    pub signer_sha256: String,
    /// Signature hash (`sha256`, `sha384`, `sha512`).
    pub hash: String,
    /// The default CA.
    pub is_default: bool,
    /// Last CRL number issued.
    pub crl_number: i64,
    /// Created, Unix seconds.
    pub created_at: i64,
}

impl From<&CaRow> for CaInfo {
    fn from(r: &CaRow) -> CaInfo {
        CaInfo {
            id: r.id,
            name: r.name.clone(),
            root_sha256: r.root_sha256.clone(),
            signer_sha256: r.signer_sha256.clone(),
            hash: r.hash.clone(),
            is_default: r.is_default,
            crl_number: r.crl_number,
            created_at: r.created_at,
        }
    }
}

/// A pending certificate request as shown (the CSR itself is not).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PendingInfo {
    /// Id.
    pub id: i64,
    /// The request handler (`csr`, ...).
    pub handler: String,
    /// E-mail address.
    pub email: String,
    /// Subject requested.
    pub subject: String,
    /// The key's id (its private key waits in the key store).
    pub key_id: String,
    /// Created, Unix seconds.
    pub created_at: i64,
    /// Next attempt, Unix seconds.
    pub next_attempt: i64,
    /// Attempts so far.
    pub attempts: i64,
    /// The last attempt's error.
    pub last_error: Option<String>,
}

impl From<&certmail_store::PendingRow> for PendingInfo {
    fn from(p: &certmail_store::PendingRow) -> PendingInfo {
        PendingInfo {
            id: p.id,
            handler: p.handler.clone(),
            email: p.email.clone(),
            subject: p.subject.clone(),
            key_id: p.key_id.clone(),
            created_at: p.created_at,
            next_attempt: p.next_attempt,
            attempts: p.attempts,
            last_error: p.last_error.clone(),
        }
    }
}
