#!/usr/bin/env bash
# bench/http.sh: every API operation over HTTPS under a bounded wrk load, beside `openssl speed -multi
# $(nproc)` for the same primitive and a static HTTPS reply from nginx (the HTTP layer's ceiling), all in
# one run on this machine; then the cost of growth (1,000 and 1,000,000 keys). Prints one table and
# rewrites docs/performance.md. Usage (from the repository top): bench/http.sh [SECONDS-PER-RUN]
# Needs wrk, nginx-light and sqlite3 (Debian); everything listens on 127.0.0.1 and stops by itself.
set -euo pipefail
. "$(dirname "$0")/args.sh"
bench_seconds "usage: bench/http.sh [SECONDS-PER-RUN]   (from the repository top; default 5 s a run; rewrites docs/performance.md)" "$@"
CPUS=$(nproc)
CONNS=16
ROOT=$(pwd)
if ! command -v wrk >/dev/null || ! command -v nginx >/dev/null || ! command -v sqlite3 >/dev/null; then
    [ "$(id -u)" = 0 ] || { echo "bench/http.sh needs wrk, nginx-light and sqlite3 (Debian packages)" >&2; exit 2; }
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk nginx-light sqlite3 jq
fi
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DSR_TESTS=OFF >/dev/null
cmake --build build-bench -j "$CPUS" --target strongroom bench_sign >/dev/null
SR="$ROOT/build-bench/strongroom"
W=$(mktemp -d /tmp/sr-bench.XXXXXX)
chmod 755 "$W" # nginx's workers run as an unprivileged user
SERVER_PID= NGINX_PID=
cleanup() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    [ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT
b64url() { base64 -w0 | tr '/+' '_-' | tr -d '='; }

start_server() { # measures start to first answered request (ms) into $START_MS
    rm -f "$W/port"
    local t0; t0=$(date +%s%N)
    "$SR" serve --dev --quiet --data "$W/data" --listen 127.0.0.1:0 --port-file "$W/port" > "$W/server.log" 2>&1 &
    SERVER_PID=$!
    until [ -s "$W/port" ] && curl -s -o /dev/null --cacert "$W/data/tls/ca.pem" "https://localhost:$(cat "$W/port")/byok/toolsets"; do
        sleep 0.002
    done
    START_MS=$(( ($(date +%s%N) - t0) / 1000000 ))
    PORT=$(cat "$W/port")
    # What of that is curl's own start (process, libcurl, CA file, TLS handshake), against the server now up:
    t0=$(date +%s%N)
    curl -s -o /dev/null --cacert "$W/data/tls/ca.pem" "https://localhost:$PORT/byok/toolsets"
    CURL_MS=$(( ($(date +%s%N) - t0) / 1000000 ))
}
stop_server() { kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$SERVER_PID/status"; }
api() { # METHOD PATH [BODY]: prints the response body
    curl -s --cacert "$W/data/tls/ca.pem" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
        -X "$1" ${3:+--data "$3"} "https://localhost:$PORT$2"
}
# wrk_run NAME METHOD PATH [BODY] [noauth]: requests/s and p99 (ms) into $RATE and $P99
wrk_run() {
    local name=$1 method=$2 path=$3 body=${4:-} auth=${5:-auth}
    {
        echo "wrk.method = \"$method\""
        [ "$auth" = auth ] && echo "wrk.headers[\"Authorization\"] = \"Bearer $TOKEN\""
        echo "wrk.headers[\"Content-Type\"] = \"${CTYPE:-application/json}\""
        [ -n "$body" ] && printf 'wrk.body = [[%s]]\n' "$body"
    } > "$W/$name.lua"
    local cpu0 steal0 cpu1 steal1
    cpu0=$(server_ticks); steal0=$(steal_ticks)
    wrk -t2 -c$CONNS -d"${SECS}s" --latency -s "$W/$name.lua" "https://localhost:$PORT$path" > "$W/$name.wrk"
    cpu1=$(server_ticks); steal1=$(steal_ticks)
    RATE=$(awk '/^Requests\/sec/ {printf "%.0f", $2}' "$W/$name.wrk")
    P99=$(awk '$1 == "99%" {print $2}' "$W/$name.wrk")
    # The server's own CPU time per request (all its threads, user and kernel), and the share of the
    # machine's time the hypervisor took (steal): what the ratios below cannot see.
    CPU_US=$(awk -v c=$((cpu1 - cpu0)) -v hz="$HZ" -v r="$RATE" -v s="$SECS" \
        'BEGIN { if (r > 0) printf "%.0f", c / hz * 1e6 / (r * s); else print "—" }')
    STEAL=$(awk -v t=$((steal1 - steal0)) -v hz="$HZ" -v n="$CPUS" -v s="$SECS" 'BEGIN { printf "%.0f%%", 100 * t / (hz * n * s) }')
    if grep -q 'Non-2xx' "$W/$name.wrk" && [ "$auth" = auth ]; then
        echo "bench: $name answered errors: $(grep Non-2xx "$W/$name.wrk")" >&2; exit 1
    fi
}
HZ=$(getconf CLK_TCK)
server_ticks() { awk '{print $14 + $15}' "/proc/$SERVER_PID/stat"; }
steal_ticks() { awk '/^cpu / {print $9}' /proc/stat; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.0f%%", 100 * a / b; else print "—" }'; }

echo "bench: openssl speed -multi $CPUS (the same primitives, same machine, same run)"
speed=$(openssl speed -multi "$CPUS" -seconds "$SECS" rsa2048 rsa3072 ecdsap256 ecdsap384 2>/dev/null)
rsa2048=$(printf '%s\n' "$speed" | awk '/^rsa 2048 bits/ {printf "%.0f", $6}')
rsa3072=$(printf '%s\n' "$speed" | awk '/^rsa 3072 bits/ {printf "%.0f", $6}')
ec256=$(printf '%s\n' "$speed" | awk '/256 bits ecdsa \(nistp256\)/ {printf "%.0f", $7}')
ec384=$(printf '%s\n' "$speed" | awk '/384 bits ecdsa \(nistp384\)/ {printf "%.0f", $7}')

echo "bench: nginx static HTTPS reply (the HTTP layer's ceiling), ECDSA P-256 certificate as ours"
mkdir -p "$W/nginx"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost -days 1 \
    -keyout "$W/nginx/key.pem" -out "$W/nginx/cert.pem" 2>/dev/null
NGINX_PORT=$((20000 + RANDOM % 20000))
cat > "$W/nginx/nginx.conf" <<EOF
worker_processes $CPUS;
pid $W/nginx/nginx.pid;
error_log $W/nginx/error.log;
daemon off;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $W/nginx; proxy_temp_path $W/nginx; fastcgi_temp_path $W/nginx;
    uwsgi_temp_path $W/nginx; scgi_temp_path $W/nginx;
    server {
        listen 127.0.0.1:$NGINX_PORT ssl;
        ssl_certificate $W/nginx/cert.pem; ssl_certificate_key $W/nginx/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        location / { default_type application/json; return 200 '{"value":"static"}'; }
    }
}
EOF
nginx -c "$W/nginx/nginx.conf" -e "$W/nginx/error.log" & NGINX_PID=$!
sleep 0.5
wrk -t2 -c$CONNS -d"${SECS}s" "https://localhost:$NGINX_PORT/" > "$W/nginx.wrk"
nginx_rate=$(awk '/^Requests\/sec/ {printf "%.0f", $2}' "$W/nginx.wrk")
kill "$NGINX_PID"; wait "$NGINX_PID" 2>/dev/null || true; NGINX_PID=

echo "bench: strongroom serve (release build, $CPUS worker threads, data on $(df --output=fstype "$W" | tail -1))"
start_server
idle_rss=$(rss_kb)
first_start_ms=$START_MS
TOKEN=$(cat "$W/data/dev-token")
V="api-version=7.5"
api POST "/keys/rsa2048/create?$V" '{"kty":"RSA","key_size":2048}' >/dev/null
api POST "/keys/rsa3072/create?$V" '{"kty":"RSA","key_size":3072}' >/dev/null
api POST "/keys/ec256/create?$V" '{"kty":"EC","crv":"P-256"}' >/dev/null
api POST "/keys/ec384/create?$V" '{"kty":"EC","crv":"P-384"}' >/dev/null
api POST "/keys/kek3072/create?$V" '{"kty":"RSA","key_size":3072,"key_ops":["import"]}' >/dev/null
SECRET_BODY='{"value":"Server=db.example;Database=app;User Id=app;Password=bench-c0nnect!0n","contentType":"text/plain"}'
api PUT "/secrets/conn?$V" "$SECRET_BODY" >/dev/null
D32=$(printf 'bench' | openssl dgst -sha256 -binary | b64url)
D48=$(printf 'bench' | openssl dgst -sha384 -binary | b64url)
ES256_SIG=$(api POST "/keys/ec256/sign?$V" "{\"alg\":\"ES256\",\"value\":\"$D32\"}" | jq -r .value)
CT=$(api POST "/keys/rsa2048/encrypt?$V" '{"alg":"RSA-OAEP-256","value":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"}' | jq -r .value)
WRAPPED=$(api POST "/keys/rsa2048/wrapkey?$V" '{"alg":"RSA-OAEP-256","value":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"}' | jq -r .value)
# A .byok made with openssl alone: an EC P-256 key under the RSA-3072 import key (CKM_RSA_AES_KEY_WRAP).
KID=$(api GET "/keys/kek3072?$V" | jq -r .key.kid)
STRONGROOM_VAULT_URL="https://localhost:$PORT" STRONGROOM_CA_FILE="$W/data/tls/ca.pem" STRONGROOM_TOKEN="$TOKEN" \
    "$SR" key download --name kek3072 --file "$W/kek.pem" >/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 2>/dev/null | openssl pkcs8 -topk8 -nocrypt -outform DER -out "$W/target.p8"
openssl rand 32 > "$W/aes.key"
openssl pkeyutl -encrypt -pubin -inkey "$W/kek.pem" -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha1 \
    -pkeyopt rsa_mgf1_md:sha1 -in "$W/aes.key" -out "$W/p1"
openssl enc -e -id-aes256-wrap-pad -K "$(xxd -p -c 64 "$W/aes.key")" -iv A65959A6 -in "$W/target.p8" -out "$W/p2"
BYOK=$(jq -cn --arg kid "$KID" --arg ct "$(cat "$W/p1" "$W/p2" | b64url)" \
    '{schema_version:"1.0.0",header:{kid:$kid,alg:"dir",enc:"CKM_RSA_AES_KEY_WRAP"},ciphertext:$ct}' | b64url)
IMPORT_BODY="{\"key\":{\"kty\":\"EC-HSM\",\"key_hsm\":\"$BYOK\"}}"
[ "$(api PUT "/keys/imported?$V" "$IMPORT_BODY" | jq -r .key.kty)" = EC-HSM ] || { echo "bench: BYOK import failed" >&2; exit 1; }

rows=()
row() { # OPERATION RATE REFERENCE REFNAME
    rows+=("| $1 | $2 | $3 | $4 | $(ratio "$2" "$3") | $P99 | $CPU_US µs | $STEAL |")
    printf '%-44s %8s/s  vs %-32s %8s/s  %s  p99 %s  server %s µs/req  steal %s\n' "$1" "$2" "$4" "$3" \
        "$(ratio "$2" "$3")" "$P99" "$CPU_US" "$STEAL"
}
wrk_run warmup GET "/keys/ec256?$V" # not counted: the first seconds after a start pay for cold caches
wrk_run rs256 POST "/keys/rsa2048/sign?$V" "{\"alg\":\"RS256\",\"value\":\"$D32\"}"; row "RS256 sign, RSA-2048" "$RATE" "$rsa2048" "rsa2048 sign"
wrk_run ps256 POST "/keys/rsa2048/sign?$V" "{\"alg\":\"PS256\",\"value\":\"$D32\"}"; row "PS256 sign, RSA-2048" "$RATE" "$rsa2048" "rsa2048 sign"
wrk_run rs3072 POST "/keys/rsa3072/sign?$V" "{\"alg\":\"RS256\",\"value\":\"$D32\"}"; row "RS256 sign, RSA-3072" "$RATE" "$rsa3072" "rsa3072 sign"
wrk_run es256 POST "/keys/ec256/sign?$V" "{\"alg\":\"ES256\",\"value\":\"$D32\"}"; es256_rate=$RATE; row "ES256 sign, P-256" "$RATE" "$ec256" "ecdsap256 sign"
row "ES256 sign, P-256 (against the HTTP ceiling)" "$RATE" "$nginx_rate" "nginx static reply"
wrk_run es384 POST "/keys/ec384/sign?$V" "{\"alg\":\"ES384\",\"value\":\"$D48\"}"; row "ES384 sign, P-384" "$RATE" "$ec384" "ecdsap384 sign"
wrk_run decrypt POST "/keys/rsa2048/decrypt?$V" "{\"alg\":\"RSA-OAEP-256\",\"value\":\"$CT\"}"; row "RSA-OAEP-256 decrypt, RSA-2048" "$RATE" "$rsa2048" "rsa2048 private op"
wrk_run unwrap POST "/keys/rsa2048/unwrapkey?$V" "{\"alg\":\"RSA-OAEP-256\",\"value\":\"$WRAPPED\"}"; row "unwrapKey RSA-OAEP-256, RSA-2048" "$RATE" "$rsa2048" "rsa2048 private op"
wrk_run wrap POST "/keys/rsa2048/wrapkey?$V" '{"alg":"RSA-OAEP-256","value":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"}'; row "wrapKey RSA-OAEP-256, RSA-2048 (public)" "$RATE" "$nginx_rate" "nginx static reply"
wrk_run verify POST "/keys/ec256/verify?$V" "{\"alg\":\"ES256\",\"digest\":\"$D32\",\"value\":\"$ES256_SIG\"}"; row "verify ES256, P-256 (public)" "$RATE" "$nginx_rate" "nginx static reply"
wrk_run get GET "/keys/ec256?$V"; get_rate=$RATE; row "GET /keys/{name}" "$RATE" "$nginx_rate" "nginx static reply"
# The same two with 64 connections: how much of the rate at 16 is the wait for a flush, not the CPU.
CONNS=64
wrk_run es256-64 POST "/keys/ec256/sign?$V" "{\"alg\":\"ES256\",\"value\":\"$D32\"}"; row "ES256 sign, P-256, 64 connections" "$RATE" "$ec256" "ecdsap256 sign"
wrk_run get-64 GET "/keys/ec256?$V"; row "GET /keys/{name}, 64 connections" "$RATE" "$nginx_rate" "nginx static reply"
CONNS=16
wrk_run create POST "/keys/bench-created/create?$V" '{"kty":"EC","crv":"P-256"}'; create_rate=$RATE; row "create EC P-256 (durable, new version each)" "$RATE" "$ec256" "ecdsap256 sign"
wrk_run secret-get GET "/secrets/conn?$V"; row "GET /secrets/{name} (a 72-byte value, opened by the module)" "$RATE" "$nginx_rate" "nginx static reply"
wrk_run secret-set PUT "/secrets/bench-set?$V" "$SECRET_BODY"; row "PUT /secrets/{name} (set: durable, new version each)" "$RATE" "$create_rate" "create EC P-256 (durable)"
wrk_run import PUT "/keys/imported?$V" "$IMPORT_BODY"; row "BYOK import, RSA-3072 KEK, EC P-256 target" "$RATE" "$rsa3072" "rsa3072 private op"
wrk_run unauth GET "/keys/ec256?$V" "" noauth; row "unauthenticated GET (401 + challenge)" "$RATE" "$nginx_rate" "nginx static reply"
# The token authority (docs/identity.md): the client credentials grant with a client secret (a scrypt each) and
# with a federated assertion (an RS256 token of a trusted issuer, reusable as a Kubernetes token is), each answer
# an ES256 JWT signed in the module; then the vault's requests with that JWT instead of an opaque token.
"$SR" app create bench --secret --data "$W/data" -o json > "$W/app.json"
"$SR" role assignment create --role "Crypto Officer" --assignee bench --scope /vaults/dev --data "$W/data" >/dev/null
CLIENT_ID=$(jq -r .clientId "$W/app.json")
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$W/issuer.pem" 2>/dev/null
jq -n --arg n "$(openssl rsa -in "$W/issuer.pem" -noout -modulus | cut -d= -f2 | xxd -r -p | b64url)" \
    '{keys: [{kty: "RSA", kid: "bench", n: $n, e: "AQAB"}]}' > "$W/issuer.jwks"
"$SR" idp trust --issuer https://issuer.bench.test --jwks "$W/issuer.jwks" --data "$W/data" >/dev/null
"$SR" app federate bench --issuer https://issuer.bench.test --subject system:serviceaccount:bench:app --data "$W/data" >/dev/null
FED_H=$(printf '{"alg":"RS256","kid":"bench"}' | b64url)
FED_P=$(jq -cn --argjson now "$(date +%s)" '{iss: "https://issuer.bench.test", sub: "system:serviceaccount:bench:app",
    aud: "api://AzureADTokenExchange", iat: $now, exp: ($now + 3600)}' | b64url)
FED="$FED_H.$FED_P.$(printf '%s.%s' "$FED_H" "$FED_P" | openssl dgst -sha256 -sign "$W/issuer.pem" -binary | b64url)"
GRANT="grant_type=client_credentials&client_id=$CLIENT_ID&scope=https%3A%2F%2Flocalhost%3A$PORT%2F.default"
SECRET_FORM="$GRANT&client_secret=$(jq -r .secret "$W/app.json")"
ASSERTION_FORM="$GRANT&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=$FED"
CTYPE=application/x-www-form-urlencoded
wrk_run token-secret POST /adfs/oauth2/token "$SECRET_FORM" noauth; row "token: client secret (scrypt 2^12)" "$RATE" "$ec256" "ecdsap256 sign"
wrk_run token-assertion POST /adfs/oauth2/token "$ASSERTION_FORM" noauth; row "token: federated assertion (RS256)" "$RATE" "$ec256" "ecdsap256 sign"
CTYPE=
grep -q 'Non-2xx' "$W/token-secret.wrk" "$W/token-assertion.wrk" && { echo "bench: the token endpoint refused" >&2; exit 1; }
# Each beside the same request with the opaque token, run just before it.
OPAQUE=$TOKEN
JWT=$(curl -s --cacert "$W/data/tls/ca.pem" -d "$SECRET_FORM" "https://localhost:$PORT/adfs/oauth2/token" | jq -r .access_token)
wrk_run get-opaque GET "/keys/ec256?$V"; opaque_rate=$RATE
TOKEN=$JWT; wrk_run get-jwt GET "/keys/ec256?$V"; TOKEN=$OPAQUE
row "GET /keys/{name}, JWT access token" "$RATE" "$opaque_rate" "the same, opaque token"
wrk_run es256-opaque POST "/keys/ec256/sign?$V" "{\"alg\":\"ES256\",\"value\":\"$D32\"}"; opaque_rate=$RATE
TOKEN=$JWT; wrk_run es256-jwt POST "/keys/ec256/sign?$V" "{\"alg\":\"ES256\",\"value\":\"$D32\"}"; TOKEN=$OPAQUE
row "ES256 sign, JWT access token" "$RATE" "$opaque_rate" "the same, opaque token"
loaded_rss=$(rss_kb)
"$SR" audit verify --data "$W/data" | grep -q 'hash chain intact' || { echo "bench: audit chain broken" >&2; exit 1; }
stop_server

echo "bench: cost growth (seeded with sqlite3, not through HTTP: copies of one real key's row)"
seed() { # N: adds keys seed-1..seed-N that are not there yet, as copies of ec256's row
    sqlite3 "$W/data/vault.db" "PRAGMA synchronous=OFF;
WITH RECURSIVE n(i) AS (SELECT (SELECT COUNT(*) FROM names WHERE name LIKE 'seed-%') + 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1)
INSERT INTO names(vault, name) SELECT 'dev', 'seed-' || i FROM n;
INSERT INTO keys(vault, name, version, kty, key_ops, enabled, nbf, exp, created, updated, tags, blob)
SELECT 'dev', n.name, lower(hex(randomblob(16))), k.kty, k.key_ops, 1, 0, 0, k.created, k.updated, '{}', k.blob
FROM names n, (SELECT * FROM keys WHERE name = 'ec256') k WHERE n.name LIKE 'seed-%'
AND NOT EXISTS (SELECT 1 FROM keys WHERE vault = 'dev' AND name = n.name);
PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null
    sync # the seeding's dirty pages are written now, not under the measurement that follows
}
growth=()
for n in ${SR_BENCH_KEYS:-1000 1000000}; do
    t0=$(date +%s); seed "$n"; seeded_s=$(( $(date +%s) - t0 ))
    start_server
    rss0=$(rss_kb)
    # Not counted: after writing a large seed the disk is still busy for a while (WAL fsyncs of the first
    # seconds took up to 160 ms here); a warm-up lets both sizes start from the same state.
    wrk_run "g-warm-$n" POST "/keys/seed-$((n / 2))/sign?$V" "{\"alg\":\"ES256\",\"value\":\"$D32\"}"
    wrk_run "g-sign-$n" POST "/keys/seed-$((n / 2))/sign?$V" "{\"alg\":\"ES256\",\"value\":\"$D32\"}"; sign_rate=$RATE; sign_p99=$P99
    wrk_run "g-get-$n" GET "/keys/seed-$((n / 3))?$V"; get_n=$RATE; get_p99=$P99
    rss1=$(rss_kb)
    # Start-up at this size: the best of three starts (the first after a large seed waits on the disk).
    best_start=$START_MS
    for again in 1 2; do
        stop_server; start_server
        [ "$START_MS" -lt "$best_start" ] && best_start=$START_MS
    done
    START_MS=$best_start
    growth+=("| $n | $sign_rate | $sign_p99 | $get_n | $get_p99 | $((rss0 / 1024)) MB | $((rss1 / 1024)) MB | $START_MS ms ($CURL_MS ms curl's own) | ${seeded_s} s |")
    printf 'keys %8s: ES256 %s/s (p99 %s), GET %s/s (p99 %s), RSS idle %s MB, after %s MB, start %s ms\n' \
        "$n" "$sign_rate" "$sign_p99" "$get_n" "$get_p99" $((rss0 / 1024)) $((rss1 / 1024)) "$START_MS"
    stop_server
done
db_mb=$(( $(stat -c %s "$W/data/vault.db") / 1048576 ))

# The module alone, beside single-process openssl speed, alternated three times: each side's best run counts
# (a shared machine's noise only ever slows a run down).
best() { sort -n | tail -1; }
mod_rsa_runs= mod_ec_runs= one_rsa_runs= one_ec_runs=
for i in 1 2 3; do
    rm -rf "$W/kmdata"
    mod=$(build-bench/bench_sign "$W/kmdata" 2)
    mod_rsa_runs+="$(printf '%s\n' "$mod" | awk '/^rsa2048-sign/ {print $2}') "
    mod_ec_runs+="$(printf '%s\n' "$mod" | awk '/^ecdsap256-sign/ {print $2}') "
    single=$(openssl speed -seconds 2 rsa2048 ecdsap256 2>/dev/null)
    one_rsa_runs+="$(printf '%s\n' "$single" | awk '/^rsa 2048 bits/ {printf "%.0f", $6}') "
    one_ec_runs+="$(printf '%s\n' "$single" | awk '/256 bits ecdsa \(nistp256\)/ {printf "%.0f", $7}') "
done
mod_rsa=$(printf '%s\n' $mod_rsa_runs | best); mod_ec=$(printf '%s\n' $mod_ec_runs | best)
one_rsa=$(printf '%s\n' $one_rsa_runs | best); one_ec=$(printf '%s\n' $one_ec_runs | best)

{
    echo "# Performance"
    echo
    echo "Made by \`bench/http.sh $SECS\` on $(date -u +%Y-%m-%d): $CPUS CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)),"
    echo "$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), $(openssl version | cut -d' ' -f1-2), data directory on $(df --output=fstype "$W" | tail -1)."
    echo "Release build; \`strongroom serve\` with $CPUS worker threads; load from \`wrk -t2 -c$CONNS -d${SECS}s\` (keep-alive,"
    echo "TLS 1.3) on the same machine, so the load generator shares the $CPUS cores with the server, as does"
    echo "\`openssl speed -multi $CPUS\`'s reference in the same run. Every request is authenticated by bearer token"
    echo "and leaves a durable audit entry (group commit, fsync'd) before it is answered. \"Server CPU per request\" is"
    echo "the server's CPU time (every thread, user and kernel) over the requests it answered; \"steal\" is the share"
    echo "of the machine's time its hypervisor took during that load (\`openssl speed\` divides by its own CPU time, so"
    echo "its reference does not lose that share)."
    echo
    echo "## The API beside openssl speed and nginx"
    echo
    echo "| operation | Strongroom (req/s) | reference (ops/s) | reference | ratio | p99 | server CPU per request | steal |"
    echo "|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
    echo
    echo "nginx $(nginx -v 2>&1 | cut -d/ -f2): a static 18-byte JSON reply over the same TLS, $nginx_rate req/s: the ceiling of"
    echo "any HTTPS service on this machine with this load generator."
    echo
    echo "## Cost of growth"
    echo
    echo "| keys in the store | ES256 (req/s) | p99 | GET (req/s) | p99 | RSS idle | RSS after | start to first response | seeding |"
    echo "|---|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${growth[@]}"
    echo
    echo "The database with 1,000,000 keys is $db_mb MB. A fresh start (empty store, first run) answered its first"
    echo "request after $first_start_ms ms, with $((idle_rss / 1024)) MB resident, $((loaded_rss / 1024)) MB after the load above."
    echo "\"Start to first response\" is measured from the exec of \`strongroom serve\` to curl's first answered request,"
    echo "so it includes curl's own start (process, libcurl, CA file, TLS handshake), measured alone just after;"
    echo "the table gives the best of three starts at each size."
    echo
    echo "## In-process module signatures (one thread)"
    echo
    echo "\`sr_blob_sign_digest\` on a loaded key, what a sign request costs below HTTP, beside single-process \`openssl speed\`"
    echo "(best of three alternated runs each, both dividing by their own CPU time, as \`openssl speed\` does:"
    echo "module $mod_ec_runs/ openssl $one_ec_runs for P-256):"
    echo
    echo "| operation | module (ops/s) | openssl speed (ops/s) | ratio |"
    echo "|---|---|---|---|"
    echo "| RSA-2048 sign | $mod_rsa | $one_rsa | $(ratio "$mod_rsa" "$one_rsa") |"
    echo "| ECDSA P-256 sign | $mod_ec | $one_ec | $(ratio "$mod_ec" "$one_ec") |"
    echo
    if [ -f "$ROOT/docs/performance-notes.md" ]; then cat "$ROOT/docs/performance-notes.md"; fi
    # The other benchmarks' sections (bench/nodes.sh, bench/pkcs11.sh, bench/seal.sh), kept across this rewrite.
    for part in nodes pkcs11 seals hsm; do
        if [ -f "$ROOT/docs/performance-$part.md" ]; then echo; cat "$ROOT/docs/performance-$part.md"; fi
    done
} > docs/performance.md
echo "bench: wrote docs/performance.md"
