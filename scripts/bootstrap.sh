#!/bin/sh
# Install every Debian package the build, the tests and `make run` need.
# Idempotent: does nothing when all packages are present.
set -eu
PKGS="build-essential cmake pkg-config openssl libssl-dev libgfshare-dev libcmocka-dev \
libmicrohttpd-dev libgnutls28-dev libjansson-dev libcurl4-openssl-dev libzip-dev jq libsqlite3-dev sqlite3 libpq-dev postgresql xxd curl ca-certificates nodejs npm zip unzip clang clang-tools libclang-rt-14-dev \
libp11-kit-dev opensc gnutls-bin libengine-pkcs11-openssl softhsm2 chromium \
libtss2-dev swtpm swtpm-tools tpm2-tools python3-azure"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# node/npm may come from outside Debian (e.g. a preinstalled Node.js); accept the commands
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
    missing=$(echo "$missing" | tr ' ' '\n' | grep -vx -e nodejs -e npm | tr '\n' ' ')
fi
missing=$(echo "$missing" | xargs)
[ -z "$missing" ] && exit 0
echo "bootstrap: installing: $missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
