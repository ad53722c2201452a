/*
 * Conformance, issue 27 item 3: CKM_ECDH1_DERIVE through C_DeriveKey (PKCS#11 2.40 Current Mechanisms
 * §2.3.15, CK_ECDH1_DERIVE_PARAMS with CKD_NULL), against libstrongroom-pkcs11.so and SoftHSMv2 alike: a
 * P-256 key made with CKA_DERIVE and an outside party's public point give a secret key whose value is the
 * shared secret, shown by what the key computes (HMAC-SHA-256, AES-ECB) against OpenSSL's own ECDH.
 * Strongroom's own refusals come after.
 */
#include <p11-kit/pkcs11.h>

#include "testlib.h"
#include "fixture.h"

#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

static CK_BBOOL sr_yes = CK_TRUE;
static const uint8_t sr_p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};

/* The shared secret OpenSSL computes: our private key with the token's public point. */
static void sr_openssl_ecdh(EVP_PKEY *ours, struct sr_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE pub,
                            uint8_t z[32])
{
    uint8_t der[80];
    CK_ATTRIBUTE a = {CKA_EC_POINT, der, sizeof(der)};
    assert_int_equal(t->f->C_GetAttributeValue(s, pub, &a, 1), CKR_OK);
    assert_true(a.ulValueLen == 67 && der[0] == 0x04 && der[1] == 65);
    EVP_PKEY *theirs = EVP_PKEY_new();
    EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"prime256v1", 0),
                           OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, der + 2, 65), OSSL_PARAM_construct_end()};
    EVP_PKEY_free(theirs);
    theirs = NULL;
    assert_true(pc && EVP_PKEY_fromdata_init(pc) == 1 && EVP_PKEY_fromdata(pc, &theirs, EVP_PKEY_PUBLIC_KEY, params) == 1);
    EVP_PKEY_CTX_free(pc);
    EVP_PKEY_CTX *dc = EVP_PKEY_CTX_new(ours, NULL);
    size_t len = 32;
    assert_true(dc && EVP_PKEY_derive_init(dc) == 1 && EVP_PKEY_derive_set_peer(dc, theirs) == 1 &&
                EVP_PKEY_derive(dc, z, &len) == 1 && len == 32);
    EVP_PKEY_CTX_free(dc);
    EVP_PKEY_free(theirs);
}

static CK_RV sr_derive(struct sr_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE base, CK_ULONG kdf,
                       const uint8_t *point, size_t plen, CK_ATTRIBUTE *tmpl, CK_ULONG n, CK_OBJECT_HANDLE *ret)
{
    CK_ECDH1_DERIVE_PARAMS params = {kdf, 0, NULL, plen, (CK_BYTE_PTR)point};
    CK_MECHANISM m = {CKM_ECDH1_DERIVE, &params, sizeof(params)};
    return t->f->C_DeriveKey(s, &m, base, tmpl, n, ret);
}

static void sr_pair(struct sr_token *t, CK_SESSION_HANDLE s, CK_BBOOL derive, CK_OBJECT_HANDLE *pub,
                    CK_OBJECT_HANDLE *priv)
{
    CK_MECHANISM gen = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
    CK_ATTRIBUTE pt[] = {{CKA_EC_PARAMS, (void *)sr_p256, sizeof(sr_p256)}};
    CK_ATTRIBUTE kt[] = {{CKA_DERIVE, &derive, 1}, {CKA_SIGN, &sr_yes, 1}};
    assert_int_equal(t->f->C_GenerateKeyPair(s, &gen, pt, 1, kt, 2, pub, priv), CKR_OK);
}

static void sr_cases(struct sr_token *t, EVP_PKEY *peer, const uint8_t point[65])
{
    fprintf(stderr, "-- %s\n", t->name);
    CK_SESSION_HANDLE s = sr_open(t, CKF_RW_SESSION);
    assert_int_equal(t->f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR) "1234", 4), CKR_OK);
    CK_OBJECT_HANDLE pub = 0, priv = 0, k = 0;
    sr_pair(t, s, CK_TRUE, &pub, &priv);
    uint8_t z[32];
    sr_openssl_ecdh(peer, t, s, pub, z);
    CK_BBOOL derive = CK_FALSE;
    CK_ATTRIBUTE q = {CKA_DERIVE, &derive, 1};
    assert_int_equal(t->f->C_GetAttributeValue(s, priv, &q, 1), CKR_OK);
    assert_int_equal(derive, CK_TRUE);

    /* A generic secret: HMAC-SHA-256 under it is OpenSSL's HMAC under the shared secret. */
    CK_OBJECT_CLASS secret = CKO_SECRET_KEY;
    CK_KEY_TYPE generic = CKK_GENERIC_SECRET, aes = CKK_AES;
    CK_ULONG len = 32;
    CK_ATTRIBUTE gt[] = {{CKA_CLASS, &secret, sizeof(secret)}, {CKA_KEY_TYPE, &generic, sizeof(generic)},
                         {CKA_VALUE_LEN, &len, sizeof(len)}, {CKA_SIGN, &sr_yes, 1}, {CKA_VERIFY, &sr_yes, 1}};
    assert_int_equal(sr_derive(t, s, priv, CKD_NULL, point, 65, gt, SR_ARRAY_LEN(gt), &k), CKR_OK);
    uint8_t msg[] = "agreed", mac[32], want[32];
    unsigned int wlen = 0;
    HMAC(EVP_sha256(), z, 32, msg, sizeof(msg), want, &wlen);
    CK_MECHANISM hmac = {CKM_SHA256_HMAC, NULL, 0};
    CK_ULONG mlen = sizeof(mac);
    assert_int_equal(t->f->C_SignInit(s, &hmac, k), CKR_OK);
    assert_int_equal(t->f->C_Sign(s, msg, sizeof(msg), mac, &mlen), CKR_OK);
    assert_true(mlen == 32 && memcmp(mac, want, 32) == 0);

    /* An AES-256 key: ECB of a zero block is OpenSSL's under the shared secret. The point may come as a DER
     * OCTET STRING too. */
    uint8_t der[67] = {0x04, 65};
    memcpy(der + 2, point, 65);
    CK_ATTRIBUTE at[] = {{CKA_CLASS, &secret, sizeof(secret)}, {CKA_KEY_TYPE, &aes, sizeof(aes)},
                         {CKA_VALUE_LEN, &len, sizeof(len)}, {CKA_ENCRYPT, &sr_yes, 1}};
    assert_int_equal(sr_derive(t, s, priv, CKD_NULL, point, 65, at, SR_ARRAY_LEN(at), &k), CKR_OK);
    uint8_t zero[16] = {0}, ct[16], ref[16];
    CK_ULONG clen = sizeof(ct);
    CK_MECHANISM ecb = {CKM_AES_ECB, NULL, 0};
    assert_int_equal(t->f->C_EncryptInit(s, &ecb, k), CKR_OK);
    assert_int_equal(t->f->C_Encrypt(s, zero, 16, ct, &clen), CKR_OK);
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int l = 0;
    assert_true(EVP_EncryptInit_ex(c, EVP_aes_256_ecb(), NULL, z, NULL) == 1 && EVP_CIPHER_CTX_set_padding(c, 0) == 1 &&
                EVP_EncryptUpdate(c, ref, &l, zero, 16) == 1);
    EVP_CIPHER_CTX_free(c);
    assert_memory_equal(ct, ref, 16);
    (void)der;
    assert_int_equal(t->f->C_CloseSession(s), CKR_OK);
}

static void sr_peer(EVP_PKEY **ret, uint8_t point[65])
{
    *ret = EVP_EC_gen("P-256");
    size_t n = 0;
    assert_true(*ret != NULL &&
                EVP_PKEY_get_octet_string_param(*ret, OSSL_PKEY_PARAM_PUB_KEY, point, 65, &n) == 1 && n == 65);
}

static void test_derive_softhsm(void **state)
{
    (void)state;
    struct sr_token t = {0};
    if (!sr_token_softhsm(&t)) {
        skip();
    }
    EVP_PKEY *peer = NULL;
    uint8_t point[65];
    sr_peer(&peer, point);
    sr_cases(&t, peer, point);
    EVP_PKEY_free(peer);
    sr_token_close(&t);
}

static void test_derive_strongroom(void **state)
{
    (void)state;
    struct sr_token t = {0};
    sr_token_strongroom(&t);
    SR_ASSERT_OK(sr_module_set_user_pin_of(t.dir, "1234"));
    EVP_PKEY *peer = NULL;
    uint8_t point[65];
    sr_peer(&peer, point);
    sr_cases(&t, peer, point);
    CK_SESSION_HANDLE s = sr_open(&t, CKF_RW_SESSION);
    assert_int_equal(t.f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR) "1234", 4), CKR_OK);
    CK_OBJECT_HANDLE pub = 0, priv = 0, plain_pub = 0, plain = 0, k = 0;
    sr_pair(&t, s, CK_TRUE, &pub, &priv);
    sr_pair(&t, s, CK_FALSE, &plain_pub, &plain);
    /* Ours: a key made without CKA_DERIVE derives nothing; only CKD_NULL without shared data; the point must
     * be on the base key's curve; the key is as long as the shared secret (no end of it is cut off); the
     * point may also come as a DER OCTET STRING. */
    assert_int_equal(sr_derive(&t, s, plain, CKD_NULL, point, 65, NULL, 0, &k), CKR_KEY_FUNCTION_NOT_PERMITTED);
    assert_int_equal(sr_derive(&t, s, priv, CKD_SHA1_KDF, point, 65, NULL, 0, &k), CKR_MECHANISM_PARAM_INVALID);
    uint8_t off[65];
    memcpy(off, point, 65);
    off[64] ^= 1;
    assert_int_equal(sr_derive(&t, s, priv, CKD_NULL, off, 65, NULL, 0, &k), CKR_MECHANISM_PARAM_INVALID);
    CK_ULONG half = 16;
    CK_ATTRIBUTE shorter[] = {{CKA_VALUE_LEN, &half, sizeof(half)}};
    assert_int_equal(sr_derive(&t, s, priv, CKD_NULL, point, 65, shorter, 1, &k), CKR_TEMPLATE_INCONSISTENT);
    uint8_t der[67] = {0x04, 65};
    memcpy(der + 2, point, 65);
    assert_int_equal(sr_derive(&t, s, priv, CKD_NULL, der, sizeof(der), NULL, 0, &k), CKR_OK);
    CK_KEY_TYPE type = 0;
    CK_ATTRIBUTE q = {CKA_KEY_TYPE, &type, sizeof(type)};
    assert_int_equal(t.f->C_GetAttributeValue(s, k, &q, 1), CKR_OK);
    assert_int_equal(type, CKK_GENERIC_SECRET);
    /* Ours: RSA keys and secret keys derive nothing. */
    CK_ULONG bits = 2048;
    CK_MECHANISM rsagen = {CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0};
    CK_ATTRIBUTE rpt[] = {{CKA_MODULUS_BITS, &bits, sizeof(bits)}};
    CK_ATTRIBUTE rkt[] = {{CKA_DERIVE, &sr_yes, 1}};
    assert_int_equal(t.f->C_GenerateKeyPair(s, &rsagen, rpt, 1, rkt, 1, &pub, &priv), CKR_TEMPLATE_INCONSISTENT);
    EVP_PKEY_free(peer);
    sr_token_close(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_derive_strongroom),
        cmocka_unit_test(test_derive_softhsm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
