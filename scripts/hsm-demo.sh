#!/usr/bin/env bash
# The key owner's walkthrough of the guide, step by step, on a fresh
# module in ./demo (kept afterwards so you can look at every file).
set -euo pipefail
SR=$(realpath "${1:-build/strongroom}")
DEMO=${STRONGROOM_DEMO_DIR:-$PWD/demo}
rm -rf "$DEMO"
mkdir -p "$DEMO"
cd "$DEMO"
export STRONGROOM_KMDATA="$DEMO/kmdata"
say() { printf '\n\033[1m### %s\033[0m\n' "$*"; }
run() { printf '$ strongroom %s\n' "$*"; "$SR" "$@"; }
# refused CMD...: runs a command the demo expects to be refused, shows why, and stops if it was not.
refused() {
    printf '$ strongroom %s\n' "$*"
    local rc=0
    "$SR" "$@" || rc=$?
    [ "$rc" != 0 ] || { echo "demo: expected a refusal" >&2; exit 1; }
    printf '(refused as it should be: exit %s)\n' "$rc"
}

printf 'demo-admin-pin-1\ndemo-admin-pin-2\ndemo-admin-pin-3\n' > pins.txt
chmod 600 pins.txt
say "A manufacturer root and this module's warrant (the vendor's job)"
run root init
say "Set the HSM to mode I; the legacy cipher suite is refused for being weak (DSA-1024, SHA-1)"
run module mode I
refused new-world --initialize --cipher-suite=DLf1024s160mRijndael --module=1 --acs-quorum=2/3 --pin-file pins.txt
say "Create a security world with a 2-of-3 card set, back to mode O"
run new-world --initialize --cipher-suite=DLf3072s256mRijndael --module=1 --acs-quorum=2/3 --pin-file pins.txt
run module mode O
say "Create a key"
run generatekey --generate simple type=RSA size=2048 protect=module ident=contosokey plainname=contosokey nvram=no pubexp=
say "Inspect it"
run kmfile-dump kmdata/local/key_simple_contosokey
run aclprint --app simple --ident contosokey
say "Use it, and prove it with openssl alone"
run pubkey --ident contosokey | tee contosokey.pub.pem
echo "hello from the module" > message.txt
run sign --ident contosokey --alg RS256 --in message.txt --out message.sig
printf '$ openssl dgst -sha256 -verify contosokey.pub.pem -signature message.sig message.txt\n'
openssl dgst -sha256 -verify contosokey.pub.pem -signature message.sig message.txt
say "A tamper event erases the module's NVRAM; one card is not enough, two are"
run module reset
refused sign --ident contosokey --alg RS256 --in message.txt --out again.sig
refused world load --cards 2 --pin-file pins.txt
run world load --cards 1,3 --pin-file pins.txt
run sign --ident contosokey --alg RS256 --in message.txt --out again.sig
openssl dgst -sha256 -verify contosokey.pub.pem -signature again.sig message.txt
say "Done. Everything is in $DEMO; try 'STRONGROOM_KMDATA=$DEMO/kmdata $SR help'."
