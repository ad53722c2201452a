#!/usr/bin/env bash
# Every BYOK refusal is clear, and nothing is stored: the EU package into an NA vault; a package bound
# to another subscription; a flipped byte in a .byok, a KEK package or a Security World package;
# another root; one card of 2/3 or a wrong PIN; packaging the original key; an RSA-1024 key.
# Re-importing a name adds a version and leaves the old one as it was.
. "$(dirname "$0")/lib.sh"
b64url_encode() { base64 -w0 | tr '/+' '_-' | tr -d '='; }
flip() { local b; b=$(xxd -p -s "$2" -l 1 "$1"); printf "%02x" $((0x$b ^ ${3:-0x01})) | xxd -r -p | dd of="$1" bs=1 seek="$2" conv=notrunc status=none; }
byok_server
owner_world
store_digest() { store_sql "$T/vault" "SELECT vault,name,version,$(store_hex blob) FROM keys ORDER BY seq; SELECT * FROM names ORDER BY vault, name;" | sha256sum; }
step "a toolset changed on the server after it was published fails its hash check and is removed"
zip="$T/vault/regions/NA/toolset/KeyVault-BYOK-Tools-NA.zip"
cp "$zip" "$T/na.zip"; printf 'X' | dd of="$zip" bs=1 seek=100 conv=notrunc status=none
expect 1 "published list says" $SR toolset download --region NA --out tampered
[ ! -e tampered/KeyVault-BYOK-Tools-NA.zip ] && [ ! -e tampered/BYOK-KEK-pkg-NA-1 ] || fail "a tampered toolset was kept or unpacked"
cp "$T/na.zip" "$zip"
$SR toolset download --region EU --out tools >/dev/null
cd tools
K=BYOK-KEK-pkg-EU-1 W=BYOK-SecurityWorld-pkg-EU-1
$SR generatekey --generate simple type=RSA size=2048 protect=module ident=k1 plainname=k1 nvram=no pubexp= >/dev/null

step "modify-acls: one card of 2/3, a wrong PIN, or no cards: refused, nothing written"
printf '\n\nowner-3\n' > one.pins
expect 1 "2 of 3" $SR keytransfer modify-acls --key-identifier k1 --exchange-key-package $K --new-security-world-package $W --cards 3 --pin-file one.pins
printf 'owner-1\n\nwrong\n' > wrong.pins
expect 1 "wrong PIN" $SR keytransfer modify-acls --key-identifier k1 --exchange-key-package $K --new-security-world-package $W --cards 1,3 --pin-file wrong.pins
expect 2 "\-\-cards" setsid -w $SR keytransfer modify-acls --key-identifier k1 --exchange-key-package $K --new-security-world-package $W
[ ! -e "$STRONGROOM_KMDATA/local/key_xferacld_k1" ] || fail "a refused modify-acls wrote the copy"

step "package: the original key, or no reduced copy yet: refused"
expect 2 "key_xferacld" $SR keytransfer package --key-identifier k1 --exchange-key-package $K --new-security-world-package $W --subscription-id "$SUB" --key-friendly-name K1
$SR keytransfer modify-acls --key-identifier k1 --exchange-key-package $K --new-security-world-package $W --cards 1,3 --pin-file "$T/owner-pins-13" >/dev/null
expect 2 "key_xferacld" $SR keytransfer package --key-app-name simple --key-identifier k1 --exchange-key-package $K --new-security-world-package $W --subscription-id "$SUB" --key-friendly-name K1
expect 2 "subscription-id" $SR keytransfer package --key-identifier k1 --exchange-key-package $K --new-security-world-package $W --key-friendly-name K1
$SR keytransfer package --key-identifier k1 --exchange-key-package $K --new-security-world-package $W --subscription-id "$SUB" --key-friendly-name K1 >/dev/null
mkdir other && (cd other && $SR keytransfer package --key-identifier k1 --exchange-key-package ../$K --new-security-world-package ../$W --subscription-id someone-else --key-friendly-name K1 >/dev/null)

# On PostgreSQL (STRONGROOM_STORE) the same refusals run, but the byte-by-byte sweeps are sampled: what they
# check apart from the store is the same code the SQLite run sweeps fully, and the store's part (nothing kept)
# is the same for every offset.
PG=${STRONGROOM_STORE:+1}
step "verifykeypackage: another root, and a flipped byte anywhere in either package"
expect 1 "" $SR verifykeypackage -k $K -w $W --root-fingerprint 0000000000000000000000000000000000000000000000000000000000000000
grep -q 'Result: FAILED: the packages chain to a root other than the pinned one' "$T/out" || fail "$(cat "$T/out")"
expect 1 "" $SR verifykeypackage -k $W -w $K
for pkg in $K $W; do
    size=$(stat -c %s $pkg); cp $pkg $pkg.orig
    for off in $(seq 0 $((PG ? 389 : 97)) $((size - 1))) $((size - 1)); do
        flip $pkg $off
        expect 1 "" $SR verifykeypackage -k $K -w $W
        grep -q '^Result: FAILED: ' "$T/out" || fail "flipped byte $off of $pkg: $(tail -1 "$T/out")"
        cp $pkg.orig $pkg
    done
    [ "$(stat -c %s $pkg)" -gt 1000 ] || fail "package size"
done
expect 1 "failed verification" $SR keytransfer package --key-identifier k1 --exchange-key-package $W --new-security-world-package $K --subscription-id "$SUB" --key-friendly-name K2

before=$(store_digest)
step "import: the EU package into a vault of region NA, and into a vault of another subscription"
expect 1 "this vault.s region is NA" env STRONGROOM_VAULT_URL="https://northwind.localhost:$PORT" $SR key import --name K1 --byok-file KeyTransferPackage-K1.byok --destination HSM
expect 1 "another subscription" env STRONGROOM_VAULT_URL="https://fabrikam.localhost:$PORT" $SR key import --name K1 --byok-file KeyTransferPackage-K1.byok --destination HSM
expect 1 "another subscription" $SR key import --name K1 --byok-file other/KeyTransferPackage-K1.byok --destination HSM
step "import: the binding removed, or edited"
jq -c 'del(.header.binding)' KeyTransferPackage-K1.byok > unbound.byok
expect 1 "must carry the binding" $SR key import --name K1 --byok-file unbound.byok --destination HSM
jq -c '.header.binding |= sub("subscription=[^;]*"; "subscription=someone-else")' other/KeyTransferPackage-K1.byok > edited.byok
expect 1 "BadParameter" $SR key import --name K1 --byok-file edited.byok --destination HSM
expect 2 "destination" $SR key import --name K1 --byok-file KeyTransferPackage-K1.byok --destination Software
step "import: one flipped byte anywhere the vault authenticates (header fields, every part of the ciphertext)"
# The offsets come from the file's structure, not its length: the informational "generator" member is
# the one part the vault ignores (tested below), and where it lands depends on the key's PKCS#8 length.
byok=KeyTransferPackage-K1.byok
size=$(stat -c %s $byok)
gen=$(grep -bo ',"generator":"[^"]*"' $byok) || fail "no generator member in the .byok"
gen_start=${gen%%:*}; gen_rest=${gen#*:}; gen_end=$((gen_start + ${#gen_rest}))
ct=$(grep -bo '"ciphertext":"[A-Za-z0-9_-]*"' $byok) || fail "no ciphertext in the .byok"
ct_start=$(( ${ct%%:*} + 14 )); ct_rest=${ct#*:}; ct_end=$(( ${ct%%:*} + ${#ct_rest} - 1 ))
[ "$ct_end" -gt $((ct_start + 400)) ] || fail "ciphertext span $ct_start..$ct_end"
offsets="$(seq 0 $((PG ? 13 : 3)) $((ct_start - 1))) $(seq $ct_start $((PG ? 149 : 37)) $((ct_end - 1))) $((ct_end - 1)) $ct_end"
offsets="$offsets $(seq $ct_end $((size - 1)))"
tried=0
for off in $offsets; do
    [ "$off" -ge "$gen_start" ] && [ "$off" -lt "$gen_end" ] && continue
    byte=$(xxd -p -s "$off" -l 1 $byok)
    [ "$byte" = "0a" ] && continue # the trailing newline is outside the JSON
    cp $byok flipped.byok
    flip flipped.byok $off 0x04
    expect 1 "vault refused" $SR key import --name K1 --byok-file flipped.byok --destination HSM
    tried=$((tried + 1))
done
[ "$tried" -gt $((PG ? 25 : 100)) ] || fail "only $tried offsets tried"
step "import: a key type the vault refuses (RSA-1024), built with openssl against an import KEK"
$SR key create --name Kek --kty RSA-HSM --size 2048 --ops import >/dev/null
$SR key download --name Kek --file kek.pem >/dev/null
KID=$($SR key show --name Kek --output json | jq -r .key.kid)
before=$(store_digest)
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 2>/dev/null | openssl pkcs8 -topk8 -nocrypt -outform DER -out small.p8
openssl rand 32 > a.key
openssl pkeyutl -encrypt -pubin -inkey kek.pem -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha1 -pkeyopt rsa_mgf1_md:sha1 -in a.key -out p1
openssl enc -e -id-aes256-wrap-pad -K "$(xxd -p -c 64 a.key)" -iv A65959A6 -in small.p8 -out p2
jq -n --arg kid "$KID" --arg ct "$(cat p1 p2 | b64url_encode)" '{schema_version:"1.0.0",header:{kid:$kid,alg:"dir",enc:"CKM_RSA_AES_KEY_WRAP"},ciphertext:$ct}' > small.byok
expect 1 "modulus (n) of 2048" $SR key import --name Small --byok-file small.byok --destination HSM
step "import: a package that says EC but holds RSA"
expect 1 "another type" $SR key import --name K1 --byok-file KeyTransferPackage-K1.byok --destination HSM --kty EC-HSM --curve P-256
[ "$before" = "$(store_digest)" ] || fail "a refused import changed the store"
if grep -q ' -> 5' "$SERVER_LOG"; then fail "a 5xx was answered"; fi

step "import: the generator member is informational: edited or removed, the import still succeeds"
jq -c '.generator = "another vendor tool 9.9"' $byok > regenerated.byok
$SR key import --name Gen1 --byok-file regenerated.byok --destination HSM >/dev/null || fail "an edited generator was refused: $(cat "$T/out" 2>/dev/null)"
jq -c 'del(.generator)' $byok > nogenerator.byok
$SR key import --name Gen2 --byok-file nogenerator.byok --destination HSM >/dev/null || fail "a .byok without generator was refused"
[ "$($SR key show --name Gen1 --output json | jq -r .key.n)" = "$($SR key show --name Gen2 --output json | jq -r .key.n)" ] \
    || fail "the two imports hold different keys"

step "re-import under an existing name: a new version; the old one stays as it was"
$SR key import --name K1 --byok-file KeyTransferPackage-K1.byok --destination HSM >/dev/null
v1=$($SR key show --name K1 --output json)
$SR key import --name K1 --byok-file KeyTransferPackage-K1.byok --destination HSM >/dev/null
v2=$($SR key show --name K1 --output json)
[ "$(printf '%s' "$v1" | jq -r .key.kid)" != "$(printf '%s' "$v2" | jq -r .key.kid)" ] || fail "no new version"
old=$(printf '%s' "$v1" | jq -r '.key.kid | split("/") | last')
$SR key show --name K1 --version "$old" --output json | jq -e --argjson a "$v1" '.key == $a.key and .attributes.created == $a.attributes.created' >/dev/null \
    || fail "the old version changed"
stop_server
echo PASS
