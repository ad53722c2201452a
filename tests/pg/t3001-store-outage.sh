#!/usr/bin/env bash
# The database goes away under a running server and comes back (run by tests/pg/with-pg.sh): while it is
# away every request is answered 503 with Key Vault's error JSON and a Retry-After, nothing half-done is
# acknowledged, and when it is back the same server answers again without a restart; the audit verifies.
. "$(dirname "$0")/../e2e/lib.sh" || exit 1
: "${STRONGROOM_STORE:?run through tests/pg/with-pg.sh with STRONGROOM_STORE set}"
start_server "$T/data" --dev --quiet
TOKEN=$(cat "$T/data/dev-token")
V="api-version=7.5"

step "a key before the outage"
api POST "/keys/before/create?$V" '{"kty":"EC","crv":"P-256"}' >/dev/null
[ "$STATUS" = 200 ] || fail "create before the outage answered $STATUS"

step "the database stops: 503, Retry-After, Key Vault's error JSON, for reads and writes"
"$SR_TEST_PG_CONTROL/stop"
expect_api 503 ServiceUnavailable GET "/keys/before?$V"
expect_api 503 ServiceUnavailable POST "/keys/during/create?$V" '{"kty":"EC","crv":"P-256"}'
api GET "/keys/before?$V" "" -D "$T/headers" >/dev/null
grep -qi '^retry-after: [0-9]' "$T/headers" || fail "no Retry-After on a 503: $(cat "$T/headers")"
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$CA" "https://localhost:$PORT/healthz")
[ "$code" = 503 ] || fail "/healthz answered $code while the database was away"
kill -0 "$SERVER_PID" || fail "the server did not survive the outage"

step "the database is back: the same server answers, nothing of the outage was kept"
"$SR_TEST_PG_CONTROL/start"
for _ in $(seq 1 50); do
    api GET "/keys/before?$V" >/dev/null
    [ "$STATUS" = 200 ] && break
    sleep 0.2
done
[ "$STATUS" = 200 ] || fail "the server did not reconnect: $STATUS"
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$CA" "https://localhost:$PORT/healthz")
[ "$code" = 200 ] || fail "/healthz answered $code after the database came back"
api GET "/keys/during?$V" >/dev/null
[ "$STATUS" = 404 ] || fail "a create refused during the outage exists: $STATUS"
grep -q 'the database cannot be reached' "$SERVER_LOG" || fail "the outage is not in the server's log"
grep -q 'the database is reachable again' "$SERVER_LOG" || fail "the recovery is not in the server's log"
api POST "/keys/after/create?$V" '{"kty":"EC","crv":"P-256"}' >/dev/null
[ "$STATUS" = 200 ] || fail "create after the outage answered $STATUS"
stop_server
$SR audit verify --data "$T/data" | grep -q 'hash chain intact' || fail "audit chain"
