//! A PEM reader for files that hold many blocks of different kinds, with RFC 1421 headers
//! (`Proc-Type`, `DEK-Info`) kept so that legacy encrypted keys can be recognised.

use base64ct::Encoding;

use crate::error::PkiError;

/// One decoded PEM block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PemBlock {
    /// The label after `-----BEGIN ` (e.g. `CERTIFICATE`, `PRIVATE KEY`).
    pub label: String,
    /// RFC 1421 headers (`Proc-Type`, `DEK-Info`), in order.
    pub headers: Vec<(String, String)>,
    /// The decoded body.
    pub der: Vec<u8>,
}

impl PemBlock {
    /// The value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// True for an RFC 1421 encrypted block (`Proc-Type: 4,ENCRYPTED`).
    pub fn is_legacy_encrypted(&self) -> bool {
        self.header("Proc-Type")
            .is_some_and(|v| v.to_ascii_uppercase().contains("ENCRYPTED"))
    }
}

/// True when `data` looks like PEM text (has a BEGIN marker near the start of a line).
pub fn looks_like_pem(data: &[u8]) -> bool {
    // Only the first 64 KiB are searched: a PEM file does not start with megabytes of noise.
    let head = &data[..data.len().min(64 * 1024)];
    head.windows(11).any(|w| w == b"-----BEGIN ")
}

/// Decodes every PEM block in `data`. Text outside blocks (comments, `openssl x509 -text`
/// output) is ignored. A block that does not decode is an error naming the block and line.
pub fn parse_all(data: &[u8]) -> Result<Vec<PemBlock>, PkiError> {
    let text = String::from_utf8_lossy(data);
    let mut blocks = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((no, line)) = lines.next() {
        let line = line.trim();
        let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            continue;
        };
        let label = label.to_owned();
        let bad = |reason: String| PkiError::BadPem {
            label: label.clone(),
            line: no + 1,
            reason,
        };
        let end = format!("-----END {label}-----");
        let mut headers = Vec::new();
        let mut body = String::new();
        let mut closed = false;
        let mut in_headers = true;
        for (_, l) in lines.by_ref() {
            let l = l.trim();
            if l == end {
                closed = true;
                break;
            }
            if l.starts_with("-----") {
                return Err(bad(format!("unexpected marker {l:?} before {end:?}")));
            }
            if in_headers {
                if let Some((k, v)) = l.split_once(':') {
                    headers.push((k.trim().to_owned(), v.trim().to_owned()));
                    continue;
                }
                in_headers = false;
                if l.is_empty() {
                    continue;
                }
            }
            body.push_str(l);
        }
        if !closed {
            return Err(bad(format!("missing {end:?}")));
        }
        let der =
            base64ct::Base64::decode_vec(&body).map_err(|e| bad(format!("bad base64: {e}")))?;
        if der.is_empty() {
            return Err(bad("empty body".into()));
        }
        blocks.push(PemBlock {
            label,
            headers,
            der,
        });
    }
    Ok(blocks)
}

/// Encodes one PEM block (64-character lines, LF line ends).
pub fn encode(label: &str, der: &[u8]) -> String {
    let b64 = base64ct::Base64::encode_string(der);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 64);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_blocks_and_headers() {
        let text = format!(
            "junk\n{}text between\n-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAEC\n-----END RSA PRIVATE KEY-----\n",
            encode("CERTIFICATE", b"\x30\x00")
        );
        let blocks = parse_all(text.as_bytes()).expect("parses");
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].label, "CERTIFICATE");
        assert_eq!(blocks[0].der, b"\x30\x00");
        assert!(blocks[1].is_legacy_encrypted());
        assert_eq!(blocks[1].header("dek-info"), Some("AES-128-CBC,00"));
        assert_eq!(blocks[1].der, vec![0, 1, 2]);
    }

    #[test]
    fn corrupt_block_is_named() {
        let err = parse_all(b"a\n-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n")
            .expect_err("bad base64");
        assert!(err.to_string().contains("line 2"), "{err}");
        let err = parse_all(b"-----BEGIN CERTIFICATE-----\nAAAA\n").expect_err("unterminated");
        assert!(err.to_string().contains("missing"), "{err}");
    }
}
