/* svc.c - the service: region modules, and one dispatcher that authorises, runs and audits every operation. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/fileio.h"
#include "crypto/jwk.h"
#include "hsm/backend_p11.h"
#include "vault/internal.h"

struct sr_op_row {
    enum sr_op op;
    const char *name;
    unsigned perm;
    bool body;
    sr_op_fn fn;
    bool private_key; /* uses a private key (or makes one): worth a core of its own */
};

/* One row per operation: its audit name, the permission it needs, whether it reads a body, and whether
 * it does private-key work (the HTTP layer runs those on its worker pool). */
static const struct sr_op_row sr_ops[SR_OP_COUNT_] = {
    [SR_OP_KEY_CREATE] = {SR_OP_KEY_CREATE, "CreateKey", SR_PERM_CREATE, true, sr_op_key_create, true},
    [SR_OP_KEY_IMPORT] = {SR_OP_KEY_IMPORT, "ImportKey", SR_PERM_IMPORT, true, sr_op_key_import, true},
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
    [SR_OP_KEY_ROTATE] = {SR_OP_KEY_ROTATE, "RotateKey", SR_PERM_ROTATE, false, sr_op_key_rotate, true},
    [SR_OP_POLICY_GET] = {SR_OP_POLICY_GET, "GetKeyRotationPolicy", SR_PERM_GET, false, sr_op_policy_get},
    [SR_OP_POLICY_PUT] = {SR_OP_POLICY_PUT, "UpdateKeyRotationPolicy", SR_PERM_ROTATE, true, sr_op_policy_put},
    [SR_OP_SIGN] = {SR_OP_SIGN, "Sign", SR_PERM_SIGN, true, sr_op_sign, true},
    [SR_OP_VERIFY] = {SR_OP_VERIFY, "Verify", SR_PERM_VERIFY, true, sr_op_verify},
    [SR_OP_ENCRYPT] = {SR_OP_ENCRYPT, "Encrypt", SR_PERM_ENCRYPT, true, sr_op_encrypt},
    [SR_OP_DECRYPT] = {SR_OP_DECRYPT, "Decrypt", SR_PERM_DECRYPT, true, sr_op_decrypt, true},
    [SR_OP_WRAP] = {SR_OP_WRAP, "WrapKey", SR_PERM_WRAP, true, sr_op_wrap},
    [SR_OP_UNWRAP] = {SR_OP_UNWRAP, "UnwrapKey", SR_PERM_UNWRAP, true, sr_op_unwrap, true},
    [SR_OP_RNG] = {SR_OP_RNG, "GetRandomBytes", SR_PERM_RNG, true, sr_op_rng},
    [SR_OP_VAULT_SHOW] = {SR_OP_VAULT_SHOW, "GetVault", SR_PERM_ANY_READ, false, sr_op_vault_show},
    [SR_OP_KEY_ATTESTATION] = {SR_OP_KEY_ATTESTATION, "GetKeyAttestation", SR_PERM_GET, false, sr_op_key_attestation,
                               true},
    [SR_OP_KEY_RELEASE] = {SR_OP_KEY_RELEASE, "ReleaseKey", SR_PERM_RELEASE, true, sr_op_key_release, true},
    [SR_OP_AUDIT_LIST] = {SR_OP_AUDIT_LIST, "GetAuditLog", SR_PERM_AUDIT, false, sr_op_audit_list},
    /* The token endpoint: no vault and no bearer token; the client authenticates inside (authority.c). */
    [SR_OP_TOKEN_ISSUE] = {SR_OP_TOKEN_ISSUE, "IssueToken", 0, true, sr_op_token_issue, true},
    [SR_OP_ROLE_DEFINITIONS] = {SR_OP_ROLE_DEFINITIONS, "GetRoleDefinitions", SR_PERM_GET, false,
                                sr_op_role_definitions},
    [SR_OP_ROLE_DEFINITION_GET] = {SR_OP_ROLE_DEFINITION_GET, "GetRoleDefinition", SR_PERM_GET, false,
                                   sr_op_role_definition_get},
    [SR_OP_ROLE_ASSIGNMENTS] = {SR_OP_ROLE_ASSIGNMENTS, "GetRoleAssignments", SR_PERM_GET, false,
                                sr_op_role_assignments},
    [SR_OP_ROLE_ASSIGNMENT_GET] = {SR_OP_ROLE_ASSIGNMENT_GET, "GetRoleAssignment", SR_PERM_GET, false,
                                   sr_op_role_assignment_get},
    [SR_OP_ROLE_ASSIGNMENT_PUT] = {SR_OP_ROLE_ASSIGNMENT_PUT, "CreateRoleAssignment", SR_PERM_ROLES, true,
                                   sr_op_role_assignment_put},
    [SR_OP_ROLE_ASSIGNMENT_DELETE] = {SR_OP_ROLE_ASSIGNMENT_DELETE, "DeleteRoleAssignment", SR_PERM_ROLES, false,
                                      sr_op_role_assignment_delete},
    /* Secrets: sealed and opened by the region's module (AES-GCM): no private-key work. */
    [SR_OP_SECRET_SET] = {SR_OP_SECRET_SET, "SetSecret", SR_PERM_SECRET_WRITE, true, sr_op_secret_set},
    [SR_OP_SECRET_GET] = {SR_OP_SECRET_GET, "GetSecret", SR_PERM_SECRET_GET, false, sr_op_secret_get},
    [SR_OP_SECRET_LIST] = {SR_OP_SECRET_LIST, "GetSecrets", SR_PERM_SECRET_META, false, sr_op_secret_list},
    [SR_OP_SECRET_VERSIONS] = {SR_OP_SECRET_VERSIONS, "GetSecretVersions", SR_PERM_SECRET_META, false,
                               sr_op_secret_versions},
    [SR_OP_SECRET_UPDATE] = {SR_OP_SECRET_UPDATE, "UpdateSecret", SR_PERM_SECRET_WRITE, true, sr_op_secret_update},
    [SR_OP_SECRET_DELETE] = {SR_OP_SECRET_DELETE, "DeleteSecret", SR_PERM_SECRET_WRITE, false, sr_op_secret_delete},
    [SR_OP_SECRET_DELETED_LIST] = {SR_OP_SECRET_DELETED_LIST, "GetDeletedSecrets", SR_PERM_SECRET_META, false,
                                   sr_op_secret_deleted_list},
    [SR_OP_SECRET_DELETED_GET] = {SR_OP_SECRET_DELETED_GET, "GetDeletedSecret", SR_PERM_SECRET_META, false,
                                  sr_op_secret_deleted_get},
    [SR_OP_SECRET_RECOVER] = {SR_OP_SECRET_RECOVER, "RecoverDeletedSecret", SR_PERM_SECRET_WRITE, false,
                              sr_op_secret_recover},
    [SR_OP_SECRET_PURGE] = {SR_OP_SECRET_PURGE, "PurgeDeletedSecret", SR_PERM_SECRET_PURGE, false, sr_op_secret_purge},
    [SR_OP_SECRET_BACKUP] = {SR_OP_SECRET_BACKUP, "BackupSecret", SR_PERM_SECRET_WRITE, false, sr_op_secret_backup},
    [SR_OP_SECRET_RESTORE] = {SR_OP_SECRET_RESTORE, "RestoreSecret", SR_PERM_SECRET_WRITE, true,
                              sr_op_secret_restore},
};

void sr_vault_use_seal(struct sr_vault_svc *svc, const struct sr_seal_config *seal)
{
    svc->seal = *seal;
}

const char *sr_vault_seal_name(const struct sr_vault_svc *svc)
{
    return sr_seal_backend_name(svc->seal.backend);
}

void sr_vault_allow_short_policies(struct sr_vault_svc *svc)
{
    svc->short_policies = true;
}

bool sr_op_has_body(enum sr_op op)
{
    return (unsigned)op < SR_OP_COUNT_ && sr_ops[op].body;
}

bool sr_op_uses_private_key(enum sr_op op)
{
    return (unsigned)op < SR_OP_COUNT_ && sr_ops[op].private_key;
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
    enum sr_err r = sr_seal_config_read(data_dir, &svc->seal);
    if (r != SR_OK) {
        free(svc);
        return r;
    }
    pthread_mutex_init(&svc->lock, NULL);
    sr_refusals_init(svc);
    sr_ident_cache_init(&svc->idc);
    *ret = svc;
    return SR_OK;
}

void sr_vault_svc_free(struct sr_vault_svc *svc)
{
    if (svc == NULL) {
        return;
    }
    sr_refusals_finish(svc);
    sr_svc_unseals_free(svc);
    for (size_t i = 0; i < svc->nregions; i++) {
        sr_hsm_free(svc->regions[i].hsm);
    }
    sr_ident_cache_free(&svc->idc);
    pthread_mutex_destroy(&svc->lock);
    free(svc);
}

struct sr_store *sr_vault_svc_store(struct sr_vault_svc *svc)
{
    return svc->store;
}

static enum sr_err sr_svc_open_region(struct sr_vault_svc *svc, const char *region, struct sr_hsm **ret)
{
    char kmdata[SR_PATH_MAX], hsm[SR_PATH_MAX];
    SR_TRY(sr_region_hsm_dir(svc->data_dir, region, hsm, sizeof(hsm)));
    if (sr_file_exists(hsm)) {
        return sr_hsm_pkcs11_open(hsm, ret, svc->seal.diag, sizeof(svc->seal.diag));
    }
    SR_TRY(sr_region_kmdata(svc->data_dir, region, kmdata, sizeof(kmdata)));
    /* Another server made the region and this one has not joined it: never another region's module. */
    SR_ENSURE(sr_file_exists(kmdata), SR_ERR_REGION_NOT_JOINED);
    SR_AUTO_MODULE struct sr_module *m = NULL;
    if (svc->seal.backend == SR_SEAL_CARDS) {
        const struct sr_quorum *q = sr_svc_quorum_of(svc, region);
        SR_ENSURE(q != NULL, SR_ERR_SEALED); /* until 'strongroom unseal' gave a quorum of its cards */
        SR_TRY(sr_module_open_quorum(kmdata, &svc->seal, q, &m));
    } else {
        SR_TRY(sr_module_open_sealed(kmdata, &svc->seal, &m));
    }
    SR_TRY(sr_module_require_world(m, NULL));
    return sr_hsm_software(SR_TAKE(m), ret);
}

const struct sr_hsm *sr_svc_region_open(struct sr_vault_svc *svc, const char *region)
{
    /* Slots are only ever added, each published by the release-store of nregions: readers take no lock. */
    size_t n = atomic_load_explicit(&svc->nregions, memory_order_acquire);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(svc->regions[i].name, region) == 0) {
            return svc->regions[i].hsm;
        }
    }
    return NULL;
}

enum sr_err sr_svc_region_hsm(struct sr_vault_svc *svc, const char *region, const struct sr_hsm **ret)
{
    *ret = sr_svc_region_open(svc, region);
    if (*ret != NULL) {
        return SR_OK;
    }
    pthread_mutex_lock(&svc->lock);
    enum sr_err r = SR_ERR_NOT_FOUND;
    size_t n = atomic_load_explicit(&svc->nregions, memory_order_relaxed);
    for (size_t i = 0; i < n && r != SR_OK; i++) {
        if (strcmp(svc->regions[i].name, region) == 0) {
            *ret = svc->regions[i].hsm;
            r = SR_OK;
        }
    }
    if (r != SR_OK && n < SR_MAX_REGIONS) {
        struct sr_hsm *m = NULL;
        r = sr_svc_open_region(svc, region, &m);
        if (r == SR_OK) {
            struct sr_region_slot *slot = &svc->regions[n];
            snprintf(slot->name, sizeof(slot->name), "%s", region);
            slot->hsm = m;
            atomic_store_explicit(&svc->nregions, n + 1, memory_order_release);
            *ret = m;
        }
    }
    pthread_mutex_unlock(&svc->lock);
    return r;
}

enum sr_err sr_vault_exists(struct sr_vault_svc *svc, const char *name, struct sr_vault_row *ret)
{
    enum sr_err r = svc->store->ops->vault_get(svc->store, name, ret);
    SR_ENSURE(r != SR_ERR_NOT_FOUND, SR_ERR_VAULT_NOT_FOUND);
    return r;
}

/* A vault this server can serve: its row, and its region's module loaded here (a server that has not
 * joined the region answers 503 for every request of the vault, reads included). */
enum sr_err sr_vault_lookup(struct sr_vault_svc *svc, const char *name, struct sr_vault_row *ret)
{
    SR_TRY(sr_vault_exists(svc, name, ret));
    const struct sr_hsm *m = NULL;
    return sr_svc_region_hsm(svc, ret->region, &m);
}

static void sr_audit_target(const struct sr_request *req, char *out, size_t cap)
{
    snprintf(out, cap, "%s%s%s", req->name ? req->name : "", req->version && *req->version ? "/" : "",
             req->version ? req->version : "");
}

/* What a token's refusal names: the region and, for a missing mechanism, what the request asked for. */
static void sr_hsm_refusal_detail(struct sr_vault_svc *svc, struct sr_request *req, enum sr_err r)
{
    const struct sr_hsm *h = sr_svc_region_open(svc, req->vault.region);
    const char *esn = h != NULL ? sr_hsm_esn(h) : "?";
    if (r == SR_ERR_HSM_UNAVAILABLE) {
        snprintf(req->detail, sizeof(req->detail), "region %s's token %s", req->vault.region, esn);
        return;
    }
    const json_t *b = req->body;
    const char *alg = json_string_value(json_object_get(b, "alg"));
    alg = alg != NULL ? alg : json_string_value(json_object_get(b, "enc")); /* a release's wrapping */
    const char *crv = json_string_value(json_object_get(b, "crv"));
    const char *kty = json_string_value(json_object_get(b, "kty"));
    snprintf(req->detail, sizeof(req->detail), "region %s's token %s lacks the mechanism for %s%s", req->vault.region,
             esn, alg ? alg : crv ? "the curve " : kty ? kty : "this operation", alg ? "" : crv ? crv : "");
}

/* Whether the caller may run row's operation on the request's vault (and key): a token's role within its
 * vault, widened by role assignments to its label; an application's role assignments alone. */
static enum sr_err sr_principal_allows(struct sr_vault_svc *svc, struct sr_request *req, const struct sr_op_row *row)
{
    struct sr_principal *who = &req->who;
    bool in_scope = who->scope[0] == 0 || strcasecmp(who->scope, req->vault.name) == 0;
    if (who->oid[0] == 0 && !in_scope) {
        who->perms = 0;
    }
    bool key_op = row->op < SR_OP_TOKEN_ISSUE && row->op != SR_OP_KEY_LIST && row->op != SR_OP_DELETED_LIST;
    const char *key = key_op ? req->name : NULL;
    SR_TRY(sr_principal_authorize(svc, who, req->vault.name, key));
    if (who->perms & row->perm) {
        return SR_OK;
    }
    if (who->oid[0] != 0) {
        snprintf(req->detail, sizeof(req->detail), "application '%s' has no role assignment that allows %s here",
                 who->actor, row->name);
    } else if (!in_scope) {
        snprintf(req->detail, sizeof(req->detail), "the token is for vault '%s'", who->scope);
    } else {
        snprintf(req->detail, sizeof(req->detail), "role '%s' may not %s", who->role, row->name);
    }
    return SR_ERR_FORBIDDEN;
}

/* Runs the operation and fills its audit entry; the commit is ready to submit. */
static void sr_vault_prepare(struct sr_vault_svc *svc, enum sr_op op, struct sr_request *req)
{
    sr_commit_init(&req->commit);
    req->response = NULL;
    enum sr_err r = SR_ERR_INTERNAL;
    const struct sr_op_row *row = (unsigned)op < SR_OP_COUNT_ ? &sr_ops[op] : NULL;
    if (row == NULL) {
        r = SR_ERR_INTERNAL;
    } else if (row->perm != 0 && (r = sr_principal_allows(svc, req, row)) != SR_OK) {
        /* refused: r and req->detail say why */
    } else if (row->body && !json_is_object(req->body)) {
        snprintf(req->detail, sizeof(req->detail), "the body must be a JSON object");
        r = SR_ERR_BAD_PARAM;
    } else {
        r = row->fn(svc, req, &req->response);
    }
    if ((r == SR_ERR_P11_MECHANISM || r == SR_ERR_HSM_UNAVAILABLE) && req->detail[0] == 0) {
        sr_hsm_refusal_detail(svc, req, r);
    }
    if (r != SR_OK) {
        /* A refused operation changes nothing; its audit entry alone is written. */
        sr_commit_release(&req->commit);
        if (req->response != NULL) {
            json_decref(req->response);
            req->response = NULL;
        }
    }
    req->result = r;
    /* Every operation, allowed or not, leaves one entry; entries hold names and outcomes, never material. */
    struct sr_audit_row *a = &req->commit.audit;
    a->time = (long long)time(NULL);
    a->status = sr_err_http_status(r);
    snprintf(a->vault, sizeof(a->vault), "%s", req->vault.name);
    snprintf(a->actor, sizeof(a->actor), "%s", req->who.actor);
    snprintf(a->op, sizeof(a->op), "%s", sr_op_name(op));
    sr_audit_target(req, a->target, sizeof(a->target));
    sr_audit_set_client(a, req->client, r == SR_OK ? "" : req->detail[0] ? req->detail : sr_err_message(r));
    sr_audit_row_clean(a); /* the target and the detail may carry any byte a client sent */
    req->commit.audited = true;
    if (r != SR_OK && req->audit_refusal_by_count) {
        /* A failed client authentication is counted as other refusals are (a flood adds two entries a
         * minute), and those counts are what locks a guessing client out. */
        char reason[sizeof(a->reason)];
        snprintf(reason, sizeof(reason), "client authentication: %.120s", req->detail[0] ? req->detail : sr_err_message(r));
        sr_vault_refused(svc, req->client, "", a->actor, reason, r);
        req->commit.audited = false;
    }
}

/* The token objects of a durable purge. One that will not go (the token away meanwhile) stays in the token,
 * unreachable: the name is purged, and an orphan object is safer than a key row without its object. */
static void sr_purged_destroy(struct sr_request *req)
{
    size_t i;
    json_t *v;
    json_array_foreach(req->purged, i, v) {
        SR_AUTO_BUF struct sr_buf blob = {0};
        sr_buf_init(&blob, SR_MAX_FILE, SR_BUF_PLAIN);
        if (sr_b64url_decode(json_string_value(v), &blob) == SR_OK) {
            (void)!sr_hsm_destroy(req->purged_in, blob.data, blob.len);
        }
    }
}

/* The commit's outcome decides the answer: an operation we cannot make durable is one we do not acknowledge. */
static void sr_vault_finish(struct sr_request *req)
{
    enum sr_err c = req->commit.result;
    if (req->result == SR_OK && c == SR_OK && req->purged != NULL) {
        sr_purged_destroy(req);
    }
    if (req->result != SR_OK || c == SR_OK) {
        return;
    }
    req->result = c == SR_ERR_EXISTS ? SR_ERR_KEY_CONFLICT : c == SR_ERR_NOT_FOUND ? SR_ERR_KEY_NOT_FOUND : c;
    if (c == SR_ERR_EXISTS) {
        snprintf(req->detail, sizeof(req->detail), "a key of this name or version was made or deleted meanwhile");
    }
    if (req->response != NULL) {
        json_decref(req->response);
        req->response = NULL;
    }
}

static void sr_vault_committed(struct sr_commit *c)
{
    struct sr_request *req = c->ctx;
    sr_vault_finish(req);
    req->done(req);
}

void sr_vault_start(struct sr_vault_svc *svc, enum sr_op op, struct sr_request *req)
{
    sr_vault_prepare(svc, op, req);
    req->commit.done = sr_vault_committed;
    req->commit.ctx = req;
    svc->store->ops->submit(svc->store, &req->commit);
}

void sr_request_release(struct sr_request *req)
{
    sr_commit_release(&req->commit);
    json_decref(req->purged);
    req->purged = NULL;
    if (req->response != NULL) {
        json_decref(req->response);
        req->response = NULL;
    }
}

enum sr_err sr_vault_execute(struct sr_vault_svc *svc, enum sr_op op, struct sr_request *req, json_t **ret)
{
    sr_vault_prepare(svc, op, req);
    (void)!sr_store_commit_wait(svc->store, &req->commit); /* its outcome is in req->commit.result */
    sr_vault_finish(req);
    *ret = SR_TAKE(req->response);
    sr_commit_release(&req->commit);
    json_decref(req->purged);
    req->purged = NULL;
    return req->result;
}
