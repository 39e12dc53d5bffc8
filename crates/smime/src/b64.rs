//! Base64 as MIME uses it: 76-character lines with CRLF on output, any whitespace on input.
//! Table driven and allocation-free per line, so it runs at memory speed on large messages.

use std::io::Write;

use crate::SmimeError;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

const fn decode_table() -> [u8; 256] {
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < 64 {
        t[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    t
}
const DECODE: [u8; 256] = decode_table();
const WS: u8 = 0xfe;

/// Two output characters for every 12-bit value (8 KiB, stays in L1).
const fn pair_table() -> [[u8; 2]; 4096] {
    let mut t = [[0u8; 2]; 4096];
    let mut i = 0;
    while i < 4096 {
        t[i] = [ALPHABET[i >> 6], ALPHABET[i & 63]];
        i += 1;
    }
    t
}
static PAIRS: [[u8; 2]; 4096] = pair_table();

#[inline(always)]
fn enc_block(src: &[u8], out: &mut [u8]) {
    let n = (src[0] as usize) << 16 | (src[1] as usize) << 8 | src[2] as usize;
    let a = PAIRS[n >> 12];
    let b = PAIRS[n & 0xfff];
    out[0] = a[0];
    out[1] = a[1];
    out[2] = b[0];
    out[3] = b[1];
}

/// Encodes `data` as CRLF-terminated 76-character lines, written to `w` in large chunks.
pub fn encode_lines<W: Write + ?Sized>(data: &[u8], w: &mut W) -> std::io::Result<()> {
    const LINES: usize = 512;
    // No more than this input needs: the streaming encoder calls this for single lines too.
    let lines = data.len().div_ceil(57).min(LINES);
    if lines == 0 {
        return Ok(());
    }
    let mut buf = vec![0u8; lines * 78];
    let mut chunks = data.chunks(57 * LINES);
    for chunk in chunks.by_ref() {
        let mut o = 0;
        for line in chunk.chunks(57) {
            let full = line.len() / 3 * 3;
            for b in line[..full].chunks_exact(3) {
                enc_block(b, &mut buf[o..o + 4]);
                o += 4;
            }
            let rem = &line[full..];
            if !rem.is_empty() {
                let mut tmp = [0u8; 3];
                tmp[..rem.len()].copy_from_slice(rem);
                let mut q = [0u8; 4];
                enc_block(&tmp, &mut q);
                if rem.len() == 1 {
                    q[2] = b'=';
                }
                q[3] = b'=';
                buf[o..o + 4].copy_from_slice(&q);
                o += 4;
            }
            buf[o] = b'\r';
            buf[o + 1] = b'\n';
            o += 2;
        }
        w.write_all(&buf[..o])?;
    }
    Ok(())
}

/// A streaming encoder: bytes written to it come out as CRLF-terminated 76-character lines
/// on the inner writer; [`LineEncoder::finish`] writes the last, shorter line.
pub struct LineEncoder<'w, W: Write + ?Sized> {
    inner: &'w mut W,
    carry: Vec<u8>,
}

impl<'w, W: Write + ?Sized> LineEncoder<'w, W> {
    /// A new encoder over `inner`.
    pub fn new(inner: &'w mut W) -> Self {
        LineEncoder {
            inner,
            carry: Vec::with_capacity(57),
        }
    }

    /// Encodes `data` (whole lines go out at once; a remainder waits for more).
    pub fn write(&mut self, mut data: &[u8]) -> std::io::Result<()> {
        if !self.carry.is_empty() {
            let take = (57 - self.carry.len()).min(data.len());
            self.carry.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.carry.len() < 57 {
                return Ok(());
            }
            encode_lines(&self.carry, self.inner)?;
            self.carry.clear();
        }
        let whole = data.len() / 57 * 57;
        encode_lines(&data[..whole], self.inner)?;
        self.carry.extend_from_slice(&data[whole..]);
        Ok(())
    }

    /// Writes what is left.
    pub fn finish(self) -> std::io::Result<()> {
        encode_lines(&self.carry, self.inner)
    }
}

/// [`encode_lines`] into a new vector.
pub fn encode_to_vec(data: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(data.len() / 57 * 78 + 80);
    encode_lines(data, &mut v).expect("writing to a Vec cannot fail");
    v
}

/// Decodes base64 text, ignoring whitespace; stops at the first `=` padding.
pub fn decode(text: &[u8]) -> Result<Vec<u8>, SmimeError> {
    decode_with_headroom(text, 0)
}

/// [`decode`] into a vector with `headroom` spare bytes reserved at the end and at least as
/// many free in front of nothing: callers that later grow the buffer (padding, a header
/// section spliced in front) then do so without reallocating a large message.
pub fn decode_with_headroom(text: &[u8], headroom: usize) -> Result<Vec<u8>, SmimeError> {
    let mut table = DECODE;
    for c in [b' ', b'\t', b'\r', b'\n'] {
        table[c as usize] = WS;
    }
    let len = text.len() / 4 * 3 + 3;
    let mut out = Vec::with_capacity(len + headroom);
    out.resize(len, 0);
    let mut o = 0;
    let mut acc: u32 = 0;
    let mut n = 0;
    let mut i = 0;
    let bad = |i: usize, c: u8| {
        SmimeError::Malformed(format!(
            "base64: invalid character {:?} at offset {i}",
            c as char
        ))
    };
    while i < text.len() {
        // Fast path: four alphabet characters at once (the bulk of every line).
        if n == 0 && i + 4 <= text.len() {
            let (a, b, c, d) = (
                table[text[i] as usize],
                table[text[i + 1] as usize],
                table[text[i + 2] as usize],
                table[text[i + 3] as usize],
            );
            if (a | b | c | d) < 64 {
                let v = (a as u32) << 18 | (b as u32) << 12 | (c as u32) << 6 | d as u32;
                out[o] = (v >> 16) as u8;
                out[o + 1] = (v >> 8) as u8;
                out[o + 2] = v as u8;
                o += 3;
                i += 4;
                continue;
            }
        }
        let c = text[i];
        let v = table[c as usize];
        if v < 64 {
            acc = (acc << 6) | v as u32;
            n += 1;
            if n == 4 {
                out[o] = (acc >> 16) as u8;
                out[o + 1] = (acc >> 8) as u8;
                out[o + 2] = acc as u8;
                o += 3;
                acc = 0;
                n = 0;
            }
        } else if v == WS {
        } else if c == b'=' {
            break;
        } else {
            return Err(bad(i, c));
        }
        i += 1;
    }
    match n {
        0 => {}
        2 => {
            out[o] = (acc >> 4) as u8;
            o += 1;
        }
        3 => {
            out[o] = (acc >> 10) as u8;
            out[o + 1] = (acc >> 2) as u8;
            o += 2;
        }
        _ => {
            return Err(SmimeError::Malformed(
                "base64: truncated (a lone final character)".into(),
            ));
        }
    }
    // Only padding and whitespace may follow.
    if let Some((j, c)) = text[i..]
        .iter()
        .enumerate()
        .find(|(_, c)| !matches!(c, b'=' | b' ' | b'\t' | b'\r' | b'\n'))
    {
        return Err(bad(i + j, *c));
    }
    out.truncate(o);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_all_lengths() {
        for len in 0..200 {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let enc = encode_to_vec(&data);
            assert!(enc.split(|b| *b == b'\n').all(|l| l.len() <= 77));
            assert_eq!(decode(&enc).expect("decode"), data, "len {len}");
        }
        assert_eq!(encode_to_vec(b"foobar"), b"Zm9vYmFy\r\n");
        assert_eq!(encode_to_vec(b"fo"), b"Zm8=\r\n");
        assert_eq!(decode(b"Zm9v\nYmE=\n").expect("ws"), b"fooba");
        assert!(decode(b"Zm9v*").is_err());
        assert!(decode(b"Zm9vY").is_err());
        assert!(decode(b"Zm8=Zm8=").is_err());
    }
}
