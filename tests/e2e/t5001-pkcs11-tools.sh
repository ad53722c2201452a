#!/usr/bin/env bash
# libstrongroom-pkcs11.so through the tools an integrator uses, none of them ours: OpenSC's pkcs11-tool
# (slots, mechanisms, key pairs, signatures openssl verifies, its own --test), GnuTLS's p11tool (the
# token and its objects by PKCS#11 URI) and OpenSSL through libp11's engine (a pkcs11: URI signs). Keys
# made through PKCS#11 are the module's key files (kmfile-dump, aclprint); keys generatekey made are
# objects too. A wrong PIN, a read-only session and a removed key are refused as PKCS#11 says.
. "$(dirname "$0")/lib.sh"
p11_module_setup

step "pkcs11-tool: the slot, the token and its mechanisms"
$P11TOOL -L > slots.txt
grep -q "Strongroom module $ESN" slots.txt && grep -q "serial num *: $ESN" slots.txt &&
    grep -q 'token flags *: login required, rng, token initialized, PIN initialized' slots.txt || fail "slots: $(cat slots.txt)"
$P11TOOL -M > mechs.txt
for m in RSA-PKCS-KEY-PAIR-GEN ECDSA-KEY-PAIR-GEN AES-KEY-GEN SHA256-RSA-PKCS RSA-PKCS-PSS SHA512-RSA-PKCS-PSS \
         ECDSA-SHA384 RSA-PKCS-OAEP AES-GCM AES-CBC-PAD AES-KEY-WRAP SHA256; do
    grep -q "^  $m," mechs.txt || fail "mechanism $m not listed: $(cat mechs.txt)"
done

step "key pairs made through PKCS#11 are module key files"
$P11TOOL --login --pin "$USER_PIN" --keypairgen --key-type rsa:2048 --id 01 --label rsa-one >/dev/null
$P11TOOL --login --pin "$USER_PIN" --keypairgen --key-type EC:prime256v1 --id 02 --label ec-one >/dev/null
[ -f "$STRONGROOM_KMDATA/local/key_pkcs11_01" ] && [ -f "$STRONGROOM_KMDATA/local/key_pkcs11_02" ] || fail "no key files"
$SR kmfile-dump "$STRONGROOM_KMDATA/local/key_pkcs11_01" | grep -q 'rsa-one' || fail "kmfile-dump does not show the PKCS#11 key"
$SR aclprint --app pkcs11 --ident 01 | grep -q Sign || fail "aclprint of the PKCS#11 key"
$SR generatekey --generate simple type=RSA size=2048 protect=module ident=gen-one >/dev/null
$P11TOOL --login --pin "$USER_PIN" -O > objects.txt
grep -q 'label: *gen-one' objects.txt && grep -q 'label: *rsa-one' objects.txt && grep -q 'label: *ec-one' objects.txt ||
    fail "objects: $(cat objects.txt)"
grep -q 'Access: *sensitive, always sensitive, never extractable, local' objects.txt || fail "private key access flags"

step "signatures the openssl command line verifies"
echo "signed through PKCS#11" > data
$P11TOOL --login --pin "$USER_PIN" --sign --id 01 -m SHA256-RSA-PKCS -i data -o rsa.sig >/dev/null
$P11TOOL --read-object --type pubkey --id 01 -o rsa.der >/dev/null
openssl pkey -pubin -inform DER -in rsa.der -out rsa.pem
openssl dgst -sha256 -verify rsa.pem -signature rsa.sig data | grep -q 'Verified OK' || fail "openssl rejects the RSA signature"
$P11TOOL --login --pin "$USER_PIN" --sign --id 01 -m SHA256-RSA-PKCS-PSS -i data -o pss.sig >/dev/null
openssl dgst -sha256 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 -verify rsa.pem -signature pss.sig data |
    grep -q 'Verified OK' || fail "openssl rejects the PSS signature"
$P11TOOL --login --pin "$USER_PIN" --sign --id 02 -m ECDSA-SHA256 --signature-format openssl -i data -o ec.sig >/dev/null
# pkcs11-tool's own reading of an EC public key frees a buffer it then reads (OpenSC 0.23 with OpenSSL 3, seen
# by the sanitizer this test preloads), so the EC key's public half is read with p11tool instead.
GNUTLS_PIN=$USER_PIN p11 p11tool --provider "$P11LIB" --login --export-pubkey "pkcs11:manufacturer=Strongroom;id=%02;type=public" \
    --outfile ec.pem 2>/dev/null
openssl dgst -sha256 -verify ec.pem -signature ec.sig data | grep -q 'Verified OK' || fail "openssl rejects the ECDSA signature"
# The command line uses a key made through the library only after the same user PIN (issue 29, item 6).
echo wrong-pin > "$T/wrong-pin"
expect 2 'pin-file' $SR sign --app pkcs11 --ident 01 --alg RS256 --in data --out cli.sig </dev/null
expect 1 'wrong PKCS#11 user PIN' $SR sign --app pkcs11 --ident 01 --alg RS256 --in data --out cli.sig --pin-file "$T/wrong-pin"
[ ! -e cli.sig ] || fail "a signature was written without the user PIN"
$SR sign --app pkcs11 --ident 01 --alg RS256 --in data --out cli.sig --pin-file "$T/user-pin" >/dev/null ||
    fail "strongroom sign with the user PIN"
openssl dgst -sha256 -verify rsa.pem -signature cli.sig data | grep -q 'Verified OK' || fail "openssl rejects strongroom sign's signature"
$SR pubkey --ident gen-one > gen-one.pem
$P11TOOL --login --pin "$USER_PIN" --sign --label gen-one -m SHA384-RSA-PKCS -i data -o gen.sig >/dev/null
openssl dgst -sha384 -verify gen-one.pem -signature gen.sig data | grep -q 'Verified OK' || fail "generatekey's key through PKCS#11"

step "pkcs11-tool --test"
$P11TOOL --login --pin "$USER_PIN" --test > selftest.txt 2>&1 || fail "pkcs11-tool --test: $(tail -20 selftest.txt)"
grep -q '^No errors' selftest.txt || fail "pkcs11-tool --test: $(tail -20 selftest.txt)"

step "p11tool: the token and its objects by PKCS#11 URI"
p11 p11tool --provider "$P11LIB" --list-tokens > tokens.txt
grep -q "URL: pkcs11:model=software%20HSM;manufacturer=Strongroom;serial=$ESN;token=" tokens.txt || fail "p11tool tokens: $(cat tokens.txt)"
GNUTLS_PIN=$USER_PIN p11 p11tool --provider "$P11LIB" --login --list-all "pkcs11:serial=$ESN" > all.txt
grep -q "id=%01;object=rsa-one;type=private" all.txt && grep -q "id=%02;object=ec-one;type=public" all.txt ||
    fail "p11tool objects: $(cat all.txt)"
p11 p11tool --provider "$P11LIB" --list-all "pkcs11:serial=$ESN" > public.txt
! grep -q 'type=private' public.txt || fail "private keys are listed without login"

step "OpenSSL signs through the library with a pkcs11: URI (libp11's engine)"
engine=$(openssl version -e | sed -n 's/^ENGINESDIR: "\(.*\)"/\1/p')/pkcs11.so
[ -f "$engine" ] || fail "no pkcs11 engine at $engine (Debian libengine-pkcs11-openssl)"
printf 'openssl_conf = init\n[init]\nengines = engines\n[engines]\npkcs11 = p11\n[p11]\nengine_id = pkcs11\ndynamic_path = %s\nMODULE_PATH = %s\ninit = 0\n' \
    "$engine" "$P11LIB" > engine.cnf
for id in 01 02; do
    OPENSSL_CONF=engine.cnf p11 openssl dgst -sha256 -engine pkcs11 -keyform engine \
        -sign "pkcs11:serial=$ESN;id=%$id;type=private;pin-value=$USER_PIN" -out "engine-$id.sig" data 2>/dev/null ||
        fail "openssl could not sign with key $id through the engine"
done
openssl dgst -sha256 -verify rsa.pem -signature engine-01.sig data | grep -q 'Verified OK' || fail "engine RSA signature"
openssl dgst -sha256 -verify ec.pem -signature engine-02.sig data | grep -q 'Verified OK' || fail "engine ECDSA signature"

step "refusals: a wrong PIN, a read-only session, a removed key"
! $P11TOOL --login --pin 000000 -O > wrongpin.txt 2>&1 && grep -q CKR_PIN_INCORRECT wrongpin.txt || fail "wrong PIN: $(cat wrongpin.txt)"
! $P11TOOL --login --pin "$USER_PIN" --keypairgen --key-type EC:prime256v1 --id 02 > dup.txt 2>&1 ||
    fail "a second key with CKA_ID 02 was made"
$P11TOOL --login --pin "$USER_PIN" --delete-object --type privkey --id 02 >/dev/null
[ ! -f "$STRONGROOM_KMDATA/local/key_pkcs11_02" ] || fail "the key file survived C_DestroyObject"
! $P11TOOL --login --pin "$USER_PIN" -O | grep -q 'label: *ec-one' || fail "the destroyed key is still an object"
echo PASS
