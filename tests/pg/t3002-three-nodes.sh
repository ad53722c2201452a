#!/usr/bin/env bash
# Three servers over one PostgreSQL (run by tests/pg/with-pg.sh). Node 1 makes region EU with a 2-of-3
# card set; nodes 2 and 3 join it, each with its own module, from a quorum of the cards, after refused
# joins (one card, a wrong PIN, another world's cards) that write nothing. Then a key created through
# node 1 signs through node 2 (openssl verifies it against the key node 1 shows), is deleted through
# node 3 and is gone through node 1 at once; a server that never joined answers the region's vault 503.
. "$(dirname "$0")/../e2e/lib.sh" || exit 1
: "${STRONGROOM_STORE:?run through tests/pg/with-pg.sh with STRONGROOM_STORE set}"
V="api-version=7.5"
printf 'pin-1\npin-2\npin-3\n' > pins
printf 'pin-1\n\npin-3\n' > pins-13
printf '\npin-2\npin-3\n' > pins-23
printf 'pin-1\n\nnot-pin-3\n' > pins-wrong

step "node 1 makes region EU (2 of 3 cards), vault contoso and a token"
$SR region create EU --data n1 --acs-quorum 2/3 --pin-file pins >/dev/null
$SR vault create contoso --region EU --subscription-id sub-1 --data n1 >/dev/null
TOKEN=$($SR token create --role Administrator --data n1)
CARDS=n1/regions/EU/cards
# Another world's cards (same numbers, same PINs), made in a store of its own:
STRONGROOM_STORE= $SR region create EU --data foreign --acs-quorum 2/3 --pin-file pins >/dev/null

step "refused joins write nothing: one card, a wrong PIN, another world's cards"
store_digest() { "$SR_TEST_PG_BIN/psql" -At -d "$STRONGROOM_STORE" -c "SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM (SELECT * FROM region_files UNION ALL SELECT name, '', NULL FROM regions) t"; }
before=$(store_digest)
expect 1 'quorum' $SR region join EU --data n2 --cards 1 --card-dir "$CARDS" --pin-file pins
expect 1 'wrong PIN' $SR region join EU --data n2 --cards 1,3 --card-dir "$CARDS" --pin-file pins-wrong
mkdir inserted # the foreign cards in the reader, as the cards of EU's world would be
for n in 1 2 3; do
    cp foreign/regions/EU/cards/acs_*_$n.card "inserted/$(basename "$CARDS"/acs_*_$n.card)"
done
expect 1 'different security world' $SR region join EU --data n2 --cards 1,3 --card-dir inserted --pin-file pins
[ ! -e n2 ] || [ -z "$(find n2 -mindepth 1 -print -quit)" ] || fail "a refused join left files: $(find n2)"
[ "$(store_digest)" = "$before" ] || fail "a refused join changed the store"

step "nodes 2 and 3 join with different quorums; a second join is refused"
$SR region join EU --data n2 --cards 1,3 --card-dir "$CARDS" --pin-file pins-13 | grep -q 'Region EU joined'
mkdir -p n3/regions/EU && cp -r "$CARDS" n3/regions/EU/cards # inserted where the default --card-dir looks
$SR region join EU --data n3 --cards 2,3 --pin-file pins-23 | grep -q 'Region EU joined'
expect 1 'already' $SR region join EU --data n3 --cards 2,3 --card-dir "$CARDS" --pin-file pins-23
cmp n1/regions/EU/kmdata/module/km0 n2/regions/EU/kmdata/module/km0 >/dev/null 2>&1 && fail "node 2 shares node 1's module key"

start_nodes 4
VHOST=contoso.localhost

step "create through node 1, sign through node 2, openssl verifies against node 1's public key"
on n1; api POST "/keys/shared/create?$V" '{"kty":"RSA","key_size":2048}' > created.json
[ "$STATUS" = 200 ] || fail "create on node 1: $STATUS $(cat created.json)"
jwk_pem created.json > shared.pem
printf 'signed on another node' > data
DIGEST=$(openssl dgst -sha256 -binary data | base64 -w0 | tr '/+' '_-' | tr -d '=')
on n2; api POST "/keys/shared/sign?$V" "{\"alg\":\"RS256\",\"value\":\"$DIGEST\"}" > sig.json
[ "$STATUS" = 200 ] || fail "sign on node 2: $STATUS $(cat sig.json)"
jq -r .value sig.json | tr '_-' '/+' | awk '{ l = length($0) % 4; if (l) $0 = $0 substr("==", 1, 4 - l); print }' | base64 -d > sig.bin
openssl dgst -sha256 -verify shared.pem -signature sig.bin data >/dev/null || fail "node 2's signature does not verify"

step "delete through node 3: gone through node 1 at once"
on n3; api DELETE "/keys/shared?$V" >/dev/null
[ "$STATUS" = 200 ] || fail "delete on node 3: $STATUS"
on n1; expect_api 404 KeyNotFound GET "/keys/shared?$V"
on n2; expect_api 404 KeyNotFound POST "/keys/shared/sign?$V" "{\"alg\":\"RS256\",\"value\":\"$DIGEST\"}"

step "the Azure SDK, unchanged: create through node 1, sign through node 2, delete through node 3"
sdk_install
cat "${CAS[1]}" "${CAS[2]}" "${CAS[3]}" > cas.pem
NODE_EXTRA_CA_CERTS="$T/cas.pem" timeout 120 node --require "$SDK/localhost-dns.cjs" "$SDK/sdk-nodes.mjs" \
    "https://contoso.localhost:${PORTS[1]}" "https://contoso.localhost:${PORTS[2]}" \
    "https://contoso.localhost:${PORTS[3]}" "$TOKEN" || fail "the SDK across nodes"

step "a server that never joined region EU answers its vault 503, never with another module"
on n4; expect_api 503 ServiceUnavailable GET "/keys/shared?$V"
health=$(curl -s --cacert "$CA" "https://localhost:$PORT/healthz" | jq -c '{status,regions,regionsServed}')
[ "$health" = '{"status":"ok","regions":1,"regionsServed":0}' ] || fail "healthz of a node that never joined: $health"

for i in 1 2 3 4; do SERVER_PID=${PIDS[$i]}; stop_server; done
$SR audit verify --data n1 | grep -q 'hash chain intact' || fail "audit chain across nodes"
