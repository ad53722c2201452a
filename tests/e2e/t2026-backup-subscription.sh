#!/usr/bin/env bash
# A key backup restores only into a vault of its own subscription (issue 29, item 3). The chain that worked
# before: a Crypto User of vault dev backs up an exportable key; the administrator of vaultb (another
# subscription, same region) restores it, points its release policy at vaultb's own authority and releases
# dev's private key. Now the restore is refused 400 with Key Vault's error and nothing is made in vaultb;
# a vault of dev's own subscription restores it, policy and exportable kept, and an immutable policy stays
# immutable there. Then rotation policies (item 6): a Crypto User may not set one (rotation's permission),
# and outside --dev Key Vault's minimums hold (7 days for a trigger, 28 for expiryTime).
. "$(dirname "$0")/lib.sh"
start_server "$T/data" --dev --quiet
TOKEN=$(cat "$T/data/dev-token")
DEV_SUB=$($SR vault list --data "$T/data" --output json | jq -r '.[] | select(.name == "dev") | .subscriptionId')
$SR vault create vaultb --region DEV --subscription-id 0000aaaa-0000-0000-0000-00000000000b --data "$T/data" >/dev/null
$SR vault create same --region DEV --subscription-id "$DEV_SUB" --data "$T/data" >/dev/null
USER=$($SR token create --role "Crypto User" --vault dev --name dev-user --data "$T/data")
ADMIN_B=$($SR token create --role Administrator --vault vaultb --name vaultb-admin --data "$T/data")
ADMIN_SAME=$($SR token create --role Administrator --vault same --name same-admin --data "$T/data")
ISS=https://attest.example.test/
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out auth.pem 2>/dev/null
authority_jwks auth.pem auth-1 jwks.json
for v in dev vaultb same; do
    $SR vault trust-authority --vault $v --issuer "$ISS" --jwks jwks.json --data "$T/data" >/dev/null
done
policy_b64() { jq -cn --arg a "$1" '{version: "1.0.0", anyOf: [{authority: $a, allOf: [{claim: "x-ms-attestation-type", equals: "sevsnpvm"}]}]}' | b64u; }

step "dev: an exportable key (mutable policy) and one with an immutable policy; the Crypto User backs them up"
for k in exp1:false exp2:true; do
    api POST "/keys/${k%%:*}/create?api-version=7.5" "$(jq -cn --arg d "$(policy_b64 "$ISS")" --argjson im "${k##*:}" \
        '{kty: "RSA-HSM", key_size: 2048, attributes: {exportable: true}, release_policy: {data: $d, immutable: $im}}')" >/dev/null
    [ "$STATUS" = 200 ] || fail "create ${k%%:*}: $(cat "$T/resp")"
done
TOKEN=$USER
api POST "/keys/exp1/backup?api-version=7.5" > b1.json
[ "$STATUS" = 200 ] || fail "the Crypto User's backup answered $STATUS"
api POST "/keys/exp2/backup?api-version=7.5" > b2.json

step "vaultb (another subscription) cannot restore it: 400, Key Vault's error, nothing made"
TOKEN=$ADMIN_B VHOST=vaultb.localhost
expect_api 400 BadParameter POST "/keys/restore?api-version=7.5" "$(jq -c '{value}' b1.json)"
grep -q "another subscription" "$T/resp" || fail "the refusal does not say why: $(cat "$T/resp")"
api GET "/keys/exp1?api-version=7.5" >/dev/null
[ "$STATUS" = 404 ] || fail "vaultb has a key exp1 after the refused restore ($STATUS)"
api PATCH "/keys/exp1?api-version=7.5" '{"release_policy":{"data":"e30"}}' >/dev/null
[ "$STATUS" = 404 ] || fail "PATCH of the unrestored key answered $STATUS"
api POST "/keys/exp1/release?api-version=7.5" '{"target":"x.y.z"}' >/dev/null
[ "$STATUS" = 404 ] || fail "release of the unrestored key answered $STATUS"
# A damaged blob is still refused as damaged, not as foreign.
expect_api 400 BadParameter POST "/keys/restore?api-version=7.5" '{"value":"AAAA"}'
api GET "/audit?api-version=7.5" > audit.json
jq -e '[.value[] | select(.op == "RestoreKey" and .status == 400)] | length == 2' audit.json >/dev/null ||
    fail "the refused restore is not audited: $(cat audit.json)"

step "a vault of dev's own subscription restores it, exportable and policy kept"
TOKEN=$ADMIN_SAME VHOST=same.localhost
api POST "/keys/restore?api-version=7.5" "$(jq -c '{value}' b1.json)" > r1.json
[ "$STATUS" = 200 ] || fail "restore into the same subscription answered $STATUS: $(cat r1.json)"
jq -e '.attributes.exportable == true and .release_policy.immutable == false' r1.json >/dev/null || fail "restored: $(cat r1.json)"
api POST "/keys/restore?api-version=7.5" "$(jq -c '{value}' b2.json)" > r2.json
[ "$STATUS" = 200 ] || fail "restore of exp2 answered $STATUS"
# An immutable policy stays immutable wherever the key goes; a mutable one follows the vault's roles.
api PATCH "/keys/exp2?api-version=7.5" "$(jq -cn --arg d "$(policy_b64 https://elsewhere.example.test/)" '{release_policy: {data: $d}}')" >/dev/null
[ "$STATUS" = 400 ] || fail "the restored immutable policy was changed ($STATUS)"
api PATCH "/keys/exp1?api-version=7.5" "$(jq -cn --arg d "$(policy_b64 https://elsewhere.example.test/)" '{release_policy: {data: $d}}')" >/dev/null
[ "$STATUS" = 200 ] || fail "the administrator of the same subscription could not change a mutable policy ($STATUS)"

step "rotation policies: a Crypto User may not set one; outside --dev, Key Vault's minimums hold"
VHOST=dev.localhost TOKEN=$USER
P1S='{"lifetimeActions":[{"trigger":{"timeAfterCreate":"PT1S"},"action":{"type":"Rotate"}}]}'
expect_api 403 Forbidden PUT "/keys/exp1/rotationpolicy?api-version=7.5" "$P1S"
expect_api 403 Forbidden POST "/keys/exp1/rotate?api-version=7.5"
stop_server
start_server "$T/data" --quiet
TOKEN=$(cat "$T/data/dev-token")
for bad in "$P1S" \
    '{"lifetimeActions":[{"trigger":{"timeAfterCreate":"P6D"},"action":{"type":"Rotate"}}]}' \
    '{"lifetimeActions":[{"trigger":{"timeBeforeExpiry":"PT1H"},"action":{"type":"Notify"}}]}' \
    '{"lifetimeActions":[{"trigger":{"timeAfterCreate":"P30D"},"action":{"type":"Rotate"}}],"attributes":{"expiryTime":"P27D"}}'; do
    out=$(api PUT "/keys/exp1/rotationpolicy?api-version=7.5" "$bad")
    [ "$(cat "$T/status")" = 400 ] && grep -q "minimum" <<<"$out" || fail "outside --dev, $bad answered $STATUS: $out"
done
api PUT "/keys/exp1/rotationpolicy?api-version=7.5" \
    '{"lifetimeActions":[{"trigger":{"timeAfterCreate":"P7D"},"action":{"type":"Rotate"}}],"attributes":{"expiryTime":"P28D"}}' >/dev/null
[ "$STATUS" = 200 ] || fail "a policy at Key Vault's minimums answered $STATUS: $(cat "$T/resp")"
stop_server
echo PASS
