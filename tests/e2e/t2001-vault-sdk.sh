#!/usr/bin/env bash
# The official Azure SDK (@azure/keyvault-keys, pinned by package-lock.json) against
# `strongroom serve --dev`, with no change to the SDK: a TokenCredential returning a
# Strongroom token, and the dev CA trusted through NODE_EXTRA_CA_CERTS.
. "$(dirname "$0")/lib.sh"
sdk_install

start_server "$T/data" --dev --quiet
# An attestation authority for releaseKey: the vault trusts its key; the SDK scenario signs tokens with it.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out authority.pem 2>/dev/null
authority_jwks authority.pem sdk-authority authority.jwks
$SR vault trust-authority --vault dev --issuer https://sdk-attest.test/ --jwks authority.jwks --data "$T/data" >/dev/null
step "SDK scenario against https://dev.localhost:$PORT"
NODE_EXTRA_CA_CERTS="$CA" timeout 300 node --require "$SDK/localhost-dns.cjs" "$SDK/sdk-test.mjs" \
    "https://dev.localhost:$PORT" "$(cat "$T/data/dev-token")" "$T/authority.pem" https://sdk-attest.test/
step "audit log records the SDK's operations, chain intact"
stop_server
$SR audit verify --data "$T/data" | tee "$T/audit"
grep -Eq 'audit log: [0-9]{2,} entries, hash chain intact' "$T/audit" || fail "audit"
echo PASS
