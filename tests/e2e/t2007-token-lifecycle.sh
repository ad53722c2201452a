#!/usr/bin/env bash
# Token lifecycle on a running server: a labelled token, its label in the audit log and in 'token list'
# (with its last use, never the secret); 'token revoke' by label or id refuses it from its very next
# request, without a restart (the server's cache sees the change at once, on SQLite and on PostgreSQL).
. "$(dirname "$0")/lib.sh"
start_server "$T/data" --dev --quiet
V=api-version=7.5

step "a labelled token works, and its label is unique and checked"
TOKEN=$($SR token create --role "Crypto User" --name ci-runner --data "$T/data")
api GET "/keys?$V" >/dev/null; [ "$STATUS" = 200 ] || fail "a new token answered $STATUS"
expect 1 'exists' $SR token create --role Reader --name ci-runner --data "$T/data"
expect 2 "token's --name" $SR token create --role Reader --name 'no spaces' --data "$T/data"

step "token list: label, role, last use; never the token"
$SR token list --data "$T/data" > list.txt
grep -q '^ci-runner ' list.txt || fail "the label is not listed: $(cat list.txt)"
! grep -qF "$TOKEN" list.txt || fail "token list shows the secret"
$SR token list --output json --data "$T/data" > list.json
jq -e '.[] | select(.name == "ci-runner") | .role == "Crypto User" and .lastUsed != "-" and .revoked == "-"' list.json \
    >/dev/null || fail "token list --output json: $(cat list.json)"
! grep -qF "$TOKEN" list.json || fail "token list --output json shows the secret"
[ "$(store_sql "$T/data" "SELECT count(*) FROM audit WHERE actor = 'ci-runner'")" -ge 1 ] || fail "the audit log lacks the label"

step "revoked by label: refused from the next request on the running server"
$SR token revoke ci-runner --data "$T/data" | grep -q 'revoked'
expect_api 401 Unauthorized GET "/keys?$V"
$SR token list --output json --data "$T/data" | jq -e '.[] | select(.name == "ci-runner") | .revoked != "-"' >/dev/null ||
    fail "the revocation is not listed"
expect 1 'no live token' $SR token revoke ci-runner --data "$T/data"

step "revoked by id"
TOKEN=$($SR token create --role Reader --name reader --data "$T/data")
api GET "/keys?$V" >/dev/null; [ "$STATUS" = 200 ] || fail "reader answered $STATUS"
id=$($SR token list --output json --data "$T/data" | jq -r '.[] | select(.name == "reader") | .id')
$SR token revoke "$id" --data "$T/data" >/dev/null
expect_api 401 Unauthorized GET "/keys?$V"
stop_server
echo PASS
