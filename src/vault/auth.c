/* auth.c - bearer tokens (random, stored only as SHA-256) and Key Vault's built-in roles. */
#include <ctype.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/json.h"
#include "base/text.h"
#include "crypto/crypto.h"
#include "crypto/jwk.h"
#include "vault/internal.h"

/* = Azure built-in roles for Key Vault data plane (Key Vault Administrator, Crypto Officer, ...), with their
 * role definition ids, so that an assignment made for Azure names the same role here. */
static const struct sr_role sr_roles[] = {
    {"Administrator", "00482a5a-887f-4fb3-b363-3b7fe8e74483", SR_PERM_ALL},
    {"Crypto Officer", "14b46e9e-c2b7-41b4-b07b-48a6ebf60603", SR_PERM_KEYS_ALL & ~SR_PERM_ROLES},
    {"Crypto User", "12338af0-0e69-4776-bea7-57ae8d297424",
     SR_PERM_GET | SR_PERM_LIST | SR_PERM_UPDATE | SR_PERM_BACKUP | SR_PERM_SIGN | SR_PERM_VERIFY | SR_PERM_ENCRYPT |
         SR_PERM_DECRYPT | SR_PERM_WRAP | SR_PERM_UNWRAP | SR_PERM_RNG},
    {"Crypto Service Encryption User", "e147488a-f6f5-4113-8e2d-b22465e65bf6",
     SR_PERM_GET | SR_PERM_LIST | SR_PERM_WRAP | SR_PERM_UNWRAP},
    {"Crypto Service Release User", "08bbd89e-9f13-488c-ac41-acfcb10c90ab", SR_PERM_GET | SR_PERM_RELEASE},
    {"Reader", "21090545-7ca7-4776-b22c-e363652d74d2", SR_PERM_GET | SR_PERM_LIST | SR_PERM_SECRET_META},
    {"Secrets Officer", "b86a8fe4-44ce-4948-aee5-eccb2c155cd7", SR_PERM_SECRETS_ALL},
    {"Secrets User", "4633458b-17de-408a-b874-0445c86b69e6", SR_PERM_SECRET_GET | SR_PERM_SECRET_META},
};

const struct sr_role *sr_role_at(size_t i)
{
    return i < SR_ARRAY_LEN(sr_roles) ? &sr_roles[i] : NULL;
}

/* By id, or by the id at the end of a full definition id (".../roleDefinitions/<id>"). */
const struct sr_role *sr_role_by_id(const char *id)
{
    if (id == NULL) {
        return NULL;
    }
    const char *slash = strrchr(id, '/');
    id = slash != NULL ? slash + 1 : id;
    for (size_t i = 0; i < SR_ARRAY_LEN(sr_roles); i++) {
        if (strcasecmp(id, sr_roles[i].id) == 0) {
            return &sr_roles[i];
        }
    }
    return NULL;
}

static const struct {
    enum sr_perm perm;
    const char *name;
} sr_perm_names[] = {
    {SR_PERM_GET, "get"},         {SR_PERM_LIST, "list"},       {SR_PERM_CREATE, "create"},   {SR_PERM_IMPORT, "import"},
    {SR_PERM_UPDATE, "update"},   {SR_PERM_DELETE, "delete"},   {SR_PERM_RECOVER, "recover"}, {SR_PERM_PURGE, "purge"},
    {SR_PERM_BACKUP, "backup"},   {SR_PERM_RESTORE, "restore"}, {SR_PERM_ROTATE, "rotate"},   {SR_PERM_SIGN, "sign"},
    {SR_PERM_VERIFY, "verify"},   {SR_PERM_ENCRYPT, "encrypt"}, {SR_PERM_DECRYPT, "decrypt"}, {SR_PERM_WRAP, "wrapKey"},
    {SR_PERM_UNWRAP, "unwrapKey"}, {SR_PERM_RNG, "rng"},        {SR_PERM_RELEASE, "release"},
    {SR_PERM_AUDIT, "audit"},     {SR_PERM_ROLES, "roleAssignments"}, {SR_PERM_SECRET_GET, "secrets/get"},
    {SR_PERM_SECRET_META, "secrets/readMetadata"}, {SR_PERM_SECRET_WRITE, "secrets/write"},
    {SR_PERM_SECRET_PURGE, "secrets/purge"},
};

enum sr_err sr_perms_json(unsigned perms, json_t **ret)
{
    SR_AUTO_JSON json_t *arr = json_array();
    SR_ENSURE(arr != NULL, SR_ERR_NOMEM);
    for (size_t i = 0; i < SR_ARRAY_LEN(sr_perm_names); i++) {
        if (perms & sr_perm_names[i].perm) {
            SR_ENSURE(json_array_append_new(arr, json_string(sr_perm_names[i].name)) == 0, SR_ERR_NOMEM);
        }
    }
    *ret = SR_TAKE(arr);
    return SR_OK;
}

/* "crypto-officer", "Crypto Officer" and "Key Vault Crypto Officer" all name the same role. */
static bool sr_role_matches(const char *given, const char *name)
{
    if (strncasecmp(given, "Key Vault ", 10) == 0) {
        given += 10;
    }
    for (; *given && *name; given++, name++) {
        char a = *given == '-' || *given == '_' ? ' ' : (char)tolower((unsigned char)*given);
        if (a != (char)tolower((unsigned char)*name)) {
            return false;
        }
    }
    return *given == 0 && *name == 0;
}

const struct sr_role *sr_role_find(const char *role)
{
    const struct sr_role *by_id = sr_role_by_id(role);
    if (by_id != NULL) {
        return by_id;
    }
    for (size_t i = 0; i < SR_ARRAY_LEN(sr_roles); i++) {
        if (sr_role_matches(role, sr_roles[i].name)) {
            return &sr_roles[i];
        }
    }
    return NULL;
}

enum sr_err sr_role_perms(const char *role, unsigned *ret)
{
    const struct sr_role *r = sr_role_find(role);
    SR_ENSURE(r != NULL, SR_ERR_ROLE);
    *ret = r->perms;
    return SR_OK;
}

enum sr_err sr_token_hash_hex(const char *token, char out[SR_TOKEN_HASH_HEX + 1])
{
    uint8_t h[32];
    SR_TRY(sr_sha256(token, strlen(token), h));
    sr_hex_encode(h, sizeof(h), out);
    return SR_OK;
}

enum sr_err sr_random_text(struct sr_buf *out)
{
    uint8_t raw[32];
    SR_TRY(sr_rand_bytes(raw, sizeof(raw)));
    sr_buf_init(out, 64, SR_BUF_SECRET);
    enum sr_err r = sr_b64url_encode(raw, sizeof(raw), out);
    sr_wipe(raw, sizeof(raw));
    return r;
}

enum sr_err sr_token_name_check(const char *name)
{
    size_t len = strlen(name);
    SR_ENSURE(len >= 1 && len <= SR_MAX_TOKEN_NAME, SR_ERR_TOKEN_NAME);
    for (size_t i = 0; i < len; i++) {
        SR_ENSURE(isalnum((unsigned char)name[i]) || name[i] == '.' || name[i] == '_' || name[i] == '-', SR_ERR_TOKEN_NAME);
    }
    return SR_OK;
}

enum sr_err sr_token_create(struct sr_store *store, const char *name, const char *role, const char *vault,
                            long long ttl_seconds, char out[64])
{
    SR_TRY(name == NULL || *name == 0 ? SR_OK : sr_token_name_check(name));
    const struct sr_role *r = sr_role_find(role);
    SR_ENSURE(r != NULL, SR_ERR_ROLE);
    SR_AUTO_BUF struct sr_buf text = {0};
    SR_TRY(sr_random_text(&text));
    struct sr_token_row row = {.created = (long long)time(NULL)};
    row.expires = ttl_seconds > 0 ? row.created + ttl_seconds : 0;
    snprintf(row.role, sizeof(row.role), "%s", r->name);
    snprintf(row.vault, sizeof(row.vault), "%s", vault ? vault : "");
    SR_TRY(sr_token_hash_hex((const char *)text.data, row.hash));
    if (name != NULL && *name != 0) {
        snprintf(row.name, sizeof(row.name), "%s", name);
    } else {
        snprintf(row.name, sizeof(row.name), "token-%.8s", row.hash); /* unique as its id */
    }
    SR_TRY(sr_store_token_put(store, &row));
    memcpy(out, text.data, text.len + 1);
    return SR_OK;
}

enum sr_err sr_vault_authenticate(struct sr_vault_svc *svc, const char *token, const char *resource,
                                  const char *host, struct sr_principal *ret)
{
    SR_ENSURE(token != NULL && *token != 0, SR_ERR_UNAUTHORIZED);
    if (strchr(token, '.') != NULL) { /* a JWT: the authority's access token; ours never have a dot */
        return sr_authenticate_jwt(svc, token, resource, host, ret);
    }
    SR_ENSURE(strlen(token) < 256, SR_ERR_UNAUTHORIZED);
    char hash[SR_TOKEN_HASH_HEX + 1];
    SR_TRY(sr_token_hash_hex(token, hash));
    /* The lookup is by hash, so timing reveals nothing about valid tokens. */
    struct sr_token_row row;
    enum sr_err r = svc->store->ops->token_get(svc->store, hash, &row);
    SR_ENSURE(r != SR_ERR_NOT_FOUND, SR_ERR_UNAUTHORIZED);
    SR_TRY(r);
    /* The audit log names the token by its label (a token from before labels: by its id), refused or not. */
    if (row.name[0] != 0) {
        snprintf(ret->actor, sizeof(ret->actor), "%s", row.name);
    } else {
        snprintf(ret->actor, sizeof(ret->actor), "tok:%.16s", hash);
    }
    SR_ENSURE(row.revoked == 0, SR_ERR_TOKEN_REVOKED);
    SR_ENSURE(row.expires == 0 || row.expires > (long long)time(NULL), SR_ERR_TOKEN_EXPIRED);
    SR_TRY(sr_role_perms(row.role, &ret->perms));
    snprintf(ret->role, sizeof(ret->role), "%s", row.role);
    snprintf(ret->scope, sizeof(ret->scope), "%s", row.vault);
    ret->oid[0] = 0;
    ret->assignable = row.name[0] != 0;
    return SR_OK;
}
