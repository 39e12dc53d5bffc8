//! `certmail conformance limbo`: its arguments; runs the x509-limbo path-validation suite
//! through `certmail_pki::verify` and writes results in limbo's harness format.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use certmail_crypto::AwsLcOps;
use certmail_pki::Certificate;
use certmail_pki::verify::{self, Options, PeerName, Profile};
use clap::Subcommand;
use serde::Deserialize;

use crate::cli::Failure;
use crate::verify_cmd::ProfileArg;

#[derive(Debug, Subcommand)]
pub enum ConformanceCommand {
    /// Run the x509-limbo path-validation suite.
    Limbo {
        /// limbo.json.
        #[arg(long)]
        suite: PathBuf,
        /// index.json with each case's relevance class (default: beside the suite).
        #[arg(long)]
        index: Option<PathBuf>,
        /// Exceptions file: {"case id": "reason"}; listed cases are skipped.
        #[arg(long)]
        exceptions: Option<PathBuf>,
        /// Write results in limbo's harness format here.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Certificate profile. limbo's RFC 5280 cases include the issuer duties of
        /// section 4 (criticality, key identifiers, ...), which only `strict` holds.
        #[arg(long, value_enum, default_value_t = ProfileArg::Strict)]
        profile: ProfileArg,
    },
}

/// `certmail conformance ...`: runs the suite, prints the summary and, with `--out`, writes
/// the results in limbo's harness format.
pub fn conformance(c: &ConformanceCommand) -> Result<ExitCode, Failure> {
    let ConformanceCommand::Limbo {
        suite,
        index,
        exceptions,
        out,
        profile,
    } = c;
    let index = index.clone().or_else(|| {
        let p = suite.with_file_name("index.json");
        p.exists().then_some(p)
    });
    let (results, summary) = run(
        suite,
        index.as_deref(),
        exceptions.as_deref(),
        (*profile).into(),
    )
    .map_err(|message| Failure { code: 2, message })?;
    print(&results, &summary);
    if let Some(o) = out {
        let text = serde_json::to_string_pretty(&harness_json(&results)).unwrap_or_default();
        crate::store_cmd::write_output(Some(o), text.as_bytes(), false)?;
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Deserialize)]
struct Suite {
    testcases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
struct Case {
    id: String,
    #[serde(default)]
    features: Vec<String>,
    validation_kind: String,
    trusted_certs: Vec<String>,
    untrusted_intermediates: Vec<String>,
    peer_certificate: String,
    validation_time: Option<String>,
    #[serde(default)]
    key_usage: Vec<String>,
    #[serde(default)]
    extended_key_usage: Vec<String>,
    expected_result: String,
    expected_peer_name: Option<PeerNameJson>,
    max_chain_depth: Option<usize>,
    #[serde(default)]
    crls: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct PeerNameJson {
    kind: String,
    value: String,
}

#[derive(Debug, Deserialize)]
struct IndexRow {
    id: String,
    relevance: String,
}

/// One result in limbo's harness format.
#[derive(Debug, serde::Serialize)]
pub struct CaseResult {
    id: String,
    actual_result: &'static str,
    context: String,
    #[serde(skip)]
    expected: String,
}

/// Counts for one group of cases.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct Counts {
    /// Verdict as expected.
    pub pass: usize,
    /// SUCCESS where FAILURE was expected.
    pub unexpected_success: usize,
    /// FAILURE where SUCCESS was expected.
    pub unexpected_failure: usize,
    /// Skipped through the exceptions file.
    pub skip: usize,
}

fn eku_oid(name: &str) -> Option<&'static str> {
    Some(match name {
        "serverAuth" => "1.3.6.1.5.5.7.3.1",
        "clientAuth" => "1.3.6.1.5.5.7.3.2",
        "codeSigning" => "1.3.6.1.5.5.7.3.3",
        "emailProtection" => "1.3.6.1.5.5.7.3.4",
        "timeStamping" => "1.3.6.1.5.5.7.3.8",
        "OCSPSigning" => "1.3.6.1.5.5.7.3.9",
        "anyExtendedKeyUsage" => verify::ANY_EKU,
        _ => return None,
    })
}

fn ku_bit(name: &str) -> Option<u16> {
    Some(match name {
        "digitalSignature" => 0,
        "contentCommitment" | "nonRepudiation" => 1,
        "keyEncipherment" => 2,
        "dataEncipherment" => 3,
        "keyAgreement" => 4,
        "keyCertSign" => 5,
        "cRLSign" => 6,
        "encipherOnly" => 7,
        "decipherOnly" => 8,
        _ => return None,
    })
}

fn parse_pem_cert(pem: &str) -> Result<Certificate, String> {
    let blocks = certmail_pki::pem::parse_all(pem.as_bytes()).map_err(|e| e.to_string())?;
    let block = blocks.first().ok_or("no PEM block")?;
    Certificate::from_der(&block.der, &AwsLcOps).map_err(|e| e.to_string())
}

fn run_case(case: &Case, profile: Profile) -> (bool, String) {
    let leaf = match parse_pem_cert(&case.peer_certificate) {
        Ok(c) => c,
        Err(e) => return (false, format!("leaf: {e}")),
    };
    // Unparseable trust anchors or intermediates are left out (as a trust store would),
    // rather than failing the whole case.
    let anchors: Vec<Certificate> = case
        .trusted_certs
        .iter()
        .filter_map(|p| parse_pem_cert(p).ok())
        .collect();
    let intermediates: Vec<Certificate> = case
        .untrusted_intermediates
        .iter()
        .filter_map(|p| parse_pem_cert(p).ok())
        .collect();
    let time = match &case.validation_time {
        Some(t) => match certmail_pki::time::parse_rfc3339(t) {
            Some(t) => t,
            None => return (false, format!("bad validation time {t}")),
        },
        None => certmail_app::now(),
    };
    let mut opts = Options {
        time,
        allow_sha1: false,
        profile,
        ..Options::default()
    };
    for e in &case.extended_key_usage {
        match eku_oid(e) {
            Some(o) => opts.required_eku.push(o.to_owned()),
            None => return (false, format!("unknown EKU {e}")),
        }
    }
    for k in &case.key_usage {
        match ku_bit(k) {
            Some(b) => opts.required_ku.push(b),
            None => return (false, format!("unknown key usage {k}")),
        }
    }
    if let Some(d) = case.max_chain_depth {
        opts.budget.max_intermediates = d;
    }
    // The case's namespace names the profile it tests: `webpki::` cases are judged with the
    // CA/B Forum rules, all others with plain RFC 5280 (limbo marks pairs such as
    // rfc5280::ca-as-leaf / webpki::ca-as-leaf as conflicting).
    opts.web_pki = case.id.starts_with("webpki::");
    if case.validation_kind == "SERVER" {
        opts.peer_name = match &case.expected_peer_name {
            Some(p) if p.kind == "DNS" => Some(PeerName::Dns(p.value.clone())),
            Some(p) if p.kind == "IP" => match p.value.parse::<IpAddr>() {
                Ok(ip) => Some(PeerName::Ip(ip)),
                Err(_) => return (false, format!("bad IP {}", p.value)),
            },
            Some(p) if p.kind == "RFC822" => Some(PeerName::Email(p.value.clone())),
            _ => None,
        };
    }
    for pem in &case.crls {
        let blocks = match certmail_pki::pem::parse_all(pem.as_bytes()) {
            Ok(b) => b,
            Err(e) => return (false, format!("CRL: {e}")),
        };
        for b in blocks {
            match certmail_pki::crl::Crl::from_der(&b.der) {
                Ok(c) => opts.crls.push(std::sync::Arc::new(c)),
                Err(e) => return (false, format!("CRL: {e}")),
            }
        }
    }
    match verify::verify(&leaf, &intermediates, &anchors, &opts, &AwsLcOps) {
        Ok(path) => (true, format!("valid, chain of {}", path.certs.len())),
        Err(e) => (false, e.to_string()),
    }
}

fn prefix(id: &str) -> &str {
    id.split("::").next().unwrap_or(id)
}

/// Runs the suite; returns the results and the summary table.
pub fn run(
    suite: &Path,
    index: Option<&Path>,
    exceptions: Option<&Path>,
    profile: Profile,
) -> Result<(Vec<CaseResult>, BTreeMap<String, Counts>), String> {
    let text = std::fs::read_to_string(suite).map_err(|e| format!("{}: {e}", suite.display()))?;
    let suite: Suite =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", suite.display()))?;
    let relevance: BTreeMap<String, String> = match index {
        Some(p) => {
            let t = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
            let rows: Vec<IndexRow> =
                serde_json::from_str(&t).map_err(|e| format!("{}: {e}", p.display()))?;
            rows.into_iter().map(|r| (r.id, r.relevance)).collect()
        }
        None => BTreeMap::new(),
    };
    let skips: BTreeMap<String, String> = match exceptions {
        Some(p) => {
            let t = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
            serde_json::from_str(&t).map_err(|e| format!("{}: {e}", p.display()))?
        }
        None => BTreeMap::new(),
    };
    let mut results = Vec::new();
    let mut summary: BTreeMap<String, Counts> = BTreeMap::new();
    for case in &suite.testcases {
        let (actual, context) = match skips.get(&case.id) {
            Some(reason) => ("SKIPPED", format!("exception: {reason}")),
            None => {
                let (ok, ctx) = run_case(case, profile);
                (if ok { "SUCCESS" } else { "FAILURE" }, ctx)
            }
        };
        let mut groups = vec!["ALL".to_owned(), prefix(&case.id).to_owned()];
        if let Some(r) = relevance.get(&case.id) {
            groups.push(format!("relevance:{r}"));
        }
        for g in groups {
            let c = summary.entry(g).or_default();
            match (actual, case.expected_result.as_str()) {
                ("SKIPPED", _) => c.skip += 1,
                (a, e) if a == e => c.pass += 1,
                ("SUCCESS", _) => c.unexpected_success += 1,
                _ => c.unexpected_failure += 1,
            }
        }
        let _ = &case.features;
        results.push(CaseResult {
            id: case.id.clone(),
            actual_result: actual,
            context,
            expected: case.expected_result.clone(),
        });
    }
    Ok((results, summary))
}

/// Prints the summary table and the wrong verdicts.
pub fn print(results: &[CaseResult], summary: &BTreeMap<String, Counts>) {
    println!(
        "{:<36} {:>5} {:>10} {:>10} {:>5}",
        "GROUP", "PASS", "UNEXP-OK", "UNEXP-FAIL", "SKIP"
    );
    for (g, c) in summary {
        println!(
            "{g:<36} {:>5} {:>10} {:>10} {:>5}",
            c.pass, c.unexpected_success, c.unexpected_failure, c.skip
        );
    }
    for r in results
        .iter()
        .filter(|r| r.actual_result != "SKIPPED" && r.actual_result != r.expected)
    {
        println!(
            "wrong: {} expected {} got {}: {}",
            r.id, r.expected, r.actual_result, r.context
        );
    }
}

/// The harness JSON.
pub fn harness_json(results: &[CaseResult]) -> serde_json::Value {
    serde_json::json!({ "harness": format!("certmail {}", env!("CARGO_PKG_VERSION")), "results": results })
}
