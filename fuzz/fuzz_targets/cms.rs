//! Raw CMS (DER or BER) as enveloped-data, authEnveloped-data and signed-data: wrapped into
//! an S/MIME entity and unwrapped with a fixed key; every outcome is a value or an error.
#![no_main]

use certmail_fuzz::key;
use certmail_smime::b64;
use certmail_smime::message::{self, UnwrapOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let b = b64::encode_to_vec(data);
    for t in ["enveloped-data", "authEnveloped-data", "signed-data"] {
        let mut m = format!(
            "From: a@example.com\r\nTo: fuzz@example.com\r\nMIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; smime-type={t}; name=smime.p7m\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        )
        .into_bytes();
        m.extend_from_slice(&b);
        if let Ok(u) = message::unwrap(&m, &[key()], &UnwrapOptions::default()) {
            let _ = message::report_headers(&u.layers);
        }
    }
    // A detached signature over a fixed body.
    let mut m = b"From: a@example.com\r\nMIME-Version: 1.0\r\nContent-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b\r\nContent-Type: application/pkcs7-signature\r\nContent-Transfer-Encoding: base64\r\n\r\n".to_vec();
    m.extend_from_slice(&b);
    m.extend_from_slice(b"\r\n--b--\r\n");
    let _ = message::unwrap(&m, &[key()], &UnwrapOptions::default());
});
