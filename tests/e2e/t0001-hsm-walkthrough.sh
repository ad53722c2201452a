#!/usr/bin/env bash
# The key owner's half of the guide, verbatim after the `strongroom` prefix:
# world with a 2/3 card set, a module key, inspection, use proved with openssl,
# then a module reset and recovery from 2 of the 3 cards.
. "$(dirname "$0")/lib.sh"

printf 'owner-pin-1\nowner-pin-2\nowner-pin-3\n' > pins

step "root of trust and warrant"
$SR root init | tee root.out
grep -Eq '^Fingerprint .*: ([0-9a-f]{8} ){7}[0-9a-f]{8}$' root.out || fail "fingerprint format"
openssl verify -CAfile kmdata/module/root.pem kmdata/module/warrant.pem

step "set the HSM to mode I, create a security world, back to mode O"
$SR module mode I
$SR new-world --initialize --cipher-suite=DLf3072s256mRijndael --module=1 --acs-quorum=2/3 --pin-file pins | tee world.out
grep -q 'security world generated on module #1' world.out
[ "$(ls kmdata/cards/*.card | wc -l)" = 3 ] || fail "three cards"
$SR module mode O

step "create keys"
$SR generatekey --generate simple type=RSA size=2048 protect=module ident=contosokey plainname=contosokey nvram=no pubexp=
$SR generatekey --generate simple type=EC curve=P-256 protect=module ident=eckey plainname=eckey nvram=no

step "inspect"
$SR kmfile-dump kmdata/local/key_simple_contosokey | tee dump.out
grep -q 'integrity     verified' dump.out
grep -q 'Action: Sign' dump.out
$SR aclprint --app simple --ident contosokey | grep -q 'Action: Sign'
if $SR aclprint --app simple --ident contosokey | grep -qi 'export'; then fail "a fresh key must not be exportable"; fi

step "use, proved with openssl"
$SR pubkey --ident contosokey > rsa.pub.pem
$SR pubkey --ident eckey > ec.pub.pem
openssl pkey -pubin -in rsa.pub.pem -noout
head -c 100000 /dev/urandom > data.bin
for alg in RS256 RS384 RS512 PS256 PS384 PS512; do
    $SR sign --ident contosokey --alg $alg --in data.bin --out sig.$alg >/dev/null
    bits=${alg#??}
    case $alg in
      PS*) openssl dgst -sha$bits -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:-1 -verify rsa.pub.pem -signature sig.$alg data.bin ;;
      *)   openssl dgst -sha$bits -verify rsa.pub.pem -signature sig.$alg data.bin ;;
    esac
done
$SR sign --ident eckey --alg ES256 --in data.bin --out sig.ES256 >/dev/null
openssl dgst -sha256 -verify ec.pub.pem -signature sig.ES256 data.bin
expect 2 "algorithm does not fit" $SR sign --ident eckey --alg RS256 --in data.bin --out x

step "module reset: keys unusable until the world is loaded from a quorum"
$SR module reset
expect 1 "no security world is loaded" $SR sign --ident contosokey --alg RS256 --in data.bin --out after.sig
before=$(tree_digest kmdata)
printf '\nowner-pin-2\n\n' > pin2
expect 1 "2 of 3" $SR world load --cards 2 --pin-file pin2
printf 'owner-pin-1\n\nowner-pin-X\n' > wrongpin
expect 1 "wrong PIN" $SR world load --cards 1,3 --pin-file wrongpin
[ "$before" = "$(tree_digest kmdata)" ] || fail "a refused world load changed kmdata"
printf 'owner-pin-1\n\nowner-pin-3\n' > pins13
$SR world load --cards 1,3 --pin-file pins13
$SR sign --ident contosokey --alg RS256 --in data.bin --out after.sig >/dev/null
openssl dgst -sha256 -verify rsa.pub.pem -signature after.sig data.bin

step "interactive PINs (no echo, asked twice)"
mkdir tty && cd tty
export STRONGROOM_KMDATA="$T/tty/kmdata"
$SR module mode I >/dev/null
# The PINs are typed only once the first prompt is shown (echo is off by then), however slow the start.
mkfifo typed
script -qec "$SR new-world --initialize --cipher-suite=DLf3072s256mAEScSP800131Ar1 --module=1 --acs-quorum=1/1" /dev/null < typed > tty.out &
script_pid=$!
exec 7>typed
for _ in $(seq 1 600); do grep -q 'New PIN for card 1 ' tty.out && break; sleep 0.1; done
grep -q 'New PIN for card 1 ' tty.out || fail "no PIN prompt: $(cat tty.out)"
printf 'tty-pin-1\ntty-pin-1\n' >&7
exec 7>&-
wait $script_pid || fail "interactive new-world exited non-zero: $(cat tty.out)"
grep -q 'security world generated' tty.out || fail "interactive new-world: $(cat tty.out)"
grep -q 'tty-pin-1' tty.out && fail "the PIN was echoed"
cd "$T"; export STRONGROOM_KMDATA="$T/kmdata"

step "every file is 0600, every directory 0700"
[ -z "$(find kmdata tty/kmdata -type f ! -perm 600)" ] || fail "file modes: $(find kmdata -type f ! -perm 600)"
[ -z "$(find kmdata tty/kmdata -type d ! -perm 700)" ] || fail "directory modes"
[ -z "$(find kmdata -name '*.tmp.*')" ] || fail "temp files left behind"
echo "PASS"
