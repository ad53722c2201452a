#!/usr/bin/env bash
# Every SR_AUTO* variable is initialised where it is declared: its cleanup runs on every way out of the
# scope, the first early return included, so an uninitialised one frees or wipes stack garbage (issue 10:
# an SR_AUTO_BUF declared without '= {0}' before a return was freed uninitialised). This fails on any
# declaration without an initialiser, and first proves on a planted one that it would.
set -euo pipefail
root=${1:?usage: auto-init.sh SOURCE_DIR}
pattern='\bSR_AUTO(_[A-Z0-9_]+|\([A-Za-z0-9_]+\))[[:space:]]+[^;=()]*[A-Za-z0-9_]\]?[[:space:]]*;'
scan() { grep -rnE "$pattern" "$@" --include='*.c' --include='*.h' | grep -v '#define' || true; }

planted=$(mktemp -d)
trap 'rm -rf "$planted"' EXIT
printf 'void f(void)\n{\n    SR_AUTO_BUF struct sr_buf b;\n    SR_AUTO(sr_closep) int fd;\n    SR_AUTO_JSON json_t *ok = NULL;\n}\n' > "$planted/bad.c"
[ "$(scan "$planted" | wc -l)" = 2 ] || { echo "FAIL: the checker misses a planted uninitialised SR_AUTO variable"; exit 1; }

found=$(scan "$root/src" "$root/fuzz" "$root/tests")
if [ -n "$found" ]; then
    printf 'FAIL: SR_AUTO variables declared without an initialiser:\n%s\n' "$found"
    exit 1
fi
echo "PASS: every SR_AUTO variable in src/, fuzz/ and tests/ is initialised at its declaration"
