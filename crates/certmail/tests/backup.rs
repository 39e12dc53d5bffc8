//! `certmail backup` and `certmail restore` (issue 31): a backup taken while the gateway is
//! under load restores into a new directory with every row equal; the restored key signs,
//! the restored CA goes on with its serials and CRL numbers, the restored hold queue
//! releases; SQLite moves to PostgreSQL through a backup; bad files and wrong keys are
//! refused with nothing left behind.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use certmail_testkit::LeafSpec;
use common::mta::{self, Gateway, Sink, wait_for};
use common::site::{Site, openssl, site};

/// Every row of a backup file, per table, as sorted JSON objects (column name -> value), so
/// two backups compare equal whatever the row order and column order of their databases.
fn rows_of(file: &Path) -> BTreeMap<String, Vec<String>> {
    let text = std::fs::read_to_string(file).expect("backup");
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut table = String::new();
    let mut columns: Vec<String> = Vec::new();
    let mut lines = text.lines();
    let header: serde_json::Value =
        serde_json::from_str(lines.next().expect("header")).expect("test");
    assert_eq!(header["format"], "certmail-backup", "{header}");
    let mut ended = false;
    for l in lines {
        let v: serde_json::Value = serde_json::from_str(l).expect("json line");
        if let Some(items) = v.as_array() {
            let obj: BTreeMap<&str, &serde_json::Value> = columns
                .iter()
                .map(String::as_str)
                .zip(items.iter())
                .collect();
            out.get_mut(&table)
                .expect("table")
                .push(serde_json::to_string(&obj).expect("test"));
        } else if v.get("end").is_some() {
            ended = true;
        } else {
            table = v["table"].as_str().expect("table name").to_owned();
            columns = v["columns"]
                .as_array()
                .expect("columns")
                .iter()
                .map(|c| c[0].as_str().expect("column").to_owned())
                .collect();
            out.insert(table.clone(), Vec::new());
        }
    }
    assert!(ended, "no end line in {}", file.display());
    for rows in out.values_mut() {
        rows.sort();
    }
    out
}

/// One message over a raw SMTP conversation; the reply to the end of data.
fn send(port: u16, from: &str, to: &str, subject: &str) -> String {
    let mut c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(60))).ok();
    let mut r = BufReader::new(c.try_clone().expect("clone"));
    let mut reply = || {
        let mut all = String::new();
        loop {
            let mut l = String::new();
            if r.read_line(&mut l).unwrap_or(0) == 0 {
                return all;
            }
            all.push_str(&l);
            if l.len() < 4 || l.as_bytes()[3] != b'-' {
                return all;
            }
        }
    };
    reply();
    for cmd in [
        "EHLO load.example".to_owned(),
        format!("MAIL FROM:<{from}>"),
        format!("RCPT TO:<{to}>"),
        "DATA".to_owned(),
    ] {
        c.write_all(format!("{cmd}\r\n").as_bytes()).expect("test");
        reply();
    }
    c.write_all(
        format!(
            "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\n\r\nthe text of {subject}\r\n.\r\n"
        )
        .as_bytes(),
    )
    .expect("test");
    let end = reply();
    c.write_all(b"QUIT\r\n").ok();
    end
}

/// The site with a built-in CA that has issued a certificate and a CRL, an admin account,
/// and messages held for load@nocert.example.
fn full_site() -> Site {
    let s = site();
    s.cli(&[
        "domain",
        "set",
        "nocert.example",
        "on-missing-certificate",
        "hold",
    ]);
    s.cli(&[
        "ca",
        "create",
        "--root-cn",
        "Backup Root",
        "--intermediate-cn",
        "Backup Issuing",
        "--key",
        "p256",
        "--default",
    ]);
    s.cli(&["ca", "issue", "--email", "dee@example.com", "--cn", "Dee"]);
    s.cli(&["ca", "crl"]);
    let pw = s.file("admin-pw", "a long admin password 1\n");
    s.cli(&[
        "admin",
        "add",
        "ops",
        "--role",
        "admin",
        "--password-file",
        &s.path(&pw),
    ]);
    s
}

/// Serial numbers of the certificates the built-in CA issued (in the certificate store).
fn issued_serials(s: &Site) -> Vec<String> {
    let v: serde_json::Value =
        serde_json::from_str(&s.cli(&["cert", "list", "--json"])).expect("cert list --json");
    let mut out: Vec<String> = v
        .as_array()
        .expect("list")
        .iter()
        .filter(|c| {
            c["issuer"]
                .as_str()
                .is_some_and(|i| i.contains("Backup Issuing"))
        })
        .map(|c| c["serial"].as_str().expect("serial").to_owned())
        .collect();
    out.sort();
    out
}

fn crl_numbers(s: &Site) -> Vec<u64> {
    let v: serde_json::Value =
        serde_json::from_str(&s.cli(&["crl", "list", "--json"])).expect("crl list --json");
    let mut out: Vec<u64> = v
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|c| {
            c["number"]
                .as_str()
                .and_then(|n| u64::from_str_radix(n, 16).ok())
        })
        .collect();
    out.sort();
    out
}

/// A second `Site` over the restored data directory, sharing the first one's files.
fn restored(s: &Site, data: PathBuf) -> Site {
    Site {
        dir: tempfile::tempdir_in(s.dir.path()).expect("tempdir"),
        data,
        pki: certmail_testkit::TestPki::new("unused"),
        alice: s.alice.clone(),
        bob: s.bob.clone(),
    }
}

#[test]
fn backup_under_load_restores_every_row_and_the_installation_works() {
    if !mta::available() || !common::have("openssl") {
        return;
    }
    let s = full_site();
    let sink = Sink::start(s.dir.path());
    let port = mta::free_port();
    let mut gw = Gateway::start(&s.data, port, sink.port, &s.dir.path().join("gw.log"));

    // Load: four senders hold messages for load@nocert.example (a write each) and sign and
    // encrypt for bob (reads), while the backup runs beside them.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let to = if n % 2 == 0 {
                        "load@nocert.example"
                    } else {
                        "bob@partner.example"
                    };
                    let r = send(port, "alice@example.com", to, &format!("load {w}-{n}"));
                    assert!(r.starts_with("250"), "{to}: {r}");
                    n += 1;
                }
                n
            })
        })
        .collect();
    wait_for(60, "messages held under load", || s.held().len() >= 5);
    let pass = s.file("backup-pass", "correct horse battery staple\n");
    let file = s.dir.path().join("site.backup");
    let out = s.cli(&[
        "backup",
        "-o",
        &s.path(&file),
        "--passphrase-file",
        &s.path(&pass),
    ]);
    assert!(out.contains("backup written"), "{out}");
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent: usize = workers.into_iter().map(|w| w.join().expect("worker")).sum();
    assert!(gw.terminate(), "the gateway stops cleanly");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).expect("test").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the backup holds sealed keys: private");
    }

    // The snapshot: the held messages in the file are some of those held in the end (taken
    // while more arrived), each complete and unchanged.
    let dumped = rows_of(&file);
    let held_in_file = dumped["held_messages"].len();
    let final_file = s.dir.path().join("final.backup");
    s.cli(&["backup", "-o", &s.path(&final_file)]);
    let finally = rows_of(&final_file);
    let held_now = finally["held_messages"].len();
    assert!(held_in_file >= 5, "{held_in_file}");
    assert!(
        held_now > held_in_file,
        "more were held after the backup ({held_now} > {held_in_file}); {sent} sent"
    );
    for row in &dumped["held_messages"] {
        assert!(
            finally["held_messages"].contains(row),
            "a held message of the backup is not as held: {row}"
        );
    }
    assert!(
        dumped["private_keys"].len() >= 3,
        "alice's and the CA's keys"
    );

    // Restore into a new directory: every row equal (a backup of the restored installation
    // holds the same rows as the first).
    let new_data = s.dir.path().join("restored");
    let out = s.cli(&[
        "restore",
        &s.path(&file),
        "--data-dir",
        &s.path(&new_data),
        "--passphrase-file",
        &s.path(&pass),
    ]);
    assert!(out.contains("restored"), "{out}");
    let r = restored(&s, new_data.clone());
    let again = s.dir.path().join("again.backup");
    r.cli(&["backup", "-o", &r.path(&again)]);
    let redumped = rows_of(&again);
    assert_eq!(
        dumped.keys().collect::<Vec<_>>(),
        redumped.keys().collect::<Vec<_>>()
    );
    for (table, rows) in &dumped {
        assert_eq!(
            rows, &redumped[table],
            "table {table} differs after restore"
        );
    }
    assert!(!dumped.contains_key("job_leases") && !dumped.contains_key("admin_sessions"));

    // The lists an administrator sees are the same.
    for args in [
        &["cert", "list", "--json"][..],
        &["root", "list", "--json"],
        &["key", "list", "--json"],
        &["ca", "list", "--json"],
        &["global", "show", "--json"],
        &["admin", "list", "--json"],
    ] {
        let before = s.cli(args);
        assert_eq!(before, r.cli(args), "{args:?}");
    }

    // The restored key signs, and OpenSSL verifies the signature under the root.
    let msg = s.file(
        "to-sign.eml",
        "From: alice@example.com\r\nTo: x@example.org\r\nSubject: s\r\n\r\nsigned after restore\r\n",
    );
    let alice_sha = {
        let v: serde_json::Value = serde_json::from_str(&r.cli(&[
            "cert",
            "list",
            "--email",
            "alice@example.com",
            "--json",
        ]))
        .expect("test");
        v[0]["sha256"].as_str().expect("sha256").to_owned()
    };
    let signed = r.cli(&["smime", "sign", "--signer", &alice_sha, &r.path(&msg)]);
    let signed_file = s.file("signed.eml", &signed);
    let verified = openssl(
        &[
            "smime",
            "-verify",
            "-in",
            &s.path(&signed_file),
            "-CAfile",
            &s.path(&s.dir.path().join("root.pem")),
        ],
        "verify the restored key's signature",
    );
    assert!(verified.contains("signed after restore"), "{verified}");

    // The restored CA goes on: a new serial unlike every earlier one, the next CRL number.
    let serials = issued_serials(&s);
    let crls = crl_numbers(&s);
    assert_eq!(issued_serials(&r), serials);
    r.cli(&["ca", "issue", "--email", "eve@example.com", "--cn", "Eve"]);
    r.cli(&["ca", "crl"]);
    let after = issued_serials(&r);
    assert_eq!(after.len(), serials.len() + 1, "{after:?}");
    assert!(serials.iter().all(|x| after.contains(x)));
    let r_crls = crl_numbers(&r);
    assert_eq!(
        r_crls.iter().max(),
        crls.iter().max().map(|m| m + 1).as_ref(),
        "the CRL number continues: {crls:?} -> {r_crls:?}"
    );

    // The restored hold queue releases, encrypted, once the recipient has a certificate.
    let held = r.held();
    assert!(!held.is_empty());
    let load = s.pki.leaf_rsa(&LeafSpec::email("load@nocert.example", 40));
    let load_c = s.file("load.pem", &load.pem);
    s.file("load.key", &load.key_pem);
    r.cli(&["cert", "import", &r.path(&load_c)]);
    let id = held[0]["id"].as_i64().expect("id").to_string();
    let hop = format!("127.0.0.1:{}", sink.port);
    let out = r.cli(&["hold", "release", &id, "--next-hop", &hop]);
    assert!(out.contains("released"), "{out}");
    let left = s.dir.path().join("left.backup");
    r.cli(&["backup", "-o", &r.path(&left)]);
    assert_eq!(rows_of(&left)["held_messages"].len(), held_in_file - 1);
    wait_for(30, "the released message", || {
        sink.to("load@nocert.example")
            .iter()
            .any(|m| m.contains("application/pkcs7-mime"))
    });
}

#[test]
fn sqlite_moves_to_postgresql_through_backup_and_restore() {
    let Some(db) = common::pg::PgDb::create("backup") else {
        return;
    };
    let s = full_site();
    let file = s.dir.path().join("move.backup");
    s.cli(&["backup", "-o", &s.path(&file)]);
    let master = s.data.join("master.key");
    let pg_dir = s.dir.path().join("pg-node");
    let restore = |dir: &Path| {
        common::certmail(dir, &[])
            .args(["--database-url", &db.url, "restore"])
            .arg(&file)
            .arg("--master-key")
            .arg(&master)
            .output()
            .expect("certmail restore")
    };
    let out = restore(&pg_dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pg = |args: &[&str]| {
        let out = common::certmail(&pg_dir, &[])
            .args(["--database-url", &db.url])
            .args(args)
            .output()
            .expect("certmail");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(
        !pg_dir.join("certmail.db").exists(),
        "the rows went to PostgreSQL"
    );
    // Every row equal, read back out of PostgreSQL.
    let again = s.dir.path().join("from-pg.backup");
    pg(&["backup", "-o", again.to_str().expect("test")]);
    let (a, b) = (rows_of(&file), rows_of(&again));
    for (table, rows) in &a {
        assert_eq!(rows, &b[table], "table {table} differs in PostgreSQL");
    }
    let header: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(&again)
            .expect("test")
            .lines()
            .next()
            .expect("test"),
    )
    .expect("test");
    assert_eq!(header["source_backend"], "postgres");
    for args in [
        &["cert", "list", "--json"][..],
        &["ca", "list", "--json"],
        &["admin", "list", "--json"],
    ] {
        assert_eq!(s.cli(args), pg(args), "{args:?}");
    }
    // Ids go on past the restored ones (PostgreSQL's sequences were moved): new rows in
    // tables with ids are accepted.
    let carl = s.pki.leaf_rsa(&LeafSpec::email("carl@example.com", 41));
    let carl_c = s.file("carl.pem", &carl.pem);
    pg(&["cert", "import", carl_c.to_str().expect("test")]);
    pg(&["ca", "issue", "--email", "fay@example.com", "--cn", "Fay"]);
    // A second restore into the same database is refused: it holds data now.
    let out = restore(&s.dir.path().join("pg-node-2"));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already holds data"), "{err}");
    assert!(
        !s.dir.path().join("pg-node-2").exists(),
        "nothing left behind"
    );
}

#[test]
fn bad_backups_and_wrong_keys_are_refused_and_leave_nothing() {
    let s = site();
    let pass = s.file("pass", "the backup passphrase\n");
    let file = s.dir.path().join("b.backup");
    s.cli(&[
        "backup",
        "-o",
        &s.path(&file),
        "--passphrase-file",
        &s.path(&pass),
    ]);
    let bytes = std::fs::read(&file).expect("test");
    let wrong = s.file("wrong", "not the passphrase\n");
    let truncated = s.file("truncated.backup", &bytes[..bytes.len() / 2]);
    let no_end = {
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let cut = text.trim_end().rfind('\n').expect("test");
        s.file("no-end.backup", &text[..=cut])
    };
    let altered = s.file(
        "altered.backup",
        String::from_utf8_lossy(&bytes).replace("alice@example.com", "mallory@example.com"),
    );
    let not_backup = s.file("not.backup", "{\"hello\": 1}\n");
    let target = s.dir.path().join("target");
    let cases: [(&Path, &Path, &str); 5] = [
        (&file, &wrong, "passphrase does not open"),
        (&truncated, &pass, "ends early"),
        (&no_end, &pass, "no end line"),
        (&altered, &pass, "check sum does not match"),
        (&not_backup, &pass, "no certmail-backup header"),
    ];
    for (f, p, expect) in cases {
        let (code, out, err) = s.try_cli(&[
            "restore",
            &s.path(f),
            "--data-dir",
            &s.path(&target),
            "--passphrase-file",
            &s.path(p),
        ]);
        assert_eq!(code, Some(1), "{}: {out}{err}", f.display());
        assert!(err.contains(expect), "{}: {err}", f.display());
        assert!(!target.exists(), "{}: nothing left behind", f.display());
    }
    // An existing, non-empty data directory is never overwritten.
    let (code, _, err) = s.try_cli(&[
        "restore",
        &s.path(&file),
        "--data-dir",
        &s.path(&s.data),
        "--passphrase-file",
        &s.path(&pass),
    ]);
    assert_eq!(code, Some(1));
    assert!(err.contains("is not empty"), "{err}");
    // Without a passphrase the key is not in the file: restore asks for master.key and
    // refuses another installation's.
    let plain = s.dir.path().join("plain.backup");
    s.cli(&["backup", "-o", &s.path(&plain)]);
    let (code, _, err) = s.try_cli(&["restore", &s.path(&plain), "--data-dir", &s.path(&target)]);
    assert_eq!(code, Some(1));
    assert!(err.contains("--master-key"), "{err}");
    let other = site();
    let (code, _, err) = s.try_cli(&[
        "restore",
        &s.path(&plain),
        "--data-dir",
        &s.path(&target),
        "--master-key",
        &s.path(&other.data.join("master.key")),
    ]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("does not open this backup's key store"),
        "{err}"
    );
    assert!(!target.exists());
    // The right one works, and the restored installation opens.
    s.cli(&[
        "restore",
        &s.path(&plain),
        "--data-dir",
        &s.path(&target),
        "--master-key",
        &s.path(&s.data.join("master.key")),
    ]);
    let r = restored(&s, target);
    assert_eq!(
        s.cli(&["cert", "list", "--json"]),
        r.cli(&["cert", "list", "--json"])
    );
}
