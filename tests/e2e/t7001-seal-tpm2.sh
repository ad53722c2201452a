#!/usr/bin/env bash
# The tpm2 seal (issue 21): a data directory whose module keys (KM0 of the region module, the root and
# tls/) are sealed by a TPM 2.0 — here a swtpm the test starts. Keys made and a BYOK import sign; a copy of
# the directory, and a 'strongroom backup' restored, served against another TPM, open nothing and say why
# (exit 1, the backend's own error) while the original keeps signing. Then: PCR binding (PCR 16 extended:
# refused, naming the PCR), an unreachable TPM (names the TCTI), 'seal init' on a used directory, and the
# `file` seal's warning at every start. No file of the sealed directory holds a clear KM0 any more.
. "$(dirname "$0")/lib.sh"
swtpm_start tpm-a
TPM_A=$TCTI
swtpm_start tpm-b
TPM_B=$TCTI

step "seal init --backend tpm2, then serve --dev on the sealed directory"
$SR seal init --backend tpm2 --tpm "$TPM_A" --data "$T/d1" | grep -q "sealed by tpm2" || fail "seal init"
[ "$(stat -c %a "$T/d1/seal")" = 600 ] || fail "DATA/seal is not 0600"
start_server "$T/d1" --dev --quiet
ORIG_PORT=$PORT ORIG_PID=$SERVER_PID ORIG_CA=$CA
grep -q "warning: seal 'file'" "$SERVER_LOG" && fail "a tpm2-sealed server warns about the file seal"
export STRONGROOM_VAULT_URL="https://dev.localhost:$PORT" STRONGROOM_CA_FILE="$CA" STRONGROOM_TOKEN="$(cat "$T/d1/dev-token")"
TOKEN=$STRONGROOM_TOKEN
[ "$(curl -s --cacert "$CA" "https://localhost:$PORT/healthz" | jq -r .seal)" = tpm2 ] || fail "healthz does not say tpm2"
for f in root/km0 tls/km0 regions/DEV/kmdata/module/km0; do
    [ -e "$T/d1/$f" ] && fail "$f is a plain file under the tpm2 seal"
    [ -s "$T/d1/$f.tpm2" ] || fail "no $f.tpm2"
done
keys_and_byok
$SR seal status --data "$T/d1" -o json > status.json
jq -e '.backend == "tpm2" and ([.modules[] | select(.state == "unseals")] | length) == 3' status.json >/dev/null ||
    fail "seal status: $(cat status.json)"

step "a copy of the directory, served against another TPM, opens nothing"
$SR backup --data "$T/d1" --out "$T/live.backup" >/dev/null || fail "strongroom backup"
cp -a "$T/d1" "$T/copy"
rm -f "$T/copy/serve.lock"
expect 1 "sealed by another TPM" $SR serve --data "$T/copy" --listen 127.0.0.1:0 --tpm "$TPM_B"
grep -q "integrity check failed" "$T/err" || fail "the TPM's own words are not in the error: $(cat "$T/err")"
STRONGROOM_TPM_TCTI="$TPM_B" expect 1 "sealed by another TPM" $SR audit checkpoint --data "$T/copy" --out cp.json
STRONGROOM_TPM_TCTI="$TPM_B" $SR seal status --data "$T/copy" -o json > copy-status.json
jq -e '[.modules[] | select(.state | startswith("this module key was sealed by another TPM"))] | length == 3' \
    copy-status.json >/dev/null || fail "seal status of the copy: $(cat copy-status.json)"
step "the same with the backup file restored"
$SR restore --in "$T/live.backup" --data "$T/restored" >/dev/null || fail "strongroom restore"
expect 1 "sealed by another TPM" $SR serve --data "$T/restored" --listen 127.0.0.1:0 --tpm "$TPM_B"
step "the original keeps signing"
$SR key download --name k1 --file k1-original.pem >/dev/null
$SR key sign --name k1 --alg ES256 --in d.txt --out again.sig >/dev/null || fail "the original stopped signing"
$SR key verify --name k1 --alg ES256 --in d.txt --signature again.sig | grep -q 'Verified: true' || fail "verify"

step "no file of the sealed directory holds a module key in clear"
# Every KM0 is 32 random bytes; under tpm2 none is a file. A 32-byte file anywhere (but the dev card's PIN,
# which --dev keeps beside it by design) would be one.
clear=$(find "$T/d1" -type f \( -name km0 -o -size 32c \) ! -name dev-card-pin)
[ -z "$clear" ] || fail "possible clear module keys in a tpm2-sealed directory: $clear"
stop_server

step "the way back on new hardware: the backup restored, its modules rebuilt from the cards under the new TPM"
expect 1 "sealed by another TPM" $SR serve --data "$T/restored" --listen 127.0.0.1:0 --tpm "$TPM_B"
$SR seal rebuild --backend tpm2 --tpm "$TPM_B" --cards 1 --pin-file "$T/d1/dev-card-pin" \
    --card-dir "$T/d1/regions/DEV/cards" --data "$T/restored" > rebuild.txt || fail "seal rebuild: $(cat rebuild.txt)"
grep -q "1 region(s) rebuilt from their cards; 3 module directories" rebuild.txt || fail "rebuild: $(cat rebuild.txt)"
grep -q "manufacturer root is [0-9a-f]\{64\}" rebuild.txt || fail "the new root is not named: $(cat rebuild.txt)"
[ -d "$T/restored/unsealable" ] || fail "the old modules were not kept aside"
STRONGROOM_TPM_TCTI="$TPM_B" expect 1 "nothing to rebuild" $SR seal rebuild --backend tpm2 --tpm "$TPM_B" --cards 1 \
    --pin-file "$T/d1/dev-card-pin" --card-dir "$T/d1/regions/DEV/cards" --data "$T/restored"
start_server "$T/restored" --quiet --tpm "$TPM_B"
export STRONGROOM_VAULT_URL="https://dev.localhost:$PORT" STRONGROOM_CA_FILE="$CA"
for k in k1 imported; do
    $SR key sign --name $k --alg ES256 --in d.txt --out rebuilt-$k.sig >/dev/null || fail "$k does not sign after the rebuild"
    $SR key verify --name $k --alg ES256 --in d.txt --signature rebuilt-$k.sig | grep -q 'Verified: true' || fail "verify $k"
done
$SR key download --name k1 --file k1-rebuilt.pem >/dev/null
cmp -s k1-original.pem k1-rebuilt.pem || fail "k1 after the rebuild is not the original key"
stop_server

step "PCR binding: sealed to PCR 16, refused once PCR 16 changes, naming it"
$SR seal init --backend tpm2 --tpm "$TPM_B" --pcrs 16 --data "$T/pcr" >/dev/null
$SR region create EU --data "$T/pcr" --pin-file <(echo pin-1) >/dev/null || fail "region create under a PCR policy"
STRONGROOM_TPM_TCTI="$TPM_B" $SR seal status --data "$T/pcr" -o json | jq -e '.modules[] | select(.module == "region EU") |
    .state == "unseals" and .pcrs == [16]' >/dev/null || fail "seal status under PCR 16"
tpm2_pcrextend -T "$TPM_B" 16:sha256=0000000000000000000000000000000000000000000000000000000000000001 ||
    fail "tpm2_pcrextend"
expect 1 "PCRs differ" $SR serve --data "$T/pcr" --listen 127.0.0.1:0
grep -q "PCRs 16 differ" "$T/err" || fail "the refusal does not name PCR 16: $(cat "$T/err")"

step "errors that say what to do"
expect 1 "cannot reach the TPM.*swtpm:host=127.0.0.1,port=1" $SR serve --data "$T/d1" --listen 127.0.0.1:0 --tpm swtpm:host=127.0.0.1,port=1
expect 1 "cannot reach the TPM" $SR seal init --backend tpm2 --tpm swtpm:host=127.0.0.1,port=1 --data "$T/never"
[ ! -e "$T/never" ] || fail "a failed seal init made the directory"
expect 1 "already has a seal" $SR seal init --backend tpm2 --tpm "$TPM_A" --data "$T/d1"
expect 2 "backend is file, tpm2 or pkcs11" $SR seal init --backend floppy --data "$T/never"
expect 2 "PCR numbers" $SR seal init --backend tpm2 --pcrs 24 --data "$T/never"
expect 1 "sealed by tpm2, not file" $SR serve --data "$T/d1" --seal file --listen 127.0.0.1:0
# DATA/seal edited to say file while the keys are the TPM's: nothing is made beside them.
cp "$T/d1/seal" "$T/seal.tpm2"
echo '{"backend": "file", "pcrs": []}' > "$T/d1/seal"
expect 1 "kept by another backend" $SR serve --data "$T/d1" --listen 127.0.0.1:0
[ ! -e "$T/d1/tls/km0" ] && [ ! -e "$T/d1/regions/DEV/kmdata/module/km0" ] || fail "a second module key was made"
cp "$T/seal.tpm2" "$T/d1/seal"

step "the file seal says what it is at every start"
start_server "$T/plain" --dev --quiet
grep -q "warning: seal 'file'.*a copy of the directory is a copy of every key" "$SERVER_LOG" || fail "no warning: $(head -3 "$SERVER_LOG")"
[ "$(curl -s --cacert "$CA" "https://localhost:$PORT/healthz" | jq -r .seal)" = file ] || fail "healthz does not say file"
$SR seal status --data "$T/plain" | grep -q "nothing: the file is the key" || fail "seal status of a file seal"
stop_server
echo PASS
