#!/usr/bin/env bash
# openssl as the independent judge of the vault: a server signature verifies with
# `openssl dgst -verify` against the JWK's public key, and data encrypted with
# `openssl pkeyutl` (OAEP) decrypts through the API. Uses the `strongroom key` client.
. "$(dirname "$0")/lib.sh"
start_server "$T/data" --dev --quiet
export STRONGROOM_VAULT_URL="https://localhost:$PORT" STRONGROOM_CA_FILE="$CA" STRONGROOM_TOKEN=$(cat "$T/data/dev-token")

# jwk_to_pem: JWK (from `key show --output json`) to a PEM public key, with openssl asn1parse-free node one-liner
jwk_to_pem() { node -e 'const c=require("crypto");const j=JSON.parse(require("fs").readFileSync(0)).key;const k={kty:j.kty.replace("-HSM",""),n:j.n,e:j.e,crv:j.crv,x:j.x,y:j.y};process.stdout.write(c.createPublicKey({key:k,format:"jwk"}).export({type:"spki",format:"pem"}))'; }

step "create keys through the CLI client"
$SR key create --name rsakey --kty RSA --size 3072 | tee "$T/create.out"
grep -Eq '^kty +RSA-HSM$' "$T/create.out"
$SR key create --name eckey --kty EC --curve P-384 >/dev/null
$SR key show --name rsakey --output json | jwk_to_pem > rsa.pem
$SR key show --name eckey --output json | jwk_to_pem > ec.pem
openssl pkey -pubin -in rsa.pem -noout -text | grep -q '3072 bit'

step "server signatures verify with openssl"
head -c 5000 /dev/urandom > data.bin
$SR key sign --name rsakey --alg RS256 --in data.bin --out rs256.sig
openssl dgst -sha256 -verify rsa.pem -signature rs256.sig data.bin
$SR key sign --name rsakey --alg PS384 --in data.bin --out ps384.sig
openssl dgst -sha384 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:-1 -verify rsa.pem -signature ps384.sig data.bin
$SR key sign --name eckey --alg ES384 --in data.bin --out es384.raw
[ "$(stat -c %s es384.raw)" = 96 ] || fail "ES384 signatures are raw r||s of 96 bytes"
# raw r||s -> DER for openssl
node -e 'const c=require("crypto"),fs=require("fs");const raw=fs.readFileSync("es384.raw");const ok=c.verify("sha384",fs.readFileSync("data.bin"),{key:fs.readFileSync("ec.pem"),dsaEncoding:"ieee-p1363"},raw);if(!ok)process.exit(1);' || fail "ES384 raw signature"
python3 - <<'PY'
raw=open("es384.raw","rb").read(); r,s=raw[:48],raw[48:]
def i(b):
    b=b.lstrip(b"\0") or b"\0"
    if b[0]&0x80: b=b"\0"+b
    return b"\x02"+bytes([len(b)])+b
body=i(r)+i(s); open("es384.der","wb").write(b"\x30"+bytes([len(body)])+body)
PY
openssl dgst -sha384 -verify ec.pem -signature es384.der data.bin
$SR key verify --name rsakey --alg RS256 --in data.bin --signature rs256.sig | grep -q 'Verified: true'
printf 'x' >> data.bin
expect 1 "" $SR key verify --name rsakey --alg RS256 --in data.bin --signature rs256.sig

step "openssl pkeyutl encrypts, the vault decrypts"
echo "secret for the vault" > plain.txt
openssl pkeyutl -encrypt -pubin -inkey rsa.pem -pkeyopt rsa_padding_mode:oaep -in plain.txt -out oaep1.bin
$SR key decrypt --name rsakey --alg RSA-OAEP --in oaep1.bin --out dec1.txt
cmp plain.txt dec1.txt
openssl pkeyutl -encrypt -pubin -inkey rsa.pem -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 \
    -pkeyopt rsa_mgf1_md:sha256 -in plain.txt -out oaep256.bin
$SR key decrypt --name rsakey --alg RSA-OAEP-256 --in oaep256.bin --out dec256.txt
cmp plain.txt dec256.txt
step "the vault encrypts (RSA1_5 too: a public operation), the vault decrypts OAEP; RSA1_5 decrypt is refused"
$SR key encrypt --name rsakey --alg RSA-OAEP-256 --in plain.txt --out ct.bin
$SR key decrypt --name rsakey --alg RSA-OAEP-256 --in ct.bin --out back.txt
cmp plain.txt back.txt
$SR key encrypt --name rsakey --alg RSA1_5 --in plain.txt --out ct15.bin
expect 1 "RSA-OAEP-256" $SR key decrypt --name rsakey --alg RSA1_5 --in ct15.bin --out never.txt
[ ! -e never.txt ] || fail "a refused decrypt wrote output"
step "OAEP failures are one error"
head -c 384 /dev/urandom > junk.bin
expect 1 "decryption failed" $SR key decrypt --name rsakey --alg RSA-OAEP-256 --in junk.bin --out x
expect 1 "decryption failed" $SR key decrypt --name rsakey --alg RSA-OAEP --in oaep256.bin --out x
step "the CLI client imports a plain JWK made by openssl, lists and deletes"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out own.pem 2>/dev/null
node -e 'const c=require("crypto"),fs=require("fs");fs.writeFileSync("own.jwk",JSON.stringify(c.createPrivateKey(fs.readFileSync("own.pem")).export({format:"jwk"})))'
$SR key import --name owned --jwk-file own.jwk | grep -Eq '^size/curve +P-256$'
$SR key sign --name owned --alg ES256 --in plain.txt --out owned.sig >/dev/null
$SR key verify --name owned --alg ES256 --in plain.txt --signature owned.sig | grep -q 'Verified: true'
$SR key list | grep -q '^owned '
$SR key delete --name owned | grep -Eq '^recovery id +https://localhost:[0-9]*/deletedkeys/owned'
expect 1 "404 KeyNotFound" $SR key show --name owned
expect 2 "STRONGROOM_TOKEN" env -u STRONGROOM_TOKEN $SR key list
stop_server
echo PASS
