//! A small BER reader and DER writer (X.690), for peers that send indefinite lengths and
//! constructed strings: NSS writes PKCS#12 that way, gpgsm and Outlook send BER CMS.
//!
//! [`parse`] builds a tree of TLVs from BER; [`Tlv::to_der`] writes it back with definite,
//! minimal lengths. Constructed universal strings (e.g. a chunked OCTET STRING, tag 0x24)
//! become primitive. Context-specific constructed strings cannot be told from explicit tags
//! without the schema; callers that know the schema use [`Tlv::flatten`] at those places.

use crate::error::{DerDetail, PkiError};

/// Nesting limit: deeper input is refused rather than followed (stack and time bound).
pub const MAX_DEPTH: usize = 64;

/// One element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tlv {
    /// Identifier octets as found (class, constructed bit, tag number).
    pub tag: Vec<u8>,
    /// Contents.
    pub value: Value,
}

/// Contents of an element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// Primitive contents octets.
    Primitive(Vec<u8>),
    /// Constructed: the child elements.
    Constructed(Vec<Tlv>),
}

fn err(msg: impl Into<String>) -> PkiError {
    PkiError::BadBer(DerDetail(msg.into()))
}

/// Parses exactly one BER element spanning all of `data`.
pub fn parse(data: &[u8]) -> Result<Tlv, PkiError> {
    let (tlv, end) = parse_at(data, 0, 0)?;
    if end != data.len() {
        return Err(err(format!(
            "{} trailing bytes after the element",
            data.len() - end
        )));
    }
    Ok(tlv)
}

fn parse_at(data: &[u8], mut pos: usize, depth: usize) -> Result<(Tlv, usize), PkiError> {
    if depth > MAX_DEPTH {
        return Err(err(format!("nesting deeper than {MAX_DEPTH}")));
    }
    let start = pos;
    let first = *data.get(pos).ok_or_else(|| err("truncated: missing tag"))?;
    pos += 1;
    if first & 0x1f == 0x1f {
        loop {
            let b = *data.get(pos).ok_or_else(|| err("truncated tag"))?;
            pos += 1;
            if pos - start > 6 {
                return Err(err("tag number too large"));
            }
            if b & 0x80 == 0 {
                break;
            }
        }
    }
    let tag = data[start..pos].to_vec();
    let constructed = first & 0x20 != 0;
    let lb = *data
        .get(pos)
        .ok_or_else(|| err("truncated: missing length"))?;
    pos += 1;
    if lb == 0x80 {
        if !constructed {
            return Err(err("indefinite length on a primitive element"));
        }
        let mut children = Vec::new();
        loop {
            if data.get(pos..pos + 2) == Some(&[0, 0]) {
                return Ok((
                    Tlv {
                        tag,
                        value: Value::Constructed(children),
                    },
                    pos + 2,
                ));
            }
            if pos >= data.len() {
                return Err(err("truncated: missing end-of-contents"));
            }
            let (child, next) = parse_at(data, pos, depth + 1)?;
            children.push(child);
            pos = next;
        }
    }
    let len = if lb & 0x80 == 0 {
        usize::from(lb)
    } else {
        let n = usize::from(lb & 0x7f);
        if n > 4 {
            return Err(err("length field too long"));
        }
        let bytes = data
            .get(pos..pos + n)
            .ok_or_else(|| err("truncated length"))?;
        pos += n;
        bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
    };
    let end = pos
        .checked_add(len)
        .filter(|e| *e <= data.len())
        .ok_or_else(|| err("truncated: length beyond the data"))?;
    if !constructed {
        return Ok((
            Tlv {
                tag,
                value: Value::Primitive(data[pos..end].to_vec()),
            },
            end,
        ));
    }
    let mut children = Vec::new();
    while pos < end {
        let (child, next) = parse_at(&data[..end], pos, depth + 1)?;
        children.push(child);
        pos = next;
    }
    Ok((
        Tlv {
            tag,
            value: Value::Constructed(children),
        },
        end,
    ))
}

fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
        return;
    }
    let bytes = len.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    out.push(0x80 | (bytes.len() - skip) as u8);
    out.extend_from_slice(&bytes[skip..]);
}

impl Tlv {
    /// A primitive element.
    pub fn primitive(tag: u8, bytes: Vec<u8>) -> Tlv {
        Tlv {
            tag: vec![tag],
            value: Value::Primitive(bytes),
        }
    }

    /// A constructed element.
    pub fn constructed(tag: u8, children: Vec<Tlv>) -> Tlv {
        Tlv {
            tag: vec![tag],
            value: Value::Constructed(children),
        }
    }

    /// The first identifier octet.
    pub fn tag_byte(&self) -> u8 {
        self.tag[0]
    }

    /// Children of a constructed element (empty for primitive ones).
    pub fn children(&self) -> &[Tlv] {
        match &self.value {
            Value::Constructed(c) => c,
            Value::Primitive(_) => &[],
        }
    }

    /// The concatenated contents of a string, primitive or constructed (X.690 8.7.3).
    pub fn flatten(&self) -> Vec<u8> {
        match &self.value {
            Value::Primitive(b) => b.clone(),
            Value::Constructed(c) => c.iter().flat_map(Tlv::flatten).collect(),
        }
    }

    /// The same element as a primitive one with tag `tag` and the flattened contents.
    pub fn into_primitive(&self, tag: u8) -> Tlv {
        Tlv::primitive(tag, self.flatten())
    }

    /// DER encoding: definite minimal lengths; constructed universal strings made primitive.
    pub fn to_der(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_der(&mut out);
        out
    }

    fn write_der(&self, out: &mut Vec<u8>) {
        let first = self.tag_byte();
        let universal_string = first & 0xc0 == 0
            && first & 0x20 != 0
            && matches!(first & 0x1f, 3 | 4 | 12 | 19 | 20 | 22 | 26 | 28 | 30);
        match &self.value {
            Value::Constructed(_) if universal_string && first & 0x1f != 3 => {
                self.into_primitive(first & !0x20).write_der(out);
            }
            Value::Primitive(b) => {
                out.extend_from_slice(&self.tag);
                push_len(out, b.len());
                out.extend_from_slice(b);
            }
            Value::Constructed(children) => {
                let mut body = Vec::new();
                for c in children {
                    c.write_der(&mut body);
                }
                out.extend_from_slice(&self.tag);
                push_len(out, body.len());
                out.extend_from_slice(&body);
            }
        }
    }
}

/// Re-encodes BER as DER (see [`Tlv::to_der`]).
pub fn to_der(data: &[u8]) -> Result<Vec<u8>, PkiError> {
    Ok(parse(data)?.to_der())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indefinite_and_chunked_become_der() {
        // SEQUENCE (indefinite) { INTEGER 3, OCTET STRING constructed { "ab", "c" } }
        let ber = [
            0x30, 0x80, 0x02, 0x01, 0x03, 0x24, 0x80, 0x04, 0x02, b'a', b'b', 0x04, 0x01, b'c', 0,
            0, 0, 0,
        ];
        let der = to_der(&ber).expect("ber");
        assert_eq!(
            der,
            [0x30, 0x08, 0x02, 0x01, 0x03, 0x04, 0x03, b'a', b'b', b'c']
        );
        // DER stays DER.
        assert_eq!(to_der(&der).expect("der"), der);
    }

    #[test]
    fn long_lengths_are_minimised_and_garbage_refused() {
        let ber = [0x04, 0x82, 0x00, 0x02, 1, 2];
        assert_eq!(to_der(&ber).expect("ber"), [0x04, 0x02, 1, 2]);
        let big = vec![7u8; 300];
        let mut enc = vec![0x04, 0x82, 0x01, 0x2c];
        enc.extend_from_slice(&big);
        assert_eq!(to_der(&enc).expect("300"), enc);
        assert!(to_der(&[0x30, 0x80, 0x02, 0x01]).is_err(), "missing EOC");
        assert!(to_der(&[0x04, 0x80, 0, 0]).is_err(), "indefinite primitive");
        assert!(to_der(&[0x04, 0x05, 1]).is_err(), "short");
        let mut deep = Vec::new();
        for _ in 0..100 {
            deep.extend_from_slice(&[0x30, 0x80]);
        }
        assert!(
            to_der(&deep)
                .expect_err("deep")
                .to_string()
                .contains("nesting")
        );
    }
}
