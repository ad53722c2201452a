# Shared helpers for the end-to-end tests. Each test sources this, gets a scratch
# directory in $T (removed on exit) and $SR pointing at the binary under test.
set -euo pipefail
umask 077 # PIN files and keys the tests write are private, as a user's would be
SR=${STRONGROOM:?set STRONGROOM to the strongroom binary}
T=$(mktemp -d "${TMPDIR:-/tmp}/sr-e2e.XXXXXX")
: "${T:?no scratch directory: nothing may be written beside the sources}"
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1
export STRONGROOM_KMDATA="$T/kmdata"
step() { printf '== %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
# expect STATUS PATTERN CMD...: runs CMD, checks its exit status and that stderr matches PATTERN.
expect() {
    local want=$1 pattern=$2; shift 2
    local rc=0
    "$@" >"$T/out" 2>"$T/err" || rc=$?
    [ "$rc" = "$want" ] || fail "'$*' exited $rc, wanted $want; stderr: $(cat "$T/err")"
    grep -q -- "$pattern" "$T/err" || fail "'$*' stderr lacks '$pattern': $(cat "$T/err")"
    if grep -q 'AddressSanitizer\|runtime error' "$T/err"; then fail "sanitizer report from '$*'"; fi
}
# store_sql DATA SQL: runs SQL (statements separated by ';') on the test's store, rows as text with '|'
# between columns: the PostgreSQL database in $STRONGROOM_STORE when set (tests/pg/with-pg.sh), else the
# SQLite file DATA/vault.db. store_hex COLUMN: a blob column in hex, in that store's SQL.
store_sql() {
    if [ -n "${STRONGROOM_STORE:-}" ]; then
        "${SR_TEST_PG_BIN:+$SR_TEST_PG_BIN/}psql" -qAt -F'|' -v ON_ERROR_STOP=1 -d "$STRONGROOM_STORE" <<<"$2"
    else
        sqlite3 "$1/vault.db" "$2"
    fi
}
store_hex() { if [ -n "${STRONGROOM_STORE:-}" ]; then echo "upper(encode($1, 'hex'))"; else echo "hex($1)"; fi; }
# tree_digest DIR: one hash over every file's path, mode and content.
tree_digest() { (cd "$1" && find . -type f -printf '%p %m\n' -exec sha256sum {} \; | sort | sha256sum); }

# start_server DATA [serve options...]: starts `strongroom serve` in the background on a free
# port; sets $PORT, $SERVER_PID, $CA and $SERVER_LOG. stop_server stops it with SIGTERM and
# fails on a sanitizer report or a non-zero exit. Servers listen on 127.0.0.1 only.
start_server() {
    local data=$1; shift
    SERVER_LOG="$T/server.$RANDOM.log"
    rm -f "$T/port"
    "$SR" serve --data "$data" --listen 127.0.0.1:0 --port-file "$T/port" "$@" >"$SERVER_LOG" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 300); do
        [ -s "$T/port" ] && break
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$SERVER_LOG"; fail "server did not start"; }
        sleep 0.1
    done
    [ -s "$T/port" ] || fail "server did not report its port"
    PORT=$(cat "$T/port")
    CA="$data/tls/ca.pem"
    trap 'kill $SERVER_PID ${SWTPM_PIDS[*]:-} 2>/dev/null || true; rm -rf "$T"' EXIT
}
# swtpm_start NAME: a TPM 2.0 of its own (Debian's swtpm, state in $T/NAME, two free ports), manufactured
# and started; sets $TCTI to reach it ("swtpm:host=127.0.0.1,port=N"). Killed when the test exits (and
# within 10 minutes whatever happens).
SWTPM_PIDS=()
swtpm_start() {
    command -v swtpm >/dev/null || fail "no swtpm (Debian package swtpm; scripts/bootstrap.sh installs it)"
    local port pid attempt
    mkdir -p "$T/$1"
    # Tests run side by side (ctest -j): a port found free may be taken before swtpm binds it, and then the
    # TCTI would reach another test's TPM. So the port is random, and only a swtpm of ours still alive once
    # the port answers counts.
    for attempt in 1 2 3 4 5; do
        port=$(/usr/bin/python3 -c 'import random, socket
while True:
    p = random.randrange(20000, 60000, 2)
    try:
        a = socket.socket(); a.bind(("127.0.0.1", p)); b = socket.socket(); b.bind(("127.0.0.1", p + 1))
        a.close(); b.close(); print(p); break
    except OSError: pass')
        timeout 600 swtpm socket --tpm2 --tpmstate dir="$T/$1" --server type=tcp,port="$port" \
            --ctrl type=tcp,port=$((port + 1)) --flags not-need-init,startup-clear >"$T/$1.log" 2>&1 &
        pid=$!
        for _ in $(seq 1 50); do
            (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break
            sleep 0.1
        done
        sleep 0.2
        if kill -0 "$pid" 2>/dev/null && (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null; then
            SWTPM_PIDS+=($pid)
            trap 'kill ${SERVER_PID:-} ${SWTPM_PIDS[*]} 2>/dev/null || true; rm -rf "$T"' EXIT
            TCTI="swtpm:host=127.0.0.1,port=$port"
            return 0
        fi
        kill "$pid" 2>/dev/null || true
    done
    fail "swtpm $1 did not start: $(cat "$T/$1.log")"
}
stop_server() {
    kill -TERM "$SERVER_PID"
    local rc=0
    wait "$SERVER_PID" || rc=$?
    if grep -q 'AddressSanitizer\|LeakSanitizer\|runtime error' "$SERVER_LOG"; then cat "$SERVER_LOG"; fail "sanitizer report from the server"; fi
    [ "$rc" = 0 ] || { tail "$SERVER_LOG"; fail "server exited $rc"; }
    trap '[ -z "${SWTPM_PIDS[*]:-}" ] || kill ${SWTPM_PIDS[*]} 2>/dev/null || true; rm -rf "$T"' EXIT
}
# api METHOD PATH [BODY] [curl options...]: calls the vault at https://$VHOST:$PORT with $TOKEN;
# prints the body, leaves the status in $STATUS.
api() {
    local method=$1 path=$2 body=${3:-}; shift; shift; [ $# -gt 0 ] && shift
    local args=(-s -o "$T/resp" -w '%{http_code}' --cacert "$CA" --resolve "${VHOST:-dev.localhost}:$PORT:127.0.0.1" -X "$method")
    [ -n "${TOKEN:-}" ] && args+=(-H "Authorization: Bearer $TOKEN")
    [ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
    STATUS=$(curl "${args[@]}" "$@" "https://${VHOST:-dev.localhost}:$PORT$path")
    echo "$STATUS" > "$T/status" # for callers in a subshell
    cat "$T/resp"
}
# expect_api STATUS CODE METHOD PATH [BODY] [curl options...]: the call answers STATUS with Key Vault's
# error JSON carrying CODE.
expect_api() {
    local want=$1 code=$2; shift 2
    local out; out=$(api "$@"); STATUS=$(cat "$T/status")
    [ "$STATUS" = "$want" ] || fail "$1 $2 answered $STATUS, wanted $want: $out"
    [ "$(printf '%s' "$out" | jq -r .error.code)" = "$code" ] || fail "$1 $2: error code is not $code: $out"
}

# region_nodes N: region EU (one card, PIN "pin-1") and vault contoso made in data directory n1, joined by
# n2..nN from that card; sets $TOKEN (Administrator). For several servers over one store (tests/pg).
region_nodes() {
    echo pin-1 > "$T/pin"
    $SR region create EU --data n1 --pin-file "$T/pin" >/dev/null
    $SR vault create contoso --region EU --subscription-id sub-1 --data n1 >/dev/null
    TOKEN=$($SR token create --role Administrator --data n1)
    for i in $(seq 2 "$1"); do
        $SR region join EU --data "n$i" --cards 1 --card-dir n1/regions/EU/cards --pin-file "$T/pin" >/dev/null
    done
}
# jwk_pem KEY_JSON: the public key of a key bundle ({key: JWK}, as the API answers) as PEM, for openssl.
jwk_pem() {
    node -e 'const k = JSON.parse(require("fs").readFileSync(0)).key;
const jwk = Object.fromEntries(["kty", "n", "e", "crv", "x", "y"].filter((m) => k[m]).map((m) => [m, k[m].replace("-HSM", "")]));
process.stdout.write(require("crypto").createPublicKey({ key: jwk, format: "jwk" }).export({ type: "spki", format: "pem" }))' < "$1"
}
# start_nodes N [VAULT]: servers on n1..nN (VAULT, default contoso, on plain names); their ports, CAs and pids in
# PORTS[i], CAS[i] and PIDS[i], all killed on exit. `on nI` sends the api calls that follow to node I.
on() { PORT=${PORTS[${1#n}]} CA=${CAS[${1#n}]}; }
start_nodes() {
    PORTS=() CAS=() PIDS=()
    for i in $(seq 1 "$1"); do
        start_server "$T/n$i" --quiet --default-vault "${2:-contoso}" --threads 2
        PORTS[$i]=$PORT CAS[$i]=$CA PIDS[$i]=$SERVER_PID
    done
    trap 'kill ${PIDS[*]} ${SWTPM_PIDS[*]:-} 2>/dev/null || true; rm -rf "$T"' EXIT
}
# sdk_install: the official Azure SDK (@azure/keyvault-keys, pinned by package-lock.json) in $SDK, with the
# test scripts of tests/e2e/node beside it; installed once per build directory.
sdk_install() {
    local node_dir="$SR_SOURCE_DIR/tests/e2e/node"
    SDK="${SR_BUILD_DIR:-$T}/node-sdk"
    if [ ! -d "$SDK/node_modules/@azure/keyvault-keys" ] || ! cmp -s "$node_dir/package-lock.json" "$SDK/package-lock.json"; then
        step "npm ci (@azure/keyvault-keys from package-lock.json)"
        # Two tests may install at once (ctest -j): each in a directory of its own, the last one moved in place.
        local fresh="$SDK.$$"
        rm -rf "$fresh"; mkdir -p "$fresh"
        cp "$node_dir/package.json" "$node_dir/package-lock.json" "$fresh/"
        (cd "$fresh" && npm ci --no-audit --no-fund --loglevel=error)
        rm -rf "$SDK"; mv "$fresh" "$SDK" 2>/dev/null || rm -rf "$fresh"
    fi
    cp "$node_dir"/*.mjs "$node_dir/localhost-dns.cjs" "$SDK/" 2>/dev/null || true
}
# byok_server: a vault server with regions EU and NA (1-of-1 region card sets) and vault
# `contoso` (region EU, subscription $SUB); sets STRONGROOM_VAULT_URL/TOKEN/CA_FILE for the client.
byok_server() {
    SUB=${SUB:-8d2d1a6c-0000-4000-8000-contoso00001}
    echo "region-pin" > "$T/region-pin"
    $SR region create EU --data "$T/vault" --pin-file "$T/region-pin" >/dev/null
    $SR region create NA --data "$T/vault" --pin-file "$T/region-pin" --kek-size 2048 >/dev/null
    $SR vault create contoso --region EU --subscription-id "$SUB" --data "$T/vault" >/dev/null
    $SR vault create northwind --region NA --subscription-id "$SUB" --data "$T/vault" >/dev/null
    $SR vault create fabrikam --region EU --subscription-id other-subscription --data "$T/vault" >/dev/null
    start_server "$T/vault" --quiet --default-vault contoso
    export STRONGROOM_VAULT_URL="https://contoso.localhost:$PORT" STRONGROOM_CA_FILE="$CA"
    STRONGROOM_TOKEN=$($SR token create --role Administrator --data "$T/vault"); export STRONGROOM_TOKEN
}
# owner_world [DATA]: the key owner's offline module in $T/owner with a 2-of-3 card set, the root of DATA (default
# $T/vault) pinned.
owner_world() {
    export STRONGROOM_KMDATA="$T/owner"
    printf 'owner-1\nowner-2\nowner-3\n' > "$T/owner-pins"
    printf 'owner-1\n\nowner-3\n' > "$T/owner-pins-13"
    $SR root trust $($SR root show --data "${1:-$T/vault}") >/dev/null
    $SR module mode I >/dev/null
    $SR new-world --initialize --cipher-suite=DLf3072s256mRijndael --module=1 --acs-quorum=2/3 --pin-file "$T/owner-pins" >/dev/null
    $SR module mode O >/dev/null
}
# p11_module_setup: a module in $STRONGROOM_KMDATA with a world (2 of 3 cards, their PINs in $T/card-pins)
# and the PKCS#11 user PIN $USER_PIN; $P11LIB is the library under test, $ESN the module's serial, and
# `p11 CMD...` runs a foreign tool (pkcs11-tool, p11tool, openssl) on it: a sanitized library needs the
# sanitizer runtimes preloaded into a tool that is not (leaks are test_pkcs11's to find, not the tools').
# $P11TOOL is `p11 pkcs11-tool --module $P11LIB`.
p11_module_setup() {
    P11LIB="${SR_BUILD_DIR:?}/libstrongroom-pkcs11.so"
    [ -f "$P11LIB" ] || fail "no $P11LIB"
    P11_PRELOAD=""
    if [[ $(nm -D --undefined-only "$P11LIB") == *__asan_init* ]]; then
        P11_PRELOAD="$(cc -print-file-name=libasan.so):$(cc -print-file-name=libubsan.so)"
    fi
    printf 'card-1\ncard-2\ncard-3\n' > "$T/card-pins"
    USER_PIN=user-pin-1
    printf '%s\n' "$USER_PIN" > "$T/user-pin"
    $SR module mode I >/dev/null
    $SR new-world --initialize --cipher-suite=DLf3072s256mRijndael --module=1 --acs-quorum=2/3 --pin-file "$T/card-pins" >/dev/null
    $SR module mode O >/dev/null
    $SR pkcs11 set-pin --pin-file "$T/user-pin" >/dev/null
    ESN=$($SR module show | awk '$1 == "ESN" {print $2}')
    P11TOOL="p11 pkcs11-tool --module $P11LIB"
}
p11() {
    if [ -n "$P11_PRELOAD" ]; then
        env LD_PRELOAD="$P11_PRELOAD" ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 "$@"
    else
        "$@"
    fi
}
# softhsm_token NAME: a SoftHSMv2 token store of its own in $T/NAME (token "vault", user PIN 1234, SO PIN
# 5678); exports SOFTHSM2_CONF for it and sets $SOFTHSM (the library), $P11_PIN_FILE ($T/pin) and $P11_URI
# (the token as a pkcs11 seal names it).
softhsm_token() {
    SOFTHSM=/usr/lib/softhsm/libsofthsm2.so
    [ -f "$SOFTHSM" ] || fail "no $SOFTHSM (Debian package softhsm2; scripts/bootstrap.sh installs it)"
    mkdir -p "$T/$1/tokens"
    echo "directories.tokendir = $T/$1/tokens" > "$T/$1/softhsm2.conf"
    export SOFTHSM2_CONF="$T/$1/softhsm2.conf"
    softhsm2-util --init-token --free --label vault --pin 1234 --so-pin 5678 >/dev/null
    P11_PIN_FILE="$T/pin"
    echo 1234 > "$P11_PIN_FILE"
    P11_URI="pkcs11:token=vault?module-path=$SOFTHSM&pin-source=file:$P11_PIN_FILE"
}
# hsm_token softhsm|strongroom: a token for an HSM region (docs/hsm.md), SoftHSMv2's or our own library over a module
# of its own (in $STRONGROOM_KMDATA, which the server's copy of the library reads); sets LIB (the library), URI (the
# region's --hsm), P11_PIN_FILE, LIST_PIN (for pkcs11-tool) and RUN (the prefix our library's tools need).
hsm_token() {
    if [ "$1" = softhsm ]; then
        softhsm_token hsm
        LIB=$SOFTHSM
        URI="$P11_URI"
        LIST_PIN=1234
        RUN=()
    else
        p11_module_setup
        LIB=$P11LIB
        P11_PIN_FILE="$T/user-pin"
        URI="pkcs11:manufacturer=Strongroom?module-path=$P11LIB&pin-source=file:$P11_PIN_FILE"
        LIST_PIN=$USER_PIN
        RUN=(p11)
    fi
}
# keys_and_byok: through the vault in STRONGROOM_VAULT_URL, an EC key k1 made and an EC key 'imported' by
# BYOK (a .byok made by openssl for an import KEK of the vault); both sign d.txt.
keys_and_byok() {
    $SR key create --name k1 --kty EC-HSM --curve P-256 >/dev/null
    $SR key create --name ImportKek --kty RSA-HSM --size 3072 --ops import >/dev/null
    $SR key download --name ImportKek --file kek.pem >/dev/null
    local kid; kid=$($SR key show --name ImportKek --output json | jq -r .key.kid)
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out own.pem 2>/dev/null
    openssl pkcs8 -topk8 -nocrypt -in own.pem -outform DER -out own.p8
    openssl_byok kek.pem "$kid" own.p8 own.byok
    $SR key import --name imported --byok-file own.byok --destination HSM --kty EC-HSM --curve P-256 >/dev/null
    echo "signed under a sealed module" > d.txt
    for k in k1 imported; do
        $SR key sign --name $k --alg ES256 --in d.txt --out $k.sig >/dev/null || fail "sign with $k"
    done
}
# b64u: stdin as base64url without padding; b64u_decode: back. rsa_jwk_n PEM: an RSA key's modulus as JWK's n.
b64u() { basenc --base64url -w0 | tr -d '='; }
b64u_decode() { local s; s=$(tr '_-' '/+'); while [ $(( ${#s} % 4 )) != 0 ]; do s="$s="; done; printf '%s' "$s" | base64 -d; }
rsa_jwk_n() { openssl rsa -in "$1" -noout -modulus | cut -d= -f2 | xxd -r -p | b64u; }
# authority_jwks PEM KID OUT: an attestation authority's RSA signing key as a JWKS, the file
# 'strongroom vault trust-authority --jwks' takes.
authority_jwks() {
    jq -n --arg n "$(rsa_jwk_n "$1")" --arg kid "$2" '{keys: [{kty: "RSA", kid: $kid, use: "sig", n: $n, e: "AQAB"}]}' > "$3"
}
# openssl_byok KEK_PEM KID TARGET_FILE OUT: a .byok made by the openssl command line alone
# (CKM_RSA_AES_KEY_WRAP: OAEP-SHA1 of a fresh AES-256 transport key under the KEK, then AES-KWP of the target's bytes).
openssl_byok() {
    openssl rand 32 > "$T/byok.t.aes"
    openssl pkeyutl -encrypt -pubin -inkey "$1" -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha1 \
        -pkeyopt rsa_mgf1_md:sha1 -in "$T/byok.t.aes" -out "$T/byok.part1"
    openssl enc -e -id-aes256-wrap-pad -K "$(xxd -p -c 64 "$T/byok.t.aes")" -iv A65959A6 -in "$3" -out "$T/byok.part2"
    local ct; ct=$(cat "$T/byok.part1" "$T/byok.part2" | basenc --base64url -w0 | tr -d '=')
    jq -n --arg kid "$2" --arg ct "$ct" \
        '{schema_version:"1.0.0",header:{kid:$kid,alg:"dir",enc:"CKM_RSA_AES_KEY_WRAP"},ciphertext:$ct,generator:"openssl"}' > "$4"
}
