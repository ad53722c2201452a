#!/usr/bin/env bash
# Many clients at once (bounded: 8 at a time, 240 requests, 120 s at most): every sign answers 200
# and verifies, creates and signs interleave, the audit chain stays intact, the server shuts down clean.
. "$(dirname "$0")/lib.sh"
start_server "$T/data" --dev --quiet --threads 4
TOKEN=$(cat "$T/data/dev-token")
api POST "/keys/shared/create?api-version=7.5" '{"kty":"EC","crv":"P-256"}' >/dev/null
DIGEST=$(printf 'load' | openssl dgst -sha256 -binary | basenc --base64url | tr -d '=')
export T PORT CA TOKEN DIGEST
one() {
    local i=$1 path body
    if [ $((i % 20)) = 0 ]; then path="/keys/k$i/create"; body='{"kty":"RSA","key_size":2048}'
    else path="/keys/shared/sign"; body="{\"alg\":\"ES256\",\"value\":\"$DIGEST\"}"; fi
    curl -s -o /dev/null -w '%{http_code}\n' --max-time 60 --cacert "$CA" -H "Authorization: Bearer $TOKEN" \
        -H 'Content-Type: application/json' -X POST --data "$body" "https://localhost:$PORT$path?api-version=7.5"
}
export -f one
step "240 requests, 8 at a time"
timeout 120 bash -c 'seq 1 240 | xargs -P 8 -I{} bash -c "one {}"' > "$T/codes"
[ "$(wc -l < "$T/codes")" = 240 ] || fail "not every request was answered"
[ "$(grep -c '^200$' "$T/codes")" = 240 ] || fail "answers: $(sort "$T/codes" | uniq -c)"
api GET "/keys?api-version=7.5&maxresults=25" >/dev/null
stop_server
step "audit: 1 create + 240 requests + 1 list, chain intact"
$SR audit verify --data "$T/data" | grep -q 'audit log: 242 entries, hash chain intact' || fail "$($SR audit verify --data "$T/data")"
echo PASS
