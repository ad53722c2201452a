#!/usr/bin/env bash
# BYOK with PKCS#11 calls alone (the "any PKCS#11 HSM" path of docs/byok-walkthrough.md): the vault's import
# KEK is downloaded, the security officer (a quorum of the owner's cards) stores it as a trusted wrapping
# key, a key made extractable in the token is wrapped under it with CKM_RSA_AES_KEY_WRAP by
# `strongroom pkcs11 byok` through libstrongroom-pkcs11.so, and the .byok imports into the vault, which
# then signs as that very key (openssl verifies with the public key the token gives). A key not made
# extractable, and a KEK nobody trusted, are refused.
. "$(dirname "$0")/lib.sh"
byok_server
VHOST=contoso.localhost TOKEN=$STRONGROOM_TOKEN
export STRONGROOM_KMDATA="$T/owner"
p11_module_setup
printf '1:card-1,3:card-3\n' > "$T/so-pin"

step "the vault's import KEK, downloaded"
$SR key create --name ImportKek --kty RSA-HSM --size 3072 --ops import >/dev/null
$SR key download --name ImportKek --file kek.pem >/dev/null
KID=$(api GET "/keys/ImportKek?api-version=7.5" | jq -r .key.kid)

for spec in ec:P-256 rsa:2048; do
    label="byok-${spec/:/-}"
    step "$spec: made extractable in the token, wrapped by PKCS#11 calls, imported, signing as itself"
    $SR pkcs11 byok --module "$P11LIB" --pin-file "$T/user-pin" --so-pin-file "$T/so-pin" --kek-file kek.pem \
        --kid "$KID" --key-label "$label" --generate "$spec" --out "$label.byok" | grep -q 'CKM_RSA_AES_KEY_WRAP' ||
        fail "pkcs11 byok $spec"
    jq -e --arg kid "$KID" '.header.kid == $kid and .header.enc == "CKM_RSA_AES_KEY_WRAP"' "$label.byok" >/dev/null ||
        fail "the .byok: $(cat "$label.byok")"
    kty=$([ "${spec%%:*}" = ec ] && echo EC-HSM || echo RSA-HSM)
    api PUT "/keys/$label?api-version=7.5" "{\"key\":{\"kty\":\"$kty\",\"key_hsm\":\"$(b64u < "$label.byok")\"}}" > imp.json
    [ "$(cat "$T/status")" = 200 ] || fail "import of the PKCS#11 package: $(cat imp.json)"
    GNUTLS_PIN=$USER_PIN p11 p11tool --provider "$P11LIB" --login \
        --export-pubkey "pkcs11:serial=$ESN;object=$label;type=public" --outfile "$label.pem" 2>/dev/null
    $SR key download --name "$label" --file "vault-$label.pem" >/dev/null
    cmp "$label.pem" "vault-$label.pem" || fail "the vault's key is not the token's"
    echo "signed in the vault" > data
    if [ "${spec%%:*}" = ec ]; then sign=(--alg ES256 --signature-format der); else sign=(--alg RS256); fi
    $SR key sign --name "$label" "${sign[@]}" --in data --out "$label.sig" >/dev/null
    openssl dgst -sha256 -verify "$label.pem" -signature "$label.sig" data | grep -q 'Verified OK' ||
        fail "openssl rejects the vault's signature with the token's public key"
done

step "refused: a key not made extractable, a KEK the security officer did not trust"
$P11TOOL --login --pin "$USER_PIN" --keypairgen --key-type EC:prime256v1 --id 0a --label stays >/dev/null 2>&1
expect 1 'CKR_KEY_UNEXTRACTABLE' $SR pkcs11 byok --module "$P11LIB" --pin-file "$T/user-pin" --kek-file kek.pem \
    --kid "$KID" --key-label stays --out stays.byok
[ ! -e stays.byok ] || fail "a .byok of a key that was not extractable"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 2>/dev/null | openssl pkey -pubout > other.pem
expect 2 'not a trusted wrapping key' $SR pkcs11 byok --module "$P11LIB" --pin-file "$T/user-pin" --kek-file other.pem \
    --kid "$KID" --key-label byok-ec-P-256 --out other.byok
printf '1:card-1\n' > "$T/one-card"
expect 1 'CKR_PIN_INCORRECT' $SR pkcs11 byok --module "$P11LIB" --pin-file "$T/user-pin" --so-pin-file "$T/one-card" \
    --kek-file other.pem --kid "$KID" --key-label byok-ec-P-256 --out other.byok
step "another vendor's library without CKM_RSA_AES_KEY_WRAP (SoftHSMv2 2.6): refused before anything is stored"
softhsm=$(dpkg -L libsofthsm2 2>/dev/null | grep 'libsofthsm2\.so$' | head -1)
if [ -n "$softhsm" ]; then
    mkdir softhsm
    printf 'directories.tokendir = %s/softhsm\nobjectstore.backend = file\nlog.level = ERROR\n' "$T" > softhsm2.conf
    export SOFTHSM2_CONF=$T/softhsm2.conf
    softhsm2-util --init-token --free --label byok --so-pin 12345678 --pin 123456 >/dev/null
    echo 123456 > softhsm-pin
    echo 12345678 > softhsm-so-pin
    expect 1 'does not offer CKM_RSA_AES_KEY_WRAP' $SR pkcs11 byok --module "$softhsm" --pin-file softhsm-pin \
        --so-pin-file softhsm-so-pin --kek-file kek.pem --kid "$KID" --key-label k --generate ec:P-256 --out soft.byok
    [ ! -e soft.byok ] || fail "a .byok from a library without the mechanism"
fi
stop_server
echo PASS
