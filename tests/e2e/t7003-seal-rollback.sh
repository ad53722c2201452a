#!/usr/bin/env bash
# Rollback (issue 21, item 6): under the tpm2 and pkcs11 seals each module's NVRAM is recorded in an anchor
# the backend keeps off the disk (a TPM NV index; a data object in the token). Save the whole data
# directory, reset the region module, restore the saved copy: the world key does not come back — the
# server refuses to start and says rollback — until a quorum of the region's cards loads the world again.
# The same for the file seal shows what it does not protect (the copy serves again), as docs/design.md says.
. "$(dirname "$0")/lib.sh"
swtpm_start tpm
softhsm_token hsm

# rollback BACKEND DIR [seal options...]: a dev vault signs; the directory is saved; the region module is
# reset; the saved copy is put back.
rollback() {
    local backend=$1 d=$2; shift 2
    [ "$backend" = file ] || $SR seal init --backend "$backend" "$@" --data "$d" >/dev/null
    start_server "$d" --dev --quiet
    export STRONGROOM_VAULT_URL="https://dev.localhost:$PORT" STRONGROOM_CA_FILE="$CA" STRONGROOM_TOKEN="$(cat "$d/dev-token")"
    $SR key create --name k1 --kty EC-HSM --curve P-256 >/dev/null
    echo data > d.txt
    $SR key sign --name k1 --alg ES256 --in d.txt --out d.sig >/dev/null || fail "$backend: sign"
    stop_server
    rm -rf "$d.saved"; cp -a "$d" "$d.saved"
    STRONGROOM_KMDATA="$d/regions/DEV/kmdata" $SR module reset >/dev/null || fail "$backend: module reset"
    [ ! -e "$d/regions/DEV/kmdata/module/nvram" ] || fail "$backend: reset left the NVRAM"
    rm -rf "$d"; cp -a "$d.saved" "$d"
}

for backend in tpm2 pkcs11; do
    step "$backend: save the directory, reset the module, restore the copy: refused, naming rollback"
    case $backend in
        tpm2) rollback tpm2 "$T/$backend" --tpm "$TCTI" ;;
        pkcs11) rollback pkcs11 "$T/$backend" --pkcs11 "pkcs11:token=vault?module-path=$SOFTHSM&pin-source=file:$T/pin" ;;
    esac
    expect 1 "rollback refused" $SR serve --data "$T/$backend" --listen 127.0.0.1:0
    grep -q "region DEV" "$T/err" || fail "$backend: the refusal does not name the region: $(cat "$T/err")"
    STRONGROOM_KMDATA="$T/$backend/regions/DEV/kmdata" expect 1 "rollback refused" $SR pubkey --ident nothing

    step "$backend: the cards are the way back: world load, and the key signs again"
    export STRONGROOM_KMDATA="$T/$backend/regions/DEV/kmdata"
    $SR module mode I >/dev/null
    $SR world load --cards 1 --card-dir "$T/$backend/regions/DEV/cards" --pin-file "$T/$backend/dev-card-pin" >/dev/null ||
        fail "$backend: world load after a refused rollback"
    $SR module mode O >/dev/null
    unset STRONGROOM_KMDATA
    start_server "$T/$backend" --quiet
    export STRONGROOM_VAULT_URL="https://dev.localhost:$PORT" STRONGROOM_CA_FILE="$CA"
    $SR key sign --name k1 --alg ES256 --in d.txt --out again.sig >/dev/null || fail "$backend: sign after world load"
    stop_server
done

step "tpm2: the anchor's NV index undefined: refused as untrustworthy; seal migrate makes new anchors"
nv=$(grep -ao '"nvIndex":[0-9]*' "$T/tpm2/regions/DEV/kmdata/module/km0.tpm2" | cut -d: -f2)
[ -n "$nv" ] || fail "no nvIndex in the region's km0.tpm2"
tpm2_nvundefine -T "$TCTI" "$(printf '0x%08x' "$nv")" || fail "tpm2_nvundefine"
expect 1 "rollback anchor for this module is gone" $SR serve --data "$T/tpm2" --listen 127.0.0.1:0
$SR seal migrate --to file --data "$T/tpm2" >/dev/null || fail "migrate away from the lost anchor"
$SR seal migrate --to tpm2 --tpm "$TCTI" --data "$T/tpm2" >/dev/null || fail "migrate back"
start_server "$T/tpm2" --quiet
export STRONGROOM_VAULT_URL="https://dev.localhost:$PORT" STRONGROOM_CA_FILE="$CA" STRONGROOM_TOKEN="$(cat "$T/tpm2/dev-token")"
$SR key sign --name k1 --alg ES256 --in d.txt --out new-anchor.sig >/dev/null || fail "sign under new anchors"
stop_server

step "file: no anchor, so the restored copy serves again (what the file seal cannot stop)"
rollback file "$T/plain"
start_server "$T/plain" --quiet
export STRONGROOM_VAULT_URL="https://dev.localhost:$PORT" STRONGROOM_CA_FILE="$CA"
$SR key sign --name k1 --alg ES256 --in d.txt --out plain.sig >/dev/null || fail "file: the restored copy does not sign"
stop_server
echo PASS
