#!/usr/bin/env bash
# bench/run.sh: kept for habit; the one benchmark is bench/http.sh (it also measures the module alone).
exec "$(dirname "$0")/http.sh" "$@"
