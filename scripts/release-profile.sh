#!/usr/bin/env bash
# How the release profile was chosen (BENCHMARKS.md "Release profile"): builds `certmail` with
# each candidate profile in its own target directory, then reports, side by side in one run,
# the build time, the size of the binary as built, stripped of its debug info (what the package
# ships, scripts/build-deb.sh) and of that debug info alone (the separate .debug file), and the
# gateway's rates (scripts/bench-gateway.sh's mode table, QUICK=1).
#
#   bash scripts/release-profile.sh [MESSAGES]     # default 5000 per mode
#   PHASE=build|bench bash scripts/release-profile.sh   # one half only
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-5000}
# name  lto  codegen-units
VARIANTS=("default false 16" "thin thin 16" "fat fat 1")
out=target/release-profile
mkdir -p "$out"

if [ "${PHASE:-build}" != bench ]; then
    for v in "${VARIANTS[@]}"; do
        set -- $v
        t0=$SECONDS
        CARGO_PROFILE_RELEASE_LTO=$2 CARGO_PROFILE_RELEASE_CODEGEN_UNITS=$3 \
            CARGO_TARGET_DIR=target/profile-$1 cargo build --quiet --release -p certmail
        echo "$((SECONDS - t0))" > "$out/$1.build-seconds"
        bin=target/profile-$1/release/certmail
        objcopy --only-keep-debug "$bin" "$out/$1.debug"
        objcopy --strip-debug --strip-unneeded "$bin" "$out/$1.stripped"
    done
fi
if [ "${PHASE:-bench}" != build ]; then
    echo "| profile (lto, codegen-units) | build s | as built MB | shipped (stripped) MB | .debug MB |"
    echo "| --- | ---: | ---: | ---: | ---: |"
    mb() { python3 -c "print('%.1f' % ($(stat -c %s "$1") / 1e6))"; }
    for v in "${VARIANTS[@]}"; do
        set -- $v
        echo "| $1 ($2, $3) | $(cat "$out/$1.build-seconds") | $(mb target/profile-$1/release/certmail) | $(mb "$out/$1.stripped") | $(mb "$out/$1.debug") |"
    done
    echo
    for v in "${VARIANTS[@]}"; do
        set -- $v
        echo "### $1"
        CERTMAIL_BIN="$out/$1.stripped" QUICK=1 WARM=$((N / 10)) bash scripts/bench-gateway.sh "$N"
    done
fi
