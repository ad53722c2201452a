#!/usr/bin/env bash
# The token authority (docs/identity.md): unchanged @azure/identity DefaultAzureCredential, configured by the
# environment alone, gets tokens from the server with a client secret, a client certificate, and a federated
# token from a real OIDC issuer (oidc-provider); role assignments (CLI and Managed HSM's API) decide what an
# application may do, from the next request on; every refusal of the token endpoint is OAuth's error and issues
# nothing; failed client authentications lock the address out; the signing key rotates with overlap.
. "$(dirname "$0")/lib.sh"
sdk_install

start_server "$T/data" --dev --quiet
D="$T/data"
ADMIN=$(cat "$D/dev-token")
URL="https://dev.localhost:$PORT"
AUTH="$URL/adfs/oauth2/token"
run_app() { # run_app KEY [REFUSED_KEY] with AZURE_* in the environment
    NODE_EXTRA_CA_CERTS="$CA" AZURE_TENANT_ID=adfs AZURE_AUTHORITY_HOST="$URL" timeout 120 \
        node --require "$SDK/localhost-dns.cjs" "$SDK/identity-test.mjs" "$URL" "$@"
}
# token_post FORM...: POSTs the form to the token endpoint; the answer in $T/tok, the status in $TSTATUS.
token_post() {
    local args=()
    for f in "$@"; do args+=(--data-urlencode "$f"); done
    TSTATUS=$(curl -s -o "$T/tok" -w '%{http_code}' --cacert "$CA" --resolve "dev.localhost:$PORT:127.0.0.1" "${args[@]}" "$AUTH")
}
# oauth_refused STATUS ERROR FORM...: the token endpoint refuses with OAuth's error body and issues nothing.
oauth_refused() {
    local want=$1 err=$2; shift 2
    token_post "$@"
    [ "$TSTATUS" = "$want" ] || fail "token endpoint answered $TSTATUS, wanted $want: $(cat "$T/tok")"
    [ "$(jq -r .error "$T/tok")" = "$err" ] || fail "error is not $err: $(cat "$T/tok")"
    [ "$(jq -r '.access_token // empty' "$T/tok")" = "" ] || fail "a refused request was issued a token"
    jq -e '.error_description | length > 0' "$T/tok" >/dev/null || fail "no error_description"
}
SCOPE="scope=https://localhost/.default"

step "an application with a secret: DefaultAzureCredential (env only) creates, signs; OpenSSL verifies"
$SR app create web --secret --data "$D" -o json > web.json
CID=$(jq -r .clientId web.json); SECRET=$(jq -r .secret web.json); WEB_OID=$(jq -r .objectId web.json)
grep -q "$SECRET" <($SR app show web --data "$D"; $SR app list --data "$D" -o json) && fail "a secret is shown again"
$SR role assignment create --role "Crypto Officer" --assignee web --scope /vaults/dev --data "$D" >/dev/null
AZURE_CLIENT_ID=$CID AZURE_CLIENT_SECRET=$SECRET run_app web-ec

step "the same with a client certificate (AZURE_CLIENT_CERTIFICATE_PATH)"
openssl req -x509 -newkey rsa:2048 -nodes -keyout cert-key.pem -out cert.pem -days 30 -subj /CN=web 2>/dev/null
cat cert.pem cert-key.pem > cert-both.pem
$SR app credential add web --certificate cert.pem --data "$D" >/dev/null
AZURE_CLIENT_ID=$CID AZURE_CLIENT_CERTIFICATE_PATH=$T/cert-both.pem run_app web-ec-cert

step "a workload's own token from a real OIDC issuer (oidc-provider), through WorkloadIdentityCredential"
mkdir -p idp other-idp
timeout 60 node "$SDK/oidc-issuer.mjs" idp system:serviceaccount:pay:api system:serviceaccount:pay:intruder 2>/dev/null
timeout 60 node "$SDK/oidc-issuer.mjs" other-idp system:serviceaccount:pay:api 2>/dev/null
ISS=$(cat idp/issuer)
$SR app create pay --data "$D" -o json > pay.json
PAY=$(jq -r .clientId pay.json)
expect_fail() { "$@" >"$T/out" 2>&1 && fail "accepted: $*"; true; }
expect_fail $SR app federate pay --issuer "$ISS" --subject system:serviceaccount:pay:api --data "$D"
grep -q "idp trust" "$T/out" || fail "an untrusted issuer's refusal does not say what to do: $(cat "$T/out")"
$SR idp trust --issuer "$ISS" --jwks idp/jwks.json --data "$D" >/dev/null
$SR app federate pay --issuer "$ISS" --subject system:serviceaccount:pay:api --data "$D" >/dev/null
$SR role assignment create --role "Crypto Officer" --assignee pay --scope /vaults/dev --data "$D" >/dev/null
AZURE_CLIENT_ID=$PAY AZURE_FEDERATED_TOKEN_FILE=$T/idp/token.0 run_app pay-ec

step "an issuer trusted by OIDC discovery; its keys read again when a token names a kid the vault lacks"
mkdir -p live-idp
SR_OIDC_SERVE=1 timeout 300 node "$SDK/oidc-issuer.mjs" live-idp system:serviceaccount:pay:live 2>/dev/null &
IDP_PID=$!
for _ in $(seq 1 100); do [ -s live-idp/token.0 ] && break; sleep 0.1; done
LIVE=$(cat live-idp/issuer)
$SR idp trust --issuer "$LIVE" --discovery --data "$D" >/dev/null
$SR app federate pay --issuer "$LIVE" --subject system:serviceaccount:pay:live --data "$D" >/dev/null
# As if the issuer had rotated its keys since: the kid the vault holds is not the token's, read a minute ago.
DOC=$(store_sql "$D" "SELECT doc FROM idents WHERE kind = 'idp' AND name = '$LIVE'")
store_sql "$D" "UPDATE idents SET doc = '$(jq -c '.jwks.keys[0].kid = "old" | .fetched = 0' <<<"$DOC")' WHERE kind = 'idp' AND name = '$LIVE'"
token_post grant_type=client_credentials client_id="$PAY" \
    client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer "client_assertion=$(cat live-idp/token.0)" "$SCOPE"
[ "$TSTATUS" = 200 ] || fail "the issuer's keys were not read again: $(cat "$T/tok")"
kill $IDP_PID; wait $IDP_PID 2>/dev/null || true
expect_fail $SR idp trust --issuer "$LIVE" --discovery --data "$D"
grep -q "issuer's discovery document" "$T/out" || fail "an unreachable issuer's refusal: $(cat "$T/out")"

step "refusals: OAuth's errors, nothing issued"
oauth_refused 401 invalid_client grant_type=client_credentials client_id="$CID" client_secret="${SECRET%?}x" "$SCOPE"
oauth_refused 401 invalid_client grant_type=client_credentials client_id="$(cat /proc/sys/kernel/random/uuid)" client_secret="$SECRET" "$SCOPE"
oauth_refused 400 unsupported_grant_type grant_type=password client_id="$CID" client_secret="$SECRET" "$SCOPE"
oauth_refused 400 invalid_scope grant_type=client_credentials client_id="$CID" client_secret="$SECRET" scope=openid
oauth_refused 400 invalid_request grant_type=client_credentials client_id="$CID" client_id="$CID" "$SCOPE"
# An expired secret: a second secret whose expiry is moved into the past in the store.
$SR app credential add web --secret --expires-days 1 --data "$D" -o json > web2.json
OLD=$(jq -r .secret web2.json); OLD_ID=$(jq -r .secretId web2.json)
DOC=$(store_sql "$D" "SELECT doc FROM idents WHERE kind = 'app' AND name = '$CID'")
NEWDOC=$(printf '%s' "$DOC" | jq -c --arg id "$OLD_ID" '(.secrets[] | select(.id == $id) | .expires) = 1000')
store_sql "$D" "UPDATE idents SET doc = '$NEWDOC' WHERE kind = 'app' AND name = '$CID'" >/dev/null
oauth_refused 401 invalid_client grant_type=client_credentials client_id="$CID" client_secret="$OLD" "$SCOPE"
grep -q expired "$T/tok" || fail "an expired secret's refusal does not say so: $(cat "$T/tok")"

# Client assertions made with the openssl command line: header.payload signed by KEY (RS256), or as given.
X5T=$(openssl x509 -in cert.pem -outform DER | openssl dgst -sha256 -binary | b64u)
assertion() { # assertion KEY HEADER_JSON CLAIMS_JSON [alg override: none|hs256]
    local h p; h=$(printf '%s' "$2" | b64u); p=$(printf '%s' "$3" | b64u)
    case "${4:-}" in
    none) printf '%s.%s.' "$h" "$p" ;;
    hs256) printf '%s.%s.%s' "$h" "$p" "$(printf '%s.%s' "$h" "$p" | openssl dgst -sha256 -mac HMAC -macopt "key:$(openssl x509 -in cert.pem -pubkey -noout)" -binary | b64u)" ;;
    *) printf '%s.%s.%s' "$h" "$p" "$(printf '%s.%s' "$h" "$p" | openssl dgst -sha256 -sign "$1" | b64u)" ;;
    esac
}
claims() { # claims AUD JTI
    jq -cn --arg c "$CID" --arg aud "$1" --arg jti "$2" --argjson now "$(date +%s)" \
        '{iss: $c, sub: $c, aud: $aud, jti: $jti, nbf: $now, exp: ($now + 300)}'
}
HDR=$(jq -cn --arg t "$X5T" '{alg: "RS256", typ: "JWT", "x5t#S256": $t}')
assert_form() { echo grant_type=client_credentials client_id="$CID" client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer "client_assertion=$1" "$SCOPE"; }
GOOD=$(assertion cert-key.pem "$HDR" "$(claims "$AUTH" j-1)")
token_post $(assert_form "$GOOD")
[ "$TSTATUS" = 200 ] || fail "a good assertion was refused: $(cat "$T/tok")"
oauth_refused 401 invalid_client $(assert_form "$GOOD") # the same jti again
grep -q "used before" "$T/tok" || fail "a replay's refusal does not say so"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out other-key.pem 2>/dev/null
oauth_refused 401 invalid_client $(assert_form "$(assertion other-key.pem "$HDR" "$(claims "$AUTH" j-2)")")
oauth_refused 401 invalid_client $(assert_form "$(assertion - "$(jq -c '.alg = "none"' <<<"$HDR")" "$(claims "$AUTH" j-3)" none)")
oauth_refused 401 invalid_client $(assert_form "$(assertion - "$(jq -c '.alg = "HS256"' <<<"$HDR")" "$(claims "$AUTH" j-4)" hs256)")
oauth_refused 401 invalid_client $(assert_form "$(assertion cert-key.pem "$HDR" "$(claims https://login.example/token j-5)")")
# Federated tokens: an issuer not trusted, a subject the application does not accept.
oauth_refused 401 invalid_client grant_type=client_credentials client_id="$PAY" \
    client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer "client_assertion=$(cat other-idp/token.0)" "$SCOPE"
oauth_refused 400 unauthorized_client grant_type=client_credentials client_id="$PAY" \
    client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer "client_assertion=$(cat idp/token.1)" "$SCOPE"
$SR audit show --data "$D" > audit.txt
grep -q "client authentication: the client secret is wrong" audit.txt || fail "a refused client authentication is not audited"

step "the vault checks the access token: its audience, its signature, its application"
token_post grant_type=client_credentials client_id="$CID" client_secret="$SECRET" "$SCOPE"
AT=$(jq -r .access_token "$T/tok")
[ "$(jq -r .token_type "$T/tok")" = Bearer ] && [ "$(jq -r .expires_in "$T/tok")" = 3600 ] || fail "token answer: $(cat "$T/tok")"
TOKEN=$AT api GET /keys/web-ec?api-version=7.4 >/dev/null; [ "$STATUS" = 200 ] || fail "the access token is refused: $STATUS"
TAMPERED="$(cut -d. -f1 <<<"$AT").$(cut -d. -f2 <<<"$AT" | b64u_decode | jq -c '.oid = "00000000-0000-4000-8000-000000000000"' | b64u).$(cut -d. -f3 <<<"$AT")"
TOKEN=$TAMPERED expect_api 401 Unauthorized GET /keys/web-ec?api-version=7.4
$SR vault create other --region "$($SR region list --data "$D" -o json | jq -r '.[0].name')" --subscription-id sub-1 --data "$D" >/dev/null
token_post grant_type=client_credentials client_id="$CID" client_secret="$SECRET" "scope=https://dev.localhost/.default"
FOR_DEV=$(jq -r .access_token "$T/tok")
VHOST=other.localhost TOKEN=$FOR_DEV expect_api 401 Unauthorized GET /keys?api-version=7.4
grep -q "another audience" "$T/resp" || fail "a token for vault dev at vault other: $(cat "$T/resp")"
TOKEN=$FOR_DEV api GET /keys?api-version=7.4 >/dev/null; [ "$STATUS" = 200 ] || fail "a token for vault dev at dev: $STATUS"
sleep 1 # the refusals' first entries are written at once, but not before the answer
$SR audit show --data "$D" --refused > refused.txt
grep -q "access token for another audience" refused.txt || fail "the wrong audience is not the audited reason: $(tail -3 refused.txt)"
grep -q "access token not signed by this authority" refused.txt || fail "a forged token's refusal: $(tail -3 refused.txt)"

step "role assignments through Managed HSM's API: Crypto User on one key, effective at once, audited"
TOKEN=$ADMIN api POST "/keys/k1/create?api-version=7.4" '{"kty":"EC","crv":"P-256"}' >/dev/null
TOKEN=$ADMIN api POST "/keys/k2/create?api-version=7.4" '{"kty":"EC","crv":"P-256"}' >/dev/null
$SR app create signer --secret --data "$D" -o json > signer.json
SID=$(jq -r .clientId signer.json); SSECRET=$(jq -r .secret signer.json); SOID=$(jq -r .objectId signer.json)
TOKEN=$ADMIN api GET "/providers/Microsoft.Authorization/roleDefinitions?api-version=7.4" > defs.json
CU=$(jq -r '.value[] | select(.properties.roleName == "Key Vault Crypto User") | .id' defs.json)
[ -n "$CU" ] || fail "no Crypto User definition: $(cat defs.json)"
NAME=$(cat /proc/sys/kernel/random/uuid)
BODY=$(jq -cn --arg d "$CU" --arg p "$SOID" '{properties: {roleDefinitionId: $d, principalId: $p}}')
TOKEN=$ADMIN api PUT "//keys/k1/providers/Microsoft.Authorization/roleAssignments/$NAME?api-version=7.4" "$BODY" > made.json
[ "$STATUS" = 201 ] && [ "$(jq -r .properties.scope made.json)" = /keys/k1 ] || fail "assignment: $STATUS $(cat made.json)"
TOKEN=$ADMIN api GET "/providers/Microsoft.Authorization/roleAssignments?api-version=7.4" | jq -e --arg n "$NAME" '.value[] | select(.name == $n)' >/dev/null || fail "not listed"
token_post grant_type=client_credentials client_id="$SID" client_secret="$SSECRET" "$SCOPE"
ST=$(jq -r .access_token "$T/tok")
DIGEST=$(printf 'x' | openssl dgst -sha256 -binary | b64u)
TOKEN=$ST api POST /keys/k1/sign?api-version=7.4 "{\"alg\":\"ES256\",\"value\":\"$DIGEST\"}" >/dev/null
[ "$STATUS" = 200 ] || fail "Crypto User on k1 cannot sign with k1: $STATUS $(cat "$T/resp")"
TOKEN=$ST expect_api 403 Forbidden POST /keys/k2/sign?api-version=7.4 "{\"alg\":\"ES256\",\"value\":\"$DIGEST\"}"
TOKEN=$ST expect_api 403 Forbidden PUT "/providers/Microsoft.Authorization/roleAssignments/$(cat /proc/sys/kernel/random/uuid)?api-version=7.4" "$BODY"
TOKEN=$ADMIN api DELETE "/providers/Microsoft.Authorization/roleAssignments/$NAME?api-version=7.4" >/dev/null
[ "$STATUS" = 200 ] || fail "delete: $STATUS"
TOKEN=$ST expect_api 403 Forbidden POST /keys/k1/sign?api-version=7.4 "{\"alg\":\"ES256\",\"value\":\"$DIGEST\"}"
$SR audit show --data "$D" > audit.txt
grep -E "signer .*Sign +k2 .* 403" audit.txt >/dev/null || fail "the refusal on k2 is not audited with the application"
grep -E "IssueToken +$SOID" audit.txt >/dev/null || fail "the token issue is not audited with the principal's id"
grep -E "DeleteRoleAssignment +$NAME .* 200" audit.txt >/dev/null || fail "the revocation is not audited"
grep -E "cli:[a-z]+ +cli +CreateRoleAssignment " audit.txt >/dev/null || fail "an operator's grant is not audited: $(grep RoleAssignment audit.txt)"

step "an application deleted: its token is refused at the next request"
TOKEN=$AT api GET /keys/web-ec?api-version=7.4 >/dev/null; [ "$STATUS" = 200 ] || fail "before the delete: $STATUS"
$SR app delete web --data "$D" >/dev/null
TOKEN=$AT expect_api 401 Unauthorized GET /keys/web-ec?api-version=7.4
[ -z "$($SR role assignment list --data "$D" -o json | jq -r --arg o "$WEB_OID" '.[] | select(.principalId == $o) | .name')" ] ||
    fail "the deleted application's assignments remain"

step "the signing key rotates with overlap"
$SR role assignment create --role Reader --assignee signer --scope /vaults/dev --data "$D" >/dev/null
token_post grant_type=client_credentials client_id="$SID" client_secret="$SSECRET" "$SCOPE"
BEFORE=$(jq -r .access_token "$T/tok")
KID1=$(cut -d. -f1 <<<"$BEFORE" | b64u_decode | jq -r .kid)
$SR authority rotate --data "$D" >/dev/null
token_post grant_type=client_credentials client_id="$SID" client_secret="$SSECRET" "$SCOPE"
KID2=$(jq -r .access_token "$T/tok" | cut -d. -f1 | b64u_decode | jq -r .kid)
[ "$KID1" != "$KID2" ] || fail "rotate did not change the signing key"
JWKS=$(curl -s --cacert "$CA" --resolve "dev.localhost:$PORT:127.0.0.1" "$URL/adfs/discovery/keys")
[ "$(jq '.keys | length' <<<"$JWKS")" = 2 ] || fail "the JWKS does not hold both keys: $JWKS"
TOKEN=$BEFORE api GET "/keys?api-version=7.4" >/dev/null
[ "$STATUS" = 200 ] || fail "a token of the retired key is refused before its exp: $STATUS"

step "failed client authentications lock the client out for the minute, even with the right secret"
for i in $(seq 1 10); do token_post grant_type=client_credentials client_id="$SID" client_secret=wrong~secret "$SCOPE"; done
oauth_refused 429 temporarily_unavailable grant_type=client_credentials client_id="$SID" client_secret="$SSECRET" "$SCOPE"
stop_server

step "an expired access token is refused"
start_server "$D" --dev --quiet --token-lifetime 1
AUTH="https://dev.localhost:$PORT/adfs/oauth2/token"
$SR app create late --secret --data "$D" -o json > late.json
token_post grant_type=client_credentials client_id="$(jq -r .clientId late.json)" client_secret="$(jq -r .secret late.json)" "$SCOPE"
LATE=$(jq -r .access_token "$T/tok")
sleep 2
TOKEN=$LATE expect_api 401 Unauthorized GET /keys?api-version=7.4
grep -q expired "$T/resp" || fail "an expired token's refusal does not say so: $(cat "$T/resp")"
stop_server
$SR audit verify --data "$D" | grep -q "hash chain intact" || fail "audit chain"
echo PASS
