#!/usr/bin/env bash
# The guide from "Download the BYOK toolset" to "Transfer your key", then use: a vault in region EU
# with a subscription id, the key owner's module with a 2/3 card set, toolset download with its hash
# checked, verifykeypackage, generatekey RSA-2048 and EC P-256, modify-acls with 2 cards, package,
# import to HSM, and a signature through the API that openssl verifies against the public key the
# owner's module printed before the transfer: the same key on both sides.
. "$(dirname "$0")/lib.sh"
byok_server
owner_world

step "get the subscription id (vault show)"
$SR vault show | tee vault.out
grep -q "subscription id  $SUB" vault.out
grep -q 'region           EU' vault.out

step "download the toolset for the region and check its SHA-256"
$SR toolset download --region EU --out tools | tee dl.out
grep -q 'SHA-256 matches the published list' dl.out
hash=$(grep '^SHA256' dl.out | awk '{print $2}')
[ "$hash" = "$(sha256sum tools/KeyVault-BYOK-Tools-EU.zip | awk '{print toupper($1)}')" ] || fail "printed hash"
$SR toolset hash tools/KeyVault-BYOK-Tools-EU.zip | grep -q "$hash"
cd tools

step "validate the downloaded package"
$SR verifykeypackage -k BYOK-KEK-pkg-EU-1 -w BYOK-SecurityWorld-pkg-EU-1 | tee verify.out
grep -q '^Result: SUCCESS$' verify.out
[ "$(grep -c '^Check: .* OK$' verify.out)" -ge 15 ] || fail "every check printed"

for key in rsa ec; do
    if [ $key = rsa ]; then
        step "create an RSA-2048 key"
        $SR generatekey --generate simple type=RSA size=2048 protect=module ident=contosokey plainname=contosokey nvram=no pubexp= >/dev/null
        ident=contosokey name=ContosoFirstHSMkey kty=RSA-HSM alg=RS256 dgst=-sha256
    else
        step "create an EC P-256 key"
        $SR generatekey --generate simple type=EC curve=P-256 protect=module ident=contosoec plainname=contosoec nvram=no >/dev/null
        ident=contosoec name=ContosoEcKey kty=EC-HSM alg=ES256 dgst=-sha256
    fi
    $SR pubkey --ident $ident > $ident.owner.pem
    step "copy with reduced permissions, with 2 of the 3 admin cards (the guide's spelling)"
    $SR keytransfer -ModifyAcls -KeyAppName simple -KeyIdentifier $ident -ExchangeKeyPackage BYOK-KEK-pkg-EU-1 \
        -NewSecurityWorldPackage BYOK-SecurityWorld-pkg-EU-1 --cards 1,3 --pin-file "$T/owner-pins-13" | tee acl.out
    grep -q '^Result: SUCCESS$' acl.out
    [ -f "$STRONGROOM_KMDATA/local/key_simple_$ident" ] || fail "the original key must stay"
    $SR kmfile-dump "$STRONGROOM_KMDATA/local/key_xferacld_$ident" > xfer.dump
    grep -q 'Action: ExportToKey' xfer.dump
    ! grep -q 'Action: Sign' xfer.dump || fail "the reduced copy keeps only ExportToKey"
    step "encrypt the key with the vault's KEK (option names of SPEC section 1)"
    $SR keytransfer package --key-identifier $ident --exchange-key-package BYOK-KEK-pkg-EU-1 \
        --new-security-world-package BYOK-SecurityWorld-pkg-EU-1 --subscription-id "$SUB" --key-friendly-name $name | tee pkg.out
    grep -q '^Result: SUCCESS$' pkg.out
    jq -e '.schema_version == "1.0.0" and .header.alg == "dir" and .header.enc == "CKM_RSA_AES_KEY_WRAP"
           and .header.kid == "urn:strongroom:kek:EU:1" and (.header.binding | contains("subscription='"$SUB"'"))' \
        KeyTransferPackage-$name.byok >/dev/null || fail "the .byok format"
    step "upload to the vault, destination HSM"
    if [ $kty = EC-HSM ]; then extra=(--kty EC-HSM --curve P-256); else extra=(); fi
    $SR key import --name $name --byok-file KeyTransferPackage-$name.byok --destination HSM "${extra[@]}" | tee import.out
    grep -Eq "^kty +$kty$" import.out
    step "use the key through the API; openssl verifies with the owner's public key"
    head -c 1000 /dev/urandom > data
    $SR key sign --name $name --alg $alg --in data --out sig >/dev/null
    if [ $kty = EC-HSM ]; then
        python3 -c 'import sys;raw=open("sig","rb").read();h=len(raw)//2
def i(b):
    b=b.lstrip(b"\0") or b"\0"
    return b"\x02"+bytes([len(b)+(b[0]>>7)])+(b"\0" if b[0]&0x80 else b"")+b
body=i(raw[:h])+i(raw[h:]);open("sig","wb").write(b"\x30"+bytes([len(body)])+body)'
    fi
    openssl dgst $dgst -verify $ident.owner.pem -signature sig data
    $SR key show --name $name --output json | jq -e '.key.d == null' >/dev/null
done
stop_server
echo PASS
