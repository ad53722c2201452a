#!/usr/bin/env bash
# soak.sh [SECONDS] [WORKERS]: a bounded soak of the server under AddressSanitizer (build-dev or build-test:
# BIN=path/to/strongroom). WORKERS clients (default 8) loop over a mixed workload — create EC and RSA keys,
# get, list, sign, verify, encrypt, decrypt, wrap, unwrap, rotate, delete — each on a fresh connection,
# and one in ten requests is cut off by the client mid-way (curl --max-time 0.05). The server's RSS is
# sampled every 5 s. At the end the server is stopped: any ASan or LeakSanitizer report, any 5xx, or RSS
# growing more than 10% after the warm-up (the first third) fails the soak. Stops by itself after SECONDS
# (default 300, at most 600). Not part of make test.
set -euo pipefail
secs=${1:-300}; workers=${2:-8}
[ "$secs" -le 600 ] || { echo "soak: at most 600 seconds" >&2; exit 2; }
BIN=${BIN:-build-dev/strongroom}
[ -x "$BIN" ] || { echo "soak: no $BIN (build build-dev, or set BIN)" >&2; exit 2; }
T=$(mktemp -d /tmp/sr-soak.XXXXXX)
trap 'kill $pid 2>/dev/null; rm -rf "$T"' EXIT
# ASan holds freed memory in a quarantine (256 MB by default) that would read as growth: keep it small.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=16" "$BIN" serve --dev --data "$T/data" --listen 127.0.0.1:0 --port-file "$T/port" --quiet > "$T/server.log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do [ -s "$T/port" ] && break; sleep 0.1; done
port=$(cat "$T/port"); token=$(cat "$T/data/dev-token"); ca="$T/data/tls/ca.pem"
V=api-version=7.5
call() { # call METHOD PATH [BODY] -> status on stdout ("000": cut off by the client)
    local extra=() sep='?'
    [ $((RANDOM % 10)) = 0 ] && extra=(--max-time 0.05)
    [[ $2 == *\?* ]] && sep='&'
    curl -s -o /dev/null -w '%{http_code}' --cacert "$ca" --resolve "dev.localhost:$port:127.0.0.1" \
        -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -X "$1" ${3:+--data "$3"} \
        "${extra[@]}" "https://dev.localhost:$port$2$sep$V" || true
}
digest=$(printf 'soak' | openssl dgst -sha256 -binary | basenc --base64url | tr -d '=')
worker() {
    local w=$1 n=0 end=$(( $(date +%s) + secs ))
    while [ "$(date +%s)" -lt "$end" ]; do
        n=$((n + 1)); local k="w$w-$((n % 20))"
        {
            call POST "/keys/$k/create" '{"kty":"EC","crv":"P-256"}'; echo
            call GET "/keys/$k"; echo
            call POST "/keys/$k/sign" "{\"alg\":\"ES256\",\"value\":\"$digest\"}"; echo
            call GET "/keys?maxresults=25"; echo
            call POST "/keys/r$k/create" '{"kty":"RSA","key_size":2048}'; echo
            call POST "/keys/r$k/encrypt" '{"alg":"RSA-OAEP-256","value":"c29haw"}'; echo
            call POST "/keys/r$k/wrapkey" '{"alg":"RSA-OAEP","value":"c29hay1rZXk"}'; echo
            call POST "/keys/$k/rotate"; echo
            [ $((n % 5)) = 0 ] && { call DELETE "/keys/$k"; echo; call DELETE "/deletedkeys/$k"; echo; }
        } >> "$T/status.$w"
    done
}
for w in $(seq 1 "$workers"); do worker "$w" & done
samples=()
for _ in $(seq 1 $((secs / 5))); do
    sleep 5
    samples+=("$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")")
done
wait $(jobs -p | grep -v "^$pid$") 2>/dev/null || true
kill -TERM "$pid"; wait "$pid" || true
cat "$T"/status.* > "$T/all"
total=$(wc -l < "$T/all"); five=$(grep -c '^5' "$T/all" || true); cut=$(grep -c '^000' "$T/all" || true)
warm=${samples[$(( ${#samples[@]} / 3 ))]}; last=${samples[-1]}; peak=$(printf '%s\n' "${samples[@]}" | sort -n | tail -1)
asan=$(grep -c 'AddressSanitizer\|LeakSanitizer\|runtime error' "$T/server.log" || true)
echo "soak: ${secs}s, $workers workers, $total requests ($cut cut off by the client), $five answered 5xx"
echo "soak: RSS after warm-up ${warm} kB, at the end ${last} kB, peak ${peak} kB; sanitizer reports: $asan"
growth=$(( (last - warm) * 100 / warm ))
[ "$asan" = 0 ] && [ "$five" = 0 ] && [ "$growth" -le 10 ] || { echo "soak: FAILED (RSS growth ${growth}%)"; grep -A20 'Sanitizer' "$T/server.log" | head -40; exit 1; }
echo "soak: PASSED (RSS growth ${growth}% after warm-up)"
