#!/usr/bin/env bash
# The CRL download job inside a busy gateway (BENCHMARKS.md "CRL download while serving"):
# `certmail serve` (jobs on) carries sign+encrypt traffic from smtp-source (20 sessions,
# 10 KB, RSA-2048) into smtp-sink while its runner downloads, verifies and stores a CRL of
# N entries (default 1,000,000, made by `openssl ca -gencrl`) from a local HTTP server.
# Reports the time until the CRL is in use, and the gateway's latency (p50/p99, from its
# per-message log lines) during the download and after it, beside a run without it.
#
#   bash scripts/bench-crl-while-serving.sh [ENTRIES] [MESSAGES]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
M=${2:-20000}
cargo build --quiet --release -p certmail
cm=$PWD/target/release/certmail
work=$(mktemp -d)
chmod 755 "$work"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
. scripts/lib-ports.sh

# The CA, its CRL of N entries and a partner certificate naming the CRL's URL.
http_port=$(port)
url=http://127.0.0.1:$http_port/ca.crl
. scripts/big-crl.sh
big_crl "$work" "$N"
openssl req -newkey rsa:2048 -nodes -keyout "$work/p.key" -subj "/CN=Partner/emailAddress=p@crl.example" \
    -out "$work/p.csr" 2>/dev/null
printf 'subjectAltName=email:p@crl.example\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=emailProtection\ncrlDistributionPoints=URI:%s\n' "$url" > "$work/p.ext"
openssl x509 -req -in "$work/p.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -set_serial 7 -days 300 \
    -extfile "$work/p.ext" -out "$work/p.pem" 2>/dev/null
size=$(stat -c %s "$work/ca.crl")
(cd "$work" && exec python3 -m http.server "$http_port" --bind 127.0.0.1 >/dev/null 2>&1) & pids+=($!)
wait_port "$http_port"

data=$work/data
c() { "$cm" --data-dir "$data" "$@" >/dev/null; }
c init
c root import samples/root.pem "$work/ca.pem"
c key import samples/alice.p12 --password-file samples/alice-password.txt
c domain set example.com locality internal
c user set alice@example.com sign on

sink_port=$(port)
smtp-sink -u nobody -c 127.0.0.1:$sink_port 1000 >/dev/null &
pids+=($!)
wait_port "$sink_port"

start_gw() { # LOGFILE [serve args...] -> gw_port, gw_pid
    local log=$1; shift
    gw_port=$(port)
    "$cm" --data-dir "$data" serve --smtp-listen 127.0.0.1:$gw_port --next-hop 127.0.0.1:$sink_port \
        --http-listen 127.0.0.1:$(port) --crl-max-size 200M "$@" 2>"$log" >/dev/null &
    gw_pid=$!
    pids+=($gw_pid)
    wait_port "$gw_port"
}
stop_gw() { kill "$gw_pid"; wait "$gw_pid" 2>/dev/null || true; }
pct() { # LOGFILE FROM UNTIL (Unix seconds; the log's stamps have 1 s resolution) -> "count p50 p99"
    python3 - "$@" <<'PY'
import re, sys, datetime
log, lo, hi = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
v = []
for l in open(log):
    m = re.match(r"(\S+Z) certmail-gateway: .* ms=([0-9.]+) reply=250", l)
    if not m: continue
    t = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()
    if lo <= t < hi: v.append(float(m.group(2)))
v.sort()
if not v: print("0 - -"); sys.exit()
q = lambda p: v[min(len(v) - 1, int(p * len(v)))]
print("%d %.1f %.1f" % (len(v), q(0.50), q(0.99)))
PY
}

echo "## CRL download while serving ($N entries, $size bytes; sign+encrypt, 20 sessions, 10 KB; $(nproc) cores)"
echo
# 1. Without the CRL job (--no-jobs): the baseline.
start_gw "$work/base.log" --no-jobs
t0=$(date +%s); smtp-source -d -s 20 -l 10240 -m "$M" -f alice@example.com -t p@crl.example 127.0.0.1:$gw_port; t1=$(date +%s)
stop_gw
read -r n50 b50 b99 < <(pct "$work/base.log" 0 9999999999)
echo "| run | messages | p50 ms | p99 ms |"
echo "| --- | ---: | ---: | ---: |"
echo "| no job running (baseline) | $n50 | $b50 | $b99 |"

# 2. The partner's certificate registers the CRL source; serve downloads it at start while
# the same traffic runs.
c cert import "$work/p.pem"
start_gw "$work/crl.log"
s0=$(date +%s.%N)
smtp-source -d -s 20 -l 10240 -m "$M" -f alice@example.com -t p@crl.example 127.0.0.1:$gw_port &
src=$!
done_at=""
for _ in $(seq 1200); do
    if "$cm" --data-dir "$data" crl sources --json 2>/dev/null | grep -q '"last_success": *[0-9]'; then
        done_at=$(date +%s.%N); break
    fi
    sleep 0.1
done
wait "$src"
s1=$(date +%s)
stop_gw
[ -n "$done_at" ] || { echo "the CRL was not downloaded within 120 s"; grep crl-download "$work/crl.log" | tail -3; exit 1; }
secs=$(python3 -c "print('%.2f' % ($done_at - $s0))")
read -r nd d50 d99 < <(pct "$work/crl.log" 0 "$(python3 -c "print(int($done_at) + 1)")")
read -r na a50 a99 < <(pct "$work/crl.log" "$(python3 -c "print(int($done_at) + 1)")" 9999999999)
echo "| during the CRL download and import | $nd | $d50 | $d99 |"
echo "| after it (CRL in use) | $na | $a50 | $a99 |"
echo
echo "CRL in use ${secs} s after serve started (download, verify, store), while the gateway carried the traffic;"
echo "acknowledged: $(grep -c 'reply=250' "$work/crl.log") of $M; $(grep crl-download "$work/crl.log" | tail -1)"
"$cm" --data-dir "$data" crl list | tail -1
"$cm" --data-dir "$data" cert verify "$(awk '/BEGIN/{f=1} f' "$work/p.pem" | openssl x509 -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | tr A-F a-f)" | head -2
