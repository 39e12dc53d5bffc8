//! CompressedData (RFC 3274, S/MIME 4.0 RFC 8551 3.6): zlib-compressed content, unwrapped
//! on the way in and written on request. Decompression is bounded: a small message may not
//! grow past [`MAX_DECOMPRESSED`] (a "zip bomb" from a stranger stops there with a limit error).

use crate::SmimeError;
use crate::asn1::{self, tag};
use crate::oids;

/// The most a CompressedData layer may decompress to (64 MiB).
pub const MAX_DECOMPRESSED: usize = 64 << 20;

/// id-alg-zlibCompress (RFC 3274 2).
const ZLIB: &str = crate::oids::checked("1.2.840.113549.1.9.16.3.8");

/// The uncompressed content of a CompressedData ContentInfo (DER or BER).
pub fn decompress(der: &[u8]) -> Result<Vec<u8>, SmimeError> {
    let (ct, c) = asn1::content_info(der, "CompressedData")?;
    if ct != oids::COMPRESSED_DATA {
        return Err(SmimeError::Malformed(format!(
            "expected CompressedData, found {}",
            oids::name(&ct)
        )));
    }
    // CompressedData ::= SEQUENCE { version, compressionAlgorithm, encapContentInfo }
    let [_, alg, eci] = c.as_slice() else {
        return Err(SmimeError::Malformed("CompressedData fields".into()));
    };
    let alg = alg
        .children()?
        .first()
        .ok_or_else(|| SmimeError::Malformed("compressionAlgorithm".into()))?
        .oid()?;
    if alg != ZLIB {
        return Err(SmimeError::Unsupported(format!(
            "compression algorithm {alg}"
        )));
    }
    let eci = eci.children()?;
    let compressed: Vec<u8> = eci
        .get(1)
        .filter(|e| e.tag == 0xa0)
        .ok_or_else(|| SmimeError::Malformed("CompressedData without content".into()))?
        .children()?
        .first()
        .ok_or_else(|| SmimeError::Malformed("eContent".into()))?
        .octet_chunks()?
        .concat();
    miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(&compressed, MAX_DECOMPRESSED).map_err(
        |e| match e.status {
            miniz_oxide::inflate::TINFLStatus::HasMoreOutput => SmimeError::Limit(format!(
                "compressed content larger than {} MiB",
                MAX_DECOMPRESSED >> 20
            )),
            _ => SmimeError::Malformed("compressed content does not inflate".into()),
        },
    )
}

/// A CompressedData ContentInfo (DER) holding `content` (a MIME entity) zlib-compressed.
pub fn compress(content: &[u8]) -> Vec<u8> {
    let z = miniz_oxide::deflate::compress_to_vec_zlib(content, 6);
    let eci = asn1::seq(&[
        &asn1::oid(oids::DATA),
        &asn1::tlv(0xa0, &asn1::tlv(tag::OCTET_STRING, &z)),
    ]);
    let cd = asn1::seq(&[&asn1::uint(0), &asn1::alg(ZLIB, None), &eci]);
    asn1::seq(&[&asn1::oid(oids::COMPRESSED_DATA), &asn1::tlv(0xa0, &cd)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bomb() {
        let content = b"Content-Type: text/plain\r\n\r\nhello hello hello\r\n".repeat(100);
        let der = compress(&content);
        assert_eq!(decompress(&der).expect("inflates"), content);
        // 65 MiB of zeros compress to about 65 KiB: refused as a limit, not inflated.
        let bomb = compress(&vec![0u8; 65 << 20]);
        assert!(bomb.len() < 200_000);
        assert!(matches!(decompress(&bomb), Err(SmimeError::Limit(_))));
        let mut broken = der.clone();
        let n = broken.len();
        broken[n - 10] ^= 0xff;
        assert!(decompress(&broken).is_err());
    }
}
