#!/usr/bin/env bash
# Slowloris: a connection that trickles a byte a second is closed at its phase's total deadline
# (docs/api.md, "Limits": handshake 10 s, headers 10 s, body 30 s), not kept alive by the trickle as an idle
# timeout alone would (issue 29, item 5: each of the three kept its connection past 60 s). A client that
# sends its request at a normal pace, and one that keeps its connection alive between requests, are served.
. "$(dirname "$0")/lib.sh"
start_server "$T/data" --dev --quiet
TOKEN=$(cat "$T/data/dev-token")
api POST "/keys/k1/create?api-version=7.5" '{"kty":"EC","crv":"P-256"}' >/dev/null
[ "$STATUS" = 200 ] || fail "create answered $STATUS"

step "a ClientHello, request headers and a body, each a byte a second (in parallel; at most 60 s)"
# Meanwhile, a keep-alive client is served across 4 s pauses, and its connection closed after 10 s idle.
python3 - "$PORT" "$CA" "$TOKEN" > "$T/keepalive.out" 2>&1 <<'PY' &
import http.client, ssl, sys, time
port, ca, token = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
c = http.client.HTTPSConnection("localhost", port, context=ctx)
for i in range(4):
    c.request("GET", "/keys?api-version=7.5", headers={"Authorization": "Bearer " + token, "Host": "dev.localhost"})
    r = c.getresponse(); r.read()
    assert r.status == 200, r.status
    time.sleep(4)
sock = c.sock
time.sleep(9)
try:
    gone = sock.recv(1) == b""
except (ssl.SSLError, OSError):
    gone = True
print("served 4 requests; closed after 13 s idle:", gone)
PY
KEEPALIVE=$!
python3 - "$PORT" "$CA" "$TOKEN" > "$T/trickle.out" 2>&1 <<'PY'
import select, socket, ssl, sys, threading, time
port, ca, token = int(sys.argv[1]), sys.argv[2], sys.argv[3]
LIMIT = 60
results = {}

def closed(s):
    """True once the server has closed its side (EOF or reset), without blocking."""
    try:
        if not select.select([s], [], [], 0)[0]:
            return False
        return s.recv(4096) == b""
    except (ssl.SSLError, OSError):
        return True

def trickle(name, s, data):
    """Sends data a byte a second; the seconds until the server closed, or None if it never did."""
    start = time.monotonic()
    for i in range(LIMIT):
        if closed(s):
            return time.monotonic() - start
        try:
            s.sendall(data[i % len(data):i % len(data) + 1])
        except (ssl.SSLError, OSError):
            return time.monotonic() - start
        time.sleep(1)
    return None

def tls():
    ctx = ssl.create_default_context(cafile=ca)
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
    return s

def hello():
    s = socket.create_connection(("127.0.0.1", port))
    # A TLS record header announcing a 512-byte handshake message, then its bytes one by one.
    s.sendall(b"\x16\x03\x01\x02\x00")
    results["handshake"] = trickle("handshake", s, b"\x01" + b"\x00" * 511)

def headers():
    s = tls()
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
    results["headers"] = trickle("headers", s, b"X-Slow: " + b"a" * 200)

def body():
    s = tls()
    s.sendall(("POST /keys/k1/sign?api-version=7.5 HTTP/1.1\r\nHost: dev.localhost\r\n"
               "Authorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n" % token).encode())
    results["body"] = trickle("body", s, b'{"alg":"ES256","value":"' + b"A" * 1000)

threads = [threading.Thread(target=f) for f in (hello, headers, body)]
for t in threads: t.start()
for t in threads: t.join()
for k in ("handshake", "headers", "body"):
    print(k, "never" if results.get(k) is None else "%.1f" % results[k])
PY
cat "$T/trickle.out"
check_closed() { # PHASE DEADLINE: closed by the deadline, within 3 s of it
    local t; t=$(awk -v p="$1" '$1 == p {print $2}' "$T/trickle.out")
    [ -n "$t" ] && [ "$t" != never ] || fail "the $1 trickle kept its connection for 60 s"
    awk -v t="$t" -v d="$2" 'BEGIN {exit !(t >= d - 1 && t <= d + 3)}' ||
        fail "the $1 trickle was closed after $t s, not at its ${2} s deadline"
}
check_closed handshake 10
check_closed headers 10
check_closed body 30
wait "$KEEPALIVE"
grep -q "served 4 requests; closed after 13 s idle: True" "$T/keepalive.out" || fail "keep-alive: $(cat "$T/keepalive.out")"
h=$(curl -s --cacert "$CA" "https://localhost:$PORT/healthz")
for p in handshake headers body; do
    [ "$(jq -r ".connections.closedAtDeadline.$p" <<<"$h")" -ge 1 ] || fail "no $p deadline counted: $h"
done

stop_server
echo PASS
