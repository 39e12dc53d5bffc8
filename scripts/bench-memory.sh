#!/usr/bin/env bash
# The memory budget (issue 25, item 7; BENCHMARKS.md "Memory budget"): SESSIONS concurrent
# smtp-source sessions each send one SIZE MiB message through `certmail serve`
# (pass-through, to smtp-sink) with `--max-memory BUDGET`; the gateway's peak resident set
# (VmHWM) is set against the budget. smtp-source treats a 452 as a failure and does not
# retry: the messages it reports refused are the ones an MTA would send again.
#
#   bash scripts/bench-memory.sh [SESSIONS] [SIZE_MIB] [BUDGET]   # default 200 40 1G
#   BIN=/path/to/certmail bash scripts/bench-memory.sh            # another binary
set -euo pipefail
cd "$(dirname "$0")/.."
SESSIONS=${1:-200}
SIZE=${2:-40}
BUDGET=${3:-1G}
if [ -z "${BIN:-}" ]; then
    cargo build --quiet --release -p certmail
    BIN=$PWD/target/release/certmail
fi
work=$(mktemp -d)
chmod 755 "$work"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
. scripts/lib-ports.sh

"$BIN" --data-dir "$work/data" init >/dev/null
sink=$(port)
smtp-sink -u nobody -c 127.0.0.1:$sink 1000 >/dev/null &
pids+=($!)
wait_port "$sink"
smtp=$(port)
extra=()
if "$BIN" serve --help | grep -q -- --max-memory; then extra=(--max-memory "$BUDGET"); fi
"$BIN" --data-dir "$work/data" serve --smtp-listen 127.0.0.1:$smtp --next-hop 127.0.0.1:$sink \
    --http-listen 127.0.0.1:$(port) --max-message-size 100M --max-sessions $((SESSIONS + 10)) \
    "${extra[@]}" 2>"$work/gw.log" >/dev/null &
gw=$!
pids+=($gw)
wait_port "$smtp"
idle=$(awk '/^VmRSS/ {print $2}' /proc/$gw/status)
t0=$(date +%s.%N)
smtp-source -s "$SESSIONS" -m "$SESSIONS" -l $((SIZE * 1024 * 1024)) -f a@outside.example -t b@elsewhere.example \
    127.0.0.1:$smtp >"$work/source.log" 2>&1 || true
t1=$(date +%s.%N)
peak=$(awk '/^VmHWM/ {print $2}' /proc/$gw/status)
ok=$(grep -c 'reply=250' "$work/gw.log" || true)
deferred=$(grep -c 'memory-budget\|452 4.3.1' "$work/gw.log" || true)
echo "$SESSIONS sessions x $SIZE MiB, budget ${extra[1]:-none}: peak RSS $((peak / 1024)) MiB (idle $((idle / 1024)) MiB), $ok acknowledged, $((SESSIONS - ok)) refused for now, $(python3 -c "print(round($t1 - $t0, 1))") s"
