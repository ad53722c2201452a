/*
 * keys.c - a key's life in a vault: create, get, list, update, delete, recover, purge, backup, restore,
 * rotate and its rotation policy; and what every key operation shares (loading the request's key, checking
 * it is usable, the key bundle). Cryptographic operations are in keyops.c, transfer in (import, BYOK) in
 * import.c. Each sr_op_* gets an authorised request and returns the response body.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/json.h"
#include "base/text.h"
#include "crypto/crypto.h"
#include "crypto/jwk.h"
#include "crypto/ossl.h"
#include "hsm/blob.h"
#include "vault/internal.h"

#define SR_RECOVERY_LEVEL "Recoverable+Purgeable"
#define SR_MAX_TAGS 15

struct sr_kop_name {
    enum sr_key_op op;
    const char *name;
};

static const struct sr_kop_name sr_kops[] = {
    {SR_KOP_ENCRYPT, "encrypt"}, {SR_KOP_DECRYPT, "decrypt"},   {SR_KOP_SIGN, "sign"},
    {SR_KOP_VERIFY, "verify"},   {SR_KOP_WRAP, "wrapKey"},      {SR_KOP_UNWRAP, "unwrapKey"},
    {SR_KOP_IMPORT, "import"},
};

#define SR_KOPS_RSA (SR_KOP_ENCRYPT | SR_KOP_DECRYPT | SR_KOP_SIGN | SR_KOP_VERIFY | SR_KOP_WRAP | SR_KOP_UNWRAP)
#define SR_KOPS_EC (SR_KOP_SIGN | SR_KOP_VERIFY)
#define SR_KOPS_OCT (SR_KOP_ENCRYPT | SR_KOP_DECRYPT | SR_KOP_WRAP | SR_KOP_UNWRAP)


enum sr_err sr_req_bad(struct sr_request *req, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(req->detail, sizeof(req->detail), fmt, ap);
    va_end(ap);
    return SR_ERR_BAD_PARAM;
}

enum sr_err sr_key_name_check(const struct sr_request *req)
{
    const char *n = req->name;
    size_t len = n ? strlen(n) : 0;
    SR_ENSURE(len >= 1 && len <= SR_MAX_NAME, SR_ERR_KEY_NAME);
    for (size_t i = 0; i < len; i++) {
        char c = n[i];
        SR_ENSURE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-',
                  SR_ERR_KEY_NAME);
    }
    return SR_OK;
}

enum sr_err sr_key_ops_parse(struct sr_request *req, const json_t *arr, unsigned allowed, unsigned *ret)
{
    SR_ENSURE(json_is_array(arr), sr_req_bad(req, "key_ops must be an array of strings"));
    unsigned ops = 0;
    size_t i;
    const json_t *v;
    json_array_foreach(arr, i, v) {
        const char *s = json_string_value(v);
        SR_ENSURE(s != NULL, sr_req_bad(req, "key_ops must be an array of strings"));
        unsigned bit = 0;
        for (size_t k = 0; k < SR_ARRAY_LEN(sr_kops); k++) {
            bit = strcmp(s, sr_kops[k].name) == 0 ? sr_kops[k].op : bit;
        }
        SR_ENSURE(bit != 0 && (bit & allowed), sr_req_bad(req, "key operation '%s' is unknown or not possible for this key type", s));
        ops |= bit;
    }
    *ret = ops;
    return SR_OK;
}

static enum sr_err sr_kops_json(unsigned ops, json_t **ret)
{
    json_t *arr = json_array();
    SR_ENSURE(arr != NULL, SR_ERR_NOMEM);
    for (size_t k = 0; k < SR_ARRAY_LEN(sr_kops); k++) {
        if (ops & sr_kops[k].op) {
            json_array_append_new(arr, json_string(sr_kops[k].name));
        }
    }
    *ret = arr;
    return SR_OK;
}

static enum sr_err sr_get_int(struct sr_request *req, const json_t *obj, const char *key, long long *ret)
{
    const json_t *v = json_object_get(obj, key);
    if (v == NULL) {
        return SR_OK;
    }
    if (json_is_null(v)) {
        *ret = 0; /* null clears it, as in Key Vault's PATCH */
        return SR_OK;
    }
    SR_ENSURE(json_is_integer(v) && json_integer_value(v) >= 0, sr_req_bad(req, "attributes.%s must be Unix seconds", key));
    *ret = (long long)json_integer_value(v);
    return SR_OK;
}

enum sr_err sr_key_attrs_parse(struct sr_request *req, const json_t *attrs, struct sr_key_row *k)
{
    if (attrs == NULL || json_is_null(attrs)) {
        return SR_OK;
    }
    SR_ENSURE(json_is_object(attrs), sr_req_bad(req, "attributes must be an object"));
    const json_t *en = json_object_get(attrs, "enabled");
    if (en != NULL && !json_is_null(en)) {
        SR_ENSURE(json_is_boolean(en), sr_req_bad(req, "attributes.enabled must be true or false"));
        k->enabled = json_is_true(en);
    }
    SR_TRY(sr_get_int(req, attrs, "nbf", &k->nbf));
    SR_TRY(sr_get_int(req, attrs, "exp", &k->exp));
    return SR_OK;
}

enum sr_err sr_key_tags_parse(struct sr_request *req, const json_t *tags, struct sr_key_row *k)
{
    if (tags == NULL || json_is_null(tags)) {
        return SR_OK;
    }
    SR_ENSURE(json_is_object(tags) && json_object_size(tags) <= SR_MAX_TAGS,
              sr_req_bad(req, "tags must be an object of at most 15 string values"));
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)tags, key, v) {
        SR_ENSURE(json_is_string(v) && strlen(key) <= 512 && json_string_length(v) <= 512,
                  sr_req_bad(req, "tag '%s' must be a string of at most 512 characters", key));
    }
    if (k->tags != NULL) {
        json_decref(k->tags);
    }
    k->tags = json_deep_copy(tags);
    SR_ENSURE(k->tags != NULL, SR_ERR_NOMEM);
    return SR_OK;
}

/* A new reference to the key's tags (an empty object when it has none), for "o" in json_pack. */
static json_t *sr_tags_ref(const struct sr_key_row *k)
{
    return k->tags ? json_incref(k->tags) : json_object();
}

enum sr_err sr_key_kid(const struct sr_request *req, const char *name, const char *version, char *out,
                       size_t cap)
{
    int n = version ? snprintf(out, cap, "%s/keys/%s/%s", req->base_url, name, version)
                    : snprintf(out, cap, "%s/keys/%s", req->base_url, name);
    SR_ENSURE(n > 0 && (size_t)n < cap, SR_ERR_TOO_LARGE);
    return SR_OK;
}

enum sr_err sr_row_attrs_json(const struct sr_key_row *k, bool key, json_t **ret)
{
    json_t *a = json_pack("{s:b,s:I,s:I,s:s,s:i}", "enabled", k->enabled, "created", (json_int_t)k->created,
                          "updated", (json_int_t)k->updated, "recoveryLevel", SR_RECOVERY_LEVEL, "recoverableDays",
                          SR_RETENTION_DAYS);
    SR_ENSURE(a != NULL, SR_ERR_NOMEM);
    if (key) {
        json_object_set_new(a, "exportable", json_boolean(k->release_policy != NULL));
    }
    if (k->nbf) {
        json_object_set_new(a, "nbf", json_integer(k->nbf));
    }
    if (k->exp) {
        json_object_set_new(a, "exp", json_integer(k->exp));
    }
    *ret = a;
    return SR_OK;
}

enum sr_err sr_row_deleted_fields(const struct sr_request *req, const char *collection, const struct sr_key_row *k,
                                  const struct sr_name_row *n, json_t *obj)
{
    if (n == NULL || n->deleted == 0) {
        return SR_OK;
    }
    char rid[1024];
    int len = snprintf(rid, sizeof(rid), "%s/%s/%s", req->base_url, collection, k->name);
    SR_ENSURE(len > 0 && (size_t)len < sizeof(rid), SR_ERR_TOO_LARGE);
    json_object_set_new(obj, "recoveryId", json_string(rid));
    json_object_set_new(obj, "deletedDate", json_integer(n->deleted));
    json_object_set_new(obj, "scheduledPurgeDate", json_integer(n->purge_at));
    return SR_OK;
}

/* The key's public half, decoded once per blob by the region's module. */
enum sr_err sr_key_row_public(struct sr_vault_svc *svc, const struct sr_request *req, const struct sr_key_row *k,
                              EVP_PKEY **ret)
{
    const struct sr_hsm *m = NULL;
    SR_TRY(sr_svc_region_hsm(svc, req->vault.region, &m));
    return sr_hsm_public(m, k->blob.data, k->blob.len, ret);
}

/* KeyBundle (and DeletedKeyBundle when n says deleted): public JWK, attributes, tags. */
enum sr_err sr_key_bundle(struct sr_vault_svc *svc, const struct sr_request *req, const struct sr_key_row *k,
                          const struct sr_name_row *n, json_t **ret)
{
    const struct sr_hsm *m = NULL;
    SR_TRY(sr_svc_region_hsm(svc, req->vault.region, &m));
    SR_AUTO_JSON json_t *members = NULL;
    SR_TRY(sr_hsm_jwk(m, k->blob.data, k->blob.len, &members));
    char kid[1024];
    SR_TRY(sr_key_kid(req, k->name, k->version, kid, sizeof(kid)));
    json_t *ops = NULL;
    SR_TRY(sr_kops_json(k->key_ops, &ops));
    SR_AUTO_JSON json_t *jwk = json_pack("{s:s,s:s,s:o}", "kid", kid, "kty", k->kty, "key_ops", ops);
    SR_ENSURE(jwk != NULL && json_object_update(jwk, members) == 0, SR_ERR_NOMEM);
    json_t *attrs = NULL;
    SR_TRY(sr_row_attrs_json(k, true, &attrs));
    SR_AUTO_JSON json_t *b = json_pack("{s:O,s:o,s:o}", "key", jwk, "attributes", attrs, "tags", sr_tags_ref(k));
    SR_ENSURE(b != NULL, SR_ERR_NOMEM);
    if (k->release_policy != NULL) {
        SR_ENSURE(json_object_set(b, "release_policy", k->release_policy) == 0, SR_ERR_NOMEM);
    }
    SR_TRY(sr_row_deleted_fields(req, "deletedkeys", k, n, b));
    *ret = SR_TAKE(b);
    return SR_OK;
}

/* KeyItem for lists: kid (with version only when listing versions), attributes, tags. */
static enum sr_err sr_key_item(const struct sr_request *req, const struct sr_key_row *k, const struct sr_name_row *n,
                               bool with_version, json_t **ret)
{
    char kid[1024];
    SR_TRY(sr_key_kid(req, k->name, with_version ? k->version : NULL, kid, sizeof(kid)));
    json_t *attrs = NULL;
    SR_TRY(sr_row_attrs_json(k, true, &attrs));
    SR_AUTO_JSON json_t *item = json_pack("{s:s,s:o,s:o}", "kid", kid, "attributes", attrs, "tags", sr_tags_ref(k));
    SR_ENSURE(item != NULL, SR_ERR_NOMEM);
    SR_TRY(sr_row_deleted_fields(req, "deletedkeys", k, n, item));
    *ret = SR_TAKE(item);
    return SR_OK;
}

enum sr_err sr_key_new_version(char out[SR_VERSION_LEN + 1])
{
    uint8_t raw[SR_VERSION_LEN / 2];
    SR_TRY(sr_rand_bytes(raw, sizeof(raw)));
    sr_hex_encode(raw, sizeof(raw), out);
    return SR_OK;
}

void sr_key_row_init(const struct sr_request *req, struct sr_key_row *k)
{
    memset(k, 0, sizeof(*k));
    snprintf(k->vault, sizeof(k->vault), "%s", req->vault.name);
    snprintf(k->name, sizeof(k->name), "%s", req->name);
    k->enabled = true;
    k->created = k->updated = (long long)time(NULL);
    sr_buf_init(&k->blob, SR_MAX_FILE, SR_BUF_PLAIN);
}


/* Stores a freshly made version and answers with its bundle. A new version of an existing name is normal. */
enum sr_err sr_key_insert_answer(struct sr_vault_svc *svc, struct sr_request *req, struct sr_key_row *k,
                                 json_t **ret)
{
    SR_TRY(sr_commit_key_insert(&req->commit, k));
    return sr_key_bundle(svc, req, k, NULL, ret);
}

/* The module's refusals of a key's type or size say them in generatekey's words; the API's are JWK's. */
enum sr_err sr_key_rest_words(struct sr_request *req, enum sr_err r)
{
    if (r == SR_ERR_KEY_TYPE) {
        return sr_req_bad(req, "the key must be kty RSA with a modulus (n) of 2048, 3072 or 4096 bits, or kty EC with "
                           "crv P-256, P-384, P-521 or P-256K");
    }
    if (r == SR_ERR_PUBEXP) {
        return sr_req_bad(req, "the RSA public exponent (e) must be odd and at least 65537");
    }
    return r;
}

static enum sr_err sr_spec_from_create(struct sr_request *req, const json_t *body, struct sr_key_spec *spec,
                                       const char **kty)
{
    const char *t = json_string_value(json_object_get(body, "kty"));
    SR_ENSURE(t != NULL, sr_req_bad(req, "kty is required: RSA, RSA-HSM, EC, EC-HSM, oct or oct-HSM"));
    memset(spec, 0, sizeof(*spec));
    if (strcmp(t, "RSA") == 0 || strcmp(t, "RSA-HSM") == 0) {
        const json_t *size = json_object_get(body, "key_size");
        const json_t *e = json_object_get(body, "public_exponent");
        spec->type = SR_KEY_RSA;
        spec->bits = size && !json_is_null(size) ? (unsigned)json_integer_value(size) : 2048;
        spec->pubexp = e && !json_is_null(e) ? (unsigned long)json_integer_value(e) : 65537;
        SR_ENSURE((size == NULL || json_is_null(size) || json_is_integer(size)) &&
                      (spec->bits == 2048 || spec->bits == 3072 || spec->bits == 4096),
                  sr_req_bad(req, "key_size must be 2048, 3072 or 4096 for kty RSA"));
        SR_ENSURE((e == NULL || json_is_null(e) || json_is_integer(e)) && spec->pubexp >= 65537 && (spec->pubexp & 1),
                  sr_req_bad(req, "public_exponent must be odd and at least 65537 (or absent: 65537)"));
        *kty = "RSA-HSM";
        return SR_OK;
    }
    if (strcmp(t, "EC") == 0 || strcmp(t, "EC-HSM") == 0) {
        const char *crv = json_string_value(json_object_get(body, "crv"));
        spec->type = SR_KEY_EC;
        SR_ENSURE(sr_curve_parse(crv ? crv : "P-256", &spec->curve) == SR_OK,
                  sr_req_bad(req, "crv must be P-256, P-384, P-521 or P-256K for kty EC"));
        *kty = "EC-HSM";
        return SR_OK;
    }
    if (strcmp(t, "oct") == 0 || strcmp(t, "oct-HSM") == 0) {
        const json_t *size = json_object_get(body, "key_size");
        spec->type = SR_KEY_AES;
        spec->bits = size && !json_is_null(size) ? (unsigned)json_integer_value(size) : 256;
        SR_ENSURE((size == NULL || json_is_null(size) || json_is_integer(size)) &&
                      (spec->bits == 128 || spec->bits == 192 || spec->bits == 256),
                  sr_req_bad(req, "key_size must be 128, 192 or 256 for kty oct-HSM"));
        *kty = "oct-HSM";
        return SR_OK;
    }
    return sr_req_bad(req, "kty '%s' is not supported: RSA, RSA-HSM, EC, EC-HSM, oct or oct-HSM", t);
}

/* A new version; release_policy, when not NULL, makes it exportable (a checked policy, as keys keep them). */
static enum sr_err sr_make_key(struct sr_vault_svc *svc, struct sr_request *req, const struct sr_key_spec *spec,
                               const char *kty, unsigned ops, const json_t *attrs, const json_t *tags,
                               json_t *release_policy, json_t **ret)
{
    const struct sr_hsm *m = NULL;
    SR_TRY(sr_svc_region_hsm(svc, req->vault.region, &m));
    SR_AUTO_ROW struct sr_key_row k = {0};
    sr_key_row_init(req, &k);
    snprintf(k.kty, sizeof(k.kty), "%s", kty);
    k.key_ops = ops;
    SR_TRY(sr_key_attrs_parse(req, attrs, &k));
    SR_TRY(sr_key_tags_parse(req, tags, &k));
    SR_TRY(sr_key_new_version(k.version));
    k.release_policy = release_policy != NULL ? json_incref(release_policy) : NULL;
    /* An import key's module ACL is Import alone: it can never decrypt, whatever key_ops later say. */
    unsigned acl = ops == SR_KOP_IMPORT ? SR_ACL_IMPORT : sr_key_acl(&k);
    SR_TRY(sr_hsm_generate(m, k.version, req->name, spec, acl, &k.blob));
    return sr_key_insert_answer(svc, req, &k, ret);
}

unsigned sr_key_default_ops(enum sr_key_type type)
{
    return type == SR_KEY_RSA ? SR_KOPS_RSA : type == SR_KEY_AES ? SR_KOPS_OCT : SR_KOPS_EC;
}

enum sr_err sr_op_key_create(struct sr_vault_svc *svc, struct sr_request *req, json_t **ret)
{
    SR_TRY(sr_key_name_check(req));
    struct sr_key_spec spec = {0};
    const char *kty = NULL;
    SR_TRY(sr_spec_from_create(req, req->body, &spec, &kty));
    unsigned ops = sr_key_default_ops(spec.type);
    const json_t *given = json_object_get(req->body, "key_ops");
    if (given != NULL && !json_is_null(given)) {
        unsigned allowed = sr_key_default_ops(spec.type) | (spec.type == SR_KEY_RSA ? SR_KOP_IMPORT : 0);
        SR_TRY(sr_key_ops_parse(req, given, allowed, &ops));
        /* = azure-keyvault.md §1.1: 'import' is mutually exclusive with all other key operations. */
        SR_ENSURE(!(ops & SR_KOP_IMPORT) || ops == SR_KOP_IMPORT,
                  sr_req_bad(req, "key_ops 'import' cannot be combined with any other operation"));
    }
    SR_AUTO_ROW struct sr_key_row release = {0};
    SR_TRY(sr_key_release_parse(req, req->body, &release));
    SR_ENSURE(release.release_policy == NULL || ops != SR_KOP_IMPORT,
              sr_req_bad(req, "an import key (key_ops 'import') cannot be exportable"));
    return sr_make_key(svc, req, &spec, kty, ops, json_object_get(req->body, "attributes"),
                       json_object_get(req->body, "tags"), release.release_policy, ret);
}

enum sr_err sr_key_usable(struct sr_request *req, const struct sr_key_row *k, unsigned kop)
{
    long long now = (long long)time(NULL);
    SR_ENSURE(k->enabled, SR_ERR_KEY_DISABLED);
    SR_ENSURE(k->nbf == 0 || now >= k->nbf, SR_ERR_KEY_NOT_YET_VALID);
    SR_ENSURE(k->exp == 0 || now < k->exp, SR_ERR_KEY_EXPIRED);
    for (size_t i = 0; i < SR_ARRAY_LEN(sr_kops); i++) {
        if (sr_kops[i].op == kop && !(k->key_ops & kop)) {
            snprintf(req->detail, sizeof(req->detail), "'%s' is not in key_ops", sr_kops[i].name);
            return SR_ERR_KEY_OP;
        }
    }
    return SR_OK;
}

enum sr_err sr_req_key(struct sr_vault_svc *svc, struct sr_request *req, bool deleted_ok,
                       struct sr_key_row *k, struct sr_name_row *n)
{
    SR_TRY(sr_key_name_check(req));
    enum sr_err r = svc->store->ops->key_get(svc->store, req->vault.name, req->name, req->version, deleted_ok, k, n);
    if (r == SR_ERR_NOT_FOUND) {
        snprintf(req->detail, sizeof(req->detail), "%s%s%s", req->name, req->version && *req->version ? "/" : "",
                 req->version ? req->version : "");
        return SR_ERR_KEY_NOT_FOUND;
    }
    return r;
}

enum sr_err sr_op_key_get(struct sr_vault_svc *svc, struct sr_request *req, json_t **ret)
{
    SR_AUTO_ROW struct sr_key_row k = {0};
    SR_TRY(sr_req_key(svc, req, false, &k, NULL));
    return sr_key_bundle(svc, req, &k, NULL, ret);
}

struct sr_list_ctx {
    const struct sr_request *req;
    sr_row_item_fn item;
    json_t *value;
    bool with_version;
    unsigned count;
};

static enum sr_err sr_list_add(void *ctx, const struct sr_key_row *k, const struct sr_name_row *n)
{
    struct sr_list_ctx *l = ctx;
    json_t *item = NULL;
    SR_TRY(l->item(l->req, k, n, l->with_version, &item));
    SR_ENSURE(json_array_append_new(l->value, item) == 0, SR_ERR_NOMEM);
    l->count++;
    return SR_OK;
}

/* Fetches one more row than the page holds: if it exists there is a next page. */
static enum sr_err sr_page(struct sr_request *req, const char *path, struct sr_list_ctx *l, json_t **ret)
{
    unsigned page = req->maxresults;
    json_t *next = json_null();
    if (l->count > page) {
        json_array_remove(l->value, page);
        char link[2048];
        int n = snprintf(link, sizeof(link), "%s%s?api-version=%s&$skiptoken=%u&maxresults=%u", req->base_url, path,
                         req->api_version, req->skip + page, page);
        SR_ENSURE(n > 0 && (size_t)n < sizeof(link), SR_ERR_TOO_LARGE);
        next = json_string(link);
    }
    *ret = json_pack("{s:o,s:o}", "value", l->value, "nextLink", next);
    l->value = NULL;
    SR_ENSURE(*ret != NULL, SR_ERR_NOMEM);
    return SR_OK;
}

enum sr_err sr_rows_list(struct sr_vault_svc *svc, struct sr_request *req, const char *space, bool deleted,
                         const char *path, sr_row_item_fn item, json_t **ret)
{
    struct sr_list_ctx l = {.req = req, .item = item, .value = json_array()};
    SR_ENSURE(l.value != NULL, SR_ERR_NOMEM);
    enum sr_err r = svc->store->ops->key_list(svc->store, space, deleted, req->skip, req->maxresults + 1, sr_list_add,
                                              &l);
    if (r == SR_OK) {
        r = sr_page(req, path, &l, ret);
    }
    json_decref(l.value);
    return r;
}

enum sr_err sr_rows_versions(struct sr_vault_svc *svc, struct sr_request *req, const char *space,
                             const char *collection, sr_row_item_fn item, json_t **ret)
{
    struct sr_list_ctx l = {.req = req, .item = item, .value = json_array(), .with_version = true};
    SR_ENSURE(l.value != NULL, SR_ERR_NOMEM);
    char path[512];
    snprintf(path, sizeof(path), "/%s/%s/versions", collection, req->name);
    enum sr_err r = svc->store->ops->key_versions(svc->store, space, req->name, req->skip, req->maxresults + 1,
                                                  sr_list_add, &l);
    if (r == SR_OK) {
        r = sr_page(req, path, &l, ret);
    }
    json_decref(l.value);
    return r;
}

enum sr_err sr_op_key_list(struct sr_vault_svc *svc, struct sr_request *req, json_t **ret)
{
    return sr_rows_list(svc, req, req->vault.name, false, "/keys", sr_key_item, ret);
}

enum sr_err sr_op_deleted_list(struct sr_vault_svc *svc, struct sr_request *req, json_t **ret)
{
    return sr_rows_list(svc, req, req->vault.name, true, "/deletedkeys", sr_key_item, ret);
}

enum sr_err sr_op_key_versions(struct sr_vault_svc *svc, struct sr_request *req, json_t **ret)
{
    SR_AUTO_ROW struct sr_key_row k = {0};
    SR_TRY(sr_req_key(svc, req, false, &k, NULL));
    return sr_rows_versions(svc, req, req->vault.name, "keys", sr_key_item, ret);
}

enum sr_err sr_op_key_update(struct sr_vault_svc *svc, struct sr_request *req, json_t **ret)
{
    SR_AUTO_ROW struct sr_key_row k = {0};
    SR_TRY(sr_req_key(svc, req, false, &k, NULL));
    const json_t *ops = json_object_get(req->body, "key_ops");
    if (ops != NULL && !json_is_null(ops)) {
        /* An import key stays one, and no other key becomes one: the module ACL would not follow. */
        unsigned allowed = k.key_ops == SR_KOP_IMPORT ? SR_KOP_IMPORT
                           : strncmp(k.kty, "RSA", 3) == 0 ? SR_KOPS_RSA
                           : strncmp(k.kty, "oct", 3) == 0 ? SR_KOPS_OCT : SR_KOPS_EC;
        SR_TRY(sr_key_ops_parse(req, ops, allowed, &k.key_ops));
    }
    SR_TRY(sr_key_release_update(req, req->body, &k));
    SR_TRY(sr_key_attrs_parse(req, json_object_get(req->body, "attributes"), &k));
    SR_TRY(sr_key_tags_parse(req, json_object_get(req->body, "tags"), &k));
    k.updated = (long long)time(NULL);
    SR_TRY(sr_commit_key_update(&req->commit, &k));
    return sr_key_bundle(svc, req, &k, NULL, ret);
}

enum sr_err sr_op_key_delete(struct sr_vault_svc *svc, struct sr_request *req, json_t **ret)
{
    SR_AUTO_ROW struct sr_key_row k = {0};
    req->version = NULL;
    SR_TRY(sr_req_key(svc, req, false, &k, NULL));
    struct sr_name_row n = {.deleted = (long long)time(NULL)};
    n.purge_at = n.deleted + SR_RETENTION_DAYS * 86400LL;
    SR_TRY(sr_commit_name_deleted(&req->commit, req->vault.name, k.name, n.deleted, n.purge_at));
    return sr_key_bundle(svc, req, &k, &n, ret);
}

static enum sr_err sr_load_deleted(struct sr_vault_svc *svc, struct sr_request *req, struct sr_key_row *k,
                                   struct sr_name_row *n)
{
    req->version = NULL;
    SR_TRY(sr_req_key(svc, req, true, k, n));
    if (n->deleted == 0) {
        sr_key_row_release(k);
        sr_name_row_release(n);
        snprintf(req->detail, sizeof(req->detail), "%s", req->name);
        return SR_ERR_NOT_DELETED;
    }
    return SR_OK;
}

enum sr_err sr_op_deleted_get(struct sr_vault_svc *svc, struct sr_request *req, json_t **ret)
{
    SR_AUTO_ROW struct sr_key_row k = {0};
    SR_AUTO_NAME struct sr_name_row n = {0};
    enum sr_err r = sr_load_deleted(svc, req, &k, &n);
    SR_ENSURE(r != SR_ERR_KEY_NOT_FOUND, SR_ERR_NOT_DELETED);
    SR_TRY(r);
    return sr_key_bundle(svc, req, &k, &n, ret);
}

enum sr_err sr_op_deleted_recover(struct sr_vault_svc *svc, struct sr_request *req, json_t **ret)
{
    SR_AUTO_ROW struct sr_key_row k = {0};
    SR_AUTO_NAME struct sr_name_row n = {0};
    enum sr_err r = sr_load_deleted(svc, req, &k, &n);
    SR_ENSURE(r != SR_ERR_KEY_NOT_FOUND, SR_ERR_NOT_DELETED);
    SR_TRY(r);
    SR_TRY(sr_commit_name_deleted(&req->commit, req->vault.name, k.name, 0, 0));
    return sr_key_bundle(svc, req, &k, NULL, ret);
}

static enum sr_err sr_purged_add(void *ctx, const struct sr_key_row *k, const struct sr_name_row *n)
{
    (void)n;
    SR_AUTO_BUF struct sr_buf b64 = {0};
    sr_buf_init(&b64, SR_MAX_FILE * 2, SR_BUF_PLAIN);
    SR_TRY(sr_b64url_encode(k->blob.data, k->blob.len, &b64));
    SR_ENSURE(json_array_append_new(ctx, json_string((const char *)b64.data)) == 0, SR_ERR_NOMEM);
    return SR_OK;
}

enum sr_err sr_op_deleted_purge(struct sr_vault_svc *svc, struct sr_request *req, json_t **ret)
{
    SR_AUTO_ROW struct sr_key_row k = {0};
    SR_AUTO_NAME struct sr_name_row n = {0};
    enum sr_err r = sr_load_deleted(svc, req, &k, &n);
    SR_ENSURE(r != SR_ERR_KEY_NOT_FOUND, SR_ERR_NOT_DELETED);
    SR_TRY(r);
    const struct sr_hsm *h = NULL;
    SR_TRY(sr_svc_region_hsm(svc, req->vault.region, &h));
    if (sr_hsm_module(h) == NULL) { /* keys that are token objects: each version's, destroyed once durable */
        req->purged = json_array();
        SR_ENSURE(req->purged != NULL, SR_ERR_NOMEM);
        req->purged_in = h;
        SR_TRY(svc->store->ops->key_all_versions(svc->store, req->vault.name, k.name, sr_purged_add, req->purged));
    }
    SR_TRY(sr_commit_name_purge(&req->commit, req->vault.name, k.name));
    *ret = NULL; /* 204 */
    return SR_OK;
}

static enum sr_err sr_backup_add(void *ctx, const struct sr_key_row *k, const struct sr_name_row *n)
{
    (void)n;
    json_t *versions = ctx;
    SR_AUTO_BUF struct sr_buf blob = {0};
    sr_buf_init(&blob, SR_MAX_FILE * 2, SR_BUF_PLAIN);
    SR_TRY(sr_b64url_encode(k->blob.data, k->blob.len, &blob));
    json_t *v = json_pack("{s:s,s:s,s:i,s:b,s:I,s:I,s:I,s:I,s:o,s:s}", "version", k->version, "kty", k->kty,
                          "key_ops", (int)k->key_ops, "enabled", k->enabled, "nbf", (json_int_t)k->nbf, "exp",
                          (json_int_t)k->exp, "created", (json_int_t)k->created, "updated", (json_int_t)k->updated,
                          "tags", sr_tags_ref(k), "blob", (const char *)blob.data);
    SR_ENSURE(v != NULL && json_array_append_new(versions, v) == 0, SR_ERR_NOMEM);
    if (k->release_policy != NULL) {
        SR_ENSURE(json_object_set(v, "release_policy", k->release_policy) == 0, SR_ERR_NOMEM);
    }
    return SR_OK;
}

/* Frees a JSON text that may hold secret values, wiped first. */
static void sr_text_wipe_free(char *text)
{
    if (text != NULL) {
        OPENSSL_cleanse(text, strlen(text));
        free(text);
    }
}

enum sr_err sr_backup_seal(struct sr_vault_svc *svc, const struct sr_request *req, const json_t *content,
                           const char *kind, json_t **ret)
{
    const struct sr_hsm *m = NULL;
    SR_TRY(sr_svc_region_hsm(svc, req->vault.region, &m));
    SR_AUTO_JSON json_t *header = json_pack("{s:i,s:s}", "version", 1, "region", req->vault.region);
    SR_ENSURE(header != NULL && (kind == NULL || json_object_set_new(header, "kind", json_string(kind)) == 0),
              SR_ERR_NOMEM);
    char *text = json_dumps(content, JSON_COMPACT);
    SR_ENSURE(text != NULL, SR_ERR_NOMEM);
    SR_AUTO_BUF struct sr_buf sealed = {0};
    SR_AUTO_BUF struct sr_buf b64 = {0};
    sr_buf_init(&sealed, SR_MAX_FILE, SR_BUF_PLAIN);
    sr_buf_init(&b64, SR_MAX_FILE * 2, SR_BUF_PLAIN);
    enum sr_err r = sr_hsm_seal_backup(m, header, (const uint8_t *)text, strlen(text), &sealed);
    sr_text_wipe_free(text);
    SR_TRY(r);
    SR_TRY(sr_b64url_encode(sealed.data, sealed.len, &b64));
    *ret = json_pack("{s:s}", "value", (const char *)b64.data);
    SR_ENSURE(*ret != NULL, SR_ERR_NOMEM);
    return SR_OK;
}

enum sr_err sr_backup_open(struct sr_vault_svc *svc, struct sr_request *req, const char *kind, json_t **ret_content,
                           const json_t **ret_versions)
{
    const char *value = json_string_value(json_object_get(req->body, "value"));
    SR_ENSURE(value != NULL, sr_req_bad(req, "'value' (the backup blob) is required"));
    const struct sr_hsm *m = NULL;
    SR_TRY(sr_svc_region_hsm(svc, req->vault.region, &m));
    SR_AUTO_BUF struct sr_buf sealed = {0};
    SR_AUTO_BUF struct sr_buf plain = {0};
    sr_buf_init(&sealed, SR_MAX_FILE, SR_BUF_PLAIN);
    sr_buf_init(&plain, SR_MAX_FILE, SR_BUF_SECRET);
    SR_ENSURE(sr_b64url_decode(value, &sealed) == SR_OK, SR_ERR_BACKUP);
    SR_TRY(sr_hsm_open_backup(m, sealed.data, sealed.len, &plain));
    SR_AUTO_JSON json_t *content = json_loadb((const char *)plain.data, plain.len, 0, NULL);
    /* As Key Vault: a backup restores only into a vault of its own subscription (and region, by its seal). */
    const char *subscription = json_string_value(json_object_get(content, "subscription"));
    SR_ENSURE(subscription != NULL, SR_ERR_BACKUP_UNBOUND);
    SR_ENSURE(strcmp(subscription, req->vault.subscription) == 0, SR_ERR_BACKUP_SUBSCRIPTION);
    /* Keys' and secrets' backups are sealed by the same region key: each restores only as what it was. */
    const char *got = json_string_value(json_object_get(content, "kind"));
    const char *name = json_string_value(json_object_get(content, "name"));
    const json_t *versions = json_object_get(content, "versions");
    SR_ENSURE((kind == NULL ? json_object_get(content, "kind") == NULL : got != NULL && strcmp(got, kind) == 0) &&
                  name != NULL && json_is_array(versions) && json_array_size(versions) > 0,
              SR_ERR_BACKUP);
    snprintf(req->name_buf, sizeof(req->name_buf), "%s", name);
    req->name = req->name_buf; /* outlives content: the audit entry names it */
    req->version = NULL;
    *ret_versions = versions;
    *ret_content = SR_TAKE(content);
    return SR_OK;
}

enum sr_err sr_op_key_backup(struct sr_vault_svc *svc, struct sr_request *req, json_t **ret)
{
    SR_AUTO_ROW struct sr_key_row k = {0};
    req->version = NULL;
    SR_TRY(sr_req_key(svc, req, false, &k, NULL));
    SR_AUTO_JSON json_t *versions = json_array();
    SR_ENSURE(versions != NULL, SR_ERR_NOMEM);
    SR_TRY(svc->store->ops->key_all_versions(svc->store, req->vault.name, k.name, sr_backup_add, versions));
    /* Sealed with the key's versions, so authenticated as they are: the subscription the backup restores into. */
    SR_AUTO_JSON json_t *content = json_pack("{s:s,s:s,s:O}", "name", k.name, "subscription",
                                             req->vault.subscription, "versions", versions);
    SR_ENSURE(content != NULL, SR_ERR_NOMEM);
    return sr_backup_seal(svc, req, content, NULL, ret);
}

static enum sr_err sr_restore_version(struct sr_vault_svc *svc, struct sr_request *req, const json_t *v,
                                      json_t **ret)
{
    SR_AUTO_ROW struct sr_key_row k = {0};
    sr_key_row_init(req, &k);
    const char *version = NULL, *kty = NULL, *blob = NULL;
    json_t *tags = NULL;
    json_int_t ops = 0, nbf = 0, exp = 0, created = 0, updated = 0;
    int enabled = 0;
    SR_ENSURE(json_unpack((json_t *)v, "{s:s,s:s,s:I,s:b,s:I,s:I,s:I,s:I,s:o,s:s}", "version", &version, "kty", &kty, "key_ops",
                          &ops, "enabled", &enabled, "nbf", &nbf, "exp", &exp, "created", &created, "updated",
                          &updated, "tags", &tags, "blob", &blob) == 0 &&
                  strlen(version) == SR_VERSION_LEN && strlen(kty) < sizeof(k.kty),
              SR_ERR_BACKUP);
    snprintf(k.version, sizeof(k.version), "%s", version);
    snprintf(k.kty, sizeof(k.kty), "%s", kty);
    k.key_ops = (unsigned)ops;
    k.enabled = enabled != 0;
    k.nbf = nbf;
    k.exp = exp;
    k.created = created;
    k.updated = updated;
    k.tags = json_incref(tags);
    const json_t *release = json_object_get(v, "release_policy");
    SR_ENSURE(release == NULL || json_is_object(release), SR_ERR_BACKUP);
    k.release_policy = release != NULL ? json_incref((json_t *)release) : NULL;
    SR_ENSURE(sr_b64url_decode(blob, &k.blob) == SR_OK, SR_ERR_BACKUP);
    /* Every version lands in the one commit of the request: a restore is kept whole or not at all. */
    SR_TRY(sr_commit_key_insert(&req->commit, &k));
    if (*ret != NULL) {
        json_decref(*ret);
        *ret = NULL;
    }
    return sr_key_bundle(svc, req, &k, NULL, ret);
}

enum sr_err sr_op_key_restore(struct sr_vault_svc *svc, struct sr_request *req, json_t **ret)
{
    SR_AUTO_JSON json_t *content = NULL;
    const json_t *versions = NULL;
    SR_TRY(sr_backup_open(svc, req, NULL, &content, &versions));
    const char *name = req->name;
    SR_TRY(sr_key_name_check(req));
    SR_AUTO_ROW struct sr_key_row existing = {0};
    SR_AUTO_NAME struct sr_name_row en = {0};
    enum sr_err r = svc->store->ops->key_get(svc->store, req->vault.name, name, NULL, true, &existing, &en);
    if (r == SR_OK) {
        snprintf(req->detail, sizeof(req->detail), "key '%s' already exists in this vault", name);
        return SR_ERR_KEY_CONFLICT;
    }
    SR_ENSURE(r == SR_ERR_NOT_FOUND, r);
    size_t i;
    const json_t *v;
    json_array_foreach(versions, i, v) {
        SR_TRY(sr_restore_version(svc, req, v, ret));
    }
    return SR_OK;
}

enum sr_err sr_op_key_rotate(struct sr_vault_svc *svc, struct sr_request *req, json_t **ret)
{
    SR_AUTO_ROW struct sr_key_row k = {0};
    SR_AUTO_NAME struct sr_name_row n = {0};
    req->version = NULL;
    SR_TRY(sr_req_key(svc, req, false, &k, &n));
    const struct sr_hsm *m = NULL;
    SR_TRY(sr_svc_region_hsm(svc, req->vault.region, &m));
    struct sr_key_spec spec;
    SR_TRY(sr_hsm_spec(m, k.blob.data, k.blob.len, &spec));
    /* The new version expires as the policy's attributes.expiryTime says, counted from now. */
    long long exp = sr_policy_expiry(n.rotation_policy, (long long)time(NULL));
    SR_AUTO_JSON json_t *attrs = exp ? json_pack("{s:I}", "exp", (json_int_t)exp) : NULL;
    /* The new version keeps what the key is: its operations, tags, and whether (and how) it may be released. */
    return sr_make_key(svc, req, &spec, k.kty, k.key_ops, attrs, k.tags, k.release_policy, ret);
}

static json_t *sr_default_policy(const struct sr_request *req)
{
    char id[1024];
    snprintf(id, sizeof(id), "%s/keys/%s/rotationpolicy", req->base_url, req->name);
    return json_pack("{s:s,s:[{s:{s:s},s:{s:s}}],s:{s:n}}", "id", id, "lifetimeActions", "trigger",
                     "timeBeforeExpiry", "P30D", "action", "type", "Notify", "attributes", "expiryTime");
}

enum sr_err sr_op_policy_get(struct sr_vault_svc *svc, struct sr_request *req, json_t **ret)
{
    SR_AUTO_ROW struct sr_key_row k = {0};
    SR_AUTO_NAME struct sr_name_row n = {0};
    req->version = NULL;
    SR_TRY(sr_req_key(svc, req, false, &k, &n));
    *ret = n.rotation_policy ? json_incref(n.rotation_policy) : sr_default_policy(req);
    SR_ENSURE(*ret != NULL, SR_ERR_NOMEM);
    return SR_OK;
}

enum sr_err sr_op_policy_put(struct sr_vault_svc *svc, struct sr_request *req, json_t **ret)
{
    const json_t *actions = json_object_get(req->body, "lifetimeActions");
    SR_ENSURE(actions == NULL || json_is_array(actions), sr_req_bad(req, "lifetimeActions must be an array"));
    const json_t *attrs = json_object_get(req->body, "attributes");
    SR_ENSURE(attrs == NULL || json_is_object(attrs), sr_req_bad(req, "attributes must be an object"));
    char why[200];
    SR_ENSURE(sr_policy_check(actions, attrs, svc->short_policies, why, sizeof(why)) == SR_OK,
              sr_req_bad(req, "%s", why));
    SR_AUTO_ROW struct sr_key_row k = {0};
    req->version = NULL;
    SR_TRY(sr_req_key(svc, req, false, &k, NULL));
    SR_AUTO_JSON json_t *policy = sr_default_policy(req);
    SR_ENSURE(policy != NULL, SR_ERR_NOMEM);
    long long now = (long long)time(NULL);
    json_object_set_new(policy, "lifetimeActions", actions ? json_incref((json_t *)actions) : json_array());
    json_t *pattrs = json_pack("{s:O?,s:I,s:I}", "expiryTime", attrs ? json_object_get(attrs, "expiryTime") : NULL,
                               "created", (json_int_t)now, "updated", (json_int_t)now);
    json_object_set_new(policy, "attributes", pattrs);
    SR_TRY(sr_commit_name_policy(&req->commit, req->vault.name, k.name, policy));
    *ret = SR_TAKE(policy);
    return SR_OK;
}

enum sr_err sr_op_vault_show(struct sr_vault_svc *svc, struct sr_request *req, json_t **ret)
{
    (void)svc;
    json_t *perms = NULL;
    SR_TRY(sr_perms_json(req->who.perms, &perms));
    /* The caller's own role and permissions: what a client (the console) may offer, never more. */
    *ret = json_pack("{s:s,s:s,s:s,s:s,s:s,s:o}", "name", req->vault.name, "region", req->vault.region,
                     "subscriptionId", req->vault.subscription, "url", req->base_url, "role", req->who.role,
                     "permissions", perms);
    SR_ENSURE(*ret != NULL, SR_ERR_NOMEM);
    return SR_OK;
}
