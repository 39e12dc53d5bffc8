//! Bulk-request CSV (the reference's format): the first row names the columns
//! (case-insensitive, with aliases); EMAIL and COMMONNAME are mandatory; values containing
//! commas are double-quoted (`""` inside quotes is a quote); US-ASCII unless a byte-order
//! mark says UTF-8, UTF-16 LE or UTF-16 BE; at most `max_rows` requests and `max_entry`
//! characters per value.

/// Limits (the reference's defaults: 10,000 requests, 256 characters).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Requests per file.
    pub max_rows: usize,
    /// Characters per value.
    pub max_entry: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_rows: 10_000,
            max_entry: 256,
        }
    }
}

/// One request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// 1-based line of the file.
    pub line: usize,
    /// E-mail (lower-cased).
    pub email: String,
    /// Common name.
    pub cn: String,
    /// Organisation.
    pub org: Option<String>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
}

/// A problem with a row (the row is skipped) or with the file (nothing is read).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}{}: {reason}", column.as_ref().map(|c| format!(", column {c}")).unwrap_or_default())]
pub struct CsvError {
    /// 1-based line.
    pub line: usize,
    /// Column name, when one is at fault.
    pub column: Option<String>,
    /// What is wrong.
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Col {
    Email,
    Org,
    Cn,
    First,
    Last,
}

fn column(name: &str) -> Option<Col> {
    Some(match name.trim().to_ascii_lowercase().as_str() {
        "email" | "e" => Col::Email,
        "organisation" | "organization" | "org" | "o" => Col::Org,
        "commonname" | "cn" => Col::Cn,
        "firstname" | "fn" | "givenname" | "gn" => Col::First,
        "lastname" | "ln" | "surname" | "sn" => Col::Last,
        _ => return None,
    })
}

fn err(line: usize, column: Option<&str>, reason: impl Into<String>) -> CsvError {
    CsvError {
        line,
        column: column.map(str::to_owned),
        reason: reason.into(),
    }
}

/// Decodes the bytes by their byte-order mark; without one the file must be US-ASCII.
fn decode(data: &[u8]) -> Result<String, CsvError> {
    let utf16 = |body: &[u8], be: bool| -> Result<String, CsvError> {
        if !body.len().is_multiple_of(2) {
            return Err(err(1, None, "UTF-16 file with an odd number of bytes"));
        }
        let units: Vec<u16> = body
            .chunks_exact(2)
            .map(|c| {
                if be {
                    u16::from_be_bytes([c[0], c[1]])
                } else {
                    u16::from_le_bytes([c[0], c[1]])
                }
            })
            .collect();
        String::from_utf16(&units).map_err(|_| err(1, None, "invalid UTF-16"))
    };
    match data {
        [0xef, 0xbb, 0xbf, rest @ ..] => String::from_utf8(rest.to_vec()).map_err(|e| {
            let line = rest[..e.utf8_error().valid_up_to()]
                .iter()
                .filter(|b| **b == b'\n')
                .count()
                + 1;
            err(line, None, "invalid UTF-8 after a UTF-8 byte-order mark")
        }),
        [0xff, 0xfe, rest @ ..] => utf16(rest, false),
        [0xfe, 0xff, rest @ ..] => utf16(rest, true),
        _ => {
            if let Some(pos) = data.iter().position(|b| *b >= 0x80) {
                let line = data[..pos].iter().filter(|b| **b == b'\n').count() + 1;
                return Err(err(
                    line,
                    None,
                    "non-ASCII byte in a file without a byte-order mark: save it as UTF-8 with BOM, or UTF-16",
                ));
            }
            Ok(String::from_utf8_lossy(data).into_owned())
        }
    }
}

/// Splits into records of fields (RFC 4180 quoting); returns (line of the record, fields).
fn records(text: &str) -> Result<Vec<(usize, Vec<String>)>, CsvError> {
    let mut out = Vec::new();
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut line = 1;
    let mut start = 1;
    let mut chars = text.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    field.push(c);
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.trim().is_empty() => {
                field.clear();
                quoted = true;
                any = true;
            }
            '"' => {
                return Err(err(
                    line,
                    None,
                    "a quote inside an unquoted value (quote the whole value)",
                ));
            }
            ',' => {
                fields.push(std::mem::take(&mut field));
                any = true;
            }
            '\r' => {}
            '\n' => {
                fields.push(std::mem::take(&mut field));
                if any || fields.iter().any(|f| !f.trim().is_empty()) {
                    out.push((start, std::mem::take(&mut fields)));
                } else {
                    fields.clear();
                }
                any = false;
                line += 1;
                start = line;
            }
            _ => {
                field.push(c);
                any = true;
            }
        }
    }
    if quoted {
        return Err(err(start, None, "unterminated quoted value"));
    }
    if any || !field.is_empty() {
        fields.push(field);
        out.push((start, fields));
    }
    Ok(out)
}

/// Parses a bulk CSV. A file-level problem (encoding, header, too many rows) is an `Err`;
/// row problems come back beside the good rows, each naming its line and column.
pub fn parse(data: &[u8], limits: Limits) -> Result<(Vec<Row>, Vec<CsvError>), CsvError> {
    let text = decode(data)?;
    let mut recs = records(&text)?.into_iter();
    let (hline, header) = recs
        .next()
        .ok_or_else(|| err(1, None, "empty file: the first row must name the columns"))?;
    let mut cols = Vec::new();
    for name in &header {
        let c = column(name).ok_or_else(|| {
            err(hline, Some(name.trim()), "unknown column (use EMAIL, COMMONNAME, ORGANISATION, FIRSTNAME, LASTNAME or their aliases)")
        })?;
        if cols.contains(&c) {
            return Err(err(hline, Some(name.trim()), "column given twice"));
        }
        cols.push(c);
    }
    for (must, name) in [(Col::Email, "EMAIL"), (Col::Cn, "COMMONNAME")] {
        if !cols.contains(&must) {
            return Err(err(hline, Some(name), "mandatory column missing"));
        }
    }
    let names: Vec<String> = header.iter().map(|h| h.trim().to_owned()).collect();
    let mut rows: Vec<Row> = Vec::new();
    let mut problems = Vec::new();
    for (line, fields) in recs {
        if rows.len() + problems.len() >= limits.max_rows {
            return Err(err(
                line,
                None,
                format!("more than {} requests in one file", limits.max_rows),
            ));
        }
        if fields.len() != cols.len() {
            problems.push(err(
                line,
                None,
                format!("{} values for {} columns", fields.len(), cols.len()),
            ));
            continue;
        }
        let mut row = Row {
            line,
            email: String::new(),
            cn: String::new(),
            org: None,
            first_name: None,
            last_name: None,
        };
        let mut bad = None;
        for ((c, v), name) in cols.iter().zip(&fields).zip(&names) {
            let v = v.trim();
            if v.chars().count() > limits.max_entry {
                bad = Some(err(
                    line,
                    Some(name),
                    format!("longer than {} characters", limits.max_entry),
                ));
                break;
            }
            let opt = (!v.is_empty()).then(|| v.to_owned());
            match c {
                Col::Email => row.email = v.to_lowercase(),
                Col::Cn => row.cn = v.to_owned(),
                Col::Org => row.org = opt,
                Col::First => row.first_name = opt,
                Col::Last => row.last_name = opt,
            }
        }
        if let Some(b) = bad {
            problems.push(b);
            continue;
        }
        let email_col = names[cols.iter().position(|c| *c == Col::Email).unwrap_or(0)].clone();
        let cn_col = names[cols.iter().position(|c| *c == Col::Cn).unwrap_or(0)].clone();
        let valid_email = crate::valid_email(&row.email);
        if !valid_email {
            problems.push(err(
                line,
                Some(&email_col),
                format!("{:?} is not a valid e-mail address", row.email),
            ));
            continue;
        }
        if row.cn.is_empty() {
            problems.push(err(line, Some(&cn_col), "the common name is empty"));
            continue;
        }
        if let Some(first) = rows.iter().find(|r| r.email == row.email) {
            problems.push(err(
                line,
                Some(&email_col),
                format!("duplicate of line {}", first.line),
            ));
            continue;
        }
        rows.push(row);
    }
    Ok((rows, problems))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(data: &[u8]) -> (Vec<Row>, Vec<CsvError>) {
        parse(data, Limits::default()).expect("parses")
    }

    #[test]
    fn header_aliases_quotes_and_order() {
        let (rows, problems) = ok(b"cn,E,o,GivenName,sn\n\"Doe, John\",John@Example.com,\"ACME, Inc.\",John,Doe\r\nJane,jane@example.com,,,\n\n");
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].cn, "Doe, John");
        assert_eq!(rows[0].email, "john@example.com");
        assert_eq!(rows[0].org.as_deref(), Some("ACME, Inc."));
        assert_eq!(rows[0].first_name.as_deref(), Some("John"));
        assert_eq!(rows[1].org, None);
        assert_eq!(rows[1].line, 3);
        let (rows, _) = ok(b"EMAIL,COMMONNAME,ORGANISATION,FIRSTNAME,LASTNAME\na@b.example,\"He said \"\"hi\"\"\",o,f,l\n");
        assert_eq!(rows[0].cn, "He said \"hi\"");
    }

    #[test]
    fn encodings_by_byte_order_mark() {
        let body = "email,cn\nzoë@example.com,Zoë\n";
        let mut utf8 = vec![0xef, 0xbb, 0xbf];
        utf8.extend_from_slice(body.as_bytes());
        assert_eq!(
            ok(&utf8).1.len(),
            1,
            "non-ASCII local part is not a valid address here"
        );
        let body = "email,cn\nzoe@example.com,Zoë\n";
        let mut le = vec![0xff, 0xfe];
        le.extend(body.encode_utf16().flat_map(u16::to_le_bytes));
        let mut be = vec![0xfe, 0xff];
        be.extend(body.encode_utf16().flat_map(u16::to_be_bytes));
        let mut u8bom = vec![0xef, 0xbb, 0xbf];
        u8bom.extend_from_slice(body.as_bytes());
        for d in [le, be, u8bom] {
            let (rows, p) = ok(&d);
            assert!(p.is_empty(), "{p:?}");
            assert_eq!(rows[0].cn, "Zoë");
        }
        let e = parse(body.as_bytes(), Limits::default()).expect_err("no BOM, not ASCII");
        assert_eq!(e.line, 2);
        assert!(e.reason.contains("byte-order mark"));
    }

    #[test]
    fn file_level_errors_name_line_and_column() {
        let e = parse(b"email,name\n", Limits::default()).expect_err("unknown column");
        assert_eq!(e.column.as_deref(), Some("name"));
        let e = parse(b"email,org\na@b.example,x\n", Limits::default()).expect_err("no CN");
        assert_eq!(e.column.as_deref(), Some("COMMONNAME"));
        let e = parse(b"cn\nx\n", Limits::default()).expect_err("no email");
        assert_eq!(e.column.as_deref(), Some("EMAIL"));
        assert!(parse(b"", Limits::default()).is_err());
        assert!(parse(b"email,cn\n\"open,x\n", Limits::default()).is_err());
        let many: String = std::iter::once("email,cn\n".to_owned())
            .chain((0..6).map(|i| format!("u{i}@x.example,U\n")))
            .collect();
        let e = parse(
            many.as_bytes(),
            Limits {
                max_rows: 5,
                max_entry: 256,
            },
        )
        .expect_err("too many");
        assert!(e.reason.contains("more than 5"));
    }

    #[test]
    fn row_errors_are_reported_and_the_rest_is_kept() {
        let long = "x".repeat(257);
        let data = format!(
            "email,cn\nok@example.com,Ok\nbad-address,Bad\nempty@example.com,\nok@example.com,Dup\nlong@example.com,{long}\nshort@example.com\nfine@example.com,Fine\n"
        );
        let (rows, problems) = ok(data.as_bytes());
        assert_eq!(
            rows.iter().map(|r| r.email.as_str()).collect::<Vec<_>>(),
            ["ok@example.com", "fine@example.com"]
        );
        let lines: Vec<usize> = problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, [3, 4, 5, 6, 7]);
        assert!(problems[2].reason.contains("duplicate of line 2"));
        assert_eq!(problems[3].column.as_deref(), Some("cn"));
    }

    #[test]
    fn never_panics_on_noise() {
        // A cheap fuzz: mutate a valid file byte by byte and by truncation.
        let base = b"email,cn,o\n\"a@b.example\",\"x, y\",z\nq@r.example,Q,\n".to_vec();
        let mut seed = 1u64;
        for _ in 0..20_000 {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let mut d = base.clone();
            let i = (seed >> 33) as usize % d.len();
            d[i] = (seed >> 17) as u8;
            d.truncate(((seed >> 40) as usize % (d.len() + 1)).max(1));
            let _ = parse(&d, Limits::default());
        }
    }
}
