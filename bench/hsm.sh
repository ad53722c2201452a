#!/usr/bin/env bash
# bench/hsm.sh [SECONDS]: RS256 and ES256 through HTTPS on a region whose HSM is a SoftHSMv2 token (docs/hsm.md),
# beside SoftHSMv2's own in-process C_Sign rate on the same token with the same thread count (bench_p11, as
# bench/pkcs11.sh runs it) and `openssl speed -multi` for the primitive, all in one run. Writes
# docs/performance-hsm.md (bench/http.sh includes it in docs/performance.md). Release build in build-bench; all it
# makes lives in a temporary directory; everything listens on 127.0.0.1 and stops by itself.
set -euo pipefail
. "$(dirname "$0")/args.sh"
bench_seconds "usage: bench/hsm.sh [SECONDS-PER-RUN]   (default 5 s a run; writes docs/performance-hsm.md)" "$@"
CPUS=$(nproc)
CONNS=16
SRC=$(cd "$(dirname "$0")/.." && pwd)
B=${BENCH_BUILD:-$SRC/build-bench}
cmake -S "$SRC" -B "$B" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$B" -j "$CPUS" --target strongroom bench_p11 >/dev/null
SR=$B/strongroom
SOFTHSM=$(dpkg -L libsofthsm2 2>/dev/null | grep 'libsofthsm2\.so$' | head -1)
[ -n "$SOFTHSM" ] || { echo "bench/hsm.sh: no SoftHSMv2 (apt-get install softhsm2)" >&2; exit 1; }
W=$(mktemp -d /tmp/sr-bench-hsm.XXXXXX)
SERVER_PID=
cleanup() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT
umask 077
b64url() { base64 -w0 | tr '/+' '_-' | tr -d '='; }

mkdir "$W/softhsm"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$W/softhsm" > "$W/softhsm2.conf"
export SOFTHSM2_CONF=$W/softhsm2.conf STRONGROOM_KMDATA=$W/kmdata
softhsm2-util --init-token --free --label vault --so-pin 12345678 --pin 1234 >/dev/null
echo 1234 > "$W/pin"
# The in-process reference's own keys, in the same token.
pkcs11-tool --module "$SOFTHSM" --login --pin 1234 --keypairgen --key-type rsa:2048 --label rsa --id 01 >/dev/null 2>&1
pkcs11-tool --module "$SOFTHSM" --login --pin 1234 --keypairgen --key-type EC:prime256v1 --label ec --id 02 >/dev/null 2>&1

serve() {
    rm -f "$W/port"
    "$SR" serve "$@" --quiet --data "$W/data" --listen 127.0.0.1:0 --port-file "$W/port" > "$W/server.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 500); do [ -s "$W/port" ] && break; sleep 0.02; done
    PORT=$(cat "$W/port")
}
serve --dev
kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
"$SR" region create HSM1 --data "$W/data" --hsm "pkcs11:token=vault?module-path=$SOFTHSM&pin-source=file:$W/pin" >/dev/null
"$SR" vault create hsmv --region HSM1 --subscription-id 11111111-2222-3333-4444-555555555555 --data "$W/data" >/dev/null
TOKEN=$("$SR" token create --role Administrator --data "$W/data")
serve
api() {
    curl -s --cacert "$W/data/tls/ca.pem" --resolve "hsmv.localhost:$PORT:127.0.0.1" -H "Authorization: Bearer $TOKEN" \
        -H 'Content-Type: application/json' -X "$1" ${3:+--data "$3"} "https://hsmv.localhost:$PORT$2"
}
V="api-version=7.5"
api POST "/keys/rsa2048/create?$V" '{"kty":"RSA-HSM","key_size":2048}' | grep -q '"kid"' || { echo "bench: create failed" >&2; exit 1; }
api POST "/keys/ec256/create?$V" '{"kty":"EC-HSM","crv":"P-256"}' | grep -q '"kid"' || { echo "bench: create failed" >&2; exit 1; }
D32=$(printf 'bench' | openssl dgst -sha256 -binary | b64url)

wrk_rate() { # PATH BODY: requests/s of a POST, every answer a 200
    printf 'wrk.method = "POST"\nwrk.headers["Authorization"] = "Bearer %s"\nwrk.headers["Content-Type"] = "application/json"\nwrk.headers["Host"] = "hsmv.localhost"\nwrk.body = [[%s]]\n' \
        "$TOKEN" "$2" > "$W/run.lua"
    wrk -t2 -c$CONNS -d"${SECS}s" -s "$W/run.lua" "https://127.0.0.1:$PORT$1" > "$W/run.wrk"
    if grep -q 'Non-2xx' "$W/run.wrk"; then echo "bench: $1 answered errors: $(grep Non-2xx "$W/run.wrk")" >&2; exit 1; fi
    awk '/^Requests\/sec/ {printf "%.0f", $2}' "$W/run.wrk"
}
speed() { openssl speed -multi "$CPUS" -seconds "$SECS" "$1" 2>/dev/null |
    awk '/^rsa 2048 bits/ { v = $6 } /256 bits ecdsa \(nistp256\)/ { v = $7 } END { printf "%.0f", v }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.0f%%", 100 * a / b; else print "—" }'; }

wrk_rate "/keys/ec256/sign?$V" "{\"alg\":\"ES256\",\"value\":\"$D32\"}" >/dev/null # warm-up, not counted
rows=()
for spec in "RS256 RSA-2048 rsa2048 rsa rsa2048" "ES256 P-256 ec256 ec ecdsap256"; do
    set -- $spec
    http=$(wrk_rate "/keys/$3/sign?$V" "{\"alg\":\"$1\",\"value\":\"$D32\"}")
    inproc=$("$B/bench_p11" "$SOFTHSM" 1234 "$4" "$4" "$SECS" "$CPUS")
    ref=$(speed "$5")
    rows+=("| $1 sign, $2 | $http | $inproc | $(ratio "$http" "$inproc") | $ref | $(ratio "$http" "$ref") |")
    echo "${rows[-1]}"
done
"$SR" audit verify --data "$W/data" | grep -q 'hash chain intact' || { echo "bench: audit chain broken" >&2; exit 1; }

{
    echo "## An HSM region on SoftHSMv2"
    echo
    echo "Made by \`bench/hsm.sh $SECS\` on $(date -u +%Y-%m-%d), the same machine: a region whose HSM is a SoftHSMv2"
    echo "$(dpkg-query -W -f '${Version}' softhsm2 2>/dev/null) token (docs/hsm.md), its keys made in the token. HTTPS requests from \`wrk -t2 -c$CONNS\`, each"
    echo "authenticated, signed by the token through the session pool and audited durably, beside SoftHSMv2's own"
    echo "in-process \`C_SignInit\` + \`C_Sign\` rate on a key of the same token with $CPUS threads (\`bench_p11\`, the"
    echo "server's $CPUS worker threads), and \`openssl speed -multi $CPUS\`, all in the same run."
    echo
    echo "| operation | HTTPS (req/s) | SoftHSMv2 C_Sign in-process (ops/s) | HTTPS / C_Sign | openssl speed (ops/s) | HTTPS / openssl |"
    echo "|---|---|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
    echo
    echo "The goal (issue 22) is 85% of the in-process rate; it is not met. Where the difference goes, measured on"
    echo "2026-12-07 with \`perf record\` on the server under the RS256 load: the server spent 906 µs of CPU per request"
    echo "(1.79 cores at 1,975 req/s) against 665 µs per in-process \`C_Sign\` (2 cores at 3,009/s). Of the server's"
    echo "samples 58% were libcrypto (SoftHSMv2's RSA, and its decryption of the key's attributes at every use), 22% the"
    echo "kernel (TLS socket I/O, the audit's group-commit fsync, SoftHSMv2's file checks of its objects), 1% Strongroom."
    echo "On two cores that the load generator also uses, the HTTP layer and the durable audit entry cost about as much"
    echo "as the rest of a request: that is issue 25's work (the request path), not the token's. Two costs that were the"
    echo "HSM path's own are gone: the public key decoded from its SPKI at every signature (to check the algorithm"
    echo "against the curve; now checked against the reference's type and curve — ES256 went from 2,329 to 4,358"
    echo "req/s) and a \`C_FindObjects\` per use (handles remembered by \`CKA_ID\`, docs/hsm.md)."
} > "$SRC/docs/performance-hsm.md"
echo "bench: wrote docs/performance-hsm.md"
