#!/usr/bin/env bash
# The official Azure SDK's scenario (tests/e2e/node/sdk-test.mjs, as t2001 runs it) against a vault whose region is
# a PKCS#11 token (issue 22): RSA, EC and oct keys made in the token, signatures that openssl verifies, RSA-OAEP and
# AES round trips, wrap/unwrap, rotation, delete/recover/purge, attestation, and secure key release wrapped by the
# token itself (C_WrapKey). What the token does not do is a 4xx that says so (SR_SDK_HSM in the scenario). Run
# against SoftHSMv2; t8005 runs it against libstrongroom-pkcs11.so.
. "$(dirname "$0")/lib.sh"
TOKEN_KIND=${SR_HSM_TOKEN:-softhsm}
sdk_install
start_server "$T/data" --dev --quiet
stop_server
hsm_token "$TOKEN_KIND"
$SR region create HSM1 --data "$T/data" --hsm "$URI" >/dev/null || fail "region create --hsm"
$SR vault create hsmv --region HSM1 --subscription-id 11111111-2222-3333-4444-555555555555 --data "$T/data" >/dev/null
TOKEN=$($SR token create --role Administrator --data "$T/data")
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out authority.pem 2>/dev/null
authority_jwks authority.pem sdk-authority authority.jwks
$SR vault trust-authority --vault hsmv --issuer https://sdk-attest.test/ --jwks authority.jwks --data "$T/data" >/dev/null
start_server "$T/data" --quiet

step "SDK scenario against https://hsmv.localhost:$PORT, region HSM1 on $TOKEN_KIND's token"
SR_SDK_HSM=$TOKEN_KIND NODE_EXTRA_CA_CERTS="$CA" timeout 300 node --require "$SDK/localhost-dns.cjs" "$SDK/sdk-test.mjs" \
    "https://hsmv.localhost:$PORT" "$TOKEN" "$T/authority.pem" https://sdk-attest.test/

step "every key the scenario left is a token object: sensitive, and extractable only if made exportable"
stop_server
"${RUN[@]}" pkcs11-tool --module "$LIB" --login --pin "$LIST_PIN" --list-objects --type privkey > privkeys.txt 2>&1 ||
    fail "pkcs11-tool --list-objects: $(cat privkeys.txt)"
ACCESS=$(grep 'Access:' privkeys.txt)
[ "$(grep -c 'Private Key Object' privkeys.txt)" -ge 6 ] || fail "too few token keys: $(cat privkeys.txt)"
[ "$(grep -c 'Access: *sensitive' <<< "$ACCESS")" = "$(grep -c 'Private Key Object' privkeys.txt)" ] ||
    fail "a private key that is not sensitive: $ACCESS"
# One key was made exportable (the release's); every other one, the KEK and identity included, never leaves.
[ "$(grep -v 'never extractable' <<< "$ACCESS" | grep -c 'extractable')" = 1 ] || fail "extractable keys: $ACCESS"
$SR audit verify --data "$T/data" | grep -Eq 'audit log: [0-9]{2,} entries, hash chain intact' || fail "audit"
echo PASS
