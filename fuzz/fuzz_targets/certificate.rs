//! A certificate as DER, or PEM holding any blocks: parsing never panics, and what parses
//! re-encodes to PEM that parses to the same certificate.
#![no_main]

use certmail_crypto::AwsLcOps;
use certmail_pki::{Certificate, pem};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = Certificate::from_der(data, &AwsLcOps) {
        let again = pem::parse_all(c.to_pem().as_bytes()).expect("our PEM parses");
        assert_eq!(again.len(), 1);
        let c2 = Certificate::from_der(&again[0].der, &AwsLcOps).expect("our DER parses");
        assert_eq!(c.sha256, c2.sha256);
        let _ = c.display_name();
    }
    if pem::looks_like_pem(data)
        && let Ok(blocks) = pem::parse_all(data)
    {
        for b in blocks {
            let _ = Certificate::from_der(&b.der, &AwsLcOps);
        }
    }
});
