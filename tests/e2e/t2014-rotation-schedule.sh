#!/usr/bin/env bash
# Rotation as Key Vault does it: a policy's lifetimeActions rotate keys on schedule while the server runs
# (timeAfterCreate, timeBeforeExpiry), each rotated version gets exp from attributes.expiryTime, a key
# that fell due while the server was down is rotated at its first check after a restart, and a policy
# that is not Key Vault's shape is refused in the REST API's words. exp and nbf clear with null.
. "$(dirname "$0")/lib.sh"
V=api-version=7.5
start_server "$T/data" --dev --quiet --rotation-interval 1
TOKEN=$(cat "$T/data/dev-token")
versions() { api GET "/keys/$1/versions?$V" | jq '.value | length'; }
policy() { api PUT "/keys/$1/rotationpolicy?$V" "$2" >/dev/null; [ "$STATUS" = 200 ] || fail "policy for $1 answered $STATUS"; }

step "timeAfterCreate rotates on schedule; the new version expires as expiryTime says"
api POST "/keys/sched/create?$V" '{"kty":"EC","crv":"P-256"}' >/dev/null
policy sched '{"lifetimeActions":[{"trigger":{"timeAfterCreate":"PT3S"},"action":{"type":"Rotate"}}],"attributes":{"expiryTime":"P30D"}}'
for _ in $(seq 1 40); do [ "$(versions sched)" -ge 2 ] && break; sleep 0.25; done
[ "$(versions sched)" -ge 2 ] || fail "the key was not rotated after its timeAfterCreate"
latest=$(api GET "/keys/sched?$V")
created=$(printf '%s' "$latest" | jq .attributes.created); exp=$(printf '%s' "$latest" | jq .attributes.exp)
[ $(( exp - created )) -ge $(( 30 * 86400 - 5 )) ] && [ $(( exp - created )) -le $(( 30 * 86400 + 5 )) ] ||
    fail "the rotated version's exp is not created + P30D: $latest"
$SR audit show --data "$T/data" --op RotateKey --actor rotation-policy -o json | jq -e 'length >= 1 and .[0].status == 200' \
    >/dev/null || fail "the scheduled rotation is not audited as the policy's"

step "timeBeforeExpiry: a key within the window is rotated"
soon=$(( $(date +%s) + 600 ))
api POST "/keys/expiring/create?$V" "{\"kty\":\"EC\",\"attributes\":{\"exp\":$soon}}" >/dev/null
policy expiring '{"lifetimeActions":[{"trigger":{"timeBeforeExpiry":"PT1H"},"action":{"type":"Rotate"}}],"attributes":{"expiryTime":"P1D"}}'
for _ in $(seq 1 40); do [ "$(versions expiring)" -ge 2 ] && break; sleep 0.25; done
[ "$(versions expiring)" -ge 2 ] || fail "a key one hour from expiry under timeBeforeExpiry PT1H was not rotated"

step "Notify alone never rotates"
api POST "/keys/quiet/create?$V" '{"kty":"EC"}' >/dev/null
policy quiet '{"lifetimeActions":[{"trigger":{"timeAfterCreate":"PT1S"},"action":{"type":"Notify"}}]}'
sleep 2.5
[ "$(versions quiet)" = 1 ] || fail "a Notify action rotated the key"

step "due while the server was down: rotated at the first check after the restart"
api POST "/keys/offline/create?$V" '{"kty":"EC"}' >/dev/null
policy offline '{"lifetimeActions":[{"trigger":{"timeAfterCreate":"PT4S"},"action":{"type":"Rotate"}}]}'
stop_server
sleep 5
start_server "$T/data" --quiet --rotation-interval 1
for _ in $(seq 1 40); do [ "$(versions offline)" -ge 2 ] && break; sleep 0.25; done
[ "$(versions offline)" -ge 2 ] || fail "a rotation that fell due during the outage did not happen after the restart"

step "policies that are not Key Vault's shape are refused, in the API's words"
for bad in '{"lifetimeActions":[{"trigger":{"timeAfterCreate":"30 days"},"action":{"type":"Rotate"}}]}' \
           '{"lifetimeActions":[{"trigger":{"timeAfterCreate":"P30D"},"action":{"type":"Delete"}}]}' \
           '{"lifetimeActions":[{"trigger":{"timeAfterCreate":"P30D","timeBeforeExpiry":"P1D"},"action":{"type":"Rotate"}}]}' \
           '{"lifetimeActions":[],"attributes":{"expiryTime":"ninety days"}}'; do
    out=$(api PUT "/keys/quiet/rotationpolicy?$V" "$bad"); STATUS=$(cat "$T/status")
    [ "$STATUS" = 400 ] && printf '%s' "$out" | grep -q 'lifetimeActions\|expiryTime' || fail "accepted or unclear: $bad -> $out"
done

step "exp and nbf clear with null"
api PATCH "/keys/quiet?$V" "{\"attributes\":{\"exp\":$soon,\"nbf\":1}}" | jq -e ".attributes.exp == $soon" >/dev/null
api PATCH "/keys/quiet?$V" '{"attributes":{"exp":null,"nbf":null}}' | jq -e '.attributes.exp == null and .attributes.nbf == null' \
    >/dev/null || fail "null did not clear exp and nbf"
stop_server
echo PASS
