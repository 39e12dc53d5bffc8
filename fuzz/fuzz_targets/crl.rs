//! A CRL (DER): parsing never panics; look-ups on what parses are total.
#![no_main]

use certmail_pki::crl::Crl;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = Crl::from_der(data) {
        let _ = c.entry(&[0x01]);
        let _ = c.entry(&[]);
        let _ = c.to_pem();
    }
});
