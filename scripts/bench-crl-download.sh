#!/usr/bin/env bash
# CRL download benchmark (BENCHMARKS.md "CRL download"): a CRL of N revoked entries (default
# 1,000,000) made by Python `cryptography`, served by a local HTTP server, fetched and put
# in use by `certmail crl update --url`, beside `curl` fetching the same file and
# `openssl crl` parsing it (the peers, in the same run). Reports wall time and peak memory.
#
#   bash scripts/bench-crl-download.sh [ENTRIES]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
PY=${CERTMAIL_PYTHON:-${TMPDIR:-/tmp}/certmail-ci-venv/bin/python}
cargo build --quiet --release -p certmail
cm=$PWD/target/release/certmail
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

"$PY" - "$work" "$N" <<'PY'
import sys, datetime
from cryptography import x509
from cryptography.x509.oid import NameOID
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
out, n = sys.argv[1], int(sys.argv[2])
key = ec.generate_private_key(ec.SECP256R1())
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Bench CRL CA")])
now = datetime.datetime.now(datetime.timezone.utc)
ca = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
      .public_key(key.public_key()).serial_number(1)
      .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=365))
      .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
      .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
      .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
      .sign(key, hashes.SHA256()))
b = (x509.CertificateRevocationListBuilder().issuer_name(name)
     .last_update(now - datetime.timedelta(hours=1)).next_update(now + datetime.timedelta(days=7))
     .add_extension(x509.CRLNumber(1), critical=False)
     .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False))
t = now - datetime.timedelta(days=2)
for i in range(n):
    b = b.add_revoked_certificate(x509.RevokedCertificateBuilder().serial_number(1_000_000_000 + i).revocation_date(t).build())
crl = b.sign(key, hashes.SHA256())
open(f"{out}/ca.pem", "wb").write(ca.public_bytes(serialization.Encoding.PEM))
open(f"{out}/ca.crl", "wb").write(crl.public_bytes(serialization.Encoding.DER))
PY
size=$(stat -c %s "$work/ca.crl")
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
(cd "$work" && exec python3 -m http.server "$port" --bind 127.0.0.1 >/dev/null 2>&1) & pids+=($!)
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
data=$work/data
"$cm" --data-dir "$data" init >/dev/null
"$cm" --data-dir "$data" root import "$work/ca.pem" >/dev/null
url=http://127.0.0.1:$port/ca.crl
measure() { /usr/bin/time -f '%e %M' "$@" 2>&1 >/dev/null | tail -1; }
echo "CRL: $N entries, $size bytes"
read -r t m < <(measure curl -s -o /dev/null "$url")
echo "curl download:                  ${t} s, ${m} KiB peak"
read -r t m < <(measure openssl crl -inform DER -in "$work/ca.crl" -noout)
echo "openssl crl parse (file):       ${t} s, ${m} KiB peak"
read -r t m < <(measure "$cm" --data-dir "$data" crl update --url "$url" --max-size 200M)
echo "certmail crl update (in use):   ${t} s, ${m} KiB peak"
"$cm" --data-dir "$data" crl list | tail -2
read -r t m < <(measure "$cm" --data-dir "$data" crl update --url "$url" --max-size 200M)
echo "certmail crl update, unchanged: ${t} s, ${m} KiB peak (python http.server sends no ETag)"
