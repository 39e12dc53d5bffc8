//! The S/MIME interoperability matrix: what `certmail smime` writes is read by OpenSSL
//! (`openssl cms`), NSS (`cmsutil`, Thunderbird's library), GnuPG (`gpgsm`) and Python
//! `cryptography`; what they write is read by `certmail smime`. Every cell runs the real tools.
//!
//! The test renders the matrix as Markdown and checks that README.md carries exactly that
//! table (between the `smime-matrix` markers): run with `CERTMAIL_UPDATE_MATRIX=1` to rewrite
//! it. A cell a peer cannot do by design is marked with the reason and not run. A tool that is
//! not installed fails the test when `CI` is set.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use certmail_smime::{b64, mime};

mod common;
use common::{ci, have, text};

const PEERS: [&str; 4] = [
    "OpenSSL 3.0",
    "NSS cmsutil",
    "gpgsm 2.2",
    "Python cryptography",
];

enum Cell {
    Pass,
    Fail(String),
    NotApplicable(&'static str),
}

#[derive(Default)]
struct Matrix {
    /// (table, row, per-peer cells)
    rows: Vec<(&'static str, String, Vec<Cell>)>,
}

impl Matrix {
    fn row(&mut self, table: &'static str, row: &str, cells: Vec<Cell>) {
        self.rows.push((table, row.to_owned(), cells));
    }

    fn markdown(&self) -> String {
        let mut out = String::new();
        for table in ["certmail writes, peer reads", "peer writes, certmail reads"] {
            out.push_str(&format!(
                "\n**{table}**\n\n| case | {} |\n|---|{}\n",
                PEERS.join(" | "),
                "---|".repeat(PEERS.len())
            ));
            for (t, row, cells) in &self.rows {
                if *t != table {
                    continue;
                }
                let cells: Vec<String> = cells
                    .iter()
                    .map(|c| match c {
                        Cell::Pass => "pass".to_owned(),
                        Cell::Fail(_) => "**FAIL**".to_owned(),
                        Cell::NotApplicable(why) => format!("— ({why})"),
                    })
                    .collect();
                out.push_str(&format!("| {row} | {} |\n", cells.join(" | ")));
            }
        }
        out
    }

    fn failures(&self) -> Vec<String> {
        let mut f = Vec::new();
        for (t, row, cells) in &self.rows {
            for (i, c) in cells.iter().enumerate() {
                if let Cell::Fail(why) = c {
                    f.push(format!("[{t}] {row} / {}: {why}", PEERS[i]));
                }
            }
        }
        f
    }
}

/// Runs a command in `dir` with optional stdin; Ok(output) when it exits 0.
fn sh(
    dir: &Path,
    prog: &str,
    args: &[&str],
    stdin: Option<&[u8]>,
    env: &[(&str, &Path)],
) -> Result<Output, String> {
    let mut cmd = Command::new(prog);
    cmd.current_dir(dir)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {prog}: {e}"))?;
    if let Some(input) = stdin {
        let _ = child.stdin.take().expect("stdin").write_all(input);
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(format!(
            "{prog} {} exited {}: {}{}",
            args.join(" "),
            out.status,
            text(&out.stdout).chars().take(400).collect::<String>(),
            text(&out.stderr).chars().take(800).collect::<String>()
        ))
    }
}

struct Fixture {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    nss: String,
    gnupg: PathBuf,
    python: Option<(String, (u32, u32))>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", &self.gnupg)
            .args(["--kill", "all"])
            .output();
    }
}

impl Fixture {
    fn path(&self, f: &str) -> PathBuf {
        self.dir.join(f)
    }
    fn read(&self, f: &str) -> Vec<u8> {
        fs::read(self.path(f)).unwrap_or_default()
    }
    fn write(&self, f: &str, data: &[u8]) {
        fs::write(self.path(f), data).expect("write fixture file");
    }
    fn run(&self, prog: &str, args: &[&str]) -> Result<Output, String> {
        sh(&self.dir, prog, args, None, &[])
    }
    fn certmail(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_certmail"))
            .current_dir(&self.dir)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run certmail")
    }
    fn certmail_ok(&self, args: &[&str]) -> Result<Vec<u8>, String> {
        let o = self.certmail(args);
        if o.status.success() {
            Ok(o.stdout)
        } else {
            Err(format!(
                "certmail {} exited {}: {}",
                args.join(" "),
                o.status,
                text(&o.stderr)
            ))
        }
    }
    fn gpgsm(&self, args: &[&str], stdin: Option<&[u8]>) -> Result<Output, String> {
        let mut a = vec!["--batch", "--disable-dirmngr", "--status-fd", "1"];
        a.extend_from_slice(args);
        sh(&self.dir, "gpgsm", &a, stdin, &[("GNUPGHOME", &self.gnupg)])
    }
    fn cmsutil(&self, args: &[&str]) -> Result<Output, String> {
        let mut a = vec![args[0], "-d", self.nss.as_str()];
        a.extend_from_slice(&args[1..]);
        self.run("cmsutil", &a)
    }
    fn python(&self, args: &[&str]) -> Result<Output, String> {
        let (py, _) = self.python.as_ref().ok_or("no python with cryptography")?;
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/py_smime.py");
        let mut a = vec![script.to_str().expect("utf-8 path")];
        a.extend_from_slice(args);
        self.run(py, &a)
    }
    /// The S/MIME 4.0 peer (`tests/peers/cms40.py`: CMS by hand over `cryptography`).
    fn cms40(&self, args: &[&str]) -> Result<Output, String> {
        let (py, _) = self.python.as_ref().ok_or("no python with cryptography")?;
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/cms40.py");
        let mut a = vec![script.to_str().expect("utf-8 path")];
        a.extend_from_slice(args);
        self.run(py, &a)
    }
    fn py_at_least(&self, v: (u32, u32)) -> bool {
        self.python.as_ref().is_some_and(|(_, have)| *have >= v)
    }
}

fn python() -> Option<(String, (u32, u32))> {
    let mut candidates = vec![];
    if let Ok(p) = std::env::var("CERTMAIL_PYTHON") {
        candidates.push(p);
    }
    candidates.extend(["python3".to_owned(), "/usr/bin/python3".to_owned()]);
    for py in candidates {
        if let Ok(o) = Command::new(&py)
            .args(["-c", "import cryptography; print(cryptography.__version__)"])
            .output()
            && o.status.success()
        {
            let v = text(&o.stdout);
            let mut it = v.trim().split('.').map(|x| x.parse::<u32>().unwrap_or(0));
            return Some((py, (it.next().unwrap_or(0), it.next().unwrap_or(0))));
        }
    }
    if ci() {
        panic!("no python3 with the cryptography package; CI is set");
    }
    None
}

fn setup() -> Option<Fixture> {
    for t in [
        "openssl",
        "cmsutil",
        "certutil",
        "pk12util",
        "gpgsm",
        "gpgconf",
        "gpg-agent",
    ] {
        if !have(t) {
            return None;
        }
    }
    let tmp = tempfile::TempDir::new().expect("tmp");
    let dir = tmp.path().to_path_buf();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/mkpki.sh");
    sh(
        &dir,
        "sh",
        &[script.to_str().expect("path"), "."],
        None,
        &[],
    )
    .expect("test PKI");
    // NSS database: the root trusted for e-mail, both key pairs imported.
    let nss_dir = dir.join("nss");
    fs::create_dir(&nss_dir).expect("nss dir");
    let nss = format!("sql:{}", nss_dir.display());
    sh(
        &dir,
        "certutil",
        &["-N", "-d", &nss, "--empty-password"],
        None,
        &[],
    )
    .expect("certutil -N");
    sh(
        &dir,
        "certutil",
        &[
            "-A", "-d", &nss, "-n", "root", "-t", "C,C,C", "-i", "root.pem",
        ],
        None,
        &[],
    )
    .expect("certutil -A");
    for p12 in ["alice.p12", "alice-ec.p12"] {
        sh(
            &dir,
            "pk12util",
            &["-i", p12, "-d", &nss, "-W", "pw", "-K", ""],
            None,
            &[],
        )
        .expect("pk12util");
    }
    // GnuPG home: root trusted, CRL checks off (offline), Alice's RSA key imported.
    let gnupg = dir.join("gnupg");
    fs::create_dir(&gnupg).expect("gnupg");
    fs::set_permissions(&gnupg, fs::Permissions::from_mode(0o700)).expect("chmod");
    fs::write(gnupg.join("gpg-agent.conf"), "allow-loopback-pinentry\n").expect("agent conf");
    fs::write(
        gnupg.join("gpgsm.conf"),
        "disable-crl-checks\ndisable-dirmngr\npinentry-mode loopback\n",
    )
    .expect("gpgsm conf");
    let fpr = sh(
        &dir,
        "openssl",
        &["x509", "-in", "root.pem", "-noout", "-fingerprint", "-sha1"],
        None,
        &[],
    )
    .expect("fingerprint");
    let fpr = text(&fpr.stdout);
    let fpr = fpr.trim().split('=').nth(1).expect("fingerprint value");
    fs::write(gnupg.join("trustlist.txt"), format!("{fpr} S\n")).expect("trustlist");
    let _ = Command::new("gpgconf")
        .env("GNUPGHOME", &gnupg)
        .args(["--launch", "gpg-agent"])
        .output();
    let f = Fixture {
        _tmp: tmp,
        dir,
        nss,
        gnupg,
        python: python(),
    };
    f.gpgsm(&["--import", "root.pem", "alice.pem", "alice-ec.pem"], None)
        .expect("gpgsm cert import");
    let mut imported = Err(String::new());
    for _ in 0..3 {
        imported = f.gpgsm(
            &["--passphrase-fd", "0", "--import", "alice-legacy.p12"],
            Some(b"pw\n"),
        );
        if imported.is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    imported.expect("gpgsm p12 import");
    Some(f)
}

/// Splits an S/MIME message: multipart/signed -> (signed part bytes, signature DER); otherwise
/// (empty, DER of the pkcs7-mime body).
fn smime_parts(eml: &[u8]) -> Result<(Vec<u8>, Vec<u8>), String> {
    let e = mime::parse(eml).map_err(|e| e.to_string())?;
    let ct = e.content_type();
    if ct.mime == "multipart/signed" {
        let parts = mime::multipart_parts(e.body, ct.param("boundary").unwrap_or_default())
            .map_err(|e| e.to_string())?;
        let sig = mime::parse(parts[1]).map_err(|e| e.to_string())?;
        Ok((
            mime::canonical(parts[0]).into_owned(),
            sig.decoded_body().map_err(|e| e.to_string())?.into_owned(),
        ))
    } else {
        Ok((
            Vec::new(),
            e.decoded_body().map_err(|e| e.to_string())?.into_owned(),
        ))
    }
}

/// Wraps DER CMS as S/MIME for certmail.
fn p7m(der: &[u8], smime_type: &str) -> Vec<u8> {
    let mut m = format!("From: alice@example.com\r\nSubject: interop\r\nMIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; smime-type={smime_type}; name=smime.p7m\r\nContent-Transfer-Encoding: base64\r\n\r\n").into_bytes();
    m.extend_from_slice(&b64::encode_to_vec(der));
    m
}

/// A multipart/signed from a content part and a detached signature.
fn multipart_signed(from: &str, content: &[u8], sig: &[u8]) -> Vec<u8> {
    let mut m = format!("From: {from}\r\n").into_bytes();
    m.extend_from_slice(b"MIME-Version: 1.0\r\nContent-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=\"b1\"\r\n\r\n--b1\r\n");
    m.extend_from_slice(content);
    m.extend_from_slice(b"\r\n--b1\r\nContent-Type: application/pkcs7-signature; name=smime.p7s\r\nContent-Transfer-Encoding: base64\r\n\r\n");
    m.extend_from_slice(&b64::encode_to_vec(sig));
    m.extend_from_slice(b"--b1--\r\n");
    m
}

fn expect_body(out: &[u8]) -> Result<(), String> {
    if out.windows(15).any(|w| w == b"this is a test.") {
        Ok(())
    } else {
        Err(format!(
            "plaintext not found in output: {}",
            text(&out[..out.len().min(300)])
        ))
    }
}

fn cell(f: impl FnOnce() -> Result<(), String>) -> Cell {
    match f() {
        Ok(()) => Cell::Pass,
        Err(e) => Cell::Fail(e),
    }
}

/// A message with the MIME structures signatures break on (LF here; written with CRLF).
const RICH: &str = "Content-Type: multipart/mixed; boundary=\"outer\"

This is a multi-part message in MIME format.
--outer
Content-Type: multipart/alternative;
 boundary=\"inner\"

--inner
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

R=C3=A9sum=C3=A9: this is a test. A long line with a soft break that goes on=
 and on =3D done.
--inner
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: 8bit

<p>R\u{e9}sum\u{e9}: this is a test.</p>
--inner--

--outer
Content-Type: application/octet-stream; name=\"data.bin\"
Content-Transfer-Encoding: base64
Content-Disposition: attachment;
\tfilename=\"data.bin\"

AAECAwQFBgcICQ==
--outer--
";

const NO_GPGSM_PSS: &str = "gpgsm 2.2 cannot verify RSA-PSS";
const NO_GCM: &str = "no AuthEnvelopedData support";
const NO_OAEP: &str = "no RSA-OAEP support";
const NO_ECDH: &str = "no ECDH recipients";
const NO_PY_VERIFY: &str = "cryptography has no verify API";
const NO_40: &str = "not in this version";

#[test]
fn smime_interop_matrix() {
    let Some(f) = setup() else { return };
    let mut m = Matrix::default();
    let w = "certmail writes, peer reads";
    let r = "peer writes, certmail reads";
    let msg = f.read("msg.eml");

    // ---- certmail writes ----
    let sign_cases: [(&str, &[&str], &str, &str); 5] = [
        (
            "signed, detached (multipart/signed), RSA SHA-256",
            &["--cert", "alice.pem", "--key", "alice.key"],
            "det",
            "rsa",
        ),
        (
            "signed, opaque (signed-data), RSA SHA-512",
            &[
                "--cert",
                "alice.pem",
                "--key",
                "alice.key",
                "--opaque",
                "--digest",
                "sha512",
            ],
            "opq",
            "rsa",
        ),
        (
            "signed, detached, RSA-PSS SHA-256",
            &["--cert", "alice.pem", "--key", "alice.key", "--pss"],
            "det",
            "pss",
        ),
        (
            "signed, detached, ECDSA P-256",
            &["--cert", "alice-ec.pem", "--key", "alice-ec.key"],
            "det",
            "ec",
        ),
        (
            "signed, opaque, ECDSA P-256",
            &[
                "--cert",
                "alice-ec.pem",
                "--key",
                "alice-ec.key",
                "--opaque",
            ],
            "opq",
            "ec",
        ),
    ];
    for (row, args, kind, alg) in sign_cases {
        let mut a = vec!["smime", "sign"];
        a.extend_from_slice(args);
        a.push("msg.eml");
        let signed = f.certmail_ok(&a).expect("certmail sign");
        f.write("cm-signed.eml", &signed);
        let (part, der) = smime_parts(&signed).expect("split");
        f.write("cm-part.bin", &part);
        f.write("cm-sig.der", &der);
        let openssl = cell(|| {
            f.run(
                "openssl",
                &[
                    "cms",
                    "-verify",
                    "-in",
                    "cm-signed.eml",
                    "-CAfile",
                    "root.pem",
                    "-out",
                    "ossl-out.txt",
                ],
            )?;
            expect_body(&f.read("ossl-out.txt"))
        });
        let nss = cell(|| {
            if kind == "det" {
                f.cmsutil(&[
                    "-D",
                    "-i",
                    "cm-sig.der",
                    "-c",
                    "cm-part.bin",
                    "-o",
                    "/dev/null",
                ])
                .map(|_| ())
            } else {
                f.cmsutil(&["-D", "-i", "cm-sig.der", "-o", "nss-out.txt"])?;
                expect_body(&f.read("nss-out.txt"))
            }
        });
        let gpgsm = if alg == "pss" {
            Cell::NotApplicable(NO_GPGSM_PSS)
        } else {
            cell(|| {
                let o = if kind == "det" {
                    f.gpgsm(&["--verify", "cm-sig.der", "cm-part.bin"], None)?
                } else {
                    f.gpgsm(&["-o", "gpgsm-out.txt", "--verify", "cm-sig.der"], None)?
                };
                if text(&o.stdout).contains("TRUST_FULLY") {
                    Ok(())
                } else {
                    Err(format!("no TRUST_FULLY: {}", text(&o.stdout)))
                }
            })
        };
        m.row(
            w,
            row,
            vec![openssl, nss, gpgsm, Cell::NotApplicable(NO_PY_VERIFY)],
        );
    }
    // Tampered: every peer must reject a changed signed part.
    {
        let signed = f
            .certmail_ok(&[
                "smime",
                "sign",
                "--cert",
                "alice.pem",
                "--key",
                "alice.key",
                "msg.eml",
            ])
            .expect("sign");
        let (part, der) = smime_parts(&signed).expect("split");
        let bad_part: Vec<u8> = text(&part).replace("Hello Bob", "Hello Eve").into_bytes();
        f.write("bad-part.bin", &bad_part);
        f.write("bad-sig.der", &der);
        let bad_eml = text(&signed).replace("Hello Bob", "Hello Eve");
        f.write("bad.eml", bad_eml.as_bytes());
        let must_fail = |r: Result<Output, String>, what: &str| match r {
            Ok(o) if what == "gpgsm" && !text(&o.stdout).contains("GOODSIG") => Ok(()),
            Ok(_) => Err(format!("{what} accepted a tampered message")),
            Err(_) => Ok(()),
        };
        m.row(
            w,
            "signed, content changed in transit: rejected",
            vec![
                cell(|| {
                    must_fail(
                        f.run(
                            "openssl",
                            &[
                                "cms",
                                "-verify",
                                "-in",
                                "bad.eml",
                                "-CAfile",
                                "root.pem",
                                "-out",
                                "/dev/null",
                            ],
                        ),
                        "openssl",
                    )
                }),
                cell(|| {
                    must_fail(
                        f.cmsutil(&[
                            "-D",
                            "-i",
                            "bad-sig.der",
                            "-c",
                            "bad-part.bin",
                            "-o",
                            "/dev/null",
                        ]),
                        "cmsutil",
                    )
                }),
                cell(|| {
                    must_fail(
                        f.gpgsm(&["--verify", "bad-sig.der", "bad-part.bin"], None),
                        "gpgsm",
                    )
                }),
                Cell::NotApplicable(NO_PY_VERIFY),
            ],
        );
    }
    // MIME fidelity: nested multiparts, quoted-printable, 8bit and base64 parts, folded headers.
    f.write("rich.eml", RICH.replace('\n', "\r\n").as_bytes());
    {
        let signed = f
            .certmail_ok(&[
                "smime",
                "sign",
                "--cert",
                "alice.pem",
                "--key",
                "alice.key",
                "rich.eml",
            ])
            .expect("sign rich");
        f.write("cm-rich.eml", &signed);
        let (part, der) = smime_parts(&signed).expect("split");
        f.write("cm-rich-part.bin", &part);
        f.write("cm-rich-sig.der", &der);
        m.row(
            w,
            "signed, nested multipart (quoted-printable, 8bit, base64 parts, folded headers)",
            vec![
                cell(|| {
                    f.run(
                        "openssl",
                        &[
                            "cms",
                            "-verify",
                            "-in",
                            "cm-rich.eml",
                            "-CAfile",
                            "root.pem",
                            "-out",
                            "ossl-rich.txt",
                        ],
                    )?;
                    let got = f.read("ossl-rich.txt");
                    if got.windows(16).any(|w| w == b"AAECAwQFBgcICQ==") {
                        Ok(())
                    } else {
                        Err("attachment missing".into())
                    }
                }),
                cell(|| {
                    f.cmsutil(&[
                        "-D",
                        "-i",
                        "cm-rich-sig.der",
                        "-c",
                        "cm-rich-part.bin",
                        "-o",
                        "/dev/null",
                    ])
                    .map(|_| ())
                }),
                cell(|| {
                    let o = f.gpgsm(&["--verify", "cm-rich-sig.der", "cm-rich-part.bin"], None)?;
                    if text(&o.stdout).contains("TRUST_FULLY") {
                        Ok(())
                    } else {
                        Err(text(&o.stdout))
                    }
                }),
                Cell::NotApplicable(NO_PY_VERIFY),
            ],
        );
    }
    let enc_cases: [(&str, &[&str], &str); 6] = [
        (
            "encrypted, AES-256-CBC, RSA PKCS#1 v1.5 (default)",
            &["--cert", "alice.pem"],
            "rsa256",
        ),
        (
            "encrypted, AES-128-CBC, RSA PKCS#1 v1.5",
            &["--cert", "alice.pem", "--cipher", "aes128"],
            "rsa128",
        ),
        (
            "encrypted, recipient by subject key identifier",
            &["--cert", "alice.pem", "--key-id"],
            "ski",
        ),
        (
            "auth-enveloped, AES-256-GCM",
            &["--cert", "alice.pem", "--cipher", "aes256-gcm"],
            "gcm",
        ),
        (
            "encrypted, RSAES-OAEP SHA-256",
            &["--cert", "alice.pem", "--oaep"],
            "oaep",
        ),
        (
            "encrypted, ECDH P-256 (RFC 5753)",
            &["--cert", "alice-ec.pem"],
            "ecdh",
        ),
    ];
    for (row, args, kind) in enc_cases {
        let mut a = vec!["smime", "encrypt"];
        a.extend_from_slice(args);
        a.push("msg.eml");
        let enc = f.certmail_ok(&a).expect("certmail encrypt");
        f.write("cm-enc.eml", &enc);
        let (_, der) = smime_parts(&enc).expect("split");
        f.write("cm-enc.der", &der);
        let (cert, key) = if kind == "ecdh" {
            ("alice-ec.pem", "alice-ec.key")
        } else {
            ("alice.pem", "alice.key")
        };
        let same = |got: Vec<u8>| {
            if got == msg {
                Ok(())
            } else {
                Err(format!(
                    "decrypted content differs: {}",
                    text(&got[..got.len().min(200)])
                ))
            }
        };
        let openssl = cell(|| {
            f.run(
                "openssl",
                &[
                    "cms",
                    "-decrypt",
                    "-in",
                    "cm-enc.eml",
                    "-recip",
                    cert,
                    "-inkey",
                    key,
                    "-out",
                    "ossl-dec.txt",
                ],
            )?;
            same(f.read("ossl-dec.txt"))
        });
        let nss = match kind {
            "gcm" => Cell::NotApplicable(NO_GCM),
            "oaep" => Cell::NotApplicable(NO_OAEP),
            "ecdh" => Cell::NotApplicable(NO_ECDH),
            _ => cell(|| {
                f.cmsutil(&["-D", "-i", "cm-enc.der", "-o", "nss-dec.txt"])?;
                same(f.read("nss-dec.txt"))
            }),
        };
        let gpgsm = match kind {
            "gcm" => Cell::NotApplicable(NO_GCM),
            "oaep" => Cell::NotApplicable(NO_OAEP),
            "ecdh" => Cell::NotApplicable(NO_ECDH),
            "ski" => Cell::NotApplicable("gpgsm 2.2 cannot match key identifiers"),
            _ => cell(|| {
                f.gpgsm(
                    &[
                        "--passphrase-fd",
                        "0",
                        "-o",
                        "gpgsm-dec.txt",
                        "--decrypt",
                        "cm-enc.der",
                    ],
                    Some(b"pw\n"),
                )?;
                same(f.read("gpgsm-dec.txt"))
            }),
        };
        let py = match kind {
            "gcm" => Cell::NotApplicable(NO_GCM),
            "oaep" => Cell::NotApplicable(NO_OAEP),
            "ecdh" => Cell::NotApplicable(NO_ECDH),
            "ski" => Cell::NotApplicable("cryptography cannot match key identifiers"),
            "rsa256" if !f.py_at_least((45, 0)) => {
                Cell::NotApplicable("cryptography < 45 cannot decrypt")
            }
            _ if !f.py_at_least((44, 0)) => Cell::NotApplicable("cryptography < 44 cannot decrypt"),
            _ => cell(|| {
                f.python(&[
                    "decrypt",
                    "alice.pem",
                    "alice.key",
                    "cm-enc.eml",
                    "py-dec.txt",
                    "smime",
                ])?;
                same(f.read("py-dec.txt"))
            }),
        };
        m.row(w, row, vec![openssl, nss, gpgsm, py]);
    }

    // ---- peers write ----
    let verify = |file: &str| -> Result<(), String> {
        let out = f.certmail_ok(&["smime", "verify", "--root", "root.pem", file])?;
        let t = text(&out);
        if t.contains("X-Certmail-Signer-Verified-0-1: True")
            && t.contains("X-Certmail-Signer-Trusted-0-1: True")
        {
            expect_body(&out)
        } else {
            Err(format!(
                "report headers missing: {}",
                &t[..t.len().min(600)]
            ))
        }
    };
    let decrypt = |file: &str, ec: bool| -> Result<(), String> {
        let (c, k) = if ec {
            ("alice-ec.pem", "alice-ec.key")
        } else {
            ("alice.pem", "alice.key")
        };
        let out = f.certmail_ok(&["smime", "decrypt", "--cert", c, "--key", k, file])?;
        expect_body(&out)
    };
    let der_to = |src: &str, dst: &str, smime_type: &str| -> Result<(), String> {
        let d = f.read(src);
        if d.is_empty() {
            return Err(format!("{src} is empty"));
        }
        f.write(dst, &p7m(&d, smime_type));
        Ok(())
    };
    let det_to = |sig: &str, dst: &str, from: &str| -> Result<(), String> {
        let d = f.read(sig);
        if d.is_empty() {
            return Err(format!("{sig} is empty"));
        }
        f.write(dst, &multipart_signed(from, &msg, &d));
        Ok(())
    };
    let a = ["-signer", "alice.pem", "-inkey", "alice.key"];
    let ossl = |args: &[&str]| f.run("openssl", args).map(|_| ());
    m.row(
        r,
        "signed, detached, RSA SHA-256",
        vec![
            cell(|| {
                ossl(
                    &[
                        &["cms", "-sign", "-crlfeol", "-in", "msg.eml"][..],
                        &a,
                        &["-out", "o.eml"],
                    ]
                    .concat(),
                )?;
                verify("o.eml")
            }),
            cell(|| {
                f.cmsutil(&["-S", "-N", "alice", "-T", "-i", "msg.eml", "-o", "n.p7s"])?;
                det_to("n.p7s", "n.eml", "alice@example.com")?;
                verify("n.eml")
            }),
            cell(|| {
                f.gpgsm(
                    &[
                        "--passphrase-fd",
                        "0",
                        "-u",
                        "alice@example.com",
                        "--detach-sign",
                        "-o",
                        "g.p7s",
                        "msg.eml",
                    ],
                    Some(b"pw\n"),
                )?;
                det_to("g.p7s", "g.eml", "alice@example.com")?;
                verify("g.eml")
            }),
            cell(|| {
                f.python(&[
                    "sign",
                    "alice.pem",
                    "alice.key",
                    "msg.eml",
                    "p.eml",
                    "smime-detached",
                ])?;
                verify("p.eml")
            }),
        ],
    );
    m.row(
        r,
        "signed, opaque, RSA SHA-512 (BER from NSS and gpgsm)",
        vec![
            cell(|| {
                ossl(
                    &[
                        &[
                            "cms",
                            "-sign",
                            "-nodetach",
                            "-md",
                            "sha512",
                            "-in",
                            "msg.eml",
                        ][..],
                        &a,
                        &["-out", "o.eml"],
                    ]
                    .concat(),
                )?;
                verify("o.eml")
            }),
            cell(|| {
                f.cmsutil(&[
                    "-S", "-N", "alice", "-H", "SHA512", "-G", "-P", "-i", "msg.eml", "-o", "n.der",
                ])?;
                der_to("n.der", "n.eml", "signed-data")?;
                verify("n.eml")
            }),
            cell(|| {
                f.gpgsm(
                    &[
                        "--passphrase-fd",
                        "0",
                        "-u",
                        "alice@example.com",
                        "--digest-algo",
                        "SHA512",
                        "--sign",
                        "-o",
                        "g.der",
                        "msg.eml",
                    ],
                    Some(b"pw\n"),
                )?;
                der_to("g.der", "g.eml", "signed-data")?;
                verify("g.eml")
            }),
            cell(|| {
                f.python(&[
                    "sign",
                    "alice.pem",
                    "alice.key",
                    "msg.eml",
                    "p.der",
                    "der-opaque",
                    "sha512",
                ])?;
                der_to("p.der", "p.eml", "signed-data")?;
                verify("p.eml")
            }),
        ],
    );
    m.row(
        r,
        "signed, RSA-PSS with maximum salt length",
        vec![
            cell(|| {
                ossl(
                    &[
                        &["cms", "-sign", "-binary", "-crlfeol", "-in", "msg.eml"][..],
                        &a,
                        &[
                            "-keyopt",
                            "rsa_padding_mode:pss",
                            "-keyopt",
                            "rsa_pss_saltlen:max",
                            "-out",
                            "o.eml",
                        ],
                    ]
                    .concat(),
                )?;
                verify("o.eml")
            }),
            Cell::NotApplicable("cmsutil cannot sign with PSS"),
            Cell::NotApplicable("gpgsm 2.2 cannot sign with PSS"),
            if f.py_at_least((42, 0)) {
                cell(|| {
                    f.python(&[
                        "sign",
                        "alice.pem",
                        "alice.key",
                        "msg.eml",
                        "p.eml",
                        "smime-detached",
                        "sha256",
                        "pss",
                    ])?;
                    verify("p.eml")
                })
            } else {
                Cell::NotApplicable("cryptography < 42 cannot sign with PSS")
            },
        ],
    );
    m.row(
        r,
        "signed, ECDSA P-256",
        vec![
            cell(|| {
                ossl(&[
                    "cms",
                    "-sign",
                    "-crlfeol",
                    "-in",
                    "msg.eml",
                    "-signer",
                    "alice-ec.pem",
                    "-inkey",
                    "alice-ec.key",
                    "-out",
                    "o.eml",
                ])?;
                verify("o.eml")
            }),
            cell(|| {
                f.cmsutil(&["-S", "-N", "alice-ec", "-T", "-i", "msg.eml", "-o", "n.p7s"])?;
                det_to("n.p7s", "n.eml", "alice-ec@example.com")?;
                verify("n.eml")
            }),
            Cell::NotApplicable("gpgsm 2.2 cannot import EC PKCS#12"),
            cell(|| {
                f.python(&[
                    "sign",
                    "alice-ec.pem",
                    "alice-ec.key",
                    "msg.eml",
                    "p.eml",
                    "smime-detached",
                ])?;
                verify("p.eml")
            }),
        ],
    );
    m.row(
        r,
        "signed, opaque, streamed (indefinite-length BER)",
        vec![
            cell(|| {
                ossl(
                    &[
                        &["cms", "-sign", "-stream", "-nodetach", "-in", "msg.eml"][..],
                        &a,
                        &["-outform", "DER", "-out", "o.der"],
                    ]
                    .concat(),
                )?;
                der_to("o.der", "o.eml", "signed-data")?;
                verify("o.eml")
            }),
            Cell::NotApplicable("covered by the opaque row (NSS always writes BER)"),
            Cell::NotApplicable("covered by the opaque row (gpgsm always writes BER)"),
            Cell::NotApplicable("cryptography writes DER only"),
        ],
    );
    m.row(
        r,
        "signed, nested multipart (quoted-printable, 8bit, base64 parts, folded headers)",
        vec![
            cell(|| {
                ossl(
                    &[
                        &["cms", "-sign", "-crlfeol", "-in", "rich.eml"][..],
                        &a,
                        &["-out", "o.eml"],
                    ]
                    .concat(),
                )?;
                verify("o.eml")
            }),
            cell(|| {
                let rich = f.read("rich.eml");
                f.cmsutil(&["-S", "-N", "alice", "-T", "-i", "rich.eml", "-o", "n.p7s"])?;
                f.write(
                    "n.eml",
                    &multipart_signed("alice@example.com", &rich, &f.read("n.p7s")),
                );
                verify("n.eml")
            }),
            cell(|| {
                let rich = f.read("rich.eml");
                f.gpgsm(
                    &[
                        "--passphrase-fd",
                        "0",
                        "-u",
                        "alice@example.com",
                        "--detach-sign",
                        "-o",
                        "g.p7s",
                        "rich.eml",
                    ],
                    Some(b"pw\n"),
                )?;
                f.write(
                    "g.eml",
                    &multipart_signed("alice@example.com", &rich, &f.read("g.p7s")),
                );
                verify("g.eml")
            }),
            cell(|| {
                f.python(&[
                    "sign",
                    "alice.pem",
                    "alice.key",
                    "rich.eml",
                    "p.eml",
                    "smime-detached",
                ])?;
                verify("p.eml")
            }),
        ],
    );
    m.row(
        r,
        "signed, then saved with LF line ends (Unix mailbox)",
        vec![
            cell(|| {
                ossl(
                    &[
                        &["cms", "-sign", "-crlfeol", "-in", "rich.eml"][..],
                        &a,
                        &["-out", "o.eml"],
                    ]
                    .concat(),
                )?;
                let lf: Vec<u8> = f
                    .read("o.eml")
                    .into_iter()
                    .filter(|b| *b != b'\r')
                    .collect();
                f.write("lf.eml", &lf);
                verify("lf.eml")
            }),
            Cell::NotApplicable("same MIME path as OpenSSL"),
            Cell::NotApplicable("same MIME path as OpenSSL"),
            Cell::NotApplicable("same MIME path as OpenSSL"),
        ],
    );
    m.row(
        r,
        "signed, tampered content: certmail reports it (exit 1)",
        vec![
            cell(|| {
                ossl(
                    &[
                        &["cms", "-sign", "-crlfeol", "-in", "msg.eml"][..],
                        &a,
                        &["-out", "o.eml"],
                    ]
                    .concat(),
                )?;
                let bad = text(&f.read("o.eml")).replace("Hello Bob", "Hello Eve");
                f.write("bad.eml", bad.as_bytes());
                let o = f.certmail(&["smime", "verify", "--root", "root.pem", "bad.eml"]);
                let t = text(&o.stdout);
                if o.status.code() == Some(1) && t.contains("X-Certmail-Signer-Verified-0-1: False")
                {
                    Ok(())
                } else {
                    Err(format!("exit {:?}: {t}", o.status.code()))
                }
            }),
            Cell::NotApplicable("same CMS path as OpenSSL"),
            Cell::NotApplicable("same CMS path as OpenSSL"),
            Cell::NotApplicable("same CMS path as OpenSSL"),
        ],
    );
    let enc_rows: [(&str, &str, &str, bool); 7] = [
        ("encrypted, AES-256-CBC", "-aes-256-cbc", "", false),
        (
            "encrypted, AES-128-CBC (BER from NSS and gpgsm)",
            "-aes-128-cbc",
            "",
            false,
        ),
        ("encrypted, 3DES-CBC (old mail)", "-des3", "", false),
        ("auth-enveloped, AES-256-GCM", "-aes-256-gcm", "", false),
        ("encrypted, RSAES-OAEP", "-aes-256-cbc", "oaep", false),
        ("encrypted, ECDH P-256", "-aes-256-cbc", "", true),
        (
            "encrypted, recipient by subject key identifier",
            "-aes-256-cbc",
            "keyid",
            false,
        ),
    ];
    for (row, cipher, opt, ec) in enc_rows {
        let openssl = cell(|| {
            let mut args = vec!["cms", "-encrypt", cipher, "-in", "msg.eml", "-out", "o.eml"];
            match opt {
                "oaep" => args.extend(["-recip", "alice.pem", "-keyopt", "rsa_padding_mode:oaep"]),
                "keyid" => args.extend(["-keyid", "alice.pem"]),
                _ => args.push(if ec { "alice-ec.pem" } else { "alice.pem" }),
            }
            f.run("openssl", &args)?;
            decrypt("o.eml", ec)
        });
        let plain_rsa = opt.is_empty() && !ec && cipher != "-aes-256-gcm";
        let nss = if cipher == "-aes-128-cbc" {
            cell(|| {
                f.cmsutil(&[
                    "-E",
                    "-r",
                    "alice@example.com",
                    "-i",
                    "msg.eml",
                    "-o",
                    "n.der",
                ])?;
                der_to("n.der", "n.eml", "enveloped-data")?;
                decrypt("n.eml", false)
            })
        } else if plain_rsa {
            Cell::NotApplicable("cmsutil always writes AES-128")
        } else {
            Cell::NotApplicable("cmsutil cannot write this")
        };
        let gpgsm = match cipher {
            "-aes-128-cbc" | "-aes-256-cbc" | "-des3" if opt.is_empty() && !ec => cell(|| {
                let algo = match cipher {
                    "-aes-256-cbc" => "AES256",
                    "-des3" => "3DES",
                    _ => "AES",
                };
                f.gpgsm(
                    &[
                        "-r",
                        "alice@example.com",
                        "--cipher-algo",
                        algo,
                        "-o",
                        "g.der",
                        "--encrypt",
                        "msg.eml",
                    ],
                    None,
                )?;
                der_to("g.der", "g.eml", "enveloped-data")?;
                decrypt("g.eml", false)
            }),
            _ => Cell::NotApplicable("gpgsm 2.2 cannot write this"),
        };
        let py = match cipher {
            "-aes-128-cbc" | "-aes-256-cbc" if opt.is_empty() && !ec => {
                let need = if cipher == "-aes-256-cbc" {
                    (45, 0)
                } else {
                    (43, 0)
                };
                if f.py_at_least(need) {
                    cell(|| {
                        let mut args = vec!["encrypt", "alice.pem", "msg.eml", "p.eml", "smime"];
                        if cipher == "-aes-256-cbc" {
                            args.push("aes256");
                        }
                        f.python(&args)?;
                        decrypt("p.eml", false)
                    })
                } else {
                    Cell::NotApplicable("cryptography too old to encrypt")
                }
            }
            _ => Cell::NotApplicable("cryptography cannot write this"),
        };
        m.row(r, row, vec![openssl, nss, gpgsm, py]);
    }

    // ---- S/MIME 4.0 (RFC 8551): Ed25519, X25519 with HKDF, ChaCha20-Poly1305, compression ----
    // OpenSSL 3.0, NSS 3.87 and gpgsm 2.2 do none of these; the peer is Python `cryptography`
    // with the CMS written and read by tests/peers/cms40.py.
    let none = |why: &'static str| {
        vec![
            Cell::NotApplicable(why),
            Cell::NotApplicable(why),
            Cell::NotApplicable(why),
        ]
    };
    let with_py = |mut cells: Vec<Cell>, py: Cell| {
        cells.push(py);
        cells
    };
    {
        let signed = f
            .certmail_ok(&[
                "smime",
                "sign",
                "--opaque",
                "--cert",
                "alice-ed.pem",
                "--key",
                "alice-ed.key",
                "msg.eml",
            ])
            .expect("certmail Ed25519 sign");
        f.write("cm-ed.eml", &signed);
        let py = cell(|| {
            f.cms40(&[
                "verify-ed25519",
                "alice-ed.pem",
                "cm-ed.eml",
                "py-ed-out.txt",
            ])?;
            expect_body(&f.read("py-ed-out.txt"))
        });
        m.row(
            w,
            "signed, opaque, Ed25519 (RFC 8419)",
            with_py(none(NO_40), py),
        );
        for (row, cipher, chacha) in [
            (
                "encrypted, X25519 + HKDF (RFC 8418), AES-256-CBC",
                "aes256",
                false,
            ),
            (
                "encrypted, X25519 + HKDF, ChaCha20-Poly1305 (RFC 8103)",
                "chacha20-poly1305",
                true,
            ),
        ] {
            let enc = f
                .certmail_ok(&[
                    "smime",
                    "encrypt",
                    "--cert",
                    "alice-x.pem",
                    "--cipher",
                    cipher,
                    "msg.eml",
                ])
                .expect("certmail X25519 encrypt");
            f.write("cm-x.eml", &enc);
            let py = cell(|| {
                f.cms40(&[
                    "decrypt-x25519",
                    "alice-x.pem",
                    "alice-x.key",
                    "cm-x.eml",
                    "py-x.txt",
                ])?;
                expect_body(&f.read("py-x.txt"))
            });
            m.row(w, row, with_py(none(NO_40), py));
            // The peer writes, certmail reads.
            let py = cell(|| {
                let mut a = vec!["encrypt-x25519", "alice-x.pem", "msg.eml", "py-x.eml"];
                if chacha {
                    a.push("chacha");
                }
                f.cms40(&a)?;
                let out = f.certmail_ok(&[
                    "smime",
                    "decrypt",
                    "--cert",
                    "alice-x.pem",
                    "--key",
                    "alice-x.key",
                    "py-x.eml",
                ])?;
                expect_body(&out)
            });
            m.row(r, row, with_py(none(NO_40), py));
        }
        let py = cell(|| {
            f.cms40(&[
                "sign-ed25519",
                "alice-ed.pem",
                "alice-ed.key",
                "msg.eml",
                "py-ed.eml",
            ])?;
            let out = f.certmail_ok(&["smime", "verify", "--root", "root.pem", "py-ed.eml"])?;
            expect_body(&out)
        });
        m.row(
            r,
            "signed, opaque, Ed25519 (RFC 8419)",
            with_py(none(NO_40), py),
        );
        // CompressedData around a signed message: unwrapped, then the signature checked.
        let py = cell(|| {
            f.cms40(&["compress", "cm-ed.eml", "py-z.eml"])?;
            let out = f.certmail_ok(&["smime", "verify", "--root", "root.pem", "py-z.eml"])?;
            if !text(&out).contains("X-Certmail-Compressed-1: zlib") {
                return Err("no compression layer reported".into());
            }
            expect_body(&out)
        });
        m.row(
            r,
            "compressed (RFC 3274) around a signed message",
            with_py(none(NO_40), py),
        );
    }

    // ---- report ----
    let md = m.markdown();
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/smime-interop-matrix.md");
    let _ = fs::write(&target, &md);
    let failures = m.failures();
    assert!(
        failures.is_empty(),
        "interop failures:\n{}\n{md}",
        failures.join("\n")
    );
    let readme_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
    let readme = fs::read_to_string(&readme_path).expect("README.md");
    let (begin, end) = ("<!-- smime-matrix:begin -->", "<!-- smime-matrix:end -->");
    let (Some(b), Some(e)) = (readme.find(begin), readme.find(end)) else {
        panic!("README.md has no {begin} ... {end} section");
    };
    let current = &readme[b + begin.len()..e];
    if std::env::var_os("CERTMAIL_UPDATE_MATRIX").is_some() {
        let updated = format!("{}{begin}{md}{}", &readme[..b], &readme[e..]);
        fs::write(&readme_path, updated).expect("write README.md");
    } else {
        assert_eq!(
            current, md,
            "README.md's S/MIME matrix is not what the tests produce: run with CERTMAIL_UPDATE_MATRIX=1"
        );
    }
}
