#!/usr/bin/env bash
# t8003 with libstrongroom-pkcs11.so as the region's token: its module directory goes away under load and comes back.
SR_HSM_TOKEN=strongroom exec bash "$(dirname "$0")/t8003-hsm-token-removed.sh"
