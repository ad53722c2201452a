#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#include "base/text.h"
#include "base/json.h"
#include "crypto/crypto.h"
#include "crypto/ossl.h"
#include "hsm/backend.h"
#include "crypto/jwk.h"
#include "hsm/blob.h"
#include "hsm/internal.h"

#define SR_MAX_PKCS8 16384u

enum sr_err sr_ident_check(const char *ident)
{
    size_t len = strlen(ident);
    SR_ENSURE(len >= 1 && len <= SR_MAX_IDENT, SR_ERR_IDENT);
    for (size_t i = 0; i < len; i++) {
        char c = ident[i];
        SR_ENSURE((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-', SR_ERR_IDENT);
    }
    return SR_OK;
}

static enum sr_err sr_app_check(const char *app)
{
    /* Apps name file prefixes; the same alphabet as idents keeps key_<app>_<ident> unambiguous. */
    SR_ENSURE(strlen(app) < 32, SR_ERR_USAGE);
    SR_ENSURE(sr_ident_check(app) == SR_OK, SR_ERR_USAGE);
    return SR_OK;
}

enum sr_err sr_key_path(const struct sr_module *m, const char *app, const char *ident, char *out, size_t cap)
{
    SR_TRY(sr_app_check(app));
    char prefix[64];
    snprintf(prefix, sizeof(prefix), "key_%s_", app);
    return sr_local_path(m, prefix, ident, out, cap);
}

enum sr_err sr_local_path(const struct sr_module *m, const char *prefix, const char *ident, char *out, size_t cap)
{
    SR_TRY(sr_ident_check(ident));
    char rel[SR_MAX_IDENT + 80];
    SR_ENSURE(snprintf(rel, sizeof(rel), "local/%s%s", prefix, ident) < (int)sizeof(rel), SR_ERR_USAGE);
    return sr_module_path(m, rel, out, cap);
}

static unsigned sr_default_acl(enum sr_key_type type)
{
    if (type == SR_KEY_AES) {
        return SR_ACL_ENCRYPT | SR_ACL_DECRYPT | SR_ACL_WRAP | SR_ACL_UNWRAP | SR_ACL_REDUCE;
    }
    if (type == SR_KEY_GENERIC) {
        return SR_ACL_SIGN | SR_ACL_VERIFY | SR_ACL_REDUCE;
    }
    unsigned common = SR_ACL_SIGN | SR_ACL_VERIFY | SR_ACL_REDUCE;
    return type == SR_KEY_RSA ? common | SR_ACL_ENCRYPT | SR_ACL_DECRYPT : common;
}

static enum sr_err sr_key_header(const struct sr_key_info *info, const char *world_id, const struct sr_buf *spki,
                                 json_t **ret)
{
    const char *type = sr_key_type_name(info->spec.type);
    SR_AUTO_JSON json_t *h = json_pack("{s:i,s:s,s:s,s:s,s:s,s:s,s:I,s:s}", "version", 1, "app", info->app, "ident",
                                       info->ident, "plainname", info->plainname, "protection", "module",
                                       "world_id", world_id, "created", (json_int_t)info->created, "type", type);
    SR_ENSURE(h != NULL, SR_ERR_NOMEM);
    if (sr_key_type_secret(info->spec.type)) {
        SR_ENSURE(json_object_set_new(h, "size", json_integer(info->spec.bits)) == 0, SR_ERR_NOMEM);
    } else if (info->spec.type == SR_KEY_RSA) {
        SR_ENSURE(json_object_set_new(h, "size", json_integer(info->spec.bits)) == 0, SR_ERR_NOMEM);
        SR_ENSURE(json_object_set_new(h, "pubexp", json_integer((json_int_t)info->spec.pubexp)) == 0, SR_ERR_NOMEM);
    } else {
        SR_ENSURE(json_object_set_new(h, "curve", json_string(sr_curve_name(info->spec.curve))) == 0, SR_ERR_NOMEM);
    }
    json_t *acl = NULL;
    SR_TRY(sr_acl_to_json(&info->acl, &acl));
    SR_ENSURE(json_object_set_new(h, "acl", acl) == 0, SR_ERR_NOMEM);
    SR_TRY(sr_json_set_hex(h, "world", info->world_hkm, SR_HASH_LEN));
    if (spki != NULL) { /* a secret key has no public half, so no key hash either */
        SR_TRY(sr_json_set_hex(h, "key_hash", info->key_hash, SR_HASH_LEN));
        SR_TRY(sr_header_set_spki(h, spki->data, spki->len));
    }
    if (info->origin[0] != 0) {
        SR_ENSURE(json_object_set_new(h, "origin", json_string(info->origin)) == 0, SR_ERR_NOMEM);
    }
    if (info->has_target) {
        const struct sr_export_target *t = &info->target;
        json_t *target = json_pack("{s:s,s:s,s:s}", "kek_kid", t->kek_kid, "region", t->region, "world_id", t->world_id);
        SR_ENSURE(target != NULL && json_object_set_new(h, "export_target", target) == 0, SR_ERR_NOMEM);
        SR_TRY(sr_json_set_hex(target, "world_hkm", t->world_hkm, SR_HASH_LEN));
    }
    *ret = SR_TAKE(h);
    return SR_OK;
}

static enum sr_err sr_copy_field(const json_t *h, const char *key, char *out, size_t cap)
{
    return sr_json_strcpy(h, key, SR_ERR_KEYFILE_FORMAT, out, cap);
}

/* Parses the header and checks that it describes its own public key. */
static enum sr_err sr_key_parse_header(const json_t *h, struct sr_key_info *ret, EVP_PKEY **ret_pub)
{
    const enum sr_err bad = SR_ERR_KEYFILE_FORMAT;
    struct sr_key_info info = {0};
    unsigned long v = 0;
    const char *s = NULL;
    SR_TRY(sr_json_uint(h, "version", bad, 1, &v));
    SR_ENSURE(v == 1, bad);
    SR_TRY(sr_copy_field(h, "app", info.app, sizeof(info.app)));
    SR_TRY(sr_copy_field(h, "ident", info.ident, sizeof(info.ident)));
    SR_TRY(sr_copy_field(h, "plainname", info.plainname, sizeof(info.plainname)));
    SR_TRY(sr_json_str(h, "protection", bad, &s));
    SR_ENSURE(strcmp(s, "module") == 0, bad);
    SR_TRY(sr_json_uint(h, "created", bad, (unsigned long)INT64_MAX, &v));
    info.created = (long long)v;
    SR_TRY(sr_json_hex(h, "world", bad, info.world_hkm, SR_HASH_LEN));
    SR_TRY(sr_acl_from_json(json_object_get(h, "acl"), &info.acl));
    if (json_object_get(h, "origin") != NULL) {
        SR_TRY(sr_copy_field(h, "origin", info.origin, sizeof(info.origin)));
        SR_ENSURE(strcmp(info.origin, SR_ORIGIN_GENERATED) == 0 || strcmp(info.origin, SR_ORIGIN_IMPORTED) == 0 ||
                      strcmp(info.origin, SR_ORIGIN_TRANSFERRED) == 0 || strcmp(info.origin, SR_ORIGIN_DERIVED) == 0,
                  bad);
    }
    const json_t *target = json_object_get(h, "export_target");
    if (target != NULL) {
        info.has_target = true;
        SR_TRY(sr_copy_field(target, "kek_kid", info.target.kek_kid, sizeof(info.target.kek_kid)));
        SR_TRY(sr_copy_field(target, "region", info.target.region, sizeof(info.target.region)));
        SR_TRY(sr_copy_field(target, "world_id", info.target.world_id, sizeof(info.target.world_id)));
        SR_TRY(sr_json_hex(target, "world_hkm", bad, info.target.world_hkm, SR_HASH_LEN));
    }
    const char *type = NULL;
    SR_TRY(sr_json_str(h, "type", bad, &type));
    bool generic = strcmp(type, sr_key_type_name(SR_KEY_GENERIC)) == 0;
    if (strcmp(type, "AES") == 0 || generic) {
        SR_TRY(sr_json_uint(h, "size", bad, SR_GENERIC_MAX_BITS, &v));
        info.spec = (struct sr_key_spec){.type = generic ? SR_KEY_GENERIC : SR_KEY_AES, .bits = (unsigned)v};
        SR_ENSURE(sr_secret_size_ok(&info.spec), bad);
        *ret = info;
        if (ret_pub != NULL) {
            *ret_pub = NULL;
        }
        return SR_OK;
    }
    SR_TRY(sr_json_hex(h, "key_hash", bad, info.key_hash, SR_HASH_LEN));
    /* key_hash is the SHA-256 of this DER, exactly as written (sr_key_build): no re-encoding to compare. */
    SR_AUTO_BUF struct sr_buf spki = {0};
    sr_buf_init(&spki, 16384, SR_BUF_PLAIN);
    SR_TRY(sr_header_spki(h, bad, &spki));
    uint8_t hash[SR_HASH_LEN];
    SR_TRY(sr_sha256(spki.data, spki.len, hash));
    SR_ENSURE(memcmp(hash, info.key_hash, SR_HASH_LEN) == 0, SR_ERR_KEYFILE_TAMPERED);
    SR_AUTO_PKEY EVP_PKEY *pub = NULL;
    SR_ENSURE(sr_pkey_public_from_spki(spki.data, spki.len, &pub) == SR_OK, bad);
    SR_TRY(sr_pkey_describe(pub, &info.spec));
    *ret = info;
    if (ret_pub != NULL) {
        *ret_pub = SR_TAKE(pub);
    }
    return SR_OK;
}

/* Completes info from key (spec, key hash, world), and seals the key into out: the key file's bytes. */
enum sr_err sr_key_build(const struct sr_module *m, struct sr_key_info *info, EVP_PKEY *key,
                                struct sr_buf *out)
{
    SR_ENSURE(m->km != NULL, SR_ERR_NO_WORLD);
    SR_TRY(sr_pkey_describe(key, &info->spec));
    SR_TRY(sr_world_hash(m->km, info->world_hkm));
    SR_AUTO_BUF struct sr_buf spki = {0}; /* encoded once: OpenSSL 3.0's encoders are the costly part */
    sr_buf_init(&spki, 16384, SR_BUF_PLAIN);
    SR_TRY(sr_pkey_public_to_spki(key, &spki));
    SR_TRY(sr_sha256(spki.data, spki.len, info->key_hash));
    SR_AUTO_JSON json_t *h = NULL;
    SR_TRY(sr_key_header(info, m->km_world_id, &spki, &h));
    SR_AUTO_BUF struct sr_buf p8 = {0};
    sr_buf_init(&p8, SR_MAX_PKCS8, SR_BUF_SECRET);
    SR_TRY(sr_pkey_private_to_pkcs8(key, &p8));
    return sr_seal_build(m->km, SR_PURPOSE_KEYBLOB, SR_MAGIC_KEY, h, p8.data, p8.len, out);
}

/* A fresh secret key of spec's size into out (SR_BUF_SECRET). */
static enum sr_err sr_secret_generate(const struct sr_key_spec *spec, struct sr_buf *out)
{
    SR_ENSURE(sr_secret_size_ok(spec), SR_ERR_KEY_TYPE);
    SR_TRY(sr_buf_reserve(out, spec->bits / 8));
    SR_TRY(sr_rand_bytes(out->data + out->len, spec->bits / 8));
    out->len += spec->bits / 8;
    return SR_OK;
}

/* The same for a secret (AES or generic) key: info->spec says its size; the payload is the key's bytes. */
static enum sr_err sr_key_build_secret(const struct sr_module *m, struct sr_key_info *info, const uint8_t *key,
                                       size_t len, struct sr_buf *out)
{
    SR_ENSURE(m->km != NULL, SR_ERR_NO_WORLD);
    SR_ENSURE(sr_secret_size_ok(&info->spec) && len * 8 == info->spec.bits, SR_ERR_KEY_TYPE);
    SR_TRY(sr_world_hash(m->km, info->world_hkm));
    SR_AUTO_JSON json_t *h = NULL;
    SR_TRY(sr_key_header(info, m->km_world_id, NULL, &h));
    return sr_seal_build(m->km, SR_PURPOSE_KEYBLOB, SR_MAGIC_KEY, h, key, len, out);
}

void sr_key_info_names(struct sr_key_info *info, const char *app, const char *ident, const char *plainname)
{
    snprintf(info->app, sizeof(info->app), "%s", app);
    snprintf(info->ident, sizeof(info->ident), "%s", ident);
    snprintf(info->plainname, sizeof(info->plainname), "%s", plainname);
    info->created = (long long)time(NULL);
}

/* = reference/hsm-world.md §5 #11 */
/*# the security world will let you overwrite the existing keys: refuse, and create atomically. */
enum sr_err sr_key_target(const struct sr_module *m, const struct sr_keygen_params *params, char path[SR_PATH_MAX],
                          const char **ret_plainname)
{
    SR_TRY(sr_app_check(params->app));
    SR_TRY(sr_ident_check(params->ident));
    const char *plainname = params->plainname && *params->plainname ? params->plainname : params->ident;
    SR_ENSURE(strlen(plainname) <= SR_MAX_PLAINNAME, SR_ERR_USAGE);
    SR_TRY(sr_key_path(m, params->app, params->ident, path, SR_PATH_MAX));
    SR_ENSURE(params->out != NULL || !sr_file_exists(path), SR_ERR_EXISTS);
    *ret_plainname = plainname;
    return SR_OK;
}

enum sr_err sr_key_generate(struct sr_module *m, const struct sr_keygen_params *params, struct sr_key_info *ret)
{
    SR_TRY(sr_module_require_world(m, NULL));
    char path[SR_PATH_MAX];
    const char *plainname = NULL;
    SR_TRY(sr_key_target(m, params, path, &plainname));

    SR_AUTO(sr_key_material_release) struct sr_key_material km = {0};
    sr_buf_init(&km.secret, SR_GENERIC_MAX_BITS / 8, SR_BUF_SECRET);
    if (sr_key_type_secret(params->spec.type)) {
        SR_TRY(sr_secret_generate(&params->spec, &km.secret));
    } else {
        SR_TRY(sr_pkey_generate(&params->spec, &km.priv));
    }
    struct sr_key_info info = {.spec = params->spec};
    info.acl.actions = params->acl ? params->acl : sr_default_acl(params->spec.type);
    SR_TRY(sr_key_file_make(m, params, path, plainname, SR_ORIGIN_GENERATED, &info, &km));
    *ret = info;
    return SR_OK;
}

enum sr_err sr_keyfile_copy(struct sr_module *m, const char *app, const uint8_t *bytes, size_t len,
                            const struct sr_keygen_params *params, struct sr_key_info *ret)
{
    char path[SR_PATH_MAX];
    const char *plainname = NULL;
    SR_TRY(sr_key_target(m, params, path, &plainname));
    SR_AUTO(sr_key_material_release) struct sr_key_material km = {0};
    sr_buf_init(&km.secret, SR_GENERIC_MAX_BITS / 8, SR_BUF_SECRET);
    struct sr_key_info old;
    SR_TRY(sr_keyfile_load_material(m, app, bytes, len, &old, &km));
    /* A copy can do less than its original, never more (PKCS#11: CKA_EXTRACTABLE may only turn false). */
    SR_ENSURE((params->acl & ~old.acl.actions) == 0, SR_ERR_ACL_DENIED);
    struct sr_key_info info = {.spec = old.spec, .acl = old.acl};
    info.acl.actions = params->acl;
    SR_TRY(sr_key_file_make(m, params, path, plainname, old.origin, &info, &km));
    *ret = info;
    return SR_OK;
}

enum sr_err sr_key_file_make(const struct sr_module *m, const struct sr_keygen_params *params, const char *path,
                             const char *plainname, const char *origin, struct sr_key_info *info,
                             const struct sr_key_material *km)
{
    sr_key_info_names(info, params->app, params->ident, plainname);
    snprintf(info->origin, sizeof(info->origin), "%s", origin);
    SR_AUTO_BUF struct sr_buf file = {0};
    sr_buf_init(&file, SR_MAX_FILE, SR_BUF_PLAIN);
    SR_TRY(sr_key_build_material(m, info, km, &file));
    if (params->out != NULL) {
        return sr_buf_append(params->out, file.data, file.len);
    }
    return sr_file_write_atomic(path, file.data, file.len, SR_WRITE_CREATE);
}

enum sr_err sr_key_destroy(struct sr_module *m, const char *app, const char *ident)
{
    char path[SR_PATH_MAX];
    SR_TRY(sr_key_path(m, app, ident, path, sizeof(path)));
    SR_ENSURE(unlink(path) == 0, errno == ENOENT ? SR_ERR_NOT_FOUND : SR_ERR_IO);
    return SR_OK;
}

/* Authenticates a parsed key file under the loaded world and, when wanted, yields the private key. */
static enum sr_err sr_key_open_blob(const struct sr_module *m, const struct sr_container *c, const EVP_PKEY *pub,
                                    EVP_PKEY **ret_priv)
{
    SR_AUTO_BUF struct sr_buf p8 = {0};
    sr_buf_init(&p8, SR_MAX_PKCS8, SR_BUF_SECRET);
    enum sr_err r = sr_seal_open(m->km, SR_PURPOSE_KEYBLOB, c, &p8);
    SR_ENSURE(r != SR_ERR_AUTH_FAILED, SR_ERR_KEYFILE_TAMPERED);
    SR_TRY(r);
    SR_AUTO_PKEY EVP_PKEY *priv = NULL;
    SR_ENSURE(sr_pkey_private_from_pkcs8(p8.data, p8.len, &priv) == SR_OK, SR_ERR_KEYFILE_TAMPERED);
    SR_ENSURE(EVP_PKEY_eq(priv, pub) == 1, SR_ERR_KEYFILE_TAMPERED);
    if (ret_priv != NULL) {
        *ret_priv = SR_TAKE(priv);
    }
    return SR_OK;
}

/* A secret key's bytes, authenticated, into out (SR_BUF_SECRET): exactly as long as the header says. */
static enum sr_err sr_key_open_secret(const struct sr_module *m, const struct sr_container *c,
                                      const struct sr_key_info *info, struct sr_buf *out)
{
    enum sr_err r = sr_seal_open(m->km, SR_PURPOSE_KEYBLOB, c, out);
    SR_ENSURE(r != SR_ERR_AUTH_FAILED, SR_ERR_KEYFILE_TAMPERED);
    SR_TRY(r);
    SR_ENSURE(out->len * 8 == info->spec.bits, SR_ERR_KEYFILE_TAMPERED);
    return SR_OK;
}

/* The key file's name must agree with the header: a renamed (swapped) file is refused. */
static enum sr_err sr_key_check_name(const char *path, const struct sr_key_info *info)
{
    char copy[SR_PATH_MAX];
    SR_ENSURE(strlen(path) < sizeof(copy), SR_ERR_TOO_LARGE);
    strcpy(copy, path);
    const char *base = basename(copy);
    if (strncmp(base, "key_", 4) != 0) {
        return SR_OK; /* a copy under another name can still be inspected */
    }
    char expect[128];
    snprintf(expect, sizeof(expect), "key_%s_%s", info->app, info->ident);
    SR_ENSURE(strcmp(base, expect) == 0, SR_ERR_KEYFILE_TAMPERED);
    return SR_OK;
}

/* Opens a parsed key container under the module's world: header checks, then authentication.
 * app and ident, when given, must be what the header says (a swapped file is refused). */
static enum sr_err sr_key_open_any(const struct sr_module *m, const struct sr_container *c, const char *app,
                                   const char *ident, struct sr_key_info *ret, EVP_PKEY **ret_pub, EVP_PKEY **ret_priv,
                                   struct sr_buf *ret_secret)
{
    SR_ENSURE(m->km != NULL, SR_ERR_NO_WORLD);
    struct sr_key_info info;
    SR_AUTO_PKEY EVP_PKEY *pub = NULL;
    enum sr_err r = sr_key_parse_header(c->header, &info, &pub);
    SR_ENSURE(r != SR_ERR_KEYFILE_FORMAT, SR_ERR_KEYFILE_TAMPERED);
    SR_TRY(r);
    SR_ENSURE(app == NULL || strcmp(info.app, app) == 0, SR_ERR_KEYFILE_TAMPERED);
    SR_ENSURE(ident == NULL || strcmp(info.ident, ident) == 0, SR_ERR_KEYFILE_TAMPERED);
    uint8_t hkm[SR_HASH_LEN];
    SR_TRY(sr_world_hash(m->km, hkm));
    SR_ENSURE(memcmp(info.world_hkm, hkm, SR_HASH_LEN) == 0, SR_ERR_WORLD_MISMATCH);
    /* A secret key has no public half; its bytes go where the caller takes them (ret_secret), never into an
     * EVP_PKEY. A caller that takes either kind of key gives both ret_priv and ret_secret. */
    if (sr_key_type_secret(info.spec.type)) {
        SR_ENSURE(ret_pub == NULL && (ret_priv == NULL || ret_secret != NULL), SR_ERR_KEY_TYPE);
        SR_AUTO_BUF struct sr_buf secret = {0};
        sr_buf_init(&secret, SR_GENERIC_MAX_BITS / 8, SR_BUF_SECRET);
        SR_TRY(sr_key_open_secret(m, c, &info, ret_secret != NULL ? ret_secret : &secret));
        *ret = info;
        return SR_OK;
    }
    SR_TRY(sr_key_open_blob(m, c, pub, ret_priv));
    *ret = info;
    if (ret_pub != NULL) {
        *ret_pub = SR_TAKE(pub);
    }
    return SR_OK;
}

enum sr_err sr_key_open_container(const struct sr_module *m, const struct sr_container *c, const char *app,
                                  const char *ident, struct sr_key_info *ret, EVP_PKEY **ret_pub, EVP_PKEY **ret_priv)
{
    return sr_key_open_any(m, c, app, ident, ret, ret_pub, ret_priv, NULL);
}

/* sr_key_load and sr_key_load_material: a kmdata key, opened under the loaded world. */
static enum sr_err sr_key_load_any(struct sr_module *m, const char *app, const char *ident, struct sr_key_info *ret,
                                   EVP_PKEY **ret_pub, EVP_PKEY **ret_priv, struct sr_buf *ret_secret)
{
    SR_TRY(sr_module_require_world(m, NULL));
    char path[SR_PATH_MAX];
    SR_TRY(sr_key_path(m, app, ident, path, sizeof(path)));
    sr_module_diagf(m, "%s", path);
    SR_AUTO_CONTAINER struct sr_container c = {0};
    enum sr_err r = sr_container_read(path, SR_MAGIC_KEY, SR_ERR_KEYFILE_TAMPERED, &c);
    if (r == SR_ERR_NOT_FOUND) {
        sr_module_diagf(m, "no key %s_%s in %s/local (see 'strongroom generatekey')", app, ident, m->dir);
    }
    SR_TRY(r);
    SR_TRY(sr_key_open_any(m, &c, app, ident, ret, ret_pub, ret_priv, ret_secret));
    m->diag[0] = 0;
    return SR_OK;
}

enum sr_err sr_key_load(struct sr_module *m, const char *app, const char *ident, struct sr_key_info *ret,
                        EVP_PKEY **ret_pub, EVP_PKEY **ret_priv)
{
    return sr_key_load_any(m, app, ident, ret, ret_pub, ret_priv, NULL);
}

enum sr_err sr_key_load_material(struct sr_module *m, const char *app, const char *ident, struct sr_key_info *ret,
                                 struct sr_key_material *km)
{
    return sr_key_load_any(m, app, ident, ret, NULL, &km->priv, &km->secret);
}

enum sr_err sr_key_build_material(const struct sr_module *m, struct sr_key_info *info, const struct sr_key_material *km,
                                  struct sr_buf *out)
{
    return km->priv != NULL ? sr_key_build(m, info, km->priv, out)
                            : sr_key_build_secret(m, info, km->secret.data, km->secret.len, out);
}

enum sr_err sr_key_material_bytes(const struct sr_key_material *km, struct sr_buf *out_secret)
{
    return km->priv != NULL ? sr_pkey_private_to_pkcs8(km->priv, out_secret)
                            : sr_buf_append(out_secret, km->secret.data, km->secret.len);
}

void sr_key_material_release(struct sr_key_material *km)
{
    EVP_PKEY_free(km->priv);
    km->priv = NULL;
    sr_buf_release(&km->secret);
}

enum sr_err sr_key_inspect(struct sr_module *m, const char *path, struct sr_key_info *ret, bool *ret_verified)
{
    SR_AUTO_CONTAINER struct sr_container c = {0};
    SR_TRY(sr_container_read(path, SR_MAGIC_KEY, SR_ERR_KEYFILE_FORMAT, &c));
    struct sr_key_info info;
    SR_AUTO_PKEY EVP_PKEY *pub = NULL;
    SR_TRY(sr_key_parse_header(c.header, &info, &pub));
    SR_TRY(sr_key_check_name(path, &info));
    bool verified = false;
    uint8_t hkm[SR_HASH_LEN];
    if (m->km != NULL && sr_world_hash(m->km, hkm) == SR_OK && memcmp(hkm, info.world_hkm, SR_HASH_LEN) == 0) {
        if (sr_key_type_secret(info.spec.type)) {
            SR_AUTO_BUF struct sr_buf secret = {0};
            sr_buf_init(&secret, SR_GENERIC_MAX_BITS / 8, SR_BUF_SECRET);
            SR_TRY(sr_key_open_secret(m, &c, &info, &secret));
        } else {
            SR_TRY(sr_key_open_blob(m, &c, pub, NULL));
        }
        verified = true;
    }
    *ret = info;
    *ret_verified = verified;
    return SR_OK;
}

enum sr_err sr_key_public(struct sr_module *m, const char *app, const char *ident, EVP_PKEY **ret)
{
    struct sr_key_info info;
    return sr_key_load(m, app, ident, &info, ret, NULL);
}

enum sr_err sr_key_sign(struct sr_module *m, const char *app, const char *ident, enum sr_sign_alg alg,
                        const void *msg, size_t len, enum sr_sig_format fmt, struct sr_buf *out_sig)
{
    struct sr_key_info info;
    SR_AUTO_PKEY EVP_PKEY *priv = NULL;
    SR_TRY(sr_key_load(m, app, ident, &info, NULL, &priv));
    SR_ENSURE(sr_acl_permits(&info.acl, SR_ACL_SIGN), SR_ERR_ACL_DENIED);
    return sr_pkey_sign_message(priv, alg, msg, len, fmt, out_sig);
}

/* --- blobs held by the caller (the vault's store) --- */

static enum sr_err sr_blob_parse(const uint8_t *blob, size_t len, struct sr_container *ret)
{
    return sr_container_parse(blob, len, SR_MAGIC_KEY, SR_ERR_KEYFILE_TAMPERED, ret);
}

/*
 * A key just sealed stays loaded and its public JWK is made from it, as an HSM keeps the handle of a key it
 * just made: the answer to a create or import shows the JWK at once, with no decoding of what was just
 * encoded (OpenSSL 3.0's decoders cost more than making an EC key). A failure here costs only a cache miss.
 */
static void sr_blob_remember(const struct sr_module *m, const struct sr_buf *blob, EVP_PKEY *key, unsigned acl)
{
    uint8_t id[SR_HASH_LEN];
    if (sr_sha256(blob->data, blob->len, id) != SR_OK) {
        return;
    }
    sr_keycache_put(m->cache, id, key, acl);
    json_t *jwk = json_object();
    if (jwk != NULL && sr_jwk_set_public(jwk, key) == SR_OK) {
        sr_keycache_set_jwk(m->pubcache, id, jwk);
    }
    json_decref(jwk);
}

enum sr_err sr_vault_blob_seal(const struct sr_module *m, const char *label, const char *name, const char *origin,
                               unsigned acl, EVP_PKEY *key, struct sr_buf *out_blob, struct sr_key_spec *ret_spec)
{
    SR_TRY(sr_ident_check(label));
    struct sr_key_info info = {0};
    sr_key_info_names(&info, "vault", label, name);
    snprintf(info.origin, sizeof(info.origin), "%s", origin);
    info.acl.actions = acl;
    SR_TRY(sr_key_build(m, &info, key, out_blob));
    sr_blob_remember(m, out_blob, key, acl);
    if (ret_spec != NULL) {
        *ret_spec = info.spec;
    }
    return SR_OK;
}

enum sr_err sr_blob_import_secret(const struct sr_module *m, const char *label, const char *name, const char *origin,
                                  const uint8_t *key, size_t len, unsigned acl, struct sr_buf *out_blob)
{
    SR_ENSURE(len == 16 || len == 24 || len == 32, SR_ERR_KEY_TYPE);
    SR_TRY(sr_ident_check(label));
    struct sr_key_info info = {.spec = {.type = SR_KEY_AES, .bits = (unsigned)len * 8}};
    sr_key_info_names(&info, "vault", label, name);
    snprintf(info.origin, sizeof(info.origin), "%s", origin);
    info.acl.actions = acl;
    return sr_key_build_secret(m, &info, key, len, out_blob);
}

enum sr_err sr_blob_generate(const struct sr_module *m, const char *label, const char *name,
                             const struct sr_key_spec *spec, unsigned acl, struct sr_buf *out_blob)
{
    if (spec->type == SR_KEY_AES) {
        SR_AUTO_BUF struct sr_buf key = {0};
        sr_buf_init(&key, 32, SR_BUF_SECRET);
        SR_TRY(sr_secret_generate(spec, &key));
        return sr_blob_import_secret(m, label, name, SR_ORIGIN_GENERATED, key.data, key.len, acl, out_blob);
    }
    SR_AUTO_PKEY EVP_PKEY *key = NULL;
    SR_TRY(sr_pkey_generate(spec, &key));
    return sr_vault_blob_seal(m, label, name, SR_ORIGIN_GENERATED, acl, key, out_blob, NULL);
}

enum sr_err sr_blob_import_jwk(const struct sr_module *m, const char *label, const char *name, const json_t *jwk,
                               unsigned acl, struct sr_buf *out_blob, struct sr_key_spec *ret_spec)
{
    SR_AUTO_PKEY EVP_PKEY *key = NULL;
    SR_TRY(sr_jwk_private_to_pkey(jwk, &key));
    struct sr_key_spec spec;
    SR_TRY(sr_pkey_describe(key, &spec));
    SR_ENSURE(spec.type == SR_KEY_EC || spec.bits == 2048 || spec.bits == 3072 || spec.bits == 4096,
              SR_ERR_KEY_TYPE);
    return sr_vault_blob_seal(m, label, name, SR_ORIGIN_IMPORTED, acl, key, out_blob, ret_spec);
}

enum sr_err sr_keyfile_info(const struct sr_module *m, const char *app, const uint8_t *bytes, size_t len,
                            struct sr_key_info *ret)
{
    SR_AUTO_CONTAINER struct sr_container c = {0};
    SR_TRY(sr_blob_parse(bytes, len, &c));
    return sr_key_open_container(m, &c, app, NULL, ret, NULL, NULL);
}

enum sr_err sr_blob_info(const struct sr_module *m, const uint8_t *blob, size_t len, struct sr_key_info *ret)
{
    return sr_keyfile_info(m, "vault", blob, len, ret);
}

/* Whether the blob's header declares a secret (AES) key: its type field alone, no key decoded. */
static bool sr_blob_is_secret(const uint8_t *blob, size_t len)
{
    SR_AUTO_CONTAINER struct sr_container c = {0};
    const char *type = NULL;
    return sr_blob_parse(blob, len, &c) == SR_OK && sr_json_str(c.header, "type", SR_ERR_KEYFILE_FORMAT, &type) == SR_OK &&
           (strcmp(type, "AES") == 0 || strcmp(type, sr_key_type_name(SR_KEY_GENERIC)) == 0);
}

enum sr_err sr_blob_spec(const uint8_t *blob, size_t len, struct sr_key_spec *ret)
{
    SR_AUTO_CONTAINER struct sr_container c = {0};
    SR_TRY(sr_blob_parse(blob, len, &c));
    struct sr_key_info info;
    SR_AUTO_PKEY EVP_PKEY *pub = NULL;
    SR_TRY(sr_key_parse_header(c.header, &info, &pub));
    *ret = info.spec;
    return SR_OK;
}

enum sr_err sr_blob_symmetric(const struct sr_module *m, const uint8_t *blob, size_t len, enum sr_acl_action action,
                              const struct sr_sym_alg *alg, const struct sr_sym_input *in, struct sr_buf *out,
                              struct sr_sym_extra *extra)
{
    return sr_keyfile_symmetric(m, "vault", blob, len, action, alg, in, out, extra);
}

/* A key file's secret key (AES or generic) of type, into key (SR_BUF_SECRET), if its ACL has action
 * (SR_ACL_NONE: no permission asked). */
static enum sr_err sr_keyfile_secret(const struct sr_module *m, const char *app, const uint8_t *bytes, size_t len,
                                     enum sr_key_type type, enum sr_acl_action action, struct sr_buf *key)
{
    SR_AUTO_CONTAINER struct sr_container c = {0};
    SR_TRY(sr_blob_parse(bytes, len, &c));
    struct sr_key_info info;
    SR_TRY(sr_key_open_any(m, &c, app, NULL, &info, NULL, NULL, key));
    SR_ENSURE(type == SR_KEY_NONE ? sr_key_type_secret(info.spec.type) : info.spec.type == type, SR_ERR_KEY_TYPE);
    SR_ENSURE(action == SR_ACL_NONE || sr_acl_permits(&info.acl, action), SR_ERR_ACL_DENIED);
    return SR_OK;
}

enum sr_err sr_keyfile_symmetric(const struct sr_module *m, const char *app, const uint8_t *bytes, size_t len,
                                 enum sr_acl_action action, const struct sr_sym_alg *alg,
                                 const struct sr_sym_input *in, struct sr_buf *out, struct sr_sym_extra *extra)
{
    SR_AUTO_BUF struct sr_buf key = {0};
    sr_buf_init(&key, SR_GENERIC_MAX_BITS / 8, SR_BUF_SECRET);
    SR_TRY(sr_keyfile_secret(m, app, bytes, len, SR_KEY_AES, action, &key));
    bool encrypt = action == SR_ACL_ENCRYPT || action == SR_ACL_WRAP;
    return encrypt ? sr_sym_encrypt(alg, key.data, key.len, in, out, extra)
                   : sr_sym_decrypt(alg, key.data, key.len, in, out);
}

enum sr_err sr_keyfile_mac(const struct sr_module *m, const char *app, const uint8_t *bytes, size_t len,
                           enum sr_acl_action action, enum sr_mac_alg alg, const uint8_t *data, size_t n,
                           struct sr_buf *out)
{
    SR_AUTO_BUF struct sr_buf key = {0};
    sr_buf_init(&key, SR_GENERIC_MAX_BITS / 8, SR_BUF_SECRET);
    SR_TRY(sr_keyfile_secret(m, app, bytes, len, alg == SR_MAC_CMAC_AES ? SR_KEY_AES : SR_KEY_GENERIC, action, &key));
    return sr_mac(alg, key.data, key.len, data, n, out);
}

enum sr_err sr_keyfile_digest_key(const struct sr_module *m, const char *app, const uint8_t *bytes, size_t len,
                                  EVP_MD_CTX *digest)
{
    SR_AUTO_BUF struct sr_buf key = {0};
    sr_buf_init(&key, SR_GENERIC_MAX_BITS / 8, SR_BUF_SECRET);
    SR_TRY(sr_keyfile_secret(m, app, bytes, len, SR_KEY_NONE, SR_ACL_NONE, &key));
    return sr_digest_update(digest, key.data, key.len);
}

enum sr_err sr_keyfile_load_material(const struct sr_module *m, const char *app, const uint8_t *bytes, size_t len,
                                     struct sr_key_info *ret, struct sr_key_material *km)
{
    SR_AUTO_CONTAINER struct sr_container c = {0};
    SR_TRY(sr_blob_parse(bytes, len, &c));
    return sr_key_open_any(m, &c, app, NULL, ret, NULL, &km->priv, &km->secret);
}

enum sr_err sr_blob_public(const uint8_t *blob, size_t len, EVP_PKEY **ret)
{
    SR_AUTO_CONTAINER struct sr_container c = {0};
    SR_TRY(sr_blob_parse(blob, len, &c));
    struct sr_key_info info;
    SR_TRY(sr_key_parse_header(c.header, &info, ret));
    SR_ENSURE(!sr_key_type_secret(info.spec.type), SR_ERR_KEY_TYPE);
    return SR_OK;
}

enum sr_err sr_module_blob_public(const struct sr_module *m, const uint8_t *blob, size_t len, EVP_PKEY **ret)
{
    uint8_t id[SR_HASH_LEN];
    SR_TRY(sr_sha256(blob, len, id));
    unsigned unused = 0;
    if (!sr_keycache_get(m->pubcache, id, ret, &unused)) {
        SR_TRY(sr_blob_public(blob, len, ret));
        sr_keycache_put(m->pubcache, id, *ret, 0);
    }
    return SR_OK;
}

enum sr_err sr_module_blob_jwk(const struct sr_module *m, const uint8_t *blob, size_t len, json_t **ret)
{
    uint8_t id[SR_HASH_LEN];
    SR_TRY(sr_sha256(blob, len, id));
    if (sr_keycache_get_jwk(m->pubcache, id, ret)) {
        return SR_OK;
    }
    SR_AUTO_JSON json_t *jwk = json_object();
    SR_ENSURE(jwk != NULL, SR_ERR_NOMEM);
    if (!sr_blob_is_secret(blob, len)) { /* a secret key shows no key material at all */
        SR_AUTO_PKEY EVP_PKEY *pub = NULL;
        SR_TRY(sr_module_blob_public(m, blob, len, &pub));
        SR_TRY(sr_jwk_set_public(jwk, pub));
    }
    sr_keycache_set_jwk(m->pubcache, id, jwk);
    *ret = SR_TAKE(jwk);
    return SR_OK;
}

/*
 * The cache key of a key container's bytes opened as (app, ident): a vault blob's is the SHA-256 of its bytes
 * (the public cache uses the same); any other's also binds the names it was opened under, so bytes opened
 * under one name are never served under another.
 */
static enum sr_err sr_key_cache_id(const char *app, const char *ident, const uint8_t *bytes, size_t len,
                                   uint8_t id[SR_HASH_LEN])
{
    SR_TRY(sr_sha256(bytes, len, id));
    if (strcmp(app, "vault") == 0 && ident == NULL) {
        return SR_OK;
    }
    char named[SR_HASH_LEN + 2 * 64 + 2];
    size_t alen = strnlen(app, 64), ilen = ident ? strnlen(ident, 64) : 0;
    SR_ENSURE(alen < 64 && ilen < 64, SR_ERR_TOO_LARGE); /* never cut: cut names could meet */
    memcpy(named, id, SR_HASH_LEN);
    memcpy(named + SR_HASH_LEN, app, alen);
    named[SR_HASH_LEN + alen] = 0;
    memcpy(named + SR_HASH_LEN + alen + 1, ident ? ident : "", ilen);
    return sr_sha256(named, SR_HASH_LEN + alen + 1 + ilen, id);
}

enum sr_err sr_key_private_cached(const struct sr_module *m, const char *app, const char *ident,
                                  const uint8_t *bytes, size_t len, enum sr_acl_action need,
                                  uint8_t id[SR_HASH_LEN], EVP_PKEY **ret)
{
    SR_TRY(sr_key_cache_id(app, ident, bytes, len, id));
    struct sr_key_info info = {0};
    if (!sr_keycache_get(m->cache, id, ret, &info.acl.actions)) {
        SR_AUTO_CONTAINER struct sr_container c = {0};
        SR_TRY(sr_blob_parse(bytes, len, &c));
        SR_TRY(sr_key_open_container(m, &c, app, ident, &info, NULL, ret));
        sr_keycache_put(m->cache, id, *ret, info.acl.actions);
    }
    if (!sr_acl_permits(&info.acl, need)) {
        EVP_PKEY_free(*ret);
        *ret = NULL;
        return SR_ERR_ACL_DENIED;
    }
    return SR_OK;
}

enum sr_err sr_key_read_cached(const struct sr_module *m, const char *app, const char *ident, enum sr_acl_action need,
                               EVP_PKEY **ret)
{
    char path[SR_PATH_MAX];
    SR_TRY(sr_key_path(m, app, ident, path, sizeof(path)));
    SR_AUTO_BUF struct sr_buf file = {0};
    sr_buf_init(&file, SR_MAX_FILE, SR_BUF_PLAIN);
    enum sr_err r = sr_file_read(path, &file);
    SR_ENSURE(r != SR_ERR_TOO_LARGE, SR_ERR_KEYFILE_TAMPERED);
    SR_TRY(r);
    uint8_t id[SR_HASH_LEN];
    return sr_key_private_cached(m, app, ident, file.data, file.len, need, id, ret);
}

enum sr_err sr_blob_sign_digest(const struct sr_module *m, const uint8_t *blob, size_t len, enum sr_sign_alg alg,
                                const uint8_t *digest, size_t dlen, struct sr_buf *out_sig)
{
    return sr_keyfile_sign_digest(m, "vault", blob, len, alg, digest, dlen, out_sig);
}

enum sr_err sr_keyfile_sign_digest(const struct sr_module *m, const char *app, const uint8_t *bytes, size_t len,
                                   enum sr_sign_alg alg, const uint8_t *digest, size_t dlen, struct sr_buf *out_sig)
{
    uint8_t id[SR_HASH_LEN];
    SR_AUTO_PKEY EVP_PKEY *key = NULL;
    SR_TRY(sr_key_private_cached(m, app, NULL, bytes, len, SR_ACL_SIGN, id, &key));
    EVP_PKEY_CTX *ctx = sr_keycache_take_ctx(m->cache, id, (int)alg);
    if (ctx == NULL) {
        SR_TRY(sr_pkey_sign_ctx(key, alg, &ctx));
    }
    enum sr_err r = sr_pkey_sign_prepared(ctx, alg, digest, dlen, SR_SIG_RAW, out_sig);
    if (r == SR_OK) {
        sr_keycache_give_ctx(m->cache, id, (int)alg, ctx);
    } else {
        EVP_PKEY_CTX_free(ctx); /* its state after a failure is not worth trusting */
    }
    return r;
}

enum sr_err sr_blob_decrypt(const struct sr_module *m, const uint8_t *blob, size_t len, enum sr_acl_action action,
                            enum sr_enc_alg alg, const uint8_t *ct, size_t ctlen, struct sr_buf *out)
{
    return sr_keyfile_decrypt(m, "vault", blob, len, action, alg, ct, ctlen, out);
}

enum sr_err sr_keyfile_decrypt(const struct sr_module *m, const char *app, const uint8_t *bytes, size_t len,
                               enum sr_acl_action action, enum sr_enc_alg alg, const uint8_t *ct, size_t ctlen,
                               struct sr_buf *out)
{
    SR_ENSURE(action == SR_ACL_DECRYPT || action == SR_ACL_UNWRAP, SR_ERR_INTERNAL);
    uint8_t id[SR_HASH_LEN];
    SR_AUTO_PKEY EVP_PKEY *key = NULL;
    SR_TRY(sr_key_private_cached(m, app, NULL, bytes, len, action, id, &key));
    return sr_pkey_decrypt(key, alg, ct, ctlen, out);
}

enum sr_err sr_keyfile_sign_unhashed(const struct sr_module *m, const char *app, const uint8_t *bytes, size_t len,
                                     const uint8_t *in, size_t n, struct sr_buf *out_sig)
{
    uint8_t id[SR_HASH_LEN];
    SR_AUTO_PKEY EVP_PKEY *key = NULL;
    SR_TRY(sr_key_private_cached(m, app, NULL, bytes, len, SR_ACL_SIGN, id, &key));
    return sr_pkey_sign_unhashed(key, in, n, out_sig);
}

enum sr_err sr_module_seal_backup(const struct sr_module *m, const json_t *header, const uint8_t *pt, size_t len,
                                  struct sr_buf *out)
{
    SR_ENSURE(m->km != NULL, SR_ERR_NO_WORLD);
    return sr_seal_build(m->km, SR_PURPOSE_BACKUP, SR_MAGIC_BACKUP, header, pt, len, out);
}

enum sr_err sr_module_open_backup(const struct sr_module *m, const uint8_t *blob, size_t len, struct sr_buf *out)
{
    SR_ENSURE(m->km != NULL, SR_ERR_NO_WORLD);
    SR_AUTO_CONTAINER struct sr_container c = {0};
    SR_TRY(sr_container_parse(blob, len, SR_MAGIC_BACKUP, SR_ERR_BACKUP, &c));
    enum sr_err r = sr_seal_open(m->km, SR_PURPOSE_BACKUP, &c, out);
    return r == SR_ERR_AUTH_FAILED ? SR_ERR_BACKUP : r;
}

static enum sr_err sr_value_key(const struct sr_module *m, uint8_t key[32])
{
    SR_ENSURE(m->km != NULL, SR_ERR_NO_WORLD);
    return sr_hkdf_sha256(m->km, 32, SR_PURPOSE_VALUE, key, 32);
}

enum sr_err sr_module_seal_value(const struct sr_module *m, const uint8_t *aad, size_t aadlen, const uint8_t *pt,
                                 size_t len, struct sr_buf *out)
{
    uint8_t key[32];
    SR_TRY(sr_value_key(m, key));
    enum sr_err r = sr_buf_append(out, SR_MAGIC_VALUE, strlen(SR_MAGIC_VALUE));
    if (r == SR_OK) {
        r = sr_aead_seal(key, aad, aadlen, pt, len, out);
    }
    OPENSSL_cleanse(key, sizeof(key));
    return r;
}

enum sr_err sr_module_open_value(const struct sr_module *m, const uint8_t *aad, size_t aadlen, const uint8_t *blob,
                                 size_t len, struct sr_buf *out)
{
    size_t magic = strlen(SR_MAGIC_VALUE);
    SR_ENSURE(len > magic && memcmp(blob, SR_MAGIC_VALUE, magic) == 0, SR_ERR_AUTH_FAILED);
    uint8_t key[32];
    SR_TRY(sr_value_key(m, key));
    enum sr_err r = sr_aead_open(key, aad, aadlen, blob + magic, len - magic, out);
    OPENSSL_cleanse(key, sizeof(key));
    return r;
}

enum sr_err sr_key_read_const(const struct sr_module *m, const char *app, const char *ident, struct sr_key_info *ret,
                              EVP_PKEY **ret_priv)
{
    char path[SR_PATH_MAX];
    SR_TRY(sr_key_path(m, app, ident, path, sizeof(path)));
    SR_AUTO_CONTAINER struct sr_container c = {0};
    SR_TRY(sr_container_read(path, SR_MAGIC_KEY, SR_ERR_KEYFILE_TAMPERED, &c));
    return sr_key_open_container(m, &c, app, ident, ret, NULL, ret_priv);
}

enum sr_err sr_keyfile_derive_ecdh(struct sr_module *m, const char *app, const uint8_t *bytes, size_t len,
                                   EVP_PKEY *peer, const struct sr_keygen_params *params, struct sr_key_info *ret)
{
    char path[SR_PATH_MAX];
    const char *plainname = NULL;
    SR_TRY(sr_key_target(m, params, path, &plainname));
    uint8_t id[SR_HASH_LEN];
    SR_AUTO_PKEY EVP_PKEY *priv = NULL;
    SR_TRY(sr_key_private_cached(m, app, NULL, bytes, len, SR_ACL_DERIVE, id, &priv));
    SR_AUTO(sr_key_material_release) struct sr_key_material km = {0};
    sr_buf_init(&km.secret, SR_GENERIC_MAX_BITS / 8, SR_BUF_SECRET);
    SR_TRY(sr_pkey_ecdh(priv, peer, &km.secret));
    /* CKD_NULL: the shared secret is the key, whole (no truncation: which end to keep is where tokens differ). */
    struct sr_key_info info = {.spec = params->spec};
    info.spec.bits = info.spec.bits != 0 ? info.spec.bits : (unsigned)km.secret.len * 8;
    SR_ENSURE(info.spec.bits == km.secret.len * 8 && sr_secret_size_ok(&info.spec), SR_ERR_KEY_TYPE);
    info.acl.actions = params->acl;
    SR_TRY(sr_key_file_make(m, params, path, plainname, SR_ORIGIN_DERIVED, &info, &km));
    *ret = info;
    return SR_OK;
}
