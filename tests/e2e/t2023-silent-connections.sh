#!/usr/bin/env bash
# Connections that say nothing before their TLS handshake are closed at the handshake's deadline and
# cleaned up, whatever their clients do after: no socket is left in CLOSE-WAIT, no thread spins, and a
# client at another address is answered throughout (issue 29, item 1). On libmicrohttpd 0.9.75's own
# timeout the five sockets stayed in CLOSE-WAIT for good with the server at 100-200% CPU, and 8 addresses
# x 128 such connections took the whole server down until a restart.
. "$(dirname "$0")/lib.sh"
start_server "$T/data" --dev --quiet
health() { curl -s --max-time 5 --cacert "$CA" "https://localhost:$PORT/healthz"; }
# close_waits: the server's sockets whose client has hung up and that it has not closed.
close_waits() { ss -Htan state close-wait "( sport = :$PORT )" | wc -l; }
# cpu_ticks: the server's user+system CPU time so far, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$SERVER_PID/stat"; }

# silent N HOLD [ADDRESSES...]: N plain TCP connections from each address (127.0.0.1 by default) that send
# nothing, held HOLD seconds, then closed.
silent() {
    python3 - "$PORT" "$@" <<'PY'
import resource, socket, sys, time
port, n, hold = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
addresses = sys.argv[4:] or ["127.0.0.1"]
resource.setrlimit(resource.RLIMIT_NOFILE, (4096, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
held = []
for a in addresses:
    for _ in range(n):
        s = socket.socket()
        s.bind((a, 0))
        s.connect(("127.0.0.1", port))
        held.append(s)
print("opened", len(held), flush=True)
time.sleep(hold)
for s in held:
    s.close()
print("closed", flush=True)
PY
}

step "five silent connections, held past the handshake deadline, then closed"
silent 5 13 > "$T/five.out"
sleep 2
[ "$(close_waits)" = 0 ] || fail "$(close_waits) sockets left in CLOSE-WAIT after five silent connections"
before=$(cpu_ticks); sleep 2; after=$(cpu_ticks)
[ $((after - before)) -le 20 ] || fail "the server used $((after - before)) ticks of CPU in 2 s, idle (it spins)"
h=$(health)
[ "$(jq -r .connections.closedAtDeadline.handshake <<<"$h")" -ge 5 ] || fail "handshakes not closed at their deadline: $h"

step "8 addresses x 128 silent connections held 25 s while 127.0.0.1 is served"
silent 128 25 127.0.0.2 127.0.0.3 127.0.0.4 127.0.0.5 127.0.0.6 127.0.0.7 127.0.0.8 127.0.0.9 > "$T/many.out" 2>&1 &
FLOOD=$!
for _ in $(seq 1 100); do grep -q opened "$T/many.out" && break; sleep 0.1; done
grep -q "opened 1024" "$T/many.out" || fail "the flood did not open its 1,024 connections: $(cat "$T/many.out")"
open=$(health | jq -r .connections.open)
[ "$open" -ge 1000 ] || fail "the server holds only $open connections: the flood is not what this test means"
for i in $(seq 1 12); do
    [ "$(health | jq -r .status)" = ok ] || fail "health check $i from 127.0.0.1 failed during the flood"
    sleep 2
done
wait "$FLOOD"
sleep 2
[ "$(health | jq -r .status)" = ok ] || fail "health check failed after the flood"
[ "$(close_waits)" = 0 ] || fail "$(close_waits) sockets left in CLOSE-WAIT after the flood"
before=$(cpu_ticks); sleep 2; after=$(cpu_ticks)
[ $((after - before)) -le 20 ] || fail "the server used $((after - before)) ticks of CPU in 2 s after the flood"
h=$(health)
[ "$(jq -r .connections.open <<<"$h")" -le 2 ] || fail "connections still open after the flood: $h"
[ "$(jq -r .connections.closedAtDeadline.handshake <<<"$h")" -ge 1029 ] || fail "not every silent handshake was reaped: $h"
TOKEN=$(cat "$T/data/dev-token")
api GET "/keys?api-version=7.5" >/dev/null
[ "$STATUS" = 200 ] || fail "the API answered $STATUS after the flood"
stop_server
echo PASS
