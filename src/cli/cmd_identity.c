/* cmd_identity.c - `app`, `idp`, `role` and `authority`: the identities the token authority signs in and what
 * role assignments let them do (docs/identity.md). Each writes the store, as `token` does: a running server
 * sees the change at its next request. */
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/fileio.h"
#include "base/json.h"
#include "base/text.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/output.h"
#include "vault/vault.h"

#define SR_OPT_OUTPUT {"output", "-o", true, SR_OUTPUT_HELP}

static const struct sr_opt sr_opts_ident[] = {
    SR_OPTS_DATA_STORE,
    SR_OPT_OUTPUT,
    {NULL, NULL, false, NULL},
};

static const struct sr_opt sr_opts_app_create[] = {
    SR_OPTS_DATA_STORE,
    SR_OPT_OUTPUT,
    {"secret", NULL, false, "make a client secret (shown once)"},
    {"certificate", NULL, true, "a PEM certificate whose key signs the application's client assertions"},
    {"expires-days", NULL, true, "days the client secret lives (default 365)"},
    {NULL, NULL, false, NULL},
};

/* The words for an identity command's refusals that name what the operator gave. */
static enum sr_err sr_ident_said(struct sr_cli *cli, enum sr_err r, const char *what)
{
    if (r == SR_ERR_APP_NOT_FOUND || r == SR_ERR_APP_EXISTS || r == SR_ERR_CREDENTIAL_NOT_FOUND ||
        r == SR_ERR_ROLE_ASSIGNMENT_NOT_FOUND || r == SR_ERR_VAULT_NOT_FOUND || r == SR_ERR_NOT_FOUND) {
        sr_cli_detail(cli, "%s", what);
    }
    return r;
}

/* Adds a secret and/or a certificate from the options to app; the secret goes into out, shown once. */
static enum sr_err sr_app_add_credentials(struct sr_cli *cli, const struct sr_args *args, struct sr_store *store,
                                          const char *app, json_t *out)
{
    const char *days_text = sr_arg(args, args->opts, "expires-days");
    unsigned long days = 0;
    if (days_text != NULL && sr_parse_uint(days_text, 1, 3650, &days) != SR_OK) {
        sr_cli_detail(cli, "--expires-days is a number of days from 1 to 3650");
        return SR_ERR_USAGE;
    }
    const char *cert = sr_arg(args, args->opts, "certificate");
    if (cert != NULL) {
        SR_AUTO_BUF struct sr_buf pem = {0};
        sr_buf_init(&pem, 1024 * 1024, SR_BUF_PLAIN);
        if (sr_file_read(cert, &pem) != SR_OK) {
            sr_cli_detail(cli, "cannot read %s", cert);
            return SR_ERR_IO;
        }
        char id[9];
        SR_TRY(sr_ident_said(cli, sr_app_certificate_add(store, app, pem.data, pem.len, id), app));
        SR_ENSURE(json_object_set_new(out, "certificateId", json_string(id)) == 0, SR_ERR_NOMEM);
    }
    if (sr_arg_set(args, args->opts, "secret")) {
        char secret[SR_SECRET_TEXT], id[9];
        SR_TRY(sr_ident_said(cli, sr_app_secret_add(store, app, (unsigned)days, secret, id), app));
        int rc = json_object_set_new(out, "secretId", json_string(id)) |
                 json_object_set_new(out, "secret", json_string(secret));
        sr_wipe(secret, sizeof(secret));
        SR_ENSURE(rc == 0, SR_ERR_NOMEM);
    }
    return SR_OK;
}

static const struct sr_column sr_app_cols[] = {
    {"name", "NAME"}, {"clientId", "CLIENT ID"}, {"objectId", "OBJECT ID"}, {"tenantId", "TENANT"},
    {"secretId", "SECRET ID"}, {"secret", "SECRET (SHOWN ONCE)"}, {"certificateId", "CERTIFICATE ID"}, {NULL, NULL},
};

static enum sr_err sr_cmd_app_create(struct sr_cli *cli, const struct sr_args *args)
{
    enum sr_output format;
    SR_TRY(sr_output_parse(cli, sr_arg(args, args->opts, "output"), &format));
    SR_AUTO_STORE struct sr_store *store = NULL;
    SR_TRY(sr_open_store(cli, args, args->opts, &store));
    SR_AUTO_JSON json_t *doc = NULL;
    SR_TRY(sr_ident_said(cli, sr_app_create(store, args->pos[0], &doc), args->pos[0]));
    SR_AUTO_JSON json_t *out = json_pack("{s:O,s:O,s:O,s:s}", "name", json_object_get(doc, "name"), "clientId",
                                         json_object_get(doc, "clientId"), "objectId", json_object_get(doc, "objectId"),
                                         "tenantId", SR_TENANT_ID);
    SR_ENSURE(out != NULL, SR_ERR_NOMEM);
    enum sr_err r = sr_app_add_credentials(cli, args, store, json_string_value(json_object_get(doc, "clientId")), out);
    if (r != SR_OK) { /* all or nothing: an application without the credential asked for is no use */
        (void)!sr_app_delete(store, json_string_value(json_object_get(doc, "clientId")));
        return r;
    }
    r = sr_output_object(cli, format, out, sr_app_cols);
    json_t *secret = json_object_get(out, "secret");
    if (secret != NULL) {
        sr_wipe((char *)json_string_value(secret), json_string_length(secret));
    }
    return r;
}

static const struct sr_opt sr_opts_credential_add[] = {
    SR_OPTS_DATA_STORE,
    SR_OPT_OUTPUT,
    {"secret", NULL, false, "add a client secret (shown once)"},
    {"certificate", NULL, true, "add a PEM certificate"},
    {"expires-days", NULL, true, "days the client secret lives (default 365)"},
    {NULL, NULL, false, NULL},
};

static enum sr_err sr_cmd_credential_add(struct sr_cli *cli, const struct sr_args *args)
{
    if (!sr_arg_set(args, args->opts, "secret") && sr_arg(args, args->opts, "certificate") == NULL) {
        sr_cli_detail(cli, "give --secret or --certificate FILE");
        return SR_ERR_USAGE;
    }
    enum sr_output format;
    SR_TRY(sr_output_parse(cli, sr_arg(args, args->opts, "output"), &format));
    SR_AUTO_STORE struct sr_store *store = NULL;
    SR_TRY(sr_open_store(cli, args, args->opts, &store));
    SR_AUTO_JSON json_t *out = json_pack("{s:s}", "name", args->pos[0]);
    SR_ENSURE(out != NULL, SR_ERR_NOMEM);
    SR_TRY(sr_app_add_credentials(cli, args, store, args->pos[0], out));
    return sr_output_object(cli, format, out, sr_app_cols);
}

static enum sr_err sr_cmd_credential_remove(struct sr_cli *cli, const struct sr_args *args)
{
    SR_AUTO_STORE struct sr_store *store = NULL;
    SR_TRY(sr_open_store(cli, args, args->opts, &store));
    char what[300];
    snprintf(what, sizeof(what), "%s has no credential %s ('strongroom app show %s')", args->pos[0], args->pos[1],
             args->pos[0]);
    SR_TRY(sr_ident_said(cli, sr_app_credential_remove(store, args->pos[0], args->pos[1]), what));
    fprintf(cli->out, "Credential %s of %s removed: it signs nothing in from now on.\n", args->pos[1], args->pos[0]);
    return SR_OK;
}

static enum sr_err sr_fill_apps(struct sr_store *store, const struct sr_args *args, json_t *rows)
{
    (void)args;
    SR_AUTO_JSON json_t *apps = NULL;
    SR_TRY(sr_app_list(store, &apps));
    size_t i;
    json_t *a;
    json_array_foreach(apps, i, a) {
        json_t *row = json_pack("{s:O,s:O,s:O,s:I,s:I,s:I}", "name", json_object_get(a, "name"), "clientId",
                                json_object_get(a, "clientId"), "objectId", json_object_get(a, "objectId"), "secrets",
                                (json_int_t)json_array_size(json_object_get(a, "secrets")), "certificates",
                                (json_int_t)json_array_size(json_object_get(a, "certificates")), "federated",
                                (json_int_t)json_array_size(json_object_get(a, "federated")));
        SR_ENSURE(row != NULL && json_array_append_new(rows, row) == 0, SR_ERR_NOMEM);
    }
    return SR_OK;
}

static enum sr_err sr_cmd_app_list(struct sr_cli *cli, const struct sr_args *args)
{
    static const struct sr_column cols[] = {
        {"name", "NAME"}, {"clientId", "CLIENT ID"}, {"objectId", "OBJECT ID"}, {"secrets", "SECRETS"},
        {"certificates", "CERTIFICATES"}, {"federated", "FEDERATED"}, {NULL, NULL},
    };
    return sr_list_rows(cli, args, sr_fill_apps, cols);
}

static enum sr_err sr_cmd_app_show(struct sr_cli *cli, const struct sr_args *args)
{
    SR_AUTO_STORE struct sr_store *store = NULL;
    SR_TRY(sr_open_store(cli, args, args->opts, &store));
    SR_AUTO_JSON json_t *doc = NULL;
    SR_TRY(sr_ident_said(cli, sr_app_find(store, args->pos[0], &doc), args->pos[0]));
    SR_AUTO_JSON json_t *view = sr_app_view(doc);
    SR_ENSURE(view != NULL && json_object_set_new(view, "tenantId", json_string(SR_TENANT_ID)) == 0, SR_ERR_NOMEM);
    /* Credentials are lists: JSON whatever --output says. */
    SR_AUTO_FREE char *text = json_dumps(view, JSON_INDENT(2) | JSON_SORT_KEYS);
    SR_ENSURE(text != NULL, SR_ERR_NOMEM);
    fprintf(cli->out, "%s\n", text);
    return SR_OK;
}

static enum sr_err sr_cmd_app_delete(struct sr_cli *cli, const struct sr_args *args)
{
    SR_AUTO_STORE struct sr_store *store = NULL;
    SR_TRY(sr_open_store(cli, args, args->opts, &store));
    SR_TRY(sr_ident_said(cli, sr_app_delete(store, args->pos[0]), args->pos[0]));
    fprintf(cli->out, "Application %s deleted, with its role assignments: its tokens are refused from now on.\n",
            args->pos[0]);
    return SR_OK;
}

static const struct sr_opt sr_opts_federate[] = {
    SR_OPTS_DATA_STORE,
    {"issuer", NULL, true, "the workload's token issuer (trusted with 'strongroom idp trust')"},
    {"subject", NULL, true, "the tokens' sub (system:serviceaccount:NS:NAME, repo:ORG/REPO:ref:..., ...)"},
    {"audience", NULL, true, "an aud the tokens must have (default api://AzureADTokenExchange)"},
    {NULL, NULL, false, NULL},
};

static enum sr_err sr_cmd_app_federate(struct sr_cli *cli, const struct sr_args *args)
{
    const char *issuer = sr_arg(args, args->opts, "issuer"), *subject = sr_arg(args, args->opts, "subject");
    const char *audience = sr_arg(args, args->opts, "audience");
    if (issuer == NULL || subject == NULL) {
        sr_cli_detail(cli, "--issuer and --subject are required");
        return SR_ERR_USAGE;
    }
    SR_AUTO_STORE struct sr_store *store = NULL;
    SR_TRY(sr_open_store(cli, args, args->opts, &store));
    char id[9];
    SR_TRY(sr_ident_said(cli, sr_app_federate(store, args->pos[0], issuer, subject,
                                              audience ? audience : "api://AzureADTokenExchange", id),
                         args->pos[0]));
    fprintf(cli->out, "Federated credential %s of %s: tokens of %s for %s sign it in.\n", id, args->pos[0], issuer,
            subject);
    return SR_OK;
}

static const struct sr_cmd sr_cmds_app_credential[] = {
    {"add", sr_cmd_credential_add, 0, 1, 1, sr_opts_credential_add, NULL,
     "app credential add APP (--secret [--expires-days N] | --certificate FILE.pem) --data DIR",
     "another client secret or certificate, for rotation"},
    {"remove", sr_cmd_credential_remove, 0, 2, 2, sr_opts_ident, NULL, "app credential remove APP ID --data DIR",
     "remove a secret, certificate or federated credential by its id"},
    {NULL, NULL, 0, 0, 0, NULL, NULL, NULL, NULL},
};

const struct sr_cmd sr_cmds_app[] = {
    {"create", sr_cmd_app_create, 0, 1, 1, sr_opts_app_create, NULL,
     "app create NAME [--secret [--expires-days N]] [--certificate FILE.pem] --data DIR",
     "register an application: prints its client id (and a secret, once)"},
    {"list", sr_cmd_app_list, 0, 0, 0, sr_opts_ident, NULL, "app list [--output table|tsv|json] --data DIR",
     "every application and how many credentials it has"},
    {"show", sr_cmd_app_show, 0, 1, 1, sr_opts_ident, NULL, "app show NAME|CLIENT-ID --data DIR",
     "an application's ids and credentials (never a secret)"},
    {"delete", sr_cmd_app_delete, 0, 1, 1, sr_opts_ident, NULL, "app delete NAME|CLIENT-ID --data DIR",
     "delete an application and its role assignments"},
    {"credential", NULL, 0, 0, 0, NULL, sr_cmds_app_credential, "app credential add|remove",
     "an application's secrets and certificates"},
    {"federate", sr_cmd_app_federate, 0, 1, 1, sr_opts_federate, NULL,
     "app federate APP --issuer URL --subject SUB [--audience AUD] --data DIR",
     "let a workload's own tokens (Kubernetes, GitHub Actions, any OIDC issuer) sign the application in"},
    {NULL, NULL, 0, 0, 0, NULL, NULL, NULL, NULL},
};

/* --- idp --- */

static const struct sr_opt sr_opts_idp_trust[] = {
    SR_OPTS_DATA_STORE,
    {"issuer", NULL, true, "the issuer (its tokens' iss)"},
    {"jwks", NULL, true, "a file with the issuer's public keys (JWKS): the server makes no outbound call"},
    {"discovery", NULL, false, "read the keys from the issuer (OIDC discovery), and again when a token names a new one"},
    {NULL, NULL, false, NULL},
};

static enum sr_err sr_cmd_idp_trust(struct sr_cli *cli, const struct sr_args *args)
{
    const char *issuer = sr_arg(args, args->opts, "issuer"), *path = sr_arg(args, args->opts, "jwks");
    bool discovery = sr_arg_set(args, args->opts, "discovery");
    if (issuer == NULL || (path == NULL) == !discovery) {
        sr_cli_detail(cli, "give --issuer URL and one of --jwks FILE or --discovery");
        return SR_ERR_USAGE;
    }
    SR_AUTO_JSON json_t *jwks = NULL;
    if (discovery) {
        enum sr_err r = sr_fetch_jwks(NULL, issuer, &jwks);
        if (r != SR_OK) {
            sr_cli_detail(cli, "%s/.well-known/openid-configuration, then its jwks_uri", issuer);
            return r;
        }
    } else {
        SR_AUTO_BUF struct sr_buf text = {0};
        sr_buf_init(&text, 1024 * 1024, SR_BUF_PLAIN);
        if (sr_file_read(path, &text) != SR_OK) {
            sr_cli_detail(cli, "cannot read %s", path);
            return SR_ERR_IO;
        }
        jwks = json_loadb((const char *)text.data, text.len, JSON_REJECT_DUPLICATES, NULL);
        SR_ENSURE(jwks != NULL, SR_ERR_IDP_JWKS);
    }
    SR_AUTO_STORE struct sr_store *store = NULL;
    SR_TRY(sr_open_store(cli, args, args->opts, &store));
    SR_TRY(sr_idp_trust(store, issuer, jwks, discovery));
    fprintf(cli->out, "Issuer %s trusted for federation (%zu keys); an application accepts its tokens once "
                      "'strongroom app federate' names their subject.\n",
            issuer, json_array_size(json_object_get(jwks, "keys")));
    return SR_OK;
}

static enum sr_err sr_fill_idps(struct sr_store *store, const struct sr_args *args, json_t *rows)
{
    (void)args;
    SR_AUTO_JSON json_t *list = NULL;
    SR_TRY(sr_ident_list(store, SR_IDENT_IDP, &list));
    size_t i;
    json_t *d;
    json_array_foreach(list, i, d) {
        json_t *row = json_pack("{s:O,s:I}", "issuer", json_object_get(d, "issuer"), "keys",
                                (json_int_t)json_array_size(json_object_get(json_object_get(d, "jwks"), "keys")));
        SR_ENSURE(row != NULL && json_array_append_new(rows, row) == 0, SR_ERR_NOMEM);
    }
    return SR_OK;
}

static enum sr_err sr_cmd_idp_list(struct sr_cli *cli, const struct sr_args *args)
{
    static const struct sr_column cols[] = {{"issuer", "ISSUER"}, {"keys", "KEYS"}, {NULL, NULL}};
    return sr_list_rows(cli, args, sr_fill_idps, cols);
}

static enum sr_err sr_cmd_idp_distrust(struct sr_cli *cli, const struct sr_args *args)
{
    SR_AUTO_STORE struct sr_store *store = NULL;
    SR_TRY(sr_open_store(cli, args, args->opts, &store));
    SR_TRY(sr_ident_said(cli, sr_idp_distrust(store, args->pos[0]), "no such trusted issuer ('strongroom idp list')"));
    fprintf(cli->out, "Issuer %s trusted no more: its tokens sign nothing in.\n", args->pos[0]);
    return SR_OK;
}

const struct sr_cmd sr_cmds_idp[] = {
    {"trust", sr_cmd_idp_trust, 0, 0, 0, sr_opts_idp_trust, NULL, "idp trust --issuer URL (--jwks FILE | --discovery) --data DIR",
     "trust an OIDC issuer's tokens for federated credentials"},
    {"list", sr_cmd_idp_list, 0, 0, 0, sr_opts_ident, NULL, "idp list [--output table|tsv|json] --data DIR",
     "the trusted issuers"},
    {"distrust", sr_cmd_idp_distrust, 0, 1, 1, sr_opts_ident, NULL, "idp distrust ISSUER --data DIR",
     "trust an issuer no more"},
    {NULL, NULL, 0, 0, 0, NULL, NULL, NULL, NULL},
};

/* --- role --- */

static const struct sr_opt sr_opts_assign[] = {
    SR_OPTS_DATA_STORE,
    SR_OPT_OUTPUT,
    {"role", NULL, true, "a built-in role ('role definition list'): Crypto User, Reader, ..."},
    {"assignee", NULL, true, "an application (name, client id or object id) or a token's label"},
    {"scope", NULL, true, "/ (every vault, the default), /vaults/VAULT or /vaults/VAULT/keys/KEY"},
    {NULL, NULL, false, NULL},
};

static const struct sr_column sr_assignment_cols[] = {
    {"name", "NAME"}, {"roleName", "ROLE"}, {"principalId", "PRINCIPAL"}, {"principalType", "TYPE"},
    {"scope", "SCOPE"}, {NULL, NULL},
};

/* The operator, as the audit log names a grant's maker: "cli:" and the user running the command. */
static void sr_operator(char out[SR_MAX_TOKEN_NAME + 1])
{
    const struct passwd *pw = getpwuid(geteuid());
    snprintf(out, SR_MAX_TOKEN_NAME + 1, "cli:%s", pw != NULL ? pw->pw_name : "?");
}

static enum sr_err sr_cmd_assignment_create(struct sr_cli *cli, const struct sr_args *args)
{
    const char *role = sr_arg(args, args->opts, "role"), *who = sr_arg(args, args->opts, "assignee");
    const char *scope = sr_arg(args, args->opts, "scope");
    if (role == NULL || who == NULL) {
        sr_cli_detail(cli, "--role and --assignee are required");
        return SR_ERR_USAGE;
    }
    enum sr_output format;
    SR_TRY(sr_output_parse(cli, sr_arg(args, args->opts, "output"), &format));
    SR_AUTO_STORE struct sr_store *store = NULL;
    SR_TRY(sr_open_store(cli, args, args->opts, &store));
    SR_AUTO_JSON json_t *doc = NULL;
    char what[300];
    snprintf(what, sizeof(what), "no application or token label %s, or no such vault in the scope", who);
    char operator[SR_MAX_TOKEN_NAME + 1];
    sr_operator(operator);
    SR_TRY(sr_ident_said(cli, sr_role_assignment_create(store, who, role, scope ? scope : "/", operator, &doc), what));
    return sr_output_object(cli, format, doc, sr_assignment_cols);
}

static enum sr_err sr_fill_assignments(struct sr_store *store, const struct sr_args *args, json_t *rows)
{
    (void)args;
    SR_AUTO_JSON json_t *list = NULL;
    SR_TRY(sr_ident_list(store, SR_IDENT_ASSIGNMENT, &list));
    return json_array_extend(rows, list) == 0 ? SR_OK : SR_ERR_NOMEM;
}

static enum sr_err sr_cmd_assignment_list(struct sr_cli *cli, const struct sr_args *args)
{
    return sr_list_rows(cli, args, sr_fill_assignments, sr_assignment_cols);
}

static enum sr_err sr_cmd_assignment_delete(struct sr_cli *cli, const struct sr_args *args)
{
    SR_AUTO_STORE struct sr_store *store = NULL;
    SR_TRY(sr_open_store(cli, args, args->opts, &store));
    char operator[SR_MAX_TOKEN_NAME + 1];
    sr_operator(operator);
    SR_TRY(sr_ident_said(cli, sr_role_assignment_delete(store, args->pos[0], operator), args->pos[0]));
    fprintf(cli->out, "Role assignment %s deleted: it allows nothing from the next request on.\n", args->pos[0]);
    return SR_OK;
}

static enum sr_err sr_fill_definitions(struct sr_store *store, const struct sr_args *args, json_t *rows)
{
    (void)store, (void)args;
    SR_AUTO_JSON json_t *defs = NULL;
    SR_TRY(sr_role_definitions_json(&defs));
    return json_array_extend(rows, defs) == 0 ? SR_OK : SR_ERR_NOMEM;
}

static enum sr_err sr_cmd_definition_list(struct sr_cli *cli, const struct sr_args *args)
{
    static const struct sr_column cols[] = {{"name", "NAME"}, {"id", "ID"}, {"permissions", "PERMISSIONS"}, {NULL, NULL}};
    return sr_list_rows(cli, args, sr_fill_definitions, cols);
}

static const struct sr_cmd sr_cmds_assignment[] = {
    {"create", sr_cmd_assignment_create, 0, 0, 0, sr_opts_assign, NULL,
     "role assignment create --role ROLE --assignee APP|TOKEN-LABEL [--scope SCOPE] --data DIR",
     "grant a role at a scope: effective from the next request"},
    {"list", sr_cmd_assignment_list, 0, 0, 0, sr_opts_ident, NULL,
     "role assignment list [--output table|tsv|json] --data DIR", "every role assignment"},
    {"delete", sr_cmd_assignment_delete, 0, 1, 1, sr_opts_ident, NULL, "role assignment delete NAME --data DIR",
     "remove a role assignment: effective from the next request"},
    {NULL, NULL, 0, 0, 0, NULL, NULL, NULL, NULL},
};

static const struct sr_cmd sr_cmds_definition[] = {
    {"list", sr_cmd_definition_list, 0, 0, 0, sr_opts_ident, NULL,
     "role definition list [--output table|tsv|json] --data DIR", "the built-in roles and what each allows"},
    {NULL, NULL, 0, 0, 0, NULL, NULL, NULL, NULL},
};

const struct sr_cmd sr_cmds_role[] = {
    {"assignment", NULL, 0, 0, 0, NULL, sr_cmds_assignment, "role assignment create|list|delete",
     "who has which role where"},
    {"definition", NULL, 0, 0, 0, NULL, sr_cmds_definition, "role definition list", "the built-in roles"},
    {NULL, NULL, 0, 0, 0, NULL, NULL, NULL, NULL},
};

/* --- authority --- */

static enum sr_err sr_cmd_authority_rotate(struct sr_cli *cli, const struct sr_args *args)
{
    SR_AUTO_STORE struct sr_store *store = NULL;
    SR_TRY(sr_open_store(cli, args, args->opts, &store));
    SR_TRY(sr_authority_rotate(store));
    fprintf(cli->out, "Signing key retired: the next token is signed by a new key made in a region's module; "
                      "tokens signed before stay good until they expire.\n");
    return SR_OK;
}

const struct sr_cmd sr_cmds_authority[] = {
    {"rotate", sr_cmd_authority_rotate, 0, 0, 0, sr_opts_ident, NULL, "authority rotate --data DIR",
     "retire the key that signs access tokens (a new one is made at the next token)"},
    {NULL, NULL, 0, 0, 0, NULL, NULL, NULL, NULL},
};
