#!/bin/sh
# Creates test PKI in $1 (default: cwd). Needs only openssl (3.x).
set -eu
D=${1:-.}; mkdir -p "$D"; cd "$D"
cat > ext.cnf <<'X'
[ee]
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=emailProtection
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
subjectAltName=email:alice@example.com
[ee_ec]
basicConstraints=critical,CA:FALSE
# keyAgreement is required for ECDH recipients (NSS/gpgsm/openssl all key off it)
keyUsage=critical,digitalSignature,keyAgreement
extendedKeyUsage=emailProtection
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
subjectAltName=email:alice-ec@example.com
X
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out root.key 2>/dev/null
openssl req -new -x509 -key root.key -subj "/CN=Test Root CA" -days 3650 -sha256 \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
  -addext subjectKeyIdentifier=hash -out root.pem
mk() { # name keyalg-args ext-section cn email
  openssl genpkey $2 -out $1.key 2>/dev/null      # PKCS#8 PEM, unencrypted
  openssl req -new -key $1.key -subj "/CN=$4/emailAddress=$5" -out $1.csr
  openssl x509 -req -in $1.csr -CA root.pem -CAkey root.key -set_serial 0x$(openssl rand -hex 8) \
    -days 825 -sha256 -extfile ext.cnf -extensions $3 -out $1.pem 2>/dev/null
  # modern p12 (AES-256-CBC/PBKDF2, HMAC-SHA256): fine for openssl, NSS, python
  openssl pkcs12 -export -in $1.pem -inkey $1.key -certfile root.pem -name $1 -passout pass:pw -out $1.p12
  # legacy p12 (3DES / SHA1 MAC): required by gpgsm 2.2
  openssl pkcs12 -export -in $1.pem -inkey $1.key -certfile root.pem -name $1 -passout pass:pw \
    -certpbe PBE-SHA1-3DES -keypbe PBE-SHA1-3DES -macalg sha1 -out $1-legacy.p12
  rm -f $1.csr
}
mk alice    "-algorithm RSA -pkeyopt rsa_keygen_bits:2048"            ee    Alice    alice@example.com
mk alice-ec "-algorithm EC -pkeyopt ec_paramgen_curve:P-256"         ee_ec AliceEC  alice-ec@example.com
# MIME message with CRLF line endings
printf 'Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\nHello Bob,\r\nthis is a test.\r\n' > msg.eml
# S/MIME 4.0: an Ed25519 signer (RFC 8419) and an X25519 recipient (RFC 8418). An X25519 key
# cannot sign its own request: its certificate is made from Alice-Ed's request with the
# X25519 public key forced in.
cat >> ext.cnf <<'X'
[ee_ed]
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=emailProtection
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
subjectAltName=email:alice-ed@example.com
[ee_x]
basicConstraints=critical,CA:FALSE
keyUsage=critical,keyAgreement
extendedKeyUsage=emailProtection
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
subjectAltName=email:alice-x@example.com
X
openssl genpkey -algorithm ed25519 -out alice-ed.key 2>/dev/null
openssl req -new -key alice-ed.key -subj "/CN=AliceEd/emailAddress=alice-ed@example.com" -out alice-ed.csr
openssl x509 -req -in alice-ed.csr -CA root.pem -CAkey root.key -set_serial 0x$(openssl rand -hex 8) \
  -days 825 -sha256 -extfile ext.cnf -extensions ee_ed -out alice-ed.pem 2>/dev/null
openssl genpkey -algorithm x25519 -out alice-x.key 2>/dev/null
openssl pkey -in alice-x.key -pubout -out alice-x.pub
openssl x509 -req -in alice-ed.csr -CA root.pem -CAkey root.key -set_serial 0x$(openssl rand -hex 8) \
  -days 825 -sha256 -extfile ext.cnf -extensions ee_x -force_pubkey alice-x.pub \
  -subj "/CN=AliceX/emailAddress=alice-x@example.com" -out alice-x.pem 2>/dev/null
rm -f alice-ed.csr alice-x.pub
