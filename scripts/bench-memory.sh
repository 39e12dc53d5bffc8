#!/usr/bin/env bash
# The memory budget (issue 25, item 7; BENCHMARKS.md "Memory budget"): SESSIONS concurrent
# smtp-source sessions each send one SIZE MiB message through `certmail serve`
# (pass-through, to smtp-sink) with `--max-memory BUDGET`; the gateway's peak resident set
# (VmHWM) is set against the budget. smtp-source sends no SIZE= and does not retry a 452;
# with DECLARE=1 a client sends SIZE= (as Postfix does) and tries a 452 again a second later.
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
if [ -n "${DECLARE:-}" ]; then
    # As Postfix sends it: MAIL FROM with SIZE=, and a 452 tried again after a second.
    python3 - "$smtp" "$SESSIONS" "$SIZE" <<'PY'
import socket, sys, threading, time
port, n, mib = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
line = b"x" * 78 + b"\r\n"
body = b"From: a@outside.example\r\nSubject: big\r\n\r\n" + line * (mib * 1024 * 1024 // len(line)) + b".\r\n"
def reply(f):
    while True:
        l = f.readline()
        if not l or l[3:4] != b"-":
            return l
def one():
    for _ in range(60):
        s = socket.create_connection(("127.0.0.1", port)); f = s.makefile("rb")
        reply(f)
        for c in (b"EHLO x", b"MAIL FROM:<a@outside.example> SIZE=%d" % len(body), b"RCPT TO:<b@elsewhere.example>", b"DATA"):
            s.sendall(c + b"\r\n"); reply(f)
        s.sendall(body); r = reply(f); s.close()
        if r.startswith(b"250"):
            return
        time.sleep(1)
ts = [threading.Thread(target=one) for _ in range(n)]
[t.start() for t in ts]; [t.join() for t in ts]
PY
else
    smtp-source -s "$SESSIONS" -m "$SESSIONS" -l $((SIZE * 1024 * 1024)) -f a@outside.example -t b@elsewhere.example \
        127.0.0.1:$smtp >"$work/source.log" 2>&1 || true
fi
t1=$(date +%s.%N)
peak=$(awk '/^VmHWM/ {print $2}' /proc/$gw/status)
ok=$(grep -c 'reply=250' "$work/gw.log" || true)
deferred=$(grep -c 'reply=452' "$work/gw.log" || true)
echo "$SESSIONS sessions x $SIZE MiB${DECLARE:+ (SIZE= declared, 452 retried)}, budget ${extra[1]:-none}: peak RSS $((peak / 1024)) MiB (idle $((idle / 1024)) MiB), $ok of $SESSIONS acknowledged, $deferred answers 452, $(python3 -c "print(round($t1 - $t0, 1))") s"
