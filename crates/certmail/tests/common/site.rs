//! The site of the gateway's Postfix tests (gateway_postfix.rs, gateway_policies_postfix.rs):
//! a data directory with a test PKI (example.com internal, alice with a key who signs,
//! bob@partner.example with a certificate, nocert.example insisting on encryption), and the
//! flow around it: smtp-sink, a private Postfix content filter and `certmail serve`.

use std::path::{Path, PathBuf};
use std::process::Command;

use certmail_testkit::{Issued, LeafSpec, TestPki};

use super::mta::{self, Gateway, Postfix, Sink};

pub struct Site {
    pub dir: tempfile::TempDir,
    pub data: PathBuf,
    pub pki: TestPki,
    pub alice: Issued,
    pub bob: Issued,
}

impl Site {
    pub fn file(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, contents).expect("write");
        p
    }

    /// `certmail --data-dir DATA ARGS...`: exit code, stdout and stderr.
    pub fn try_cli(&self, args: &[&str]) -> (Option<i32>, String, String) {
        let out = super::certmail(&self.data, args)
            .output()
            .expect("certmail");
        (
            out.status.code(),
            super::text(&out.stdout),
            super::text(&out.stderr),
        )
    }

    pub fn cli(&self, args: &[&str]) -> String {
        let (code, stdout, stderr) = self.try_cli(args);
        assert_eq!(code, Some(0), "certmail {args:?}: {stderr}");
        stdout
    }

    pub fn path(&self, p: &Path) -> String {
        p.to_str().expect("utf-8").to_owned()
    }

    /// `hold list --json`, parsed.
    pub fn held(&self) -> Vec<serde_json::Value> {
        let out = self.cli(&["hold", "list", "--json"]);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("hold list --json: {e}: {out}"))
    }
}

/// As gateway_postfix.rs: example.com is internal (alice has a key and signs),
/// bob@partner.example has a certificate, nocert.example insists on encryption.
pub fn site() -> Site {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let pki = TestPki::new("Postfix");
    let alice = pki.leaf_rsa(&LeafSpec::email("alice@example.com", 21));
    let bob = pki.leaf_rsa(&LeafSpec::email("bob@partner.example", 22));
    let s = Site {
        dir,
        data,
        pki,
        alice,
        bob,
    };
    s.cli(&["init"]);
    let root = s.file("root.pem", &s.pki.root.pem);
    let inter = s.file("inter.pem", &s.pki.intermediate.pem);
    let alice_c = s.file("alice.pem", &s.alice.pem);
    let alice_k = s.file("alice.key", &s.alice.key_pem);
    let bob_c = s.file("bob.pem", &s.bob.pem);
    s.file("bob.key", &s.bob.key_pem);
    s.cli(&["root", "import", &s.path(&root)]);
    s.cli(&[
        "cert",
        "import",
        &s.path(&inter),
        &s.path(&alice_c),
        &s.path(&bob_c),
    ]);
    s.cli(&["key", "import", &s.path(&alice_k)]);
    s.cli(&["domain", "set", "example.com", "locality", "internal"]);
    s.cli(&["domain", "set", "nocert.example", "encrypt-mode", "force"]);
    s.cli(&["global", "set", "sign", "on"]);
    s
}

pub struct Flow {
    pub site: Site,
    pub sink: Sink,
    pub postfix: Postfix,
    pub gateway: Gateway,
}

pub fn flow() -> Option<Flow> {
    if !mta::available() || !super::have("openssl") {
        return None;
    }
    let site = site();
    let sink = Sink::start(site.dir.path());
    let filter = mta::free_port();
    let postfix = Postfix::start(site.dir.path(), sink.port, filter);
    let gateway = Gateway::start(
        &site.data,
        filter,
        postfix.reinject,
        &site.dir.path().join("gateway.log"),
    );
    Some(Flow {
        site,
        sink,
        postfix,
        gateway,
    })
}

pub fn openssl(args: &[&str], what: &str) -> String {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
