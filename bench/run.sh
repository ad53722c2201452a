#!/usr/bin/env bash
# bench/run.sh: in-process module signatures beside `openssl speed` of the same machine and run,
# as a ratio; writes docs/performance.md. Usage: bench/run.sh [SECONDS]   (from the repository top)
set -euo pipefail
SECONDS_PER=${1:-2}
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DSR_TESTS=OFF >/dev/null
cmake --build build-bench -j "$(nproc)" --target bench_sign >/dev/null
scratch=$(mktemp -d); trap 'rm -rf "$scratch"' EXIT
ours=$(build-bench/bench_sign "$scratch/kmdata" "$SECONDS_PER")
speed=$(openssl speed -seconds "$SECONDS_PER" rsa2048 ecdsap256 2>/dev/null)
rsa_ref=$(printf '%s\n' "$speed" | awk '/^rsa 2048 bits/ {print $6}')
ec_ref=$(printf '%s\n' "$speed" | awk '/256 bits ecdsa \(nistp256\)/ {print $7}')
rsa_ours=$(printf '%s\n' "$ours" | awk '/^rsa2048-sign/ {print $2}')
ec_ours=$(printf '%s\n' "$ours" | awk '/^ecdsap256-sign/ {print $2}')
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
{
    echo "# Performance"
    echo
    echo "Made by \`bench/run.sh $SECONDS_PER\` on $(date -u +%Y-%m-%d), $(nproc) CPUs, $(openssl version | cut -d' ' -f1-2)."
    echo "One thread. \"module\" is \`sr_blob_sign_digest\`: what the vault does per sign request below HTTP"
    echo "(parse the blob, AES-256-GCM open under the world key, decode PKCS#8, sign, wipe)."
    echo "\`openssl speed\` signs with a key already loaded, so the ratio is the module's overhead."
    echo
    echo "| operation | module (ops/s) | openssl speed (ops/s) | ratio |"
    echo "|---|---|---|---|"
    echo "| RSA-2048 sign | $rsa_ours | $rsa_ref | $(ratio "$rsa_ours" "$rsa_ref") |"
    echo "| ECDSA P-256 sign | $ec_ours | $ec_ref | $(ratio "$ec_ours" "$ec_ref") |"
    echo
    echo "Not measured yet: the HTTPS API under load (keep-alive, TLS, SQLite audit append per request)."
} > docs/performance.md
cat docs/performance.md
