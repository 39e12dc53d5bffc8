#!/usr/bin/env bash
# The Debian package's test (run by .ci/run as root; changes the machine, then undoes it):
# install with dpkg -i, check what postinst made and `systemd-analyze verify` on the unit,
# run `certmail init` and `certmail serve` (with the packaged config) as the certmail user in
# a private directory and send one message through it, then `dpkg -r` (data and configuration
# kept) and `dpkg --purge` (nothing of the package left).
#
#   bash scripts/package-test.sh target/debian/certmail_VERSION_ARCH.deb
set -euo pipefail
cd "$(dirname "$0")/.."
deb=$(realpath "$1")
[ "$(id -u)" -eq 0 ] || { echo "package-test: needs root (dpkg -i)" >&2; exit 1; }
. scripts/lib-ports.sh

fail() { echo "package-test: FAILED: $*" >&2; exit 1; }
ok() { echo "package-test: ok: $*"; }
work=$(mktemp -d)
chmod 755 "$work"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$work"
    # Whatever happened, the machine is left without the package.
    if dpkg-query -W certmail >/dev/null 2>&1; then dpkg --purge certmail >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

if dpkg-query -W -f='${Status}' certmail 2>/dev/null | grep -q 'installed\|config-files'; then
    dpkg --purge certmail >/dev/null
fi
[ ! -e /usr/bin/certmail ] || fail "/usr/bin/certmail exists before the package is installed"

dpkg -i "$deb" >"$work/dpkg-i.log" 2>&1 || { cat "$work/dpkg-i.log"; fail "dpkg -i"; }
ok "dpkg -i $(basename "$deb")"
dpkg -L certmail | sort > "$work/files"

# What the package put there.
getent passwd certmail | grep -q ':/var/lib/certmail:/usr/sbin/nologin$' || fail "certmail system user"
[ "$(stat -c '%a %U' /var/lib/certmail)" = "700 certmail" ] || fail "/var/lib/certmail is not 0700 certmail"
[ "$(stat -c '%a %U' /var/lib/certmail/master.key)" = "600 certmail" ] || fail "postinst's init: master.key"
[ "$(stat -c '%a %G' /etc/certmail/certmail.toml)" = "640 certmail" ] || fail "certmail.toml mode"
grep -qx '/etc/certmail/certmail.toml' /var/lib/dpkg/info/certmail.conffiles || fail "conffile"
if readelf -S /usr/bin/certmail | grep -q '\.debug_info'; then fail "the shipped binary carries debug info"; fi
readelf -S /usr/bin/certmail | grep -q '\.gnu_debuglink' || fail "no link to the debug file"
/usr/bin/certmail --version | grep -q '^certmail ' || fail "certmail --version"
for page in certmail certmail-serve certmail-backup certmail-restore certmail-ca-issue; do
    [ -s "/usr/share/man/man1/$page.1.gz" ] || fail "man page $page"
done
zcat /usr/share/man/man1/certmail-serve.1.gz | grep -q -- 'smtp\\-listen' || fail "certmail-serve(1) lists --smtp-listen"
grep -q 'certmail' /usr/share/bash-completion/completions/certmail || fail "bash completion"
[ -s /usr/share/zsh/vendor-completions/_certmail ] || fail "zsh completion"
[ -s /usr/share/fish/vendor_completions.d/certmail.fish ] || fail "fish completion"
ok "user, /var/lib/certmail (0700, initialised), conffile, stripped binary, $(ls /usr/share/man/man1/certmail*.1.gz | wc -l) man pages, completions"

# The unit: systemd's own checker, and the hardening the package promises.
unit=/lib/systemd/system/certmail.service
systemd-analyze verify --man=no "$unit" >"$work/verify.log" 2>&1 || { cat "$work/verify.log"; fail "systemd-analyze verify"; }
if grep -v 'Failed to connect to bus\|systemd is not running\|Unknown lvalue .ProtectProc\|/run/systemd' "$work/verify.log" | grep -q .; then
    cat "$work/verify.log"; fail "systemd-analyze verify printed warnings"
fi
for line in 'User=certmail' 'StateDirectory=certmail' 'StateDirectoryMode=0700' 'ProtectSystem=strict' \
    'ProtectHome=yes' 'PrivateTmp=yes' 'NoNewPrivileges=yes' 'CapabilityBoundingSet=' \
    'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6' 'SystemCallFilter=@system-service' \
    'MemoryDenyWriteExecute=yes' 'ExecStart=/usr/bin/certmail serve --config /etc/certmail/certmail.toml'; do
    grep -qx "$line" "$unit" || fail "the unit lacks '$line'"
done
ok "systemd-analyze verify $unit; hardening in place"

# init and serve as the certmail user in a private directory, one message through.
priv=$work/private
install -d -m 700 -o certmail -g certmail "$priv"
runuser -u certmail -- /usr/bin/certmail --data-dir "$priv/data" init >/dev/null || fail "init as certmail"
[ "$(stat -c '%U' "$priv/data/certmail.db")" = certmail ] || fail "database owned by certmail"
sink_port=$(port); smtp_port=$(port); http_port=$(port)
mkdir -p "$work/sink" && chmod 777 "$work/sink"
smtp-sink -u nobody -d "$work/sink/%M." "127.0.0.1:$sink_port" 10 >/dev/null 2>&1 &
pids+=($!)
wait_port "$sink_port"
runuser -u certmail -- /usr/bin/certmail --data-dir "$priv/data" serve --config /etc/certmail/certmail.toml \
    --smtp-listen "127.0.0.1:$smtp_port" --next-hop "127.0.0.1:$sink_port" \
    --http-listen "127.0.0.1:$http_port" --log-format json 2>"$work/serve.log" >/dev/null &
pids+=($!)
wait_port "$smtp_port"
printf 'From: a@outside.example\r\nTo: b@elsewhere.example\r\nSubject: through the package\r\n\r\npackaged hello\r\n' > "$work/msg.eml"
swaks --server "127.0.0.1:$smtp_port" --from a@outside.example --to b@elsewhere.example \
    --data "@$work/msg.eml" --silent 2 || fail "swaks through the packaged certmail"
for _ in $(seq 100); do
    if grep -lq 'packaged hello' "$work"/sink/* 2>/dev/null; then break; fi
    sleep 0.1
done
grep -lq 'packaged hello' "$work"/sink/* 2>/dev/null || fail "the message did not reach the sink"
python3 - "$http_port" <<'PY' || fail "/readyz"
import sys, urllib.request
with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/readyz", timeout=10) as r:
    assert r.status == 200, r.status
PY
python3 - "$work/serve.log" <<'PY' || { cat "$work/serve.log"; fail "no JSON log line of the message"; }
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
msg = [l for l in lines if l.get("from") == "a@outside.example"]
assert msg and msg[0]["outcome"] == "accepted" and msg[0]["reply"] == 250, lines
assert msg[0]["to"][0]["action"] == "relayed", lines
PY
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
ok "init + serve as the certmail user, one message through to the sink, /readyz 200"

# remove: the binary goes; data and configuration stay.
dpkg -r certmail >/dev/null 2>&1 || fail "dpkg -r"
[ ! -e /usr/bin/certmail ] || fail "/usr/bin/certmail left after dpkg -r"
[ -e /var/lib/certmail/master.key ] || fail "dpkg -r removed the data directory"
[ -e /etc/certmail/certmail.toml ] || fail "dpkg -r removed the configuration"
ok "dpkg -r keeps /var/lib/certmail and /etc/certmail"

# purge: nothing of the package left.
dpkg --purge certmail >/dev/null 2>&1 || fail "dpkg --purge"
left=()
while read -r f; do
    case "$f" in /|/etc|/lib|/usr|/usr/bin|/usr/share|/usr/share/*/|/lib/systemd|/lib/systemd/system) continue ;; esac
    # Shared directories (man1, completions) stay; files and certmail's own directories go.
    if [ -e "$f" ] && { [ ! -d "$f" ] || [[ "$f" == *certmail* ]]; }; then left+=("$f"); fi
done < "$work/files"
for f in /var/lib/certmail /etc/certmail; do [ ! -e "$f" ] || left+=("$f"); done
[ "${#left[@]}" -eq 0 ] || fail "left after purge: ${left[*]}"
! getent passwd certmail >/dev/null || fail "the certmail user is left after purge"
dpkg-query -W certmail >/dev/null 2>&1 && fail "dpkg still knows certmail"
ok "dpkg --purge: no file, directory or user of the package left"
