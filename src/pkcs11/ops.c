/*
 * ops.c - the token's cryptographic functions: sign, verify, encrypt, decrypt and digest, single- and
 * multi-part. *Init checks the mechanism against the key's type and ACL and copies the key's file bytes
 * into the session; the operation itself takes the operation out of the session and runs without the
 * library's lock, so sessions of many threads sign at once (the module and its caches are thread-safe).
 * Private and secret keys are used only through hsm/'s sr_keyfile_* functions.
 */
#include "pkcs11/p11.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "crypto/crypto.h"
#include "crypto/sym.h"
#include "hsm/blob.h"
#include "hsm/transfer.h"

#define SR_P11_MAX_DATA (16u * 1024 * 1024) /* what a multi-part operation gathers */

enum sr_p11_kind { SR_MK_RSA_RAW, SR_MK_RSA_PKCS1, SR_MK_RSA_PSS, SR_MK_ECDSA, SR_MK_OAEP, SR_MK_AES, SR_MK_DIGEST,
                   SR_MK_MAC };

struct sr_p11_mech_row {
    CK_MECHANISM_TYPE mech;
    enum sr_p11_kind kind;
    CK_KEY_TYPE key;
    CK_MECHANISM_TYPE hash; /* the hash it applies first (CKM_SHA256 ...), 0: none */
    const char *sym;        /* AES: the algorithm's name in crypto/sym.c (GCM and CBCPAD: after A<bits>) */
    enum sr_mac_alg mac;    /* HMAC and CMAC */
};

static const struct sr_p11_mech_row sr_p11_mech_rows[] = {
    {CKM_RSA_PKCS, SR_MK_RSA_RAW, CKK_RSA, 0, NULL},
    {CKM_SHA1_RSA_PKCS, SR_MK_RSA_PKCS1, CKK_RSA, CKM_SHA_1, NULL},
    {CKM_SHA224_RSA_PKCS, SR_MK_RSA_PKCS1, CKK_RSA, CKM_SHA224, NULL},
    {CKM_SHA256_RSA_PKCS, SR_MK_RSA_PKCS1, CKK_RSA, CKM_SHA256, NULL},
    {CKM_SHA384_RSA_PKCS, SR_MK_RSA_PKCS1, CKK_RSA, CKM_SHA384, NULL},
    {CKM_SHA512_RSA_PKCS, SR_MK_RSA_PKCS1, CKK_RSA, CKM_SHA512, NULL},
    {CKM_RSA_PKCS_PSS, SR_MK_RSA_PSS, CKK_RSA, 0, NULL},
    {CKM_SHA1_RSA_PKCS_PSS, SR_MK_RSA_PSS, CKK_RSA, CKM_SHA_1, NULL},
    {CKM_SHA224_RSA_PKCS_PSS, SR_MK_RSA_PSS, CKK_RSA, CKM_SHA224, NULL},
    {CKM_SHA256_RSA_PKCS_PSS, SR_MK_RSA_PSS, CKK_RSA, CKM_SHA256, NULL},
    {CKM_SHA384_RSA_PKCS_PSS, SR_MK_RSA_PSS, CKK_RSA, CKM_SHA384, NULL},
    {CKM_SHA512_RSA_PKCS_PSS, SR_MK_RSA_PSS, CKK_RSA, CKM_SHA512, NULL},
    {CKM_ECDSA, SR_MK_ECDSA, CKK_EC, 0, NULL},
    {CKM_ECDSA_SHA256, SR_MK_ECDSA, CKK_EC, CKM_SHA256, NULL},
    {CKM_ECDSA_SHA384, SR_MK_ECDSA, CKK_EC, CKM_SHA384, NULL},
    {CKM_ECDSA_SHA512, SR_MK_ECDSA, CKK_EC, CKM_SHA512, NULL},
    {CKM_RSA_PKCS_OAEP, SR_MK_OAEP, CKK_RSA, 0, NULL},
    {CKM_AES_GCM, SR_MK_AES, CKK_AES, 0, "GCM"},
    {CKM_AES_CBC_PAD, SR_MK_AES, CKK_AES, 0, "CBCPAD"},
    {CKM_AES_CBC, SR_MK_AES, CKK_AES, 0, "CBC"},
    {CKM_AES_ECB, SR_MK_AES, CKK_AES, 0, "CKM_AES_ECB"},
    {CKM_AES_CTR, SR_MK_AES, CKK_AES, 0, "CKM_AES_CTR"},
    {CKM_AES_KEY_WRAP, SR_MK_AES, CKK_AES, 0, "CKM_AES_KEY_WRAP"},
    {CKM_AES_KEY_WRAP_PAD, SR_MK_AES, CKK_AES, 0, "CKM_AES_KEY_WRAP_PAD"},
    {CKM_AES_CMAC, SR_MK_MAC, CKK_AES, 0, NULL, SR_MAC_CMAC_AES},
    {CKM_SHA_1_HMAC, SR_MK_MAC, CKK_GENERIC_SECRET, 0, NULL, SR_MAC_HMAC_SHA1},
    {CKM_SHA224_HMAC, SR_MK_MAC, CKK_GENERIC_SECRET, 0, NULL, SR_MAC_HMAC_SHA224},
    {CKM_SHA256_HMAC, SR_MK_MAC, CKK_GENERIC_SECRET, 0, NULL, SR_MAC_HMAC_SHA256},
    {CKM_SHA384_HMAC, SR_MK_MAC, CKK_GENERIC_SECRET, 0, NULL, SR_MAC_HMAC_SHA384},
    {CKM_SHA512_HMAC, SR_MK_MAC, CKK_GENERIC_SECRET, 0, NULL, SR_MAC_HMAC_SHA512},
    {CKM_SHA_1, SR_MK_DIGEST, 0, CKM_SHA_1, NULL},
    {CKM_SHA224, SR_MK_DIGEST, 0, CKM_SHA224, NULL},
    {CKM_SHA256, SR_MK_DIGEST, 0, CKM_SHA256, NULL},
    {CKM_SHA384, SR_MK_DIGEST, 0, CKM_SHA384, NULL},
    {CKM_SHA512, SR_MK_DIGEST, 0, CKM_SHA512, NULL},
};

static const struct sr_p11_mech_row *sr_p11_mech_row(CK_MECHANISM_TYPE m)
{
    for (size_t i = 0; i < SR_ARRAY_LEN(sr_p11_mech_rows); i++) {
        if (sr_p11_mech_rows[i].mech == m) {
            return &sr_p11_mech_rows[i];
        }
    }
    return NULL;
}

/* A hash mechanism: OpenSSL's name, its length, and the signature algorithms that sign its digests. */
static const struct {
    CK_MECHANISM_TYPE hash;
    CK_RSA_PKCS_MGF_TYPE mgf;
    const char *md;
    size_t len;
    enum sr_sign_alg pkcs1, pss;
    enum sr_enc_alg oaep;
} sr_p11_hashes[] = {
    {CKM_SHA_1, CKG_MGF1_SHA1, "SHA1", 20, SR_ALG_RS1, SR_ALG_PS1, SR_ENC_RSA_OAEP},
    {CKM_SHA224, CKG_MGF1_SHA224, "SHA224", 28, SR_ALG_RS224, SR_ALG_PS224, SR_ENC_NONE},
    {CKM_SHA256, CKG_MGF1_SHA256, "SHA256", 32, SR_ALG_RS256, SR_ALG_PS256, SR_ENC_RSA_OAEP_256},
    {CKM_SHA384, CKG_MGF1_SHA384, "SHA384", 48, SR_ALG_RS384, SR_ALG_PS384, SR_ENC_NONE},
    {CKM_SHA512, CKG_MGF1_SHA512, "SHA512", 64, SR_ALG_RS512, SR_ALG_PS512, SR_ENC_NONE},
};

static int sr_p11_hash(CK_MECHANISM_TYPE h)
{
    for (size_t i = 0; i < SR_ARRAY_LEN(sr_p11_hashes); i++) {
        if (sr_p11_hashes[i].hash == h) {
            return (int)i;
        }
    }
    return -1;
}

void sr_p11_active_release(struct sr_p11_active *a)
{
    sr_p11_object_release(&a->key);
    sr_buf_release(&a->data);
    sr_buf_release(&a->iv);
    sr_buf_release(&a->aad);
    sr_digest_free(a->digest);
    memset(a, 0, sizeof(*a));
}

/* --- *Init --- */

/* The mechanism's parameter structure of that size, copied (the caller's need not be aligned), or NULL. */
static const void *sr_p11_param(const CK_MECHANISM *mech, void *copy, size_t size)
{
    if (mech->pParameter == NULL || mech->ulParameterLen != size) {
        return NULL;
    }
    memcpy(copy, mech->pParameter, size);
    return copy;
}

/* The mechanism's parameters, checked and kept: PSS and OAEP name their hash, AES its IV (and AAD, tag). */
static CK_RV sr_p11_params(const struct sr_p11_mech_row *row, const CK_MECHANISM *mech, struct sr_p11_active *a)
{
    a->hash = row->hash;
    if (row->kind == SR_MK_RSA_PSS) {
        CK_RSA_PKCS_PSS_PARAMS copy;
        const CK_RSA_PKCS_PSS_PARAMS *pp = sr_p11_param(mech, &copy, sizeof(copy));
        if (pp == NULL) {
            return CKR_MECHANISM_PARAM_INVALID;
        }
        int h = sr_p11_hash(pp->hashAlg);
        /* As Key Vault and most HSMs: MGF1 with the same hash, a salt as long as the digest. */
        if (h < 0 || (row->hash != 0 && row->hash != pp->hashAlg) || pp->mgf != sr_p11_hashes[h].mgf ||
            pp->sLen != sr_p11_hashes[h].len) {
            return CKR_MECHANISM_PARAM_INVALID;
        }
        a->hash = pp->hashAlg;
    } else if (row->kind == SR_MK_OAEP) {
        CK_RSA_PKCS_OAEP_PARAMS copy;
        const CK_RSA_PKCS_OAEP_PARAMS *op = sr_p11_param(mech, &copy, sizeof(copy));
        if (op == NULL) {
            return CKR_MECHANISM_PARAM_INVALID;
        }
        int h = sr_p11_hash(op->hashAlg);
        if (h < 0 || sr_p11_hashes[h].oaep == SR_ENC_NONE || op->mgf != sr_p11_hashes[h].mgf ||
            (op->source != 0 && op->source != CKZ_DATA_SPECIFIED) || op->ulSourceDataLen != 0) {
            return CKR_MECHANISM_PARAM_INVALID; /* OAEP with SHA-1 or SHA-256, and no label */
        }
        a->hash = op->hashAlg;
    } else if (mech->mechanism == CKM_AES_GCM) {
        CK_GCM_PARAMS copy;
        const CK_GCM_PARAMS *gp = sr_p11_param(mech, &copy, sizeof(copy));
        if (gp == NULL || gp->pIv == NULL || gp->ulIvLen == 0 ||
            gp->ulIvLen > 256 || gp->ulTagBits != 128 || (gp->pAAD == NULL && gp->ulAADLen > 0)) {
            return CKR_MECHANISM_PARAM_INVALID; /* the caller's IV; 128-bit tags */
        }
        a->tag_bits = gp->ulTagBits;
        if (sr_buf_append(&a->iv, gp->pIv, gp->ulIvLen) != SR_OK ||
            (gp->ulAADLen > 0 && sr_buf_append(&a->aad, gp->pAAD, gp->ulAADLen) != SR_OK)) {
            return CKR_HOST_MEMORY;
        }
    } else if (mech->mechanism == CKM_AES_CTR) {
        CK_AES_CTR_PARAMS copy;
        const CK_AES_CTR_PARAMS *cp = sr_p11_param(mech, &copy, sizeof(copy));
        /* PKCS#11 2.40 mechanisms §2.10.4: the counter is the low ulCounterBits of the block. */
        if (cp == NULL || cp->ulCounterBits == 0 || cp->ulCounterBits > 128) {
            return CKR_MECHANISM_PARAM_INVALID;
        }
        a->tag_bits = cp->ulCounterBits; /* CTR has no tag: the field keeps the counter's width */
        if (sr_buf_append(&a->iv, cp->cb, sizeof(cp->cb)) != SR_OK) {
            return CKR_HOST_MEMORY;
        }
    } else if (mech->mechanism == CKM_AES_CBC_PAD || mech->mechanism == CKM_AES_CBC) {
        if (mech->pParameter == NULL || mech->ulParameterLen != SR_CBC_IV_LEN) {
            return CKR_MECHANISM_PARAM_INVALID;
        }
        if (sr_buf_append(&a->iv, mech->pParameter, SR_CBC_IV_LEN) != SR_OK) {
            return CKR_HOST_MEMORY;
        }
    } else if (mech->pParameter != NULL || mech->ulParameterLen != 0) {
        return CKR_MECHANISM_PARAM_INVALID; /* the key wraps take only their default IV */
    }
    return CKR_OK;
}

/* Whether the key may serve the operation: its object class, and what its ACL permits. */
static CK_RV sr_p11_key_allows(const struct sr_p11_object *o, enum sr_p11_op kind)
{
    const struct sr_acl *acl = &o->info.acl;
    bool priv = o->cls != CKO_PUBLIC_KEY;
    bool ok = false;
    switch (kind) {
    case SR_P11_OP_SIGN: ok = priv && sr_acl_permits(acl, SR_ACL_SIGN); break;
    case SR_P11_OP_DECRYPT: ok = priv && sr_acl_permits(acl, SR_ACL_DECRYPT); break;
    /* Public operations: what the pair's private half does, the public half undoes. */
    case SR_P11_OP_VERIFY: ok = sr_acl_permits(acl, SR_ACL_VERIFY) || sr_acl_permits(acl, SR_ACL_SIGN); break;
    case SR_P11_OP_ENCRYPT:
        ok = sr_acl_permits(acl, SR_ACL_ENCRYPT) || (o->cls != CKO_SECRET_KEY && sr_acl_permits(acl, SR_ACL_DECRYPT));
        break;
    default: break;
    }
    return ok ? CKR_OK : CKR_KEY_FUNCTION_NOT_PERMITTED;
}

static CK_RV sr_p11_init(CK_SESSION_HANDLE h, enum sr_p11_op kind, CK_FLAGS need, CK_MECHANISM_PTR mech,
                         CK_OBJECT_HANDLE key)
{
    struct sr_p11 *p = sr_p11_get();
    if (p == NULL) {
        return CKR_CRYPTOKI_NOT_INITIALIZED;
    }
    const struct sr_p11_mech_row *row = mech != NULL ? sr_p11_mech_row(mech->mechanism) : NULL;
    CK_FLAGS flags = 0;
    pthread_mutex_lock(&p->lock);
    struct sr_p11_session *s = sr_p11_session(p, h);
    struct sr_p11_object *o = kind != SR_P11_OP_DIGEST ? sr_p11_object(p, key) : NULL;
    CK_RV rv = s == NULL                                        ? CKR_SESSION_HANDLE_INVALID
               : mech == NULL                                    ? CKR_ARGUMENTS_BAD
               : s->active[kind]                                 ? CKR_OPERATION_ACTIVE
               : row == NULL || !sr_p11_mechanism_flags(row->mech, &flags) || !(flags & need) ? CKR_MECHANISM_INVALID
               : kind == SR_P11_OP_DIGEST                        ? CKR_OK
               : o == NULL || !sr_p11_object_visible(p, o) || o->cls == CKO_DATA ? CKR_KEY_HANDLE_INVALID
               : sr_p11_key_type(o) != row->key                  ? CKR_KEY_TYPE_INCONSISTENT
                                                                 : sr_p11_key_allows(o, kind);
    struct sr_p11_active *a = s != NULL ? &s->op[kind] : NULL;
    if (rv == CKR_OK) {
        sr_p11_active_release(a);
        a->mech = row->mech;
        sr_buf_init(&a->data, SR_P11_MAX_DATA, SR_BUF_SECRET);
        sr_buf_init(&a->iv, 256, SR_BUF_PLAIN);
        sr_buf_init(&a->aad, 1u << 20, SR_BUF_PLAIN);
        rv = sr_p11_params(row, mech, a);
    }
    bool signs = rv == CKR_OK && kind == SR_P11_OP_SIGN && (row->kind == SR_MK_RSA_PKCS1 || row->kind == SR_MK_RSA_PSS);
    if (rv == CKR_OK && signs && a->hash == CKM_SHA_1) {
        rv = CKR_MECHANISM_PARAM_INVALID; /* SHA-1 signatures are verified, never made */
    }
    if (rv == CKR_OK && o != NULL) {
        rv = sr_p11_object_copy(o, &a->key) == SR_OK ? CKR_OK : CKR_HOST_MEMORY;
    }
    if (rv == CKR_OK) {
        s->active[kind] = true;
    } else if (a != NULL && !s->active[kind]) {
        sr_p11_active_release(a);
    }
    pthread_mutex_unlock(&p->lock);
    return rv;
}

CK_RV sr_C_SignInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key)
{
    return sr_p11_init(h, SR_P11_OP_SIGN, CKF_SIGN, mech, key);
}

CK_RV sr_C_VerifyInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key)
{
    return sr_p11_init(h, SR_P11_OP_VERIFY, CKF_VERIFY, mech, key);
}

CK_RV sr_C_EncryptInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key)
{
    return sr_p11_init(h, SR_P11_OP_ENCRYPT, CKF_ENCRYPT, mech, key);
}

CK_RV sr_C_DecryptInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key)
{
    return sr_p11_init(h, SR_P11_OP_DECRYPT, CKF_DECRYPT, mech, key);
}

CK_RV sr_C_DigestInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech)
{
    return sr_p11_init(h, SR_P11_OP_DIGEST, CKF_DIGEST, mech, CK_INVALID_HANDLE);
}

/* --- taking an operation out of its session, and giving it back --- */

/* Moves the session's active operation of that kind into ret (the session's slot is left inactive). */
static CK_RV sr_p11_take(CK_SESSION_HANDLE h, enum sr_p11_op kind, struct sr_p11 **ret_p, struct sr_p11_active *ret)
{
    struct sr_p11 *p = sr_p11_get();
    if (p == NULL) {
        return CKR_CRYPTOKI_NOT_INITIALIZED;
    }
    pthread_mutex_lock(&p->lock);
    struct sr_p11_session *s = sr_p11_session(p, h);
    CK_RV rv = s == NULL ? CKR_SESSION_HANDLE_INVALID : !s->active[kind] ? CKR_OPERATION_NOT_INITIALIZED : CKR_OK;
    if (rv == CKR_OK) {
        *ret = s->op[kind];
        memset(&s->op[kind], 0, sizeof(s->op[kind]));
        s->active[kind] = false;
    }
    pthread_mutex_unlock(&p->lock);
    *ret_p = p;
    return rv;
}

/* Puts an operation back (a length query, a short buffer, a multi-part step), or ends it. */
static void sr_p11_give_back(struct sr_p11 *p, CK_SESSION_HANDLE h, enum sr_p11_op kind, struct sr_p11_active *a,
                             bool keep)
{
    pthread_mutex_lock(&p->lock);
    struct sr_p11_session *s = sr_p11_session(p, h);
    if (keep && s != NULL && !s->active[kind]) {
        s->op[kind] = *a;
        s->active[kind] = true;
        memset(a, 0, sizeof(*a));
    }
    pthread_mutex_unlock(&p->lock);
    sr_p11_active_release(a);
}

/* --- the computations --- */

static size_t sr_p11_sig_len(const struct sr_p11_active *a)
{
    const struct sr_p11_object *k = &a->key;
    const struct sr_p11_mech_row *row = sr_p11_mech_row(a->mech);
    return row->kind == SR_MK_MAC              ? sr_mac_len(row->mac)
           : k->info.spec.type == SR_KEY_RSA ? k->info.spec.bits / 8
                                              : 2 * sr_curve_coord_len(k->info.spec.curve);
}

/* What a hashing mechanism signs: the digest of the data; an unhashed one, the data. */
static enum sr_err sr_p11_prehash(const struct sr_p11_active *a, const uint8_t *in, size_t n, uint8_t *digest,
                                  size_t *dlen, bool hashing)
{
    int hi = sr_p11_hash(a->hash);
    if (!hashing) {
        SR_ENSURE(n <= EVP_MAX_MD_SIZE, SR_ERR_TOO_LARGE);
        if (n > 0) {
            memcpy(digest, in, n);
        }
        *dlen = n;
        return SR_OK;
    }
    SR_ENSURE(hi >= 0, SR_ERR_INTERNAL);
    return sr_digest(sr_p11_hashes[hi].md, in, n, digest, dlen);
}

/* ECDSA over a digest: the curve's own algorithm (with its cached context) when the digest fits it. */
static enum sr_sign_alg sr_p11_ecdsa_alg(const struct sr_p11_object *k, size_t dlen)
{
    static const enum sr_sign_alg algs[] = {SR_ALG_ES256, SR_ALG_ES384, SR_ALG_ES512, SR_ALG_ES256K};
    for (size_t i = 0; i < SR_ARRAY_LEN(algs); i++) {
        if (sr_sign_alg_fits(algs[i], k->pub) == SR_OK && sr_sign_alg_digest_len(algs[i]) == dlen) {
            return algs[i];
        }
    }
    return SR_ALG_NONE;
}

static enum sr_err sr_p11_sign(struct sr_p11 *p, const struct sr_p11_active *a, const uint8_t *in, size_t n,
                               struct sr_buf *out)
{
    const struct sr_p11_mech_row *row = sr_p11_mech_row(a->mech);
    const struct sr_p11_object *k = &a->key;
    uint8_t digest[EVP_MAX_MD_SIZE];
    size_t dlen = 0;
    if (row->kind == SR_MK_RSA_RAW) {
        return sr_keyfile_sign_unhashed(p->module, k->app, k->file.data, k->file.len, in, n, out);
    }
    if (row->kind == SR_MK_MAC) {
        return sr_keyfile_mac(p->module, k->app, k->file.data, k->file.len, SR_ACL_SIGN, row->mac, in, n, out);
    }
    SR_TRY(sr_p11_prehash(a, in, n, digest, &dlen, row->hash != 0));
    enum sr_sign_alg alg = SR_ALG_NONE;
    int hi = sr_p11_hash(a->hash);
    if (row->kind == SR_MK_ECDSA) {
        alg = sr_p11_ecdsa_alg(k, dlen);
        if (alg == SR_ALG_NONE) {
            return sr_keyfile_sign_unhashed(p->module, k->app, k->file.data, k->file.len, digest, dlen, out);
        }
    } else {
        SR_ENSURE(hi >= 0 && dlen == sr_p11_hashes[hi].len, SR_ERR_DIGEST_LEN);
        alg = row->kind == SR_MK_RSA_PSS ? sr_p11_hashes[hi].pss : sr_p11_hashes[hi].pkcs1;
    }
    return sr_keyfile_sign_digest(p->module, k->app, k->file.data, k->file.len, alg, digest, dlen, out);
}

/* A MAC is checked by computing it in the module (under the key's Verify permission) and comparing in
 * constant time. */
static enum sr_err sr_p11_verify_mac(struct sr_p11 *p, const struct sr_p11_active *a, const uint8_t *in, size_t n,
                                     const uint8_t *sig, size_t siglen)
{
    const struct sr_p11_object *k = &a->key;
    SR_AUTO_BUF struct sr_buf mac = {0};
    sr_buf_init(&mac, EVP_MAX_MD_SIZE, SR_BUF_SECRET);
    pthread_rwlock_rdlock(&p->module_lock);
    enum sr_err r = sr_keyfile_mac(p->module, k->app, k->file.data, k->file.len, SR_ACL_VERIFY,
                                   sr_p11_mech_row(a->mech)->mac, in, n, &mac);
    pthread_rwlock_unlock(&p->module_lock);
    SR_TRY(r);
    SR_ENSURE(mac.len == siglen && CRYPTO_memcmp(mac.data, sig, siglen) == 0, SR_ERR_BAD_SIGNATURE);
    return SR_OK;
}

static enum sr_err sr_p11_verify(struct sr_p11 *p, const struct sr_p11_active *a, const uint8_t *in, size_t n,
                                 const uint8_t *sig, size_t siglen)
{
    const struct sr_p11_mech_row *row = sr_p11_mech_row(a->mech);
    const struct sr_p11_object *k = &a->key;
    SR_ENSURE(siglen == sr_p11_sig_len(a), SR_ERR_MALFORMED);
    if (row->kind == SR_MK_MAC) {
        return sr_p11_verify_mac(p, a, in, n, sig, siglen);
    }
    if (row->kind == SR_MK_RSA_RAW) {
        return sr_pkey_verify_unhashed(k->pub, in, n, sig, siglen);
    }
    uint8_t digest[EVP_MAX_MD_SIZE];
    size_t dlen = 0;
    SR_TRY(sr_p11_prehash(a, in, n, digest, &dlen, row->hash != 0));
    if (row->kind == SR_MK_ECDSA) {
        return sr_pkey_verify_unhashed(k->pub, digest, dlen, sig, siglen);
    }
    int hi = sr_p11_hash(a->hash);
    SR_ENSURE(hi >= 0 && dlen == sr_p11_hashes[hi].len, SR_ERR_DIGEST_LEN);
    enum sr_sign_alg alg = row->kind == SR_MK_RSA_PSS ? sr_p11_hashes[hi].pss : sr_p11_hashes[hi].pkcs1;
    return sr_pkey_verify_digest(k->pub, alg, digest, dlen, SR_SIG_RAW, sig, siglen);
}

static const struct sr_sym_alg *sr_p11_sym(const struct sr_p11_active *a)
{
    const char *sym = sr_p11_mech_row(a->mech)->sym;
    char name[32];
    if (a->mech == CKM_AES_GCM || a->mech == CKM_AES_CBC_PAD || a->mech == CKM_AES_CBC) {
        snprintf(name, sizeof(name), "A%u%s", a->key.info.spec.bits, sym);
        sym = name;
    }
    return sr_sym_alg_find_p11(sym);
}

/* Encryption's output length for n bytes in. */
static size_t sr_p11_encrypted_len(const struct sr_p11_active *a, size_t n)
{
    switch (a->mech) {
    case CKM_RSA_PKCS_OAEP: case CKM_RSA_PKCS: return a->key.info.spec.bits / 8;
    case CKM_AES_GCM: return n + a->tag_bits / 8;
    case CKM_AES_CBC_PAD: return (n / 16 + 1) * 16;
    case CKM_AES_CBC:
    case CKM_AES_ECB:
    case CKM_AES_CTR: return n;
    case CKM_AES_KEY_WRAP: return n + 8;
    default: return (n + 7) / 8 * 8 + 8; /* CKM_AES_KEY_WRAP_PAD */
    }
}

static enum sr_err sr_p11_crypt(struct sr_p11 *p, const struct sr_p11_active *a, bool encrypt, const uint8_t *in,
                                size_t n, struct sr_buf *out)
{
    const struct sr_p11_object *k = &a->key;
    if (a->mech == CKM_RSA_PKCS) {
        /* Encryption only (p11.c's table): the module decrypts no PKCS#1 v1.5, as Key Vault's RSA1_5. */
        return encrypt ? sr_pkey_encrypt(k->pub, SR_ENC_RSA1_5, in, n, out) : SR_ERR_RSA15_DECRYPT;
    }
    if (a->mech == CKM_RSA_PKCS_OAEP) {
        enum sr_enc_alg alg = sr_p11_hashes[sr_p11_hash(a->hash)].oaep;
        return encrypt ? sr_pkey_encrypt(k->pub, alg, in, n, out)
                       : sr_keyfile_decrypt(p->module, k->app, k->file.data, k->file.len, SR_ACL_DECRYPT, alg, in, n,
                                            out);
    }
    const struct sr_sym_alg *alg = sr_p11_sym(a);
    SR_ENSURE(alg != NULL, SR_ERR_KEY_TYPE);
    if (a->mech == CKM_AES_CTR && a->tag_bits <= 64) {
        /* The counter is the block's low ulCounterBits and must not wrap within them; OpenSSL would carry
         * past them into the nonce. (Wider counters cannot wrap within 16 MiB of data.) */
        uint64_t low = 0, blocks = (n + 15) / 16;
        for (size_t i = 8; i < 16; i++) {
            low = low << 8 | a->iv.data[i];
        }
        uint64_t room = a->tag_bits == 64 ? UINT64_MAX - low : ((UINT64_C(1) << a->tag_bits) - 1) - (low & ((UINT64_C(1) << a->tag_bits) - 1));
        SR_ENSURE(blocks == 0 || blocks - 1 <= room, SR_ERR_TOO_LARGE);
    }
    struct sr_sym_input si = {.data = in, .len = n, .iv = a->iv.len ? a->iv.data : NULL, .iv_len = a->iv.len,
                              .aad = a->aad.len ? a->aad.data : NULL, .aad_len = a->aad.len};
    if (a->mech == CKM_AES_GCM && !encrypt) {
        size_t tag = a->tag_bits / 8;
        SR_ENSURE(n >= tag, SR_ERR_DECRYPT_FAILED);
        si.len = n - tag;
        si.tag = in + n - tag;
        si.tag_len = tag;
    }
    struct sr_sym_extra extra = {0};
    SR_TRY(sr_keyfile_symmetric(p->module, k->app, k->file.data, k->file.len, encrypt ? SR_ACL_ENCRYPT : SR_ACL_DECRYPT,
                                alg, &si, out, &extra));
    return a->mech == CKM_AES_GCM && encrypt ? sr_buf_append(out, extra.tag, extra.tag_len) : SR_OK;
}

/* --- single-part calls, and the last step of multi-part ones --- */

/* Runs a finished operation whose output goes to out/out_len under PKCS#11's length rules: a length
 * query or a short buffer keeps the operation for the next call; anything else ends it. */
static CK_RV sr_p11_finish(CK_SESSION_HANDLE h, enum sr_p11_op kind, const uint8_t *in, size_t n, CK_BYTE_PTR out,
                           CK_ULONG_PTR out_len, bool final)
{
    struct sr_p11 *p = NULL;
    struct sr_p11_active a = {0};
    CK_RV rv = sr_p11_take(h, kind, &p, &a);
    if (rv != CKR_OK) {
        return rv;
    }
    if (!final && a.multipart) {
        /* PKCS#11 2.40 §5.10-5.12: a single-part call cannot end a multi-part operation; it goes on. */
        sr_p11_give_back(p, h, kind, &a, true);
        return CKR_OPERATION_ACTIVE;
    }
    if (out_len == NULL || (in == NULL && n > 0)) {
        sr_p11_give_back(p, h, kind, &a, false);
        return CKR_ARGUMENTS_BAD;
    }
    if (final) { /* the gathered parts */
        in = a.data.data;
        n = a.data.len;
    }
    size_t want = kind == SR_P11_OP_SIGN      ? sr_p11_sig_len(&a)
                  : kind == SR_P11_OP_ENCRYPT ? sr_p11_encrypted_len(&a, n)
                  : kind == SR_P11_OP_DIGEST  ? sr_p11_hashes[sr_p11_hash(a.hash)].len
                                              : n; /* decrypt: never more than went in */
    if (out == NULL || *out_len < want) {
        CK_RV short_rv = out == NULL ? CKR_OK : CKR_BUFFER_TOO_SMALL;
        *out_len = want;
        sr_p11_give_back(p, h, kind, &a, true);
        return short_rv;
    }
    SR_AUTO_BUF struct sr_buf result = {0};
    sr_buf_init(&result, n + 1024, kind == SR_P11_OP_DECRYPT ? SR_BUF_SECRET : SR_BUF_PLAIN);
    enum sr_err r = SR_OK;
    pthread_rwlock_rdlock(&p->module_lock);
    if (kind == SR_P11_OP_SIGN) {
        r = sr_p11_sign(p, &a, in, n, &result);
    } else if (kind == SR_P11_OP_DIGEST) {
        uint8_t d[EVP_MAX_MD_SIZE];
        size_t dlen = 0;
        r = a.digest != NULL ? sr_digest_end(SR_TAKE(a.digest), d, &dlen) : sr_p11_prehash(&a, in, n, d, &dlen, true);
        r = r == SR_OK ? sr_buf_append(&result, d, dlen) : r;
    } else {
        r = sr_p11_crypt(p, &a, kind == SR_P11_OP_ENCRYPT, in, n, &result);
    }
    pthread_rwlock_unlock(&p->module_lock);
    /* Every failure to decrypt (tag, padding, OAEP) is the one answer: no oracle. */
    rv = r == SR_ERR_DIGEST_LEN || r == SR_ERR_TOO_LARGE ? CKR_DATA_LEN_RANGE : sr_p11_rv(r);
    if (rv == CKR_OK) {
        rv = sr_p11_out(result.data, result.len, out, out_len);
    }
    sr_p11_give_back(p, h, kind, &a, false);
    return rv;
}

/* A multi-part step: the data is gathered for the last step. */
static CK_RV sr_p11_update(CK_SESSION_HANDLE h, enum sr_p11_op kind, const uint8_t *in, size_t n)
{
    struct sr_p11 *p = NULL;
    struct sr_p11_active a = {0};
    CK_RV rv = sr_p11_take(h, kind, &p, &a);
    if (rv != CKR_OK) {
        return rv;
    }
    bool ok = (in != NULL || n == 0) &&
              (a.digest != NULL ? sr_digest_update(a.digest, in, n) : sr_buf_append(&a.data, in, n)) == SR_OK;
    a.multipart = true;
    /* A failed step ends the operation, as PKCS#11 says. */
    sr_p11_give_back(p, h, kind, &a, ok);
    return ok ? CKR_OK : in == NULL ? CKR_ARGUMENTS_BAD : CKR_DATA_LEN_RANGE;
}

/* C_DigestKey (§5.10): a secret key's value into the digest in progress, inside the module; from then on the
 * digest goes on in steps. Only secret keys: another key is CKR_KEY_INDIGESTIBLE. */
CK_RV sr_C_DigestKey(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE key)
{
    struct sr_p11 *p = NULL;
    struct sr_p11_active a = {0};
    CK_RV rv = sr_p11_take(h, SR_P11_OP_DIGEST, &p, &a);
    if (rv != CKR_OK) {
        return rv;
    }
    struct sr_p11_object k = {0};
    pthread_mutex_lock(&p->lock);
    struct sr_p11_object *o = sr_p11_object(p, key);
    rv = o == NULL || !sr_p11_object_visible(p, o) || o->cls == CKO_DATA ? CKR_KEY_HANDLE_INVALID
         : o->cls != CKO_SECRET_KEY                                         ? CKR_KEY_INDIGESTIBLE
         : sr_p11_object_copy(o, &k) != SR_OK                               ? CKR_HOST_MEMORY
                                                                            : CKR_OK;
    pthread_mutex_unlock(&p->lock);
    if (rv == CKR_OK && a.digest == NULL) { /* what came before the key, then the key */
        enum sr_err r = sr_digest_begin(sr_p11_hashes[sr_p11_hash(a.hash)].md, &a.digest);
        r = r == SR_OK ? sr_digest_update(a.digest, a.data.data, a.data.len) : r;
        rv = sr_p11_rv(r);
        sr_buf_release(&a.data);
    }
    if (rv == CKR_OK) {
        pthread_rwlock_rdlock(&p->module_lock);
        rv = sr_p11_rv(sr_keyfile_digest_key(p->module, k.app, k.file.data, k.file.len, a.digest));
        pthread_rwlock_unlock(&p->module_lock);
    }
    sr_p11_object_release(&k);
    a.multipart = a.multipart || rv == CKR_OK;
    /* A failed step ends the operation, as PKCS#11 says, but a key of the wrong kind leaves it as it was. */
    bool goes_on = rv == CKR_OK || rv == CKR_KEY_INDIGESTIBLE || rv == CKR_KEY_HANDLE_INVALID;
    sr_p11_give_back(p, h, SR_P11_OP_DIGEST, &a, goes_on);
    return rv;
}

CK_RV sr_C_Sign(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG n, CK_BYTE_PTR sig, CK_ULONG_PTR siglen)
{
    return sr_p11_finish(h, SR_P11_OP_SIGN, in, n, sig, siglen, false);
}

CK_RV sr_C_SignUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG n)
{
    return sr_p11_update(h, SR_P11_OP_SIGN, in, n);
}

CK_RV sr_C_SignFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR sig, CK_ULONG_PTR siglen)
{
    return sr_p11_finish(h, SR_P11_OP_SIGN, NULL, 0, sig, siglen, true);
}

CK_RV sr_C_Encrypt(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG n, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
    return sr_p11_finish(h, SR_P11_OP_ENCRYPT, in, n, out, out_len, false);
}

CK_RV sr_C_Decrypt(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG n, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
    return sr_p11_finish(h, SR_P11_OP_DECRYPT, in, n, out, out_len, false);
}

CK_RV sr_C_Digest(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG n, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
    return sr_p11_finish(h, SR_P11_OP_DIGEST, in, n, out, out_len, false);
}

CK_RV sr_C_DigestUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG n)
{
    return sr_p11_update(h, SR_P11_OP_DIGEST, in, n);
}

CK_RV sr_C_DigestFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
    return sr_p11_finish(h, SR_P11_OP_DIGEST, NULL, 0, out, out_len, true);
}

/* Encryption and decryption gather their parts and answer at the end: EncryptUpdate gives nothing yet. */
static CK_RV sr_p11_crypt_update(CK_SESSION_HANDLE h, enum sr_p11_op kind, CK_BYTE_PTR in, CK_ULONG n,
                                 CK_ULONG_PTR out_len)
{
    if (out_len == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    CK_RV rv = sr_p11_update(h, kind, in, n);
    if (rv == CKR_OK) {
        *out_len = 0;
    }
    return rv;
}

CK_RV sr_C_EncryptUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG n, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
    (void)out;
    return sr_p11_crypt_update(h, SR_P11_OP_ENCRYPT, in, n, out_len);
}

CK_RV sr_C_EncryptFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
    return sr_p11_finish(h, SR_P11_OP_ENCRYPT, NULL, 0, out, out_len, true);
}

CK_RV sr_C_DecryptUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG n, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
    (void)out;
    return sr_p11_crypt_update(h, SR_P11_OP_DECRYPT, in, n, out_len);
}

CK_RV sr_C_DecryptFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
    return sr_p11_finish(h, SR_P11_OP_DECRYPT, NULL, 0, out, out_len, true);
}

static CK_RV sr_p11_verify_end(CK_SESSION_HANDLE h, const uint8_t *in, size_t n, const uint8_t *sig, size_t siglen,
                               bool final)
{
    struct sr_p11 *p = NULL;
    struct sr_p11_active a = {0};
    CK_RV rv = sr_p11_take(h, SR_P11_OP_VERIFY, &p, &a);
    if (rv != CKR_OK) {
        return rv;
    }
    if (sig == NULL || (in == NULL && n > 0 && !final)) {
        rv = CKR_ARGUMENTS_BAD;
    } else {
        enum sr_err r = final ? sr_p11_verify(p, &a, a.data.data, a.data.len, sig, siglen)
                              : sr_p11_verify(p, &a, in, n, sig, siglen);
        rv = r == SR_ERR_MALFORMED ? CKR_SIGNATURE_LEN_RANGE
             : r == SR_ERR_DIGEST_LEN || r == SR_ERR_TOO_LARGE ? CKR_DATA_LEN_RANGE
                                                                : sr_p11_rv(r);
    }
    sr_p11_give_back(p, h, SR_P11_OP_VERIFY, &a, false);
    return rv;
}

CK_RV sr_C_Verify(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG n, CK_BYTE_PTR sig, CK_ULONG siglen)
{
    return sr_p11_verify_end(h, in, n, sig, siglen, false);
}

CK_RV sr_C_VerifyUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG n)
{
    return sr_p11_update(h, SR_P11_OP_VERIFY, in, n);
}

CK_RV sr_C_VerifyFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR sig, CK_ULONG siglen)
{
    return sr_p11_verify_end(h, NULL, 0, sig, siglen, true);
}

/* --- key wrapping --- */

CK_RV sr_p11_rsa_aes_params(const CK_MECHANISM *mech, const uint8_t **label, size_t *label_len)
{
    struct sr_ck_rsa_aes_key_wrap_params wcopy;
    const struct sr_ck_rsa_aes_key_wrap_params *wp = sr_p11_param(mech, &wcopy, sizeof(wcopy));
    if (wp == NULL || wp->ulAESKeyBits != 256 || wp->pOAEPParams == NULL) {
        return CKR_MECHANISM_PARAM_INVALID;
    }
    CK_RSA_PKCS_OAEP_PARAMS ocopy;
    memcpy(&ocopy, wp->pOAEPParams, sizeof(ocopy));
    const CK_RSA_PKCS_OAEP_PARAMS *op = &ocopy;
    if (op->hashAlg != CKM_SHA_1 || op->mgf != CKG_MGF1_SHA1 || (op->pSourceData == NULL && op->ulSourceDataLen > 0) ||
        op->ulSourceDataLen > 1024) {
        return CKR_MECHANISM_PARAM_INVALID;
    }
    *label = op->pSourceData;
    *label_len = op->ulSourceDataLen;
    return CKR_OK;
}

/* A key leaves only wrapped, and only if it was made extractable (ExportToTrusted, or modify-acls'
 * ExportToKey of one KEK), under a wrapping key the security officer's card quorum marked trusted. */
CK_RV sr_C_WrapKey(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE wrapping, CK_OBJECT_HANDLE key,
                   CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
    struct sr_p11 *p = sr_p11_get();
    if (p == NULL) {
        return CKR_CRYPTOKI_NOT_INITIALIZED;
    }
    struct sr_p11_object target = {0}, kek = {0};
    pthread_mutex_lock(&p->lock);
    struct sr_p11_session *s = sr_p11_session(p, h);
    struct sr_p11_object *o = sr_p11_object(p, key), *w = sr_p11_object(p, wrapping);
    bool extractable = o != NULL && (sr_acl_permits(&o->info.acl, SR_ACL_EXPORT_TO_TRUSTED) ||
                                     sr_acl_permits(&o->info.acl, SR_ACL_EXPORT_TO_KEY));
    CK_RV rv = s == NULL                                                   ? CKR_SESSION_HANDLE_INVALID
               : mech == NULL || out_len == NULL                            ? CKR_ARGUMENTS_BAD
               : o == NULL || !sr_p11_object_visible(p, o) || o->cls == CKO_PUBLIC_KEY || o->cls == CKO_DATA
                                                                            ? CKR_KEY_HANDLE_INVALID
               : !extractable                                               ? CKR_KEY_UNEXTRACTABLE
               : mech->mechanism != CKM_RSA_AES_KEY_WRAP                    ? CKR_MECHANISM_INVALID
               : w == NULL                                                  ? CKR_WRAPPING_KEY_HANDLE_INVALID
               : !w->trusted                                                ? CKR_KEY_NOT_WRAPPABLE
                                                                            : CKR_OK;
    if (rv == CKR_OK) {
        rv = sr_p11_object_copy(o, &target) == SR_OK && sr_p11_object_copy(w, &kek) == SR_OK ? CKR_OK : CKR_HOST_MEMORY;
    }
    pthread_mutex_unlock(&p->lock);
    const uint8_t *label = NULL;
    size_t label_len = 0;
    rv = rv == CKR_OK ? sr_p11_rsa_aes_params(mech, &label, &label_len) : rv;
    if (rv == CKR_OK) {
        SR_AUTO_BUF struct sr_buf wrapped = {0};
        sr_buf_init(&wrapped, SR_MAX_FILE, SR_BUF_PLAIN);
        pthread_rwlock_rdlock(&p->module_lock);
        enum sr_err r = sr_keyfile_export_trusted(p->module, target.app, target.file.data, target.file.len,
                                                  kek.file.data, kek.file.len, label, label_len, &wrapped);
        pthread_rwlock_unlock(&p->module_lock);
        rv = r == SR_ERR_ACL_DENIED ? CKR_KEY_UNEXTRACTABLE : sr_p11_rv(r);
        rv = rv == CKR_OK ? sr_p11_out(wrapped.data, wrapped.len, out, out_len) : rv;
    }
    sr_p11_object_release(&target);
    sr_p11_object_release(&kek);
    return rv;
}
