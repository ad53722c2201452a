#!/usr/bin/env bash
# An audit checkpoint anchors the log outside: 'audit checkpoint' signs the chain's head with a region
# module's warranted key; 'audit verify --checkpoint' then proves the log still holds what it signed. The
# hash chain alone cannot see a removed tail: with the last entries deleted, 'audit verify' passes and
# 'audit verify --checkpoint' fails. An altered checkpoint, or one checked against another root, fails.
# A running server writes its own checkpoints (--checkpoint-interval) into DATA/checkpoints.
. "$(dirname "$0")/lib.sh"
start_server "$T/data" --dev --quiet --checkpoint-interval 1
TOKEN=$(cat "$T/data/dev-token")
for i in 1 2 3 4 5; do api POST "/keys/k$i/create?api-version=7.5" '{"kty":"EC"}' >/dev/null; done

step "the server writes a checkpoint of its own once the log grew, and it verifies"
for _ in $(seq 1 50); do ls "$T/data/checkpoints/"checkpoint-*.json >/dev/null 2>&1 && break; sleep 0.1; done
own=$(ls "$T/data/checkpoints/"checkpoint-*.json 2>/dev/null | tail -1)
[ -n "$own" ] || fail "the server wrote no checkpoint in DATA/checkpoints"
$SR audit verify --checkpoint "$own" --data "$T/data" | grep -q 'the checkpoint signed' || fail "the server's checkpoint"

step "a checkpoint of the live log, and the log grows after it"
$SR audit checkpoint --out "$T/cp.json" --data "$T/data" | tee cp.out
grep -q 'signed by region DEV' cp.out || fail "checkpoint: $(cat cp.out)"
seq=$(jq -r .payload "$T/cp.json" | base64 -d | jq .seq)
[ "$seq" -ge 5 ] || fail "the checkpoint signed $seq entries"
for i in 6 7; do api POST "/keys/k$i/create?api-version=7.5" '{"kty":"EC"}' >/dev/null; done
$SR audit verify --checkpoint "$T/cp.json" --data "$T/data" | grep -q "holds the $seq entries the checkpoint signed" ||
    fail "a grown log does not pass its checkpoint"
stop_server

step "a truncated log passes the chain alone and fails against the checkpoint"
store_sql "$T/data" "DELETE FROM audit WHERE seq >= $(( seq - 1 ))" >/dev/null
$SR audit verify --data "$T/data" | grep -q 'hash chain intact' || fail "the truncated chain should still verify alone"
expect 1 'entries were removed' $SR audit verify --checkpoint "$T/cp.json" --data "$T/data"

step "an altered checkpoint, or another root, is refused"
jq --arg p "$(jq -r .payload "$T/cp.json" | base64 -d | jq -c '.seq = 1' | base64 -w0)" '.payload = $p' "$T/cp.json" > forged.json
expect 1 'does not verify' $SR audit verify --checkpoint forged.json --data "$T/data"
expect 1 'does not verify' $SR audit verify --checkpoint "$T/cp.json" --root-fingerprint "$(printf '0%.0s' $(seq 64))" --data "$T/data"
echo PASS
