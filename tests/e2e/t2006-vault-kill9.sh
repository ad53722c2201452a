#!/usr/bin/env bash
# Nothing acknowledged is lost: ten rounds of six concurrent create loops, the server killed with
# SIGKILL at a random moment in each; after every restart each key that was answered 200 is there,
# with its audit entry, and the hash chain verifies. Bounded: ten rounds of at most ~10.5 s of load each.
. "$(dirname "$0")/lib.sh"
DATA="$T/data"
start_server "$DATA" --dev --quiet --threads 2
TOKEN=$(cat "$DATA/dev-token")
create_loop() { # ROUND LOOP: creates keys until the server is gone; records each acknowledged one
    local n=0 code
    while :; do
        n=$((n + 1))
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 20 --cacert "$CA" -H "Authorization: Bearer $TOKEN" \
            -H 'Content-Type: application/json' -X POST --data '{"kty":"EC","crv":"P-256"}' \
            "https://localhost:$PORT/keys/r$1-l$2-k$n/create?api-version=7.5") || break
        [ "$code" = 200 ] || break
        echo "r$1-l$2-k$n" >> "$T/acked.$1.$2"
    done
}
for round in $(seq 1 10); do
    for loop in 1 2 3 4 5 6; do create_loop "$round" "$loop" & done
    # Kill once the load is under way (at least 10 creates acknowledged this round, however slow the
    # machine), at a random moment after that.
    for _ in $(seq 1 200); do
        [ "$(cat "$T"/acked."$round".* 2>/dev/null | wc -l)" -ge 10 ] && break
        sleep 0.05
    done
    sleep "0.$((RANDOM % 5))"
    kill -9 "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null || true
    wait # the loops end on their first refused connection
    start_server "$DATA" --dev --quiet --threads 2
done
stop_server
cat "$T"/acked.* | sort > "$T/acked"
acked=$(wc -l < "$T/acked")
[ "$acked" -gt 100 ] || fail "only $acked creates were acknowledged: the load did not run"
step "every acknowledged key ($acked) is there, with its audit entry"
store_sql "$DATA" "SELECT name FROM keys" | sort > "$T/stored"
missing=$(comm -23 "$T/acked" "$T/stored" | head -5)
[ -z "$missing" ] || fail "acknowledged but lost: $missing"
store_sql "$DATA" "SELECT target FROM audit WHERE op = 'CreateKey' AND status = 200" | sort > "$T/audited"
missing=$(comm -23 "$T/acked" "$T/audited" | head -5)
[ -z "$missing" ] || fail "acknowledged without a durable audit entry: $missing"
step "the chain verifies"
$SR audit verify --data "$DATA" | grep -q 'hash chain intact' || fail "$($SR audit verify --data "$DATA")"
echo "PASS ($acked acknowledged creates over 10 kills)"
