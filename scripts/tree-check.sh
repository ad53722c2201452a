#!/bin/sh
# tree-check.sh save FILE | compare FILE: `make test` must leave the source tree as it found it (no file a
# test wrote beside the sources, none changed). save records `git status --porcelain` before the run;
# compare fails, naming the difference, when the status after it is another. Outside a git checkout (a
# source tarball) there is nothing to compare, and it says so.
set -eu
mode=$1 file=$2
if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    [ "$mode" = save ] && echo "tree-check: not a git checkout; the tree is not checked" >&2
    exit 0
fi
case $mode in
    save) git status --porcelain > "$file" ;;
    compare)
        after=$(mktemp)
        git status --porcelain > "$after"
        if ! cmp -s "$file" "$after"; then
            echo "make test changed the source tree (git status before and after):" >&2
            diff "$file" "$after" >&2 || true
            rm -f "$after"
            exit 1
        fi
        rm -f "$after"
        echo "tree-check: make test left the source tree as it found it"
        ;;
    *) echo "usage: tree-check.sh save|compare FILE" >&2; exit 2 ;;
esac
