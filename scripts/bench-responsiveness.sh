#!/usr/bin/env bash
# The admin port under full S/MIME load (issue 25, item 8; BENCHMARKS.md "Responsiveness
# under load"): while smtp-source drives sign+encrypt (then decrypt+verify) through
# `certmail serve` with 20 sessions, a probe asks GET /healthz and
# GET /api/v1/certificates?email= every 20 ms on fresh connections and records each answer's
# latency. Run for this tree's binary and, with BASE=path/to/certmail, for another one in the
# same run, side by side (throughput and latency percentiles).
#
#   bash scripts/bench-responsiveness.sh [MESSAGES]            # default 10000 per mode
#   BASE=/tmp/certmail-before bash scripts/bench-responsiveness.sh 10000
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000}
cargo build --quiet --release -p certmail
new=$PWD/target/release/certmail
work=$(mktemp -d)
chmod 755 "$work"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
. scripts/lib-ports.sh

sink_port=$(port)
smtp-sink -u nobody -c 127.0.0.1:$sink_port 1000 >/dev/null &
pids+=($!)
wait_port "$sink_port"

cat > "$work/probe.py" <<'PY'
# probe.py OUT TOKEN HTTP_PORT: until OUT.stop exists, GET /healthz and the certificate
# look-up alternately every 20 ms, each on a new connection; one "kind ms status" line each.
import http.client, os, sys, time
out, token, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
paths = [("healthz", "/healthz", {}),
         ("lookup", "/api/v1/certificates?email=alice@example.com",
          {"Authorization": "Bearer " + token})]
with open(out, "w") as f:
    i = 0
    while not os.path.exists(out + ".stop"):
        kind, path, headers = paths[i % 2]
        i += 1
        t = time.perf_counter()
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            c.request("GET", path, headers=headers)
            r = c.getresponse()
            r.read()
            status = r.status
            c.close()
        except Exception as e:
            status = "error:" + type(e).__name__
        f.write("%s %.3f %s\n" % (kind, (time.perf_counter() - t) * 1e3, status))
        f.flush()
        time.sleep(0.02)
PY
stats() { # FILE KIND -> "n p50 p99 max bad"
    python3 - "$1" "$2" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.startswith(sys.argv[2] + " ")]
v = sorted(float(r[1]) for r in rows)
bad = sum(1 for r in rows if r[2] != "200")
if not v: print("0 - - - 0"); sys.exit()
q = lambda p: v[min(len(v) - 1, int(p * len(v)))]
print("%d %.1f %.1f %.1f %d" % (len(v), q(0.5), q(0.99), v[-1], bad))
PY
}

run_binary() { # LABEL BINARY
    local label=$1 cm=$2 data=$work/data-$1
    c() { "$cm" --data-dir "$data" "$@" >/dev/null; }
    c init
    c root import samples/root.pem
    c key import samples/alice.p12 --password-file samples/alice-password.txt
    c domain set example.com locality internal
    c user set alice@example.com sign on
    c admin add eye --role auditor
    local token; token=$("$cm" --data-dir "$data" admin token eye | tail -1)
    local smtp http; smtp=$(port); http=$(port)
    # The decrypt+verify input: one signed+encrypted message made by this gateway.
    local cap; cap=$(port)
    mkdir -p "$work/cap-$label" && chmod 777 "$work/cap-$label"
    smtp-sink -u nobody -d "$work/cap-$label/%M." 127.0.0.1:$cap 10 >/dev/null &
    local cap_pid=$!; pids+=($cap_pid); wait_port "$cap"
    "$cm" --data-dir "$data" serve --smtp-listen 127.0.0.1:$smtp --next-hop 127.0.0.1:$cap \
        --http-listen 127.0.0.1:$http >/dev/null 2>&1 &
    local gw=$!; pids+=($gw); wait_port "$smtp"
    smtp-source -l 10240 -m 1 -f alice@example.com -t a.example@example.org 127.0.0.1:$smtp
    sleep 0.5; kill "$gw"; wait "$gw" 2>/dev/null || true; kill "$cap_pid"
    sed -n '/^X-Certmail-Id:/,$p' "$(ls "$work/cap-$label"/* | head -1)" | tr -d '\r' > "$work/inbound-$label.eml"

    "$cm" --data-dir "$data" serve --smtp-listen 127.0.0.1:$smtp --next-hop 127.0.0.1:$sink_port \
        --http-listen 127.0.0.1:$http >/dev/null 2>"$work/gw-$label.log" &
    gw=$!; pids+=($gw); wait_port "$smtp"; wait_port "$http"
    # Idle: the probe alone for 3 s.
    python3 "$work/probe.py" "$work/idle-$label" "$token" "$http" &
    local probe=$!; sleep 3; touch "$work/idle-$label.stop"; wait "$probe"
    for mode in "sign+encrypt alice@example.com a.example@example.org" "decrypt+verify partner@example.org alice@example.com"; do
        set -- $mode
        local body=(-l 10240)
        if [ "$1" = "decrypt+verify" ]; then body=(-F "$work/inbound-$label.eml"); fi
        local args=(-d -s 20 -m "$N" -f "$2" -t "$3" "${body[@]}")
        smtp-source -d -s 20 -m $((N / 10)) -f "$2" -t "$3" "${body[@]}" 127.0.0.1:$smtp   # warm-up
        local out="$work/load-$label-$1"
        python3 "$work/probe.py" "$out" "$token" "$http" &
        probe=$!
        local t0 t1; t0=$(date +%s.%N); smtp-source "${args[@]}" 127.0.0.1:$smtp; t1=$(date +%s.%N)
        touch "$out.stop"; wait "$probe"
        local rate; rate=$(python3 -c "print(round($N / ($t1 - $t0)))")
        read -r hn hp50 hp99 hmax hbad < <(stats "$out" healthz)
        read -r ln lp50 lp99 lmax lbad < <(stats "$out" lookup)
        echo "| $label | $1 | $rate | $hp50 / $hp99 / $hmax ($hn, $hbad not 200) | $lp50 / $lp99 / $lmax ($ln, $lbad not 200) |"
    done
    read -r hn hp50 hp99 hmax hbad < <(stats "$work/idle-$label" healthz)
    read -r ln lp50 lp99 lmax lbad < <(stats "$work/idle-$label" lookup)
    echo "| $label | idle | | $hp50 / $hp99 / $hmax ($hn) | $lp50 / $lp99 / $lmax ($ln) |"
    kill "$gw"; wait "$gw" 2>/dev/null || true
}

echo "## Responsiveness under load ($N messages per mode, 20 sessions, 10 KB, RSA-2048; $(nproc) cores)"
echo
echo "| binary | load | messages/s | /healthz ms p50 / p99 / max (n) | /api/v1/certificates?email= ms p50 / p99 / max (n) |"
echo "| --- | --- | ---: | --- | --- |"
if [ -n "${BASE:-}" ]; then run_binary base "$BASE"; fi
run_binary new "$new"
if [ -n "${BASE:-}" ]; then run_binary base-again "$BASE"; fi
