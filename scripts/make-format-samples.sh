#!/usr/bin/env bash
# Makes the PKCS#12 and PKCS#7 files of crates/certmail/tests/data/formats/ with the real tools
# that write them in the field: OpenSSL 3 (`pkcs12 -export`, `crl2pkcs7`, `cms -cmsout -stream`),
# Java `keytool` (PKCS#12 with every PBKDF2 PRF and HMAC, several entries, trusted-certificate
# bags), NSS (`pk12util`, `cmsutil -O`: BER with indefinite lengths) and Python `cryptography`.
# The files are committed; CI never runs this script, so it needs none of these tools.
#
#   scripts/make-format-samples.sh [PYTHON]   (PYTHON: a python3 with `cryptography` >= 43)
#
# Every file holds certificates of one small test PKI made here (EC P-256 and RSA-2048 keys):
#   root      "Formats Test Root"                  (self-signed CA, keyUsage keyCertSign+cRLSign)
#   alice     alice@formats.example  (EC P-256)    key + certificate
#   bob       bob@formats.example    (RSA 2048)    key + certificate
#   carol     EC P-256 key without a certificate
#   dave      dave@formats.example   (EC P-256)    certificate without key, revoked in root.crl
# Passwords: "format-pw" everywhere, except the password-less files.
set -euo pipefail

PY=${1:-/tmp/certmail-ci-venv/bin/python}
OUT=$(cd "$(dirname "$0")/.." && pwd)/crates/certmail/tests/data/formats
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
cd "$W"
PW=format-pw
echo "$PW" > pw.txt

# ---- the test PKI (OpenSSL) -------------------------------------------------------------------
cat > ca.cnf <<'CNF'
[ca]
default_ca = test_ca
[test_ca]
database = index.txt
new_certs_dir = .
serial = serial
crlnumber = crlnumber
default_md = sha256
default_crl_days = 7300
default_days = 7300
policy = any
copy_extensions = none
unique_subject = no
[any]
commonName = supplied
emailAddress = optional
[root]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[leaf]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = emailProtection
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = email:copy
CNF
touch index.txt
echo 1001 > serial
echo 01 > crlnumber
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out root.key
openssl req -new -x509 -key root.key -subj "/CN=Formats Test Root" -days 7300 \
    -config ca.cnf -extensions root -out root.pem
for who in alice carol dave; do
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out $who.key
done
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out bob.key
for who in alice bob dave; do
    openssl req -new -key $who.key -subj "/CN=$who/emailAddress=$who@formats.example" -out $who.csr
    openssl ca -batch -config ca.cnf -cert root.pem -keyfile root.key -extensions leaf \
        -in $who.csr -out $who.pem -notext 2>/dev/null
done
openssl ca -config ca.cnf -cert root.pem -keyfile root.key -revoke dave.pem 2>/dev/null
openssl ca -config ca.cnf -cert root.pem -keyfile root.key -gencrl -out root.crl 2>/dev/null
cat root.pem alice.pem bob.pem dave.pem > everyone.pem
cat dave.pem root.pem > dave-chain.pem
openssl crl -in root.crl -out root.crl
cp root.pem alice.pem bob.pem dave.pem root.crl "$OUT/"

# ---- PKCS#12, OpenSSL 3 -------------------------------------------------------------------------
p12() { openssl pkcs12 -export -passout "pass:$1" -out "$2" "${@:3}"; }
alice=(-inkey alice.key -in alice.pem -certfile root.pem -name alice)
# PBES2 (PBKDF2-HMAC-SHA256: `openssl pkcs12` 3.0 has no option for another PRF) with each AES size,
# and each MAC digest.
p12 $PW openssl-aes128-sha1.p12 "${alice[@]}" -keypbe aes-128-cbc -certpbe aes-128-cbc -macalg sha1
p12 $PW openssl-aes192-sha256.p12 "${alice[@]}" -keypbe aes-192-cbc -certpbe aes-192-cbc -macalg sha256
p12 $PW openssl-aes256-sha384.p12 "${alice[@]}" -keypbe aes-256-cbc -certpbe aes-256-cbc -macalg sha384
p12 $PW openssl-aes256-sha512.p12 "${alice[@]}" -keypbe aes-256-cbc -certpbe aes-128-cbc -macalg sha512
p12 $PW openssl-legacy.p12 "${alice[@]}" -legacy
p12 $PW openssl-nomac.p12 "${alice[@]}" -nomac
# The empty password, written as the two-byte BMPString terminator (OpenSSL's convention).
p12 "" openssl-nopass.p12 "${alice[@]}"
# A key without certificate; certificates without key.
p12 $PW openssl-key-only.p12 -nocerts -inkey carol.key -name carol
p12 $PW openssl-certs-only.p12 -nokeys -in dave-chain.pem

# ---- PKCS#12, GnuTLS certtool: the empty password as zero bytes (a NULL password) ---------------
cat alice.pem root.pem > alice-chain.pem
certtool --to-p12 --load-privkey alice.key --load-certificate alice-chain.pem --p12-name alice \
    --null-password --outder --outfile gnutls-null-password.p12 2>/dev/null
certtool --to-p12 --load-privkey alice.key --load-certificate alice-chain.pem --p12-name alice \
    --null-password --pkcs-cipher 3des-pkcs12 --outder --outfile gnutls-null-password-3des.p12 2>/dev/null

# ---- PKCS#12, Java keytool: every PBKDF2 PRF, several entries, trusted-certificate bags ----------
p12 $PW alice-in.p12 "${alice[@]}"
p12 $PW bob-in.p12 -inkey bob.key -in bob.pem -certfile root.pem -name bob
iters=(-J-Dkeystore.pkcs12.keyPbeIterationCount=2048 -J-Dkeystore.pkcs12.certPbeIterationCount=2048
       -J-Dkeystore.pkcs12.macIterationCount=2048)
for v in "SHA1 AES_128" "SHA224 AES_256" "SHA256 AES_128" "SHA384 AES_256" "SHA512 AES_256"; do
    set -- $v
    lower=$(echo "$1" | tr A-Z a-z)
    keytool -importkeystore -noprompt -srckeystore alice-in.p12 -srcstoretype pkcs12 \
        -srcstorepass $PW -destkeystore java-prf-$lower.p12 -deststoretype pkcs12 -deststorepass $PW \
        -J-Dkeystore.pkcs12.keyProtectionAlgorithm=PBEWithHmac$1And$2 \
        -J-Dkeystore.pkcs12.certProtectionAlgorithm=PBEWithHmac$1And$2 \
        -J-Dkeystore.pkcs12.macAlgorithm=HmacPBE$1 "${iters[@]}" >/dev/null
done
for who in alice bob; do
    keytool -importkeystore -noprompt -srckeystore $who-in.p12 -srcstoretype pkcs12 -srcstorepass $PW \
        -destkeystore java-multi.p12 -deststoretype pkcs12 -deststorepass $PW "${iters[@]}" >/dev/null
done
for store in java-multi.p12 java-truststore.p12; do
    keytool -importcert -noprompt -alias "formats root" -file root.pem -keystore $store \
        -storetype pkcs12 -storepass $PW "${iters[@]}" 2>/dev/null
    keytool -importcert -noprompt -alias dave -file dave.pem -keystore $store \
        -storetype pkcs12 -storepass $PW "${iters[@]}" 2>/dev/null
done

# ---- PKCS#12, NSS pk12util: BER with indefinite lengths (600,000 PBKDF2 iterations) -------------
mkdir nss
certutil -N -d sql:nss --empty-password
pk12util -i alice-in.p12 -d sql:nss -W $PW -K "" >/dev/null
certutil -A -d sql:nss -n dave -t ",," -a -i dave.pem
pk12util -o nss-default.p12 -n alice -d sql:nss -W $PW -K "" >/dev/null
pk12util -o nss-aes192-sha384.p12 -n alice -d sql:nss -W $PW -K "" \
    -c AES-192-CBC -C AES-128-CBC -M SHA-384 >/dev/null
pk12util -o nss-nopass.p12 -n alice -d sql:nss -W "" -K "" >/dev/null

# ---- PKCS#12, Python cryptography: PBES2 AES-256 with an HMAC-SHA384 MAC ----------------------
"$PY" - <<'PY'
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12, PrivateFormat

key = serialization.load_pem_private_key(open("bob.key", "rb").read(), None)
cert = x509.load_pem_x509_certificate(open("bob.pem", "rb").read())
root = x509.load_pem_x509_certificate(open("root.pem", "rb").read())
enc = (PrivateFormat.PKCS12.encryption_builder().kdf_rounds(2048)
       .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC).hmac_hash(hashes.SHA384())
       .build(b"format-pw"))
data = pkcs12.serialize_key_and_certificates(b"bob", key, cert, [root], enc)
open("python-aes256-sha384.p12", "wb").write(data)
PY

# ---- PKCS#7 bundles ----------------------------------------------------------------------------
# Java: CertPath.getEncoded("PKCS7") (DER).
cat > CertPathPkcs7.java <<'JAVA'
import java.io.*;
import java.nio.file.*;
import java.security.cert.*;
import java.util.*;

public class CertPathPkcs7 {
    public static void main(String[] args) throws Exception {
        CertificateFactory cf = CertificateFactory.getInstance("X.509");
        List<Certificate> certs = new ArrayList<>();
        for (int i = 1; i < args.length; i++) {
            try (InputStream in = new FileInputStream(args[i])) {
                certs.add(cf.generateCertificate(in));
            }
        }
        Files.write(Paths.get(args[0]), cf.generateCertPath(certs).getEncoded("PKCS7"));
    }
}
JAVA
java CertPathPkcs7.java java-certpath.p7b alice.pem root.pem
# NSS: certs-only SignedData, BER with indefinite lengths.
cmsutil -O -r alice,dave,"Formats Test Root" -d sql:nss -o nss-certs-only.p7b
# OpenSSL: certificates with a CRL, DER and PEM.
openssl crl2pkcs7 -in root.crl -certfile dave-chain.pem -outform DER -out openssl-certs-crl.p7b
openssl crl2pkcs7 -in root.crl -certfile dave-chain.pem -out openssl-certs-crl.p7c
# OpenSSL: a streamed (BER, indefinite lengths) signed message carrying certificates, PEM and DER.
echo "certificates travel with this message" > msg.txt
openssl cms -sign -stream -nodetach -outform PEM -signer alice.pem -inkey alice.key \
    -certfile root.pem -in msg.txt -out openssl-signed-ber.pem
openssl cms -sign -stream -nodetach -outform DER -signer bob.pem -inkey bob.key \
    -certfile root.pem -in msg.txt -out openssl-signed-ber.p7m

cp openssl-*.p12 gnutls-*.p12 java-prf-*.p12 java-multi.p12 java-truststore.p12 nss-*.p12 \
    python-*.p12 java-certpath.p7b nss-certs-only.p7b openssl-certs-crl.p7b openssl-certs-crl.p7c \
    openssl-signed-ber.pem openssl-signed-ber.p7m "$OUT/"
chmod 644 "$OUT"/*
echo "written to $OUT"
