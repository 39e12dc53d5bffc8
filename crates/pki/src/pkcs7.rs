//! PKCS#7 / CMS "certs-only" bundles (.p7b/.p7c): RFC 5652 SignedData with no signers,
//! used to carry a certificate with its chain, and often CRLs. Read in DER or BER (indefinite
//! lengths: NSS `cmsutil`, streamed OpenSSL output, some Windows exports), writes DER.

use std::borrow::Cow;

use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::revocation::RevocationInfoChoice;
use cms::signed_data::{CertificateSet, EncapsulatedContentInfo, SignedData};
use der::asn1::SetOfVec;
use der::{Any, Decode, Encode};

use crate::error::PkiError;
use crate::oids;

/// The certificates and CRLs of a SignedData, each DER.
#[derive(Debug, Default)]
pub struct Bundle {
    /// Certificates (`CertificateChoices::certificate`; other choices are skipped).
    pub certificates: Vec<Vec<u8>>,
    /// CRLs (`RevocationInfoChoice::crl`; other revocation formats are skipped).
    pub crls: Vec<Vec<u8>>,
}

/// `data` as DER: DER as it is, BER (indefinite lengths, constructed strings) re-encoded.
fn as_der(data: &[u8]) -> Cow<'_, [u8]> {
    if ContentInfo::from_der(data).is_ok() {
        return Cow::Borrowed(data);
    }
    crate::ber::to_der(data).map_or(Cow::Borrowed(data), Cow::Owned)
}

/// Reads a PKCS#7 / CMS SignedData (DER or BER): its certificates and CRLs.
pub fn bundle(data: &[u8]) -> Result<Bundle, PkiError> {
    let bad = |e: der::Error| PkiError::BadPkcs7(e.into());
    let ci = ContentInfo::from_der(&as_der(data)).map_err(bad)?;
    if ci.content_type != oids::SIGNED_DATA {
        return Err(PkiError::UnsupportedPkcs7Content(oids::name(
            &ci.content_type,
        )));
    }
    let sd: SignedData = ci.content.decode_as().map_err(bad)?;
    let mut out = Bundle::default();
    for choice in sd.certificates.iter().flat_map(|s| s.0.iter()) {
        if let CertificateChoices::Certificate(c) = choice {
            out.certificates.push(c.to_der().map_err(bad)?);
        }
    }
    for choice in sd.crls.iter().flat_map(|s| s.0.iter()) {
        if let RevocationInfoChoice::Crl(c) = choice {
            out.crls.push(c.to_der().map_err(bad)?);
        }
    }
    Ok(out)
}

/// Extracts the DER of every certificate in a PKCS#7 / CMS SignedData (DER or BER).
pub fn certificates(data: &[u8]) -> Result<Vec<Vec<u8>>, PkiError> {
    Ok(bundle(data)?.certificates)
}

/// True when `data` decodes as a CMS ContentInfo, DER or BER (cheap check on the outer structure).
pub fn looks_like_pkcs7(data: &[u8]) -> bool {
    ContentInfo::from_der(&as_der(data)).is_ok()
}

/// Builds a DER certs-only SignedData holding `certs` (each DER).
pub fn encode_certs_only(certs: &[Vec<u8>]) -> Result<Vec<u8>, PkiError> {
    let bad = |e: der::Error| PkiError::BadPkcs7(e.into());
    let mut set = SetOfVec::new();
    for der in certs {
        let c = x509_cert::Certificate::from_der(der)
            .map_err(|e| PkiError::BadCertificate(e.into()))?;
        set.insert(CertificateChoices::Certificate(c))
            .map_err(bad)?;
    }
    let sd = SignedData {
        version: cms::content_info::CmsVersion::V1,
        digest_algorithms: SetOfVec::new(),
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: oids::DATA,
            econtent: None,
        },
        certificates: Some(CertificateSet(set)),
        crls: None,
        signer_infos: cms::signed_data::SignerInfos(SetOfVec::new()),
    };
    let ci = ContentInfo {
        content_type: oids::SIGNED_DATA,
        content: Any::encode_from(&sd).map_err(bad)?,
    };
    ci.to_der().map_err(bad)
}
