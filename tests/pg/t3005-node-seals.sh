#!/usr/bin/env bash
# Each node of a PostgreSQL store chooses its own seal (issue 21): node 1 keeps its module keys as files,
# node 2 has them sealed by its TPM (a swtpm) before it joins region EU from the region's card. A key made
# through node 1 signs through node 2. Node 2 started against another TPM serves nothing and says why,
# while node 1 goes on signing; node 2 back on its own TPM serves again. Node 3 is sealed by the cards: it
# starts sealed (its /healthz 503, so a balancer sends it nothing, and its requests 503) while node 1 serves,
# and serves once 'strongroom unseal' gives it the region's card.
. "$(dirname "$0")/../e2e/lib.sh" || exit 1
: "${STRONGROOM_STORE:?run through tests/pg/with-pg.sh with STRONGROOM_STORE set}"
V="api-version=7.5"
swtpm_start tpm-a
TPM_A=$TCTI
swtpm_start tpm-b
TPM_B=$TCTI

step "node 1 (file seal) makes region EU; node 2 seals to its TPM, then joins from the card"
region_nodes 1
$SR seal init --backend tpm2 --tpm "$TPM_A" --data n2 >/dev/null
echo pin-1 > "$T/pin"
$SR region join EU --data n2 --cards 1 --card-dir n1/regions/EU/cards --pin-file "$T/pin" | grep -q 'Region EU joined' ||
    fail "a tpm2-sealed node could not join"
[ -s n2/regions/EU/kmdata/module/km0.tpm2 ] && [ ! -e n2/regions/EU/kmdata/module/km0 ] || fail "node 2's module key is not sealed"
[ -s n1/regions/EU/kmdata/module/km0 ] || fail "node 1's module key is not a file"
start_nodes 2
VHOST=contoso.localhost
for i in 1 2; do
    on "n$i"
    seal=$(curl -s --cacert "$CA" "https://localhost:$PORT/healthz" | jq -r .seal)
    [ "$seal" = "$([ "$i" = 1 ] && echo file || echo tpm2)" ] || fail "node $i says seal $seal"
done

step "a key made through node 1 signs through node 2"
on n1; api POST "/keys/shared/create?$V" '{"kty":"EC","crv":"P-256"}' >/dev/null
[ "$STATUS" = 200 ] || fail "create on node 1: $STATUS"
DIGEST=$(printf 'on another node' | openssl dgst -sha256 -binary | b64u)
on n2; api POST "/keys/shared/sign?$V" "{\"alg\":\"ES256\",\"value\":\"$DIGEST\"}" >/dev/null
[ "$STATUS" = 200 ] || fail "sign on node 2: $STATUS"

step "node 2 against another TPM serves nothing and says why; node 1 goes on"
SERVER_PID=${PIDS[2]}; stop_server
expect 1 "sealed by another TPM" $SR serve --data n2 --listen 127.0.0.1:0 --tpm "$TPM_B" --default-vault contoso
grep -q "n2/tls/km0.tpm2" "$T/err" || fail "the refusal does not name the module key: $(cat "$T/err")"
on n1; api POST "/keys/shared/sign?$V" "{\"alg\":\"ES256\",\"value\":\"$DIGEST\"}" >/dev/null
[ "$STATUS" = 200 ] || fail "node 1 stopped signing: $STATUS"

step "node 2 on its own TPM serves again"
start_server n2 --quiet --default-vault contoso
api POST "/keys/shared/sign?$V" "{\"alg\":\"ES256\",\"value\":\"$DIGEST\"}" >/dev/null
[ "$STATUS" = 200 ] || fail "node 2 back on its TPM: $STATUS"
stop_server

step "node 3, sealed by the cards, starts sealed while node 1 serves; unsealed, it signs"
$SR seal init --backend cards --data n3 >/dev/null
$SR region join EU --data n3 --cards 1 --card-dir n1/regions/EU/cards --pin-file "$T/pin" >/dev/null ||
    fail "a cards-sealed node could not join"
[ -s n3/regions/EU/kmdata/module/km0.cards ] && [ ! -e n3/regions/EU/kmdata/module/nvram ] || fail "node 3's seal"
start_server n3 --quiet --default-vault contoso
code=$(curl -s -o health.json -w '%{http_code}' --cacert "$CA" "https://localhost:$PORT/healthz")
[ "$code" = 503 ] && jq -e '.sealed == true' health.json >/dev/null || fail "node 3 sealed: $code $(cat health.json)"
api POST "/keys/shared/sign?$V" "{\"alg\":\"ES256\",\"value\":\"$DIGEST\"}" >/dev/null
[ "$STATUS" = 503 ] || fail "sealed node 3 answered $STATUS"
N3_PORT=$PORT N3_CA=$CA
on n1; api POST "/keys/shared/sign?$V" "{\"alg\":\"ES256\",\"value\":\"$DIGEST\"}" >/dev/null
[ "$STATUS" = 200 ] || fail "node 1 stopped signing while node 3 is sealed: $STATUS"
$SR unseal --data n3 --cards 1 --card-dir n1/regions/EU/cards --pin-file "$T/pin" | grep -q "unsealed, serving" ||
    fail "unseal node 3"
PORT=$N3_PORT CA=$N3_CA
api POST "/keys/shared/sign?$V" "{\"alg\":\"ES256\",\"value\":\"$DIGEST\"}" >/dev/null
[ "$STATUS" = 200 ] || fail "node 3 unsealed: $STATUS"
stop_server
SERVER_PID=${PIDS[1]}; stop_server
echo PASS
