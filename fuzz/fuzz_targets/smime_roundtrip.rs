//! Structured: any body signed (detached or opaque) and encrypted to a fixed key comes back
//! from `unwrap` with a valid signature and the body intact (as canonical CRLF).
#![no_main]

use certmail_fuzz::key;
use certmail_smime::message::{self, UnwrapOptions};
use certmail_smime::{EncryptOptions, SignOptions, mime};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, body)) = data.split_first() else {
        return;
    };
    let mut msg = b"From: fuzz@example.com\r\nTo: fuzz@example.com\r\nSubject: round trip\r\nContent-Type: application/octet-stream\r\n\r\n".to_vec();
    msg.extend_from_slice(body);
    let k = key();
    let mut signed = Vec::new();
    let opts = SignOptions {
        signing_time: 1_800_000_000,
        ..SignOptions::default()
    };
    message::sign_message(&msg, k, &[], &opts, flags & 1 == 0, &mut signed).expect("sign");
    let mut enc = Vec::new();
    message::encrypt_message(
        &signed,
        std::slice::from_ref(&k.cert),
        &EncryptOptions::default(),
        &mut enc,
    )
    .expect("encrypt");
    let u =
        message::unwrap(&enc, &[k], &UnwrapOptions::default()).expect("our own message unwraps");
    let signers: Vec<_> = u.signers().collect();
    assert_eq!(signers.len(), 1);
    assert!(signers[0].verified, "{:?}", signers[0].failure);
    let canonical = mime::canonical(body);
    if !canonical.is_empty() {
        assert!(
            u.message
                .windows(canonical.len())
                .any(|w| w == &canonical[..]),
            "the body survives"
        );
    }
});
