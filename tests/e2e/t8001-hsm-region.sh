#!/usr/bin/env bash
# A region on a PKCS#11 token (issue 22, docs/hsm.md), run against SoftHSMv2 (and, as t8002, our own library): `region create --hsm URI` makes the region's identity key and KEK in the
# token; RSA, EC and AES keys are made there and used there through the REST API (signatures verified by openssl,
# RSA-OAEP and AES-GCM round trips); the token's objects are sensitive and never extractable, C_GetAttributeValue
# (CKA_VALUE) is refused on each; the store holds references, never key bytes; a purge destroys the token's
# object, a soft delete keeps it; backup is refused with the HSM vendor's way named; a mechanism the token lacks
# is a 400 naming it.
. "$(dirname "$0")/lib.sh"
# SR_HSM_TOKEN=strongroom (t8002) runs the same against libstrongroom-pkcs11.so over a module of its own, the
# second, independent implementation of the token: a difference between the two is a bug in one of them.
TOKEN_KIND=${SR_HSM_TOKEN:-softhsm}

start_server "$T/data" --dev --quiet
stop_server
hsm_token "$TOKEN_KIND"

step "region create --hsm: identity key and KEK made in the token, packages signed, toolset published"
$SR region create HSM1 --data "$T/data" --hsm "$URI" > region.txt || fail "region create: $(cat region.txt)"
grep -q 'PKCS#11 token' region.txt || fail "region create says: $(cat region.txt)"
[ -f "$T/data/regions/HSM1/toolset/KeyVault-BYOK-Tools-HSM1.zip" ] || fail "no toolset"
[ ! -e "$T/data/regions/HSM1/kmdata" ] || fail "an HSM region has no software module"
expect 1 'exists' $SR region create HSM1 --data "$T/data" --hsm "$URI"
expect 1 'token\|PKCS#11' $SR region create HSM2 --data "$T/data" --hsm "pkcs11:token=nosuchtoken?module-path=$LIB&pin-source=file:$P11_PIN_FILE"
$SR vault create hsmv --region HSM1 --subscription-id 11111111-2222-3333-4444-555555555555 --data "$T/data" >/dev/null
TOKEN=$($SR token create --role Administrator --data "$T/data")
start_server "$T/data" --quiet
VHOST=hsmv.localhost
V='api-version=7.5'

step "RSA, EC and AES keys made in the token"
api POST "/keys/rsa1/create?$V" '{"kty":"RSA-HSM","key_size":2048}' > rsa.json
[ "$STATUS" = 200 ] || fail "RSA create: $(cat rsa.json)"
api POST "/keys/ec1/create?$V" '{"kty":"EC-HSM","crv":"P-256"}' > ec.json
[ "$STATUS" = 200 ] || fail "EC create: $(cat ec.json)"
api POST "/keys/ec3/create?$V" '{"kty":"EC-HSM","crv":"P-384"}' > ec3.json
[ "$STATUS" = 200 ] || fail "EC P-384 create: $(cat ec3.json)"
api POST "/keys/aes1/create?$V" '{"kty":"oct-HSM","key_size":256}' > aes.json
[ "$STATUS" = 200 ] || fail "AES create: $(cat aes.json)"
jq -e '.key.n and .key.e' rsa.json >/dev/null || fail "no public RSA key: $(cat rsa.json)"

step "signatures by the token, verified by openssl with the public key the vault shows"
printf 'signed inside the HSM' > msg
DIGEST=$(openssl dgst -sha256 -binary msg | b64u)
for spec in "rsa1 RS256" "rsa1 PS256" "ec1 ES256"; do
    set -- $spec
    api POST "/keys/$1/sign?$V" "{\"alg\":\"$2\",\"value\":\"$DIGEST\"}" > sig.json
    [ "$STATUS" = 200 ] || fail "sign $1 $2: $(cat sig.json)"
    api POST "/keys/$1/verify?$V" "{\"alg\":\"$2\",\"digest\":\"$DIGEST\",\"value\":\"$(jq -r .value sig.json)\"}" > ver.json
    jq -e '.value == true' ver.json >/dev/null || fail "verify $1 $2: $(cat ver.json)"
done
$SR key download --name rsa1 --file rsa1.pem --vault-url "https://hsmv.localhost:$PORT" --ca-file "$CA" --token "$TOKEN" >/dev/null 2>&1 ||
    STRONGROOM_VAULT_URL="https://hsmv.localhost:$PORT" STRONGROOM_CA_FILE="$CA" STRONGROOM_TOKEN="$TOKEN" \
    $SR key download --name rsa1 --file rsa1.pem >/dev/null
api POST "/keys/rsa1/sign?$V" "{\"alg\":\"RS256\",\"value\":\"$DIGEST\"}" > sig.json
jq -r .value sig.json | b64u_decode > rs256.sig
openssl dgst -sha256 -verify rsa1.pem -signature rs256.sig msg >/dev/null || fail "openssl does not verify the token's RS256"

step "RSA-OAEP and RSA-OAEP-256 decrypt in the token; AES-GCM and CBC round trips; a bad tag is the one error"
openssl rand 32 > secret.bin
openssl pkeyutl -encrypt -pubin -inkey rsa1.pem -pkeyopt rsa_padding_mode:oaep -in secret.bin -out oaep.bin
api POST "/keys/rsa1/decrypt?$V" "{\"alg\":\"RSA-OAEP\",\"value\":\"$(b64u < oaep.bin)\"}" > dec.json
jq -r .value dec.json | b64u_decode | cmp - secret.bin || fail "RSA-OAEP: $(cat dec.json)"
openssl pkeyutl -encrypt -pubin -inkey rsa1.pem -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 \
    -pkeyopt rsa_mgf1_md:sha256 -in secret.bin -out oaep256.bin
api POST "/keys/rsa1/unwrapkey?$V" "{\"alg\":\"RSA-OAEP-256\",\"value\":\"$(b64u < oaep256.bin)\"}" > unw.json
if [ "$TOKEN_KIND" = softhsm ]; then
    # SoftHSMv2 2.6 does OAEP with SHA-1 only: a 400 that names what the token lacks, never software instead.
    [ "$STATUS" = 400 ] && grep -q 'lacks the mechanism for RSA-OAEP-256' unw.json || fail "OAEP-256 on SoftHSMv2: $STATUS $(cat unw.json)"
else
    jq -r .value unw.json | b64u_decode | cmp - secret.bin || fail "RSA-OAEP-256 unwrap: $(cat unw.json)"
fi
api POST "/keys/aes1/encrypt?$V" "{\"alg\":\"A256GCM\",\"value\":\"$(b64u < secret.bin)\",\"aad\":\"$(printf hdr | b64u)\"}" > gcm.json
[ "$STATUS" = 200 ] || fail "GCM encrypt: $(cat gcm.json)"
api POST "/keys/aes1/decrypt?$V" "{\"alg\":\"A256GCM\",\"value\":\"$(jq -r .value gcm.json)\",\"iv\":\"$(jq -r .iv gcm.json)\",\"tag\":\"$(jq -r .tag gcm.json)\",\"aad\":\"$(printf hdr | b64u)\"}" > gdec.json
jq -r .value gdec.json | b64u_decode | cmp - secret.bin || fail "GCM decrypt: $(cat gdec.json)"
badtag=$(jq -r .tag gcm.json | b64u_decode | xxd -p | sed 's/^./0/' | xxd -r -p | b64u)
[ "$badtag" != "$(jq -r .tag gcm.json)" ] || badtag=$(printf '1%.0s' $(seq 16) | b64u)
expect_api 400 BadParameter POST "/keys/aes1/decrypt?$V" "{\"alg\":\"A256GCM\",\"value\":\"$(jq -r .value gcm.json)\",\"iv\":\"$(jq -r .iv gcm.json)\",\"tag\":\"$badtag\",\"aad\":\"$(printf hdr | b64u)\"}"
IV=$(openssl rand 16 | b64u)
api POST "/keys/aes1/encrypt?$V" "{\"alg\":\"A256CBCPAD\",\"value\":\"$(b64u < msg)\",\"iv\":\"$IV\"}" > cbc.json
[ "$STATUS" = 200 ] || fail "CBC encrypt: $(cat cbc.json)"
api POST "/keys/aes1/decrypt?$V" "{\"alg\":\"A256CBCPAD\",\"value\":\"$(jq -r .value cbc.json)\",\"iv\":\"$IV\"}" > cdec.json
jq -r .value cdec.json | b64u_decode | cmp - msg || fail "CBC decrypt: $(cat cdec.json)"

step "wrapkey with the public half (in the server), unwrapkey in the token; rotation makes a new object that signs"
api POST "/keys/rsa1/wrapkey?$V" "{\"alg\":\"RSA-OAEP\",\"value\":\"$(b64u < secret.bin)\"}" > wrap.json
[ "$STATUS" = 200 ] || fail "wrapkey: $(cat wrap.json)"
api POST "/keys/rsa1/unwrapkey?$V" "{\"alg\":\"RSA-OAEP\",\"value\":\"$(jq -r .value wrap.json)\"}" > unwrap.json
jq -r .value unwrap.json | b64u_decode | cmp - secret.bin || fail "wrap/unwrap round trip: $(cat unwrap.json)"
api POST "/keys/ec1/rotate?$V" > rot.json
[ "$STATUS" = 200 ] || fail "rotate: $(cat rot.json)"
[ "$(jq -r .key.kid rot.json)" != "$(jq -r .key.kid ec.json)" ] || fail "rotation kept the version"
api POST "/keys/ec1/sign?$V" "{\"alg\":\"ES256\",\"value\":\"$DIGEST\"}" > rsig.json
api POST "/keys/ec1/verify?$V" "{\"alg\":\"ES256\",\"digest\":\"$DIGEST\",\"value\":\"$(jq -r .value rsig.json)\"}" > rver.json
jq -e '.value == true' rver.json >/dev/null || fail "the rotated key's signature: $(cat rsig.json) $(cat rver.json)"
[ "$(jq -r .kid rsig.json)" = "$(jq -r .key.kid rot.json)" ] || fail "the latest version did not sign"

step "refusals: a clear key never goes into the token; backup names the HSM's own backup; P-256K where the token lacks it"
expect_api 400 BadParameter PUT "/keys/plain?$V" "{\"key\":{\"kty\":\"oct-HSM\",\"k\":\"$(b64u < secret.bin)\"}}"
out=$(api POST "/keys/rsa1/backup?$V")
[ "$STATUS" = 400 ] && echo "$out" | grep -q "vendor" || fail "backup of an HSM key: $STATUS $out"
api POST "/keys/k256/create?$V" '{"kty":"EC-HSM","crv":"P-256K"}' > k256.json
if [ "$STATUS" != 200 ]; then
    [ "$STATUS" = 400 ] && grep -q 'mechanism\|PKCS#11' k256.json || fail "P-256K on a token without it: $STATUS $(cat k256.json)"
fi

step "BYOK into the token: .byok files for a vault import key, unwrapped inside the token (never in the server)"
export STRONGROOM_VAULT_URL="https://hsmv.localhost:$PORT" STRONGROOM_CA_FILE="$CA" STRONGROOM_TOKEN="$TOKEN"
$SR key create --name ImportKek --kty RSA-HSM --size 3072 --ops import >/dev/null || fail "import key"
$SR key download --name ImportKek --file ikek.pem >/dev/null
kid=$($SR key show --name ImportKek --output json | jq -r .key.kid)
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out own.pem 2>/dev/null
openssl pkcs8 -topk8 -nocrypt -in own.pem -outform DER -out own.p8
openssl_byok ikek.pem "$kid" own.p8 own.byok
$SR key import --name byokrsa --byok-file own.byok --destination HSM --kty RSA-HSM >/dev/null || fail "BYOK RSA import"
api POST "/keys/byokrsa/sign?$V" "{\"alg\":\"RS256\",\"value\":\"$DIGEST\"}" > bsig.json
jq -r .value bsig.json | b64u_decode > byok.sig
openssl dgst -sha256 -verify <(openssl pkey -in own.pem -pubout) -signature byok.sig msg >/dev/null ||
    fail "the imported key's signature does not verify with the owner's public key"
openssl rand 32 > own.aes
openssl_byok ikek.pem "$kid" own.aes aes.byok
$SR key import --name byokaes --byok-file aes.byok --destination HSM --kty oct-HSM >/dev/null || fail "BYOK AES import"
IV=$(openssl rand -hex 16)
api POST "/keys/byokaes/encrypt?$V" "{\"alg\":\"A256CBCPAD\",\"value\":\"$(b64u < msg)\",\"iv\":\"$(xxd -r -p <<<"$IV" | b64u)\"}" > bcbc.json
jq -r .value bcbc.json | b64u_decode | openssl enc -d -aes-256-cbc -K "$(xxd -p -c 64 own.aes)" -iv "$IV" | cmp - msg ||
    fail "openssl does not open what the imported AES key encrypted: $(cat bcbc.json)"
# A damaged package: the one refusal, nothing made in the token.
python3 -c "import json,sys; d=json.load(open('own.byok')); c=d['ciphertext']; d['ciphertext']=c[:40]+('A' if c[40]!='A' else 'B')+c[41:]; json.dump(d,open('bad.byok','w'))"
expect 1 'cannot be opened\|BYOK\|unwrap' $SR key import --name badbyok --byok-file bad.byok --destination HSM --kty RSA-HSM
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ownec.pem 2>/dev/null
openssl pkcs8 -topk8 -nocrypt -in ownec.pem -outform DER -out ownec.p8
openssl_byok ikek.pem "$kid" ownec.p8 ec.byok
if [ "$TOKEN_KIND" = softhsm ]; then
    # SoftHSMv2 keeps no public point with an EC private key it unwrapped: said, and nothing is left behind.
    expect 1 'mechanism' $SR key import --name byokec --byok-file ec.byok --destination HSM --kty EC-HSM --curve P-256
else
    $SR key import --name byokec --byok-file ec.byok --destination HSM --kty EC-HSM --curve P-256 >/dev/null ||
        fail "BYOK EC import"
fi

step "the BYOK guide into the HSM region: toolset, verifykeypackage, modify-acls with 2 of 3 owner cards, package, import"
TOKEN_KMDATA=${STRONGROOM_KMDATA:-}
owner_world "$T/data" # the key owner's own module, offline, trusting this data directory's root
$SR toolset download --region HSM1 --out tools | grep -q 'SHA-256 matches the published list' || fail "toolset download"
(
    cd tools
    $SR verifykeypackage -k BYOK-KEK-pkg-HSM1-1 -w BYOK-SecurityWorld-pkg-HSM1-1 > verify.out || fail "verifykeypackage: $(cat verify.out)"
    grep -q '^Result: SUCCESS$' verify.out || fail "verifykeypackage: $(cat verify.out)"
    $SR generatekey --generate simple type=RSA size=2048 protect=module ident=guided plainname=guided nvram=no pubexp= >/dev/null
    $SR pubkey --ident guided > guided.owner.pem
    $SR keytransfer -ModifyAcls -KeyAppName simple -KeyIdentifier guided -ExchangeKeyPackage BYOK-KEK-pkg-HSM1-1 \
        -NewSecurityWorldPackage BYOK-SecurityWorld-pkg-HSM1-1 --cards 1,3 --pin-file "$T/owner-pins-13" | grep -q '^Result: SUCCESS$' ||
        fail "modify-acls for the HSM region's KEK"
    $SR keytransfer package --key-identifier guided --exchange-key-package BYOK-KEK-pkg-HSM1-1 \
        --new-security-world-package BYOK-SecurityWorld-pkg-HSM1-1 --subscription-id 11111111-2222-3333-4444-555555555555 \
        --key-friendly-name guided | grep -q '^Result: SUCCESS$' || fail "package"
    if [ "$TOKEN_KIND" = softhsm ]; then
        # The region KEK's package carries the binding as its OAEP label, which SoftHSMv2 refuses (docs/hsm.md).
        expect 1 'mechanism' $SR key import --name guided --byok-file KeyTransferPackage-guided.byok --destination HSM
    else
        $SR key import --name guided --byok-file KeyTransferPackage-guided.byok --destination HSM >/dev/null ||
            fail "import of the guide's package into the HSM region"
        head -c 1000 /dev/urandom > data
        $SR key sign --name guided --alg RS256 --in data --out sig >/dev/null
        openssl dgst -sha256 -verify guided.owner.pem -signature sig data >/dev/null ||
            fail "the guided key's signature does not verify with the owner's public key"
    fi
) || exit 1
export STRONGROOM_KMDATA="$TOKEN_KMDATA"

step "key attestation: signed by the token's identity key (warranted by the root), the key's attributes as the token reads them"
FP=$($SR root show --data "$T/data" 2>/dev/null | awk '/ingerprint/ {print $NF}' | head -1)
for k in rsa1 byokrsa; do
    api GET "/keys/$k/attestation?api-version=7.6" > att.json
    [ "$STATUS" = 200 ] || fail "attestation of $k: $(cat att.json)"
    jq -r .attributes.attestation.privateKeyAttestation att.json | b64u_decode > priv.env
    jq -r .root priv.env > root.pem
    jq -r .warrant priv.env > warrant.pem
    jq -r .payload priv.env | base64 -d > payload.json
    jq -r .signature priv.env | base64 -d > payload.sig
    openssl verify -CAfile root.pem warrant.pem | grep -q OK || fail "the token's warrant does not chain to the root"
    openssl x509 -in warrant.pem -pubkey -noout > module.pub.pem
    openssl dgst -sha384 -verify module.pub.pem -signature payload.sig payload.json | grep -q 'Verified OK' ||
        fail "openssl rejects the token identity's signature"
    jq -e '.hsm.attributes.CKA_SENSITIVE == true and .hsm.attributes.CKA_EXTRACTABLE == false
           and .hsm.attributes.CKA_TOKEN == true
           and (.hsm.serial | length > 0) and (.hsm.model | length > 0) and .world.cipher_suite == "PKCS11-ECDSAP384-SHA384"' payload.json >/dev/null ||
        fail "the attestation of $k: $(cat payload.json)"
    if [ "$k" = rsa1 ]; then want_local=true; want_origin=generated; else want_local=false; want_origin=transferred; fi
    # Made in the token: CKA_LOCAL, CKA_NEVER_EXTRACTABLE. Brought in by BYOK: neither (PKCS#11 says so of any
    # unwrapped key: it was outside once, in its owner's HSM), and the origin says "transferred".
    jq -e --argjson l $want_local --arg o $want_origin '.hsm.attributes.CKA_LOCAL == $l and
        .hsm.attributes.CKA_NEVER_EXTRACTABLE == $l and .origin == $o' payload.json >/dev/null ||
        fail "CKA_LOCAL/origin of $k: $(jq -c '{origin, hsm}' payload.json)"
done

step "no private key bytes of the imported keys in the store (its WAL, or a pg_dump), the server's logs or any answer"
store_files() { # STORE_FILES: the store as files to search (the checkpointed SQLite file and WAL, or a dump)
    if [ -n "${STRONGROOM_STORE:-}" ]; then
        "$SR_TEST_PG_BIN/pg_dump" -d "$STRONGROOM_STORE" > "$T/store-dump.sql" # bytea as hex: the hex needles
        STORE_FILES=("$T/store-dump.sql")
    else
        sqlite3 "$T/data/vault.db" "PRAGMA wal_checkpoint(FULL);" >/dev/null
        STORE_FILES=("$T"/data/vault.db*)
    fi
}
store_files
node -e 'const c=require("crypto"),fs=require("fs");for(const [f,o] of [["own.pem","rsa"],["ownec.pem","ec"]]){const j=c.createPrivateKey(fs.readFileSync(f)).export({format:"jwk"});for(const m of ["d","p","q","dp","dq","qi"])if(j[m])fs.writeFileSync(`secret.${o}.${m}`,Buffer.from(j[m],"base64url"));fs.writeFileSync(`secret.${o}.d.b64`,j.d)}'
cp own.aes secret.aes.k
b64u < own.aes > secret.aes.k.b64
found=$(/usr/bin/python3 - "$T" "${STORE_FILES[@]}" "$T"/server.*.log "$PWD"/*.json $(find "$T/data" -type f) <<'PY'
import glob, os, sys
t, hays = sys.argv[1], sys.argv[2:]
needles = {}
for f in glob.glob("secret.*"):
    data = open(f, "rb").read()
    if f.endswith(".b64"):
        needles[f] = data[4:36]
    else:
        needles[f] = data[:32] if len(data) <= 40 else data[8:40]
        needles[f + " (hex)"] = data[:24].hex().encode()
for hay in set(hays):
    if not os.path.isfile(hay): continue
    data = open(hay, "rb").read()
    low = data.lower()
    for name, window in needles.items():
        if window in data or (name.endswith("(hex)") and window in low):
            print(f"{name} found in {hay}")
print(f"checked {len(needles)} needles", file=sys.stderr)
PY
)
[ -z "$found" ] || fail "private key bytes outside the token: $found"

step "secrets: each value sealed by the token (CKM_AES_GCM under the region's values key), bound to its name"
HSM_SECRET="hsm-secret-$(openssl rand -hex 12)"
api PUT "/secrets/db?$V" "{\"value\":\"$HSM_SECRET\",\"contentType\":\"text/plain\"}" > sec.json
[ "$STATUS" = 200 ] || fail "secret set in an HSM region: $(cat sec.json)"
[ "$(api GET "/secrets/db?$V" | jq -r .value)" = "$HSM_SECRET" ] || fail "the token does not open the value"
api PUT "/secrets/other?$V" '{"value":"another"}' >/dev/null
store_sql "$T/data" "SELECT $(store_hex blob) FROM keys WHERE vault = 'hsmv/secrets' AND name = 'db'" | xxd -r -p > sec.blob
[ "$(head -c 8 sec.blob)" = SRVALUE1 ] || fail "the stored value is not sealed"
! grep -qa "$HSM_SECRET" sec.blob || fail "the value is in the store"
SECVER=$(jq -r .id sec.json); SECVER=${SECVER##*/}
stop_server
store_sql "$T/data" "UPDATE keys SET name = 'other' WHERE vault = 'hsmv/secrets' AND version = '$SECVER'"
start_server "$T/data" --quiet
out=$(api GET "/secrets/other/$SECVER?$V")
[ "$(cat "$T/status")" = 400 ] && ! printf '%s' "$out" | grep -q "$HSM_SECRET" || fail "a moved row opened: $out"
stop_server
store_sql "$T/data" "UPDATE keys SET name = 'db' WHERE vault = 'hsmv/secrets' AND version = '$SECVER'"
grep -q '"values"' "$T/data/regions/HSM1/hsm/region.json" || fail "region.json names no values key"
grep -q 'strongroom-values' <("${RUN[@]}" pkcs11-tool --module "$LIB" --login --pin "$LIST_PIN" --list-objects 2>&1) ||
    fail "the token holds no values key"
# A region made before its token held a values key: a secret is refused plainly, nothing is written.
RJ="$T/data/regions/HSM1/hsm/region.json"
cp "$RJ" region.json.saved
jq 'del(.values)' region.json.saved > "$RJ"
start_server "$T/data" --quiet
expect_api 400 BadParameter PUT "/secrets/old-region?$V" '{"value":"x"}'
grep -q "made before its token held a key for secrets" "$T/resp" || fail "the refusal does not say why: $(cat "$T/resp")"
stop_server
cat region.json.saved > "$RJ"
[ -z "$(store_sql "$T/data" "SELECT 1 FROM keys WHERE vault = 'hsmv/secrets' AND name = 'old-region'")" ] || fail "a refused set wrote a row"

step "the token's objects: sensitive, never extractable, CKA_VALUE refused on each"
"${RUN[@]}" pkcs11-tool --module "$LIB" --login --pin "$LIST_PIN" --list-objects > objects.txt 2>&1 || fail "pkcs11-tool: $(cat objects.txt)"
n_priv=$(grep -c '^Private Key Object' objects.txt || true)
n_secret=$(grep -c '^Secret Key Object' objects.txt || true)
[ "$n_priv" -ge 5 ] && [ "$n_secret" -ge 1 ] || fail "token objects ($n_priv private, $n_secret secret): $(cat objects.txt)"
"${RUN[@]}" /usr/bin/python3 - "$LIB" "$LIST_PIN" <<'PY' || fail "an object of the token is not sensitive or gives its value"
import ctypes, sys
# C_GetAttributeValue(CKA_VALUE / CKA_PRIVATE_EXPONENT) on every private and secret key: CKR_ATTRIBUTE_SENSITIVE.
# Through C_GetFunctionList, the one entry point every PKCS#11 library exports (ours exports no other C_*).
CK_ULONG = ctypes.c_ulong; P = ctypes.c_void_p
class Attr(ctypes.Structure):
    _fields_ = [("type", CK_ULONG), ("p", ctypes.c_void_p), ("len", CK_ULONG)]
class FunctionList(ctypes.Structure):
    _fields_ = [("major", ctypes.c_ubyte), ("minor", ctypes.c_ubyte)] + [(f"f{i}", ctypes.c_void_p) for i in range(68)]
dll = ctypes.CDLL(sys.argv[1]); pin = sys.argv[2].encode()
fl = ctypes.POINTER(FunctionList)()
if dll.C_GetFunctionList(ctypes.byref(fl)) != 0: raise SystemExit("C_GetFunctionList")
def fn(i, *args): return ctypes.CFUNCTYPE(CK_ULONG, *args)(getattr(fl.contents, f"f{i}"))
class Lib: pass
lib = Lib()
lib.C_Initialize = fn(0, P)
lib.C_GetSlotList = fn(4, ctypes.c_ubyte, P, P)
lib.C_OpenSession = fn(12, CK_ULONG, CK_ULONG, P, P, P)
lib.C_Login = fn(18, CK_ULONG, CK_ULONG, ctypes.c_char_p, CK_ULONG)
lib.C_GetAttributeValue = fn(24, CK_ULONG, CK_ULONG, P, CK_ULONG)
lib.C_FindObjectsInit = fn(26, CK_ULONG, P, CK_ULONG)
lib.C_FindObjects = fn(27, CK_ULONG, P, CK_ULONG, P)
lib.C_FindObjectsFinal = fn(28, CK_ULONG)
def ok(rv, what):
    if rv != 0: raise SystemExit(f"{what}: 0x{rv:x}")
ok(lib.C_Initialize(None), "C_Initialize")
slots = (CK_ULONG * 16)(); n = CK_ULONG(16)
ok(lib.C_GetSlotList(1, slots, ctypes.byref(n)), "C_GetSlotList")
s = CK_ULONG()
ok(lib.C_OpenSession(slots[0], 6, None, None, ctypes.byref(s)), "C_OpenSession")
ok(lib.C_Login(s, 1, pin, len(pin)), "C_Login")
checked = 0
for cls in (3, 4):  # CKO_PRIVATE_KEY: CKA_PRIVATE_EXPONENT (RSA) or CKA_VALUE (EC); CKO_SECRET_KEY: CKA_VALUE
    attr = 0x123 if cls == 3 else 0x11
    c = CK_ULONG(cls)
    t = Attr(0, ctypes.cast(ctypes.pointer(c), ctypes.c_void_p), ctypes.sizeof(c))
    ok(lib.C_FindObjectsInit(s, ctypes.byref(t), 1), "C_FindObjectsInit")
    hs = (CK_ULONG * 256)(); got = CK_ULONG()
    ok(lib.C_FindObjects(s, hs, 256, ctypes.byref(got)), "C_FindObjects")
    lib.C_FindObjectsFinal(s)
    for h in hs[:got.value]:
        flags = {}
        for a in (0x103, 0x162, 0x164, 0x165):  # SENSITIVE, EXTRACTABLE, ALWAYS_SENSITIVE... NEVER_EXTRACTABLE, LOCAL
            b = ctypes.c_ubyte(); at = Attr(a, ctypes.cast(ctypes.pointer(b), ctypes.c_void_p), 1)
            lib.C_GetAttributeValue(s, h, ctypes.byref(at), 1); flags[a] = b.value
        if flags[0x103] != 1 or flags[0x162] != 0:
            raise SystemExit(f"object {h}: CKA_SENSITIVE={flags[0x103]} CKA_EXTRACTABLE={flags[0x162]}")
        kt = CK_ULONG(); at = Attr(0x100, ctypes.cast(ctypes.pointer(kt), ctypes.c_void_p), ctypes.sizeof(kt))
        ok(lib.C_GetAttributeValue(s, h, ctypes.byref(at), 1), "CKA_KEY_TYPE")
        attr = 0x11 if cls == 4 or kt.value != 0 else 0x123  # an EC private key's secret is its CKA_VALUE
        buf = (ctypes.c_ubyte * 1024)(); at = Attr(attr, ctypes.cast(buf, ctypes.c_void_p), 1024)
        rv = lib.C_GetAttributeValue(s, h, ctypes.byref(at), 1)
        if rv != 0x11:  # CKR_ATTRIBUTE_SENSITIVE
            raise SystemExit(f"object {h}: its value answered 0x{rv:x}, not CKR_ATTRIBUTE_SENSITIVE")
        checked += 1
if checked < 6: raise SystemExit(f"only {checked} keys checked")
print(f"{checked} keys: sensitive, not extractable, value refused")
PY

step "the store keeps references, never key bytes"
start_server "$T/data" --quiet
store_files
! grep -aq 'PRIVATE KEY' "${STORE_FILES[@]}" || fail "a private key in the store"
store_sql "$T/data" "SELECT $(store_hex blob) FROM keys WHERE name='rsa1'" | xxd -r -p | head -c 8 | grep -q SRP11REF ||
    fail "the stored blob is not a token reference"

step "an object destroyed behind the vault's back: its remembered handle is checked, never trusted (409, not another key)"
api POST "/keys/ec3/sign?$V" "{\"alg\":\"ES384\",\"value\":\"$(openssl dgst -sha384 -binary msg | b64u)\"}" >/dev/null
[ "$STATUS" = 200 ] || fail "ec3 sign: $STATUS"
api GET "/keys/ec3/attestation?api-version=7.6" > att3.json
EC3_ID=$(jq -r .attributes.attestation.privateKeyAttestation att3.json | b64u_decode | jq -r .payload | base64 -d | jq -r .hsm.CKA_ID)
[ ${#EC3_ID} = 32 ] || fail "no CKA_ID in ec3's attestation"
"${RUN[@]}" pkcs11-tool --module "$LIB" --login --pin "$LIST_PIN" --delete-object --type privkey --id "$EC3_ID" >/dev/null 2>&1 ||
    fail "pkcs11-tool could not delete ec3's object"
api POST "/keys/ec2x/create?$V" '{"kty":"EC-HSM","crv":"P-384"}' >/dev/null # a new object, perhaps on the old handle
api POST "/keys/ec3/sign?$V" "{\"alg\":\"ES384\",\"value\":\"$(openssl dgst -sha384 -binary msg | b64u)\"}" > gone.json
[ "$STATUS" = 409 ] || fail "a sign with a destroyed object answered $STATUS: $(cat gone.json)"

step "soft delete keeps the token's objects, purge destroys every version's (ec1 has two, after its rotation)"
before=$(grep -c '^Private Key Object' objects.txt)
api DELETE "/keys/ec1?$V" >/dev/null
[ "$STATUS" = 200 ] || fail "delete: $STATUS"
api POST "/deletedkeys/ec1/recover?$V" >/dev/null
api POST "/keys/ec1/sign?$V" "{\"alg\":\"ES256\",\"value\":\"$DIGEST\"}" >/dev/null
[ "$STATUS" = 200 ] || fail "a recovered key no longer signs: $STATUS"
api DELETE "/keys/ec1?$V" >/dev/null
api DELETE "/deletedkeys/ec1?$V" >/dev/null
[ "$STATUS" = 204 ] || fail "purge: $STATUS"
stop_server
"${RUN[@]}" pkcs11-tool --module "$LIB" --login --pin "$LIST_PIN" --list-objects > objects2.txt 2>&1
after=$(grep -c '^Private Key Object' objects2.txt || true)
[ "$after" = $((before - 2)) ] || fail "purge did not destroy both versions' objects: $before before, $after after"
echo "PASS"
