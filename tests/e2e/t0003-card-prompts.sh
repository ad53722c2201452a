#!/usr/bin/env bash
# The guide's "you are prompted to plug in your administrator cards", at a real terminal (a pty made by
# script(1)): new-world asks for each new card's PIN twice, asks again when the two differ or the PIN is
# under 4 characters; world load asks which card is inserted and its PIN until the quorum is met. Without
# a terminal and without --cards, commands exit 2 naming --cards. A PIN file others can read is warned of.
. "$(dirname "$0")/lib.sh"
# at_tty FIRST INPUT CMD...: runs CMD on a new pseudo-terminal (script(1)) and types INPUT once the prompt
# FIRST is shown: what is typed before a program turns echo off would be echoed by the terminal itself.
# The output, prompts included, lands in tty.out.
at_tty() {
    local first=$1 input=$2; shift 2
    rm -f typed; mkfifo typed; : > tty.out
    script -qec "$(printf '%q ' "$@")" /dev/null < typed > tty.out 2>&1 &
    local pid=$! rc=0
    exec 7>typed
    for _ in $(seq 1 600); do grep -q "$first" tty.out && break; sleep 0.05; done
    printf '%b' "$input" >&7
    exec 7>&-
    wait "$pid" || rc=$?
    return $rc
}

step "new-world at a terminal: each card's PIN twice; a mismatch and a short PIN are asked again"
$SR root init >/dev/null
$SR module mode I >/dev/null
at_tty 'New PIN for card 1 ' 'pin-one\npin-oen\npin-one\npin-one\nab\npin-two\npin-two\npin-three\npin-three\n' \
    $SR new-world --initialize --cipher-suite=DLf3072s256mRijndael --module=1 --acs-quorum=2/3 ||
    { cat tty.out; fail "new-world at a terminal"; }
grep -q 'Insert card 1 of 3' tty.out && grep -q 'The two PINs differ' tty.out && grep -q 'too short' tty.out ||
    fail "the prompts are not the guide's: $(cat tty.out)"
! grep -q 'pin-one\|pin-two' tty.out || fail "a PIN was echoed to the terminal"
grep -q 'security world generated' tty.out || fail "no world: $(cat tty.out)"
$SR module mode O >/dev/null

step "world load at a terminal: which card, then its PIN, until the quorum is in"
$SR module reset >/dev/null
at_tty 'Insert card 1 of' '3\npin-three\n3\n1\npin-one\n' $SR world load || { cat tty.out; fail "world load at a terminal"; }
grep -q 'Insert card 1 of the 2 needed' tty.out && grep -q 'in already' tty.out || fail "world load prompts: $(cat tty.out)"
grep -q 'loaded from 2 of 3 cards' tty.out || fail "the world was not loaded: $(cat tty.out)"

step "a wrong PIN at the terminal is refused"
$SR module reset >/dev/null
at_tty 'Insert card 1 of' '1\nnot-the-pin\n2\npin-two\n' $SR world load && fail "a wrong PIN loaded the world"
grep -q 'wrong PIN' tty.out || fail "no 'wrong PIN': $(cat tty.out)"

step "no terminal and no --cards: exit 2 naming --cards"
expect 2 '\-\-cards' setsid -w $SR world load </dev/null

step "a PIN file others can read draws a warning; a new card's PIN under 4 characters is refused"
printf 'pin-one\n\npin-three\n' > pins13; chmod 644 pins13
$SR world load --cards 1,3 --pin-file pins13 2> warn.txt >/dev/null
grep -q 'warning: pins13 can be read by others' warn.txt || fail "no warning for a 0644 PIN file: $(cat warn.txt)"
chmod 600 pins13
mkdir other && export STRONGROOM_KMDATA="$T/other"
$SR root init >/dev/null; $SR module mode I >/dev/null
printf 'abc\n' > short.pins; chmod 600 short.pins
expect 2 'at least 4 characters' $SR new-world --initialize --cipher-suite=DLf3072s256mRijndael --module=1 --acs-quorum=1/1 --pin-file short.pins
[ ! -e "$T/other/cards" ] || fail "a refused new-world made cards"
echo PASS
