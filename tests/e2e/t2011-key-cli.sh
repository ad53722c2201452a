#!/usr/bin/env bash
# The command line a Key Vault user already knows ('az keyvault key'): every subcommand against a running
# server, table/tsv/json output with ISO-8601 times, --token, per-subcommand help with its environment,
# client errors that say what went wrong, and REST errors in the REST API's words.
. "$(dirname "$0")/lib.sh"
start_server "$T/data" --dev --quiet
export STRONGROOM_VAULT_URL="https://localhost:$PORT" STRONGROOM_CA_FILE="$CA" STRONGROOM_TOKEN="$(cat "$T/data/dev-token")"
K() { $SR key "$@"; }
iso='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z'

step "create, show, list, list-versions; tables show ISO-8601 times, never Unix seconds"
K create --name ec1 --kty EC --curve P-256 --tags env=prod,team=a --expires 2030-01-01T00:00:00Z > show.txt
grep -Eq "^expires +2030-01-01T00:00:00Z$" show.txt || fail "create's table lacks the expiry: $(cat show.txt)"
grep -Eq "^tags +env=prod,team=a$" show.txt || fail "create's table lacks the tags"
grep -Eq "^created +$iso$" show.txt || fail "created is not ISO-8601"
! grep -Eq '\b1[0-9]{9}\b' show.txt || fail "a table shows Unix seconds: $(cat show.txt)"
v1=$(K show --name ec1 -o json | jq -r .key.kid | sed 's|.*/||')
K rotate --name ec1 -o tsv > rot.tsv
v2=$(cut -f2 rot.tsv)
[ -n "$v2" ] && [ "$v2" != "$v1" ] || fail "rotate made no new version"
[ "$(K show --name ec1 --version "$v1" -o json | jq -r .attributes.exp)" = 1893456000 ] || fail "show --version"
K list | grep -Eq "^ec1 +true +$iso" || fail "key list: $(K list)"
[ "$(K list-versions --name ec1 -o json | jq length)" = 2 ] || fail "list-versions is not 2 versions"
[ "$(K list-versions --name ec1 -o tsv | wc -l)" = 2 ] || fail "list-versions -o tsv"
K list -o tsv | awk -F'\t' '$1 == "ec1" && NF == 6 { ok=1 } END { exit !ok }' || fail "key list -o tsv: $(K list -o tsv)"

step "set-attributes: disable (then refused), expiry cleared with none, tags and ops"
K set-attributes --name ec1 --enabled false -o json | jq -e '.attributes.enabled == false' >/dev/null
printf 'hello' > msg
expect 1 'KeyDisabled\|disabled' $SR key sign --name ec1 --alg ES256 --in msg --out sig
K set-attributes --name ec1 --enabled true --tags owner=ops >/dev/null
K set-attributes --name ec1 --version "$v1" --expires none -o json | jq -e '.attributes.exp == null' >/dev/null ||
    fail "--expires none did not clear exp"
expect 2 'ISO-8601' $SR key set-attributes --name ec1 --expires tomorrow
expect 2 'nothing to set' $SR key set-attributes --name ec1

step "sign: raw for JOSE, der for openssl; download PEM and DER; verify both forms"
K sign --name ec1 --alg ES256 --in msg --out sig.der --signature-format der >/dev/null
K sign --name ec1 --alg ES256 --in msg --out sig.raw >/dev/null
[ "$(stat -c %s sig.raw)" = 64 ] || fail "a raw ES256 signature is not 64 bytes"
K download --name ec1 --file ec1.pem >/dev/null
K download --name ec1 --file ec1.der --encoding DER >/dev/null
openssl dgst -sha256 -verify ec1.pem -signature sig.der msg | grep -q 'Verified OK' || fail "openssl rejects the DER signature"
openssl pkey -pubin -inform DER -in ec1.der -outform PEM | cmp - ec1.pem || fail "DER and PEM downloads differ"
K verify --name ec1 --alg ES256 --in msg --signature sig.der --signature-format der | grep -q 'Verified: true'
K verify --name ec1 --alg ES256 --in msg --signature sig.raw | grep -q 'Verified: true'
printf 'other' > msg2
expect 1 'signature' $SR key verify --name ec1 --alg ES256 --in msg2 --signature sig.raw
expect 2 'raw.*der' $SR key sign --name ec1 --alg ES256 --in msg --out s --signature-format asn1

step "encrypt/decrypt and wrap/unwrap with RSA; random bytes"
K create --name rsa1 --kty RSA --size 2048 >/dev/null
head -c 32 /dev/urandom > secret
K encrypt --name rsa1 --alg RSA-OAEP-256 --in secret --out ct >/dev/null
K decrypt --name rsa1 --alg RSA-OAEP-256 --in ct --out pt >/dev/null
cmp secret pt || fail "decrypt did not give back the plaintext"
K wrap --name rsa1 --alg RSA-OAEP --in secret --out wrapped >/dev/null
K unwrap --name rsa1 --alg RSA-OAEP --in wrapped --out unwrapped >/dev/null
cmp secret unwrapped || fail "unwrap did not give back the key"
step "every algorithm the API has, from the command line: EC curves, AES-GCM/CBC/KW with an imported key (openssl judges)"
for c in "P-384 ES384" "P-521 ES512" "P-256K ES256K"; do
    set -- $c
    K create --name "ec-$1" --kty EC --curve "$1" >/dev/null
    K sign --name "ec-$1" --alg "$2" --in msg --out "sig-$1" >/dev/null || fail "sign $2"
    K verify --name "ec-$1" --alg "$2" --in msg --signature "sig-$1" | grep -q 'Verified: true' || fail "verify $2"
done
openssl rand 32 > aes.bin
K import --name aes1 --jwk-file <(jq -cn --arg k "$(b64u < aes.bin)" '{kty: "oct-HSM", k: $k}') >/dev/null || fail "import oct"
printf 'sixteen byte msg and more' > plain
K encrypt --name aes1 --alg A256GCM --aad 0a0b0c --in plain --out gcm.ct > gcm.txt || fail "A256GCM encrypt"
IV=$(sed -n 's/^iv: //p' gcm.txt) TAG=$(sed -n 's/^tag: //p' gcm.txt)
[ ${#IV} = 24 ] && [ ${#TAG} = 32 ] || fail "encrypt does not print the GCM IV and tag: $(cat gcm.txt)"
K decrypt --name aes1 --alg A256GCM --iv "$IV" --tag "$TAG" --aad 0a0b0c --in gcm.ct --out gcm.pt >/dev/null
cmp plain gcm.pt || fail "A256GCM decrypt"
expect 1 'BadParameter\|decrypt' $SR key decrypt --name aes1 --alg A256GCM --iv "$IV" --tag "$TAG" --aad 0a0b0d --in gcm.ct --out x
CBC_IV=000102030405060708090a0b0c0d0e0f
K encrypt --name aes1 --alg A256CBCPAD --iv $CBC_IV --in plain --out cbc.ct >/dev/null || fail "A256CBCPAD"
openssl enc -d -aes-256-cbc -K "$(xxd -p -c 64 aes.bin)" -iv $CBC_IV -in cbc.ct | cmp - plain || fail "openssl: CBC"
K decrypt --name aes1 --alg A256CBCPAD --iv $CBC_IV --in cbc.ct --out cbc.pt >/dev/null && cmp plain cbc.pt || fail "CBC decrypt"
head -c 32 /dev/urandom > dek
K wrap --name aes1 --alg A256KW --in dek --out dek.kw >/dev/null || fail "A256KW wrap"
openssl enc -d -id-aes256-wrap -K "$(xxd -p -c 64 aes.bin)" -iv A6A6A6A6A6A6A6A6 -in dek.kw | cmp - dek || fail "openssl: KW"
K unwrap --name aes1 --alg A256KW --in dek.kw --out dek.back >/dev/null && cmp dek dek.back || fail "A256KW unwrap"
expect 2 'hex' $SR key encrypt --name aes1 --alg A256CBCPAD --iv xyz --in plain --out x
K random --count 16 | grep -Eq '^[0-9a-f]{32}$' || fail "key random --count 16"
K random --count 64 --out rnd && [ "$(stat -c %s rnd)" = 64 ] || fail "key random --out"

step "rotation policy update and show"
printf '{"lifetimeActions":[{"trigger":{"timeAfterCreate":"P30D"},"action":{"type":"Rotate"}}],"attributes":{"expiryTime":"P90D"}}' > policy.json
K rotation-policy update --name ec1 --value policy.json | jq -e '.attributes.expiryTime == "P90D"' >/dev/null
K rotation-policy show --name ec1 | jq -e '.lifetimeActions[0].trigger.timeAfterCreate == "P30D"' >/dev/null

step "backup, delete, list-deleted, show-deleted, recover, purge, restore"
K backup --name ec1 --file ec1.bak >/dev/null
K delete --name ec1 >/dev/null
K list-deleted | grep -Eq "^ec1 +$iso +$iso +https://" || fail "list-deleted: $(K list-deleted)"
K show-deleted --name ec1 | grep -q '^recovery id' || fail "show-deleted lacks the recovery id"
K recover --name ec1 >/dev/null
K show --name ec1 >/dev/null
K delete --name ec1 >/dev/null
K purge --name ec1 | grep -q 'Purged'
expect 1 'KeyNotFound' $SR key show --name ec1
K restore --file ec1.bak >/dev/null
[ "$(K list-versions --name ec1 -o json | jq length)" = 2 ] || fail "restore did not bring back both versions"

step "operator listings: vault list, region list, audit show"
$SR vault list --data "$T/data" | grep -Eq '^dev +DEV +' || fail "vault list: $($SR vault list --data "$T/data")"
$SR region list --data "$T/data" -o json | jq -e '.[] | select(.name == "DEV") | .here == "yes"' >/dev/null
$SR audit show --data "$T/data" --op PurgeDeletedKey -o tsv | grep -q 'PurgeDeletedKey' || fail "audit show --op"
$SR audit show --data "$T/data" --since 2099-01-01 -o json | jq -e 'length == 0' >/dev/null || fail "audit show --since"

step "--token, and its refusal"
R=$($SR token create --role Reader --name cli-reader --data "$T/data")
STRONGROOM_TOKEN= $SR key list --token "$R" | grep -q '^rsa1 ' || fail "--token was not used"
expect 1 'refused the token or its role' $SR key create --name nope --token "$R"

step "help: a subcommand's options only, and the environment it reads"
K sign --help > help.txt
grep -q -- '--signature-format' help.txt && ! grep -q -- '--byok-file' help.txt || fail "key sign --help: $(cat help.txt)"
grep -q 'STRONGROOM_TOKEN' help.txt && ! grep -q 'STRONGROOM_KMDATA' help.txt || fail "key sign --help's environment"
$SR token list --help | grep -q 'STRONGROOM_STORE' || fail "token list --help lacks STRONGROOM_STORE"
$SR generatekey --help | grep -q 'STRONGROOM_KMDATA' || fail "generatekey --help lacks STRONGROOM_KMDATA"

step "client errors say what went wrong"
expect 1 'cannot reach the vault.*strongroom serve' $SR key list --vault-url https://localhost:1
STRONGROOM_CA_FILE= expect 1 'CA this machine does not trust' $SR key list
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other.key -out other.pem -subj /CN=x -days 1 2>/dev/null
expect 1 'CA this machine does not trust' $SR key list --ca-file other.pem
! grep -q 'file system error' "$T/err" || fail "a client error says 'file system error'"

step "REST errors in the REST API's words"
TOKEN=$STRONGROOM_TOKEN
out=$(api POST "/keys/k9/create?api-version=7.5" '{"kty":"RSA","key_size":1024}'); STATUS=$(cat "$T/status")
[ "$STATUS" = 400 ] && printf '%s' "$out" | grep -q 'key_size' && ! printf '%s' "$out" | grep -q 'size=\|type=\|not valid JSON' ||
    fail "a bad key_size: $out"
out=$(api POST "/keys/k9/create?api-version=7.5" '{"kty":"EC","crv":"P-999"}')
printf '%s' "$out" | grep -q 'crv' && ! printf '%s' "$out" | grep -q 'curve=\|not valid JSON' || fail "a bad crv: $out"
out=$(api POST "/keys/k9/create?api-version=7.5" '{"kty":"RSA","public_exponent":3}')
printf '%s' "$out" | grep -q 'public_exponent' || fail "a bad public_exponent: $out"
out=$(api POST "/keys/k9/create?api-version=7.5" '{"kty":')
printf '%s' "$out" | grep -q 'not valid JSON' || fail "invalid JSON: $out"
out=$(api POST "/keys/k9/create?api-version=7.5" '[1]'); STATUS=$(cat "$T/status")
[ "$STATUS" = 400 ] && ! printf '%s' "$out" | grep -q 'not valid JSON' || fail "valid JSON of the wrong shape: $out"
expect_api 400 BadParameter GET "/keys/$(printf 'a%.0s' $(seq 200))?api-version=7.5"
stop_server
echo PASS
