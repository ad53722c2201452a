#!/usr/bin/env bash
# The official Azure SDK (@azure/keyvault-keys, pinned by package-lock.json) against
# `strongroom serve --dev`, with no change to the SDK: a TokenCredential returning a
# Strongroom token, and the dev CA trusted through NODE_EXTRA_CA_CERTS.
. "$(dirname "$0")/lib.sh"
NODE_DIR="$SR_SOURCE_DIR/tests/e2e/node"
# The SDK is installed once per build directory, from the lock file.
SDK="${SR_BUILD_DIR:-$T}/node-sdk"
if [ ! -d "$SDK/node_modules/@azure/keyvault-keys" ] || ! cmp -s "$NODE_DIR/package-lock.json" "$SDK/package-lock.json"; then
    step "npm ci (@azure/keyvault-keys from package-lock.json)"
    rm -rf "$SDK"; mkdir -p "$SDK"
    cp "$NODE_DIR/package.json" "$NODE_DIR/package-lock.json" "$SDK/"
    (cd "$SDK" && npm ci --no-audit --no-fund --loglevel=error)
fi
cp "$NODE_DIR/sdk-test.mjs" "$NODE_DIR/localhost-dns.cjs" "$SDK/"

start_server "$T/data" --dev --quiet
step "SDK scenario against https://dev.localhost:$PORT"
NODE_EXTRA_CA_CERTS="$CA" timeout 300 node --require "$SDK/localhost-dns.cjs" "$SDK/sdk-test.mjs" \
    "https://dev.localhost:$PORT" "$(cat "$T/data/dev-token")"
step "audit log records the SDK's operations, chain intact"
stop_server
$SR audit verify --data "$T/data" | tee "$T/audit"
grep -Eq 'audit log: [0-9]{2,} entries, hash chain intact' "$T/audit" || fail "audit"
echo PASS
