/* fixture.c - the tokens of the PKCS#11 conformance programs (fixture.h). */
#include "fixture.h"

#include "testlib.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#define SR_SOFTHSM "/usr/lib/softhsm/libsofthsm2.so"



static void sr_token_load(struct sr_token *t, const char *path)
{
    t->lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    assert_non_null(t->lib);
    CK_C_GetFunctionList get = (CK_C_GetFunctionList)dlsym(t->lib, "C_GetFunctionList");
    assert_non_null(get);
    assert_int_equal(get(&t->f), CKR_OK);
    assert_int_equal(t->f->C_Initialize(NULL), CKR_OK);
    CK_SLOT_ID slots[8];
    CK_ULONG n = 8;
    assert_int_equal(t->f->C_GetSlotList(CK_TRUE, slots, &n), CKR_OK);
    assert_true(n >= 1);
    t->slot = slots[0];
}

/* Strongroom: a module with a 2-of-3 world; its SO is a quorum of the cards. */
void sr_token_strongroom(struct sr_token *t)
{
    t->name = "libstrongroom-pkcs11.so";
    sr_test_tmpdir(t->dir, sizeof(t->dir));
    struct sr_module *m = sr_test_module_with_world(t->dir, 2, 3, NULL);
    sr_module_free(m);
    setenv("STRONGROOM_KMDATA", t->dir, 1);
    t->so_pin = "1:pin-1,2:pin-2";
    sr_token_load(t, SR_PKCS11_LIB);
}

/* SoftHSMv2: a token of its own under its own SOFTHSM2_CONF; skipped (false) where it is not installed. */
bool sr_token_softhsm(struct sr_token *t)
{
    if (access(SR_SOFTHSM, R_OK) != 0) {
        fprintf(stderr, "SoftHSMv2 is not installed (%s): its column is skipped\n", SR_SOFTHSM);
        return false;
    }
    t->name = "SoftHSMv2";
    sr_test_tmpdir(t->dir, sizeof(t->dir));
    char conf[400], cmd[1024];
    snprintf(conf, sizeof(conf), "%s/softhsm2.conf", t->dir);
    FILE *f = fopen(conf, "w");
    assert_non_null(f);
    fprintf(f, "directories.tokendir = %s\n", t->dir);
    fclose(f);
    setenv("SOFTHSM2_CONF", conf, 1);
    snprintf(cmd, sizeof(cmd), "softhsm2-util --init-token --free --label conf --pin 1234 --so-pin 5678 >/dev/null");
    assert_int_equal(system(cmd), 0);
    t->so_pin = "5678";
    sr_token_load(t, SR_SOFTHSM);
    return true;
}

void sr_softhsm_cases(void (*cases)(struct sr_token *t))
{
    struct sr_token t = {0};
    if (!sr_token_softhsm(&t)) {
        skip();
    }
    cases(&t);
    sr_token_close(&t);
}

void sr_token_strongroom_pin(struct sr_token *t)
{
    sr_token_strongroom(t);
    SR_ASSERT_OK(sr_module_set_user_pin_of(t->dir, "1234"));
}

void sr_token_restart(struct sr_token *t)
{
    assert_int_equal(t->f->C_Finalize(NULL), CKR_OK);
    dlclose(t->lib);
    sr_token_load(t, strcmp(t->name, "SoftHSMv2") == 0 ? SR_SOFTHSM : SR_PKCS11_LIB);
}

void sr_token_close(struct sr_token *t)
{
    assert_int_equal(t->f->C_Finalize(NULL), CKR_OK);
    dlclose(t->lib);
    sr_test_rmrf(t->dir);
}

CK_SESSION_HANDLE sr_open(struct sr_token *t, CK_FLAGS rw)
{
    CK_SESSION_HANDLE s = 0;
    assert_int_equal(t->f->C_OpenSession(t->slot, CKF_SERIAL_SESSION | rw, NULL, NULL, &s), CKR_OK);
    return s;
}


enum sr_err sr_module_set_user_pin_of(const char *dir, const char *pin)
{
    struct sr_module *m = NULL;
    SR_TRY(sr_module_open(dir, &m));
    enum sr_err r = sr_module_set_user_pin(m, pin, strlen(pin));
    sr_module_free(m);
    return r;
}

EVP_PKEY *sr_token_rsa_public(struct sr_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE pub)
{
    uint8_t n[512], e[16];
    CK_ATTRIBUTE a[] = {{CKA_MODULUS, n, sizeof(n)}, {CKA_PUBLIC_EXPONENT, e, sizeof(e)}};
    assert_int_equal(t->f->C_GetAttributeValue(s, pub, a, 2), CKR_OK);
    BIGNUM *bn = BN_bin2bn(n, (int)a[0].ulValueLen, NULL), *be = BN_bin2bn(e, (int)a[1].ulValueLen, NULL);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    assert_true(bn && be && bld && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) == 1 &&
                OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) == 1);
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    EVP_PKEY *key = NULL;
    assert_true(params && ctx && EVP_PKEY_fromdata_init(ctx) == 1 &&
                EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) == 1);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn);
    BN_free(be);
    return key;
}

/* key wrapped as CKM_RSA_AES_KEY_WRAP does it (Azure's BYOK format): OAEP-SHA-1 of a fresh AES-256 key, then
 * AES key wrap with padding of the key under it. */
static size_t sr_rsa_aes_wrap(EVP_PKEY *kek, const uint8_t *key, size_t n, uint8_t *out)
{
    uint8_t aes[32];
    assert_int_equal(RAND_bytes(aes, sizeof(aes)), 1);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(kek, NULL);
    size_t len = 512;
    assert_true(ctx && EVP_PKEY_encrypt_init(ctx) == 1 && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) == 1 &&
                EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha1()) == 1 && EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha1()) == 1);
    assert_int_equal(EVP_PKEY_encrypt(ctx, out, &len, aes, sizeof(aes)), 1);
    EVP_PKEY_CTX_free(ctx);
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    EVP_CIPHER_CTX_set_flags(c, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
    int l1 = 0, l2 = 0;
    assert_int_equal(EVP_EncryptInit_ex(c, EVP_aes_256_wrap_pad(), NULL, aes, NULL), 1);
    assert_int_equal(EVP_EncryptUpdate(c, out + len, &l1, key, (int)n), 1);
    assert_int_equal(EVP_EncryptFinal_ex(c, out + len + l1, &l2), 1);
    EVP_CIPHER_CTX_free(c);
    return len + (size_t)(l1 + l2);
}

CK_OBJECT_HANDLE sr_token_known_secret(struct sr_token *t, CK_SESSION_HANDLE s, CK_KEY_TYPE type, const uint8_t *key,
                                       size_t n, CK_ATTRIBUTE *uses, CK_ULONG nuses)
{
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ATTRIBUTE tmpl[16] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_KEY_TYPE, &type, sizeof(type)}, {CKA_TOKEN, &no, 1},
                             {CKA_VALUE, (void *)key, n}};
    assert_true(nuses <= 12);
    memcpy(tmpl + 4, uses, nuses * sizeof(*uses));
    CK_OBJECT_HANDLE k = CK_INVALID_HANDLE;
    if (strcmp(t->name, "SoftHSMv2") == 0) {
        assert_int_equal(t->f->C_CreateObject(s, tmpl, 4 + nuses, &k), CKR_OK);
        return k;
    }
    CK_ULONG bits = 2048;
    CK_MECHANISM gen = {CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0};
    CK_ATTRIBUTE pt[] = {{CKA_MODULUS_BITS, &bits, sizeof(bits)}, {CKA_WRAP, &yes, 1}};
    CK_ATTRIBUTE kt[] = {{CKA_UNWRAP, &yes, 1}, {CKA_SIGN, &no, 1}};
    CK_OBJECT_HANDLE pub = 0, priv = 0;
    assert_int_equal(t->f->C_GenerateKeyPair(s, &gen, pt, 2, kt, 2, &pub, &priv), CKR_OK);
    EVP_PKEY *kek = sr_token_rsa_public(t, s, pub);
    uint8_t blob[1024];
    size_t len = sr_rsa_aes_wrap(kek, key, n, blob);
    EVP_PKEY_free(kek);
    CK_RSA_PKCS_OAEP_PARAMS oaep = {CKM_SHA_1, CKG_MGF1_SHA1, CKZ_DATA_SPECIFIED, NULL, 0};
    struct { CK_ULONG bits; CK_RSA_PKCS_OAEP_PARAMS_PTR oaep; } params = {256, &oaep};
    CK_MECHANISM unwrap = {CKM_RSA_AES_KEY_WRAP, &params, sizeof(params)};
    tmpl[3] = tmpl[4 + nuses - 1]; /* no CKA_VALUE: the value comes wrapped */
    assert_int_equal(t->f->C_UnwrapKey(s, &unwrap, priv, blob, len, tmpl, 3 + nuses, &k), CKR_OK);
    assert_int_equal(t->f->C_DestroyObject(s, priv), CKR_OK); /* its public half goes with it */
    return k;
}
