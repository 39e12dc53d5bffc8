//! Object identifiers used by certmail, with readable names.

use const_oid::ObjectIdentifier as Oid;

/// PKCS#9 emailAddress (RFC 2985), found in subject names of older S/MIME certificates.
pub const EMAIL_ADDRESS: Oid = Oid::new_unwrap("1.2.840.113549.1.9.1");
/// id-at-commonName.
pub const COMMON_NAME: Oid = Oid::new_unwrap("2.5.4.3");
/// rsaEncryption (RFC 8017).
pub const RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
/// id-RSASSA-PSS used as a key algorithm.
pub const RSASSA_PSS: Oid = Oid::new_unwrap("1.2.840.113549.1.1.10");
/// id-ecPublicKey (RFC 5480).
pub const EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
/// id-Ed25519 (RFC 8410).
pub const ED25519: Oid = Oid::new_unwrap("1.3.101.112");
/// id-X25519 (RFC 8410).
pub const X25519: Oid = Oid::new_unwrap("1.3.101.110");
/// id-Ed448 (RFC 8410).
pub const ED448: Oid = Oid::new_unwrap("1.3.101.113");
/// id-dsa.
pub const DSA: Oid = Oid::new_unwrap("1.2.840.10040.4.1");
/// NIST P-256.
pub const SECP256R1: Oid = Oid::new_unwrap("1.2.840.10045.3.1.7");
/// NIST P-384.
pub const SECP384R1: Oid = Oid::new_unwrap("1.3.132.0.34");
/// NIST P-521.
pub const SECP521R1: Oid = Oid::new_unwrap("1.3.132.0.35");
/// CMS signed-data content type.
pub const SIGNED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.2");
/// CMS data content type.
pub const DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.1");

/// Extension OIDs (RFC 5280 section 4.2).
pub mod ext {
    use super::Oid;
    /// id-ce-subjectKeyIdentifier.
    pub const SUBJECT_KEY_ID: Oid = Oid::new_unwrap("2.5.29.14");
    /// id-ce-keyUsage.
    pub const KEY_USAGE: Oid = Oid::new_unwrap("2.5.29.15");
    /// id-ce-subjectAltName.
    pub const SUBJECT_ALT_NAME: Oid = Oid::new_unwrap("2.5.29.17");
    /// id-ce-issuerAltName.
    pub const ISSUER_ALT_NAME: Oid = Oid::new_unwrap("2.5.29.18");
    /// id-ce-basicConstraints.
    pub const BASIC_CONSTRAINTS: Oid = Oid::new_unwrap("2.5.29.19");
    /// id-ce-nameConstraints.
    pub const NAME_CONSTRAINTS: Oid = Oid::new_unwrap("2.5.29.30");
    /// id-ce-cRLDistributionPoints.
    pub const CRL_DISTRIBUTION_POINTS: Oid = Oid::new_unwrap("2.5.29.31");
    /// id-ce-certificatePolicies.
    pub const CERTIFICATE_POLICIES: Oid = Oid::new_unwrap("2.5.29.32");
    /// id-ce-policyMappings.
    pub const POLICY_MAPPINGS: Oid = Oid::new_unwrap("2.5.29.33");
    /// id-ce-authorityKeyIdentifier.
    pub const AUTHORITY_KEY_ID: Oid = Oid::new_unwrap("2.5.29.35");
    /// id-ce-policyConstraints.
    pub const POLICY_CONSTRAINTS: Oid = Oid::new_unwrap("2.5.29.36");
    /// id-ce-extKeyUsage.
    pub const EXT_KEY_USAGE: Oid = Oid::new_unwrap("2.5.29.37");
    /// id-ce-inhibitAnyPolicy.
    pub const INHIBIT_ANY_POLICY: Oid = Oid::new_unwrap("2.5.29.54");
    /// id-pe-authorityInfoAccess.
    pub const AUTHORITY_INFO_ACCESS: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.1.1");
}

/// A readable name for an OID: the const-oid database name, or the dotted form.
pub fn name(oid: &Oid) -> String {
    match oid.to_string().as_str() {
        "1.3.6.1.5.5.7.3.4" => return "emailProtection".into(),
        "2.5.29.37.0" => return "anyExtendedKeyUsage".into(),
        "1.3.6.1.5.5.7.3.1" => return "serverAuth".into(),
        "1.3.6.1.5.5.7.3.2" => return "clientAuth".into(),
        "1.3.6.1.5.5.7.3.3" => return "codeSigning".into(),
        "1.3.6.1.5.5.7.3.8" => return "timeStamping".into(),
        "1.3.6.1.5.5.7.3.9" => return "OCSPSigning".into(),
        "1.2.840.113549.1.1.11" => return "sha256WithRSAEncryption".into(),
        "1.2.840.113549.1.1.12" => return "sha384WithRSAEncryption".into(),
        "1.2.840.113549.1.1.13" => return "sha512WithRSAEncryption".into(),
        "1.2.840.113549.1.1.5" => return "sha1WithRSAEncryption".into(),
        "1.2.840.113549.1.1.10" => return "rsassaPss".into(),
        "1.2.840.10045.4.3.2" => return "ecdsaWithSHA256".into(),
        "1.2.840.10045.4.3.3" => return "ecdsaWithSHA384".into(),
        "1.2.840.10045.4.3.4" => return "ecdsaWithSHA512".into(),
        "1.3.101.112" => return "Ed25519".into(),
        "2.5.29.14" => return "subjectKeyIdentifier".into(),
        "2.5.29.15" => return "keyUsage".into(),
        "2.5.29.17" => return "subjectAltName".into(),
        "2.5.29.18" => return "issuerAltName".into(),
        "2.5.29.19" => return "basicConstraints".into(),
        "2.5.29.30" => return "nameConstraints".into(),
        "2.5.29.31" => return "cRLDistributionPoints".into(),
        "2.5.29.32" => return "certificatePolicies".into(),
        "2.5.29.33" => return "policyMappings".into(),
        "2.5.29.35" => return "authorityKeyIdentifier".into(),
        "2.5.29.36" => return "policyConstraints".into(),
        "2.5.29.37" => return "extKeyUsage".into(),
        "2.5.29.54" => return "inhibitAnyPolicy".into(),
        "1.3.6.1.5.5.7.1.1" => return "authorityInfoAccess".into(),
        _ => {}
    }
    const_oid::db::DB
        .by_oid(oid)
        .map(str::to_owned)
        .unwrap_or_else(|| oid.to_string())
}
