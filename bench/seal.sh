#!/usr/bin/env bash
# bench/seal.sh: what each seal costs, once per start — start of `strongroom serve` to its first answered
# /healthz (every region module unsealed by then) — for file, tpm2 (swtpm) and pkcs11 (SoftHSMv2), RUNS
# starts each, median in ms, as a ratio to the file seal's. The request path does not touch the seal.
# Usage (from the repository top): bench/seal.sh [RUNS]. Everything listens on 127.0.0.1 and stops itself.
set -euo pipefail
RUNS=${1:-7}
ROOT=$(pwd)
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DSR_TESTS=OFF >/dev/null
cmake --build build-bench -j "$(nproc)" --target strongroom >/dev/null
SR="$ROOT/build-bench/strongroom"
W=$(mktemp -d /tmp/sr-seal-bench.XXXXXX)
SWTPM_PID=
trap '[ -n "$SWTPM_PID" ] && kill $SWTPM_PID 2>/dev/null; rm -rf "$W"' EXIT
mkdir -p "$W/tpm" "$W/hsm/tokens"
timeout 900 swtpm socket --tpm2 --tpmstate dir="$W/tpm" --server type=tcp,port=23210 --ctrl type=tcp,port=23211 \
    --flags not-need-init,startup-clear >/dev/null 2>&1 &
SWTPM_PID=$!
export SOFTHSM2_CONF="$W/hsm/softhsm2.conf"
echo "directories.tokendir = $W/hsm/tokens" > "$SOFTHSM2_CONF"
softhsm2-util --init-token --free --label vault --pin 1234 --so-pin 5678 >/dev/null
echo 1234 > "$W/pin"
sleep 0.5

# start_ms DIR: one start of serve on DIR to its first 200 from /healthz, in ms.
start_ms() {
    rm -f "$W/port"
    local t0; t0=$(date +%s%N)
    "$SR" serve --data "$1" --listen 127.0.0.1:0 --port-file "$W/port" --quiet >/dev/null 2>&1 &
    local pid=$!
    until [ -s "$W/port" ] && curl -sf --cacert "$1/tls/ca.pem" "https://localhost:$(cat "$W/port")/healthz" >/dev/null; do
        sleep 0.005
    done
    echo $((($(date +%s%N) - t0) / 1000000))
    kill "$pid"; wait "$pid" 2>/dev/null || true
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR + 1) / 2)]}'; }

declare -A MS
for backend in file tpm2 pkcs11; do
    d="$W/$backend"
    case $backend in
        tpm2) "$SR" seal init --backend tpm2 --tpm swtpm:host=127.0.0.1,port=23210 --data "$d" >/dev/null ;;
        pkcs11) "$SR" seal init --backend pkcs11 --data "$d" \
                    --pkcs11 "pkcs11:token=vault?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:$W/pin" >/dev/null ;;
    esac
    "$SR" serve --dev --data "$d" --listen 127.0.0.1:0 --port-file "$W/port" --quiet >/dev/null 2>&1 &
    pid=$!
    until [ -s "$W/port" ]; do sleep 0.05; done
    sleep 0.5; kill $pid; wait $pid 2>/dev/null || true
    MS[$backend]=$(for _ in $(seq 1 "$RUNS"); do start_ms "$d"; done | median)
done
printf '| seal | start to first /healthz (median of %s, ms) | ratio to file |\n|---|---|---|\n' "$RUNS"
for backend in file tpm2 pkcs11; do
    printf '| %s | %s | %s |\n' "$backend" "${MS[$backend]}" "$(awk -v a="${MS[$backend]}" -v b="${MS[file]}" 'BEGIN {printf "%.2f", a / b}')"
done
