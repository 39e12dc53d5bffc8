//! `certmail-bench store`: import N generated certificates through the real import pipeline
//! (PEM bundles of 1,000 certificates -> parse -> one transaction per bundle) and time
//! look-ups by e-mail address among them.
//!
//! `cargo run --release -p certmail-bench -- store --count 1000000 [--database-url postgres://...]`

use std::time::{Duration, Instant};

use certmail_app::{App, Config, ImportOptions};
use certmail_crypto::AwsLcOps;
use certmail_pki::Certificate;
use certmail_testkit::{LeafSpec, TestPki};
use clap::Parser;

mod admin;
mod smime;

#[derive(Debug, Parser)]
#[command(about = "certmail benchmarks")]
enum Bench {
    /// Certificate store: bulk import and e-mail look-up.
    Store {
        /// Certificates to generate and import.
        #[arg(long, default_value_t = 100_000)]
        count: usize,
        /// Certificates per import call (one PEM bundle, one transaction).
        #[arg(long, default_value_t = 1_000)]
        batch: usize,
        /// Look-ups to time.
        #[arg(long, default_value_t = 10_000)]
        lookups: usize,
        /// PostgreSQL URL (default: SQLite in a temporary directory).
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Web admin and API over many certificates (in process, server side).
    Admin {
        /// Certificates in the store.
        #[arg(long, default_value_t = 1_000_000)]
        count: usize,
        /// Requests per timed kind (the dashboard gets a twentieth).
        #[arg(long, default_value_t = 1_000)]
        requests: usize,
    },
    /// Recipient resolution (settings + certificates) among many certificates and users.
    Recipients {
        /// Certificates in the store.
        #[arg(long, default_value_t = 1_000_000)]
        count: usize,
        /// User objects (every tenth with a user-level setting).
        #[arg(long, default_value_t = 100_000)]
        users: usize,
        /// Distinct addresses resolved in the timed runs.
        #[arg(long, default_value_t = 2_000)]
        sample: usize,
        /// PostgreSQL URL (default: SQLite).
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Bulk issuance from CSV against openssl req + openssl ca and cfssl gencert, plus a
    /// 100,000-entry CRL.
    Ca {
        /// Certificates to issue from CSV.
        #[arg(long, default_value_t = 10_000)]
        count: usize,
        /// Key type: p256 or rsa2048.
        #[arg(long, default_value = "p256")]
        key: String,
        /// Certificates for each of the external tools (their rate is per certificate).
        #[arg(long, default_value_t = 100)]
        sample: usize,
    },
    /// Path validation: end-user certificates under root + intermediate with a big CRL,
    /// certmail in process against `openssl verify -crl_check` on the same files.
    Verify {
        /// End-user certificates to validate.
        #[arg(long, default_value_t = 10_000)]
        count: usize,
        /// Entries in the intermediate's CRL.
        #[arg(long, default_value_t = 100_000)]
        crl_entries: usize,
        /// CA key type: p256 or rsa2048.
        #[arg(long, default_value = "p256")]
        key: String,
        /// Skip the OpenSSL runs.
        #[arg(long)]
        no_openssl: bool,
    },
    /// S/MIME: 10 KB messages/s and large-message MiB/s in process against openssl cms,
    /// and peak memory of the CLI on a large message.
    Smime {
        /// Seconds per 10 KB measurement.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        /// Large message sizes in MiB.
        #[arg(long, value_delimiter = ',', default_value = "1,25")]
        large: Vec<usize>,
        /// Message size (MiB) for the peak-memory runs.
        #[arg(long, default_value_t = 50)]
        memory: usize,
        /// The certmail binary for the peak-memory runs (e.g. target/release/certmail).
        #[arg(long)]
        certmail: Option<std::path::PathBuf>,
    },
}

fn email(i: usize) -> String {
    format!("user{i}@d{}.example", i % 1000)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// A cheap deterministic sequence for picking look-up targets.
fn lcg(state: &mut u64) -> u64 {
    *state = state
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    *state >> 33
}

fn generate(count: usize) -> Vec<String> {
    generate_with(&TestPki::new("Bench"), count)
}

/// `count` end-user certificates issued by `pki`'s intermediate, as PEM.
fn generate_with(pki: &TestPki, count: usize) -> Vec<String> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunk = count.div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let start = t * chunk;
                    let end = ((t + 1) * chunk).min(count);
                    (start..end)
                        .map(|i| {
                            let der =
                                pki.leaf_shared_key(&LeafSpec::email(&email(i), i as u64 + 1));
                            certmail_pki::pem::encode("CERTIFICATE", &der)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

async fn store_bench(
    count: usize,
    batch: usize,
    lookups: usize,
    database_url: Option<String>,
) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let backend = if database_url.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let db = bench_database(&database_url, "bench").await?;
    let database_url = db.as_ref().map(|(_, _, u)| u.clone());
    let cfg = Config {
        data_dir: dir.path().join("data"),
        database_url,
    };
    App::init(&cfg, None).await.map_err(|e| e.to_string())?;
    let app = App::open(&cfg, None).await.map_err(|e| e.to_string())?;

    let t = Instant::now();
    let pems = generate(count);
    println!(
        "generated {count} certificates in {:.1} s (not part of the figures)",
        t.elapsed().as_secs_f64()
    );

    // The parsing part alone (PEM decode, X.509 parse, SHA-256 + SHA-512), for reference.
    let t = Instant::now();
    let mut parsed = 0usize;
    for chunk in pems.chunks(batch) {
        let bundle = chunk.concat();
        for block in certmail_pki::pem::parse_all(bundle.as_bytes()).map_err(|e| e.to_string())? {
            Certificate::from_der(&block.der, &AwsLcOps).map_err(|e| e.to_string())?;
            parsed += 1;
        }
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "parse only: {parsed} certificates in {secs:.1} s = {:.0} certificates/s",
        parsed as f64 / secs
    );

    let opts = ImportOptions::default();
    let t = Instant::now();
    let mut imported = 0;
    for chunk in pems.chunks(batch) {
        let bundle = chunk.concat();
        let items = app
            .import_bytes(bundle.as_bytes(), &opts)
            .await
            .map_err(|e| e.to_string())?;
        imported += items.len();
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "{backend}: imported {imported} certificates in {secs:.1} s = {:.0} certificates/s (batches of {batch})",
        imported as f64 / secs
    );

    // Look-ups by e-mail: store level (index + row fetch) and app level (plus DER parse).
    let mut seed = 42u64;
    let targets: Vec<String> = (0..lookups)
        .map(|_| email(lcg(&mut seed) as usize % count))
        .collect();
    for warm in targets.iter().take(100) {
        app.store()
            .find_by_email(warm)
            .await
            .map_err(|e| e.to_string())?;
    }
    for level in ["store", "app"] {
        let mut times = Vec::with_capacity(lookups);
        for e in &targets {
            let t = Instant::now();
            let n = if level == "store" {
                app.store()
                    .find_by_email(e)
                    .await
                    .map_err(|e| e.to_string())?
                    .len()
            } else {
                app.find_by_email(e).await.map_err(|e| e.to_string())?.len()
            };
            times.push(t.elapsed());
            if n != 1 {
                return Err(format!("{e}: expected 1 certificate, found {n}"));
            }
        }
        times.sort();
        println!(
            "{backend}: e-mail look-up ({level} level) among {count}: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms ({lookups} look-ups)",
            percentile(&times, 0.50).as_secs_f64() * 1e3,
            percentile(&times, 0.99).as_secs_f64() * 1e3,
            times.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
        );
    }
    // Sanity: the parsed model agrees with what was generated.
    let probe = app
        .find_by_email(&email(count / 2))
        .await
        .map_err(|e| e.to_string())?;
    let c: &Certificate = &probe[0].cert;
    let again = Certificate::from_der(&c.der, &AwsLcOps).map_err(|e| e.to_string())?;
    assert_eq!(again.sha256, c.sha256);
    app.close().await;
    drop_bench_database(db).await?;
    Ok(())
}

/// With a PostgreSQL URL: a fresh database beside the given one (the run's own, dropped by
/// [`drop_bench_database`]). Without: `None`, i.e. SQLite in the data directory.
async fn bench_database(
    url: &Option<String>,
    tag: &str,
) -> Result<Option<(String, String, String)>, String> {
    let Some(admin) = url else { return Ok(None) };
    let db = format!("certmail_{tag}_{}", std::process::id());
    let a = certmail_store::Store::open_admin(admin)
        .await
        .map_err(|e| e.to_string())?;
    a.execute_admin(&format!("CREATE DATABASE {db}"))
        .await
        .map_err(|e| e.to_string())?;
    a.close().await;
    let url = format!(
        "{}/{db}",
        admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b)
    );
    Ok(Some((admin.clone(), db, url)))
}

async fn drop_bench_database(db: Option<(String, String, String)>) -> Result<(), String> {
    if let Some((admin, name, _)) = db {
        let a = certmail_store::Store::open_admin(&admin)
            .await
            .map_err(|e| e.to_string())?;
        a.execute_admin(&format!("DROP DATABASE {name} WITH (FORCE)"))
            .await
            .map_err(|e| e.to_string())?;
        a.close().await;
    }
    Ok(())
}

fn main() {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("runtime: {e}");
            std::process::exit(1);
        }
    };
    let result = match Bench::parse() {
        Bench::Store {
            count,
            batch,
            lookups,
            database_url,
        } => rt.block_on(store_bench(count, batch, lookups, database_url)),
        Bench::Recipients {
            count,
            users,
            sample,
            database_url,
        } => rt.block_on(recipients_bench(count, users, sample, database_url)),
        Bench::Admin { count, requests } => rt.block_on(admin::admin_bench(count, requests)),
        Bench::Ca { count, key, sample } => rt.block_on(ca_bench(count, &key, sample)),
        Bench::Verify {
            count,
            crl_entries,
            key,
            no_openssl,
        } => verify_bench(count, crl_entries, &key, !no_openssl),
        Bench::Smime {
            seconds,
            large,
            memory,
            certmail,
        } => smime::smime_bench(seconds, &large, memory, certmail),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// `openssl speed` verify operations per second for an algorithm name (`rsa2048`, `ecdsap256`).
fn openssl_verify_speed(alg: &str) -> Option<f64> {
    let out = std::process::Command::new("openssl")
        .args(["speed", "-seconds", "2", alg])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    // Last line: "rsa 2048 bits 0.000713s 0.000020s   1402.5  49383.2" / "256 bits ecdsa (nistp256) ... sign/s verify/s"
    let line = text.lines().rev().find(|l| l.contains("bits"))?;
    line.split_whitespace().last()?.parse().ok()
}

fn verify_bench(
    count: usize,
    crl_entries: usize,
    key: &str,
    with_openssl: bool,
) -> Result<(), String> {
    use std::sync::Arc;

    use certmail_pki::crl::Crl;
    use certmail_pki::verify::{self, Options};
    use certmail_testkit::CaKey;

    let ca_key = match key {
        "p256" => CaKey::P256,
        "rsa2048" => CaKey::Rsa2048,
        other => return Err(format!("--key {other}: use p256 or rsa2048")),
    };
    let now = certmail_testkit::unix_date(2030, 1, 1);
    let t = Instant::now();
    let pki = TestPki::with_key("VerifyBench", ca_key);
    let leaves: Vec<Vec<u8>> = (0..count)
        .map(|i| pki.leaf_shared_key(&LeafSpec::email(&email(i), i as u64 + 1)))
        .collect();
    // Every 100th leaf is revoked; the rest of the CRL are serials of other certificates.
    let revoked_leaves: Vec<u64> = (0..count as u64)
        .filter(|i| i % 100 == 0)
        .map(|i| i + 1)
        .collect();
    let others = crl_entries.saturating_sub(revoked_leaves.len()) as u64;
    let crl_der = pki.crl(
        revoked_leaves
            .iter()
            .copied()
            .chain((0..others).map(|j| 10_000_000 + j)),
        1,
        now - 3600,
        now + 86_400,
    );
    println!(
        "generated {count} {key} chains and a CRL of {crl_entries} entries ({} KiB) in {:.1} s (not part of the figures)",
        crl_der.len() / 1024,
        t.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    let crl = Arc::new(Crl::from_der(&crl_der).map_err(|e| e.to_string())?);
    println!(
        "CRL parsed into a hash map in {:.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    let anchors = vec![Certificate::from_der(&pki.root.der, &AwsLcOps).map_err(|e| e.to_string())?];
    let intermediates =
        vec![Certificate::from_der(&pki.intermediate.der, &AwsLcOps).map_err(|e| e.to_string())?];
    let opts = Options {
        time: now,
        crls: vec![crl],
        ..Options::default()
    };
    let t = Instant::now();
    let mut valid = 0usize;
    for der in &leaves {
        let c = Certificate::from_der(der, &AwsLcOps).map_err(|e| e.to_string())?;
        if verify::verify(&c, &intermediates, &anchors, &opts, &AwsLcOps).is_ok() {
            valid += 1;
        }
    }
    let secs = t.elapsed().as_secs_f64();
    let ours = count as f64 / secs;
    if valid != count - revoked_leaves.len() {
        return Err(format!(
            "expected {} valid, got {valid}",
            count - revoked_leaves.len()
        ));
    }
    println!(
        "certmail: {count} parse+validate (2 signatures each, CRL lookup) in {secs:.2} s = {ours:.0} certificates/s, one thread; {valid} valid, {} revoked",
        count - valid
    );

    if !with_openssl {
        return Ok(());
    }
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let w = |name: &str, data: &str| {
        std::fs::write(dir.path().join(name), data).map_err(|e| e.to_string())
    };
    w("root.pem", &pki.root.pem)?;
    w("int.pem", &pki.intermediate.pem)?;
    w("crl.pem", &certmail_pki::pem::encode("X509 CRL", &crl_der))?;
    let mut files = Vec::with_capacity(count);
    for (i, der) in leaves.iter().enumerate() {
        let name = format!("leaf{i}.pem");
        w(&name, &certmail_pki::pem::encode("CERTIFICATE", der))?;
        files.push(name);
    }
    let t = Instant::now();
    let out = std::process::Command::new("openssl")
        .current_dir(dir.path())
        .args([
            "verify",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "int.pem",
            "-CRLfile",
            "crl.pem",
            "-crl_check",
            "-attime",
            &now.to_string(),
        ])
        .args(&files)
        .output()
        .map_err(|e| format!("openssl: {e}"))?;
    let secs = t.elapsed().as_secs_f64();
    let ok = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.ends_with(": OK"))
        .count();
    let theirs = count as f64 / secs;
    println!(
        "openssl verify -crl_check: {count} in {secs:.2} s = {theirs:.0} certificates/s (one process; {ok} OK)"
    );
    if ok != valid {
        return Err(format!(
            "openssl accepted {ok}, certmail {valid}: verdicts differ"
        ));
    }
    println!("ratio certmail / openssl: {:.1}x", ours / theirs);
    let alg = if ca_key == CaKey::P256 {
        "ecdsap256"
    } else {
        "rsa2048"
    };
    if let Some(v) = openssl_verify_speed(alg) {
        println!(
            "signature limit: openssl speed {alg} verify {v:.0}/s / 2 signatures per chain = {:.0} chains/s; certmail at {:.2} of it",
            v / 2.0,
            ours / (v / 2.0)
        );
    }
    Ok(())
}

async fn recipients_bench(
    count: usize,
    users: usize,
    sample: usize,
    database_url: Option<String>,
) -> Result<(), String> {
    use certmail_store::Party;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let backend = if database_url.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let db = bench_database(&database_url, "rbench").await?;
    let database_url = db.as_ref().map(|(_, _, u)| u.clone());
    let cfg = Config {
        data_dir: dir.path().join("data"),
        database_url,
    };
    App::init(&cfg, None).await.map_err(|e| e.to_string())?;
    let app = App::open(&cfg, None).await.map_err(|e| e.to_string())?;
    let pki = TestPki::new("RecipientsBench");
    let roots = ImportOptions {
        password: None,
        roots: certmail_app::RootPolicy::AllToRoots,
    };
    app.import_bytes(pki.root.pem.as_bytes(), &roots)
        .await
        .map_err(|e| e.to_string())?;
    app.import_bytes(pki.intermediate.pem.as_bytes(), &ImportOptions::default())
        .await
        .map_err(|e| e.to_string())?;
    let t = Instant::now();
    let opts = ImportOptions::default();
    for start in (0..count).step_by(1000) {
        let bundle: String = (start..(start + 1000).min(count))
            .map(|i| {
                certmail_pki::pem::encode(
                    "CERTIFICATE",
                    &pki.leaf_shared_key(&LeafSpec::email(&email(i), i as u64 + 1)),
                )
            })
            .collect();
        app.import_bytes(bundle.as_bytes(), &opts)
            .await
            .map_err(|e| e.to_string())?;
    }
    println!(
        "{backend}: {count} certificates generated and imported in {:.0} s",
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let parties: Vec<Party> = (0..users).map(|i| Party::User(email(i))).collect();
    for chunk in parties.chunks(5000) {
        app.store()
            .ensure_parties(chunk, certmail_app::now())
            .await
            .map_err(|e| e.to_string())?;
    }
    for i in (0..users).step_by(10) {
        app.set_setting(&Party::User(email(i)), "sign", "on")
            .await
            .map_err(|e| e.to_string())?;
    }
    app.set_setting(&Party::Domain("*.example".into()), "encrypt-mode", "force")
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "{users} users with settings in {:.0} s",
        t.elapsed().as_secs_f64()
    );

    let mut seed = 7u64;
    let targets: Vec<String> = (0..sample)
        .map(|_| email(lcg(&mut seed) as usize % users))
        .collect();
    let now = certmail_app::now();
    // Warm-up pass: trust material and verdicts cached.
    for e in &targets {
        let r = app.recipient(e, now).await.map_err(|e| e.to_string())?;
        if r.encryption.len() != 1 || r.signing.is_some() {
            return Err(format!(
                "{e}: expected one encryption certificate and no signing one (no keys), got {} / {:?}",
                r.encryption.len(),
                r.signing
            ));
        }
    }
    let mut times = Vec::with_capacity(sample);
    for e in &targets {
        let t = Instant::now();
        app.recipient(e, now).await.map_err(|e| e.to_string())?;
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "{backend}: one address, warm caches: p50 {:.3} ms, p99 {:.3} ms ({sample} addresses)",
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3
    );
    let mut batches = Vec::new();
    for chunk in targets.chunks(100) {
        let t = Instant::now();
        for e in chunk {
            app.recipient(e, now).await.map_err(|e| e.to_string())?;
        }
        batches.push(t.elapsed());
    }
    batches.sort();
    println!(
        "{backend}: batch of 100 addresses: p50 {:.1} ms, p99 {:.1} ms",
        percentile(&batches, 0.5).as_secs_f64() * 1e3,
        percentile(&batches, 0.99).as_secs_f64() * 1e3
    );
    // Cold: a trust change renews the generation, so the next resolution verifies again.
    app.store()
        .bump_trust_generation()
        .await
        .map_err(|e| e.to_string())?;
    let mut cold = Vec::new();
    for e in targets.iter().take(500) {
        let t = Instant::now();
        app.recipient(e, now).await.map_err(|e| e.to_string())?;
        cold.push(t.elapsed());
    }
    cold.sort();
    println!(
        "{backend}: one address right after a trust change (verdicts recomputed): p50 {:.3} ms, p99 {:.3} ms",
        percentile(&cold, 0.5).as_secs_f64() * 1e3,
        percentile(&cold, 0.99).as_secs_f64() * 1e3
    );
    app.close().await;
    drop_bench_database(db).await?;
    Ok(())
}

fn run_tool(cmd: &mut std::process::Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?}: {}", String::from_utf8_lossy(&out.stderr)))
    }
}

async fn ca_bench(count: usize, key: &str, sample: usize) -> Result<(), String> {
    use certmail_ca::{EndUserRequest, KeySpec, SigHash};
    let spec = KeySpec::parse(key).map_err(|e| e.to_string())?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let cfg = Config {
        data_dir: dir.path().join("data"),
        database_url: None,
    };
    App::init(&cfg, None).await.map_err(|e| e.to_string())?;
    let app = App::open(&cfg, None).await.map_err(|e| e.to_string())?;
    let create = certmail_app::ca::CaCreate {
        root_cn: "Bench Root".into(),
        intermediate_cn: "Bench CA".into(),
        key: spec,
        days: 3650,
        hash: SigHash::Sha256,
        email: None,
        make_default: true,
    };
    let ca = app.ca_create(&create).await.map_err(|e| e.to_string())?;
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());

    // The limit: key generation + signing alone, on every core, no store.
    let int = app
        .get_any(&ca.signer_sha256)
        .await
        .map_err(|e| e.to_string())?;
    let int_key = app
        .private_key(&int.cert)
        .await
        .map_err(|e| e.to_string())?;
    let signer = certmail_ca::Signer::from_stored(&int.cert.der, &int_key, SigHash::Sha256)
        .map_err(|e| e.to_string())?;
    let n_limit = if spec == KeySpec::P256 { 2000 } else { 100 };
    let reqs: Vec<EndUserRequest> = (0..n_limit)
        .map(|i| EndUserRequest {
            email: format!("limit{i}@example.com"),
            cn: format!("Limit {i}"),
            org: None,
            first_name: None,
            last_name: None,
            days: 365,
            key: spec,
            hash: SigHash::Sha256,
            crl_url: None,
        })
        .collect();
    let serials = (0..n_limit)
        .map(|_| certmail_ca::random_serial().unwrap_or_default())
        .collect();
    let t = Instant::now();
    let r = certmail_ca::issue_many(&signer, &reqs, certmail_app::now(), serials, threads);
    let limit = n_limit as f64 / t.elapsed().as_secs_f64();
    if r.iter().any(Result::is_err) {
        return Err("limit run failed".into());
    }
    println!(
        "limit: key generation + signing, {threads} threads, no store: {limit:.0} certificates/s ({n_limit} certificates)"
    );

    // certmail: CSV -> parse -> validate -> issue -> record -> store.
    let mut csv = String::from("EMAIL,COMMONNAME,ORGANISATION\n");
    for i in 0..count {
        csv.push_str(&format!("user{i}@bulk.example,\"User {i}, Bulk\",Bench\n"));
    }
    let opts = certmail_app::ca::BulkOptions {
        ca: String::new(),
        key: spec,
        hash: SigHash::Sha256,
        days: 365,
        preview: false,
        limits: certmail_ca::csv::Limits {
            max_rows: count.max(10_000),
            max_entry: 256,
        },
    };
    let t = Instant::now();
    let report = app
        .ca_bulk(csv.as_bytes(), &opts, &mut |_, _| {})
        .await
        .map_err(|e| e.to_string())?;
    let secs = t.elapsed().as_secs_f64();
    if report.issued.len() != count {
        return Err(format!(
            "issued {} of {count}: {:?}",
            report.issued.len(),
            report.failed.first()
        ));
    }
    let ours = count as f64 / secs;
    println!(
        "certmail ca bulk: {count} {key} certificates from CSV in {secs:.1} s = {ours:.0} certificates/s = {:.2} of the limit",
        ours / limit
    );

    // CRL of 100,000 revoked serials.
    let revoked: Vec<certmail_ca::Revocation> = (0..100_000u64)
        .map(|i| certmail_ca::Revocation {
            serial: (i + 1_000_000).to_be_bytes().to_vec(),
            date: certmail_app::now(),
            reason: Some(1),
        })
        .collect();
    let t = Instant::now();
    let crl = certmail_ca::create_crl(&signer, &revoked, 1, certmail_app::now(), 7)
        .map_err(|e| e.to_string())?;
    println!(
        "CRL with 100,000 revoked serials built and signed in {:.2} s ({} KiB)",
        t.elapsed().as_secs_f64(),
        crl.len() / 1024
    );

    // OpenSSL: openssl req (key + CSR) then openssl ca, one certificate at a time.
    let w = dir.path().join("ossl");
    std::fs::create_dir_all(w.join("new")).map_err(|e| e.to_string())?;
    std::fs::write(w.join("int.pem"), int.cert.to_pem()).map_err(|e| e.to_string())?;
    std::fs::write(
        w.join("int.key"),
        certmail_pki::pem::encode("PRIVATE KEY", int_key.pkcs8_der()),
    )
    .map_err(|e| e.to_string())?;
    std::fs::write(w.join("index.txt"), "").map_err(|e| e.to_string())?;
    std::fs::write(w.join("serial"), "1000\n").map_err(|e| e.to_string())?;
    std::fs::write(
        w.join("ca.cnf"),
        "[ca]\ndefault_ca=CA\n[CA]\ndatabase=index.txt\nserial=serial\nnew_certs_dir=new\ncertificate=int.pem\nprivate_key=int.key\ndefault_md=sha256\ndefault_days=365\npolicy=p\nunique_subject=no\ncopy_extensions=copy\nx509_extensions=ext\n[p]\ncommonName=supplied\nemailAddress=optional\norganizationName=optional\n[ext]\nbasicConstraints=CA:false\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=emailProtection\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n",
    )
    .map_err(|e| e.to_string())?;
    let newkey = if spec == KeySpec::P256 {
        vec!["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    } else {
        vec!["-newkey", "rsa:2048"]
    };
    let t = Instant::now();
    for i in 0..sample {
        run_tool(
            std::process::Command::new("openssl")
                .current_dir(&w)
                .args([
                    "req",
                    "-new",
                    "-nodes",
                    "-keyout",
                    "k.pem",
                    "-out",
                    "r.csr",
                    "-subj",
                    &format!("/CN=User {i}/emailAddress=o{i}@bulk.example"),
                ])
                .args(&newkey),
        )?;
        run_tool(std::process::Command::new("openssl").current_dir(&w).args([
            "ca", "-batch", "-config", "ca.cnf", "-in", "r.csr", "-out", "c.pem", "-notext",
        ]))?;
    }
    let ossl = sample as f64 / t.elapsed().as_secs_f64();
    println!(
        "openssl req + openssl ca: {ossl:.1} certificates/s ({sample} certificates); certmail {:.0}x",
        ours / ossl
    );

    // cfssl gencert.
    if std::process::Command::new("cfssl")
        .arg("version")
        .output()
        .is_ok()
    {
        let (algo, size) = if spec == KeySpec::P256 {
            ("ecdsa", 256)
        } else {
            ("rsa", 2048)
        };
        std::fs::write(w.join("cfg.json"), r#"{"signing":{"default":{"expiry":"8760h","usages":["digital signature","key encipherment","email protection"]}}}"#).map_err(|e| e.to_string())?;
        let t = Instant::now();
        for i in 0..sample {
            let csr = format!(
                r#"{{"CN":"User {i}","hosts":["c{i}@bulk.example"],"key":{{"algo":"{algo}","size":{size}}}}}"#
            );
            std::fs::write(w.join("csr.json"), csr).map_err(|e| e.to_string())?;
            run_tool(std::process::Command::new("cfssl").current_dir(&w).args([
                "gencert", "-ca", "int.pem", "-ca-key", "int.key", "-config", "cfg.json",
                "csr.json",
            ]))?;
        }
        let cf = sample as f64 / t.elapsed().as_secs_f64();
        println!(
            "cfssl gencert: {cf:.1} certificates/s ({sample} certificates); certmail {:.0}x",
            ours / cf
        );
    } else {
        println!("cfssl not installed (Debian package golang-cfssl): skipped");
    }
    app.close().await;
    Ok(())
}
