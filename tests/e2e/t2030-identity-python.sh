#!/usr/bin/env bash
# Debian's Python SDKs against the token authority, unchanged (docs/identity.md): azure-identity's
# DefaultAzureCredential and ClientSecretCredential with azure-keyvault-keys create and sign; the
# administration library's KeyVaultAccessControlClient lists role definitions, assigns Crypto User on one key,
# and deletes the assignment, each effective at the next request.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3 # Debian's, which sees python3-azure (the first python3 on PATH may not)
"$PY" -c 'import azure.identity, azure.keyvault.keys, azure.keyvault.administration' 2>/dev/null ||
    fail "no python3-azure (Debian package; scripts/bootstrap.sh installs it)"
start_server "$T/data" --dev --quiet
D="$T/data"
URL="https://dev.localhost:$PORT"
py() { # py SCRIPT ARGS... with an application's AZURE_* in the environment
    PYTHONDONTWRITEBYTECODE=1 PYTHONPATH="$SR_SOURCE_DIR/tests/e2e/py/localhost_dns" REQUESTS_CA_BUNDLE="$CA" AZURE_TENANT_ID=adfs \
        AZURE_AUTHORITY_HOST="$URL" timeout 180 "$PY" "$SR_SOURCE_DIR/tests/e2e/py/$@"
}
app() { $SR app create "$1" --secret --data "$D" -o json > "$1.json"; }
field() { jq -r ".$2" "$1.json"; }

step "azure-identity (DefaultAzureCredential, ClientSecretCredential) with azure-keyvault-keys: create and sign"
app web
$SR role assignment create --role "Crypto Officer" --assignee web --scope /vaults/dev --data "$D" >/dev/null
AZURE_CLIENT_ID=$(field web clientId) AZURE_CLIENT_SECRET=$(field web secret) py identity_test.py "$URL" py-ec

step "KeyVaultAccessControlClient: definitions, Crypto User on k1, refused on k2, the assignment deleted"
app admin
$SR role assignment create --role Administrator --assignee admin --data "$D" >/dev/null
app signer
TOKEN=$(cat "$D/dev-token")
for k in k1 k2; do api POST "/keys/$k/create?api-version=7.4" '{"kty":"EC","crv":"P-256"}' >/dev/null; done
AZURE_CLIENT_ID=$(field admin clientId) AZURE_CLIENT_SECRET=$(field admin secret) \
    py rbac_test.py "$URL" k1 k2 "$(field signer objectId)" "$(field signer clientId)" "$(field signer secret)"
stop_server
$SR audit show --data "$D" > audit.txt
grep -E "signer .*Sign +k2 .* 403" audit.txt >/dev/null || fail "the refusal on k2 is not audited: $(tail audit.txt)"
grep -E "admin .*CreateRoleAssignment .* 200" audit.txt >/dev/null || fail "the grant is not audited"
grep -E "admin .*DeleteRoleAssignment .* 200" audit.txt >/dev/null || fail "the revocation is not audited"
$SR audit verify --data "$D" | grep -q "hash chain intact" || fail "audit chain"
echo PASS
