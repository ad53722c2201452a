#!/usr/bin/env bash
# Secrets through Key Vault's REST API: set, get (latest and a version), list, versions, update, delete,
# deleted get/list, recover, purge, backup/restore; enabled/nbf/exp enforced on get; the 25 KB limit; the
# roles (Secrets User reads, Reader sees metadata only, Crypto Officer sees none); and the value sealed at
# rest: not in the store, the data directory, the log or the audit, and a row copied to another name, or
# changed, opens to nothing.
. "$(dirname "$0")/lib.sh"
start_server "$T/data" --dev --quiet
TOKEN=$(cat "$T/data/dev-token")
V='api-version=7.5'
MARK="s3cr3t-$(openssl rand -hex 12)"

step "set makes a version and answers with the value; get reads it back, latest and by version"
api PUT "/secrets/db-password?$V" "{\"value\":\"$MARK-v1\",\"contentType\":\"text/plain\",\"tags\":{\"env\":\"prod\"}}" > s1.json
[ "$STATUS" = 200 ] || fail "set: $(cat s1.json)"
jq -e --arg v "$MARK-v1" '.value == $v and .contentType == "text/plain" and .tags.env == "prod" and .attributes.enabled
    and .attributes.recoveryLevel == "Recoverable+Purgeable" and (.id | test("/secrets/db-password/[0-9a-f]{32}$"))' s1.json >/dev/null || fail "bundle: $(cat s1.json)"
ID1=$(jq -r .id s1.json); VER1=${ID1##*/}
api PUT "/secrets/db-password?$V" "{\"value\":\"$MARK-v2\"}" > s2.json
VER2=$(jq -r .id s2.json); VER2=${VER2##*/}
[ "$VER1" != "$VER2" ] || fail "a second set made no new version"
[ "$(api GET "/secrets/db-password?$V" | jq -r .value)" = "$MARK-v2" ] || fail "latest is not v2"
[ "$(api GET "/secrets/DB-Password/$VER1?$V" | jq -r .value)" = "$MARK-v1" ] || fail "version 1 by name (other case)"
api GET "/secrets/db-password/$VER1?$V" | jq -e '.contentType == "text/plain"' >/dev/null || fail "v1 lost its contentType"
expect_api 404 SecretNotFound GET "/secrets/db-password/0123456789abcdef0123456789abcdef?$V"
expect_api 404 SecretNotFound GET "/secrets/nothing?$V"
expect_api 400 BadParameter PUT "/secrets/bad_name?$V" '{"value":"x"}'
expect_api 400 BadParameter PUT "/secrets/novalue?$V" '{"contentType":"x"}'
expect_api 400 BadParameter PUT "/secrets/notstring?$V" '{"value":42}'

step "a secret and a key of one name are two things"
api POST "/keys/db-password/create?$V" '{"kty":"EC","crv":"P-256"}' >/dev/null
[ "$STATUS" = 200 ] || fail "key of the same name"
[ "$(api GET "/secrets/db-password?$V" | jq -r .value)" = "$MARK-v2" ] || fail "the key changed the secret"
api GET "/keys?$V" | jq -e '[.value[].kid | select(test("/keys/db-password$"))] | length == 1' >/dev/null || fail "key list"

step "list and versions: ids and attributes, never values"
api PUT "/secrets/api-key?$V" '{"value":"another"}' >/dev/null
api GET "/secrets?$V&maxresults=1" > l1.json
jq -e '(.value | length) == 1 and (.nextLink | test("/secrets\\?"))' l1.json >/dev/null || fail "page 1: $(cat l1.json)"
api GET "/secrets?$V" > l.json
jq -e '[.value[].id] | sort == [ (.[] | select(test("api-key$"))), (.[] | select(test("db-password$"))) ]' l.json >/dev/null || fail "list: $(cat l.json)"
! grep -q "$MARK\|another" l.json || fail "a list holds a value"
api GET "/secrets/db-password/versions?$V" > ver.json
[ "$(jq '.value | length' ver.json)" = 2 ] || fail "versions: $(cat ver.json)"
! grep -q "$MARK" ver.json || fail "versions hold a value"

step "update changes attributes, tags and contentType of a version, not its value"
api PATCH "/secrets/db-password/$VER2?$V" '{"contentType":"application/x-pass","tags":{"owner":"ops"}}' > u.json
jq -e '.contentType == "application/x-pass" and .tags.owner == "ops" and .value == null' u.json >/dev/null || fail "update: $(cat u.json)"
expect_api 400 BadParameter PATCH "/secrets/db-password/$VER2?$V" '{"value":"sneaky"}'
[ "$(api GET "/secrets/db-password?$V" | jq -r .value)" = "$MARK-v2" ] || fail "update changed the value"

step "enabled, nbf and exp are enforced on get (403), and the value stays listed"
api PATCH "/secrets/db-password/$VER2?$V" '{"attributes":{"enabled":false}}' >/dev/null
expect_api 403 Forbidden GET "/secrets/db-password?$V"
[ "$(api GET "/secrets/db-password/$VER1?$V" | jq -r .value)" = "$MARK-v1" ] || fail "v1 is still enabled"
api PATCH "/secrets/db-password/$VER2?$V" "{\"attributes\":{\"enabled\":true,\"nbf\":$(( $(date +%s) + 3600 ))}}" >/dev/null
expect_api 403 Forbidden GET "/secrets/db-password?$V"
api PATCH "/secrets/db-password/$VER2?$V" "{\"attributes\":{\"nbf\":null,\"exp\":$(( $(date +%s) - 10 ))}}" >/dev/null
expect_api 403 Forbidden GET "/secrets/db-password?$V"
api PATCH "/secrets/db-password/$VER2?$V" '{"attributes":{"exp":null}}' >/dev/null
[ "$(api GET "/secrets/db-password?$V" | jq -r .value)" = "$MARK-v2" ] || fail "back in date"

step "the 25 KB limit: 25,600 bytes are taken, one more is 400"
head -c 25600 /dev/zero | tr '\0' a > big.txt
api PUT "/secrets/big?$V" "{\"value\":\"$(cat big.txt)\"}" >/dev/null
[ "$STATUS" = 200 ] || fail "25,600 bytes refused"
[ "$(api GET "/secrets/big?$V" | jq -r .value | tr -d '\n' | wc -c)" = 25600 ] || fail "25,600 bytes not read back"
expect_api 400 BadParameter PUT "/secrets/big?$V" "{\"value\":\"$(cat big.txt)b\"}"
grep -q "25 KB" "$T/resp" || fail "the refusal does not say the limit: $(cat "$T/resp")"

step "the value is sealed at rest: not in the store or anywhere in the data directory"
! grep -rqa "$MARK" "$T/data" || fail "a secret value is in the data directory"
store_sql "$T/data" "SELECT kty FROM keys WHERE vault = 'dev/secrets' AND name = 'db-password'" | grep -q secret || fail "no secret row"
if [ -n "${STRONGROOM_STORE:-}" ]; then
    "${SR_TEST_PG_BIN:+$SR_TEST_PG_BIN/}pg_dump" -d "$STRONGROOM_STORE" > dump.sql
    ! grep -qa "$MARK" dump.sql || fail "a secret value is in pg_dump"
    grep -q "dev/secrets" dump.sql || fail "pg_dump has no secret rows at all"
fi

step "a row moved to another name, or changed, opens to nothing"
api PUT "/secrets/victim?$V" "{\"value\":\"$MARK-victim\"}" > vi.json
VV=$(jq -r .id vi.json); VV=${VV##*/}
stop_server
store_sql "$T/data" "UPDATE keys SET name = 'api-key' WHERE vault = 'dev/secrets' AND name = 'victim'"
start_server "$T/data" --quiet
out=$(api GET "/secrets/api-key/$VV?$V")
[ "$(cat "$T/status")" = 400 ] || fail "a moved row answered $(cat "$T/status"): $out"
! printf '%s' "$out" | grep -q "$MARK" || fail "a moved row gave its value"
[ "$(api GET "/secrets/api-key?$V" | jq -r .value)" != "$MARK-victim" ] || fail "the moved row is served as api-key"
stop_server
store_sql "$T/data" "UPDATE keys SET name = 'victim' WHERE vault = 'dev/secrets' AND version = '$VV'"
store_sql "$T/data" "UPDATE keys SET blob = $( [ -n "${STRONGROOM_STORE:-}" ] && echo "overlay(blob placing '\\x00'::bytea from 20 for 1)" || echo "substr(blob, 1, 19) || x'00' || substr(blob, 21)") WHERE vault = 'dev/secrets' AND version = '$VV'"
start_server "$T/data" --quiet
out=$(api GET "/secrets/victim?$V")
[ "$(cat "$T/status")" = 400 ] || fail "a changed row answered $(cat "$T/status"): $out"
printf '%s' "$out" | grep -q "failed authentication" || fail "the refusal does not say why: $out"
! printf '%s' "$out" | grep -q "$MARK" || fail "a changed row gave its value"
[ "$(api GET "/secrets/db-password/$VER2?$V" | jq -r .value)" = "$MARK-v2" ] || fail "the other secrets suffered"

step "delete, deleted get and list, recover, delete again and purge"
api DELETE "/secrets/api-key?$V" > d.json
jq -e '(.recoveryId | test("/deletedsecrets/api-key$")) and .deletedDate > 0 and .scheduledPurgeDate > .deletedDate and .value == null' d.json >/dev/null || fail "delete: $(cat d.json)"
expect_api 404 SecretNotFound GET "/secrets/api-key?$V"
expect_api 409 Conflict PUT "/secrets/api-key?$V" '{"value":"while deleted"}'
api GET "/deletedsecrets/api-key?$V" | jq -e '.recoveryId != null and .value == null' >/dev/null || fail "deleted get"
api GET "/deletedsecrets?$V" | jq -e '[.value[].recoveryId | select(test("api-key$"))] | length == 1' >/dev/null || fail "deleted list"
expect_api 404 SecretNotFound GET "/deletedsecrets/db-password?$V"
api POST "/deletedsecrets/api-key/recover?$V" > r.json
[ "$STATUS" = 200 ] || fail "recover: $(cat r.json)"
[ "$(api GET "/secrets/api-key?$V" | jq -r .value)" = another ] || fail "recovered value"
api DELETE "/secrets/api-key?$V" >/dev/null
api DELETE "/deletedsecrets/api-key?$V" >/dev/null
[ "$STATUS" = 204 ] || fail "purge answered $STATUS"
expect_api 404 SecretNotFound GET "/deletedsecrets/api-key?$V"
[ -z "$(store_sql "$T/data" "SELECT 1 FROM keys WHERE vault = 'dev/secrets' AND name = 'api-key'")" ] || fail "purged rows remain"
api PUT "/secrets/api-key?$V" '{"value":"anew"}' >/dev/null
[ "$STATUS" = 200 ] || fail "a purged name is not free"

step "backup and restore: every version, its attributes and values; a key's backup is not a secret's"
api POST "/secrets/db-password/backup?$V" > b.json
BLOB=$(jq -r .value b.json)
! grep -q "$MARK" b.json || fail "the backup holds the value in clear"
expect_api 409 Conflict POST "/secrets/restore?$V" "{\"value\":\"$BLOB\"}"
api DELETE "/secrets/db-password?$V" >/dev/null
api DELETE "/deletedsecrets/db-password?$V" >/dev/null
api POST "/secrets/restore?$V" "{\"value\":\"$BLOB\"}" > rs.json
[ "$STATUS" = 200 ] || fail "restore: $(cat rs.json)"
[ "$(api GET "/secrets/db-password/$VER2?$V" | jq -r .value)" = "$MARK-v2" ] || fail "restored v2"
[ "$(api GET "/secrets/db-password/versions?$V" | jq '.value | length')" = 2 ] || fail "restored versions"
KB=$(api POST "/keys/db-password/backup?$V" | jq -r .value)
expect_api 400 BadParameter POST "/secrets/restore?$V" "{\"value\":\"$KB\"}"
api DELETE "/keys/db-password?$V" >/dev/null; api DELETE "/deletedkeys/db-password?$V" >/dev/null
expect_api 400 BadParameter POST "/keys/restore?$V" "{\"value\":\"$BLOB\"}"
expect_api 400 BadParameter POST "/secrets/restore?$V" '{"value":"AAAA"}'

step "a backup restores into another vault of its subscription (the values sealed again for it), never into another subscription's"
DEV_SUB=$($SR vault list --data "$T/data" --output json | jq -r '.[] | select(.name == "dev") | .subscriptionId')
$SR vault create same --region DEV --subscription-id "$DEV_SUB" --data "$T/data" >/dev/null
$SR vault create foreign --region DEV --subscription-id 0000aaaa-0000-0000-0000-00000000000b --data "$T/data" >/dev/null
VHOST=same.localhost api POST "/secrets/restore?$V" "{\"value\":\"$BLOB\"}" > same.json
[ "$STATUS" = 200 ] || fail "restore into a vault of the same subscription: $(cat same.json)"
[ "$(VHOST=same.localhost api GET "/secrets/db-password/$VER2?$V" | jq -r .value)" = "$MARK-v2" ] || fail "the restored value does not open in the other vault"
VHOST=foreign.localhost expect_api 400 BadParameter POST "/secrets/restore?$V" "{\"value\":\"$BLOB\"}"
grep -q "subscription" "$T/resp" || fail "the refusal does not name the subscription: $(cat "$T/resp")"
[ "$(VHOST=foreign.localhost api GET "/secrets?$V" | jq '.value | length')" = 0 ] || fail "a refused restore left a secret"

step "a value with NUL or invalid UTF-8 is refused as a body, and changes nothing"
expect_api 400 BadParameter PUT "/secrets/nul?$V" '{"value":"a\u0000b"}'
printf '{"value":"\xff\xfe"}' > badutf8.json
out=$(api PUT "/secrets/nul?$V" "" -H 'Content-Type: application/json' --data-binary @badutf8.json)
[ "$(cat "$T/status")" = 400 ] || fail "invalid UTF-8 answered $(cat "$T/status"): $out"
expect_api 404 SecretNotFound GET "/secrets/nul?$V"

step "roles: Secrets User reads, Reader lists but never reads, Crypto Officer sees no secrets"
USER_TOKEN=$($SR token create --data "$T/data" --role "Key Vault Secrets User" --vault dev --name su | tail -n 1)
READER=$($SR token create --data "$T/data" --role reader --vault dev --name rd | tail -n 1)
CRYPTO=$($SR token create --data "$T/data" --role crypto-officer --vault dev --name co | tail -n 1)
OFFICER=$($SR token create --data "$T/data" --role secrets-officer --vault dev --name so | tail -n 1)
[ "$(TOKEN=$USER_TOKEN api GET "/secrets/db-password?$V" | jq -r .value)" = "$MARK-v2" ] || fail "Secrets User cannot read"
TOKEN=$USER_TOKEN expect_api 403 Forbidden PUT "/secrets/x?$V" '{"value":"no"}'
TOKEN=$READER api GET "/secrets?$V" >/dev/null; [ "$STATUS" = 200 ] || fail "Reader cannot list"
TOKEN=$READER expect_api 403 Forbidden GET "/secrets/db-password?$V"
TOKEN=$CRYPTO expect_api 403 Forbidden GET "/secrets?$V"
TOKEN=$CRYPTO expect_api 403 Forbidden GET "/secrets/db-password?$V"
TOKEN=$OFFICER api PUT "/secrets/x?$V" '{"value":"officer"}' >/dev/null; [ "$STATUS" = 200 ] || fail "Secrets Officer cannot set"
TOKEN=$OFFICER expect_api 403 Forbidden GET "/keys?$V"

step "the command line, as az keyvault secret: set from a file (base64 kept in a tag), show, download, list, delete"
export STRONGROOM_VAULT_URL="https://localhost:$PORT" STRONGROOM_CA_FILE="$CA" STRONGROOM_TOKEN="$TOKEN"
head -c 300 /dev/urandom > blob.bin
$SR secret set --name cert-pfx --file blob.bin --encoding base64 --content-type application/x-pkcs12 -o json > cs.json
jq -e '.tags["file-encoding"] == "base64" and .contentType == "application/x-pkcs12"' cs.json >/dev/null || fail "cli set: $(cat cs.json)"
$SR secret download --name cert-pfx --file back.bin >/dev/null
cmp blob.bin back.bin || fail "download did not give the file's bytes back"
[ "$(stat -c %a back.bin)" = 600 ] || fail "download wrote a file others can read"
$SR secret set --name cli-text --value "$MARK-cli" --tags team=a --expires 2099-01-01T00:00:00Z >/dev/null
$SR secret show --name cli-text -o tsv | grep -q "$MARK-cli" || fail "cli show"
$SR secret show --name cli-text | grep -Eq '^expires +2099-01-01T00:00:00Z' || fail "cli show table"
$SR secret list | grep -q '^cli-text ' || fail "cli list"
! $SR secret list -o json | grep -q "$MARK" || fail "cli list shows a value"
$SR secret set-attributes --name cli-text --enabled false >/dev/null
expect 1 "disabled secret" $SR secret show --name cli-text
$SR secret list-versions --name cli-text | grep -Eq '^[0-9a-f]{32} ' || fail "cli list-versions"
$SR secret backup --name cli-text --file cli.bak >/dev/null
$SR secret delete --name cli-text >/dev/null
$SR secret list-deleted | grep -q '^cli-text ' || fail "cli list-deleted"
$SR secret purge --name cli-text | grep -q "cannot be recovered" || fail "cli purge"
$SR secret restore --file cli.bak >/dev/null
$SR secret set-attributes --name cli-text --enabled true >/dev/null
[ "$($SR secret show --name cli-text -o json | jq -r .value)" = "$MARK-cli" ] || fail "cli restore"
expect 2 "--value TEXT or --file" $SR secret set --name x
expect 2 "not UTF-8" $SR secret set --name x --file blob.bin
expect 1 "SecretNotFound\|not found" $SR secret show --name nothing-here
unset STRONGROOM_VAULT_URL STRONGROOM_CA_FILE STRONGROOM_TOKEN

step "the audit names secrets and outcomes, never values; the server's log has none"
$SR audit show --data "$T/data" > audit.txt
grep -q "SetSecret" audit.txt && grep -q "GetSecret" audit.txt && grep -q "PurgeDeletedSecret" audit.txt || fail "audit lacks secret operations"
$SR audit verify --data "$T/data" >/dev/null || fail "audit chain"
stop_server
! grep -rqa "$MARK" "$T/data" audit.txt "$T"/server.*.log || fail "a secret value reached a file"
