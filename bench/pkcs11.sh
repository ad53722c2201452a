#!/usr/bin/env bash
# bench/pkcs11.sh [SECONDS]: C_Sign per second through libstrongroom-pkcs11.so beside SoftHSMv2 (Debian's
# softhsm2, on a temporary token) and `openssl speed`, all in the same run: RSA-2048 (CKM_SHA256_RSA_PKCS)
# and P-256 (CKM_ECDSA over a 32-byte digest), 1 and 2 threads (one session each), C_SignInit + C_Sign per
# signature as applications call them (bench/bench_p11.c). Prints the markdown table docs/performance.md
# keeps. Release build in build-bench; everything it makes lives in a temporary directory.
set -euo pipefail
SECS=${1:-5}
SRC=$(cd "$(dirname "$0")/.." && pwd)
B=${BENCH_BUILD:-$SRC/build-bench}
cmake -S "$SRC" -B "$B" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$B" -j "$(nproc)" --target strongroom strongroom-pkcs11 bench_p11 >/dev/null
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
umask 077
PIN=bench-pin
SR=$B/strongroom
OURS=$B/libstrongroom-pkcs11.so
SOFTHSM=$(dpkg -L libsofthsm2 2>/dev/null | grep 'libsofthsm2\.so$' | head -1)
[ -n "$SOFTHSM" ] || { echo "bench/pkcs11.sh: no SoftHSMv2 (apt-get install softhsm2)" >&2; exit 1; }

export STRONGROOM_KMDATA=$T/kmdata
printf 'card-1\n' > "$T/cards"
printf '%s\n' "$PIN" > "$T/pin"
$SR module mode I >/dev/null
$SR new-world --initialize --cipher-suite=DLf3072s256mRijndael --module=1 --acs-quorum=1/1 --pin-file "$T/cards" >/dev/null
$SR module mode O >/dev/null
$SR pkcs11 set-pin --pin-file "$T/pin" >/dev/null

mkdir "$T/softhsm"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$T/softhsm" > "$T/softhsm2.conf"
export SOFTHSM2_CONF=$T/softhsm2.conf
softhsm2-util --init-token --free --label bench --so-pin 12345678 --pin "$PIN" >/dev/null

for lib in "$OURS" "$SOFTHSM"; do
    pkcs11-tool --module "$lib" --login --pin "$PIN" --keypairgen --key-type rsa:2048 --label rsa --id 01 >/dev/null 2>&1
    pkcs11-tool --module "$lib" --login --pin "$PIN" --keypairgen --key-type EC:prime256v1 --label ec --id 02 >/dev/null 2>&1
done

speed() { # speed rsa2048|ecdsap256 THREADS: openssl's sign/s
    local multi=""
    [ "$2" -gt 1 ] && multi="-multi $2"
    # shellcheck disable=SC2086
    openssl speed -seconds "$SECS" $multi "$1" 2>/dev/null |
        awk '/^rsa 2048 bits/ || /bits ecdsa \(nistp256\)/ { v = $(NF - 1) } END { printf "%.0f", v }'
}

echo "| operation | threads | Strongroom (C_Sign/s) | SoftHSMv2 (C_Sign/s) | × SoftHSMv2 | openssl speed (sign/s) | Strongroom / openssl |"
echo "|---|---|---|---|---|---|---|"
for threads in 1 2; do
    for kind in rsa ec; do
        ours=$("$B/bench_p11" "$OURS" "$PIN" "$kind" "$kind" "$SECS" "$threads")
        soft=$("$B/bench_p11" "$SOFTHSM" "$PIN" "$kind" "$kind" "$SECS" "$threads")
        ref=$(speed "$([ "$kind" = rsa ] && echo rsa2048 || echo ecdsap256)" "$threads")
        name=$([ "$kind" = rsa ] && echo "RSA-2048, CKM_SHA256_RSA_PKCS" || echo "P-256, CKM_ECDSA")
        awk -v n="$name" -v t="$threads" -v o="$ours" -v s="$soft" -v r="$ref" \
            'BEGIN { printf "| %s | %d | %d | %d | %.2f | %d | %.0f%% |\n", n, t, o, s, o / s, r, 100 * o / r }'
    done
done
