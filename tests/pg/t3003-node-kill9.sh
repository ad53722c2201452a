#!/usr/bin/env bash
# Three nodes over one PostgreSQL under a bounded create-and-sign load (run by tests/pg/with-pg.sh);
# node 2 is killed with kill -9 in the middle. Clients that get no answer from a node retry once on the
# next: none sees an error twice. Afterwards every acknowledged key is there, every key there has its
# audit entry (nothing exists that was kept without one), and the one chain of all nodes verifies.
. "$(dirname "$0")/../e2e/lib.sh" || exit 1
: "${STRONGROOM_STORE:?run through tests/pg/with-pg.sh with STRONGROOM_STORE set}"
region_nodes 3
start_nodes 3
DIGEST=$(printf 'x' | openssl dgst -sha256 -binary | basenc --base64url | tr -d '=')

call() { # NODE METHOD PATH BODY: the HTTP status, 000 when the node does not answer
    curl -s -o /dev/null -w '%{http_code}' --max-time 10 --cacert "${CAS[$1]}" \
        --resolve "contoso.localhost:${PORTS[$1]}:127.0.0.1" -H "Authorization: Bearer $TOKEN" \
        -H 'Content-Type: application/json' -X "$2" --data "$4" "https://contoso.localhost:${PORTS[$1]}$3?api-version=7.5" || true
}
retrying() { # NODE METHOD PATH BODY: on node NODE, else once on the next node; prints the node that answered 200
    local node=$1 code
    code=$(call "$node" "$2" "$3" "$4")
    if [ "$code" != 200 ]; then
        node=$((node % 3 + 1))
        code=$(call "$node" "$2" "$3" "$4")
        [ "$code" = 200 ] || { echo "error twice: $2 $3 ($code)" >> "$T/errors"; return 1; }
    fi
    echo "$node"
}
client() { # ID: creates and signs keys through the nodes in turn until told to stop
    local i=0 node
    while [ ! -e "$T/stop" ]; do
        i=$((i + 1))
        node=$(( (i + $1) % 3 + 1 ))
        node=$(retrying "$node" POST "/keys/c$1-k$i/create" '{"kty":"EC","crv":"P-256"}') || return 0
        echo "c$1-k$i" >> "$T/acked.$1"
        retrying $((node % 3 + 1)) POST "/keys/c$1-k$i/sign" "{\"alg\":\"ES256\",\"value\":\"$DIGEST\"}" >/dev/null || return 0
    done
}

acked_now() { cat "$T"/acked.* 2>/dev/null | wc -l; }
wait_acked() { # N: until N creates are acknowledged in all (at most 30 s: a slow machine is slow, not broken)
    for _ in $(seq 1 600); do [ "$(acked_now)" -ge "$1" ] && return; sleep 0.05; done
}
step "six clients over three nodes; node 2 killed with kill -9 once the load runs"
CLIENTS=()
for c in 1 2 3 4 5 6; do client $c & CLIENTS+=($!); done
wait_acked 15
kill -9 "${PIDS[2]}"
wait "${PIDS[2]}" 2>/dev/null || true
wait_acked 45 # and as much again on the two nodes left
touch "$T/stop"
wait "${CLIENTS[@]}" # not the servers still running
[ ! -s "$T/errors" ] || fail "a client saw an error twice: $(head -3 "$T/errors")"
cat "$T"/acked.* | sort > acked
acked=$(wc -l < acked)
[ "$acked" -gt 30 ] || fail "only $acked creates were acknowledged: the load did not run"

step "every acknowledged key ($acked) is there; every key there has its audit entry; the chain verifies"
store_sql n1 "SELECT name FROM keys" | sort -u > stored
missing=$(comm -23 acked stored | head -5)
[ -z "$missing" ] || fail "acknowledged but lost: $missing"
store_sql n1 "SELECT target FROM audit WHERE op = 'CreateKey' AND status = 200" | sort -u > audited
unaudited=$(comm -23 stored audited | head -5)
[ -z "$unaudited" ] || fail "kept without an audit entry: $unaudited"
for i in 1 3; do SERVER_PID=${PIDS[$i]}; stop_server; done
$SR audit verify --data n1 | grep -q 'hash chain intact' || fail "audit chain"
echo "PASS ($acked acknowledged creates, node 2 killed)"
