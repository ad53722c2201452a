#!/usr/bin/env bash
# make install (PREFIX, DESTDIR): the binary, its man page and a systemd unit whose sandbox is hardened
# (a dedicated user, ProtectSystem=strict, NoNewPrivileges, a StateDirectory) and whose ExecStart runs.
. "$(dirname "$0")/lib.sh"
make -s -C "$SR_SOURCE_DIR" install-files BUILD="$(dirname "$SR")" DESTDIR="$T/root" PREFIX=/usr >/dev/null
[ -x "$T/root/usr/bin/strongroom" ] || fail "no binary"
"$T/root/usr/bin/strongroom" --help | grep -q 'run the key vault' || fail "the installed binary does not run"
grep -q '^\.TH STRONGROOM 1' "$T/root/usr/share/man/man1/strongroom.1" || fail "no man page"
unit="$T/root/usr/lib/systemd/system/strongroom.service"
for want in 'DynamicUser=yes' 'User=strongroom' 'ProtectSystem=strict' 'NoNewPrivileges=yes' 'StateDirectory=strongroom' \
            'CapabilityBoundingSet=$' 'ExecStart=/usr/bin/strongroom serve --data ${STATE_DIRECTORY}'; do
    grep -q "^$want" "$unit" || fail "the unit lacks $want"
done
! grep -q '@BINDIR@' "$unit" || fail "an unsubstituted @BINDIR@"
if command -v systemd-analyze >/dev/null; then
    systemd-analyze verify --root="$T/root" "$unit" 2>&1 | grep -v 'Cannot find\|not executable\|Failed to' | grep -i 'error' && fail "systemd-analyze"
fi
echo PASS
