//! Text and JSON rendering of results.

use certmail_app::KeyView;
use certmail_app::{CertView, FileReport, ItemKind, ItemStatus};
use certmail_pki::Certificate;
use certmail_pki::time::format_rfc3339;

/// Prints `v` as pretty JSON (or says why it cannot).
pub(crate) fn json<T: serde::Serialize + ?Sized>(v: &T) {
    match serde_json::to_string_pretty(v) {
        Ok(s) => println!("{s}"),
        Err(e) => eprintln!("error: cannot render JSON: {e}"),
    }
}

/// Per-item import lines, or a JSON array.
pub fn import_reports(reports: &[FileReport], as_json: bool) {
    if as_json {
        json(&certmail_app::report_rows(reports));
        return;
    }
    for r in reports {
        match &r.result {
            Ok(items) => {
                for i in items {
                    let status = match i.status {
                        ItemStatus::Imported => "imported",
                        ItemStatus::Present => "present",
                        ItemStatus::Failed => "failed",
                    };
                    match i.kind {
                        ItemKind::Certificate => {
                            let place = if i.store == Some("roots") {
                                " (root store)"
                            } else {
                                ""
                            };
                            println!("{status} certificate {} {}{place}", i.id, i.detail);
                        }
                        ItemKind::Key => println!("{status} key {} {}", i.id, i.detail),
                        ItemKind::Crl => println!("{status} CRL {} {}", i.id, i.detail),
                    }
                }
            }
            Err(e) => println!("failed {}: {e}", r.file),
        }
    }
}

fn date(t: i64) -> String {
    format_rfc3339(t)[..10].to_owned()
}

/// The list table with a validity status per certificate.
pub fn cert_list_with_status(
    rows: &[CertView],
    statuses: &[certmail_app::trust::Verdict],
    as_json: bool,
) {
    if as_json {
        let out: Vec<serde_json::Value> = rows
            .iter()
            .zip(statuses)
            .map(|(r, s)| {
                let mut v = serde_json::to_value(r).unwrap_or_default();
                v["status"] = serde_json::Value::from(s.status);
                v["status_reason"] = serde_json::Value::from(s.reason.clone());
                v
            })
            .collect();
        json(&out);
        return;
    }
    println!(
        "{:<16}  {:<3}  {:<10}  {:<10}  {:<32}  SUBJECT",
        "THUMBPRINT", "KEY", "STATUS", "NOT AFTER", "EMAIL"
    );
    for (r, s) in rows.iter().zip(statuses) {
        let email = r.cert.emails.first().map_or("-", String::as_str);
        let status = match s.status {
            "valid" => "valid",
            "revoked" => "revoked",
            _ => "invalid",
        };
        println!(
            "{:<16}  {:<3}  {:<10}  {:<10}  {:<32}  {}",
            &r.cert.sha256[..16],
            if r.has_key { "yes" } else { "no" },
            status,
            date(r.cert.not_after),
            email,
            r.cert.subject
        );
    }
    println!("{} certificate(s)", rows.len());
}

/// The list table.
pub fn cert_list(rows: &[CertView], as_json: bool) {
    if as_json {
        json(rows);
        return;
    }
    println!(
        "{:<16}  {:<3}  {:<10}  {:<32}  SUBJECT",
        "THUMBPRINT", "KEY", "NOT AFTER", "EMAIL"
    );
    for r in rows {
        let email = r.cert.emails.first().map_or("-", String::as_str);
        println!(
            "{:<16}  {:<3}  {:<10}  {:<32}  {}",
            &r.cert.sha256[..16],
            if r.has_key { "yes" } else { "no" },
            date(r.cert.not_after),
            email,
            r.cert.subject
        );
    }
    println!("{} certificate(s)", rows.len());
}

fn show_text(c: &Certificate) {
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let list = |v: &Option<Vec<String>>| {
        v.as_ref()
            .map_or_else(|| "(absent)".into(), |l| l.join(", "))
    };
    println!("Subject:            {}", c.subject);
    println!("Common name:        {}", opt(&c.common_name));
    println!(
        "E-mail addresses:   {}",
        if c.emails.is_empty() {
            "-".into()
        } else {
            c.emails.join(", ")
        }
    );
    println!("Issuer:             {}", c.issuer);
    println!("Serial number:      {}", c.serial);
    println!("Version:            {}", c.version);
    println!("Not before:         {}", c.not_before_rfc3339());
    println!("Not after:          {}", c.not_after_rfc3339());
    println!("Public key:         {}", c.public_key);
    println!("Signature:          {}", c.signature_algorithm);
    println!("Key usage:          {}", list(&c.key_usage));
    println!("Extended key usage: {}", list(&c.extended_key_usage));
    println!(
        "Basic constraints:  {}",
        c.basic_constraints.map_or_else(
            || "(absent)".into(),
            |b| match (b.ca, b.path_len) {
                (true, Some(n)) => format!("CA, path length {n}"),
                (true, None) => "CA".into(),
                (false, _) => "end entity".into(),
            }
        )
    );
    println!("Subject key id:     {}", opt(&c.subject_key_id));
    println!("Authority key id:   {}", opt(&c.authority_key_id));
    if !c.dns_names.is_empty() {
        println!("DNS names:          {}", c.dns_names.join(", "));
    }
    if !c.crl_distribution_points.is_empty() {
        println!(
            "CRL distribution:   {}",
            c.crl_distribution_points.join(", ")
        );
    }
    if !c.policies.is_empty() {
        println!("Policies:           {}", c.policies.join(", "));
    }
    for e in c.extensions.iter().filter(|e| !e.known) {
        println!(
            "Extension {}{}: {}",
            e.name,
            if e.critical { " (critical)" } else { "" },
            e.value_hex.as_deref().unwrap_or_default()
        );
    }
    println!("SHA-256:            {}", c.sha256);
    println!("SHA-512:            {}", c.sha512);
}

/// One stored certificate, with its verdict when computed.
pub fn cert_show(v: &CertView, verdict: Option<&certmail_app::trust::Verdict>, as_json: bool) {
    if as_json {
        let mut out = serde_json::to_value(v).unwrap_or_default();
        if let Some(vd) = verdict {
            out["status"] = serde_json::Value::from(vd.status);
            out["status_reason"] = serde_json::Value::from(vd.reason.clone());
            out["chain"] = serde_json::Value::from(vd.chain.clone());
        }
        json(&out);
        return;
    }
    show_text(&v.cert);
    println!("Store:              {}", v.store);
    println!(
        "Private key:        {}",
        if v.has_key { "yes" } else { "no" }
    );
    if let Some(vd) = verdict {
        if vd.status == "valid" {
            println!(
                "Status:             valid{}",
                if vd.whitelisted { " (whitelisted)" } else { "" }
            );
            println!("Chain:              {}", vd.chain_subjects.join(" <- "));
        } else {
            println!("Status:             {}", vd.status);
            println!("Reason:             {}", vd.reason);
        }
    }
}

/// Certificates parsed from a file.
pub fn cert_show_parsed(certs: &[Certificate], as_json: bool) {
    if as_json {
        json(certs);
        return;
    }
    for (i, c) in certs.iter().enumerate() {
        if i > 0 {
            println!();
        }
        show_text(c);
    }
}

/// The key table.
pub fn key_list(keys: &[KeyView], as_json: bool) {
    if as_json {
        json(&keys);
        return;
    }
    println!("{:<16}  {:<12}  CERTIFICATES", "KEY ID", "ALGORITHM");
    for k in keys {
        let certs: Vec<&str> = k.certificates.iter().map(|c| &c[..16]).collect();
        println!(
            "{:<16}  {:<12}  {}",
            &k.key_id[..16],
            k.algorithm,
            if certs.is_empty() {
                "(none)".into()
            } else {
                certs.join(", ")
            }
        );
    }
    println!("{} key(s)", keys.len());
}
