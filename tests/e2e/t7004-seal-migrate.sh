#!/usr/bin/env bash
# seal migrate (issue 21): file -> tpm2 -> pkcs11 -> cards -> file on a stopped server, the keys signing
# identically after each step (the same public key verifies, with openssl), no file of an old seal left
# behind (under cards: no region NVRAM either, and leaving cards takes a quorum); refused while the server
# runs. Then a fault injected after every step of one migration (file -> tpm2: each key
# moved, the commit, each old file removed): whatever step it stops after, the directory serves and signs
# (the old seal before the commit, the new one after), and running the migration again finishes it.
. "$(dirname "$0")/lib.sh"
swtpm_start tpm
softhsm_token hsm
URI="pkcs11:token=vault?module-path=$SOFTHSM&pin-source=file:$T/pin"
D="$T/data"
echo "the same message, whatever keeps the module keys" > msg.txt

# signs DIR LABEL: a server on DIR signs msg.txt with k1; openssl verifies it with the key downloaded first.
signs() {
    start_server "$1" --quiet
    if [ "$(jq -r .backend "$1/seal" 2>/dev/null)" = cards ]; then
        $SR unseal --data "$1" --cards 1 --pin-file "$1/dev-card-pin" >/dev/null || fail "$2: unseal"
    fi
    export STRONGROOM_VAULT_URL="https://dev.localhost:$PORT" STRONGROOM_CA_FILE="$CA"
    $SR key sign --name k1 --alg ES256 --in msg.txt --out "$2.sig" >/dev/null || fail "$2: k1 does not sign"
    python3 -c 'import sys; s=open(sys.argv[1],"rb").read(); r,t=s[:32],s[32:]
def i(b):
    b=b.lstrip(b"\0") or b"\0"
    return (b"\0"+b if b[0]&0x80 else b)
def der(b): b=i(b); return b"\x02"+bytes([len(b)])+b
body=der(r)+der(t); sys.stdout.buffer.write(b"\x30"+bytes([len(body)])+body)' "$2.sig" > "$2.der"
    openssl dgst -sha256 -verify k1.pem -signature "$2.der" msg.txt | grep -q 'Verified OK' ||
        fail "$2: the signature does not verify under the key downloaded before any migration"
    stop_server
}
# only SUFFIX [ROOT_SUFFIX]: every region module key file of DIR has SUFFIX ("" for file), root/ and tls/
# ROOT_SUFFIX (default the same), and no other exists.
only() {
    local want=$1 f s w
    for f in root/km0 tls/km0 regions/DEV/kmdata/module/km0; do
        w=$want
        case $f in root/*|tls/*) w=${2-$want} ;; esac
        for s in "" .tpm2 .p11 .cards; do
            if [ "$s" = "$w" ]; then [ -s "$D/$f$s" ] || fail "no $f$s"; else [ ! -e "$D/$f$s" ] || fail "$f$s is left"; fi
        done
    done
}

step "a dev vault on the file seal; k1 made, its public key downloaded"
start_server "$D" --dev --quiet
export STRONGROOM_VAULT_URL="https://dev.localhost:$PORT" STRONGROOM_CA_FILE="$CA" STRONGROOM_TOKEN="$(cat "$D/dev-token")"
$SR key create --name k1 --kty EC-HSM --curve P-256 >/dev/null
$SR key download --name k1 --file k1.pem >/dev/null
expect 1 "stop it first" $SR seal migrate --to tpm2 --tpm "$TCTI" --data "$D"
stop_server
signs "$D" file-0

step "file -> tpm2 -> pkcs11 -> file, signing identically after each"
$SR seal migrate --to tpm2 --tpm "$TCTI" --data "$D" | grep -q "3 module keys moved from file to tpm2" || fail "to tpm2"
only .tpm2
signs "$D" tpm2
$SR seal migrate --to pkcs11 --pkcs11 "$URI" --data "$D" | grep -q "moved from tpm2 to pkcs11" || fail "to pkcs11"
only .p11
signs "$D" pkcs11
$SR seal migrate --to cards --data "$D" | grep -q "moved from pkcs11 to cards" || fail "to cards"
only .cards ""
[ ! -e "$D/regions/DEV/kmdata/module/nvram" ] || fail "the region's NVRAM is left under the cards seal"
signs "$D" cards
expect 2 "give --cards" $SR seal migrate --to file --data "$D"
printf 'wrong-pin\n' > wrong-pin
expect 1 "wrong PIN" $SR seal migrate --to file --cards 1 --pin-file wrong-pin --data "$D"
only .cards ""
$SR seal migrate --to file --cards 1 --pin-file "$D/dev-card-pin" --data "$D" | grep -q "moved from cards to file" ||
    fail "to file"
only ""
signs "$D" file-1
cp -a "$D" "$T/pristine"

step "a fault after each of the 7 steps of file -> tpm2: the directory serves either way, and a rerun finishes"
for n in 1 2 3 4 5 6 7; do
    rm -rf "$D"; cp -a "$T/pristine" "$D"
    rc=0
    STRONGROOM_TEST_SEAL_FAULT=$n $SR seal migrate --to tpm2 --tpm "$TCTI" --data "$D" >/dev/null 2>&1 || rc=$?
    [ "$rc" = 3 ] || fail "the fault after step $n did not stop the migration (exit $rc)"
    seal=$(jq -r .backend "$D/seal" 2>/dev/null || echo file)
    if [ "$n" -le 3 ]; then [ "$seal" = file ] || fail "step $n: committed early ($seal)"; else [ "$seal" = tpm2 ] || fail "step $n: not committed"; fi
    signs "$D" "fault-$n"
    $SR seal migrate --to tpm2 --tpm "$TCTI" --data "$D" >/dev/null || fail "step $n: the rerun failed"
    only .tpm2
    signs "$D" "rerun-$n"
done
echo PASS
