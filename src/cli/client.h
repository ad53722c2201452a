/*
 * client.h - the command line's HTTPS client for a vault (libcurl): vault URL,
 * bearer token and CA file from options or environment, JSON in and out.
 */
#ifndef SR_CLI_CLIENT_H
#define SR_CLI_CLIENT_H

#include <jansson.h>

#include "cli/cli.h"
#include "cli/output.h"

#define SR_CLIENT_API_VERSION "7.5"
#define SR_CLIENT_MAX_RESPONSE (4u * 1024u * 1024u)

/* The options of every command that calls a vault: where it is, who asks, which CA to trust. */
#define SR_OPTS_CLIENT                                                                                         \
    {"vault-url", NULL, true, "https://VAULT.localhost:PORT (or STRONGROOM_VAULT_URL)"},                       \
    {"token", NULL, true, "bearer token (or STRONGROOM_TOKEN, which ps cannot show)"},                        \
    {"ca-file", NULL, true, "a CA certificate to trust besides the system's (or STRONGROOM_CA_FILE)"}

struct sr_client {
    char url[512];      /* https://vault.localhost:8443, no trailing slash */
    const char *token;  /* borrowed from the environment */
    const char *ca_file;
    const char *api_version; /* NULL: SR_CLIENT_API_VERSION; operations of later versions set theirs */
};

/* GET of a JSON object over http(s) with the system's CAs, 10 s at most, 1 MiB at most, no redirect. */
SR_MUST_USE enum sr_err sr_fetch_json(const char *url, json_t **ret);
/* An OIDC issuer's keys by discovery: its /.well-known/openid-configuration (which must name it as issuer), then
 * its jwks_uri. The shape of struct sr_vault_svc's fetcher (vault.h), so a server can refresh them. */
SR_MUST_USE enum sr_err sr_fetch_jwks(void *ctx, const char *issuer, json_t **ret_jwks);
/* Each of url, ca and token from its option, else from its environment variable. */
SR_MUST_USE enum sr_err sr_client_init(struct sr_cli *cli, const char *url_opt, const char *ca_opt,
                                       const char *token_opt, struct sr_client *ret);
/* For public endpoints (toolsets): no token needed. */
SR_MUST_USE enum sr_err sr_client_init_public(struct sr_cli *cli, const char *url_opt, const char *ca_opt,
                                              struct sr_client *ret);
/* GET of raw bytes (a toolset zip), no api-version. */
SR_MUST_USE enum sr_err sr_client_download(struct sr_cli *cli, const struct sr_client *c, const char *path,
                                           struct sr_buf *out);
/* path starts with "/"; query gets api-version appended. *ret is the parsed body (NULL when empty).
 * A 4xx/5xx answer is reported into cli->detail and returned as an error. */
SR_MUST_USE enum sr_err sr_client_call(struct sr_cli *cli, const struct sr_client *c, const char *method,
                                       const char *path, const json_t *body, json_t **ret);

/* --- what the vault object subcommands share (cmd_vaultkey.c; used by `key` and `secret`) --- */
#define SR_OPT_OUTPUT {"output", "-o", true, SR_OUTPUT_HELP}
#define SR_OPT_END {NULL, NULL, false, NULL}
/* Options by name: a's own table (NULL when not given). */
const char *sr_cli_opt(const struct sr_args *a, const char *name);
SR_MUST_USE enum sr_err sr_cli_need(struct sr_cli *cli, const struct sr_args *a, const char *name);
/* The client of --vault-url, --ca-file, --token (or their environment). */
SR_MUST_USE enum sr_err sr_cli_client(struct sr_cli *cli, const struct sr_args *a, struct sr_client *c);
/* A Unix time member as ISO-8601 UTC ("-" when absent); tags (pairs) or an array joined with commas. */
void sr_cli_row_time(json_t *row, const char *key, const json_t *unix_time);
json_t *sr_cli_joined(const json_t *v, bool pairs);
/* An answer flattened into one row for table and tsv output. */
typedef json_t *(*sr_cli_row_fn)(const json_t *item);
/* One answer: as the server sent it (-o json) or as a row. */
SR_MUST_USE enum sr_err sr_cli_print_item(struct sr_cli *cli, const struct sr_args *a, const json_t *bundle,
                                          sr_cli_row_fn row_of, const struct sr_column *columns);
/* Calls path (method, body or NULL) and prints the object it answers (nothing for 204). */
SR_MUST_USE enum sr_err sr_cli_call_item(struct sr_cli *cli, const struct sr_args *a, const char *method,
                                         const char *path, const json_t *body, sr_cli_row_fn row_of,
                                         const struct sr_column *columns);
/* Every page of a list (following nextLink), printed as rows. */
SR_MUST_USE enum sr_err sr_cli_call_list(struct sr_cli *cli, const struct sr_args *a, const char *path,
                                         sr_cli_row_fn row_of, const struct sr_column *columns);
/* --tags, --expires, --not-before, --enabled, --disabled (and a key's --ops) into body's members. */
SR_MUST_USE enum sr_err sr_cli_attrs_body(struct sr_cli *cli, const struct sr_args *a, json_t *body);
/* "/COLLECTION/NAME" (--name) + "/VERSION" (when versioned and --version is given) + suffix. */
SR_MUST_USE enum sr_err sr_cli_object_path(struct sr_cli *cli, const struct sr_args *a, const char *collection,
                                           bool versioned, const char *suffix, char *out, size_t cap);
/* backup --name N --file F of a collection's object (its blob into F, 0600), and restore --file F (the
 * object it answers printed as row_of and columns say). */
SR_MUST_USE enum sr_err sr_cli_backup(struct sr_cli *cli, const struct sr_args *a, const char *collection);
SR_MUST_USE enum sr_err sr_cli_restore(struct sr_cli *cli, const struct sr_args *a, const char *collection,
                                       sr_cli_row_fn row_of, const struct sr_column *columns);
/* A file's bytes (secret buffer, 1 MiB at most) and an atomic 0600 write, with the path in the error. */
SR_MUST_USE enum sr_err sr_cli_read_input(struct sr_cli *cli, const char *path, struct sr_buf *out);
SR_MUST_USE enum sr_err sr_cli_write_output(struct sr_cli *cli, const char *path, const uint8_t *data, size_t len);

#endif
