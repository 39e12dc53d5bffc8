#!/usr/bin/env bash
# Coverage-guided fuzzing of every parser of outside bytes (fuzz/fuzz_targets/*.rs) with
# libFuzzer, on the stable toolchain: the instrumentation `cargo fuzz build --sanitizer none`
# uses, without needing cargo-fuzz installed. Each target runs from its committed corpus
# (fuzz/corpus/TARGET, seeded from the files the tests use) for SECONDS; new inputs that
# cover more are kept there, and any crash, panic, leak of time (-timeout) or memory
# (-rss_limit_mb) fails the run with the reproducer in fuzz/artifacts/TARGET/.
#
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]     # default 30 s, every target
#   bash scripts/fuzz.sh 3600 mime_unwrap          # one target for an hour
#   fuzz/target/x86_64-unknown-linux-gnu/release/TARGET fuzz/artifacts/TARGET/crash-...   # replay
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs=${1:-30}
shift || true
triple=$(rustc -vV | sed -n 's/^host: //p')
# Its own target directory whatever CARGO_TARGET_DIR says: other RUSTFLAGS would rebuild a
# shared one back and forth.
export CARGO_TARGET_DIR="$PWD/target"
export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cdebug-assertions -Coverflow-checks"
# --target keeps the instrumentation out of build scripts and proc macros (as cargo fuzz does).
cargo build --release --locked --target "$triple" --bins
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
    mapfile -t targets < <(ls fuzz_targets | sed 's/\.rs$//')
fi
failed=()
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t"
    # Every crash found and fixed stays as a regression input (fuzz/regressions/TARGET/).
    if [ -d "regressions/$t" ] && [ -n "$(ls "regressions/$t")" ]; then
        if ! "target/$triple/release/$t" regressions/"$t"/* >"artifacts/$t.regressions.log" 2>&1; then
            echo "fuzz $t: a regression input fails again (fuzz/artifacts/$t.regressions.log)"
            failed+=("$t")
            continue
        fi
    fi
    before=$(ls "corpus/$t" | wc -l)
    start=$SECONDS
    if "target/$triple/release/$t" "corpus/$t" -max_total_time="$secs" -timeout=10 \
        -rss_limit_mb=2048 -max_len=262144 -artifact_prefix="artifacts/$t/" \
        -print_final_stats=1 >"artifacts/$t.log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "artifacts/$t.log")
        echo "fuzz $t: ok, $((SECONDS - start)) s, ${runs:-?} runs, corpus $before -> $(ls "corpus/$t" | wc -l)"
    else
        echo "fuzz $t: FAILED (reproducer in fuzz/artifacts/$t/)"
        grep -E "panicked|ERROR|SUMMARY|Test unit written" "artifacts/$t.log" | head -20 || true
        failed+=("$t")
    fi
done
if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzzing found problems in: ${failed[*]}"
    exit 1
fi
