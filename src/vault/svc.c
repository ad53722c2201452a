/* svc.c - the service: region modules, and one dispatcher that authorises, runs and audits every operation. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "vault/internal.h"

struct sr_op_row {
    enum sr_op op;
    const char *name;
    unsigned perm;
    bool body;
    sr_op_fn fn;
};

/* One row per operation: its audit name, the permission it needs, whether it reads a body. */
static const struct sr_op_row sr_ops[SR_OP_COUNT_] = {
    [SR_OP_KEY_CREATE] = {SR_OP_KEY_CREATE, "CreateKey", SR_PERM_CREATE, true, sr_op_key_create},
    [SR_OP_KEY_IMPORT] = {SR_OP_KEY_IMPORT, "ImportKey", SR_PERM_IMPORT, true, sr_op_key_import},
    [SR_OP_KEY_GET] = {SR_OP_KEY_GET, "GetKey", SR_PERM_GET, false, sr_op_key_get},
    [SR_OP_KEY_LIST] = {SR_OP_KEY_LIST, "GetKeys", SR_PERM_LIST, false, sr_op_key_list},
    [SR_OP_KEY_VERSIONS] = {SR_OP_KEY_VERSIONS, "GetKeyVersions", SR_PERM_LIST, false, sr_op_key_versions},
    [SR_OP_KEY_UPDATE] = {SR_OP_KEY_UPDATE, "UpdateKey", SR_PERM_UPDATE, true, sr_op_key_update},
    [SR_OP_KEY_DELETE] = {SR_OP_KEY_DELETE, "DeleteKey", SR_PERM_DELETE, false, sr_op_key_delete},
    [SR_OP_DELETED_LIST] = {SR_OP_DELETED_LIST, "GetDeletedKeys", SR_PERM_LIST, false, sr_op_deleted_list},
    [SR_OP_DELETED_GET] = {SR_OP_DELETED_GET, "GetDeletedKey", SR_PERM_GET, false, sr_op_deleted_get},
    [SR_OP_DELETED_RECOVER] = {SR_OP_DELETED_RECOVER, "RecoverDeletedKey", SR_PERM_RECOVER, false,
                               sr_op_deleted_recover},
    [SR_OP_DELETED_PURGE] = {SR_OP_DELETED_PURGE, "PurgeDeletedKey", SR_PERM_PURGE, false, sr_op_deleted_purge},
    [SR_OP_KEY_BACKUP] = {SR_OP_KEY_BACKUP, "BackupKey", SR_PERM_BACKUP, false, sr_op_key_backup},
    [SR_OP_KEY_RESTORE] = {SR_OP_KEY_RESTORE, "RestoreKey", SR_PERM_RESTORE, true, sr_op_key_restore},
    [SR_OP_KEY_ROTATE] = {SR_OP_KEY_ROTATE, "RotateKey", SR_PERM_ROTATE, false, sr_op_key_rotate},
    [SR_OP_POLICY_GET] = {SR_OP_POLICY_GET, "GetKeyRotationPolicy", SR_PERM_GET, false, sr_op_policy_get},
    [SR_OP_POLICY_PUT] = {SR_OP_POLICY_PUT, "UpdateKeyRotationPolicy", SR_PERM_UPDATE, true, sr_op_policy_put},
    [SR_OP_SIGN] = {SR_OP_SIGN, "Sign", SR_PERM_SIGN, true, sr_op_sign},
    [SR_OP_VERIFY] = {SR_OP_VERIFY, "Verify", SR_PERM_VERIFY, true, sr_op_verify},
    [SR_OP_ENCRYPT] = {SR_OP_ENCRYPT, "Encrypt", SR_PERM_ENCRYPT, true, sr_op_encrypt},
    [SR_OP_DECRYPT] = {SR_OP_DECRYPT, "Decrypt", SR_PERM_DECRYPT, true, sr_op_decrypt},
    [SR_OP_WRAP] = {SR_OP_WRAP, "WrapKey", SR_PERM_WRAP, true, sr_op_wrap},
    [SR_OP_UNWRAP] = {SR_OP_UNWRAP, "UnwrapKey", SR_PERM_UNWRAP, true, sr_op_unwrap},
    [SR_OP_RNG] = {SR_OP_RNG, "GetRandomBytes", SR_PERM_RNG, true, sr_op_rng},
    [SR_OP_VAULT_SHOW] = {SR_OP_VAULT_SHOW, "GetVault", SR_PERM_GET, false, sr_op_vault_show},
};

bool sr_op_has_body(enum sr_op op)
{
    return (unsigned)op < SR_OP_COUNT_ && sr_ops[op].body;
}

const char *sr_op_name(enum sr_op op)
{
    return (unsigned)op < SR_OP_COUNT_ ? sr_ops[op].name : "unknown";
}

enum sr_err sr_vault_svc_open(const char *data_dir, struct sr_store *store, struct sr_vault_svc **ret)
{
    struct sr_vault_svc *svc = calloc(1, sizeof(*svc));
    SR_ENSURE(svc != NULL, SR_ERR_NOMEM);
    if (strlen(data_dir) >= sizeof(svc->data_dir)) {
        free(svc);
        return SR_ERR_TOO_LARGE;
    }
    strcpy(svc->data_dir, data_dir);
    svc->store = store;
    pthread_mutex_init(&svc->lock, NULL);
    *ret = svc;
    return SR_OK;
}

void sr_vault_svc_free(struct sr_vault_svc *svc)
{
    if (svc == NULL) {
        return;
    }
    for (size_t i = 0; i < svc->nregions; i++) {
        sr_module_free(svc->regions[i].module);
    }
    pthread_mutex_destroy(&svc->lock);
    free(svc);
}

struct sr_store *sr_vault_svc_store(struct sr_vault_svc *svc)
{
    return svc->store;
}

static enum sr_err sr_svc_open_region(struct sr_vault_svc *svc, const char *region, struct sr_module **ret)
{
    char kmdata[SR_PATH_MAX];
    SR_TRY(sr_region_kmdata(svc->data_dir, region, kmdata, sizeof(kmdata)));
    SR_AUTO_MODULE struct sr_module *m = NULL;
    SR_TRY(sr_module_open(kmdata, &m));
    SR_TRY(sr_module_require_world(m, NULL));
    *ret = SR_TAKE(m);
    return SR_OK;
}

enum sr_err sr_svc_region_module(struct sr_vault_svc *svc, const char *region, const struct sr_module **ret)
{
    pthread_mutex_lock(&svc->lock);
    enum sr_err r = SR_ERR_NOT_FOUND;
    for (size_t i = 0; i < svc->nregions; i++) {
        if (strcmp(svc->regions[i].name, region) == 0) {
            *ret = svc->regions[i].module;
            r = SR_OK;
        }
    }
    if (r != SR_OK && svc->nregions < SR_MAX_REGIONS) {
        struct sr_module *m = NULL;
        r = sr_svc_open_region(svc, region, &m);
        if (r == SR_OK) {
            struct sr_region_slot *slot = &svc->regions[svc->nregions++];
            snprintf(slot->name, sizeof(slot->name), "%s", region);
            slot->module = m;
            *ret = m;
        }
    }
    pthread_mutex_unlock(&svc->lock);
    return r;
}

enum sr_err sr_vault_lookup(struct sr_vault_svc *svc, const char *name, struct sr_vault_row *ret)
{
    enum sr_err r = svc->store->ops->vault_get(svc->store, name, ret);
    return r == SR_ERR_NOT_FOUND ? SR_ERR_VAULT_NOT_FOUND : r;
}

static void sr_audit_target(const struct sr_request *req, char *out, size_t cap)
{
    snprintf(out, cap, "%s%s%s", req->name ? req->name : "", req->version && *req->version ? "/" : "",
             req->version ? req->version : "");
}

enum sr_err sr_vault_execute(struct sr_vault_svc *svc, enum sr_op op, struct sr_request *req, json_t **ret)
{
    SR_ENSURE((unsigned)op < SR_OP_COUNT_, SR_ERR_INTERNAL);
    const struct sr_op_row *row = &sr_ops[op];
    enum sr_err r = SR_OK;
    if (req->who.scope[0] != 0 && strcasecmp(req->who.scope, req->vault.name) != 0) {
        snprintf(req->detail, sizeof(req->detail), "the token is for vault '%s'", req->who.scope);
        r = SR_ERR_FORBIDDEN;
    } else if (!(req->who.perms & row->perm)) {
        snprintf(req->detail, sizeof(req->detail), "role '%s' may not %s", req->who.role, row->name);
        r = SR_ERR_FORBIDDEN;
    } else if (row->body && !json_is_object(req->body)) {
        snprintf(req->detail, sizeof(req->detail), "the body must be a JSON object");
        r = SR_ERR_BAD_JSON;
    } else {
        r = row->fn(svc, req, ret);
    }
    /* Every operation, allowed or not, leaves one entry; entries hold names and outcomes, never material. */
    struct sr_audit_row a = {.time = (long long)time(NULL), .status = sr_err_http_status(r)};
    snprintf(a.vault, sizeof(a.vault), "%s", req->vault.name);
    snprintf(a.actor, sizeof(a.actor), "%s", req->who.actor);
    snprintf(a.op, sizeof(a.op), "%s", row->name);
    sr_audit_target(req, a.target, sizeof(a.target));
    enum sr_err ar = svc->store->ops->audit_append(svc->store, &a);
    if (ar != SR_OK && r == SR_OK) {
        /* An operation we cannot audit is an operation we do not acknowledge. */
        if (*ret != NULL) {
            json_decref(*ret);
            *ret = NULL;
        }
        return ar;
    }
    return r;
}
