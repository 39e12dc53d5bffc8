//! A CA imported from the bytes of its files (certificate and key, PEM, DER or one
//! PKCS#12), as `certmail ca import` and `POST /api/v1/cas/import` hand them over.

use certmail_ca::SigHash;
use certmail_store::CaRow;

use crate::{App, AppError, Result};

impl App {
    /// Imports a CA from its certificate file and key file (they may be the same PKCS#12):
    /// the certificate in the file whose public key is the key's becomes the CA.
    pub async fn ca_import_files(
        &self,
        cert_file: &[u8],
        key_file: &[u8],
        password: Option<&str>,
        hash: SigHash,
        make_default: bool,
    ) -> Result<CaRow> {
        let bad = |what: &str, e: crate::FileError| AppError::Invalid(format!("{what}: {e}"));
        let certs = crate::import::parse_certificates_only(cert_file)
            .map_err(|e| bad("the certificate file", e))?;
        let key = crate::parse_key_file(key_file, password).map_err(|e| bad("the key file", e))?;
        let cert = certs
            .iter()
            .find(|c| c.key_id == key.key_id())
            .ok_or_else(|| {
                AppError::Invalid("no certificate in the file matches the key".into())
            })?;
        self.ca_import(&cert.der, &key, hash, make_default).await
    }
}
