/*
 * create.c - the objects an application makes from a template (C_CreateObject): data objects, public keys,
 * and the RSA wrapping keys the security officer trusts. A key with a secret part never enters this way:
 * a key enters the module only generated in it or unwrapped (the key-conjuring attack, docs/pkcs11.md).
 *
 * The template rules are PKCS#11 2.40 §4.1.1 and its tables of attributes (§4.2-§4.9): a missing required
 * attribute is CKR_TEMPLATE_INCOMPLETE, a value that cannot be CKR_ATTRIBUTE_VALUE_INVALID, attributes
 * that conflict CKR_TEMPLATE_INCONSISTENT, an attribute the class does not have CKR_ATTRIBUTE_TYPE_INVALID,
 * and one only the token sets CKR_ATTRIBUTE_READ_ONLY.
 */
#include "pkcs11/p11.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/fileio.h"
#include "base/json.h"
#include "base/text.h"
#include "crypto/crypto.h"
#include "crypto/jwk.h"
#include "crypto/ossl.h"
#include "hsm/transfer.h"

/* What a template asks for. */
struct sr_p11_create {
    CK_OBJECT_CLASS cls;       /* CK_UNAVAILABLE_INFORMATION: not given */
    CK_KEY_TYPE type;          /* the same */
    CK_BBOOL token;
    int priv;                  /* CKA_PRIVATE; -1: not given */
    bool trusted;              /* CKA_TRUSTED or CKA_WRAP true: a wrapping key for the security officer */
    bool token_given;
    bool data_only, key_only;  /* attributes only a data object has (§4.5), only a key has (§4.7) */
    unsigned usage, usage_set; /* CKA_VERIFY, CKA_ENCRYPT */
    const CK_ATTRIBUTE *modulus, *exponent, *ec_params, *ec_point, *value;
    uint8_t id[SR_P11_MAX_ID];
    CK_ULONG id_len;
    struct sr_appobject d;
};

/* A byte-string attribute of at most cap bytes into out. */
static CK_RV sr_p11_template_bytes(const CK_ATTRIBUTE *a, void *out, size_t cap, size_t *ret_len)
{
    if (a->ulValueLen > cap || (a->pValue == NULL && a->ulValueLen > 0)) {
        return CKR_ATTRIBUTE_VALUE_INVALID;
    }
    if (a->ulValueLen > 0) {
        memcpy(out, a->pValue, a->ulValueLen);
    }
    *ret_len = a->ulValueLen;
    return CKR_OK;
}

/* One attribute of a C_CreateObject template into c. */
static CK_RV sr_p11_create_attribute(const CK_ATTRIBUTE *a, struct sr_p11_create *c)
{
    CK_BBOOL b = CK_FALSE;
    size_t len = 0;
    bool is_bool = sr_p11_template_bool(a, &b);
    switch (a->type) {
    case CKA_CLASS: return sr_p11_template_ulong(a, &c->cls) ? CKR_OK : CKR_ATTRIBUTE_VALUE_INVALID;
    case CKA_KEY_TYPE:
        c->key_only = true;
        return sr_p11_template_ulong(a, &c->type) ? CKR_OK : CKR_ATTRIBUTE_VALUE_INVALID;
    case CKA_TOKEN: c->token = b; c->token_given = true; break;
    case CKA_PRIVATE: c->priv = b; break;
    /* The token's to say: no object changes once made (CKA_COPYABLE and CKA_DESTROYABLE as it has them). */
    case CKA_MODIFIABLE: case CKA_COPYABLE: case CKA_DESTROYABLE: break;
    case CKA_LABEL: return sr_p11_template_label(a, c->d.label);
    case CKA_ID: c->key_only = true; return sr_p11_template_id(a, c->id, &c->id_len);
    case CKA_APPLICATION:
        c->data_only = true;
        if (sr_p11_template_bytes(a, c->d.application, SR_APPOBJECT_MAX_APP, &len) != CKR_OK ||
            memchr(c->d.application, 0, len) != NULL) {
            return CKR_ATTRIBUTE_VALUE_INVALID;
        }
        c->d.application[len] = 0;
        return CKR_OK;
    case CKA_OBJECT_ID:
        c->data_only = true;
        return sr_p11_template_bytes(a, c->d.object_id, sizeof(c->d.object_id), &c->d.object_id_len);
    case CKA_VALUE: c->value = a; return CKR_OK;
    case CKA_MODULUS: c->modulus = a; c->key_only = true; return CKR_OK;
    case CKA_PUBLIC_EXPONENT: c->exponent = a; c->key_only = true; return CKR_OK;
    case CKA_EC_PARAMS: c->ec_params = a; c->key_only = true; return CKR_OK;
    case CKA_EC_POINT: c->ec_point = a; c->key_only = true; return CKR_OK;
    case CKA_VERIFY: case CKA_ENCRYPT: {
        unsigned action = a->type == CKA_VERIFY ? SR_ACL_VERIFY : SR_ACL_ENCRYPT;
        c->usage = b ? c->usage | action : c->usage & ~action;
        c->usage_set |= action;
        c->key_only = true;
        break;
    }
    /* CKA_TRUSTED, or a wrapping key (tools that cannot set CKA_TRUSTED, as pkcs11-tool --write-object
     * --usage-wrap, still say what they mean): the security officer's trusted wrapping key. */
    case CKA_TRUSTED: case CKA_WRAP: c->trusted |= b; c->key_only = true; break;
    case CKA_DERIVE: case CKA_VERIFY_RECOVER: case CKA_START_DATE: case CKA_END_DATE: case CKA_SUBJECT:
        c->key_only = true;
        return CKR_OK;
    /* What only the token says of an object (§4.7-§4.8, "must not be specified" on creation). */
    case CKA_LOCAL: case CKA_KEY_GEN_MECHANISM: case CKA_MODULUS_BITS: case CKA_ALWAYS_SENSITIVE:
    case CKA_NEVER_EXTRACTABLE:
        return CKR_ATTRIBUTE_READ_ONLY;
    default: return CKR_ATTRIBUTE_TYPE_INVALID;
    }
    return is_bool ? CKR_OK : CKR_ATTRIBUTE_VALUE_INVALID;
}

/* The template against its class's table: what must be there, what may not. */
static CK_RV sr_p11_create_check(struct sr_p11_create *c)
{
    switch (c->cls) {
    case CK_UNAVAILABLE_INFORMATION: return CKR_TEMPLATE_INCOMPLETE;
    case CKO_DATA: return c->key_only ? CKR_ATTRIBUTE_TYPE_INVALID : CKR_OK;
    case CKO_PUBLIC_KEY: break;
    /* Ours: a key with a secret part is never made from the caller's bytes. */
    case CKO_SECRET_KEY: case CKO_PRIVATE_KEY: return CKR_TEMPLATE_INCONSISTENT;
    default: return CKR_ATTRIBUTE_VALUE_INVALID; /* a class this token does not store (certificates ...) */
    }
    if (c->data_only || c->value != NULL) {
        return CKR_ATTRIBUTE_TYPE_INVALID;
    }
    bool rsa_parts = c->modulus != NULL || c->exponent != NULL, ec_parts = c->ec_params != NULL || c->ec_point != NULL;
    switch (c->type) {
    case CK_UNAVAILABLE_INFORMATION: return CKR_TEMPLATE_INCOMPLETE;
    case CKK_RSA:
        if (ec_parts) {
            return CKR_TEMPLATE_INCONSISTENT;
        }
        return c->modulus != NULL && c->exponent != NULL ? CKR_OK : CKR_TEMPLATE_INCOMPLETE;
    case CKK_EC:
        /* EC keys verify: they neither encrypt nor wrap (the trusted wrapping keys are RSA). */
        if (rsa_parts || c->trusted || (c->usage & SR_ACL_ENCRYPT)) {
            return CKR_TEMPLATE_INCONSISTENT;
        }
        return c->ec_params != NULL && c->ec_point != NULL ? CKR_OK : CKR_TEMPLATE_INCOMPLETE;
    default: return CKR_ATTRIBUTE_VALUE_INVALID;
    }
}

/* The RSA public key of a modulus and an exponent, through their JWK. */
static CK_RV sr_p11_rsa_public(const CK_ATTRIBUTE *n, const CK_ATTRIBUTE *e, EVP_PKEY **ret)
{
    if (n->pValue == NULL || e->pValue == NULL || n->ulValueLen > 1024 || e->ulValueLen > 16) {
        return CKR_ATTRIBUTE_VALUE_INVALID;
    }
    SR_AUTO_BUF struct sr_buf nb = {0};
    SR_AUTO_BUF struct sr_buf eb = {0};
    sr_buf_init(&nb, 2048, SR_BUF_PLAIN);
    sr_buf_init(&eb, 64, SR_BUF_PLAIN);
    if (sr_b64url_encode(n->pValue, n->ulValueLen, &nb) != SR_OK ||
        sr_b64url_encode(e->pValue, e->ulValueLen, &eb) != SR_OK) {
        return CKR_HOST_MEMORY;
    }
    SR_AUTO_JSON json_t *jwk =
        json_pack("{s:s,s:s,s:s}", "kty", "RSA", "n", (const char *)nb.data, "e", (const char *)eb.data);
    return jwk != NULL && sr_jwk_public_to_pkey(jwk, ret) == SR_OK ? CKR_OK : CKR_ATTRIBUTE_VALUE_INVALID;
}

/* The EC public key of CKA_EC_PARAMS (a named curve) and CKA_EC_POINT: the uncompressed point as a DER
 * OCTET STRING (§2.3.3 of the mechanisms), or bare as some applications give it. Off the curve: refused. */
CK_RV sr_p11_ec_public(const CK_ATTRIBUTE *params, const CK_ATTRIBUTE *point, EVP_PKEY **ret)
{
    enum sr_curve curve = SR_CURVE_NONE;
    if (params->pValue == NULL || sr_curve_from_oid_der(params->pValue, params->ulValueLen, &curve) != SR_OK) {
        return CKR_CURVE_NOT_SUPPORTED;
    }
    size_t coord = sr_curve_coord_len(curve), plen = 1 + 2 * coord;
    const uint8_t *q = point->pValue;
    size_t n = point->ulValueLen;
    if (q != NULL && plen < 128 && n == 2 + plen && q[0] == 0x04 && q[1] == plen) {
        q += 2, n -= 2;
    } else if (q != NULL && plen >= 128 && n == 3 + plen && q[0] == 0x04 && q[1] == 0x81 && q[2] == plen) {
        q += 3, n -= 3;
    }
    if (q == NULL || n != plen || q[0] != 0x04) {
        return CKR_ATTRIBUTE_VALUE_INVALID;
    }
    SR_AUTO_BUF struct sr_buf x = {0};
    SR_AUTO_BUF struct sr_buf y = {0};
    sr_buf_init(&x, 128, SR_BUF_PLAIN);
    sr_buf_init(&y, 128, SR_BUF_PLAIN);
    if (sr_b64url_encode(q + 1, coord, &x) != SR_OK || sr_b64url_encode(q + 1 + coord, coord, &y) != SR_OK) {
        return CKR_HOST_MEMORY;
    }
    SR_AUTO_JSON json_t *jwk = json_pack("{s:s,s:s,s:s,s:s}", "kty", "EC", "crv", sr_curve_name(curve), "x",
                                         (const char *)x.data, "y", (const char *)y.data);
    return jwk != NULL && sr_jwk_public_to_pkey(jwk, ret) == SR_OK ? CKR_OK : CKR_ATTRIBUTE_VALUE_INVALID;
}

/* The security officer's trusted wrapping key: local/trust_<hex of CKA_ID>, always a token object. */
static CK_RV sr_p11_create_trusted(struct sr_p11 *p, struct sr_p11_create *c, EVP_PKEY *pub, CK_OBJECT_HANDLE_PTR ret)
{
    char ident[2 * SR_P11_MAX_ID + 1];
    CK_RV rv = sr_p11_ident_of(c->id, &c->id_len, ident);
    if (rv != CKR_OK) {
        return rv;
    }
    pthread_rwlock_wrlock(&p->module_lock);
    enum sr_err r = sr_trusted_key_write(p->module, ident, c->d.label[0] ? c->d.label : ident, pub);
    rv = r == SR_ERR_EXISTS || r == SR_ERR_KEY_TYPE ? CKR_ATTRIBUTE_VALUE_INVALID : sr_p11_rv(r);
    rv = rv == CKR_OK ? sr_p11_refresh(p) : rv;
    pthread_rwlock_unlock(&p->module_lock);
    return rv == CKR_OK ? sr_p11_handle_of(p, SR_P11_TRUST_APP, ident, CKO_PUBLIC_KEY, ret) : rv;
}

/* A data object or public key, sealed by the module: written as local/object_<random> (a token object), or
 * kept by the library for session h. */
static CK_RV sr_p11_create_stored(struct sr_p11 *p, CK_SESSION_HANDLE h, struct sr_p11_create *c, EVP_PKEY *pub,
                                  CK_OBJECT_HANDLE_PTR ret)
{
    uint8_t random[SR_P11_MAX_ID];
    CK_ULONG random_len = 0;
    CK_RV rv = sr_p11_ident_of(random, &random_len, c->d.ident);
    if (rv != CKR_OK) {
        return rv;
    }
    memcpy(c->d.id, c->id, c->id_len);
    c->d.id_len = c->id_len;
    const CK_ATTRIBUTE *v = c->value;
    if (v != NULL && (v->ulValueLen > SR_APPOBJECT_MAX_VALUE || (v->pValue == NULL && v->ulValueLen > 0))) {
        return CKR_ATTRIBUTE_VALUE_INVALID;
    }
    SR_AUTO_BUF struct sr_buf bytes = {0};
    sr_buf_init(&bytes, SR_MAX_FILE, SR_BUF_PLAIN);
    char path[SR_PATH_MAX];
    sr_p11_module_lock_for(p, c->token);
    enum sr_err r = sr_appobject_build(p->module, &c->d, pub, v != NULL ? v->pValue : NULL, v != NULL ? v->ulValueLen : 0,
                                       &bytes);
    if (r == SR_OK && c->token) {
        r = sr_appobject_path(p->module, c->d.ident, path, sizeof(path));
        r = r == SR_OK ? sr_file_write_atomic(path, bytes.data, bytes.len, SR_WRITE_CREATE) : r;
    }
    rv = sr_p11_rv(r);
    rv = rv == CKR_OK && c->token ? sr_p11_refresh(p) : rv;
    pthread_rwlock_unlock(&p->module_lock);
    if (rv != CKR_OK) {
        return rv;
    }
    if (c->token) {
        return sr_p11_handle_of(p, SR_P11_OBJECT_APP, c->d.ident, c->cls, ret);
    }
    struct sr_p11_object *o = NULL;
    rv = sr_p11_add_appobject(p, bytes.data, bytes.len, h, &o);
    if (rv == CKR_OK) {
        *ret = sr_p11_handle(p, o);
    }
    return rv;
}

CK_RV sr_C_CreateObject(CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n, CK_OBJECT_HANDLE_PTR ret)
{
    SR_P11_SESSION_BEGIN(p, h, s);
    struct sr_p11_create c = {.cls = CK_UNAVAILABLE_INFORMATION, .type = CK_UNAVAILABLE_INFORMATION, .priv = -1};
    if (rv == CKR_OK && (ret == NULL || (tmpl == NULL && n > 0))) {
        rv = CKR_ARGUMENTS_BAD;
    }
    for (CK_ULONG i = 0; rv == CKR_OK && i < n; i++) {
        rv = sr_p11_create_attribute(&tmpl[i], &c);
    }
    rv = rv == CKR_OK ? sr_p11_create_check(&c) : rv;
    bool rw = s != NULL && (s->flags & CKF_RW_SESSION);
    if (rv == CKR_OK && c.trusted) {
        /* Only the security officer (the card quorum) trusts a key, and it stays on the token. */
        rv = c.token_given && !c.token ? CKR_TEMPLATE_INCONSISTENT
             : !rw                     ? CKR_SESSION_READ_ONLY
             : !p->so                  ? CKR_ATTRIBUTE_READ_ONLY
                                       : CKR_OK;
    } else if (rv == CKR_OK) {
        /* §4.4's table: a token object needs a read/write session, a private object the user. A data object is
         * private unless it says otherwise, a public key public. */
        c.d.private_ = c.priv == -1 ? c.cls == CKO_DATA : c.priv == CK_TRUE;
        c.d.is_public_key = c.cls == CKO_PUBLIC_KEY;
        unsigned defaults = c.type == CKK_RSA ? SR_ACL_VERIFY | SR_ACL_ENCRYPT : SR_ACL_VERIFY;
        c.d.usage = c.d.is_public_key ? c.usage | (defaults & ~c.usage_set) : 0;
        rv = c.token && !rw ? CKR_SESSION_READ_ONLY : c.d.private_ && !p->user ? CKR_USER_NOT_LOGGED_IN : CKR_OK;
    }
    SR_AUTO_PKEY EVP_PKEY *pub = NULL;
    if (rv == CKR_OK && c.cls == CKO_PUBLIC_KEY) {
        rv = c.type == CKK_RSA ? sr_p11_rsa_public(c.modulus, c.exponent, &pub)
                               : sr_p11_ec_public(c.ec_params, c.ec_point, &pub);
    }
    if (rv == CKR_OK) {
        c.token = c.token || c.trusted;
        rv = c.trusted ? sr_p11_create_trusted(p, &c, pub, ret) : sr_p11_create_stored(p, h, &c, pub, ret);
    }
    SR_P11_SESSION_END(p);
}

/* --- C_CopyObject --- */

/* What a copy's template may change (PKCS#11 2.40 §5.7): where it lives (CKA_TOKEN, CKA_PRIVATE), its
 * names, and the latching attributes one way only (CKA_EXTRACTABLE to false, CKA_SENSITIVE to true). */
struct sr_p11_copy {
    int token, priv, extractable; /* -1: as the original */
    bool label_set, id_set, application_set;
    char label[SR_MAX_PLAINNAME + 1];
    uint8_t id[SR_P11_MAX_ID];
    CK_ULONG id_len;
    char application[SR_APPOBJECT_MAX_APP + 1];
};

static CK_RV sr_p11_copy_template(const CK_ATTRIBUTE *tmpl, CK_ULONG n, struct sr_p11_copy *c)
{
    for (CK_ULONG i = 0; i < n; i++) {
        const CK_ATTRIBUTE *a = &tmpl[i];
        CK_BBOOL b = CK_FALSE;
        size_t len = 0;
        bool is_bool = sr_p11_template_bool(a, &b);
        CK_RV rv = CKR_OK;
        switch (a->type) {
        case CKA_TOKEN: c->token = b; break;
        case CKA_PRIVATE: c->priv = b; break;
        case CKA_EXTRACTABLE: c->extractable = b; break;
        case CKA_SENSITIVE: rv = b ? CKR_OK : CKR_ATTRIBUTE_READ_ONLY; break;
        case CKA_MODIFIABLE: case CKA_COPYABLE: case CKA_DESTROYABLE: break;
        case CKA_LABEL: c->label_set = true; rv = sr_p11_template_label(a, c->label); is_bool = true; break;
        case CKA_ID: c->id_set = true; rv = sr_p11_template_id(a, c->id, &c->id_len); is_bool = true; break;
        case CKA_APPLICATION:
            c->application_set = true;
            rv = sr_p11_template_bytes(a, c->application, SR_APPOBJECT_MAX_APP, &len);
            c->application[len] = 0;
            is_bool = true;
            break;
        default: return CKR_ATTRIBUTE_READ_ONLY; /* no other attribute of an object changes */
        }
        if (rv != CKR_OK || !is_bool) {
            return rv != CKR_OK ? rv : CKR_ATTRIBUTE_VALUE_INVALID;
        }
    }
    return CKR_OK;
}

/* A key with a secret part: a new key file, made by the module from the original's key, with the same or
 * fewer permissions. */
static CK_RV sr_p11_copy_key(struct sr_p11 *p, CK_SESSION_HANDLE h, const struct sr_p11_session *s,
                             const struct sr_p11_object *o, const struct sr_p11_copy *c, CK_OBJECT_HANDLE_PTR ret)
{
    struct sr_p11_keygen g = {.token = c->token == -1 ? o->session == 0 : c->token,
                              .priv = c->priv == -1 ? o->priv : c->priv, .acl = o->info.acl.actions};
    CK_RV rv = sr_p11_may_make(p, s, &g);
    if (rv != CKR_OK) {
        return rv;
    }
    if (c->extractable == CK_FALSE) {
        g.acl &= ~(unsigned)SR_ACL_EXPORT_TO_TRUSTED;
    } else if (c->extractable == CK_TRUE && !(g.acl & SR_ACL_EXPORT_TO_TRUSTED)) {
        return CKR_ATTRIBUTE_READ_ONLY; /* an unextractable key stays so */
    }
    char ident[2 * SR_P11_MAX_ID + 1];
    snprintf(ident, sizeof(ident), "%s", o->ident); /* the same CKA_ID, unless the template gives one */
    if (c->id_set) {
        sr_hex_encode(c->id, c->id_len, ident);
    }
    snprintf(g.label, sizeof(g.label), "%s", c->label_set ? c->label : o->info.plainname);
    SR_AUTO_BUF struct sr_buf file = {0};
    sr_buf_init(&file, SR_MAX_FILE, SR_BUF_PLAIN);
    struct sr_keygen_params params = {.app = SR_P11_APP, .ident = ident, .plainname = g.label[0] ? g.label : ident,
                                      .acl = g.acl, .out = g.token ? NULL : &file};
    /* The original's own copy: the refresh after a token key is written may end the object. */
    SR_AUTO(sr_p11_object_release) struct sr_p11_object original = {0};
    if (sr_p11_object_copy(o, &original) != SR_OK) {
        return CKR_HOST_MEMORY;
    }
    struct sr_key_info info;
    sr_p11_module_lock_for(p, g.token);
    enum sr_err r = sr_keyfile_copy(p->module, original.app, original.file.data, original.file.len, &params, &info);
    rv = r == SR_ERR_EXISTS ? CKR_ATTRIBUTE_VALUE_INVALID : sr_p11_rv(r); /* that CKA_ID is taken */
    rv = rv == CKR_OK && g.token ? sr_p11_refresh(p) : rv;
    pthread_rwlock_unlock(&p->module_lock);
    if (rv != CKR_OK) {
        return rv;
    }
    return g.token ? sr_p11_handle_of(p, SR_P11_APP, ident, original.cls, ret)
                   : sr_p11_add_session_key(p, h, &g, &info, &file, NULL, ret);
}

/* A public key or a data object: a new application object with the original's key or value. */
static CK_RV sr_p11_copy_stored(struct sr_p11 *p, CK_SESSION_HANDLE h, const struct sr_p11_session *s,
                                const struct sr_p11_object *o, const struct sr_p11_copy *c, CK_OBJECT_HANDLE_PTR ret)
{
    struct sr_p11_create n = {.cls = o->cls, .type = CK_UNAVAILABLE_INFORMATION};
    n.token = c->token == -1 ? o->session == 0 : c->token;
    n.d = o->stored; /* a data object's or a stored public key's attributes; a key file's half has none */
    n.d.private_ = c->priv == -1 ? o->priv : c->priv == CK_TRUE;
    n.d.is_public_key = o->cls == CKO_PUBLIC_KEY;
    const char *label = c->label_set ? c->label : o->created ? o->stored.label : o->info.plainname;
    snprintf(n.d.label, sizeof(n.d.label), "%s", label);
    if (c->application_set) {
        snprintf(n.d.application, sizeof(n.d.application), "%s", c->application);
    }
    SR_AUTO_BUF struct sr_buf id = {0};
    sr_buf_init(&id, SR_APPOBJECT_MAX_ID, SR_BUF_PLAIN);
    if (c->id_set) {
        memcpy(n.id, c->id, c->id_len);
        n.id_len = c->id_len;
    } else if (sr_p11_id(o, &id) == SR_OK && id.len > 0 && id.len <= sizeof(n.id)) {
        memcpy(n.id, id.data, id.len);
        n.id_len = id.len;
    }
    if (!o->created && o->cls == CKO_PUBLIC_KEY) { /* the public half of a key file: what its pair does */
        const struct sr_acl *acl = &o->info.acl;
        bool verifies = sr_acl_permits(acl, SR_ACL_SIGN) || sr_acl_permits(acl, SR_ACL_VERIFY);
        bool encrypts = sr_acl_permits(acl, SR_ACL_DECRYPT) || sr_acl_permits(acl, SR_ACL_ENCRYPT);
        n.d.usage = (verifies ? SR_ACL_VERIFY : 0) | (encrypts ? SR_ACL_ENCRYPT : 0);
    }
    bool rw = (s->flags & CKF_RW_SESSION) != 0;
    if (n.token && !rw) {
        return CKR_SESSION_READ_ONLY;
    }
    if (n.d.private_ && !p->user) {
        return CKR_USER_NOT_LOGGED_IN;
    }
    CK_ATTRIBUTE value = {CKA_VALUE, o->file.data, o->file.len};
    n.value = o->cls == CKO_DATA ? &value : NULL;
    EVP_PKEY *pub = o->pub; /* held by o, which the library lock keeps */
    return sr_p11_create_stored(p, h, &n, pub, ret);
}

CK_RV sr_C_CopyObject(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE oh, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n,
                      CK_OBJECT_HANDLE_PTR ret)
{
    SR_P11_SESSION_BEGIN(p, h, s);
    struct sr_p11_object *o = rv == CKR_OK ? sr_p11_object(p, oh) : NULL;
    struct sr_p11_copy c = {.token = -1, .priv = -1, .extractable = -1};
    if (rv == CKR_OK && (ret == NULL || (tmpl == NULL && n > 0))) {
        rv = CKR_ARGUMENTS_BAD;
    } else if (rv == CKR_OK && (o == NULL || !sr_p11_object_visible(p, o))) {
        rv = CKR_OBJECT_HANDLE_INVALID;
    } else if (rv == CKR_OK && !sr_p11_copyable(o)) {
        rv = CKR_ACTION_PROHIBITED; /* §5.7: CKA_COPYABLE is false */
    }
    rv = rv == CKR_OK ? sr_p11_copy_template(tmpl, n, &c) : rv;
    if (rv == CKR_OK && c.application_set && o->cls != CKO_DATA) {
        rv = CKR_ATTRIBUTE_TYPE_INVALID;
    }
    if (rv == CKR_OK) {
        bool secret_part = o->cls == CKO_PRIVATE_KEY || o->cls == CKO_SECRET_KEY;
        rv = secret_part ? sr_p11_copy_key(p, h, s, o, &c, ret) : sr_p11_copy_stored(p, h, s, o, &c, ret);
    }
    SR_P11_SESSION_END(p);
}
