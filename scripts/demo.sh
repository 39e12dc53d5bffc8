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
