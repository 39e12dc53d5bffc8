#!/usr/bin/env bash
# The RustSec advisories that concern certmail's dependencies, kept in the repository for
# `cargo deny check advisories` in CI (.ci/run), which cannot reach GitHub from here.
#
#   bash scripts/advisory-db.sh SRC              # refresh .ci/advisory-db from SRC, a checkout
#                                                # of github.com/rustsec/advisory-db
#   bash scripts/advisory-db.sh --checkout DIR   # make DIR (deny.toml's db-path) hold the
#                                                # snapshot as the git checkout cargo-deny opens
#   bash scripts/advisory-db.sh --checkout DIR --canary   # the same plus one made-up advisory
#                                                # against smallvec (CI shows the check bites)
#
# Refreshing copies crates/<name>/ of SRC for every package named in Cargo.lock and
# fuzz/Cargo.lock into .ci/advisory-db/ and records SRC's commit and date in SNAPSHOT. Rerun
# it after adding a dependency, and whenever a newer advisory database can be fetched.
set -euo pipefail
cd "$(dirname "$0")/.."
out=.ci/advisory-db
if [ "${1:-}" = "--checkout" ]; then
    # cargo-deny 0.20 looks for the default database in DIR/advisory-db-<hash of its URL>
    # and dates it by the HEAD commit (there is no FETCH_HEAD): the snapshot's own date.
    dir=${2:?usage: scripts/advisory-db.sh --checkout DIR}/advisory-db-3157b0e258782691
    date=$(sed -n 's/^date //p' "$out/SNAPSHOT")
    rm -rf "$dir"
    mkdir -p "$dir"
    cp -r "$out/crates" "$out/LICENSE.txt" "$dir/"
    git -C "$dir" init -q -b main
    git -C "$dir" add -A
    GIT_AUTHOR_DATE=$date GIT_COMMITTER_DATE=$date git -C "$dir" -c user.name=certmail-ci \
        -c user.email=ci@certmail.invalid commit -q -m "RustSec advisory-db snapshot ($(sed -n 's/^commit //p' "$out/SNAPSHOT"))"
    if [ "${3:-}" = "--canary" ]; then
        # An advisory against every version of a crate certmail uses (a future-year id: the
        # placeholder RUSTSEC-0000-0000 is skipped by the tool), so CI can show that
        # the check refuses a vulnerable dependency (the canary database is never the real one).
        mkdir -p "$dir/crates/smallvec"
        cat > "$dir/crates/smallvec/RUSTSEC-2099-0001.md" <<'MD'
```toml
[advisory]
id = "RUSTSEC-2099-0001"
package = "smallvec"
date = "2026-01-01"
url = "https://example.invalid/certmail-ci-canary"

[versions]
patched = [">= 999.0.0"]
```

# certmail CI canary: cargo deny must refuse this

Not a real advisory.
MD
        git -C "$dir" add -A
        GIT_AUTHOR_DATE=$date GIT_COMMITTER_DATE=$date git -C "$dir" -c user.name=certmail-ci \
            -c user.email=ci@certmail.invalid commit -q -m canary
    fi
    echo "advisory database: $(ls "$dir/crates" | wc -l) packages with advisories, snapshot of $date"
    exit 0
fi
src=${1:?usage: scripts/advisory-db.sh ADVISORY-DB-CHECKOUT | --checkout DIR}
rm -rf "$out"
mkdir -p "$out/crates"
names=$(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.lock fuzz/Cargo.lock | sort -u)
copied=0
for n in $names; do
    if [ -d "$src/crates/$n" ]; then cp -r "$src/crates/$n" "$out/crates/"; copied=$((copied + 1)); fi
done
cp "$src/LICENSE.txt" "$out/"   # CC0: the database is in the public domain
git -C "$src" log -1 --format='commit %H%ndate %cI' > "$out/SNAPSHOT"
echo "packages in the lock files: $(echo "$names" | wc -l) (the ones advisory-db has an entry for: $copied)" >> "$out/SNAPSHOT"
cat "$out/SNAPSHOT"
