#!/usr/bin/env bash
# Backups of a live server: 'strongroom backup' while clients keep creating keys, 'strongroom restore' into
# a new directory, and a server started there serves every key acknowledged before the backup began,
# signs with them, and its audit chain verifies. Cards and PINs are not in the file. A damaged or
# altered file, or an existing directory, is refused and nothing is written.
. "$(dirname "$0")/lib.sh"
start_server "$T/data" --dev --quiet
V=api-version=7.5
TOKEN=$(cat "$T/data/dev-token")

step "keys made before the backup, and a load that keeps writing during it"
for i in $(seq 1 20); do
    api POST "/keys/before-$i/create?$V" '{"kty":"EC","crv":"P-256"}' >/dev/null
    [ "$STATUS" = 200 ] || fail "create before-$i answered $STATUS"
done
( i=0; while [ ! -f "$T/stop" ] && [ $i -lt 2000 ]; do
      i=$((i + 1))
      s=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$CA" --resolve "dev.localhost:$PORT:127.0.0.1" \
          -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -X POST \
          --data '{"kty":"EC","crv":"P-256"}' "https://dev.localhost:$PORT/keys/during-$i/create?$V")
      [ "$s" = 200 ] && echo "during-$i" >> "$T/acked"
  done ) &
LOAD=$!
sleep 1

step "backup under load"
$SR backup --data "$T/data" --out "$T/backup.zip" > backup.out
cat backup.out
grep -q 'Kept elsewhere' backup.out || fail "backup does not say what it leaves out"
[ "$(stat -c %a "$T/backup.zip")" = 600 ] || fail "the backup file is not mode 0600"
sum=$(sha256sum < "$T/backup.zip")
expect 1 'exists: give another --out, or --force' $SR backup --data "$T/data" --out "$T/backup.zip"
[ "$(sha256sum < "$T/backup.zip")" = "$sum" ] || fail "a refused backup changed the existing file"
$SR backup --data "$T/data" --out "$T/again.zip" >/dev/null && $SR backup --data "$T/data" --out "$T/again.zip" --force >/dev/null ||
    fail "--force does not replace a backup"
touch "$T/stop"; wait "$LOAD"
[ "$(wc -l < "$T/acked")" -ge 1 ] || fail "the load acknowledged nothing"
unzip -l "$T/backup.zip" > listing.txt
grep -q ' vault.db$' listing.txt && grep -q ' manifest.json$' listing.txt || fail "backup lacks the store or manifest"
grep -q 'regions/DEV/kmdata/' listing.txt || fail "backup lacks the region's module"
! grep -q '/cards/\|dev-card-pin\|dev-token' listing.txt || fail "backup holds cards or PINs: $(cat listing.txt)"
stop_server

step "restore refuses an existing directory, a damaged file, an altered file"
expect 1 'exists' $SR restore --in "$T/backup.zip" --data "$T/data"
head -c 1000 "$T/backup.zip" > "$T/cut.zip"
expect 1 'not a backup file' $SR restore --in "$T/cut.zip" --data "$T/r1"
[ ! -e "$T/r1" ] && [ ! -e "$T/r1.restoring" ] || fail "a refused restore left files behind"
mkdir alter && (cd alter && unzip -q "$T/backup.zip" && printf 'x' >> vault.db && zip -q -r "$T/altered.zip" .)
expect 1 'altered' $SR restore --in "$T/altered.zip" --data "$T/r2"
[ ! -e "$T/r2" ] || fail "an altered backup was restored"

step "restore into a new directory; a server there serves every key acknowledged before the backup"
$SR restore --in "$T/backup.zip" --data "$T/restored" | grep -q 'hash chain intact' || fail "restore"
[ "$(stat -c %a "$T/restored/vault.db")" = 600 ] || fail "restored files are not private"
start_server "$T/restored" --quiet
for i in $(seq 1 20); do
    api GET "/keys/before-$i?$V" >/dev/null
    [ "$STATUS" = 200 ] || fail "before-$i is missing after restore ($STATUS)"
done
printf '%s' 'restored' | openssl dgst -sha256 -binary | basenc --base64url | tr -d '=' > digest
api POST "/keys/before-7/sign?$V" "{\"alg\":\"ES256\",\"value\":\"$(cat digest)\"}" >/dev/null
[ "$STATUS" = 200 ] || fail "a restored key does not sign ($STATUS)"
restored=$(store_sql "$T/restored" "SELECT count(DISTINCT name) FROM keys")
echo "   $restored keys restored ($(wc -l < "$T/acked") made during the backup were acknowledged)"
stop_server
$SR audit verify --data "$T/restored" | grep -q intact || fail "the restored audit chain does not verify"
echo PASS
