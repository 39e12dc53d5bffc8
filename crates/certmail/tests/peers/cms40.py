#!/usr/bin/env python3
"""An independent S/MIME 4.0 peer for the interoperability matrix: the CMS structures of
RFC 8419 (Ed25519 signatures), RFC 8418 (X25519 key agreement with HKDF), RFC 8103
(ChaCha20-Poly1305 AuthEnvelopedData) and RFC 3274 (CompressedData), written and read with
Python `cryptography` for the primitives and the DER here. OpenSSL 3.0, NSS 3.87 and gpgsm
2.2 on this machine do none of these, so this is the peer certmail is checked against.

    cms40.py sign-ed25519 CERT KEY IN OUT          opaque signed-data, Ed25519
    cms40.py verify-ed25519 CERT IN OUT            check an opaque Ed25519 signed-data
    cms40.py encrypt-x25519 CERT IN OUT [chacha]   enveloped-data (AES-256-CBC) or
                                                      authEnveloped-data (ChaCha20-Poly1305)
    cms40.py decrypt-x25519 CERT KEY IN OUT        read either of those
    cms40.py compress IN OUT                       compressed-data

IN and OUT are MIME messages (OUT: application/pkcs7-mime with the given smime-type)."""

import base64
import datetime
import hashlib
import os
import sys
import zlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap, aes_key_wrap

OID = {
    "data": "1.2.840.113549.1.7.1",
    "signedData": "1.2.840.113549.1.7.2",
    "envelopedData": "1.2.840.113549.1.7.3",
    "authEnvelopedData": "1.2.840.113549.1.9.16.1.23",
    "compressedData": "1.2.840.113549.1.9.16.1.9",
    "zlib": "1.2.840.113549.1.9.16.3.8",
    "contentType": "1.2.840.113549.1.9.3",
    "messageDigest": "1.2.840.113549.1.9.4",
    "signingTime": "1.2.840.113549.1.9.5",
    "sha512": "2.16.840.1.101.3.4.2.3",
    "ed25519": "1.3.101.112",
    "x25519": "1.3.101.110",
    "hkdfSha256": "1.2.840.113549.1.9.16.3.19",
    "aes256wrap": "2.16.840.1.101.3.4.1.45",
    "aes256cbc": "2.16.840.1.101.3.4.1.42",
    "chacha": "1.2.840.113549.1.9.16.3.18",
}


# ---- DER writing ----
def tlv(tag, body):
    n = len(body)
    if n < 0x80:
        head = bytes([n])
    else:
        b = n.to_bytes((n.bit_length() + 7) // 8, "big")
        head = bytes([0x80 | len(b)]) + b
    return bytes([tag]) + head + body


def seq(*p):
    return tlv(0x30, b"".join(p))


def set_of(*p):
    return tlv(0x31, b"".join(sorted(p)))


def octets(b):
    return tlv(0x04, b)


def integer(n):
    return tlv(0x02, n.to_bytes((n.bit_length() + 8) // 8 or 1, "big"))


def oid(dotted):
    parts = [int(x) for x in dotted.split(".")]
    body = bytes([40 * parts[0] + parts[1]])
    for p in parts[2:]:
        chunk = [p & 0x7F]
        p >>= 7
        while p:
            chunk.append(0x80 | (p & 0x7F))
            p >>= 7
        body += bytes(reversed(chunk))
    return tlv(0x06, body)


def alg(dotted, params=None):
    return seq(oid(dotted), params or b"")


def ctx(n, body, constructed=True):
    return tlv((0xA0 if constructed else 0x80) | n, body)


# ---- DER reading ----
def read(b, i=0):
    """(tag, content start, content end, next) of the TLV at i."""
    tag = b[i]
    n = b[i + 1]
    i += 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(b[i : i + k], "big")
        i += k
    return tag, i, i + n, i + n


def children(b, start, end):
    out = []
    i = start
    while i < end:
        t, s, e, i = read(b, i)
        out.append((t, s, e))
    return out


def oid_str(b, s, e):
    body = b[s:e]
    parts = [body[0] // 40, body[0] % 40]
    v = 0
    for x in body[1:]:
        v = (v << 7) | (x & 0x7F)
        if not x & 0x80:
            parts.append(v)
            v = 0
    return ".".join(map(str, parts))


# ---- MIME ----
def mime_wrap(der, smime_type):
    b64 = base64.encodebytes(der).replace(b"\n", b"\r\n")
    return (
        b"MIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; smime-type="
        + smime_type.encode()
        + b'; name="smime.p7m"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        + b64
    )


def mime_body(msg):
    head, _, body = msg.partition(b"\r\n\r\n")
    if not body:
        head, _, body = msg.partition(b"\n\n")
    return base64.b64decode(b"".join(body.split()))


def canonical(data):
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def content_info(der, expect):
    _, s, e, _ = read(der)
    (ct, cs, ce), (_, xs, xe) = children(der, s, e)[:2]
    assert oid_str(der, cs, ce) == OID[expect], oid_str(der, cs, ce)
    _, ss, se, _ = read(der, xs)
    return children(der, ss, se)


# ---- Ed25519 (RFC 8419) ----
def sign_ed25519(cert_path, key_path, msg):
    cert = x509.load_pem_x509_certificate(open(cert_path, "rb").read())
    key = serialization.load_pem_private_key(open(key_path, "rb").read(), None)
    content = canonical(msg)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%y%m%d%H%M%SZ").encode()
    attrs = [
        seq(oid(OID["contentType"]), set_of(oid(OID["data"]))),
        seq(oid(OID["signingTime"]), set_of(tlv(0x17, now))),
        seq(oid(OID["messageDigest"]), set_of(octets(hashlib.sha512(content).digest()))),
    ]
    signed_attrs = set_of(*attrs)
    sig = key.sign(signed_attrs)
    issuer = cert.issuer.public_bytes()
    sid = seq(issuer, integer(cert.serial_number))
    # signedAttrs as [0] IMPLICIT: the SET's contents under tag A0.
    _, s, e, _ = read(signed_attrs)
    si = seq(integer(1), sid, alg(OID["sha512"]), ctx(0, signed_attrs[s:e]), alg(OID["ed25519"]), octets(sig))
    sd = seq(
        integer(1),
        set_of(alg(OID["sha512"])),
        seq(oid(OID["data"]), ctx(0, octets(content))),
        ctx(0, cert.public_bytes(serialization.Encoding.DER)),
        set_of(si),
    )
    return mime_wrap(seq(oid(OID["signedData"]), ctx(0, sd)), "signed-data")


def verify_ed25519(cert_path, msg):
    cert = x509.load_pem_x509_certificate(open(cert_path, "rb").read())
    der = mime_body(msg)
    f = content_info(der, "signedData")
    _, es, ee = f[2]
    eci = children(der, es, ee)
    _, xs, xe = eci[1]
    _, os_, oe, _ = read(der, xs)
    content = der[os_:oe]
    signer_infos = f[-1]
    (_, sis, sie), = children(der, signer_infos[1], signer_infos[2])
    si = children(der, sis, sie)
    da = children(der, si[2][1], si[2][2])
    assert oid_str(der, da[0][1], da[0][2]) == OID["sha512"], "digest is not SHA-512"
    tag, as_, ae = si[3]
    assert tag == 0xA0, "no signed attributes"
    # The signature covers the [0] IMPLICIT attributes re-tagged as a SET (RFC 5652 5.4).
    signed_attrs = tlv(0x31, der[as_:ae])
    sa = children(der, as_, ae)
    md = None
    for (_, s, e) in sa:
        a = children(der, s, e)
        if oid_str(der, a[0][1], a[0][2]) == OID["messageDigest"]:
            (_, vs, ve), = children(der, a[1][1], a[1][2])
            md = der[vs:ve]
    assert md == hashlib.sha512(content).digest(), "messageDigest differs"
    sa_alg = children(der, si[4][1], si[4][2])
    assert oid_str(der, sa_alg[0][1], sa_alg[0][2]) == OID["ed25519"], "not Ed25519"
    assert len(sa_alg) == 1, "Ed25519 parameters must be absent"
    sig = der[si[5][1] : si[5][2]]
    cert.public_key().verify(sig, signed_attrs)
    return content


# ---- X25519 + HKDF (RFC 8418) ----
def shared_info(wrap_oid, kek_len):
    return seq(alg(wrap_oid), ctx(2, octets((kek_len * 8).to_bytes(4, "big"))))


def kek_for(z, ukm, kek_len):
    return HKDF(hashes.SHA256(), kek_len, ukm or None, shared_info(OID["aes256wrap"], kek_len)).derive(z)


def encrypt_x25519(cert_path, msg, chacha):
    cert = x509.load_pem_x509_certificate(open(cert_path, "rb").read())
    cek = os.urandom(32)
    eph = x25519.X25519PrivateKey.generate()
    z = eph.exchange(cert.public_key())
    wrapped = aes_key_wrap(kek_for(z, None, 32), cek)
    eph_pub = eph.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    originator = ctx(0, ctx(1, alg(OID["x25519"]) + tlv(0x03, b"\x00" + eph_pub)))
    rid = seq(cert.issuer.public_bytes(), integer(cert.serial_number))
    kari = ctx(1, integer(3) + originator + alg(OID["hkdfSha256"], alg(OID["aes256wrap"])) + seq(seq(rid, octets(wrapped))))
    content = canonical(msg)
    if chacha:
        nonce = os.urandom(12)
        ct = ChaCha20Poly1305(cek).encrypt(nonce, content, b"")
        body, mac = ct[:-16], ct[-16:]
        aeci = seq(oid(OID["data"]), alg(OID["chacha"], octets(nonce)), ctx(0, body, constructed=False))
        aed = seq(integer(0), set_of(kari), aeci, octets(mac))
        return mime_wrap(seq(oid(OID["authEnvelopedData"]), ctx(0, aed)), "authEnveloped-data")
    iv = os.urandom(16)
    padder = padding.PKCS7(128).padder()
    enc = Cipher(algorithms.AES(cek), modes.CBC(iv)).encryptor()
    body = enc.update(padder.update(content) + padder.finalize()) + enc.finalize()
    eci = seq(oid(OID["data"]), alg(OID["aes256cbc"], octets(iv)), ctx(0, body, constructed=False))
    ed = seq(integer(2), set_of(kari), eci)
    return mime_wrap(seq(oid(OID["envelopedData"]), ctx(0, ed)), "enveloped-data")


def decrypt_x25519(key_path, msg):
    key = serialization.load_pem_private_key(open(key_path, "rb").read(), None)
    der = mime_body(msg)
    _, s, e, _ = read(der)
    (_, cs, ce), (_, xs, xe) = children(der, s, e)[:2]
    kind = oid_str(der, cs, ce)
    _, ss, se, _ = read(der, xs)
    f = children(der, ss, se)
    _, rs, re_ = f[1]
    (tag, ks, ke), = children(der, rs, re_)
    assert tag == 0xA1, "not a KeyAgreeRecipientInfo"
    k = children(der, ks, ke)
    orig = children(der, k[1][1], k[1][2])[0]
    oa = children(der, orig[1], orig[2])
    pub = der[oa[1][1] + 1 : oa[1][2]]
    i = 2
    ukm = None
    if k[i][0] == 0xA1:
        (_, us, ue), = children(der, k[i][1], k[i][2])
        ukm = der[us:ue]
        i += 1
    kea = children(der, k[i][1], k[i][2])
    assert oid_str(der, kea[0][1], kea[0][2]) == OID["hkdfSha256"], "not HKDF-SHA256"
    (_, rks, rke), = children(der, k[i + 1][1], k[i + 1][2])
    rek = children(der, rks, rke)
    wrapped = der[rek[1][1] : rek[1][2]]
    z = key.exchange(x25519.X25519PublicKey.from_public_bytes(pub))
    cek = aes_key_unwrap(kek_for(z, ukm, 32), wrapped)
    _, es, ee = f[2]
    eci = children(der, es, ee)
    ca = children(der, eci[1][1], eci[1][2])
    param = der[ca[1][1] : ca[1][2]]
    body = der[eci[2][1] : eci[2][2]]
    if kind == OID["authEnvelopedData"]:
        mac = der[f[-1][1] : f[-1][2]]
        return ChaCha20Poly1305(cek).decrypt(param, body + mac, b"")
    dec = Cipher(algorithms.AES(cek), modes.CBC(param)).decryptor()
    unpad = padding.PKCS7(128).unpadder()
    return unpad.update(dec.update(body) + dec.finalize()) + unpad.finalize()


def compress(msg):
    z = zlib.compress(canonical(msg))
    cd = seq(integer(0), alg(OID["zlib"]), seq(oid(OID["data"]), ctx(0, octets(z))))
    return mime_wrap(seq(oid(OID["compressedData"]), ctx(0, cd)), "compressed-data")


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    rd = lambda p: open(p, "rb").read()
    if cmd == "sign-ed25519":
        out = sign_ed25519(args[0], args[1], rd(args[2]))
        open(args[3], "wb").write(out)
    elif cmd == "verify-ed25519":
        open(args[2], "wb").write(verify_ed25519(args[0], rd(args[1])))
    elif cmd == "encrypt-x25519":
        out = encrypt_x25519(args[0], rd(args[1]), len(args) > 3 and args[3] == "chacha")
        open(args[2], "wb").write(out)
    elif cmd == "decrypt-x25519":
        open(args[3], "wb").write(decrypt_x25519(args[1], rd(args[2])))
    elif cmd == "compress":
        open(args[1], "wb").write(compress(rd(args[0])))
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
