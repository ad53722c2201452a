#!/usr/bin/env bash
# The server's console log: one line per request, refusals included, with an ISO-8601 UTC time and the
# client's address; and nothing from the TLS library when a client sends garbage or hangs up mid-handshake.
. "$(dirname "$0")/lib.sh"
start_server "$T/data" --dev
TOKEN=$(cat "$T/data/dev-token")
V=api-version=7.5
api GET "/keys?$V" >/dev/null
TOKEN=not-a-token api GET "/keys?$V" >/dev/null
(exec 3<>"/dev/tcp/127.0.0.1/$PORT"; printf 'GARBAGE\r\n\r\n' >&3; exec 3>&-) || true
timeout 5 openssl s_client -connect "127.0.0.1:$PORT" </dev/null >/dev/null 2>&1 || true
for _ in $(seq 1 20); do grep -q -- '-> 401' "$SERVER_LOG" && break; sleep 0.1; done
stop_server
line='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z 127\.0\.0\.1 '
grep -Eq "${line}dev GET GetKeys -> 200$" "$SERVER_LOG" || fail "no log line for the GET: $(cat "$SERVER_LOG")"
grep -Eq "${line}- GET - -> 401$" "$SERVER_LOG" || fail "no log line for the refusal: $(cat "$SERVER_LOG")"
noise=$(grep -Ei "handshake|gnutls|tls (connection|record|alert)|non-properly|reset by peer|libmicrohttpd: .*tls" "$SERVER_LOG" || true)
[ -z "$noise" ] || fail "TLS noise in the log: $noise"
grep -q 'strongroom: serving https://' "$SERVER_LOG" || fail "no serving line without --quiet"
step "--quiet: no serving line and no request log, only warnings and errors"
start_server "$T/data" --quiet
api GET "/keys?$V" >/dev/null
stop_server
! grep -q 'serving\|GetKeys' "$SERVER_LOG" || fail "--quiet still prints: $(cat "$SERVER_LOG")"
echo PASS
