#!/usr/bin/env bash
# Interop both ways, with the openssl command line alone on the other side.
#  1. The guide's "new method" from the key owner's side: a KEK made by `openssl genpkey`; Strongroom
#     packages a key to its public half; openssl opens the .byok (RSA-OAEP SHA-1, then
#     id-aes256-wrap-pad) and finds the very public key `strongroom pubkey` printed.
#  2. The vault's side: an import-only KEK in the vault (key_ops ["import"]), downloaded as PEM; a
#     .byok built by openssl alone imports, and the key works through the API.
. "$(dirname "$0")/lib.sh"
byok_server
owner_world

step "1. Strongroom packages a key for a KEK made by openssl; openssl opens it"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out kek.pem 2>/dev/null
openssl pkey -in kek.pem -pubout -out kek.pub.pem
$SR generatekey --generate simple type=RSA size=3072 protect=module ident=interop plainname=interop nvram=no pubexp= >/dev/null
$SR pubkey --ident interop > interop.pub.pem
$SR keytransfer modify-acls --key-identifier interop --kek-public-key kek.pub.pem --kek-id https://elsewhere.example/keys/kek/1 \
    --cards 1,3 --pin-file "$T/owner-pins-13" | grep -q 'Result: SUCCESS'
$SR keytransfer package --key-identifier interop --kek-public-key kek.pub.pem --kek-id https://elsewhere.example/keys/kek/1 \
    --key-friendly-name Interop | grep -q 'Result: SUCCESS'
jq -r .ciphertext KeyTransferPackage-Interop.byok | b64u_decode > ct.bin
head -c 384 ct.bin > part1.bin
tail -c +385 ct.bin > part2.bin
openssl pkeyutl -decrypt -inkey kek.pem -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha1 \
    -pkeyopt rsa_mgf1_md:sha1 -in part1.bin -out aes.bin
[ "$(stat -c %s aes.bin)" = 32 ] || fail "the transport key is AES-256"
openssl enc -d -id-aes256-wrap-pad -K "$(xxd -p -c 64 aes.bin)" -iv A65959A6 -in part2.bin -out key.p8
openssl pkey -inform DER -in key.p8 -pubout > opened.pub.pem
cmp opened.pub.pem interop.pub.pem || fail "openssl did not find the same key"
step "a package for another KEK is refused by the reduced copy's ACL"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out other.pem 2>/dev/null
openssl pkey -in other.pem -pubout -out other.pub.pem
expect 1 "does not permit" $SR keytransfer package --key-identifier interop --kek-public-key other.pub.pem --kek-id x --key-friendly-name Other

step "2. an import-only KEK in the vault; a .byok made by openssl alone imports"
$SR key create --name ImportKek --kty RSA-HSM --size 3072 --ops import | grep -Eq '^key_ops +import$'
$SR key download --name ImportKek --file vaultkek.pem >/dev/null
KID=$($SR key show --name ImportKek --output json | jq -r .key.kid)
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out own.pem 2>/dev/null
openssl pkcs8 -topk8 -nocrypt -in own.pem -outform DER -out own.p8
openssl pkey -in own.pem -pubout -out own.pub.pem
openssl_byok vaultkek.pem "$KID" own.p8 own.byok
$SR key import --name FromOpenssl --byok-file own.byok --destination HSM --kty EC-HSM --curve P-256 | grep -Eq '^size/curve +P-256$'
echo "data signed in the vault" > d.txt
$SR key sign --name FromOpenssl --alg ES256 --in d.txt --out d.sig >/dev/null
$SR key verify --name FromOpenssl --alg ES256 --in d.txt --signature d.sig | grep -q 'Verified: true'
node -e 'const c=require("crypto"),fs=require("fs");process.exit(c.verify("sha256",fs.readFileSync("d.txt"),{key:fs.readFileSync("own.pub.pem"),dsaEncoding:"ieee-p1363"},fs.readFileSync("d.sig"))?0:1)' \
    || fail "the imported key is not the key openssl made"

step "the import-only KEK does nothing else (role confusion)"
head -c 16 /dev/urandom > x.bin
openssl pkeyutl -encrypt -pubin -inkey vaultkek.pem -pkeyopt rsa_padding_mode:oaep -in x.bin -out x.enc
expect 1 "403" $SR key decrypt --name ImportKek --alg RSA-OAEP --in x.enc --out never
expect 1 "403" $SR key sign --name ImportKek --alg RS256 --in d.txt --out never
expect 1 "import" $SR key create --name Mixed --kty RSA-HSM --ops import,decrypt
TOKEN=$STRONGROOM_TOKEN VHOST=contoso.localhost
expect_api 400 BadParameter PATCH "/keys/ImportKek/?api-version=7.5" '{"key_ops":["import","decrypt"]}'
[ ! -e never ] || fail "a refused operation wrote output"
stop_server
echo PASS
