/*
 * identity.c - who may call besides an operator's bearer tokens, and what they may do: applications (each
 * with client secrets, certificates and federated credentials, as Entra's app registrations), the OIDC
 * issuers trusted for federation, and role assignments with a scope, as Managed HSM's local RBAC. All of it
 * lives in the store as identity documents (kind, name, JSON); secrets only as scrypt hashes.
 *
 * A server keeps what every request needs (assignments, application names, the authority's signing keys)
 * while the store's change count stands still, so a change by any process (a CLI command, the API) is seen by
 * the next request, as a revoked token is.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/json.h"
#include "base/text.h"
#include "crypto/crypto.h"
#include "crypto/jwk.h"
#include "crypto/ossl.h"
#include "vault/internal.h"

/* Client secrets are 256 random bits: no hash cost makes guessing one feasible or infeasible, so scrypt here is
 * for a stolen database (a hash that costs 4 MiB and milliseconds each) at a price a token endpoint can pay
 * per request: 2^12 x 8. (The PINs of cards, which people choose, get 2^15.) */
static const struct sr_scrypt_params sr_secret_scrypt = {12, 8, 1};

#define SR_SECRET_DAYS_DEFAULT 365
#define SR_MAX_CREDENTIALS 16

void sr_uuid(char out[SR_UUID_LEN + 1])
{
    uint8_t raw[16] = {0};
    (void)!sr_rand_bytes(raw, sizeof(raw)); /* the DRBG never fails once initialised */
    raw[6] = (uint8_t)((raw[6] & 0x0f) | 0x40); /* version 4 */
    raw[8] = (uint8_t)((raw[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    char hex[33];
    sr_hex_encode(raw, sizeof(raw), hex);
    snprintf(out, SR_UUID_LEN + 1, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
}

bool sr_is_uuid(const char *s)
{
    if (s == NULL || strlen(s) != SR_UUID_LEN) {
        return false;
    }
    for (size_t i = 0; i < SR_UUID_LEN; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i])) {
            return false;
        }
    }
    return true;
}

/* --- applications --- */

enum sr_err sr_app_name_check(const char *name)
{
    size_t len = strlen(name);
    SR_ENSURE(len >= 1 && len <= SR_MAX_TOKEN_NAME && !sr_is_uuid(name), SR_ERR_APP_NAME);
    for (size_t i = 0; i < len; i++) {
        SR_ENSURE(isalnum((unsigned char)name[i]) || name[i] == '.' || name[i] == '_' || name[i] == '-', SR_ERR_APP_NAME);
    }
    return SR_OK;
}

struct sr_app_search {
    const char *name;
    json_t *found;
};

static enum sr_err sr_app_by_name(void *ctx, const char *id, const json_t *doc)
{
    (void)id;
    struct sr_app_search *s = ctx;
    const char *name = json_string_value(json_object_get(doc, "name"));
    if (s->found == NULL && name != NULL && strcasecmp(name, s->name) == 0) {
        s->found = json_deep_copy(doc);
    }
    return SR_OK;
}

enum sr_err sr_app_find(struct sr_store *store, const char *name_or_id, json_t **ret)
{
    SR_ENSURE(strlen(name_or_id) <= SR_MAX_IDENT_NAME, SR_ERR_APP_NOT_FOUND);
    if (sr_is_uuid(name_or_id)) {
        enum sr_err r = store->ops->ident_get(store, SR_IDENT_APP, name_or_id, ret);
        SR_ENSURE(r != SR_ERR_NOT_FOUND, SR_ERR_APP_NOT_FOUND);
        return r;
    }
    struct sr_app_search s = {.name = name_or_id};
    SR_TRY(store->ops->ident_each(store, SR_IDENT_APP, sr_app_by_name, &s));
    SR_ENSURE(s.found != NULL, SR_ERR_APP_NOT_FOUND);
    *ret = s.found;
    return SR_OK;
}

struct sr_token_label_search {
    const char *name;
    bool found;
};

static enum sr_err sr_token_label_is(void *ctx, const struct sr_token_row *t)
{
    struct sr_token_label_search *s = ctx;
    s->found = s->found || strcasecmp(t->name, s->name) == 0;
    return SR_OK;
}

enum sr_err sr_app_create(struct sr_store *store, const char *name, json_t **ret)
{
    SR_TRY(sr_app_name_check(name));
    SR_AUTO_JSON json_t *existing = NULL;
    enum sr_err r = sr_app_find(store, name, &existing);
    SR_ENSURE(r == SR_ERR_APP_NOT_FOUND, r == SR_OK ? SR_ERR_APP_EXISTS : r);
    /* The audit log names callers by label: an application may not take a token's. */
    struct sr_token_label_search t = {.name = name};
    SR_TRY(store->ops->token_each(store, sr_token_label_is, &t));
    SR_ENSURE(!t.found, SR_ERR_APP_EXISTS);
    char client_id[SR_UUID_LEN + 1], object_id[SR_UUID_LEN + 1];
    sr_uuid(client_id);
    sr_uuid(object_id);
    SR_AUTO_JSON json_t *doc = json_pack("{s:s,s:s,s:s,s:I,s:[],s:[],s:[]}", "name", name, "clientId", client_id,
                                         "objectId", object_id, "created", (json_int_t)time(NULL), "secrets",
                                         "certificates", "federated");
    SR_ENSURE(doc != NULL, SR_ERR_NOMEM);
    SR_TRY(sr_store_ident_put(store, SR_IDENT_APP, client_id, doc));
    *ret = SR_TAKE(doc);
    return SR_OK;
}

/* Every credential of an application has an id (8 hex digits), unique within it. */
static void sr_credential_id(char out[9])
{
    uint8_t raw[4] = {0};
    (void)!sr_rand_bytes(raw, sizeof(raw));
    sr_hex_encode(raw, sizeof(raw), out);
}

static size_t sr_app_credentials(const json_t *doc)
{
    return json_array_size(json_object_get(doc, "secrets")) + json_array_size(json_object_get(doc, "certificates")) +
           json_array_size(json_object_get(doc, "federated"));
}

static enum sr_err sr_app_save(struct sr_store *store, const json_t *doc)
{
    return sr_store_ident_put(store, SR_IDENT_APP, json_string_value(json_object_get(doc, "clientId")), doc);
}

static enum sr_err sr_secret_hash(const char *secret, const uint8_t *salt, size_t salt_len, uint8_t out[32])
{
    return sr_scrypt(secret, strlen(secret), salt, salt_len, sr_secret_scrypt, out);
}

enum sr_err sr_app_secret_add(struct sr_store *store, const char *app, unsigned days, char out[SR_SECRET_TEXT],
                              char ret_id[9])
{
    SR_AUTO_JSON json_t *doc = NULL;
    SR_TRY(sr_app_find(store, app, &doc));
    SR_ENSURE(sr_app_credentials(doc) < SR_MAX_CREDENTIALS, SR_ERR_TOO_LARGE);
    char id[9];
    sr_credential_id(id);
    uint8_t salt[16], hash[32];
    SR_TRY(sr_rand_bytes(salt, sizeof(salt)));
    SR_AUTO_BUF struct sr_buf text = {0};
    SR_TRY(sr_random_text(&text));
    enum sr_err r;
    /* "<id>~<random>": the id says which credential to check, so a request costs one scrypt, not one per secret. */
    snprintf(out, SR_SECRET_TEXT, "%s~%s", id, (const char *)text.data);
    r = sr_secret_hash(out, salt, sizeof(salt), hash);
    if (r != SR_OK) {
        sr_wipe(out, SR_SECRET_TEXT);
        return r;
    }
    long long now = (long long)time(NULL);
    json_t *cred = json_pack("{s:s,s:s%,s:I,s:I}", "id", id, "hint", (const char *)text.data, (size_t)3, "created",
                             (json_int_t)now, "expires", (json_int_t)(now + 86400LL * (days ? days : SR_SECRET_DAYS_DEFAULT)));
    if (cred == NULL || sr_json_set_b64url(cred, "salt", salt, sizeof(salt)) != SR_OK ||
        sr_json_set_b64url(cred, "hash", hash, sizeof(hash)) != SR_OK ||
        json_array_append_new(json_object_get(doc, "secrets"), cred) != 0) {
        sr_wipe(out, SR_SECRET_TEXT);
        return SR_ERR_NOMEM;
    }
    r = sr_app_save(store, doc);
    if (r != SR_OK) {
        sr_wipe(out, SR_SECRET_TEXT);
        return r;
    }
    memcpy(ret_id, id, sizeof(id));
    return SR_OK;
}

enum sr_err sr_app_certificate_add(struct sr_store *store, const char *app, const uint8_t *pem, size_t len,
                                   char ret_id[9])
{
    SR_AUTO_JSON json_t *doc = NULL;
    SR_TRY(sr_app_find(store, app, &doc));
    SR_ENSURE(sr_app_credentials(doc) < SR_MAX_CREDENTIALS, SR_ERR_TOO_LARGE);
    SR_AUTO_X509 X509 *cert = NULL;
    SR_ENSURE(sr_x509_from_pem(pem, len, &cert) == SR_OK, SR_ERR_APP_CERTIFICATE);
    uint8_t sha1[20], sha256[32];
    long long not_after = 0;
    char subject[256];
    SR_TRY(sr_x509_describe(cert, sha1, sha256, &not_after, subject, sizeof(subject)));
    SR_ENSURE(not_after > (long long)time(NULL), SR_ERR_APP_CERTIFICATE_EXPIRED);
    EVP_PKEY *pub = X509_get0_pubkey(cert);
    SR_ENSURE(pub != NULL, SR_ERR_APP_CERTIFICATE);
    SR_AUTO_BUF struct sr_buf spki = {0};
    sr_buf_init(&spki, 8192, SR_BUF_PLAIN);
    SR_TRY(sr_pkey_public_to_pem(pub, &spki));
    char id[9];
    sr_credential_id(id);
    json_t *cred = json_pack("{s:s,s:s,s:s,s:I,s:I}", "id", id, "subject", subject, "publicKey",
                             (const char *)spki.data, "created", (json_int_t)time(NULL), "expires",
                             (json_int_t)not_after);
    SR_ENSURE(cred != NULL, SR_ERR_NOMEM);
    if (sr_json_set_b64url(cred, "x5t", sha1, sizeof(sha1)) != SR_OK ||
        sr_json_set_b64url(cred, "x5t#S256", sha256, sizeof(sha256)) != SR_OK ||
        json_array_append_new(json_object_get(doc, "certificates"), cred) != 0) {
        return SR_ERR_NOMEM;
    }
    SR_TRY(sr_app_save(store, doc));
    memcpy(ret_id, id, sizeof(id));
    return SR_OK;
}

enum sr_err sr_app_federate(struct sr_store *store, const char *app, const char *issuer, const char *subject,
                            const char *audience, char ret_id[9])
{
    SR_ENSURE(strlen(issuer) <= SR_MAX_ISSUER && strlen(subject) <= 600 && strlen(audience) <= 600 && *subject,
              SR_ERR_USAGE);
    SR_AUTO_JSON json_t *doc = NULL;
    SR_TRY(sr_app_find(store, app, &doc));
    SR_ENSURE(sr_app_credentials(doc) < SR_MAX_CREDENTIALS, SR_ERR_TOO_LARGE);
    SR_AUTO_JSON json_t *idp = NULL;
    enum sr_err r = store->ops->ident_get(store, SR_IDENT_IDP, issuer, &idp);
    SR_ENSURE(r != SR_ERR_NOT_FOUND, SR_ERR_IDP_UNTRUSTED);
    SR_TRY(r);
    char id[9];
    sr_credential_id(id);
    json_t *cred = json_pack("{s:s,s:s,s:s,s:[s],s:I}", "id", id, "issuer", issuer, "subject", subject, "audiences",
                             audience, "created", (json_int_t)time(NULL));
    SR_ENSURE(cred != NULL && json_array_append_new(json_object_get(doc, "federated"), cred) == 0, SR_ERR_NOMEM);
    SR_TRY(sr_app_save(store, doc));
    memcpy(ret_id, id, sizeof(id));
    return SR_OK;
}

enum sr_err sr_app_credential_remove(struct sr_store *store, const char *app, const char *id)
{
    SR_AUTO_JSON json_t *doc = NULL;
    SR_TRY(sr_app_find(store, app, &doc));
    static const char *const lists[] = {"secrets", "certificates", "federated"};
    for (size_t l = 0; l < SR_ARRAY_LEN(lists); l++) {
        json_t *arr = json_object_get(doc, lists[l]);
        size_t i;
        json_t *c;
        json_array_foreach(arr, i, c) {
            const char *cid = json_string_value(json_object_get(c, "id"));
            if (cid != NULL && strcasecmp(cid, id) == 0) {
                SR_ENSURE(json_array_remove(arr, i) == 0, SR_ERR_NOMEM);
                return sr_app_save(store, doc);
            }
        }
    }
    return SR_ERR_CREDENTIAL_NOT_FOUND;
}

/* What an operator may see of an application: everything but the secrets' salts and hashes. */
json_t *sr_app_view(const json_t *doc)
{
    json_t *v = json_deep_copy(doc);
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(v, "secrets"), i, c) {
        json_object_del(c, "salt");
        json_object_del(c, "hash");
    }
    json_array_foreach(json_object_get(v, "certificates"), i, c) {
        json_object_del(c, "publicKey");
    }
    return v;
}

static enum sr_err sr_app_collect(void *ctx, const char *id, const json_t *doc)
{
    (void)id;
    json_t *view = sr_app_view(doc);
    SR_ENSURE(view != NULL && json_array_append_new(ctx, view) == 0, SR_ERR_NOMEM);
    return SR_OK;
}

enum sr_err sr_app_list(struct sr_store *store, json_t **ret)
{
    SR_AUTO_JSON json_t *arr = json_array();
    SR_ENSURE(arr != NULL, SR_ERR_NOMEM);
    SR_TRY(store->ops->ident_each(store, SR_IDENT_APP, sr_app_collect, arr));
    *ret = SR_TAKE(arr);
    return SR_OK;
}

struct sr_assignments_of {
    const char *principal;
    json_t *names;
};

static enum sr_err sr_assignment_of(void *ctx, const char *name, const json_t *doc)
{
    struct sr_assignments_of *a = ctx;
    const char *p = json_string_value(json_object_get(doc, "principalId"));
    if (p != NULL && strcasecmp(p, a->principal) == 0) {
        SR_ENSURE(json_array_append_new(a->names, json_string(name)) == 0, SR_ERR_NOMEM);
    }
    return SR_OK;
}

/* Deleting a principal deletes what was granted to it: a later one of the same name gets nothing of it. */
static enum sr_err sr_assignments_drop(struct sr_store *store, const char *principal)
{
    SR_AUTO_JSON json_t *names = json_array();
    SR_ENSURE(names != NULL, SR_ERR_NOMEM);
    struct sr_assignments_of a = {.principal = principal, .names = names};
    SR_TRY(store->ops->ident_each(store, SR_IDENT_ASSIGNMENT, sr_assignment_of, &a));
    size_t i;
    json_t *n;
    json_array_foreach(names, i, n) {
        SR_TRY(sr_store_ident_put(store, SR_IDENT_ASSIGNMENT, json_string_value(n), NULL));
    }
    return SR_OK;
}

enum sr_err sr_app_delete(struct sr_store *store, const char *app)
{
    SR_AUTO_JSON json_t *doc = NULL;
    SR_TRY(sr_app_find(store, app, &doc));
    SR_TRY(sr_store_ident_put(store, SR_IDENT_APP, json_string_value(json_object_get(doc, "clientId")), NULL));
    return sr_assignments_drop(store, json_string_value(json_object_get(doc, "objectId")));
}

/* The secret credential "<id>~..." names, if it is in date and the secret matches (scrypt, then a
 * constant-time compare). SR_ERR_SECRET_EXPIRED for a matching secret past its time. */
enum sr_err sr_app_secret_check(const json_t *app, const char *secret)
{
    SR_ENSURE(secret != NULL && strlen(secret) < SR_SECRET_TEXT && strlen(secret) > 9 && secret[8] == '~',
              SR_ERR_SECRET_WRONG);
    size_t i;
    const json_t *c;
    json_array_foreach(json_object_get(app, "secrets"), i, c) {
        const char *id = json_string_value(json_object_get(c, "id"));
        if (id == NULL || strncasecmp(id, secret, 8) != 0) {
            continue;
        }
        SR_AUTO_BUF struct sr_buf salt = {0}, hash = {0};
        sr_buf_init(&salt, 64, SR_BUF_PLAIN);
        sr_buf_init(&hash, 64, SR_BUF_PLAIN);
        SR_ENSURE(sr_b64url_decode(json_string_value(json_object_get(c, "salt")), &salt) == SR_OK &&
                      sr_b64url_decode(json_string_value(json_object_get(c, "hash")), &hash) == SR_OK &&
                      hash.len == 32,
                  SR_ERR_IO);
        uint8_t got[32];
        SR_TRY(sr_secret_hash(secret, salt.data, salt.len, got));
        bool same = sr_ct_equal(got, hash.data, 32);
        sr_wipe(got, sizeof(got));
        SR_ENSURE(same, SR_ERR_SECRET_WRONG);
        long long exp = (long long)json_integer_value(json_object_get(c, "expires"));
        SR_ENSURE(exp == 0 || exp > (long long)time(NULL), SR_ERR_SECRET_EXPIRED);
        return SR_OK;
    }
    return SR_ERR_SECRET_WRONG;
}

/* --- issuers trusted for federation --- */

enum sr_err sr_idp_trust(struct sr_store *store, const char *issuer, const json_t *jwks, bool discovery)
{
    SR_ENSURE(strlen(issuer) <= SR_MAX_ISSUER && (strncmp(issuer, "https://", 8) == 0 ||
                                                  strncmp(issuer, "http://", 7) == 0),
              SR_ERR_IDP_ISSUER);
    size_t i;
    const json_t *k;
    SR_ENSURE(json_is_array(json_object_get(jwks, "keys")) && json_array_size(json_object_get(jwks, "keys")) > 0,
              SR_ERR_IDP_JWKS);
    json_array_foreach(json_object_get(jwks, "keys"), i, k) {
        SR_AUTO_PKEY EVP_PKEY *pub = NULL;
        const char *use = json_string_value(json_object_get(k, "use"));
        SR_ENSURE(use == NULL || strcmp(use, "sig") == 0 || strcmp(use, "enc") == 0, SR_ERR_IDP_JWKS);
        /* Every key must be one we can check a signature with: an HMAC ("oct") key is never taken. */
        SR_ENSURE(sr_jwk_public_to_pkey(k, &pub) == SR_OK, SR_ERR_IDP_JWKS);
    }
    SR_AUTO_JSON json_t *doc = json_pack("{s:s,s:O,s:I,s:b}", "issuer", issuer, "jwks", jwks, "fetched",
                                         (json_int_t)time(NULL), "discovery", discovery);
    SR_ENSURE(doc != NULL, SR_ERR_NOMEM);
    return sr_store_ident_put(store, SR_IDENT_IDP, issuer, doc);
}

enum sr_err sr_idp_distrust(struct sr_store *store, const char *issuer)
{
    SR_AUTO_JSON json_t *doc = NULL;
    SR_TRY(strlen(issuer) <= SR_MAX_IDENT_NAME ? store->ops->ident_get(store, SR_IDENT_IDP, issuer, &doc)
                                               : SR_ERR_NOT_FOUND);
    return sr_store_ident_put(store, SR_IDENT_IDP, issuer, NULL);
}

static enum sr_err sr_doc_collect(void *ctx, const char *name, const json_t *doc)
{
    json_t *copy = json_deep_copy(doc);
    SR_ENSURE(copy != NULL && json_object_set_new(copy, "name", json_string(name)) == 0 &&
                  json_array_append_new(ctx, copy) == 0,
              SR_ERR_NOMEM);
    return SR_OK;
}

enum sr_err sr_ident_list(struct sr_store *store, const char *kind, json_t **ret)
{
    SR_AUTO_JSON json_t *arr = json_array();
    SR_ENSURE(arr != NULL, SR_ERR_NOMEM);
    SR_TRY(store->ops->ident_each(store, kind, sr_doc_collect, arr));
    *ret = SR_TAKE(arr);
    return SR_OK;
}

/* --- role assignments --- */

/* "/", "/vaults/V" or "/vaults/V/keys/K" (V an existing vault), written back in that canonical form. */
static enum sr_err sr_scope_parse(struct sr_store *store, const char *scope, char *out, size_t cap)
{
    if (strcmp(scope, "/") == 0) {
        snprintf(out, cap, "/");
        return SR_OK;
    }
    char vault[SR_MAX_VAULT + 2] = "", key[SR_MAX_NAME + 2] = "";
    int used = 0;
    SR_ENSURE(strncasecmp(scope, "/vaults/", 8) == 0, SR_ERR_ROLE_SCOPE);
    const char *v = scope + 8;
    size_t vlen = strcspn(v, "/");
    SR_ENSURE(vlen >= 1 && vlen <= SR_MAX_VAULT, SR_ERR_ROLE_SCOPE);
    memcpy(vault, v, vlen);
    const char *rest = v + vlen;
    if (*rest != 0) {
        SR_ENSURE(strncasecmp(rest, "/keys/", 6) == 0, SR_ERR_ROLE_SCOPE);
        const char *k = rest + 6;
        size_t klen = strlen(k);
        SR_ENSURE(klen >= 1 && klen <= SR_MAX_NAME && strchr(k, '/') == NULL, SR_ERR_ROLE_SCOPE);
        memcpy(key, k, klen);
        used = 1;
    }
    struct sr_vault_row row;
    enum sr_err r = store->ops->vault_get(store, vault, &row);
    SR_ENSURE(r != SR_ERR_NOT_FOUND, SR_ERR_VAULT_NOT_FOUND);
    SR_TRY(r);
    snprintf(out, cap, used ? "/vaults/%s/keys/%s" : "/vaults/%s", row.name, key);
    return SR_OK;
}

/* The principal an assignment names: an application (by name, client id or object id) or a token label. */
static enum sr_err sr_principal_resolve(struct sr_store *store, const char *who, char *id, size_t cap, const char **kind)
{
    SR_AUTO_JSON json_t *app = NULL;
    enum sr_err r = sr_app_find(store, who, &app);
    if (r == SR_OK) {
        snprintf(id, cap, "%s", json_string_value(json_object_get(app, "objectId")));
        *kind = "ServicePrincipal";
        return SR_OK;
    }
    SR_ENSURE(r == SR_ERR_APP_NOT_FOUND, r);
    if (sr_is_uuid(who)) { /* an object id */
        SR_AUTO_JSON json_t *apps = NULL;
        SR_TRY(sr_ident_list(store, SR_IDENT_APP, &apps));
        size_t i;
        json_t *a;
        json_array_foreach(apps, i, a) {
            const char *oid = json_string_value(json_object_get(a, "objectId"));
            if (oid != NULL && strcasecmp(oid, who) == 0) {
                snprintf(id, cap, "%s", oid);
                *kind = "ServicePrincipal";
                return SR_OK;
            }
        }
        return SR_ERR_APP_NOT_FOUND;
    }
    struct sr_token_label_search t = {.name = who};
    SR_TRY(store->ops->token_each(store, sr_token_label_is, &t));
    SR_ENSURE(t.found, SR_ERR_APP_NOT_FOUND);
    snprintf(id, cap, "%s", who);
    *kind = "Token";
    return SR_OK;
}

enum sr_err sr_role_assignment_make(struct sr_store *store, const char *principal, const char *role,
                                    const char *scope, const char *name, json_t **ret_doc)
{
    const struct sr_role *r = sr_role_find(role);
    SR_ENSURE(r != NULL, SR_ERR_ROLE);
    char canon[SR_MAX_VAULT + SR_MAX_NAME + 16], pid[SR_MAX_IDENT_NAME + 1];
    SR_TRY(sr_scope_parse(store, scope, canon, sizeof(canon)));
    const char *kind = NULL;
    SR_TRY(sr_principal_resolve(store, principal, pid, sizeof(pid), &kind));
    char generated[SR_UUID_LEN + 1];
    if (name == NULL) {
        sr_uuid(generated);
        name = generated;
    }
    SR_ENSURE(sr_is_uuid(name), SR_ERR_ROLE_ASSIGNMENT_NAME);
    *ret_doc = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:I}", "name", name, "principalId", pid, "principalType", kind,
                         "roleDefinitionId", r->id, "roleName", r->name, "scope", canon, "created",
                         (json_int_t)time(NULL));
    SR_ENSURE(*ret_doc != NULL, SR_ERR_NOMEM);
    return SR_OK;
}

/* An operator's grant (doc) or revocation (NULL), in the audit chain as the API's are: the operator as actor,
 * the assignment as target, the client "cli". */
static enum sr_err sr_assignment_write(struct sr_store *store, const char *name, const json_t *doc, const char *who)
{
    struct sr_commit c;
    sr_commit_init(&c);
    enum sr_err r = sr_commit_ident(&c, SR_IDENT_ASSIGNMENT, name, doc);
    c.audited = true;
    struct sr_audit_row *a = &c.audit;
    a->time = (long long)time(NULL);
    a->status = 200;
    snprintf(a->actor, sizeof(a->actor), "%s", who);
    snprintf(a->op, sizeof(a->op), "%s", doc != NULL ? "CreateRoleAssignment" : "DeleteRoleAssignment");
    snprintf(a->target, sizeof(a->target), "%s", name);
    sr_audit_set_client(a, "cli", "");
    sr_audit_row_clean(a);
    if (r == SR_OK) {
        r = sr_store_commit_wait(store, &c);
    }
    sr_commit_release(&c);
    return r;
}

enum sr_err sr_role_assignment_create(struct sr_store *store, const char *principal, const char *role,
                                      const char *scope, const char *who, json_t **ret)
{
    SR_AUTO_JSON json_t *doc = NULL;
    SR_TRY(sr_role_assignment_make(store, principal, role, scope, NULL, &doc));
    SR_TRY(sr_assignment_write(store, json_string_value(json_object_get(doc, "name")), doc, who));
    *ret = SR_TAKE(doc);
    return SR_OK;
}

enum sr_err sr_role_assignment_delete(struct sr_store *store, const char *name, const char *who)
{
    SR_AUTO_JSON json_t *doc = NULL;
    enum sr_err r = sr_is_uuid(name) ? store->ops->ident_get(store, SR_IDENT_ASSIGNMENT, name, &doc) : SR_ERR_NOT_FOUND;
    SR_ENSURE(r != SR_ERR_NOT_FOUND, SR_ERR_ROLE_ASSIGNMENT_NOT_FOUND);
    SR_TRY(r);
    return sr_assignment_write(store, name, NULL, who);
}

/* Whether an assignment's scope covers the request's vault and key ("" key: the vault as a whole). */
static bool sr_scope_covers(const char *scope, const char *vault, const char *key)
{
    if (strcmp(scope, "/") == 0) {
        return true;
    }
    size_t vlen = strlen(vault);
    if (strncasecmp(scope, "/vaults/", 8) != 0 || strncasecmp(scope + 8, vault, vlen) != 0) {
        return false;
    }
    const char *rest = scope + 8 + vlen;
    if (*rest == 0) {
        return true;
    }
    return key != NULL && *key != 0 && strncasecmp(rest, "/keys/", 6) == 0 && strcasecmp(rest + 6, key) == 0;
}

unsigned sr_assignments_perms(const json_t *assignments, const char *principal, const char *vault, const char *key)
{
    unsigned perms = 0;
    size_t i;
    const json_t *a;
    json_array_foreach(assignments, i, a) {
        const char *p = json_string_value(json_object_get(a, "principalId"));
        const char *scope = json_string_value(json_object_get(a, "scope"));
        const struct sr_role *r = sr_role_by_id(json_string_value(json_object_get(a, "roleDefinitionId")));
        if (p != NULL && scope != NULL && r != NULL && strcasecmp(p, principal) == 0 &&
            sr_scope_covers(scope, vault, key)) {
            perms |= r->perms;
        }
    }
    return perms;
}

/* --- what a server keeps between requests --- */

void sr_ident_cache_init(struct sr_ident_cache *c)
{
    memset(c, 0, sizeof(*c));
    pthread_mutex_init(&c->lock, NULL);
    pthread_mutex_init(&c->signer_lock, NULL);
}

void sr_ident_cache_free(struct sr_ident_cache *c)
{
    for (size_t i = 0; i < SR_ID_PARTS; i++) {
        json_decref(c->part[i]);
    }
    sr_wipe(c->tokens, sizeof(c->tokens));
    for (size_t i = 0; i < SR_SEEN_KEYS; i++) {
        EVP_PKEY_free(c->keys[i].key);
    }
    pthread_mutex_destroy(&c->lock);
    pthread_mutex_destroy(&c->signer_lock);
}

static enum sr_err sr_app_name_by_oid(void *ctx, const char *id, const json_t *doc)
{
    (void)id;
    const char *oid = json_string_value(json_object_get(doc, "objectId"));
    json_t *entry = json_pack("{s:O?,s:O?}", "name", json_object_get(doc, "name"), "clientId",
                              json_object_get(doc, "clientId"));
    SR_ENSURE(oid != NULL && entry != NULL && json_object_set_new(ctx, oid, entry) == 0, SR_ERR_NOMEM);
    return SR_OK;
}

static enum sr_err sr_doc_by_name(void *ctx, const char *name, const json_t *doc)
{
    SR_ENSURE(json_object_set(ctx, name, (json_t *)doc) == 0, SR_ERR_NOMEM);
    return SR_OK;
}

static enum sr_err sr_ident_part_read(struct sr_store *store, size_t part, json_t **ret)
{
    static const struct {
        const char *kind;
        sr_ident_fn fn;
        bool array;
    } parts[SR_ID_PARTS] = {
        {SR_IDENT_ASSIGNMENT, sr_doc_collect, true},
        {SR_IDENT_APP, sr_app_name_by_oid, false},
        {SR_IDENT_SIGNER, sr_doc_by_name, false},
    };
    SR_AUTO_JSON json_t *docs = parts[part].array ? json_array() : json_object();
    SR_ENSURE(docs != NULL, SR_ERR_NOMEM);
    SR_TRY(store->ops->ident_each(store, parts[part].kind, parts[part].fn, docs));
    *ret = SR_TAKE(docs);
    return SR_OK;
}

enum sr_err sr_ident_public_key(struct sr_vault_svc *svc, const json_t *jwk, const char *pem, EVP_PKEY **ret)
{
    SR_AUTO_FREE char *text = pem != NULL ? strdup(pem) : json_dumps(jwk, JSON_COMPACT | JSON_SORT_KEYS);
    SR_ENSURE(text != NULL, SR_ERR_NOMEM);
    uint8_t h[32];
    SR_TRY(sr_sha256(text, strlen(text), h));
    struct sr_ident_cache *c = &svc->idc;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < SR_SEEN_KEYS; i++) {
        if (c->keys[i].key != NULL && memcmp(c->keys[i].hash, h, sizeof(h)) == 0 && EVP_PKEY_up_ref(c->keys[i].key)) {
            *ret = c->keys[i].key;
            pthread_mutex_unlock(&c->lock);
            return SR_OK;
        }
    }
    pthread_mutex_unlock(&c->lock);
    EVP_PKEY *key = NULL;
    SR_TRY(pem != NULL ? sr_pkey_public_from_pem((const uint8_t *)pem, strlen(pem), &key)
                       : sr_jwk_public_to_pkey(jwk, &key));
    pthread_mutex_lock(&c->lock);
    struct sr_seen_key *slot = &c->keys[c->keys_next];
    c->keys_next = (c->keys_next + 1) % SR_SEEN_KEYS;
    EVP_PKEY_free(slot->key);
    slot->key = EVP_PKEY_up_ref(key) ? key : NULL;
    memcpy(slot->hash, h, sizeof(h));
    pthread_mutex_unlock(&c->lock);
    *ret = key;
    return SR_OK;
}

enum sr_err sr_ident_snapshot(struct sr_vault_svc *svc, unsigned parts, struct sr_ident_snapshot *ret)
{
    struct sr_ident_cache *c = &svc->idc;
    struct sr_store *store = svc->store;
    json_t **out[SR_ID_PARTS] = {&ret->assignments, &ret->apps, &ret->signers};
    for (size_t i = 0; i < SR_ID_PARTS; i++) {
        if (!(parts & (1u << i))) {
            continue;
        }
        unsigned long long gen = 0, after = 0;
        bool settled = store->ops->conf_generation(store, &gen);
        pthread_mutex_lock(&c->lock);
        if (settled && c->valid[i] && c->gen[i] == gen) {
            *out[i] = json_incref(c->part[i]);
        }
        pthread_mutex_unlock(&c->lock);
        if (*out[i] != NULL) {
            continue;
        }
        json_t *docs = NULL;
        SR_TRY(sr_ident_part_read(store, i, &docs));
        *out[i] = docs;
        /* Kept only if nothing changed while it was read. */
        if (settled && store->ops->conf_generation(store, &after) && after == gen) {
            pthread_mutex_lock(&c->lock);
            json_decref(c->part[i]);
            c->part[i] = json_incref(docs);
            c->valid[i] = true;
            c->gen[i] = gen;
            pthread_mutex_unlock(&c->lock);
        }
    }
    return SR_OK;
}

void sr_ident_snapshot_release(struct sr_ident_snapshot *s)
{
    json_decref(s->assignments), json_decref(s->apps), json_decref(s->signers);
    memset(s, 0, sizeof(*s));
}

enum sr_err sr_principal_authorize(struct sr_vault_svc *svc, struct sr_principal *who, const char *vault,
                                   const char *key)
{
    if (who->oid[0] == 0 && !who->assignable) {
        return SR_OK; /* a token from before role assignments: its role alone */
    }
    SR_AUTO(sr_ident_snapshot_release) struct sr_ident_snapshot snap = {0};
    SR_TRY(sr_ident_snapshot(svc, SR_ID_ASSIGNMENTS, &snap));
    if (who->oid[0] != 0) { /* that the application still exists, its authentication checked */
        who->perms = sr_assignments_perms(snap.assignments, who->oid, vault, key);
    } else {
        who->perms |= sr_assignments_perms(snap.assignments, who->actor, vault, key);
    }
    return SR_OK;
}
