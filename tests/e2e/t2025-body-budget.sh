#!/usr/bin/env bash
# Request bodies cannot starve the server (issue 29, item 2). A Reader of another vault holds 84 TLS
# connections, each announcing a 1,000,000-byte body and sending part of it (6 per size class, 48 B to
# 384 KiB), then a byte every 3 s. Meanwhile the administrator creates EC and RSA keys, signs and imports:
# every answer is 200. (Bodies used to live on OpenSSL's 1 MiB secure heap beside the keys: the creates
# answered 500 and the small bodies 413.) Then a body of 1,048,575 bytes is processed and one of
# 1,048,577 refused 413; /healthz reports the secure heap and the bodies held.
. "$(dirname "$0")/lib.sh"
start_server "$T/data" --dev --quiet
$SR vault create other --region DEV --subscription-id sub-other --data "$T/data" >/dev/null
TOKEN=$(cat "$T/data/dev-token")
READER=$($SR token create --role Reader --vault other --name reader-other --data "$T/data")
api POST "/keys/k0/create?api-version=7.5" '{"kty":"EC","crv":"P-256"}' >/dev/null
[ "$STATUS" = 200 ] || fail "create answered $STATUS"
DIGEST=$(printf 'digest' | openssl dgst -sha256 -binary | b64u)

step "84 connections hold partial bodies of up to 384 KiB"
python3 - "$PORT" "$CA" "$READER" "$T/held" "$T/done" > "$T/attack.out" 2>&1 <<'PY' &
import os, socket, ssl, sys, time
port, ca, token, held_flag, done_flag = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
ctx = ssl.create_default_context(cafile=ca)
conns = []
for k in reversed(range(14)):  # 384 KiB, 192 KiB, ... 48 B: the largest first, so they fill the heap
    size = 48 << k
    for _ in range(6):
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="dev.localhost")
        s.sendall(("POST /keys/x/sign?api-version=7.5 HTTP/1.1\r\nHost: dev.localhost\r\nAuthorization: Bearer %s\r\n"
                   "Content-Type: application/json\r\nContent-Length: 1000000\r\n\r\n" % token).encode())
        s.sendall(b"a" * size)
        conns.append(s)
print("holding", len(conns), flush=True)
open(held_flag, "w").close()
deadline = time.monotonic() + 25
while not os.path.exists(done_flag) and time.monotonic() < deadline:
    for s in conns:
        try:
            s.sendall(b"a")
        except OSError:
            pass
    time.sleep(3)
for s in conns:
    s.close()
PY
ATTACK=$!
for _ in $(seq 1 200); do [ -e "$T/held" ] && break; sleep 0.1; done
[ -e "$T/held" ] || fail "the attack did not start: $(cat "$T/attack.out")"

step "the administrator is served meanwhile"
api POST "/keys/ec1/create?api-version=7.5" '{"kty":"EC","crv":"P-384"}' >/dev/null
[ "$STATUS" = 200 ] || fail "EC create answered $STATUS during the attack: $(cat "$T/resp")"
api POST "/keys/rsa1/create?api-version=7.5" '{"kty":"RSA","key_size":3072}' >/dev/null
[ "$STATUS" = 200 ] || fail "RSA create answered $STATUS during the attack: $(cat "$T/resp")"
api POST "/keys/k0/sign?api-version=7.5" "{\"alg\":\"ES256\",\"value\":\"$DIGEST\"}" >/dev/null
[ "$STATUS" = 200 ] || fail "sign answered $STATUS during the attack: $(cat "$T/resp")"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/imp.pem" 2>/dev/null
jwk=$(python3 - "$T/imp.pem" <<'PY'
import base64, json, subprocess, sys
der = subprocess.run(["openssl", "ec", "-in", sys.argv[1], "-text", "-noout"], capture_output=True, text=True).stdout
def grab(label):
    out, on = "", False
    for line in der.splitlines():
        if line.startswith(label): on = True; continue
        if on and line.startswith("    "): out += line.strip()
        elif on: break
    return bytes.fromhex(out.replace(":", ""))
priv, pub = grab("priv:"), grab("pub:")
priv = priv[-32:].rjust(32, b"\0")
b = lambda x: base64.urlsafe_b64encode(x).rstrip(b"=").decode()
print(json.dumps({"key": {"kty": "EC", "crv": "P-256", "x": b(pub[1:33]), "y": b(pub[33:65]), "d": b(priv)}}))
PY
)
api PUT "/keys/imp1?api-version=7.5" "$jwk" >/dev/null
[ "$STATUS" = 200 ] || fail "import answered $STATUS during the attack: $(cat "$T/resp")"
h=$(curl -s --cacert "$CA" "https://localhost:$PORT/healthz")
[ "$(jq -r .connections.bodyBytes <<<"$h")" -ge 4000000 ] || fail "the attack's bodies are not held: $h"
[ "$(jq -r '.secureHeap.used < .secureHeap.size / 2' <<<"$h")" = true ] || fail "the secure heap is filling: $h"
touch "$T/done"
wait "$ATTACK"

step "a 1,048,575-byte body is processed; 1,048,577 bytes are refused 413"
body_of() { # SIZE: a sign request padded to SIZE bytes
    python3 -c "import sys; head='{\"alg\":\"ES256\",\"value\":\"$DIGEST\",\"pad\":\"'; n=int(sys.argv[1]); sys.stdout.write(head + 'p'*(n-len(head)-2) + '\"}')" "$1"
}
body_of 1048575 > "$T/big"
[ "$(stat -c %s "$T/big")" = 1048575 ] || fail "the body is not 1,048,575 bytes"
api POST "/keys/k0/sign?api-version=7.5" "@$T/big" >/dev/null
[ "$STATUS" = 200 ] || fail "a 1,048,575-byte body answered $STATUS: $(cat "$T/resp")"
body_of 1048577 > "$T/big"
api POST "/keys/k0/sign?api-version=7.5" "@$T/big" >/dev/null
[ "$STATUS" = 413 ] || fail "a 1,048,577-byte body answered $STATUS"
h=$(curl -s --cacert "$CA" "https://localhost:$PORT/healthz")
[ "$(jq -r .connections.bodyBytes <<<"$h")" = 0 ] || fail "bodies still counted after their answers: $h"
stop_server

step "past the server's budget (serve --body-budget 1: 1 MiB) a body is answered 503, and served once room is back"
start_server "$T/data" --quiet --body-budget 1
python3 - "$PORT" "$CA" "$READER" "$T/holding" "$T/release" <<'PY' &
import os, socket, ssl, sys, time
port, ca, token, held, release = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
s = ssl.create_default_context(cafile=ca).wrap_socket(socket.create_connection(("127.0.0.1", port)),
                                                       server_hostname="dev.localhost")
s.sendall(("POST /keys/x/sign?api-version=7.5 HTTP/1.1\r\nHost: dev.localhost\r\nAuthorization: Bearer %s\r\n"
           "Content-Type: application/json\r\nContent-Length: 1000000\r\n\r\n" % token).encode() + b"a" * 900000)
open(held, "w").close()
deadline = time.monotonic() + 20
while not os.path.exists(release) and time.monotonic() < deadline:
    time.sleep(0.1)
s.close()
PY
HOLDER=$!
for _ in $(seq 1 200); do [ -e "$T/holding" ] && break; sleep 0.1; done
for _ in $(seq 1 50); do
    [ "$(curl -s --cacert "$CA" "https://localhost:$PORT/healthz" | jq -r .connections.bodyBytes)" -ge 800000 ] && break
    sleep 0.1
done
body_of 200000 > "$T/mid"
expect_api 503 ServiceUnavailable POST "/keys/k0/sign?api-version=7.5" "@$T/mid"
grep -q "as many request bodies" "$T/resp" || fail "the 503 does not say why: $(cat "$T/resp")"
[ "$(curl -s --cacert "$CA" "https://localhost:$PORT/healthz" | jq -r .connections.bodiesRefused)" -ge 1 ] ||
    fail "the refusal is not counted"
touch "$T/release"
wait "$HOLDER"
for _ in $(seq 1 50); do
    [ "$(curl -s --cacert "$CA" "https://localhost:$PORT/healthz" | jq -r .connections.bodyBytes)" = 0 ] && break
    sleep 0.1
done
api POST "/keys/k0/sign?api-version=7.5" "@$T/mid" >/dev/null
[ "$STATUS" = 200 ] || fail "the same body once room is back answered $STATUS"
stop_server
echo PASS
