#!/usr/bin/env bash
# BYOK of an AES key from the key owner's module (the Azure BYOK specification's symmetric target):
# generatekey type=AES, the reduced copy, the package, and the vault's oct-HSM import; the key then
# encrypts and decrypts in the vault, its attestation says transferred, and it never shows a public half.
. "$(dirname "$0")/lib.sh"
byok_server
owner_world
$SR toolset download --region EU --out tools >/dev/null
cd tools

step "the owner's module makes an AES-256 key; it has no public half and signs nothing"
$SR generatekey --generate simple type=AES size=256 protect=module ident=aeskey plainname=aeskey nvram=no >/dev/null
$SR kmfile-dump "$STRONGROOM_KMDATA/local/key_simple_aeskey" | tee dump.txt
grep -Eq '^  type +AES$' dump.txt && grep -Eq '^  size +256$' dump.txt && grep -Eq '^  origin +generated$' dump.txt ||
    fail "kmfile-dump of an AES key"
expect 2 'public half' $SR pubkey --ident aeskey
expect 2 'size=128' $SR generatekey --generate simple type=AES size=512 protect=module ident=bad nvram=no

step "reduced copy and package, as for any key"
$SR keytransfer -ModifyAcls -KeyAppName simple -KeyIdentifier aeskey -ExchangeKeyPackage BYOK-KEK-pkg-EU-1 \
    -NewSecurityWorldPackage BYOK-SecurityWorld-pkg-EU-1 --cards 1,3 --pin-file "$T/owner-pins-13" | grep -q '^Result: SUCCESS$'
$SR kmfile-dump "$STRONGROOM_KMDATA/local/key_xferacld_aeskey" | grep -q 'Action: ExportToKey' || fail "the reduced copy's ACL"
$SR keytransfer package --key-identifier aeskey --exchange-key-package BYOK-KEK-pkg-EU-1 \
    --new-security-world-package BYOK-SecurityWorld-pkg-EU-1 --subscription-id "$SUB" --key-friendly-name Aes | grep -q '^Result: SUCCESS$'

step "imported as oct-HSM only; it encrypts and decrypts in the vault"
expect 1 'cannot be opened' $SR key import --name AesAsRsa --byok-file KeyTransferPackage-Aes.byok --destination HSM --kty RSA-HSM
$SR key import --name Aes --byok-file KeyTransferPackage-Aes.byok --destination HSM --kty oct-HSM -o json > imp.json
jq -e '.key.kty == "oct-HSM" and .key.k == null' imp.json >/dev/null || fail "the import: $(cat imp.json)"
VHOST=contoso.localhost TOKEN=$STRONGROOM_TOKEN api POST "/keys/Aes/encrypt?api-version=7.5" '{"alg":"A256GCM","value":"c2VjcmV0IGRhdGE"}' > enc.json
VHOST=contoso.localhost TOKEN=$STRONGROOM_TOKEN api POST "/keys/Aes/decrypt?api-version=7.5" \
    "$(jq '{alg: "A256GCM", value, iv, tag}' enc.json)" > dec.json
[ "$(jq -r .value dec.json)" = c2VjcmV0IGRhdGE ] || fail "round trip: $(cat dec.json)"
$SR key attestation --name Aes --root-fingerprint "$($SR root show --data "$T/vault")" | grep -Eq '^  origin +transferred$' ||
    fail "the attestation of the transferred AES key"
stop_server
echo PASS
