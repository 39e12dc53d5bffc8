#!/usr/bin/env bash
# Gateway benchmark (BENCHMARKS.md "SMTP gateway"): Postfix's smtp-source into `certmail serve`,
# certmail into smtp-sink, 20 concurrent sessions, 10 KB messages, RSA-2048 (the sample PKI),
# beside smtp-source straight into smtp-sink (the SMTP ceiling) and `openssl speed rsa2048` on
# both cores (the signing limit), all in one run. Latency percentiles come from the gateway's
# per-message log lines (end of data to reply, next hop included). Also: peak memory for a
# 50 MiB message, and resident memory over 100,000 messages.
#
#   bash scripts/bench-gateway.sh [MESSAGES]      # default 20000 per mode
#   CERTMAIL_BIN=path/to/certmail QUICK=1 bash scripts/bench-gateway.sh 5000
#       # a given binary (no build), the mode table only (scripts/release-profile.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20000}
LONG=${LONG:-100000}
WARM=${WARM:-$((N / 10))}
if [ -n "${CERTMAIL_BIN:-}" ]; then
    cm=$(realpath "$CERTMAIL_BIN")
else
    cargo build --quiet --release -p certmail
    cm=$PWD/target/release/certmail
fi
work=$(mktemp -d)
chmod 755 "$work"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
. scripts/lib-ports.sh

data=$work/data
c() { "$cm" --data-dir "$data" "$@" >/dev/null; }
c init
c root import samples/root.pem
c key import samples/alice.p12 --password-file samples/alice-password.txt
c domain set example.com locality internal
c user set alice@example.com sign on        # alice signs; bob@example.com does not
c user set bob@example.com sign off

sink_port=$(port)
smtp-sink -u nobody -c 127.0.0.1:$sink_port 1000 >/dev/null &
pids+=($!)
wait_port "$sink_port"

start_gw() { # LOGFILE -> sets gw_port, gw_pid
    gw_port=$(port)
    "$cm" --data-dir "$data" serve --smtp-listen 127.0.0.1:$gw_port --next-hop 127.0.0.1:$sink_port \
        --http-listen 127.0.0.1:$(port) --max-message-size 100M 2>"$1" >/dev/null &
    gw_pid=$!
    pids+=($gw_pid)
    wait_port "$gw_port"
}
stop_gw() { kill "$gw_pid"; wait "$gw_pid" 2>/dev/null || true; }
rate() { python3 -c "print(round($1 / ($3 - $2)))"; }
pct() { # LOGFILE -> "p50 p99" in ms
    python3 - "$1" <<'PY'
import re, sys
v = sorted(float(m.group(1)) for m in (re.search(r" ms=([0-9.]+) reply=250", l) for l in open(sys.argv[1])) if m)
if not v: print("- -"); sys.exit()
q = lambda p: v[min(len(v) - 1, int(p * len(v)))]
print("%.1f %.1f" % (q(0.50), q(0.99)))
PY
}
rss_kb() { awk '/^VmRSS/ {print $2}' /proc/$1/status; }
hwm_kb() { awk '/^VmHWM/ {print $2}' /proc/$1/status; }

echo "## SMTP gateway ($N messages per mode, 20 sessions, 10 KB, RSA-2048; $(nproc) cores)"
echo
t0=$(date +%s.%N); smtp-source -d -s 20 -l 10240 -m "$N" -f a@outside.example -t b@elsewhere.example 127.0.0.1:$sink_port; t1=$(date +%s.%N)
ceiling=$(rate "$N" "$t0" "$t1")
echo "| mode | messages/s | ratio to the SMTP ceiling | p50 ms | p99 ms |"
echo "| --- | ---: | ---: | ---: | ---: |"
echo "| smtp-source -> smtp-sink (ceiling) | $ceiling | 1.00 | | |"

# A signed+encrypted message for the decrypt+verify mode, made by the gateway itself.
capture=$(port)
mkdir -p "$work/cap" && chmod 777 "$work/cap"
smtp-sink -u nobody -d "$work/cap/%M." 127.0.0.1:$capture 10 >/dev/null &
cap_pid=$!; pids+=($cap_pid); wait_port "$capture"
gw_port=$(port)
"$cm" --data-dir "$data" serve --smtp-listen 127.0.0.1:$gw_port --next-hop 127.0.0.1:$capture --http-listen 127.0.0.1:$(port) >/dev/null 2>&1 &
gw_pid=$!; pids+=($gw_pid); wait_port "$gw_port"
smtp-source -l 10240 -m 1 -f alice@example.com -t a.example@example.org 127.0.0.1:$gw_port
sleep 0.5; stop_gw; kill $cap_pid
# Strip smtp-sink's trace headers (everything before the gateway's own header).
# smtp-source -F sends each line with CRLF itself: the file has LF line ends.
sed -n '/^X-Certmail-Id:/,$p' "$(ls "$work"/cap/* | head -1)" | tr -d '\r' > "$work/inbound.eml"

run_mode() { # NAME FROM TO [FILE]
    local log=$work/$1.log
    start_gw "$log"
    local args=(-d -s 20 -m "$N" -f "$2" -t "$3")
    if [ -n "${4:-}" ]; then args+=(-F "$4"); else args+=(-l 10240); fi
    # Untimed warm-up (a tenth of N): the timed messages meet warm caches (parsed keys,
    # recipient look-ups) and pooled next-hop connections, as a running gateway's do.
    local warm=("${args[@]}")
    warm[4]=$WARM
    smtp-source "${warm[@]}" 127.0.0.1:$gw_port
    local skip; skip=$(wc -l < "$log")
    local t0 t1
    t0=$(date +%s.%N); smtp-source "${args[@]}" 127.0.0.1:$gw_port; t1=$(date +%s.%N)
    local r; r=$(rate "$N" "$t0" "$t1")
    last_rate=$r
    tail -n +$((skip + 1)) "$log" > "$log.timed"
    local ok; ok=$(grep -c 'reply=250' "$log.timed" || true)
    read -r p50 p99 < <(pct "$log.timed")
    echo "| $1 | $r | $(python3 -c "print('%.2f' % ($r / $ceiling))") | $p50 | $p99 |"
    rss_after=$(rss_kb "$gw_pid")
    stop_gw
    if [ "$ok" -ne "$N" ]; then echo "   ($1: only $ok of $N acknowledged with 250)" | tee /dev/stderr; fi
}
run_mode pass-through a@outside.example b@elsewhere.example
run_mode sign alice@example.com plain@example.org
run_mode encrypt bob@example.com a.example@example.org
run_mode sign+encrypt alice@example.com a.example@example.org
run_mode decrypt+verify partner@example.org alice@example.com "$work/inbound.eml"
echo
if [ -n "${QUICK:-}" ]; then exit 0; fi
speed() { openssl speed -multi "$(nproc)" -seconds 3 rsa2048 2>/dev/null | awk '/^rsa 2048 bits/ {print $6}'; }
speed=$(speed)
echo "openssl speed -multi $(nproc) rsa2048: ${speed} signs/s (the signing limit on all cores, same run)"
echo
# The signing-limit ratio: this machine's speed drifts by several percent within minutes, so
# sign+encrypt is measured ROUNDS more times, each between two openssl speed runs, and each
# rate is set against the mean of the two limits around it; the median ratio is the figure.
ROUNDS=${ROUNDS:-3}
echo "| round | sign+encrypt messages/s | openssl speed before | after | ratio to their mean |"
echo "| ---: | ---: | ---: | ---: | ---: |"
ratios=()
for i in $(seq "$ROUNDS"); do
    before=$(speed)
    run_mode "sign+encrypt-$i" alice@example.com a.example@example.org >/dev/null
    after=$(speed)
    ratio=$(python3 -c "print('%.3f' % ($last_rate * 2 / ($before + $after)))")
    ratios+=("$ratio")
    echo "| $i | $last_rate | $before | $after | $ratio |"
done
echo
echo "sign+encrypt / two-core RSA signing limit, median of $ROUNDS rounds: $(printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')"
echo

# Memory: one 50 MiB message (peak resident set of a fresh gateway), relayed and encrypted.
python3 - "$work/big.eml" <<'PY'
import sys
with open(sys.argv[1], "wb") as f:
    f.write(b"From: alice@example.com\nTo: a.example@example.org\nSubject: big\n\n")
    line = b"x" * 77 + b"\n"
    f.write(line * (50 * 1024 * 1024 // len(line)))
PY
size_kb=$(( $(stat -c %s "$work/big.eml") / 1024 ))
for mode in "pass-through a@outside.example b@elsewhere.example" "encrypt bob@example.com a.example@example.org" "sign+encrypt alice@example.com a.example@example.org"; do
    set -- $mode
    start_gw "$work/big-$1.log"
    base=$(rss_kb "$gw_pid")
    smtp-source -F "$work/big.eml" -m 1 -f "$2" -t "$3" 127.0.0.1:$gw_port
    peak=$(hwm_kb "$gw_pid")
    echo "50 MiB message, $1: peak RSS $((peak / 1024)) MiB (idle $((base / 1024)) MiB) = $(python3 -c "print('%.2f' % ($peak / $size_kb))")x the message; acknowledged: $(grep -c 'reply=250' "$work/big-$1.log")"
    stop_gw
done

# Memory over many messages (pass-through and sign+encrypt): resident set after 10% and after all.
for mode in "pass-through a@outside.example b@elsewhere.example" "sign+encrypt alice@example.com a.example@example.org"; do
    set -- $mode
    start_gw "$work/long-$1.log"
    smtp-source -d -s 20 -l 10240 -m $((LONG / 10)) -f "$2" -t "$3" 127.0.0.1:$gw_port
    early=$(rss_kb "$gw_pid")
    smtp-source -d -s 20 -l 10240 -m $((LONG - LONG / 10)) -f "$2" -t "$3" 127.0.0.1:$gw_port
    late=$(rss_kb "$gw_pid")
    echo "$LONG messages $1: RSS $((early / 1024)) MiB after $((LONG / 10)), $((late / 1024)) MiB after $LONG; acknowledged: $(grep -c 'reply=250' "$work/long-$1.log")"
    stop_gw
done
