//! The MIME a S/MIME engine needs, over raw bytes: header sections (folded, unfolded and
//! kept byte-exact), Content-Type parameters, multipart boundaries and CRLF
//! canonicalisation (RFC 8551 3.1.1). Bodies are never decoded or re-encoded here, so the
//! bytes that were signed are exactly the bytes that are verified.

use std::borrow::Cow;

use crate::SmimeError;

/// Largest header section accepted (a message bomb of headers fails here).
pub const MAX_HEADER_BYTES: usize = 1 << 20;
/// Most header fields accepted in one section.
pub const MAX_HEADERS: usize = 5_000;

/// One header field.
#[derive(Debug, Clone)]
pub struct Header<'a> {
    /// Field name as written.
    pub name: &'a str,
    /// The whole field including folding and its line end.
    pub raw: &'a [u8],
}

impl Header<'_> {
    /// The value unfolded and trimmed.
    pub fn value(&self) -> String {
        // The colon follows the name, or white space after it (the obsolete form
        // `Subject : x`, which only the lenient reader takes).
        let colon = memchr(b':', self.raw).map_or(self.raw.len(), |c| c + 1);
        let v = &self.raw[colon..];
        let s = String::from_utf8_lossy(v);
        let mut out = String::with_capacity(s.len());
        for (i, line) in s.split('\n').enumerate() {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if i > 0 && !line.is_empty() {
                out.push(' ');
            }
            out.push_str(line.trim());
        }
        out.trim().to_owned()
    }

    /// Whether the name equals `n` (case-insensitive).
    pub fn is(&self, n: &str) -> bool {
        self.name.eq_ignore_ascii_case(n)
    }

    /// A content header (Content-*), which belongs to the entity rather than the message.
    pub fn is_content(&self) -> bool {
        self.name.len() > 8 && self.name[..8].eq_ignore_ascii_case("content-")
    }
}

/// An entity split into its header section and body.
#[derive(Debug, Clone)]
pub struct Entity<'a> {
    /// Header fields in order.
    pub headers: Vec<Header<'a>>,
    /// The body (after the blank line).
    pub body: &'a [u8],
    /// Whether the header section used bare LF line ends.
    pub lf_only: bool,
}

/// Splits `data` into headers and body.
pub fn parse(data: &[u8]) -> Result<Entity<'_>, SmimeError> {
    parse_with(data, false).map(|(e, _)| e)
}

/// A top-level header section read the way Postfix's cleanup reads it.
#[derive(Debug, Clone)]
pub struct Lenient<'a> {
    /// The fields (names without the white space an obsolete `Name : value` has before
    /// its colon) and the body.
    pub entity: Entity<'a>,
    /// Where the body starts in the input.
    pub body_start: usize,
    /// Set when a line that is not a header field (no colon, a name with white space,
    /// 8-bit or control bytes, a continuation line with no field before it) ended the
    /// header section rather than an empty line: that line is the first of the body.
    pub ended_by_non_header: bool,
    /// Set when a field has white space between its name and the colon.
    pub obsolete_names: bool,
}

/// Splits `data` into headers and body as Postfix's cleanup does (RFC 5322 section 2.2 and
/// the obsolete syntax of section 4.5.3): a field name is printable US-ASCII up to a colon,
/// white space may stand between the name and the colon, and the first line that is not a
/// field starts the body even without an empty line before it. Never fails but for the
/// size limits, so mail that [`parse`] refuses is still read one agreed way.
pub fn parse_lenient(data: &[u8]) -> Result<Lenient<'_>, SmimeError> {
    let (entity, (ended_by_non_header, obsolete_names)) = parse_with(data, true)?;
    Ok(Lenient {
        body_start: data.len() - entity.body.len(),
        entity,
        ended_by_non_header,
        obsolete_names,
    })
}

/// The field name of a header line for the lenient reader: printable US-ASCII before the
/// first colon, optionally followed by spaces or tabs; `None` when the line is no field.
fn lenient_name(line: &[u8]) -> Option<&str> {
    let colon = line.iter().position(|b| *b == b':' || *b == b'\n')?;
    if line[colon] != b':' {
        return None;
    }
    let before = &line[..colon];
    let name_len = before
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .map_or(0, |i| i + 1);
    let name = &before[..name_len];
    if name.is_empty() || !name.iter().all(|b| b.is_ascii_graphic()) {
        return None;
    }
    std::str::from_utf8(name).ok()
}

/// [`parse`] (strict) or [`parse_lenient`]; with the second, whether a non-header line
/// ended the section and whether a name had white space before its colon.
fn parse_with(data: &[u8], lenient: bool) -> Result<(Entity<'_>, (bool, bool)), SmimeError> {
    let mut headers = Vec::new();
    let mut obsolete = false;
    let mut pos = 0;
    let mut lf_only = false;
    loop {
        if pos >= data.len() {
            return Ok((
                Entity {
                    headers,
                    body: &data[data.len()..],
                    lf_only,
                },
                (false, obsolete),
            ));
        }
        if data[pos..].starts_with(b"\r\n") {
            pos += 2;
            break;
        }
        if data[pos] == b'\n' {
            pos += 1;
            lf_only = true;
            break;
        }
        let field_name = if lenient {
            match lenient_name(&data[pos..]) {
                Some(n) => Some(n),
                None => {
                    return Ok((
                        Entity {
                            headers,
                            body: &data[pos..],
                            lf_only,
                        },
                        (true, obsolete),
                    ));
                }
            }
        } else {
            None
        };
        if pos > MAX_HEADER_BYTES || headers.len() >= MAX_HEADERS {
            return Err(SmimeError::Limit(format!(
                "header section over {MAX_HEADER_BYTES} bytes or {MAX_HEADERS} fields"
            )));
        }
        // One field: up to a line end not followed by white space.
        let start = pos;
        let mut end = pos;
        loop {
            match memchr(b'\n', &data[end..]) {
                None => {
                    end = data.len();
                    break;
                }
                Some(i) => {
                    end += i + 1;
                    if i == 0 || data[end - 2] != b'\r' {
                        lf_only = true;
                    }
                    if end >= data.len() || !matches!(data[end], b' ' | b'\t') {
                        break;
                    }
                    if end - start > MAX_HEADER_BYTES {
                        return Err(SmimeError::Limit("one header field over 1 MiB".into()));
                    }
                }
            }
        }
        let raw = &data[start..end];
        if let Some(name) = field_name {
            obsolete |= raw[name.len()] != b':';
            headers.push(Header { name, raw });
            pos = end;
            continue;
        }
        let colon = raw.iter().position(|b| *b == b':').ok_or_else(|| {
            SmimeError::Mime(format!(
                "header line without a colon: {:?}",
                String::from_utf8_lossy(&raw[..raw.len().min(60)]).trim_end()
            ))
        })?;
        let name = std::str::from_utf8(&raw[..colon])
            .ok()
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_graphic()))
            .ok_or_else(|| {
                SmimeError::Mime(format!(
                    "bad header name {:?}",
                    String::from_utf8_lossy(&raw[..colon.min(60)])
                ))
            })?;
        headers.push(Header { name, raw });
        pos = end;
    }
    Ok((
        Entity {
            headers,
            body: &data[pos..],
            lf_only,
        },
        (false, obsolete),
    ))
}

/// Position of `b` in `s` (SIMD).
pub fn memchr(b: u8, s: &[u8]) -> Option<usize> {
    memchr::memchr(b, s)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay, needle)
}

/// Whether `data` has a line feed not preceded by a carriage return.
pub fn has_bare_lf(data: &[u8]) -> bool {
    memchr::memchr_iter(b'\n', data).any(|i| i == 0 || data[i - 1] != b'\r')
}

impl<'a> Entity<'a> {
    /// The first header named `n`.
    pub fn header(&self, n: &str) -> Option<&Header<'a>> {
        self.headers.iter().find(|h| h.is(n))
    }

    /// The parsed Content-Type (text/plain when absent, RFC 2045 5.2).
    pub fn content_type(&self) -> ContentType {
        self.header("Content-Type")
            .map(|h| ContentType::parse(&h.value()))
            .unwrap_or_else(|| ContentType::parse("text/plain; charset=us-ascii"))
    }

    /// The Content-Transfer-Encoding, lower case (7bit when absent).
    pub fn transfer_encoding(&self) -> String {
        self.header("Content-Transfer-Encoding")
            .map(|h| h.value().to_ascii_lowercase())
            .unwrap_or_else(|| "7bit".into())
    }

    /// The body decoded from its transfer encoding (base64 or as is).
    pub fn decoded_body(&self) -> Result<Cow<'a, [u8]>, SmimeError> {
        match self.transfer_encoding().as_str() {
            "base64" => Ok(Cow::Owned(crate::b64::decode(self.body)?)),
            "7bit" | "8bit" | "binary" => Ok(Cow::Borrowed(self.body)),
            other => Err(SmimeError::Mime(format!(
                "transfer encoding {other} is not used for S/MIME objects"
            ))),
        }
    }
}

/// A Content-Type value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentType {
    /// type/subtype, lower case.
    pub mime: String,
    /// Parameters (names lower case).
    pub params: Vec<(String, String)>,
}

impl ContentType {
    /// Parses a Content-Type value (quoted strings, comments not expected).
    pub fn parse(v: &str) -> ContentType {
        let mut parts = split_params(v).into_iter();
        let mime = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let params = parts
            .filter_map(|p| {
                let (k, v) = p.split_once('=')?;
                let v = v.trim();
                let v = if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
                    v[1..v.len() - 1]
                        .replace("\\\"", "\"")
                        .replace("\\\\", "\\")
                } else {
                    v.to_owned()
                };
                Some((k.trim().to_ascii_lowercase(), v))
            })
            .collect();
        ContentType { mime, params }
    }

    /// A parameter value.
    pub fn param(&self, n: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
    }
}

fn split_params(v: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut esc = false;
    for c in v.chars() {
        if esc {
            cur.push(c);
            esc = false;
            continue;
        }
        match c {
            '\\' if quoted => {
                cur.push(c);
                esc = true;
            }
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            ';' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// The body parts of a multipart body, byte-exact: each excludes the line end that belongs
/// to the next delimiter (RFC 2046 5.1.1).
pub fn multipart_parts<'a>(body: &'a [u8], boundary: &str) -> Result<Vec<&'a [u8]>, SmimeError> {
    if boundary.is_empty() || boundary.len() > 200 {
        return Err(SmimeError::Mime("missing or bad multipart boundary".into()));
    }
    let delim = format!("--{boundary}");
    let delim = delim.as_bytes();
    // Delimiter positions: at the body start or after a line end.
    let mut starts = Vec::new();
    let mut pos = 0;
    let mut closed = false;
    while let Some(i) = find(&body[pos..], delim) {
        let at = pos + i;
        let line_start = at == 0 || body[at - 1] == b'\n';
        pos = at + delim.len();
        if !line_start {
            continue;
        }
        let is_close = body[pos..].starts_with(b"--");
        // The delimiter line ends at the next LF; only "--" and transport padding may
        // follow the boundary on it (otherwise it is a longer boundary, not ours).
        let line_end = memchr(b'\n', &body[pos..]).map_or(body.len(), |j| pos + j + 1);
        let rest = &body[pos + if is_close { 2 } else { 0 }..line_end];
        if !rest
            .iter()
            .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        {
            continue;
        }
        // The part before ends before the CRLF (or LF) preceding the delimiter.
        let before = if at >= 2 && &body[at - 2..at] == b"\r\n" {
            at - 2
        } else {
            at.saturating_sub(1)
        };
        starts.push((before, line_end));
        pos = line_end;
        if is_close {
            closed = true;
            break;
        }
        if starts.len() > 10_000 {
            return Err(SmimeError::Limit("more than 10,000 body parts".into()));
        }
    }
    if starts.len() < 2 {
        return Err(SmimeError::Mime(format!(
            "multipart body without parts for boundary {boundary:?}"
        )));
    }
    if !closed {
        // Accept a missing close delimiter (truncating relays), taking the rest as last part.
        starts.push((body.len(), body.len()));
    }
    Ok(starts
        .windows(2)
        .map(|w| &body[w[0].1..w[1].0.max(w[0].1)])
        .collect())
}

/// The entity with every line end made CRLF (bare LF becomes CRLF; existing CRLF stays).
pub fn canonical(data: &[u8]) -> Cow<'_, [u8]> {
    if !has_bare_lf(data) {
        return Cow::Borrowed(data);
    }
    let mut out = Vec::with_capacity(data.len() + data.len() / 40);
    let mut last = 0;
    for i in memchr::memchr_iter(b'\n', data) {
        if i == 0 || data[i - 1] != b'\r' {
            out.extend_from_slice(&data[last..i]);
            out.push(b'\r');
            last = i;
        }
    }
    out.extend_from_slice(&data[last..]);
    Cow::Owned(out)
}

/// Unicode's bidirectional formatting characters (U+202A-U+202E, U+2066-U+2069, U+200E,
/// U+200F, U+061C): a right-to-left override makes a subject read other than it is.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}')
}

/// A header field certmail writes from text that may come from anywhere (a certificate's
/// subject, an address, a reason): control and bidirectional formatting characters dropped,
/// white space collapsed, and the value folded (RFC 5322 2.2.3) or, when it is not ASCII or
/// holds a word too long to fold, written as RFC 2047 encoded words of at most 75
/// characters, one per line. No line comes near the 998-character limit.
pub fn encode_header(name: &str, value: &str) -> String {
    let spaced: String = value
        .chars()
        .filter(|c| !is_bidi_control(*c))
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let clean = spaced.split_whitespace().collect::<Vec<_>>().join(" ");
    if clean.is_ascii() && clean.split(' ').all(|w| w.len() <= 900) {
        return fold(name, &clean);
    }
    let mut out = format!("{name}:");
    let mut words: Vec<String> = Vec::new();
    let mut chunk = String::new();
    // 45 bytes are 60 base64 characters: " =?UTF-8?B?" + 60 + "?=" is 73 on a line of its
    // own; the first word shares its line with the field name.
    let first_max = ((78usize.saturating_sub(name.len() + 2 + 12)) / 4 * 3).clamp(3, 45);
    for c in clean.chars() {
        let max = if words.is_empty() { first_max } else { 45 };
        if chunk.len() + c.len_utf8() > max {
            words.push(std::mem::take(&mut chunk));
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(chunk);
    }
    for (i, w) in words.iter().enumerate() {
        out.push_str(if i == 0 { " " } else { "\r\n " });
        out.push_str("=?UTF-8?B?");
        out.push_str(String::from_utf8_lossy(&crate::b64::encode_to_vec(w.as_bytes())).trim_end());
        out.push_str("?=");
    }
    out.push_str("\r\n");
    out
}

/// Header text made 7-bit safe for a `text/rfc822-headers` part (a notice quoting a
/// stranger's header section): bytes outside printable US-ASCII (but tab) become `?`, every
/// line ends in CRLF and is cut at 998 characters.
pub fn seven_bit_lines(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    for line in data.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() && out.ends_with(b"\r\n\r\n") {
            continue;
        }
        for b in line.iter().take(998) {
            out.push(if (0x20..0x7f).contains(b) || *b == b'\t' {
                *b
            } else {
                b'?'
            });
        }
        out.extend_from_slice(b"\r\n");
    }
    while out.ends_with(b"\r\n\r\n") {
        out.truncate(out.len() - 2);
    }
    out
}

/// A header field folded at white space to lines of at most 78 characters, CRLF-terminated.
pub fn fold(name: &str, value: &str) -> String {
    let mut out = String::with_capacity(name.len() + value.len() + 8);
    out.push_str(name);
    out.push(':');
    let mut line_len = name.len() + 1;
    for (i, word) in value.split(' ').enumerate() {
        if i > 0 || !word.is_empty() {
            if line_len + 1 + word.len() > 78 && line_len > 1 {
                out.push_str("\r\n");
                line_len = 0;
            }
            out.push(' ');
            out.push_str(word);
            line_len += 1 + word.len();
        }
    }
    out.push_str("\r\n");
    out
}

/// A fresh multipart boundary.
pub fn boundary() -> String {
    let mut r = [0u8; 12];
    certmail_crypto::random_bytes(&mut r).expect("system RNG");
    format!("----certmail-{}", hex::encode(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_and_body() {
        let m = b"From: a@b.c\r\nSubject: long\r\n  folded\r\nContent-Type: multipart/signed;\r\n\tprotocol=\"application/pkcs7-signature\"; micalg=sha-256;\r\n boundary=\"b;1\"\r\n\r\nbody";
        let e = parse(m).expect("parse");
        assert_eq!(e.headers.len(), 3);
        assert_eq!(e.header("subject").expect("s").value(), "long folded");
        let ct = e.content_type();
        assert_eq!(ct.mime, "multipart/signed");
        assert_eq!(ct.param("boundary"), Some("b;1"));
        assert_eq!(ct.param("micalg"), Some("sha-256"));
        assert_eq!(e.body, b"body");
        assert!(!e.lf_only);
        assert!(parse(b"no colon here\r\n\r\n").is_err());
    }

    #[test]
    fn parts_are_exact() {
        let body =
            b"preamble\r\n--XX\r\nA: 1\r\n\r\none\r\n\r\n--XX\r\n\r\ntwo\r\n--XX--\r\nepilogue";
        let parts = multipart_parts(body, "XX").expect("parts");
        assert_eq!(parts, vec![&b"A: 1\r\n\r\none\r\n"[..], &b"\r\ntwo"[..]]);
        // --XXY is not our delimiter, and a delimiter inside a line does not count.
        let body = b"--XX\r\nx --XX y\r\n--XXY\r\n--XX--";
        assert_eq!(
            multipart_parts(body, "XX").expect("p"),
            vec![&b"x --XX y\r\n--XXY"[..]]
        );
    }

    #[test]
    fn generated_headers_are_encoded_folded_and_clean() {
        let h = encode_header("Subject", "plain ascii text");
        assert_eq!(h, "Subject: plain ascii text\r\n");
        // A 3,066-character subject of UTF-8 with a right-to-left override and CR LF.
        let evil = format!("ab\u{202e}cd\r\nBcc: x@y {}", "\u{e9}".repeat(1500));
        let h = encode_header("Subject", &evil);
        assert!(h.is_ascii(), "{h}");
        assert!(h.lines().all(|l| l.len() <= 78), "{h}");
        assert!(!h.contains("\r\nBcc:"), "no injected field");
        assert!(h.starts_with("Subject: =?UTF-8?B?"), "{h}");
        let words: Vec<&str> = h.split_whitespace().skip(1).collect();
        let decoded: String = words
            .iter()
            .map(|w| {
                let b = w.trim_start_matches("=?UTF-8?B?").trim_end_matches("?=");
                String::from_utf8(crate::b64::decode(b.as_bytes()).expect("b64")).expect("utf-8")
            })
            .collect();
        assert!(decoded.starts_with("abcd Bcc: x@y \u{e9}"), "{decoded}");
        assert!(!decoded.contains('\u{202e}'));
        let long = "x".repeat(2000);
        assert!(
            encode_header("Subject", &long)
                .lines()
                .all(|l| l.len() <= 78)
        );
        let q = seven_bit_lines(b"Subject: gr\xc3\xbc\xc3\x9fe\nX: \x01y\r\n\r\n");
        assert_eq!(q, b"Subject: gr????e\r\nX: ?y\r\n");
    }

    #[test]
    fn canonical_and_fold() {
        assert_eq!(&*canonical(b"a\nb\r\nc\n"), b"a\r\nb\r\nc\r\n");
        assert!(matches!(canonical(b"a\r\nb"), Cow::Borrowed(_)));
        let f = fold("X-Long", &"word ".repeat(40));
        assert!(f.split("\r\n").all(|l| l.len() <= 78));
    }
}
