//! `certmail-bench smime`: the S/MIME engine in process against `openssl cms` on the same
//! files, with the crypto limits from `openssl speed`, and peak memory of the real CLI on a
//! large message (measured by the kernel: ru_maxrss of the child).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use certmail_crypto::{AwsLcOps, PrivateKey};
use certmail_pki::Certificate;
use certmail_smime::message::{self, UnwrapOptions};
use certmail_smime::{EncryptOptions, KeyPair, SignOptions};
use certmail_testkit::{LeafSpec, TestPki};

fn message_of(size: usize) -> Vec<u8> {
    let mut m = b"From: Alice <alice@example.com>\r\nTo: bob@example.com\r\nSubject: benchmark\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n".to_vec();
    let line = b"The quick brown fox jumps over the lazy dog, again and again and again.\r\n";
    while m.len() + line.len() <= size {
        m.extend_from_slice(line);
    }
    m
}

/// Runs `f` for at least `min_secs` (and at least `min_n` times); returns operations/s.
fn rate(min_n: usize, min_secs: f64, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut n = 0;
    while n < min_n || start.elapsed().as_secs_f64() < min_secs {
        f();
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn openssl_speed(args: &[&str]) -> Option<String> {
    let out = Command::new("openssl")
        .arg("speed")
        .args(args)
        .output()
        .ok()?;
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// RSA-2048 private-key operations per second (one core).
fn rsa_sign_limit() -> Option<f64> {
    let text = openssl_speed(&["-seconds", "3", "rsa2048"])?;
    let line = text.lines().rev().find(|l| l.starts_with("rsa 2048"))?;
    let f: Vec<&str> = line.split_whitespace().collect();
    f.get(f.len().checked_sub(2)?)?.parse().ok()
}

/// AES-256-CBC MiB/s on 16 KiB blocks (one core).
fn aes_cbc_limit() -> Option<f64> {
    let text = openssl_speed(&["-seconds", "3", "-evp", "aes-256-cbc"])?;
    let line = text
        .lines()
        .rev()
        .find(|l| l.starts_with("AES-256-CBC") || l.starts_with("aes-256-cbc"))?;
    let last = line.split_whitespace().last()?.trim_end_matches('k');
    Some(last.parse::<f64>().ok()? * 1000.0 / (1024.0 * 1024.0))
}

fn run_openssl(dir: &Path, args: &[&str]) -> Result<(), String> {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .map_err(|e| format!("openssl: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// openssl cms messages/s, one process per message (how a script or a Java appliance's
/// OpenSSL fallback runs it).
fn openssl_rate(dir: &Path, n: usize, args: &[&str]) -> Result<f64, String> {
    let start = Instant::now();
    for _ in 0..n {
        run_openssl(dir, args)?;
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

/// Peak resident memory (KiB) of one run of a command, as the kernel counts it.
fn peak_rss_kib(dir: &Path, argv: &[&str]) -> Result<u64, String> {
    let script = "import resource,subprocess,sys\nr=subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL,stderr=subprocess.PIPE)\nif r.returncode not in (0,1): sys.exit(r.stderr.decode()[:500])\nprint(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)";
    let out = Command::new("python3")
        .current_dir(dir)
        .arg("-c")
        .arg(script)
        .args(argv)
        .output()
        .map_err(|e| format!("python3: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{argv:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|e| format!("ru_maxrss: {e}"))
}

/// Signs, encrypts and decrypts the 10 KB message with Python `cryptography` (>= 45) in one
/// process, for the same-run comparison (CERTMAIL_PYTHON or python3).
fn python_rates(dir: &Path, seconds: f64) -> Result<String, String> {
    let script = r#"
import sys, time
import cryptography
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7
secs = float(sys.argv[1])
cert = x509.load_pem_x509_certificate(open("r0.pem", "rb").read())
key = serialization.load_pem_private_key(open("r0.key", "rb").read(), None)
data = open("m10k.eml", "rb").read()
O, E = pkcs7.PKCS7Options, serialization.Encoding
def rate(f):
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < secs:
        f(); n += 1
    return n / (time.perf_counter() - t0)
sign = rate(lambda: pkcs7.PKCS7SignatureBuilder().set_data(data).add_signer(cert, key, hashes.SHA256()).sign(E.SMIME, [O.DetachedSignature, O.Binary]))
from cryptography.hazmat.primitives.ciphers import algorithms
enc = lambda: pkcs7.PKCS7EnvelopeBuilder().set_data(data).add_recipient(cert).set_content_encryption_algorithm(algorithms.AES256).encrypt(E.DER, [O.Binary])
encrypt = rate(enc)
der = enc()
decrypt = rate(lambda: pkcs7.pkcs7_decrypt_der(der, cert, key, []))
print(f"cryptography {cryptography.__version__}: sign {sign:.0f}/s, encrypt to 1 recipient {encrypt:.0f}/s, decrypt {decrypt:.0f}/s")
"#;
    let py = std::env::var("CERTMAIL_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(py)
        .current_dir(dir)
        .arg("-c")
        .arg(script)
        .arg(format!("{seconds}"))
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(err.lines().last().unwrap_or("failed").to_owned());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

struct Party {
    kp: KeyPair,
    pem: String,
    key_pem: String,
}

fn party(pki: &TestPki, i: u64) -> Result<Party, String> {
    let issued = pki.leaf_rsa(&LeafSpec::email(&format!("user{i}@example.com"), 100 + i));
    let cert = Certificate::from_der(&issued.der, &AwsLcOps).map_err(|e| e.to_string())?;
    let key = PrivateKey::from_pkcs8(&issued.key_pkcs8).map_err(|e| e.to_string())?;
    Ok(Party {
        kp: KeyPair::new(cert, &key).map_err(|e| e.to_string())?,
        pem: issued.pem,
        key_pem: issued.key_pem,
    })
}

/// The benchmark.
pub fn smime_bench(
    small_seconds: f64,
    large_mib: &[usize],
    memory_mib: usize,
    certmail: Option<PathBuf>,
) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let d = dir.path();
    let pki = TestPki::with_key("Bench", certmail_testkit::CaKey::Rsa2048);
    let parties: Vec<Party> = (0..10).map(|i| party(&pki, i)).collect::<Result<_, _>>()?;
    let alice = &parties[0];
    std::fs::write(d.join("root.pem"), &pki.root.pem).map_err(|e| e.to_string())?;
    std::fs::write(d.join("inter.pem"), &pki.intermediate.pem).map_err(|e| e.to_string())?;
    for (i, p) in parties.iter().enumerate() {
        std::fs::write(d.join(format!("r{i}.pem")), &p.pem).map_err(|e| e.to_string())?;
        std::fs::write(d.join(format!("r{i}.key")), &p.key_pem).map_err(|e| e.to_string())?;
    }
    let certs1 = vec![alice.kp.cert.clone()];
    let certs10: Vec<Certificate> = parties.iter().map(|p| p.kp.cert.clone()).collect();
    let chain =
        vec![Certificate::from_der(&pki.intermediate.der, &AwsLcOps).map_err(|e| e.to_string())?];
    let roots = vec![Certificate::from_der(&pki.root.der, &AwsLcOps).map_err(|e| e.to_string())?];
    let sign_opts = SignOptions {
        signing_time: 1_790_000_000,
        ..SignOptions::default()
    };
    let enc_opts = EncryptOptions::default();
    let none = UnwrapOptions::default();

    let rsa_limit = rsa_sign_limit();
    let aes_limit = aes_cbc_limit();
    println!("machine limits (openssl speed, one core):");
    match rsa_limit {
        Some(v) => println!("  RSA-2048 private-key operations: {v:.0}/s"),
        None => println!("  RSA-2048: openssl speed not available"),
    }
    match aes_limit {
        Some(v) => println!("  AES-256-CBC (16 KiB blocks): {v:.0} MiB/s"),
        None => println!("  AES-256-CBC: openssl speed not available"),
    }

    // ---- 10 KB messages ----
    let msg = message_of(10 * 1024);
    std::fs::write(d.join("m10k.eml"), &msg).map_err(|e| e.to_string())?;
    let mut signed = Vec::new();
    message::sign_message(&msg, &alice.kp, &chain, &sign_opts, true, &mut signed)
        .map_err(|e| e.to_string())?;
    let mut enc1 = Vec::new();
    message::encrypt_message(&msg, &certs1, &enc_opts, &mut enc1).map_err(|e| e.to_string())?;
    std::fs::write(d.join("m10k-signed.eml"), &signed).map_err(|e| e.to_string())?;
    std::fs::write(d.join("m10k-enc.eml"), &enc1).map_err(|e| e.to_string())?;
    let t = small_seconds;
    let ours = [
        (
            "sign (RSA-2048, SHA-256, detached)",
            rate(50, t, || {
                let mut o = Vec::with_capacity(20_000);
                message::sign_message(&msg, &alice.kp, &chain, &sign_opts, true, &mut o)
                    .expect("sign");
            }),
            true,
        ),
        (
            "verify (signature + digest; no path validation)",
            rate(50, t, || {
                let u = message::unwrap(&signed, &[], &none).expect("verify");
                assert!(u.signers().all(|s| s.verified));
            }),
            false,
        ),
        (
            "verify + path validation (root, intermediate)",
            rate(50, t, || {
                let u = message::unwrap(&signed, &[], &none).expect("verify");
                let s = u.signers().next().expect("signer");
                let cert = s.check.cert.as_ref().expect("signer certificate");
                let opts = certmail_pki::verify::Options {
                    time: 1_790_000_000,
                    purpose: certmail_pki::verify::Purpose::SmimeSign,
                    ..Default::default()
                };
                assert!(
                    certmail_pki::verify::verify(cert, &chain, &roots, &opts, &AwsLcOps).is_ok()
                );
            }),
            false,
        ),
        (
            "encrypt to 1 recipient (AES-256-CBC)",
            rate(50, t, || {
                let mut o = Vec::with_capacity(20_000);
                message::encrypt_message(&msg, &certs1, &enc_opts, &mut o).expect("encrypt");
            }),
            false,
        ),
        (
            "encrypt to 10 recipients",
            rate(20, t, || {
                let mut o = Vec::with_capacity(30_000);
                message::encrypt_message(&msg, &certs10, &enc_opts, &mut o).expect("encrypt");
            }),
            false,
        ),
        (
            "decrypt (RSA-2048 PKCS#1 v1.5)",
            rate(50, t, || {
                let u = message::unwrap(&enc1, &[&alice.kp], &none).expect("decrypt");
                assert_eq!(u.layers.len(), 1);
            }),
            true,
        ),
    ];
    let n_ossl = 40;
    let theirs = [
        openssl_rate(
            d,
            n_ossl,
            &[
                "cms",
                "-sign",
                "-in",
                "m10k.eml",
                "-signer",
                "r0.pem",
                "-inkey",
                "r0.key",
                "-certfile",
                "inter.pem",
                "-out",
                "o.eml",
            ],
        )
        .ok(),
        openssl_rate(
            d,
            n_ossl,
            &[
                "cms",
                "-verify",
                "-noverify",
                // An explicit CA file: without one the openssl CLI loads the system store
                // (about 20 ms) before it starts.
                "-CAfile",
                "root.pem",
                "-in",
                "m10k-signed.eml",
                "-out",
                "/dev/null",
            ],
        )
        .ok(),
        openssl_rate(
            d,
            n_ossl,
            &[
                "cms",
                "-verify",
                "-CAfile",
                "root.pem",
                "-in",
                "m10k-signed.eml",
                "-out",
                "/dev/null",
            ],
        )
        .ok(),
        openssl_rate(
            d,
            n_ossl,
            &[
                "cms",
                "-encrypt",
                "-aes-256-cbc",
                "-in",
                "m10k.eml",
                "-out",
                "o.eml",
                "r0.pem",
            ],
        )
        .ok(),
        openssl_rate(
            d,
            n_ossl,
            &[
                "cms",
                "-encrypt",
                "-aes-256-cbc",
                "-in",
                "m10k.eml",
                "-out",
                "o.eml",
                "r0.pem",
                "r1.pem",
                "r2.pem",
                "r3.pem",
                "r4.pem",
                "r5.pem",
                "r6.pem",
                "r7.pem",
                "r8.pem",
                "r9.pem",
            ],
        )
        .ok(),
        openssl_rate(
            d,
            n_ossl,
            &[
                "cms",
                "-decrypt",
                "-in",
                "m10k-enc.eml",
                "-inkey",
                "r0.key",
                "-recip",
                "r0.pem",
                "-out",
                "/dev/null",
            ],
        )
        .ok(),
    ];
    println!("\n10 KB messages, in process (one core) vs openssl cms (one process per message):");
    println!("| operation | certmail msg/s | of RSA limit | openssl cms msg/s | ratio |");
    println!("|---|---|---|---|---|");
    for ((name, r, rsa), o) in ours.iter().zip(theirs) {
        let lim = match (rsa, rsa_limit) {
            (true, Some(l)) => format!("{:.2}", r / l),
            _ => "—".into(),
        };
        let (os, ratio) = match o {
            Some(o) => (format!("{o:.0}"), format!("{:.1}x", r / o)),
            None => ("—".into(), "—".into()),
        };
        println!("| {name} | {r:.0} | {lim} | {os} | {ratio} |");
    }

    // ---- the in-process Python cryptography peer, same files ----
    match python_rates(d, t) {
        Ok(r) => println!("\nPython cryptography in process, same 10 KB message: {r}"),
        Err(e) => println!("\nPython cryptography: not measured ({e})"),
    }

    // ---- large messages ----
    println!(
        "\nlarge messages, in process (one core), MiB/s of message, including MIME and base64:"
    );
    println!(
        "| size | operation | certmail MiB/s | of AES-256-CBC limit | openssl cms MiB/s (one process) |"
    );
    println!("|---|---|---|---|---|");
    for &mib in large_mib {
        let msg = message_of(mib * 1024 * 1024);
        let size = msg.len() as f64 / (1024.0 * 1024.0);
        let f = format!("m{mib}m.eml");
        std::fs::write(d.join(&f), &msg).map_err(|e| e.to_string())?;
        let mut enc = Vec::with_capacity(msg.len() * 14 / 10);
        message::encrypt_message(&msg, &certs1, &enc_opts, &mut enc).map_err(|e| e.to_string())?;
        let mut sig = Vec::with_capacity(msg.len() + 10_000);
        message::sign_message(&msg, &alice.kp, &chain, &sign_opts, true, &mut sig)
            .map_err(|e| e.to_string())?;
        let fe = format!("m{mib}m-enc.eml");
        let fs = format!("m{mib}m-signed.eml");
        std::fs::write(d.join(&fe), &enc).map_err(|e| e.to_string())?;
        std::fs::write(d.join(&fs), &sig).map_err(|e| e.to_string())?;
        let n = if mib >= 10 { 3 } else { 20 };
        // The output goes to a reused buffer, as it goes to a reused socket or pipe buffer in
        // the gateway and the CLI (a fresh 35 MB vector per message measures page faults).
        let mut sink: Vec<u8> = Vec::with_capacity(msg.len() * 14 / 10);
        let rows: [(&str, f64, bool, Vec<&str>); 4] = [
            (
                "encrypt",
                rate(n, 1.0, || {
                    sink.clear();
                    message::encrypt_message(&msg, &certs1, &enc_opts, &mut sink).expect("encrypt");
                }),
                true,
                vec![
                    "cms",
                    "-encrypt",
                    "-aes-256-cbc",
                    "-binary",
                    "-in",
                    &f,
                    "-out",
                    "o.eml",
                    "r0.pem",
                ],
            ),
            (
                "decrypt",
                rate(n, 1.0, || {
                    let u = message::unwrap(&enc, &[&alice.kp], &none).expect("decrypt");
                    assert!(u.message.len() >= msg.len() - 200);
                }),
                true,
                vec![
                    "cms",
                    "-decrypt",
                    "-in",
                    &fe,
                    "-inkey",
                    "r0.key",
                    "-recip",
                    "r0.pem",
                    "-out",
                    "/dev/null",
                ],
            ),
            (
                "sign",
                rate(n, 1.0, || {
                    sink.clear();
                    message::sign_message(&msg, &alice.kp, &chain, &sign_opts, true, &mut sink)
                        .expect("sign");
                }),
                false,
                vec![
                    "cms", "-sign", "-binary", "-in", &f, "-signer", "r0.pem", "-inkey", "r0.key",
                    "-out", "o.eml",
                ],
            ),
            (
                "verify",
                rate(n, 1.0, || {
                    let u = message::unwrap(&sig, &[], &none).expect("verify");
                    assert!(u.signers().all(|s| s.verified));
                }),
                false,
                vec![
                    "cms",
                    "-verify",
                    "-noverify",
                    // An explicit CA file: without one the openssl CLI loads the system store
                    // (about 20 ms) before it starts.
                    "-CAfile",
                    "root.pem",
                    "-in",
                    &fs,
                    "-out",
                    "/dev/null",
                ],
            ),
        ];
        for (name, r, aes, oargs) in rows {
            let mibs = r * size;
            let lim = match (aes, aes_limit) {
                (true, Some(l)) => format!("{:.2}", mibs / l),
                _ => "—".into(),
            };
            let o = openssl_rate(d, 2, &oargs)
                .map(|x| format!("{:.0}", x * size))
                .unwrap_or_else(|e| format!("error: {e}"));
            println!("| {mib} MiB | {name} | {mibs:.0} | {lim} | {o} |");
        }
    }

    // ---- peak memory of the CLI ----
    let Some(bin) = certmail else {
        println!("\n(peak memory: pass --certmail target/release/certmail)");
        return Ok(());
    };
    let bin = bin
        .canonicalize()
        .map_err(|e| format!("{}: {e}", bin.display()))?;
    let b = bin.to_str().ok_or("binary path")?;
    let msg = message_of(memory_mib * 1024 * 1024);
    let mb = msg.len() as f64 / (1024.0 * 1024.0);
    std::fs::write(d.join("big.eml"), &msg).map_err(|e| e.to_string())?;
    drop(msg);
    let sh = |cmd: &str| -> Result<(), String> {
        let st = Command::new("sh")
            .current_dir(d)
            .arg("-c")
            .arg(cmd)
            .status()
            .map_err(|e| e.to_string())?;
        if st.success() {
            Ok(())
        } else {
            Err(format!("{cmd}: {st}"))
        }
    };
    sh(&format!(
        "{b} smime encrypt --cert r0.pem big.eml > big-enc1.eml"
    ))?;
    sh(&format!(
        "{b} smime encrypt --cert r0.pem --cert r1.pem --cert r2.pem --cert r3.pem --cert r4.pem --cert r5.pem --cert r6.pem --cert r7.pem --cert r8.pem --cert r9.pem big.eml > big-enc10.eml"
    ))?;
    sh(&format!(
        "{b} smime sign --cert r0.pem --key r0.key big.eml > big-signed.eml"
    ))?;
    sh(&format!(
        "{b} smime sign --opaque --cert r0.pem --key r0.key big.eml > big-opaque.eml"
    ))?;
    let all10: Vec<String> = (0..10)
        .flat_map(|i| ["--cert".to_owned(), format!("r{i}.pem")])
        .collect();
    let mut enc10: Vec<&str> = vec![b, "smime", "encrypt"];
    enc10.extend(all10.iter().map(String::as_str));
    enc10.push("big.eml");
    let cases: Vec<(&str, Vec<&str>)> = vec![
        (
            "encrypt, 1 recipient",
            vec![b, "smime", "encrypt", "--cert", "r0.pem", "big.eml"],
        ),
        ("encrypt, 10 recipients", enc10),
        (
            "decrypt (1 recipient)",
            vec![
                b,
                "smime",
                "decrypt",
                "--cert",
                "r0.pem",
                "--key",
                "r0.key",
                "big-enc1.eml",
            ],
        ),
        (
            "decrypt (10 recipients)",
            vec![
                b,
                "smime",
                "decrypt",
                "--cert",
                "r9.pem",
                "--key",
                "r9.key",
                "big-enc10.eml",
            ],
        ),
        (
            "sign",
            vec![
                b, "smime", "sign", "--cert", "r0.pem", "--key", "r0.key", "big.eml",
            ],
        ),
        (
            "verify",
            vec![
                b,
                "smime",
                "verify",
                "--root",
                "root.pem",
                "--intermediate",
                "inter.pem",
                "big-signed.eml",
            ],
        ),
        (
            "sign, opaque",
            vec![
                b, "smime", "sign", "--opaque", "--cert", "r0.pem", "--key", "r0.key", "big.eml",
            ],
        ),
        (
            "verify, opaque (content unwrapped)",
            vec![
                b,
                "smime",
                "verify",
                "--root",
                "root.pem",
                "--intermediate",
                "inter.pem",
                "big-opaque.eml",
            ],
        ),
        (
            "openssl cms -encrypt, 1 recipient",
            vec![
                "openssl",
                "cms",
                "-encrypt",
                "-aes-256-cbc",
                "-binary",
                "-in",
                "big.eml",
                "r0.pem",
            ],
        ),
        (
            "openssl cms -decrypt",
            vec![
                "openssl",
                "cms",
                "-decrypt",
                "-in",
                "big-enc1.eml",
                "-inkey",
                "r0.key",
                "-recip",
                "r0.pem",
            ],
        ),
    ];
    println!("\npeak resident memory of one CLI run on a {mb:.0} MiB message (kernel ru_maxrss):");
    println!("| run | peak MiB | x message size |");
    println!("|---|---|---|");
    for (name, argv) in cases {
        match peak_rss_kib(d, &argv) {
            Ok(k) => {
                let m = k as f64 / 1024.0;
                println!("| {name} | {m:.0} | {:.2} |", m / mb);
            }
            Err(e) => println!("| {name} | error: {e} | |"),
        }
    }
    Ok(())
}
