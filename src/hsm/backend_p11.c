/*
 * backend_p11.c - the `pkcs11` backend of backend.h: a region whose keys live in a PKCS#11 token (docs/hsm.md).
 *
 * Every private and secret key is an object of the token, made there (C_GenerateKey[Pair], C_UnwrapKey) with
 * CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE and not CKA_EXTRACTABLE (extractable only for a key made exportable
 * with a release policy), and used there: this file never holds a private key. What the store keeps for a key
 * is a reference (SRP11REF: its CKA_ID and CKA_LABEL, type, size, permissions, and the public key's SPKI), so
 * verification, encryption with a public key and the JWK need no token round trip.
 *
 * Sessions: a pool of read-write sessions, all logged in (a login holds for every session of the application),
 * sized to the token's ulMaxRwSessionCount and SR_P11_POOL. A call that finds the token gone
 * (CKR_DEVICE_REMOVED, CKR_SESSION_HANDLE_INVALID, CKR_TOKEN_NOT_PRESENT ...) marks the pool lost; the next
 * call reopens it (C_Finalize, C_Initialize, the token found again by its URI, sessions opened, login) and
 * retries once, so service resumes by itself when the token returns. Until then: SR_ERR_HSM_UNAVAILABLE.
 * CKR_USER_NOT_LOGGED_IN logs in again and retries. A mechanism the token lacks is SR_ERR_P11_MECHANISM,
 * never done in software instead.
 *
 * The region's identity key (ECDSA P-384, signs packages, attestations, release answers and checkpoints) and
 * its KEK (RSA, C_UnwrapKey only) are token objects too, named in DATA/regions/R/hsm/region.json with the
 * token's "world": an HSM region has no security world of cards, so what a BYOK package binds to is the
 * token itself, hkm = SHA-256("strongroom token world" || token serial || identity SPKI).
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/fileio.h"
#include "base/json.h"
#include "base/text.h"
#include "crypto/jwk.h"
#include "crypto/ossl.h"
#include "crypto/pkey.h"
#include "hsm/backend_p11.h"
#include "hsm/container.h"
#include "hsm/p11token.h"
#include "hsm/suite.h"

/* p11-kit's pkcs11.h maps these GNU member names to the standard ones and forgets to #undef them. */
#undef iv_len
#undef aad_len

#define SR_MAGIC_P11_REF "SRP11REF"
#define SR_P11_ID_LEN 16u
#define SR_P11_POOL 16u
#define SR_P11_MAX_MECHS 512u
#define SR_P11_CACHE 1024u /* object handles remembered by CKA_ID, direct-mapped */

/* A key's object handle as last found; good only for the pool generation that found it. */
struct sr_p11_cached {
    uint8_t id[SR_P11_ID_LEN];
    CK_OBJECT_CLASS cls;
    CK_OBJECT_HANDLE handle;
    unsigned gen;
    bool used;
};

static const struct sr_hsm_ops sr_hsm_p11_ops;

struct sr_hsm_p11 {
    struct sr_hsm base; /* first */
    char dir[SR_PATH_MAX];
    char uri[SR_P11_URI_MAX];
    char esn[64];
    struct sr_world_info world;
    uint8_t identity_id[SR_P11_ID_LEN], kek_id[SR_P11_ID_LEN];
    uint8_t values_id[SR_P11_ID_LEN]; /* the AES-256 key that seals secrets' values (CKM_AES_GCM) */
    bool has_values;                  /* false: a region made before secrets, whose token has no such key */

    pthread_mutex_t lock; /* the pool, the token and the mechanism list */
    pthread_cond_t freed;
    struct sr_p11_token t;
    void *lib_pin;     /* the library, loaded once more for the pool's life: a reopening never unmaps it under
                        * a thread still inside one of its calls */
    bool open;         /* t loaded, sessions open and logged in */
    unsigned gen;      /* counts reopenings: a session of an older generation is not given back */
    CK_SESSION_HANDLE sessions[SR_P11_POOL];
    bool busy[SR_P11_POOL];
    size_t nbusy;      /* leases out, of any generation: the pool is closed only at 0 */
    size_t nsessions;
    CK_MECHANISM_TYPE mechs[SR_P11_MAX_MECHS];
    CK_ULONG nmechs;
    struct sr_p11_cached cache[SR_P11_CACHE];
    char diag[256];
};

/* One borrowed session. */
struct sr_p11_lease {
    struct sr_hsm_p11 *p;
    CK_FUNCTION_LIST_PTR f;
    CK_SESSION_HANDLE s;
    size_t slot;
    unsigned gen;
};

static struct sr_hsm_p11 *sr_p11(const struct sr_hsm *h)
{
    return (struct sr_hsm_p11 *)h; /* the pool is the one mutable part, under its lock */
}

/* --- the pool --- */

static void sr_p11_pool_close(struct sr_hsm_p11 *p)
{
    if (p->t.f != NULL && p->nsessions > 0) {
        (void)p->t.f->C_CloseAllSessions(p->t.slot);
    }
    sr_p11_token_close(&p->t);
    p->open = false;
    p->nsessions = 0;
    memset(p->busy, 0, sizeof(p->busy));
    p->gen++;
}

static enum sr_err sr_p11_pool_open(struct sr_hsm_p11 *p)
{
    SR_TRY(sr_p11_token_load(&p->t, p->uri, p->diag, sizeof(p->diag)));
    if (p->lib_pin == NULL) {
        p->lib_pin = dlopen(p11_kit_uri_get_module_path(p->t.uri), RTLD_NOW | RTLD_LOCAL);
    }
    SR_TRY(sr_p11_token_find(&p->t, p->diag, sizeof(p->diag)));
    CK_ULONG max = p->t.info.ulMaxRwSessionCount;
    size_t want = SR_P11_POOL;
    if (max != CK_UNAVAILABLE_INFORMATION && max != CK_EFFECTIVELY_INFINITE && max < want) {
        want = max > 1 ? (size_t)max - 1 : 1; /* one left for the operator's tools */
    }
    for (size_t i = 0; i < want; i++) {
        CK_RV rv = p->t.f->C_OpenSession(p->t.slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL,
                                         &p->sessions[i]);
        if (rv != CKR_OK) {
            snprintf(p->diag, sizeof(p->diag), "C_OpenSession returned 0x%lx (token %s)", (unsigned long)rv,
                     p->t.label);
            return SR_ERR_HSM_UNAVAILABLE;
        }
        p->nsessions = i + 1;
    }
    SR_TRY(sr_p11_token_login(&p->t, p->sessions[0], p->diag, sizeof(p->diag)));
    p->nmechs = SR_P11_MAX_MECHS;
    if (p->t.f->C_GetMechanismList(p->t.slot, p->mechs, &p->nmechs) != CKR_OK) {
        p->nmechs = 0;
    }
    p->open = true;
    return SR_OK;
}

/* The token is gone when a call says so: the pool is reopened by the next call. */
static bool sr_p11_rv_lost(CK_RV rv)
{
    return rv == CKR_DEVICE_REMOVED || rv == CKR_TOKEN_NOT_PRESENT || rv == CKR_SESSION_HANDLE_INVALID ||
           rv == CKR_SESSION_CLOSED || rv == CKR_DEVICE_ERROR || rv == CKR_CRYPTOKI_NOT_INITIALIZED ||
           rv == CKR_SLOT_ID_INVALID || rv == CKR_TOKEN_NOT_RECOGNIZED;
    /* Not CKR_GENERAL_ERROR: SoftHSMv2 2.6 answers a wrong AES-GCM tag with it. */
}

static enum sr_err sr_p11_take(struct sr_hsm_p11 *p, struct sr_p11_lease *l)
{
    pthread_mutex_lock(&p->lock);
    enum sr_err r = SR_OK;
    if (!p->open) {
        /* A lost pool is closed and reopened only once no call is inside the library: C_Finalize under a thread
         * still in C_Sign is undefined (SoftHSMv2 frees what that thread uses). */
        while (p->nbusy > 0) {
            pthread_cond_wait(&p->freed, &p->lock);
        }
    }
    if (!p->open) {
        sr_p11_pool_close(p);
        r = sr_p11_pool_open(p);
        if (r != SR_OK) {
            sr_p11_pool_close(p);
            r = r == SR_ERR_P11_SEAL_PIN || r == SR_ERR_P11_SEAL_URI ? r : SR_ERR_HSM_UNAVAILABLE;
        }
    }
    while (r == SR_OK) {
        for (size_t i = 0; i < p->nsessions; i++) {
            if (!p->busy[i]) {
                p->busy[i] = true;
                p->nbusy++;
                *l = (struct sr_p11_lease){.p = p, .f = p->t.f, .s = p->sessions[i], .slot = i, .gen = p->gen};
                pthread_mutex_unlock(&p->lock);
                return SR_OK;
            }
        }
        pthread_cond_wait(&p->freed, &p->lock);
        if (!p->open) {
            r = SR_ERR_HSM_UNAVAILABLE; /* lost while waiting: the caller's retry reopens it */
        }
    }
    pthread_mutex_unlock(&p->lock);
    return r;
}

/* Gives the session back; lost: the call saw the token go, so the next take reopens the pool. */
static void sr_p11_give(struct sr_p11_lease *l, bool lost)
{
    struct sr_hsm_p11 *p = l->p;
    if (p == NULL) {
        return;
    }
    pthread_mutex_lock(&p->lock);
    p->nbusy--;
    if (l->gen == p->gen) {
        p->busy[l->slot] = false;
        if (lost) {
            p->open = false; /* closed and reopened by the next take, once no call is inside the library */
        }
    }
    pthread_cond_broadcast(&p->freed);
    pthread_mutex_unlock(&p->lock);
    l->p = NULL;
}

/* Whether the token lists mechanism m (a token that lists none is asked anyway). */
static bool sr_p11_has_mech(struct sr_hsm_p11 *p, CK_MECHANISM_TYPE m)
{
    pthread_mutex_lock(&p->lock);
    bool found = p->nmechs == 0;
    for (CK_ULONG i = 0; i < p->nmechs && !found; i++) {
        found = p->mechs[i] == m;
    }
    pthread_mutex_unlock(&p->lock);
    return found;
}

/* --- a call's outcome --- */

/* What a CK_RV means to the caller: lost tokens and logins are the retry loop's, the rest an error. */
static enum sr_err sr_p11_rv(struct sr_p11_lease *l, const char *call, CK_RV rv, enum sr_err otherwise)
{
    if (rv == CKR_OK) {
        return SR_OK;
    }
    snprintf(l->p->diag, sizeof(l->p->diag), "%s returned 0x%lx (token %s)", call, (unsigned long)rv, l->p->t.label);
    if (rv == CKR_MECHANISM_INVALID || rv == CKR_MECHANISM_PARAM_INVALID) {
        return SR_ERR_P11_MECHANISM;
    }
    if (sr_p11_rv_lost(rv)) {
        return SR_ERR_HSM_UNAVAILABLE;
    }
    if (rv == CKR_USER_NOT_LOGGED_IN) {
        return SR_ERR_P11_SEAL_PIN;
    }
    return otherwise;
}

typedef enum sr_err (*sr_p11_call_fn)(struct sr_p11_lease *l, void *ctx);

static enum sr_err sr_p11_find(struct sr_p11_lease *l, CK_OBJECT_CLASS cls, const uint8_t *id, size_t id_len,
                               const char *label, CK_OBJECT_HANDLE *ret);

/* A key not found, or a key the token would not make, may mean the token itself is gone (SoftHSMv2 whose token
 * directory went away answers an empty search, not CKR_TOKEN_NOT_PRESENT). The region's identity key is the
 * canary: if the token no longer shows it either, the token is unreachable, and the pool is reopened. */
static enum sr_err sr_p11_canary(struct sr_p11_lease *l, enum sr_err r)
{
    CK_OBJECT_HANDLE o;
    enum sr_err c = sr_p11_find(l, CKO_PRIVATE_KEY, l->p->identity_id, SR_P11_ID_LEN, NULL, &o);
    if (c != SR_OK) {
        snprintf(l->p->diag, sizeof(l->p->diag), "token %s no longer shows the region's identity key", l->p->t.label);
        return SR_ERR_HSM_UNAVAILABLE;
    }
    return r;
}

/* Runs fn on a session; once more after a lost token (reopened) or a lost login (logged in again). */
static enum sr_err sr_p11_run(const struct sr_hsm *h, sr_p11_call_fn fn, void *ctx)
{
    struct sr_hsm_p11 *p = sr_p11(h);
    enum sr_err r = SR_OK;
    for (int attempt = 0; attempt < 2; attempt++) {
        struct sr_p11_lease l = {0};
        r = sr_p11_take(p, &l);
        if (r != SR_OK) {
            continue;
        }
        r = fn(&l, ctx);
        if (r == SR_ERR_HSM_KEY_GONE || r == SR_ERR_KEY_TYPE) {
            r = sr_p11_canary(&l, r);
        }
        if (r == SR_ERR_P11_SEAL_PIN) {
            r = sr_p11_token_login(&p->t, l.s, p->diag, sizeof(p->diag)) == SR_OK ? SR_ERR_HSM_UNAVAILABLE : r;
            sr_p11_give(&l, false);
            if (r != SR_ERR_HSM_UNAVAILABLE) {
                return r;
            }
            continue;
        }
        sr_p11_give(&l, r == SR_ERR_HSM_UNAVAILABLE);
        if (r != SR_ERR_HSM_UNAVAILABLE) {
            return r;
        }
    }
    return r;
}

/* --- objects --- */

static CK_BBOOL sr_true = CK_TRUE, sr_false = CK_FALSE;

/* The object of class cls with this CKA_ID (and label, when given): SR_ERR_HSM_KEY_GONE if none. */
static enum sr_err sr_p11_find(struct sr_p11_lease *l, CK_OBJECT_CLASS cls, const uint8_t *id, size_t id_len,
                               const char *label, CK_OBJECT_HANDLE *ret)
{
    CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof(cls)},
                           {CKA_ID, (void *)id, id_len},
                           {CKA_LABEL, (void *)label, label ? strlen(label) : 0}};
    CK_OBJECT_HANDLE found[2];
    CK_ULONG n = 0;
    CK_RV rv = l->f->C_FindObjectsInit(l->s, tmpl, label ? 3 : 2);
    if (rv == CKR_OK) {
        rv = l->f->C_FindObjects(l->s, found, 2, &n);
        (void)l->f->C_FindObjectsFinal(l->s);
    }
    SR_TRY(sr_p11_rv(l, "C_FindObjects", rv, SR_ERR_HSM_UNAVAILABLE));
    SR_ENSURE(n == 1, SR_ERR_HSM_KEY_GONE);
    *ret = found[0];
    return SR_OK;
}

/* The same object, its handle remembered by CKA_ID: one C_FindObjects (which SoftHSMv2 answers by walking every
 * object of the token) becomes one C_GetAttributeValue that confirms the handle still names an object of this
 * class and CKA_ID (a handle may be reused for another object once its own is destroyed, here or by another node). A
 * handle that does not is found again. Not for the canary: it must ask the token afresh. */
static enum sr_err sr_p11_find_cached(struct sr_p11_lease *l, CK_OBJECT_CLASS cls, const uint8_t id[SR_P11_ID_LEN],
                                      const char *label, CK_OBJECT_HANDLE *ret)
{
    struct sr_hsm_p11 *p = l->p;
    uint32_t slot; /* CKA_IDs are random: their first bytes index the cache */
    memcpy(&slot, id, sizeof(slot));
    struct sr_p11_cached *c = &p->cache[slot % SR_P11_CACHE];
    pthread_mutex_lock(&p->lock);
    bool hit = c->used && c->gen == l->gen && c->cls == cls && memcmp(c->id, id, SR_P11_ID_LEN) == 0;
    CK_OBJECT_HANDLE o = c->handle;
    pthread_mutex_unlock(&p->lock);
    if (hit) {
        CK_OBJECT_CLASS got_cls = 0;
        uint8_t got_id[SR_P11_ID_LEN];
        CK_ATTRIBUTE a[] = {{CKA_CLASS, &got_cls, sizeof(got_cls)}, {CKA_ID, got_id, sizeof(got_id)}};
        if (l->f->C_GetAttributeValue(l->s, o, a, SR_ARRAY_LEN(a)) == CKR_OK && got_cls == cls &&
            a[1].ulValueLen == SR_P11_ID_LEN && memcmp(got_id, id, SR_P11_ID_LEN) == 0) {
            *ret = o;
            return SR_OK;
        }
    }
    SR_TRY(sr_p11_find(l, cls, id, SR_P11_ID_LEN, label, &o));
    pthread_mutex_lock(&p->lock);
    *c = (struct sr_p11_cached){.cls = cls, .handle = o, .gen = l->gen, .used = true};
    memcpy(c->id, id, SR_P11_ID_LEN);
    pthread_mutex_unlock(&p->lock);
    *ret = o;
    return SR_OK;
}

/* An attribute's bytes into out (the public parts only: never CKA_VALUE of a private or secret key). */
static enum sr_err sr_p11_attr(struct sr_p11_lease *l, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type, struct sr_buf *out)
{
    CK_ATTRIBUTE a = {type, NULL, 0};
    CK_RV rv = l->f->C_GetAttributeValue(l->s, o, &a, 1);
    SR_TRY(sr_p11_rv(l, "C_GetAttributeValue", rv, SR_ERR_KEY_TYPE));
    SR_ENSURE(a.ulValueLen != CK_UNAVAILABLE_INFORMATION && a.ulValueLen <= 4096, SR_ERR_KEY_TYPE);
    SR_TRY(sr_buf_reserve(out, a.ulValueLen));
    a.pValue = out->data + out->len;
    rv = l->f->C_GetAttributeValue(l->s, o, &a, 1);
    SR_TRY(sr_p11_rv(l, "C_GetAttributeValue", rv, SR_ERR_KEY_TYPE));
    out->len += a.ulValueLen;
    return SR_OK;
}

/* The public key of a token key pair object (RSA: modulus and exponent; EC: params and point). */
static enum sr_err sr_p11_public_of(struct sr_p11_lease *l, CK_OBJECT_HANDLE o, const struct sr_key_spec *spec,
                                    EVP_PKEY **ret)
{
    SR_AUTO_JSON json_t *jwk = json_object();
    SR_ENSURE(jwk != NULL, SR_ERR_NOMEM);
    SR_AUTO_BUF struct sr_buf a = {0}, b = {0};
    sr_buf_init(&a, 4096, SR_BUF_PLAIN);
    sr_buf_init(&b, 4096, SR_BUF_PLAIN);
    if (spec->type == SR_KEY_RSA) {
        SR_TRY(sr_p11_attr(l, o, CKA_MODULUS, &a));
        SR_TRY(sr_p11_attr(l, o, CKA_PUBLIC_EXPONENT, &b));
        SR_ENSURE(json_object_set_new(jwk, "kty", json_string("RSA")) == 0, SR_ERR_NOMEM);
        SR_TRY(sr_json_set_b64url(jwk, "n", a.data, a.len));
        SR_TRY(sr_json_set_b64url(jwk, "e", b.data, b.len));
    } else {
        SR_TRY(sr_p11_attr(l, o, CKA_EC_POINT, &a));
        /* CKA_EC_POINT is the DER OCTET STRING of the uncompressed point (some tokens give it bare). */
        const uint8_t *pt = a.data;
        size_t n = a.len;
        if (n > 2 && pt[0] == 0x04 && pt[1] == n - 2 && (n - 2) % 2 == 1) {
            pt += 2, n -= 2;
        } else if (n > 3 && pt[0] == 0x04 && pt[1] == 0x81 && pt[2] == n - 3) {
            pt += 3, n -= 3;
        }
        size_t coord = sr_curve_coord_len(spec->curve);
        SR_ENSURE(coord > 0 && n == 1 + 2 * coord && pt[0] == 0x04, SR_ERR_KEY_TYPE);
        SR_ENSURE(json_object_set_new(jwk, "kty", json_string("EC")) == 0, SR_ERR_NOMEM);
        SR_ENSURE(json_object_set_new(jwk, "crv", json_string(sr_curve_name(spec->curve))) == 0, SR_ERR_NOMEM);
        SR_TRY(sr_json_set_b64url(jwk, "x", pt + 1, coord));
        SR_TRY(sr_json_set_b64url(jwk, "y", pt + 1 + coord, coord));
    }
    return sr_jwk_public_to_pkey(jwk, ret);
}

/* --- references (what the store keeps) --- */

struct sr_p11_ref {
    uint8_t id[SR_P11_ID_LEN];
    char label[SR_MAX_IDENT + 1];
    struct sr_key_info info;
    const uint8_t *spki; /* borrowed from the container */
    size_t spki_len;
};

static CK_OBJECT_CLASS sr_p11_class(enum sr_key_type t)
{
    return sr_key_type_secret(t) ? CKO_SECRET_KEY : CKO_PRIVATE_KEY;
}

static enum sr_err sr_p11_ref_write(const struct sr_hsm_p11 *p, const uint8_t id[SR_P11_ID_LEN], const char *label,
                                    const char *name, const struct sr_key_spec *spec, unsigned acl,
                                    const char *origin, EVP_PKEY *pub, struct sr_buf *out)
{
    char hex[2 * SR_P11_ID_LEN + 1];
    sr_hex_encode(id, SR_P11_ID_LEN, hex);
    SR_AUTO_JSON json_t *hdr = json_pack("{s:s,s:s,s:s,s:s,s:i,s:s,s:i,s:s,s:I,s:s}", "id", hex, "label", label,
                                         "name", name, "type", sr_key_type_name(spec->type), "bits", (int)spec->bits,
                                         "curve", spec->curve ? sr_curve_name(spec->curve) : "", "acl", (int)acl,
                                         "origin", origin, "created", (json_int_t)time(NULL), "token", p->esn);
    SR_ENSURE(hdr != NULL, SR_ERR_NOMEM);
    SR_AUTO_BUF struct sr_buf spki = {0};
    sr_buf_init(&spki, 4096, SR_BUF_PLAIN);
    if (pub != NULL) {
        SR_TRY(sr_pkey_public_to_spki(pub, &spki));
    }
    SR_TRY(sr_container_prefix(SR_MAGIC_P11_REF, hdr, out));
    return sr_container_finish(out, spki.data, spki.len);
}

static enum sr_err sr_p11_ref_parse(const uint8_t *blob, size_t len, struct sr_container *c, struct sr_p11_ref *ret)
{
    SR_TRY(sr_container_parse(blob, len, SR_MAGIC_P11_REF, SR_ERR_KEYFILE_TAMPERED, c));
    *ret = (struct sr_p11_ref){0};
    const char *id = json_string_value(json_object_get(c->header, "id"));
    const char *label = json_string_value(json_object_get(c->header, "label"));
    const char *type = json_string_value(json_object_get(c->header, "type"));
    const char *curve = json_string_value(json_object_get(c->header, "curve"));
    SR_ENSURE(id != NULL && label != NULL && type != NULL && curve != NULL, SR_ERR_KEYFILE_TAMPERED);
    SR_ENSURE(sr_hex_decode(id, ret->id, SR_P11_ID_LEN) == SR_OK, SR_ERR_KEYFILE_TAMPERED);
    SR_ENSURE(strlen(label) < sizeof(ret->label), SR_ERR_KEYFILE_TAMPERED);
    strcpy(ret->label, label);
    struct sr_key_info *i = &ret->info;
    snprintf(i->app, sizeof(i->app), "vault");
    snprintf(i->ident, sizeof(i->ident), "%s", label);
    SR_TRY(sr_json_strcpy(c->header, "name", SR_ERR_KEYFILE_TAMPERED, i->plainname, sizeof(i->plainname)));
    SR_TRY(sr_json_strcpy(c->header, "origin", SR_ERR_KEYFILE_TAMPERED, i->origin, sizeof(i->origin)));
    i->spec.type = strcmp(type, "RSA") == 0 ? SR_KEY_RSA : strcmp(type, "EC") == 0 ? SR_KEY_EC
                 : strcmp(type, "AES") == 0 ? SR_KEY_AES : SR_KEY_NONE;
    SR_ENSURE(i->spec.type != SR_KEY_NONE, SR_ERR_KEYFILE_TAMPERED);
    i->spec.bits = (unsigned)json_integer_value(json_object_get(c->header, "bits"));
    if (i->spec.type == SR_KEY_EC) {
        SR_ENSURE(sr_curve_parse(curve, &i->spec.curve) == SR_OK, SR_ERR_KEYFILE_TAMPERED);
    }
    i->acl.actions = (unsigned)json_integer_value(json_object_get(c->header, "acl"));
    i->created = (long long)json_integer_value(json_object_get(c->header, "created"));
    ret->spki = c->payload;
    ret->spki_len = c->payload_len;
    SR_ENSURE(sr_key_type_secret(i->spec.type) == (c->payload_len == 0), SR_ERR_KEYFILE_TAMPERED);
    return SR_OK;
}

/* --- identity --- */

static const char *sr_p11_esn(const struct sr_hsm *h)
{
    return sr_p11(h)->esn;
}

static enum sr_err sr_p11_world(const struct sr_hsm *h, struct sr_world_info *ret)
{
    *ret = sr_p11(h)->world;
    return SR_OK;
}

struct sr_p11_keyuse {
    const uint8_t *id;
    const char *label;
    CK_OBJECT_CLASS cls;
    CK_MECHANISM mech;
    const uint8_t *in;
    size_t in_len;
    struct sr_buf *out;
    enum sr_err fail; /* what a refusal of the input is */
    bool sign;        /* a signature by alg: checked against the key's type and curve first */
    enum sr_sign_alg alg;
    bool decrypt;     /* C_Decrypt, else C_Sign (or C_Encrypt when encrypt) */
    bool encrypt;
};

/* Ends an active single-part operation whose output will not be kept (wiped). */
static void sr_p11_op_end(struct sr_p11_lease *l, const struct sr_p11_keyuse *u, CK_ULONG need)
{
    uint8_t sink[8192];
    CK_ULONG n = sizeof(sink);
    CK_BYTE_PTR in = (CK_BYTE_PTR)u->in;
    if (need <= sizeof(sink)) {
        (void)(u->decrypt   ? l->f->C_Decrypt(l->s, in, u->in_len, sink, &n)
               : u->encrypt ? l->f->C_Encrypt(l->s, in, u->in_len, sink, &n)
                            : l->f->C_Sign(l->s, in, u->in_len, sink, &n));
    }
    sr_wipe(sink, sizeof(sink));
}

static enum sr_err sr_p11_use_call(struct sr_p11_lease *l, void *ctx)
{
    struct sr_p11_keyuse *u = ctx;
    CK_OBJECT_HANDLE o;
    SR_TRY(sr_p11_find_cached(l, u->cls, u->id, u->label, &o));
    CK_RV rv = u->decrypt   ? l->f->C_DecryptInit(l->s, &u->mech, o)
             : u->encrypt ? l->f->C_EncryptInit(l->s, &u->mech, o)
                          : l->f->C_SignInit(l->s, &u->mech, o);
    /* SoftHSMv2 answers an OAEP hash or PSS parameters it does not do with CKR_ARGUMENTS_BAD, at Init. */
    SR_TRY(sr_p11_rv(l, u->decrypt ? "C_DecryptInit" : u->encrypt ? "C_EncryptInit" : "C_SignInit", rv,
                     rv == CKR_ARGUMENTS_BAD ? SR_ERR_P11_MECHANISM : u->fail));
    /* The output's length first (a NULL buffer: the operation stays active), then the output. */
    CK_BYTE_PTR in = (CK_BYTE_PTR)u->in;
    CK_ULONG n = 0;
    CK_BYTE_PTR out = NULL;
    for (int pass = 0; pass < 2; pass++) {
        rv = u->decrypt   ? l->f->C_Decrypt(l->s, in, u->in_len, out, &n)
           : u->encrypt ? l->f->C_Encrypt(l->s, in, u->in_len, out, &n)
                        : l->f->C_Sign(l->s, in, u->in_len, out, &n);
        SR_TRY(sr_p11_rv(l, u->decrypt ? "C_Decrypt" : u->encrypt ? "C_Encrypt" : "C_Sign", rv, u->fail));
        if (pass == 0) {
            enum sr_err r = sr_buf_reserve(u->out, n);
            if (r != SR_OK) {
                sr_p11_op_end(l, u, n); /* PKCS#11 2.40 has no cancel: the operation must be run to its end */
                return r;
            }
            out = u->out->data + u->out->len;
        }
    }
    u->out->len += n;
    return SR_OK;
}

static enum sr_err sr_p11_attest(const struct sr_hsm *h, const uint8_t *data, size_t len, struct sr_buf *out)
{
    struct sr_hsm_p11 *p = sr_p11(h);
    uint8_t digest[48];
    size_t dlen = 0;
    SR_TRY(sr_digest("SHA384", data, len, digest, &dlen));
    SR_AUTO_BUF struct sr_buf raw = {0};
    sr_buf_init(&raw, 256, SR_BUF_PLAIN);
    struct sr_p11_keyuse u = {.id = p->identity_id, .cls = CKO_PRIVATE_KEY,
                              .mech = {CKM_ECDSA, NULL, 0}, .in = digest, .in_len = dlen, .out = &raw,
                              .fail = SR_ERR_HSM_UNAVAILABLE};
    SR_TRY(sr_p11_run(h, sr_p11_use_call, &u));
    return sr_ecdsa_raw_to_der(raw.data, raw.len, 48, out);
}

static enum sr_err sr_p11_certificates(const struct sr_hsm *h, struct sr_buf *warrant, struct sr_buf *root)
{
    char path[SR_PATH_MAX];
    SR_TRY(sr_path_join(path, sizeof(path), sr_p11(h)->dir, "warrant.pem"));
    SR_TRY(sr_file_read(path, warrant));
    SR_TRY(sr_buf_terminate(warrant));
    SR_TRY(sr_path_join(path, sizeof(path), sr_p11(h)->dir, "root.pem"));
    SR_TRY(sr_file_read(path, root));
    SR_TRY(sr_buf_terminate(root));
    return SR_OK;
}

struct sr_p11_pubread {
    const uint8_t *id;
    CK_OBJECT_CLASS cls;
    struct sr_key_spec spec;
    EVP_PKEY *pub;
};

static enum sr_err sr_p11_pubread_call(struct sr_p11_lease *l, void *ctx)
{
    struct sr_p11_pubread *r = ctx;
    CK_OBJECT_HANDLE o;
    SR_TRY(sr_p11_find(l, r->cls, r->id, SR_P11_ID_LEN, NULL, &o));
    return sr_p11_public_of(l, o, &r->spec, &r->pub);
}

static enum sr_err sr_p11_kek_public(const struct sr_hsm *h, EVP_PKEY **ret)
{
    struct sr_p11_pubread r = {.id = sr_p11(h)->kek_id, .cls = CKO_PUBLIC_KEY, .spec = {.type = SR_KEY_RSA}};
    SR_TRY(sr_p11_run(h, sr_p11_pubread_call, &r));
    *ret = r.pub;
    return SR_OK;
}

/* The identity key's public half, read by fn (sr_p11_pubread_call, or a variant that says more of a miss). */
static enum sr_err sr_p11_identity_read(const struct sr_hsm *h, sr_p11_call_fn fn, EVP_PKEY **ret)
{
    struct sr_p11_pubread r = {.id = sr_p11(h)->identity_id, .cls = CKO_PUBLIC_KEY,
                               .spec = {.type = SR_KEY_EC, .curve = SR_CURVE_P384}};
    SR_TRY(sr_p11_run(h, fn, &r));
    *ret = r.pub;
    return SR_OK;
}

enum sr_err sr_hsm_pkcs11_identity(const struct sr_hsm *h, EVP_PKEY **ret)
{
    SR_ENSURE(h->ops == &sr_hsm_p11_ops, SR_ERR_KEY_TYPE);
    return sr_p11_identity_read(h, sr_p11_pubread_call, ret);
}

/* --- making keys --- */

struct sr_p11_make {
    const struct sr_key_spec *spec;
    unsigned acl;
    uint8_t id[SR_P11_ID_LEN];
    const char *label;
    EVP_PKEY *pub;
};

/* The usage attributes of a private or secret key from its module ACL: an EC key only signs, an RSA key signs,
 * decrypts (Key Vault's unwrapKey is a decryption) or, as a KEK, unwraps keys, and never both of the last two. */
static void sr_p11_usage(unsigned acl, enum sr_key_type type, CK_BBOOL use[5])
{
    bool secret = sr_key_type_secret(type), rsa = type == SR_KEY_RSA;
    use[0] = !secret && (acl & SR_ACL_SIGN) ? CK_TRUE : CK_FALSE;                              /* CKA_SIGN */
    use[1] = rsa && (acl & (SR_ACL_DECRYPT | SR_ACL_UNWRAP)) ? CK_TRUE : CK_FALSE;             /* CKA_DECRYPT */
    use[2] = rsa && (acl & SR_ACL_IMPORT) ? CK_TRUE : CK_FALSE;                                /* CKA_UNWRAP */
    use[3] = (acl & SR_ACL_RELEASE) ? CK_TRUE : CK_FALSE;                                      /* CKA_EXTRACTABLE */
    use[4] = secret && (acl & (SR_ACL_ENCRYPT | SR_ACL_DECRYPT | SR_ACL_WRAP | SR_ACL_UNWRAP)) /* CKA_ENCRYPT, */
                 ? CK_TRUE : CK_FALSE;                                                         /* CKA_DECRYPT */
}

/* A generation the token refused: the template's fault (a key this token will not make), or the token's own
 * (SoftHSMv2 whose token directory is going away fails the write with CKR_GENERAL_ERROR): a retry, not a 400. */
static enum sr_err sr_p11_keygen_fail(CK_RV rv)
{
    switch (rv) {
    case CKR_TEMPLATE_INCOMPLETE: case CKR_TEMPLATE_INCONSISTENT: case CKR_ATTRIBUTE_VALUE_INVALID:
    case CKR_ATTRIBUTE_TYPE_INVALID: case CKR_KEY_SIZE_RANGE: case CKR_DOMAIN_PARAMS_INVALID:
    case CKR_CURVE_NOT_SUPPORTED:
        return SR_ERR_KEY_TYPE;
    default:
        return SR_ERR_HSM_UNAVAILABLE;
    }
}

static enum sr_err sr_p11_make_call(struct sr_p11_lease *l, void *ctx)
{
    struct sr_p11_make *m = ctx;
    const struct sr_key_spec *spec = m->spec;
    CK_BBOOL use[5];
    sr_p11_usage(m->acl, spec->type, use);
    CK_ULONG label_len = strlen(m->label);
    if (spec->type == SR_KEY_AES) {
        CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
        CK_KEY_TYPE kt = CKK_AES;
        CK_ULONG bytes = spec->bits / 8;
        CK_ATTRIBUTE t[] = {
            {CKA_CLASS, &cls, sizeof(cls)},       {CKA_KEY_TYPE, &kt, sizeof(kt)},
            {CKA_VALUE_LEN, &bytes, sizeof(bytes)}, {CKA_TOKEN, &sr_true, 1},
            {CKA_PRIVATE, &sr_true, 1},           {CKA_SENSITIVE, &sr_true, 1},
            {CKA_EXTRACTABLE, &use[3], 1},        {CKA_ENCRYPT, &use[4], 1},
            {CKA_DECRYPT, &use[4], 1},            {CKA_WRAP, &sr_false, 1},
            {CKA_UNWRAP, &sr_false, 1},           {CKA_ID, m->id, SR_P11_ID_LEN},
            {CKA_LABEL, (void *)m->label, label_len},
        };
        CK_MECHANISM gen = {CKM_AES_KEY_GEN, NULL, 0};
        CK_OBJECT_HANDLE o;
        CK_RV rv = l->f->C_GenerateKey(l->s, &gen, t, SR_ARRAY_LEN(t), &o);
        return sr_p11_rv(l, "C_GenerateKey (CKM_AES_KEY_GEN)", rv, sr_p11_keygen_fail(rv));
    }
    CK_OBJECT_CLASS pub_cls = CKO_PUBLIC_KEY, priv_cls = CKO_PRIVATE_KEY;
    CK_ULONG bits = spec->bits;
    static CK_BYTE f4[] = {0x01, 0x00, 0x01};
    SR_AUTO_BUF struct sr_buf oid = {0};
    sr_buf_init(&oid, 64, SR_BUF_PLAIN);
    bool rsa = spec->type == SR_KEY_RSA;
    if (!rsa) {
        SR_TRY(sr_curve_oid_der(spec->curve, &oid));
    }
    /* The public half mirrors the private one's uses, so a key that unwraps keys never also decrypts data (the
     * Tookan rule, which our own library enforces on the pair). */
    CK_BBOOL encrypt = rsa ? use[1] : CK_FALSE, wrap = rsa ? use[2] : CK_FALSE;
    CK_ATTRIBUTE pt[] = {
        {CKA_CLASS, &pub_cls, sizeof(pub_cls)}, {CKA_TOKEN, &sr_true, 1},
        {CKA_VERIFY, &use[0], 1},              {CKA_ID, m->id, SR_P11_ID_LEN},
        {CKA_LABEL, (void *)m->label, label_len},
        {CKA_PRIVATE, &sr_false, 1},           {CKA_ENCRYPT, &encrypt, 1},
        {CKA_WRAP, &wrap, 1},
        rsa ? (CK_ATTRIBUTE){CKA_MODULUS_BITS, &bits, sizeof(bits)} : (CK_ATTRIBUTE){CKA_EC_PARAMS, oid.data, oid.len},
        {CKA_PUBLIC_EXPONENT, f4, sizeof(f4)},
    };
    CK_ATTRIBUTE kt[] = {
        {CKA_CLASS, &priv_cls, sizeof(priv_cls)}, {CKA_TOKEN, &sr_true, 1},  {CKA_PRIVATE, &sr_true, 1},
        {CKA_SENSITIVE, &sr_true, 1},            {CKA_EXTRACTABLE, &use[3], 1}, {CKA_SIGN, &use[0], 1},
        {CKA_DECRYPT, &use[1], 1},               {CKA_UNWRAP, &use[2], 1},  {CKA_ID, m->id, SR_P11_ID_LEN},
        {CKA_LABEL, (void *)m->label, label_len},
    };
    CK_MECHANISM gen = {rsa ? CKM_RSA_PKCS_KEY_PAIR_GEN : CKM_EC_KEY_PAIR_GEN, NULL, 0};
    CK_OBJECT_HANDLE pub, priv;
    CK_RV rv = l->f->C_GenerateKeyPair(l->s, &gen, pt, rsa ? 10 : 9, kt, SR_ARRAY_LEN(kt), &pub, &priv);
    enum sr_err r = sr_p11_rv(
        l, rsa ? "C_GenerateKeyPair (CKM_RSA_PKCS_KEY_PAIR_GEN)" : "C_GenerateKeyPair (CKM_EC_KEY_PAIR_GEN)", rv,
        sr_p11_keygen_fail(rv));
    if (!rsa && (rv == CKR_CURVE_NOT_SUPPORTED || rv == CKR_DOMAIN_PARAMS_INVALID || rv == CKR_ATTRIBUTE_VALUE_INVALID)) {
        r = SR_ERR_P11_MECHANISM; /* a token without the curve (P-256K on most): the curve is what it lacks */
    }
    SR_TRY(r);
    /* The public half stays a token object beside the private one: a token may keep a pair as one thing (ours
     * does: both halves token objects or both session objects), and the pair's CKA_ID finds both. */
    r = sr_p11_public_of(l, pub, spec, &m->pub);
    if (r != SR_OK) {
        (void)l->f->C_DestroyObject(l->s, priv);
        (void)l->f->C_DestroyObject(l->s, pub);
    }
    return r;
}

static enum sr_err sr_p11_generate(const struct sr_hsm *h, const char *label, const char *name,
                                   const struct sr_key_spec *spec, unsigned acl, struct sr_buf *out)
{
    SR_ENSURE(spec->type == SR_KEY_RSA || spec->type == SR_KEY_EC || spec->type == SR_KEY_AES, SR_ERR_KEY_TYPE);
    if (spec->type == SR_KEY_RSA) {
        SR_ENSURE(spec->bits == 2048 || spec->bits == 3072 || spec->bits == 4096, SR_ERR_KEY_TYPE);
        SR_ENSURE(spec->pubexp == 0 || spec->pubexp == 65537, SR_ERR_KEY_TYPE);
    } else if (spec->type == SR_KEY_AES) {
        SR_ENSURE(sr_secret_size_ok(spec), SR_ERR_KEY_TYPE);
    }
    struct sr_p11_make m = {.spec = spec, .acl = acl, .label = label};
    SR_TRY(sr_rand_bytes(m.id, sizeof(m.id)));
    SR_TRY(sr_p11_run(h, sr_p11_make_call, &m));
    SR_AUTO_PKEY EVP_PKEY *pub = m.pub;
    return sr_p11_ref_write(sr_p11(h), m.id, label, name, spec, acl, SR_ORIGIN_GENERATED, pub, out);
}

/* --- using keys --- */

static enum sr_err sr_p11_info(const struct sr_hsm *h, const uint8_t *blob, size_t len, struct sr_key_info *ret)
{
    (void)h;
    SR_AUTO_CONTAINER struct sr_container c = {0};
    struct sr_p11_ref ref;
    SR_TRY(sr_p11_ref_parse(blob, len, &c, &ref));
    *ret = ref.info;
    if (ref.spki_len > 0) { /* the key hash, as a module key file's header carries it */
        SR_AUTO_PKEY EVP_PKEY *pub = NULL;
        SR_TRY(sr_pkey_public_from_spki(ref.spki, ref.spki_len, &pub));
        SR_TRY(sr_pkey_public_hash(pub, ret->key_hash));
    }
    return SR_OK;
}

static enum sr_err sr_p11_spec(const uint8_t *blob, size_t len, struct sr_key_spec *ret)
{
    SR_AUTO_CONTAINER struct sr_container c = {0};
    struct sr_p11_ref ref;
    SR_TRY(sr_p11_ref_parse(blob, len, &c, &ref));
    *ret = ref.info.spec;
    return SR_OK;
}

static enum sr_err sr_p11_public(const struct sr_hsm *h, const uint8_t *blob, size_t len, EVP_PKEY **ret)
{
    (void)h;
    SR_AUTO_CONTAINER struct sr_container c = {0};
    struct sr_p11_ref ref;
    SR_TRY(sr_p11_ref_parse(blob, len, &c, &ref));
    SR_ENSURE(ref.spki_len > 0, SR_ERR_KEY_TYPE);
    return sr_pkey_public_from_spki(ref.spki, ref.spki_len, ret);
}

static enum sr_err sr_p11_jwk(const struct sr_hsm *h, const uint8_t *blob, size_t len, json_t **ret)
{
    SR_AUTO_CONTAINER struct sr_container c = {0};
    struct sr_p11_ref ref;
    SR_TRY(sr_p11_ref_parse(blob, len, &c, &ref));
    json_t *members = json_object();
    SR_ENSURE(members != NULL, SR_ERR_NOMEM);
    if (ref.spki_len > 0) {
        SR_AUTO_PKEY EVP_PKEY *pub = NULL;
        enum sr_err r = sr_p11_public(h, blob, len, &pub);
        if (r == SR_OK) {
            r = sr_jwk_set_public(members, pub);
        }
        if (r != SR_OK) {
            json_decref(members);
            return r;
        }
    }
    *ret = members;
    return SR_OK;
}

/* A key use: the reference's object of the right class, the operation's permission checked first. */
static enum sr_err sr_p11_use(const struct sr_hsm *h, const uint8_t *blob, size_t len, unsigned action,
                              struct sr_p11_keyuse *u)
{
    SR_AUTO_CONTAINER struct sr_container c = {0};
    struct sr_p11_ref ref;
    SR_TRY(sr_p11_ref_parse(blob, len, &c, &ref));
    SR_ENSURE((ref.info.acl.actions & action) != 0, SR_ERR_ACL_DENIED);
    /* A signature's algorithm must fit the key (ES256 with P-256 only ...): the token would sign a P-256K key
     * under CKM_ECDSA whatever the JOSE name says. */
    SR_ENSURE(!u->sign || sr_sign_alg_fits_spec(u->alg, &ref.info.spec) == SR_OK, SR_ERR_ALG);
    u->id = ref.id;
    u->label = ref.label;
    u->cls = sr_p11_class(ref.info.spec.type);
    enum sr_err r = sr_p11_run(h, sr_p11_use_call, u);
    u->id = NULL; /* they were ref's, which ends here */
    u->label = NULL;
    return r;
}

/* The DigestInfo prefixes of PKCS#1 v1.5 (RFC 8017 §9.2, note 1). */
static const uint8_t sr_di_sha256[] = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
                                       0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20};
static const uint8_t sr_di_sha384[] = {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
                                       0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30};
static const uint8_t sr_di_sha512[] = {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
                                       0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40};

static enum sr_err sr_p11_sign_digest(const struct sr_hsm *h, const uint8_t *blob, size_t len, enum sr_sign_alg alg,
                                      const uint8_t *digest, size_t dlen, struct sr_buf *out)
{
    uint8_t in[128];
    size_t n = 0;
    CK_RSA_PKCS_PSS_PARAMS pss = {0};
    struct sr_p11_keyuse u = {.out = out, .fail = SR_ERR_KEY_TYPE, .sign = true, .alg = alg};
    switch (alg) {
    case SR_ALG_RS256: case SR_ALG_RS384: case SR_ALG_RS512: {
        const uint8_t *di = alg == SR_ALG_RS256 ? sr_di_sha256 : alg == SR_ALG_RS384 ? sr_di_sha384 : sr_di_sha512;
        size_t dil = alg == SR_ALG_RS256 ? sizeof(sr_di_sha256) : alg == SR_ALG_RS384 ? sizeof(sr_di_sha384)
                                                                                        : sizeof(sr_di_sha512);
        SR_ENSURE(dil + dlen <= sizeof(in), SR_ERR_BAD_PARAM);
        memcpy(in, di, dil);
        memcpy(in + dil, digest, dlen);
        n = dil + dlen;
        u.mech = (CK_MECHANISM){CKM_RSA_PKCS, NULL, 0};
        break;
    }
    case SR_ALG_PS256: case SR_ALG_PS384: case SR_ALG_PS512:
        pss.hashAlg = alg == SR_ALG_PS256 ? CKM_SHA256 : alg == SR_ALG_PS384 ? CKM_SHA384 : CKM_SHA512;
        pss.mgf = alg == SR_ALG_PS256 ? CKG_MGF1_SHA256 : alg == SR_ALG_PS384 ? CKG_MGF1_SHA384 : CKG_MGF1_SHA512;
        pss.sLen = dlen;
        SR_ENSURE(dlen <= sizeof(in), SR_ERR_BAD_PARAM);
        memcpy(in, digest, dlen);
        n = dlen;
        u.mech = (CK_MECHANISM){CKM_RSA_PKCS_PSS, &pss, sizeof(pss)};
        break;
    default:
        SR_ENSURE(sr_sign_alg_coord_len(alg) > 0 && dlen <= sizeof(in), SR_ERR_BAD_PARAM);
        memcpy(in, digest, dlen);
        n = dlen;
        u.mech = (CK_MECHANISM){CKM_ECDSA, NULL, 0}; /* r || s, as JOSE wants */
        break;
    }
    u.in = in;
    u.in_len = n;
    return sr_p11_use(h, blob, len, SR_ACL_SIGN, &u);
}

static enum sr_err sr_p11_decrypt(const struct sr_hsm *h, const uint8_t *blob, size_t len, enum sr_acl_action action,
                                  enum sr_enc_alg alg, const uint8_t *ct, size_t ctlen, struct sr_buf *out)
{
    CK_RSA_PKCS_OAEP_PARAMS oaep = {CKM_SHA_1, CKG_MGF1_SHA1, CKZ_DATA_SPECIFIED, NULL, 0};
    struct sr_p11_keyuse u = {.in = ct, .in_len = ctlen, .out = out, .fail = SR_ERR_DECRYPT_FAILED, .decrypt = true};
    if (alg == SR_ENC_RSA1_5) {
        u.mech = (CK_MECHANISM){CKM_RSA_PKCS, NULL, 0};
    } else {
        if (alg == SR_ENC_RSA_OAEP_256) {
            oaep.hashAlg = CKM_SHA256, oaep.mgf = CKG_MGF1_SHA256;
        }
        SR_ENSURE(alg == SR_ENC_RSA_OAEP || alg == SR_ENC_RSA_OAEP_256, SR_ERR_ENC_ALG);
        u.mech = (CK_MECHANISM){CKM_RSA_PKCS_OAEP, &oaep, sizeof(oaep)};
    }
    enum sr_err r = sr_p11_use(h, blob, len, action, &u);
    if (r != SR_OK) {
        sr_wipe(out->data, out->len);
        out->len = 0;
    }
    return r;
}

static enum sr_err sr_p11_symmetric(const struct sr_hsm *h, const uint8_t *blob, size_t len, enum sr_acl_action action,
                                    const struct sr_sym_alg *alg, const struct sr_sym_input *in, struct sr_buf *out,
                                    struct sr_sym_extra *extra)
{
    bool enc = action == SR_ACL_ENCRYPT || action == SR_ACL_WRAP;
    struct sr_p11_keyuse u = {.out = out, .fail = enc ? SR_ERR_MALFORMED : SR_ERR_DECRYPT_FAILED, .decrypt = !enc,
                              .encrypt = enc};
    SR_AUTO_BUF struct sr_buf joined = {0}; /* GCM decryption takes ciphertext || tag */
    sr_buf_init(&joined, SR_MAX_FILE, SR_BUF_PLAIN);
    uint8_t iv[SR_CBC_IV_LEN];
    CK_GCM_PARAMS gcm = {0};
    u.in = in->data;
    u.in_len = in->len;
    switch (alg->mode) {
    case SR_SYM_GCM:
        if (enc) {
            SR_ENSURE(in->iv == NULL, SR_ERR_MALFORMED); /* the HSM's IV, never the caller's */
            SR_TRY(sr_rand_bytes(iv, SR_GCM_IV_LEN));
        } else {
            SR_ENSURE(in->iv_len == SR_GCM_IV_LEN && in->tag_len == SR_GCM_TAG_LEN, SR_ERR_MALFORMED);
            memcpy(iv, in->iv, SR_GCM_IV_LEN);
            SR_TRY(sr_buf_append(&joined, in->data, in->len));
            SR_TRY(sr_buf_append(&joined, in->tag, in->tag_len));
            u.in = joined.data;
            u.in_len = joined.len;
        }
        gcm = (CK_GCM_PARAMS){.pIv = iv, .ulIvLen = SR_GCM_IV_LEN, .ulIvBits = SR_GCM_IV_LEN * 8,
                              .pAAD = (CK_BYTE_PTR)in->aad, .ulAADLen = in->aad_len, .ulTagBits = SR_GCM_TAG_LEN * 8};
        u.mech = (CK_MECHANISM){CKM_AES_GCM, &gcm, sizeof(gcm)};
        break;
    case SR_SYM_CBC: case SR_SYM_CBCPAD:
        SR_ENSURE(in->iv_len == SR_CBC_IV_LEN, SR_ERR_MALFORMED);
        memcpy(iv, in->iv, SR_CBC_IV_LEN);
        u.mech = (CK_MECHANISM){alg->mode == SR_SYM_CBC ? CKM_AES_CBC : CKM_AES_CBC_PAD, iv, SR_CBC_IV_LEN};
        break;
    case SR_SYM_KW:
        u.mech = (CK_MECHANISM){CKM_AES_KEY_WRAP, NULL, 0};
        break;
    default:
        return SR_ERR_ENC_ALG;
    }
    enum sr_err r = sr_p11_use(h, blob, len, action, &u);
    if (r == SR_OK && alg->mode == SR_SYM_GCM && enc) {
        SR_ENSURE(out->len >= SR_GCM_TAG_LEN, SR_ERR_DECRYPT_FAILED);
        out->len -= SR_GCM_TAG_LEN;
        memcpy(extra->tag, out->data + out->len, SR_GCM_TAG_LEN);
        extra->tag_len = SR_GCM_TAG_LEN;
        memcpy(extra->iv, iv, SR_GCM_IV_LEN);
        extra->iv_len = SR_GCM_IV_LEN;
    } else if (r == SR_OK && enc && alg->mode != SR_SYM_KW) {
        memcpy(extra->iv, iv, SR_CBC_IV_LEN);
        extra->iv_len = SR_CBC_IV_LEN;
    }
    if (r != SR_OK && !enc) {
        sr_wipe(out->data, out->len);
        out->len = 0;
    }
    return r;
}

/* --- BYOK: a .byok unwrapped inside the token --- */

struct sr_p11_unwrap {
    struct sr_hsm_p11 *p;
    const struct sr_hsm_import *in;
    const uint8_t *kek_id;
    const char *kek_label; /* NULL: the region KEK */
    CK_OBJECT_CLASS kek_cls;
    const char *label;
    unsigned acl;
    uint8_t id[SR_P11_ID_LEN];
    size_t kwp_len; /* the AES-KWP part's length */
    struct sr_key_spec spec;
    EVP_PKEY *pub;
};

/* The imported key's type and size, and its public key, read back from its object. */
static enum sr_err sr_p11_unwrapped_describe(struct sr_p11_lease *l, CK_OBJECT_HANDLE o, struct sr_p11_unwrap *u)
{
    SR_AUTO_BUF struct sr_buf a = {0};
    sr_buf_init(&a, 4096, SR_BUF_PLAIN);
    u->spec = (struct sr_key_spec){.type = u->in->type};
    if (u->in->type == SR_KEY_AES) {
        CK_ULONG len = 0;
        CK_ATTRIBUTE v = {CKA_VALUE_LEN, &len, sizeof(len)};
        SR_TRY(sr_p11_rv(l, "C_GetAttributeValue (CKA_VALUE_LEN)", l->f->C_GetAttributeValue(l->s, o, &v, 1),
                         SR_ERR_KEY_TYPE));
        /* SoftHSMv2 leaves CKA_VALUE_LEN 0 on an unwrapped key: RFC 5649 of 16, 24 or 32 bytes is 8 bytes more. */
        u->spec.bits = (unsigned)(len ? len : u->kwp_len - 8) * 8;
        SR_ENSURE(sr_secret_size_ok(&u->spec), SR_ERR_KEY_TYPE);
        return SR_OK;
    }
    if (u->in->type == SR_KEY_EC) {
        SR_TRY(sr_p11_attr(l, o, CKA_EC_PARAMS, &a));
        SR_ENSURE(sr_curve_from_oid_der(a.data, a.len, &u->spec.curve) == SR_OK, SR_ERR_KEY_TYPE);
    }
    /* A private key's public half: CKA_PUBLIC_KEY_INFO (PKCS#11 2.40 §4.9, our library gives it), else RSA's
     * modulus and exponent or, on tokens that give it, CKA_EC_POINT. SoftHSMv2 2.6 gives an unwrapped EC key
     * neither, so it cannot take EC keys by BYOK: said as such. */
    a.len = 0;
    enum sr_err r = sr_p11_attr(l, o, CKA_PUBLIC_KEY_INFO, &a);
    r = r == SR_OK && a.len > 0 ? sr_pkey_public_from_spki(a.data, a.len, &u->pub) : sr_p11_public_of(l, o, &u->spec, &u->pub);
    if (r != SR_OK && u->in->type == SR_KEY_EC) {
        snprintf(l->p->diag, sizeof(l->p->diag), "the token gives no public point of an unwrapped EC key");
        return SR_ERR_P11_MECHANISM;
    }
    SR_TRY(r);
    SR_TRY(sr_pkey_describe(u->pub, &u->spec));
    SR_ENSURE(u->spec.type != SR_KEY_RSA || u->spec.bits >= 2048, SR_ERR_KEY_TYPE);
    return SR_OK;
}

static enum sr_err sr_p11_unwrap_call(struct sr_p11_lease *l, void *ctx)
{
    struct sr_p11_unwrap *u = ctx;
    const struct sr_hsm_import *in = u->in;
    CK_OBJECT_HANDLE kek;
    SR_TRY(sr_p11_find_cached(l, u->kek_cls, u->kek_id, u->kek_label, &kek));
    SR_AUTO_BUF struct sr_buf modulus = {0};
    sr_buf_init(&modulus, 1024, SR_BUF_PLAIN);
    SR_TRY(sr_p11_attr(l, kek, CKA_MODULUS, &modulus));
    size_t klen = modulus.len;
    SR_ENSURE(in->ct_len > klen + 8, SR_ERR_BYOK_UNWRAP);
    u->kwp_len = in->ct_len - klen;
    bool secret = in->type == SR_KEY_AES;
    CK_OBJECT_CLASS cls = secret ? CKO_SECRET_KEY : CKO_PRIVATE_KEY;
    CK_KEY_TYPE kt = secret ? CKK_AES : in->type == SR_KEY_RSA ? CKK_RSA : CKK_EC;
    CK_BBOOL use[5];
    sr_p11_usage(u->acl, in->type, use);
    CK_ATTRIBUTE t[] = {
        {CKA_CLASS, &cls, sizeof(cls)},  {CKA_KEY_TYPE, &kt, sizeof(kt)}, {CKA_TOKEN, &sr_true, 1},
        {CKA_PRIVATE, &sr_true, 1},      {CKA_SENSITIVE, &sr_true, 1},    {CKA_EXTRACTABLE, &use[3], 1},
        {CKA_ID, u->id, SR_P11_ID_LEN},  {CKA_LABEL, (void *)u->label, strlen(u->label)},
        {CKA_DECRYPT, secret ? &use[4] : &use[1], 1},
        secret ? (CK_ATTRIBUTE){CKA_ENCRYPT, &use[4], 1} : (CK_ATTRIBUTE){CKA_SIGN, &use[0], 1},
    };
    /* No label: pSourceData NULL, as SoftHSMv2 insists (it refuses any label: CKR_ARGUMENTS_BAD). */
    CK_RSA_PKCS_OAEP_PARAMS oaep = {CKM_SHA_1, CKG_MGF1_SHA1, CKZ_DATA_SPECIFIED,
                                    in->label_len ? (void *)in->label : NULL, in->label_len};
    CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
    CK_RV rv;
    const char *call;
    if (sr_p11_has_mech(u->p, CKM_RSA_AES_KEY_WRAP)) {
        /* One call: the token opens both layers (RFC 5649 under an OAEP-wrapped AES-256 key) by itself. */
        struct sr_ck_rsa_aes_key_wrap_params wp = {256, &oaep};
        CK_MECHANISM m = {CKM_RSA_AES_KEY_WRAP, &wp, sizeof(wp)};
        call = "C_UnwrapKey (CKM_RSA_AES_KEY_WRAP)";
        rv = l->f->C_UnwrapKey(l->s, &m, kek, (CK_BYTE_PTR)in->ct, in->ct_len, t, SR_ARRAY_LEN(t), &key);
    } else {
        /* The two steps the format allows: the AES key into the token as a session object (never extractable,
         * for this unwrap only), the target under it; the transient key destroyed whatever happens. */
        CK_OBJECT_CLASS scls = CKO_SECRET_KEY;
        CK_KEY_TYPE skt = CKK_AES;
        CK_ATTRIBUTE st[] = {{CKA_CLASS, &scls, sizeof(scls)}, {CKA_KEY_TYPE, &skt, sizeof(skt)},
                             {CKA_TOKEN, &sr_false, 1},        {CKA_PRIVATE, &sr_true, 1},
                             {CKA_SENSITIVE, &sr_true, 1},     {CKA_EXTRACTABLE, &sr_false, 1},
                             {CKA_UNWRAP, &sr_true, 1},        {CKA_ENCRYPT, &sr_false, 1},
                             {CKA_DECRYPT, &sr_false, 1}};
        CK_MECHANISM m1 = {CKM_RSA_PKCS_OAEP, &oaep, sizeof(oaep)};
        CK_OBJECT_HANDLE transient = CK_INVALID_HANDLE;
        call = "C_UnwrapKey (CKM_RSA_PKCS_OAEP)";
        rv = l->f->C_UnwrapKey(l->s, &m1, kek, (CK_BYTE_PTR)in->ct, klen, st, SR_ARRAY_LEN(st), &transient);
        if (rv == CKR_OK) {
            CK_MECHANISM m2 = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
            call = "C_UnwrapKey (CKM_AES_KEY_WRAP_PAD)";
            rv = l->f->C_UnwrapKey(l->s, &m2, transient, (CK_BYTE_PTR)in->ct + klen, in->ct_len - klen, t,
                                   SR_ARRAY_LEN(t), &key);
            (void)l->f->C_DestroyObject(l->s, transient);
        } else if (rv == CKR_ARGUMENTS_BAD && in->label_len > 0) {
            rv = CKR_MECHANISM_PARAM_INVALID; /* the token takes no OAEP label: a package bound to a region is not
                                               * for it; a vault import key's (unbound) is */
        }
    }
    /* Every failure to open is the one error (no oracle on which layer failed); a lost token is not one. */
    enum sr_err r = sr_p11_rv(l, call, rv, SR_ERR_BYOK_UNWRAP);
    SR_ENSURE(r == SR_OK || r == SR_ERR_HSM_UNAVAILABLE || r == SR_ERR_P11_MECHANISM, SR_ERR_BYOK_UNWRAP);
    SR_TRY(r);
    r = sr_p11_unwrapped_describe(l, key, u);
    if (r != SR_OK) {
        (void)l->f->C_DestroyObject(l->s, key); /* opened, but not a key this vault takes */
        EVP_PKEY_free(u->pub);
        u->pub = NULL;
    }
    return r;
}

static enum sr_err sr_p11_import_wrapped(const struct sr_hsm *h, const struct sr_hsm_import *in, const char *label,
                                         const char *name, unsigned acl, struct sr_buf *out,
                                         struct sr_key_spec *ret_spec)
{
    struct sr_hsm_p11 *p = sr_p11(h);
    SR_ENSURE(in->type == SR_KEY_RSA || in->type == SR_KEY_EC || in->type == SR_KEY_AES, SR_ERR_KEY_TYPE);
    SR_ENSURE(in->secret == (in->type == SR_KEY_AES), SR_ERR_KEY_TYPE);
    struct sr_p11_unwrap u = {.p = p, .in = in, .kek_id = p->kek_id, .kek_cls = CKO_PRIVATE_KEY, .label = label,
                              .acl = acl};
    SR_AUTO_CONTAINER struct sr_container c = {0};
    struct sr_p11_ref kek;
    if (in->kek != NULL) { /* a vault's import key: a token key whose permissions say Import */
        SR_TRY(sr_p11_ref_parse(in->kek, in->kek_len, &c, &kek));
        SR_ENSURE((kek.info.acl.actions & SR_ACL_IMPORT) != 0 && kek.info.spec.type == SR_KEY_RSA, SR_ERR_BYOK_KEK);
        u.kek_id = kek.id;
        u.kek_label = kek.label;
    }
    SR_TRY(sr_rand_bytes(u.id, sizeof(u.id)));
    SR_TRY(sr_p11_run(h, sr_p11_unwrap_call, &u));
    SR_AUTO_PKEY EVP_PKEY *pub = u.pub;
    *ret_spec = u.spec;
    return sr_p11_ref_write(p, u.id, label, name, &u.spec, acl, SR_ORIGIN_TRANSFERRED, pub, out);
}

/* --- what never leaves, and the end of a key --- */

static enum sr_err sr_p11_no_import(const struct sr_hsm *h, const char *label, const char *name, const json_t *jwk,
                                    unsigned acl, struct sr_buf *out, struct sr_key_spec *ret_spec)
{
    (void)h, (void)label, (void)name, (void)jwk, (void)acl, (void)out, (void)ret_spec;
    return SR_ERR_HSM_CLEAR_KEY;
}

static enum sr_err sr_p11_no_import_secret(const struct sr_hsm *h, const char *label, const char *name,
                                           const char *origin, const uint8_t *key, size_t len, unsigned acl,
                                           struct sr_buf *out)
{
    (void)h, (void)label, (void)name, (void)origin, (void)key, (void)len, (void)acl, (void)out;
    return SR_ERR_HSM_CLEAR_KEY;
}

/* --- release: an exportable key wrapped by the token itself for the target's runtime key --- */

struct sr_p11_release {
    struct sr_hsm_p11 *p;
    const struct sr_p11_ref *ref;
    const struct sr_buf *n, *e; /* the target's RSA public key */
    enum sr_enc_alg oaep;
    struct sr_buf *out;
};

/* C_WrapKey's output appended to out: its length first, then the bytes. */
static enum sr_err sr_p11_wrap_append(struct sr_p11_lease *l, const char *call, CK_MECHANISM *m, CK_OBJECT_HANDLE wrapping,
                                      CK_OBJECT_HANDLE key, struct sr_buf *out)
{
    CK_ULONG n = 0;
    CK_RV rv = l->f->C_WrapKey(l->s, m, wrapping, key, NULL, &n);
    if (rv == CKR_OK) {
        SR_TRY(sr_buf_reserve(out, n));
        rv = l->f->C_WrapKey(l->s, m, wrapping, key, out->data + out->len, &n);
    }
    /* The token's word that this key may not leave so (CKA_EXTRACTABLE false, or CKA_WRAP_WITH_TRUSTED and a
     * target it does not trust) is a refused release, not a fault. */
    bool refused = rv == CKR_KEY_UNEXTRACTABLE || rv == CKR_KEY_NOT_WRAPPABLE || rv == CKR_WRAPPING_KEY_TYPE_INCONSISTENT ||
                   rv == CKR_KEY_FUNCTION_NOT_PERMITTED;
    /* SoftHSMv2 answers an OAEP hash it does not do with CKR_ARGUMENTS_BAD. */
    SR_TRY(sr_p11_rv(l, call, rv, refused ? SR_ERR_ACL_DENIED : rv == CKR_ARGUMENTS_BAD ? SR_ERR_P11_MECHANISM : SR_ERR_CRYPTO));
    out->len += n;
    return SR_OK;
}

static enum sr_err sr_p11_release_call(struct sr_p11_lease *l, void *ctx)
{
    struct sr_p11_release *u = ctx;
    CK_OBJECT_HANDLE key;
    SR_TRY(sr_p11_find_cached(l, sr_p11_class(u->ref->info.spec.type), u->ref->id, u->ref->label, &key));
    /* The target's public key as a session object, for this release only. */
    CK_OBJECT_CLASS pcls = CKO_PUBLIC_KEY;
    CK_KEY_TYPE pkt = CKK_RSA;
    CK_ATTRIBUTE pt[] = {{CKA_CLASS, &pcls, sizeof(pcls)},  {CKA_KEY_TYPE, &pkt, sizeof(pkt)},
                         {CKA_TOKEN, &sr_false, 1},          {CKA_WRAP, &sr_true, 1},
                         {CKA_ENCRYPT, &sr_false, 1},        {CKA_VERIFY, &sr_false, 1},
                         {CKA_MODULUS, u->n->data, u->n->len}, {CKA_PUBLIC_EXPONENT, u->e->data, u->e->len}};
    CK_OBJECT_HANDLE target = CK_INVALID_HANDLE;
    CK_RV rv = l->f->C_CreateObject(l->s, pt, SR_ARRAY_LEN(pt), &target);
    /* A token that lets only its security officer make wrapping keys (ours: a session key may not wrap, a token
     * one must be CKA_TRUSTED) refuses here: its policy, not a fault. The vault checked the key itself. */
    bool policy = rv == CKR_TEMPLATE_INCONSISTENT || rv == CKR_ATTRIBUTE_READ_ONLY || rv == CKR_ATTRIBUTE_VALUE_INVALID;
    SR_TRY(sr_p11_rv(l, "C_CreateObject (the target's public key)", rv, policy ? SR_ERR_ACL_DENIED : SR_ERR_KEY_TYPE));
    CK_MECHANISM_TYPE hash = u->oaep == SR_ENC_RSA_OAEP_384 ? CKM_SHA384 : u->oaep == SR_ENC_RSA_OAEP_256 ? CKM_SHA256 : CKM_SHA_1;
    CK_RSA_PKCS_MGF_TYPE mgf = u->oaep == SR_ENC_RSA_OAEP_384 ? CKG_MGF1_SHA384
                             : u->oaep == SR_ENC_RSA_OAEP_256 ? CKG_MGF1_SHA256 : CKG_MGF1_SHA1;
    CK_RSA_PKCS_OAEP_PARAMS oaep = {hash, mgf, CKZ_DATA_SPECIFIED, NULL, 0};
    size_t start = u->out->len;
    enum sr_err r;
    if (sr_p11_has_mech(u->p, CKM_RSA_AES_KEY_WRAP)) {
        struct sr_ck_rsa_aes_key_wrap_params wp = {256, &oaep};
        CK_MECHANISM m = {CKM_RSA_AES_KEY_WRAP, &wp, sizeof(wp)};
        r = sr_p11_wrap_append(l, "C_WrapKey (CKM_RSA_AES_KEY_WRAP)", &m, target, key, u->out);
    } else {
        /* The same bytes in two steps: a transient AES-256 key made in the token wraps the key (RFC 5649), then
         * leaves under the target's key (OAEP); the transient key is destroyed whatever happens. */
        CK_OBJECT_CLASS scls = CKO_SECRET_KEY;
        CK_KEY_TYPE skt = CKK_AES;
        CK_ULONG vlen = 32;
        CK_ATTRIBUTE st[] = {{CKA_CLASS, &scls, sizeof(scls)}, {CKA_KEY_TYPE, &skt, sizeof(skt)},
                             {CKA_VALUE_LEN, &vlen, sizeof(vlen)}, {CKA_TOKEN, &sr_false, 1},
                             {CKA_PRIVATE, &sr_true, 1},       {CKA_SENSITIVE, &sr_true, 1},
                             {CKA_EXTRACTABLE, &sr_true, 1},   {CKA_WRAP, &sr_true, 1},
                             {CKA_ENCRYPT, &sr_false, 1},      {CKA_DECRYPT, &sr_false, 1}};
        CK_MECHANISM gen = {CKM_AES_KEY_GEN, NULL, 0};
        CK_OBJECT_HANDLE transient = CK_INVALID_HANDLE;
        r = sr_p11_rv(l, "C_GenerateKey (the transient AES key)",
                      l->f->C_GenerateKey(l->s, &gen, st, SR_ARRAY_LEN(st), &transient), SR_ERR_CRYPTO);
        if (r == SR_OK) {
            CK_MECHANISM m1 = {CKM_RSA_PKCS_OAEP, &oaep, sizeof(oaep)};
            CK_MECHANISM m2 = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
            r = sr_p11_wrap_append(l, "C_WrapKey (CKM_RSA_PKCS_OAEP)", &m1, target, transient, u->out);
            if (r == SR_OK) {
                r = sr_p11_wrap_append(l, "C_WrapKey (CKM_AES_KEY_WRAP_PAD)", &m2, transient, key, u->out);
            }
            (void)l->f->C_DestroyObject(l->s, transient);
        }
    }
    (void)l->f->C_DestroyObject(l->s, target);
    if (r != SR_OK) {
        u->out->len = start; /* a retry starts from nothing */
    }
    return r;
}

static enum sr_err sr_p11_release_wrapped(const struct sr_hsm *h, const uint8_t *blob, size_t len, EVP_PKEY *target,
                                          enum sr_enc_alg oaep, struct sr_buf *out)
{
    SR_ENSURE(oaep == SR_ENC_RSA_OAEP || oaep == SR_ENC_RSA_OAEP_256 || oaep == SR_ENC_RSA_OAEP_384, SR_ERR_ENC_ALG);
    SR_AUTO_CONTAINER struct sr_container c = {0};
    struct sr_p11_ref ref;
    SR_TRY(sr_p11_ref_parse(blob, len, &c, &ref));
    /* The vault's word first (only a key made exportable), then the token's (its CKA_EXTRACTABLE). */
    SR_ENSURE((ref.info.acl.actions & SR_ACL_RELEASE) != 0, SR_ERR_ACL_DENIED);
    struct sr_key_spec tspec;
    SR_TRY(sr_pkey_describe(target, &tspec));
    SR_ENSURE(tspec.type == SR_KEY_RSA && tspec.bits >= 2048, SR_ERR_KEY_TYPE);
    SR_AUTO_BUF struct sr_buf n = {0}, e = {0};
    sr_buf_init(&n, 1024, SR_BUF_PLAIN);
    sr_buf_init(&e, 16, SR_BUF_PLAIN);
    SR_TRY(sr_pkey_public_part(target, SR_PUB_RSA_N, &n));
    SR_TRY(sr_pkey_public_part(target, SR_PUB_RSA_E, &e));
    struct sr_p11_release u = {.p = sr_p11(h), .ref = &ref, .n = &n, .e = &e, .oaep = oaep, .out = out};
    return sr_p11_run(h, sr_p11_release_call, &u);
}

static enum sr_err sr_p11_no_backup(const struct sr_hsm *h, const json_t *header, const uint8_t *pt, size_t len,
                                    struct sr_buf *out)
{
    (void)h, (void)header, (void)pt, (void)len, (void)out;
    return SR_ERR_HSM_BACKUP;
}

/* A secret's value: SRVALUE1 | IV (12) | CKM_AES_GCM ciphertext and tag under the region's values key, aad
 * authenticated and not stored (the software module's layout, another key). */
static enum sr_err sr_p11_value(const struct sr_hsm *h, bool seal, const uint8_t *aad, size_t aadlen,
                                const uint8_t *in, size_t len, struct sr_buf *out)
{
    struct sr_hsm_p11 *p = sr_p11(h);
    SR_ENSURE(p->has_values, SR_ERR_HSM_NO_SECRETS);
    size_t magic = strlen(SR_MAGIC_VALUE);
    uint8_t iv[SR_GCM_IV_LEN];
    if (seal) {
        SR_TRY(sr_rand_bytes(iv, sizeof(iv)));
        SR_TRY(sr_buf_append(out, SR_MAGIC_VALUE, magic));
        SR_TRY(sr_buf_append(out, iv, sizeof(iv)));
    } else {
        SR_ENSURE(len >= magic + sizeof(iv) + SR_GCM_TAG_LEN && memcmp(in, SR_MAGIC_VALUE, magic) == 0,
                  SR_ERR_AUTH_FAILED);
        memcpy(iv, in + magic, sizeof(iv));
        in += magic + sizeof(iv);
        len -= magic + sizeof(iv);
    }
    CK_GCM_PARAMS gcm = {.pIv = iv, .ulIvLen = sizeof(iv), .ulIvBits = sizeof(iv) * 8, .pAAD = (CK_BYTE_PTR)aad,
                         .ulAADLen = aadlen, .ulTagBits = SR_GCM_TAG_LEN * 8};
    struct sr_p11_keyuse u = {.id = p->values_id, .cls = CKO_SECRET_KEY, .mech = {CKM_AES_GCM, &gcm, sizeof(gcm)},
                              .in = in, .in_len = len, .out = out, .fail = seal ? SR_ERR_MALFORMED : SR_ERR_AUTH_FAILED,
                              .decrypt = !seal, .encrypt = seal};
    size_t before = out->len;
    enum sr_err r = sr_p11_run(h, sr_p11_use_call, &u);
    if (r != SR_OK && !seal) {
        sr_wipe(out->data + before, out->len - before);
        out->len = before;
    }
    return r;
}

static enum sr_err sr_p11_seal_value(const struct sr_hsm *h, const uint8_t *aad, size_t aadlen, const uint8_t *pt,
                                     size_t len, struct sr_buf *out)
{
    return sr_p11_value(h, true, aad, aadlen, pt, len, out);
}

static enum sr_err sr_p11_open_value(const struct sr_hsm *h, const uint8_t *aad, size_t aadlen, const uint8_t *blob,
                                     size_t len, struct sr_buf *out)
{
    return sr_p11_value(h, false, aad, aadlen, blob, len, out);
}

static enum sr_err sr_p11_no_cert_sign(const struct sr_hsm *h, const uint8_t *blob, size_t len, X509 *cert,
                                       X509_REQ *req)
{
    (void)h, (void)blob, (void)len, (void)cert, (void)req;
    return SR_ERR_HSM_CERT;
}

static enum sr_err sr_p11_no_cert_import(const struct sr_hsm *h, const char *label, const char *name,
                                         const struct sr_cert_import *in, unsigned acl, struct sr_buf *out_blob,
                                         struct sr_key_spec *ret_spec, X509 **ret_leaf, STACK_OF(X509) **ret_chain)
{
    (void)h, (void)label, (void)name, (void)in, (void)acl, (void)out_blob, (void)ret_spec;
    *ret_leaf = NULL;
    *ret_chain = NULL;
    return SR_ERR_HSM_CLEAR_KEY;
}

static enum sr_err sr_p11_no_restore(const struct sr_hsm *h, const uint8_t *blob, size_t len, struct sr_buf *out)
{
    (void)h, (void)blob, (void)len, (void)out;
    return SR_ERR_HSM_BACKUP;
}


struct sr_p11_destroy {
    struct sr_p11_ref *ref;
};

static enum sr_err sr_p11_destroy_call(struct sr_p11_lease *l, void *ctx)
{
    struct sr_p11_ref *ref = ((struct sr_p11_destroy *)ctx)->ref;
    /* The private (or secret) object, then the public half of a pair, where the token still has one. */
    CK_OBJECT_CLASS classes[] = {sr_p11_class(ref->info.spec.type), CKO_PUBLIC_KEY};
    for (size_t i = 0; i < (sr_key_type_secret(ref->info.spec.type) ? 1u : 2u); i++) {
        CK_OBJECT_HANDLE o;
        enum sr_err r = sr_p11_find(l, classes[i], ref->id, SR_P11_ID_LEN, ref->label, &o);
        if (r == SR_ERR_HSM_KEY_GONE) {
            continue; /* already gone: a purge retried after its answer was lost, or the pair went as one */
        }
        SR_TRY(r);
        SR_TRY(sr_p11_rv(l, "C_DestroyObject", l->f->C_DestroyObject(l->s, o), SR_ERR_HSM_UNAVAILABLE));
    }
    return SR_OK;
}

static enum sr_err sr_p11_destroy(const struct sr_hsm *h, const uint8_t *blob, size_t len)
{
    SR_AUTO_CONTAINER struct sr_container c = {0};
    struct sr_p11_ref ref;
    SR_TRY(sr_p11_ref_parse(blob, len, &c, &ref));
    struct sr_p11_destroy d = {&ref};
    return sr_p11_run(h, sr_p11_destroy_call, &d);
}

struct sr_p11_evidence {
    struct sr_p11_ref *ref;
    json_t *attrs;
};

static enum sr_err sr_p11_evidence_call(struct sr_p11_lease *l, void *ctx)
{
    struct sr_p11_evidence *e = ctx;
    CK_OBJECT_HANDLE o;
    SR_TRY(sr_p11_find(l, sr_p11_class(e->ref->info.spec.type), e->ref->id, SR_P11_ID_LEN, e->ref->label, &o));
    static const struct {
        CK_ATTRIBUTE_TYPE type;
        const char *name;
    } flags[] = {{CKA_SENSITIVE, "CKA_SENSITIVE"}, {CKA_EXTRACTABLE, "CKA_EXTRACTABLE"},
                 {CKA_ALWAYS_SENSITIVE, "CKA_ALWAYS_SENSITIVE"}, {CKA_NEVER_EXTRACTABLE, "CKA_NEVER_EXTRACTABLE"},
                 {CKA_LOCAL, "CKA_LOCAL"}, {CKA_TOKEN, "CKA_TOKEN"}, {CKA_PRIVATE, "CKA_PRIVATE"}};
    for (size_t i = 0; i < SR_ARRAY_LEN(flags); i++) {
        CK_BBOOL v = CK_FALSE;
        CK_ATTRIBUTE a = {flags[i].type, &v, sizeof(v)};
        CK_RV rv = l->f->C_GetAttributeValue(l->s, o, &a, 1);
        SR_TRY(sr_p11_rv(l, "C_GetAttributeValue", rv, SR_ERR_HSM_UNAVAILABLE));
        SR_ENSURE(json_object_set_new(e->attrs, flags[i].name, json_boolean(v == CK_TRUE)) == 0, SR_ERR_NOMEM);
    }
    return SR_OK;
}

/* The token's word on a key: its model, serial and manufacturer, and the object's attributes as it reads them
 * now (not as the reference says), so an attestation shows what the HSM enforces. */
static enum sr_err sr_p11_evidence(const struct sr_hsm *h, const uint8_t *blob, size_t len, json_t **ret)
{
    struct sr_hsm_p11 *p = sr_p11(h);
    SR_AUTO_CONTAINER struct sr_container c = {0};
    struct sr_p11_ref ref;
    SR_TRY(sr_p11_ref_parse(blob, len, &c, &ref));
    SR_AUTO_JSON json_t *attrs = json_object();
    SR_ENSURE(attrs != NULL, SR_ERR_NOMEM);
    struct sr_p11_evidence e = {&ref, attrs};
    SR_TRY(sr_p11_run(h, sr_p11_evidence_call, &e));
    char id[2 * SR_P11_ID_LEN + 1];
    sr_hex_encode(ref.id, SR_P11_ID_LEN, id);
    pthread_mutex_lock(&p->lock);
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:O}", "manufacturer", p->t.manufacturer, "model", p->t.model,
                          "serial", p->t.serial, "label", p->t.label, "CKA_ID", id, "attributes", attrs);
    pthread_mutex_unlock(&p->lock);
    SR_ENSURE(o != NULL, SR_ERR_NOMEM);
    *ret = o;
    return SR_OK;
}

static enum sr_err sr_p11_check_call(struct sr_p11_lease *l, void *ctx)
{
    (void)ctx;
    return sr_p11_canary(l, SR_OK);
}

static enum sr_err sr_p11_check(const struct sr_hsm *h)
{
    return sr_p11_run(h, sr_p11_check_call, NULL);
}

static void sr_p11_free(struct sr_hsm *h)
{
    struct sr_hsm_p11 *p = sr_p11(h);
    sr_p11_pool_close(p);
    if (p->lib_pin != NULL) {
        dlclose(p->lib_pin);
    }
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->freed);
    free(p);
}

static const struct sr_hsm_ops sr_hsm_p11_ops = {
    .name = "pkcs11", .free = sr_p11_free, .esn = sr_p11_esn, .world = sr_p11_world,
    .kek_public = sr_p11_kek_public, .attest = sr_p11_attest, .certificates = sr_p11_certificates,
    .generate = sr_p11_generate, .import_jwk = sr_p11_no_import, .import_secret = sr_p11_no_import_secret,
    .import_wrapped = sr_p11_import_wrapped, .info = sr_p11_info, .spec = sr_p11_spec, .public_key = sr_p11_public,
    .jwk = sr_p11_jwk, .sign_digest = sr_p11_sign_digest, .decrypt = sr_p11_decrypt, .symmetric = sr_p11_symmetric,
    .release_wrapped = sr_p11_release_wrapped, .seal_backup = sr_p11_no_backup, .open_backup = sr_p11_no_restore,
    .destroy = sr_p11_destroy, .seal_value = sr_p11_seal_value, .open_value = sr_p11_open_value,
    .evidence = sr_p11_evidence, .check = sr_p11_check, .sign_cert = sr_p11_no_cert_sign,
    .import_cert = sr_p11_no_cert_import,
};

/* --- the region's file and opening --- */

static enum sr_err sr_p11_new(const char *dir, const char *uri, struct sr_hsm_p11 **ret)
{
    struct sr_hsm_p11 *p = calloc(1, sizeof(*p));
    SR_ENSURE(p != NULL, SR_ERR_NOMEM);
    p->base.ops = &sr_hsm_p11_ops;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->freed, NULL);
    *ret = p;
    SR_ENSURE(strlen(dir) < sizeof(p->dir) && strlen(uri) < sizeof(p->uri), SR_ERR_TOO_LARGE);
    strcpy(p->dir, dir);
    strcpy(p->uri, uri);
    return SR_OK;
}

static enum sr_err sr_p11_world_of(struct sr_hsm_p11 *p, EVP_PKEY *identity)
{
    SR_AUTO_BUF struct sr_buf in = {0};
    sr_buf_init(&in, 4096, SR_BUF_PLAIN);
    SR_TRY(sr_buf_append_str(&in, "strongroom token world"));
    SR_TRY(sr_buf_append_str(&in, p->esn));
    SR_TRY(sr_pkey_public_to_spki(identity, &in));
    SR_TRY(sr_sha256(in.data, in.len, p->world.hkm));
    sr_hex_encode(p->world.hkm, SR_WORLD_ID_LEN, p->world.id);
    snprintf(p->world.suite, sizeof(p->world.suite), "%s", SR_SUITE_TOKEN);
    return SR_OK;
}

static enum sr_err sr_p11_region_parse(struct sr_hsm_p11 *p, const uint8_t *text, size_t len)
{
    json_error_t err;
    SR_AUTO_JSON json_t *o = json_loadb((const char *)text, len, 0, &err);
    SR_ENSURE(o != NULL, SR_ERR_KEYFILE_TAMPERED);
    const char *identity = json_string_value(json_object_get(o, "identity"));
    const char *kek = json_string_value(json_object_get(o, "kek"));
    SR_ENSURE(identity != NULL && kek != NULL, SR_ERR_KEYFILE_TAMPERED);
    SR_ENSURE(sr_hex_decode(identity, p->identity_id, SR_P11_ID_LEN) == SR_OK, SR_ERR_KEYFILE_TAMPERED);
    SR_ENSURE(sr_hex_decode(kek, p->kek_id, SR_P11_ID_LEN) == SR_OK, SR_ERR_KEYFILE_TAMPERED);
    const char *values = json_string_value(json_object_get(o, "values"));
    p->has_values = values != NULL;
    SR_ENSURE(values == NULL || sr_hex_decode(values, p->values_id, SR_P11_ID_LEN) == SR_OK, SR_ERR_KEYFILE_TAMPERED);
    SR_TRY(sr_json_strcpy(o, "uri", SR_ERR_KEYFILE_TAMPERED, p->uri, sizeof(p->uri)));
    SR_TRY(sr_json_strcpy(o, "esn", SR_ERR_KEYFILE_TAMPERED, p->esn, sizeof(p->esn)));
    SR_TRY(sr_json_strcpy(o, "world", SR_ERR_KEYFILE_TAMPERED, p->world.id, sizeof(p->world.id)));
    const char *hkm = json_string_value(json_object_get(o, "hkm"));
    SR_ENSURE(hkm != NULL && sr_hex_decode(hkm, p->world.hkm, SR_HASH_LEN) == SR_OK, SR_ERR_KEYFILE_TAMPERED);
    snprintf(p->world.suite, sizeof(p->world.suite), "%s", SR_SUITE_TOKEN);
    p->world.created = (long long)json_integer_value(json_object_get(o, "created"));
    return SR_OK;
}

static enum sr_err sr_p11_region_read(struct sr_hsm_p11 *p)
{
    char path[SR_PATH_MAX];
    SR_TRY(sr_path_join(path, sizeof(path), p->dir, "region.json"));
    SR_AUTO_BUF struct sr_buf text = {0};
    sr_buf_init(&text, 65536, SR_BUF_PLAIN);
    SR_TRY(sr_file_read(path, &text));
    return sr_p11_region_parse(p, text.data, text.len);
}

static enum sr_err sr_p11_region_write(struct sr_hsm_p11 *p)
{
    char path[SR_PATH_MAX], id[2 * SR_P11_ID_LEN + 1], kek[2 * SR_P11_ID_LEN + 1], hkm[2 * SR_HASH_LEN + 1];
    char values[2 * SR_P11_ID_LEN + 1];
    sr_hex_encode(p->identity_id, SR_P11_ID_LEN, id);
    sr_hex_encode(p->kek_id, SR_P11_ID_LEN, kek);
    sr_hex_encode(p->values_id, SR_P11_ID_LEN, values);
    sr_hex_encode(p->world.hkm, SR_HASH_LEN, hkm);
    SR_AUTO_JSON json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:I}", "uri", p->uri, "identity", id, "kek", kek,
                                       "esn", p->esn, "world", p->world.id, "hkm", hkm, "created",
                                       (json_int_t)p->world.created);
    SR_ENSURE(o != NULL, SR_ERR_NOMEM);
    if (p->has_values) {
        SR_ENSURE(json_object_set_new(o, "values", json_string(values)) == 0, SR_ERR_NOMEM);
    }
    SR_AUTO_FREE char *text = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
    SR_ENSURE(text != NULL, SR_ERR_NOMEM);
    SR_TRY(sr_path_join(path, sizeof(path), p->dir, "region.json"));
    return sr_file_write_atomic(path, text, strlen(text), SR_WRITE_CREATE);
}

/* The end of an opening: the token's words in diag, and p handed over (r SR_OK) or freed. */
static enum sr_err sr_p11_opened(struct sr_hsm_p11 *p, enum sr_err r, struct sr_hsm **ret, char *diag, size_t cap)
{
    if (p != NULL) {
        snprintf(diag, cap, "%s", p->diag);
    }
    if (r != SR_OK) {
        if (p != NULL) {
            sr_p11_free(&p->base);
        }
        return r;
    }
    *ret = &p->base;
    return SR_OK;
}

enum sr_err sr_hsm_pkcs11_open(const char *dir, struct sr_hsm **ret, char *diag, size_t cap)
{
    struct sr_hsm_p11 *p = NULL;
    enum sr_err r = sr_p11_new(dir, "", &p);
    if (r == SR_OK) {
        r = sr_p11_region_read(p);
    }
    if (r == SR_OK) {
        pthread_mutex_lock(&p->lock);
        r = sr_p11_pool_open(p); /* the token must be there at the start; later losses are survived */
        pthread_mutex_unlock(&p->lock);
    }
    return sr_p11_opened(p, r, ret, diag, cap);
}

/* Whether the token p opened is the region's: it shows the identity key under the recorded CKA_ID, and that key's
 * public half with the token's model and serial gives the recorded world (sr_p11_world_of). */
static enum sr_err sr_p11_identity_here_call(struct sr_p11_lease *l, void *ctx)
{
    enum sr_err r = sr_p11_pubread_call(l, ctx);
    if (r == SR_ERR_HSM_KEY_GONE || r == SR_ERR_KEY_TYPE) { /* not the canary's case: the token answers */
        snprintf(l->p->diag, sizeof(l->p->diag), "token %s does not hold the region's identity key: it is not the "
                 "region's token", l->p->t.label);
        return SR_ERR_HSM_FOREIGN_TOKEN;
    }
    return r;
}

static enum sr_err sr_p11_same_token(struct sr_hsm_p11 *p)
{
    SR_AUTO_PKEY EVP_PKEY *identity = NULL;
    SR_TRY(sr_p11_identity_read(&p->base, sr_p11_identity_here_call, &identity));
    char esn[sizeof(p->esn)];
    snprintf(esn, sizeof(esn), "%s", p->esn);
    uint8_t hkm[SR_HASH_LEN];
    memcpy(hkm, p->world.hkm, sizeof(hkm));
    pthread_mutex_lock(&p->lock);
    snprintf(p->esn, sizeof(p->esn), "%s-%s", p->t.model, p->t.serial);
    pthread_mutex_unlock(&p->lock);
    SR_TRY(sr_p11_world_of(p, identity));
    if (strcmp(esn, p->esn) != 0 || memcmp(hkm, p->world.hkm, sizeof(hkm)) != 0) {
        snprintf(p->diag, sizeof(p->diag), "token %s (%s) is not the region's token (%s)", p->t.label, p->esn, esn);
        return SR_ERR_HSM_FOREIGN_TOKEN;
    }
    return SR_OK;
}

enum sr_err sr_hsm_pkcs11_join(const char *dir, const uint8_t *region_json, size_t len, const char *uri,
                               struct sr_hsm **ret, char *diag, size_t cap)
{
    struct sr_hsm_p11 *p = NULL;
    enum sr_err r = sr_p11_new(dir, "", &p);
    if (r == SR_OK) {
        r = sr_p11_region_parse(p, region_json, len);
    }
    if (r == SR_OK && uri != NULL) {
        r = strlen(uri) < sizeof(p->uri) ? SR_OK : SR_ERR_TOO_LARGE;
        if (r == SR_OK) {
            snprintf(p->uri, sizeof(p->uri), "%s", uri);
        }
    }
    if (r == SR_OK) {
        pthread_mutex_lock(&p->lock);
        r = sr_p11_pool_open(p);
        pthread_mutex_unlock(&p->lock);
    }
    if (r == SR_OK) {
        r = sr_p11_same_token(p);
    }
    if (r == SR_OK) {
        r = sr_dir_make(dir);
    }
    if (r == SR_OK) {
        r = sr_p11_region_write(p); /* with this node's URI: its own module path and PIN source */
    }
    return sr_p11_opened(p, r, ret, diag, cap);
}

enum sr_err sr_hsm_pkcs11_create(const char *dir, const char *uri, unsigned kek_bits, struct sr_hsm **ret, char *diag,
                                 size_t cap)
{
    struct sr_hsm_p11 *p = NULL;
    enum sr_err r = sr_p11_new(dir, uri, &p);
    if (r == SR_OK) {
        pthread_mutex_lock(&p->lock);
        r = sr_p11_pool_open(p);
        if (r == SR_OK) {
            snprintf(p->esn, sizeof(p->esn), "%s-%s", p->t.model, p->t.serial);
        }
        pthread_mutex_unlock(&p->lock);
    }
    struct sr_key_spec identity = {.type = SR_KEY_EC, .curve = SR_CURVE_P384};
    struct sr_key_spec kek = {.type = SR_KEY_RSA, .bits = kek_bits};
    struct sr_p11_make mi = {.spec = &identity, .acl = SR_ACL_SIGN,
                             .label = "strongroom-identity"};
    struct sr_p11_make mk = {.spec = &kek, .acl = SR_ACL_IMPORT, .label = "strongroom-kek-1"};
    struct sr_key_spec values = {.type = SR_KEY_AES, .bits = 256};
    struct sr_p11_make mv = {.spec = &values, .acl = SR_ACL_ENCRYPT | SR_ACL_DECRYPT, .label = "strongroom-values"};
    if (r == SR_OK) {
        r = sr_rand_bytes(mi.id, sizeof(mi.id));
    }
    if (r == SR_OK) {
        r = sr_rand_bytes(mk.id, sizeof(mk.id));
    }
    if (r == SR_OK) {
        r = sr_rand_bytes(mv.id, sizeof(mv.id));
    }
    if (r == SR_OK) {
        r = sr_p11_run(&p->base, sr_p11_make_call, &mi);
    }
    if (r == SR_OK) {
        r = sr_p11_run(&p->base, sr_p11_make_call, &mk);
    }
    if (r == SR_OK) {
        r = sr_p11_run(&p->base, sr_p11_make_call, &mv);
    }
    if (r == SR_OK) {
        memcpy(p->identity_id, mi.id, SR_P11_ID_LEN);
        memcpy(p->kek_id, mk.id, SR_P11_ID_LEN);
        memcpy(p->values_id, mv.id, SR_P11_ID_LEN);
        p->has_values = true;
        p->world.created = (long long)time(NULL);
        r = sr_p11_world_of(p, mi.pub);
    }
    if (r == SR_OK) {
        r = sr_dir_make(dir);
    }
    if (r == SR_OK) {
        r = sr_p11_region_write(p);
    }
    EVP_PKEY_free(mk.pub);
    EVP_PKEY_free(mi.pub);
    return sr_p11_opened(p, r, ret, diag, cap);
}
