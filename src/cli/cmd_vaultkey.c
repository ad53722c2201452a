/*
 * cmd_vaultkey.c - `strongroom key ...`: an application's use of a vault's keys over the API, with
 * `az keyvault key`'s subcommand and option names where az has them. Each subcommand has its own options
 * (so `key SUB --help` shows only those); every one that prints data takes --output table|tsv|json, and
 * tables show times in ISO-8601 UTC.
 */
#define _GNU_SOURCE /* secure_getenv */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/fileio.h"
#include "base/json.h"
#include "base/text.h"
#include "byok/byok.h"
#include "cli/client.h"
#include "cli/output.h"
#include "crypto/crypto.h"
#include "crypto/jwk.h"
#include "crypto/ossl.h"
#include "crypto/pkey.h"

#define SR_MAX_CLI_INPUT (1024u * 1024u)

#define SR_OPT_NAME {"name", "-n", true, "key name"}
#define SR_OPT_VERSION {"version", NULL, true, "key version (default: the latest)"}
#define SR_OPT_ATTRS                                                                                          \
    {"ops", NULL, true, "key_ops, comma separated: sign,verify,encrypt,decrypt,wrapKey,unwrapKey"},            \
    {"tags", NULL, true, "tags as k=v pairs, comma separated (\"\" removes them all)"},                       \
    {"expires", NULL, true, "expiry (exp), ISO-8601 UTC such as 2027-01-01T00:00:00Z; 'none' clears it"},      \
    {"not-before", NULL, true, "not valid before (nbf), ISO-8601 UTC; 'none' clears it"}

const char *sr_cli_opt(const struct sr_args *a, const char *name)
{
    return sr_arg(a, a->opts, name);
}

enum sr_err sr_cli_need(struct sr_cli *cli, const struct sr_args *a, const char *name)
{
    if (sr_cli_opt(a, name) == NULL) {
        sr_cli_detail(cli, "--%s is required", name);
        return SR_ERR_USAGE;
    }
    return SR_OK;
}

enum sr_err sr_cli_client(struct sr_cli *cli, const struct sr_args *a, struct sr_client *c)
{
    return sr_client_init(cli, sr_cli_opt(a, "vault-url"), sr_cli_opt(a, "ca-file"), sr_cli_opt(a, "token"), c);
}

enum sr_err sr_cli_object_path(struct sr_cli *cli, const struct sr_args *a, const char *prefix, bool versioned,
                               const char *suffix, char *out, size_t cap)
{
    SR_TRY(sr_cli_need(cli, a, "name"));
    const char *v = versioned ? sr_cli_opt(a, "version") : NULL;
    int n = snprintf(out, cap, "/%s/%s%s%s%s", prefix, sr_cli_opt(a, "name"), v ? "/" : "", v ? v : "", suffix);
    SR_ENSURE(n > 0 && (size_t)n < cap, SR_ERR_TOO_LARGE);
    return SR_OK;
}

/* --- output: a key bundle or list item flattened into one row --- */

void sr_cli_row_time(json_t *row, const char *key, const json_t *unix_time)
{
    char when[32];
    sr_cli_iso_time(json_is_integer(unix_time) ? (long long)json_integer_value(unix_time) : 0, when);
    json_object_set_new(row, key, json_string(when));
}

json_t *sr_cli_joined(const json_t *v, bool pairs)
{
    char text[2048] = "";
    size_t used = 0;
    const char *k;
    const json_t *item;
    size_t i;
    if (pairs) {
        json_object_foreach((json_t *)v, k, item) {
            used += (size_t)snprintf(text + used, used < sizeof(text) ? sizeof(text) - used : 0, "%s%s=%s",
                                     used ? "," : "", k, json_string_value(item) ? json_string_value(item) : "");
        }
    } else {
        json_array_foreach(v, i, item) {
            used += (size_t)snprintf(text + used, used < sizeof(text) ? sizeof(text) - used : 0, "%s%s",
                                     used ? "," : "", json_string_value(item) ? json_string_value(item) : "");
        }
    }
    return json_string(used ? text : "-");
}

/* The name and version from a kid (https://host/keys/NAME/VERSION). */
static void sr_kid_parts(const char *kid, char *name, size_t ncap, char *version, size_t vcap)
{
    const char *p = kid ? strstr(kid, "/keys/") : NULL;
    snprintf(name, ncap, "-");
    snprintf(version, vcap, "-");
    if (p == NULL) {
        return;
    }
    p += 6;
    const char *slash = strchr(p, '/');
    snprintf(name, ncap, "%.*s", slash ? (int)(slash - p) : (int)strlen(p), p);
    if (slash != NULL) {
        snprintf(version, vcap, "%s", slash + 1);
    }
}

static json_t *sr_key_row(const json_t *item)
{
    const json_t *key = json_object_get(item, "key");
    const json_t *attrs = json_object_get(item, "attributes");
    const char *kid = json_string_value(json_object_get(key ? key : item, "kid"));
    char name[256], version[64];
    sr_kid_parts(kid, name, sizeof(name), version, sizeof(version));
    json_t *row = json_pack("{s:s,s:s,s:s,s:b}", "name", name, "version", version, "kid", kid ? kid : "-", "enabled",
                            json_is_true(json_object_get(attrs, "enabled")));
    if (row == NULL) {
        return NULL;
    }
    if (key != NULL) {
        const char *crv = json_string_value(json_object_get(key, "crv"));
        const char *n = json_string_value(json_object_get(key, "n"));
        char size[32];
        snprintf(size, sizeof(size), "%zu", n ? strlen(n) * 6 / 8 * 8 : 0); /* base64url of the modulus */
        json_object_set_new(row, "kty", json_string(json_string_value(json_object_get(key, "kty"))));
        json_object_set_new(row, "size", json_string(crv ? crv : size));
        json_object_set_new(row, "keyOps", sr_cli_joined(json_object_get(key, "key_ops"), false));
    }
    sr_cli_row_time(row, "created", json_object_get(attrs, "created"));
    sr_cli_row_time(row, "updated", json_object_get(attrs, "updated"));
    sr_cli_row_time(row, "notBefore", json_object_get(attrs, "nbf"));
    sr_cli_row_time(row, "expires", json_object_get(attrs, "exp"));
    json_object_set_new(row, "tags", sr_cli_joined(json_object_get(item, "tags"), true));
    if (json_object_get(item, "recoveryId") != NULL) {
        sr_cli_row_time(row, "deleted", json_object_get(item, "deletedDate"));
        sr_cli_row_time(row, "purgeAfter", json_object_get(item, "scheduledPurgeDate"));
        json_object_set_new(row, "recoveryId", json_string(json_string_value(json_object_get(item, "recoveryId"))));
    }
    return row;
}

static const struct sr_column sr_key_columns[] = {
    {"name", "name"}, {"version", "version"}, {"kid", "kid"}, {"kty", "kty"}, {"size", "size/curve"},
    {"keyOps", "key_ops"}, {"enabled", "enabled"}, {"created", "created"}, {"updated", "updated"},
    {"notBefore", "not before"}, {"expires", "expires"}, {"tags", "tags"}, {"deleted", "deleted"},
    {"purgeAfter", "purge after"}, {"recoveryId", "recovery id"}, {NULL, NULL},
};

static const struct sr_column sr_list_columns[] = {
    {"name", "NAME"}, {"enabled", "ENABLED"}, {"created", "CREATED"}, {"updated", "UPDATED"},
    {"expires", "EXPIRES"}, {"tags", "TAGS"}, {NULL, NULL},
};

static const struct sr_column sr_version_columns[] = {
    {"version", "VERSION"}, {"enabled", "ENABLED"}, {"created", "CREATED"}, {"updated", "UPDATED"},
    {"notBefore", "NOT BEFORE"}, {"expires", "EXPIRES"}, {"tags", "TAGS"}, {NULL, NULL},
};

static const struct sr_column sr_deleted_columns[] = {
    {"name", "NAME"}, {"deleted", "DELETED"}, {"purgeAfter", "PURGE AFTER"}, {"recoveryId", "RECOVERY ID"},
    {NULL, NULL},
};

enum sr_err sr_cli_print_item(struct sr_cli *cli, const struct sr_args *a, const json_t *bundle, sr_cli_row_fn row_of,
                              const struct sr_column *columns)
{
    enum sr_output format;
    SR_TRY(sr_output_parse(cli, sr_cli_opt(a, "output"), &format));
    if (format == SR_OUT_JSON) {
        return sr_output_object(cli, format, bundle, NULL);
    }
    SR_AUTO_JSON json_t *row = row_of(bundle);
    SR_ENSURE(row != NULL, SR_ERR_NOMEM);
    return sr_output_object(cli, format, row, columns);
}

enum sr_err sr_cli_call_item(struct sr_cli *cli, const struct sr_args *a, const char *method, const char *path,
                             const json_t *body, sr_cli_row_fn row_of, const struct sr_column *columns)
{
    struct sr_client c;
    SR_TRY(sr_cli_client(cli, a, &c));
    enum sr_output format;
    SR_TRY(sr_output_parse(cli, sr_cli_opt(a, "output"), &format));
    SR_AUTO_JSON json_t *resp = NULL;
    SR_TRY(sr_client_call(cli, &c, method, path, body, &resp));
    return resp != NULL ? sr_cli_print_item(cli, a, resp, row_of, columns) : SR_OK;
}

/* Calls path and prints the key bundle it answers. */
static enum sr_err sr_call_bundle(struct sr_cli *cli, const struct sr_args *a, const char *method, const char *path,
                                  const json_t *body)
{
    return sr_cli_call_item(cli, a, method, path, body, sr_key_row, sr_key_columns);
}

/* Every page of a list (following nextLink), printed as rows. */
enum sr_err sr_cli_call_list(struct sr_cli *cli, const struct sr_args *a, const char *path, sr_cli_row_fn row_of,
                             const struct sr_column *columns)
{
    struct sr_client c;
    SR_TRY(sr_cli_client(cli, a, &c));
    enum sr_output format;
    SR_TRY(sr_output_parse(cli, sr_cli_opt(a, "output"), &format));
    SR_AUTO_JSON json_t *items = json_array();
    SR_AUTO_JSON json_t *rows = json_array();
    SR_ENSURE(items != NULL && rows != NULL, SR_ERR_NOMEM);
    char next[1024];
    snprintf(next, sizeof(next), "%s", path);
    for (int page = 0; next[0] != 0 && page < 100000; page++) {
        SR_AUTO_JSON json_t *resp = NULL;
        SR_TRY(sr_client_call(cli, &c, "GET", next, NULL, &resp));
        size_t i;
        json_t *item;
        json_array_foreach(json_object_get(resp, "value"), i, item) {
            json_t *row = row_of(item);
            SR_ENSURE(row != NULL && json_array_append_new(rows, row) == 0, SR_ERR_NOMEM);
            SR_ENSURE(json_array_append(items, item) == 0, SR_ERR_NOMEM);
        }
        /* nextLink is absolute; the client wants the path and query after the vault URL, minus api-version. */
        const char *link = json_string_value(json_object_get(resp, "nextLink"));
        const char *rel = link ? strstr(link + 8, "/") : NULL;
        next[0] = 0;
        if (rel != NULL) {
            snprintf(next, sizeof(next), "%s", rel);
            char *api = strstr(next, "api-version=");
            if (api != NULL) {
                char *end = strchr(api, '&');
                memmove(api, end ? end + 1 : api + strlen(api), strlen(end ? end + 1 : "") + 1);
            }
        }
    }
    return format == SR_OUT_JSON ? sr_output_rows(cli, format, items, NULL) : sr_output_rows(cli, format, rows, columns);
}

/* --- bodies from options --- */

static enum sr_err sr_list_json(struct sr_cli *cli, const char *opt, const char *text, bool pairs, json_t **ret)
{
    json_t *v = pairs ? json_object() : json_array();
    SR_ENSURE(v != NULL, SR_ERR_NOMEM);
    char copy[4096];
    if (strlen(text) >= sizeof(copy)) {
        json_decref(v);
        sr_cli_detail(cli, "--%s is too long", opt);
        return SR_ERR_USAGE;
    }
    strcpy(copy, text);
    for (char *save = NULL, *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(t, '=');
        if (pairs && eq == NULL) {
            json_decref(v);
            sr_cli_detail(cli, "--%s takes k=v pairs, comma separated", opt);
            return SR_ERR_USAGE;
        }
        if (pairs) {
            *eq = 0;
            json_object_set_new(v, t, json_string(eq + 1));
        } else {
            json_array_append_new(v, json_string(t));
        }
    }
    *ret = v;
    return SR_OK;
}

/* --expires / --not-before: an ISO-8601 time, or 'none' (JSON null: the server clears it). */
static enum sr_err sr_time_json(struct sr_cli *cli, const char *opt, const char *text, json_t **ret)
{
    long long t = 0;
    if (strcmp(text, "none") == 0) {
        *ret = json_null();
        return SR_OK;
    }
    if (sr_cli_parse_time(text, &t) != SR_OK) {
        sr_cli_detail(cli, "--%s is an ISO-8601 UTC time such as 2027-01-01T00:00:00Z, or 'none'", opt);
        return SR_ERR_USAGE;
    }
    *ret = json_integer((json_int_t)t);
    return SR_OK;
}

/* key_ops, tags, attributes (enabled, nbf, exp) into body: the options common to create and set-attributes. */
enum sr_err sr_cli_attrs_body(struct sr_cli *cli, const struct sr_args *a, json_t *body)
{
    json_t *attrs = json_object();
    SR_ENSURE(attrs != NULL && json_object_set_new(body, "attributes", attrs) == 0, SR_ERR_NOMEM);
    json_t *v = NULL;
    if (sr_cli_opt(a, "ops")) {
        SR_TRY(sr_list_json(cli, "ops", sr_cli_opt(a, "ops"), false, &v));
        json_object_set_new(body, "key_ops", v);
    }
    if (sr_cli_opt(a, "tags")) {
        SR_TRY(sr_list_json(cli, "tags", sr_cli_opt(a, "tags"), true, &v));
        json_object_set_new(body, "tags", v);
    }
    static const char *const times[][2] = {{"expires", "exp"}, {"not-before", "nbf"}};
    for (size_t i = 0; i < SR_ARRAY_LEN(times); i++) {
        if (sr_cli_opt(a, times[i][0])) {
            SR_TRY(sr_time_json(cli, times[i][0], sr_cli_opt(a, times[i][0]), &v));
            json_object_set_new(attrs, times[i][1], v);
        }
    }
    const char *enabled = sr_cli_opt(a, "enabled");
    if (enabled != NULL) {
        if (strcmp(enabled, "true") != 0 && strcmp(enabled, "false") != 0) {
            sr_cli_detail(cli, "--enabled is true or false");
            return SR_ERR_USAGE;
        }
        json_object_set_new(attrs, "enabled", json_boolean(strcmp(enabled, "true") == 0));
    }
    if (sr_arg_set(a, a->opts, "disabled")) {
        json_object_set_new(attrs, "enabled", json_false());
    }
    return SR_OK;
}

enum sr_err sr_cli_read_input(struct sr_cli *cli, const char *path, struct sr_buf *out)
{
    sr_buf_init(out, SR_MAX_CLI_INPUT, SR_BUF_SECRET);
    enum sr_err r = sr_file_read(path, out);
    if (r != SR_OK) {
        sr_cli_detail(cli, "cannot read %s", path);
    }
    return r;
}

enum sr_err sr_cli_write_output(struct sr_cli *cli, const char *path, const uint8_t *data, size_t len)
{
    enum sr_err r = sr_file_write_atomic(path, data, len, SR_WRITE_REPLACE);
    if (r != SR_OK) {
        sr_cli_detail(cli, "cannot write %s", path);
    }
    return r;
}

static enum sr_err sr_b64_of(const uint8_t *data, size_t len, json_t **ret)
{
    SR_AUTO_BUF struct sr_buf t = {0};
    sr_buf_init(&t, SR_MAX_CLI_INPUT * 2, SR_BUF_SECRET);
    SR_TRY(sr_b64url_encode(data, len, &t));
    *ret = json_string((const char *)t.data);
    SR_ENSURE(*ret != NULL, SR_ERR_NOMEM);
    return SR_OK;
}

/* The bytes of a base64url member of an answer. */
static enum sr_err sr_value_bytes(const json_t *resp, const char *member, struct sr_buf *out)
{
    const char *v = json_string_value(json_object_get(resp, member));
    SR_ENSURE(v != NULL, SR_ERR_REMOTE);
    sr_buf_init(out, SR_MAX_CLI_INPUT, SR_BUF_SECRET);
    return sr_b64url_decode(v, out);
}

/* --- subcommands --- */

static enum sr_err sr_cmd_key_create(struct sr_cli *cli, const struct sr_args *a)
{
    char path[512];
    SR_TRY(sr_cli_object_path(cli, a, "keys", false, "/create", path, sizeof(path)));
    const char *kty = sr_cli_opt(a, "kty") ? sr_cli_opt(a, "kty") : "RSA";
    SR_AUTO_JSON json_t *body = json_pack("{s:s}", "kty", kty);
    SR_ENSURE(body != NULL, SR_ERR_NOMEM);
    if (sr_cli_opt(a, "size")) {
        unsigned long size = 0;
        if (sr_parse_uint(sr_cli_opt(a, "size"), 1, 65536, &size) != SR_OK) {
            sr_cli_detail(cli, "--size is 2048, 3072 or 4096 (RSA), or 128, 192 or 256 (oct)");
            return SR_ERR_USAGE;
        }
        json_object_set_new(body, "key_size", json_integer((json_int_t)size));
    }
    if (sr_cli_opt(a, "curve")) {
        json_object_set_new(body, "crv", json_string(sr_cli_opt(a, "curve")));
    }
    SR_TRY(sr_cli_attrs_body(cli, a, body));
    return sr_call_bundle(cli, a, "POST", path, body);
}

static enum sr_err sr_cmd_key_set_attributes(struct sr_cli *cli, const struct sr_args *a)
{
    char path[512];
    SR_TRY(sr_cli_object_path(cli, a, "keys", true, "", path, sizeof(path)));
    SR_AUTO_JSON json_t *body = json_object();
    SR_ENSURE(body != NULL, SR_ERR_NOMEM);
    SR_TRY(sr_cli_attrs_body(cli, a, body));
    if (json_object_size(body) == 1 && json_object_size(json_object_get(body, "attributes")) == 0) {
        sr_cli_detail(cli, "nothing to set: give --enabled, --expires, --not-before, --tags or --ops");
        return SR_ERR_USAGE;
    }
    return sr_call_bundle(cli, a, "PATCH", path, body);
}

/* A subcommand that calls one path of a key and prints the bundle it answers. */
static enum sr_err sr_bundle_cmd(struct sr_cli *cli, const struct sr_args *a, const char *collection, bool versioned,
                                 const char *suffix, const char *method)
{
    char path[512];
    SR_TRY(sr_cli_object_path(cli, a, collection, versioned, suffix, path, sizeof(path)));
    return sr_call_bundle(cli, a, method, path, NULL);
}

#define SR_BUNDLE_CMD(fn, collection, versioned, suffix, method)                                              \
    static enum sr_err fn(struct sr_cli *cli, const struct sr_args *a)                                        \
    {                                                                                                         \
        return sr_bundle_cmd(cli, a, collection, versioned, suffix, method);                                  \
    }
SR_BUNDLE_CMD(sr_cmd_key_show, "keys", true, "", "GET")
SR_BUNDLE_CMD(sr_cmd_key_show_deleted, "deletedkeys", false, "", "GET")
SR_BUNDLE_CMD(sr_cmd_key_delete, "keys", false, "", "DELETE")
SR_BUNDLE_CMD(sr_cmd_key_recover, "deletedkeys", false, "/recover", "POST")
SR_BUNDLE_CMD(sr_cmd_key_rotate, "keys", false, "/rotate", "POST")

static enum sr_err sr_cmd_key_purge(struct sr_cli *cli, const struct sr_args *a)
{
    char path[512];
    SR_TRY(sr_cli_object_path(cli, a, "deletedkeys", false, "", path, sizeof(path)));
    struct sr_client c;
    SR_TRY(sr_cli_client(cli, a, &c));
    SR_AUTO_JSON json_t *resp = NULL;
    SR_TRY(sr_client_call(cli, &c, "DELETE", path, NULL, &resp));
    fprintf(cli->out, "Purged %s: it cannot be recovered.\n", sr_cli_opt(a, "name"));
    return SR_OK;
}

static enum sr_err sr_cmd_key_list(struct sr_cli *cli, const struct sr_args *a)
{
    return sr_cli_call_list(cli, a, "/keys?maxresults=25", sr_key_row, sr_list_columns);
}

static enum sr_err sr_cmd_key_list_deleted(struct sr_cli *cli, const struct sr_args *a)
{
    return sr_cli_call_list(cli, a, "/deletedkeys?maxresults=25", sr_key_row, sr_deleted_columns);
}

static enum sr_err sr_cmd_key_list_versions(struct sr_cli *cli, const struct sr_args *a)
{
    char path[512];
    SR_TRY(sr_cli_object_path(cli, a, "keys", false, "/versions?maxresults=25", path, sizeof(path)));
    return sr_cli_call_list(cli, a, path, sr_key_row, sr_version_columns);
}

enum sr_err sr_cli_backup(struct sr_cli *cli, const struct sr_args *a, const char *collection)
{
    SR_TRY(sr_cli_need(cli, a, "file"));
    char path[512];
    SR_TRY(sr_cli_object_path(cli, a, collection, false, "/backup", path, sizeof(path)));
    struct sr_client c;
    SR_TRY(sr_cli_client(cli, a, &c));
    SR_AUTO_JSON json_t *resp = NULL;
    SR_TRY(sr_client_call(cli, &c, "POST", path, NULL, &resp));
    SR_AUTO_BUF struct sr_buf blob = {0};
    SR_TRY(sr_value_bytes(resp, "value", &blob));
    SR_TRY(sr_cli_write_output(cli, sr_cli_opt(a, "file"), blob.data, blob.len));
    fprintf(cli->out, "%s: backup of %s, every version (it restores only in a vault of the same region's world)\n",
            sr_cli_opt(a, "file"), sr_cli_opt(a, "name"));
    return SR_OK;
}

enum sr_err sr_cli_restore(struct sr_cli *cli, const struct sr_args *a, const char *collection, sr_cli_row_fn row_of,
                           const struct sr_column *columns)
{
    SR_TRY(sr_cli_need(cli, a, "file"));
    SR_AUTO_BUF struct sr_buf blob = {0};
    SR_TRY(sr_cli_read_input(cli, sr_cli_opt(a, "file"), &blob));
    json_t *value = NULL;
    SR_TRY(sr_b64_of(blob.data, blob.len, &value));
    SR_AUTO_JSON json_t *body = json_pack("{s:o}", "value", value);
    SR_ENSURE(body != NULL, SR_ERR_NOMEM);
    char path[64];
    snprintf(path, sizeof(path), "/%s/restore", collection);
    return sr_cli_call_item(cli, a, "POST", path, body, row_of, columns);
}

static enum sr_err sr_cmd_key_backup(struct sr_cli *cli, const struct sr_args *a)
{
    return sr_cli_backup(cli, a, "keys");
}

static enum sr_err sr_cmd_key_restore(struct sr_cli *cli, const struct sr_args *a)
{
    return sr_cli_restore(cli, a, "keys", sr_key_row, sr_key_columns);
}

static enum sr_err sr_cmd_policy_show(struct sr_cli *cli, const struct sr_args *a)
{
    char path[512];
    SR_TRY(sr_cli_object_path(cli, a, "keys", false, "/rotationpolicy", path, sizeof(path)));
    struct sr_client c;
    SR_TRY(sr_cli_client(cli, a, &c));
    SR_AUTO_JSON json_t *resp = NULL;
    SR_TRY(sr_client_call(cli, &c, "GET", path, NULL, &resp));
    return sr_output_object(cli, SR_OUT_JSON, resp, NULL); /* a policy is a document: JSON, as az prints it */
}

static enum sr_err sr_cmd_policy_update(struct sr_cli *cli, const struct sr_args *a)
{
    SR_TRY(sr_cli_need(cli, a, "value"));
    char path[512];
    SR_TRY(sr_cli_object_path(cli, a, "keys", false, "/rotationpolicy", path, sizeof(path)));
    SR_AUTO_BUF struct sr_buf text = {0};
    SR_TRY(sr_cli_read_input(cli, sr_cli_opt(a, "value"), &text));
    json_error_t jerr;
    SR_AUTO_JSON json_t *policy = json_loadb((const char *)text.data, text.len, 0, &jerr);
    if (!json_is_object(policy)) {
        sr_cli_detail(cli, "%s is not a JSON rotation policy (line %d: %s)", sr_cli_opt(a, "value"), jerr.line,
                      jerr.text);
        return SR_ERR_USAGE;
    }
    struct sr_client c;
    SR_TRY(sr_cli_client(cli, a, &c));
    SR_AUTO_JSON json_t *resp = NULL;
    SR_TRY(sr_client_call(cli, &c, "PUT", path, policy, &resp));
    return sr_output_object(cli, SR_OUT_JSON, resp, NULL);
}

static enum sr_err sr_cmd_key_random(struct sr_cli *cli, const struct sr_args *a)
{
    unsigned long count = 32;
    if (sr_cli_opt(a, "count") && sr_parse_uint(sr_cli_opt(a, "count"), 1, 128, &count) != SR_OK) {
        sr_cli_detail(cli, "--count is a number of bytes from 1 to 128");
        return SR_ERR_USAGE;
    }
    struct sr_client c;
    SR_TRY(sr_cli_client(cli, a, &c));
    SR_AUTO_JSON json_t *body = json_pack("{s:I}", "count", (json_int_t)count);
    SR_AUTO_JSON json_t *resp = NULL;
    SR_TRY(sr_client_call(cli, &c, "POST", "/rng", body, &resp));
    SR_AUTO_BUF struct sr_buf bytes = {0};
    SR_TRY(sr_value_bytes(resp, "value", &bytes));
    if (sr_cli_opt(a, "out") != NULL) {
        return sr_cli_write_output(cli, sr_cli_opt(a, "out"), bytes.data, bytes.len);
    }
    char hex[2 * 128 + 1];
    sr_hex_encode(bytes.data, bytes.len, hex);
    fprintf(cli->out, "%s\n", hex);
    return SR_OK;
}

/* key release: what an operator testing a release policy runs — the attestation token from a file, the
 * release JWS (docs/formats.md, "Released keys") to --out. */
static enum sr_err sr_cmd_key_release(struct sr_cli *cli, const struct sr_args *a)
{
    SR_TRY(sr_cli_need(cli, a, "target"));
    SR_TRY(sr_cli_need(cli, a, "out"));
    char path[512];
    SR_TRY(sr_cli_object_path(cli, a, "keys", true, "/release", path, sizeof(path)));
    struct sr_client c;
    SR_TRY(sr_cli_client(cli, a, &c));
    SR_AUTO_BUF struct sr_buf token = {0};
    SR_TRY(sr_cli_read_input(cli, sr_cli_opt(a, "target"), &token));
    while (token.len > 0 && (token.data[token.len - 1] == '\n' || token.data[token.len - 1] == '\r')) {
        token.len--; /* a token file ends with a newline more often than not */
    }
    SR_TRY(sr_buf_terminate(&token));
    SR_AUTO_JSON json_t *body = json_pack("{s:s}", "target", (const char *)token.data);
    SR_ENSURE(body != NULL, SR_ERR_NOMEM);
    static const char *const optional[] = {"nonce", "enc"};
    for (size_t i = 0; i < SR_ARRAY_LEN(optional); i++) {
        if (sr_cli_opt(a, optional[i]) != NULL) {
            SR_ENSURE(json_object_set_new(body, optional[i], json_string(sr_cli_opt(a, optional[i]))) == 0,
                      SR_ERR_NOMEM);
        }
    }
    SR_AUTO_JSON json_t *resp = NULL;
    SR_TRY(sr_client_call(cli, &c, "POST", path, body, &resp));
    const char *jws = json_string_value(json_object_get(resp, "value"));
    SR_ENSURE(jws != NULL, SR_ERR_REMOTE);
    SR_TRY(sr_cli_write_output(cli, sr_cli_opt(a, "out"), (const uint8_t *)jws, strlen(jws)));
    fprintf(cli->out, "release: %s released under %s -> %s (a JWS; docs/formats.md opens it)\n",
            sr_cli_opt(a, "name"), sr_cli_opt(a, "enc") ? sr_cli_opt(a, "enc") : "CKM_RSA_AES_KEY_WRAP",
            sr_cli_opt(a, "out"));
    return SR_OK;
}

/* Key Vault signs and verifies digests: the input is hashed here with the algorithm's hash. */
static enum sr_err sr_digest_for(const char *alg_name, const struct sr_buf *data, json_t **ret)
{
    enum sr_sign_alg alg;
    SR_TRY(sr_sign_alg_parse(alg_name, &alg));
    size_t dlen = sr_sign_alg_digest_len(alg);
    const EVP_MD *md = dlen == 32 ? EVP_sha256() : dlen == 48 ? EVP_sha384() : EVP_sha512();
    uint8_t d[64];
    unsigned int len = 0;
    SR_ENSURE(EVP_Digest(data->data, data->len, d, &len, md, NULL) == 1, SR_ERR_CRYPTO);
    return sr_b64_of(d, len, ret);
}

/* ECDSA's coordinate length for --signature-format der, 0 for RSA (whose signatures have one form). */
static enum sr_err sr_sig_format(struct sr_cli *cli, const struct sr_args *a, size_t *ret_coord)
{
    const char *fmt = sr_cli_opt(a, "signature-format");
    enum sr_sign_alg alg;
    SR_TRY(sr_sign_alg_parse(sr_cli_opt(a, "alg"), &alg));
    *ret_coord = 0;
    if (fmt == NULL || strcmp(fmt, "raw") == 0) {
        return SR_OK;
    }
    if (strcmp(fmt, "der") != 0) {
        sr_cli_detail(cli, "--signature-format is raw (r||s, as JOSE and Key Vault) or der (as openssl dgst)");
        return SR_ERR_USAGE;
    }
    *ret_coord = sr_sign_alg_coord_len(alg);
    return SR_OK;
}

/* --iv, --aad and --tag (hex) into the request as Key Vault's iv, aad and tag (base64url). */
static enum sr_err sr_sym_members(struct sr_cli *cli, const struct sr_args *a, json_t *body)
{
    static const char *const names[] = {"iv", "aad", "tag"};
    for (size_t i = 0; i < SR_ARRAY_LEN(names); i++) {
        const char *hex = sr_cli_opt(a, names[i]);
        if (hex == NULL) {
            continue;
        }
        uint8_t bytes[256];
        size_t n = strlen(hex) / 2;
        if (strlen(hex) % 2 != 0 || n == 0 || n > sizeof(bytes) || sr_hex_decode(hex, bytes, n) != SR_OK) {
            sr_cli_detail(cli, "--%s is hex, 1 to %zu bytes", names[i], sizeof(bytes));
            return SR_ERR_USAGE;
        }
        json_t *v = NULL;
        SR_TRY(sr_b64_of(bytes, n, &v));
        SR_ENSURE(json_object_set_new(body, names[i], v) == 0, SR_ERR_NOMEM);
    }
    return SR_OK;
}

/* What an AES answer carries besides value: the IV the vault chose, GCM's tag, printed in hex for decrypt. */
static void sr_sym_print(struct sr_cli *cli, const json_t *resp)
{
    static const char *const names[] = {"iv", "tag"};
    for (size_t i = 0; i < SR_ARRAY_LEN(names); i++) {
        SR_AUTO_BUF struct sr_buf b = {0};
        if (json_object_get(resp, names[i]) == NULL || sr_value_bytes(resp, names[i], &b) != SR_OK || b.len > 64) {
            continue;
        }
        char hex[129];
        sr_hex_encode(b.data, b.len, hex);
        fprintf(cli->out, "%s: %s\n", names[i], hex);
    }
}

/* encrypt, decrypt, wrap, unwrap and sign: --in's bytes (or sign: their digest) in, the answer to --out. */
static enum sr_err sr_cmd_key_op(struct sr_cli *cli, const struct sr_args *a, const char *op)
{
    bool sign = strcmp(op, "sign") == 0;
    SR_TRY(sr_cli_need(cli, a, "alg"));
    SR_TRY(sr_cli_need(cli, a, "in"));
    SR_TRY(sr_cli_need(cli, a, "out"));
    size_t coord = 0;
    if (sign) {
        SR_TRY(sr_sig_format(cli, a, &coord));
    }
    char path[512], suffix[32];
    snprintf(suffix, sizeof(suffix), "/%s", op);
    SR_TRY(sr_cli_object_path(cli, a, "keys", true, suffix, path, sizeof(path)));
    struct sr_client c;
    SR_TRY(sr_cli_client(cli, a, &c));
    SR_AUTO_BUF struct sr_buf in = {0};
    SR_TRY(sr_cli_read_input(cli, sr_cli_opt(a, "in"), &in));
    json_t *value = NULL;
    SR_TRY(sign ? sr_digest_for(sr_cli_opt(a, "alg"), &in, &value) : sr_b64_of(in.data, in.len, &value));
    SR_AUTO_JSON json_t *body = json_pack("{s:s,s:o}", "alg", sr_cli_opt(a, "alg"), "value", value);
    SR_ENSURE(body != NULL, SR_ERR_NOMEM);
    if (!sign) {
        SR_TRY(sr_sym_members(cli, a, body));
    }
    SR_AUTO_JSON json_t *resp = NULL;
    SR_TRY(sr_client_call(cli, &c, "POST", path, body, &resp));
    SR_AUTO_BUF struct sr_buf bytes = {0};
    SR_TRY(sr_value_bytes(resp, "value", &bytes));
    if (coord > 0) {
        SR_AUTO_BUF struct sr_buf der = {0};
        sr_buf_init(&der, 256, SR_BUF_PLAIN);
        SR_TRY(sr_ecdsa_raw_to_der(bytes.data, bytes.len, coord, &der));
        SR_TRY(sr_cli_write_output(cli, sr_cli_opt(a, "out"), der.data, der.len));
    } else {
        SR_TRY(sr_cli_write_output(cli, sr_cli_opt(a, "out"), bytes.data, bytes.len));
    }
    fprintf(cli->out, "%s: %s -> %s (%s)\n", op, sr_cli_opt(a, "in"), sr_cli_opt(a, "out"),
            json_string_value(json_object_get(resp, "kid")));
    sr_sym_print(cli, resp);
    return SR_OK;
}

static enum sr_err sr_cmd_key_sign(struct sr_cli *cli, const struct sr_args *a)
{
    return sr_cmd_key_op(cli, a, "sign");
}

static enum sr_err sr_cmd_key_encrypt(struct sr_cli *cli, const struct sr_args *a)
{
    return sr_cmd_key_op(cli, a, "encrypt");
}

static enum sr_err sr_cmd_key_decrypt(struct sr_cli *cli, const struct sr_args *a)
{
    return sr_cmd_key_op(cli, a, "decrypt");
}

static enum sr_err sr_cmd_key_wrap(struct sr_cli *cli, const struct sr_args *a)
{
    return sr_cmd_key_op(cli, a, "wrapkey");
}

static enum sr_err sr_cmd_key_unwrap(struct sr_cli *cli, const struct sr_args *a)
{
    return sr_cmd_key_op(cli, a, "unwrapkey");
}

static enum sr_err sr_cmd_key_verify(struct sr_cli *cli, const struct sr_args *a)
{
    SR_TRY(sr_cli_need(cli, a, "alg"));
    SR_TRY(sr_cli_need(cli, a, "in"));
    SR_TRY(sr_cli_need(cli, a, "signature"));
    size_t coord = 0;
    SR_TRY(sr_sig_format(cli, a, &coord));
    char path[512];
    SR_TRY(sr_cli_object_path(cli, a, "keys", true, "/verify", path, sizeof(path)));
    struct sr_client c;
    SR_TRY(sr_cli_client(cli, a, &c));
    SR_AUTO_BUF struct sr_buf in = {0};
    SR_AUTO_BUF struct sr_buf sig = {0};
    SR_AUTO_BUF struct sr_buf raw = {0};
    sr_buf_init(&raw, 256, SR_BUF_PLAIN);
    SR_TRY(sr_cli_read_input(cli, sr_cli_opt(a, "in"), &in));
    SR_TRY(sr_cli_read_input(cli, sr_cli_opt(a, "signature"), &sig));
    if (coord > 0 && sr_ecdsa_der_to_raw(sig.data, sig.len, coord, &raw) != SR_OK) {
        sr_cli_detail(cli, "%s is not a DER ECDSA signature", sr_cli_opt(a, "signature"));
        return SR_ERR_BAD_SIGNATURE;
    }
    const struct sr_buf *s = coord > 0 ? &raw : &sig;
    json_t *digest = NULL;
    json_t *value = NULL;
    SR_TRY(sr_digest_for(sr_cli_opt(a, "alg"), &in, &digest));
    if (sr_b64_of(s->data, s->len, &value) != SR_OK) {
        json_decref(digest);
        return SR_ERR_NOMEM;
    }
    SR_AUTO_JSON json_t *body = json_pack("{s:s,s:o,s:o}", "alg", sr_cli_opt(a, "alg"), "digest", digest, "value",
                                          value);
    SR_ENSURE(body != NULL, SR_ERR_NOMEM);
    SR_AUTO_JSON json_t *resp = NULL;
    SR_TRY(sr_client_call(cli, &c, "POST", path, body, &resp));
    bool ok = json_is_true(json_object_get(resp, "value"));
    fprintf(cli->out, "Verified: %s\n", ok ? "true" : "false");
    return ok ? SR_OK : SR_ERR_BAD_SIGNATURE;
}

static enum sr_err sr_byok_body(struct sr_cli *cli, const struct sr_args *a, json_t **ret)
{
    const char *dest = sr_cli_opt(a, "destination");
    if (dest != NULL && strcmp(dest, "HSM") != 0) {
        sr_cli_detail(cli, "--destination is HSM: Strongroom keeps every key in its region's module");
        return SR_ERR_USAGE;
    }
    SR_AUTO_BUF struct sr_buf file = {0};
    SR_TRY(sr_cli_read_input(cli, sr_cli_opt(a, "byok-file"), &file));
    json_t *hsm = NULL;
    SR_TRY(sr_b64_of(file.data, file.len, &hsm));
    const char *kty = sr_cli_opt(a, "kty") ? sr_cli_opt(a, "kty") : "RSA-HSM";
    json_t *key = json_pack("{s:s,s:o}", "kty", kty, "key_hsm", hsm);
    SR_ENSURE(key != NULL, SR_ERR_NOMEM);
    if (sr_cli_opt(a, "curve")) {
        json_object_set_new(key, "crv", json_string(sr_cli_opt(a, "curve")));
    }
    *ret = json_pack("{s:o}", "key", key);
    SR_ENSURE(*ret != NULL, SR_ERR_NOMEM);
    return SR_OK;
}

static enum sr_err sr_jwk_body(struct sr_cli *cli, const struct sr_args *a, json_t **ret)
{
    if (sr_cli_opt(a, "jwk-file") == NULL) {
        sr_cli_detail(cli, "give --jwk-file (a JSON web key) or --byok-file (a BYOK package)");
        return SR_ERR_USAGE;
    }
    SR_AUTO_BUF struct sr_buf text = {0};
    SR_TRY(sr_cli_read_input(cli, sr_cli_opt(a, "jwk-file"), &text));
    json_t *jwk = json_loadb((const char *)text.data, text.len, 0, NULL);
    if (!json_is_object(jwk)) {
        json_decref(jwk);
        sr_cli_detail(cli, "%s is not a JSON web key", sr_cli_opt(a, "jwk-file"));
        return SR_ERR_JWK;
    }
    *ret = json_pack("{s:o}", "key", jwk);
    SR_ENSURE(*ret != NULL, SR_ERR_NOMEM);
    return SR_OK;
}

static enum sr_err sr_cmd_key_import(struct sr_cli *cli, const struct sr_args *a)
{
    char path[512];
    SR_TRY(sr_cli_object_path(cli, a, "keys", false, "", path, sizeof(path)));
    SR_AUTO_JSON json_t *body = NULL;
    SR_TRY(sr_cli_opt(a, "byok-file") != NULL ? sr_byok_body(cli, a, &body) : sr_jwk_body(cli, a, &body));
    SR_TRY(sr_cli_attrs_body(cli, a, body));
    return sr_call_bundle(cli, a, "PUT", path, body);
}

static enum sr_err sr_cmd_key_download(struct sr_cli *cli, const struct sr_args *a)
{
    SR_TRY(sr_cli_need(cli, a, "file"));
    const char *enc = sr_cli_opt(a, "encoding") ? sr_cli_opt(a, "encoding") : "PEM";
    if (strcmp(enc, "PEM") != 0 && strcmp(enc, "DER") != 0) {
        sr_cli_detail(cli, "--encoding is PEM or DER");
        return SR_ERR_USAGE;
    }
    char path[512];
    SR_TRY(sr_cli_object_path(cli, a, "keys", true, "", path, sizeof(path)));
    struct sr_client c;
    SR_TRY(sr_cli_client(cli, a, &c));
    SR_AUTO_JSON json_t *resp = NULL;
    SR_TRY(sr_client_call(cli, &c, "GET", path, NULL, &resp));
    SR_AUTO_PKEY EVP_PKEY *pub = NULL;
    SR_TRY(sr_jwk_public_to_pkey(json_object_get(resp, "key"), &pub));
    SR_AUTO_BUF struct sr_buf out = {0};
    sr_buf_init(&out, 16384, SR_BUF_PLAIN);
    if (strcmp(enc, "PEM") == 0) {
        SR_TRY(sr_pkey_public_to_pem(pub, &out));
    } else {
        SR_TRY(sr_pkey_public_to_spki(pub, &out));
    }
    SR_TRY(sr_cli_write_output(cli, sr_cli_opt(a, "file"), out.data, out.len));
    fprintf(cli->out, "%s: public key of %s (%s)\n", sr_cli_opt(a, "file"),
            json_string_value(json_object_get(json_object_get(resp, "key"), "kid")), enc);
    return SR_OK;
}

/* --- key attestation --- */

/* The root an attestation must chain to: --root-fingerprint, else the one pinned in $STRONGROOM_KMDATA. */
static enum sr_err sr_attestation_root(struct sr_cli *cli, const struct sr_args *a, uint8_t pinned[SR_HASH_LEN])
{
    const char *hex = sr_cli_opt(a, "root-fingerprint");
    const char *kmdata = secure_getenv("STRONGROOM_KMDATA");
    SR_AUTO_MODULE struct sr_module *m = NULL;
    if (hex == NULL && kmdata != NULL && sr_module_open(kmdata, &m) != SR_OK) {
        m = NULL;
    }
    return sr_cli_pinned_root(cli, hex, m, pinned);
}

/* One signed statement of an attestation: verified up to the pinned root, about this key (its kid, and the
 * public key the bundle carries); its payload in *ret. Saved into out_dir/<member>.json when asked. */
static enum sr_err sr_attestation_statement(struct sr_cli *cli, const json_t *att, const char *member,
                                            const uint8_t pinned[SR_HASH_LEN], const char *kid,
                                            const struct sr_buf *spki, const char *out_dir, json_t **ret)
{
    SR_AUTO_BUF struct sr_buf env = {0};
    const char *text = json_string_value(json_object_get(att, member));
    sr_buf_init(&env, SR_CLIENT_MAX_RESPONSE, SR_BUF_PLAIN);
    if (text == NULL || sr_b64url_decode(text, &env) != SR_OK) {
        sr_cli_detail(cli, "the answer has no %s", member);
        return SR_ERR_ATTESTATION;
    }
    char why[256];
    SR_AUTO_JSON json_t *payload = NULL;
    if (sr_signed_read(env.data, env.len, pinned, &payload, why, sizeof(why)) != SR_OK) {
        sr_cli_detail(cli, "%s does not verify: %s", member, why);
        return SR_ERR_ATTESTATION;
    }
    const json_t *key = json_object_get(payload, "key");
    const char *pub = json_string_value(json_object_get(key, "public_key"));
    SR_AUTO_BUF struct sr_buf der = {0};
    sr_buf_init(&der, 16384, SR_BUF_PLAIN);
    uint8_t hash[SR_HASH_LEN], want[SR_HASH_LEN];
    const char *hash_hex = json_string_value(json_object_get(key, "key_hash"));
    /* An oct key has no public half: its statements must not claim one. */
    bool key_ok = spki->len == 0
        ? pub == NULL && hash_hex == NULL
        : pub != NULL && sr_base64_decode(pub, &der) == SR_OK && der.len == spki->len &&
              memcmp(der.data, spki->data, spki->len) == 0 && hash_hex != NULL &&
              sr_hex_decode(hash_hex, want, 32) == SR_OK && sr_sha256(der.data, der.len, hash) == SR_OK &&
              memcmp(hash, want, sizeof(hash)) == 0;
    if (!key_ok || !json_is_string(json_object_get(payload, "kid")) ||
        strcmp(json_string_value(json_object_get(payload, "kid")), kid) != 0) {
        sr_cli_detail(cli, "%s is signed, but about another key than %s", member, kid);
        return SR_ERR_ATTESTATION;
    }
    if (out_dir != NULL) {
        char path[SR_PATH_MAX];
        int n = snprintf(path, sizeof(path), "%s/%s.json", out_dir, member);
        SR_ENSURE(n > 0 && (size_t)n < sizeof(path), SR_ERR_TOO_LARGE);
        SR_TRY(sr_cli_write_output(cli, path, env.data, env.len));
    }
    *ret = SR_TAKE(payload);
    return SR_OK;
}

static enum sr_err sr_cmd_key_attestation(struct sr_cli *cli, const struct sr_args *a)
{
    char path[512];
    SR_TRY(sr_cli_object_path(cli, a, "keys", true, "/attestation", path, sizeof(path)));
    uint8_t pinned[SR_HASH_LEN];
    SR_TRY(sr_attestation_root(cli, a, pinned));
    struct sr_client c;
    SR_TRY(sr_cli_client(cli, a, &c));
    c.api_version = "7.6";
    SR_AUTO_JSON json_t *resp = NULL;
    SR_TRY(sr_client_call(cli, &c, "GET", path, NULL, &resp));
    const json_t *jwk = json_object_get(resp, "key");
    const char *kid = json_string_value(json_object_get(jwk, "kid"));
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    SR_ENSURE(kid != NULL && kty != NULL, SR_ERR_REMOTE);
    SR_AUTO_BUF struct sr_buf spki = {0};
    sr_buf_init(&spki, 16384, SR_BUF_PLAIN);
    if (strncmp(kty, "oct", 3) != 0) {
        SR_AUTO_PKEY EVP_PKEY *pub = NULL;
        SR_ENSURE(sr_jwk_public_to_pkey(jwk, &pub) == SR_OK, SR_ERR_REMOTE);
        SR_TRY(sr_pkey_public_to_spki(pub, &spki));
    }
    const json_t *att = json_object_get(json_object_get(resp, "attributes"), "attestation");
    const char *out_dir = sr_cli_opt(a, "out-dir");
    if (out_dir != NULL && sr_dir_make(out_dir) != SR_OK) {
        sr_cli_detail(cli, "cannot make the directory %s", out_dir);
        return SR_ERR_IO;
    }
    SR_AUTO_JSON json_t *priv = NULL;
    SR_AUTO_JSON json_t *pubst = NULL;
    SR_TRY(sr_attestation_statement(cli, att, "privateKeyAttestation", pinned, kid, &spki, out_dir, &priv));
    SR_TRY(sr_attestation_statement(cli, att, "publicKeyAttestation", pinned, kid, &spki, out_dir, &pubst));
    char fp[72];
    sr_fingerprint_format(pinned, fp);
    SR_AUTO_FREE char *acl = json_dumps(json_object_get(priv, "acl"), JSON_COMPACT);
    const json_t *key = json_object_get(priv, "key");
    fprintf(cli->out,
            "Key attestation of %s\n  key           %s %s, key hash %s\n  origin        %s\n"
            "  exportable    %s\n  acl           %s\n  module        %s, world %s\n"
            "  signed by     the module's warranted identity key, chained to root %s\nResult: SUCCESS\n",
            kid, json_string_value(json_object_get(key, "kty")),
            json_is_string(json_object_get(key, "curve")) ? json_string_value(json_object_get(key, "curve")) : "",
            json_is_string(json_object_get(key, "key_hash")) ? json_string_value(json_object_get(key, "key_hash"))
                                                              : "none (a secret key)", json_string_value(json_object_get(priv, "origin")),
            json_is_true(json_object_get(priv, "exportable")) ? "yes" : "no", acl ? acl : "[]",
            json_string_value(json_object_get(json_object_get(priv, "module"), "esn")),
            json_string_value(json_object_get(json_object_get(priv, "world"), "id")), fp);
    return SR_OK;
}

/* --- the table --- */

static const struct sr_opt sr_opts_key_create[] = {
    SR_OPTS_CLIENT, SR_OPT_OUTPUT, SR_OPT_NAME,
    {"kty", NULL, true, "RSA, RSA-HSM, EC, EC-HSM, oct or oct-HSM (default RSA)"},
    {"size", NULL, true, "RSA: 2048, 3072 or 4096; oct: 128, 192 or 256"},
    {"curve", NULL, true, "EC curve: P-256, P-384, P-521 or P-256K (secp256k1)"},
    {"disabled", NULL, false, "create it disabled"},
    SR_OPT_ATTRS, SR_OPT_END,
};
static const struct sr_opt sr_opts_key_import[] = {
    SR_OPTS_CLIENT, SR_OPT_OUTPUT, SR_OPT_NAME,
    {"jwk-file", NULL, true, "a JSON web key with its private members"},
    {"byok-file", NULL, true, "a KeyTransferPackage-NAME.byok (BYOK)"},
    {"kty", NULL, true, "with --byok-file: RSA-HSM (default), EC-HSM or oct-HSM"},
    {"curve", NULL, true, "with --byok-file and EC-HSM: P-256, P-384, P-521 or P-256K"},
    {"destination", NULL, true, "HSM (every Strongroom key is module-protected)"},
    {"disabled", NULL, false, "import it disabled"},
    SR_OPT_ATTRS, SR_OPT_END,
};
static const struct sr_opt sr_opts_key_versioned[] = {SR_OPTS_CLIENT, SR_OPT_OUTPUT, SR_OPT_NAME, SR_OPT_VERSION, SR_OPT_END};
static const struct sr_opt sr_opts_key_named[] = {SR_OPTS_CLIENT, SR_OPT_OUTPUT, SR_OPT_NAME, SR_OPT_END};
static const struct sr_opt sr_opts_key_list[] = {SR_OPTS_CLIENT, SR_OPT_OUTPUT, SR_OPT_END};
static const struct sr_opt sr_opts_key_set[] = {
    SR_OPTS_CLIENT, SR_OPT_OUTPUT, SR_OPT_NAME, SR_OPT_VERSION,
    {"enabled", NULL, true, "true or false"},
    SR_OPT_ATTRS, SR_OPT_END,
};
static const struct sr_opt sr_opts_key_file[] = {
    SR_OPTS_CLIENT, SR_OPT_OUTPUT, SR_OPT_NAME, {"file", "-f", true, "the backup file"}, SR_OPT_END,
};
static const struct sr_opt sr_opts_key_download[] = {
    SR_OPTS_CLIENT, SR_OPT_NAME, SR_OPT_VERSION,
    {"file", "-f", true, "where the public key goes"},
    {"encoding", "-e", true, "PEM (default) or DER (SubjectPublicKeyInfo)"},
    SR_OPT_END,
};
static const struct sr_opt sr_opts_key_crypt[] = {
    SR_OPTS_CLIENT, SR_OPT_NAME, SR_OPT_VERSION,
    {"alg", "-a", true, "RSA-OAEP, RSA-OAEP-256, RSA1_5; oct-HSM: A128GCM..A256GCM, A128CBC..A256CBC(PAD), A128KW..A256KW"},
    {"in", NULL, true, "input file"},
    {"out", NULL, true, "output file"},
    {"iv", NULL, true, "AES-CBC: the IV in hex (16 bytes); AES-GCM decrypt: the IV encrypt printed"},
    {"aad", NULL, true, "AES-GCM: additional authenticated data in hex"},
    {"tag", NULL, true, "AES-GCM decrypt: the authentication tag encrypt printed, in hex"},
    SR_OPT_END,
};
static const struct sr_opt sr_opts_key_sign[] = {
    SR_OPTS_CLIENT, SR_OPT_NAME, SR_OPT_VERSION,
    {"alg", "-a", true, "RS256 ... RS512, PS256 ... PS512, ES256, ES384, ES512, ES256K"},
    {"in", NULL, true, "the file to sign: hashed here, its digest is signed"},
    {"out", NULL, true, "where the signature goes"},
    {"signature-format", NULL, true, "ECDSA: raw (r||s, as JOSE; default) or der (as openssl dgst -verify takes)"},
    SR_OPT_END,
};
static const struct sr_opt sr_opts_key_verify[] = {
    SR_OPTS_CLIENT, SR_OPT_NAME, SR_OPT_VERSION,
    {"alg", "-a", true, "RS256 ... ES512, ES256K"},
    {"in", NULL, true, "the signed file"},
    {"signature", NULL, true, "the signature file"},
    {"signature-format", NULL, true, "ECDSA: raw (default) or der"},
    SR_OPT_END,
};
static const struct sr_opt sr_opts_key_random[] = {
    SR_OPTS_CLIENT,
    {"count", NULL, true, "bytes, 1 to 128 (default 32)"},
    {"out", NULL, true, "write the bytes to this file (default: print them in hex)"},
    SR_OPT_END,
};
static const struct sr_opt sr_opts_key_release[] = {
    SR_OPTS_CLIENT, SR_OPT_NAME, SR_OPT_VERSION,
    {"target", NULL, true, "a file with the attestation token (a JWT from an authority the vault trusts)"},
    {"nonce", NULL, true, "a nonce the release JWS repeats"},
    {"enc", NULL, true, "CKM_RSA_AES_KEY_WRAP (default), RSA_AES_KEY_WRAP_256 or RSA_AES_KEY_WRAP_384"},
    {"out", NULL, true, "where the release JWS goes"},
    SR_OPT_END,
};
static const struct sr_opt sr_opts_policy_update[] = {
    SR_OPTS_CLIENT, SR_OPT_NAME, {"value", NULL, true, "a JSON file with the policy (lifetimeActions, attributes)"},
    SR_OPT_END,
};

static const struct sr_cmd sr_cmds_rotation_policy[] = {
    {"show", sr_cmd_policy_show, 0, 0, 0, sr_opts_key_named, NULL, "key rotation-policy show --name N",
     "print a key's rotation policy (JSON)"},
    {"update", sr_cmd_policy_update, 0, 0, 0, sr_opts_policy_update, NULL,
     "key rotation-policy update --name N --value POLICY.json", "set a key's rotation policy"},
    {NULL, NULL, 0, 0, 0, NULL, NULL, NULL, NULL},
};

static const struct sr_opt sr_opts_key_attestation[] = {
    SR_OPTS_CLIENT, SR_OPT_NAME, SR_OPT_VERSION,
    {"root-fingerprint", NULL, true, "the root it must chain to (default: the one pinned with 'root trust')"},
    {"out-dir", NULL, true, "also save both signed statements there, for openssl (docs/formats.md)"},
    SR_OPT_END,
};

const struct sr_cmd sr_cmds_key[] = {
    {"create", sr_cmd_key_create, 0, 0, 0, sr_opts_key_create, NULL,
     "key create --name N [--kty RSA|EC|oct-HSM] [--size 2048] [--curve P-256] [--ops sign,verify] [--tags k=v] [--expires T]",
     "create a key"},
    {"import", sr_cmd_key_import, 0, 0, 0, sr_opts_key_import, NULL,
     "key import --name N (--jwk-file F | --byok-file F --destination HSM [--kty EC-HSM --curve P-256])",
     "import a plain JSON web key, or a BYOK package"},
    {"show", sr_cmd_key_show, 0, 0, 0, sr_opts_key_versioned, NULL, "key show --name N [--version V]",
     "show a key's public part and attributes"},
    {"list", sr_cmd_key_list, 0, 0, 0, sr_opts_key_list, NULL, "key list", "list the vault's keys (latest versions)"},
    {"list-versions", sr_cmd_key_list_versions, 0, 0, 0, sr_opts_key_named, NULL, "key list-versions --name N",
     "list a key's versions"},
    {"list-deleted", sr_cmd_key_list_deleted, 0, 0, 0, sr_opts_key_list, NULL, "key list-deleted",
     "list soft-deleted keys"},
    {"show-deleted", sr_cmd_key_show_deleted, 0, 0, 0, sr_opts_key_named, NULL, "key show-deleted --name N",
     "show a soft-deleted key"},
    {"delete", sr_cmd_key_delete, 0, 0, 0, sr_opts_key_named, NULL, "key delete --name N",
     "soft-delete a key (recover or purge it later)"},
    {"recover", sr_cmd_key_recover, 0, 0, 0, sr_opts_key_named, NULL, "key recover --name N",
     "recover a soft-deleted key"},
    {"purge", sr_cmd_key_purge, 0, 0, 0, sr_opts_key_named, NULL, "key purge --name N",
     "delete a soft-deleted key for good"},
    {"set-attributes", sr_cmd_key_set_attributes, 0, 0, 0, sr_opts_key_set, NULL,
     "key set-attributes --name N [--version V] [--enabled true|false] [--expires T|none] [--not-before T|none] "
     "[--tags k=v,...] [--ops sign,verify]",
     "change a key version's attributes, tags or operations"},
    {"backup", sr_cmd_key_backup, 0, 0, 0, sr_opts_key_file, NULL, "key backup --name N --file F",
     "save every version of a key as a protected blob"},
    {"restore", sr_cmd_key_restore, 0, 0, 0, sr_opts_key_file, NULL, "key restore --file F",
     "restore a key from a backup blob (same region's world)"},
    {"rotate", sr_cmd_key_rotate, 0, 0, 0, sr_opts_key_named, NULL, "key rotate --name N",
     "make a new version of a key (as its rotation policy says)"},
    {"rotation-policy", NULL, 0, 0, 0, NULL, sr_cmds_rotation_policy, "key rotation-policy show|update",
     "a key's rotation policy"},
    {"attestation", sr_cmd_key_attestation, 0, 0, 0, sr_opts_key_attestation, NULL,
     "key attestation --name N [--version V] [--root-fingerprint FP] [--out-dir DIR]",
     "fetch a key's attestation and verify it up to the pinned root"},
    {"download", sr_cmd_key_download, 0, 0, 0, sr_opts_key_download, NULL,
     "key download --name N --file F [--encoding PEM|DER]",
     "save a key's public half (e.g. an import KEK, as az keyvault key download)"},
    {"encrypt", sr_cmd_key_encrypt, 0, 0, 0, sr_opts_key_crypt, NULL, "key encrypt --name N --alg ALG --in F --out F",
     "encrypt with a key"},
    {"decrypt", sr_cmd_key_decrypt, 0, 0, 0, sr_opts_key_crypt, NULL, "key decrypt --name N --alg ALG --in F --out F",
     "decrypt with a key"},
    {"wrap", sr_cmd_key_wrap, 0, 0, 0, sr_opts_key_crypt, NULL, "key wrap --name N --alg ALG --in F --out F",
     "wrap a key (bytes) with a key"},
    {"unwrap", sr_cmd_key_unwrap, 0, 0, 0, sr_opts_key_crypt, NULL, "key unwrap --name N --alg ALG --in F --out F",
     "unwrap a wrapped key"},
    {"sign", sr_cmd_key_sign, 0, 0, 0, sr_opts_key_sign, NULL,
     "key sign --name N --alg ALG --in FILE --out SIG [--signature-format raw|der]", "sign a file's digest"},
    {"verify", sr_cmd_key_verify, 0, 0, 0, sr_opts_key_verify, NULL,
     "key verify --name N --alg ALG --in FILE --signature SIG [--signature-format raw|der]",
     "verify a signature (exit 1 if invalid)"},
    {"release", sr_cmd_key_release, 0, 0, 0, sr_opts_key_release, NULL,
     "key release --name N [--version V] --target TOKEN-FILE [--enc ENC] [--nonce X] --out JWS",
     "release an exportable key to the runtime key an attestation token names (tests a release policy)"},
    {"random", sr_cmd_key_random, 0, 0, 0, sr_opts_key_random, NULL, "key random [--count 32] [--out F]",
     "random bytes from the vault's HSM"},
    {NULL, NULL, 0, 0, 0, NULL, NULL, NULL, NULL},
};
