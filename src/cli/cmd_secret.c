/*
 * cmd_secret.c - `strongroom secret ...`: a vault's secrets over the API, with `az keyvault secret`'s
 * subcommand and option names. A value comes from --value or --file (--encoding utf-8, base64 or hex, kept
 * in the tag file-encoding as az keeps it, so that download writes the file's bytes back).
 */
#include <stdio.h>
#include <string.h>

#include "base/json.h"
#include "base/text.h"
#include "cli/client.h"
#include "crypto/jwk.h"
#include "crypto/ossl.h"

#define SR_SECRET_MAX_VALUE 25600u

#define SR_OPT_SECRET_NAME {"name", "-n", true, "secret name"}
#define SR_OPT_SECRET_VERSION {"version", NULL, true, "secret version (default: the latest)"}
#define SR_OPT_SECRET_ATTRS                                                                                   \
    {"content-type", NULL, true, "what the value is (contentType), e.g. text/plain"},                          \
    {"tags", NULL, true, "tags as k=v pairs, comma separated (\"\" removes them all)"},                       \
    {"expires", NULL, true, "expiry (exp), ISO-8601 UTC such as 2027-01-01T00:00:00Z; 'none' clears it"},      \
    {"not-before", NULL, true, "not valid before (nbf), ISO-8601 UTC; 'none' clears it"}

/* A SecretBundle or SecretItem as one row: name and version from its id. */
static json_t *sr_secret_row(const json_t *item)
{
    const json_t *attrs = json_object_get(item, "attributes");
    const char *id = json_string_value(json_object_get(item, "id"));
    const char *p = id ? strstr(id, "/secrets/") : NULL;
    char name[256] = "-", version[64] = "-";
    if (p != NULL) {
        p += strlen("/secrets/");
        const char *slash = strchr(p, '/');
        snprintf(name, sizeof(name), "%.*s", slash ? (int)(slash - p) : (int)strlen(p), p);
        if (slash != NULL) {
            snprintf(version, sizeof(version), "%s", slash + 1);
        }
    }
    const char *ct = json_string_value(json_object_get(item, "contentType"));
    json_t *row = json_pack("{s:s,s:s,s:s,s:s,s:b}", "name", name, "version", version, "id", id ? id : "-",
                            "contentType", ct ? ct : "-", "enabled", json_is_true(json_object_get(attrs, "enabled")));
    if (row == NULL) {
        return NULL;
    }
    sr_cli_row_time(row, "created", json_object_get(attrs, "created"));
    sr_cli_row_time(row, "updated", json_object_get(attrs, "updated"));
    sr_cli_row_time(row, "notBefore", json_object_get(attrs, "nbf"));
    sr_cli_row_time(row, "expires", json_object_get(attrs, "exp"));
    json_object_set_new(row, "tags", sr_cli_joined(json_object_get(item, "tags"), true));
    const json_t *value = json_object_get(item, "value");
    if (json_is_string(value)) {
        json_object_set(row, "value", (json_t *)value);
    }
    if (json_object_get(item, "recoveryId") != NULL) {
        sr_cli_row_time(row, "deleted", json_object_get(item, "deletedDate"));
        sr_cli_row_time(row, "purgeAfter", json_object_get(item, "scheduledPurgeDate"));
        json_object_set_new(row, "recoveryId", json_string(json_string_value(json_object_get(item, "recoveryId"))));
    }
    return row;
}

static const struct sr_column sr_secret_columns[] = {
    {"name", "name"}, {"version", "version"}, {"id", "id"}, {"contentType", "content type"},
    {"enabled", "enabled"}, {"created", "created"}, {"updated", "updated"}, {"notBefore", "not before"},
    {"expires", "expires"}, {"tags", "tags"}, {"value", "value"}, {"deleted", "deleted"},
    {"purgeAfter", "purge after"}, {"recoveryId", "recovery id"}, {NULL, NULL},
};
static const struct sr_column sr_secret_list_columns[] = {
    {"name", "NAME"}, {"contentType", "CONTENT TYPE"}, {"enabled", "ENABLED"}, {"updated", "UPDATED"},
    {"expires", "EXPIRES"}, {"tags", "TAGS"}, {NULL, NULL},
};
static const struct sr_column sr_secret_version_columns[] = {
    {"version", "VERSION"}, {"contentType", "CONTENT TYPE"}, {"enabled", "ENABLED"}, {"created", "CREATED"},
    {"notBefore", "NOT BEFORE"}, {"expires", "EXPIRES"}, {NULL, NULL},
};
static const struct sr_column sr_secret_deleted_columns[] = {
    {"name", "NAME"}, {"deleted", "DELETED"}, {"purgeAfter", "PURGE AFTER"}, {"recoveryId", "RECOVERY ID"},
    {NULL, NULL},
};

/* Calls path and prints the secret it answers (nothing for 204). */
static enum sr_err sr_secret_call(struct sr_cli *cli, const struct sr_args *a, const char *method, const char *path,
                                  const json_t *body)
{
    return sr_cli_call_item(cli, a, method, path, body, sr_secret_row, sr_secret_columns);
}

static bool sr_is(const char *a, const char *b)
{
    return a != NULL && strcmp(a, b) == 0;
}

/* --encoding: how a file's bytes become the value (and back): utf-8 (as they are), base64 or hex. */
static enum sr_err sr_encoding(struct sr_cli *cli, const char *given, const char **ret)
{
    const char *e = given != NULL ? given : "utf-8";
    if (!sr_is(e, "utf-8") && !sr_is(e, "base64") && !sr_is(e, "hex")) {
        sr_cli_detail(cli, "--encoding is utf-8, base64 or hex");
        return SR_ERR_USAGE;
    }
    *ret = e;
    return SR_OK;
}

/* The value of `secret set`: --value, or --file's bytes in --encoding. */
static enum sr_err sr_secret_value(struct sr_cli *cli, const struct sr_args *a, const char *encoding, json_t **ret)
{
    const char *value = sr_cli_opt(a, "value");
    const char *file = sr_cli_opt(a, "file");
    if ((value == NULL) == (file == NULL)) {
        sr_cli_detail(cli, "give the value with --value TEXT or --file F (not both)");
        return SR_ERR_USAGE;
    }
    if (value != NULL) {
        *ret = json_string(value);
        if (*ret == NULL) {
            sr_cli_detail(cli, "--value is not UTF-8 text: put the bytes in a file and give --file F --encoding base64");
            return SR_ERR_USAGE;
        }
        return SR_OK;
    }
    SR_AUTO_BUF struct sr_buf in = {0};
    SR_TRY(sr_cli_read_input(cli, file, &in));
    SR_AUTO_BUF struct sr_buf text = {0};
    sr_buf_init(&text, SR_SECRET_MAX_VALUE * 4, SR_BUF_SECRET);
    if (sr_is(encoding, "base64")) {
        SR_TRY(sr_b64_encode(in.data, in.len, &text));
    } else if (sr_is(encoding, "hex")) {
        SR_TRY(sr_buf_reserve(&text, in.len * 2 + 1));
        sr_hex_encode(in.data, in.len, (char *)text.data);
        text.len = in.len * 2;
    } else {
        SR_TRY(sr_buf_append(&text, in.data, in.len));
    }
    *ret = json_stringn((const char *)text.data, text.len);
    if (*ret == NULL) {
        sr_cli_detail(cli, "%s is not UTF-8 text: give --encoding base64 (or hex) for a binary file", file);
        return SR_ERR_USAGE;
    }
    return SR_OK;
}

static enum sr_err sr_cmd_secret_set(struct sr_cli *cli, const struct sr_args *a)
{
    char path[512];
    SR_TRY(sr_cli_object_path(cli, a, "secrets", false, "", path, sizeof(path)));
    const char *encoding = NULL;
    SR_TRY(sr_encoding(cli, sr_cli_opt(a, "encoding"), &encoding));
    json_t *value = NULL;
    SR_TRY(sr_secret_value(cli, a, encoding, &value));
    SR_AUTO_JSON json_t *body = json_pack("{s:o}", "value", value);
    SR_ENSURE(body != NULL, SR_ERR_NOMEM);
    SR_TRY(sr_cli_attrs_body(cli, a, body));
    if (sr_cli_opt(a, "content-type") != NULL) {
        json_object_set_new(body, "contentType", json_string(sr_cli_opt(a, "content-type")));
    }
    if (sr_cli_opt(a, "file") != NULL) { /* as az: the file's encoding in a tag, which download reads */
        json_t *tags = json_object_get(body, "tags");
        if (tags == NULL) {
            tags = json_object();
            json_object_set_new(body, "tags", tags);
        }
        json_object_set_new(tags, "file-encoding", json_string(encoding));
    }
    return sr_secret_call(cli, a, "PUT", path, body);
}

static enum sr_err sr_cmd_secret_set_attributes(struct sr_cli *cli, const struct sr_args *a)
{
    char path[512];
    SR_TRY(sr_cli_object_path(cli, a, "secrets", true, "", path, sizeof(path)));
    SR_AUTO_JSON json_t *body = json_object();
    SR_ENSURE(body != NULL, SR_ERR_NOMEM);
    SR_TRY(sr_cli_attrs_body(cli, a, body));
    if (sr_cli_opt(a, "content-type") != NULL) {
        json_object_set_new(body, "contentType", json_string(sr_cli_opt(a, "content-type")));
    }
    if (json_object_size(body) == 1 && json_object_size(json_object_get(body, "attributes")) == 0) {
        sr_cli_detail(cli, "nothing to set: give --enabled, --expires, --not-before, --tags or --content-type");
        return SR_ERR_USAGE;
    }
    return sr_secret_call(cli, a, "PATCH", path, body);
}

static enum sr_err sr_secret_simple(struct sr_cli *cli, const struct sr_args *a, const char *collection,
                                    bool versioned, const char *suffix, const char *method)
{
    char path[512];
    SR_TRY(sr_cli_object_path(cli, a, collection, versioned, suffix, path, sizeof(path)));
    return sr_secret_call(cli, a, method, path, NULL);
}

#define SR_SECRET_CMD(fn, collection, versioned, suffix, method)                                              \
    static enum sr_err fn(struct sr_cli *cli, const struct sr_args *a)                                        \
    {                                                                                                         \
        return sr_secret_simple(cli, a, collection, versioned, suffix, method);                               \
    }
SR_SECRET_CMD(sr_cmd_secret_show, "secrets", true, "", "GET")
SR_SECRET_CMD(sr_cmd_secret_show_deleted, "deletedsecrets", false, "", "GET")
SR_SECRET_CMD(sr_cmd_secret_delete, "secrets", false, "", "DELETE")
SR_SECRET_CMD(sr_cmd_secret_recover, "deletedsecrets", false, "/recover", "POST")

static enum sr_err sr_cmd_secret_purge(struct sr_cli *cli, const struct sr_args *a)
{
    SR_TRY(sr_secret_simple(cli, a, "deletedsecrets", false, "", "DELETE"));
    fprintf(cli->out, "Purged %s: it cannot be recovered.\n", sr_cli_opt(a, "name"));
    return SR_OK;
}

static enum sr_err sr_cmd_secret_list(struct sr_cli *cli, const struct sr_args *a)
{
    return sr_cli_call_list(cli, a, "/secrets?maxresults=25", sr_secret_row, sr_secret_list_columns);
}

static enum sr_err sr_cmd_secret_list_deleted(struct sr_cli *cli, const struct sr_args *a)
{
    return sr_cli_call_list(cli, a, "/deletedsecrets?maxresults=25", sr_secret_row, sr_secret_deleted_columns);
}

static enum sr_err sr_cmd_secret_list_versions(struct sr_cli *cli, const struct sr_args *a)
{
    char path[512];
    SR_TRY(sr_cli_object_path(cli, a, "secrets", false, "/versions?maxresults=25", path, sizeof(path)));
    return sr_cli_call_list(cli, a, path, sr_secret_row, sr_secret_version_columns);
}

static enum sr_err sr_cmd_secret_download(struct sr_cli *cli, const struct sr_args *a)
{
    SR_TRY(sr_cli_need(cli, a, "file"));
    char path[512];
    SR_TRY(sr_cli_object_path(cli, a, "secrets", true, "", path, sizeof(path)));
    struct sr_client c;
    SR_TRY(sr_cli_client(cli, a, &c));
    SR_AUTO_JSON json_t *resp = NULL;
    SR_TRY(sr_client_call(cli, &c, "GET", path, NULL, &resp));
    const json_t *value = json_object_get(resp, "value");
    SR_ENSURE(json_is_string(value), SR_ERR_REMOTE);
    const char *given = sr_cli_opt(a, "encoding");
    const char *tagged = json_string_value(json_object_get(json_object_get(resp, "tags"), "file-encoding"));
    const char *encoding = NULL;
    SR_TRY(sr_encoding(cli, given != NULL ? given : tagged, &encoding));
    SR_AUTO_BUF struct sr_buf out = {0};
    sr_buf_init(&out, SR_SECRET_MAX_VALUE * 4, SR_BUF_SECRET);
    const char *text = json_string_value(value);
    size_t len = json_string_length(value);
    enum sr_err r = SR_OK;
    if (sr_is(encoding, "base64")) {
        r = sr_b64_decode(text, &out);
    } else if (sr_is(encoding, "hex")) {
        r = len % 2 == 0 ? sr_buf_reserve(&out, len / 2) : SR_ERR_USAGE;
        r = r == SR_OK ? sr_hex_decode(text, out.data, len / 2) : r;
        out.len = r == SR_OK ? len / 2 : 0;
    } else {
        r = sr_buf_append(&out, text, len);
    }
    if (r != SR_OK) {
        sr_cli_detail(cli, "the secret's value is not %s: give --encoding utf-8 to write it as it is", encoding);
        return SR_ERR_USAGE;
    }
    SR_TRY(sr_cli_write_output(cli, sr_cli_opt(a, "file"), out.data, out.len));
    fprintf(cli->out, "%s: the value of %s (%zu bytes, %s)\n", sr_cli_opt(a, "file"), sr_cli_opt(a, "name"), out.len,
            encoding);
    return SR_OK;
}

static enum sr_err sr_cmd_secret_backup(struct sr_cli *cli, const struct sr_args *a)
{
    return sr_cli_backup(cli, a, "secrets");
}

static enum sr_err sr_cmd_secret_restore(struct sr_cli *cli, const struct sr_args *a)
{
    return sr_cli_restore(cli, a, "secrets", sr_secret_row, sr_secret_columns);
}

static const struct sr_opt sr_opts_secret_set[] = {
    SR_OPTS_CLIENT, SR_OPT_OUTPUT, SR_OPT_SECRET_NAME,
    {"value", NULL, true, "the value (visible to ps: prefer --file)"},
    {"file", "-f", true, "read the value from this file"},
    {"encoding", "-e", true, "with --file: utf-8 (default), base64 or hex; kept in the tag file-encoding"},
    {"disabled", NULL, false, "set it disabled"},
    SR_OPT_SECRET_ATTRS, SR_OPT_END,
};
static const struct sr_opt sr_opts_secret_versioned[] = {
    SR_OPTS_CLIENT, SR_OPT_OUTPUT, SR_OPT_SECRET_NAME, SR_OPT_SECRET_VERSION, SR_OPT_END,
};
static const struct sr_opt sr_opts_secret_named[] = {SR_OPTS_CLIENT, SR_OPT_OUTPUT, SR_OPT_SECRET_NAME, SR_OPT_END};
static const struct sr_opt sr_opts_secret_list[] = {SR_OPTS_CLIENT, SR_OPT_OUTPUT, SR_OPT_END};
static const struct sr_opt sr_opts_secret_attrs[] = {
    SR_OPTS_CLIENT, SR_OPT_OUTPUT, SR_OPT_SECRET_NAME, SR_OPT_SECRET_VERSION,
    {"enabled", NULL, true, "true or false"},
    SR_OPT_SECRET_ATTRS, SR_OPT_END,
};
static const struct sr_opt sr_opts_secret_file[] = {
    SR_OPTS_CLIENT, SR_OPT_OUTPUT, SR_OPT_SECRET_NAME, {"file", "-f", true, "the backup file"}, SR_OPT_END,
};
static const struct sr_opt sr_opts_secret_download[] = {
    SR_OPTS_CLIENT, SR_OPT_SECRET_NAME, SR_OPT_SECRET_VERSION,
    {"file", "-f", true, "where the value goes (mode 0600)"},
    {"encoding", "-e", true, "utf-8, base64 (decoded) or hex (decoded); default: the tag file-encoding, else utf-8"},
    SR_OPT_END,
};

const struct sr_cmd sr_cmds_secret[] = {
    {"set", sr_cmd_secret_set, 0, 0, 0, sr_opts_secret_set, NULL,
     "secret set --name N (--value V | --file F [--encoding utf-8|base64|hex]) [--content-type T] [--tags k=v] "
     "[--expires T]",
     "set a secret (a new version)"},
    {"show", sr_cmd_secret_show, 0, 0, 0, sr_opts_secret_versioned, NULL, "secret show --name N [--version V]",
     "show a secret's value and attributes"},
    {"list", sr_cmd_secret_list, 0, 0, 0, sr_opts_secret_list, NULL, "secret list",
     "list the vault's secrets (no values)"},
    {"list-versions", sr_cmd_secret_list_versions, 0, 0, 0, sr_opts_secret_named, NULL,
     "secret list-versions --name N", "list a secret's versions"},
    {"list-deleted", sr_cmd_secret_list_deleted, 0, 0, 0, sr_opts_secret_list, NULL, "secret list-deleted",
     "list soft-deleted secrets"},
    {"show-deleted", sr_cmd_secret_show_deleted, 0, 0, 0, sr_opts_secret_named, NULL, "secret show-deleted --name N",
     "show a soft-deleted secret"},
    {"set-attributes", sr_cmd_secret_set_attributes, 0, 0, 0, sr_opts_secret_attrs, NULL,
     "secret set-attributes --name N [--version V] [--enabled true|false] [--content-type T] [--expires T|none] "
     "[--not-before T|none] [--tags k=v,...]",
     "change a secret version's attributes, tags or content type"},
    {"delete", sr_cmd_secret_delete, 0, 0, 0, sr_opts_secret_named, NULL, "secret delete --name N",
     "soft-delete a secret (recover or purge it later)"},
    {"recover", sr_cmd_secret_recover, 0, 0, 0, sr_opts_secret_named, NULL, "secret recover --name N",
     "recover a soft-deleted secret"},
    {"purge", sr_cmd_secret_purge, 0, 0, 0, sr_opts_secret_named, NULL, "secret purge --name N",
     "delete a soft-deleted secret for good"},
    {"backup", sr_cmd_secret_backup, 0, 0, 0, sr_opts_secret_file, NULL, "secret backup --name N --file F",
     "save every version of a secret as a protected blob"},
    {"restore", sr_cmd_secret_restore, 0, 0, 0, sr_opts_secret_file, NULL, "secret restore --file F",
     "restore a secret from a backup blob (same region's world)"},
    {"download", sr_cmd_secret_download, 0, 0, 0, sr_opts_secret_download, NULL,
     "secret download --name N --file F [--encoding utf-8|base64|hex]", "write a secret's value to a file"},
    {NULL, NULL, 0, 0, 0, NULL, NULL, NULL, NULL},
};
