#!/usr/bin/env bash
# Two servers over one PostgreSQL and one PKCS#11 token (issue 22, item 6; run by tests/pg/with-pg.sh): node 1
# makes region HSM1 on a SoftHSMv2 token (both nodes see the same token directory, as nodes see a networked HSM);
# node 2 joins it with its own URI (its own PIN file), after refused joins that write nothing: another token, a
# wrong PIN. A key made through node 1 is found by its CKA_ID and signs through node 2 (openssl verifies), rotated
# through node 2 signs through node 1, purged through node 2 is gone through node 1 and from the token.
. "$(dirname "$0")/../e2e/lib.sh" || exit 1
: "${STRONGROOM_STORE:?run through tests/pg/with-pg.sh with STRONGROOM_STORE set}"
V="api-version=7.5"
softhsm_token hsm
softhsm2-util --init-token --free --label other --pin 1234 --so-pin 5678 >/dev/null

step "node 1 makes region HSM1 on the token, vault hsmv and a token"
$SR region create HSM1 --data n1 --hsm "$P11_URI" >/dev/null || fail "region create --hsm"
$SR vault create hsmv --region HSM1 --subscription-id sub-1 --data n1 >/dev/null
TOKEN=$($SR token create --role Administrator --data n1)

step "refused joins write nothing: another token, a wrong PIN, cards for a region that has none"
store_digest() { "$SR_TEST_PG_BIN/psql" -At -d "$STRONGROOM_STORE" -c "SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM (SELECT * FROM region_files UNION ALL SELECT name, '', NULL FROM regions) t"; }
before=$(store_digest)
echo 1234 > n2-pin
echo 9999 > wrong-pin
expect 1 'not the region' $SR region join HSM1 --data n2 --hsm "pkcs11:token=other?module-path=$SOFTHSM&pin-source=file:$T/n2-pin"
expect 1 'PIN' $SR region join HSM1 --data n2 --hsm "pkcs11:token=vault?module-path=$SOFTHSM&pin-source=file:$T/wrong-pin"
[ ! -e n2 ] || [ -z "$(find n2 -mindepth 1 -not -name root -not -path 'n2/root/*' -print -quit)" ] ||
    fail "a refused join left files: $(find n2)"
[ "$(store_digest)" = "$before" ] || fail "a refused join changed the store"

step "node 2 joins with its own PIN file; a second join is refused"
$SR region join HSM1 --data n2 --hsm "pkcs11:token=vault?module-path=$SOFTHSM&pin-source=file:$T/n2-pin" > joined.txt ||
    fail "join: $(cat joined.txt)"
grep -q 'Region HSM1 joined' joined.txt || fail "join says: $(cat joined.txt)"
grep -q "pin-source=file:$T/n2-pin" n2/regions/HSM1/hsm/region.json || fail "node 2 does not keep its own URI"
expect 1 'already' $SR region join HSM1 --data n2 --hsm "pkcs11:token=vault?module-path=$SOFTHSM&pin-source=file:$T/n2-pin"
expect 2 'hsm URI' $SR region join HSM1 --data n3
$SR region list --data n2 | grep -q 'HSM1 *yes' || fail "region list on node 2: $($SR region list --data n2)"

start_nodes 2 hsmv
VHOST=hsmv.localhost

step "made through node 1, found by its CKA_ID and signing through node 2; openssl verifies"
on n1; api POST "/keys/shared/create?$V" '{"kty":"EC-HSM","crv":"P-256"}' > created.json
[ "$STATUS" = 200 ] || fail "create on node 1: $STATUS $(cat created.json)"
jwk_pem created.json > shared.pem
printf 'signed on another node' > data
STRONGROOM_VAULT_URL="https://hsmv.localhost:${PORTS[2]}" STRONGROOM_CA_FILE="${CAS[2]}" STRONGROOM_TOKEN="$TOKEN" \
    $SR key sign --name shared --alg ES256 --in data --out sig.der --signature-format der > sign.txt 2>&1 ||
    fail "sign on node 2: $(cat sign.txt)"
openssl dgst -sha256 -verify shared.pem -signature sig.der data >/dev/null || fail "node 2's signature does not verify"


step "rotated through node 2 (a new object in the token), the new version signs through node 1"
DIGEST=$(openssl dgst -sha256 -binary data | b64u)
on n2; api POST "/keys/shared/rotate?$V" > rotated.json
[ "$STATUS" = 200 ] || fail "rotate on node 2: $STATUS $(cat rotated.json)"
on n1; api POST "/keys/shared/sign?$V" "{\"alg\":\"ES256\",\"value\":\"$DIGEST\"}" > sig2.json
[ "$STATUS" = 200 ] && [ "$(jq -r .kid sig2.json | xargs basename)" = "$(jq -r .key.kid rotated.json | xargs basename)" ] ||
    fail "the rotated version does not sign through node 1: $STATUS $(cat sig2.json)"

step "purged through node 2: gone through node 1, and its objects gone from the token"
objects() { pkcs11-tool --module "$SOFTHSM" --token-label vault --login --pin 1234 --list-objects --type privkey 2>/dev/null | grep -c '^Private Key Object' || true; }
n_before=$(objects)
on n2; api DELETE "/keys/shared?$V" >/dev/null
api DELETE "/deletedkeys/shared?$V" >/dev/null
[ "$STATUS" = 204 ] || fail "purge on node 2: $STATUS"
on n1; expect_api 404 KeyNotFound POST "/keys/shared/sign?$V" "{\"alg\":\"ES256\",\"value\":\"$DIGEST\"}"
[ "$(objects)" = $((n_before - 2)) ] || fail "the purge left objects: $n_before before, $(objects) after"

for i in 1 2; do SERVER_PID=${PIDS[$i]}; stop_server; done
$SR audit verify --data n1 | grep -q 'hash chain intact' || fail "audit chain across nodes"
echo PASS
