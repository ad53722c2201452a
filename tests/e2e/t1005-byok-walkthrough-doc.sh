#!/usr/bin/env bash
# docs/byok-walkthrough.md, run verbatim: every '$ ' line of its ```sh server|connected|disconnected
# blocks, in that machine's own directory, in the page's order. Only the PIN files the page names, the
# USB stick, the hand-over and backup directories are made here. A command that fails fails the test, so
# the page cannot drift from the program.
. "$(dirname "$0")/lib.sh"
unset STRONGROOM_KMDATA
mkdir -p bin server connected disconnected usb handover backup
ln -s "$SR" bin/strongroom
export PATH="$T/bin:$PATH" USB="$T/usb" HANDOVER="$T/handover" BACKUP="$T/backup"
printf 'region-pin-1\n' > server/region-pin
printf 'admin-pin-1\nadmin-pin-2\nadmin-pin-3\n' > disconnected/admin-pins
printf 'admin-pin-1\n\nadmin-pin-3\n' > disconnected/admin-pins-13
chmod 600 server/region-pin disconnected/admin-pins*

# The page's commands as one script: 'cd MACHINE' before each block; a trailing backslash continues a line.
awk -v T="$T" '
    /^```sh (server|connected|disconnected)$/ { machine = $2; printf "cd \"%s/%s\"\n", T, machine; next }
    /^```/ { machine = ""; next }
    machine != "" && /^\$ / { cmd = substr($0, 3); cont = (cmd ~ /\\$/); print cmd; next }
    machine != "" && cont { print; cont = ($0 ~ /\\$/) }
' "$SR_SOURCE_DIR/docs/byok-walkthrough.md" > walkthrough.sh
n=$(grep -vc '^cd ' walkthrough.sh)
[ "$n" -ge 25 ] || fail "only $n commands found in the page: $(cat walkthrough.sh)"
step "running the page's $n commands"
rc=0
bash -euo pipefail -x walkthrough.sh > walkthrough.out 2>&1 || rc=$?
pid=$(head -1 server/vault-data/serve.lock 2>/dev/null || true)
[ -n "$pid" ] && kill "$pid" 2>/dev/null && while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
[ "$rc" = 0 ] || { tail -30 walkthrough.out; fail "a command of docs/byok-walkthrough.md failed"; }
grep -q 'Verified OK' walkthrough.out || fail "the page's last check did not print Verified OK"
! grep -q 'AddressSanitizer\|runtime error' walkthrough.out || fail "a sanitizer report"
[ ! -e connected/kmdata ] || fail "the connected workstation got a module"
[ -s backup/kmdata-local.tgz ] && ls backup/acs_*_1.card >/dev/null || fail "the backup step did not back up"
echo PASS
