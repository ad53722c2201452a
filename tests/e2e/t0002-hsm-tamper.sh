#!/usr/bin/env bash
# One flipped byte in a key file, the world file or a card file: refused with a clear
# error and exit 1, never a crash, and nothing else on disk changes.
. "$(dirname "$0")/lib.sh"

printf 'pin1\npin2\npin3\n' > pins
$SR module mode I >/dev/null
$SR new-world --initialize --cipher-suite=DLf3072s256mRijndael --module=1 --acs-quorum=2/3 --pin-file pins >/dev/null
$SR module mode O >/dev/null
$SR generatekey --generate simple type=EC curve=P-384 protect=module ident=k1 plainname=k1 nvram=no >/dev/null
echo data > data

# flip FILE OFFSET: xor one byte in place
flip() { local b; b=$(xxd -p -s "$2" -l 1 "$1"); printf "%02x" $((0x$b ^ 0x5a)) | xxd -r -p | dd of="$1" bs=1 seek="$2" conv=notrunc status=none; }

check_file() { # FILE EXPECTED-PATTERN COMMAND...
    local file=$1 pattern=$2; shift 2
    local size; size=$(stat -c %s "$file")
    cp "$file" "$T/orig"
    for off in 0 5 9 20 $((size / 2)) $((size - 20)) $((size - 1)); do
        flip "$file" $off
        local before; before=$(tree_digest kmdata)
        expect 1 "$pattern" "$@"
        [ "$before" = "$(tree_digest kmdata)" ] || fail "refusal changed kmdata ($file at $off)"
        cp "$T/orig" "$file"
    done
    "$@" >/dev/null
}

step "key file"
check_file kmdata/local/key_simple_k1 "key file" $SR sign --ident k1 --alg ES384 --in data --out sig
check_file kmdata/local/key_simple_k1 "key file" $SR kmfile-dump kmdata/local/key_simple_k1
step "world file"
check_file kmdata/local/world "world file" $SR sign --ident k1 --alg ES384 --in data --out sig
step "card file"
$SR module reset >/dev/null
card=$(ls kmdata/cards/*_2.card)
check_file "$card" "card" $SR world load --cards 1,2 --pin-file pins
step "a file that is not a key file"
expect 1 "not a Strongroom key file" $SR kmfile-dump pins
expect 1 "not found" $SR kmfile-dump kmdata/local/nothing
echo PASS
