/*
 * Unit tests of libstrongroom-pkcs11.so, loaded as an application loads it (dlopen, C_GetFunctionList):
 * login and visibility, every signature and encryption mechanism (checked by OpenSSL with the public key
 * the token gives), the published key-extraction attacks on PKCS#11 refused with the code the standard
 * names, and eight threads signing on four sessions at once.
 */
#include <p11-kit/pkcs11.h>

#include "testlib.h"
#include "base/fileio.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "crypto/crypto.h"

#define SR_USER_PIN "user-pin-1"

struct sr_p11_fixture {
    char dir[256];
    void *lib;
    CK_FUNCTION_LIST_PTR f;
    CK_SESSION_HANDLE s;
};

static int sr_setup(void **state)
{
    struct sr_p11_fixture *t = calloc(1, sizeof(*t));
    sr_test_tmpdir(t->dir, sizeof(t->dir));
    struct sr_module *m = sr_test_module_with_world(t->dir, 2, 3, NULL);
    SR_ASSERT_OK(sr_module_set_user_pin(m, SR_USER_PIN, strlen(SR_USER_PIN)));
    sr_module_free(m);
    setenv("STRONGROOM_KMDATA", t->dir, 1);
    t->lib = dlopen(SR_PKCS11_LIB, RTLD_NOW | RTLD_LOCAL);
    assert_non_null(t->lib);
    CK_C_GetFunctionList get = (CK_C_GetFunctionList)dlsym(t->lib, "C_GetFunctionList");
    assert_non_null(get);
    assert_int_equal(get(&t->f), CKR_OK);
    assert_int_equal(t->f->C_Initialize(NULL), CKR_OK);
    assert_int_equal(t->f->C_Initialize(NULL), CKR_CRYPTOKI_ALREADY_INITIALIZED);
    assert_int_equal(t->f->C_OpenSession(0, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &t->s), CKR_OK);
    *state = t;
    return 0;
}

static int sr_teardown(void **state)
{
    struct sr_p11_fixture *t = *state;
    assert_int_equal(t->f->C_Finalize(NULL), CKR_OK);
    dlclose(t->lib);
    sr_test_rmrf(t->dir);
    free(t);
    return 0;
}

static void sr_login(struct sr_p11_fixture *t)
{
    assert_int_equal(t->f->C_Login(t->s, CKU_USER, (CK_UTF8CHAR_PTR)SR_USER_PIN, strlen(SR_USER_PIN)), CKR_OK);
}

static CK_BBOOL sr_true = CK_TRUE, sr_false = CK_FALSE;

/* An RSA-2048 (or P-256 when ec) pair; decrypt chooses the private key's CKA_DECRYPT. */
static void sr_pair(struct sr_p11_fixture *t, bool ec, const char *id, bool decrypt, CK_OBJECT_HANDLE *pub,
                    CK_OBJECT_HANDLE *priv)
{
    CK_ULONG bits = 2048;
    static const CK_BYTE p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
    CK_ATTRIBUTE pt[] = {{ec ? CKA_EC_PARAMS : CKA_MODULUS_BITS, ec ? (void *)p256 : (void *)&bits,
                          ec ? sizeof(p256) : sizeof(bits)},
                         {CKA_ID, (void *)id, strlen(id)}, {CKA_VERIFY, &sr_true, 1}};
    CK_ATTRIBUTE kt[] = {{CKA_SIGN, &sr_true, 1}, {CKA_DECRYPT, decrypt ? &sr_true : &sr_false, 1},
                         {CKA_ID, (void *)id, strlen(id)}, {CKA_LABEL, (void *)id, strlen(id)}};
    CK_MECHANISM mech = {ec ? CKM_EC_KEY_PAIR_GEN : CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0};
    assert_int_equal(t->f->C_GenerateKeyPair(t->s, &mech, pt, 3, kt, 4, pub, priv), CKR_OK);
}

static CK_RV sr_aes(struct sr_p11_fixture *t, const char *id, CK_ATTRIBUTE_TYPE u1, CK_ATTRIBUTE_TYPE u2,
                    CK_OBJECT_HANDLE *ret)
{
    CK_ULONG len = 32;
    CK_ATTRIBUTE tmpl[] = {{CKA_VALUE_LEN, &len, sizeof(len)}, {CKA_ID, (void *)id, strlen(id)},
                           {u1, &sr_true, 1}, {u2, &sr_true, 1}};
    CK_MECHANISM mech = {CKM_AES_KEY_GEN, NULL, 0};
    return t->f->C_GenerateKey(t->s, &mech, tmpl, 4, ret);
}

/* The public key as the token gives it (CKA_PUBLIC_KEY_INFO), for OpenSSL to check with. */
static EVP_PKEY *sr_public(struct sr_p11_fixture *t, CK_OBJECT_HANDLE h)
{
    CK_BYTE der[2048];
    CK_ATTRIBUTE a = {CKA_PUBLIC_KEY_INFO, der, sizeof(der)};
    assert_int_equal(t->f->C_GetAttributeValue(t->s, h, &a, 1), CKR_OK);
    const unsigned char *p = der;
    EVP_PKEY *k = d2i_PUBKEY(NULL, &p, (long)a.ulValueLen);
    assert_non_null(k);
    return k;
}

static CK_ULONG sr_find(struct sr_p11_fixture *t, CK_OBJECT_CLASS cls)
{
    CK_ATTRIBUTE tmpl = {CKA_CLASS, &cls, sizeof(cls)};
    CK_OBJECT_HANDLE found[64];
    CK_ULONG n = 0;
    assert_int_equal(t->f->C_FindObjectsInit(t->s, &tmpl, 1), CKR_OK);
    assert_int_equal(t->f->C_FindObjects(t->s, found, 64, &n), CKR_OK);
    assert_int_equal(t->f->C_FindObjectsFinal(t->s), CKR_OK);
    return n;
}

static void test_login_and_visibility(void **state)
{
    struct sr_p11_fixture *t = *state;
    CK_OBJECT_HANDLE pub, priv;
    CK_MECHANISM gen = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
    assert_int_equal(t->f->C_GenerateKeyPair(t->s, &gen, NULL, 0, NULL, 0, &pub, &priv), CKR_USER_NOT_LOGGED_IN);
    assert_int_equal(t->f->C_Login(t->s, CKU_USER, (CK_UTF8CHAR_PTR) "wrong-pin", 9), CKR_PIN_INCORRECT);
    sr_login(t);
    assert_int_equal(t->f->C_Login(t->s, CKU_USER, (CK_UTF8CHAR_PTR)SR_USER_PIN, strlen(SR_USER_PIN)),
                     CKR_USER_ALREADY_LOGGED_IN);
    sr_pair(t, true, "vis", false, &pub, &priv);
    assert_int_equal(sr_find(t, CKO_PRIVATE_KEY), 1);
    assert_int_equal(t->f->C_Logout(t->s), CKR_OK);
    assert_int_equal(sr_find(t, CKO_PRIVATE_KEY), 0); /* private objects need the user */
    assert_int_equal(sr_find(t, CKO_PUBLIC_KEY), 1);
    CK_MECHANISM sign = {CKM_ECDSA_SHA256, NULL, 0};
    assert_int_equal(t->f->C_SignInit(t->s, &sign, priv), CKR_KEY_HANDLE_INVALID);
    /* The security officer is a quorum of the world's administrator cards. */
    const char *one = "1:pin-1", *two = "1:pin-1,3:pin-3", *bad = "1:pin-1,2:nope";
    assert_int_equal(t->f->C_Login(t->s, CKU_SO, (CK_UTF8CHAR_PTR)one, strlen(one)), CKR_PIN_INCORRECT);
    assert_int_equal(t->f->C_Login(t->s, CKU_SO, (CK_UTF8CHAR_PTR)bad, strlen(bad)), CKR_PIN_INCORRECT);
    assert_int_equal(t->f->C_Login(t->s, CKU_SO, (CK_UTF8CHAR_PTR)two, strlen(two)), CKR_OK);
    assert_int_equal(t->f->C_InitPIN(t->s, (CK_UTF8CHAR_PTR) "new-pin-2", 9), CKR_OK);
    assert_int_equal(t->f->C_Logout(t->s), CKR_OK);
    assert_int_equal(t->f->C_Login(t->s, CKU_USER, (CK_UTF8CHAR_PTR)SR_USER_PIN, strlen(SR_USER_PIN)),
                     CKR_PIN_INCORRECT);
    assert_int_equal(t->f->C_Login(t->s, CKU_USER, (CK_UTF8CHAR_PTR) "new-pin-2", 9), CKR_OK);
}

static const CK_MECHANISM_TYPE sr_rsa_sigs[] = {CKM_SHA256_RSA_PKCS, CKM_SHA384_RSA_PKCS, CKM_SHA512_RSA_PKCS,
                                                CKM_SHA256_RSA_PKCS_PSS, CKM_SHA384_RSA_PKCS_PSS,
                                                CKM_SHA512_RSA_PKCS_PSS};
static const CK_MECHANISM_TYPE sr_ec_sigs[] = {CKM_ECDSA_SHA256, CKM_ECDSA_SHA384, CKM_ECDSA_SHA512};

static const char *sr_md_of(CK_MECHANISM_TYPE m)
{
    return m == CKM_SHA384_RSA_PKCS || m == CKM_SHA384_RSA_PKCS_PSS || m == CKM_ECDSA_SHA384   ? "SHA384"
           : m == CKM_SHA512_RSA_PKCS || m == CKM_SHA512_RSA_PKCS_PSS || m == CKM_ECDSA_SHA512 ? "SHA512"
                                                                                                : "SHA256";
}

static bool sr_pss(CK_MECHANISM_TYPE m)
{
    return m == CKM_SHA256_RSA_PKCS_PSS || m == CKM_SHA384_RSA_PKCS_PSS || m == CKM_SHA512_RSA_PKCS_PSS;
}

/* OpenSSL's verdict on a PKCS#11 signature (ECDSA r||s made DER first). */
static bool sr_openssl_verifies(EVP_PKEY *pub, CK_MECHANISM_TYPE m, const uint8_t *msg, size_t n,
                                const uint8_t *sig, size_t siglen)
{
    struct sr_buf der = {0};
    sr_buf_init(&der, 512, SR_BUF_PLAIN);
    if (EVP_PKEY_is_a(pub, "EC")) {
        SR_ASSERT_OK(sr_ecdsa_raw_to_der(sig, siglen, siglen / 2, &der));
        sig = der.data;
        siglen = der.len;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    assert_int_equal(EVP_DigestVerifyInit_ex(ctx, &pctx, sr_md_of(m), NULL, NULL, pub, NULL), 1);
    if (sr_pss(m)) {
        assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 1);
        assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST), 1);
    }
    int ok = EVP_DigestVerify(ctx, sig, siglen, msg, n);
    EVP_MD_CTX_free(ctx);
    sr_buf_release(&der);
    return ok == 1;
}

static void sr_sign_all(struct sr_p11_fixture *t, CK_OBJECT_HANDLE pub, CK_OBJECT_HANDLE priv,
                        const CK_MECHANISM_TYPE *mechs, size_t n)
{
    static const uint8_t msg[] = "signed through PKCS#11";
    EVP_PKEY *key = sr_public(t, pub);
    for (size_t i = 0; i < n; i++) {
        CK_RSA_PKCS_PSS_PARAMS pss = {CKM_SHA256, CKG_MGF1_SHA256, 32};
        if (mechs[i] == CKM_SHA384_RSA_PKCS_PSS) {
            pss = (CK_RSA_PKCS_PSS_PARAMS){CKM_SHA384, CKG_MGF1_SHA384, 48};
        } else if (mechs[i] == CKM_SHA512_RSA_PKCS_PSS) {
            pss = (CK_RSA_PKCS_PSS_PARAMS){CKM_SHA512, CKG_MGF1_SHA512, 64};
        }
        CK_MECHANISM mech = {mechs[i], sr_pss(mechs[i]) ? &pss : NULL, sr_pss(mechs[i]) ? sizeof(pss) : 0};
        CK_BYTE sig[512], sig2[512];
        CK_ULONG siglen = 0, siglen2 = sizeof(sig2);
        assert_int_equal(t->f->C_SignInit(t->s, &mech, priv), CKR_OK);
        assert_int_equal(t->f->C_Sign(t->s, (CK_BYTE_PTR)msg, sizeof(msg), NULL, &siglen), CKR_OK); /* length */
        assert_int_equal(t->f->C_Sign(t->s, (CK_BYTE_PTR)msg, sizeof(msg), sig, &siglen), CKR_OK);
        assert_true(sr_openssl_verifies(key, mechs[i], msg, sizeof(msg), sig, siglen));
        /* multi-part gives a signature that verifies just the same */
        assert_int_equal(t->f->C_SignInit(t->s, &mech, priv), CKR_OK);
        assert_int_equal(t->f->C_SignUpdate(t->s, (CK_BYTE_PTR)msg, 5), CKR_OK);
        assert_int_equal(t->f->C_SignUpdate(t->s, (CK_BYTE_PTR)msg + 5, sizeof(msg) - 5), CKR_OK);
        assert_int_equal(t->f->C_SignFinal(t->s, sig2, &siglen2), CKR_OK);
        assert_true(sr_openssl_verifies(key, mechs[i], msg, sizeof(msg), sig2, siglen2));
        assert_int_equal(t->f->C_VerifyInit(t->s, &mech, pub), CKR_OK);
        assert_int_equal(t->f->C_Verify(t->s, (CK_BYTE_PTR)msg, sizeof(msg), sig, siglen), CKR_OK);
        sig[siglen / 2] ^= 1;
        assert_int_equal(t->f->C_VerifyInit(t->s, &mech, pub), CKR_OK);
        assert_int_equal(t->f->C_Verify(t->s, (CK_BYTE_PTR)msg, sizeof(msg), sig, siglen), CKR_SIGNATURE_INVALID);
    }
    EVP_PKEY_free(key);
}

static void test_signatures(void **state)
{
    struct sr_p11_fixture *t = *state;
    sr_login(t);
    CK_OBJECT_HANDLE rpub, rpriv, epub, epriv;
    sr_pair(t, false, "rsa", true, &rpub, &rpriv);
    sr_pair(t, true, "ec", false, &epub, &epriv);
    sr_sign_all(t, rpub, rpriv, sr_rsa_sigs, SR_ARRAY_LEN(sr_rsa_sigs));
    sr_sign_all(t, epub, epriv, sr_ec_sigs, SR_ARRAY_LEN(sr_ec_sigs));
    /* CKM_RSA_PKCS signs the DigestInfo it is given; CKM_ECDSA the digest */
    static const CK_BYTE digest_info[51] = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03,
                                            0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20};
    CK_MECHANISM raw = {CKM_RSA_PKCS, NULL, 0};
    CK_BYTE sig[512];
    CK_ULONG siglen = sizeof(sig);
    assert_int_equal(t->f->C_SignInit(t->s, &raw, rpriv), CKR_OK);
    assert_int_equal(t->f->C_Sign(t->s, (CK_BYTE_PTR)digest_info, sizeof(digest_info), sig, &siglen), CKR_OK);
    assert_int_equal(t->f->C_VerifyInit(t->s, &raw, rpub), CKR_OK);
    assert_int_equal(t->f->C_Verify(t->s, (CK_BYTE_PTR)digest_info, sizeof(digest_info), sig, siglen), CKR_OK);
    CK_MECHANISM ecdsa = {CKM_ECDSA, NULL, 0};
    siglen = sizeof(sig);
    assert_int_equal(t->f->C_SignInit(t->s, &ecdsa, epriv), CKR_OK);
    assert_int_equal(t->f->C_Sign(t->s, (CK_BYTE_PTR)digest_info, 20, sig, &siglen), CKR_OK); /* a SHA-1 length */
    assert_int_equal(siglen, 64);
    /* a short buffer keeps the operation */
    CK_MECHANISM sha = {CKM_SHA256_RSA_PKCS, NULL, 0};
    siglen = 10;
    assert_int_equal(t->f->C_SignInit(t->s, &sha, rpriv), CKR_OK);
    assert_int_equal(t->f->C_Sign(t->s, sig, 3, sig, &siglen), CKR_BUFFER_TOO_SMALL);
    assert_int_equal(siglen, 256);
    assert_int_equal(t->f->C_Sign(t->s, sig, 3, sig, &siglen), CKR_OK);
    assert_int_equal(t->f->C_Sign(t->s, sig, 3, sig, &siglen), CKR_OPERATION_NOT_INITIALIZED);
}

static void sr_roundtrip(struct sr_p11_fixture *t, CK_MECHANISM *mech, CK_OBJECT_HANDLE enc_key,
                         CK_OBJECT_HANDLE dec_key, size_t n)
{
    CK_BYTE pt[64], ct[1024], back[1024];
    CK_ULONG ctlen = sizeof(ct), backlen = sizeof(back);
    memset(pt, 0x5a, sizeof(pt));
    assert_int_equal(t->f->C_EncryptInit(t->s, mech, enc_key), CKR_OK);
    assert_int_equal(t->f->C_Encrypt(t->s, pt, n, ct, &ctlen), CKR_OK);
    assert_int_equal(t->f->C_DecryptInit(t->s, mech, dec_key), CKR_OK);
    assert_int_equal(t->f->C_Decrypt(t->s, ct, ctlen, back, &backlen), CKR_OK);
    assert_int_equal(backlen, n);
    assert_memory_equal(back, pt, n);
    ct[ctlen - 1] ^= 1; /* one answer for a changed tag, padding or wrap: no oracle */
    backlen = sizeof(back);
    assert_int_equal(t->f->C_DecryptInit(t->s, mech, dec_key), CKR_OK);
    CK_RV rv = t->f->C_Decrypt(t->s, ct, ctlen, back, &backlen);
    assert_true(rv == CKR_ENCRYPTED_DATA_INVALID || (mech->mechanism == CKM_AES_CBC_PAD && rv == CKR_OK));
}

static void test_encryption(void **state)
{
    struct sr_p11_fixture *t = *state;
    sr_login(t);
    CK_OBJECT_HANDLE pub, priv, aes;
    sr_pair(t, false, "oaep", true, &pub, &priv);
    CK_RSA_PKCS_OAEP_PARAMS sha1 = {CKM_SHA_1, CKG_MGF1_SHA1, CKZ_DATA_SPECIFIED, NULL, 0};
    CK_RSA_PKCS_OAEP_PARAMS sha256 = {CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, NULL, 0};
    CK_MECHANISM oaep1 = {CKM_RSA_PKCS_OAEP, &sha1, sizeof(sha1)}, oaep256 = {CKM_RSA_PKCS_OAEP, &sha256, sizeof(sha256)};
    sr_roundtrip(t, &oaep1, pub, priv, 32);
    sr_roundtrip(t, &oaep256, pub, priv, 32);
    assert_int_equal(sr_aes(t, "aes", CKA_ENCRYPT, CKA_DECRYPT, &aes), CKR_OK);
    CK_BYTE iv[16] = {1, 2, 3};
    CK_BYTE aad[] = "header";
    CK_GCM_PARAMS gcm = {iv, 12, 96, aad, sizeof(aad), 128};
    CK_MECHANISM mechs[] = {{CKM_AES_GCM, &gcm, sizeof(gcm)}, {CKM_AES_CBC_PAD, iv, 16}, {CKM_AES_KEY_WRAP, NULL, 0},
                            {CKM_AES_KEY_WRAP_PAD, NULL, 0}};
    for (size_t i = 0; i < SR_ARRAY_LEN(mechs); i++) {
        sr_roundtrip(t, &mechs[i], aes, aes, mechs[i].mechanism == CKM_AES_KEY_WRAP ? 32 : 37);
    }
    CK_MECHANISM digest = {CKM_SHA256, NULL, 0};
    CK_BYTE out[64];
    CK_ULONG outlen = sizeof(out);
    uint8_t want[32];
    SR_ASSERT_OK(sr_sha256("abc", 3, want));
    assert_int_equal(t->f->C_DigestInit(t->s, &digest), CKR_OK);
    assert_int_equal(t->f->C_Digest(t->s, (CK_BYTE_PTR) "abc", 3, out, &outlen), CKR_OK);
    assert_memory_equal(out, want, 32);
}

/* The published attacks on PKCS#11 key management (Clulow, CHES 2003; Bortolozzo, Centenaro, Focardi and
 * Steel, "Attacking and fixing PKCS#11 security tokens", CCS 2010 — the Tookan attacks), each refused. */
static void test_key_extraction_attacks(void **state)
{
    struct sr_p11_fixture *t = *state;
    sr_login(t);
    CK_OBJECT_HANDLE wrap, secret, pub, priv, none;
    assert_int_equal(sr_aes(t, "wrapper", CKA_WRAP, CKA_UNWRAP, &wrap), CKR_OK);
    assert_int_equal(sr_aes(t, "secret", CKA_ENCRYPT, CKA_DECRYPT, &secret), CKR_OK);
    sr_pair(t, false, "signer", false, &pub, &priv);

    /* Clulow's wrap/decrypt: a key that may both wrap and decrypt unwraps anything into the clear. */
    assert_int_equal(sr_aes(t, "wd", CKA_WRAP, CKA_DECRYPT, &none), CKR_TEMPLATE_INCONSISTENT);
    /* Tookan's encrypt/unwrap: encrypt a value you know, unwrap it as a key you know. */
    assert_int_equal(sr_aes(t, "eu", CKA_ENCRYPT, CKA_UNWRAP, &none), CKR_TEMPLATE_INCONSISTENT);
    /* Tookan's re-attribution: give the wrapping key the other role afterwards. */
    CK_ATTRIBUTE dec = {CKA_DECRYPT, &sr_true, 1};
    assert_int_equal(t->f->C_SetAttributeValue(t->s, wrap, &dec, 1), CKR_ATTRIBUTE_READ_ONLY);
    CK_ATTRIBUTE wrp = {CKA_WRAP, &sr_true, 1};
    assert_int_equal(t->f->C_SetAttributeValue(t->s, secret, &wrp, 1), CKR_ATTRIBUTE_READ_ONLY);
    /* Sensitive → not sensitive, not extractable → extractable. */
    CK_ATTRIBUTE unsens = {CKA_SENSITIVE, &sr_false, 1}, extract = {CKA_EXTRACTABLE, &sr_true, 1};
    assert_int_equal(t->f->C_SetAttributeValue(t->s, secret, &unsens, 1), CKR_ATTRIBUTE_READ_ONLY);
    assert_int_equal(t->f->C_SetAttributeValue(t->s, priv, &extract, 1), CKR_ATTRIBUTE_READ_ONLY);
    /* Nor can a key be made that way: never non-sensitive, and extractable only to trusted keys. */
    CK_ULONG len = 16;
    CK_ATTRIBUTE weak[] = {{CKA_VALUE_LEN, &len, sizeof(len)}, {CKA_SENSITIVE, &sr_false, 1}};
    CK_MECHANISM gen = {CKM_AES_KEY_GEN, NULL, 0};
    assert_int_equal(t->f->C_GenerateKey(t->s, &gen, weak, 2, &none), CKR_ATTRIBUTE_VALUE_INVALID);
    weak[1] = (CK_ATTRIBUTE){CKA_WRAP_WITH_TRUSTED, &sr_false, 1};
    assert_int_equal(t->f->C_GenerateKey(t->s, &gen, weak, 2, &none), CKR_ATTRIBUTE_VALUE_INVALID);
    CK_OBJECT_HANDLE extractable;
    weak[1] = (CK_ATTRIBUTE){CKA_EXTRACTABLE, &sr_true, 1};
    assert_int_equal(t->f->C_GenerateKey(t->s, &gen, weak, 2, &extractable), CKR_OK);
    /* ... and under an untrusted key (the attacker's own pair's public half), or as plain AES key wrap: no. */
    CK_RSA_PKCS_OAEP_PARAMS sha1 = {CKM_SHA_1, CKG_MGF1_SHA1, CKZ_DATA_SPECIFIED, NULL, 0};
    struct { CK_ULONG bits; CK_RSA_PKCS_OAEP_PARAMS_PTR oaep; } rsa_aes = {256, &sha1};
    CK_MECHANISM rsa_aes_mech = {CKM_RSA_AES_KEY_WRAP, &rsa_aes, sizeof(rsa_aes)};
    CK_BYTE blob[4096];
    CK_ULONG bloblen = sizeof(blob);
    assert_int_equal(t->f->C_WrapKey(t->s, &rsa_aes_mech, pub, extractable, blob, &bloblen), CKR_KEY_NOT_WRAPPABLE);
    CK_MECHANISM aeskw = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
    assert_int_equal(t->f->C_WrapKey(t->s, &aeskw, wrap, extractable, blob, &bloblen), CKR_MECHANISM_INVALID);
    /* A user cannot declare a key trusted: that takes the card quorum (SO). */
    CK_OBJECT_CLASS pubcls = CKO_PUBLIC_KEY;
    CK_BYTE n[256], e[3] = {1, 0, 1};
    EVP_PKEY *outsider = EVP_RSA_gen(2048);
    BIGNUM *bn = NULL;
    assert_true(outsider != NULL && EVP_PKEY_get_bn_param(outsider, "n", &bn) == 1 && BN_bn2bin(bn, n) == 256);
    BN_free(bn);
    EVP_PKEY_free(outsider);
    CK_KEY_TYPE rsatype = CKK_RSA;
    CK_ATTRIBUTE trust[] = {{CKA_CLASS, &pubcls, sizeof(pubcls)}, {CKA_MODULUS, n, sizeof(n)},
                            {CKA_PUBLIC_EXPONENT, e, sizeof(e)}, {CKA_KEY_TYPE, &rsatype, sizeof(rsatype)},
                            {CKA_TRUSTED, &sr_true, 1}};
    assert_int_equal(t->f->C_CreateObject(t->s, trust, 5, &none), CKR_ATTRIBUTE_READ_ONLY);
    /* The same key as a plain public key, which any user may store: it wraps nothing. */
    CK_OBJECT_HANDLE plain = CK_INVALID_HANDLE;
    assert_int_equal(t->f->C_CreateObject(t->s, trust, 4, &plain), CKR_OK);
    bloblen = sizeof(blob);
    assert_int_equal(t->f->C_WrapKey(t->s, &rsa_aes_mech, plain, extractable, blob, &bloblen), CKR_KEY_NOT_WRAPPABLE);
    /* Reading the key: never. */
    CK_BYTE value[64];
    CK_ATTRIBUTE get = {CKA_VALUE, value, sizeof(value)};
    assert_int_equal(t->f->C_GetAttributeValue(t->s, secret, &get, 1), CKR_ATTRIBUTE_SENSITIVE);
    assert_int_equal(get.ulValueLen, CK_UNAVAILABLE_INFORMATION);
    CK_ATTRIBUTE d = {CKA_PRIVATE_EXPONENT, value, sizeof(value)};
    assert_int_equal(t->f->C_GetAttributeValue(t->s, priv, &d, 1), CKR_ATTRIBUTE_SENSITIVE);
    /* Wrapping a sensitive key out with a key the attacker holds (or any key). */
    CK_MECHANISM kw = {CKM_AES_KEY_WRAP, NULL, 0};
    CK_BYTE out[1024];
    CK_ULONG outlen = sizeof(out);
    assert_int_equal(t->f->C_WrapKey(t->s, &kw, wrap, secret, out, &outlen), CKR_KEY_UNEXTRACTABLE);
    assert_int_equal(t->f->C_WrapKey(t->s, &kw, wrap, priv, out, &outlen), CKR_KEY_UNEXTRACTABLE);
    /* Key conjuring: a secret key of a value the attacker chose. */
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_AES;
    CK_ATTRIBUTE conj[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_KEY_TYPE, &kt, sizeof(kt)}, {CKA_VALUE, value, 16}};
    assert_int_equal(t->f->C_CreateObject(t->s, conj, 3, &none), CKR_TEMPLATE_INCONSISTENT);
    /* A copy with other attributes: an unextractable key's copy stays unextractable. */
    assert_int_equal(t->f->C_CopyObject(t->s, secret, &extract, 1, &none), CKR_ATTRIBUTE_READ_ONLY);
    /* Each key does only what its ACL says. */
    CK_MECHANISM gcm = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
    assert_int_equal(t->f->C_EncryptInit(t->s, &gcm, wrap), CKR_KEY_FUNCTION_NOT_PERMITTED);
    CK_RSA_PKCS_OAEP_PARAMS oaep = {CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, NULL, 0};
    CK_MECHANISM rsa = {CKM_RSA_PKCS_OAEP, &oaep, sizeof(oaep)};
    assert_int_equal(t->f->C_DecryptInit(t->s, &rsa, priv), CKR_KEY_FUNCTION_NOT_PERMITTED);
    CK_MECHANISM sign = {CKM_SHA256_RSA_PKCS, NULL, 0};
    assert_int_equal(t->f->C_SignInit(t->s, &sign, pub), CKR_KEY_FUNCTION_NOT_PERMITTED);
    assert_int_equal(t->f->C_SignInit(t->s, &sign, secret), CKR_KEY_TYPE_INCONSISTENT);
}

/* --- eight threads, four sessions --- */

struct sr_signer {
    struct sr_p11_fixture *t;
    CK_SESSION_HANDLE s;
    pthread_mutex_t *session_lock; /* two threads share a session: the application serialises them */
    CK_OBJECT_HANDLE key;
    EVP_PKEY *pub;
    CK_MECHANISM_TYPE mech;
    int bad;
};

static void *sr_sign_many(void *arg)
{
    struct sr_signer *w = arg;
    for (int i = 0; i < 40; i++) {
        uint8_t msg[32];
        snprintf((char *)msg, sizeof(msg), "message %p %d", (void *)w, i);
        CK_MECHANISM mech = {w->mech, NULL, 0};
        CK_BYTE sig[512];
        CK_ULONG siglen = sizeof(sig);
        pthread_mutex_lock(w->session_lock);
        CK_RV rv = w->t->f->C_SignInit(w->s, &mech, w->key);
        if (rv == CKR_OK) {
            rv = w->t->f->C_Sign(w->s, msg, sizeof(msg), sig, &siglen);
        }
        pthread_mutex_unlock(w->session_lock);
        if (rv != CKR_OK || !sr_openssl_verifies(w->pub, w->mech, msg, sizeof(msg), sig, siglen)) {
            w->bad++;
        }
    }
    return NULL;
}

static void test_concurrent_sign(void **state)
{
    struct sr_p11_fixture *t = *state;
    sr_login(t);
    CK_OBJECT_HANDLE rpub, rpriv, epub, epriv;
    sr_pair(t, false, "mt-rsa", false, &rpub, &rpriv);
    sr_pair(t, true, "mt-ec", false, &epub, &epriv);
    EVP_PKEY *rk = sr_public(t, rpub), *ek = sr_public(t, epub);
    CK_SESSION_HANDLE sessions[4];
    pthread_mutex_t locks[4];
    for (int i = 0; i < 4; i++) {
        assert_int_equal(t->f->C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &sessions[i]), CKR_OK);
        pthread_mutex_init(&locks[i], NULL);
    }
    struct sr_signer w[8];
    pthread_t th[8];
    for (int i = 0; i < 8; i++) {
        bool ec = i % 2;
        w[i] = (struct sr_signer){.t = t, .s = sessions[i / 2], .session_lock = &locks[i / 2],
                                  .key = ec ? epriv : rpriv, .pub = ec ? ek : rk,
                                  .mech = ec ? CKM_ECDSA_SHA256 : CKM_SHA256_RSA_PKCS};
        assert_int_equal(pthread_create(&th[i], NULL, sr_sign_many, &w[i]), 0);
    }
    int bad = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        bad += w[i].bad;
    }
    assert_int_equal(bad, 0);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(t->f->C_CloseSession(sessions[i]), CKR_OK);
        pthread_mutex_destroy(&locks[i]);
    }
    EVP_PKEY_free(rk);
    EVP_PKEY_free(ek);
}

/* The one way out: an extractable key, wrapped CKM_RSA_AES_KEY_WRAP under a key the card quorum trusted,
 * opens with OpenSSL and the KEK's private half to the token's own public key. */
static void test_wrap_to_trusted(void **state)
{
    struct sr_p11_fixture *t = *state;
    EVP_PKEY *kek = EVP_RSA_gen(2048);
    assert_non_null(kek);
    BIGNUM *bn_n = NULL, *bn_e = NULL;
    assert_int_equal(EVP_PKEY_get_bn_param(kek, "n", &bn_n), 1);
    assert_int_equal(EVP_PKEY_get_bn_param(kek, "e", &bn_e), 1);
    CK_BYTE n[512], e[8];
    int nlen = BN_bn2bin(bn_n, n), elen = BN_bn2bin(bn_e, e);
    BN_free(bn_n);
    BN_free(bn_e);
    CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
    CK_KEY_TYPE rsa = CKK_RSA;
    CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_KEY_TYPE, &rsa, sizeof(rsa)}, {CKA_MODULUS, n, (CK_ULONG)nlen},
                           {CKA_PUBLIC_EXPONENT, e, (CK_ULONG)elen}, {CKA_TRUSTED, &sr_true, 1}, {CKA_WRAP, &sr_true, 1},
                           {CKA_LABEL, "vault-kek", 9}};
    const char *so = "2:pin-2,3:pin-3";
    CK_OBJECT_HANDLE trusted;
    assert_int_equal(t->f->C_Login(t->s, CKU_SO, (CK_UTF8CHAR_PTR)so, strlen(so)), CKR_OK);
    CK_OBJECT_HANDLE untrusted;
    assert_int_equal(t->f->C_CreateObject(t->s, tmpl, 7, &trusted), CKR_OK);
    tmpl[4].pValue = &sr_false;
    tmpl[5].pValue = &sr_false;
    /* Neither trusted nor wrapping: a plain public key, which wraps nothing (below). */
    assert_int_equal(t->f->C_CreateObject(t->s, tmpl, 7, &untrusted), CKR_OK);
    assert_int_equal(t->f->C_Logout(t->s), CKR_OK);
    sr_login(t);
    CK_BBOOL is_trusted = CK_FALSE;
    CK_ATTRIBUTE q = {CKA_TRUSTED, &is_trusted, 1};
    assert_int_equal(t->f->C_GetAttributeValue(t->s, trusted, &q, 1), CKR_OK);
    assert_true(is_trusted);

    static const CK_BYTE p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
    CK_ATTRIBUTE pt[] = {{CKA_EC_PARAMS, (void *)p256, sizeof(p256)}};
    CK_ATTRIBUTE kt[] = {{CKA_SIGN, &sr_true, 1}, {CKA_EXTRACTABLE, &sr_true, 1}, {CKA_ID, "byok", 4}};
    CK_MECHANISM gen = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
    CK_OBJECT_HANDLE pub, priv, stay_pub, stay_priv;
    assert_int_equal(t->f->C_GenerateKeyPair(t->s, &gen, pt, 1, kt, 3, &pub, &priv), CKR_OK);
    kt[1].pValue = &sr_false;
    kt[2].pValue = "stay";
    assert_int_equal(t->f->C_GenerateKeyPair(t->s, &gen, pt, 1, kt, 3, &stay_pub, &stay_priv), CKR_OK);
    CK_RSA_PKCS_OAEP_PARAMS sha1 = {CKM_SHA_1, CKG_MGF1_SHA1, CKZ_DATA_SPECIFIED, NULL, 0};
    struct { CK_ULONG bits; CK_RSA_PKCS_OAEP_PARAMS_PTR oaep; } params = {256, &sha1};
    CK_MECHANISM mech = {CKM_RSA_AES_KEY_WRAP, &params, sizeof(params)};
    CK_BYTE blob[4096];
    CK_ULONG bloblen = sizeof(blob);
    assert_int_equal(t->f->C_WrapKey(t->s, &mech, trusted, stay_priv, blob, &bloblen), CKR_KEY_UNEXTRACTABLE);
    assert_int_equal(t->f->C_WrapKey(t->s, &mech, untrusted, priv, blob, &bloblen), CKR_KEY_NOT_WRAPPABLE);
    assert_int_equal(t->f->C_WrapKey(t->s, &mech, trusted, priv, blob, &bloblen), CKR_OK);

    /* OpenSSL opens it: OAEP-SHA-1 of the AES key, then AES key wrap with padding of the PKCS#8. */
    EVP_PKEY_CTX *dctx = EVP_PKEY_CTX_new(kek, NULL);
    uint8_t aes[512]; /* OpenSSL wants room for a whole modulus */
    size_t aeslen = sizeof(aes);
    assert_int_equal(EVP_PKEY_decrypt_init(dctx), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(dctx, RSA_PKCS1_OAEP_PADDING), 1);
    assert_int_equal(EVP_PKEY_decrypt(dctx, aes, &aeslen, blob, 256), 1);
    EVP_PKEY_CTX_free(dctx);
    assert_int_equal(aeslen, 32);
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    EVP_CIPHER_CTX_set_flags(c, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
    uint8_t p8[4096];
    int l1 = 0, l2 = 0;
    assert_int_equal(EVP_DecryptInit_ex(c, EVP_aes_256_wrap_pad(), NULL, aes, NULL), 1);
    assert_int_equal(EVP_DecryptUpdate(c, p8, &l1, blob + 256, (int)bloblen - 256), 1);
    assert_int_equal(EVP_DecryptFinal_ex(c, p8 + l1, &l2), 1);
    EVP_CIPHER_CTX_free(c);
    const unsigned char *pp = p8;
    EVP_PKEY *opened = d2i_AutoPrivateKey(NULL, &pp, l1 + l2);
    assert_non_null(opened);
    EVP_PKEY *token_pub = sr_public(t, pub);
    assert_int_equal(EVP_PKEY_eq(opened, token_pub), 1);
    EVP_PKEY_free(opened);
    EVP_PKEY_free(token_pub);
    EVP_PKEY_free(kek);
}

/* C_UnwrapKey: a key wrapped CKM_RSA_AES_KEY_WRAP by OpenSSL under an unwrap-only key of the token comes in
 * as a new key that signs as the original; a changed blob, a decrypting key and a wrong type do not. */
static void test_unwrap(void **state)
{
    struct sr_p11_fixture *t = *state;
    sr_login(t);
    CK_ULONG bits = 2048;
    CK_ATTRIBUTE pt[] = {{CKA_MODULUS_BITS, &bits, sizeof(bits)}};
    CK_ATTRIBUTE kt[] = {{CKA_UNWRAP, &sr_true, 1}, {CKA_SIGN, &sr_false, 1}, {CKA_ID, "kek", 3}};
    CK_MECHANISM gen = {CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0};
    CK_OBJECT_HANDLE kpub, kpriv, dpub, dpriv, key, none;
    assert_int_equal(t->f->C_GenerateKeyPair(t->s, &gen, pt, 1, kt, 3, &kpub, &kpriv), CKR_OK);
    sr_pair(t, false, "dec", true, &dpub, &dpriv);
    EVP_PKEY *kek = sr_public(t, kpub);
    /* the owner's side, with OpenSSL: OAEP-SHA-1 of a fresh AES-256 key, then AES-KWP of the PKCS#8 */
    EVP_PKEY *ec = EVP_EC_gen("P-256");
    uint8_t p8[512], *w = p8, aes[32], blob[2048];
    PKCS8_PRIV_KEY_INFO *info = EVP_PKEY2PKCS8(ec);
    int p8len = i2d_PKCS8_PRIV_KEY_INFO(info, &w);
    PKCS8_PRIV_KEY_INFO_free(info);
    assert_true(p8len > 0);
    SR_ASSERT_OK(sr_rand_bytes(aes, sizeof(aes)));
    EVP_PKEY_CTX *ectx = EVP_PKEY_CTX_new(kek, NULL);
    size_t rsalen = sizeof(blob);
    assert_int_equal(EVP_PKEY_encrypt_init(ectx), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ectx, RSA_PKCS1_OAEP_PADDING), 1);
    assert_int_equal(EVP_PKEY_encrypt(ectx, blob, &rsalen, aes, sizeof(aes)), 1);
    EVP_PKEY_CTX_free(ectx);
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    EVP_CIPHER_CTX_set_flags(c, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
    int l1 = 0, l2 = 0;
    assert_int_equal(EVP_EncryptInit_ex(c, EVP_aes_256_wrap_pad(), NULL, aes, NULL), 1);
    assert_int_equal(EVP_EncryptUpdate(c, blob + rsalen, &l1, p8, p8len), 1);
    assert_int_equal(EVP_EncryptFinal_ex(c, blob + rsalen + l1, &l2), 1);
    EVP_CIPHER_CTX_free(c);
    CK_ULONG bloblen = rsalen + (size_t)l1 + (size_t)l2;

    CK_RSA_PKCS_OAEP_PARAMS sha1 = {CKM_SHA_1, CKG_MGF1_SHA1, CKZ_DATA_SPECIFIED, NULL, 0};
    struct { CK_ULONG bits; CK_RSA_PKCS_OAEP_PARAMS_PTR oaep; } params = {256, &sha1};
    CK_MECHANISM mech = {CKM_RSA_AES_KEY_WRAP, &params, sizeof(params)};
    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    CK_KEY_TYPE ktype = CKK_EC, wrong = CKK_RSA;
    CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_KEY_TYPE, &ktype, sizeof(ktype)},
                           {CKA_SIGN, &sr_true, 1}, {CKA_ID, "unwrapped", 9}};
    assert_int_equal(t->f->C_UnwrapKey(t->s, &mech, dpriv, blob, bloblen, tmpl, 4, &none), CKR_KEY_FUNCTION_NOT_PERMITTED);
    tmpl[1].pValue = &wrong;
    assert_int_equal(t->f->C_UnwrapKey(t->s, &mech, kpriv, blob, bloblen, tmpl, 4, &none), CKR_TEMPLATE_INCONSISTENT);
    tmpl[1].pValue = &ktype;
    blob[bloblen - 1] ^= 1;
    assert_int_equal(t->f->C_UnwrapKey(t->s, &mech, kpriv, blob, bloblen, tmpl, 4, &none), CKR_WRAPPED_KEY_INVALID);
    blob[bloblen - 1] ^= 1;
    assert_int_equal(t->f->C_UnwrapKey(t->s, &mech, kpriv, blob, bloblen, tmpl, 4, &key), CKR_OK);
    static const uint8_t msg[] = "signed by an unwrapped key";
    CK_MECHANISM sign = {CKM_ECDSA_SHA256, NULL, 0};
    CK_BYTE sig[128];
    CK_ULONG siglen = sizeof(sig);
    assert_int_equal(t->f->C_SignInit(t->s, &sign, key), CKR_OK);
    assert_int_equal(t->f->C_Sign(t->s, (CK_BYTE_PTR)msg, sizeof(msg), sig, &siglen), CKR_OK);
    assert_true(sr_openssl_verifies(ec, CKM_ECDSA_SHA256, msg, sizeof(msg), sig, siglen));
    EVP_PKEY_free(ec);
    EVP_PKEY_free(kek);
}

/* The module's directory goes away (moved, unmounted) and comes back: C_Initialize meanwhile fails and makes no
 * new, empty module in its place, which would shadow the real one when it returns (t8006 found it). */
static void test_module_gone_and_back(void **state)
{
    struct sr_p11_fixture *t = *state;
    char away[300];
    snprintf(away, sizeof(away), "%s.away", t->dir);
    assert_int_equal(t->f->C_Finalize(NULL), CKR_OK);
    assert_int_equal(rename(t->dir, away), 0);
    assert_int_equal(t->f->C_Initialize(NULL), CKR_GENERAL_ERROR);
    assert_false(sr_file_exists(t->dir));
    assert_int_equal(rename(away, t->dir), 0);
    assert_int_equal(t->f->C_Initialize(NULL), CKR_OK);
    assert_int_equal(t->f->C_OpenSession(0, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &t->s), CKR_OK);
    sr_login(t);
    CK_OBJECT_HANDLE pub, priv;
    sr_pair(t, true, "back", false, &pub, &priv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_login_and_visibility, sr_setup, sr_teardown),
        cmocka_unit_test_setup_teardown(test_signatures, sr_setup, sr_teardown),
        cmocka_unit_test_setup_teardown(test_encryption, sr_setup, sr_teardown),
        cmocka_unit_test_setup_teardown(test_key_extraction_attacks, sr_setup, sr_teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_sign, sr_setup, sr_teardown),
        cmocka_unit_test_setup_teardown(test_wrap_to_trusted, sr_setup, sr_teardown),
        cmocka_unit_test_setup_teardown(test_unwrap, sr_setup, sr_teardown),
        cmocka_unit_test_setup_teardown(test_module_gone_and_back, sr_setup, sr_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
