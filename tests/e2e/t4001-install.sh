#!/usr/bin/env bash
# make install (PREFIX, DESTDIR): the binary, the PKCS#11 library, its man page and a systemd unit whose sandbox is hardened
# (a dedicated user, ProtectSystem=strict, NoNewPrivileges, a StateDirectory) and whose ExecStart runs.
. "$(dirname "$0")/lib.sh"
make -s -C "$SR_SOURCE_DIR" install-files BUILD="$(dirname "$SR")" DESTDIR="$T/root" PREFIX=/usr >/dev/null
[ -x "$T/root/usr/bin/strongroom" ] || fail "no binary"
"$T/root/usr/bin/strongroom" --help | grep -q 'run the key vault' || fail "the installed binary does not run"
lib="$T/root/usr/lib/libstrongroom-pkcs11.so"
[ -x "$lib" ] || fail "no PKCS#11 library"
# Its entry points, and nothing else: C_GetFunctionList (2.40), C_GetInterface and C_GetInterfaceList (3.0).
[ "$(nm -D --defined-only "$lib" | awk '{print $3}' | sort | tr '\n' ' ')" = "C_GetFunctionList C_GetInterface C_GetInterfaceList " ] ||
    fail "the PKCS#11 library exports other symbols than its three entry points: $(nm -D --defined-only "$lib" | head -5)"
grep -q '^\.TH STRONGROOM 1' "$T/root/usr/share/man/man1/strongroom.1" || fail "no man page"
man1="$T/root/usr/share/man/man1"
for group in key token audit region vault serve backup keytransfer pkcs11; do
    grep -q "^\.TH STRONGROOM\\\\-" "$man1/strongroom-$group.1" || fail "no man page for $group"
done
grep -q 'signature\\-format' "$man1/strongroom-key.1" || fail "the key page lacks key sign's options"
grep -q 'STRONGROOM_TOKEN' "$man1/strongroom-key.1" || fail "the key page lacks its environment"
if command -v groff >/dev/null && groff -man -Tutf8 -ww -z "$man1/strongroom-key.1" 2>&1 | grep -q .; then
    fail "groff warns about the key page: $(groff -man -Tutf8 -ww -z "$man1/strongroom-key.1" 2>&1 | head -3)"
fi
comp="$T/root/usr/share/bash-completion/completions/strongroom"
[ -s "$comp" ] || fail "no bash completion"
out=$(bash -c ". '$comp'; COMP_WORDS=(strongroom key si); COMP_CWORD=2; _strongroom; echo \${COMPREPLY[*]}")
[ "$out" = sign ] || fail "completion of 'key si' gave '$out'"
out=$(bash -c ". '$comp'; COMP_WORDS=(strongroom key sign --sig); COMP_CWORD=3; _strongroom; echo \${COMPREPLY[*]}")
[ "$out" = "--signature-format" ] || fail "completion of 'key sign --sig' gave '$out'"
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
