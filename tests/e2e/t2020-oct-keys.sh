#!/usr/bin/env bash
# oct-HSM (AES) keys through the REST API, judged by the openssl command line: an imported key's CBC and
# key-wrap output opens with `openssl enc`; a bad CBC padding and a bad GCM tag get the same answer; the
# key's bytes appear in no answer and not in the store; backup/restore, soft delete, rotation and
# attestation work as for the other keys; algorithms of another size or kind are refused.
. "$(dirname "$0")/lib.sh"
start_server "$T/data" --dev --quiet
TOKEN=$(cat "$T/data/dev-token")
export STRONGROOM_VAULT_URL="https://localhost:$PORT" STRONGROOM_CA_FILE="$CA" STRONGROOM_TOKEN="$TOKEN"
V='api-version=7.5'

step "import an AES-256 key as a plain JWK: no k in the answer, not in the store"
openssl rand 32 > k.bin
KHEX=$(xxd -p -c 64 k.bin)
api PUT "/keys/aes1?$V" "{\"key\":{\"kty\":\"oct-HSM\",\"k\":\"$(b64u < k.bin)\"}}" > imp.json
[ "$(cat "$T/status")" = 200 ] || fail "import: $(cat imp.json)"
jq -e '.key.kty == "oct-HSM" and .key.k == null and (.key.key_ops | index("encrypt"))' imp.json >/dev/null || fail "bundle: $(cat imp.json)"
! grep -q "$(b64u < k.bin)" imp.json || fail "k in the answer"

step "A256CBCPAD and A256CBC agree with openssl enc; A256KW with id-aes256-wrap"
IV=$(openssl rand -hex 16)
printf 'the quick brown fox jumps over' > pt.bin
api POST "/keys/aes1/encrypt?$V" "{\"alg\":\"A256CBCPAD\",\"value\":\"$(b64u < pt.bin)\",\"iv\":\"$(xxd -r -p <<<"$IV" | b64u)\"}" > cbc.json
jq -r .value cbc.json | b64u_decode > cbc.bin
openssl enc -d -aes-256-cbc -K "$KHEX" -iv "$IV" -in cbc.bin | cmp - pt.bin || fail "openssl does not open the vault's A256CBCPAD"
head -c 32 /dev/urandom > blocks.bin
openssl enc -e -aes-256-cbc -nopad -K "$KHEX" -iv "$IV" -in blocks.bin -out blocks.enc
api POST "/keys/aes1/decrypt?$V" "{\"alg\":\"A256CBC\",\"value\":\"$(b64u < blocks.enc)\",\"iv\":\"$(xxd -r -p <<<"$IV" | b64u)\"}" > dec.json
jq -r .value dec.json | b64u_decode | cmp - blocks.bin || fail "the vault does not open openssl's A256CBC"
head -c 32 /dev/urandom > cek.bin
api POST "/keys/aes1/wrapkey?$V" "{\"alg\":\"A256KW\",\"value\":\"$(b64u < cek.bin)\"}" > w.json
jq -r .value w.json | b64u_decode > w.bin
openssl enc -d -id-aes256-wrap -K "$KHEX" -iv A6A6A6A6A6A6A6A6 -in w.bin | cmp - cek.bin || fail "openssl does not unwrap A256KW"

step "bad CBC padding and a bad GCM tag: one and the same answer"
# Padding that can never be valid (a last byte of 0), rather than random bytes that are valid 1 time in 256.
{ head -c 31 /dev/urandom; printf '\0'; } > badpad.bin
openssl enc -e -aes-256-cbc -nopad -K "$KHEX" -iv "$IV" -in badpad.bin -out junk.bin
bad_cbc=$(api POST "/keys/aes1/decrypt?$V" "{\"alg\":\"A256CBCPAD\",\"value\":\"$(b64u < junk.bin)\",\"iv\":\"$(xxd -r -p <<<"$IV" | b64u)\"}"); s1=$(cat "$T/status")
api POST "/keys/aes1/encrypt?$V" "{\"alg\":\"A256GCM\",\"value\":\"$(b64u < pt.bin)\"}" > gcm.json
taghex=$(jq -r .tag gcm.json | b64u_decode | xxd -p -c 64)
tag=$(printf '%02x%s' $((0x${taghex:0:2} ^ 1)) "${taghex:2}" | xxd -r -p | b64u)   # one bit flipped, always
bad_gcm=$(api POST "/keys/aes1/decrypt?$V" "{\"alg\":\"A256GCM\",\"value\":\"$(jq -r .value gcm.json)\",\"iv\":\"$(jq -r .iv gcm.json)\",\"tag\":\"$tag\"}"); s2=$(cat "$T/status")
[ "$s1" = 400 ] && [ "$s1" = "$s2" ] && [ "$bad_cbc" = "$bad_gcm" ] || fail "padding ($s1 $bad_cbc) and tag ($s2 $bad_gcm) answers differ"
echo "$bad_cbc" | grep -q 'decryption failed' || fail "not the decryption error: $bad_cbc"

step "refusals: another size, another kind, RSA algorithms, a missing CBC iv"
expect_api 400 BadParameter POST "/keys/aes1/encrypt?$V" "{\"alg\":\"A128GCM\",\"value\":\"AAAA\"}"
expect_api 400 BadParameter POST "/keys/aes1/encrypt?$V" "{\"alg\":\"A256KW\",\"value\":\"AAAAAAAAAAAAAAAAAAAAAA\"}"
expect_api 400 BadParameter POST "/keys/aes1/encrypt?$V" "{\"alg\":\"RSA-OAEP\",\"value\":\"AAAA\"}"
expect_api 400 BadParameter POST "/keys/aes1/encrypt?$V" "{\"alg\":\"A256CBC\",\"value\":\"AAAA\"}"
expect_api 400 BadParameter PUT "/keys/aes2?$V" '{"key":{"kty":"oct-HSM","k":"AAAA"}}'
expect_api 400 BadParameter POST "/keys/aes3/create?$V" '{"kty":"oct-HSM","key_size":512}'
api POST "/keys/rsa1/create?$V" '{"kty":"RSA","key_size":2048}' >/dev/null
expect_api 400 BadParameter POST "/keys/rsa1/encrypt?$V" "{\"alg\":\"A256GCM\",\"value\":\"AAAA\"}"

step "rotate, backup and restore, soft delete and recover; the restored key still opens the ciphertext"
api POST "/keys/aes1/rotate?$V" > rot.json
jq -e '.key.kty == "oct-HSM"' rot.json >/dev/null || fail "rotate: $(cat rot.json)"
api POST "/keys/aes1/backup?$V" > bk.json
api DELETE "/keys/aes1?$V" >/dev/null
api DELETE "/deletedkeys/aes1?$V" >/dev/null
[ "$(cat "$T/status")" = 204 ] || fail "purge"
api POST "/keys/restore?$V" "$(jq '{value: .value}' bk.json)" > rs.json
[ "$(cat "$T/status")" = 200 ] || fail "restore: $(cat rs.json)"
KID1=$(jq -r .key.kid imp.json)
api POST "/${KID1#https://*/}/decrypt?$V" "{\"alg\":\"A256CBCPAD\",\"value\":\"$(jq -r .value cbc.json)\",\"iv\":\"$(xxd -r -p <<<"$IV" | b64u)\"}" > again.json
jq -r .value again.json | b64u_decode | cmp - pt.bin || fail "the restored first version does not decrypt"

step "BYOK of an AES-256 key made by openssl, against an import KEK downloaded from the vault"
$SR key create --name ImportKek --kty RSA-HSM --size 3072 --ops import >/dev/null
$SR key download --name ImportKek --file kek.pem >/dev/null
KEKID=$(api GET "/keys/ImportKek?$V" | jq -r .key.kid) # as this host names it: the .byok must say the same
openssl rand 32 > own.aes
openssl_byok kek.pem "$KEKID" own.aes own.byok
out=$(api PUT "/keys/NotEc?$V" "{\"key\":{\"kty\":\"EC-HSM\",\"key_hsm\":\"$(b64u < own.byok)\"}}")
[ "$(cat "$T/status")" = 400 ] && echo "$out" | grep -q 'cannot be opened' || fail "an AES package declared EC: $out"
out=$(api PUT "/keys/byok128?$V" "{\"key\":{\"kty\":\"oct-HSM\",\"key_size\":128,\"key_hsm\":\"$(b64u < own.byok)\"}}")
[ "$(cat "$T/status")" = 400 ] && echo "$out" | grep -q 'another size than key_size' || fail "an AES-256 package declared 128 bits: $out"
[ "$(api GET "/keys/byok128?$V" >/dev/null; cat "$T/status")" = 404 ] || fail "the refused package left a key"
api PUT "/keys/byokaes?$V" "{\"key\":{\"kty\":\"oct-HSM\",\"key_hsm\":\"$(b64u < own.byok)\"}}" > byok.json
[ "$(cat "$T/status")" = 200 ] || fail "BYOK of an AES key: $(cat byok.json)"
jq -e '.key.kty == "oct-HSM" and .key.k == null' byok.json >/dev/null || fail "the BYOK bundle"
node -e 'const c=require("crypto"),fs=require("fs");const k=fs.readFileSync("own.aes"),iv=c.randomBytes(12);
const e=c.createCipheriv("aes-256-gcm",k,iv);e.setAAD(Buffer.from("hdr"));const ct=Buffer.concat([e.update("sealed by node"),e.final()]);
const u=(b)=>b.toString("base64url");
process.stdout.write(JSON.stringify({alg:"A256GCM",value:u(ct),iv:u(iv),tag:u(e.getAuthTag()),aad:u(Buffer.from("hdr"))}))' > node.json
api POST "/keys/byokaes/decrypt?$V" "$(cat node.json)" > nd.json
[ "$(jq -r .value nd.json | b64u_decode)" = "sealed by node" ] || fail "the BYOK key does not open node's ciphertext: $(cat nd.json)"
$SR key attestation --name byokaes --root-fingerprint "$($SR root show --data "$T/data")" | grep -Eq '^  origin +transferred$' ||
    fail "the BYOK AES key's origin"

step "attestation of an oct key: no public half claimed, origin imported"
$SR key attestation --name aes1 --version "${KID1##*/}" --root-fingerprint "$($SR root show --data "$T/data")" | tee att.out
grep -Eq '^  origin +imported$' att.out && grep -q '^Result: SUCCESS$' att.out || fail "oct attestation"
stop_server
! grep -q "$(b64u < k.bin)" "$T/data/vault.db" || fail "k in the store"
# The raw bytes, searched as bytes: a grep pattern made of them would split at a newline byte and match a
# fragment by chance (it did, one run in ten).
/usr/bin/python3 -c 'import sys; sys.exit(open(sys.argv[1], "rb").read() in open(sys.argv[2], "rb").read())' \
    k.bin "$T/data/vault.db" || fail "the raw key bytes are in the store"
echo PASS
