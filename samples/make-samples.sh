#!/usr/bin/env bash
# Makes the sample PKI used by the README's first command: a root, an intermediate and an
# S/MIME certificate for alice@example.com with its key in a PKCS#12 (password in
# alice-password.txt). Needs the openssl CLI. The outputs are committed; re-run to refresh.
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tmp/root.key" -out root.pem \
    -subj "/O=certmail samples/CN=Sample Root CA" -days 7300 \
    -addext basicConstraints=critical,CA:true -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tmp/int.key" -out "$tmp/int.csr" \
    -subj "/O=certmail samples/CN=Sample Intermediate CA" 2>/dev/null
openssl x509 -req -in "$tmp/int.csr" -CA root.pem -CAkey "$tmp/root.key" -out "$tmp/int.pem" -days 7000 \
    -extfile <(printf 'basicConstraints=critical,CA:true,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n') 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout "$tmp/alice.key" -out "$tmp/alice.csr" \
    -subj "/O=certmail samples/CN=Alice Example/emailAddress=Alice@Example.com" 2>/dev/null
openssl x509 -req -in "$tmp/alice.csr" -CA "$tmp/int.pem" -CAkey "$tmp/int.key" -out "$tmp/alice.pem" -days 3650 \
    -extfile <(printf 'basicConstraints=critical,CA:false\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=emailProtection\nsubjectAltName=email:alice@example.com,email:a.example@example.org\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n') 2>/dev/null
cat "$tmp/int.pem" root.pem > chain.pem
echo "certmail-sample" > alice-password.txt
openssl pkcs12 -export -in "$tmp/alice.pem" -inkey "$tmp/alice.key" -certfile chain.pem -name alice \
    -out alice.p12 -passout file:alice-password.txt
echo "samples written: root.pem chain.pem alice.p12 alice-password.txt"
