# Shared helpers for the end-to-end tests. Each test sources this, gets a scratch
# directory in $T (removed on exit) and $SR pointing at the binary under test.
set -euo pipefail
SR=${STRONGROOM:?set STRONGROOM to the strongroom binary}
T=$(mktemp -d "${TMPDIR:-/tmp}/sr-e2e.XXXXXX")
trap 'rm -rf "$T"' EXIT
cd "$T"
export STRONGROOM_KMDATA="$T/kmdata"
step() { printf '== %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
# expect STATUS PATTERN CMD...: runs CMD, checks its exit status and that stderr matches PATTERN.
expect() {
    local want=$1 pattern=$2; shift 2
    local rc=0
    "$@" >"$T/out" 2>"$T/err" || rc=$?
    [ "$rc" = "$want" ] || fail "'$*' exited $rc, wanted $want; stderr: $(cat "$T/err")"
    grep -q -- "$pattern" "$T/err" || fail "'$*' stderr lacks '$pattern': $(cat "$T/err")"
    if grep -q 'AddressSanitizer\|runtime error' "$T/err"; then fail "sanitizer report from '$*'"; fi
}
# tree_digest DIR: one hash over every file's path, mode and content.
tree_digest() { (cd "$1" && find . -type f -printf '%p %m\n' -exec sha256sum {} \; | sort | sha256sum); }
