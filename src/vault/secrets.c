/*
 * secrets.c - Key Vault's secrets: versioned values with attributes, soft delete, backup and restore.
 *
 * A secret's versions are key rows in the namespace "V/secrets" (store.h): kty "secret", its contentType in
 * the row's meta, and its value sealed by the region's module (sr_hsm_seal_value: AES-256-GCM under the
 * world key's own HKDF label) with the vault, name and version as associated data. So the store, a copy of
 * the database, or a row moved to another name or vault yields nothing; the value is in clear only in this
 * file's buffers (wiped) and in the response being written. Audit entries name the secret, never its value.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/json.h"
#include "crypto/crypto.h"
#include "crypto/jwk.h"
#include "crypto/ossl.h"
#include "vault/internal.h"

#define SR_SECRET_MAX_VALUE 25600u /* Key Vault's limit: 25 KB */
#define SR_SECRET_MAX_CONTENT_TYPE 255u
#define SR_SECRET_KTY "secret"

/* "V/secrets": where the vault's secrets live in the store. */
static enum sr_err sr_secret_space(const struct sr_request *req, char out[SR_MAX_SPACE + 1])
{
    int n = snprintf(out, SR_MAX_SPACE + 1, "%s%s", req->vault.name, SR_SPACE_SECRETS);
    SR_ENSURE(n > 0 && n <= SR_MAX_SPACE, SR_ERR_TOO_LARGE);
    return SR_OK;
}

/* What a sealed value belongs to: vault, name (both case-folded: they compare without case) and version. */
static enum sr_err sr_secret_aad(const char *vault, const char *name, const char *version, struct sr_buf *out)
{
    char text[32 + SR_MAX_VAULT + SR_MAX_NAME + SR_VERSION_LEN];
    int n = snprintf(text, sizeof(text), "strongroom secret%c%s%c%s%c%s", 0, vault, 0, name, 0, version);
    SR_ENSURE(n > 0 && (size_t)n < sizeof(text), SR_ERR_TOO_LARGE);
    for (int i = 0; i < n; i++) {
        text[i] = (char)tolower((unsigned char)text[i]);
    }
    return sr_buf_append(out, text, (size_t)n);
}

/* Seals value into out (k's blob to be) or opens k's blob into out (SR_BUF_SECRET), by the vault's region HSM,
 * bound to k's vault, name and version. A row that does not open here (moved, changed, another region's) is
 * reported as tampered, never served. */
static enum sr_err sr_secret_value(struct sr_vault_svc *svc, const struct sr_request *req, const struct sr_key_row *k,
                                   bool seal, const char *value, size_t len, struct sr_buf *out)
{
    const struct sr_hsm *h = NULL;
    SR_TRY(sr_svc_region_hsm(svc, req->vault.region, &h));
    SR_AUTO_BUF struct sr_buf aad = {0};
    sr_buf_init(&aad, 512, SR_BUF_PLAIN);
    SR_TRY(sr_secret_aad(req->vault.name, k->name, k->version, &aad));
    if (seal) {
        return sr_hsm_seal_value(h, aad.data, aad.len, (const uint8_t *)value, len, out);
    }
    enum sr_err r = sr_hsm_open_value(h, aad.data, aad.len, k->blob.data, k->blob.len, out);
    return r == SR_ERR_AUTH_FAILED ? SR_ERR_KV_SECRET_TAMPERED : r;
}

static enum sr_err sr_secret_name_check(const struct sr_request *req)
{
    return sr_key_name_check(req) == SR_OK ? SR_OK : SR_ERR_KV_SECRET_NAME; /* the same rule as keys' */
}

/* The version the request names (deleted ones too when deleted_ok), SR_ERR_KV_SECRET_NOT_FOUND otherwise. */
static enum sr_err sr_req_secret(struct sr_vault_svc *svc, struct sr_request *req, bool deleted_ok,
                                 struct sr_key_row *k, struct sr_name_row *n)
{
    SR_TRY(sr_secret_name_check(req));
    char space[SR_MAX_SPACE + 1];
    SR_TRY(sr_secret_space(req, space));
    enum sr_err r = svc->store->ops->key_get(svc->store, space, req->name, req->version, deleted_ok, k, n);
    if (r == SR_ERR_NOT_FOUND) {
        snprintf(req->detail, sizeof(req->detail), "%s%s%s", req->name, req->version && *req->version ? "/" : "",
                 req->version ? req->version : "");
        return SR_ERR_KV_SECRET_NOT_FOUND;
    }
    return r;
}

static enum sr_err sr_secret_id(const struct sr_request *req, const char *name, const char *version, char *out,
                                size_t cap)
{
    int n = version ? snprintf(out, cap, "%s/secrets/%s/%s", req->base_url, name, version)
                    : snprintf(out, cap, "%s/secrets/%s", req->base_url, name);
    SR_ENSURE(n > 0 && (size_t)n < cap, SR_ERR_TOO_LARGE);
    return SR_OK;
}

/* The fields a SecretBundle and a SecretItem share: id, attributes, tags, contentType, and a deleted one's. */
static enum sr_err sr_secret_fields(const struct sr_request *req, const struct sr_key_row *k,
                                    const struct sr_name_row *n, bool with_version, json_t **ret)
{
    char id[1024];
    SR_TRY(sr_secret_id(req, k->name, with_version ? k->version : NULL, id, sizeof(id)));
    json_t *attrs = NULL;
    SR_TRY(sr_row_attrs_json(k, false, &attrs));
    SR_AUTO_JSON json_t *b = json_pack("{s:s,s:o,s:o}", "id", id, "attributes", attrs, "tags",
                                       k->tags != NULL ? json_incref(k->tags) : json_object());
    SR_ENSURE(b != NULL, SR_ERR_NOMEM);
    const json_t *ct = json_object_get(k->meta, "contentType");
    if (json_is_string(ct)) {
        SR_ENSURE(json_object_set(b, "contentType", (json_t *)ct) == 0, SR_ERR_NOMEM);
    }
    SR_TRY(sr_row_deleted_fields(req, "deletedsecrets", k, n, b));
    *ret = SR_TAKE(b);
    return SR_OK;
}

static enum sr_err sr_secret_item(const struct sr_request *req, const struct sr_key_row *k,
                                  const struct sr_name_row *n, bool with_version, json_t **ret)
{
    return sr_secret_fields(req, k, n, with_version, ret);
}

/* A SecretBundle without its value (what set, update, delete, recover and restore answer). */
static enum sr_err sr_secret_bundle(const struct sr_request *req, const struct sr_key_row *k,
                                    const struct sr_name_row *n, json_t **ret)
{
    return sr_secret_fields(req, k, n, true, ret);
}

static enum sr_err sr_secret_value_json(json_t *bundle, const struct sr_buf *value)
{
    json_t *v = json_stringn((const char *)value->data, value->len);
    SR_ENSURE(v != NULL && json_object_set_new(bundle, "value", v) == 0, SR_ERR_NOMEM);
    return SR_OK;
}

/* contentType from a body (absent: unchanged; null: removed) into k->meta. */
static enum sr_err sr_secret_content_type(struct sr_request *req, const json_t *body, struct sr_key_row *k)
{
    const json_t *ct = json_object_get(body, "contentType");
    if (ct == NULL) {
        return SR_OK;
    }
    SR_ENSURE(json_is_null(ct) || (json_is_string(ct) && json_string_length(ct) <= SR_SECRET_MAX_CONTENT_TYPE),
              sr_req_bad(req, "contentType must be a string of at most 255 characters"));
    if (k->meta == NULL) {
        k->meta = json_object();
        SR_ENSURE(k->meta != NULL, SR_ERR_NOMEM);
    }
    if (json_is_null(ct)) {
        json_object_del(k->meta, "contentType");
    } else {
        SR_ENSURE(json_object_set(k->meta, "contentType", (json_t *)ct) == 0, SR_ERR_NOMEM);
    }
    return SR_OK;
}

/* A new row in the request's secret namespace: enabled, created now, version fresh. */
static enum sr_err sr_secret_row_init(const struct sr_request *req, struct sr_key_row *k)
{
    sr_key_row_init(req, k);
    SR_TRY(sr_secret_space(req, k->vault));
    snprintf(k->kty, sizeof(k->kty), "%s", SR_SECRET_KTY);
    return sr_key_new_version(k->version);
}

/* A soft-deleted name is reserved until it is recovered or purged, as Key Vault's. */
static enum sr_err sr_secret_name_free(struct sr_vault_svc *svc, struct sr_request *req, const char *name)
{
    char space[SR_MAX_SPACE + 1];
    SR_TRY(sr_secret_space(req, space));
    SR_AUTO_ROW struct sr_key_row k = {0};
    SR_AUTO_NAME struct sr_name_row n = {0};
    enum sr_err r = svc->store->ops->key_get(svc->store, space, name, NULL, true, &k, &n);
    if (r == SR_ERR_NOT_FOUND || (r == SR_OK && n.deleted == 0)) {
        return SR_OK;
    }
    SR_TRY(r);
    snprintf(req->detail, sizeof(req->detail), "secret '%s' is deleted but recoverable: recover or purge it first",
             name);
    return SR_ERR_KV_SECRET_CONFLICT;
}

enum sr_err sr_op_secret_set(struct sr_vault_svc *svc, struct sr_request *req, json_t **ret)
{
    SR_TRY(sr_secret_name_check(req));
    const json_t *value = json_object_get(req->body, "value");
    SR_ENSURE(json_is_string(value), sr_req_bad(req, "'value' (the secret, a string) is required"));
    SR_ENSURE(json_string_length(value) <= SR_SECRET_MAX_VALUE, SR_ERR_KV_SECRET_TOO_LARGE);
    SR_TRY(sr_secret_name_free(svc, req, req->name));
    SR_AUTO_ROW struct sr_key_row k = {0};
    SR_TRY(sr_secret_row_init(req, &k));
    SR_TRY(sr_key_attrs_parse(req, json_object_get(req->body, "attributes"), &k));
    SR_TRY(sr_key_tags_parse(req, json_object_get(req->body, "tags"), &k));
    SR_TRY(sr_secret_content_type(req, req->body, &k));
    SR_TRY(sr_secret_value(svc, req, &k, true, json_string_value(value), json_string_length(value), &k.blob));
    SR_TRY(sr_commit_key_insert(&req->commit, &k));
    SR_AUTO_JSON json_t *b = NULL;
    SR_TRY(sr_secret_bundle(req, &k, NULL, &b));
    SR_ENSURE(json_object_set(b, "value", (json_t *)value) == 0, SR_ERR_NOMEM);
    *ret = SR_TAKE(b);
    return SR_OK;
}

enum sr_err sr_op_secret_get(struct sr_vault_svc *svc, struct sr_request *req, json_t **ret)
{
    SR_AUTO_ROW struct sr_key_row k = {0};
    SR_TRY(sr_req_secret(svc, req, false, &k, NULL));
    long long now = (long long)time(NULL);
    SR_ENSURE(k.enabled, SR_ERR_KV_SECRET_DISABLED);
    SR_ENSURE(k.nbf == 0 || now >= k.nbf, SR_ERR_KV_SECRET_NOT_YET_VALID);
    SR_ENSURE(k.exp == 0 || now < k.exp, SR_ERR_KV_SECRET_EXPIRED);
    SR_AUTO_BUF struct sr_buf value = {0};
    sr_buf_init(&value, SR_SECRET_MAX_VALUE, SR_BUF_SECRET);
    SR_TRY(sr_secret_value(svc, req, &k, false, NULL, 0, &value));
    SR_AUTO_JSON json_t *b = NULL;
    SR_TRY(sr_secret_bundle(req, &k, NULL, &b));
    SR_TRY(sr_secret_value_json(b, &value));
    *ret = SR_TAKE(b);
    return SR_OK;
}

enum sr_err sr_op_secret_list(struct sr_vault_svc *svc, struct sr_request *req, json_t **ret)
{
    char space[SR_MAX_SPACE + 1];
    SR_TRY(sr_secret_space(req, space));
    return sr_rows_list(svc, req, space, false, "/secrets", sr_secret_item, ret);
}

enum sr_err sr_op_secret_deleted_list(struct sr_vault_svc *svc, struct sr_request *req, json_t **ret)
{
    char space[SR_MAX_SPACE + 1];
    SR_TRY(sr_secret_space(req, space));
    return sr_rows_list(svc, req, space, true, "/deletedsecrets", sr_secret_item, ret);
}

enum sr_err sr_op_secret_versions(struct sr_vault_svc *svc, struct sr_request *req, json_t **ret)
{
    SR_AUTO_ROW struct sr_key_row k = {0};
    SR_TRY(sr_req_secret(svc, req, false, &k, NULL));
    return sr_rows_versions(svc, req, k.vault, "secrets", sr_secret_item, ret);
}

enum sr_err sr_op_secret_update(struct sr_vault_svc *svc, struct sr_request *req, json_t **ret)
{
    SR_AUTO_ROW struct sr_key_row k = {0};
    SR_TRY(sr_req_secret(svc, req, false, &k, NULL));
    SR_ENSURE(json_object_get(req->body, "value") == NULL,
              sr_req_bad(req, "an update changes attributes, tags and contentType; set a new version to change the value"));
    SR_TRY(sr_key_attrs_parse(req, json_object_get(req->body, "attributes"), &k));
    SR_TRY(sr_key_tags_parse(req, json_object_get(req->body, "tags"), &k));
    SR_TRY(sr_secret_content_type(req, req->body, &k));
    k.updated = (long long)time(NULL);
    SR_TRY(sr_commit_key_update(&req->commit, &k));
    return sr_secret_bundle(req, &k, NULL, ret);
}

enum sr_err sr_op_secret_delete(struct sr_vault_svc *svc, struct sr_request *req, json_t **ret)
{
    SR_AUTO_ROW struct sr_key_row k = {0};
    req->version = NULL;
    SR_TRY(sr_req_secret(svc, req, false, &k, NULL));
    struct sr_name_row n = {.deleted = (long long)time(NULL)};
    n.purge_at = n.deleted + SR_RETENTION_DAYS * 86400LL;
    SR_TRY(sr_commit_name_deleted(&req->commit, k.vault, k.name, n.deleted, n.purge_at));
    return sr_secret_bundle(req, &k, &n, ret);
}

/* The latest version of a soft-deleted secret: SR_ERR_KV_SECRET_NOT_DELETED for a live or unknown one. */
static enum sr_err sr_secret_deleted(struct sr_vault_svc *svc, struct sr_request *req, struct sr_key_row *k,
                                     struct sr_name_row *n)
{
    req->version = NULL;
    enum sr_err r = sr_req_secret(svc, req, true, k, n);
    if (r == SR_OK && n->deleted == 0) {
        sr_key_row_release(k);
        sr_name_row_release(n);
        r = SR_ERR_KV_SECRET_NOT_FOUND;
    }
    if (r == SR_ERR_KV_SECRET_NOT_FOUND) {
        snprintf(req->detail, sizeof(req->detail), "%s", req->name);
        return SR_ERR_KV_SECRET_NOT_DELETED;
    }
    return r;
}

enum sr_err sr_op_secret_deleted_get(struct sr_vault_svc *svc, struct sr_request *req, json_t **ret)
{
    SR_AUTO_ROW struct sr_key_row k = {0};
    SR_AUTO_NAME struct sr_name_row n = {0};
    SR_TRY(sr_secret_deleted(svc, req, &k, &n));
    return sr_secret_fields(req, &k, &n, true, ret);
}

enum sr_err sr_op_secret_recover(struct sr_vault_svc *svc, struct sr_request *req, json_t **ret)
{
    SR_AUTO_ROW struct sr_key_row k = {0};
    SR_AUTO_NAME struct sr_name_row n = {0};
    SR_TRY(sr_secret_deleted(svc, req, &k, &n));
    SR_TRY(sr_commit_name_deleted(&req->commit, k.vault, k.name, 0, 0));
    return sr_secret_bundle(req, &k, NULL, ret);
}

enum sr_err sr_op_secret_purge(struct sr_vault_svc *svc, struct sr_request *req, json_t **ret)
{
    SR_AUTO_ROW struct sr_key_row k = {0};
    SR_AUTO_NAME struct sr_name_row n = {0};
    SR_TRY(sr_secret_deleted(svc, req, &k, &n));
    SR_TRY(sr_commit_name_purge(&req->commit, k.vault, k.name));
    *ret = NULL; /* 204 */
    return SR_OK;
}

/* --- backup and restore: the values travel opened and sealed again, under the backup's own seal --- */

struct sr_secret_backup {
    struct sr_vault_svc *svc;
    const struct sr_request *req;
    json_t *versions;
};

static enum sr_err sr_secret_backup_add(void *ctx, const struct sr_key_row *k, const struct sr_name_row *n)
{
    (void)n;
    struct sr_secret_backup *b = ctx;
    SR_AUTO_BUF struct sr_buf value = {0};
    SR_AUTO_BUF struct sr_buf b64 = {0};
    sr_buf_init(&value, SR_SECRET_MAX_VALUE, SR_BUF_SECRET);
    sr_buf_init(&b64, SR_SECRET_MAX_VALUE * 2, SR_BUF_SECRET);
    SR_TRY(sr_secret_value(b->svc, b->req, k, false, NULL, 0, &value));
    SR_TRY(sr_b64url_encode(value.data, value.len, &b64));
    json_t *v = json_pack("{s:s,s:b,s:I,s:I,s:I,s:I,s:o,s:O?,s:s}", "version", k->version, "enabled", k->enabled,
                          "nbf", (json_int_t)k->nbf, "exp", (json_int_t)k->exp, "created", (json_int_t)k->created,
                          "updated", (json_int_t)k->updated, "tags", k->tags != NULL ? json_incref(k->tags) : json_object(),
                          "meta", k->meta, "value", (const char *)b64.data);
    SR_ENSURE(v != NULL && json_array_append_new(b->versions, v) == 0, SR_ERR_NOMEM);
    return SR_OK;
}

enum sr_err sr_op_secret_backup(struct sr_vault_svc *svc, struct sr_request *req, json_t **ret)
{
    SR_AUTO_ROW struct sr_key_row k = {0};
    req->version = NULL;
    SR_TRY(sr_req_secret(svc, req, false, &k, NULL));
    struct sr_secret_backup b = {.svc = svc, .req = req, .versions = json_array()};
    SR_ENSURE(b.versions != NULL, SR_ERR_NOMEM);
    enum sr_err r = svc->store->ops->key_all_versions(svc->store, k.vault, k.name, sr_secret_backup_add, &b);
    if (r != SR_OK) {
        json_decref(b.versions);
        return r;
    }
    SR_AUTO_JSON json_t *content = json_pack("{s:s,s:s,s:s,s:o}", "kind", SR_SECRET_KTY, "name", k.name,
                                             "subscription", req->vault.subscription, "versions", b.versions);
    SR_ENSURE(content != NULL, SR_ERR_NOMEM);
    return sr_backup_seal(svc, req, content, SR_SECRET_KTY, ret);
}

static enum sr_err sr_secret_restore_version(struct sr_vault_svc *svc, struct sr_request *req, const json_t *v,
                                             struct sr_key_row *ret_row)
{
    const char *version = NULL, *value = NULL;
    json_t *tags = NULL, *meta = NULL;
    json_int_t nbf = 0, exp = 0, created = 0, updated = 0;
    int enabled = 0;
    SR_ENSURE(json_unpack((json_t *)v, "{s:s,s:b,s:I,s:I,s:I,s:I,s:o,s?o,s:s}", "version", &version, "enabled",
                          &enabled, "nbf", &nbf, "exp", &exp, "created", &created, "updated", &updated, "tags", &tags,
                          "meta", &meta, "value", &value) == 0 &&
                  strlen(version) == SR_VERSION_LEN && json_is_object(tags) &&
                  (meta == NULL || json_is_null(meta) || json_is_object(meta)),
              SR_ERR_BACKUP);
    struct sr_key_row *k = ret_row;
    SR_TRY(sr_secret_row_init(req, k));
    snprintf(k->version, sizeof(k->version), "%s", version);
    k->enabled = enabled != 0;
    k->nbf = nbf;
    k->exp = exp;
    k->created = created;
    k->updated = updated;
    k->tags = json_incref(tags);
    k->meta = json_is_object(meta) ? json_incref(meta) : NULL;
    SR_AUTO_BUF struct sr_buf plain = {0};
    sr_buf_init(&plain, SR_SECRET_MAX_VALUE, SR_BUF_SECRET);
    SR_ENSURE(sr_b64url_decode(value, &plain) == SR_OK, SR_ERR_BACKUP);
    /* Sealed again for this vault: a backup restores into any vault of its subscription and region. */
    SR_TRY(sr_secret_value(svc, req, k, true, (const char *)plain.data, plain.len, &k->blob));
    return sr_commit_key_insert(&req->commit, k);
}

enum sr_err sr_op_secret_restore(struct sr_vault_svc *svc, struct sr_request *req, json_t **ret)
{
    SR_AUTO_JSON json_t *content = NULL;
    const json_t *versions = NULL;
    SR_TRY(sr_backup_open(svc, req, SR_SECRET_KTY, &content, &versions));
    const char *name = req->name;
    SR_TRY(sr_secret_name_check(req));
    SR_AUTO_ROW struct sr_key_row existing = {0};
    enum sr_err r = sr_req_secret(svc, req, true, &existing, NULL);
    if (r == SR_OK) {
        snprintf(req->detail, sizeof(req->detail), "secret '%s' already exists in this vault", name);
        return SR_ERR_KV_SECRET_CONFLICT;
    }
    SR_ENSURE(r == SR_ERR_KV_SECRET_NOT_FOUND, r);
    req->detail[0] = 0;
    size_t i;
    const json_t *v;
    SR_AUTO_ROW struct sr_key_row last = {0};
    json_array_foreach(versions, i, v) {
        sr_key_row_release(&last);
        SR_TRY(sr_secret_restore_version(svc, req, v, &last));
    }
    return sr_secret_bundle(req, &last, NULL, ret);
}
