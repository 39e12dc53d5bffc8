//! In-process round trips and bad input for the S/MIME engine (the peers are in the CLI's
//! interop tests).

use certmail_crypto::{AwsLcOps, PrivateKey};
use certmail_pki::Certificate;
use certmail_pki::sig::Hash;
use certmail_smime::message::{self, Layer};
use certmail_smime::{Cipher, EncryptOptions, KeyPair, SignOptions, SmimeError, UnwrapOptions};
use certmail_testkit::{LeafSpec, TestPki};

struct Party {
    kp: KeyPair,
}

fn party(pki: &TestPki, email: &str, serial: u64, rsa: bool) -> Party {
    let spec = LeafSpec::email(email, serial);
    let issued = if rsa {
        pki.leaf_rsa(&spec)
    } else {
        pki.leaf(&spec)
    };
    let cert = Certificate::from_der(&issued.der, &AwsLcOps).expect("cert");
    let key = PrivateKey::from_pkcs8(&issued.key_pkcs8).expect("key");
    Party {
        kp: KeyPair::new(cert, &key).expect("pair"),
    }
}

const MSG: &[u8] = b"From: Alice <alice@example.com>\r\nTo: bob@example.com\r\nSubject: test\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nHello Bob,\r\n\r\nthis is \xc3\xa4 test.\r\n-- \r\nAlice\r\n";

fn sign(p: &Party, detached: bool, opts: &SignOptions) -> Vec<u8> {
    let mut out = Vec::new();
    message::sign_message(MSG, &p.kp, &[], opts, detached, &mut out).expect("sign");
    out
}

fn encrypt(msg: &[u8], to: &[&Party], opts: &EncryptOptions) -> Vec<u8> {
    let certs: Vec<Certificate> = to.iter().map(|p| p.kp.cert.clone()).collect();
    let mut out = Vec::new();
    message::encrypt_message(msg, &certs, opts, &mut out).expect("encrypt");
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn body_of(msg: &[u8]) -> Vec<u8> {
    let e = certmail_smime::mime::parse(msg).expect("parse");
    e.body.to_vec()
}

#[test]
fn sign_and_verify_rsa_and_ec_detached_and_opaque() {
    let pki = TestPki::new("smime-sign");
    for rsa in [true, false] {
        let alice = party(&pki, "alice@example.com", 10 + rsa as u64, rsa);
        for detached in [true, false] {
            for (hash, pss) in [
                (Hash::Sha256, false),
                (Hash::Sha512, false),
                (Hash::Sha384, true),
            ] {
                let opts = SignOptions {
                    hash,
                    pss,
                    signing_time: 1_790_000_000,
                    ..SignOptions::default()
                };
                let signed = sign(&alice, detached, &opts);
                let u = message::unwrap(&signed, &[], &UnwrapOptions::default()).expect("unwrap");
                assert_eq!(u.layers.len(), 1);
                let s: Vec<_> = u.signers().collect();
                assert_eq!(s.len(), 1);
                assert!(
                    s[0].verified,
                    "rsa={rsa} detached={detached} {:?}",
                    s[0].failure
                );
                assert_eq!(s[0].check.signing_time, Some(1_790_000_000));
                assert_eq!(s[0].from_match, Some(true));
                assert_eq!(s[0].emails, vec!["alice@example.com".to_owned()]);
                // The content survives: the body text is in the output.
                assert!(contains(&u.message, b"this is \xc3\xa4 t"));
                if detached {
                    // Tamper with one byte of the signed part: the digest must fail.
                    let mut bad = signed.clone();
                    let pos = bad.windows(5).position(|w| w == b"Hello").expect("hello");
                    bad[pos] = b'J';
                    let u = message::unwrap(&bad, &[], &UnwrapOptions::default()).expect("unwrap");
                    let s: Vec<_> = u.signers().collect();
                    assert!(!s[0].verified);
                    assert!(
                        s[0].failure.as_deref().unwrap_or("").contains("digest"),
                        "{:?}",
                        s[0].failure
                    );
                    // LF line ends (a message saved by a Unix tool) still verify.
                    let lf: Vec<u8> = signed.iter().copied().filter(|b| *b != b'\r').collect();
                    let u =
                        message::unwrap(&lf, &[], &UnwrapOptions::default()).expect("unwrap lf");
                    assert!(u.signers().all(|s| s.verified), "LF form");
                }
            }
        }
    }
}

#[test]
fn encrypt_and_decrypt_every_cipher_and_transport() {
    let pki = TestPki::new("smime-enc");
    let alice = party(&pki, "alice@example.com", 20, true);
    let bob = party(&pki, "bob@example.com", 21, true);
    let carol = party(&pki, "carol@example.com", 22, false);
    for cipher in [
        Cipher::Aes128Cbc,
        Cipher::Aes192Cbc,
        Cipher::Aes256Cbc,
        Cipher::Aes128Gcm,
        Cipher::Aes256Gcm,
    ] {
        for oaep in [false, true] {
            for by_key_id in [false, true] {
                let opts = EncryptOptions {
                    cipher,
                    oaep,
                    by_key_id,
                };
                let enc = encrypt(MSG, &[&alice, &bob, &carol], &opts);
                assert!(!enc.windows(5).any(|w| w == b"Hello"), "cleartext leaked");
                for who in [&alice, &bob, &carol] {
                    let u = message::unwrap(&enc, &[&who.kp], &UnwrapOptions::default())
                        .unwrap_or_else(|e| panic!("{cipher:?} oaep={oaep} ski={by_key_id}: {e}"));
                    assert!(contains(&u.message, b"this is \xc3\xa4 t"));
                    let Layer::Encrypted(d) = &u.layers[0] else {
                        panic!("not encrypted")
                    };
                    assert_eq!(d.recipients.len(), 3);
                    assert_eq!(d.decrypted_with, who.kp.cert.sha256);
                    // Other headers stay, content headers come from inside.
                    assert!(u.message.starts_with(b"From: Alice"));
                    assert!(
                        u.message
                            .windows(24)
                            .any(|w| w == b"Content-Transfer-Encodin")
                    );
                }
            }
        }
    }
}

#[test]
fn wrong_key_tampering_and_garbage_give_typed_errors() {
    let pki = TestPki::new("smime-bad");
    let alice = party(&pki, "alice@example.com", 30, true);
    let bob = party(&pki, "bob@example.com", 31, true);
    let enc = encrypt(MSG, &[&alice], &EncryptOptions::default());
    // Bob's key is not a recipient.
    match message::unwrap(&enc, &[&bob.kp], &UnwrapOptions::default()) {
        Err(SmimeError::NoKey { names, .. }) => assert!(names[0].contains("serial"), "{names:?}"),
        other => panic!("expected NoKey, got {other:?}"),
    }
    // Flip a ciphertext byte deep in the body: CBC padding or content garbage; the GCM
    // variant must fail authentication.
    for cipher in [
        Cipher::Aes256Cbc,
        Cipher::Aes256Gcm,
        Cipher::ChaCha20Poly1305,
    ] {
        let enc = encrypt(
            MSG,
            &[&alice],
            &EncryptOptions {
                cipher,
                ..Default::default()
            },
        );
        let body = body_of(&enc);
        let mut der = certmail_smime::b64::decode(&body).expect("b64");
        let n = der.len();
        der[n - 20] ^= 0x55;
        let hdr_end = enc.windows(4).position(|w| w == b"\r\n\r\n").expect("hdr") + 4;
        let mut bad = enc[..hdr_end].to_vec();
        bad.extend_from_slice(&certmail_smime::b64::encode_to_vec(&der));
        let r = message::unwrap(&bad, &[&alice.kp], &UnwrapOptions::default());
        if cipher.is_aead() {
            assert!(matches!(r, Err(SmimeError::Decrypt)), "{r:?}");
        } else {
            // CBC without integrity: either a padding error or changed content.
            if let Ok(u) = r {
                assert!(!u.message.windows(MSG.len() - 90).any(|w| MSG.ends_with(w)));
            }
        }
        // Truncation at every 97th byte: always a typed error, never a panic.
        for cut in (1..der.len()).step_by(97) {
            let mut t = enc[..hdr_end].to_vec();
            t.extend_from_slice(&certmail_smime::b64::encode_to_vec(&der[..cut]));
            let r = message::unwrap(&t, &[&alice.kp], &UnwrapOptions::default());
            assert!(r.is_err(), "truncated at {cut} accepted");
        }
    }
    // Corrupted PKCS#1 v1.5 key transport: RFC 3218 — the same error as bad content.
    let enc = encrypt(MSG, &[&alice], &EncryptOptions::default());
    let mut der = certmail_smime::b64::decode(&body_of(&enc)).expect("b64");
    // The encrypted key is the 256-byte OCTET STRING after the rsaEncryption AlgorithmIdentifier.
    let pos = der
        .windows(4)
        .position(|w| w == [0x04, 0x82, 0x01, 0x00])
        .expect("encrypted key");
    der[pos + 10] ^= 1;
    let hdr_end = enc.windows(4).position(|w| w == b"\r\n\r\n").expect("hdr") + 4;
    let mut bad = enc[..hdr_end].to_vec();
    bad.extend_from_slice(&certmail_smime::b64::encode_to_vec(&der));
    match message::unwrap(&bad, &[&alice.kp], &UnwrapOptions::default()) {
        Err(SmimeError::Decrypt) => {}
        other => panic!("expected the uniform decryption error, got {other:?}"),
    }
    // An unknown content cipher (the AES-256-CBC OID changed to an unassigned arc): a typed
    // "unsupported" error naming it.
    let aes256 = [
        0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a,
    ];
    let mut der = certmail_smime::b64::decode(&body_of(&enc)).expect("b64");
    let pos = der
        .windows(aes256.len())
        .position(|w| w == aes256)
        .expect("cipher OID");
    der[pos + 10] = 0x7f;
    let mut unknown = enc[..hdr_end].to_vec();
    unknown.extend_from_slice(&certmail_smime::b64::encode_to_vec(&der));
    match message::unwrap(&unknown, &[&alice.kp], &UnwrapOptions::default()) {
        Err(SmimeError::Unsupported(what)) => {
            assert!(what.contains("2.16.840.1.101.3.4.1.127"), "{what}")
        }
        other => panic!("expected Unsupported, got {other:?}"),
    }
    // An unknown digest in a signature: reported on the signer, not a crash.
    let signed = sign(&alice, false, &SignOptions::default());
    let sha256 = [
        0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
    ];
    let mut der = certmail_smime::b64::decode(&body_of(&signed)).expect("b64");
    for i in (0..der.len() - sha256.len()).rev() {
        if der[i..i + sha256.len()] == sha256 {
            der[i + 10] = 0x55;
        }
    }
    let h_end = signed
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("hdr")
        + 4;
    let mut bad = signed[..h_end].to_vec();
    bad.extend_from_slice(&certmail_smime::b64::encode_to_vec(&der));
    let u = message::unwrap(&bad, &[], &UnwrapOptions::default()).expect("unwrap");
    let s: Vec<_> = u.signers().collect();
    assert!(!s[0].verified);
    assert!(
        s[0].failure
            .as_deref()
            .unwrap_or("")
            .starts_with("unsupported: digest algorithm"),
        "{:?}",
        s[0].failure
    );
    assert!(
        s[0].unsupported,
        "an unknown digest is no verdict on the content"
    );
    // Garbage in the pkcs7-mime body.
    let junk = b"Content-Type: application/pkcs7-mime; smime-type=enveloped-data\r\nContent-Transfer-Encoding: base64\r\n\r\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\r\n";
    assert!(matches!(
        message::unwrap(junk, &[&alice.kp], &UnwrapOptions::default()),
        Err(SmimeError::Malformed(_))
    ));
    // The gateway's pass-on form keeps the original bytes and names the problem.
    let err = message::unwrap(junk, &[&alice.kp], &UnwrapOptions::default()).expect_err("junk");
    let passed = message::with_error_header(junk, &err);
    let text = String::from_utf8_lossy(&passed);
    assert!(
        text.starts_with("X-Certmail-Error: malformed CMS"),
        "{text}"
    );
    assert!(passed.ends_with(b"MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\r\n"));
    // A header bomb.
    let mut bomb = Vec::new();
    for i in 0..6000 {
        bomb.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
    }
    bomb.extend_from_slice(b"\r\nbody");
    assert!(matches!(
        message::unwrap(&bomb, &[], &UnwrapOptions::default()),
        Err(SmimeError::Limit(_))
    ));
}

#[test]
fn nested_layers_are_all_reported() {
    let pki = TestPki::new("smime-nest");
    let alice = party(&pki, "alice@example.com", 40, true);
    let bob = party(&pki, "bob@example.com", 41, false);
    let opts = SignOptions {
        signing_time: 1_790_000_000,
        ..SignOptions::default()
    };
    // Triple wrap: sign, encrypt, sign again.
    let inner = sign(&alice, true, &opts);
    let enc = encrypt(&inner, &[&bob], &EncryptOptions::default());
    let mut outer = Vec::new();
    message::sign_message(&enc, &alice.kp, &[], &opts, true, &mut outer).expect("outer sign");
    let u = message::unwrap(&outer, &[&bob.kp], &UnwrapOptions::default()).expect("unwrap");
    let kinds: Vec<&str> = u
        .layers
        .iter()
        .map(|l| match l {
            Layer::Signed { .. } => "signed",
            Layer::Encrypted(_) => "encrypted",
            Layer::Compressed { .. } => "compressed",
        })
        .collect();
    assert_eq!(kinds, ["signed", "encrypted", "signed"]);
    assert!(u.signers().all(|s| s.verified));
    let headers = message::report_headers(&u.layers);
    let names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
    assert!(names.contains(&"X-Certmail-Signer-Verified-0-1"));
    assert!(names.contains(&"X-Certmail-Encrypted-2"));
    assert!(names.contains(&"X-Certmail-Signer-Verified-0-3"));
    // Forged incoming report headers are dropped.
    let forged = [
        b"X-Certmail-Signer-Trusted-0-1: True\r\n".as_slice(),
        &outer,
    ]
    .concat();
    let out = message::add_headers(&forged, &headers).expect("headers");
    let text = String::from_utf8_lossy(&out);
    assert!(!text.contains("X-Certmail-Signer-Trusted-0-1: True"));
    // Opaque signed inside encryption, and depth bomb: 9 encryption layers.
    let mut m = MSG.to_vec();
    for _ in 0..9 {
        m = encrypt(&m, &[&bob], &EncryptOptions::default());
    }
    assert!(matches!(
        message::unwrap(&m, &[&bob.kp], &UnwrapOptions::default()),
        Err(SmimeError::Limit(_))
    ));
}

#[test]
fn in_place_and_streamed_envelopes_agree() {
    use certmail_smime::envelope;
    let pki = TestPki::new("smime-der3");
    let alice = party(&pki, "alice@example.com", 50, true);
    let carol = party(&pki, "carol@example.com", 51, false);
    let content = b"Content-Type: text/plain\r\n\r\nsecret\r\n".repeat(1000);
    let certs = vec![alice.kp.cert.clone(), carol.kp.cert.clone()];
    for cipher in [
        Cipher::Aes128Cbc,
        Cipher::Aes256Cbc,
        Cipher::Aes256Gcm,
        Cipher::ChaCha20Poly1305,
    ] {
        let opts = EncryptOptions {
            cipher,
            ..Default::default()
        };
        // The buffer API (in place).
        let der = envelope::encrypt(content.clone(), &certs, &opts).expect("encrypt");
        for who in [&alice, &carol] {
            let (plain, info) = envelope::decrypt_owned(der.concat(), &[&who.kp]).expect("decrypt");
            assert_eq!(plain, content, "{cipher:?}");
            assert_eq!(info.recipients.len(), 2);
        }
        // The streaming API writes the same structure as base64 (CBC only).
        if !cipher.is_aead() {
            let mut b64 = Vec::new();
            envelope::encrypt_cbc_stream(
                &[&content[..10], &content[10..]],
                &certs,
                &opts,
                &mut b64,
            )
            .expect("stream");
            let der = certmail_smime::b64::decode(&b64).expect("b64");
            let env = envelope::parse(&der).expect("parse");
            let (plain, _) = env.decrypt(&[&carol.kp]).expect("decrypt");
            assert_eq!(plain, content);
        } else {
            let mut sink = Vec::new();
            assert!(envelope::encrypt_cbc_stream(&[&content], &certs, &opts, &mut sink).is_err());
        }
    }
}

#[test]
fn signer_infos_and_carried_certificates_are_bounded() {
    use certmail_pki::ber::{self, Tlv, Value};
    let pki = TestPki::new("smime-caps");
    let alice = party(&pki, "alice@example.com", 77, false);
    // An opaque signed message; its SignerInfos SET repeated to 17 entries.
    let signed = sign(&alice, false, &SignOptions::default());
    let der = certmail_smime::b64::decode(&body_of(&signed)).expect("base64");
    let mut ci = ber::parse(&der).expect("ContentInfo");
    {
        let Value::Constructed(ci_children) = &mut ci.value else {
            panic!("ContentInfo")
        };
        let Value::Constructed(explicit) = &mut ci_children[1].value else {
            panic!("[0]")
        };
        let Value::Constructed(sd) = &mut explicit[0].value else {
            panic!("SignedData")
        };
        let last = sd.len() - 1;
        let Value::Constructed(sis) = &mut sd[last].value else {
            panic!("signerInfos")
        };
        let one: Tlv = sis[0].clone();
        sis.extend(std::iter::repeat_n(one, 16));
    }
    let forged = ci.to_der();
    let Err(e) = certmail_smime::signed::parse(&forged) else {
        panic!("17 SignerInfos accepted")
    };
    assert!(matches!(e, SmimeError::Limit(_)), "{e}");
    assert!(e.to_string().contains("17 signers"), "{e}");
}
