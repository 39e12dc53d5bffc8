#!/usr/bin/env python3
"""Tiny CLI over cryptography's pkcs7 module (no verify API exists there, not even in 48).
  sign    CERT KEY IN OUT {smime-detached|smime-opaque|der-detached|der-opaque} [sha256|sha512] [pss]
  encrypt CERT IN OUT {smime|der|pem} [aes128|aes256]     (>=43; aes256 needs >=45)
  decrypt CERT KEY IN OUT {smime|der|pem}                 (>=44)
"""
import sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7
E, O = serialization.Encoding, pkcs7.PKCS7Options
rd = lambda p: open(p, 'rb').read()
cmd, a = sys.argv[1], sys.argv[2:]
cert = x509.load_pem_x509_certificate(rd(a[0]))
if cmd == 'sign':
    key = serialization.load_pem_private_key(rd(a[1]), None)
    enc, kind = a[4].split('-')
    h = {'sha256': hashes.SHA256(), 'sha512': hashes.SHA512()}[a[5] if len(a) > 5 else 'sha256']
    kw = {}
    if 'pss' in a[6:]:                              # rsa_padding kwarg: cryptography >= 42
        from cryptography.hazmat.primitives.asymmetric import padding
        kw['rsa_padding'] = padding.PSS(padding.MGF1(h), padding.PSS.MAX_LENGTH)
    opts = [O.Binary] + ([O.DetachedSignature] if kind == 'detached' else [])
    out = (pkcs7.PKCS7SignatureBuilder().set_data(rd(a[2]))
           .add_signer(cert, key, h, **kw).sign({'smime': E.SMIME, 'der': E.DER, 'pem': E.PEM}[enc], opts))
elif cmd == 'encrypt':
    b = pkcs7.PKCS7EnvelopeBuilder().set_data(rd(a[1])).add_recipient(cert)
    if len(a) > 4 and a[4] == 'aes256':             # cryptography >= 45
        from cryptography.hazmat.primitives.ciphers import algorithms
        b = b.set_content_encryption_algorithm(algorithms.AES256)
    out = b.encrypt({'smime': E.SMIME, 'der': E.DER, 'pem': E.PEM}[a[3]], [O.Binary])
elif cmd == 'decrypt':
    key = serialization.load_pem_private_key(rd(a[1]), None)
    f = {'smime': pkcs7.pkcs7_decrypt_smime, 'der': pkcs7.pkcs7_decrypt_der, 'pem': pkcs7.pkcs7_decrypt_pem}[a[4]]
    out = f(rd(a[2]), cert, key, [])   # only PKCS7Options.Text allowed
open(a[2] if cmd == 'encrypt' else a[3], 'wb').write(out)
