#!/usr/bin/env python3
"""Writes password-less PKCS#12 files with the legacy PBES1 schemes (RFC 7292 appendix C)
under both conventions for the empty password: the BMPString terminator (two zero bytes, as
OpenSSL and NSS write it) and no bytes at all (GnuTLS --null-password, Java with a null
password). No tool on this machine writes the second form with RC2 or two-key 3DES, so
crates/certmail/tests/data/formats/legacy-*.p12 were made with this script:

    scripts/make-legacy-p12.py CERTS.pem KEY.pem OUTDIR

(alice's key and chain, from openssl-nopass.p12 there: `openssl pkcs12 -in openssl-nopass.p12
-passin pass: -nokeys` and `-nocerts -nodes`).

Python `cryptography` provides two-key 3DES (its decrepit module) and OpenSSL's legacy provider
RC2-40; the DER and the PKCS#12 key derivation are written out here."""

import hashlib
import hmac
import os
import sys

from cryptography import x509
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import padding, serialization
from cryptography.hazmat.primitives.ciphers import Cipher, modes


def tlv(tag, body):
    n = len(body)
    if n < 0x80:
        head = bytes([n])
    else:
        b = n.to_bytes((n.bit_length() + 7) // 8, "big")
        head = bytes([0x80 | len(b)]) + b
    return bytes([tag]) + head + body


def seq(*parts):
    return tlv(0x30, b"".join(parts))


def octets(b):
    return tlv(0x04, b)


def integer(n):
    b = n.to_bytes((n.bit_length() + 8) // 8 or 1, "big")
    return tlv(0x02, b)


def oid(dotted):
    parts = [int(p) for p in dotted.split(".")]
    body = bytes([40 * parts[0] + parts[1]])
    for p in parts[2:]:
        chunk = [p & 0x7F]
        p >>= 7
        while p:
            chunk.append(0x80 | (p & 0x7F))
            p >>= 7
        body += bytes(reversed(chunk))
    return tlv(0x06, body)


def explicit(n, body):
    return tlv(0xA0 + n, body)


def kdf(pw, salt, ident, iterations, n):
    """RFC 7292 B.2 with SHA-1 (u = 20, v = 64)."""
    v, u = 64, 20

    def fill(s):
        if not s:
            return b""
        return (s * ((v * ((len(s) + v - 1) // v)) // len(s) + 1))[: v * ((len(s) + v - 1) // v)]

    d = bytes([ident]) * v
    i = bytearray(fill(salt) + fill(pw))
    out = b""
    while len(out) < n:
        a = hashlib.sha1(d + bytes(i)).digest()
        for _ in range(1, iterations):
            a = hashlib.sha1(a).digest()
        out += a
        if len(out) >= n:
            break
        b = (a * (v // u + 1))[:v]
        bint = int.from_bytes(b, "big")
        for k in range(0, len(i), v):
            block = int.from_bytes(i[k : k + v], "big")
            block = (block + bint + 1) % (1 << (8 * v))
            i[k : k + v] = block.to_bytes(v, "big")
    return out[:n]


SCHEMES = {
    # name: (oid, key length, cipher)
    "rc2-40": ("1.2.840.113549.1.12.1.6", 5, "rc2"),
    "2des": ("1.2.840.113549.1.12.1.4", 16, "3des"),
}


def encrypt(scheme, pw, salt, iterations, data):
    o, klen, kind = SCHEMES[scheme]
    key = kdf(pw, salt, 1, iterations, klen)
    iv = kdf(pw, salt, 2, iterations, 8)
    if kind == "rc2":
        # cryptography's RC2 takes 128-bit keys only: RC2-40 through OpenSSL's legacy provider.
        import subprocess

        p = subprocess.run(
            ["openssl", "enc", "-provider", "legacy", "-provider", "default", "-rc2-40-cbc",
             "-K", key.hex(), "-iv", iv.hex()],
            input=data, capture_output=True, check=True)
        return p.stdout
    k = key + key[:8]
    padder = padding.PKCS7(64).padder()
    padded = padder.update(data) + padder.finalize()
    enc = Cipher(TripleDES(k), modes.CBC(iv)).encryptor()
    return enc.update(padded) + enc.finalize()


def pfx(certs_der, key_der, scheme, pw):
    iterations = 2048
    alg = lambda salt: seq(oid(SCHEMES[scheme][0]), seq(octets(salt), integer(iterations)))
    cert_bags = b"".join(
        seq(
            oid("1.2.840.113549.1.12.10.1.3"),
            explicit(0, seq(oid("1.2.840.113549.1.9.22.1"), explicit(0, octets(c)))),
        )
        for c in certs_der
    )
    s1 = os.urandom(8)
    enc_certs = encrypt(scheme, pw, s1, iterations, seq(cert_bags))
    ci1 = seq(
        oid("1.2.840.113549.1.7.6"),
        explicit(0, seq(integer(0), seq(oid("1.2.840.113549.1.7.1"), alg(s1), tlv(0x80, enc_certs)))),
    )
    s2 = os.urandom(8)
    enc_key = encrypt(scheme, pw, s2, iterations, key_der)
    key_bag = seq(oid("1.2.840.113549.1.12.10.1.2"), explicit(0, seq(alg(s2), octets(enc_key))))
    ci2 = seq(oid("1.2.840.113549.1.7.1"), explicit(0, octets(seq(key_bag))))
    auth = seq(ci1, ci2)
    ms = os.urandom(8)
    mac_key = kdf(pw, ms, 3, iterations, 20)
    mac = hmac.new(mac_key, auth, hashlib.sha1).digest()
    mac_data = seq(seq(seq(oid("1.3.14.3.2.26"), tlv(0x05, b"")), octets(mac)), octets(ms), integer(iterations))
    return seq(integer(3), seq(oid("1.2.840.113549.1.7.1"), explicit(0, octets(auth))), mac_data)


def main():
    cert_pem, key_pem, out = sys.argv[1:4]
    certs = x509.load_pem_x509_certificates(open(cert_pem, "rb").read())
    key = serialization.load_pem_private_key(open(key_pem, "rb").read(), None)
    certs_der = [c.public_bytes(serialization.Encoding.DER) for c in certs]
    key_der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    for scheme in SCHEMES:
        for conv, pw in (("empty", b"\x00\x00"), ("absent", b"")):
            with open(os.path.join(out, f"legacy-{scheme}-{conv}-password.p12"), "wb") as f:
                f.write(pfx(certs_der, key_der, scheme, pw))


if __name__ == "__main__":
    main()
