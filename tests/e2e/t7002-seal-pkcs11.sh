#!/usr/bin/env bash
# The pkcs11 seal (issue 21): the module keys of a data directory encrypted (CKM_AES_GCM) by a
# non-extractable AES key inside a PKCS#11 token — SoftHSMv2 here, with its own SOFTHSM2_CONF — named by an
# RFC 7512 URI with module-path and pin-source. Keys made and a BYOK import sign; a copy of the directory
# and a restored 'strongroom backup', served against another token of the same label and PIN, open nothing
# and say why, while the original keeps signing. Then each error says what to do: a wrong PIN, a token
# absent, the wrapping key deleted, a PIN in the URI refused.
. "$(dirname "$0")/lib.sh"
softhsm_token hsm-b
softhsm_token hsm-a
URI="pkcs11:token=vault;object=strongroom-km0?module-path=$SOFTHSM&pin-source=file:$T/pin"

step "seal init --backend pkcs11; the wrapping key is made in the token, sensitive and not extractable"
$SR seal init --backend pkcs11 --pkcs11 "$URI" --data "$T/d1" | grep -q "sealed by pkcs11" || fail "seal init"
pkcs11-tool --module "$SOFTHSM" --token-label vault --login --pin 1234 --list-objects --type secrkey > objects.txt 2>/dev/null
grep -q "label: *strongroom-km0" objects.txt || fail "no wrapping key in the token: $(cat objects.txt)"
grep -A12 "strongroom-km0" objects.txt | grep -q "sensitive" || fail "the wrapping key is not sensitive: $(cat objects.txt)"
grep -A12 "strongroom-km0" objects.txt | grep -q "never extractable" || fail "the wrapping key is extractable: $(cat objects.txt)"
start_server "$T/d1" --dev --quiet
export STRONGROOM_VAULT_URL="https://dev.localhost:$PORT" STRONGROOM_CA_FILE="$CA" STRONGROOM_TOKEN="$(cat "$T/d1/dev-token")"
[ "$(curl -s --cacert "$CA" "https://localhost:$PORT/healthz" | jq -r .seal)" = pkcs11 ] || fail "healthz does not say pkcs11"
for f in root/km0 tls/km0 regions/DEV/kmdata/module/km0; do
    [ -e "$T/d1/$f" ] && fail "$f is a plain file under the pkcs11 seal"
    [ -s "$T/d1/$f.p11" ] || fail "no $f.p11"
done
keys_and_byok
$SR seal status --data "$T/d1" -o json | jq -e '[.modules[] | select(.state == "unseals")] | length == 3' >/dev/null ||
    fail "seal status: $($SR seal status --data "$T/d1")"

step "a copy, and a restored backup, served against another token (same label, same PIN) open nothing"
$SR backup --data "$T/d1" --out "$T/live.backup" >/dev/null || fail "strongroom backup"
cp -a "$T/d1" "$T/copy"
rm -f "$T/copy/serve.lock"
$SR restore --in "$T/live.backup" --data "$T/restored" >/dev/null || fail "strongroom restore"
for d in copy restored; do
    SOFTHSM2_CONF="$T/hsm-b/softhsm2.conf" expect 1 "no longer holds the AES key" $SR serve --data "$T/$d" --listen 127.0.0.1:0
done
# The other token given a key of the same label: then the tag check is what refuses.
SOFTHSM2_CONF="$T/hsm-b/softhsm2.conf" $SR seal init --backend pkcs11 --pkcs11 "$URI" --data "$T/other" >/dev/null
SOFTHSM2_CONF="$T/hsm-b/softhsm2.conf" expect 1 "sealed by another token's key" $SR serve --data "$T/copy" --listen 127.0.0.1:0
step "the original keeps signing"
$SR key sign --name k1 --alg ES256 --in d.txt --out again.sig >/dev/null || fail "the original stopped signing"
$SR key verify --name k1 --alg ES256 --in d.txt --signature again.sig | grep -q 'Verified: true' || fail "verify"
clear=$(find "$T/d1" -type f \( -name km0 -o -size 32c \) ! -name dev-card-pin)
[ -z "$clear" ] || fail "possible clear module keys in a pkcs11-sealed directory: $clear"
stop_server

step "errors that say what to do; none changes anything"
# serve's lock file holds the pid of the last start; everything else must stay as it is.
keys_digest() { (cd "$1" && find . -type f ! -name serve.lock -exec sha256sum {} \; | sort | sha256sum); }
before=$(keys_digest "$T/d1")
echo 9999 > "$T/wrong-pin"
WRONG="pkcs11:token=vault;object=strongroom-km0?module-path=$SOFTHSM&pin-source=file:$T/wrong-pin"
sed "s|pin-source=file:$T/pin|pin-source=file:$T/wrong-pin|" "$T/d1/seal" > "$T/seal.wrong" && cp "$T/d1/seal" "$T/seal.good"
cp "$T/seal.wrong" "$T/d1/seal"
expect 1 "refused the PIN" $SR serve --data "$T/d1" --listen 127.0.0.1:0
cp "$T/seal.good" "$T/d1/seal"
SOFTHSM2_CONF="$T/empty.conf" expect 1 "absent or refused" $SR serve --data "$T/d1" --listen 127.0.0.1:0
[ "$before" = "$(keys_digest "$T/d1")" ] || fail "a refused start changed the data directory"
expect 1 "refused the PIN" $SR seal init --backend pkcs11 --pkcs11 "$WRONG" --data "$T/never"
expect 2 "never pin-value" $SR seal init --backend pkcs11 --pkcs11 "pkcs11:token=vault?module-path=$SOFTHSM&pin-value=1234" --data "$T/never"
sed "s|pin-source=file:[^\"]*|pin-value=1234|" "$T/seal.good" > "$T/d1/seal"
expect 1 "DATA/seal is damaged" $SR seal status --data "$T/d1"
grep -q 1234 "$T/err" "$T/out" && fail "a PIN written into DATA/seal was printed"
cp "$T/seal.good" "$T/d1/seal"
expect 2 "module-path" $SR seal init --backend pkcs11 --pkcs11 "pkcs11:token=vault?pin-source=file:$T/pin" --data "$T/never"
expect 2 "takes --pkcs11" $SR seal init --backend pkcs11 --data "$T/never"
[ ! -e "$T/never" ] || fail "a refused seal init made the directory"
pkcs11-tool --module "$SOFTHSM" --token-label vault --login --pin 1234 --delete-object --type secrkey --label strongroom-km0 >/dev/null
expect 1 "no longer holds the AES key" $SR serve --data "$T/d1" --listen 127.0.0.1:0
echo PASS
