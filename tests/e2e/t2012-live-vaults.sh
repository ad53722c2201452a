#!/usr/bin/env bash
# A vault made while the server runs is usable at once at https://<vault>.localhost:PORT: the server
# issues its certificate the first time a client names it (SNI), and 'vault create' prints the URL that
# works. A name that is no vault gets no certificate of its own, and the client says VaultNotFound.
. "$(dirname "$0")/lib.sh"
start_server "$T/data" --dev --quiet
export STRONGROOM_CA_FILE="$CA" STRONGROOM_TOKEN="$(cat "$T/data/dev-token")"

step "vault create on a running server prints the URL that works"
$SR vault create contoso --region DEV --subscription-id 11111111-2222-3333-4444-555555555555 --data "$T/data" > created.txt
grep -q "URL: https://contoso.localhost:$PORT " created.txt || fail "vault create did not print the live URL: $(cat created.txt)"

step "the new vault answers at once, under its own name, with a certificate for that name"
URL="https://contoso.localhost:$PORT"
$SR key create --name first --kty EC --vault-url "$URL" | grep -q "^kid .*https://contoso.localhost:$PORT/keys/first/" ||
    fail "key create on the new vault"
$SR key list --vault-url "$URL" | grep -q '^first ' || fail "key list on the new vault"
curl -sf --cacert "$CA" --resolve "contoso.localhost:$PORT:127.0.0.1" -H "Authorization: Bearer $STRONGROOM_TOKEN" \
    "$URL/keys?api-version=7.5" | jq -e '.value | length == 1' >/dev/null || fail "curl with certificate checks"
openssl s_client -connect "127.0.0.1:$PORT" -servername contoso.localhost -CAfile "$CA" -verify_return_error \
    -verify_hostname contoso.localhost </dev/null >sclient.txt 2>&1 || fail "openssl s_client: $(tail -5 sclient.txt)"
grep -q 'Verify return code: 0 (ok)' sclient.txt || fail "the certificate does not verify for contoso.localhost"
$SR key list --vault-url "https://dev.localhost:$PORT" | grep -q 'NAME' || fail "the start-up vault stopped answering"

step "an unknown vault gets no certificate, and the client says VaultNotFound"
expect 1 'VaultNotFound' $SR key list --vault-url "https://nosuchvault.localhost:$PORT"
stop_server

step "a stopped server: vault create says where the URL will be"
$SR vault create fabrikam --region DEV --subscription-id 11111111-2222-3333-4444-555555555555 --data "$T/data" |
    grep -q 'URL: https://fabrikam.localhost:PORT' || fail "vault create without a server"
echo PASS
