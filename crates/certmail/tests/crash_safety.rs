//! `kill -9` at random moments of the commands that write a lot (issue 15): a bulk issuance,
//! the import of a large bundle, a CRL import and a key import, 48 times in turn on one
//! SQLite database and 24 times on PostgreSQL. After every kill the database opens (and
//! passes SQLite's integrity check), and holds no half-written object: no issued record without its certificate, no
//! certificate of the CA without its key, no e-mail row without its certificate. Running each
//! command again then completes the work, without duplicates.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use certmail_testkit::{LeafSpec, TestPki, unix_date};

/// Counts over the schema (the same SQL on SQLite and PostgreSQL); the first four must be
/// zero in a database with nothing half-written.
const CHECKS: [(&str, &str); 8] = [
    (
        "issued_without_certificate",
        "SELECT COUNT(*) FROM issued i WHERE i.sha256 <> '' AND NOT EXISTS (SELECT 1 FROM certificates c WHERE c.sha256 = i.sha256)",
    ),
    (
        "ca_certificate_without_key",
        "SELECT COUNT(*) FROM certificates c JOIN issued i ON i.sha256 = c.sha256 WHERE NOT EXISTS (SELECT 1 FROM private_keys k WHERE k.key_id = c.key_id)",
    ),
    (
        "email_without_certificate",
        "SELECT COUNT(*) FROM certificate_emails e WHERE NOT EXISTS (SELECT 1 FROM certificates c WHERE c.id = e.certificate_id)",
    ),
    (
        "bulk_addresses_twice",
        "SELECT COUNT(*) FROM (SELECT email FROM issued WHERE email LIKE 'bulk%' GROUP BY email HAVING COUNT(*) > 1) t",
    ),
    (
        "bulk_issued",
        "SELECT COUNT(*) FROM issued WHERE email LIKE 'bulk%'",
    ),
    (
        "partners",
        "SELECT COUNT(DISTINCT certificate_id) FROM certificate_emails WHERE email LIKE '%@partner.example'",
    ),
    (
        "current_crls",
        "SELECT COUNT(*) FROM crls WHERE current = 1",
    ),
    ("keys", "SELECT COUNT(*) FROM private_keys"),
];

/// Where the commands write: the embedded SQLite of the data directory, or PostgreSQL.
enum Db<'a> {
    Sqlite,
    Postgres(&'a str),
}

impl Db<'_> {
    /// Global options before the command.
    fn args(&self) -> Vec<String> {
        match self {
            Db::Sqlite => Vec::new(),
            Db::Postgres(url) => vec!["--database-url".into(), (*url).to_owned()],
        }
    }

    fn cmd(&self, data: &Path, args: &[&str]) -> Command {
        let mut all = self.args();
        all.extend(args.iter().map(|a| (*a).to_owned()));
        common::certmail(data, &all.iter().map(String::as_str).collect::<Vec<_>>())
    }

    fn ok(&self, data: &Path, args: &[&str]) -> String {
        let out = self.cmd(data, args).output().expect("certmail");
        assert!(
            out.status.success(),
            "certmail {args:?}: {}",
            common::text(&out.stderr)
        );
        common::text(&out.stdout)
    }
}

fn checks(db: &Db, data: &Path) -> std::collections::HashMap<String, String> {
    let out = match db {
        Db::Sqlite => {
            let mut script = String::from(
                "import sqlite3, sys\ndb = sqlite3.connect(sys.argv[1])\nprint('integrity', db.execute('PRAGMA integrity_check').fetchone()[0])\n",
            );
            for (name, q) in CHECKS {
                script.push_str(&format!(
                    "print({name:?}, db.execute({q:?}).fetchone()[0])\n"
                ));
            }
            Command::new("python3")
                .args(["-c", &script])
                .arg(data.join("certmail.db"))
                .output()
                .expect("python3")
        }
        Db::Postgres(url) => {
            let q: Vec<String> = CHECKS
                .iter()
                .map(|(name, q)| format!("SELECT '{name}', ({q})::text"))
                .chain(["SELECT 'integrity', 'ok'".to_owned()])
                .collect();
            Command::new("psql")
                .args(["-X", "-q", "-t", "-A", "-F", " ", *url, "-c"])
                .arg(q.join(" UNION ALL "))
                .output()
                .expect("psql")
        }
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn assert_whole(db: &Db, data: &Path, when: &str) -> std::collections::HashMap<String, String> {
    let c = checks(db, data);
    assert_eq!(c["integrity"], "ok", "{when}: {c:?}");
    for (k, _) in &CHECKS[..4] {
        assert_eq!(c[*k], "0", "{when}: {k}: {c:?}");
    }
    // The database opens for the next command.
    db.ok(data, &["cert", "list", "--limit", "1"]);
    c
}

#[test]
fn kill_9_at_random_moments_leaves_nothing_half_written() {
    if !common::have("python3") {
        return;
    }
    kill_9_rounds(&Db::Sqlite, 48);
}

/// The same on PostgreSQL (fewer rounds: each kill leaves the server to clean up a
/// backend), which CI starts.
#[test]
fn kill_9_on_postgresql_leaves_nothing_half_written() {
    let Some(pg) = common::pg::PgDb::create("crash") else {
        return;
    };
    assert!(
        common::have("psql"),
        "psql is needed to look into the database"
    );
    kill_9_rounds(&Db::Postgres(&pg.url), 24);
}

fn kill_9_rounds(db: &Db, rounds: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    db.ok(&data, &["init"]);
    db.ok(
        &data,
        &[
            "ca",
            "create",
            "--root-cn",
            "Crash Root",
            "--intermediate-cn",
            "Crash CA",
            "--key",
            "p256",
        ],
    );
    let mut csv = String::from("EMAIL,COMMONNAME\n");
    for i in 0..400 {
        csv.push_str(&format!("bulk{i}@example.com,Bulk {i}\n"));
    }
    let csv_file = dir.path().join("bulk.csv");
    std::fs::write(&csv_file, csv).expect("csv");
    let pki = TestPki::new("Crash partner");
    let root = dir.path().join("root.pem");
    std::fs::write(&root, &pki.root.pem).expect("root");
    db.ok(&data, &["root", "import", root.to_str().expect("utf-8")]);
    let mut bundle = pki.intermediate.pem.clone();
    for i in 0..600u64 {
        bundle.push_str(
            &pki.leaf(&LeafSpec::email(&format!("p{i}@partner.example"), 5000 + i))
                .pem,
        );
    }
    let bundle_file = dir.path().join("bundle.pem");
    std::fs::write(&bundle_file, bundle).expect("bundle");
    let crl_file = dir.path().join("big.crl");
    std::fs::write(
        &crl_file,
        pki.crl(1..=20_000, 1, unix_date(2026, 1, 1), unix_date(2036, 1, 1)),
    )
    .expect("crl");
    let mut keys = String::new();
    for i in 0..40u64 {
        keys.push_str(
            &pki.leaf(&LeafSpec::email(&format!("k{i}@example.com"), 9000 + i))
                .key_pem,
        );
    }
    let keys_file = dir.path().join("keys.pem");
    std::fs::write(&keys_file, keys).expect("keys");

    let path = |p: &Path| p.to_str().expect("utf-8").to_owned();
    let ops: [Vec<String>; 4] = [
        vec![
            "ca".into(),
            "bulk".into(),
            path(&csv_file),
            "--key".into(),
            "p256".into(),
        ],
        vec!["cert".into(), "import".into(), path(&bundle_file)],
        vec!["crl".into(), "import".into(), path(&crl_file)],
        vec!["key".into(), "import".into(), path(&keys_file)],
    ];
    // A fixed pseudo-random sequence of delays, 5 to 300 ms at first. A command that ended
    // before its kill shrinks the range for that command (its work gets shorter as reruns
    // complete it, and machines differ), so the kills keep landing mid-command.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut killed = 0;
    let mut range = [300u64; 4];
    for round in 0..rounds {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let which = round % ops.len();
        let delay = 5 + x % range[which];
        let op = &ops[which];
        let mut child = db
            .cmd(&data, &op.iter().map(String::as_str).collect::<Vec<_>>())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(Duration::from_millis(delay));
        if child.try_wait().expect("wait").is_none() {
            killed += 1;
        } else {
            range[which] = (delay * 2 / 3).max(10);
        }
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        assert_whole(
            db,
            &data,
            &format!("after round {round} ({} killed at {delay} ms)", op[0]),
        );
    }
    eprintln!("{killed} of {rounds} kills landed mid-command");
    assert!(
        killed >= rounds * 2 / 5,
        "the kills must land mid-command: only {killed} did"
    );

    // Each command once more, to the end: everything there, once.
    for op in &ops {
        db.ok(&data, &op.iter().map(String::as_str).collect::<Vec<_>>());
    }
    let c = assert_whole(db, &data, "after the reruns");
    assert_eq!(c["bulk_issued"], "400", "{c:?}");
    assert_eq!(c["current_crls"], "1", "{c:?}");
    assert_eq!(c["partners"], "600", "{c:?}");
    // CA keys (root, intermediate), 400 bulk keys, 40 imported keys.
    assert_eq!(c["keys"], "442", "{c:?}");
    let again: serde_json::Value =
        serde_json::from_str(&db.ok(&data, &["ca", "bulk", &path(&csv_file), "--json"]))
            .expect("json");
    assert_eq!(again["issued"].as_array().map(Vec::len), Some(0));
}
