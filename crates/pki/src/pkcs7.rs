//! PKCS#7 / CMS "certs-only" bundles (.p7b/.p7c): RFC 5652 SignedData with no signers,
//! used to carry a certificate with its chain, and often CRLs. Read in DER or BER (indefinite
//! lengths: NSS `cmsutil`, streamed OpenSSL output, some Windows exports), writes DER.

use std::borrow::Cow;

use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
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

/// DER of the OID id-signedData (1.2.840.113549.1.7.2).
const SIGNED_DATA_OID: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02,
];

/// Reads a PKCS#7 / CMS SignedData (DER or BER): its certificates and CRLs. Only the
/// structure down to the items is read here: each certificate and CRL is parsed by its
/// caller, so one item no reader takes (a CRL of an old form, a malformed certificate) is
/// reported on its own instead of refusing the bundle with everything else in it.
pub fn bundle(data: &[u8]) -> Result<Bundle, PkiError> {
    use crate::raw::{children, tlv_at};
    let der = as_der(data);
    let malformed = |what: &str| PkiError::BadPkcs7(crate::error::DerDetail(what.into()));
    let ci = tlv_at(&der, 0)
        .filter(|t| t.tag == 0x30 && t.whole.len() == der.len())
        .ok_or_else(|| malformed("not a ContentInfo SEQUENCE"))?;
    let ci = children(&ci).ok_or_else(|| malformed("ContentInfo"))?;
    let (Some(ct), Some(content)) = (ci.first(), ci.get(1)) else {
        return Err(malformed("ContentInfo without content"));
    };
    if ct.whole != SIGNED_DATA_OID {
        let oid = der::asn1::ObjectIdentifier::from_der(ct.whole)
            .map_err(|e| PkiError::BadPkcs7(e.into()))?;
        return Err(PkiError::UnsupportedPkcs7Content(oids::name(&oid)));
    }
    let sd = children(content)
        .and_then(|c| c.first().copied())
        .filter(|t| content.tag == 0xa0 && t.tag == 0x30)
        .ok_or_else(|| malformed("SignedData"))?;
    let fields = children(&sd).ok_or_else(|| malformed("SignedData"))?;
    // version, digestAlgorithms, encapContentInfo, [0] certificates, [1] crls, signerInfos
    if fields.len() < 4 || fields[0].tag != 0x02 || fields[1].tag != 0x31 || fields[2].tag != 0x30 {
        return Err(malformed("SignedData fields"));
    }
    let mut out = Bundle::default();
    for f in &fields[3..] {
        match f.tag {
            0xa0 => {
                for c in children(f).ok_or_else(|| malformed("certificates"))? {
                    // Other CertificateChoices (attribute certificates, ...) are skipped.
                    if c.tag == 0x30 {
                        out.certificates.push(c.whole.to_vec());
                    }
                }
            }
            0xa1 => {
                for c in children(f).ok_or_else(|| malformed("crls"))? {
                    // otherRevocationInfo ([1]) is skipped.
                    if c.tag == 0x30 {
                        out.crls.push(c.whole.to_vec());
                    }
                }
            }
            _ => {}
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
