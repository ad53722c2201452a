#!/usr/bin/env bash
# Secure key release (POST /keys/{name}/{version}/release): a key made exportable with a release policy is
# released to a token that an authority the vault trusts signed, in date, whose claims satisfy the policy;
# the answer is a JWS by the region module's warranted key (x5c up to the root 'root show' prints), and the
# key inside opens with the openssl command line alone (CKM_RSA_AES_KEY_WRAP under the token's runtime
# key) to the vault's own key. Wrong claims, an untrusted issuer, a forged signature, an expired or early
# token, a key that is not exportable, and a change to an immutable policy are each refused with nothing
# released, and the refusals are audited with their reason.
. "$(dirname "$0")/lib.sh"
start_server "$T/data" --dev --quiet
export STRONGROOM_VAULT_URL="https://localhost:$PORT" STRONGROOM_CA_FILE="$CA" STRONGROOM_TOKEN="$(cat "$T/data/dev-token")"
TOKEN=$STRONGROOM_TOKEN
ISS=https://attest.example.test/
now=$(date +%s)

step "an attestation authority (RSA, kid auth-1) and a workload's runtime key, made by openssl"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out auth.pem 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out other-auth.pem 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out runtime.pem 2>/dev/null
authority_jwks auth.pem auth-1 jwks.json
RUNTIME=$(jq -cn --arg n "$(rsa_jwk_n runtime.pem)" '[{kid: "TpmEphemeralEncryptionKey", kty: "RSA", key_ops: ["encrypt"], n: $n, e: "AQAB"}]')
# jwt CLAIMS [SIGNING_KEY]: an RS256 JWT made with openssl.
jwt() {
    local h p s
    h=$(printf '{"alg":"RS256","kid":"auth-1","typ":"JWT"}' | b64u)
    p=$(printf '%s' "$1" | b64u)
    s=$(printf '%s.%s' "$h" "$p" | openssl dgst -sha256 -sign "${2:-auth.pem}" | b64u)
    printf '%s.%s.%s' "$h" "$p" "$s"
}
# claims [JQ-EDIT]: the claims of a good token, edited.
claims() {
    jq -cn --arg iss "$ISS" --argjson now "$now" --argjson keys "$RUNTIME" \
        '{iss: $iss, iat: $now, nbf: ($now - 5), exp: ($now + 600), "x-ms-attestation-type": "sevsnpvm",
          "x-ms-isolation-tee": {"x-ms-compliance-status": "azure-compliant-cvm"}, "x-ms-sevsnpvm-svn": 8,
          "x-ms-runtime": {keys: $keys}}' | jq -c "${1:-.}"
}
POLICY=$(jq -cn --arg a "$ISS" '{version: "1.0.0", anyOf: [{authority: $a, allOf: [
    {claim: "x-ms-attestation-type", equals: "sevsnpvm"},
    {claim: "x-ms-isolation-tee.x-ms-compliance-status", equals: "azure-compliant-cvm"},
    {anyOf: [{claim: "x-ms-sevsnpvm-svn", greaterOrEquals: 7}, {claim: "x-ms-debug", exists: true}]}]}]}')
POLICY_B64=$(printf '%s' "$POLICY" | b64u)
release_body() { jq -cn --arg t "$1" '{target: $t, nonce: "nonce-1"}' | jq -c "${2:-.}"; }

step "the vault trusts the authority (strongroom vault trust-authority); bad input is refused"
$SR vault trust-authority --vault dev --issuer "$ISS" --jwks jwks.json --data "$T/data" | grep -q 'trusts' ||
    fail "trust-authority"
echo '{"keys": [{"kty": "RSA", "n": "AQAB"}]}' > bad-jwks.json
expect 2 'not an RSA or EC public key' $SR vault trust-authority --vault dev --issuer "$ISS" --jwks bad-jwks.json --data "$T/data"
expect 2 'issuer' $SR vault trust-authority --vault dev --issuer "not a url" --jwks jwks.json --data "$T/data"
expect 1 'no vault' $SR vault trust-authority --vault nosuch --issuer "$ISS" --jwks jwks.json --data "$T/data"

step "exportable keys: an RSA key made with a release policy, an imported AES key with an immutable one"
api POST "/keys/rel-rsa/create?api-version=7.5" "$(jq -cn --arg d "$POLICY_B64" \
    '{kty: "RSA-HSM", key_size: 2048, attributes: {exportable: true}, release_policy: {data: $d}}')" > rsa.json
[ "$(cat "$T/status")" = 200 ] || fail "create exportable: $(cat rsa.json)"
jq -e '.attributes.exportable == true and .release_policy.immutable == false
       and .release_policy.contentType == "application/json; charset=utf-8"' rsa.json >/dev/null || fail "bundle: $(cat rsa.json)"
[ "$(jq -r .release_policy.data rsa.json | b64u_decode | jq -c .)" = "$POLICY" ] || fail "the policy does not come back"
openssl rand 32 > aes.key
api PUT "/keys/rel-aes?api-version=7.5" "$(jq -cn --arg k "$(b64u < aes.key)" --arg d "$POLICY_B64" \
    '{key: {kty: "oct-HSM", k: $k}, attributes: {exportable: true}, release_policy: {data: $d, immutable: true}}')" > aes.json
[ "$(cat "$T/status")" = 200 ] || fail "import exportable oct: $(cat aes.json)"
jq -e '.attributes.exportable == true and .release_policy.immutable == true and (.key.k | not)' aes.json >/dev/null ||
    fail "oct bundle: $(cat aes.json)"
$SR key create --name plain --kty RSA >/dev/null
[ "$(api GET "/keys/plain?api-version=7.5" | jq .attributes.exportable)" = false ] || fail "a plain key says exportable"

step "release: the JWS verifies up to the pinned root, and openssl opens the key to the vault's own"
TOK=$(jwt "$(claims)")
api POST "/keys/rel-rsa/release?api-version=7.5" "$(release_body "$TOK")" > released.json
[ "$(cat "$T/status")" = 200 ] || fail "release: $(cat released.json)"
JWS=$(jq -r .value released.json)
printf '%s' "$JWS" | cut -d. -f1 | b64u_decode > jws-header.json
printf '%s' "$JWS" | cut -d. -f2 | b64u_decode > jws-payload.json
jq -e '.alg == "ES384" and (.x5c | length) == 2' jws-header.json >/dev/null || fail "JWS header: $(cat jws-header.json)"
for i in 0 1; do
    { echo '-----BEGIN CERTIFICATE-----'; jq -r ".x5c[$i]" jws-header.json | fold -w 64; echo '-----END CERTIFICATE-----'; } > "x5c-$i.pem"
done
got=$(openssl x509 -in x5c-1.pem -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum | cut -c1-64)
[ "$got" = "$($SR root show --data "$T/data" | tr -d ' ')" ] || fail "x5c's root is not the one root show prints"
openssl verify -CAfile x5c-1.pem x5c-0.pem | grep -q OK || fail "the signing certificate does not chain to the root"
# ES384 as JOSE has it (r||s): node's crypto checks it with the certificate openssl just verified.
JWS="$JWS" node -e 'const c=require("crypto"),fs=require("fs");const [h,p,s]=process.env.JWS.split(".");
const cert=new c.X509Certificate(fs.readFileSync("x5c-0.pem"));
process.exit(c.verify("sha384",Buffer.from(h+"."+p),{key:cert.publicKey,dsaEncoding:"ieee-p1363"},Buffer.from(s,"base64url"))?0:1)' ||
    fail "the JWS signature does not verify with the module's certificate"
jq -e --arg kid "$(jq -r .key.kid rsa.json)" '.request.kid == $kid and .request.enc == "CKM_RSA_AES_KEY_WRAP"
       and .request.nonce == "nonce-1" and .response.key.attributes.exportable == true and (.response.key.key.d | not)' \
    jws-payload.json >/dev/null || fail "JWS payload: $(cat jws-payload.json)"
# open_key PAYLOAD OUT [OAEP-MD]: key_hsm's ciphertext = RSA-OAEP(runtime key)(AES key) || AES-KWP(AES key)(key).
open_key() {
    jq -r .response.key.key.key_hsm "$1" | b64u_decode > key_hsm.json
    jq -e '.header.alg == "dir" and .header.kid == "TpmEphemeralEncryptionKey"' key_hsm.json >/dev/null ||
        fail "key_hsm envelope: $(cat key_hsm.json)"
    jq -r .ciphertext key_hsm.json | b64u_decode > ct.bin
    head -c 256 ct.bin > ct.rsa
    tail -c +257 ct.bin > ct.kwp
    openssl pkeyutl -decrypt -inkey runtime.pem -pkeyopt rsa_padding_mode:oaep -pkeyopt "rsa_oaep_md:${3:-sha1}" \
        -pkeyopt "rsa_mgf1_md:${3:-sha1}" -in ct.rsa -out transport.key || fail "openssl cannot open the transport key"
    openssl enc -d -id-aes256-wrap-pad -K "$(xxd -p -c 64 transport.key)" -iv A65959A6 -in ct.kwp -out "$2" ||
        fail "openssl cannot unwrap the key"
}
open_key jws-payload.json released.der
$SR key download --name rel-rsa --file rel-rsa.pem >/dev/null
openssl pkey -inform DER -in released.der -pubout | cmp - rel-rsa.pem || fail "the released key is not the vault's key"

step "RSA_AES_KEY_WRAP_384 (OAEP and MGF1 with SHA-384): openssl opens it"
api POST "/keys/rel-rsa/release?api-version=7.5" "$(release_body "$TOK" '.enc = "RSA_AES_KEY_WRAP_384"')" > released-384.json
[ "$(cat "$T/status")" = 200 ] || fail "release with RSA_AES_KEY_WRAP_384: $(cat released-384.json)"
jq -r .value released-384.json | cut -d. -f2 | b64u_decode > payload-384.json
jq -e '.request.enc == "RSA_AES_KEY_WRAP_384"' payload-384.json >/dev/null || fail "enc in the JWS: $(cat payload-384.json)"
open_key payload-384.json released-384.der sha384
openssl pkey -inform DER -in released-384.der -pubout | cmp - rel-rsa.pem || fail "the key released under 384 is not the vault's"

step "RSA_AES_KEY_WRAP_256, and an AES key: openssl decrypts with it what the vault encrypted"
api POST "/keys/rel-aes/release?api-version=7.5" "$(release_body "$TOK" '.enc = "RSA_AES_KEY_WRAP_256"')" > released-aes.json
[ "$(cat "$T/status")" = 200 ] || fail "release oct: $(cat released-aes.json)"
jq -r .value released-aes.json | cut -d. -f2 | b64u_decode > aes-payload.json
open_key aes-payload.json released-aes.key sha256
cmp released-aes.key aes.key || fail "the released AES key is not the imported one"
IV=000102030405060708090a0b0c0d0e0f
api POST "/keys/rel-aes/encrypt?api-version=7.5" "$(jq -cn --arg v "$(printf 'secret text' | b64u)" \
    --arg iv "$(echo $IV | xxd -r -p | b64u)" '{alg: "A256CBCPAD", value: $v, iv: $iv}')" > enc.json
jq -r .value enc.json | b64u_decode > enc.bin
[ "$(openssl enc -d -aes-256-cbc -K "$(xxd -p -c 64 released-aes.key)" -iv $IV -in enc.bin)" = "secret text" ] ||
    fail "openssl cannot decrypt with the released key"

step "refusals: each a 403 with its reason, nothing released"
refused() { # refused KEY BODY REASON
    local out; out=$(api POST "/keys/$1/release?api-version=7.5" "$2")
    [ "$(cat "$T/status")" = 403 ] || fail "release of $1 answered $(cat "$T/status"), wanted 403: $out"
    printf '%s' "$out" | jq -e '.error.code == "Forbidden" and (.value | not)' >/dev/null || fail "refusal body: $out"
    printf '%s' "$out" | jq -r .error.message | grep -q -- "$3" || fail "refusal lacks '$3': $out"
}
refused rel-rsa "$(release_body "$(jwt "$(claims '."x-ms-attestation-type" = "sgx"')")")" 'do not satisfy'
refused rel-rsa "$(release_body "$(jwt "$(claims '."x-ms-sevsnpvm-svn" = 6')")")" 'do not satisfy'
refused rel-rsa "$(release_body "$(jwt "$(claims '.iss = "https://evil.example.test/"')" other-auth.pem)")" 'not an authority this vault trusts'
refused rel-rsa "$(release_body "$(jwt "$(claims)" other-auth.pem)")" 'signature does not verify'
refused rel-rsa "$(release_body "$(jwt "$(claims ".exp = $((now - 3600))")")")" 'expired'
refused rel-rsa "$(release_body "$(jwt "$(claims ".nbf = $((now + 3600))")")")" 'not valid yet'
refused rel-rsa "$(release_body "$(jwt "$(claims 'del(."x-ms-runtime")')")")" 'no RSA key'
refused rel-rsa "$(release_body "$(printf '%s' "$TOK" | cut -d. -f1-2).$(printf 'forged' | b64u)")" 'signature does not verify'
refused rel-rsa "$(release_body "not-a-jwt")" 'not a JWT'
CRIT=$(printf '{"alg":"RS256","kid":"auth-1","crit":["x-new"],"x-new":1}' | b64u).$(claims | b64u)
refused rel-rsa "$(release_body "$CRIT.$(printf '%s' "$CRIT" | openssl dgst -sha256 -sign auth.pem | b64u)")" 'critical extensions'
NONE=$(printf '{"alg":"none"}' | b64u).$(claims | b64u)
refused rel-rsa "$(release_body "$NONE.")" 'alg must be'
refused plain "$(release_body "$TOK")" 'not exportable'
expect_api 400 BadParameter POST "/keys/rel-rsa/release?api-version=7.5" '{"nonce":"x"}'
expect_api 400 BadParameter POST "/keys/rel-rsa/release?api-version=7.5" "$(release_body "$TOK" '.enc = "RSA_AES_KEY_WRAP_512"')"
expect_api 400 BadParameter POST "/keys/rel-rsa/encrypt?api-version=7.5" "$(jq -cn '{alg: "RSA-OAEP-384", value: "AAAA"}')"
n=$($SR audit show --op ReleaseKey --data "$T/data" --output json | jq '[.[] | select(.status == 403)] | length')
[ "$n" = 12 ] || fail "$n refused releases audited, wanted 12"
$SR audit show --op ReleaseKey --data "$T/data" --output json |
    jq -e 'any(.[]; .status == 403 and (.reason | test("do not satisfy")))' >/dev/null || fail "the audit entry lacks the reason"

step "the rules of exportable and release_policy (Key Vault's), immutability, rotation"
expect_api 400 BadParameter POST "/keys/x1/create?api-version=7.5" '{"kty":"EC","attributes":{"exportable":true}}'
api POST "/keys/x2/create?api-version=7.5" "$(jq -cn --arg d "$POLICY_B64" '{kty: "EC", release_policy: {data: $d}}')" | grep -q 'Non-exportable' ||
    fail "a policy on a non-exportable key was not refused"
for bad in '{"version":"1.0.0"}' '{"version":"9","anyOf":[]}' '{"version":"1.0.0","anyOf":[{"authority":"https://a/","allOf":[{"claim":"c","like":"x"}]}]}' \
           '{"version":"1.0.0","anyOf":[{"authority":"https://a/","allOf":[{"claim":"c","less":"x"}]}]}'; do
    expect_api 400 BadParameter POST "/keys/x3/create?api-version=7.5" \
        "$(jq -cn --arg d "$(printf '%s' "$bad" | b64u)" '{kty: "EC", attributes: {exportable: true}, release_policy: {data: $d}}')"
done
OPEN=$(jq -cn --arg a "$ISS" '{version: "1.0.0", anyOf: [{authority: $a, anyOf: [{claim: "x-ms-attestation-type", exists: true}]}]}' | b64u)
expect_api 400 BadParameter PATCH "/keys/rel-aes?api-version=7.5" "$(jq -cn --arg d "$OPEN" '{release_policy: {data: $d}}')"
expect_api 400 BadParameter PATCH "/keys/plain?api-version=7.5" "$(jq -cn --arg d "$OPEN" '{release_policy: {data: $d}}')"
expect_api 400 BadParameter PATCH "/keys/rel-rsa?api-version=7.5" '{"attributes":{"exportable":false}}'
api PATCH "/keys/rel-rsa?api-version=7.5" "$(jq -cn --arg d "$OPEN" '{release_policy: {data: $d, immutable: true}}')" > upd.json
[ "$(cat "$T/status")" = 200 ] && [ "$(jq -r .release_policy.data upd.json)" = "$OPEN" ] || fail "a mutable policy could not change: $(cat upd.json)"
expect_api 400 BadParameter PATCH "/keys/rel-rsa?api-version=7.5" "$(jq -cn --arg d "$POLICY_B64" '{release_policy: {data: $d}}')"
api POST "/keys/rel-rsa/rotate?api-version=7.5" > rotated.json
jq -e --arg d "$OPEN" '.attributes.exportable == true and .release_policy.data == $d' rotated.json >/dev/null ||
    fail "the rotated version lost its release policy: $(cat rotated.json)"
api POST "/keys/rel-rsa/release?api-version=7.5" "$(release_body "$(jwt "$(claims '."x-ms-attestation-type" = "sgx"')")")" >/dev/null
[ "$(cat "$T/status")" = 200 ] || fail "the new policy (any attestation type) did not release"

step "the module's attestation says exportable for an exportable key, not for a plain one"
FP=$($SR root show --data "$T/data")
$SR key attestation --name rel-rsa --root-fingerprint "$FP" | grep -Eq '^  exportable +yes$' || fail "attestation of an exportable key"
$SR key attestation --name plain --root-fingerprint "$FP" | grep -Eq '^  exportable +no$' || fail "attestation of a plain key"

step "a Reader may not release; a Crypto Service Release User may"
TOKEN=$($SR token create --role Reader --data "$T/data") expect_api 403 Forbidden POST "/keys/rel-rsa/release?api-version=7.5" "$(release_body "$TOK")"
TOKEN=$($SR token create --role "Crypto Service Release User" --data "$T/data") api POST "/keys/rel-rsa/release?api-version=7.5" "$(release_body "$TOK")" >/dev/null
[ "$(cat "$T/status")" = 200 ] || fail "a Crypto Service Release User could not release"

step "strongroom key release: an operator tests a policy from the command line"
jwt "$(claims)" > token.jwt
$SR key release --name rel-rsa --target token.jwt --enc RSA_AES_KEY_WRAP_256 --nonce cli-1 --out cli.jws |
    grep -q 'released' || fail "key release"
cut -d. -f2 cli.jws | b64u_decode > cli-payload.json
jq -e '.request.nonce == "cli-1" and .request.enc == "RSA_AES_KEY_WRAP_256"' cli-payload.json >/dev/null ||
    fail "the CLI's release JWS: $(cat cli-payload.json)"
open_key cli-payload.json cli.der sha256
$SR key download --name rel-rsa --file rel-rsa-now.pem >/dev/null
openssl pkey -inform DER -in cli.der -pubout | cmp - rel-rsa-now.pem || fail "the CLI released another key"
jwt "$(claims)" other-auth.pem > forged.jwt
expect 1 'signature does not verify' $SR key release --name rel-rsa --target forged.jwt --out refused.jws
[ ! -e refused.jws ] || fail "a refused release wrote a file"

step "trust-authority --remove: the authority's tokens release nothing from then on (named in another case)"
$SR vault trust-authority --vault dev --issuer "$(printf '%s' "$ISS" | tr a-z A-Z)" --remove --data "$T/data" |
    grep -q 'no more' || fail "trust-authority --remove"
api POST "/keys/rel-rsa/release?api-version=7.5" "$(release_body "$TOK")" > gone.json
[ "$(cat "$T/status")" = 403 ] && jq -r .error.message gone.json | grep -q 'not an authority this vault trusts' ||
    fail "a removed authority still releases: $(cat gone.json)"
expect 1 'does not trust' $SR vault trust-authority --vault dev --issuer "$ISS" --remove --data "$T/data"
expect 2 'one of --jwks FILE or --remove' $SR vault trust-authority --vault dev --issuer "$ISS" --jwks jwks.json --remove --data "$T/data"
stop_server
echo PASS
