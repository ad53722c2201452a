#!/usr/bin/env bash
# The official secrets SDKs, unchanged, through the token authority: Node's @azure/keyvault-secrets and Debian's
# Python azure-keyvault-secrets, each with DefaultAzureCredential configured by the environment alone, run every
# SecretClient operation against the dev server as an application with Key Vault's Secrets Officer role.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3 # Debian's, which sees python3-azure (the first python3 on PATH may not)
"$PY" -c 'import azure.identity, azure.keyvault.secrets' 2>/dev/null ||
    fail "no python3-azure (Debian package; scripts/bootstrap.sh installs it)"
sdk_install
start_server "$T/data" --dev --quiet
D="$T/data"
URL="https://dev.localhost:$PORT"
$SR app create vault-app --secret --data "$D" -o json > app.json
$SR role assignment create --role "Key Vault Secrets Officer" --assignee vault-app --scope /vaults/dev --data "$D" >/dev/null
export AZURE_TENANT_ID=adfs AZURE_AUTHORITY_HOST="$URL" AZURE_CLIENT_ID=$(jq -r .clientId app.json) AZURE_CLIENT_SECRET=$(jq -r .secret app.json)

step "@azure/keyvault-secrets with DefaultAzureCredential"
NODE_EXTRA_CA_CERTS="$CA" timeout 180 node --require "$SDK/localhost-dns.cjs" "$SDK/secrets-test.mjs" "$URL"

step "azure-keyvault-secrets (Python) with DefaultAzureCredential"
PYTHONDONTWRITEBYTECODE=1 PYTHONPATH="$SR_SOURCE_DIR/tests/e2e/py/localhost_dns" REQUESTS_CA_BUNDLE="$CA" \
    timeout 180 "$PY" "$SR_SOURCE_DIR/tests/e2e/py/secrets_test.py" "$URL" py-secret

step "what the application did is audited under its name"
stop_server
$SR audit show --data "$D" > audit.txt
grep -E "vault-app .*SetSecret" audit.txt >/dev/null || fail "SetSecret not audited under the application"
grep -E "vault-app .*RestoreSecret" audit.txt >/dev/null || fail "RestoreSecret not audited"
! grep -q "Password=\|pässword" audit.txt "$SERVER_LOG" || fail "a value in the audit or the log"
echo PASS
