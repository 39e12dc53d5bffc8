#!/usr/bin/env bash
# CRL download benchmark (BENCHMARKS.md "CRL download"): a CRL of N revoked entries (default
# 1,000,000) made by `openssl ca -gencrl`, served by a local HTTP server, fetched and put
# in use by `certmail crl update --url`, beside `curl` fetching the same file and
# `openssl crl` parsing it (the peers, in the same run). Reports wall time and peak memory.
#
#   bash scripts/bench-crl-download.sh [ENTRIES]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
cargo build --quiet --release -p certmail
cm=$PWD/target/release/certmail
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

# The CA and its CRL of N revoked serials (scripts/big-crl.sh).
. scripts/big-crl.sh
big_crl "$work" "$N"
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
