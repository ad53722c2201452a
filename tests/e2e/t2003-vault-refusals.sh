#!/usr/bin/env bash
# Bad input and refused callers: each a 4xx with Key Vault's error JSON, never a 5xx or a crash,
# and the store's keys unchanged. Also: a vault and a token made while the server runs are seen.
. "$(dirname "$0")/lib.sh"
start_server "$T/data" --dev --quiet
TOKEN=$(cat "$T/data/dev-token")
store_digest() { store_sql "$T/data" "SELECT vault,name,version,kty,key_ops,enabled,nbf,exp,tags,$(store_hex blob) FROM keys ORDER BY seq; SELECT * FROM names ORDER BY name;" | sha256sum; }
V=api-version=7.5

api POST "/keys/k1/create?$V" '{"kty":"RSA","key_size":2048}' >/dev/null; [ "$STATUS" = 200 ] || fail "create k1"
api POST "/keys/ec1/create?$V" '{"kty":"EC","crv":"P-256"}' >/dev/null; [ "$STATUS" = 200 ] || fail "create ec1"
DIGEST=$(printf 'hello' | openssl dgst -sha256 -binary | basenc --base64url | tr -d '=')
before=$(store_digest)

step "GET /healthz needs no token and says nothing of vaults or keys"
health=$(curl -s --cacert "$CA" "https://localhost:$PORT/healthz")
[ "$(printf '%s' "$health" | jq -c '{status,regions,regionsServed}')" = '{"status":"ok","regions":1,"regionsServed":1}' ] ||
    fail "healthz: $health"
# Counts only: the secure heap's use and the connections', nothing named.
[ "$(printf '%s' "$health" | jq -c 'keys')" = '["connections","regions","regionsServed","seal","sealed","secureHeap","status"]' ] ||
    fail "healthz says more than counts: $health"
[ "$(printf '%s' "$health" | jq '.secureHeap.used > 0 and .secureHeap.used < .secureHeap.size')" = true ] ||
    fail "healthz: secure heap: $health"
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$CA" -X POST "https://localhost:$PORT/healthz")
[ "$code" = 405 ] || fail "POST /healthz answered $code"

step "one server per data directory: a second one is refused and changes nothing"
expect 1 "PID $SERVER_PID is using .*one server per data directory" "$SR" serve --data "$T/data" --listen 127.0.0.1:0 --quiet
[ "$before" = "$(store_digest)" ] || fail "a refused second server changed the store"

step "authentication: missing, invalid and expired tokens get 401 and the challenge"
SAVED=$TOKEN; TOKEN=
expect_api 401 Unauthorized GET "/keys?$V"
curl -s -D "$T/h" -o /dev/null --cacert "$CA" "https://localhost:$PORT/keys?$V"
grep -qi "^WWW-Authenticate: Bearer authorization=\"https://localhost:$PORT/[0-9a-f-]*\", resource=\"https://localhost:$PORT\"" "$T/h" || fail "challenge header: $(cat "$T/h")"
rid() { awk 'tolower($1) == "x-ms-request-id:" {print $2}' "$1" | tr -d '\r'; }
rid1=$(rid "$T/h")
echo "$rid1" | grep -Eq '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' || fail "x-ms-request-id: '$rid1'"
curl -s -D "$T/h2" -o /dev/null --cacert "$CA" "https://localhost:$PORT/keys?$V"
[ "$(rid "$T/h2")" != "$rid1" ] || fail "two requests got one x-ms-request-id: $rid1"
# The SDK's first, bodiless request is refused without closing the connection it will retry on.
curl -sv -o /dev/null -o /dev/null --cacert "$CA" "https://localhost:$PORT/keys?$V" "https://localhost:$PORT/keys?$V" 2> "$T/v"
grep -q 'Re-using existing connection' "$T/v" || fail "a 401 closed the connection: $(grep -i 'connection' "$T/v")"
TOKEN=not-a-token
expect_api 401 Unauthorized GET "/keys?$V"
TOKEN=$($SR token create --role "Crypto User" --ttl 1 --data "$T/data")
sleep 2
expect_api 401 Unauthorized GET "/keys?$V"
TOKEN=$SAVED

step "roles: a Reader cannot sign or create; a Crypto User cannot delete"
TOKEN=$($SR token create --role Reader --data "$T/data")
api GET "/keys/k1?$V" >/dev/null; [ "$STATUS" = 200 ] || fail "Reader get"
expect_api 403 Forbidden POST "/keys/k1/sign?$V" "{\"alg\":\"RS256\",\"value\":\"$DIGEST\"}"
expect_api 403 Forbidden POST "/keys/k9/create?$V" '{"kty":"RSA"}'
TOKEN=$($SR token create --role "crypto-user" --data "$T/data")
api POST "/keys/k1/sign?$V" "{\"alg\":\"RS256\",\"value\":\"$DIGEST\"}" >/dev/null; [ "$STATUS" = 200 ] || fail "Crypto User sign"
expect_api 403 Forbidden DELETE "/keys/k1?$V"
expect 2 "unknown role" $SR token create --role Wizard --data "$T/data"

step "a vault made while the server runs is served at once; a token of vault A is refused on vault B"
$SR vault create other --region DEV --subscription-id 11111111-2222-3333-4444-555555555555 --data "$T/data" >/dev/null
TOKEN=$($SR token create --role Administrator --vault dev --data "$T/data")
api GET "/keys?$V" >/dev/null; [ "$STATUS" = 200 ] || fail "vault-scoped token on its vault"
expect_api 403 Forbidden GET "/keys?$V" "" -H "Host: other.localhost:$PORT" --resolve "localhost:$PORT:127.0.0.1"
TOKEN=$SAVED
out=$(api GET "/keys?$V" "" -H "Host: other.localhost:$PORT"); [ "$(cat "$T/status")" = 200 ] || fail "new vault not served: $out"
[ "$(printf '%s' "$out" | jq '.value | length')" = 0 ] || fail "vaults share keys: $out"
expect_api 404 VaultNotFound GET "/keys?$V" "" -H "Host: nosuch.localhost:$PORT"

step "api-version: missing or unknown is 400; previews and dated versions are accepted"
expect_api 400 BadParameter GET "/keys"
expect_api 400 BadParameter GET "/keys?api-version=6.0"
for v in 7.0 7.4 7.6-preview.2 2025-07-01; do api GET "/keys?api-version=$v" >/dev/null; [ "$STATUS" = 200 ] || fail "api-version $v"; done
api GET "/deletedKeys?$V" >/dev/null; [ "$STATUS" = 200 ] || fail "deletedKeys (camel case)"
api GET "/keys/k1/?$V" >/dev/null; [ "$STATUS" = 200 ] || fail "empty version means latest"

step "malformed bodies, wrong types, oversize, unknown algorithms, bad names"
expect_api 400 BadParameter POST "/keys/k2/create?$V" '{"kty":"RSA",'
expect_api 400 BadParameter POST "/keys/k2/create?$V" '[1,2]'
expect_api 400 BadParameter POST "/keys/k2/create?$V" '{"kty":5}'
expect_api 400 BadParameter POST "/keys/k2/create?$V" '{"kty":"RSA","key_size":"big"}'
expect_api 400 BadParameter POST "/keys/k2/create?$V" '{"kty":"RSA","key_size":1024}'
expect_api 400 BadParameter POST "/keys/k2/create?$V" '{"kty":"OKP","crv":"Ed25519"}'
expect_api 400 BadParameter POST "/keys/k2/create?$V" '{"kty":"EC","crv":"P-192"}'
expect_api 400 BadParameter POST "/keys/k2/create?$V" '{"kty":"EC","key_ops":["decrypt"]}'
expect_api 400 BadParameter POST "/keys/k2/create?$V" '{"kty":"RSA","attributes":{"enabled":"yes"}}'
expect_api 400 BadParameter POST "/keys/k2/create?$V" '{"kty":"RSA","tags":{"a":1}}'
head -c 1100000 /dev/zero | tr '\0' 'a' > "$T/big"
expect_api 413 BadParameter POST "/keys/k2/create?$V" "" --data-binary @"$T/big" -H 'Content-Type: application/json'
expect_api 400 BadParameter POST "/keys/k1/sign?$V" "{\"alg\":\"HS256\",\"value\":\"$DIGEST\"}"
expect_api 400 BadParameter POST "/keys/k1/sign?$V" "{\"alg\":\"RS384\",\"value\":\"$DIGEST\"}"
expect_api 400 BadParameter POST "/keys/k1/sign?$V" '{"alg":"RS256","value":"!!!"}'
expect_api 400 BadParameter POST "/keys/ec1/sign?$V" "{\"alg\":\"RS256\",\"value\":\"$DIGEST\"}"
expect_api 400 BadParameter POST "/keys/k1/encrypt?$V" '{"alg":"A256GCM","value":"AAAA"}'
expect_api 400 BadParameter POST "/keys/k1/decrypt?$V" '{"alg":"RSA1_5","value":"AAAA"}'
expect_api 403 Forbidden POST "/keys/ec1/decrypt?$V" '{"alg":"RSA-OAEP","value":"AAAA"}'
expect_api 400 BadParameter POST "/rng?$V" '{"count":0}'
expect_api 400 BadParameter POST "/rng?$V" '{"count":129}'
expect_api 400 BadParameter GET "/keys?$V&maxresults=26"
expect_api 400 BadParameter POST "/keys/bad_name/create?$V" '{"kty":"RSA"}'
expect_api 400 BadParameter POST "/keys/$(head -c 128 /dev/zero | tr '\0' a)/create?$V" '{"kty":"RSA"}'
expect_api 400 BadParameter PUT "/keys/imp?$V" '{"key":{"kty":"RSA","n":"AQAB","e":"AQAB","d":"AQAB"}}'
expect_api 400 BadParameter POST "/keys/restore?$V" '{"value":"AAAA"}'
expect_api 404 NotFound GET "/nothing?$V"
expect_api 404 KeyNotFound GET "/keys/nosuch?$V"
expect_api 404 KeyNotFound GET "/keys/k1/0123456789abcdef0123456789abcdef?$V"
expect_api 405 MethodNotAllowed DELETE "/keys/k1/create?$V"
[ "$before" = "$(store_digest)" ] || fail "a refused request changed the store"

step "disabled, not-yet-valid, expired and restricted keys refuse use"
api PATCH "/keys/k1/?$V" '{"attributes":{"enabled":false}}' >/dev/null; [ "$STATUS" = 200 ] || fail "disable"
expect_api 403 Forbidden POST "/keys/k1/sign?$V" "{\"alg\":\"RS256\",\"value\":\"$DIGEST\"}"
api PATCH "/keys/k1/?$V" "{\"attributes\":{\"enabled\":true,\"nbf\":$(( $(date +%s) + 3600 ))}}" >/dev/null
expect_api 403 Forbidden POST "/keys/k1/sign?$V" "{\"alg\":\"RS256\",\"value\":\"$DIGEST\"}"
api PATCH "/keys/k1/?$V" '{"attributes":{"nbf":0,"exp":1000}}' >/dev/null
expect_api 403 Forbidden POST "/keys/k1/sign?$V" "{\"alg\":\"RS256\",\"value\":\"$DIGEST\"}"
api PATCH "/keys/k1/?$V" '{"attributes":{"exp":0},"key_ops":["verify"]}' >/dev/null
expect_api 403 Forbidden POST "/keys/k1/sign?$V" "{\"alg\":\"RS256\",\"value\":\"$DIGEST\"}"
api PATCH "/keys/k1/?$V" '{"key_ops":["sign","verify"]}' >/dev/null
api POST "/keys/k1/sign?$V" "{\"alg\":\"RS256\",\"value\":\"$DIGEST\"}" >/dev/null; [ "$STATUS" = 200 ] || fail "re-enabled key signs"

step "deleted keys: no use, no new versions, until recovered"
api DELETE "/keys/ec1?$V" >/dev/null; [ "$STATUS" = 200 ] || fail "delete"
deleted=$(store_digest)
expect_api 404 KeyNotFound POST "/keys/ec1/sign?$V" "{\"alg\":\"ES256\",\"value\":\"$DIGEST\"}"
expect_api 404 KeyNotFound GET "/keys/ec1?$V"
expect_api 409 Conflict POST "/keys/ec1/create?$V" '{"kty":"EC"}'
expect_api 404 KeyNotFound DELETE "/keys/ec1?$V"
expect_api 404 KeyNotFound GET "/deletedkeys/k1?$V"
[ "$deleted" = "$(store_digest)" ] || fail "a refused request changed the store"
api POST "/deletedkeys/ec1/recover?$V" >/dev/null; [ "$STATUS" = 200 ] || fail "recover"

step "a Host the server's certificate does not carry is not answered, so it is never reflected into a kid or a link"
api POST "/keys/hostcheck/create?$V" '{"kty":"EC"}' >/dev/null
for h in dev.attacker.example "dev.attacker.example:$PORT" attacker.example evil "10.0.0.1:$PORT" "dev.localhost.evil:$PORT"; do
    out=$(api GET "/keys?$V&maxresults=1" "" -H "Host: $h")
    [ "$(cat "$T/status")" = 404 ] || fail "Host: $h answered $(cat "$T/status"): $out"
    printf '%s' "$out" | grep -q "names none of this server's names" || fail "Host: $h: $out"
    ! printf '%s' "$out" | grep -q "attacker\|evil\|10.0.0.1" || fail "Host: $h reflected: $out"
done
out=$(api POST "/keys/hostcheck/create?$V" '{"kty":"EC"}' -H "Host: dev.attacker.example")
[ "$(cat "$T/status")" = 404 ] || fail "a create under a forged Host answered $(cat "$T/status"): $out"
[ "$(api GET "/keys/hostcheck/versions?$V" | jq '.value | length')" = 1 ] || fail "a request under a forged Host made a version"
api GET "/keys/hostcheck?$V" "" -H "Host: 127.0.0.1:$PORT" | jq -e --arg p "https://127.0.0.1:$PORT/keys/hostcheck/" '.key.kid | startswith($p)' >/dev/null ||
    fail "127.0.0.1 is not served as itself"

step "never a 5xx"
if grep -q ' -> 5' "$SERVER_LOG"; then fail "a 5xx was answered"; fi
stop_server
echo PASS
