/*
 * fuzz_pkcs11.c - libstrongroom-pkcs11.so's entry points as an application (or an attacker holding a
 * session) drives them: templates of any attributes, lengths and values; mechanisms with parameters whose
 * fields are the input's (pointers always valid, as PKCS#11 cannot check them); object handles in and out
 * of range; sign, verify, encrypt, decrypt, digest, wrap and unwrap with the input as data; data objects
 * and public keys by C_CreateObject; C_CopyObject; C_DigestKey between digest steps; C_DeriveKey (ECDH)
 * with the input's point.
 * Target: the function list of src/pkcs11 (objects.c's templates and attributes, ops.c's operations).
 * The token holds an RSA key and a trusted wrapping key (token objects), and an EC, an AES key and an
 * unwrap-only KEK (session objects); keys an input makes are destroyed after it, or end with the second
 * session an input may open, use and close (session objects of either kind, in either session).
 */
#include <p11-kit/pkcs11.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "fuzz.h"
#include "testlib.h"

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ret);

static char sr_dir[256];
static CK_FUNCTION_LIST_PTR sr_f;
static CK_SESSION_HANDLE sr_s;
/* The set-up's objects, in this order: trusted key, RSA public, RSA private, EC public, EC private
 * (extractable, derives), KEK public, KEK private (unwrap only), AES key, HMAC key. */
enum { SR_TRUSTED, SR_RSA_PUB, SR_RSA, SR_EC_PUB, SR_EC, SR_KEK_PUB, SR_KEK, SR_AES, SR_HMAC, SR_NOBJECTS };
static CK_OBJECT_HANDLE sr_objects[SR_NOBJECTS];
static CK_OBJECT_HANDLE sr_extra; /* the key a second session made, while it lives */

struct sr_in {
    const uint8_t *p;
    size_t n;
};

static uint8_t sr_byte(struct sr_in *in)
{
    if (in->n == 0) {
        return 0;
    }
    in->n--;
    return *in->p++;
}

/* Up to max bytes of the input (their count from the input). */
static const uint8_t *sr_bytes(struct sr_in *in, size_t max, CK_ULONG *len)
{
    size_t want = sr_byte(in) % (max + 1);
    want = want < in->n ? want : in->n;
    const uint8_t *p = in->p;
    in->p += want;
    in->n -= want;
    *len = want;
    return p;
}

static const CK_ATTRIBUTE_TYPE sr_types[] = {
    CKA_CLASS, CKA_TOKEN, CKA_PRIVATE, CKA_LABEL, CKA_ID, CKA_KEY_TYPE, CKA_SENSITIVE, CKA_EXTRACTABLE,
    CKA_WRAP_WITH_TRUSTED, CKA_SIGN, CKA_VERIFY, CKA_ENCRYPT, CKA_DECRYPT, CKA_WRAP, CKA_UNWRAP, CKA_TRUSTED,
    CKA_VALUE, CKA_VALUE_LEN, CKA_MODULUS, CKA_PUBLIC_EXPONENT, CKA_MODULUS_BITS, CKA_EC_PARAMS, CKA_EC_POINT,
    CKA_PRIVATE_EXPONENT, CKA_PUBLIC_KEY_INFO, CKA_DERIVE, CKA_APPLICATION, CKA_OBJECT_ID, CKA_LOCAL,
    CKA_MODIFIABLE, 0x80000001UL,
};

#define SR_MAX_ATTRS 8

/* A template from the input; values live in vals (each a copy, so that a call may write into it). */
static CK_ULONG sr_template(struct sr_in *in, CK_ATTRIBUTE *t, uint8_t vals[SR_MAX_ATTRS][300], bool null_ok)
{
    CK_ULONG n = sr_byte(in) % (SR_MAX_ATTRS + 1);
    for (CK_ULONG i = 0; i < n; i++) {
        CK_ULONG len = 0;
        CK_ATTRIBUTE_TYPE type = sr_types[sr_byte(in) % SR_ARRAY_LEN(sr_types)];
        const uint8_t *v = sr_bytes(in, 280, &len);
        memcpy(vals[i], v, len);
        bool null = null_ok && (sr_byte(in) & 1);
        t[i] = (CK_ATTRIBUTE){type, null ? NULL : vals[i], len};
    }
    return n;
}

static const CK_MECHANISM_TYPE sr_mechs[] = {
    CKM_RSA_PKCS, CKM_SHA256_RSA_PKCS, CKM_SHA512_RSA_PKCS, CKM_RSA_PKCS_PSS, CKM_SHA384_RSA_PKCS_PSS, CKM_ECDSA,
    CKM_ECDSA_SHA256, CKM_RSA_PKCS_OAEP, CKM_AES_GCM, CKM_AES_CBC_PAD, CKM_AES_KEY_WRAP, CKM_AES_KEY_WRAP_PAD,
    CKM_RSA_AES_KEY_WRAP, CKM_SHA256, CKM_SHA512, CKM_AES_KEY_GEN, CKM_AES_ECB, CKM_AES_CBC, CKM_AES_CTR,
    CKM_SHA_1, CKM_SHA224, CKM_SHA1_RSA_PKCS, CKM_SHA224_RSA_PKCS_PSS, CKM_AES_CMAC, CKM_SHA_1_HMAC, CKM_SHA256_HMAC,
    CKM_SHA512_HMAC, 0x12345UL,
};
static const CK_ULONG sr_hashes[] = {CKM_SHA_1, CKM_SHA256, CKM_SHA384, CKM_SHA512, 7};
static const CK_ULONG sr_mgfs[] = {CKG_MGF1_SHA1, CKG_MGF1_SHA256, CKG_MGF1_SHA384, CKG_MGF1_SHA512, 9};

/* Parameters for any mechanism: the structure it takes, its fields from the input, its pointers valid. */
struct sr_params {
    CK_RSA_PKCS_PSS_PARAMS pss;
    CK_RSA_PKCS_OAEP_PARAMS oaep;
    CK_GCM_PARAMS gcm;
    CK_AES_CTR_PARAMS ctr;
    struct { CK_ULONG bits; CK_RSA_PKCS_OAEP_PARAMS_PTR oaep; } rsa_aes;
    uint8_t iv[64], aad[64], label[64];
};

static void sr_mechanism(struct sr_in *in, CK_MECHANISM *m, struct sr_params *pp)
{
    m->mechanism = sr_mechs[sr_byte(in) % SR_ARRAY_LEN(sr_mechs)];
    m->pParameter = NULL;
    m->ulParameterLen = 0;
    CK_ULONG len = 0;
    const uint8_t *b = sr_bytes(in, sizeof(pp->iv), &len);
    memcpy(pp->iv, b, len);
    pp->oaep = (CK_RSA_PKCS_OAEP_PARAMS){sr_hashes[sr_byte(in) % 5], sr_mgfs[sr_byte(in) % 5], sr_byte(in) & 1, pp->label,
                                         sr_byte(in) % 8};
    switch (sr_byte(in) % 4 == 0 ? 0 : m->mechanism) { /* sometimes no parameters at all */
    case CKM_RSA_PKCS_PSS: case CKM_SHA384_RSA_PKCS_PSS:
        pp->pss = (CK_RSA_PKCS_PSS_PARAMS){sr_hashes[sr_byte(in) % 5], sr_mgfs[sr_byte(in) % 5], sr_byte(in)};
        m->pParameter = &pp->pss;
        m->ulParameterLen = sizeof(pp->pss);
        break;
    case CKM_RSA_PKCS_OAEP:
        m->pParameter = &pp->oaep;
        m->ulParameterLen = sizeof(pp->oaep);
        break;
    case CKM_AES_GCM:
        pp->gcm = (CK_GCM_PARAMS){pp->iv, len, len * 8, pp->aad, sr_byte(in) % sizeof(pp->aad), sr_byte(in)};
        m->pParameter = &pp->gcm;
        m->ulParameterLen = sizeof(pp->gcm);
        break;
    case CKM_AES_CTR:
        pp->ctr.ulCounterBits = sr_byte(in);
        memcpy(pp->ctr.cb, pp->iv, sizeof(pp->ctr.cb));
        m->pParameter = &pp->ctr;
        m->ulParameterLen = sr_byte(in) & 1 ? sizeof(pp->ctr) : len;
        break;
    case CKM_AES_CBC_PAD: case CKM_AES_CBC:
        m->pParameter = pp->iv;
        m->ulParameterLen = len;
        break;
    case CKM_RSA_AES_KEY_WRAP:
        pp->rsa_aes.bits = sr_byte(in) & 1 ? 256 : sr_byte(in);
        pp->rsa_aes.oaep = &pp->oaep;
        m->pParameter = &pp->rsa_aes;
        m->ulParameterLen = sizeof(pp->rsa_aes);
        break;
    default:
        break;
    }
}

/* A handle: mostly one of the set-up's objects or a second session's key, sometimes any number. */
static CK_OBJECT_HANDLE sr_handle(struct sr_in *in)
{
    uint8_t b = sr_byte(in);
    return b < 180 ? sr_objects[b % SR_NOBJECTS] : b < 210 ? sr_extra : b < 240 ? b % 32 : (CK_OBJECT_HANDLE)b << 24;
}

static void sr_drop(CK_RV rv, CK_OBJECT_HANDLE h)
{
    if (rv == CKR_OK) {
        (void)sr_f->C_DestroyObject(sr_s, h);
    }
}

/* A one-shot operation: *Init, then the call once with a length query first. */
static void sr_operation(struct sr_in *in, int kind)
{
    CK_MECHANISM m;
    struct sr_params pp;
    sr_mechanism(in, &m, &pp);
    CK_OBJECT_HANDLE key = sr_handle(in);
    CK_ULONG dlen = 0, slen = 0, outlen = 0;
    const uint8_t *data = sr_bytes(in, 255, &dlen);
    const uint8_t *sig = sr_bytes(in, 255, &slen);
    uint8_t out[4096];
    CK_RV (*init)(CK_SESSION_HANDLE, CK_MECHANISM_PTR, CK_OBJECT_HANDLE) =
        kind == 0 ? sr_f->C_SignInit : kind == 1 ? sr_f->C_VerifyInit : kind == 2 ? sr_f->C_EncryptInit : sr_f->C_DecryptInit;
    CK_RV (*call)(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR) =
        kind == 0 ? sr_f->C_Sign : kind == 2 ? sr_f->C_Encrypt : sr_f->C_Decrypt;
    if (init(sr_s, &m, key) != CKR_OK) {
        return;
    }
    if (kind == 1) {
        (void)sr_f->C_Verify(sr_s, (CK_BYTE_PTR)data, dlen, (CK_BYTE_PTR)sig, slen);
        return;
    }
    if (sr_byte(in) & 1) { /* multi-part */
        (void)(kind == 0 ? sr_f->C_SignUpdate(sr_s, (CK_BYTE_PTR)data, dlen)
                         : (kind == 2 ? sr_f->C_EncryptUpdate : sr_f->C_DecryptUpdate)(sr_s, (CK_BYTE_PTR)data, dlen, out, &outlen));
        outlen = sizeof(out);
        (void)(kind == 0 ? sr_f->C_SignFinal : kind == 2 ? sr_f->C_EncryptFinal : sr_f->C_DecryptFinal)(sr_s, out, &outlen);
        return;
    }
    (void)call(sr_s, (CK_BYTE_PTR)data, dlen, NULL, &outlen);
    outlen = outlen < sizeof(out) ? outlen : sizeof(out);
    if (call(sr_s, (CK_BYTE_PTR)data, dlen, out, &outlen) == CKR_BUFFER_TOO_SMALL) {
        outlen = sizeof(out);
        (void)call(sr_s, (CK_BYTE_PTR)data, dlen, out, &outlen);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sr_in in = {data, size};
    for (int steps = 0; steps < 8 && in.n > 0; steps++) {
        CK_ATTRIBUTE t1[SR_MAX_ATTRS], t2[SR_MAX_ATTRS];
        uint8_t v1[SR_MAX_ATTRS][300], v2[SR_MAX_ATTRS][300];
        CK_MECHANISM m;
        struct sr_params pp;
        CK_OBJECT_HANDLE h = CK_INVALID_HANDLE, h2 = CK_INVALID_HANDLE, found[32];
        CK_ULONG n = 0, len = 0;
        uint8_t out[4096];
        switch (sr_byte(&in) % 16) {
        case 0:
            n = sr_template(&in, t1, v1, false);
            if (sr_f->C_FindObjectsInit(sr_s, t1, n) == CKR_OK) {
                (void)sr_f->C_FindObjects(sr_s, found, SR_ARRAY_LEN(found), &len);
                (void)sr_f->C_FindObjectsFinal(sr_s);
            }
            break;
        case 1:
            h = sr_handle(&in);
            n = sr_template(&in, t1, v1, true);
            (void)sr_f->C_GetAttributeValue(sr_s, h, t1, n);
            break;
        case 2:
            h = sr_handle(&in);
            n = sr_template(&in, t1, v1, false);
            (void)sr_f->C_SetAttributeValue(sr_s, h, t1, n);
            break;
        case 3:
            n = sr_template(&in, t1, v1, false);
            m = (CK_MECHANISM){sr_byte(&in) & 1 ? CKM_AES_KEY_GEN : CKM_GENERIC_SECRET_KEY_GEN, NULL, 0};
            sr_drop(sr_f->C_GenerateKey(sr_s, &m, t1, n, &h), h);
            break;
        case 4: {
            n = sr_template(&in, t1, v1, false);
            CK_ULONG n2 = sr_template(&in, t2, v2, false);
            m = (CK_MECHANISM){CKM_EC_KEY_PAIR_GEN, NULL, 0};
            sr_drop(sr_f->C_GenerateKeyPair(sr_s, &m, t1, n, t2, n2, &h, &h2), h);
            break;
        }
        case 5:
            n = sr_template(&in, t1, v1, false);
            sr_drop(sr_f->C_CreateObject(sr_s, t1, n, &h), h);
            break;
        case 6: case 7: case 8:
            sr_operation(&in, sr_byte(&in) % 4);
            break;
        case 9:
            sr_mechanism(&in, &m, &pp);
            h = sr_handle(&in);
            h2 = sr_handle(&in);
            len = sizeof(out);
            (void)sr_f->C_WrapKey(sr_s, &m, h, h2, out, &len);
            break;
        case 10: {
            sr_mechanism(&in, &m, &pp);
            h = sr_handle(&in);
            const uint8_t *blob = sr_bytes(&in, 255, &len);
            n = sr_template(&in, t1, v1, false);
            sr_drop(sr_f->C_UnwrapKey(sr_s, &m, h, (CK_BYTE_PTR)blob, len, t1, n, &h2), h2);
            break;
        }
        case 11: {
            /* A second session (read-only or not) makes a key from the input's template, one step uses it
             * from the first session, and the close must end it. */
            CK_SESSION_HANDLE s2 = 0;
            if (sr_f->C_OpenSession(0, CKF_SERIAL_SESSION | (sr_byte(&in) & 1 ? CKF_RW_SESSION : 0), NULL, NULL, &s2) != CKR_OK) {
                abort();
            }
            n = sr_template(&in, t1, v1, false);
            m = (CK_MECHANISM){sr_byte(&in) & 1 ? CKM_AES_KEY_GEN : CKM_EC_KEY_PAIR_GEN, NULL, 0};
            CK_RV made = m.mechanism == CKM_AES_KEY_GEN ? sr_f->C_GenerateKey(s2, &m, t1, n, &h)
                                                        : sr_f->C_GenerateKeyPair(s2, &m, NULL, 0, t1, n, &h2, &h);
            CK_BBOOL token = CK_FALSE;
            CK_ATTRIBUTE a = {CKA_TOKEN, &token, 1};
            if (made == CKR_OK && sr_f->C_GetAttributeValue(sr_s, h, &a, 1) != CKR_OK) {
                abort(); /* another session sees it */
            }
            if (made == CKR_OK) {
                sr_extra = h;
                sr_operation(&in, sr_byte(&in) % 4);
                sr_extra = CK_INVALID_HANDLE;
            }
            if (made == CKR_OK && token) {
                (void)sr_f->C_DestroyObject(sr_s, h);
            }
            if (sr_f->C_CloseSession(s2) != CKR_OK ||
                (made == CKR_OK && !token && sr_f->C_GetAttributeValue(sr_s, h, &a, 1) != CKR_OBJECT_HANDLE_INVALID)) {
                abort(); /* a session object outlived its session */
            }
            break;
        }
        case 14: {
            CK_ULONG plen = 0;
            const uint8_t *point = sr_bytes(&in, 70, &plen);
            CK_ECDH1_DERIVE_PARAMS ecdh = {sr_byte(&in) & 1 ? CKD_NULL : CKD_SHA1_KDF, 0, NULL, plen, (CK_BYTE_PTR)point};
            m = (CK_MECHANISM){sr_byte(&in) & 7 ? CKM_ECDH1_DERIVE : CKM_AES_ECB, &ecdh, sizeof(ecdh)};
            h = sr_handle(&in);
            n = sr_template(&in, t1, v1, false);
            sr_drop(sr_f->C_DeriveKey(sr_s, &m, h, t1, n, &h2), h2);
            break;
        }
        case 12:
            h = sr_handle(&in);
            n = sr_template(&in, t1, v1, false);
            sr_drop(sr_f->C_CopyObject(sr_s, h, t1, n, &h2), h2);
            break;
        case 13: {
            sr_mechanism(&in, &m, &pp);
            const uint8_t *d = sr_bytes(&in, 255, &len);
            CK_ULONG outlen = sizeof(out);
            if (sr_f->C_DigestInit(sr_s, &m) == CKR_OK) {
                (void)sr_f->C_DigestUpdate(sr_s, (CK_BYTE_PTR)d, len);
                (void)sr_f->C_DigestKey(sr_s, sr_handle(&in));
                (void)sr_f->C_DigestFinal(sr_s, sr_byte(&in) & 1 ? NULL : out, &outlen);
                (void)sr_f->C_DigestFinal(sr_s, out, &outlen);
            }
            break;
        }
        default: {
            sr_mechanism(&in, &m, &pp);
            const uint8_t *d = sr_bytes(&in, 255, &len);
            CK_ULONG outlen = sizeof(out);
            if (sr_f->C_DigestInit(sr_s, &m) == CKR_OK) {
                (void)sr_f->C_Digest(sr_s, (CK_BYTE_PTR)d, len, out, &outlen);
            }
            break;
        }
        }
    }
    return 0;
}

static void sr_cleanup(void)
{
    (void)sr_f->C_Finalize(NULL);
    sr_test_rmrf(sr_dir);
}

static void sr_ok(CK_RV rv)
{
    if (rv != CKR_OK) {
        fprintf(stderr, "fuzz_pkcs11 set-up: 0x%lx\n", (unsigned long)rv);
        abort();
    }
}

void sr_fuzz_setup(void)
{
    if (sr_f != NULL) {
        return;
    }
    sr_test_tmpdir(sr_dir, sizeof(sr_dir));
    struct sr_module *m = sr_test_module_with_world(sr_dir, 2, 3, NULL);
    if (sr_module_set_user_pin(m, "fuzz-pin", 8) != SR_OK) {
        abort();
    }
    sr_module_free(m);
    setenv("STRONGROOM_KMDATA", sr_dir, 1);
    sr_ok(C_GetFunctionList(&sr_f));
    sr_ok(sr_f->C_Initialize(NULL));
    atexit(sr_cleanup);
    sr_ok(sr_f->C_OpenSession(0, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &sr_s));
    /* The security officer trusts a wrapping key; then the user makes the keys an input works on. */
    sr_ok(sr_f->C_Login(sr_s, CKU_SO, (CK_UTF8CHAR_PTR) "1:pin-1,2:pin-2", 15));
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_OBJECT_CLASS pub = CKO_PUBLIC_KEY;
    CK_BYTE mod[512], e[3] = {1, 0, 1};
    EVP_PKEY *kek = EVP_RSA_gen(2048);
    BIGNUM *bn = NULL;
    if (kek == NULL || EVP_PKEY_get_bn_param(kek, "n", &bn) != 1) {
        abort();
    }
    int modlen = BN_bn2bin(bn, mod);
    BN_free(bn);
    EVP_PKEY_free(kek);
    CK_KEY_TYPE rsa_type = CKK_RSA;
    CK_ATTRIBUTE trust[] = {{CKA_CLASS, &pub, sizeof(pub)}, {CKA_MODULUS, mod, (CK_ULONG)modlen},
                            {CKA_PUBLIC_EXPONENT, e, sizeof(e)}, {CKA_KEY_TYPE, &rsa_type, sizeof(rsa_type)},
                            {CKA_TRUSTED, &yes, 1}};
    CK_OBJECT_HANDLE h;
    sr_ok(sr_f->C_CreateObject(sr_s, trust, 5, &sr_objects[SR_TRUSTED]));
    sr_ok(sr_f->C_Logout(sr_s));
    sr_ok(sr_f->C_Login(sr_s, CKU_USER, (CK_UTF8CHAR_PTR) "fuzz-pin", 8));
    CK_ULONG bits = 2048, aes = 32;
    static const CK_BYTE p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
    CK_ATTRIBUTE rsa_pub[] = {{CKA_MODULUS_BITS, &bits, sizeof(bits)}};
    CK_ATTRIBUTE token[] = {{CKA_TOKEN, &yes, 1}};
    CK_ATTRIBUTE ec_pub[] = {{CKA_EC_PARAMS, (void *)p256, sizeof(p256)}};
    CK_ATTRIBUTE ext[] = {{CKA_EXTRACTABLE, &yes, 1}, {CKA_DERIVE, &yes, 1}};
    CK_ATTRIBUTE unwrap[] = {{CKA_UNWRAP, &yes, 1}, {CKA_SIGN, &no, 1}};
    CK_ATTRIBUTE secret[] = {{CKA_VALUE_LEN, &aes, sizeof(aes)}};
    CK_MECHANISM rsa = {CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0}, ec = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
    CK_MECHANISM aesgen = {CKM_AES_KEY_GEN, NULL, 0};
    sr_ok(sr_f->C_GenerateKeyPair(sr_s, &rsa, rsa_pub, 1, token, 1, &sr_objects[SR_RSA_PUB], &sr_objects[SR_RSA]));
    sr_ok(sr_f->C_GenerateKeyPair(sr_s, &ec, ec_pub, 1, ext, 2, &sr_objects[SR_EC_PUB], &sr_objects[SR_EC]));
    sr_ok(sr_f->C_GenerateKeyPair(sr_s, &rsa, rsa_pub, 1, unwrap, 2, &sr_objects[SR_KEK_PUB], &sr_objects[SR_KEK]));
    sr_ok(sr_f->C_GenerateKey(sr_s, &aesgen, secret, 1, &sr_objects[SR_AES]));
    CK_MECHANISM hmacgen = {CKM_GENERIC_SECRET_KEY_GEN, NULL, 0};
    sr_ok(sr_f->C_GenerateKey(sr_s, &hmacgen, secret, 1, &sr_objects[SR_HMAC]));
    (void)h;
}

/* Seeds are written the way LLVMFuzzerTestOneInput reads: an operation's byte, then its parts. */
struct sr_out {
    struct sr_buf *b;
};

static void sr_put(struct sr_out *o, uint8_t v)
{
    if (sr_buf_append(o->b, &v, 1) != SR_OK) {
        abort();
    }
}

static void sr_put_bytes(struct sr_out *o, const void *p, size_t n)
{
    sr_put(o, (uint8_t)n);
    if (sr_buf_append(o->b, p, n) != SR_OK) {
        abort();
    }
}

static size_t sr_index_of(const CK_ULONG *table, size_t n, CK_ULONG v)
{
    for (size_t i = 0; i < n; i++) {
        if (table[i] == v) {
            return i;
        }
    }
    abort();
}

/* A mechanism as sr_mechanism reads it: its index, an IV, OAEP's fields (SHA-1), then its own. */
static void sr_put_mechanism(struct sr_out *o, CK_MECHANISM_TYPE m, const void *iv, size_t ivlen)
{
    sr_put(o, (uint8_t)sr_index_of(sr_mechs, SR_ARRAY_LEN(sr_mechs), m));
    sr_put_bytes(o, iv, ivlen);
    sr_put(o, 0), sr_put(o, 0), sr_put(o, 1), sr_put(o, 0); /* OAEP: SHA-1, MGF1-SHA-1, data specified, no label */
    sr_put(o, 1);                                             /* with its parameters */
    if (m == CKM_AES_GCM) {
        sr_put(o, 4), sr_put(o, 128); /* 4 bytes of AAD, a 128-bit tag */
    } else if (m == CKM_RSA_PKCS_PSS || m == CKM_SHA384_RSA_PKCS_PSS) {
        sr_put(o, 2), sr_put(o, 2), sr_put(o, 48); /* SHA-384, MGF1-SHA-384, 48-byte salt */
    } else if (m == CKM_RSA_AES_KEY_WRAP) {
        sr_put(o, 1); /* 256 bits */
    }
}

/* One sign (0), encrypt (2) or decrypt (3) step with an object, single-part. */
static void sr_put_operation(struct sr_out *o, int kind, CK_MECHANISM_TYPE m, const void *iv, size_t ivlen, int object,
                             const char *data)
{
    sr_put(o, 6);
    sr_put(o, (uint8_t)kind);
    sr_put_mechanism(o, m, iv, ivlen);
    sr_put(o, (uint8_t)object);
    sr_put_bytes(o, data, strlen(data));
    sr_put_bytes(o, "", 0); /* no signature */
    sr_put(o, 0);           /* single-part */
}

void sr_fuzz_seeds(struct sr_buf *seeds, size_t *n)
{
    static const uint8_t iv[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    size_t k = 0;
    for (; k < 5; k++) {
        sr_buf_init(&seeds[k], 4096, SR_BUF_PLAIN);
    }
    struct sr_out o = {&seeds[0]};
    /* the private keys; then an object's label and (refused) value */
    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    sr_put(&o, 0), sr_put(&o, 1), sr_put(&o, 0), sr_put_bytes(&o, &cls, sizeof(cls));
    sr_put(&o, 1), sr_put(&o, SR_EC), sr_put(&o, 2);
    sr_put(&o, 3), sr_put_bytes(&o, (uint8_t[64]){0}, 64), sr_put(&o, 0);
    sr_put(&o, 16), sr_put_bytes(&o, (uint8_t[32]){0}, 32), sr_put(&o, 0);
    o.b = &seeds[1]; /* signatures: RSA PKCS#1, PSS, ECDSA */
    sr_put_operation(&o, 0, CKM_SHA256_RSA_PKCS, NULL, 0, SR_RSA, "abc");
    sr_put_operation(&o, 0, CKM_SHA384_RSA_PKCS_PSS, NULL, 0, SR_RSA, "abc");
    sr_put_operation(&o, 0, CKM_ECDSA_SHA256, NULL, 0, SR_EC, "abc");
    o.b = &seeds[2]; /* AES-GCM and CBC-PAD encryption, OAEP encryption with the public key */
    sr_put_operation(&o, 2, CKM_AES_GCM, iv, sizeof(iv), SR_AES, "plain text");
    sr_put_operation(&o, 2, CKM_AES_CBC_PAD, (uint8_t[16]){0}, 16, SR_AES, "plain text");
    sr_put_operation(&o, 2, CKM_RSA_PKCS_OAEP, NULL, 0, SR_RSA_PUB, "plain text");
    o.b = &seeds[3]; /* the extractable EC key wrapped under the trusted key */
    sr_put(&o, 9), sr_put_mechanism(&o, CKM_RSA_AES_KEY_WRAP, NULL, 0), sr_put(&o, SR_TRUSTED), sr_put(&o, SR_EC);
    o.b = &seeds[4]; /* an AES key made (and destroyed), and a digest */
    CK_ULONG len = 16;
    sr_put(&o, 3), sr_put(&o, 1), sr_put(&o, 17), sr_put_bytes(&o, &len, sizeof(len)), sr_put(&o, 1);
    sr_put(&o, 11), sr_put_mechanism(&o, CKM_SHA256, NULL, 0), sr_put_bytes(&o, "abc", 3);
    *n = k;
}
