#!/usr/bin/env bash
# Secrets stay out of core dumps: the server (which holds every region's world key) aborted with SIGABRT
# leaves no core file, where an ordinary process in the same place and limits does leave one (the
# control: without it, "no core" could just mean this machine writes none). The test is skipped (77)
# only when the control itself cannot dump here.
. "$(dirname "$0")/lib.sh"
mkdir cores && cd cores
ulimit -c 204800 # 200 MB: enough for a control, and a bound should a regression dump the server
step "control: a plain process aborted here leaves a core"
bash -c 'kill -ABRT $$' 2>/dev/null || true
if ! ls core* >/dev/null 2>&1; then
    echo "SKIP: this machine writes no core files here (core_pattern: $(cat /proc/sys/kernel/core_pattern))"
    exit 77
fi
rm -f core*
step "the server aborted with its world keys loaded leaves none"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}disable_coredump=0:handle_abort=0" # ASan would hide cores anyway
start_server "$T/data" --dev --quiet
TOKEN=$(cat "$T/data/dev-token")
api POST "/keys/k/create?api-version=7.5" '{"kty":"EC"}' >/dev/null # a key loaded in the module
kill -ABRT "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
trap 'rm -rf "$T"' EXIT
sleep 0.5
! ls core* >/dev/null 2>&1 || fail "the server left a core file: $(ls -l core*)"
echo PASS
