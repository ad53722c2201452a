#!/usr/bin/env bash
# t8004 with libstrongroom-pkcs11.so as the region's token instead of SoftHSMv2 (issue 22, item 8).
SR_HSM_TOKEN=strongroom exec bash "$(dirname "$0")/t8004-hsm-sdk.sh"
