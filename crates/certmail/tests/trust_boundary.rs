//! The attacks of issue 25 replayed against a running `certmail serve` over real sockets,
//! with Postfix's smtp-sink as the next hop: forged report headers in malformed header
//! sections, a stranger's signed mail that would steer CRL fetches and fill the store with
//! decoys, the null sender against `encrypt-mode force`, a quoted local part that would
//! change domain, 2,000 idle connections to the admin port, and the files and outputs the
//! CLI writes. Each check fails on the code before the issue.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use certmail_testkit::{LeafSpec, TestPki};
use common::mta::{self, Gateway, Sink, free_port, reply, wait_for};

fn run(data: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = common::certmail(data, args).output().expect("certmail");
    (
        out.status.code(),
        common::text(&out.stdout),
        common::text(&out.stderr),
    )
}

fn ok(data: &Path, args: &[&str]) -> String {
    let (code, out, err) = run(data, args);
    assert_eq!(code, Some(0), "certmail {args:?}: {err}");
    out
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8")
}

struct Env {
    dir: tempfile::TempDir,
    data: PathBuf,
    sink: Sink,
    gateway: Gateway,
    smtp: u16,
}

/// `certmail serve` on a fresh data directory (example.com internal, nocert.example
/// forced to encrypt), smtp-sink behind it; short admin-port limits from a config file.
fn start() -> Option<Env> {
    start_with_config("http-header-timeout = 2\nhttp-idle-timeout = 3\nhttp-max-connections = 64\n")
}

/// [`start`] with `config` as the TOML file of `serve`.
fn start_with_config(config: &str) -> Option<Env> {
    if !mta::available() {
        return None;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    ok(&data, &["init"]);
    ok(
        &data,
        &["domain", "set", "example.com", "locality", "internal"],
    );
    ok(
        &data,
        &["domain", "set", "nocert.example", "encrypt-mode", "force"],
    );
    let file = dir.path().join("serve.toml");
    std::fs::write(&file, config).expect("config");
    let config = file;
    let sink = Sink::start(dir.path());
    let smtp = free_port();
    let gateway = Gateway::start_with(
        &data,
        smtp,
        sink.port,
        &dir.path().join("gateway.log"),
        &["--config", p(&config)],
    );
    Some(Env {
        dir,
        data,
        sink,
        gateway,
        smtp,
    })
}

struct Smtp(TcpStream);

impl Smtp {
    fn open(port: u16) -> Smtp {
        let c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        c.set_read_timeout(Some(Duration::from_secs(60)))
            .expect("timeout");
        let mut s = Smtp(c);
        let g = reply(&mut s.0);
        assert!(g.starts_with("220"), "{g}");
        s.cmd("EHLO attacker.example", "250");
        s
    }

    fn cmd(&mut self, line: &str, expect: &str) -> String {
        self.0
            .write_all(format!("{line}\r\n").as_bytes())
            .expect("write");
        let r = reply(&mut self.0);
        assert!(r.starts_with(expect), "{line}: expected {expect}, got {r}");
        r
    }

    /// A whole transaction; the final reply.
    fn mail(&mut self, from: &str, to: &[&str], msg: &[u8], expect: &str) -> String {
        self.cmd(&format!("MAIL FROM:<{from}>"), "250");
        for t in to {
            self.cmd(&format!("RCPT TO:<{t}>"), "250");
        }
        self.cmd("DATA", "354");
        let mut out = Vec::new();
        for line in msg.split_inclusive(|b| *b == b'\n') {
            if line.first() == Some(&b'.') {
                out.push(b'.');
            }
            out.extend_from_slice(line);
        }
        if !msg.ends_with(b"\n") {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b".\r\n");
        self.0.write_all(&out).expect("data");
        let r = reply(&mut self.0);
        assert!(
            r.starts_with(expect),
            "end of data: expected {expect}, got {r}"
        );
        r
    }
}

/// The header section of a sink file (smtp-sink's trace fields, then the message's):
/// up to the first empty line.
fn header_section(msg: &str) -> String {
    let t = msg.replace("\r\n", "\n");
    t.split("\n\n").next().unwrap_or("").to_owned()
}

#[test]
fn forged_headers_the_null_sender_and_quoted_addresses_against_serve() {
    let Some(env) = start() else { return };
    let forged: [&[u8]; 5] = [
        b"X-Certmail-Signer-Trusted-0-1 : FORGED\r\nFrom: x@outside.example\r\nSubject: a\r\n\r\nbody\r\n",
        b"Subject : x\r\nX-Certmail-Signer-Trusted-0-1: FORGED\r\n\r\nbody\r\n",
        b"From: x@outside.example\r\nno colon here\r\nX-Certmail-Signed-1: FORGED\r\n\r\nbody\r\n",
        b"Subj\xc3\xa9ct: x\r\nx-certmail-signer-verified-0-1:\r\n FORGED\r\n\r\nbody\r\n",
        b"X-Certmail-Encrypted-1: FORGED\r\nContent-Type: application/pkcs7-mime; smime-type=enveloped-data\r\nContent-Transfer-Encoding: base64\r\n\r\nMIIBbroken!!\r\n",
    ];
    let mut s = Smtp::open(env.smtp);
    let mut sent = 0;
    for m in forged {
        for rcpt in ["carol@example.com", "b@y.example"] {
            s.mail("x@outside.example", &[rcpt], m, "250");
            sent += 1;
        }
    }
    wait_for(30, "the sink to get every message", || {
        env.sink.messages().len() >= sent
    });
    for m in env.sink.messages() {
        let head = header_section(&m);
        assert!(
            !head.to_ascii_lowercase().contains("forged"),
            "a forged report header reached a recipient:\n{head}"
        );
    }

    // The null sender to a recipient under encrypt-mode force: refused, never in clear.
    s.cmd("MAIL FROM:<>", "250");
    let r = s.cmd("RCPT TO:<someone@nocert.example>", "550");
    assert!(r.contains("encryption is required"), "{r}");
    s.cmd("RSET", "250");

    // A quoted local part keeps its quotes (and its domain) to the next hop.
    let before = env.sink.messages().len();
    s.mail(
        "x@outside.example",
        &["\"bob@partner.example\"@evil.example"],
        b"Subject: q\r\n\r\nquoted\r\n",
        "250",
    );
    wait_for(30, "the quoted recipient's copy", || {
        env.sink.messages().len() > before
    });
    let relayed = env.sink.to("\"bob@partner.example\"@evil.example");
    assert_eq!(relayed.len(), 1, "relayed to the address as given");
    assert!(
        env.sink.to("bob@partner.example@evil.example").is_empty(),
        "never to the address without its quotes"
    );
    s.cmd("MAIL FROM:<x@outside.example>", "250");
    s.cmd("RCPT TO:<postmaster>", "553");
    s.cmd("RCPT TO:<a\"b@y.example>", "501");
    s.cmd("QUIT", "221");
    drop(env.gateway);
    drop(env.dir);
}

/// PEM of DER certificates.
fn pem(ders: &[Vec<u8>]) -> String {
    use base64ct::{Base64, Encoding};
    let mut out = String::new();
    for d in ders {
        out.push_str("-----BEGIN CERTIFICATE-----\n");
        let b = Base64::encode_string(d);
        for chunk in b.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(chunk).expect("ascii"));
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
    }
    out
}

/// A loopback HTTP listener that counts connections (and answers 404).
fn counting_server() -> (u16, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            h.fetch_add(1, Ordering::SeqCst);
            let mut c = c;
            let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
            let mut buf = [0u8; 2048];
            let _ = c.read(&mut buf);
            let _ = c.write_all(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    (port, hits)
}

fn cert_count(data: &Path) -> usize {
    let out = ok(data, &["cert", "list", "--json", "--limit", "10000"]);
    serde_json::from_str::<serde_json::Value>(&out)
        .expect("json")
        .as_array()
        .map_or(0, Vec::len)
}

#[test]
fn a_strangers_signed_mail_steers_no_fetch_and_stores_no_decoys() {
    let Some(env) = start() else { return };
    let (port, hits) = counting_server();
    let crl_url = format!("http://127.0.0.1:{port}/eve.crl");
    // The stranger: its own CA, a certificate pointing its CRL at our loopback, and a
    // message signed with it carrying 30 decoy certificates.
    let stranger = env.dir.path().join("stranger");
    ok(&stranger, &["init"]);
    ok(
        &stranger,
        &[
            "ca",
            "create",
            "--root-cn",
            "Eve Root",
            "--intermediate-cn",
            "Eve CA",
        ],
    );
    let out = ok(
        &stranger,
        &[
            "ca",
            "issue",
            "--email",
            "eve@stranger.example",
            "--cn",
            "Eve",
            "--crl-url",
            &crl_url,
        ],
    );
    let eve = out
        .split_whitespace()
        .nth(1)
        .expect("thumbprint")
        .to_owned();
    let decoy_pki = TestPki::new("Decoys");
    let decoys: Vec<Vec<u8>> = (0..30)
        .map(|i| {
            decoy_pki.leaf_shared_key(&LeafSpec::email(
                &format!("decoy{i}@decoy.example"),
                500 + i,
            ))
        })
        .collect();
    let decoy_file = env.dir.path().join("decoys.pem");
    std::fs::write(&decoy_file, pem(&decoys)).expect("decoys");
    let msg = env.dir.path().join("msg.eml");
    std::fs::write(
        &msg,
        "From: eve@stranger.example\r\nTo: carol@example.com\r\nSubject: hello\r\n\r\nhi carol\r\n",
    )
    .expect("msg");
    let signed = ok(
        &stranger,
        &[
            "smime",
            "sign",
            p(&msg),
            "--signer",
            &eve,
            "--chain",
            p(&decoy_file),
        ],
    );
    let before = cert_count(&env.data);
    let mut s = Smtp::open(env.smtp);
    s.mail(
        "eve@stranger.example",
        &["carol@example.com"],
        signed.as_bytes(),
        "250",
    );
    s.cmd("QUIT", "221");
    let after = cert_count(&env.data);
    assert!(
        after > before && after - before <= 10,
        "the signer (and its chain) at most: {before} -> {after}"
    );
    let listed = ok(&env.data, &["cert", "list", "--json", "--limit", "10000"]);
    assert!(!listed.contains("decoy.example"), "no decoy stored");
    assert!(
        listed.contains("eve@stranger.example"),
        "the signer is kept"
    );
    // Its distribution point is no download source (the signer chains to no trusted root).
    let sources = ok(&env.data, &["crl", "sources", "--json"]);
    assert!(!sources.contains(&crl_url), "{sources}");
    let (_, _, _) = run(&env.data, &["crl", "update"]);
    // An administrator naming the URL is still refused an internal address without
    // fetch-allow or --allow-internal.
    let (code, out, err) = run(&env.data, &["crl", "update", "--url", &crl_url]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(format!("{out}{err}").contains("fetch-allow"), "{out}{err}");
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "nothing reached the loopback server"
    );
    let (_, out, err) = run(
        &env.data,
        &["crl", "update", "--url", &crl_url, "--allow-internal"],
    );
    assert!(
        hits.load(Ordering::SeqCst) >= 1,
        "--allow-internal reaches it: {out}{err}"
    );
}

/// Raises this process's descriptor limit as far as allowed; returns it.
fn raise_nofile() -> u64 {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut l = getrlimit(Resource::Nofile);
    l.current = l.maximum;
    let _ = setrlimit(Resource::Nofile, l);
    getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

#[test]
fn idle_admin_connections_cannot_starve_the_mail() {
    let Some(env) = start() else { return };
    let limit = raise_nofile();
    let want = 2_000usize.min(limit.saturating_sub(200) as usize);
    let http = env.gateway.http;
    let mut idle = Vec::with_capacity(want);
    let started = Instant::now();
    for _ in 0..want {
        // Connections over the cap wait in the kernel's backlog or are not taken at all.
        if let Ok(c) = TcpStream::connect_timeout(
            &std::net::SocketAddr::from(([127, 0, 0, 1], http)),
            Duration::from_millis(300),
        ) {
            idle.push(c);
        }
        if started.elapsed() > Duration::from_secs(60) {
            break;
        }
    }
    assert!(idle.len() >= 500, "{} idle connections opened", idle.len());
    let pid = env.gateway.pid().expect("running");
    let fds = open_fds(pid);
    assert!(
        fds < 64 + 200,
        "serve holds {fds} descriptors with {} idle admin connections (cap 64)",
        idle.len()
    );
    // Mail still flows, at once.
    let t = Instant::now();
    let mut s = Smtp::open(env.smtp);
    s.mail(
        "x@outside.example",
        &["b@y.example"],
        b"Subject: still flowing\r\n\r\nhello\r\n",
        "250",
    );
    s.cmd("QUIT", "221");
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    // The idle ones are closed after the header timeout (2 s here), and the admin port
    // answers again.
    let mut closed = 0;
    for c in idle.iter_mut().take(50) {
        let _ = c.set_read_timeout(Some(Duration::from_secs(10)));
        let mut b = [0u8; 1];
        if matches!(c.read(&mut b), Ok(0) | Err(_)) {
            closed += 1;
        }
    }
    assert!(
        closed >= 40,
        "{closed} of 50 idle connections closed by the server"
    );
    drop(idle);
    let mut answered = false;
    for _ in 0..60 {
        if let Ok(mut c) = TcpStream::connect(("127.0.0.1", http)) {
            let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let mut out = String::new();
            let _ = c.read_to_string(&mut out);
            if out.starts_with("HTTP/1.1") {
                answered = true;
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        answered,
        "/healthz answers once the idle connections are gone"
    );
}

#[test]
fn files_are_private_and_outputs_never_replace_devices_or_follow_links() {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    // A directory made open by someone else is made private by init.
    std::fs::create_dir(&data).expect("mkdir");
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    ok(&data, &["init"]);
    let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700, "data directory");
    let pki = TestPki::new("Files");
    let leaf = pki.leaf_rsa(&LeafSpec::email("frank@example.com", 7));
    let cert = dir.path().join("frank.pem");
    std::fs::write(&cert, &leaf.pem).expect("pem");
    let out = ok(&data, &["cert", "import", p(&cert), "--json"]);
    for entry in std::fs::read_dir(&data).expect("ls").flatten() {
        let m = mode(&entry.path());
        assert_eq!(m & 0o077, 0, "{} is {m:o}", entry.path().display());
    }
    let sha: String = serde_json::from_str::<serde_json::Value>(&out)
        .ok()
        .and_then(|v| {
            v.pointer("/items/0/sha256")
                .or_else(|| v.pointer("/0/sha256"))
                .and_then(|s| s.as_str().map(str::to_owned))
        })
        .unwrap_or_else(|| {
            let list = ok(&data, &["cert", "list", "--json"]);
            let v: serde_json::Value = serde_json::from_str(&list).expect("json");
            v[0]["sha256"].as_str().expect("sha").to_owned()
        });
    // An export file is private.
    let file = dir.path().join("out.pem");
    ok(
        &data,
        &["cert", "export", &sha, "--format", "pem", "-o", p(&file)],
    );
    assert_eq!(mode(&file), 0o600);
    // A FIFO is written through and stays a FIFO.
    let fifo = dir.path().join("fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap_or_default())
    };
    ok(
        &data,
        &["cert", "export", &sha, "--format", "pem", "-o", p(&fifo)],
    );
    let got = reader.join().expect("reader");
    assert!(got.contains("BEGIN CERTIFICATE"), "{got}");
    assert!(
        std::fs::symlink_metadata(&fifo)
            .expect("stat")
            .file_type()
            .is_fifo()
    );
    // A symbolic link is refused and its target untouched.
    let target = dir.path().join("target.txt");
    std::fs::write(&target, "keep me").expect("target");
    let link = dir.path().join("link.pem");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");
    let (code, _, err) = run(
        &data,
        &["cert", "export", &sha, "--format", "pem", "-o", p(&link)],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("symbolic link"), "{err}");
    assert_eq!(std::fs::read_to_string(&target).expect("target"), "keep me");
    // With --force it is written through the link, which stays a link.
    ok(
        &data,
        &[
            "cert",
            "export",
            &sha,
            "--format",
            "pem",
            "-o",
            p(&link),
            "--force",
        ],
    );
    assert!(
        std::fs::read_to_string(&target)
            .expect("target")
            .contains("BEGIN CERTIFICATE")
    );
    assert!(
        std::fs::symlink_metadata(&link)
            .expect("stat")
            .file_type()
            .is_symlink()
    );
    // -o - is standard output.
    let out = ok(
        &data,
        &["cert", "export", &sha, "--format", "pem", "-o", "-"],
    );
    assert!(out.contains("BEGIN CERTIFICATE"));
    // A reader that closed its end: the CLI ends quietly.
    let mut child = common::certmail(&data, &["cert", "list", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    let err = common::text(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    // Search strings are literal: % and _ match only themselves.
    let list = ok(&data, &["cert", "list", "--search", "%", "--json"]);
    assert_eq!(list.trim(), "[]", "{list}");
    let list = ok(&data, &["cert", "list", "--search", "frank", "--json"]);
    assert!(list.contains("frank@example.com"), "{list}");
}

fn vm_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn message_data_in_flight_stays_within_max_memory() {
    // 16 sessions of 8 MiB would hold 128 MiB (256 MiB of buffers) without a budget.
    let Some(env) = start_with_config("max-memory = \"48M\"\nmax-message-size = \"10M\"\n") else {
        return;
    };
    let (sink, gateway, smtp) = (&env.sink, &env.gateway, env.smtp);
    let pid = gateway.pid().expect("running");
    let idle = vm_kb(pid, "VmRSS:");
    let mut body = b"From: x@outside.example\r\nTo: b@y.example\r\nSubject: big\r\n\r\n".to_vec();
    let line = [b'x'; 78];
    while body.len() < 8 << 20 {
        body.extend_from_slice(&line);
        body.extend_from_slice(b"\r\n");
    }
    let body = Arc::new(body);
    let deferred = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..16)
        .map(|_| {
            let (body, deferred) = (body.clone(), deferred.clone());
            std::thread::spawn(move || {
                // As an MTA would: a 452 is tried again a little later.
                for _ in 0..40 {
                    let mut s = Smtp::open(smtp);
                    // A reservation may wait its 30 s twice (data, then processing).
                    s.0.set_read_timeout(Some(Duration::from_secs(180)))
                        .expect("timeout");
                    // SIZE= as Postfix sends it: the reservation is made up front.
                    s.cmd(
                        &format!("MAIL FROM:<x@outside.example> SIZE={}", body.len()),
                        "250",
                    );
                    s.cmd("RCPT TO:<b@y.example>", "250");
                    s.cmd("DATA", "354");
                    let mut out = Vec::with_capacity(body.len() + 8);
                    out.extend_from_slice(&body);
                    out.extend_from_slice(b".\r\n");
                    s.0.write_all(&out).expect("data");
                    let r = reply(&mut s.0);
                    if r.starts_with("250") {
                        return true;
                    }
                    assert!(r.starts_with("452 4.3.1"), "reply {r:?}");
                    deferred.fetch_add(1, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(200));
                }
                false
            })
        })
        .collect();
    let accepted = threads
        .into_iter()
        .map(|t| t.join().expect("client"))
        .filter(|a| *a)
        .count();
    assert_eq!(
        accepted,
        16,
        "every message acknowledged in the end: {}",
        gateway.log_text()
    );
    wait_for(60, "the sink to get all 16", || sink.messages().len() >= 16);
    let peak = vm_kb(pid, "VmHWM:");
    let grew_mib = peak.saturating_sub(idle) / 1024;
    assert!(
        grew_mib <= 48 + 24,
        "peak resident set grew by {grew_mib} MiB over idle, budget 48 MiB (deferred {})",
        deferred.load(Ordering::SeqCst)
    );
}

/// A small HTTP client in Python (it can bind a source address on loopback, so one test
/// plays two client addresses). Reads a JSON list of steps from stdin and prints one line
/// per step: `STATUS LOCATION` (each step a fresh connection; cookies kept per source).
const HTTP_CLIENT: &str = r#"
import http.client, json, re, sys, threading
port, steps = int(sys.argv[1]), json.load(sys.stdin)
jar, out = {}, {}
def run(i, s):
    src = s.get("from", "127.0.0.1")
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60, source_address=(src, 0))
    headers = {"Cookie": "; ".join("%s=%s" % kv for kv in jar.get(src, {}).items())}
    body = None
    if s.get("form") is not None:
        form = dict(s["form"])
        if form.get("csrf") == "@":
            form["csrf"] = jar.get(src, {}).get("_csrf", "")
        body = "&".join("%s=%s" % (k, __import__("urllib.parse").parse.quote(v)) for k, v in form.items())
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    c.request(s.get("method", "GET"), s["path"], body=body, headers=headers)
    r = c.getresponse()
    text = r.read().decode("utf-8", "replace")
    for v in r.msg.get_all("Set-Cookie") or []:
        k, _, rest = v.partition("=")
        jar.setdefault(src, {})[k] = rest.split(";")[0]
    m = re.search(r'name="csrf" value="([^"]+)"', text)
    if m:
        jar.setdefault(src, {})["_csrf"] = m.group(1)
    out[i] = "%d %s" % (r.status, r.getheader("Location") or "-")
parallel = [s for s in steps if s.get("parallel")]
for i, s in enumerate(steps):
    if not s.get("parallel"):
        run(i, s)
ts = [threading.Thread(target=run, args=(i, s)) for i, s in enumerate(steps) if s.get("parallel")]
[t.start() for t in ts]; [t.join() for t in ts]
for i in range(len(steps)):
    print(out.get(i, "none -"))
"#;

fn http_steps(port: u16, steps: &serde_json::Value) -> Vec<String> {
    use std::process::{Command, Stdio};
    let mut child = Command::new("python3")
        .args(["-c", HTTP_CLIENT, &port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(steps.to_string().as_bytes())
        .expect("steps");
    let out = child.wait_with_output().expect("python3");
    assert!(out.status.success(), "{}", common::text(&out.stderr));
    common::text(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_strangers_wrong_passwords_never_lock_an_administrator_out() {
    let Some(env) = start() else { return };
    let pw = env.dir.path().join("pw.txt");
    std::fs::write(&pw, "correct horse battery staple").expect("pw");
    ok(
        &env.data,
        &[
            "admin",
            "add",
            "root",
            "--role",
            "admin",
            "--password-file",
            p(&pw),
        ],
    );
    let login = |from: &str, password: &str| {
        serde_json::json!([
            { "from": from, "path": "/login" },
            { "from": from, "method": "POST", "path": "/login",
              "form": { "csrf": "@", "name": "root", "password": password } },
        ])
    };
    // A stranger at 127.0.0.2 tries five wrong passwords, then is held off.
    let mut steps = Vec::new();
    for _ in 0..6 {
        steps.extend(
            login("127.0.0.2", "wrong guess")
                .as_array()
                .expect("steps")
                .clone(),
        );
    }
    let got = http_steps(env.gateway.http, &serde_json::Value::Array(steps));
    let posts: Vec<&String> = got.iter().skip(1).step_by(2).collect();
    assert!(posts[..5].iter().all(|r| r.starts_with("401")), "{got:?}");
    assert!(posts[5].starts_with("429"), "{got:?}");
    // The administrator, from her own address, logs in at once.
    let got = http_steps(
        env.gateway.http,
        &login("127.0.0.1", "correct horse battery staple"),
    );
    assert!(got[1].starts_with("303"), "{got:?}");
}

#[test]
fn the_setup_link_makes_one_account_when_eight_forms_race() {
    use std::process::{Command, Stdio};
    if !mta::available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    ok(&data, &["init"]);
    let (smtp, http) = (free_port(), free_port());
    let mut serve = Command::new(env!("CARGO_BIN_EXE_certmail"))
        .arg("--data-dir")
        .arg(&data)
        .args(["serve", "--smtp-listen", &format!("127.0.0.1:{smtp}")])
        .args(["--http-listen", &format!("127.0.0.1:{http}"), "--no-jobs"])
        .env_remove("CERTMAIL_DATABASE_URL")
        .env_remove("CERTMAIL_PASSPHRASE")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve");
    let line = common::first_line(serve.stdout.as_mut().expect("stdout"));
    let path = line
        .split_whitespace()
        .find(|w| w.contains("/setup/"))
        .and_then(|u| u.find("/setup/").map(|i| u[i..].to_owned()))
        .unwrap_or_else(|| panic!("no setup link in {line:?}"));
    mta::wait_port(http, "the admin port");
    let mut steps = vec![serde_json::json!({ "path": path })];
    for i in 0..8 {
        steps.push(serde_json::json!({
            "method": "POST", "path": path, "parallel": true,
            "form": { "csrf": "@", "name": format!("root{i}"),
                      "password": "a long enough password", "password2": "a long enough password" },
        }));
    }
    let got = http_steps(http, &serde_json::Value::Array(steps));
    let _ = serve.kill();
    let _ = serve.wait();
    let made = got.iter().filter(|r| r.starts_with("303")).count();
    assert_eq!(made, 1, "{got:?}");
    let list = ok(&data, &["admin", "list", "--json"]);
    let n = serde_json::from_str::<serde_json::Value>(&list)
        .expect("json")
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(n, 1, "{list}");
}
