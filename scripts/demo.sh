#!/usr/bin/env bash
# The README's first command: build certmail, initialise ./certmail-data (embedded SQLite,
# random master key), import the sample PKI, start the gateway (`certmail serve` on its
# default ports 127.0.0.1:10025, next hop 127.0.0.1:10026, HTTP 127.0.0.1:8080) and send
# mail through it: Alice's outgoing mail is signed and encrypted, and the same message sent
# back in to her arrives decrypted and verified. A small Python SMTP sink stands in for the
# MTA's reinjection port; swaks or Postfix are not needed. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet --release -p certmail
certmail=target/release/certmail
data=${CERTMAIL_DATA_DIR:-./certmail-data}
cm() { "$certmail" --data-dir "$data" "$@"; }
if [ ! -e "$data/master.key" ] && [ ! -e "$data/kek.json" ]; then
    cm init
fi
cm root import samples/root.pem >/dev/null
cm key import samples/alice.p12 --password-file samples/alice-password.txt >/dev/null
cm domain set example.com locality internal   # example.com is ours: its mail is signed, its inbound mail decrypted
cm global set sign on

for port in 10025 10026 8080; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "port $port is in use: stop what listens there and run again" >&2
        exit 1
    fi
done
work=$(mktemp -d)
cleanup() {
    [ -n "${gw:-}" ] && kill "$gw" 2>/dev/null && wait "$gw" 2>/dev/null
    [ -n "${sink:-}" ] && kill "$sink" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
python3 scripts/sink.py 127.0.0.1:10026 "$work/arrived" &
sink=$!
"$certmail" --data-dir "$data" serve 2>"$work/gateway.log" &
gw=$!
# Both the gateway and the sink must listen before the first message (the sink, a Python
# process, can come up after the gateway).
for port in 10025 10026; do
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.1
    done
done
send() { # FROM TO FILE: one SMTP transaction with Python's smtplib, prints the reply
    python3 - "$@" <<'PY'
import smtplib, sys
with smtplib.SMTP("127.0.0.1", 10025) as s:
    s.ehlo("demo")
    s.sendmail(sys.argv[1], [sys.argv[2]], open(sys.argv[3], "rb").read())
    print("gateway:", s.noop()[1].decode() and "250 accepted")
PY
}
echo "== outgoing: alice@example.com -> a.example@example.org (a partner address on Alice's sample certificate)"
printf 'From: Alice Example <alice@example.com>\r\nTo: a.example@example.org\r\nSubject: certmail gateway demo\r\n\r\nThis text left the gateway signed and encrypted.\r\n' >"$work/out.eml"
send alice@example.com a.example@example.org "$work/out.eml"
sleep 0.3
echo "-- what the next hop received (first lines):"
sed -n '1,14p' "$work/arrived/1.eml"
echo "== incoming: the same encrypted message sent to alice@example.com"
send partner@example.org alice@example.com "$work/arrived/1.eml"
sleep 0.3
echo "-- what Alice receives: decrypted, with the report headers"
awk '/^\r?$/ {exit} /^[^ \t]/ {show = /^(X-Certmail-|Subject:)/} show' "$work/arrived/2.eml"
grep -F 'This text left the gateway' "$work/arrived/2.eml"
echo "== the gateway's log (one line per message) and a metric"
cat "$work/gateway.log"
curl -s http://127.0.0.1:8080/metrics 2>/dev/null | grep '^certmail_messages_total' || true
