#!/usr/bin/env bash
# Key attestation (GET /keys/{name}/{version}/attestation, api-version 7.6+): signed by the region module's
# warranted identity key and checked with the openssl command line alone up to the root 'root show'
# prints (docs/formats.md); 'strongroom key attestation' does the same; a changed byte, another root or an
# older api-version is refused; the origin says generated or imported.
. "$(dirname "$0")/lib.sh"
start_server "$T/data" --dev --quiet
export STRONGROOM_VAULT_URL="https://localhost:$PORT" STRONGROOM_CA_FILE="$CA" STRONGROOM_TOKEN="$(cat "$T/data/dev-token")"
TOKEN=$STRONGROOM_TOKEN
FP=$($SR root show --data "$T/data")

step "an attestation of a key made in the vault, checked with openssl alone"
$SR key create --name att1 --kty EC --curve P-384 >/dev/null
api GET "/keys/att1/attestation?api-version=7.6" > att.json
[ "$(cat "$T/status")" = 200 ] || fail "attestation: $(cat att.json)"
jq -e '.key.kid and .attributes.attestation.version == "1.0"' att.json >/dev/null || fail "the bundle or version is missing"
jq -r .attributes.attestation.privateKeyAttestation att.json | b64u_decode > priv.env
jq -r .attributes.attestation.publicKeyAttestation att.json | b64u_decode > pub.env
jq -r .attributes.attestation.certificatePemFile att.json | b64u_decode > chain.pem
jq -r .root priv.env > root.pem
jq -r .warrant priv.env > warrant.pem
jq -r .payload priv.env | base64 -d > payload.json
jq -r .signature priv.env | base64 -d > payload.sig
got=$(openssl x509 -in root.pem -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum | cut -c1-64)
[ "$got" = "$(echo "$FP" | tr -d ' ')" ] || fail "the root is not the one root show prints"
openssl verify -CAfile root.pem warrant.pem | grep -q OK || fail "the warrant does not chain to the root"
cat warrant.pem root.pem | grep -v "^$" | cmp - <(grep -v "^$" chain.pem) || fail "certificatePemFile is not the warrant and the root"
openssl x509 -in warrant.pem -pubkey -noout > module.pub.pem
openssl dgst -sha384 -verify module.pub.pem -signature payload.sig payload.json | grep -q 'Verified OK' ||
    fail "openssl rejects the statement's signature"
jq -e '.statement == "private-key" and .origin == "generated" and .generated_in_module == true
       and .exportable == false and (.acl | index("Sign")) and .key.curve == "P-384"' payload.json >/dev/null ||
    fail "the private-key statement: $(cat payload.json)"
[ "$(jq -r .kid payload.json)" = "$(jq -r .key.kid att.json)" ] || fail "the statement names another key"
$SR key download --name att1 --file att1.pem --encoding DER >/dev/null
[ "$(jq -r .key.public_key payload.json | base64 -d | sha256sum | cut -c1-64)" = "$(sha256sum < att1.pem | cut -c1-64)" ] ||
    fail "the attested public key is not the key's"

step "one changed byte of the statement fails openssl"
sed 's/"exportable":false/"exportable":true /' payload.json > forged.json
! openssl dgst -sha384 -verify module.pub.pem -signature payload.sig forged.json >/dev/null 2>&1 ||
    fail "openssl accepts a changed statement"

step "strongroom key attestation verifies it, and refuses another root or none"
$SR key attestation --name att1 --root-fingerprint "$FP" --out-dir saved | tee show.out
grep -q '^Result: SUCCESS$' show.out && grep -Eq '^  origin +generated$' show.out && grep -Eq '^  exportable +no$' show.out ||
    fail "key attestation output"
jq -r .payload saved/privateKeyAttestation.json | base64 -d | jq -e '.statement == "private-key" and .origin == "generated"' >/dev/null &&
    jq -r .payload saved/publicKeyAttestation.json | base64 -d | jq -e '.statement == "public-key"' >/dev/null ||
    fail "--out-dir did not save both statements"
expect 1 'does not verify' $SR key attestation --name att1 --root-fingerprint "$(printf '%064d' 0)"
expect 1 'root' env -u STRONGROOM_KMDATA $SR key attestation --name att1

step "an imported key says imported; an older api-version is refused"
node -e 'const c=require("crypto");const {privateKey}=c.generateKeyPairSync("ec",{namedCurve:"P-256"});
const j=privateKey.export({format:"jwk"});process.stdout.write(JSON.stringify({kty:"EC",crv:"P-256",x:j.x,y:j.y,d:j.d}))' > imp.json
$SR key import --name att2 --jwk-file imp.json >/dev/null
$SR key attestation --name att2 --root-fingerprint "$FP" | grep -Eq '^  origin +imported$' || fail "origin of an imported key"
expect_api 400 BadParameter GET "/keys/att1/attestation?api-version=7.5"
expect_api 404 KeyNotFound GET "/keys/nothere/attestation?api-version=7.6"
stop_server
echo PASS
