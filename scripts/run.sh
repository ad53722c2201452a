#!/usr/bin/env bash
# `make run`: the development vault. On first start `serve --dev` makes a manufacturer root,
# region DEV with a 1-of-1 card set, vault `dev` and an Administrator token, and prints how to
# use them. Data stays in ./strongroom-data. Ctrl-C stops it (requests in flight finish first).
# The key owner's HSM walkthrough is scripts/hsm-demo.sh.
set -euo pipefail
SR=$(realpath "${1:-build/strongroom}")
exec "$SR" serve --dev --data "${STRONGROOM_DATA:-strongroom-data}" --listen "${STRONGROOM_LISTEN:-127.0.0.1:8443}"
