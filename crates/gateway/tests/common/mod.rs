//! In-process test harness for the gateway: an [`App`] on a fresh data directory, a test
//! next hop ([`Sink`]) whose behaviour each test chooses, and an SMTP client over an
//! in-memory pipe (`c.cmd("EHLO x", "250")`, stalwart's style).

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use certmail_app::{App, Config, ImportOptions, RootPolicy};
use certmail_gateway::{GatewayConfig, Shared};
use certmail_testkit::{Issued, LeafSpec, TestPki};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, DuplexStream};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// What the test next hop does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Behaviour {
    /// Accept everything.
    Accept,
    /// 451 at the end of data.
    TempFailData,
    /// 554 at the end of data.
    RejectData,
    /// 550 for this recipient at RCPT.
    RejectRcpt(String),
    /// Accept the connection and never answer anything.
    Hang,
}

/// A message the sink accepted.
#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub rcpts: Vec<String>,
    pub data: Vec<u8>,
}

impl Received {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }
}

/// A next hop on a loopback port.
#[derive(Clone)]
pub struct Sink {
    pub addr: String,
    pub got: Arc<Mutex<Vec<Received>>>,
    pub behaviour: Arc<Mutex<Behaviour>>,
    task: Arc<tokio::task::JoinHandle<()>>,
}

impl Sink {
    pub async fn start() -> Sink {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind sink");
        let addr = l.local_addr().expect("addr").to_string();
        let got = Arc::new(Mutex::new(Vec::new()));
        let behaviour = Arc::new(Mutex::new(Behaviour::Accept));
        let (g, b) = (got.clone(), behaviour.clone());
        let task = tokio::spawn(async move {
            while let Ok((s, _)) = l.accept().await {
                let (g, b) = (g.clone(), b.clone());
                tokio::spawn(async move {
                    let _ = sink_session(s, g, b).await;
                });
            }
        });
        Sink {
            addr,
            got,
            behaviour,
            task: Arc::new(task),
        }
    }

    /// Stops listening (the next hop is down).
    pub fn stop(&self) {
        self.task.abort();
    }

    pub fn set(&self, b: Behaviour) {
        *self.behaviour.lock().expect("lock") = b;
    }

    pub fn messages(&self) -> Vec<Received> {
        self.got.lock().expect("lock").clone()
    }

    pub fn clear(&self) {
        self.got.lock().expect("lock").clear();
    }
}

async fn sink_session(
    s: tokio::net::TcpStream,
    got: Arc<Mutex<Vec<Received>>>,
    behaviour: Arc<Mutex<Behaviour>>,
) -> std::io::Result<()> {
    let b = behaviour.lock().expect("lock").clone();
    let (r, mut w) = s.into_split();
    let mut r = BufReader::new(r);
    if b == Behaviour::Hang {
        let mut buf = [0u8; 1024];
        while r.read(&mut buf).await? > 0 {}
        return Ok(());
    }
    w.write_all(b"220 sink ESMTP\r\n").await?;
    let mut from = String::new();
    let mut rcpts = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let up = line.to_ascii_uppercase();
        let b = behaviour.lock().expect("lock").clone();
        let reply: String = if up.starts_with("EHLO") {
            "250-sink\r\n250-PIPELINING\r\n250 8BITMIME\r\n".into()
        } else if up.starts_with("MAIL FROM:") {
            from = addr_of(&line);
            rcpts.clear();
            "250 2.1.0 ok\r\n".into()
        } else if up.starts_with("RCPT TO:") {
            let a = addr_of(&line);
            match &b {
                Behaviour::RejectRcpt(x) if *x == a => "550 5.1.1 no such user here\r\n".into(),
                _ => {
                    rcpts.push(a);
                    "250 2.1.5 ok\r\n".into()
                }
            }
        } else if up.starts_with("DATA") {
            w.write_all(b"354 go ahead\r\n").await?;
            let mut data = Vec::new();
            loop {
                let mut l = Vec::new();
                if r.read_until(b'\n', &mut l).await? == 0 {
                    return Ok(());
                }
                if l == b".\r\n" {
                    break;
                }
                if l.first() == Some(&b'.') {
                    l.remove(0);
                }
                data.extend_from_slice(&l);
            }
            match b {
                Behaviour::TempFailData => "451 4.3.0 try later\r\n".into(),
                Behaviour::RejectData => "554 5.6.0 content refused\r\n".into(),
                _ => {
                    got.lock().expect("lock").push(Received {
                        from: from.clone(),
                        rcpts: rcpts.clone(),
                        data,
                    });
                    "250 2.0.0 queued\r\n".into()
                }
            }
        } else if up.starts_with("RSET") {
            rcpts.clear();
            "250 2.0.0 ok\r\n".into()
        } else if up.starts_with("QUIT") {
            w.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            "250 2.0.0 ok\r\n".into()
        };
        w.write_all(reply.as_bytes()).await?;
    }
}

fn addr_of(line: &str) -> String {
    match (line.find('<'), line.find('>')) {
        (Some(a), Some(b)) if a < b => line[a + 1..b].to_owned(),
        _ => String::new(),
    }
}

/// The test PKI: alice and carol internal (example.com, with keys), bob and dave external
/// partners (certificates only).
pub struct Pki {
    pub pki: TestPki,
    pub alice: Issued,
    pub bob: Issued,
    pub carol: Issued,
    pub dave: Issued,
}

impl Pki {
    pub fn new() -> Pki {
        let pki = TestPki::new("Gateway");
        Pki {
            alice: pki.leaf_rsa(&LeafSpec::email("alice@example.com", 11)),
            bob: pki.leaf_rsa(&LeafSpec::email("bob@partner.example", 12)),
            carol: pki.leaf_rsa(&LeafSpec::email("carol@example.com", 13)),
            dave: pki.leaf_rsa(&LeafSpec::email("dave@partner.example", 14)),
            pki,
        }
    }
}

/// A gateway over a fresh data directory, with its next hop.
pub struct Harness {
    pub dir: tempfile::TempDir,
    pub app: Arc<App>,
    pub shared: Arc<Shared>,
    pub sink: Sink,
    pub shutdown: watch::Sender<bool>,
}

pub async fn open_app(dir: &std::path::Path, url: Option<String>) -> App {
    let cfg = Config {
        data_dir: dir.to_path_buf(),
        database_url: url,
    };
    if !dir.join("master.key").exists() {
        App::init(&cfg, None).await.expect("init");
    }
    App::open(&cfg, None).await.expect("open")
}

/// Imports the PKI: roots, intermediate, alice and carol with keys, bob's and dave's
/// certificates; example.com is internal.
pub async fn load_pki(app: &App, p: &Pki) {
    let roots = ImportOptions {
        password: None,
        roots: RootPolicy::AllToRoots,
    };
    app.import_bytes(p.pki.root.pem.as_bytes(), &roots)
        .await
        .expect("root");
    let o = ImportOptions::default();
    for pem in [&p.pki.intermediate.pem, &p.bob.pem, &p.dave.pem] {
        app.import_bytes(pem.as_bytes(), &o).await.expect("cert");
    }
    for i in [&p.alice, &p.carol] {
        app.import_bytes(i.pem.as_bytes(), &o).await.expect("cert");
        app.import_bytes(i.key_pem.as_bytes(), &o)
            .await
            .expect("key");
    }
    app.set_setting(
        &certmail_store::Party::Domain("example.com".into()),
        "locality",
        "internal",
    )
    .await
    .expect("locality");
}

impl Harness {
    pub async fn new(tune: impl FnOnce(&mut GatewayConfig)) -> Harness {
        let dir = tempfile::tempdir().expect("tempdir");
        let app = Arc::new(open_app(&dir.path().join("data"), None).await);
        Self::with_app(dir, app, tune).await
    }

    pub async fn with_app(
        dir: tempfile::TempDir,
        app: Arc<App>,
        tune: impl FnOnce(&mut GatewayConfig),
    ) -> Harness {
        let sink = Sink::start().await;
        let mut cfg = GatewayConfig {
            next_hop: sink.addr.clone(),
            hostname: Some("gw.test".into()),
            next_hop_timeout: 2,
            next_hop_data_timeout: 2,
            ..GatewayConfig::default()
        };
        tune(&mut cfg);
        let (tx, rx) = watch::channel(false);
        let shared = Arc::new(Shared::new(app.clone(), cfg, rx).await.expect("shared"));
        Harness {
            dir,
            app,
            shared,
            sink,
            shutdown: tx,
        }
    }

    /// A new SMTP session over an in-memory pipe, greeting read.
    pub async fn client(&self) -> Client {
        let (a, b) = tokio::io::duplex(1 << 20);
        let shared = self.shared.clone();
        tokio::spawn(async move {
            let mut s = certmail_gateway::session::Session::new(shared, b, "test".into(), false);
            if s.greet().await.is_ok() {
                let _ = s.run().await;
            }
        });
        let mut c = Client {
            r: BufReader::new(a),
        };
        let g = c.read_reply().await;
        assert!(g.starts_with("220 gw.test"), "greeting: {g}");
        c
    }
}

/// The client end of a session.
pub struct Client {
    pub r: BufReader<DuplexStream>,
}

impl Client {
    /// Reads one (possibly multi-line) reply; empty when the connection closed.
    pub async fn read_reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(Duration::from_secs(20), self.r.read_line(&mut line))
                .await
                .expect("reply within 20 s")
                .expect("read");
            if n == 0 {
                return all;
            }
            all.push_str(&line);
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                return all;
            }
        }
    }

    pub async fn send(&mut self, raw: &[u8]) {
        self.r.get_mut().write_all(raw).await.expect("write");
    }

    /// EHLO, a transaction from a@x.example to b@y.example, and DATA: ready for the data.
    pub async fn start_data(&mut self) {
        self.cmd("EHLO x", "250").await;
        self.cmd("MAIL FROM:<a@x.example>", "250").await;
        self.cmd("RCPT TO:<b@y.example>", "250").await;
        self.cmd("DATA", "354").await;
    }

    /// Sends a command and checks the reply starts with `expect`; returns the reply.
    pub async fn cmd(&mut self, line: &str, expect: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes()).await;
        let r = self.read_reply().await;
        assert!(
            r.starts_with(expect),
            "{line:?}: expected {expect:?}, got {r:?}"
        );
        r
    }

    /// DATA, the message (dot-stuffed here) and the final reply, checked against `expect`.
    pub async fn data(&mut self, msg: &[u8], expect: &str) -> String {
        self.cmd("DATA", "354").await;
        let mut out = Vec::with_capacity(msg.len() + 16);
        for line in msg.split_inclusive(|b| *b == b'\n') {
            if line.first() == Some(&b'.') {
                out.push(b'.');
            }
            out.extend_from_slice(line);
        }
        if !msg.ends_with(b"\r\n") {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b".\r\n");
        self.send(&out).await;
        let r = self.read_reply().await;
        assert!(
            r.starts_with(expect),
            "end of data: expected {expect:?}, got {r:?}"
        );
        r
    }

    /// One whole transaction.
    pub async fn mail(&mut self, from: &str, to: &[&str], msg: &[u8], expect: &str) -> String {
        self.cmd(&format!("MAIL FROM:<{from}>"), "250").await;
        for t in to {
            self.cmd(&format!("RCPT TO:<{t}>"), "250").await;
        }
        self.data(msg, expect).await
    }
}

pub fn message(from: &str, to: &str, subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{subject}@test>\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

/// The key pair of an issued test certificate.
pub fn keypair(i: &Issued) -> certmail_smime::KeyPair {
    let cert = cert(i);
    let key = certmail_crypto::PrivateKey::from_der_any(&i.key_pkcs8, None).expect("key");
    certmail_smime::KeyPair::new(cert, &key).expect("pair")
}

/// An issued test certificate, parsed.
pub fn cert(i: &Issued) -> certmail_pki::Certificate {
    certmail_pki::Certificate::from_der(&i.der, &certmail_crypto::AwsLcOps).expect("cert")
}

/// A gateway with the test PKI loaded.
pub async fn setup() -> (Harness, Pki) {
    let h = Harness::new(|_| {}).await;
    let p = Pki::new();
    load_pki(&h.app, &p).await;
    (h, p)
}
