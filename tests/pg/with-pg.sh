#!/bin/bash
# with-pg.sh CMD [ARG...]: runs CMD beside a throwaway PostgreSQL server of its own: a new cluster in a
# temporary directory, owned and run by an unprivileged user (the Debian package's "postgres" when we are
# root), listening on 127.0.0.1 and a free port only, stopped and removed when CMD ends. CMD sees:
#   SR_TEST_PG_BASE   postgresql://postgres@127.0.0.1:PORT  (append /DBNAME; trust authentication)
#   SR_TEST_PG_URL    $SR_TEST_PG_BASE/strongroom           (a database made for it)
#   SR_TEST_PG_CONTROL a directory with two commands, stop and start, for tests of a database outage
set -euo pipefail
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$BIN/initdb" ] || { echo "with-pg: PostgreSQL's server is not installed (Debian package postgresql)" >&2; exit 1; }
RUN_AS=()
if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || { echo "with-pg: no user 'postgres' to run the server as" >&2; exit 1; }
    RUN_AS=(runuser -u postgres --)
fi
PGT=$(mktemp -d /tmp/sr-pg.XXXXXX)
chmod 755 "$PGT"
[ ${#RUN_AS[@]} -eq 0 ] || chown postgres "$PGT"
export SR_TEST_PG_DIR="$PGT/data"
stop() {
    "${RUN_AS[@]}" "$BIN/pg_ctl" -D "$SR_TEST_PG_DIR" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$PGT"
}
trap stop EXIT
"${RUN_AS[@]}" "$BIN/initdb" -D "$SR_TEST_PG_DIR" -U postgres --auth=trust -E UTF8 --no-sync >"$PGT/initdb.log" 2>&1 ||
    { cat "$PGT/initdb.log" >&2; exit 1; }
for attempt in 1 2 3 4 5 6 7 8; do
    PORT=$((20000 + RANDOM % 30000))
    if "${RUN_AS[@]}" "$BIN/pg_ctl" -D "$SR_TEST_PG_DIR" -l "$PGT/server.log" -w -t 30 start \
        -o "-c listen_addresses=127.0.0.1 -p $PORT -k $PGT -c fsync=on -c max_connections=200" >/dev/null 2>&1; then
        break
    fi
    PORT=
done
[ -n "$PORT" ] || { echo "with-pg: PostgreSQL did not start:" >&2; cat "$PGT/server.log" >&2; exit 1; }
OPTS="-c listen_addresses=127.0.0.1 -p $PORT -k $PGT -c fsync=on -c max_connections=200"
printf '#!/bin/sh\ncd /\nexec %s %q -D %q -m fast -w stop >/dev/null\n' "${RUN_AS[*]}" "$BIN/pg_ctl" "$SR_TEST_PG_DIR" > "$PGT/stop"
printf '#!/bin/sh\ncd /\nexec %s %q -D %q -l %q -w -t 30 start -o %q >/dev/null\n' "${RUN_AS[*]}" "$BIN/pg_ctl" \
    "$SR_TEST_PG_DIR" "$PGT/server.log" "$OPTS" > "$PGT/start"
chmod 755 "$PGT/stop" "$PGT/start"
export SR_TEST_PG_CONTROL="$PGT"
export SR_TEST_PG_BASE="postgresql://postgres@127.0.0.1:$PORT"
export SR_TEST_PG_URL="$SR_TEST_PG_BASE/strongroom"
export SR_TEST_PG_BIN="$BIN"
"$BIN/psql" -q -d "$SR_TEST_PG_BASE/postgres" -c "CREATE DATABASE strongroom" >/dev/null
"$@"
