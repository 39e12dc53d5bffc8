//! A zero-copy BER reader and a small DER writer.
//!
//! CMS arrives as DER from most senders and as indefinite-length BER from gpgsm, NSS and
//! Outlook. The reader walks either form over the input slice without copying, so a 50 MB
//! encrypted payload is never duplicated just to be parsed; constructed OCTET STRINGs are
//! returned as their chunks. Nesting depth is bounded (a message bomb of nested
//! indefinite lengths fails fast with a typed error).

use crate::SmimeError;

/// Maximum nesting depth accepted.
const MAX_DEPTH: usize = 64;

/// Universal tags used here.
pub mod tag {
    /// INTEGER.
    pub const INTEGER: u8 = 0x02;
    /// BIT STRING.
    pub const BIT_STRING: u8 = 0x03;
    /// OCTET STRING.
    pub const OCTET_STRING: u8 = 0x04;
    /// NULL.
    pub const NULL: u8 = 0x05;
    /// OBJECT IDENTIFIER.
    pub const OID: u8 = 0x06;
    /// SEQUENCE.
    pub const SEQUENCE: u8 = 0x30;
    /// SET.
    pub const SET: u8 = 0x31;
    /// UTCTime.
    pub const UTC_TIME: u8 = 0x17;
    /// GeneralizedTime.
    pub const GENERALIZED_TIME: u8 = 0x18;
}

/// One element: its identifier octet, contents and whole encoding (all borrowed).
#[derive(Debug, Clone, Copy)]
pub struct Element<'a> {
    /// The identifier octet (class, constructed bit, tag number below 31).
    pub tag: u8,
    /// The contents (for indefinite length: up to, not including, the end-of-contents).
    pub body: &'a [u8],
    /// The whole element including header (and end-of-contents).
    pub raw: &'a [u8],
    /// Whether the length was indefinite.
    pub indefinite: bool,
}

fn err(what: &str) -> SmimeError {
    SmimeError::Malformed(what.to_owned())
}

/// Reads one element from the start of `input`; returns it and the rest.
pub fn read(input: &[u8]) -> Result<(Element<'_>, &[u8]), SmimeError> {
    read_depth(input, 0)
}

fn read_depth(input: &[u8], depth: usize) -> Result<(Element<'_>, &[u8]), SmimeError> {
    if depth > MAX_DEPTH {
        return Err(SmimeError::Limit(format!(
            "ASN.1 nesting deeper than {MAX_DEPTH}"
        )));
    }
    let (&tag, rest) = input
        .split_first()
        .ok_or_else(|| err("truncated: no tag"))?;
    if tag & 0x1f == 0x1f {
        return Err(err("high tag numbers are not used in CMS"));
    }
    let (&l0, rest) = rest
        .split_first()
        .ok_or_else(|| err("truncated: no length"))?;
    let hdr = 2;
    if l0 == 0x80 {
        if tag & 0x20 == 0 {
            return Err(err("indefinite length on a primitive element"));
        }
        // Walk children until the end-of-contents octets.
        let mut cur = rest;
        loop {
            if cur.len() < 2 {
                return Err(err("truncated: missing end-of-contents"));
            }
            if cur[0] == 0 && cur[1] == 0 {
                let body_len = rest.len() - cur.len();
                let total = hdr + body_len + 2;
                return Ok((
                    Element {
                        tag,
                        body: &rest[..body_len],
                        raw: &input[..total],
                        indefinite: true,
                    },
                    &input[total..],
                ));
            }
            let (_, next) = read_depth(cur, depth + 1)?;
            cur = next;
        }
    }
    let (len, hdr) = if l0 < 0x80 {
        (l0 as usize, hdr)
    } else {
        let n = (l0 & 0x7f) as usize;
        if n > 4 || rest.len() < n {
            return Err(err("bad or truncated length"));
        }
        let mut len = 0usize;
        for &b in &rest[..n] {
            len = (len << 8) | b as usize;
        }
        (len, hdr + n)
    };
    let total = hdr
        .checked_add(len)
        .filter(|t| *t <= input.len())
        .ok_or_else(|| err("truncated: element longer than the input"))?;
    // Validate constructed contents eagerly only when asked (children()).
    Ok((
        Element {
            tag,
            body: &input[hdr..total],
            raw: &input[..total],
            indefinite: false,
        },
        &input[total..],
    ))
}

impl<'a> Element<'a> {
    /// Parses a complete element; trailing bytes are refused.
    pub fn parse(input: &'a [u8]) -> Result<Element<'a>, SmimeError> {
        let (e, rest) = read(input)?;
        if !rest.is_empty() && rest.iter().any(|b| *b != 0) {
            return Err(err("trailing data after the CMS structure"));
        }
        Ok(e)
    }

    /// The children of a constructed element.
    pub fn children(&self) -> Result<Vec<Element<'a>>, SmimeError> {
        if self.tag & 0x20 == 0 {
            return Err(err("expected a constructed element"));
        }
        let mut out = Vec::new();
        let mut cur = self.body;
        while !cur.is_empty() {
            let (e, rest) = read(cur)?;
            out.push(e);
            cur = rest;
        }
        Ok(out)
    }

    /// The `n`-th child of a constructed element (`None` past the last), without collecting
    /// the others.
    pub fn child(&self, n: usize) -> Result<Option<Element<'a>>, SmimeError> {
        if self.tag & 0x20 == 0 {
            return Err(err("expected a constructed element"));
        }
        let mut cur = self.body;
        let mut i = 0;
        while !cur.is_empty() {
            let (e, rest) = read(cur)?;
            if i == n {
                return Ok(Some(e));
            }
            i += 1;
            cur = rest;
        }
        Ok(None)
    }

    /// Checks the tag.
    pub fn expect(self, tag: u8, what: &str) -> Result<Element<'a>, SmimeError> {
        if self.tag == tag {
            Ok(self)
        } else {
            Err(SmimeError::Malformed(format!(
                "{what}: expected tag {tag:#04x}, found {:#04x}",
                self.tag
            )))
        }
    }

    /// The chunks of an OCTET STRING (primitive or constructed, any tag class).
    pub fn octet_chunks(&self) -> Result<Vec<&'a [u8]>, SmimeError> {
        let mut out = Vec::new();
        self.push_chunks(&mut out, 0)?;
        Ok(out)
    }

    fn push_chunks(&self, out: &mut Vec<&'a [u8]>, depth: usize) -> Result<(), SmimeError> {
        if depth > MAX_DEPTH {
            return Err(SmimeError::Limit("OCTET STRING nesting".into()));
        }
        if self.tag & 0x20 == 0 {
            out.push(self.body);
            return Ok(());
        }
        for c in self.children()? {
            c.push_chunks(out, depth + 1)?;
        }
        Ok(())
    }

    /// The contents of an OCTET STRING, joined (small values only).
    pub fn octets(&self) -> Result<Vec<u8>, SmimeError> {
        Ok(self.octet_chunks()?.concat())
    }

    /// The DER re-encoding of this element (for small structures given in BER).
    pub fn to_der(&self) -> Result<Vec<u8>, SmimeError> {
        if !self.indefinite && !contains_indefinite(self.raw) {
            return Ok(self.raw.to_vec());
        }
        certmail_pki::ber::to_der(self.raw).map_err(|e| SmimeError::Malformed(e.to_string()))
    }

    /// The OID contents as a dotted string.
    pub fn oid(&self) -> Result<String, SmimeError> {
        if self.tag != tag::OID {
            return Err(err("expected an OBJECT IDENTIFIER"));
        }
        oid_to_string(self.body)
    }

    /// An unsigned INTEGER up to 64 bits.
    pub fn small_uint(&self) -> Result<u64, SmimeError> {
        if self.tag != tag::INTEGER || self.body.is_empty() || self.body.len() > 9 {
            return Err(err("expected a small INTEGER"));
        }
        if self.body[0] & 0x80 != 0 {
            return Err(err("negative INTEGER"));
        }
        Ok(self.body.iter().fold(0u64, |a, b| (a << 8) | *b as u64))
    }
}

/// Opens a CMS ContentInfo: returns its content type (dotted) and the children of the
/// content SEQUENCE inside `[0] EXPLICIT` (`what` names it in errors).
pub fn content_info<'a>(
    der: &'a [u8],
    what: &str,
) -> Result<(String, Vec<Element<'a>>), SmimeError> {
    let ci = Element::parse(der)?.expect(tag::SEQUENCE, "ContentInfo")?;
    let c = ci.children()?;
    let ct = c.first().ok_or_else(|| err("empty ContentInfo"))?.oid()?;
    let content = c
        .get(1)
        .filter(|e| e.tag == 0xa0)
        .ok_or_else(|| err("ContentInfo without content"))?
        .children()?;
    let inner = content
        .first()
        .ok_or_else(|| SmimeError::Malformed(format!("empty {what}")))?
        .expect(tag::SEQUENCE, what)?
        .children()?;
    Ok((ct, inner))
}

/// Moves `chunks` (sub-slices of `buf`, in order) to the front of `buf` and truncates it
/// to their total: the content of a BER string, joined in place.
pub fn join_in_place(buf: &mut Vec<u8>, ranges: &[(usize, usize)]) {
    let mut w = 0;
    for &(s, e) in ranges {
        buf.copy_within(s..e, w);
        w += e - s;
    }
    buf.truncate(w);
}

/// The positions of `chunks` (sub-slices of `base`) within `base`.
pub fn ranges_in(base: &[u8], chunks: &[&[u8]]) -> Vec<(usize, usize)> {
    let b = base.as_ptr() as usize;
    chunks
        .iter()
        .map(|c| {
            let s = c.as_ptr() as usize - b;
            (s, s + c.len())
        })
        .collect()
}

fn contains_indefinite(raw: &[u8]) -> bool {
    // Cheap conservative check: re-parse and look for 0x80 lengths in constructed headers.
    fn walk(data: &[u8], depth: usize) -> bool {
        let mut cur = data;
        while !cur.is_empty() {
            let Ok((e, rest)) = read(cur) else {
                return true;
            };
            if e.indefinite {
                return true;
            }
            if e.tag & 0x20 != 0 && depth < MAX_DEPTH && walk(e.body, depth + 1) {
                return true;
            }
            cur = rest;
        }
        false
    }
    walk(raw, 0)
}

/// Decodes OID contents to dotted form.
pub fn oid_to_string(body: &[u8]) -> Result<String, SmimeError> {
    if body.is_empty() || body.len() > 64 {
        return Err(err("bad OBJECT IDENTIFIER"));
    }
    let mut arcs: Vec<u64> = Vec::new();
    let mut v: u64 = 0;
    for (i, &b) in body.iter().enumerate() {
        v = v.checked_mul(128).ok_or_else(|| err("OID arc too large"))? | (b & 0x7f) as u64;
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (v / 40).min(2);
                arcs.push(first);
                arcs.push(v - first * 40);
            } else {
                arcs.push(v);
            }
            v = 0;
        } else if i + 1 == body.len() {
            return Err(err("truncated OID"));
        }
    }
    Ok(arcs
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join("."))
}

// ---- writer ----

/// Appends a DER header for `tag` and `len`.
pub fn push_header(out: &mut Vec<u8>, tag: u8, len: usize) {
    out.push(tag);
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// The DER header alone.
pub fn header(tag: u8, len: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(6);
    push_header(&mut v, tag, len);
    v
}

/// A complete TLV.
pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(content.len() + 6);
    push_header(&mut v, tag, content.len());
    v.extend_from_slice(content);
    v
}

/// A constructed TLV from parts.
pub fn cons(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    let len = parts.iter().map(|p| p.len()).sum();
    let mut v = Vec::with_capacity(len + 6);
    push_header(&mut v, tag, len);
    for p in parts {
        v.extend_from_slice(p);
    }
    v
}

/// SEQUENCE of parts.
pub fn seq(parts: &[&[u8]]) -> Vec<u8> {
    cons(tag::SEQUENCE, parts)
}

/// DER SET OF: elements sorted by encoding (X.690 11.6).
pub fn set_of(mut items: Vec<Vec<u8>>) -> Vec<u8> {
    items.sort();
    let refs: Vec<&[u8]> = items.iter().map(Vec::as_slice).collect();
    cons(tag::SET, &refs)
}

/// An OBJECT IDENTIFIER from dotted form: one of the constants of [`crate::oids`], each
/// proven well-formed while compiling ([`crate::oids::checked`]), so encoding cannot fail.
pub fn oid(dotted: &str) -> Vec<u8> {
    // One allocation: messages encode a dozen OIDs each.
    let mut out = Vec::with_capacity(dotted.len() + 2);
    out.extend_from_slice(&[tag::OID, 0]);
    let mut arcs = dotted.split('.').map(|a| a.parse::<u64>().unwrap_or(0));
    let first = arcs.next().unwrap_or(0);
    let second = arcs.next().unwrap_or(0);
    for v in std::iter::once(first * 40 + second).chain(arcs) {
        let mut groups = [0u8; 10];
        let mut n = 0;
        let mut rest = v;
        loop {
            groups[n] = (rest & 0x7f) as u8;
            n += 1;
            rest >>= 7;
            if rest == 0 {
                break;
            }
        }
        for i in (0..n).rev() {
            out.push(groups[i] | if i > 0 { 0x80 } else { 0 });
        }
    }
    out[1] = (out.len() - 2) as u8;
    out
}

/// A non-negative INTEGER from a small value.
pub fn uint(v: u64) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count().min(7);
    let mut body = bytes[skip..].to_vec();
    if body[0] & 0x80 != 0 {
        body.insert(0, 0);
    }
    tlv(tag::INTEGER, &body)
}

/// AlgorithmIdentifier with absent parameters or the given encoded parameters.
pub fn alg(dotted: &str, params: Option<&[u8]>) -> Vec<u8> {
    match params {
        Some(p) => seq(&[&oid(dotted), p]),
        None => seq(&[&oid(dotted)]),
    }
}

/// ASN.1 NULL.
pub const NULL: [u8; 2] = [0x05, 0x00];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oid_round_trip() {
        for d in [
            "1.2.840.113549.1.7.2",
            "2.16.840.1.101.3.4.1.42",
            "1.3.132.1.11.1",
            "2.999.3",
            "1.2.840.113549.1.9.16.2.47",
        ] {
            let enc = oid(d);
            let (e, _) = read(&enc).expect("read");
            assert_eq!(e.oid().expect("oid"), d);
        }
        // Known encodings (X.690 8.19): sha256WithRSAEncryption and 2.999.3.
        assert_eq!(
            oid("1.2.840.113549.1.1.11"),
            [6, 9, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 1, 11]
        );
        assert_eq!(oid("2.999.3"), [6, 3, 0x88, 0x37, 3]);
    }

    #[test]
    fn nth_child_without_collecting() {
        let der = seq(&[&uint(1), &uint(2), &uint(300)]);
        let e = Element::parse(&der).expect("parse");
        for (i, want) in [1u64, 2, 300].iter().enumerate() {
            let c = e.child(i).expect("child").expect("present");
            assert_eq!(c.small_uint().expect("uint"), *want);
        }
        assert!(e.child(3).expect("past the end").is_none());
        let five = uint(5);
        let prim = Element::parse(&five).expect("parse");
        assert!(
            prim.child(0).is_err(),
            "a primitive element has no children"
        );
        // A truncated child is an error when reached.
        let mut bad = der.clone();
        bad[1] += 2;
        bad.extend_from_slice(&[0x02, 0x05]);
        let e = Element::parse(&bad).expect("outer parses");
        assert!(e.child(3).is_err());
    }

    #[test]
    fn indefinite_and_chunks() {
        // [0] constructed indefinite { OCTET STRING "ab", OCTET STRING "c" } EOC
        let ber = [0xa0, 0x80, 0x04, 0x02, b'a', b'b', 0x04, 0x01, b'c', 0, 0];
        let e = Element::parse(&ber).expect("parse");
        assert!(e.indefinite);
        assert_eq!(e.octets().expect("octets"), b"abc");
        assert!(Element::parse(&ber[..9]).is_err(), "missing EOC");
        let mut bomb = vec![];
        for _ in 0..200 {
            bomb.extend_from_slice(&[0x30, 0x80]);
        }
        assert!(matches!(read(&bomb), Err(SmimeError::Limit(_))));
    }

    #[test]
    fn lengths() {
        assert_eq!(header(0x04, 5), [0x04, 5]);
        assert_eq!(header(0x04, 300), [0x04, 0x82, 1, 44]);
        assert_eq!(uint(128), [0x02, 0x02, 0x00, 0x80]);
    }
}
