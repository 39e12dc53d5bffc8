//! Old mail through the gateway (issue 26): a valid signature by a 1,024-bit RSA key is
//! reported `weak-key` (verified, not trusted), never as changed content, and trusted once
//! the recipient's `min-rsa-bits` allows it; a 512-bit signer and an unsupported cipher say
//! `unsupported`, in the signer's report and in `X-Certmail-Error`.

mod common;

use std::process::Command;

use certmail_app::{ImportOptions, RootPolicy};
use certmail_store::Party;
use common::setup;

fn openssl(dir: &std::path::Path, args: &[&str]) -> bool {
    Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// An OpenSSL root with 1,024- and 512-bit leaves, and a message signed by each.
fn old_pki(dir: &std::path::Path) -> bool {
    let ok = openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "root.key",
            "-out",
            "root.pem",
            "-subj",
            "/CN=Old Root",
            "-days",
            "365",
            "-addext",
            "basicConstraints=critical,CA:true",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ],
    );
    if !ok {
        return false;
    }
    std::fs::write(
        dir.join("ee.ext"),
        "subjectAltName=email:old@partner.example\nkeyUsage=digitalSignature\nextendedKeyUsage=emailProtection\n",
    )
    .expect("ext");
    std::fs::write(
        dir.join("m.txt"),
        "From: old@partner.example\r\nTo: alice@example.com\r\nSubject: old\r\nContent-Type: text/plain\r\n\r\nold but valid\r\n",
    )
    .expect("msg");
    for bits in ["1024", "512"] {
        let (key, csr, pem) = (
            format!("{bits}.key"),
            format!("{bits}.csr"),
            format!("{bits}.pem"),
        );
        let ok = openssl(
            dir,
            &[
                "req",
                "-newkey",
                &format!("rsa:{bits}"),
                "-nodes",
                "-keyout",
                &key,
                "-out",
                &csr,
                "-subj",
                "/CN=old",
            ],
        ) && openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "root.pem",
                "-CAkey",
                "root.key",
                "-CAcreateserial",
                "-out",
                &pem,
                "-days",
                "365",
                "-extfile",
                "ee.ext",
            ],
        ) && openssl(
            dir,
            &[
                "cms",
                "-sign",
                "-in",
                "m.txt",
                "-signer",
                &pem,
                "-inkey",
                &key,
                "-out",
                &format!("{bits}.eml"),
            ],
        );
        assert!(ok, "openssl {bits}");
    }
    true
}

#[tokio::test]
async fn weak_and_unsupported_signers_get_their_own_verdicts() {
    let dir = tempfile::tempdir().expect("tmp");
    if !old_pki(dir.path()) {
        eprintln!("skipped: no openssl");
        return;
    }
    let (h, p) = setup().await;
    h.app
        .import_bytes(
            &std::fs::read(dir.path().join("root.pem")).expect("root"),
            &ImportOptions {
                password: None,
                roots: RootPolicy::TrustSelfIssued,
            },
        )
        .await
        .expect("root import");
    let send = |file: &str| {
        let data = std::fs::read(dir.path().join(file)).expect("eml");
        // openssl writes the headers of m.txt inside; add the envelope's view on top.
        let mut msg =
            b"From: old@partner.example\r\nTo: alice@example.com\r\nSubject: old\r\n".to_vec();
        msg.extend_from_slice(&data);
        msg
    };
    let mut c = h.client().await;
    c.cmd("EHLO x", "250").await;
    c.mail(
        "old@partner.example",
        &["alice@example.com"],
        &send("1024.eml"),
        "250",
    )
    .await;
    let t = h.sink.messages()[0].text().replace("\r\n ", " ");
    assert!(t.contains("X-Certmail-Signer-Verified-0-1: True"), "{t}");
    assert!(t.contains("X-Certmail-Signer-Trusted-0-1: False"), "{t}");
    assert!(t.contains("weak-key: "), "{t}");
    assert!(t.contains("1024 bits"), "{t}");
    assert!(!t.contains("changed"), "never called changed content: {t}");
    h.sink.clear();

    // The recipient's domain accepts 1,024-bit keys: the same mail is trusted.
    h.app
        .set_setting(&Party::Domain("example.com".into()), "min-rsa-bits", "1024")
        .await
        .expect("min-rsa-bits");
    c.mail(
        "old@partner.example",
        &["alice@example.com"],
        &send("1024.eml"),
        "250",
    )
    .await;
    let t = h.sink.messages()[0].text().replace("\r\n ", " ");
    assert!(t.contains("X-Certmail-Signer-Trusted-0-1: True"), "{t}");
    h.sink.clear();

    // 512 bits: unsupported, whatever the minimum.
    c.mail(
        "old@partner.example",
        &["alice@example.com"],
        &send("512.eml"),
        "250",
    )
    .await;
    let t = h.sink.messages()[0].text().replace("\r\n ", " ");
    assert!(t.contains("X-Certmail-Signer-Verified-0-1: False"), "{t}");
    assert!(
        t.contains("X-Certmail-Signer-Verified-Info-0-1: unsupported: RSA key of 512 bits"),
        "{t}"
    );
    assert!(!t.contains("changed"), "{t}");
    h.sink.clear();

    // An encrypted layer with a cipher certmail does not read (Camellia, made by OpenSSL to
    // alice's certificate): X-Certmail-Error says unsupported.
    std::fs::write(dir.path().join("alice.der"), &common::cert(&p.alice).der).expect("der");
    assert!(openssl(
        dir.path(),
        &[
            "x509",
            "-inform",
            "DER",
            "-in",
            "alice.der",
            "-out",
            "alice.pem"
        ]
    ));
    assert!(openssl(
        dir.path(),
        &[
            "cms",
            "-encrypt",
            "-camellia256",
            "-in",
            "m.txt",
            "-out",
            "camellia.eml",
            "alice.pem"
        ]
    ));
    c.mail(
        "old@partner.example",
        &["alice@example.com"],
        &send("camellia.eml"),
        "250",
    )
    .await;
    let t = h.sink.messages()[0].text().replace("\r\n ", " ");
    assert!(
        t.contains("X-Certmail-Error: unsupported: content encryption algorithm"),
        "{t}"
    );
}
