//! A PKCS#12 file under a fixed password and under none: a wrong password or a corrupt
//! file is an error, never a panic.
#![no_main]

use certmail_crypto::pkcs12;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if pkcs12::looks_like_pfx(data) {
        let _ = pkcs12::read(data, Some("fuzz"));
        let _ = pkcs12::read(data, None);
    }
});
