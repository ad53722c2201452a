/*
 * objects.c - the token's objects: the module's key files as PKCS#11 sees them, their attributes (read from
 * the authenticated key header and the ACL, never a secret), searches, and the keys made or destroyed
 * through the library (app "pkcs11": ident = hex of CKA_ID, plainname = CKA_LABEL).
 *
 * The ACL is the key's truth: CKA_SIGN, CKA_DECRYPT ... say what it permits, CKA_EXTRACTABLE is whether
 * it may leave wrapped (ExportToKey), CKA_SENSITIVE is always true. No attribute of a key can be changed,
 * so no change can make a key extractable, non-sensitive, or able to both wrap and decrypt.
 */
#include "pkcs11/p11.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fileio.h"
#include "base/json.h"
#include "base/text.h"
#include "crypto/crypto.h"
#include "crypto/ossl.h"
#include "crypto/jwk.h"
#include "hsm/blob.h"
#include "hsm/transfer.h"

void sr_p11_object_release(struct sr_p11_object *o)
{
    sr_buf_release(&o->file);
    EVP_PKEY_free(o->pub);
    o->pub = NULL;
}

enum sr_err sr_p11_object_copy(const struct sr_p11_object *o, struct sr_p11_object *ret)
{
    *ret = *o;
    sr_buf_init(&ret->file, SR_MAX_FILE, SR_BUF_PLAIN);
    if (o->pub != NULL) {
        EVP_PKEY_up_ref(o->pub);
    }
    enum sr_err r = sr_buf_append(&ret->file, o->file.data, o->file.len);
    if (r != SR_OK) {
        sr_p11_object_release(ret);
    }
    return r;
}

/* A handle is 1 + (generation << SR_P11_SLOT_BITS | slot): slots are reused as session objects come and go,
 * handles are not. */
#define SR_P11_SLOT_BITS 12
_Static_assert(SR_P11_MAX_OBJECTS <= (1 << SR_P11_SLOT_BITS), "a slot number fits its bits");

CK_OBJECT_HANDLE sr_p11_handle(const struct sr_p11 *p, const struct sr_p11_object *o)
{
    return ((o->generation << SR_P11_SLOT_BITS) | (CK_ULONG)(o - p->objects)) + 1;
}

struct sr_p11_object *sr_p11_object(struct sr_p11 *p, CK_OBJECT_HANDLE h)
{
    if (h == CK_INVALID_HANDLE) {
        return NULL;
    }
    CK_ULONG slot = (h - 1) & ((1u << SR_P11_SLOT_BITS) - 1);
    struct sr_p11_object *o = slot < p->nobjects ? &p->objects[slot] : NULL;
    return o != NULL && o->live && o->generation == (h - 1) >> SR_P11_SLOT_BITS ? o : NULL;
}

/* PKCS#11 2.40 §4.4 (CKA_PRIVATE): a private object is seen only by a logged-in user (and never by the SO). */
bool sr_p11_object_visible(const struct sr_p11 *p, const struct sr_p11_object *o)
{
    return !o->priv || p->user;
}

static void sr_p11_object_end(struct sr_p11_object *o)
{
    o->live = false;
    sr_p11_object_release(o);
}

void sr_p11_drop_session_objects(struct sr_p11 *p, CK_SESSION_HANDLE h)
{
    for (CK_ULONG i = 0; i < p->nobjects; i++) {
        struct sr_p11_object *o = &p->objects[i];
        if (o->live && o->session != 0 && (h == 0 || o->session == h)) {
            sr_p11_object_end(o);
        }
    }
}

/* §5.6 (C_Logout): the private session objects end, and every handle to a private object becomes invalid
 * "even if a user is later logged back in": a private token object gets a new one. */
void sr_p11_logout_objects(struct sr_p11 *p)
{
    for (CK_ULONG i = 0; i < p->nobjects; i++) {
        struct sr_p11_object *o = &p->objects[i];
        if (o->live && o->priv && o->session != 0) {
            sr_p11_object_end(o);
        } else if (o->live && o->priv) {
            o->generation++;
        }
    }
}

/* --- the objects of kmdata/local --- */

/* "key_<app>_<ident>": apps and idents share an alphabet without '_'; "trust_<ident>" is a trusted key,
 * "object_<ident>" an application's object. */
static bool sr_p11_file_name(const char *name, char *app, size_t app_cap, char *ident, size_t ident_cap)
{
    static const struct { const char *prefix, *app; } others[] = {{"trust_", SR_P11_TRUST_APP},
                                                                  {"object_", SR_P11_OBJECT_APP}};
    for (size_t i = 0; i < SR_ARRAY_LEN(others); i++) {
        size_t n = strlen(others[i].prefix);
        if (strncmp(name, others[i].prefix, n) == 0 && strlen(name + n) < ident_cap) {
            snprintf(app, app_cap, "%s", others[i].app);
            strcpy(ident, name + n);
            return sr_ident_check(ident) == SR_OK;
        }
    }
    if (strncmp(name, "key_", 4) != 0) {
        return false;
    }
    const char *a = name + 4;
    const char *sep = strchr(a, '_');
    if (sep == NULL || sep == a || (size_t)(sep - a) >= app_cap || strlen(sep + 1) >= ident_cap) {
        return false;
    }
    memcpy(app, a, (size_t)(sep - a));
    app[sep - a] = 0;
    strcpy(ident, sep + 1);
    return sr_ident_check(ident) == SR_OK;
}

static struct sr_p11_object *sr_p11_find_file(struct sr_p11 *p, const char *app, const char *ident,
                                              CK_OBJECT_CLASS cls)
{
    for (CK_ULONG i = 0; i < p->nobjects; i++) {
        struct sr_p11_object *o = &p->objects[i];
        if (o->live && o->session == 0 && o->cls == cls && strcmp(o->app, app) == 0 && strcmp(o->ident, ident) == 0) {
            return o;
        }
    }
    return NULL;
}

CK_RV sr_p11_handle_of(struct sr_p11 *p, const char *app, const char *ident, CK_OBJECT_CLASS cls,
                              CK_OBJECT_HANDLE_PTR ret)
{
    const struct sr_p11_object *o = sr_p11_find_file(p, app, ident, cls);
    if (o == NULL) {
        return CKR_DEVICE_ERROR;
    }
    *ret = sr_p11_handle(p, o);
    return CKR_OK;
}

/* A new object in a free slot of the table (a token object: session 0), or NULL when the table is full. */
static struct sr_p11_object *sr_p11_add(struct sr_p11 *p, const char *app, const char *ident, CK_OBJECT_CLASS cls,
                                        const struct sr_key_info *info, const struct sr_buf *file, EVP_PKEY *pub)
{
    CK_ULONG slot = 0;
    while (slot < p->nobjects && p->objects[slot].live) {
        slot++;
    }
    if (slot == SR_P11_MAX_OBJECTS) {
        return NULL;
    }
    struct sr_p11_object *o = &p->objects[slot];
    CK_ULONG generation = slot < p->nobjects ? o->generation + 1 : 0;
    memset(o, 0, sizeof(*o));
    o->generation = generation;
    o->cls = cls;
    o->priv = cls != CKO_PUBLIC_KEY;
    snprintf(o->app, sizeof(o->app), "%s", app);
    snprintf(o->ident, sizeof(o->ident), "%s", ident);
    o->info = *info;
    sr_buf_init(&o->file, SR_MAX_FILE, cls == CKO_DATA ? SR_BUF_SECRET : SR_BUF_PLAIN);
    if (sr_buf_append(&o->file, file->data, file->len) != SR_OK) {
        sr_buf_release(&o->file);
        return NULL;
    }
    if (pub != NULL) {
        EVP_PKEY_up_ref(pub);
        o->pub = pub;
    }
    o->live = true;
    p->nobjects = slot == p->nobjects ? p->nobjects + 1 : p->nobjects;
    return o;
}

/* A key file's objects: the secret key, or the private and the public key (into ret_priv and ret_pub). */
static CK_RV sr_p11_add_key(struct sr_p11 *p, const char *app, const char *ident, const struct sr_key_info *info,
                            const struct sr_buf *file, struct sr_p11_object **ret_priv, struct sr_p11_object **ret_pub)
{
    if (sr_key_type_secret(info->spec.type)) {
        struct sr_p11_object *o = sr_p11_add(p, app, ident, CKO_SECRET_KEY, info, file, NULL);
        if (ret_priv != NULL) {
            *ret_priv = o;
        }
        return o != NULL ? CKR_OK : CKR_DEVICE_MEMORY;
    }
    SR_AUTO_PKEY EVP_PKEY *pub = NULL;
    if (sr_blob_public(file->data, file->len, &pub) != SR_OK) {
        return CKR_DEVICE_ERROR;
    }
    struct sr_p11_object *priv = sr_p11_add(p, app, ident, CKO_PRIVATE_KEY, info, file, pub);
    struct sr_p11_object *pubo = priv != NULL ? sr_p11_add(p, app, ident, CKO_PUBLIC_KEY, info, file, pub) : NULL;
    if (pubo == NULL) {
        if (priv != NULL) {
            sr_p11_object_end(priv);
        }
        return CKR_DEVICE_MEMORY;
    }
    if (ret_priv != NULL) {
        *ret_priv = priv;
        *ret_pub = pubo;
    }
    return CKR_OK;
}

CK_RV sr_p11_add_appobject(struct sr_p11 *p, const uint8_t *bytes, size_t len, CK_SESSION_HANDLE h,
                           struct sr_p11_object **ret)
{
    struct sr_appobject d;
    SR_AUTO_PKEY EVP_PKEY *pub = NULL;
    SR_AUTO_BUF struct sr_buf value = {0};
    sr_buf_init(&value, SR_APPOBJECT_MAX_VALUE, SR_BUF_SECRET);
    struct sr_key_info info = {0};
    if (sr_appobject_open(p->module, bytes, len, &d, &pub, &value) != SR_OK ||
        (pub != NULL && sr_pkey_describe(pub, &info.spec) != SR_OK)) {
        return CKR_DEVICE_ERROR;
    }
    snprintf(info.plainname, sizeof(info.plainname), "%s", d.label);
    info.acl.actions = d.usage;
    struct sr_p11_object *o = sr_p11_add(p, SR_P11_OBJECT_APP, d.ident, d.is_public_key ? CKO_PUBLIC_KEY : CKO_DATA,
                                         &info, &value, pub);
    if (o == NULL) {
        return CKR_DEVICE_MEMORY;
    }
    o->created = true;
    o->stored = d;
    o->priv = d.private_;
    o->session = h;
    *ret = o;
    return CKR_OK;
}

/* One key file: its objects, unless they exist. Files of another world, or damaged, are not objects. */
static void sr_p11_load_file(struct sr_p11 *p, const char *dir, const char *name)
{
    char app[32], ident[SR_MAX_IDENT + 1], path[SR_PATH_MAX];
    if (!sr_p11_file_name(name, app, sizeof(app), ident, sizeof(ident)) ||
        snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path)) {
        return;
    }
    bool trusted = strcmp(app, SR_P11_TRUST_APP) == 0;
    bool created = strcmp(app, SR_P11_OBJECT_APP) == 0;
    bool seen = sr_p11_find_file(p, app, ident, trusted ? CKO_PUBLIC_KEY : CKO_PRIVATE_KEY) != NULL;
    if (seen || sr_p11_find_file(p, app, ident, CKO_SECRET_KEY) != NULL ||
        (created && (sr_p11_find_file(p, app, ident, CKO_DATA) != NULL ||
                     sr_p11_find_file(p, app, ident, CKO_PUBLIC_KEY) != NULL))) {
        return;
    }
    SR_AUTO_BUF struct sr_buf file = {0};
    sr_buf_init(&file, SR_MAX_FILE, SR_BUF_PLAIN);
    struct sr_key_info info = {0};
    if (sr_file_read(path, &file) != SR_OK) {
        return;
    }
    if (created) {
        /* A file under another object's name (renamed, or copied beside it) is no object. */
        struct sr_p11_object *o = NULL;
        if (sr_p11_add_appobject(p, file.data, file.len, 0, &o) == CKR_OK && strcmp(o->stored.ident, ident) != 0) {
            sr_p11_object_end(o);
        }
        return;
    }
    if (trusted) {
        SR_AUTO_PKEY EVP_PKEY *pub = NULL;
        if (sr_trusted_key_open(p->module, file.data, file.len, info.plainname, sizeof(info.plainname), &pub) == SR_OK &&
            sr_pkey_describe(pub, &info.spec) == SR_OK) {
            info.acl.actions = SR_ACL_WRAP;
            struct sr_p11_object *o = sr_p11_add(p, app, ident, CKO_PUBLIC_KEY, &info, &file, pub);
            if (o != NULL) {
                o->trusted = true;
            }
        }
        return;
    }
    if (sr_keyfile_info(p->module, app, file.data, file.len, &info) != SR_OK) {
        return;
    }
    (void)!sr_p11_add_key(p, app, ident, &info, &file, NULL, NULL);
}

CK_RV sr_p11_refresh(struct sr_p11 *p)
{
    char dir[SR_PATH_MAX];
    if (snprintf(dir, sizeof(dir), "%s/local", sr_module_dir(p->module)) >= (int)sizeof(dir)) {
        return CKR_GENERAL_ERROR;
    }
    for (CK_ULONG i = 0; i < p->nobjects; i++) {
        struct sr_p11_object *o = &p->objects[i];
        if (!o->live || o->session != 0) {
            continue;
        }
        char path[SR_PATH_MAX];
        enum sr_err r = o->trusted   ? sr_trusted_key_path(p->module, o->ident, path, sizeof(path))
                        : o->created ? sr_appobject_path(p->module, o->ident, path, sizeof(path))
                                     : sr_key_path(p->module, o->app, o->ident, path, sizeof(path));
        if (r != SR_OK || !sr_file_exists(path)) {
            sr_p11_object_end(o); /* gone: its handle never names another object */
        }
    }
    DIR *d = opendir(dir);
    if (d == NULL) {
        return CKR_OK; /* no keys yet */
    }
    for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
        sr_p11_load_file(p, dir, e->d_name);
    }
    closedir(d);
    return CKR_OK;
}

/* --- attributes --- */

CK_KEY_TYPE sr_p11_key_type(const struct sr_p11_object *o)
{
    switch (o->info.spec.type) {
    case SR_KEY_RSA: return CKK_RSA;
    case SR_KEY_EC: return CKK_EC;
    case SR_KEY_AES: return CKK_AES;
    case SR_KEY_GENERIC: return CKK_GENERIC_SECRET;
    default: return CK_UNAVAILABLE_INFORMATION; /* a data object */
    }
}

static bool sr_p11_acl(const struct sr_p11_object *o, enum sr_acl_action a)
{
    return sr_acl_permits(&o->info.acl, a);
}

/* Objects made through the library (keys, trusted keys) keep their CKA_ID as their ident's hex, and their
 * CKA_LABEL as their plain name; a key generatekey made shows its ident as both. */
bool sr_p11_made_here(const struct sr_p11_object *o)
{
    return strcmp(o->app, SR_P11_APP) == 0 || o->trusted || o->created;
}

enum sr_err sr_p11_id(const struct sr_p11_object *o, struct sr_buf *out)
{
    if (o->created) {
        return sr_buf_append(out, o->stored.id, o->stored.id_len);
    }
    size_t n = strlen(o->ident);
    uint8_t raw[SR_P11_MAX_ID];
    if (sr_p11_made_here(o) && n % 2 == 0 && n / 2 <= sizeof(raw) &&
        sr_hex_decode(o->ident, raw, n / 2) == SR_OK) {
        return sr_buf_append(out, raw, n / 2);
    }
    return sr_buf_append(out, o->ident, n);
}

static const char *sr_p11_label(const struct sr_p11_object *o)
{
    return sr_p11_made_here(o) ? o->info.plainname : o->ident;
}

bool sr_p11_copyable(const struct sr_p11_object *o)
{
    return !o->trusted && (o->cls == CKO_PUBLIC_KEY || o->created || strcmp(o->app, SR_P11_APP) == 0);
}

/* CKA_LOCAL: made in a module (not unwrapped, stored or trusted). */
static bool sr_p11_local(const struct sr_p11_object *o)
{
    return !o->trusted && !o->created && strcmp(o->info.origin, SR_ORIGIN_GENERATED) == 0;
}

/* Made (or derived) in a module: never outside one. */
static bool sr_p11_born_here(const struct sr_p11_object *o)
{
    return sr_p11_local(o) || (!o->trusted && strcmp(o->info.origin, SR_ORIGIN_DERIVED) == 0);
}

static CK_RV sr_p11_bool(CK_BBOOL v, struct sr_buf *out)
{
    return sr_buf_append(out, &v, sizeof(v)) == SR_OK ? CKR_OK : CKR_HOST_MEMORY;
}

static CK_RV sr_p11_ulong(CK_ULONG v, struct sr_buf *out)
{
    return sr_buf_append(out, &v, sizeof(v)) == SR_OK ? CKR_OK : CKR_HOST_MEMORY;
}

static CK_RV sr_p11_bytes(const void *v, size_t n, struct sr_buf *out)
{
    return sr_buf_append(out, v, n) == SR_OK ? CKR_OK : CKR_HOST_MEMORY;
}

/* Every object's attributes (PKCS#11 2.40 §4.2, §4.4): its class and storage; CKR_ATTRIBUTE_TYPE_INVALID for
 * any other. No object is modifiable: its attributes are authenticated where it is kept. */
static CK_RV sr_p11_storage_value(const struct sr_p11_object *o, CK_ATTRIBUTE_TYPE t, struct sr_buf *out)
{
    switch (t) {
    case CKA_CLASS: return sr_p11_ulong(o->cls, out);
    case CKA_TOKEN: return sr_p11_bool(o->session == 0, out);
    case CKA_PRIVATE: return sr_p11_bool(o->priv, out);
    case CKA_MODIFIABLE: return sr_p11_bool(CK_FALSE, out);
    case CKA_COPYABLE: return sr_p11_bool(sr_p11_copyable(o), out);
    case CKA_DESTROYABLE: return sr_p11_bool(CK_TRUE, out);
    default: return CKR_ATTRIBUTE_TYPE_INVALID;
    }
}

/* A data object's attributes (§4.5): CKA_LABEL, CKA_APPLICATION, CKA_OBJECT_ID, CKA_VALUE. */
static CK_RV sr_p11_data_value(const struct sr_p11_object *o, CK_ATTRIBUTE_TYPE t, struct sr_buf *out)
{
    switch (t) {
    case CKA_LABEL: return sr_p11_bytes(o->stored.label, strlen(o->stored.label), out);
    case CKA_APPLICATION: return sr_p11_bytes(o->stored.application, strlen(o->stored.application), out);
    case CKA_OBJECT_ID: return sr_p11_bytes(o->stored.object_id, o->stored.object_id_len, out);
    case CKA_VALUE: return sr_p11_bytes(o->file.data, o->file.len, out);
    default: return CKR_ATTRIBUTE_TYPE_INVALID;
    }
}

/* The value of attribute t of o into out; CKR_ATTRIBUTE_SENSITIVE or _TYPE_INVALID when there is none. */
static CK_RV sr_p11_value(const struct sr_p11_object *o, CK_ATTRIBUTE_TYPE t, struct sr_buf *out)
{
    CK_RV storage = sr_p11_storage_value(o, t, out);
    if (storage != CKR_ATTRIBUTE_TYPE_INVALID) {
        return storage;
    }
    if (o->cls == CKO_DATA) {
        return sr_p11_data_value(o, t, out);
    }
    bool priv = o->cls != CKO_PUBLIC_KEY;
    bool extractable = priv && (sr_p11_acl(o, SR_ACL_EXPORT_TO_KEY) || sr_p11_acl(o, SR_ACL_EXPORT_TO_TRUSTED));
    switch (t) {
    case CKA_LABEL: return sr_p11_bytes(sr_p11_label(o), strlen(sr_p11_label(o)), out);
    case CKA_ID: return sr_p11_id(o, out) == SR_OK ? CKR_OK : CKR_HOST_MEMORY;
    case CKA_KEY_TYPE: return sr_p11_ulong(sr_p11_key_type(o), out);
    case CKA_LOCAL: return sr_p11_bool(sr_p11_local(o), out);
    case CKA_START_DATE: case CKA_END_DATE: case CKA_SUBJECT: return CKR_OK; /* empty */
    case CKA_DERIVE: return sr_p11_bool(priv && sr_p11_acl(o, SR_ACL_DERIVE), out);
    case CKA_KEY_GEN_MECHANISM:
        return sr_p11_ulong(!sr_p11_local(o)                     ? CK_UNAVAILABLE_INFORMATION
                            : o->info.spec.type == SR_KEY_RSA     ? CKM_RSA_PKCS_KEY_PAIR_GEN
                            : o->info.spec.type == SR_KEY_EC      ? CKM_EC_KEY_PAIR_GEN
                            : o->info.spec.type == SR_KEY_GENERIC ? CKM_GENERIC_SECRET_KEY_GEN
                                                                  : CKM_AES_KEY_GEN, out);
    case CKA_SIGN: return priv ? sr_p11_bool(sr_p11_acl(o, SR_ACL_SIGN), out) : CKR_ATTRIBUTE_TYPE_INVALID;
    case CKA_DECRYPT: return priv ? sr_p11_bool(sr_p11_acl(o, SR_ACL_DECRYPT), out) : CKR_ATTRIBUTE_TYPE_INVALID;
    case CKA_UNWRAP: return priv ? sr_p11_bool(sr_p11_acl(o, SR_ACL_UNWRAP) || sr_p11_acl(o, SR_ACL_IMPORT), out)
                                 : CKR_ATTRIBUTE_TYPE_INVALID;
    case CKA_VERIFY: return sr_p11_bool(sr_p11_acl(o, SR_ACL_VERIFY) || (!priv && sr_p11_acl(o, SR_ACL_SIGN)), out);
    case CKA_ENCRYPT:
        return sr_p11_bool(sr_p11_acl(o, SR_ACL_ENCRYPT) || (!priv && sr_p11_acl(o, SR_ACL_DECRYPT)), out);
    case CKA_WRAP: return sr_p11_bool(sr_p11_acl(o, SR_ACL_WRAP), out);
    case CKA_SIGN_RECOVER: case CKA_VERIFY_RECOVER: return sr_p11_bool(CK_FALSE, out);
    case CKA_SENSITIVE: return priv ? sr_p11_bool(CK_TRUE, out) : CKR_ATTRIBUTE_TYPE_INVALID;
    /* What the token can vouch for since the key's birth: a key made in a module (or derived there) was never
     * outside it; one that came in (unwrapped, imported) was, once, as SoftHSMv2 also says of its unwrapped keys. */
    case CKA_ALWAYS_SENSITIVE: return priv ? sr_p11_bool(sr_p11_born_here(o), out) : CKR_ATTRIBUTE_TYPE_INVALID;
    case CKA_EXTRACTABLE: return priv ? sr_p11_bool(extractable, out) : CKR_ATTRIBUTE_TYPE_INVALID;
    case CKA_NEVER_EXTRACTABLE:
        return priv ? sr_p11_bool(!extractable && sr_p11_born_here(o), out) : CKR_ATTRIBUTE_TYPE_INVALID;
    case CKA_WRAP_WITH_TRUSTED: return priv ? sr_p11_bool(CK_TRUE, out) : CKR_ATTRIBUTE_TYPE_INVALID;
    case CKA_ALWAYS_AUTHENTICATE: return priv ? sr_p11_bool(CK_FALSE, out) : CKR_ATTRIBUTE_TYPE_INVALID;
    case CKA_TRUSTED: return !priv ? sr_p11_bool(o->trusted, out) : CKR_ATTRIBUTE_TYPE_INVALID;
    case CKA_VALUE_LEN:
        return o->cls == CKO_SECRET_KEY ? sr_p11_ulong(o->info.spec.bits / 8, out) : CKR_ATTRIBUTE_TYPE_INVALID;
    case CKA_MODULUS_BITS:
        return o->info.spec.type == SR_KEY_RSA ? sr_p11_ulong(o->info.spec.bits, out) : CKR_ATTRIBUTE_TYPE_INVALID;
    case CKA_MODULUS: case CKA_PUBLIC_EXPONENT:
        if (o->info.spec.type != SR_KEY_RSA) {
            return CKR_ATTRIBUTE_TYPE_INVALID;
        }
        return sr_pkey_public_part(o->pub, t == CKA_MODULUS ? SR_PUB_RSA_N : SR_PUB_RSA_E, out) == SR_OK
                   ? CKR_OK : CKR_DEVICE_ERROR;
    case CKA_EC_PARAMS:
        if (o->info.spec.type != SR_KEY_EC) {
            return CKR_ATTRIBUTE_TYPE_INVALID;
        }
        return sr_pkey_public_part(o->pub, SR_PUB_EC_PARAMS, out) == SR_OK ? CKR_OK : CKR_DEVICE_ERROR;
    case CKA_EC_POINT:
        if (o->info.spec.type != SR_KEY_EC || priv) {
            return CKR_ATTRIBUTE_TYPE_INVALID;
        }
        return sr_pkey_public_part(o->pub, SR_PUB_EC_POINT, out) == SR_OK ? CKR_OK : CKR_DEVICE_ERROR;
    case CKA_PUBLIC_KEY_INFO:
        if (o->pub == NULL) {
            return CKR_ATTRIBUTE_TYPE_INVALID;
        }
        return sr_pkey_public_to_spki(o->pub, out) == SR_OK ? CKR_OK : CKR_DEVICE_ERROR;
    /* What no PKCS#11 call may ever read: the key itself. */
    case CKA_VALUE: case CKA_PRIVATE_EXPONENT: case CKA_PRIME_1: case CKA_PRIME_2: case CKA_EXPONENT_1:
    case CKA_EXPONENT_2: case CKA_COEFFICIENT:
        return priv ? CKR_ATTRIBUTE_SENSITIVE : CKR_ATTRIBUTE_TYPE_INVALID;
    default: return CKR_ATTRIBUTE_TYPE_INVALID;
    }
}

/* A buffer for one attribute's value: a data object's CKA_VALUE (up to 64 KiB, the user's data) is wiped. */
static void sr_p11_value_buf(const struct sr_p11_object *o, CK_ATTRIBUTE_TYPE t, struct sr_buf *v)
{
    bool value = o->cls == CKO_DATA && t == CKA_VALUE;
    sr_buf_init(v, value ? SR_APPOBJECT_MAX_VALUE : 4096, value ? SR_BUF_SECRET : SR_BUF_PLAIN);
}

CK_RV sr_p11_attribute(struct sr_p11 *p, const struct sr_p11_object *o, CK_ATTRIBUTE *a)
{
    (void)p;
    SR_AUTO_BUF struct sr_buf v = {0};
    sr_p11_value_buf(o, a->type, &v);
    CK_RV rv = sr_p11_value(o, a->type, &v);
    if (rv != CKR_OK) {
        a->ulValueLen = CK_UNAVAILABLE_INFORMATION;
        return rv;
    }
    return sr_p11_out(v.data, v.len, a->pValue, &a->ulValueLen);
}

bool sr_p11_matches(struct sr_p11 *p, const struct sr_p11_object *o, const CK_ATTRIBUTE *tmpl, CK_ULONG n)
{
    (void)p;
    for (CK_ULONG i = 0; i < n; i++) {
        SR_AUTO_BUF struct sr_buf v = {0};
        sr_p11_value_buf(o, tmpl[i].type, &v);
        if (sr_p11_value(o, tmpl[i].type, &v) != CKR_OK || v.len != tmpl[i].ulValueLen ||
            (v.len > 0 && (tmpl[i].pValue == NULL || memcmp(v.data, tmpl[i].pValue, v.len) != 0))) {
            return false;
        }
    }
    return true;
}

/* --- the object functions --- */

CK_RV sr_C_GetAttributeValue(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE oh, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n)
{
    SR_P11_SESSION_BEGIN(p, h, s);
    struct sr_p11_object *o = rv == CKR_OK ? sr_p11_object(p, oh) : NULL;
    if (rv == CKR_OK && (o == NULL || !sr_p11_object_visible(p, o))) {
        rv = CKR_OBJECT_HANDLE_INVALID;
    } else if (rv == CKR_OK && tmpl == NULL && n > 0) {
        rv = CKR_ARGUMENTS_BAD;
    }
    /* Every attribute is answered; the call's value is the last refusal (PKCS#11 2.40 §5.7). */
    CK_RV last = CKR_OK;
    for (CK_ULONG i = 0; rv == CKR_OK && i < n; i++) {
        CK_RV one = sr_p11_attribute(p, o, &tmpl[i]);
        last = one != CKR_OK ? one : last;
    }
    rv = rv != CKR_OK ? rv : last;
    SR_P11_SESSION_END(p);
}

CK_RV sr_C_SetAttributeValue(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE oh, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n)
{
    (void)tmpl, (void)n;
    SR_P11_SESSION_BEGIN(p, h, s);
    struct sr_p11_object *o = rv == CKR_OK ? sr_p11_object(p, oh) : NULL;
    if (rv == CKR_OK && (o == NULL || !sr_p11_object_visible(p, o))) {
        rv = CKR_OBJECT_HANDLE_INVALID;
    } else if (rv == CKR_OK) {
        /* A key's attributes are its authenticated header and ACL: none changes after the key is made. */
        rv = CKR_ATTRIBUTE_READ_ONLY;
    }
    SR_P11_SESSION_END(p);
}

CK_RV sr_C_GetObjectSize(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE oh, CK_ULONG_PTR size)
{
    SR_P11_SESSION_BEGIN(p, h, s);
    struct sr_p11_object *o = rv == CKR_OK ? sr_p11_object(p, oh) : NULL;
    if (rv == CKR_OK && (o == NULL || !sr_p11_object_visible(p, o))) {
        rv = CKR_OBJECT_HANDLE_INVALID;
    } else if (rv == CKR_OK && size == NULL) {
        rv = CKR_ARGUMENTS_BAD;
    } else if (rv == CKR_OK) {
        *size = o->file.len;
    }
    SR_P11_SESSION_END(p);
}

CK_RV sr_C_FindObjectsInit(CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n)
{
    SR_P11_SESSION_BEGIN(p, h, s);
    if (rv == CKR_OK && s->active[SR_P11_OP_FIND]) {
        rv = CKR_OPERATION_ACTIVE;
    } else if (rv == CKR_OK && tmpl == NULL && n > 0) {
        rv = CKR_ARGUMENTS_BAD;
    }
    if (rv == CKR_OK) {
        pthread_rwlock_rdlock(&p->module_lock);
        rv = sr_p11_refresh(p);
        pthread_rwlock_unlock(&p->module_lock);
    }
    if (rv == CKR_OK) {
        free(s->found);
        s->found = calloc(p->nobjects + 1, sizeof(*s->found));
        s->nfound = s->given = 0;
        rv = s->found != NULL ? CKR_OK : CKR_HOST_MEMORY;
    }
    for (CK_ULONG i = 0; rv == CKR_OK && i < p->nobjects; i++) {
        struct sr_p11_object *o = &p->objects[i];
        if (o->live && sr_p11_object_visible(p, o) && sr_p11_matches(p, o, tmpl, n)) {
            s->found[s->nfound++] = sr_p11_handle(p, o);
        }
    }
    if (rv == CKR_OK) {
        s->active[SR_P11_OP_FIND] = true;
    }
    SR_P11_SESSION_END(p);
}

CK_RV sr_C_FindObjects(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE_PTR out, CK_ULONG max, CK_ULONG_PTR count)
{
    SR_P11_SESSION_BEGIN(p, h, s);
    if (rv == CKR_OK && (out == NULL || count == NULL)) {
        rv = CKR_ARGUMENTS_BAD;
    } else if (rv == CKR_OK && !s->active[SR_P11_OP_FIND]) {
        rv = CKR_OPERATION_NOT_INITIALIZED;
    }
    if (rv == CKR_OK) {
        CK_ULONG k = 0;
        while (k < max && s->given < s->nfound) {
            out[k++] = s->found[s->given++];
        }
        *count = k;
    }
    SR_P11_SESSION_END(p);
}

CK_RV sr_C_FindObjectsFinal(CK_SESSION_HANDLE h)
{
    SR_P11_SESSION_BEGIN(p, h, s);
    if (rv == CKR_OK && !s->active[SR_P11_OP_FIND]) {
        rv = CKR_OPERATION_NOT_INITIALIZED;
    }
    if (rv == CKR_OK) {
        s->active[SR_P11_OP_FIND] = false;
        free(s->found);
        s->found = NULL;
        s->nfound = s->given = 0;
    }
    SR_P11_SESSION_END(p);
}

CK_RV sr_C_DestroyObject(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE oh)
{
    SR_P11_SESSION_BEGIN(p, h, s);
    struct sr_p11_object *o = rv == CKR_OK ? sr_p11_object(p, oh) : NULL;
    if (rv == CKR_OK && (o == NULL || !sr_p11_object_visible(p, o))) {
        rv = CKR_OBJECT_HANDLE_INVALID;
    } else if (rv == CKR_OK && o->session != 0) {
        /* §4.4: every session that sees a session object may destroy it; nothing of it is on disk. The other
         * half of a session pair goes with it, as a token pair's file takes both. */
        struct sr_p11_object *pair = sr_p11_object(p, o->pair);
        if (pair != NULL) {
            sr_p11_object_end(pair);
        }
        sr_p11_object_end(o);
        o = NULL;
    } else if (rv == CKR_OK && !(s->flags & CKF_RW_SESSION)) {
        rv = CKR_SESSION_READ_ONLY;
    } else if (rv == CKR_OK && !p->user && !p->so && !(o->created && !o->priv)) {
        rv = CKR_USER_NOT_LOGGED_IN; /* §4.4: a R/W public session may destroy only public token objects */
    }
    if (rv == CKR_OK && o != NULL) {
        pthread_rwlock_wrlock(&p->module_lock);
        rv = o->trusted && !p->so ? CKR_USER_NOT_LOGGED_IN : CKR_OK; /* what the quorum trusted, it removes */
        char path[SR_PATH_MAX];
        if (rv == CKR_OK && (o->trusted || o->created)) {
            enum sr_err r = o->trusted ? sr_trusted_key_path(p->module, o->ident, path, sizeof(path))
                                       : sr_appobject_path(p->module, o->ident, path, sizeof(path));
            rv = r == SR_OK && unlink(path) == 0 ? CKR_OK : CKR_DEVICE_ERROR;
        } else if (rv == CKR_OK) {
            rv = sr_p11_rv(sr_key_destroy(p->module, o->app, o->ident));
        }
        if (rv == CKR_OK) {
            rv = sr_p11_refresh(p); /* both halves of a pair go together */
        }
        pthread_rwlock_unlock(&p->module_lock);
    }
    SR_P11_SESSION_END(p);
}

/* --- making keys --- */


bool sr_p11_template_bool(const CK_ATTRIBUTE *a, CK_BBOOL *ret)
{
    if (a->pValue == NULL || a->ulValueLen != sizeof(CK_BBOOL)) {
        return false;
    }
    *ret = *(const CK_BBOOL *)a->pValue;
    return true;
}

bool sr_p11_template_ulong(const CK_ATTRIBUTE *a, CK_ULONG *ret)
{
    if (a->pValue == NULL || a->ulValueLen != sizeof(CK_ULONG)) {
        return false;
    }
    memcpy(ret, a->pValue, sizeof(*ret)); /* the caller's buffer need not be aligned (fuzz_pkcs11 found it) */
    return true;
}

/* CKA_LABEL, NUL-terminated; CKA_ID, 1 to SR_P11_MAX_ID bytes. */
CK_RV sr_p11_template_label(const CK_ATTRIBUTE *a, char out[SR_MAX_PLAINNAME + 1])
{
    if (a->ulValueLen > SR_MAX_PLAINNAME || (a->pValue == NULL && a->ulValueLen > 0)) {
        return CKR_ATTRIBUTE_VALUE_INVALID;
    }
    if (a->ulValueLen > 0) {
        memcpy(out, a->pValue, a->ulValueLen);
    }
    out[a->ulValueLen] = 0;
    return CKR_OK;
}

CK_RV sr_p11_template_id(const CK_ATTRIBUTE *a, uint8_t out[SR_P11_MAX_ID], CK_ULONG *len)
{
    if (a->ulValueLen == 0 || a->ulValueLen > SR_P11_MAX_ID || a->pValue == NULL) {
        return CKR_ATTRIBUTE_VALUE_INVALID;
    }
    memcpy(out, a->pValue, a->ulValueLen);
    *len = a->ulValueLen;
    return CKR_OK;
}

static const struct {
    CK_ATTRIBUTE_TYPE type;
    enum sr_acl_action action;
} sr_p11_usages[] = {
    {CKA_SIGN, SR_ACL_SIGN},       {CKA_VERIFY, SR_ACL_VERIFY}, {CKA_ENCRYPT, SR_ACL_ENCRYPT},
    {CKA_DECRYPT, SR_ACL_DECRYPT}, {CKA_WRAP, SR_ACL_WRAP},     {CKA_UNWRAP, SR_ACL_UNWRAP},
    {CKA_DERIVE, SR_ACL_DERIVE},
};

/* One template's attributes into g; cls is the object it describes. */
static CK_RV sr_p11_template(const CK_ATTRIBUTE *tmpl, CK_ULONG n, CK_OBJECT_CLASS cls, struct sr_p11_keygen *g)
{
    if (tmpl == NULL && n > 0) {
        return CKR_ARGUMENTS_BAD;
    }
    for (CK_ULONG i = 0; i < n; i++) {
        const CK_ATTRIBUTE *a = &tmpl[i];
        CK_BBOOL b = CK_FALSE;
        CK_ULONG u = 0;
        bool usage = false;
        for (size_t k = 0; k < SR_ARRAY_LEN(sr_p11_usages); k++) {
            if (a->type == sr_p11_usages[k].type) {
                if (!sr_p11_template_bool(a, &b)) {
                    return CKR_ATTRIBUTE_VALUE_INVALID;
                }
                g->acl = b ? g->acl | sr_p11_usages[k].action : g->acl & ~(unsigned)sr_p11_usages[k].action;
                g->acl_set |= sr_p11_usages[k].action;
                usage = true;
            }
        }
        if (usage) {
            continue;
        }
        switch (a->type) {
        case CKA_CLASS:
            if (!sr_p11_template_ulong(a, &u) || u != cls) {
                return CKR_TEMPLATE_INCONSISTENT;
            }
            break;
        case CKA_TOKEN:
            if (!sr_p11_template_bool(a, &b)) {
                return CKR_ATTRIBUTE_VALUE_INVALID;
            }
            g->pub_token = cls == CKO_PUBLIC_KEY ? b : g->pub_token;
            g->token = cls == CKO_PUBLIC_KEY ? g->token : b;
            break;
        case CKA_PRIVATE:
            if (!sr_p11_template_bool(a, &b)) {
                return CKR_ATTRIBUTE_VALUE_INVALID;
            }
            g->priv = cls == CKO_PUBLIC_KEY ? g->priv : b; /* a public key is public, whatever it asks */
            break;
        case CKA_KEY_TYPE:
            if (!sr_p11_template_ulong(a, &g->key_type)) {
                return CKR_ATTRIBUTE_VALUE_INVALID;
            }
            break;
        case CKA_MODIFIABLE: case CKA_START_DATE: case CKA_END_DATE:
        case CKA_SUBJECT: case CKA_VERIFY_RECOVER: case CKA_SIGN_RECOVER:
            break; /* no attribute changes after the key is made */
        case CKA_SENSITIVE: case CKA_ALWAYS_AUTHENTICATE: case CKA_WRAP_WITH_TRUSTED:
            /* Every key is sensitive and leaves only to a trusted key: asking otherwise is refused. */
            if (!sr_p11_template_bool(a, &b) || b != (a->type != CKA_ALWAYS_AUTHENTICATE)) {
                return CKR_ATTRIBUTE_VALUE_INVALID;
            }
            break;
        case CKA_EXTRACTABLE:
            /* Extractable means: may leave wrapped, under a key the card quorum trusted (and nothing else). */
            if (!sr_p11_template_bool(a, &b)) {
                return CKR_ATTRIBUTE_VALUE_INVALID;
            }
            g->acl = b ? g->acl | SR_ACL_EXPORT_TO_TRUSTED : g->acl & ~(unsigned)SR_ACL_EXPORT_TO_TRUSTED;
            break;
        case CKA_LABEL:
            if (sr_p11_template_label(a, g->label) != CKR_OK) {
                return CKR_ATTRIBUTE_VALUE_INVALID;
            }
            break;
        case CKA_ID:
            if (sr_p11_template_id(a, g->id, &g->id_len) != CKR_OK) {
                return CKR_ATTRIBUTE_VALUE_INVALID;
            }
            break;
        case CKA_MODULUS_BITS:
            if (!sr_p11_template_ulong(a, &g->bits)) {
                return CKR_ATTRIBUTE_VALUE_INVALID;
            }
            break;
        case CKA_VALUE_LEN:
            if (!sr_p11_template_ulong(a, &u)) {
                return CKR_ATTRIBUTE_VALUE_INVALID;
            }
            g->bits = u * 8;
            break;
        case CKA_PUBLIC_EXPONENT: {
            if (a->pValue == NULL || a->ulValueLen == 0 || a->ulValueLen > sizeof(unsigned long)) {
                return CKR_ATTRIBUTE_VALUE_INVALID;
            }
            unsigned long e = 0;
            for (CK_ULONG k = 0; k < a->ulValueLen; k++) {
                e = e << 8 | ((const uint8_t *)a->pValue)[k];
            }
            g->pubexp = e;
            break;
        }
        case CKA_EC_PARAMS:
            if (a->pValue == NULL || sr_curve_from_oid_der(a->pValue, a->ulValueLen, &g->curve) != SR_OK) {
                return CKR_CURVE_NOT_SUPPORTED;
            }
            break;
        default:
            return CKR_ATTRIBUTE_TYPE_INVALID;
        }
    }
    return CKR_OK;
}

/* The Tookan/Clulow rule: a key that wraps or unwraps keys never also encrypts or decrypts data, or a
 * wrapped key could be decrypted into the clear (or a known value unwrapped as a key). */
static CK_RV sr_p11_usage_check(unsigned acl)
{
    bool wraps = acl & (SR_ACL_WRAP | SR_ACL_UNWRAP);
    bool crypts = acl & (SR_ACL_ENCRYPT | SR_ACL_DECRYPT);
    return wraps && crypts ? CKR_TEMPLATE_INCONSISTENT : CKR_OK;
}

/* A key asked to wrap or unwrap does only that, unless the template also asks for data use (which the
 * usage check then refuses). */
static void sr_p11_wrap_only(struct sr_p11_keygen *g)
{
    if ((g->acl & (SR_ACL_WRAP | SR_ACL_UNWRAP)) && !(g->acl_set & (SR_ACL_ENCRYPT | SR_ACL_DECRYPT))) {
        g->acl &= ~(unsigned)(SR_ACL_ENCRYPT | SR_ACL_DECRYPT);
    }
}

/* A key's ident is its CKA_ID in hex; a template without CKA_ID gets 8 random bytes. */
CK_RV sr_p11_ident_of(uint8_t id[SR_P11_MAX_ID], CK_ULONG *id_len, char ident[2 * SR_P11_MAX_ID + 1])
{
    if (*id_len == 0) {
        *id_len = 8;
        if (sr_rand_bytes(id, *id_len) != SR_OK) {
            return CKR_DEVICE_ERROR;
        }
    }
    sr_hex_encode(id, *id_len, ident);
    return CKR_OK;
}

void sr_p11_module_lock_for(struct sr_p11 *p, bool token)
{
    if (token) {
        pthread_rwlock_wrlock(&p->module_lock);
    } else {
        pthread_rwlock_rdlock(&p->module_lock);
    }
}

/* PKCS#11 2.40 §4.4's table of sessions and objects: a token object needs a read/write session, a private
 * object the user (the SO sees no private object). This token's token keys are all private: the user PIN
 * is their gate, so a public one is refused. A public session key needs no login, in any session. */
CK_RV sr_p11_may_make(const struct sr_p11 *p, const struct sr_p11_session *s, const struct sr_p11_keygen *g)
{
    if (g->token && !g->priv) {
        return CKR_TEMPLATE_INCONSISTENT;
    }
    if (g->token && !(s->flags & CKF_RW_SESSION)) {
        return CKR_SESSION_READ_ONLY;
    }
    return g->priv && !p->user ? CKR_USER_NOT_LOGGED_IN : CKR_OK;
}

/* The objects of a key file just made into file (a session key of session h): they live in the table only. */
CK_RV sr_p11_add_session_key(struct sr_p11 *p, CK_SESSION_HANDLE h, const struct sr_p11_keygen *g,
                                    const struct sr_key_info *info, const struct sr_buf *file,
                                    CK_OBJECT_HANDLE_PTR ret_pub, CK_OBJECT_HANDLE_PTR ret_priv)
{
    struct sr_p11_object *priv = NULL, *pub = NULL;
    CK_RV rv = sr_p11_add_key(p, info->app, info->ident, info, file, &priv, &pub);
    if (rv != CKR_OK) {
        return rv;
    }
    priv->session = h;
    priv->priv = g->priv;
    *ret_priv = sr_p11_handle(p, priv);
    if (pub != NULL) {
        pub->session = h; /* an unwrapped pair's public half too, as a token file shows it */
        pub->pair = sr_p11_handle(p, priv);
        priv->pair = sr_p11_handle(p, pub);
    }
    if (pub != NULL && ret_pub != NULL) {
        *ret_pub = sr_p11_handle(p, pub);
    }
    return CKR_OK;
}

/* Makes a key: key_pkcs11_<hex id> for a token key, a file in memory for a session key of session h. The
 * module makes and seals both alike; only where the bytes go differs. */
static CK_RV sr_p11_make(struct sr_p11 *p, CK_SESSION_HANDLE h, const struct sr_key_spec *spec,
                         struct sr_p11_keygen *g, CK_OBJECT_HANDLE_PTR ret_pub, CK_OBJECT_HANDLE_PTR ret_priv)
{
    CK_RV rv = sr_p11_usage_check(g->acl);
    if (rv != CKR_OK) {
        return rv;
    }
    char ident[2 * SR_P11_MAX_ID + 1];
    rv = sr_p11_ident_of(g->id, &g->id_len, ident);
    if (rv != CKR_OK) {
        return rv;
    }
    SR_AUTO_BUF struct sr_buf file = {0};
    sr_buf_init(&file, SR_MAX_FILE, SR_BUF_PLAIN);
    struct sr_keygen_params params = {.app = SR_P11_APP, .ident = ident, .plainname = g->label[0] ? g->label : ident,
                                      .spec = *spec, .acl = g->acl, .out = g->token ? NULL : &file};
    struct sr_key_info info;
    sr_p11_module_lock_for(p, g->token);
    enum sr_err r = sr_key_generate(p->module, &params, &info);
    rv = r == SR_ERR_EXISTS ? CKR_ATTRIBUTE_VALUE_INVALID : sr_p11_rv(r); /* that CKA_ID is taken */
    if (rv == CKR_OK && g->token) {
        rv = sr_p11_refresh(p);
    }
    pthread_rwlock_unlock(&p->module_lock);
    if (rv != CKR_OK || !g->token) {
        return rv == CKR_OK ? sr_p11_add_session_key(p, h, g, &info, &file, ret_pub, ret_priv) : rv;
    }
    rv = sr_p11_handle_of(p, SR_P11_APP, ident, sr_key_type_secret(spec->type) ? CKO_SECRET_KEY : CKO_PRIVATE_KEY, ret_priv);
    return rv == CKR_OK && ret_pub != NULL ? sr_p11_handle_of(p, SR_P11_APP, ident, CKO_PUBLIC_KEY, ret_pub) : rv;
}

CK_RV sr_C_GenerateKeyPair(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_ATTRIBUTE_PTR pub_tmpl, CK_ULONG npub,
                           CK_ATTRIBUTE_PTR priv_tmpl, CK_ULONG npriv, CK_OBJECT_HANDLE_PTR ret_pub,
                           CK_OBJECT_HANDLE_PTR ret_priv)
{
    SR_P11_SESSION_BEGIN(p, h, s);
    if (rv == CKR_OK && (mech == NULL || ret_pub == NULL || ret_priv == NULL)) {
        rv = CKR_ARGUMENTS_BAD;
    } else if (rv == CKR_OK && mech->mechanism != CKM_RSA_PKCS_KEY_PAIR_GEN && mech->mechanism != CKM_EC_KEY_PAIR_GEN) {
        rv = CKR_MECHANISM_INVALID;
    }
    bool rsa = rv == CKR_OK && mech->mechanism == CKM_RSA_PKCS_KEY_PAIR_GEN;
    /* Default use: an RSA pair signs and decrypts, an EC pair signs. */
    struct sr_p11_keygen g = {SR_P11_KEYGEN_DEFAULTS, .pubexp = 65537,
                              .acl = SR_ACL_SIGN | SR_ACL_VERIFY | (rsa ? SR_ACL_DECRYPT | SR_ACL_ENCRYPT : 0)};
    if (rv == CKR_OK) {
        rv = sr_p11_template(pub_tmpl, npub, CKO_PUBLIC_KEY, &g);
    }
    if (rv == CKR_OK) {
        rv = sr_p11_template(priv_tmpl, npriv, CKO_PRIVATE_KEY, &g);
    }
    /* A pair is one key file: both halves are token objects, or both session objects. */
    rv = rv == CKR_OK && g.pub_token != -1 && g.pub_token != g.token ? CKR_TEMPLATE_INCONSISTENT : rv;
    CK_KEY_TYPE type = rsa ? CKK_RSA : CKK_EC;
    rv = rv == CKR_OK && g.key_type != CK_UNAVAILABLE_INFORMATION && g.key_type != type ? CKR_TEMPLATE_INCONSISTENT : rv;
    rv = rv == CKR_OK ? sr_p11_may_make(p, s, &g) : rv;
    sr_p11_wrap_only(&g);
    struct sr_key_spec spec = {.type = rsa ? SR_KEY_RSA : SR_KEY_EC, .bits = (unsigned)g.bits, .pubexp = g.pubexp,
                               .curve = g.curve};
    if (rv == CKR_OK && rsa && g.bits != 2048 && g.bits != 3072 && g.bits != 4096) {
        rv = g.bits == 0 ? CKR_TEMPLATE_INCOMPLETE : CKR_KEY_SIZE_RANGE;
    } else if (rv == CKR_OK && !rsa && g.curve == SR_CURVE_NONE) {
        rv = CKR_TEMPLATE_INCOMPLETE;
    } else if (rv == CKR_OK && !rsa &&
               (g.acl & ~(unsigned)(SR_ACL_SIGN | SR_ACL_VERIFY | SR_ACL_DERIVE | SR_ACL_EXPORT_TO_TRUSTED))) {
        rv = CKR_TEMPLATE_INCONSISTENT; /* EC keys sign and derive (ECDH), nothing else */
    } else if (rv == CKR_OK && rsa && (g.acl & SR_ACL_DERIVE)) {
        rv = CKR_TEMPLATE_INCONSISTENT; /* RSA derives nothing */
    }
    if (rv == CKR_OK) {
        rv = sr_p11_make(p, h, &spec, &g, ret_pub, ret_priv);
    }
    SR_P11_SESSION_END(p);
}

CK_RV sr_C_GenerateKey(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n,
                       CK_OBJECT_HANDLE_PTR ret)
{
    SR_P11_SESSION_BEGIN(p, h, s);
    if (rv == CKR_OK && (mech == NULL || ret == NULL)) {
        rv = CKR_ARGUMENTS_BAD;
    } else if (rv == CKR_OK && mech->mechanism != CKM_AES_KEY_GEN && mech->mechanism != CKM_GENERIC_SECRET_KEY_GEN) {
        rv = CKR_MECHANISM_INVALID;
    }
    /* An AES key encrypts and decrypts unless told otherwise (it may also MAC: CKM_AES_CMAC); a generic
     * secret is an HMAC key, and does nothing else. */
    bool generic = rv == CKR_OK && mech->mechanism == CKM_GENERIC_SECRET_KEY_GEN;
    struct sr_p11_keygen g = {SR_P11_KEYGEN_DEFAULTS,
                              .acl = generic ? SR_ACL_SIGN | SR_ACL_VERIFY : SR_ACL_ENCRYPT | SR_ACL_DECRYPT};
    if (rv == CKR_OK) {
        rv = sr_p11_template(tmpl, n, CKO_SECRET_KEY, &g);
    }
    rv = rv == CKR_OK ? sr_p11_may_make(p, s, &g) : rv;
    sr_p11_wrap_only(&g);
    struct sr_key_spec spec = {.type = generic ? SR_KEY_GENERIC : SR_KEY_AES, .bits = (unsigned)g.bits};
    CK_KEY_TYPE type = generic ? CKK_GENERIC_SECRET : CKK_AES;
    if (rv == CKR_OK && g.key_type != CK_UNAVAILABLE_INFORMATION && g.key_type != type) {
        rv = CKR_TEMPLATE_INCONSISTENT;
    } else if (rv == CKR_OK && !sr_secret_size_ok(&spec)) {
        rv = g.bits == 0 ? CKR_TEMPLATE_INCOMPLETE : CKR_KEY_SIZE_RANGE;
    } else if (rv == CKR_OK && ((generic && (g.acl & ~(unsigned)(SR_ACL_SIGN | SR_ACL_VERIFY | SR_ACL_EXPORT_TO_TRUSTED))) ||
                                (g.acl & SR_ACL_DERIVE))) {
        rv = CKR_TEMPLATE_INCONSISTENT; /* an HMAC key has no cipher; no secret key derives */
    }
    if (rv == CKR_OK) {
        rv = sr_p11_make(p, h, &spec, &g, NULL, ret);
    }
    SR_P11_SESSION_END(p);
}

/* C_UnwrapKey with CKM_RSA_AES_KEY_WRAP: a .byok-style blob, opened by a private RSA key of the token whose
 * ACL has UnwrapKey (or Import), becomes a new key file key_pkcs11_<hex id> with the template's uses. */
CK_RV sr_C_UnwrapKey(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE unwrapping, CK_BYTE_PTR in,
                     CK_ULONG n, CK_ATTRIBUTE_PTR tmpl, CK_ULONG ntmpl, CK_OBJECT_HANDLE_PTR ret)
{
    SR_P11_SESSION_BEGIN(p, h, s);
    struct sr_p11_object *k = rv == CKR_OK ? sr_p11_object(p, unwrapping) : NULL;
    if (rv == CKR_OK && (mech == NULL || ret == NULL || in == NULL)) {
        rv = CKR_ARGUMENTS_BAD;
    } else if (rv == CKR_OK && mech->mechanism != CKM_RSA_AES_KEY_WRAP) {
        rv = CKR_MECHANISM_INVALID;
    } else if (rv == CKR_OK && (k == NULL || !sr_p11_object_visible(p, k) || k->cls != CKO_PRIVATE_KEY ||
                                k->info.spec.type != SR_KEY_RSA)) {
        rv = CKR_UNWRAPPING_KEY_HANDLE_INVALID;
    } else if (rv == CKR_OK && !sr_acl_permits(&k->info.acl, SR_ACL_UNWRAP) && !sr_acl_permits(&k->info.acl, SR_ACL_IMPORT)) {
        rv = CKR_KEY_FUNCTION_NOT_PERMITTED;
    }
    const uint8_t *label = NULL;
    size_t label_len = 0;
    rv = rv == CKR_OK ? sr_p11_rsa_aes_params(mech, &label, &label_len) : rv;
    /* The new key's class and type say what the blob must hold; its uses default as for a made key. */
    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    CK_KEY_TYPE type = CK_UNAVAILABLE_INFORMATION;
    for (CK_ULONG i = 0; rv == CKR_OK && tmpl != NULL && i < ntmpl; i++) {
        if (tmpl[i].type == CKA_CLASS && !sr_p11_template_ulong(&tmpl[i], &cls)) {
            rv = CKR_ATTRIBUTE_VALUE_INVALID;
        } else if (tmpl[i].type == CKA_KEY_TYPE && !sr_p11_template_ulong(&tmpl[i], &type)) {
            rv = CKR_ATTRIBUTE_VALUE_INVALID;
        }
    }
    bool secret = cls == CKO_SECRET_KEY, generic = secret && type == CKK_GENERIC_SECRET;
    struct sr_p11_keygen g = {SR_P11_KEYGEN_DEFAULTS, .acl = secret && !generic ? SR_ACL_ENCRYPT | SR_ACL_DECRYPT : SR_ACL_SIGN};
    if (rv == CKR_OK && cls != CKO_PRIVATE_KEY && cls != CKO_SECRET_KEY) {
        rv = CKR_TEMPLATE_INCONSISTENT;
    } else if (rv == CKR_OK && secret && type != CK_UNAVAILABLE_INFORMATION && type != CKK_AES && !generic) {
        rv = CKR_TEMPLATE_INCONSISTENT; /* a wrapped secret comes in as an AES key or an HMAC key */
    }
    rv = rv == CKR_OK ? sr_p11_template(tmpl, ntmpl, cls, &g) : rv;
    rv = rv == CKR_OK ? sr_p11_may_make(p, s, &g) : rv;
    rv = rv == CKR_OK ? sr_p11_usage_check(g.acl) : rv;
    enum sr_key_type expect = generic  ? SR_KEY_GENERIC
                              : secret ? SR_KEY_AES
                              : type == CKK_RSA ? SR_KEY_RSA
                              : type == CKK_EC  ? SR_KEY_EC
                                                : SR_KEY_NONE;
    if (rv == CKR_OK && generic && (g.acl & ~(unsigned)(SR_ACL_SIGN | SR_ACL_VERIFY | SR_ACL_EXPORT_TO_TRUSTED))) {
        rv = CKR_TEMPLATE_INCONSISTENT; /* an HMAC key has no cipher */
    }
    char ident[2 * SR_P11_MAX_ID + 1];
    rv = rv == CKR_OK ? sr_p11_ident_of(g.id, &g.id_len, ident) : rv;
    SR_AUTO_BUF struct sr_buf file = {0};
    sr_buf_init(&file, SR_MAX_FILE, SR_BUF_PLAIN);
    struct sr_key_info info;
    if (rv == CKR_OK) {
        struct sr_keygen_params params = {.app = SR_P11_APP, .ident = ident, .plainname = g.label[0] ? g.label : ident,
                                          .acl = g.acl, .out = g.token ? NULL : &file};
        SR_AUTO(sr_p11_object_release) struct sr_p11_object kek = {0}; /* the refresh below may end k */
        rv = sr_p11_object_copy(k, &kek) == SR_OK ? CKR_OK : CKR_HOST_MEMORY;
        sr_p11_module_lock_for(p, g.token);
        enum sr_err r = rv == CKR_OK ? sr_keyfile_import_wrapped(p->module, kek.app, kek.file.data, kek.file.len, label,
                                                                 label_len, in, n, expect, &params, &info)
                                     : SR_ERR_NOMEM;
        rv = r == SR_ERR_BYOK_UNWRAP ? CKR_WRAPPED_KEY_INVALID
             : r == SR_ERR_KEY_TYPE  ? CKR_TEMPLATE_INCONSISTENT
             : r == SR_ERR_EXISTS    ? CKR_ATTRIBUTE_VALUE_INVALID
                                     : sr_p11_rv(r);
        rv = rv == CKR_OK && g.token ? sr_p11_refresh(p) : rv;
        pthread_rwlock_unlock(&p->module_lock);
    }
    if (rv == CKR_OK && !g.token) {
        rv = sr_p11_add_session_key(p, h, &g, &info, &file, NULL, ret);
    } else if (rv == CKR_OK) {
        rv = sr_p11_handle_of(p, SR_P11_APP, ident, secret ? CKO_SECRET_KEY : CKO_PRIVATE_KEY, ret);
    }
    SR_P11_SESSION_END(p);
}

/* C_DeriveKey with CKM_ECDH1_DERIVE (PKCS#11 2.40 mechanisms §2.3.15): ECDH of a private EC key of the token
 * (made with CKA_DERIVE) and the peer's public point, CKD_NULL, becomes a new secret key inside the module:
 * an AES key, or a generic secret (the default), as long as the shared secret (CKA_VALUE_LEN, if given,
 * must say so). */
CK_RV sr_C_DeriveKey(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE base, CK_ATTRIBUTE_PTR tmpl,
                     CK_ULONG n, CK_OBJECT_HANDLE_PTR ret)
{
    SR_P11_SESSION_BEGIN(p, h, s);
    struct sr_p11_object *k = rv == CKR_OK ? sr_p11_object(p, base) : NULL;
    CK_ECDH1_DERIVE_PARAMS ecdh = {0};
    if (rv == CKR_OK && (mech == NULL || ret == NULL || (tmpl == NULL && n > 0))) {
        rv = CKR_ARGUMENTS_BAD;
    } else if (rv == CKR_OK && mech->mechanism != CKM_ECDH1_DERIVE) {
        rv = CKR_MECHANISM_INVALID;
    } else if (rv == CKR_OK && (k == NULL || !sr_p11_object_visible(p, k) || k->cls != CKO_PRIVATE_KEY ||
                                k->info.spec.type != SR_KEY_EC)) {
        rv = CKR_KEY_HANDLE_INVALID;
    } else if (rv == CKR_OK && !sr_acl_permits(&k->info.acl, SR_ACL_DERIVE)) {
        rv = CKR_KEY_FUNCTION_NOT_PERMITTED;
    } else if (rv == CKR_OK && (mech->pParameter == NULL || mech->ulParameterLen != sizeof(ecdh))) {
        rv = CKR_MECHANISM_PARAM_INVALID;
    }
    if (rv == CKR_OK) {
        memcpy(&ecdh, mech->pParameter, sizeof(ecdh)); /* the caller's need not be aligned */
        bool plain = ecdh.kdf == CKD_NULL && ecdh.ulSharedDataLen == 0 && ecdh.pPublicData != NULL;
        rv = plain ? CKR_OK : CKR_MECHANISM_PARAM_INVALID; /* CKD_NULL only, without shared data */
    }
    /* The peer's point, on the base key's curve. */
    SR_AUTO_PKEY EVP_PKEY *peer = NULL;
    SR_AUTO_BUF struct sr_buf oid = {0};
    sr_buf_init(&oid, 64, SR_BUF_PLAIN);
    if (rv == CKR_OK) {
        rv = sr_pkey_public_part(k->pub, SR_PUB_EC_PARAMS, &oid) == SR_OK ? CKR_OK : CKR_DEVICE_ERROR;
    }
    if (rv == CKR_OK) {
        CK_ATTRIBUTE params = {CKA_EC_PARAMS, oid.data, oid.len}, point = {CKA_EC_POINT, ecdh.pPublicData, ecdh.ulPublicDataLen};
        rv = sr_p11_ec_public(&params, &point, &peer) == CKR_OK ? CKR_OK : CKR_MECHANISM_PARAM_INVALID;
    }
    /* The new key: a secret key, AES or generic (the default), with the template's uses. */
    struct sr_p11_keygen g = {SR_P11_KEYGEN_DEFAULTS};
    rv = rv == CKR_OK ? sr_p11_template(tmpl, n, CKO_SECRET_KEY, &g) : rv;
    bool aes = g.key_type == CKK_AES;
    if (rv == CKR_OK && !aes && g.key_type != CK_UNAVAILABLE_INFORMATION && g.key_type != CKK_GENERIC_SECRET) {
        rv = CKR_TEMPLATE_INCONSISTENT;
    }
    unsigned defaults = aes ? SR_ACL_ENCRYPT | SR_ACL_DECRYPT : SR_ACL_SIGN | SR_ACL_VERIFY;
    g.acl = (g.acl & (g.acl_set | SR_ACL_EXPORT_TO_TRUSTED)) | (defaults & ~g.acl_set); /* the type fixes the defaults */
    sr_p11_wrap_only(&g);
    rv = rv == CKR_OK ? sr_p11_may_make(p, s, &g) : rv;
    rv = rv == CKR_OK ? sr_p11_usage_check(g.acl) : rv;
    if (rv == CKR_OK && ((!aes && (g.acl & ~(unsigned)(SR_ACL_SIGN | SR_ACL_VERIFY | SR_ACL_EXPORT_TO_TRUSTED))) ||
                         (g.acl & SR_ACL_DERIVE))) {
        rv = CKR_TEMPLATE_INCONSISTENT; /* an HMAC key has no cipher; no secret key derives */
    }
    char ident[2 * SR_P11_MAX_ID + 1];
    rv = rv == CKR_OK ? sr_p11_ident_of(g.id, &g.id_len, ident) : rv;
    SR_AUTO_BUF struct sr_buf file = {0};
    sr_buf_init(&file, SR_MAX_FILE, SR_BUF_PLAIN);
    struct sr_key_info info;
    if (rv == CKR_OK) {
        struct sr_keygen_params params = {.app = SR_P11_APP, .ident = ident, .plainname = g.label[0] ? g.label : ident,
                                          .spec = {.type = aes ? SR_KEY_AES : SR_KEY_GENERIC, .bits = (unsigned)g.bits},
                                          .acl = g.acl, .out = g.token ? NULL : &file};
        sr_p11_module_lock_for(p, g.token);
        enum sr_err r = sr_keyfile_derive_ecdh(p->module, k->app, k->file.data, k->file.len, peer, &params, &info);
        rv = r == SR_ERR_KEY_TYPE    ? CKR_TEMPLATE_INCONSISTENT   /* a length other than the shared secret's */
             : r == SR_ERR_MALFORMED ? CKR_MECHANISM_PARAM_INVALID
             : r == SR_ERR_EXISTS    ? CKR_ATTRIBUTE_VALUE_INVALID /* that CKA_ID is taken */
                                     : sr_p11_rv(r);
        rv = rv == CKR_OK && g.token ? sr_p11_refresh(p) : rv;
        pthread_rwlock_unlock(&p->module_lock);
    }
    if (rv == CKR_OK) {
        rv = g.token ? sr_p11_handle_of(p, SR_P11_APP, ident, CKO_SECRET_KEY, ret)
                     : sr_p11_add_session_key(p, h, &g, &info, &file, NULL, ret);
    }
    SR_P11_SESSION_END(p);
}
