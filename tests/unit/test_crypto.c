/* Unit tests of src/crypto, against Wycheproof vectors wherever they cover the primitive. */
#include "testlib.h"

#include <string.h>

#include "base/text.h"
#include "crypto/crypto.h"
#include "crypto/sym.h"
#include "crypto/jwk.h"
#include "crypto/ossl.h"
#include "crypto/pkey.h"

#include <openssl/core_names.h>

static const char *sr_jstr(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    assert_non_null(s);
    return s;
}

static bool sr_expect_valid(const json_t *tc)
{
    return strcmp(sr_jstr(tc, "result"), "valid") == 0;
}

static bool sr_is_acceptable(const json_t *tc)
{
    return strcmp(sr_jstr(tc, "result"), "acceptable") == 0;
}

static void test_aes_gcm_wycheproof(void **state)
{
    (void)state;
    json_t *root = sr_test_vectors("aes_gcm_test.json");
    size_t gi, ti;
    json_t *g, *tc;
    int checked = 0;
    json_array_foreach(json_object_get(root, "testGroups"), gi, g) {
        json_array_foreach(json_object_get(g, "tests"), ti, tc) {
            struct sr_buf key, iv, aad, msg, ct, tag, out;
            sr_test_hex(sr_jstr(tc, "key"), &key);
            sr_test_hex(sr_jstr(tc, "iv"), &iv);
            sr_test_hex(sr_jstr(tc, "aad"), &aad);
            sr_test_hex(sr_jstr(tc, "msg"), &msg);
            sr_test_hex(sr_jstr(tc, "ct"), &ct);
            sr_test_hex(sr_jstr(tc, "tag"), &tag);
            sr_buf_init(&out, 1 << 20, SR_BUF_SECRET);
            enum sr_err r = sr_aes_gcm_decrypt(key.data, key.len, iv.data, iv.len, aad.data, aad.len, ct.data, ct.len,
                                               tag.data, tag.len, &out);
            if (iv.len > 128) {
                /* Longer IVs than OpenSSL's GCM supports are refused cleanly, never misprocessed. */
                SR_ASSERT_ERR(SR_ERR_MALFORMED, r);
            } else if (sr_expect_valid(tc)) {
                if (r != SR_OK) {
                    fail_msg("tcId %lld: valid vector refused", json_integer_value(json_object_get(tc, "tcId")));
                }
                assert_int_equal(out.len, msg.len);
                if (msg.len > 0) {
                    assert_memory_equal(out.data, msg.data, msg.len);
                }
                if (tag.len == 16) {
                    /* The encrypting side (oct keys' A*GCM) gives the vector's ciphertext and tag back. */
                    struct sr_buf enc;
                    uint8_t got[16];
                    sr_buf_init(&enc, 1 << 20, SR_BUF_PLAIN);
                    SR_ASSERT_OK(sr_aes_gcm_encrypt(key.data, key.len, iv.data, iv.len, aad.data, aad.len, msg.data,
                                                    msg.len, &enc, got));
                    assert_int_equal(enc.len, ct.len);
                    if (ct.len > 0) {
                        assert_memory_equal(enc.data, ct.data, ct.len);
                    }
                    assert_memory_equal(got, tag.data, 16);
                    sr_buf_release(&enc);
                }
            } else if (!sr_is_acceptable(tc)) {
                assert_int_not_equal(r, SR_OK);
                assert_int_equal(out.len, 0); /* no unauthenticated plaintext escapes */
            }
            checked++;
            sr_buf_release(&key); sr_buf_release(&iv); sr_buf_release(&aad); sr_buf_release(&msg);
            sr_buf_release(&ct); sr_buf_release(&tag); sr_buf_release(&out);
        }
    }
    assert_int_equal(checked, json_integer_value(json_object_get(root, "numberOfTests")));
    json_decref(root);
}

static void test_aead_seal_open_and_tamper(void **state)
{
    (void)state;
    SR_ASSERT_OK(sr_crypto_init());
    uint8_t key[32];
    SR_ASSERT_OK(sr_rand_bytes(key, sizeof(key)));
    struct sr_buf sealed, out;
    sr_buf_init(&sealed, 4096, SR_BUF_PLAIN);
    sr_buf_init(&out, 4096, SR_BUF_SECRET);
    SR_ASSERT_OK(sr_aead_seal(key, "aad", 3, "secret message", 14, &sealed));
    assert_int_equal(sealed.len, 14 + SR_AEAD_OVERHEAD);
    SR_ASSERT_OK(sr_aead_open(key, "aad", 3, sealed.data, sealed.len, &out));
    assert_memory_equal(out.data, "secret message", 14);
    sr_buf_release(&out);
    for (size_t i = 0; i < sealed.len; i++) {
        sealed.data[i] ^= 0x01;
        SR_ASSERT_ERR(SR_ERR_AUTH_FAILED, sr_aead_open(key, "aad", 3, sealed.data, sealed.len, &out));
        sealed.data[i] ^= 0x01;
    }
    SR_ASSERT_ERR(SR_ERR_AUTH_FAILED, sr_aead_open(key, "aaD", 3, sealed.data, sealed.len, &out));
    SR_ASSERT_ERR(SR_ERR_AUTH_FAILED, sr_aead_open(key, "aad", 3, sealed.data, 10, &out));
    assert_int_equal(out.len, 0);
    sr_buf_release(&sealed);
}

static void test_kdfs_deterministic(void **state)
{
    (void)state;
    uint8_t a[32], b[32], c[32];
    const uint8_t salt[16] = {1, 2, 3};
    SR_ASSERT_OK(sr_scrypt("1234", 4, salt, sizeof(salt), SR_SCRYPT_DEFAULT, a));
    SR_ASSERT_OK(sr_scrypt("1234", 4, salt, sizeof(salt), SR_SCRYPT_DEFAULT, b));
    SR_ASSERT_OK(sr_scrypt("1235", 4, salt, sizeof(salt), SR_SCRYPT_DEFAULT, c));
    assert_memory_equal(a, b, 32);
    assert_memory_not_equal(a, c, 32);
    struct sr_scrypt_params weak = {4, 1, 1};
    SR_ASSERT_ERR(SR_ERR_MALFORMED, sr_scrypt("1234", 4, salt, sizeof(salt), weak, a));
    SR_ASSERT_OK(sr_hkdf_sha256(a, 32, "one", b, 32));
    SR_ASSERT_OK(sr_hkdf_sha256(a, 32, "two", c, 32));
    assert_memory_not_equal(b, c, 32);
    /* RFC 4231 test case 2 */
    uint8_t mac[32];
    SR_ASSERT_OK(sr_hmac_sha256((const uint8_t *)"Jefe", 4, "what do ya want for nothing?", 28, mac));
    struct sr_buf want;
    sr_test_hex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", &want);
    assert_memory_equal(mac, want.data, 32);
    sr_buf_release(&want);
}

static EVP_PKEY *sr_spki(const char *hex)
{
    struct sr_buf der;
    EVP_PKEY *k = NULL;
    sr_test_hex(hex, &der);
    SR_ASSERT_OK(sr_pkey_public_from_spki(der.data, der.len, &k));
    sr_buf_release(&der);
    return k;
}

/* Runs one Wycheproof signature-verification file through sr_pkey_verify_message. */
static void sr_verify_file(const char *file, enum sr_sign_alg alg, enum sr_sig_format fmt)
{
    json_t *root = sr_test_vectors(file);
    size_t gi, ti;
    json_t *g, *tc;
    int checked = 0;
    json_array_foreach(json_object_get(root, "testGroups"), gi, g) {
        EVP_PKEY *key = sr_spki(sr_jstr(g, "publicKeyDer"));
        json_array_foreach(json_object_get(g, "tests"), ti, tc) {
            struct sr_buf msg, sig;
            sr_test_hex(sr_jstr(tc, "msg"), &msg);
            sr_test_hex(sr_jstr(tc, "sig"), &sig);
            enum sr_err r = sr_pkey_verify_message(key, alg, msg.data, msg.len, fmt, sig.data, sig.len);
            long long id = json_integer_value(json_object_get(tc, "tcId"));
            if (sr_expect_valid(tc) && r != SR_OK) {
                fail_msg("%s tcId %lld: valid signature refused", file, id);
            }
            if (!sr_expect_valid(tc) && !sr_is_acceptable(tc) && r == SR_OK) {
                fail_msg("%s tcId %lld: invalid signature accepted", file, id);
            }
            checked++;
            sr_buf_release(&msg);
            sr_buf_release(&sig);
        }
        EVP_PKEY_free(key);
    }
    assert_int_equal(checked, json_integer_value(json_object_get(root, "numberOfTests")));
    json_decref(root);
}

static void test_ecdsa_wycheproof(void **state)
{
    (void)state;
    sr_verify_file("ecdsa_secp256r1_sha256_p1363_test.json", SR_ALG_ES256, SR_SIG_RAW);
    sr_verify_file("ecdsa_secp384r1_sha384_p1363_test.json", SR_ALG_ES384, SR_SIG_RAW);
    sr_verify_file("ecdsa_secp521r1_sha512_p1363_test.json", SR_ALG_ES512, SR_SIG_RAW);
    sr_verify_file("ecdsa_secp256r1_sha256_test.json", SR_ALG_ES256, SR_SIG_DER);
    sr_verify_file("ecdsa_secp384r1_sha384_test.json", SR_ALG_ES384, SR_SIG_DER);
    sr_verify_file("ecdsa_secp521r1_sha512_test.json", SR_ALG_ES512, SR_SIG_DER);
}

static void test_rsa_signature_wycheproof(void **state)
{
    (void)state;
    /* Every PKCS#1 v1.5 and PSS file for a size and hash the API offers (RS/PS 256, 384, 512; PSS with the
     * salt as long as the hash, as JOSE's PS algorithms have it). */
    static const struct {
        const char *file;
        enum sr_sign_alg alg;
    } files[] = {
        {"rsa_signature_2048_sha256_test.json", SR_ALG_RS256}, {"rsa_signature_2048_sha384_test.json", SR_ALG_RS384},
        {"rsa_signature_2048_sha512_test.json", SR_ALG_RS512}, {"rsa_signature_3072_sha256_test.json", SR_ALG_RS256},
        {"rsa_signature_3072_sha384_test.json", SR_ALG_RS384}, {"rsa_signature_3072_sha512_test.json", SR_ALG_RS512},
        {"rsa_signature_4096_sha256_test.json", SR_ALG_RS256}, {"rsa_signature_4096_sha384_test.json", SR_ALG_RS384},
        {"rsa_signature_4096_sha512_test.json", SR_ALG_RS512}, {"rsa_pss_2048_sha256_mgf1_32_test.json", SR_ALG_PS256},
        {"rsa_pss_2048_sha384_mgf1_48_test.json", SR_ALG_PS384}, {"rsa_pss_3072_sha256_mgf1_32_test.json", SR_ALG_PS256},
        {"rsa_pss_4096_sha384_mgf1_48_test.json", SR_ALG_PS384}, {"rsa_pss_4096_sha512_mgf1_64_test.json", SR_ALG_PS512},
    };
    for (size_t i = 0; i < SR_ARRAY_LEN(files); i++) {
        sr_verify_file(files[i].file, files[i].alg, SR_SIG_DER);
    }
}

static void test_sign_roundtrip_every_alg(void **state)
{
    (void)state;
    struct {
        struct sr_key_spec spec;
        enum sr_sign_alg algs[6];
    } cases[] = {
        {{SR_KEY_RSA, 2048, SR_CURVE_NONE, 0}, {SR_ALG_RS256, SR_ALG_RS384, SR_ALG_RS512, SR_ALG_PS256, SR_ALG_PS384, SR_ALG_PS512}},
        {{SR_KEY_EC, 0, SR_CURVE_P256, 0}, {SR_ALG_ES256}},
        {{SR_KEY_EC, 0, SR_CURVE_P384, 0}, {SR_ALG_ES384}},
        {{SR_KEY_EC, 0, SR_CURVE_P521, 0}, {SR_ALG_ES512}},
        {{SR_KEY_EC, 0, SR_CURVE_P256K, 0}, {SR_ALG_ES256K}},
    };
    for (size_t c = 0; c < SR_ARRAY_LEN(cases); c++) {
        EVP_PKEY *key = NULL;
        SR_ASSERT_OK(sr_pkey_generate(&cases[c].spec, &key));
        for (size_t a = 0; a < 6 && cases[c].algs[a] != SR_ALG_NONE; a++) {
            for (int fmt = SR_SIG_DER; fmt <= SR_SIG_RAW; fmt++) {
                struct sr_buf sig;
                sr_buf_init(&sig, 4096, SR_BUF_PLAIN);
                SR_ASSERT_OK(sr_pkey_sign_message(key, cases[c].algs[a], "msg", 3, (enum sr_sig_format)fmt, &sig));
                SR_ASSERT_OK(sr_pkey_verify_message(key, cases[c].algs[a], "msg", 3, (enum sr_sig_format)fmt, sig.data, sig.len));
                SR_ASSERT_ERR(SR_ERR_BAD_SIGNATURE, sr_pkey_verify_message(key, cases[c].algs[a], "msG", 3,
                                                                           (enum sr_sig_format)fmt, sig.data, sig.len));
                sr_buf_release(&sig);
            }
        }
        /* An algorithm of the wrong family or curve is refused, never silently used. */
        struct sr_buf sig;
        sr_buf_init(&sig, 4096, SR_BUF_PLAIN);
        enum sr_sign_alg wrong = cases[c].spec.type == SR_KEY_RSA ? SR_ALG_ES256
                                 : cases[c].spec.curve == SR_CURVE_P256 ? SR_ALG_ES256K : SR_ALG_RS256;
        SR_ASSERT_ERR(SR_ERR_ALG, sr_pkey_sign_message(key, wrong, "msg", 3, SR_SIG_DER, &sig));
        /* The two 256-bit curves share a hash and a signature length, never a key. */
        if (cases[c].spec.curve == SR_CURVE_P256K) {
            SR_ASSERT_ERR(SR_ERR_ALG, sr_pkey_sign_message(key, SR_ALG_ES256, "msg", 3, SR_SIG_DER, &sig));
        }
        sr_buf_release(&sig);
        EVP_PKEY_free(key);
    }
}

static void test_pkey_encodings(void **state)
{
    (void)state;
    struct sr_key_spec spec = {SR_KEY_EC, 0, SR_CURVE_P256, 0};
    EVP_PKEY *key = NULL, *back = NULL, *pub = NULL;
    SR_ASSERT_OK(sr_pkey_generate(&spec, &key));
    struct sr_buf p8, spki, plain;
    sr_buf_init(&p8, 4096, SR_BUF_SECRET);
    sr_buf_init(&plain, 4096, SR_BUF_PLAIN);
    sr_buf_init(&spki, 4096, SR_BUF_PLAIN);
    SR_ASSERT_ERR(SR_ERR_INTERNAL, sr_pkey_private_to_pkcs8(key, &plain)); /* private DER only into secret buffers */
    SR_ASSERT_OK(sr_pkey_private_to_pkcs8(key, &p8));
    SR_ASSERT_OK(sr_pkey_private_from_pkcs8(p8.data, p8.len, &back));
    assert_int_equal(EVP_PKEY_eq(key, back), 1);
    SR_ASSERT_ERR(SR_ERR_MALFORMED, sr_pkey_private_from_pkcs8(p8.data, p8.len - 1, &pub));
    SR_ASSERT_OK(sr_pkey_public_to_spki(key, &spki));
    SR_ASSERT_OK(sr_pkey_public_from_spki(spki.data, spki.len, &pub));
    assert_int_equal(EVP_PKEY_eq(key, pub), 1);
    struct sr_key_spec d;
    SR_ASSERT_OK(sr_pkey_describe(pub, &d));
    assert_int_equal(d.curve, SR_CURVE_P256);
    struct sr_key_spec bad = {SR_KEY_RSA, 1024, SR_CURVE_NONE, 0};
    EVP_PKEY *weak = NULL;
    SR_ASSERT_ERR(SR_ERR_KEY_TYPE, sr_pkey_generate(&bad, &weak));
    struct sr_key_spec e3 = {SR_KEY_RSA, 2048, SR_CURVE_NONE, 3};
    SR_ASSERT_ERR(SR_ERR_PUBEXP, sr_pkey_generate(&e3, &weak));
    sr_buf_release(&p8); sr_buf_release(&spki); sr_buf_release(&plain);
    EVP_PKEY_free(key); EVP_PKEY_free(back); EVP_PKEY_free(pub);
}

/*
 * EC keys' SPKI and PKCS#8 are built without OpenSSL's encoders (src/crypto/ecder.c): the bytes must be
 * exactly OpenSSL's, for every curve, over enough keys that scalars and coordinates with leading zero
 * bytes occur (P-521's scalar is padded to 66 bytes). RSA still goes through OpenSSL's encoders.
 */
static void test_ec_der_is_openssls(void **state)
{
    (void)state;
    const enum sr_curve curves[] = {SR_CURVE_P256, SR_CURVE_P384, SR_CURVE_P521, SR_CURVE_P256K};
    for (size_t c = 0; c < SR_ARRAY_LEN(curves); c++) {
        for (int i = 0; i < 300; i++) {
            struct sr_key_spec spec = {SR_KEY_EC, 0, curves[c], 0};
            EVP_PKEY *key = NULL;
            SR_ASSERT_OK(sr_pkey_generate(&spec, &key));
            struct sr_buf p8, spki;
            sr_buf_init(&p8, 4096, SR_BUF_SECRET);
            sr_buf_init(&spki, 4096, SR_BUF_PLAIN);
            SR_ASSERT_OK(sr_pkey_private_to_pkcs8(key, &p8));
            SR_ASSERT_OK(sr_pkey_public_to_spki(key, &spki));
            unsigned char *want_spki = NULL, *want_p8 = NULL;
            int spki_len = i2d_PUBKEY(key, &want_spki);
            PKCS8_PRIV_KEY_INFO *info = EVP_PKEY2PKCS8(key);
            assert_non_null(info);
            int p8_len = i2d_PKCS8_PRIV_KEY_INFO(info, &want_p8);
            assert_int_equal(spki.len, (size_t)spki_len);
            assert_memory_equal(spki.data, want_spki, spki.len);
            assert_int_equal(p8.len, (size_t)p8_len);
            assert_memory_equal(p8.data, want_p8, p8.len);
            /* The JWK's x and y (sliced from the encoded point) are the coordinates, padded to the field. */
            json_t *jwk = json_object();
            SR_ASSERT_OK(sr_jwk_set_public(jwk, key));
            const char *names[] = {"x", "y"}, *params[] = {OSSL_PKEY_PARAM_EC_PUB_X, OSSL_PKEY_PARAM_EC_PUB_Y};
            for (int k = 0; k < 2; k++) {
                struct sr_buf got;
                sr_buf_init(&got, 256, SR_BUF_PLAIN);
                SR_ASSERT_OK(sr_b64url_decode(sr_jstr(jwk, names[k]), &got));
                BIGNUM *bn = NULL;
                assert_int_equal(EVP_PKEY_get_bn_param(key, params[k], &bn), 1);
                uint8_t want[66];
                assert_int_equal(BN_bn2binpad(bn, want, (int)got.len), (int)got.len);
                assert_int_equal(got.len, sr_curve_coord_len(curves[c]));
                assert_memory_equal(got.data, want, got.len);
                BN_free(bn);
                sr_buf_release(&got);
            }
            json_decref(jwk);
            OPENSSL_free(want_spki);
            OPENSSL_clear_free(want_p8, (size_t)p8_len);
            PKCS8_PRIV_KEY_INFO_free(info);
            sr_buf_release(&p8);
            sr_buf_release(&spki);
            EVP_PKEY_free(key);
        }
    }
    /* RSA is not the EC codec's: it answers with OpenSSL's own encoding. */
    struct sr_key_spec rsa = {SR_KEY_RSA, 2048, SR_CURVE_NONE, 65537};
    EVP_PKEY *key = NULL;
    SR_ASSERT_OK(sr_pkey_generate(&rsa, &key));
    struct sr_buf spki;
    sr_buf_init(&spki, 4096, SR_BUF_PLAIN);
    SR_ASSERT_OK(sr_pkey_public_to_spki(key, &spki));
    unsigned char *want = NULL;
    int len = i2d_PUBKEY(key, &want);
    assert_int_equal(spki.len, (size_t)len);
    assert_memory_equal(spki.data, want, spki.len);
    OPENSSL_free(want);
    sr_buf_release(&spki);
    EVP_PKEY_free(key);
}

static void test_x509_warrant_chain(void **state)
{
    (void)state;
    struct sr_key_spec spec = {SR_KEY_EC, 0, SR_CURVE_P384, 0};
    EVP_PKEY *root = NULL, *module = NULL, *other = NULL;
    SR_ASSERT_OK(sr_pkey_generate(&spec, &root));
    SR_ASSERT_OK(sr_pkey_generate(&spec, &module));
    SR_ASSERT_OK(sr_pkey_generate(&spec, &other));
    X509 *root_cert = NULL, *warrant = NULL, *back = NULL;
    SR_ASSERT_OK(sr_x509_self_signed(root, "root", 10, &root_cert));
    SR_ASSERT_OK(sr_x509_issue(root, root_cert, module, "ABCD-EF01-2345", NULL, 10, &warrant));
    SR_ASSERT_OK(sr_x509_check_signed_by(warrant, root));
    SR_ASSERT_ERR(SR_ERR_BAD_SIGNATURE, sr_x509_check_signed_by(warrant, other));
    struct sr_buf pem;
    sr_buf_init(&pem, 65536, SR_BUF_PLAIN);
    SR_ASSERT_OK(sr_x509_to_pem(warrant, &pem));
    SR_ASSERT_OK(sr_x509_from_pem(pem.data, pem.len, &back));
    SR_ASSERT_OK(sr_x509_check_signed_by(back, root));
    sr_buf_release(&pem);
    X509_free(root_cert); X509_free(warrant); X509_free(back);
    EVP_PKEY_free(root); EVP_PKEY_free(module); EVP_PKEY_free(other);
}

typedef enum sr_err (*sr_kw_fn)(const uint8_t *key, size_t keylen, const uint8_t *in, size_t inlen,
                                struct sr_buf *out);

/* A key-wrap vector file: valid vectors unwrap to msg and wrap back to ct (the wrap is deterministic),
 * invalid ones never unwrap. */
static void sr_check_kw_file(const char *file, sr_kw_fn wrap, sr_kw_fn unwrap)
{
    json_t *root = sr_test_vectors(file);
    size_t gi, ti;
    json_t *g, *tc;
    int checked = 0;
    json_array_foreach(json_object_get(root, "testGroups"), gi, g) {
        json_array_foreach(json_object_get(g, "tests"), ti, tc) {
            struct sr_buf key, msg, ct, out, wrapped;
            sr_test_hex(sr_jstr(tc, "key"), &key);
            sr_test_hex(sr_jstr(tc, "msg"), &msg);
            sr_test_hex(sr_jstr(tc, "ct"), &ct);
            sr_buf_init(&out, 1 << 16, SR_BUF_SECRET);
            sr_buf_init(&wrapped, 1 << 16, SR_BUF_PLAIN);
            long long id = json_integer_value(json_object_get(tc, "tcId"));
            enum sr_err r = unwrap(key.data, key.len, ct.data, ct.len, &out);
            if (sr_expect_valid(tc)) {
                if (r != SR_OK || out.len != msg.len || (msg.len > 0 && memcmp(out.data, msg.data, msg.len) != 0)) {
                    fail_msg("%s tcId %lld: valid vector not unwrapped", file, id);
                }
                SR_ASSERT_OK(wrap(key.data, key.len, msg.data, msg.len, &wrapped));
                assert_int_equal(wrapped.len, ct.len);
                assert_memory_equal(wrapped.data, ct.data, ct.len);
            } else if (!sr_is_acceptable(tc) && r != SR_ERR_AUTH_FAILED) {
                fail_msg("%s tcId %lld: invalid vector not refused as an authentication failure", file, id);
            }
            checked++;
            sr_buf_release(&key); sr_buf_release(&msg); sr_buf_release(&ct);
            sr_buf_release(&out); sr_buf_release(&wrapped);
        }
    }
    assert_int_equal(checked, json_integer_value(json_object_get(root, "numberOfTests")));
    json_decref(root);
}

static void test_aes_kwp_wycheproof(void **state)
{
    (void)state;
    sr_check_kw_file("aes_kwp_test.json", sr_aes_kwp_wrap, sr_aes_kwp_unwrap);
}

static void test_aes_kw_wycheproof(void **state)
{
    (void)state;
    sr_check_kw_file("aes_wrap_test.json", sr_aes_kw_wrap, sr_aes_kw_unwrap);
}

/* AES-CBC with PKCS#7 padding: valid vectors decrypt to msg and encrypt to ct; every invalid one (bad
 * padding, a partial block) gets the one decryption error. */
static void test_aes_cbc_pkcs5_wycheproof(void **state)
{
    (void)state;
    json_t *root = sr_test_vectors("aes_cbc_pkcs5_test.json");
    size_t gi, ti;
    json_t *g, *tc;
    int checked = 0;
    json_array_foreach(json_object_get(root, "testGroups"), gi, g) {
        json_array_foreach(json_object_get(g, "tests"), ti, tc) {
            struct sr_buf key, iv, msg, ct, out, enc;
            sr_test_hex(sr_jstr(tc, "key"), &key);
            sr_test_hex(sr_jstr(tc, "iv"), &iv);
            sr_test_hex(sr_jstr(tc, "msg"), &msg);
            sr_test_hex(sr_jstr(tc, "ct"), &ct);
            assert_int_equal(iv.len, 16);
            sr_buf_init(&out, 1 << 16, SR_BUF_SECRET);
            sr_buf_init(&enc, 1 << 16, SR_BUF_PLAIN);
            long long id = json_integer_value(json_object_get(tc, "tcId"));
            enum sr_err r = sr_aes_cbc(false, true, key.data, key.len, iv.data, ct.data, ct.len, &out);
            if (sr_expect_valid(tc)) {
                if (r != SR_OK || out.len != msg.len || (msg.len > 0 && memcmp(out.data, msg.data, msg.len) != 0)) {
                    fail_msg("aes_cbc tcId %lld: valid vector not decrypted", id);
                }
                SR_ASSERT_OK(sr_aes_cbc(true, true, key.data, key.len, iv.data, msg.data, msg.len, &enc));
                assert_int_equal(enc.len, ct.len);
                assert_memory_equal(enc.data, ct.data, ct.len);
            } else if (!sr_is_acceptable(tc) && r != SR_ERR_AUTH_FAILED) {
                fail_msg("aes_cbc tcId %lld: invalid vector not refused with the one decryption error", id);
            }
            checked++;
            sr_buf_release(&key); sr_buf_release(&iv); sr_buf_release(&msg); sr_buf_release(&ct);
            sr_buf_release(&out); sr_buf_release(&enc);
        }
    }
    assert_int_equal(checked, json_integer_value(json_object_get(root, "numberOfTests")));
    json_decref(root);
}

/* Key Vault's symmetric algorithm table: names fix the key size; each mode refuses what it cannot take, and
 * every decryption failure is the one SR_ERR_DECRYPT_FAILED. */
static void test_sym_algorithms(void **state)
{
    (void)state;
    uint8_t key[32] = {9}, iv[16] = {1}, msg[32] = {2};
    assert_null(sr_sym_alg_find("A512GCM"));
    assert_null(sr_sym_alg_find(NULL));
    const struct sr_sym_alg *gcm = sr_sym_alg_find("A256GCM"), *cbc = sr_sym_alg_find("A256CBC");
    const struct sr_sym_alg *pad = sr_sym_alg_find("A256CBCPAD"), *kw = sr_sym_alg_find("CKM_AES_KEY_WRAP");
    const struct sr_sym_alg *kwp = sr_sym_alg_find("CKM_AES_KEY_WRAP_PAD"), *g128 = sr_sym_alg_find("A128GCM");
    assert_non_null(gcm); assert_non_null(cbc); assert_non_null(pad); assert_non_null(kw); assert_non_null(kwp);
    struct sr_buf out, back;
    struct sr_sym_extra ex;
    sr_buf_init(&out, 256, SR_BUF_PLAIN);
    sr_buf_init(&back, 256, SR_BUF_SECRET);
    struct sr_sym_input in = {.data = msg, .len = sizeof(msg)};
    /* A128GCM takes an AES-128 key only. */
    assert_int_equal(sr_sym_encrypt(g128, key, 32, &in, &out, &ex), SR_ERR_MALFORMED);
    /* GCM: the module makes a 12-byte IV; the tag and IV come back; a changed tag fails as bad padding does. */
    SR_ASSERT_OK(sr_sym_encrypt(gcm, key, 32, &in, &out, &ex));
    assert_int_equal(ex.iv_len, 12);
    assert_int_equal(ex.tag_len, 16);
    struct sr_sym_input d = {.data = out.data, .len = out.len, .iv = ex.iv, .iv_len = 12, .tag = ex.tag, .tag_len = 16};
    SR_ASSERT_OK(sr_sym_decrypt(gcm, key, 32, &d, &back));
    assert_memory_equal(back.data, msg, sizeof(msg));
    ex.tag[0] ^= 1;
    assert_int_equal(sr_sym_decrypt(gcm, key, 32, &d, &back), SR_ERR_DECRYPT_FAILED);
    d.tag = NULL;
    assert_int_equal(sr_sym_decrypt(gcm, key, 32, &d, &back), SR_ERR_MALFORMED);
    /* CBC needs its IV; unpadded CBC whole blocks; a bad padding is the one decryption error. */
    out.len = 0;
    assert_int_equal(sr_sym_encrypt(cbc, key, 32, &in, &out, &ex), SR_ERR_MALFORMED);
    struct sr_sym_input c = {.data = msg, .len = 31, .iv = iv, .iv_len = 16};
    assert_int_equal(sr_sym_encrypt(cbc, key, 32, &c, &out, &ex), SR_ERR_MALFORMED);
    struct sr_sym_input junk = {.data = msg, .len = 32, .iv = iv, .iv_len = 16};
    enum sr_err r = sr_sym_decrypt(pad, key, 32, &junk, &back);
    assert_true(r == SR_ERR_DECRYPT_FAILED || r == SR_OK); /* random blocks may end in a valid padding */
    /* The CKM_ wraps take any AES size; a changed wrap fails as the others do. */
    out.len = 0;
    struct sr_sym_input w = {.data = msg, .len = 24};
    SR_ASSERT_OK(sr_sym_encrypt(kw, key, 16, &w, &out, &ex));
    out.data[3] ^= 1;
    struct sr_sym_input u = {.data = out.data, .len = out.len};
    assert_int_equal(sr_sym_decrypt(kw, key, 16, &u, &back), SR_ERR_DECRYPT_FAILED);
    out.len = 0;
    struct sr_sym_input odd = {.data = msg, .len = 5};
    assert_int_equal(sr_sym_encrypt(kw, key, 24, &odd, &out, &ex), SR_ERR_MALFORMED);
    SR_ASSERT_OK(sr_sym_encrypt(kwp, key, 24, &odd, &out, &ex));
    sr_buf_release(&out);
    sr_buf_release(&back);
}

/* Unpadded CBC takes whole blocks only, and round-trips them. */
static void test_aes_cbc_unpadded(void **state)
{
    (void)state;
    uint8_t key[24] = {1}, iv[16] = {2}, msg[32] = {3};
    struct sr_buf ct, back;
    sr_buf_init(&ct, 64, SR_BUF_PLAIN);
    sr_buf_init(&back, 64, SR_BUF_SECRET);
    assert_int_equal(sr_aes_cbc(true, false, key, sizeof(key), iv, msg, 31, &ct), SR_ERR_MALFORMED);
    SR_ASSERT_OK(sr_aes_cbc(true, false, key, sizeof(key), iv, msg, sizeof(msg), &ct));
    assert_int_equal(ct.len, 32);
    assert_int_equal(sr_aes_cbc(false, false, key, sizeof(key), iv, ct.data, 31, &back), SR_ERR_AUTH_FAILED);
    SR_ASSERT_OK(sr_aes_cbc(false, false, key, sizeof(key), iv, ct.data, ct.len, &back));
    assert_memory_equal(back.data, msg, sizeof(msg));
    assert_int_equal(sr_aes_cbc(true, false, key, 20, iv, msg, 16, &ct), SR_ERR_MALFORMED);
    sr_buf_release(&ct);
    sr_buf_release(&back);
}

/* A Wycheproof group's private key, from its PKCS#8. */
static EVP_PKEY *sr_group_private_key(const json_t *g)
{
    struct sr_buf p8;
    EVP_PKEY *key = NULL;
    sr_test_hex(sr_jstr(g, "privateKeyPkcs8"), &p8);
    SR_ASSERT_OK(sr_pkey_private_from_pkcs8(p8.data, p8.len, &key));
    sr_buf_release(&p8);
    return key;
}

static void test_rsa_oaep_sha1_wycheproof(void **state)
{
    (void)state;
    json_t *root = sr_test_vectors("rsa_oaep_2048_sha1_mgf1sha1_test.json");
    size_t gi, ti;
    json_t *g, *tc;
    int checked = 0;
    json_array_foreach(json_object_get(root, "testGroups"), gi, g) {
        EVP_PKEY *key = sr_group_private_key(g);
        json_array_foreach(json_object_get(g, "tests"), ti, tc) {
            struct sr_buf msg, ct, label, out;
            sr_test_hex(sr_jstr(tc, "msg"), &msg);
            sr_test_hex(sr_jstr(tc, "ct"), &ct);
            sr_test_hex(sr_jstr(tc, "label"), &label);
            sr_buf_init(&out, 1024, SR_BUF_SECRET);
            enum sr_err r = sr_pkey_oaep_sha1_decrypt(key, label.data, label.len, ct.data, ct.len, &out);
            long long id = json_integer_value(json_object_get(tc, "tcId"));
            if (sr_expect_valid(tc)) {
                if (r != SR_OK || out.len != msg.len || (msg.len && memcmp(out.data, msg.data, msg.len) != 0)) {
                    fail_msg("oaep tcId %lld: valid vector not decrypted", id);
                }
            } else if (!sr_is_acceptable(tc)) {
                /* Every invalid ciphertext gives the one error: no padding oracle by error code. */
                assert_int_equal(r, SR_ERR_DECRYPT_FAILED);
            }
            checked++;
            sr_buf_release(&msg); sr_buf_release(&ct); sr_buf_release(&label); sr_buf_release(&out);
        }
        EVP_PKEY_free(key);
    }
    assert_int_equal(checked, json_integer_value(json_object_get(root, "numberOfTests")));
    json_decref(root);
}

/*
 * RSA-OAEP-256 (and RSA-OAEP) through the vault's decrypt, sr_pkey_decrypt, whose label is always empty
 * as Key Vault's is: the groups whose hash and MGF hash are the API's (SHA-256/SHA-256, SHA-1/SHA-1), every
 * vector of them; a vector with a label the API cannot send is counted apart (it must not decrypt).
 */
static void sr_oaep_file(const char *file, int *ret_checked, int *ret_labelled)
{
    json_t *root = sr_test_vectors(file);
    size_t gi, ti;
    json_t *g, *tc;
    json_array_foreach(json_object_get(root, "testGroups"), gi, g) {
        const char *sha = sr_jstr(g, "sha"), *mgf = sr_jstr(g, "mgfSha");
        enum sr_enc_alg alg = strcmp(sha, "SHA-256") == 0 && strcmp(mgf, "SHA-256") == 0 ? SR_ENC_RSA_OAEP_256
                              : strcmp(sha, "SHA-1") == 0 && strcmp(mgf, "SHA-1") == 0    ? SR_ENC_RSA_OAEP
                                                                                         : SR_ENC_NONE;
        if (alg == SR_ENC_NONE) {
            continue;
        }
        EVP_PKEY *key = sr_group_private_key(g);
        json_array_foreach(json_object_get(g, "tests"), ti, tc) {
            struct sr_buf msg, ct, out;
            sr_test_hex(sr_jstr(tc, "msg"), &msg);
            sr_test_hex(sr_jstr(tc, "ct"), &ct);
            sr_buf_init(&out, 1024, SR_BUF_SECRET);
            enum sr_err r = sr_pkey_decrypt(key, alg, ct.data, ct.len, &out);
            long long id = json_integer_value(json_object_get(tc, "tcId"));
            if (sr_jstr(tc, "label")[0] != 0) {
                if (r == SR_OK) {
                    fail_msg("%s tcId %lld: decrypted without its label", file, id);
                }
                (*ret_labelled)++;
            } else if (sr_expect_valid(tc)) {
                if (r != SR_OK || out.len != msg.len || (msg.len && memcmp(out.data, msg.data, msg.len) != 0)) {
                    fail_msg("%s tcId %lld: valid vector not decrypted", file, id);
                }
            } else if (!sr_is_acceptable(tc)) {
                assert_int_equal(r, SR_ERR_DECRYPT_FAILED); /* one error for every failure: no oracle */
            }
            (*ret_checked)++;
            sr_buf_release(&msg); sr_buf_release(&ct); sr_buf_release(&out);
        }
        EVP_PKEY_free(key);
    }
    json_decref(root);
}

static void test_rsa_oaep_api_wycheproof(void **state)
{
    (void)state;
    static const char *const files[] = {"rsa_oaep_2048_sha256_mgf1sha256_test.json",
                                        "rsa_oaep_3072_sha256_mgf1sha256_test.json",
                                        "rsa_oaep_4096_sha256_mgf1sha256_test.json"};
    for (size_t i = 0; i < SR_ARRAY_LEN(files); i++) {
        int checked = 0, labelled = 0;
        sr_oaep_file(files[i], &checked, &labelled);
        json_t *root = sr_test_vectors(files[i]);
        assert_int_equal(checked, json_integer_value(json_object_get(root, "numberOfTests")));
        json_decref(root);
    }
    int checked = 0, labelled = 0;
    sr_oaep_file("rsa_oaep_misc_test.json", &checked, &labelled);
    assert_true(checked > 0);
    print_message("rsa_oaep_misc: %d vectors of the API's hashes checked (%d with a label: refused)\n", checked,
                  labelled);
}

/* Every PKCS#1 v1.5 decryption vector, valid ones included, is refused with the one RSA1_5 error: the vault
 * never decrypts RSA1_5 (OpenSSL 3.0 has no implicit rejection, so it would be a padding oracle). */
static void test_rsa_pkcs1_decrypt_refused_wycheproof(void **state)
{
    (void)state;
    static const char *const files[] = {"rsa_pkcs1_2048_test.json", "rsa_pkcs1_3072_test.json",
                                        "rsa_pkcs1_4096_test.json"};
    for (size_t i = 0; i < SR_ARRAY_LEN(files); i++) {
        json_t *root = sr_test_vectors(files[i]);
        size_t gi, ti;
        json_t *g, *tc;
        int checked = 0;
        json_array_foreach(json_object_get(root, "testGroups"), gi, g) {
            EVP_PKEY *key = sr_group_private_key(g);
            json_array_foreach(json_object_get(g, "tests"), ti, tc) {
                struct sr_buf ct, out;
                sr_test_hex(sr_jstr(tc, "ct"), &ct);
                sr_buf_init(&out, 1024, SR_BUF_SECRET);
                SR_ASSERT_ERR(SR_ERR_RSA15_DECRYPT, sr_pkey_decrypt(key, SR_ENC_RSA1_5, ct.data, ct.len, &out));
                checked++;
                sr_buf_release(&ct); sr_buf_release(&out);
            }
            EVP_PKEY_free(key);
        }
        assert_int_equal(checked, json_integer_value(json_object_get(root, "numberOfTests")));
        json_decref(root);
    }
}

static void test_base64(void **state)
{
    (void)state;
    struct sr_buf t, b;
    sr_buf_init(&t, 100, SR_BUF_PLAIN);
    sr_buf_init(&b, 100, SR_BUF_PLAIN);
    SR_ASSERT_OK(sr_base64_encode((const uint8_t *)"hello", 5, &t));
    assert_string_equal((const char *)t.data, "aGVsbG8=");
    SR_ASSERT_OK(sr_base64_decode("aGVsbG8=", &b));
    assert_int_equal(b.len, 5);
    assert_memory_equal(b.data, "hello", 5);
    SR_ASSERT_ERR(SR_ERR_MALFORMED, sr_base64_decode("aGVsbG8", &b));
    SR_ASSERT_ERR(SR_ERR_MALFORMED, sr_base64_decode("a$==", &b));
    sr_buf_release(&t);
    sr_buf_release(&b);
}

/* A JWK that lacks any one member is refused cleanly (it once freed an uninitialised buffer). */
static void test_jwk_missing_member_refused(void **state)
{
    (void)state;
    static const char *const rsa[] = {"n", "e", "d", "p", "q", "dp", "dq", "qi"};
    for (size_t drop = 0; drop < SR_ARRAY_LEN(rsa); drop++) {
        json_t *jwk = json_pack("{s:s}", "kty", "RSA");
        for (size_t i = 0; i < SR_ARRAY_LEN(rsa); i++) {
            if (i != drop) {
                json_object_set_new(jwk, rsa[i], json_string("AQAB"));
            }
        }
        EVP_PKEY *key = NULL;
        SR_ASSERT_ERR(SR_ERR_JWK, sr_jwk_private_to_pkey(jwk, &key));
        assert_null(key);
        if (drop < 2) {
            SR_ASSERT_ERR(SR_ERR_JWK, sr_jwk_public_to_pkey(jwk, &key));
        }
        json_decref(jwk);
    }
    static const char *const ec[] = {"x", "y", "d"};
    static const char coord[] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"; /* 32 zero bytes */
    for (size_t drop = 0; drop < SR_ARRAY_LEN(ec); drop++) {
        json_t *jwk = json_pack("{s:s,s:s}", "kty", "EC", "crv", "P-256");
        for (size_t i = 0; i < SR_ARRAY_LEN(ec); i++) {
            if (i != drop) {
                json_object_set_new(jwk, ec[i], json_string(coord));
            }
        }
        EVP_PKEY *key = NULL;
        SR_ASSERT_ERR(SR_ERR_JWK, sr_jwk_private_to_pkey(jwk, &key));
        assert_null(key);
        json_decref(jwk);
    }
}

static void sr_unhex(const char *hex, uint8_t *out, size_t n)
{
    assert_int_equal(sr_hex_decode(hex, out, n), SR_OK);
}

/* sr_mac: RFC 4231 test case 1 (HMAC-SHA-224/256/384/512), RFC 2202 (HMAC-SHA-1), RFC 4493 (AES-CMAC). */
static void test_mac_known_answers(void **state)
{
    (void)state;
    uint8_t key[20];
    memset(key, 0x0b, sizeof(key));
    static const struct {
        enum sr_mac_alg alg;
        const char *want;
    } hmac[] = {
        {SR_MAC_HMAC_SHA1, "b617318655057264e28bc0b6fb378c8ef146be00"},
        {SR_MAC_HMAC_SHA224, "896fb1128abbdf196832107cd49df33f47b4b1169912ba4f53684b22"},
        {SR_MAC_HMAC_SHA256, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
        {SR_MAC_HMAC_SHA384, "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6"},
        {SR_MAC_HMAC_SHA512, "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854"},
    };
    for (size_t i = 0; i < SR_ARRAY_LEN(hmac); i++) {
        SR_AUTO_BUF struct sr_buf out = {0};
        sr_buf_init(&out, 64, SR_BUF_SECRET);
        SR_ASSERT_OK(sr_mac(hmac[i].alg, key, sizeof(key), "Hi There", 8, &out));
        uint8_t want[64];
        size_t n = strlen(hmac[i].want) / 2;
        sr_unhex(hmac[i].want, want, n);
        assert_true(out.len == n && n == sr_mac_len(hmac[i].alg) && memcmp(out.data, want, n) == 0);
    }
    uint8_t aes[16], msg[16], want[16];
    sr_unhex("2b7e151628aed2a6abf7158809cf4f3c", aes, 16);
    sr_unhex("6bc1bee22e409f96e93d7e117393172a", msg, 16);
    sr_unhex("070a16b46b4d4144f79bdd9dd04a287c", want, 16);
    SR_AUTO_BUF struct sr_buf out = {0};
    sr_buf_init(&out, 64, SR_BUF_SECRET);
    SR_ASSERT_OK(sr_mac(SR_MAC_CMAC_AES, aes, sizeof(aes), msg, sizeof(msg), &out));
    assert_memory_equal(out.data, want, 16);
    /* CMAC wants an AES key's length; an unknown MAC is refused. */
    assert_int_equal(sr_mac(SR_MAC_CMAC_AES, aes, 15, msg, 16, &out), SR_ERR_KEY_TYPE);
    assert_int_equal(sr_mac(SR_MAC_NONE, aes, 16, msg, 16, &out), SR_ERR_ALG);
}

/* sr_digest_begin/update/end in steps is sr_digest of the whole. */
static void test_digest_in_steps(void **state)
{
    (void)state;
    uint8_t whole[64], steps[64];
    size_t n1 = 0, n2 = 0;
    SR_ASSERT_OK(sr_digest("SHA384", "abcdef", 6, whole, &n1));
    EVP_MD_CTX *ctx = NULL;
    SR_ASSERT_OK(sr_digest_begin("SHA384", &ctx));
    SR_ASSERT_OK(sr_digest_update(ctx, "abc", 3));
    SR_ASSERT_OK(sr_digest_update(ctx, "def", 3));
    SR_ASSERT_OK(sr_digest_end(ctx, steps, &n2));
    assert_true(n1 == 48 && n2 == 48 && memcmp(whole, steps, 48) == 0);
    assert_int_equal(sr_digest_begin("NO-SUCH-MD", &ctx), SR_ERR_ALG);
}

/* sr_pkey_ecdh: both sides agree; another curve is refused. */
static void test_ecdh_agrees(void **state)
{
    (void)state;
    struct sr_key_spec p256 = {.type = SR_KEY_EC, .curve = SR_CURVE_P256}, p384 = {.type = SR_KEY_EC, .curve = SR_CURVE_P384};
    SR_AUTO_PKEY EVP_PKEY *a = NULL;
    SR_AUTO_PKEY EVP_PKEY *b = NULL;
    SR_AUTO_PKEY EVP_PKEY *c = NULL;
    SR_ASSERT_OK(sr_pkey_generate(&p256, &a));
    SR_ASSERT_OK(sr_pkey_generate(&p256, &b));
    SR_ASSERT_OK(sr_pkey_generate(&p384, &c));
    SR_AUTO_BUF struct sr_buf ab = {0};
    SR_AUTO_BUF struct sr_buf ba = {0};
    sr_buf_init(&ab, 128, SR_BUF_SECRET);
    sr_buf_init(&ba, 128, SR_BUF_SECRET);
    SR_ASSERT_OK(sr_pkey_ecdh(a, b, &ab));
    SR_ASSERT_OK(sr_pkey_ecdh(b, a, &ba));
    assert_true(ab.len == 32 && ba.len == 32 && memcmp(ab.data, ba.data, 32) == 0);
    assert_int_equal(sr_pkey_ecdh(a, c, &ab), SR_ERR_MALFORMED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aes_gcm_wycheproof),   cmocka_unit_test(test_aead_seal_open_and_tamper),
        cmocka_unit_test(test_kdfs_deterministic),   cmocka_unit_test(test_ecdsa_wycheproof),
        cmocka_unit_test(test_rsa_signature_wycheproof), cmocka_unit_test(test_sign_roundtrip_every_alg),
        cmocka_unit_test(test_pkey_encodings),       cmocka_unit_test(test_ec_der_is_openssls),       cmocka_unit_test(test_x509_warrant_chain),
        cmocka_unit_test(test_base64),            cmocka_unit_test(test_aes_kwp_wycheproof), cmocka_unit_test(test_aes_kw_wycheproof),
        cmocka_unit_test(test_aes_cbc_pkcs5_wycheproof), cmocka_unit_test(test_aes_cbc_unpadded),
        cmocka_unit_test(test_sym_algorithms),
        cmocka_unit_test(test_rsa_oaep_sha1_wycheproof), cmocka_unit_test(test_rsa_oaep_api_wycheproof),
        cmocka_unit_test(test_rsa_pkcs1_decrypt_refused_wycheproof), cmocka_unit_test(test_jwk_missing_member_refused),
        cmocka_unit_test(test_mac_known_answers),    cmocka_unit_test(test_digest_in_steps),
        cmocka_unit_test(test_ecdh_agrees),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
