#!/usr/bin/env bash
# A database failover under load (run by tests/pg/with-pg.sh with SR_TEST_PG_STANDBY=1: a primary and a
# synchronous streaming-replication standby). Two nodes are given both addresses (libpq's multi-host URL,
# target_session_attrs=read-write). The primary is stopped and the standby promoted while clients
# create keys: every answer is 200 or 503 (never a 500, never a wrong answer), the nodes continue on the
# new primary without a restart, and every acknowledged key is on it with the chain verifying.
. "$(dirname "$0")/../e2e/lib.sh" || exit 1
: "${SR_TEST_PG_STANDBY_URL:?run through tests/pg/with-pg.sh with SR_TEST_PG_STANDBY=1}"
region_nodes 2
start_nodes 2

client() { # ID: creates keys through both nodes in turn until the deadline, every status recorded
    local i=0 n code
    while [ "$(date +%s%N)" -lt "$DEADLINE" ]; do
        i=$((i + 1)) n=$(( (i + $1) % 2 + 1 ))
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 15 --cacert "${CAS[$n]}" \
            --resolve "contoso.localhost:${PORTS[$n]}:127.0.0.1" -H "Authorization: Bearer $TOKEN" \
            -H 'Content-Type: application/json' -X POST --data '{"kty":"EC","crv":"P-256"}' \
            "https://contoso.localhost:${PORTS[$n]}/keys/c$1-k$i/create?api-version=7.5" || true)
        echo "$(date +%s%N) $code" >> "$T/codes.$1"
        if [ "$code" = 200 ]; then echo "c$1-k$i" >> "$T/acked.$1"; else sleep 0.1; fi
    done
}

step "clients create keys through two nodes; the primary stops, the standby is promoted"
DEADLINE=$(( $(date +%s%N) + 7000000000 ))
CLIENTS=()
for c in 1 2 3 4; do client $c & CLIENTS+=($!); done
sleep 1.5
"$SR_TEST_PG_CONTROL/stop"
sleep 0.5
"$SR_TEST_PG_CONTROL/promote"
PROMOTED=$(date +%s%N)
wait "${CLIENTS[@]}"

step "every answer was 200 or 503; both nodes continued on the new primary"
bad=$(cat "$T"/codes.* | awk '$2 != 200 && $2 != 503' | head -3)
[ -z "$bad" ] || fail "answers other than 200 or 503 during the failover: $bad"
cat "$T"/codes.* | awk '$2 == 503' | grep -q . || fail "no 503 while there was no primary: was the failover exercised?"
after=$(cat "$T"/codes.* | awk -v t="$PROMOTED" '$1 > t + 1000000000 && $2 == 200' | wc -l)
[ "$after" -gt 5 ] || fail "the nodes did not continue after the promotion ($after creates)"
for i in 1 2; do kill -0 "${PIDS[$i]}" || fail "node $i died in the failover"; done

step "every acknowledged key is on the new primary; the chain verifies"
cat "$T"/acked.* | sort > acked
STRONGROOM_STORE=$SR_TEST_PG_STANDBY_URL store_sql n1 "SELECT name FROM keys" | sort -u > stored
missing=$(comm -23 acked stored | head -5)
[ -z "$missing" ] || fail "acknowledged but not on the new primary: $missing"
for i in 1 2; do SERVER_PID=${PIDS[$i]}; stop_server; done
$SR audit verify --data n1 | grep -q 'hash chain intact' || fail "audit chain"
echo "PASS ($(wc -l < acked) acknowledged creates, $after after the promotion)"
