#!/usr/bin/env bash
# No clear KM0 anywhere (issue 21): after a run under the tpm2, the pkcs11 and the cards seal — a dev vault
# that makes keys and signs (under cards: unsealed first with the dev card) — nothing the run left holds a
# module key in clear (under cards, the region's: root/ and tls/ are files by design), in raw bytes, hex or base64: not a file
# of the data directory, the SQLite file, a dump of it, the server's log, nor the running server's
# /proc/PID/environ. The KM0s are learnt afterwards, for the search, by migrating a copy to the file seal.
. "$(dirname "$0")/lib.sh"
swtpm_start tpm
softhsm_token hsm

for backend in tpm2 pkcs11 cards; do
    step "$backend: a run, then every trace it left searched for the module keys"
    d="$T/$backend"
    case $backend in
        tpm2) $SR seal init --backend tpm2 --tpm "$TCTI" --data "$d" >/dev/null ;;
        pkcs11) $SR seal init --backend pkcs11 --pkcs11 "pkcs11:token=vault?module-path=$SOFTHSM&pin-source=file:$T/pin" \
                    --data "$d" >/dev/null ;;
    esac
    if [ $backend = cards ]; then start_server "$d" --dev --seal cards; else start_server "$d" --dev; fi
    if [ $backend = cards ]; then
        $SR unseal --data "$d" --cards 1 --pin-file "$d/dev-card-pin" >/dev/null || fail "unseal"
    fi
    export STRONGROOM_VAULT_URL="https://dev.localhost:$PORT" STRONGROOM_CA_FILE="$CA" STRONGROOM_TOKEN="$(cat "$d/dev-token")"
    $SR key create --name k1 --kty EC-HSM --curve P-256 >/dev/null
    echo data > d.txt
    $SR key sign --name k1 --alg ES256 --in d.txt --out d.sig >/dev/null
    cp "/proc/$SERVER_PID/environ" "$T/$backend.environ"
    stop_server
    cp "$SERVER_LOG" "$T/$backend.log"
    sqlite3 "$d/vault.db" .dump > "$T/$backend.sql"
    cp -a "$d" "$T/$backend.reveal"
    rm -f "$T/$backend.reveal/serve.lock"
    $SR seal migrate --to file --data "$T/$backend.reveal" --cards 1 --pin-file "$d/dev-card-pin" >/dev/null ||
        fail "$backend: migrating the copy to learn its keys"
    python3 - "$backend" "$T/$backend.reveal" "$d" "$T/$backend.environ" "$T/$backend.log" "$T/$backend.sql" <<'PY' || fail "$backend: a module key in clear"
import base64, os, sys
backend, reveal, places = sys.argv[1], sys.argv[2], sys.argv[3:]
keys = []
for root, _, files in os.walk(reveal):
    for f in files:
        if f == "km0" and (backend != "cards" or "/regions/" in root):
            keys.append(open(os.path.join(root, f), "rb").read())
want = 1 if backend == "cards" else 3
assert len(keys) == want, "expected %d module keys (root, tls, region DEV), found %d" % (want, len(keys))
forms = []
for k in keys:
    forms += [k, k.hex().encode(), k.hex().upper().encode(), base64.b64encode(k).rstrip(b"="),
              base64.urlsafe_b64encode(k).rstrip(b"=")]
def hits(p):
    paths = [os.path.join(r, f) for r, _, fs in os.walk(p) for f in fs] if os.path.isdir(p) else [p]
    return [path for path in paths for form in forms if form in open(path, "rb").read()]
# The control: the search finds them where they are in clear (the copy migrated to the file seal).
assert len(set(hits(reveal))) >= want, "the search does not find the keys even where they are"
found = []
for p in places:
    found += hits(p)
if found:
    print("module key bytes found in:", sorted(set(found)))
    sys.exit(1)
print("searched", len(places), "places for", len(keys), "keys in", len(forms), "forms: none")
PY
done
echo PASS
