#!/usr/bin/env bash
# The cards seal (issue 21): no region module key opens with anything on the disk. A server starts sealed —
# /healthz, every vault request and the console answer 503 (Key Vault's error JSON, Retry-After) and nothing
# is written — until 'strongroom unseal' hands it a quorum of the region's administrator cards over
# DATA/control.sock (0600, the server's own user only). A wrong PIN and another world's card are refused
# and counted; progress shows "1 of 2"; a restart forgets it. Unsealed, keys and a BYOK import sign and the
# official SDK's scenario passes. A copy of the directory, and a backup restored, are sealed with no card
# to give, while the original keeps signing; the backup with a quorum of the cards is the way back.
. "$(dirname "$0")/lib.sh"
sdk_install
D="$T/d1"

step "seal init --backend cards; region EU with a 2-of-3 card set, region US with its own"
$SR seal init --backend cards --data "$D" | grep -q "sealed by cards" || fail "seal init"
printf 'pin-one\npin-two\npin-three\n' > pins
printf 'pin-one\nnot-the-pin\npin-three\n' > bad-pins
$SR region create EU --data "$D" --acs-quorum 2/3 --pin-file pins >/dev/null
$SR region create US --data "$D" --pin-file pins >/dev/null
$SR vault create contoso --region EU --subscription-id sub-1 --data "$D" >/dev/null
TOKEN=$($SR token create --role Administrator --data "$D")
for r in EU US; do
    [ -s "$D/regions/$r/kmdata/module/km0.cards" ] || fail "no km0.cards for $r"
    [ ! -e "$D/regions/$r/kmdata/module/km0" ] && [ ! -e "$D/regions/$r/kmdata/module/nvram" ] ||
        fail "$r keeps a module key or an NVRAM on the disk under the cards seal"
done
$SR seal status --data "$D" -o json > status.json
jq -e '[.modules[] | select(.backend == "cards" and (.state | startswith("sealed")))] | length == 2' status.json \
    >/dev/null || fail "seal status: $(cat status.json)"

step "sealed: health, keys and the console answer 503, the control socket is 0600, nothing is written"
start_server "$D" --quiet --default-vault contoso
VHOST=contoso.localhost
grep -q "sealed: 2 region(s) wait" "$SERVER_LOG" || fail "the start does not say it is sealed: $(cat "$SERVER_LOG")"
[ "$(stat -c %a "$D/control.sock")" = 600 ] || fail "control.sock is not 0600"
audit_before=$(store_sql "$D" "select count(*) from audit")
code=$(curl -s -o health.json -w '%{http_code}' --cacert "$CA" "https://localhost:$PORT/healthz")
[ "$code" = 503 ] && jq -e '.sealed == true and .seal == "cards"' health.json >/dev/null ||
    fail "healthz while sealed: $code $(cat health.json)"
expect_api 503 ServiceUnavailable GET "/keys?api-version=7.5"
grep -q "strongroom unseal" "$T/resp" || fail "the 503 does not say what to do: $(cat "$T/resp")"
curl -s -D headers -o /dev/null --cacert "$CA" --resolve "contoso.localhost:$PORT:127.0.0.1" \
    -H "Authorization: Bearer $TOKEN" "https://contoso.localhost:$PORT/keys/k1?api-version=7.5"
grep -qi '^retry-after:' headers || fail "no Retry-After on a sealed 503: $(cat headers)"
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$CA" "https://localhost:$PORT/console/")
[ "$code" = 503 ] || fail "the console answered $code while sealed"
[ "$(store_sql "$D" "select count(*) from audit")" = "$audit_before" ] || fail "a sealed server wrote audit rows"

step "unseal: a wrong PIN refused and counted, another world's card refused, progress 1 of 2"
expect 1 "wrong PIN" $SR unseal --data "$D" --region EU --cards 2 --pin-file bad-pins
grep -q "refused so far: 1" "$T/out" || fail "the refusal is not counted: $(cat "$T/out")"
mkdir foreign
us_world=$(ls "$D/regions/US/cards" | sed -n 's/^acs_\([0-9a-f]*\)_1\.card$/\1/p')
eu_world=$(ls "$D/regions/EU/cards" | sed -n 's/^acs_\([0-9a-f]*\)_1\.card$/\1/p')
cp "$D/regions/US/cards/acs_${us_world}_1.card" "foreign/acs_${eu_world}_1.card"
expect 1 "world" $SR unseal --data "$D" --region EU --cards 1 --pin-file pins --card-dir foreign
grep -q "refused so far: 2" "$T/out" || fail "another world's card is not counted: $(cat "$T/out")"
$SR unseal --data "$D" --region EU --cards 1 --pin-file pins > one.txt || fail "unseal with one card"
grep -q "card 1 taken: 1 of 2" one.txt && grep -q "still sealed" one.txt || fail "progress: $(cat one.txt)"
expect_api 503 ServiceUnavailable GET "/keys?api-version=7.5"

step "a restart forgets partial progress"
stop_server
start_server "$D" --quiet --default-vault contoso
$SR unseal --data "$D" --region EU --cards 3 --pin-file pins > again.txt || fail "unseal after the restart"
grep -q "card 3 taken: 1 of 2" again.txt || fail "the restart kept the card given before: $(cat again.txt)"
expect 1 "given already" $SR unseal --data "$D" --region EU --cards 3 --pin-file pins
# A card refused on the way does not fail an unseal that ends unsealed.
$SR unseal --data "$D" --region EU --cards 2,1 --pin-file bad-pins > done.txt || fail "unseal: $(cat done.txt)"
grep -q "Region EU: card 2 refused: wrong PIN" done.txt && grep -q "Region EU: card 1 taken: 2 of 2; unsealed, serving" done.txt ||
    fail "unseal: $(cat done.txt)"
$SR unseal --data "$D" --cards 1 --pin-file pins > done.txt || fail "unseal US"
grep -q "Region EU: unsealed already" done.txt && grep -q "Region US: card 1 taken: 1 of 1" done.txt ||
    fail "unseal: $(cat done.txt)"
code=$(curl -s -o health.json -w '%{http_code}' --cacert "$CA" "https://localhost:$PORT/healthz")
[ "$code" = 200 ] && jq -e '.sealed == false and .regionsServed == 2' health.json >/dev/null || fail "healthz: $(cat health.json)"
grep -q "unseal: region EU: a card taken; 2 of 2 given: unsealed" "$SERVER_LOG" || fail "the server's log does not say it"

step "unsealed: keys and a BYOK import sign; the official SDK's scenario passes"
export STRONGROOM_VAULT_URL="https://contoso.localhost:$PORT" STRONGROOM_CA_FILE="$CA" STRONGROOM_TOKEN="$TOKEN"
keys_and_byok
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out authority.pem 2>/dev/null
authority_jwks authority.pem sdk-authority authority.jwks
$SR vault trust-authority --vault contoso --issuer https://sdk-attest.test/ --jwks authority.jwks --data "$D" >/dev/null
NODE_EXTRA_CA_CERTS="$CA" timeout 300 node --require "$SDK/localhost-dns.cjs" "$SDK/sdk-test.mjs" \
    "https://contoso.localhost:$PORT" "$TOKEN" "$T/authority.pem" https://sdk-attest.test/ > sdk.log 2>&1 ||
    { cat sdk.log; fail "the SDK scenario against an unsealed server"; }
ORIG_PID=$SERVER_PID ORIG_PORT=$PORT ORIG_LOG=$SERVER_LOG

step "a copy of the directory, and a backup restored: sealed, with no card to give"
$SR backup --data "$D" --out "$T/live.backup" >/dev/null || fail "strongroom backup"
cp -a "$D" "$T/copy"
rm -f "$T/copy/serve.lock" "$T/copy/control.sock"
$SR restore --in "$T/live.backup" --data "$T/restored" >/dev/null || fail "strongroom restore"
for copy in copy restored; do
    start_server "$T/$copy" --quiet --default-vault contoso
    STRONGROOM_VAULT_URL="https://contoso.localhost:$PORT" STRONGROOM_CA_FILE="$CA" \
        expect 1 "region is sealed" $SR key sign --name k1 --alg ES256 --in d.txt --out copy.sig
    STRONGROOM_VAULT_URL="https://contoso.localhost:$PORT" STRONGROOM_CA_FILE="$CA" \
        expect 1 "region is sealed" $SR key sign --name imported --alg ES256 --in d.txt --out copy.sig
    if [ $copy = restored ]; then
        # The way back on new hardware under this seal: the backup, and a quorum of the cards.
        $SR unseal --data "$T/restored" --cards 1,2 --pin-file pins --card-dir "$D/regions/EU/cards" --region EU \
            >/dev/null || fail "unsealing the restored backup with the cards"
        STRONGROOM_VAULT_URL="https://contoso.localhost:$PORT" STRONGROOM_CA_FILE="$CA" \
            $SR key sign --name k1 --alg ES256 --in d.txt --out restored.sig >/dev/null || fail "the restored k1"
        $SR key verify --name k1 --alg ES256 --in d.txt --signature restored.sig | grep -q 'Verified: true' ||
            fail "the restored backup's k1 is not the original's"
    fi
    stop_server
done
expect 1 "no server of this data directory" $SR unseal --data "$T/nothing-here" --cards 1 --pin-file pins
step "the original keeps signing"
$SR key sign --name k1 --alg ES256 --in d.txt --out again.sig >/dev/null || fail "the original stopped signing"
$SR key verify --name k1 --alg ES256 --in d.txt --signature again.sig | grep -q 'Verified: true' || fail "verify"
SERVER_PID=$ORIG_PID SERVER_LOG=$ORIG_LOG
stop_server
[ ! -e "$D/control.sock" ] || fail "control.sock left behind after the server stopped"

step "refusals: unseal of a server that is not cards-sealed, a malformed control request, a stranger's uid"
$SR seal init --backend file --data "$T/plain" >/dev/null
start_server "$T/plain" --dev --quiet
expect 1 "not sealed by cards" $SR unseal --data "$T/plain" --cards 1 --pin-file "$T/plain/dev-card-pin"
printf '{"op": "unseal", "region": "DEV"}\n' | timeout 10 /usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.stdin.buffer.read())
print(s.makefile().readline().strip())' "$T/plain/control.sock" > bad.json
jq -e '.error.code == "SR_ERR_CONTROL"' bad.json >/dev/null || fail "a malformed request: $(cat bad.json)"
# A line past 64 KiB, and a client that says nothing: refused, and the socket still answers the next one.
head -c 70000 /dev/zero | tr '\0' 'a' | timeout 20 /usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
try:
    s.sendall(sys.stdin.buffer.read() + b"\n")
except BrokenPipeError:
    pass
print(s.makefile().readline().strip())' "$T/plain/control.sock" > big.json
jq -e '.error.code == "SR_ERR_CONTROL"' big.json >/dev/null || fail "a 70,000-byte line: $(cat big.json)"
timeout 20 /usr/bin/python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); t = time.time()
line = s.makefile().readline().strip()
assert 3 <= time.time() - t <= 15, "the silent client was held %.1f s" % (time.time() - t)
print(line)' "$T/plain/control.sock" > silent.json || fail "a silent client: $(cat silent.json)"
expect 1 "not sealed by cards" $SR unseal --data "$T/plain" --cards 1 --pin-file "$T/plain/dev-card-pin" # still answers
if command -v setpriv >/dev/null && [ "$(id -u)" = 0 ]; then
    chmod 755 "$T" "$T/plain"; chmod 666 "$T/plain/control.sock" # only the peer check stands in the way
    out=$(setpriv --reuid 65534 --regid 65534 --clear-groups /usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
try:
    s.sendall(b"{\"op\": \"status\"}\n")
except BrokenPipeError:
    pass  # refused before the request was read: the answer is waiting
print(s.makefile().readline().strip())' "$T/plain/control.sock")
    echo "$out" | jq -e '.error.code == "Forbidden"' >/dev/null || fail "another user was answered: $out"
    chmod 700 "$T" "$T/plain"
fi
stop_server
echo PASS
