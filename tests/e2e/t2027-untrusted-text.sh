#!/usr/bin/env bash
# Every string from outside is well-formed UTF-8 before it is stored or echoed (issue 29, item 4; docs/formats.md,
# "Text from outside"). Invalid UTF-8 and NUL go into every path segment, query parameter, header and JSON
# string the API reads: no answer is a 5xx, every JSON answer is valid UTF-8, a %00 in a key name is refused
# rather than cutting the name, and then GET /audit, 'audit show' and 'audit verify' all work. An entry with
# raw bytes as an older Strongroom wrote it (GET /keys/%FF%FE made GET /audit answer 500 for good) is read
# too, as U+FFFD.
. "$(dirname "$0")/lib.sh"
start_server "$T/data" --dev --quiet
TOKEN=$(cat "$T/data/dev-token")
api POST "/keys/k1/create?api-version=7.5" '{"kty":"EC","crv":"P-256"}' >/dev/null
[ "$STATUS" = 200 ] || fail "create answered $STATUS"

step "invalid UTF-8 and NUL in every path segment, query parameter, header and JSON string"
python3 - "$PORT" "$CA" "$TOKEN" > "$T/poison.out" 2>&1 <<'PY'
import json, socket, ssl, sys
port, ca, token = int(sys.argv[1]), sys.argv[2], sys.argv[3].encode()
BAD = [b"\xff\xfe", b"\xc3\x28", b"\xc0\xaf", b"\xed\xa0\x80", b"%FF%FE", b"%C0%AF", b"%00", b"a%00b"]
ctx = ssl.create_default_context(cafile=ca)

def request(method, path, headers=None, body=None):
    h = {b"Host": b"dev.localhost", b"Authorization": b"Bearer " + token}
    h.update(headers or {})
    if body is not None:
        h[b"Content-Type"] = b"application/json"
        h[b"Content-Length"] = str(len(body)).encode()
    raw = method + b" " + path + b" HTTP/1.1\r\n" + b"".join(k + b": " + v + b"\r\n" for k, v in h.items())
    raw += b"Connection: close\r\n\r\n" + (body or b"")
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=15), server_hostname="dev.localhost")
    s.sendall(raw)
    data = b""
    while True:
        try:
            chunk = s.recv(65536)
        except (ssl.SSLError, OSError):
            break
        if not chunk:
            break
        data += chunk
    s.close()
    head, _, payload = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1]) if head.startswith(b"HTTP/1.1 ") else 0
    # Headers and JSON bodies must be text a client can decode.
    head.decode("utf-8")
    if payload.strip().startswith(b"{"):
        json.loads(payload.decode("utf-8", errors="strict"))
    return status

cases = []
for b in BAD:
    q = b"?api-version=7.5"
    cases += [
        (b"GET", b"/keys/" + b + q, None, None),
        (b"POST", b"/keys/" + b + b"/create" + q, None, b'{"kty":"EC"}'),
        (b"GET", b"/keys/k1/" + b + q, None, None),
        (b"POST", b"/keys/k1/" + b + b"/sign" + q, None, b'{"alg":"ES256","value":"AAAA"}'),
        (b"POST", b"/keys/k1/" + b + q, None, b"{}"),
        (b"GET", b"/deletedkeys/" + b + q, None, None),
        (b"PUT", b"/keys/" + b + b"/rotationpolicy" + q, None, b"{}"),
        (b"GET", b"/" + b + b"/k1" + q, None, None),
        (b"GET", b"/keys?api-version=" + b, None, None),
        (b"GET", b"/keys?api-version=7.5&maxresults=" + b, None, None),
        (b"GET", b"/keys?api-version=7.5&$skiptoken=" + b, None, None),
        (b"GET", b"/audit" + q + b"&op=" + b, None, None),
        (b"GET", b"/keys" + q, {b"Host": b"dev.localhost" + b}, None),
        (b"GET", b"/keys" + q, {b"Host": b + b".localhost"}, None),
        (b"GET", b"/keys" + q, {b"Authorization": b"Bearer " + b}, None),
        (b"GET", b"/keys" + q, {b"Authorization": b + b" " + token}, None),
        (b"GET", b"/keys" + q, {b"x-ms-client-request-id": b"id-" + b}, None),
        (b"POST", b"/keys/k1/sign" + q, {b"Content-Type": b}, b'{"alg":"ES256","value":"AAAA"}'),
    ]
for s in [b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80", b"\\u0000", b"a\\u0000b", b"\\udc00"]:
    v = b'"' + s + b'"'
    cases += [
        (b"POST", b"/keys/k2/create?api-version=7.5", None, b'{"kty":' + v + b'}'),
        (b"POST", b"/keys/k2/create?api-version=7.5", None, b'{"kty":"EC","tags":{"t":' + v + b'}}'),
        (b"POST", b"/keys/k2/create?api-version=7.5", None, b'{"kty":"EC","tags":{' + v + b':"x"}}'),
        (b"POST", b"/keys/k1/sign?api-version=7.5", None, b'{"alg":' + v + b',"value":"AAAA"}'),
        (b"POST", b"/keys/k1/sign?api-version=7.5", None, b'{"alg":"ES256","value":' + v + b'}'),
        (b"PATCH", b"/keys/k1?api-version=7.5", None, b'{"tags":{"t":' + v + b'}}'),
        (b"POST", b"/keys/restore?api-version=7.5", None, b'{"value":' + v + b'}'),
        (b"POST", b"/keys/k1/release?api-version=7.5", None, b'{"target":' + v + b'}'),
        (b"PUT", b"/keys/k1/rotationpolicy?api-version=7.5", None,
         b'{"lifetimeActions":[{"trigger":{"timeAfterCreate":' + v + b'},"action":{"type":"Rotate"}}]}'),
        (b"PUT", b"/keys/k3?api-version=7.5", None, b'{"key":{"kty":"oct","k":' + v + b'}}'),
    ]
bad = 0
for method, path, headers, body in cases:
    try:
        status = request(method, path, headers, body)
    except Exception as e:  # an undecodable answer
        print("BAD", method, path, headers, body, repr(e)); bad += 1; continue
    if status >= 500 or status == 0:
        print("BAD", method, path, headers, body, status); bad += 1
print("cases", len(cases), "bad", bad)
# A %00 is refused, not a cut name: neither "a" nor "abc" exists afterwards.
print("nul-create", request(b"POST", b"/keys/abc%00def/create?api-version=7.5", None, b'{"kty":"EC"}'))
print("abc", request(b"GET", b"/keys/abc?api-version=7.5"), "a", request(b"GET", b"/keys/a?api-version=7.5"))
PY
cat "$T/poison.out" | tail -5
grep -q "bad 0$" "$T/poison.out" || fail "$(grep BAD "$T/poison.out" | head -20)"
grep -q "^nul-create 400$" "$T/poison.out" || fail "a %00 in a key name was not refused: $(cat "$T/poison.out")"
grep -q "^abc 404 a 404$" "$T/poison.out" || fail "a %00 cut a key name: $(cat "$T/poison.out")"

step "GET /audit, audit show and audit verify read it all"
api GET "/audit?api-version=7.5" > audit.json
[ "$STATUS" = 200 ] || fail "GET /audit answered $STATUS"
jq -e '[.value[] | select(.target | contains("\ufffd"))] | length > 0' audit.json >/dev/null ||
    fail "no entry shows the invalid bytes as U+FFFD: $(head -c 2000 audit.json)"
$SR audit show --data "$T/data" > show.txt || fail "audit show failed"
grep -q $'\xef\xbf\xbd' show.txt || fail "audit show has no U+FFFD"
$SR audit show --data "$T/data" --output json | jq -e 'length > 50' >/dev/null || fail "audit show --output json"
$SR audit verify --data "$T/data" >/dev/null || fail "audit verify"

step "an entry with raw bytes, as an older Strongroom wrote it, is read as U+FFFD"
stop_server
python3 - "$T/data/vault.db" <<'PY'
import hashlib, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.text_factory = bytes
seq, prev = db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
seq += 1
row = dict(time=1796500000, vault=b"dev", actor=b"token-old", op=b"GetKey", target=b"\xff\xfe", status=400,
           client=b"127.0.0.1", reason=b"Key names are \xc3 bad")
line = b"\n".join([prev, str(seq).encode(), str(row["time"]).encode(), row["vault"], row["actor"], row["op"],
                   row["target"], str(row["status"]).encode(), row["client"], row["reason"], b"1"])
h = hashlib.sha256(line).hexdigest().encode()
db.execute("INSERT INTO audit(seq, time, vault, actor, op, target, status, prev, hash, client, reason, count) "
           "VALUES (?, ?, ?, ?, ?, CAST(? AS TEXT), ?, ?, ?, ?, CAST(? AS TEXT), 1)",
           (seq, row["time"], row["vault"], row["actor"], row["op"], row["target"], row["status"], prev, h,
            row["client"], row["reason"]))
db.commit()
PY
$SR audit verify --data "$T/data" >/dev/null || fail "the hand-made old entry breaks the chain (the test's fault)"
start_server "$T/data" --quiet
api GET "/audit?api-version=7.5" > audit.json
[ "$STATUS" = 200 ] || fail "GET /audit answered $STATUS with an old raw entry"
jq -e '[.value[] | select(.actor == "token-old" and .target == "\ufffd\ufffd" and (.reason | contains("\ufffd")))] | length == 1' \
    audit.json >/dev/null || fail "the old entry: $(jq -c '.value[-3:]' audit.json)"
$SR audit show --data "$T/data" | grep -q "token-old" || fail "audit show does not show the old entry"
stop_server
echo PASS
