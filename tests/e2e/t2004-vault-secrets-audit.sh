#!/usr/bin/env bash
# No private key material, and no secret's value, in the database, responses, audit log or server log; the audit
# chain detects an edited entry; keys survive a restart (nothing acknowledged is lost).
. "$(dirname "$0")/lib.sh"
start_server "$T/data" --dev
TOKEN=$(cat "$T/data/dev-token")
V=api-version=7.5

step "import a key whose private half we know"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/priv.pem" 2>/dev/null
node -e 'const c=require("crypto"),fs=require("fs");const j=c.createPrivateKey(fs.readFileSync(process.argv[1])).export({format:"jwk"});fs.writeFileSync(process.argv[2],JSON.stringify({key:j}));for(const f of ["d","p","q","dp","dq","qi"])fs.writeFileSync(process.argv[3]+"."+f,Buffer.from(j[f],"base64url"));fs.writeFileSync(process.argv[3]+".d.b64",j.d)' \
    "$T/priv.pem" "$T/import.json" "$T/secret"
openssl pkcs8 -topk8 -nocrypt -in "$T/priv.pem" -outform DER -out "$T/secret.p8"
resp=$(api PUT "/keys/known?$V" "$(cat "$T/import.json")"); [ "$(cat "$T/status")" = 200 ] || fail "import: $resp"
printf '%s' "$resp" > "$T/r1.json"
api GET "/keys/known?$V" > "$T/r2.json"
api POST "/keys/known/backup?$V" > "$T/r3.json"
DIGEST=$(printf 'x' | openssl dgst -sha256 -binary | basenc --base64url | tr -d '=')
api POST "/keys/known/sign?$V" "{\"alg\":\"PS256\",\"value\":\"$DIGEST\"}" > "$T/r4.json"
api POST "/keys/gen/create?$V" '{"kty":"EC","crv":"P-521"}' > "$T/r5.json"
jq -e '.key.d == null and .key.p == null' "$T/r1.json" >/dev/null || fail "private members in a response"

step "secrets: one set, read, updated and kept; another set, deleted and purged"
SECRET_VALUE="kv-secret-$(openssl rand -hex 16)"
api PUT "/secrets/kept?$V" "{\"value\":\"$SECRET_VALUE\"}" > "$T/s1.json"
[ "$(api GET "/secrets/kept?$V" | jq -r .value)" = "$SECRET_VALUE" ] || fail "the secret does not read back"
api PATCH "/secrets/kept?$V" '{"contentType":"text/plain"}' > "$T/s2.json"
api PUT "/secrets/gone?$V" "{\"value\":\"$SECRET_VALUE-2\"}" > /dev/null
api DELETE "/secrets/gone?$V" > /dev/null
api DELETE "/deletedsecrets/gone?$V" > /dev/null; [ "$STATUS" = 204 ] || fail "purge"
printf '%s' "$SECRET_VALUE" | xxd -p | tr -d '\n' > "$T/secret-value.hex"

step "the checkpointed database, its WAL (or a dump of the PostgreSQL store), responses, audit and server log hold none of it"
if [ -n "${STRONGROOM_STORE:-}" ]; then
    "$SR_TEST_PG_BIN/pg_dump" -d "$STRONGROOM_STORE" > "$T/store-dump.sql" # bytea as hex: the hex needle below
    STORE_FILES=("$T/store-dump.sql")
else
    sqlite3 "$T/data/vault.db" "PRAGMA wal_checkpoint(FULL);" >/dev/null
    STORE_FILES=("$T"/data/vault.db*)
fi
store_sql "$T/data" "SELECT * FROM audit;" > "$T/audit.txt"
# needles: the PKCS#8 DER, each CRT component (raw), d in base64url, and hex of a 32-byte window of d
xxd -p "$T/secret.d" | tr -d '\n' | cut -c 100-163 > "$T/secret.d.hex"
HAYS=("${STORE_FILES[@]}" "$T"/r?.json "$T/audit.txt" "$SERVER_LOG" $(find "$T/data" -type f))
# One interpreter for every file and needle (one per pair took two minutes): a 32-byte window of each needle.
found=$(python3 - "$T" "${HAYS[@]}" <<'PY'
import sys
t, hays = sys.argv[1], sys.argv[2:]
needles = {n: open(f"{t}/secret.{n}", "rb").read()[8:40] for n in ("p8", "d", "p", "q", "dp", "dq", "qi")}
for hay in hays:
    data = open(hay, "rb").read()
    for name, window in needles.items():
        if window in data:
            print(f"private key bytes ({name}) found in {hay}")
PY
)
[ -z "$found" ] || fail "$found"
for hay in "${HAYS[@]}"; do
    ! grep -qF "$(cat "$T/secret.d.b64" | cut -c 10-60)" "$hay" || fail "d (base64url) found in $hay"
    ! grep -qiF "$(cat "$T/secret.d.hex")" "$hay" || fail "d (hex) found in $hay"
    ! grep -qF "$SECRET_VALUE" "$hay" || fail "a secret's value found in $hay"
    ! grep -qiF "$(cat "$T/secret-value.hex")" "$hay" || fail "a secret's value (hex) found in $hay"
    [ "$hay" = "$T/data/dev-token" ] || ! grep -qF "$TOKEN" "$hay" || fail "the bearer token found in $hay"
done

step "keys survive a restart"
stop_server
start_server "$T/data" --quiet
api POST "/keys/known/sign?$V" "{\"alg\":\"RS256\",\"value\":\"$DIGEST\"}" >/dev/null; [ "$STATUS" = 200 ] || fail "after restart"
stop_server

step "audit chain: intact, then an edited entry is found"
$SR audit verify --data "$T/data" | grep -q 'hash chain intact'
n=$(store_sql "$T/data" "SELECT count(*) FROM audit WHERE op='ImportKey' AND target='known' AND status=200;")
[ "$n" = 1 ] || fail "ImportKey not audited"
store_sql "$T/data" "UPDATE audit SET status=403 WHERE seq=2;" >/dev/null
expect 1 "hash chain is broken" $SR audit verify --data "$T/data"
grep -q 'first bad entry: 2' "$T/err" || fail "the broken entry is named: $(cat "$T/err")"
echo PASS
