#!/usr/bin/env bash
# The benchmarks say how to run them: --help prints the usage and exits 0, a bad argument exits 2 with it, and
# neither builds, runs or writes anything (no build-bench, no docs rewritten).
. "$(dirname "$0")/lib.sh"
for bench in http hsm; do
    out=$(bash "$SR_SOURCE_DIR/bench/$bench.sh" --help) || fail "bench/$bench.sh --help exits $?"
    [[ $out == "usage: bench/$bench.sh"* ]] || fail "bench/$bench.sh --help prints: $out"
    expect 2 "usage: bench/$bench.sh" bash "$SR_SOURCE_DIR/bench/$bench.sh" five
done
left=$(ls -A "$T" | grep -v -x -e out -e err || true) # expect's own captures
[ -z "$left" ] || fail "a usage run left files: $left"
echo PASS
