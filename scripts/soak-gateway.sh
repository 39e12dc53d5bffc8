#!/usr/bin/env bash
# Soak run of the gateway (issue 15, BENCHMARKS.md "Soak"): `certmail serve` (release, SQLite,
# the sample PKI) under SESSIONS concurrent SMTP sessions for SECONDS of mixed traffic
# (10 KB to 10 MiB; sign, encrypt, sign+encrypt, decrypt+verify; 1 to 50 recipients) from
# scripts/soak.py, into soak.py's sink, which goes away (kill -9) twice for 30 s and comes
# back; beside it rude clients (one byte a second, a never-ending header, 100,000 RCPT, a
# flood of idle connections every two minutes). Afterwards every recipient the source was told 250 for is looked for at the sink:
# lost, duplicated, RSS every 10 s, latency percentiles.
#
#   bash scripts/soak-gateway.sh [SECONDS] [SESSIONS]     # default 1800 s, 200 sessions
#   (CERTMAIL_BIN=path uses that binary instead of a release build; SOAK_RUDE=0 leaves out the
#   rude clients and SOAK_OUTAGES=0 the next hop's outages, for a baseline to compare with)
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_RUN=${1:-1800}
SESSIONS=${2:-200}
if [ -n "${CERTMAIL_BIN:-}" ]; then cm=$CERTMAIL_BIN; else
    cargo build --quiet --release -p certmail; cm=$PWD/target/release/certmail; fi
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
. scripts/lib-ports.sh

data=$work/data
c() { "$cm" --data-dir "$data" "$@" >/dev/null; }
c init
c root import samples/root.pem
c key import samples/alice.p12 --password-file samples/alice-password.txt
c domain set example.com locality internal
c user set alice@example.com sign on
c user set bob@example.com sign off

sink_port=$(port)
start_sink() { python3 scripts/soak.py sink "$sink_port" "$work/sink.rec" & sink_pid=$!; pids+=($sink_pid); wait_port "$sink_port"; }
start_sink

# One signed and encrypted message to alice, made by the gateway, for the inbound mode.
capture=$(port)
python3 - "$capture" "$work/cap.eml" <<'PY' &
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8)
data = b""
while not data:  # the gateway's next-hop probes connect and go: wait for the message
    c, _ = s.accept(); f = c.makefile("rb")
    try:
        c.sendall(b"220 cap\r\n")
        while True:
            l = f.readline()
            if l[:4].upper() == b"DATA":
                c.sendall(b"354 go\r\n")
                while (d := f.readline()) not in (b".\r\n", b""):
                    data += d[1:] if d.startswith(b"..") else d
                open(sys.argv[2], "wb").write(data); c.sendall(b"250 ok\r\n")
                break  # (the gateway may keep the connection for its next message)
            elif l[:4].upper() == b"QUIT" or not l:
                c.sendall(b"221 bye\r\n"); break
            else:
                c.sendall(b"250 ok\r\n")
    except OSError:
        pass
    c.close()
PY
cap_pid=$!
wait_port "$capture"
gw=$(port)
"$cm" --data-dir "$data" serve --smtp-listen 127.0.0.1:$gw --next-hop 127.0.0.1:$capture --http-listen 127.0.0.1:$(port) >/dev/null 2>&1 &
g=$!; wait_port "$gw"
printf 'From: alice@example.com\r\nTo: a.example@example.org\r\nSubject: seed\r\n\r\ninbound soak body\r\n' > "$work/seed.eml"
swaks --server 127.0.0.1:$gw --from alice@example.com --to a.example@example.org --data "@$work/seed.eml" --silent
wait $cap_pid; kill $g; wait $g 2>/dev/null || true
sed -n '/^X-Certmail-Id:/,$p' "$work/cap.eml" > "$work/inbound.eml"

gw=$(port)
"$cm" --data-dir "$data" serve --smtp-listen 127.0.0.1:$gw --next-hop 127.0.0.1:$sink_port \
    --http-listen 127.0.0.1:$(port) --max-message-size 100M --max-sessions 400 2>"$work/gateway.log" >/dev/null &
gw_pid=$!; pids+=($gw_pid); wait_port "$gw"

( while kill -0 "$gw_pid" 2>/dev/null; do echo "$(date +%s) $(awk '/^VmRSS/ {print $2}' /proc/$gw_pid/status)"; sleep 10; done ) > "$work/rss" &
pids+=($!)
python3 scripts/soak.py source "$gw" "$SECONDS_RUN" "$SESSIONS" "$work/acks" "$work/inbound.eml" > "$work/source.out" &
src=$!; pids+=($src)
for third in $([ "${SOAK_OUTAGES:-1}" = 1 ] && echo 1 2); do
    sleep $((SECONDS_RUN / 3 - 15))
    kill -9 "$sink_pid"; wait "$sink_pid" 2>/dev/null || true
    echo "next hop gone ($third)"; sleep 30; start_sink; echo "next hop back ($third)"
done
wait "$src"
sleep 2
echo "## Soak: $SECONDS_RUN s, $SESSIONS sessions ($(nproc) cores); source: $(cat "$work/source.out")"
python3 - "$work" <<'PY'
import collections, sys
w = sys.argv[1]
acked = collections.Counter(l.strip() for l in open(f"{w}/acks"))
seen = collections.Counter(l.strip() for l in open(f"{w}/sink.rec"))
lost = [k for k in acked if k not in seen]
dups = sum(n - 1 for n in seen.values() if n > 1)
retried = set(l.strip() for l in open(f"{w}/acks.retried"))
beyond = [k for k, n in seen.items() if n > 1 and k.split()[0] not in retried]
print(f"recipients acknowledged with 250: {sum(acked.values())} ({len(acked)} distinct); at the sink: {sum(seen.values())}")
print(f"lost (250 given, never at the sink): {len(lost)} {lost[:5]}")
print(f"duplicates at the sink: {dups}, all but {len(beyond)} of messages the source had to send again")
print(f"  (SMTP's at-least-once: a copy the sink took whose 250 did not reach the source); beyond that: {len(beyond)} {beyond[:5]}")
# What the policy says each copy must be: to the partner with a certificate, encrypted (encrypt,
# sign+encrypt); to the others of a signing sender, signed; inbound, decrypted (and still signed).
modes = dict(l.split() for l in open(f"{w}/acks.modes"))
wrong = collections.Counter()
for l in open(f"{w}/sink.rec.kinds"):
    ident, rcpt, kind = l.split()
    mode = modes.get(ident)
    if mode is None:
        continue  # a copy whose 250 never reached the source
    if mode in ("encrypt", "sign+encrypt") and rcpt == "a.example@example.org":
        want = "enveloped"
    elif mode == "decrypt+verify":
        want = "signed"  # decrypted; the signature inside stays for the reader's client
    elif mode in ("sign", "sign+encrypt"):
        want = "signed"
    else:
        want = "plain"
    if kind != want:
        wrong[(mode, want, kind)] += 1
kinds = collections.Counter(l.split()[2] for l in open(f"{w}/sink.rec.kinds"))
print(f"copies at the sink by form: {dict(kinds)}; not in the form the policy asks: {sum(wrong.values())} {dict(wrong)}")
lat = sorted(float(l.split()[0]) for l in open(f"{w}/acks.latency") if l.split()[1] == "250")
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]
print(f"latency end of data -> 250 at the source: p50 {q(0.5):.0f} ms, p99 {q(0.99):.0f} ms, max {lat[-1]:.0f} ms")
rss = [int(l.split()[1]) for l in open(f"{w}/rss") if len(l.split()) == 2]
n = len(rss)
print(f"RSS (every 10 s, {n} samples): first {rss[0]//1024} MiB, after 10% {rss[n//10]//1024} MiB, median {sorted(rss)[n//2]//1024} MiB, max {max(rss)//1024} MiB, last {rss[-1]//1024} MiB")
PY
echo "rude clients beside the traffic (kind: how many cut off, seconds each took, last reply):"
touch "$work/acks.rude"
python3 - "$work/acks.rude" <<'PY'
import collections, sys
by = collections.defaultdict(list)
for l in open(sys.argv[1]):
    kind, secs, last = (l.rstrip("\n").split(" ", 2) + [""])[:3]
    by[kind].append((float(secs), last))
for kind, rows in sorted(by.items()):
    secs = sorted(s for s, _ in rows)
    lasts = collections.Counter(l[:60] for _, l in rows).most_common(2)
    print(f"  {kind}: {len(rows)}, {secs[0]:.1f}-{secs[-1]:.1f} s (median {secs[len(secs)//2]:.1f}); {lasts}")
PY
echo "gateway log lines: $(grep -c ' ms=' "$work/gateway.log" || true) messages; deferred: $(grep -c 'reply=4' "$work/gateway.log" || true)"
