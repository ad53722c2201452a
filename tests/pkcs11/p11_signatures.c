/*
 * Conformance, issue 27 item 3 (second part): the RSA mechanisms integrators still meet, against
 * libstrongroom-pkcs11.so and SoftHSMv2 alike (PKCS#11 2.40 Current Mechanisms §2.1.7-§2.1.13):
 *
 * - CKM_SHA224_RSA_PKCS and CKM_SHA224_RSA_PKCS_PSS sign, and OpenSSL verifies;
 * - CKM_SHA1_RSA_PKCS and CKM_SHA1_RSA_PKCS_PSS verify what OpenSSL signed (old signatures), through a
 *   public key object (C_CreateObject);
 * - CKM_RSA_PKCS encrypts (§2.1.6), and OpenSSL decrypts.
 *
 * Strongroom's own refusals come after: no SHA-1 signature is made, no PKCS#1 v1.5 decryption done.
 */
#include <p11-kit/pkcs11.h>

#include "testlib.h"
#include "fixture.h"

#include <stdio.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

static CK_BBOOL sr_yes = CK_TRUE;
static const uint8_t sr_msg[] = "an old signature, still checked";

/* OpenSSL's key as a token public key object that verifies and encrypts. */
static CK_OBJECT_HANDLE sr_public_object(struct sr_token *t, CK_SESSION_HANDLE s, EVP_PKEY *key)
{
    BIGNUM *bn = NULL;
    uint8_t n[512], e[3] = {1, 0, 1};
    assert_int_equal(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &bn), 1);
    int nlen = BN_bn2bin(bn, n);
    BN_free(bn);
    CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
    CK_KEY_TYPE type = CKK_RSA;
    CK_BBOOL no = CK_FALSE;
    CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof(cls)},   {CKA_KEY_TYPE, &type, sizeof(type)},
                           {CKA_TOKEN, &no, 1},              {CKA_VERIFY, &sr_yes, 1},
                           {CKA_ENCRYPT, &sr_yes, 1},        {CKA_MODULUS, n, (CK_ULONG)nlen},
                           {CKA_PUBLIC_EXPONENT, e, sizeof(e)}};
    CK_OBJECT_HANDLE o = 0;
    assert_int_equal(t->f->C_CreateObject(s, tmpl, SR_ARRAY_LEN(tmpl), &o), CKR_OK);
    return o;
}

/* A signature of sr_msg by OpenSSL: PKCS#1 v1.5, or PSS with a digest-long salt and MGF1 of the same hash. */
static size_t sr_openssl_sign(EVP_PKEY *key, const EVP_MD *md, bool pss, uint8_t *sig)
{
    size_t len = 512;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    assert_int_equal(EVP_DigestSignInit(ctx, &pctx, md, NULL, key), 1);
    if (pss) {
        assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 1);
        assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST), 1);
    }
    assert_int_equal(EVP_DigestSign(ctx, sig, &len, sr_msg, sizeof(sr_msg)), 1);
    EVP_MD_CTX_free(ctx);
    return len;
}

static int sr_openssl_verify(EVP_PKEY *key, const EVP_MD *md, bool pss, const uint8_t *sig, size_t len)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    assert_int_equal(EVP_DigestVerifyInit(ctx, &pctx, md, NULL, key), 1);
    if (pss) {
        assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 1);
        assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST), 1);
    }
    int ok = EVP_DigestVerify(ctx, sig, len, sr_msg, sizeof(sr_msg));
    EVP_MD_CTX_free(ctx);
    return ok;
}

static void sr_cases(struct sr_token *t)
{
    fprintf(stderr, "-- %s\n", t->name);
    CK_SESSION_HANDLE s = sr_open(t, CKF_RW_SESSION);
    assert_int_equal(t->f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR) "1234", 4), CKR_OK);
    uint8_t sig[512];
    CK_ULONG len;

    /* SHA-224 signatures of a token key, verified by OpenSSL. */
    CK_ULONG bits = 2048;
    CK_MECHANISM gen = {CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0};
    CK_ATTRIBUTE pt[] = {{CKA_MODULUS_BITS, &bits, sizeof(bits)}, {CKA_VERIFY, &sr_yes, 1}};
    CK_ATTRIBUTE kt[] = {{CKA_SIGN, &sr_yes, 1}};
    CK_OBJECT_HANDLE pub = 0, priv = 0;
    assert_int_equal(t->f->C_GenerateKeyPair(s, &gen, pt, 2, kt, 1, &pub, &priv), CKR_OK);
    EVP_PKEY *tokenkey = sr_token_rsa_public(t, s, pub);
    CK_RSA_PKCS_PSS_PARAMS pss224 = {CKM_SHA224, CKG_MGF1_SHA224, 28};
    CK_MECHANISM sha224[] = {{CKM_SHA224_RSA_PKCS, NULL, 0}, {CKM_SHA224_RSA_PKCS_PSS, &pss224, sizeof(pss224)}};
    for (size_t i = 0; i < 2; i++) {
        len = sizeof(sig);
        assert_int_equal(t->f->C_SignInit(s, &sha224[i], priv), CKR_OK);
        assert_int_equal(t->f->C_Sign(s, (CK_BYTE_PTR)sr_msg, sizeof(sr_msg), sig, &len), CKR_OK);
        assert_int_equal(len, 256);
        assert_int_equal(sr_openssl_verify(tokenkey, EVP_sha224(), i == 1, sig, len), 1);
    }
    EVP_PKEY_free(tokenkey);

    /* SHA-1 signatures made elsewhere, verified through a public key object. */
    EVP_PKEY *outside = EVP_RSA_gen(2048);
    assert_non_null(outside);
    CK_OBJECT_HANDLE o = sr_public_object(t, s, outside);
    CK_RSA_PKCS_PSS_PARAMS pss1 = {CKM_SHA_1, CKG_MGF1_SHA1, 20};
    CK_MECHANISM sha1[] = {{CKM_SHA1_RSA_PKCS, NULL, 0}, {CKM_SHA1_RSA_PKCS_PSS, &pss1, sizeof(pss1)}};
    for (size_t i = 0; i < 2; i++) {
        size_t n = sr_openssl_sign(outside, EVP_sha1(), i == 1, sig);
        assert_int_equal(t->f->C_VerifyInit(s, &sha1[i], o), CKR_OK);
        assert_int_equal(t->f->C_Verify(s, (CK_BYTE_PTR)sr_msg, sizeof(sr_msg), sig, n), CKR_OK);
        sig[10] ^= 0x40;
        assert_int_equal(t->f->C_VerifyInit(s, &sha1[i], o), CKR_OK);
        assert_int_equal(t->f->C_Verify(s, (CK_BYTE_PTR)sr_msg, sizeof(sr_msg), sig, n), CKR_SIGNATURE_INVALID);
        CK_MECHANISM_INFO info;
        assert_int_equal(t->f->C_GetMechanismInfo(t->slot, sha1[i].mechanism, &info), CKR_OK);
        assert_true(info.flags & CKF_VERIFY);
    }

    /* CKM_RSA_PKCS encryption, opened by OpenSSL. */
    CK_MECHANISM v15 = {CKM_RSA_PKCS, NULL, 0};
    uint8_t ct[512], back[512];
    len = sizeof(ct);
    assert_int_equal(t->f->C_EncryptInit(s, &v15, o), CKR_OK);
    assert_int_equal(t->f->C_Encrypt(s, (CK_BYTE_PTR)sr_msg, sizeof(sr_msg), ct, &len), CKR_OK);
    assert_int_equal(len, 256);
    EVP_PKEY_CTX *dctx = EVP_PKEY_CTX_new(outside, NULL);
    size_t blen = sizeof(back);
    assert_true(dctx && EVP_PKEY_decrypt_init(dctx) == 1 && EVP_PKEY_CTX_set_rsa_padding(dctx, RSA_PKCS1_PADDING) == 1);
    assert_int_equal(EVP_PKEY_decrypt(dctx, back, &blen, ct, len), 1);
    assert_true(blen == sizeof(sr_msg) && memcmp(back, sr_msg, blen) == 0);
    EVP_PKEY_CTX_free(dctx);
    /* More than the modulus less 11 bytes of padding is too long: CKR_DATA_LEN_RANGE (§2.1.6; SoftHSMv2 2.6
     * answers CKR_GENERAL_ERROR, so the exact code is checked for Strongroom alone). */
    uint8_t big[246] = {0};
    len = sizeof(ct);
    assert_int_equal(t->f->C_EncryptInit(s, &v15, o), CKR_OK);
    CK_RV too_long = t->f->C_Encrypt(s, big, sizeof(big), ct, &len);
    assert_true(too_long == CKR_DATA_LEN_RANGE || (too_long != CKR_OK && strcmp(t->name, "SoftHSMv2") == 0));
    EVP_PKEY_free(outside);
    assert_int_equal(t->f->C_CloseSession(s), CKR_OK);
}

static void test_signatures_strongroom(void **state)
{
    (void)state;
    struct sr_token t = {0};
    sr_token_strongroom_pin(&t);
    sr_cases(&t);
    /* Ours (docs/pkcs11.md): SHA-1 verifies and never signs; PKCS#1 v1.5 encrypts and never decrypts (OpenSSL
     * 3.0 has no implicit rejection: its decryption would be a padding oracle). SoftHSMv2 does both. */
    CK_SESSION_HANDLE s = sr_open(&t, CKF_RW_SESSION);
    assert_int_equal(t.f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR) "1234", 4), CKR_OK);
    CK_ULONG bits = 2048;
    CK_MECHANISM gen = {CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0};
    CK_ATTRIBUTE pt[] = {{CKA_MODULUS_BITS, &bits, sizeof(bits)}};
    CK_ATTRIBUTE kt[] = {{CKA_SIGN, &sr_yes, 1}, {CKA_DECRYPT, &sr_yes, 1}};
    CK_OBJECT_HANDLE pub = 0, priv = 0;
    assert_int_equal(t.f->C_GenerateKeyPair(s, &gen, pt, 1, kt, 2, &pub, &priv), CKR_OK);
    CK_MECHANISM sha1 = {CKM_SHA1_RSA_PKCS, NULL, 0};
    assert_int_equal(t.f->C_SignInit(s, &sha1, priv), CKR_MECHANISM_INVALID);
    CK_RSA_PKCS_PSS_PARAMS pss1 = {CKM_SHA_1, CKG_MGF1_SHA1, 20};
    CK_MECHANISM raw_pss = {CKM_RSA_PKCS_PSS, &pss1, sizeof(pss1)};
    assert_int_equal(t.f->C_SignInit(s, &raw_pss, priv), CKR_MECHANISM_PARAM_INVALID);
    CK_MECHANISM v15 = {CKM_RSA_PKCS, NULL, 0};
    assert_int_equal(t.f->C_DecryptInit(s, &v15, priv), CKR_MECHANISM_INVALID);
    CK_MECHANISM_INFO info;
    assert_int_equal(t.f->C_GetMechanismInfo(t.slot, CKM_SHA1_RSA_PKCS, &info), CKR_OK);
    assert_int_equal(info.flags & (CKF_SIGN | CKF_VERIFY), CKF_VERIFY);
    assert_int_equal(t.f->C_GetMechanismInfo(t.slot, CKM_RSA_PKCS, &info), CKR_OK);
    assert_int_equal(info.flags & (CKF_ENCRYPT | CKF_DECRYPT), CKF_ENCRYPT);
    sr_token_close(&t);
}

static void test_signatures_softhsm(void **state)
{
    (void)state;
    sr_softhsm_cases(sr_cases);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signatures_strongroom),
        cmocka_unit_test(test_signatures_softhsm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
