//! A private key file: PKCS#8 (plain or encrypted under a fixed password), PKCS#1, SEC1, as
//! DER or in PEM blocks.
#![no_main]

use certmail_crypto::PrivateKey;
use certmail_pki::pem;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = PrivateKey::from_der_any(data, Some(b"fuzz"));
    let _ = PrivateKey::from_der_any(data, None);
    if pem::looks_like_pem(data)
        && let Ok(blocks) = pem::parse_all(data)
    {
        for b in &blocks {
            let _ = PrivateKey::from_pem_block(b, Some(b"fuzz"));
        }
    }
});
