//! PKCS#12 (.pfx/.p12) reading and writing through `p12-keystore`.
//!
//! Reading accepts PBES2/AES, 3-key and 2-key 3DES, RC2-128 and RC2-40 (OpenSSL `-legacy`,
//! Windows, Java) and password-less files under both conventions for the empty password. Writing offers the modern form (PBES2 AES-256-CBC, PBKDF2-HMAC-SHA256, HMAC-SHA256
//! MAC) and the legacy form (pbeWithSHAAnd3-KeyTripleDES-CBC, HMAC-SHA1 MAC) that gpgsm,
//! old Windows, macOS and Android need.

use p12_keystore::error::Error as P12Error;
use p12_keystore::{
    EncryptionAlgorithm, KeyStore, KeyStoreEntry, MacAlgorithm, Pkcs12Archive, PrivateKeyChain,
};

use crate::error::CryptoError;
use crate::key::PrivateKey;

/// What a PKCS#12 file held.
#[derive(Debug)]
pub struct Pkcs12Contents {
    /// Private keys, normalised.
    pub keys: Vec<PrivateKey>,
    /// Every certificate, DER, in file order.
    pub certs: Vec<Vec<u8>>,
}

/// Which PKCS#12 encryption to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pkcs12Form {
    /// PBES2 with AES-256-CBC and PBKDF2-HMAC-SHA256, HMAC-SHA256 MAC (OpenSSL 3 default).
    #[default]
    Modern,
    /// 3DES with SHA-1 MAC, for gpgsm and old clients.
    Legacy,
}

fn map_read_error(e: P12Error) -> CryptoError {
    match e {
        // pkcs5 says "decryption failed" for a bad padding (wrong key); anything else it says
        // (an unsupported algorithm, bad parameters) is not about the password.
        P12Error::Pkcs5Error(m) if !m.contains("decryption failed") => CryptoError::BadPkcs12(m),
        P12Error::MacError(_) | P12Error::UnpadError | P12Error::Pkcs5Error(_) => {
            CryptoError::WrongPassword("PKCS#12 file")
        }
        P12Error::InvalidPrivateKey => {
            CryptoError::BadKey("the private key inside the PKCS#12 file does not decode".into())
        }
        other => CryptoError::BadPkcs12(other.to_string()),
    }
}

/// Reads a PKCS#12 file. Without a password, the empty password is tried (password-less files).
///
/// The empty password has two encodings (RFC 7292 B.1 says the BMPString with its two-byte
/// terminator, as OpenSSL and NSS write it; GnuTLS `--null-password` and others use no bytes at
/// all); both are tried. Such files, and BER files (NSS), are MAC-checked here and re-encoded as
/// DER without the MAC for `p12-keystore`, which knows only DER and the terminator form.
pub fn read(data: &[u8], password: Option<&str>) -> Result<Pkcs12Contents, CryptoError> {
    // The work the file asks for is bounded before any of it is done.
    crate::pkcs12_work::check(data)?;
    let pw = password.unwrap_or_default();
    let asked = |e: CryptoError| match (e, password) {
        (CryptoError::WrongPassword(_), None) => CryptoError::PasswordRequired("PKCS#12 file"),
        (e, _) => e,
    };
    let normalised;
    let outer_is_der = certmail_pki::ber::parse(data).map_or(true, |t| t.to_der() == data);
    let direct = outer_is_der && !pw.is_empty();
    let original = data;
    let data = if direct {
        data
    } else {
        normalised = crate::pkcs12_ber::normalise(data, pw).map_err(asked)?;
        normalised.as_slice()
    };
    let archive = match Pkcs12Archive::from_pkcs12(data, pw) {
        Ok(a) => a,
        // A PBES1 scheme the reader lacks (two-key 3DES, RC2-128): decrypted by normalise.
        Err(P12Error::UnsupportedEncryptionScheme) if direct => {
            let again = crate::pkcs12_ber::normalise(original, pw).map_err(asked)?;
            Pkcs12Archive::from_pkcs12(&again, pw)
                .map_err(map_read_error)
                .map_err(asked)?
        }
        Err(e) => return Err(asked(map_read_error(e))),
    };
    let keys = archive
        .keys
        .iter()
        .map(|bag| PrivateKey::from_pkcs8(bag.key.as_der()))
        .collect::<Result<Vec<_>, _>>()?;
    let certs = archive
        .certs
        .iter()
        .map(|bag| bag.cert.as_der().to_vec())
        .collect();
    Ok(Pkcs12Contents { keys, certs })
}

/// Writes `key` with its certificate and chain (leaf first, then issuers).
pub fn write(
    key: &PrivateKey,
    certs: &[Vec<u8>],
    friendly_name: &str,
    password: &str,
    form: Pkcs12Form,
) -> Result<Vec<u8>, CryptoError> {
    write_many(
        &[P12Entry {
            key: Some(key),
            certs,
            friendly_name,
        }],
        password,
        form,
    )
}

/// One entry of a PKCS#12 with several: a key with its certificate and chain (leaf first),
/// or a certificate alone (`key` `None`: only its first certificate is written).
#[derive(Debug, Clone, Copy)]
pub struct P12Entry<'a> {
    /// The private key, if any.
    pub key: Option<&'a PrivateKey>,
    /// The certificate, then its chain.
    pub certs: &'a [Vec<u8>],
    /// The friendly name (alias).
    pub friendly_name: &'a str,
}

/// Writes several keys and certificates into one PKCS#12.
pub fn write_many(
    entries: &[P12Entry<'_>],
    password: &str,
    form: Pkcs12Form,
) -> Result<Vec<u8>, CryptoError> {
    let w = |e: P12Error| CryptoError::Pkcs12Write(e.to_string());
    let mut ks = KeyStore::new();
    for (i, e) in entries.iter().enumerate() {
        let chain = e
            .certs
            .iter()
            .map(|c| p12_keystore::Certificate::from_der(c))
            .collect::<Result<Vec<_>, _>>()
            .map_err(w)?;
        // Aliases must be unique: a second entry of the same name gets a number.
        let alias = if entries[..i]
            .iter()
            .any(|x| x.friendly_name == e.friendly_name)
        {
            format!("{} ({})", e.friendly_name, i + 1)
        } else {
            e.friendly_name.to_owned()
        };
        match e.key {
            Some(key) => {
                let p12_key = p12_keystore::PrivateKey::from_der(key.pkcs8_der()).map_err(w)?;
                let local_key_id = hex::decode(key.key_id()).unwrap_or_default();
                ks.add_entry(
                    &alias,
                    KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(
                        local_key_id[..20.min(local_key_id.len())].to_vec(),
                        p12_key,
                        chain,
                    )),
                );
            }
            None => {
                if let Some(c) = chain.into_iter().next() {
                    ks.add_entry(&alias, KeyStoreEntry::Certificate(c));
                }
            }
        }
    }
    let writer = ks.writer(password);
    let writer = match form {
        // OpenSSL 3's defaults: PBKDF2 2048 iterations minimum; we use more.
        Pkcs12Form::Modern => writer
            .encryption_algorithm(EncryptionAlgorithm::PbeWithHmacSha256AndAes256)
            .mac_algorithm(MacAlgorithm::HmacSha256)
            .encryption_iterations(100_000)
            .mac_iterations(100_000),
        // The counts OpenSSL 1.x and Windows write; gpgsm 2.2 reads these.
        Pkcs12Form::Legacy => writer
            .encryption_algorithm(EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc)
            .mac_algorithm(MacAlgorithm::HmacSha1)
            .encryption_iterations(2048)
            .mac_iterations(2048),
    };
    writer.write().map_err(w)
}

/// True when `data` has the outer shape of a PFX (RFC 7292), DER or BER:
/// SEQUENCE { INTEGER 3, ContentInfo, ... }.
pub fn looks_like_pfx(data: &[u8]) -> bool {
    let (first, rest) = match data {
        [0x30, 0x80, rest @ ..] => (true, rest),
        [0x30, l, rest @ ..] if *l < 0x80 => (true, rest),
        [0x30, l, rest @ ..] if (0x81..=0x84).contains(l) => {
            (true, rest.get(usize::from(*l - 0x80)..).unwrap_or_default())
        }
        _ => (false, &[][..]),
    };
    first && rest.starts_with(&[0x02, 0x01, 0x03, 0x30])
}
