#!/usr/bin/env bash
# fuzz.sh BUILD SECONDS: runs each libFuzzer harness in BUILD/tests for SECONDS, its corpus kept in
# BUILD/corpus/NAME (seeded by the harness at start, and read with the committed fuzz/corpus/NAME); prints executions and coverage per harness, and
# stops at the first crash (its reproducer is in BUILD/crashes/NAME).
set -euo pipefail
build=${1:?usage: fuzz.sh BUILD SECONDS}
seconds=${2:-60}
# Leaks are checked after every input that allocated more than it freed (libfuzzer_init.c makes OpenSSL's
# secure heap, where the DRBGs live, a root of that check, so no suppression is needed).
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1:abort_on_error=1"
# Harnesses write their inputs into files (key files, zips, stores): on tmpfs that costs no disk flush.
[ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ] && export TMPDIR=/dev/shm
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}halt_on_error=1:print_stacktrace=1"
for bin in "$build"/tests/fuzz_*; do
    name=$(basename "$bin")
    corpus="$build/corpus/$name"; crashes="$build/crashes/$name"
    mkdir -p "$corpus" "$crashes"
    log="$build/$name.log"
    echo "== $name: ${seconds}s"
    if ! SR_FUZZ_SEED_DIR="$corpus" "$bin" -max_total_time="$seconds" -print_final_stats=1 \
        -artifact_prefix="$crashes/" "$corpus" "$(dirname "$0")/../fuzz/corpus/$name" > "$log" 2>&1; then
        tail -40 "$log"
        echo "fuzz: $name crashed; the input is in $crashes" >&2
        exit 1
    fi
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
    echo "   $execs executions, $cov edges, corpus $(ls "$corpus" | wc -l) inputs, no crash"
done
