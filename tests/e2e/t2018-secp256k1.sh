#!/usr/bin/env bash
# secp256k1 (JOSE's P-256K, ES256K) end to end: the key owner generates one in the offline module and
# transfers it by BYOK; the vault creates and imports them, signs with ES256K, and openssl (DER) and
# node's crypto (raw r||s) verify; a curve's algorithm never signs with another curve's key.
. "$(dirname "$0")/lib.sh"
byok_server
owner_world

step "the key owner's module makes a P-256K key and transfers it to the vault"
$SR toolset download --region EU --out tools >/dev/null
cd tools
$SR generatekey --generate simple type=EC curve=P-256K protect=module ident=k1 plainname=k1 nvram=no >/dev/null
$SR kmfile-dump "$STRONGROOM_KMDATA/local/key_simple_k1" | grep -q 'P-256K' || fail "kmfile-dump does not name the curve"
$SR pubkey --ident k1 > k1.owner.pem
openssl pkey -pubin -in k1.owner.pem -text -noout | grep -q 'secp256k1' || fail "the owner's key is not on secp256k1"
$SR keytransfer -ModifyAcls -KeyAppName simple -KeyIdentifier k1 -ExchangeKeyPackage BYOK-KEK-pkg-EU-1 \
    -NewSecurityWorldPackage BYOK-SecurityWorld-pkg-EU-1 --cards 1,3 --pin-file "$T/owner-pins-13" | grep -q '^Result: SUCCESS$'
$SR keytransfer package --key-identifier k1 --exchange-key-package BYOK-KEK-pkg-EU-1 \
    --new-security-world-package BYOK-SecurityWorld-pkg-EU-1 --subscription-id "$SUB" --key-friendly-name K1 | grep -q '^Result: SUCCESS$'
expect 1 'another curve' $SR key import --name K1Wrong --byok-file KeyTransferPackage-K1.byok --destination HSM --kty EC-HSM --curve P-256
$SR key import --name K1 --byok-file KeyTransferPackage-K1.byok --destination HSM --kty EC-HSM --curve P-256K |
    grep -Eq '^size/curve +P-256K$' || fail "the BYOK import is not P-256K"

$SR key attestation --name K1 --root-fingerprint "$($SR root show --data "$T/vault")" | grep -Eq '^  origin +transferred$' ||
    fail "the attestation of a BYOK key does not say transferred"
step "ES256K signatures of the imported key verify with openssl (DER) against the owner's public key"
head -c 1000 /dev/urandom > data
$SR key sign --name K1 --alg ES256K --in data --out sig.der --signature-format der >/dev/null
openssl dgst -sha256 -verify k1.owner.pem -signature sig.der data | grep -q 'Verified OK' || fail "openssl rejects ES256K"
$SR key sign --name K1 --alg ES256K --in data --out sig.raw >/dev/null
[ "$(stat -c %s sig.raw)" = 64 ] || fail "a raw ES256K signature is not 64 bytes"
node -e 'const c=require("crypto"),fs=require("fs");process.exit(c.verify("sha256",fs.readFileSync("data"),{key:fs.readFileSync("k1.owner.pem"),dsaEncoding:"ieee-p1363"},fs.readFileSync("sig.raw"))?0:1)' ||
    fail "node rejects the raw ES256K signature"

step "created in the vault: the JWK says P-256K, the PEM is secp256k1, signatures verify"
$SR key create --name K2 --kty EC --curve P-256K -o json | jq -e '.key.crv == "P-256K" and (.key.x | length) == 43' >/dev/null ||
    fail "the created key's JWK"
$SR key download --name K2 --file k2.pem >/dev/null
openssl pkey -pubin -in k2.pem -text -noout | grep -q 'secp256k1' || fail "the vault's key is not on secp256k1"
$SR key sign --name K2 --alg ES256K --in data --out k2.der --signature-format der >/dev/null
openssl dgst -sha256 -verify k2.pem -signature k2.der data | grep -q 'Verified OK' || fail "openssl rejects the vault key's ES256K"
$SR key verify --name K2 --alg ES256K --in data --signature k2.der --signature-format der | grep -q 'Verified: true'

step "a plain secp256k1 JWK made by node imports and signs as the same key"
node -e 'const c=require("crypto");const {privateKey}=c.generateKeyPairSync("ec",{namedCurve:"secp256k1"});
const j=privateKey.export({format:"jwk"});process.stdout.write(JSON.stringify({kty:"EC",crv:"P-256K",x:j.x,y:j.y,d:j.d}))' > k3.json
$SR key import --name K3 --jwk-file k3.json -o json > k3.out
jq -e '.key.crv == "P-256K" and .key.d == null' k3.out >/dev/null || fail "the imported JWK: $(cat k3.out)"
$SR key sign --name K3 --alg ES256K --in data --out k3.raw >/dev/null
node -e 'const c=require("crypto"),fs=require("fs");const k=JSON.parse(fs.readFileSync("k3.json"));
const pub=c.createPublicKey({key:{kty:"EC",crv:"secp256k1",x:k.x,y:k.y},format:"jwk"});
process.exit(c.verify("sha256",fs.readFileSync("data"),{key:pub,dsaEncoding:"ieee-p1363"},fs.readFileSync("k3.raw"))?0:1)' ||
    fail "node rejects the imported key's signature"

step "each curve keeps its own algorithm"
expect 1 'algorithm does not fit' $SR key sign --name K2 --alg ES256 --in data --out never
$SR key create --name P256 --kty EC --curve P-256 >/dev/null
expect 1 'algorithm does not fit' $SR key sign --name P256 --alg ES256K --in data --out never
stop_server
echo PASS
