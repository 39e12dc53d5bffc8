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
    let pki = TestPki::new("Bench");
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunk = count.div_ceil(threads);
    let pki = &pki;
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
    // PostgreSQL: a fresh database beside the given one, dropped at the end.
    let admin = database_url.clone();
    let bench_db = format!("certmail_bench_{}", std::process::id());
    let database_url = match &admin {
        Some(url) => {
            let a = certmail_store::Store::open_admin(url)
                .await
                .map_err(|e| e.to_string())?;
            a.execute_admin(&format!("CREATE DATABASE {bench_db}"))
                .await
                .map_err(|e| e.to_string())?;
            a.close().await;
            Some(format!(
                "{}/{bench_db}",
                url.rsplit_once('/').map_or(url.as_str(), |(b, _)| b)
            ))
        }
        None => None,
    };
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
    if let Some(url) = admin {
        let a = certmail_store::Store::open_admin(&url)
            .await
            .map_err(|e| e.to_string())?;
        a.execute_admin(&format!("DROP DATABASE {bench_db} WITH (FORCE)"))
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
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
