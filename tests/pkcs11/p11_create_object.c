/*
 * Conformance, issue 27 item 4: C_CreateObject of data objects (CKO_DATA) and of public keys, the classes
 * this token stores for an application, with the return codes of PKCS#11 2.40 §4.1.1 and the tables of
 * required attributes (§4.2 common footnotes; §4.5 data objects; §4.8, §2.1.2 and §2.3.3 of the mechanisms
 * for RSA and EC public keys), against libstrongroom-pkcs11.so and SoftHSMv2 alike:
 *
 * - CKR_TEMPLATE_INCOMPLETE: CKA_CLASS missing (footnote 1, every object); CKA_KEY_TYPE, CKA_MODULUS and
 *   CKA_PUBLIC_EXPONENT, CKA_EC_PARAMS and CKA_EC_POINT missing (footnote 1 of the key tables);
 * - CKR_ATTRIBUTE_VALUE_INVALID: a value of the wrong size for its type;
 * - CKR_TEMPLATE_INCONSISTENT: attributes of an RSA key on an EC key;
 * - §4.4's table: a token object needs a read/write session, a private object the user.
 *
 * Strongroom's own answers come after, in their own test.
 */
#define _GNU_SOURCE /* memmem */
#include <p11-kit/pkcs11.h>

#include "testlib.h"
#include "fixture.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>

static CK_BBOOL sr_yes = CK_TRUE, sr_no = CK_FALSE;
static CK_OBJECT_CLASS sr_data = CKO_DATA, sr_public = CKO_PUBLIC_KEY;
static CK_KEY_TYPE sr_rsa = CKK_RSA, sr_ec = CKK_EC;
static const char *sr_pin = "1234";
/* 1.2.840.113549.1.1.1 (rsaEncryption) as DER: an object identifier a data object may name. */
static const uint8_t sr_oid[] = {0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01};
static const uint8_t sr_p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};

static void sr_login(struct sr_token *t, CK_SESSION_HANDLE s)
{
    assert_int_equal(t->f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)sr_pin, strlen(sr_pin)), CKR_OK);
}

/* Attribute type of object o, as bytes, into out (its length returned). */
static CK_ULONG sr_get(struct sr_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type, void *out,
                       CK_ULONG cap)
{
    CK_ATTRIBUTE a = {type, out, cap};
    assert_int_equal(t->f->C_GetAttributeValue(s, o, &a, 1), CKR_OK);
    return a.ulValueLen;
}

/* The data objects of application app that session s sees. */
static CK_ULONG sr_count_data(struct sr_token *t, CK_SESSION_HANDLE s, const char *app)
{
    CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &sr_data, sizeof(sr_data)}, {CKA_APPLICATION, (void *)app, strlen(app)}};
    CK_OBJECT_HANDLE found[16];
    CK_ULONG n = 0;
    assert_int_equal(t->f->C_FindObjectsInit(s, tmpl, 2), CKR_OK);
    assert_int_equal(t->f->C_FindObjects(s, found, 16, &n), CKR_OK);
    assert_int_equal(t->f->C_FindObjectsFinal(s), CKR_OK);
    return n;
}

/* A data object of application app, with value v. */
static CK_RV sr_make_data(struct sr_token *t, CK_SESSION_HANDLE s, const char *app, const char *v, CK_BBOOL token,
                          CK_BBOOL priv, CK_OBJECT_HANDLE *ret)
{
    CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &sr_data, sizeof(sr_data)},   {CKA_TOKEN, &token, 1},
                           {CKA_PRIVATE, &priv, 1},                 {CKA_APPLICATION, (void *)app, strlen(app)},
                           {CKA_OBJECT_ID, (void *)sr_oid, sizeof(sr_oid)}, {CKA_VALUE, (void *)v, strlen(v)},
                           {CKA_LABEL, "a data object", 13}};
    return t->f->C_CreateObject(s, tmpl, SR_ARRAY_LEN(tmpl), ret);
}

/* A signature by OpenSSL under key of msg (SHA-256; PKCS#1 v1.5 for RSA, r||s for ECDSA). */
static size_t sr_sign(EVP_PKEY *key, const uint8_t *msg, size_t n, uint8_t *sig)
{
    size_t len = 512;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key), 1);
    assert_int_equal(EVP_DigestSign(ctx, sig, &len, msg, n), 1);
    EVP_MD_CTX_free(ctx);
    if (EVP_PKEY_is_a(key, "EC")) { /* DER to r||s */
        const uint8_t *p = sig;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)len);
        assert_non_null(es);
        uint8_t rs[64];
        assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_r(es), rs, 32), 32);
        assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_s(es), rs + 32, 32), 32);
        ECDSA_SIG_free(es);
        memcpy(sig, rs, 64);
        len = 64;
    }
    return len;
}

static void sr_verify_with(struct sr_token *t, CK_SESSION_HANDLE s, CK_MECHANISM_TYPE mech, CK_OBJECT_HANDLE k,
                           EVP_PKEY *key)
{
    uint8_t msg[] = "signed outside, verified inside", sig[512], digest[32];
    size_t len = sr_sign(key, msg, sizeof(msg), sig);
    /* CKM_ECDSA (SoftHSMv2 2.6 has no CKM_ECDSA_SHA256) takes the digest. */
    SHA256(msg, sizeof(msg), digest);
    uint8_t *in = mech == CKM_ECDSA ? digest : msg;
    CK_ULONG n = mech == CKM_ECDSA ? sizeof(digest) : sizeof(msg);
    CK_MECHANISM m = {mech, NULL, 0};
    assert_int_equal(t->f->C_VerifyInit(s, &m, k), CKR_OK);
    assert_int_equal(t->f->C_Verify(s, in, n, sig, len), CKR_OK);
    sig[3] ^= 1;
    assert_int_equal(t->f->C_VerifyInit(s, &m, k), CKR_OK);
    assert_int_equal(t->f->C_Verify(s, in, n, sig, len), CKR_SIGNATURE_INVALID);
}

static void sr_cases(struct sr_token *t)
{
    fprintf(stderr, "-- %s\n", t->name);
    CK_OBJECT_HANDLE o = 0;
    CK_SESSION_HANDLE ro = sr_open(t, 0);
    uint8_t buf[512];

    /* §4.2 footnote 1: CKA_CLASS must be given. */
    CK_ATTRIBUTE noclass[] = {{CKA_LABEL, "x", 1}, {CKA_TOKEN, &sr_no, 1}};
    assert_int_equal(t->f->C_CreateObject(ro, noclass, 2, &o), CKR_TEMPLATE_INCOMPLETE);

    /* §4.5: a data object needs nothing but its class. A public session one is made in a R/O public session
     * (§4.4), and reads back as made. */
    assert_int_equal(sr_make_data(t, ro, "conformance", "the value", CK_FALSE, CK_FALSE, &o), CKR_OK);
    assert_int_equal(sr_get(t, ro, o, CKA_VALUE, buf, sizeof(buf)), 9);
    assert_memory_equal(buf, "the value", 9);
    assert_int_equal(sr_get(t, ro, o, CKA_APPLICATION, buf, sizeof(buf)), 11);
    assert_memory_equal(buf, "conformance", 11);
    assert_int_equal(sr_get(t, ro, o, CKA_OBJECT_ID, buf, sizeof(buf)), sizeof(sr_oid));
    assert_memory_equal(buf, sr_oid, sizeof(sr_oid));
    CK_OBJECT_CLASS cls = 0;
    assert_int_equal(sr_get(t, ro, o, CKA_CLASS, &cls, sizeof(cls)), sizeof(cls));
    assert_int_equal(cls, CKO_DATA);
    assert_int_equal(sr_count_data(t, ro, "conformance"), 1);
    CK_ATTRIBUTE bare[] = {{CKA_CLASS, &sr_data, sizeof(sr_data)}, {CKA_PRIVATE, &sr_no, 1}};
    assert_int_equal(t->f->C_CreateObject(ro, bare, 2, &o), CKR_OK);
    assert_int_equal(t->f->C_DestroyObject(ro, o), CKR_OK);
    /* §4.4: a token object needs a R/W session; a private one the user. */
    assert_int_equal(sr_make_data(t, ro, "conformance", "v", CK_TRUE, CK_FALSE, &o), CKR_SESSION_READ_ONLY);
    assert_int_equal(sr_make_data(t, ro, "conformance", "v", CK_FALSE, CK_TRUE, &o), CKR_USER_NOT_LOGGED_IN);

    /* §4.8: a public key needs CKA_KEY_TYPE, then its type's parts. */
    CK_ATTRIBUTE notype[] = {{CKA_CLASS, &sr_public, sizeof(sr_public)}, {CKA_TOKEN, &sr_no, 1}};
    assert_int_equal(t->f->C_CreateObject(ro, notype, 2, &o), CKR_TEMPLATE_INCOMPLETE);
    EVP_PKEY *rsa = EVP_RSA_gen(2048);
    BIGNUM *bn = NULL;
    uint8_t n[256], e[3] = {1, 0, 1};
    assert_true(rsa != NULL && EVP_PKEY_get_bn_param(rsa, "n", &bn) == 1 && BN_bn2bin(bn, n) == 256);
    BN_free(bn);
    CK_ATTRIBUTE rsa_pub[] = {{CKA_CLASS, &sr_public, sizeof(sr_public)}, {CKA_KEY_TYPE, &sr_rsa, sizeof(sr_rsa)},
                              {CKA_TOKEN, &sr_no, 1},                     {CKA_VERIFY, &sr_yes, 1},
                              {CKA_PUBLIC_EXPONENT, e, sizeof(e)},        {CKA_MODULUS, n, sizeof(n)}};
    assert_int_equal(t->f->C_CreateObject(ro, rsa_pub, 5, &o), CKR_TEMPLATE_INCOMPLETE); /* no modulus */
    assert_int_equal(t->f->C_CreateObject(ro, rsa_pub, 6, &o), CKR_OK);
    sr_verify_with(t, ro, CKM_SHA256_RSA_PKCS, o, rsa);
    EVP_PKEY_free(rsa);

    EVP_PKEY *ec = EVP_EC_gen("P-256");
    assert_non_null(ec);
    uint8_t point[65], der_point[67];
    size_t plen = 0;
    assert_int_equal(EVP_PKEY_get_octet_string_param(ec, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point), &plen), 1);
    assert_int_equal(plen, 65);
    der_point[0] = 0x04, der_point[1] = 65;
    memcpy(der_point + 2, point, 65);
    CK_ATTRIBUTE ec_pub[] = {{CKA_CLASS, &sr_public, sizeof(sr_public)}, {CKA_KEY_TYPE, &sr_ec, sizeof(sr_ec)},
                             {CKA_TOKEN, &sr_no, 1},                     {CKA_VERIFY, &sr_yes, 1},
                             {CKA_EC_PARAMS, (void *)sr_p256, sizeof(sr_p256)},
                             {CKA_EC_POINT, der_point, sizeof(der_point)}, {CKA_MODULUS, n, sizeof(n)}};
    assert_int_equal(t->f->C_CreateObject(ro, ec_pub, 5, &o), CKR_TEMPLATE_INCOMPLETE); /* no point */
    assert_int_equal(t->f->C_CreateObject(ro, ec_pub, 6, &o), CKR_OK);
    sr_verify_with(t, ro, CKM_ECDSA, o, ec);
    EVP_PKEY_free(ec);

    /* A token data object: made by the user in a R/W session, it outlives the library; private, it is seen
     * only by the user; destroyed, it is gone for good. */
    CK_SESSION_HANDLE rw = sr_open(t, CKF_RW_SESSION);
    sr_login(t, rw);
    assert_int_equal(sr_make_data(t, rw, "kept", "kept across restarts", CK_TRUE, CK_TRUE, &o), CKR_OK);
    sr_token_restart(t);
    rw = sr_open(t, CKF_RW_SESSION);
    assert_int_equal(sr_count_data(t, rw, "kept"), 0);
    sr_login(t, rw);
    assert_int_equal(sr_count_data(t, rw, "kept"), 1);
    CK_ATTRIBUTE by_app[] = {{CKA_APPLICATION, "kept", 4}};
    CK_ULONG found = 0;
    assert_int_equal(t->f->C_FindObjectsInit(rw, by_app, 1), CKR_OK);
    assert_int_equal(t->f->C_FindObjects(rw, &o, 1, &found), CKR_OK);
    assert_int_equal(t->f->C_FindObjectsFinal(rw), CKR_OK);
    assert_int_equal(sr_get(t, rw, o, CKA_VALUE, buf, sizeof(buf)), 20);
    assert_memory_equal(buf, "kept across restarts", 20);
    assert_int_equal(t->f->C_DestroyObject(rw, o), CKR_OK);
    sr_token_restart(t);
    rw = sr_open(t, CKF_RW_SESSION);
    sr_login(t, rw);
    assert_int_equal(sr_count_data(t, rw, "kept"), 0);
    assert_int_equal(t->f->C_CloseSession(rw), CKR_OK);
}

static void test_create_object_softhsm(void **state)
{
    (void)state;
    sr_softhsm_cases(sr_cases);
}

/* The one file of dir/local whose name starts with prefix, read into out (its length returned). */
static size_t sr_read_one(const char *dir, const char *prefix, char *path, size_t cap, uint8_t *out, size_t out_cap)
{
    char local[300];
    snprintf(local, sizeof(local), "%s/local", dir);
    DIR *d = opendir(local);
    assert_non_null(d);
    path[0] = 0;
    for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
            snprintf(path, cap, "%s/%s", local, e->d_name);
        }
    }
    closedir(d);
    assert_true(path[0] != 0);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(out, 1, out_cap, f);
    fclose(f);
    return n;
}

static void test_create_object_strongroom(void **state)
{
    (void)state;
    struct sr_token t = {0};
    sr_token_strongroom(&t);
    SR_ASSERT_OK(sr_module_set_user_pin_of(t.dir, sr_pin));
    sr_cases(&t);

    CK_SESSION_HANDLE s = sr_open(&t, CKF_RW_SESSION);
    sr_login(&t, s);
    CK_OBJECT_HANDLE o = 0;
    /* Ours: no key with a secret part is made from the caller's bytes (the key-conjuring attack);
     * SoftHSMv2 makes one. */
    CK_OBJECT_CLASS secret = CKO_SECRET_KEY;
    CK_KEY_TYPE aes = CKK_AES;
    uint8_t value[32] = {0};
    CK_ATTRIBUTE conj[] = {{CKA_CLASS, &secret, sizeof(secret)}, {CKA_KEY_TYPE, &aes, sizeof(aes)}, {CKA_VALUE, value, 32}};
    assert_int_equal(t.f->C_CreateObject(s, conj, 3, &o), CKR_TEMPLATE_INCONSISTENT);
    /* Ours: a class this token does not store (certificates). */
    CK_OBJECT_CLASS cert = CKO_CERTIFICATE;
    CK_ATTRIBUTE certt[] = {{CKA_CLASS, &cert, sizeof(cert)}};
    assert_int_equal(t.f->C_CreateObject(s, certt, 1, &o), CKR_ATTRIBUTE_VALUE_INVALID);
    /* §4.1.1: a value of the wrong size is invalid (SoftHSMv2 2.6 skips it, then finds no class:
     * CKR_TEMPLATE_INCOMPLETE); an attribute the class does not have; one only the token sets. */
    CK_ATTRIBUTE shortclass[] = {{CKA_CLASS, &sr_data, 2}, {CKA_TOKEN, &sr_no, 1}};
    assert_int_equal(t.f->C_CreateObject(s, shortclass, 2, &o), CKR_ATTRIBUTE_VALUE_INVALID);
    CK_ATTRIBUTE data_mod[] = {{CKA_CLASS, &sr_data, sizeof(sr_data)}, {CKA_MODULUS, value, 32}};
    assert_int_equal(t.f->C_CreateObject(s, data_mod, 2, &o), CKR_ATTRIBUTE_TYPE_INVALID);
    CK_ULONG bits = 2048;
    CK_ATTRIBUTE local[] = {{CKA_CLASS, &sr_public, sizeof(sr_public)}, {CKA_MODULUS_BITS, &bits, sizeof(bits)}};
    assert_int_equal(t.f->C_CreateObject(s, local, 2, &o), CKR_ATTRIBUTE_READ_ONLY);
    /* Ours: an EC point off its curve is refused; RSA parts on an EC key conflict. */
    uint8_t off[67] = {0x04, 65, 0x04};
    memset(off + 3, 0x11, 64);
    CK_ATTRIBUTE ec_off[] = {{CKA_CLASS, &sr_public, sizeof(sr_public)}, {CKA_KEY_TYPE, &sr_ec, sizeof(sr_ec)},
                             {CKA_EC_PARAMS, (void *)sr_p256, sizeof(sr_p256)}, {CKA_EC_POINT, off, sizeof(off)},
                             {CKA_MODULUS, value, 32}};
    assert_int_equal(t.f->C_CreateObject(s, ec_off, 4, &o), CKR_ATTRIBUTE_VALUE_INVALID);
    assert_int_equal(t.f->C_CreateObject(s, ec_off, 5, &o), CKR_TEMPLATE_INCONSISTENT);

    /* Ours: a data object's value is up to 64 KiB, and reads back whole. */
    static uint8_t big[64 * 1024 + 1], back[64 * 1024];
    memset(big, 0x5a, sizeof(big));
    CK_ATTRIBUTE bigt[] = {{CKA_CLASS, &sr_data, sizeof(sr_data)}, {CKA_VALUE, big, sizeof(big)}};
    assert_int_equal(t.f->C_CreateObject(s, bigt, 2, &o), CKR_ATTRIBUTE_VALUE_INVALID);
    bigt[1].ulValueLen = sizeof(back);
    assert_int_equal(t.f->C_CreateObject(s, bigt, 2, &o), CKR_OK);
    CK_ATTRIBUTE getbig = {CKA_VALUE, back, sizeof(back)};
    assert_int_equal(t.f->C_GetAttributeValue(s, o, &getbig, 1), CKR_OK);
    assert_true(getbig.ulValueLen == sizeof(back) && memcmp(back, big, sizeof(back)) == 0);

    /* Ours: a token data object's file is sealed under the world key: its value is not in it in clear, and an
     * edited file is no object. */
    assert_int_equal(sr_make_data(&t, s, "sealed", "a private value in a file", CK_TRUE, CK_TRUE, &o), CKR_OK);
    char path[600];
    uint8_t file[8192];
    size_t n = sr_read_one(t.dir, "object_", path, sizeof(path), file, sizeof(file));
    assert_null(memmem(file, n, "a private value", 15));
    /* A copy of the file under another object's name is no second object. */
    char twin[640];
    snprintf(twin, sizeof(twin), "%s00", path);
    FILE *tw = fopen(twin, "wb");
    assert_non_null(tw);
    assert_int_equal(fwrite(file, 1, n, tw), n);
    fclose(tw);
    sr_token_restart(&t);
    s = sr_open(&t, CKF_RW_SESSION);
    sr_login(&t, s);
    assert_int_equal(sr_count_data(&t, s, "sealed"), 1);
    file[n - 1] ^= 1;
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(file, 1, n, f), n);
    fclose(f);
    sr_token_restart(&t);
    s = sr_open(&t, CKF_RW_SESSION);
    sr_login(&t, s);
    assert_int_equal(sr_count_data(&t, s, "sealed"), 0);
    sr_token_close(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_object_strongroom),
        cmocka_unit_test(test_create_object_softhsm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
