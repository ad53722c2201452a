/*
 * roles.c - Managed HSM's role-based access control API on a vault's host (api-version 7.4+), as
 * KeyVaultAccessControlClient calls it: {scope}/providers/Microsoft.Authorization/roleDefinitions and
 * .../roleAssignments/{name}. A scope on the wire ("/", "/keys", "/keys/K") is relative to the vault the
 * request was sent to; the store keeps it absolute ("/vaults/V", "/vaults/V/keys/K"), as the CLI writes it.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/json.h"
#include "vault/internal.h"

#define SR_DEFINITIONS "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/"

static json_t *sr_definition_json(const struct sr_role *r)
{
    json_t *actions = NULL;
    if (sr_perms_json(r->perms, &actions) != SR_OK) {
        return NULL;
    }
    char id[160], name[96];
    snprintf(id, sizeof(id), SR_DEFINITIONS "%s", r->id);
    snprintf(name, sizeof(name), "Key Vault %s", r->name);
    return json_pack("{s:s,s:s,s:s,s:{s:s,s:s,s:s,s:[{s:[],s:[],s:o,s:[]}],s:[s]}}", "id", id, "name", r->id, "type",
                     "Microsoft.Authorization/roleDefinitions", "properties", "roleName", name, "description", "",
                     "type", "AKVBuiltInRole", "permissions", "actions", "notActions", "dataActions", actions,
                     "notDataActions", "assignableScopes", "/");
}

enum sr_err sr_role_definitions_json(json_t **ret)
{
    SR_AUTO_JSON json_t *list = json_array();
    SR_ENSURE(list != NULL, SR_ERR_NOMEM);
    for (size_t i = 0; sr_role_at(i) != NULL; i++) {
        const struct sr_role *r = sr_role_at(i);
        SR_AUTO_JSON json_t *perms = NULL;
        SR_TRY(sr_perms_json(r->perms, &perms));
        char text[512] = "";
        size_t j;
        json_t *p;
        json_array_foreach(perms, j, p) {
            size_t used = strlen(text);
            snprintf(text + used, sizeof(text) - used, "%s%s", j ? "," : "", json_string_value(p));
        }
        SR_ENSURE(json_array_append_new(list, json_pack("{s:s,s:s,s:s}", "name", r->name, "id", r->id, "permissions",
                                                        text)) == 0,
                  SR_ERR_NOMEM);
    }
    *ret = SR_TAKE(list);
    return SR_OK;
}

enum sr_err sr_op_role_definitions(struct sr_vault_svc *svc, struct sr_request *req, json_t **ret)
{
    (void)svc, (void)req;
    SR_AUTO_JSON json_t *list = json_array();
    SR_ENSURE(list != NULL, SR_ERR_NOMEM);
    for (size_t i = 0; sr_role_at(i) != NULL; i++) {
        SR_ENSURE(json_array_append_new(list, sr_definition_json(sr_role_at(i))) == 0, SR_ERR_NOMEM);
    }
    *ret = json_pack("{s:O,s:n}", "value", list, "nextLink");
    SR_ENSURE(*ret != NULL, SR_ERR_NOMEM);
    return SR_OK;
}

enum sr_err sr_op_role_definition_get(struct sr_vault_svc *svc, struct sr_request *req, json_t **ret)
{
    (void)svc;
    const struct sr_role *r = sr_role_by_id(req->name);
    SR_ENSURE(r != NULL, SR_ERR_ROLE_DEFINITION_NOT_FOUND);
    *ret = sr_definition_json(r);
    SR_ENSURE(*ret != NULL, SR_ERR_NOMEM);
    return SR_OK;
}

/* The stored scope seen from vault's host: "/vaults/V/keys/K" → "/keys/K", "/vaults/V" and "/" → "/". */
static const char *sr_scope_on_wire(const char *scope, const char *vault, char *buf, size_t cap)
{
    size_t vlen = strlen(vault);
    if (strncasecmp(scope, "/vaults/", 8) == 0 && strncasecmp(scope + 8, vault, vlen) == 0) {
        snprintf(buf, cap, "%s", scope[8 + vlen] ? scope + 8 + vlen : "/");
        return buf;
    }
    return "/";
}

static json_t *sr_assignment_json(const json_t *doc, const char *vault)
{
    const char *name = json_string_value(json_object_get(doc, "name"));
    char id[160], def[160], scope[SR_MAX_NAME + 16];
    snprintf(id, sizeof(id), "/providers/Microsoft.Authorization/roleAssignments/%s", name ? name : "");
    snprintf(def, sizeof(def), SR_DEFINITIONS "%s", json_string_value(json_object_get(doc, "roleDefinitionId")));
    return json_pack("{s:s,s:s?,s:s,s:{s:s,s:s,s:O?}}", "id", id, "name", name, "type",
                     "Microsoft.Authorization/roleAssignments", "properties", "scope",
                     sr_scope_on_wire(json_string_value(json_object_get(doc, "scope")), vault, scope, sizeof(scope)),
                     "roleDefinitionId", def, "principalId", json_object_get(doc, "principalId"));
}

/* The absolute scope of a request's path scope at its vault. */
static enum sr_err sr_scope_absolute(struct sr_request *req, char *out, size_t cap)
{
    const char *s = req->scope != NULL ? req->scope : "/";
    while (*s == '/') {
        s++;
    }
    if (*s == 0 || strcasecmp(s, "keys") == 0) {
        snprintf(out, cap, "/vaults/%s", req->vault.name);
        return SR_OK;
    }
    SR_ENSURE(strncasecmp(s, "keys/", 5) == 0 && s[5] != 0 && strchr(s + 5, '/') == NULL, SR_ERR_ROLE_SCOPE);
    snprintf(out, cap, "/vaults/%s/keys/%s", req->vault.name, s + 5);
    return SR_OK;
}

enum sr_err sr_op_role_assignments(struct sr_vault_svc *svc, struct sr_request *req, json_t **ret)
{
    SR_AUTO(sr_ident_snapshot_release) struct sr_ident_snapshot snap = {0};
    SR_TRY(sr_ident_snapshot(svc, SR_ID_ASSIGNMENTS, &snap));
    SR_AUTO_JSON json_t *list = json_array();
    SR_ENSURE(list != NULL, SR_ERR_NOMEM);
    size_t i;
    const json_t *a;
    json_array_foreach(snap.assignments, i, a) {
        const char *scope = json_string_value(json_object_get(a, "scope"));
        size_t vlen = strlen(req->vault.name);
        bool here = scope != NULL && (strcmp(scope, "/") == 0 || (strncasecmp(scope, "/vaults/", 8) == 0 &&
                                                                 strncasecmp(scope + 8, req->vault.name, vlen) == 0 &&
                                                                 (scope[8 + vlen] == 0 || scope[8 + vlen] == '/')));
        if (here) {
            SR_ENSURE(json_array_append_new(list, sr_assignment_json(a, req->vault.name)) == 0, SR_ERR_NOMEM);
        }
    }
    *ret = json_pack("{s:O,s:n}", "value", list, "nextLink");
    SR_ENSURE(*ret != NULL, SR_ERR_NOMEM);
    return SR_OK;
}

static enum sr_err sr_assignment_load(struct sr_vault_svc *svc, struct sr_request *req, json_t **ret)
{
    SR_ENSURE(req->name != NULL && sr_is_uuid(req->name), SR_ERR_ROLE_ASSIGNMENT_NOT_FOUND);
    enum sr_err r = svc->store->ops->ident_get(svc->store, SR_IDENT_ASSIGNMENT, req->name, ret);
    SR_ENSURE(r != SR_ERR_NOT_FOUND, SR_ERR_ROLE_ASSIGNMENT_NOT_FOUND);
    return r;
}

enum sr_err sr_op_role_assignment_get(struct sr_vault_svc *svc, struct sr_request *req, json_t **ret)
{
    SR_AUTO_JSON json_t *doc = NULL;
    SR_TRY(sr_assignment_load(svc, req, &doc));
    *ret = sr_assignment_json(doc, req->vault.name);
    SR_ENSURE(*ret != NULL, SR_ERR_NOMEM);
    return SR_OK;
}

enum sr_err sr_op_role_assignment_put(struct sr_vault_svc *svc, struct sr_request *req, json_t **ret)
{
    const json_t *props = json_object_get(req->body, "properties");
    const char *def = json_string_value(json_object_get(props, "roleDefinitionId"));
    const char *principal = json_string_value(json_object_get(props, "principalId"));
    SR_ENSURE(def != NULL && principal != NULL,
              sr_req_bad(req, "the body is {\"properties\": {\"roleDefinitionId\": ..., \"principalId\": ...}}"));
    SR_ENSURE(sr_role_by_id(def) != NULL, SR_ERR_ROLE_DEFINITION_NOT_FOUND);
    SR_ENSURE(req->name != NULL && sr_is_uuid(req->name), SR_ERR_ROLE_ASSIGNMENT_NAME);
    char scope[SR_MAX_VAULT + SR_MAX_NAME + 16];
    SR_TRY(sr_scope_absolute(req, scope, sizeof(scope)));
    SR_AUTO_JSON json_t *existing = NULL;
    enum sr_err r = svc->store->ops->ident_get(svc->store, SR_IDENT_ASSIGNMENT, req->name, &existing);
    SR_ENSURE(r == SR_ERR_NOT_FOUND, r == SR_OK ? SR_ERR_ROLE_ASSIGNMENT_EXISTS : r);
    SR_AUTO_JSON json_t *doc = NULL;
    r = sr_role_assignment_make(svc->store, principal, def, scope, req->name, &doc);
    SR_ENSURE(r != SR_ERR_APP_NOT_FOUND, sr_req_bad(req, "principalId %.60s is no application's object id and no "
                                                         "token's label", principal));
    SR_TRY(r);
    SR_TRY(sr_commit_ident(&req->commit, SR_IDENT_ASSIGNMENT, req->name, doc));
    req->status = 201;
    *ret = sr_assignment_json(doc, req->vault.name);
    SR_ENSURE(*ret != NULL, SR_ERR_NOMEM);
    return SR_OK;
}

enum sr_err sr_op_role_assignment_delete(struct sr_vault_svc *svc, struct sr_request *req, json_t **ret)
{
    SR_AUTO_JSON json_t *doc = NULL;
    SR_TRY(sr_assignment_load(svc, req, &doc));
    SR_TRY(sr_commit_ident(&req->commit, SR_IDENT_ASSIGNMENT, req->name, NULL));
    *ret = sr_assignment_json(doc, req->vault.name);
    SR_ENSURE(*ret != NULL, SR_ERR_NOMEM);
    return SR_OK;
}
