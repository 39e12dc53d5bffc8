#!/usr/bin/env bash
# The README's first command: build certmail, initialise ./certmail-data (embedded SQLite,
# random master key), import the sample PKI and list what is stored. Safe to run again:
# a second run finds everything "present".
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet --release -p certmail
certmail=target/release/certmail
data=${CERTMAIL_DATA_DIR:-./certmail-data}
if [ ! -e "$data/master.key" ] && [ ! -e "$data/kek.json" ]; then
    "$certmail" --data-dir "$data" init
fi
"$certmail" --data-dir "$data" root import samples/root.pem
"$certmail" --data-dir "$data" key import samples/alice.p12 --password-file samples/alice-password.txt
"$certmail" --data-dir "$data" cert list
# S/MIME with the stored key: sign as Alice, encrypt to Alice (selected by address), then
# decrypt and verify with the stores.
alice=$("$certmail" --data-dir "$data" cert list --email alice@example.com --with-key --json |
    sed -n 's/.*"sha256": *"\([0-9a-f]*\)".*/\1/p' | head -n 1)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$certmail" --data-dir "$data" smime sign --signer "$alice" samples/hello.eml >"$out/signed.eml"
"$certmail" --data-dir "$data" smime encrypt --to alice@example.com "$out/signed.eml" >"$out/encrypted.eml"
"$certmail" --data-dir "$data" smime decrypt "$out/encrypted.eml" >"$out/decrypted.eml"
"$certmail" --data-dir "$data" smime verify "$out/decrypted.eml" | grep '^X-Certmail-'
