//! A PKCS#7 / CMS certs-only bundle (DER or BER).
#![no_main]

use certmail_pki::pkcs7;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = pkcs7::looks_like_pkcs7(data);
    if let Ok(b) = pkcs7::bundle(data) {
        for der in &b.certificates {
            let _ = certmail_pki::Certificate::from_der(der, &certmail_crypto::AwsLcOps);
        }
        for der in &b.crls {
            let _ = certmail_pki::crl::Crl::from_der(der);
        }
    }
});
