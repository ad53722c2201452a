#!/usr/bin/env bash
# One client address cannot deny service: 2,000 idle connections from 127.0.0.1 (more than the server's
# 1,000) while a client on 127.0.0.2 keeps being answered; the idle ones are closed after the timeout.
. "$(dirname "$0")/lib.sh"
start_server "$T/data" --dev --quiet
TOKEN=$(cat "$T/data/dev-token")
step "2,000 idle connections from one address"
python3 - "$PORT" > "$T/flood.out" 2>&1 <<'PY' &
import socket, sys, time, resource
resource.setrlimit(resource.RLIMIT_NOFILE, (4096, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
held = []
for _ in range(2000):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    try:
        s.connect(("127.0.0.1", int(sys.argv[1])))
        held.append(s)
    except OSError:
        s.close()
print("opened", len(held), flush=True)
time.sleep(14)  # bounded: longer than the server's idle timeout
alive = 0
for s in held:
    s.setblocking(False)
    try:
        alive += s.recv(1) != b""
    except BlockingIOError:
        alive += 1
    except OSError:
        pass
print("still open", alive, flush=True)
PY
FLOOD=$!
for _ in $(seq 1 100); do grep -q opened "$T/flood.out" && break; sleep 0.1; done
grep -q opened "$T/flood.out" || fail "the flood did not start: $(cat "$T/flood.out")"
step "another address is served meanwhile"
# Within 8 s: under the server's 10 s idle timeout, so without the per-address limit this fails.
for i in $(seq 1 10); do
    code=$(curl -s -o /dev/null -w "%{http_code}" --max-time 8 --interface 127.0.0.2 --cacert "$CA" \
        -H "Authorization: Bearer $TOKEN" "https://localhost:$PORT/keys?api-version=7.5")
    [ "$code" = 200 ] || fail "request $i from 127.0.0.2 answered $code while 127.0.0.1 held its connections"
done
wait "$FLOOD"
alive=$(awk '/still open/ {print $3}' "$T/flood.out")
[ "$alive" -le 128 ] || fail "the server kept $alive idle connections of one address (limit 128)"
kill -0 "$SERVER_PID" || fail "the server died"
stop_server
echo PASS
