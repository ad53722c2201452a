#!/usr/bin/env bash
# The token of an HSM region goes away under load and comes back (issue 22, docs/hsm.md "Sessions"): SoftHSMv2's
# token directory is moved away while four clients sign and one creates keys. Every answer is 200 or 503 (never
# another 5xx), a 503 names the region's token, /healthz names the region that is down, nothing is added to the
# store while the token is away, and service resumes by itself, without a restart, once the directory is back.
# SR_HSM_TOKEN=strongroom (t8006) does the same to libstrongroom-pkcs11.so: its module directory goes away.
. "$(dirname "$0")/lib.sh"
TOKEN_KIND=${SR_HSM_TOKEN:-softhsm}
start_server "$T/data" --dev --quiet
stop_server
hsm_token "$TOKEN_KIND"
TOKEN_DIR=$([ "$TOKEN_KIND" = softhsm ] && echo "$T/hsm/tokens" || echo "$STRONGROOM_KMDATA")
$SR region create HSM1 --data "$T/data" --hsm "$URI" >/dev/null || fail "region create"
$SR vault create hsmv --region HSM1 --subscription-id 11111111-2222-3333-4444-555555555555 --data "$T/data" >/dev/null
TOKEN=$($SR token create --role Administrator --data "$T/data")
start_server "$T/data" --quiet
VHOST=hsmv.localhost
V='api-version=7.5'
api POST "/keys/ec1/create?$V" '{"kty":"EC-HSM","crv":"P-256"}' >/dev/null
[ "$STATUS" = 200 ] || fail "create: $STATUS"
DIGEST=$(printf 'under load' | openssl dgst -sha256 -binary | b64u)
health() { curl -s --max-time 10 --cacert "$CA" "https://localhost:$PORT/healthz"; }
keys() { store_sql "$T/data" "SELECT count(*) FROM keys"; }

step "four signers and a creator, bounded: the token directory moved away and back under them"
loop() { # loop N KIND: requests until $T/stop exists (at most 60 s), each status and the 503s' bodies kept
    local end=$((SECONDS + 60)) i=0
    while [ ! -e "$T/stop" ] && [ $SECONDS -lt $end ]; do
        i=$((i + 1))
        if [ "$2" = create ]; then
            code=$(curl -s -o "$T/body.$1" -w '%{http_code}' --max-time 20 --cacert "$CA" --resolve "hsmv.localhost:$PORT:127.0.0.1" \
                -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -X POST \
                --data '{"kty":"EC-HSM","crv":"P-256"}' "https://hsmv.localhost:$PORT/keys/made$1x$i/create?$V")
        else
            code=$(curl -s -o "$T/body.$1" -w '%{http_code}' --max-time 20 --cacert "$CA" --resolve "hsmv.localhost:$PORT:127.0.0.1" \
                -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -X POST \
                --data "{\"alg\":\"ES256\",\"value\":\"$DIGEST\"}" "https://hsmv.localhost:$PORT/keys/ec1/sign?$V")
        fi
        echo "$code" >> "$T/codes.$1"
        if [ "$code" = 503 ]; then cp "$T/body.$1" "$T/503.$1"; fi
        if [ "$code" != 503 ] && [ "$code" != 200 ]; then cp "$T/body.$1" "$T/odd.$1.$i"; fi
    done
    return 0
}
LOOPS=()
for n in 1 2 3 4; do loop $n sign & LOOPS+=($!); done
loop 5 create & LOOPS+=($!)
sleep 2
mv "$TOKEN_DIR" "$TOKEN_DIR.away"
sleep 1
KEYS_AWAY=$(keys)
health > health-away.json
sleep 2
[ "$(keys)" = "$KEYS_AWAY" ] || fail "the store changed while the token was away: $KEYS_AWAY then $(keys)"
mv "$TOKEN_DIR.away" "$TOKEN_DIR"
sleep 3
touch "$T/stop"
wait "${LOOPS[@]}" # not the server's

step "the answers: 200 or 503 only, 503s while away naming the token, 200s again after"
cat "$T"/codes.* | sort | uniq -c; cat "$T"/503.* | jq -r .error.message | sort | uniq -c
bad=$(cat "$T"/codes.* | { grep -v -x -e 200 -e 503 || true; } | sort -u | tr '\n' ' ')
[ -z "$bad" ] || fail "answers other than 200 and 503: $bad: $(cat "$T"/odd.* 2>/dev/null)"
grep -q -x 503 "$T"/codes.* || fail "no 503 while the token was away"
for n in 1 2 3 4; do tail -n 1 "$T/codes.$n" | grep -q -x 200 || fail "signer $n did not resume: $(tail -n 3 "$T/codes.$n")"; done
ls "$T"/503.* >/dev/null 2>&1 || fail "no 503 body kept"
cat "$T"/503.* | jq -r .error.message | sort -u > msgs.txt
grep -q "region HSM1's token" msgs.txt || fail "a 503 does not name the token: $(cat msgs.txt)"
jq -e '.regionsDown == ["HSM1"] and .status == "degraded"' health-away.json >/dev/null ||
    fail "healthz while away: $(cat health-away.json)"
health | jq -e '(has("regionsDown") | not) and .status == "ok"' >/dev/null || fail "healthz after: $(health)"

step "after: signing and creating work on the same server, which never restarted"
api POST "/keys/ec1/sign?$V" "{\"alg\":\"ES256\",\"value\":\"$DIGEST\"}" >/dev/null
[ "$STATUS" = 200 ] || fail "sign after: $STATUS"
api POST "/keys/after/create?$V" '{"kty":"RSA-HSM","key_size":2048}' >/dev/null
[ "$STATUS" = 200 ] || fail "create after: $STATUS"
kill -0 "$SERVER_PID" || fail "the server died"
stop_server
echo PASS
