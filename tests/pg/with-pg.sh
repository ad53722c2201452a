#!/bin/bash
# with-pg.sh CMD [ARG...]: runs CMD beside a throwaway PostgreSQL server of its own: a new cluster in a
# temporary directory, owned and run by an unprivileged user (the Debian package's "postgres" when we are
# root), listening on 127.0.0.1 and a free port only, stopped and removed when CMD ends. CMD sees:
#   SR_TEST_PG_BASE    postgresql://postgres@127.0.0.1:PORT  (append /DBNAME; trust authentication)
#   SR_TEST_PG_URL     $SR_TEST_PG_BASE/strongroom           (a database made for it)
#   SR_TEST_PG_BIN     the server's programs (psql, pg_dump, ...)
#   SR_TEST_PG_CONTROL a directory of commands for tests of an outage: stop and start (the primary)
# With SR_TEST_PG_STANDBY=1 the primary has a streaming-replication standby, synchronous
# (synchronous_commit on, synchronous_standby_names naming it): SR_TEST_PG_URL then names both, libpq's
# multi-host form with target_session_attrs=read-write, and $SR_TEST_PG_CONTROL/promote promotes the
# standby; SR_TEST_PG_STANDBY_URL reaches the standby alone.
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
stop_all() {
    for d in "$PGT/standby" "$PGT/data"; do
        [ -d "$d" ] && (cd / && "${RUN_AS[@]}" "$BIN/pg_ctl" -D "$d" -m immediate stop >/dev/null 2>&1) || true
    done
    rm -rf "$PGT"
}
trap stop_all EXIT

# start_cluster DIR NAME [OPTIONS]: starts the cluster in DIR on a free port (into $PORT) and writes
# $PGT/start-NAME and $PGT/stop-NAME.
start_cluster() {
    local dir=$1 name=$2 extra=${3:-} opts
    for attempt in 1 2 3 4 5 6 7 8; do
        PORT=$((20000 + RANDOM % 30000))
        opts="-c listen_addresses=127.0.0.1 -p $PORT -k $PGT -c fsync=on -c max_connections=200 $extra"
        if (cd / && "${RUN_AS[@]}" "$BIN/pg_ctl" -D "$dir" -l "$PGT/$name.log" -w -t 60 start -o "$opts" >/dev/null 2>&1); then
            printf '#!/bin/sh\ncd /\nexec %s %q -D %q -m fast -w stop >/dev/null\n' "${RUN_AS[*]}" "$BIN/pg_ctl" "$dir" > "$PGT/stop-$name"
            printf '#!/bin/sh\ncd /\nexec %s %q -D %q -l %q -w -t 60 start -o %q >/dev/null\n' "${RUN_AS[*]}" \
                "$BIN/pg_ctl" "$dir" "$PGT/$name.log" "$opts" > "$PGT/start-$name"
            chmod 755 "$PGT/stop-$name" "$PGT/start-$name"
            return 0
        fi
    done
    echo "with-pg: PostgreSQL did not start:" >&2; cat "$PGT/$name.log" >&2; exit 1
}

(cd / && "${RUN_AS[@]}" "$BIN/initdb" -D "$PGT/data" -U postgres --auth=trust -E UTF8 --no-sync) >"$PGT/initdb.log" 2>&1 ||
    { cat "$PGT/initdb.log" >&2; exit 1; }
start_cluster "$PGT/data" primary
PRIMARY_PORT=$PORT
ln -s stop-primary "$PGT/stop"
ln -s start-primary "$PGT/start"
export SR_TEST_PG_BIN="$BIN" SR_TEST_PG_CONTROL="$PGT"
export SR_TEST_PG_BASE="postgresql://postgres@127.0.0.1:$PRIMARY_PORT"
export SR_TEST_PG_URL="$SR_TEST_PG_BASE/strongroom"
"$BIN/psql" -q -d "$SR_TEST_PG_BASE/postgres" -c "CREATE DATABASE strongroom" >/dev/null

if [ "${SR_TEST_PG_STANDBY:-}" = 1 ]; then
    (cd / && "${RUN_AS[@]}" "$BIN/pg_basebackup" -d "$SR_TEST_PG_BASE/postgres" -D "$PGT/standby" -R -X stream -c fast) \
        >"$PGT/basebackup.log" 2>&1 || { cat "$PGT/basebackup.log" >&2; exit 1; }
    start_cluster "$PGT/standby" standby "-c cluster_name=standby1 -c hot_standby=on"
    STANDBY_PORT=$PORT
    printf '#!/bin/sh\ncd /\nexec %s %q -D %q -w promote >/dev/null\n' "${RUN_AS[*]}" "$BIN/pg_ctl" "$PGT/standby" > "$PGT/promote"
    chmod 755 "$PGT/promote"
    "$BIN/psql" -q -d "$SR_TEST_PG_BASE/postgres" -c "ALTER SYSTEM SET synchronous_standby_names = 'standby1'" \
        -c "ALTER SYSTEM SET synchronous_commit = 'on'" -c "SELECT pg_reload_conf()" >/dev/null
    for _ in $(seq 1 100); do # until the standby streams synchronously: before, a commit would wait
        state=$("$BIN/psql" -qAt -d "$SR_TEST_PG_BASE/postgres" -c "SELECT sync_state FROM pg_stat_replication")
        [ "$state" = sync ] && break
        sleep 0.1
    done
    [ "$state" = sync ] || { echo "with-pg: the standby is not synchronous ($state)" >&2; exit 1; }
    export SR_TEST_PG_STANDBY_URL="postgresql://postgres@127.0.0.1:$STANDBY_PORT/strongroom"
    export SR_TEST_PG_URL="postgresql://postgres@127.0.0.1:$PRIMARY_PORT,127.0.0.1:$STANDBY_PORT/strongroom?target_session_attrs=read-write&connect_timeout=2"
fi
"$@"
