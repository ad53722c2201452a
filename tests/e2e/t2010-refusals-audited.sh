#!/usr/bin/env bash
# Every refusal is audited (docs/api.md): a request without a token, with a malformed header, an unknown,
# expired or revoked token (401), or a role or scope that may not (403) leaves an entry with the client's
# address and the reason. A flood of bad tokens is counted, not copied: one entry when it starts and one
# with its count per client, reason and minute, written at the latest when the server stops; the chain
# verifies and another client is served throughout.
. "$(dirname "$0")/lib.sh"
start_server "$T/data" --dev --quiet
V=api-version=7.5
ADMIN=$(cat "$T/data/dev-token")

step "each kind of refusal answers 401 or 403"
TOKEN= expect_api 401 Unauthorized GET "/keys?$V"
TOKEN= expect_api 401 Unauthorized GET "/keys?$V" '' -H 'Authorization: Basic eDp5'
TOKEN=not-a-token expect_api 401 Unauthorized GET "/keys?$V"
TOKEN=$($SR token create --role Reader --name short-lived --ttl 1 --data "$T/data")
sleep 2.2
expect_api 401 Unauthorized GET "/keys?$V"
TOKEN=$($SR token create --role Reader --name reader --data "$T/data")
expect_api 403 Forbidden POST "/keys/k1/create?$V" '{"kty":"EC"}'
$SR token revoke reader --data "$T/data" >/dev/null
expect_api 401 Unauthorized GET "/keys?$V"

step "each is in the audit log with the client's address and the reason"
$SR audit show --refused --output json --data "$T/data" > refused.json
for want in '401 - no token' '401 - malformed Authorization header' '401 - unknown token' \
            '401 short-lived expired token' '403 reader role '"'"'Reader'"'"' may not CreateKey' '401 reader revoked token'; do
    read -r status actor reason <<<"$want"
    jq -e --arg s "$status" --arg a "$actor" --arg r "$reason" \
        '[.[] | select((.status|tostring) == $s and .actor == $a and .client == "127.0.0.1" and (.reason|startswith($r)))] | length == 1' \
        refused.json >/dev/null || fail "no single audit entry for '$want': $(cat refused.json)"
done
$SR audit show --refused --output tsv --data "$T/data" | awk -F'\t' 'NF != 10 { exit 1 }' || fail "audit show --output tsv is not 10 columns"
$SR audit show --since 2000-01-01 --op Authenticate --data "$T/data" | grep -q '^SEQ ' || fail "audit show has no table header"
expect 2 'ISO-8601' $SR audit show --since yesterday --data "$T/data"
expect 2 'table, tsv or json' $SR audit show --output yaml --data "$T/data"

step "a flood of 3,000 bad tokens from one client: counted, not copied; another client is served meanwhile"
before=$(store_sql "$T/data" "SELECT count(*) FROM audit")
for i in $(seq 1 750); do
    printf 'next\nurl = "https://dev.localhost:%s/keys?%s"\nheader = "Authorization: Bearer flood-%s"\noutput = "/dev/null"\n' \
        "$PORT" "$V" "$i"
    printf 'cacert = "%s"\nresolve = "dev.localhost:%s:127.0.0.1"\nsilent\nwrite-out = "%%{http_code}\\n"\n' "$CA" "$PORT"
done | tail -n +2 > flood.cfg
start=$(date +%s%N)
pids=()
for p in 1 2 3 4; do
    curl -K flood.cfg > "flood.$p" &
    pids+=($!)
done
TOKEN=$ADMIN
for i in $(seq 1 20); do
    api GET "/keys?$V" >/dev/null; [ "$STATUS" = 200 ] || fail "the good client got $STATUS during the flood"
done
wait "${pids[@]}"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$(cat flood.* | grep -c "^401$")" = 3000 ] || fail "the flood was not answered 401 3,000 times: $(cat flood.* | sort | uniq -c)"
echo "   3,000 refusals answered in $ms ms"
stop_server
entries=$(store_sql "$T/data" "SELECT count(*) FROM audit WHERE reason = 'unknown token'")
counted=$(store_sql "$T/data" "SELECT sum(count) FROM audit WHERE reason = 'unknown token'")
minutes=$(( ms / 60000 + 2 ))
[ "$counted" = 3001 ] || fail "the unknown-token entries count $counted refusals, not 3,001"
[ "$entries" -le $(( 2 * minutes )) ] || fail "$entries entries for one client's flood over at most $minutes minutes"
after=$(store_sql "$T/data" "SELECT count(*) FROM audit")
[ $(( after - before )) -le $(( 2 * minutes + 20 )) ] || fail "the flood grew the log by $(( after - before )) entries"
$SR audit verify --data "$T/data" | grep -q 'intact' || fail "the audit chain does not verify"
echo PASS
