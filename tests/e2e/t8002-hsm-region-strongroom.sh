#!/usr/bin/env bash
# t8001 with libstrongroom-pkcs11.so as the region's token instead of SoftHSMv2 (issue 22, item 8).
SR_HSM_TOKEN=strongroom exec bash "$(dirname "$0")/t8001-hsm-region.sh"
