#!/usr/bin/env bash
# 'make demo' (scripts/hsm-demo.sh) runs to the end and shows each refusal it announces for the reason it
# announces: the legacy suite for being weak (not for the module's mode), a key of an erased module, one
# card of a 2-of-3 set.
. "$(dirname "$0")/lib.sh"
STRONGROOM_DEMO_DIR="$T/demo" bash "$SR_SOURCE_DIR/scripts/hsm-demo.sh" "$SR" > demo.out 2>&1 || { cat demo.out; fail "the demo failed"; }
grep -q 'below 112-bit security' demo.out || fail "the legacy suite is not refused for being weak: $(grep -A2 DLf1024 demo.out)"
grep -A1 'cipher-suite=DLf1024' demo.out | grep -q 'below 112-bit security' || fail "the legacy suite was refused for another reason"
[ "$(grep -c '(refused as it should be' demo.out)" = 3 ] || fail "not three refusals: $(grep -B2 refused demo.out)"
grep -q '2 of 3' demo.out || fail "one card is not refused as too few"
grep -q 'Verified OK' demo.out || fail "openssl did not verify the demo's signature"
echo PASS
