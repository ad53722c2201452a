#!/usr/bin/env bash
# docs/formats.md says how to verify a KEK package with jq and the openssl command line alone,
# without trusting Strongroom's verifier. These are that page's commands, run as written.
. "$(dirname "$0")/lib.sh"
byok_server
$SR toolset download --region EU --out tools >/dev/null
cd tools
PKG=BYOK-KEK-pkg-EU-1
PINNED=$($SR root show --data "$T/vault" | tr -d ' ')

# --- from docs/formats.md, "Verifying a package by hand" ---
jq -r .root    $PKG > root.pem
jq -r .warrant $PKG > warrant.pem
jq -r .payload $PKG | base64 -d > payload.json
jq -r .signature $PKG | base64 -d > payload.sig
# 1. the root is the one the operator published
openssl x509 -in root.pem -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum
# 2. the warrant chains to that root
openssl verify -CAfile root.pem warrant.pem
# 3. the module's identity key (in the warrant) signed the payload
openssl x509 -in warrant.pem -pubkey -noout > module.pub.pem
openssl dgst -sha384 -verify module.pub.pem -signature payload.sig payload.json
# 4. the claims
jq '{kid: .kid, region: .region, exportable: .exportable, generated_in_module: .generated_in_module, acl: .acl, module: .module, world: .world}' payload.json
# 5. the KEK's public key matches its hash
jq -r .key.public_key payload.json | base64 -d | sha256sum
jq -r .key.key_hash payload.json
# --- end ---

[ "$(openssl x509 -in root.pem -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum | cut -c1-64)" = "$PINNED" ] || fail "root fingerprint"
openssl verify -CAfile root.pem warrant.pem | grep -q ': OK'
openssl dgst -sha384 -verify module.pub.pem -signature payload.sig payload.json | grep -q 'Verified OK'
[ "$(openssl x509 -in warrant.pem -noout -subject | sed 's/.*CN = //')" = "$(jq -r .module.esn payload.json)" ] || fail "warrant names the module"
jq -e '.exportable == false and .generated_in_module == true and .acl == ["Import"]' payload.json >/dev/null
[ "$(jq -r .key.public_key payload.json | base64 -d | sha256sum | cut -c1-64)" = "$(jq -r .key.key_hash payload.json)" ] || fail "key hash"
step "a changed claim fails the signature check"
jq -c '.exportable = true' payload.json | tr -d '\n' > forged.json
if openssl dgst -sha384 -verify module.pub.pem -signature payload.sig forged.json >/dev/null 2>&1; then fail "forged payload verified"; fi
stop_server
echo PASS
