//! The bytes as received: the TBS part a signature covers, and validity times the `der`
//! crate cannot represent.
//!
//! A signature is checked over the original tbsCertificate / tbsCertList, never over a
//! re-encoding: a decoder that normalises anything (a GeneralizedTime, a non-minimal
//! length written by a real CA) would otherwise turn a valid signature into a bad one.
//! `der`'s UTCTime starts at 1970, while RFC 5280 4.1.2.5.1 gives UTCTime the years
//! 1950-2049: such certificates are decoded with a stand-in time of the same length and
//! their validity is read here from the original bytes.

/// One TLV: (tag byte, the whole TLV, its contents).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tlv<'a> {
    pub tag: u8,
    pub whole: &'a [u8],
    pub contents: &'a [u8],
    /// Offset of `whole` in the buffer it was read from.
    pub offset: usize,
}

/// Reads the TLV at `pos` (single-byte tags, definite lengths, as DER has).
pub(crate) fn tlv_at(data: &[u8], pos: usize) -> Option<Tlv<'_>> {
    let tag = *data.get(pos)?;
    if tag & 0x1f == 0x1f {
        return None;
    }
    let first = *data.get(pos + 1)?;
    let (len, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | usize::from(*data.get(pos + 2 + i)?);
        }
        (len, 2 + n)
    };
    let end = pos.checked_add(header)?.checked_add(len)?;
    Some(Tlv {
        tag,
        whole: data.get(pos..end)?,
        contents: data.get(pos + header..end)?,
        offset: pos,
    })
}

/// The children of a constructed TLV's contents.
pub(crate) fn children<'a>(outer: &Tlv<'a>) -> Option<Vec<Tlv<'a>>> {
    let base = outer.offset + (outer.whole.len() - outer.contents.len());
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < outer.contents.len() {
        let mut t = tlv_at(outer.contents, pos)?;
        pos += t.whole.len();
        t.offset += base;
        out.push(t);
    }
    Some(out)
}

/// The first element of a signed SEQUENCE (tbsCertificate, tbsCertList), as received.
pub(crate) fn tbs(signed: &[u8]) -> Option<&[u8]> {
    let outer = tlv_at(signed, 0)?;
    children(&outer)?.first().map(|t| t.whole)
}

/// The two time TLVs of a certificate's validity (notBefore, notAfter).
fn validity(cert: &[u8]) -> Option<[Tlv<'_>; 2]> {
    let outer = tlv_at(cert, 0)?;
    let tbs = *children(&outer)?.first()?;
    let fields = children(&tbs)?;
    let skip = usize::from(fields.first()?.tag == 0xa0);
    let v = fields.get(skip + 3)?;
    match children(v)?.as_slice() {
        [a, b] => Some([*a, *b]),
        _ => None,
    }
}

/// Unix seconds of a UTCTime (0x17, `YYMMDDHHMMSSZ`, years 1950-2049) or GeneralizedTime
/// (0x18, `YYYYMMDDHHMMSSZ`).
pub(crate) fn time(t: &Tlv<'_>) -> Option<i64> {
    let s = std::str::from_utf8(t.contents).ok()?;
    let digits = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (year, rest) = match (t.tag, s.len()) {
        (0x17, 13) => {
            let yy = digits(0..2)?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, 2)
        }
        (0x18, 15) => (digits(0..4)?, 4),
        _ => return None,
    };
    if !s.ends_with('Z') {
        return None;
    }
    let f = |i: usize| digits(rest + i * 2..rest + i * 2 + 2);
    let text = format!(
        "{year:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        f(0)?,
        f(1)?,
        f(2)?,
        f(3)?,
        f(4)?
    );
    crate::time::parse_rfc3339(&text)
}

/// notBefore and notAfter as Unix seconds, read from the original bytes.
pub(crate) fn validity_times(cert: &[u8]) -> Option<(i64, i64)> {
    let [a, b] = validity(cert)?;
    Some((time(&a)?, time(&b)?))
}

/// A copy of `cert` whose UTCTimes before 1970 are replaced by `700101000000Z` (same
/// length, so every other byte keeps its place), or `None` when there is none.
pub(crate) fn with_decodable_times(cert: &[u8]) -> Option<Vec<u8>> {
    let times = validity(cert)?;
    let mut out = cert.to_vec();
    let mut changed = false;
    for t in times {
        let yy = t
            .contents
            .get(..2)
            .and_then(|y| std::str::from_utf8(y).ok());
        if t.tag == 0x17 && yy.is_some_and(|y| ("50".."70").contains(&y)) {
            let start = t.offset + t.whole.len() - t.contents.len();
            out[start..start + t.contents.len()].copy_from_slice(b"700101000000Z");
            changed = true;
        }
    }
    changed.then_some(out)
}

/// A DER length.
fn der_len(len: usize, out: &mut Vec<u8>) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

fn der_tlv(tag: u8, parts: &[&[u8]], out: &mut Vec<u8>) {
    out.push(tag);
    der_len(parts.iter().map(|p| p.len()).sum(), out);
    for p in parts {
        out.extend_from_slice(p);
    }
}

/// For a version 1 CRL (RFC 5280 5.1.2.1: no version field, which the `der` model of
/// TBSCertList cannot read), a copy with `version v1(0)` written in; `None` for a CRL that
/// has a version. Only for decoding: the signature is checked over the original bytes.
pub(crate) fn with_crl_version(crl: &[u8]) -> Option<Vec<u8>> {
    let outer = tlv_at(crl, 0)?;
    let parts = children(&outer)?;
    let tbs = parts.first()?;
    let first = children(tbs)?.first()?.tag;
    if first != 0x30 {
        return None;
    }
    let mut new_tbs = Vec::with_capacity(tbs.whole.len() + 8);
    der_tlv(0x30, &[&[0x02, 0x01, 0x00], tbs.contents], &mut new_tbs);
    let mut rest: Vec<&[u8]> = vec![&new_tbs];
    rest.extend(parts[1..].iter().map(|p| p.whole));
    let mut out = Vec::with_capacity(crl.len() + 8);
    der_tlv(0x30, &rest, &mut out);
    Some(out)
}

/// A DER INTEGER's content bytes in minimal two's-complement form (what DER requires), so
/// serial numbers compare exactly: `00 FF` (255) and `FF` (-1) stay different.
pub fn minimal_integer(bytes: &[u8]) -> &[u8] {
    let mut b = bytes;
    while b.len() > 1 && ((b[0] == 0 && b[1] < 0x80) || (b[0] == 0xff && b[1] >= 0x80)) {
        b = &b[1..];
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_time_years_follow_rfc5280() {
        let t = |s: &str, tag| {
            time(&Tlv {
                tag,
                whole: s.as_bytes(),
                contents: s.as_bytes(),
                offset: 0,
            })
        };
        assert_eq!(t("500101120100Z", 0x17), Some(-631_108_740));
        assert_eq!(t("491231235959Z", 0x17), Some(2_524_607_999));
        assert_eq!(t("20500101120100Z", 0x18), Some(2_524_651_260));
        assert_eq!(t("5001011201Z", 0x17), None, "seconds are required");
        assert_eq!(t("500101120100+0100", 0x17), None);
    }

    #[test]
    fn integers_compare_in_minimal_form() {
        assert_eq!(minimal_integer(&[0, 0xff]), &[0, 0xff]);
        assert_eq!(minimal_integer(&[0xff]), &[0xff]);
        assert_eq!(minimal_integer(&[0xff, 0xff, 0x80]), &[0x80]);
        assert_eq!(minimal_integer(&[0xff, 0x7f]), &[0xff, 0x7f]);
        assert_eq!(minimal_integer(&[0, 0, 0x10, 0x92]), &[0x10, 0x92]);
        assert_eq!(minimal_integer(&[0, 0]), &[0]);
    }
}
