//! RFC 5321 paths (section 4.1.2) read exactly, with RFC 6531's UTF-8 where the transaction
//! is SMTPUTF8: `MAIL FROM:<...>` and `RCPT TO:<...>` are taken apart here before
//! `smtp-proto` sees the line, because its reader drops the quotes of a quoted local part
//! (`"bob@partner.example"@evil.example` became `bob@partner.example@evil.example`, an
//! address of another domain) and turns `<postmaster>` into the null path.
//!
//! What goes on (to the policy and to the next hop) is the mailbox in its canonical form,
//! as Postfix writes it: a local part that is a valid dot-string without its quotes is
//! written without them, any other is quoted again with `\` before `"` and `\`; the domain
//! as given. A source route (`<@a,@b:user@c>`) is dropped (RFC 5321 section 4.1.2 and
//! appendix C). The quoted and the unquoted form are one mailbox, so nothing else changes.

/// Longest local part (RFC 5321 section 4.5.3.1.1).
pub const MAX_LOCAL: usize = 64;
/// Longest domain (RFC 5321 section 4.5.3.1.2).
pub const MAX_DOMAIN: usize = 255;
/// Longest path including the angle brackets (RFC 5321 section 4.5.3.1.3).
pub const MAX_PATH: usize = 256;

/// Why a path is refused: the reply to give (`501` for syntax, `553` for a mailbox form
/// certmail does not take).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathError {
    /// Reply code and enhanced status code, e.g. `501 5.1.3`.
    pub code: &'static str,
    /// What is wrong.
    pub why: String,
}

fn err(code: &'static str, why: impl Into<String>) -> PathError {
    PathError {
        code,
        why: why.into(),
    }
}

/// A path read from a command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    /// The mailbox in canonical form; empty for the null reverse-path `<>`.
    pub address: String,
    /// Bytes of the argument the path took (from the `<` to the `>` inclusive).
    pub len: usize,
}

fn is_atext(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b)
}

/// Whether `s` is a dot-string: atoms of atext (or UTF-8 with `utf8`) joined by single dots.
fn is_dot_string(s: &[u8], utf8: bool) -> bool {
    !s.is_empty()
        && s.split(|b| *b == b'.').all(|atom| {
            !atom.is_empty() && atom.iter().all(|b| is_atext(*b) || (utf8 && *b >= 0x80))
        })
}

/// The local part as it goes on: unquoted when it is a dot-string, otherwise quoted with
/// `"` and `\` escaped.
fn canonical_local(content: &[u8], utf8: bool) -> Vec<u8> {
    if is_dot_string(content, utf8) {
        return content.to_vec();
    }
    let mut out = Vec::with_capacity(content.len() + 2);
    out.push(b'"');
    for b in content {
        if matches!(b, b'"' | b'\\') {
            out.push(b'\\');
        }
        out.push(*b);
    }
    out.push(b'"');
    out
}

/// A domain: sub-domains of letters, digits and hyphens (not first or last), or U-labels
/// with `utf8`; or an address literal in brackets.
fn check_domain(d: &[u8], utf8: bool) -> Result<(), PathError> {
    if d.is_empty() {
        return Err(err("501 5.1.3", "no domain after the @"));
    }
    if d.len() > MAX_DOMAIN {
        return Err(err(
            "501 5.1.3",
            format!("domain over {MAX_DOMAIN} characters"),
        ));
    }
    if d[0] == b'[' {
        let Some(inner) = d.strip_prefix(b"[").and_then(|x| x.strip_suffix(b"]")) else {
            return Err(err("501 5.1.3", "address literal without its closing ]"));
        };
        let s = std::str::from_utf8(inner).map_err(|_| err("501 5.1.3", "bad address literal"))?;
        let ok = match s.get(..5) {
            Some(p) if p.eq_ignore_ascii_case("IPv6:") => {
                s[5..].parse::<std::net::Ipv6Addr>().is_ok()
            }
            _ => s.parse::<std::net::Ipv4Addr>().is_ok(),
        };
        if !ok {
            return Err(err("501 5.1.3", format!("bad address literal [{s}]")));
        }
        return Ok(());
    }
    for label in d.split(|b| *b == b'.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label[0] != b'-'
            && label[label.len() - 1] != b'-'
            && label
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || (utf8 && *b >= 0x80));
        if !ok {
            return Err(err(
                "501 5.1.3",
                format!(
                    "bad domain {:?} (letters, digits and hyphens between dots)",
                    String::from_utf8_lossy(d)
                ),
            ));
        }
    }
    Ok(())
}

/// Reads the path at the start of `arg` (what follows `FROM:` or `TO:`, spaces before it
/// allowed as Postfix allows them). `reverse`: `<>` is the null sender. `utf8`: the
/// transaction (or this MAIL command) is SMTPUTF8, so non-ASCII mailboxes are allowed.
pub fn parse_path(arg: &[u8], reverse: bool, utf8: bool) -> Result<Path, PathError> {
    let lead = arg.iter().take_while(|b| **b == b' ').count();
    let a = &arg[lead..];
    if a.first() != Some(&b'<') {
        return Err(err(
            "501 5.5.4",
            "the address must be written in angle brackets, as <user@domain>",
        ));
    }
    let mut i = 1;
    // A source route: @host,@host: before the mailbox, dropped.
    if a.get(i) == Some(&b'@') {
        let Some(colon) = a.iter().position(|b| *b == b':') else {
            return Err(err("501 5.1.3", "a source route without its colon"));
        };
        for hop in a[1..colon].split(|b| *b == b',') {
            let Some(d) = hop.strip_prefix(b"@") else {
                return Err(err("501 5.1.3", "bad source route"));
            };
            check_domain(d, utf8)?;
        }
        i = colon + 1;
    }
    if a.get(i) == Some(&b'>') {
        if i == 1 && reverse {
            return Ok(Path {
                address: String::new(),
                len: lead + 2,
            });
        }
        return Err(err("501 5.1.3", "an empty address is only a sender's (<>)"));
    }
    // The local part: a quoted string or a dot-string.
    let mut local: Vec<u8> = Vec::new();
    if a.get(i) == Some(&b'"') {
        i += 1;
        loop {
            match a.get(i) {
                None | Some(b'\r') | Some(b'\n') => {
                    return Err(err(
                        "501 5.1.3",
                        "a quoted local part without its closing quote",
                    ));
                }
                Some(b'"') => {
                    i += 1;
                    break;
                }
                Some(b'\\') => match a.get(i + 1) {
                    Some(c) if (32..=126).contains(c) => {
                        local.push(*c);
                        i += 2;
                    }
                    Some(c) if utf8 && *c >= 0x80 => {
                        local.push(*c);
                        i += 2;
                    }
                    _ => {
                        return Err(err(
                            "501 5.1.3",
                            "a backslash must quote a printable character",
                        ));
                    }
                },
                Some(c) if (32..=126).contains(c) || (utf8 && *c >= 0x80) => {
                    local.push(*c);
                    i += 1;
                }
                Some(c) if *c >= 0x80 => {
                    return Err(err(
                        "553 5.6.7",
                        "a non-ASCII address needs SMTPUTF8 on MAIL FROM",
                    ));
                }
                Some(c) => {
                    return Err(err(
                        "501 5.1.3",
                        format!("control character 0x{c:02x} in a quoted local part"),
                    ));
                }
            }
        }
    } else {
        let start = i;
        while let Some(c) = a.get(i) {
            if is_atext(*c) || *c == b'.' || (utf8 && *c >= 0x80) {
                i += 1;
            } else {
                break;
            }
        }
        local.extend_from_slice(&a[start..i]);
        if !is_dot_string(&local, utf8) {
            // Without SMTPUTF8 the local part stops at the first 8-bit byte.
            if !utf8 && a.get(i).is_some_and(|c| *c >= 0x80) {
                return Err(err(
                    "553 5.6.7",
                    "a non-ASCII address needs SMTPUTF8 on MAIL FROM",
                ));
            }
            return Err(err(
                "501 5.1.3",
                "bad local part (dots only between other characters; quote anything else)",
            ));
        }
    }
    match a.get(i) {
        Some(b'@') => i += 1,
        Some(b'>') if local.eq_ignore_ascii_case(b"postmaster") => {
            return Err(err(
                "553 5.1.3",
                "<postmaster> without a domain is not taken here: use <postmaster@domain>",
            ));
        }
        Some(c) if *c >= 0x80 && !utf8 => {
            return Err(err(
                "553 5.6.7",
                "a non-ASCII address needs SMTPUTF8 on MAIL FROM",
            ));
        }
        _ => return Err(err("501 5.1.3", "expected <local-part@domain>")),
    }
    let dstart = i;
    if a.get(i) == Some(&b'[') {
        while let Some(c) = a.get(i) {
            i += 1;
            if *c == b']' {
                break;
            }
        }
    } else {
        while let Some(c) = a.get(i) {
            if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.') || *c >= 0x80 {
                i += 1;
            } else {
                break;
            }
        }
    }
    let domain = &a[dstart..i];
    if !utf8 && domain.iter().any(|c| *c >= 0x80) {
        return Err(err(
            "553 5.6.7",
            "a non-ASCII address needs SMTPUTF8 on MAIL FROM",
        ));
    }
    check_domain(domain, utf8)?;
    if a.get(i) != Some(&b'>') {
        return Err(err("501 5.1.3", "expected > after the domain"));
    }
    i += 1;
    if local.len() > MAX_LOCAL {
        return Err(err(
            "553 5.1.3",
            format!("local part over {MAX_LOCAL} characters"),
        ));
    }
    let mut address = canonical_local(&local, utf8);
    address.push(b'@');
    address.extend_from_slice(domain);
    if address.len() + 2 > MAX_PATH {
        return Err(err(
            "553 5.1.3",
            format!("address over {MAX_PATH} characters"),
        ));
    }
    let address = String::from_utf8(address)
        .map_err(|_| err("501 5.6.7", "the address is not valid UTF-8"))?;
    Ok(Path {
        address,
        len: lead + i,
    })
}

/// For a `MAIL FROM:` or `RCPT TO:` command line: the line `smtp-proto` is to parse (the
/// path replaced by a placeholder of the same kind, so it reads only the parameters) and
/// the path as read here. `None` for other commands.
pub fn split_command(line: &[u8], utf8_tx: bool) -> Option<Result<(Vec<u8>, Path), PathError>> {
    let (reverse, prefix_len) =
        if line.len() >= 10 && line[..10].eq_ignore_ascii_case(b"MAIL FROM:") {
            (true, 10)
        } else if line.len() >= 8 && line[..8].eq_ignore_ascii_case(b"RCPT TO:") {
            (false, 8)
        } else {
            return None;
        };
    let arg = &line[prefix_len..];
    // MAIL FROM's own SMTPUTF8 parameter allows a non-ASCII sender.
    let utf8 = utf8_tx
        || (reverse
            && arg
                .split(|b| matches!(b, b' ' | b'\r' | b'\n'))
                .any(|p| p.eq_ignore_ascii_case(b"SMTPUTF8")));
    Some(parse_path(arg, reverse, utf8).map(|path| {
        let placeholder: &[u8] = if path.address.is_empty() {
            b"<>"
        } else {
            b"<placeholder@certmail.invalid>"
        };
        let mut out = Vec::with_capacity(line.len());
        out.extend_from_slice(&line[..prefix_len]);
        out.extend_from_slice(placeholder);
        out.extend_from_slice(&arg[path.len..]);
        (out, path)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str, utf8: bool) -> String {
        parse_path(s.as_bytes(), false, utf8)
            .unwrap_or_else(|e| panic!("{s}: {e:?}"))
            .address
    }

    fn bad(s: &str, utf8: bool) -> &'static str {
        parse_path(s.as_bytes(), false, utf8)
            .map(|p| panic!("{s} accepted as {}", p.address))
            .unwrap_err()
            .code
    }

    #[test]
    fn quoted_local_parts_keep_their_meaning() {
        assert_eq!(
            ok("<\"bob@partner.example\"@evil.example>", false),
            "\"bob@partner.example\"@evil.example"
        );
        assert_eq!(
            ok("<\"bob\"@partner.example>", false),
            "bob@partner.example"
        );
        assert_eq!(ok("<\"a b\"@x.example>", false), "\"a b\"@x.example");
        assert_eq!(ok("<\"a\\\"b\"@x.example>", false), "\"a\\\"b\"@x.example");
        assert_eq!(ok("<\"a\\b\"@x.example>", false), "ab@x.example");
        assert_eq!(ok("<\"a..b\"@x.example>", false), "\"a..b\"@x.example");
        assert_eq!(ok("<@relay.example:bob@x.example>", false), "bob@x.example");
        assert_eq!(ok("<bob@[192.0.2.1]>", false), "bob@[192.0.2.1]");
        assert_eq!(ok("<jörg@bücher.example>", true), "jörg@bücher.example");
        assert_eq!(
            parse_path(b"<>", true, false).map(|p| p.address),
            Ok(String::new())
        );
    }

    #[test]
    fn other_forms_are_refused_with_the_right_code() {
        assert_eq!(bad("bob@x.example", false), "501 5.5.4");
        assert_eq!(bad("<bob@x.example", false), "501 5.1.3");
        assert_eq!(bad("<>", false), "501 5.1.3");
        assert_eq!(bad("<postmaster>", false), "553 5.1.3");
        assert_eq!(bad("<a..b@x.example>", false), "501 5.1.3");
        assert_eq!(bad("<j\u{f6}..rg@x.example>", true), "501 5.1.3");
        assert_eq!(bad("<a.\u{f6}@x.example>", false), "553 5.6.7");
        assert_eq!(bad("<.a@x.example>", false), "501 5.1.3");
        assert_eq!(bad("<a@b@x.example>", false), "501 5.1.3");
        assert_eq!(bad("<jörg@x.example>", false), "553 5.6.7");
        assert_eq!(bad("<a@-x.example>", false), "501 5.1.3");
        assert_eq!(bad("<a@[300.0.0.1]>", false), "501 5.1.3");
        assert_eq!(bad("<\"a\x01\"@x.example>", false), "501 5.1.3");
        assert_eq!(
            bad(&format!("<{}@x.example>", "a".repeat(65)), false),
            "553 5.1.3"
        );
    }

    #[test]
    fn the_command_line_keeps_its_parameters() {
        let (line, p) = split_command(
            b"MAIL FROM:<\"a b\"@x.example> SIZE=10 BODY=8BITMIME\r\n",
            false,
        )
        .expect("mail")
        .expect("ok");
        assert_eq!(p.address, "\"a b\"@x.example");
        assert_eq!(
            line,
            b"MAIL FROM:<placeholder@certmail.invalid> SIZE=10 BODY=8BITMIME\r\n"
        );
        let (_, p) = split_command(b"MAIL FROM:<j\xc3\xb6rg@x.example> SMTPUTF8\r\n", false)
            .expect("mail")
            .expect("utf8 by the parameter");
        assert_eq!(p.address, "jörg@x.example");
        assert!(
            split_command(b"RCPT TO:<j\xc3\xb6rg@x.example>\r\n", false)
                .expect("rcpt")
                .is_err()
        );
        assert!(split_command(b"EHLO x\r\n", false).is_none());
    }
}
