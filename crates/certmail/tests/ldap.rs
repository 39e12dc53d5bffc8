//! LDAP end to end against a real OpenLDAP `slapd` (Debian's slapd + ldap-utils), started by
//! the test on a free loopback port with a private directory (ldif back end, core / cosine /
//! inetorgperson schemas). One certmail is a CA; its CRL is published on a `pkiCA` entry
//! and a `cRLDistributionPoint` entry, its users' certificates on `inetOrgPerson` entries
//! (`userCertificate;binary`, and a PKCS#7 in `userSMIMECertificate`). Another certmail
//! downloads the CRLs over LDAP (`crl update`, also a host-less `ldap:///` URL through the
//! default directory) and finds certificates by address (`directory lookup`).

mod common;

use common::cli::{crl_update as update, json, ok, run, verdict};

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64ct::{Base64, Encoding};

const SUFFIX: &str = "dc=example,dc=com";
const ROOT_DN: &str = "cn=admin,dc=example,dc=com";
const ROOT_PW: &str = "s3cret-Bind-Pw";

fn slapd_binary() -> Option<PathBuf> {
    ["/usr/sbin/slapd", "/usr/local/sbin/slapd"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// A private slapd on a loopback port; stopped when dropped.
struct Slapd {
    child: Child,
    port: u16,
}

impl Slapd {
    fn start(dir: &Path, slapd: &Path) -> Slapd {
        let db = dir.join("db");
        std::fs::create_dir_all(&db).expect("db dir");
        let conf = dir.join("slapd.conf");
        std::fs::write(
            &conf,
            format!(
                "include /etc/ldap/schema/core.schema\n\
                 include /etc/ldap/schema/cosine.schema\n\
                 include /etc/ldap/schema/inetorgperson.schema\n\
                 pidfile {d}/slapd.pid\n\
                 argsfile {d}/slapd.args\n\
                 database ldif\n\
                 suffix \"{SUFFIX}\"\n\
                 rootdn \"{ROOT_DN}\"\n\
                 rootpw {ROOT_PW}\n\
                 directory {db}\n",
                d = dir.display(),
                db = db.display()
            ),
        )
        .expect("slapd.conf");
        let port = common::mta::free_port();
        let log = std::fs::File::create(dir.join("slapd.log")).expect("log");
        // -d 0: stay in the foreground (so the test owns the process), no debug output.
        let child = Command::new(slapd)
            .arg("-f")
            .arg(&conf)
            .arg("-h")
            .arg(format!("ldap://127.0.0.1:{port}/"))
            .args(["-d", "0"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start slapd");
        let s = Slapd { child, port };
        common::mta::wait_port(port, "slapd");
        s
    }

    fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    /// ldapadd / ldapmodify as the root DN.
    fn load(&self, tool: &str, ldif: &str) {
        let mut c = Command::new(tool)
            .args(["-x", "-H", &self.url(), "-D", ROOT_DN, "-w", ROOT_PW])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{tool}: {e}"));
        use std::io::Write;
        c.stdin
            .take()
            .expect("stdin")
            .write_all(ldif.as_bytes())
            .expect("ldif");
        let out = c.wait_with_output().expect(tool);
        assert!(
            out.status.success(),
            "{tool} failed: {}{}",
            common::text(&out.stdout),
            common::text(&out.stderr)
        );
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// DER of a PEM or DER file.
fn der(path: &Path) -> Vec<u8> {
    let bytes = std::fs::read(path).expect("read");
    if !bytes.starts_with(b"-----BEGIN") {
        return bytes;
    }
    let text = String::from_utf8(bytes).expect("pem");
    let b64: String = text
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    Base64::decode_vec(&b64).expect("base64")
}

fn b64(der: &[u8]) -> String {
    Base64::encode_string(der)
}

fn issue(ca: &Path, email: &str, cn: &str, crl_url: &str) -> String {
    let out = ok(
        ca,
        &[
            "ca",
            "issue",
            "--email",
            email,
            "--cn",
            cn,
            "--crl-url",
            crl_url,
        ],
    );
    out.split_whitespace()
        .nth(1)
        .expect("thumbprint")
        .to_owned()
}

fn lookup(data: &Path, email: &str) -> (bool, serde_json::Value) {
    json(data, &["directory", "lookup", email, "--json"])
}

fn answer<'a>(report: &'a serde_json::Value, dir: &str) -> &'a serde_json::Value {
    report["directories"]
        .as_array()
        .expect("directories")
        .iter()
        .find(|a| a["directory"] == dir)
        .unwrap_or_else(|| panic!("no answer from {dir}: {report}"))
}

#[test]
fn crls_and_certificates_come_from_ldap() {
    let Some(slapd_bin) = slapd_binary() else {
        common::missing("slapd (Debian package slapd)");
        return;
    };
    if !Path::new("/usr/bin/ldapadd").exists() {
        common::missing("ldapadd (Debian package ldap-utils)");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let slapd = Slapd::start(&dir.path().join("slapd"), &slapd_bin);
    let ldap = slapd.url();
    let file = |name: &str| dir.path().join(name).display().to_string();
    let (ca, relying) = (dir.path().join("ca"), dir.path().join("relying"));

    // The CA: certificates naming an LDAP distribution point (the pkiCA entry).
    let ca_dn = format!("cn=LDAP CA,{SUFFIX}");
    let crl_url = format!("{ldap}/cn=LDAP%20CA,{SUFFIX}?certificateRevocationList;binary");
    ok(&ca, &["init"]);
    ok(
        &ca,
        &[
            "ca",
            "create",
            "--root-cn",
            "LDAP Root",
            "--intermediate-cn",
            "LDAP CA",
        ],
    );
    let dee = issue(&ca, "dee@example.com", "Dee", &crl_url);
    let eve = issue(&ca, "eve@example.com", "Eve", &crl_url);
    let pat = issue(&ca, "pat@example.com", "Pat", &crl_url);
    let root = json(&ca, &["root", "list", "--json"]).1[0]["sha256"]
        .as_str()
        .expect("root")
        .to_owned();
    let int = json(&ca, &["ca", "list", "--json"]).1[0]["intermediate"]
        .as_str()
        .expect("intermediate")
        .to_owned();
    for (t, f, fmt) in [
        (&root, "root.pem", "pem"),
        (&int, "int.pem", "pem"),
        (&dee, "dee.pem", "pem"),
        (&eve, "eve.der", "der"),
        (&pat, "pat.p7b", "p7b"),
    ] {
        ok(&ca, &["cert", "export", t, "--format", fmt, "-o", &file(f)]);
    }
    ok(&ca, &["ca", "crl", "-o", &file("crl1.pem")]);
    let crl1 = b64(&der(Path::new(&file("crl1.pem"))));

    // The directory: the CRL on the CA's entry (both attributes) and on a CDP entry; Eve's
    // certificate as userCertificate, Pat's as a PKCS#7 (with its chain) in
    // userSMIMECertificate.
    slapd.load(
        "/usr/bin/ldapadd",
        &format!(
            "dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n\n\
             dn: {ca_dn}\nobjectClass: applicationProcess\nobjectClass: pkiCA\ncn: LDAP CA\n\
             certificateRevocationList;binary:: {crl1}\nauthorityRevocationList;binary:: {crl1}\n\n\
             dn: cn=CDP,{SUFFIX}\nobjectClass: cRLDistributionPoint\ncn: CDP\n\
             certificateRevocationList;binary:: {crl1}\n\n\
             dn: ou=people,{SUFFIX}\nobjectClass: organizationalUnit\nou: people\n\n\
             dn: uid=eve,ou=people,{SUFFIX}\nobjectClass: inetOrgPerson\nuid: eve\ncn: Eve\nsn: Eve\n\
             mail: eve@example.com\nuserCertificate;binary:: {eve}\n\n\
             dn: uid=pat,ou=people,{SUFFIX}\nobjectClass: inetOrgPerson\nuid: pat\ncn: Pat\nsn: Pat\n\
             mail: pat@example.com\nuserSMIMECertificate:: {pat}\n\n\
             dn: uid=nocert,ou=people,{SUFFIX}\nobjectClass: inetOrgPerson\nuid: nocert\ncn: No\nsn: Cert\n\
             mail: nocert@example.com\n",
            eve = b64(&der(Path::new(&file("eve.der")))),
            pat = b64(&der(Path::new(&file("pat.p7b")))),
        ),
    );

    // The relying side: the LDAP distribution point is registered with the certificate,
    // downloaded by a run over the due sources, and the CRL is in use.
    ok(&relying, &["init"]);
    // slapd of this test is on loopback: listed on purpose (trust boundaries).
    ok(
        &relying,
        &["global", "set", "fetch-allow", "127.0.0.1, ::1"],
    );
    ok(&relying, &["root", "import", &file("root.pem")]);
    ok(
        &relying,
        &["cert", "import", &file("int.pem"), &file("dee.pem")],
    );
    let sources = json(&relying, &["crl", "sources", "--json"]).1;
    assert!(
        sources
            .as_array()
            .expect("sources")
            .iter()
            .any(|s| s["url"] == crl_url.as_str()),
        "{sources}"
    );
    let started = Instant::now();
    let (success, out) = json(&relying, &["crl", "update", "--json"]);
    let took = started.elapsed();
    let row = out
        .as_array()
        .expect("outcomes")
        .iter()
        .find(|o| o["url"] == crl_url.as_str())
        .expect("the LDAP source ran")
        .clone();
    assert!(success, "{out}");
    assert_eq!(row["status"], "updated", "{row}");
    eprintln!("crl update over LDAP (one source, whole command): {took:?}");
    assert_eq!(verdict(&relying, &dee), "valid");
    let src = json(&relying, &["crl", "sources", "--json"])
        .1
        .as_array()
        .expect("sources")
        .iter()
        .find(|s| s["url"] == crl_url.as_str())
        .expect("source")
        .clone();
    assert!(
        src["last_success"].is_i64() && src["last_error"].is_null(),
        "{src}"
    );
    assert!(src["size"].as_i64().unwrap_or(0) > 0, "{src}");

    // Revoked at the CA and published in the directory: revoked after the next download.
    ok(&ca, &["ca", "revoke", &dee, "--reason", "keyCompromise"]);
    ok(&ca, &["ca", "crl", "-o", &file("crl2.pem")]);
    let crl2 = b64(&der(Path::new(&file("crl2.pem"))));
    slapd.load(
        "/usr/bin/ldapmodify",
        &format!(
            "dn: {ca_dn}\nchangetype: modify\nreplace: certificateRevocationList;binary\n\
             certificateRevocationList;binary:: {crl2}\n-\n"
        ),
    );
    assert_eq!(verdict(&relying, &dee), "valid", "not fetched yet");
    let (success, row) = update(&relying, &crl_url, &[]);
    assert!(success && row["status"] == "updated", "{row}");
    assert_eq!(verdict(&relying, &dee), "revoked");

    // The attribute the URL names is read (authorityRevocationList holds the older CRL:
    // stored, not in use).
    let arl = format!("{ldap}/cn=LDAP%20CA,{SUFFIX}?authorityRevocationList;binary");
    let (success, row) = update(&relying, &arl, &[]);
    assert!(success, "{row}");
    assert_ne!(row["status"], "updated", "an older CRL must not win: {row}");
    assert_eq!(verdict(&relying, &dee), "revoked");

    // Failures are reasons, and the CRL in use stays in use.
    for (url, why) in [
        (format!("{ldap}/cn=Nobody,{SUFFIX}"), "no such object"),
        (
            format!("{ldap}/uid=nocert,ou=people,{SUFFIX}?certificateRevocationList;binary"),
            "has no",
        ),
    ] {
        let (success, row) = update(&relying, &url, &[]);
        assert!(!success && row["status"] == "failed", "{url}: {row}");
        let p = row["problem"].as_str().unwrap_or_default();
        assert!(p.contains(why), "{url}: {p}");
    }
    assert_eq!(verdict(&relying, &dee), "revoked");

    // A host-less URL (as AD CS writes): skipped with the reason until a default
    // directory exists, then fetched from it with its bind DN and password.
    let hostless = format!(
        "ldap:///cn=CDP,{SUFFIX}?certificateRevocationList?base?objectClass=cRLDistributionPoint"
    );
    let (success, row) = update(&relying, &hostless, &[]);
    assert!(success, "a skipped source is no failure: {row}");
    assert_eq!(row["status"], "skipped", "{row}");
    assert!(
        row["problem"]
            .as_str()
            .unwrap_or_default()
            .contains("no default directory"),
        "{row}"
    );
    let shown = ok(&relying, &["crl", "sources"]);
    assert!(shown.contains("no default directory"), "{shown}");

    std::fs::write(file("bind.pw"), format!("{ROOT_PW}\n")).expect("pw");
    let added = ok(
        &relying,
        &[
            "directory",
            "add",
            "corp",
            "--url",
            &ldap,
            "--base",
            &format!("ou=people,{SUFFIX}"),
            "--bind-dn",
            ROOT_DN,
            "--bind-password-file",
            &file("bind.pw"),
            "--default",
        ],
    );
    assert!(added.contains("(password set)"), "{added}");
    let (success, row) = update(&relying, &hostless, &[]);
    assert!(success, "{row}");
    assert!(
        row["status"] == "updated" || row["status"] == "unchanged" || row["status"] == "stored",
        "{row}"
    );
    assert!(
        row["problem"].is_null() || row["status"] == "stored",
        "{row}"
    );
    assert_eq!(row["crls"].as_array().map(Vec::len), Some(1), "{row}");

    // The bind password is never shown, and not in the database in clear.
    let listed =
        ok(&relying, &["directory", "list"]) + &ok(&relying, &["directory", "list", "--json"]);
    assert!(!listed.contains(ROOT_PW), "{listed}");
    assert!(listed.contains("corp (default)"), "{listed}");
    let db = std::fs::read(relying.join("certmail.db")).expect("db");
    let wal = std::fs::read(relying.join("certmail.db-wal")).unwrap_or_default();
    for bytes in [&db, &wal] {
        assert!(
            !bytes
                .windows(ROOT_PW.len())
                .any(|w| w == ROOT_PW.as_bytes()),
            "bind password stored in clear"
        );
    }

    let tested = ok(
        &relying,
        &["directory", "test", "corp", "--email", "eve@example.com"],
    );
    assert!(
        tested.contains("1 entry(ies), 1 certificate value(s)"),
        "{tested}"
    );

    // Certificates by address: found, imported into the certificate store (judged by the
    // trust rules, never trusted because of where they came from), then cached.
    let roots_before = json(&relying, &["root", "list", "--json"]).1;
    let (success, report) = lookup(&relying, "Eve@Example.com");
    assert!(success, "{report}");
    let a = answer(&report, "corp");
    assert_eq!(a["status"], "found", "{report}");
    assert_eq!(a["imported"][0]["id"], eve.as_str(), "{report}");
    assert_eq!(a["imported"][0]["store"], "certificates", "{report}");
    assert_eq!(verdict(&relying, &eve), "valid");
    let (_, again) = lookup(&relying, "eve@example.com");
    assert_eq!(answer(&again, "corp")["status"], "cached", "{again}");
    assert_eq!(answer(&again, "corp")["found"], 1, "{again}");

    // userSMIMECertificate (PKCS#7 with the chain): the root in it lands in the
    // certificate store, not the root store.
    let (success, report) = lookup(&relying, "pat@example.com");
    assert!(success, "{report}");
    let a = answer(&report, "corp");
    assert_eq!(a["status"], "found", "{report}");
    let ids: Vec<&str> = a["imported"]
        .as_array()
        .expect("imported")
        .iter()
        .filter_map(|i| i["id"].as_str())
        .collect();
    assert!(ids.contains(&pat.as_str()), "{report}");
    assert!(
        a["imported"]
            .as_array()
            .expect("imported")
            .iter()
            .all(|i| i["store"] == "certificates"),
        "{report}"
    );
    assert_eq!(json(&relying, &["root", "list", "--json"]).1, roots_before);

    // Negative answers are cached too; an address with filter metacharacters is escaped.
    for who in ["nocert@example.com", "nobody@example.com", "*)(mail=*"] {
        let (success, report) = lookup(&relying, who);
        assert!(success, "{report}");
        assert_eq!(
            answer(&report, "corp")["status"],
            "not-found",
            "{who}: {report}"
        );
        let (_, again) = lookup(&relying, who);
        assert_eq!(answer(&again, "corp")["status"], "cached", "{again}");
        assert_eq!(answer(&again, "corp")["found"], 0, "{again}");
    }

    // A wrong bind password: a clear error, from test and from lookup.
    std::fs::write(file("wrong.pw"), "not-the-password\n").expect("pw");
    ok(
        &relying,
        &[
            "directory",
            "add",
            "wrongpw",
            "--url",
            &ldap,
            "--bind-dn",
            ROOT_DN,
            "--bind-password-file",
            &file("wrong.pw"),
        ],
    );
    let (success, text) = run(&relying, &["directory", "test", "wrongpw"]);
    assert!(!success, "{text}");
    assert!(text.contains("invalid credentials"), "{text}");
    assert!(!text.contains("not-the-password"), "{text}");
    let (success, report) = lookup(&relying, "eve@example.com");
    assert!(!success, "a failed directory makes lookup exit 1: {report}");
    let a = answer(&report, "wrongpw");
    assert_eq!(a["status"], "failed", "{report}");
    assert!(
        a["error"]
            .as_str()
            .unwrap_or_default()
            .contains("invalid credentials"),
        "{report}"
    );
    ok(&relying, &["directory", "delete", "wrongpw"]);

    // A directory that accepts connections and never answers: the look-up gives up within
    // its timeout (default 2 s), as does a CRL download from it.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let silent_url = format!("ldap://{}", silent.local_addr().expect("addr"));
    ok(
        &relying,
        &["directory", "add", "silent", "--url", &silent_url],
    );
    let started = Instant::now();
    let (success, report) = lookup(&relying, "someone@example.com");
    let took = started.elapsed();
    assert!(!success, "{report}");
    let a = answer(&report, "silent");
    assert_eq!(a["status"], "failed", "{report}");
    assert!(
        a["error"]
            .as_str()
            .unwrap_or_default()
            .contains("no answer within 2000 ms"),
        "{report}"
    );
    assert_eq!(answer(&report, "corp")["status"], "not-found", "{report}");
    eprintln!("lookup with a silent directory (whole command): {took:?}");
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(6),
        "{took:?}"
    );
    // The failure is remembered briefly: the next message does not wait again.
    let started = Instant::now();
    let (_, again) = lookup(&relying, "someone@example.com");
    assert_eq!(answer(&again, "silent")["status"], "cached", "{again}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    let started = Instant::now();
    let (success, row) = update(&relying, &format!("{silent_url}/cn=x"), &["--timeout", "1"]);
    assert!(!success && row["status"] == "failed", "{row}");
    assert!(
        row["problem"]
            .as_str()
            .unwrap_or_default()
            .contains("timed out"),
        "{row}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(silent);

    // A port where nothing listens: a quick, clear failure.
    let closed = format!("ldap://127.0.0.1:{}", common::mta::free_port());
    ok(&relying, &["directory", "add", "closed", "--url", &closed]);
    let (success, text) = run(&relying, &["directory", "test", "closed"]);
    assert!(!success && text.contains("cannot connect"), "{text}");

    ok(&relying, &["directory", "delete", "silent"]);
    ok(&relying, &["directory", "delete", "closed"]);
    let left = json(&relying, &["directory", "list", "--json"]).1;
    assert_eq!(left.as_array().map(Vec::len), Some(1), "{left}");
}
