#!/usr/bin/env bash
# No clear KM0 anywhere (issue 21): after a run under the tpm2 and the pkcs11 seal — a dev vault that makes
# keys and signs — nothing the run left holds a module key in clear, in raw bytes, hex or base64: not a file
# of the data directory, the SQLite file, a dump of it, the server's log, nor the running server's
# /proc/PID/environ. The KM0s are learnt afterwards, for the search, by migrating a copy to the file seal.
. "$(dirname "$0")/lib.sh"
swtpm_start tpm
softhsm_token hsm

for backend in tpm2 pkcs11; do
    step "$backend: a run, then every trace it left searched for the module keys"
    d="$T/$backend"
    case $backend in
        tpm2) $SR seal init --backend tpm2 --tpm "$TCTI" --data "$d" >/dev/null ;;
        pkcs11) $SR seal init --backend pkcs11 --pkcs11 "pkcs11:token=vault?module-path=$SOFTHSM&pin-source=file:$T/pin" \
                    --data "$d" >/dev/null ;;
    esac
    start_server "$d" --dev
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
    $SR seal migrate --to file --data "$T/$backend.reveal" >/dev/null || fail "$backend: migrating the copy to learn its keys"
    python3 - "$T/$backend.reveal" "$d" "$T/$backend.environ" "$T/$backend.log" "$T/$backend.sql" <<'PY' || fail "$backend: a module key in clear"
import base64, os, sys
reveal, places = sys.argv[1], sys.argv[2:]
keys = []
for root, _, files in os.walk(reveal):
    for f in files:
        if f == "km0":
            keys.append(open(os.path.join(root, f), "rb").read())
assert len(keys) == 3, "expected 3 module keys (root, tls, region DEV), found %d" % len(keys)
forms = []
for k in keys:
    forms += [k, k.hex().encode(), k.hex().upper().encode(), base64.b64encode(k).rstrip(b"="),
              base64.urlsafe_b64encode(k).rstrip(b"=")]
def hits(p):
    paths = [os.path.join(r, f) for r, _, fs in os.walk(p) for f in fs] if os.path.isdir(p) else [p]
    return [path for path in paths for form in forms if form in open(path, "rb").read()]
# The control: the search finds them where they are in clear (the copy migrated to the file seal).
assert len(set(hits(reveal))) >= 3, "the search does not find the keys even where they are"
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
