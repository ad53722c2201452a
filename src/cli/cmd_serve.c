/* cmd_serve.c - the operator's commands: serve, region, vault, token, audit. They work on the data
 * directory directly, whether or not a server runs; a running server sees the change at once. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "base/fileio.h"
#include "base/json.h"
#include "base/text.h"
#include "byok/byok.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/output.h"
#include "crypto/crypto.h"
#include "hsm/km0.h"
#include "hsm/tls.h"
#include "http/control.h"
#include "http/http.h"
#include "vault/vault.h"

#define SR_DEV_VAULT "dev"
#define SR_DEV_REGION "DEV"

static void sr_tls_issuerp(struct sr_tls_issuer **is)
{
    sr_tls_issuer_free(*is);
}

const char *sr_data_dir(const struct sr_args *args, const struct sr_opt *opts)
{
    const char *d = sr_arg(args, opts, "data");
    return d ? d : SR_DEFAULT_DATA;
}

/* --store URL, else STRONGROOM_STORE, else SQLite in the data directory. */
void sr_storep(struct sr_store **s)
{
    if (*s != NULL) {
        (*s)->ops->close(*s);
    }
}

static const char *sr_store_url(const struct sr_args *args, const struct sr_opt *opts)
{
    const char *url = sr_arg(args, opts, "store");
    return url != NULL ? url : secure_getenv("STRONGROOM_STORE");
}

/* Any command but 'serve --dev' and 'region create' on a directory that is no server's would make an empty one (a
 * token that works on no server, "0 entries, hash chain intact"): refused, and nothing is made. */
static enum sr_err sr_data_dir_check(struct sr_cli *cli, const struct sr_args *args, const struct sr_opt *opts,
                                     bool may_create)
{
    const char *data = sr_data_dir(args, opts);
    const char *url = sr_store_url(args, opts);
    char db[SR_PATH_MAX];
    SR_TRY(sr_path_join(db, sizeof(db), data, "vault.db"));
    if (!may_create && (url == NULL || *url == 0) && !sr_file_exists(db)) {
        sr_cli_detail(cli, "%s is not a Strongroom data directory (no vault.db): give --data with a server's data "
                           "directory, or make one with 'serve --dev' or 'region create'", data);
        return SR_ERR_NOT_FOUND;
    }
    return SR_OK;
}

enum sr_err sr_open_store_new(struct sr_cli *cli, const struct sr_args *args, const struct sr_opt *opts, bool may_create,
                              struct sr_store **ret)
{
    const char *data = sr_data_dir(args, opts);
    const char *url = sr_store_url(args, opts);
    SR_TRY(sr_data_dir_check(cli, args, opts, may_create));
    enum sr_err r = sr_store_open(url, data, ret);
    if (r == SR_ERR_UNAVAILABLE) {
        sr_cli_detail(cli, "cannot reach the database given by --store or STRONGROOM_STORE (is it running?)");
    } else if (r != SR_OK && r != SR_ERR_STORE_URL) {
        sr_cli_detail(cli, "cannot open the store %s", url && *url ? "given by --store or STRONGROOM_STORE" : data);
    }
    return r;
}

enum sr_err sr_open_store(struct sr_cli *cli, const struct sr_args *args, const struct sr_opt *opts,
                          struct sr_store **ret)
{
    return sr_open_store_new(cli, args, opts, false, ret);
}

/* The port of the server running on data (serve.lock's second line, written once it listens); 0 if none. */
static unsigned sr_running_port(const char *data)
{
    char path[SR_PATH_MAX];
    if (sr_path_join(path, sizeof(path), data, "serve.lock") != SR_OK) {
        return 0;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return 0;
    }
    char text[64] = "";
    unsigned long port = 0;
    if (flock(fd, LOCK_SH | LOCK_NB) != 0) { /* held: a server runs */
        ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
        text[n > 0 ? (size_t)n : 0] = 0;
        const char *line2 = strchr(text, '\n');
        if (line2 == NULL || sscanf(line2 + 1, "%lu", &port) != 1 || port > 65535) {
            port = 0;
        }
    }
    close(fd);
    return (unsigned)port;
}

/* Rows from the store, printed as --output says: the frame of every listing command. */
enum sr_err sr_list_rows(struct sr_cli *cli, const struct sr_args *args, sr_rows_fill fill,
                                const struct sr_column *cols)
{
    enum sr_output format;
    SR_TRY(sr_output_parse(cli, sr_arg(args, args->opts, "output"), &format));
    SR_AUTO_STORE struct sr_store *store = NULL;
    SR_TRY(sr_open_store(cli, args, args->opts, &store));
    SR_AUTO_JSON json_t *rows = json_array();
    SR_ENSURE(rows != NULL, SR_ERR_NOMEM);
    SR_TRY(fill(store, args, rows));
    return sr_output_rows(cli, format, rows, cols);
}

/* --- region --- */

static const struct sr_opt sr_opts_region[] = {
    SR_OPTS_DATA_STORE,
    {"acs-quorum", "-Q", true, "K/N administrator cards for the region's world (default 1/1)"},
    {"pin-file", NULL, true, "one PIN a line, card 1 first (default: ask on the terminal)"},
    {"card-dir", NULL, true, "where the cards go (default DATA/regions/NAME/cards)"},
    {"kek-size", NULL, true, "the region KEK's RSA size: 2048, 3072 (default) or 4096"},
    {"hsm", NULL, true, "keep the region's keys in this PKCS#11 token: 'pkcs11:token=T?module-path=LIB&pin-source=file:F'"},
    {NULL, NULL, false, NULL},
};

static enum sr_err sr_cmd_region_create(struct sr_cli *cli, const struct sr_args *args)
{
    const struct sr_opt *o = sr_opts_region;
    const char *data = sr_data_dir(args, o);
    char diag[256] = "";
    struct sr_region_params p = {.name = args->pos[0], .card_dir = sr_arg(args, o, "card-dir"),
                                 .hsm = sr_arg(args, o, "hsm"), .diag = diag, .diag_cap = sizeof(diag)};
    SR_TRY(sr_region_name_check(p.name));
    SR_TRY(sr_quorum_parse(sr_arg(args, o, "acs-quorum"), &p.quorum_k, &p.quorum_n));
    unsigned long bits = 3072;
    if (sr_arg(args, o, "kek-size") && sr_parse_uint(sr_arg(args, o, "kek-size"), 2048, 4096, &bits) != SR_OK) {
        return SR_ERR_KEY_TYPE;
    }
    p.kek_bits = (unsigned)bits;
    SR_AUTO_STORE struct sr_store *store = NULL;
    SR_TRY(sr_open_store_new(cli, args, o, true, &store));
    if (store->ops->region_exists(store, p.name) == SR_OK) {
        sr_cli_detail(cli, "region %s", p.name);
        return SR_ERR_EXISTS;
    }
    if (p.hsm != NULL) {
        enum sr_err r = sr_region_create(data, store, &p, NULL);
        if (r != SR_OK) {
            sr_cli_detail(cli, "%s", diag);
            return r;
        }
        fprintf(cli->out,
                "Region %s created in the PKCS#11 token of its URI: identity key (ECDSA P-384) and KEK (RSA-%u, "
                "import only) made there, never extractable\nToolset: %s/regions/%s/toolset/KeyVault-BYOK-Tools-%s.zip\n",
                p.name, p.kek_bits, data, p.name, p.name);
        return SR_OK;
    }
    unsigned cards[SR_MAX_CARDS];
    for (unsigned i = 0; i < p.quorum_n; i++) {
        cards[i] = i + 1;
    }
    SR_AUTO_PINS struct sr_pins pins = {0};
    SR_TRY(sr_collect_pins(cli, sr_arg(args, o, "pin-file"), cards, p.quorum_n, true, &pins));
    SR_TRY(sr_region_create(data, store, &p, &pins));
    fprintf(cli->out,
            "Region %s created: its own module, security world (ACS %u of %u) and KEK (RSA-%u, import only)\n"
            "Toolset: %s/regions/%s/toolset/KeyVault-BYOK-Tools-%s.zip\n",
            p.name, p.quorum_k, p.quorum_n, p.kek_bits, data, p.name, p.name);
    return SR_OK;
}

static const struct sr_opt sr_opts_region_join[] = {
    {"data", NULL, true, "this server's data directory (default ./strongroom-data)"},
    {"store", NULL, true, "the database the region was made in: a postgresql:// URL (env STRONGROOM_STORE)"},
    {"cards", NULL, true, "the region's administrator cards inserted, e.g. 1,3 (a quorum)"},
    {"card-dir", NULL, true, "where the inserted card files are (default DATA/regions/NAME/cards)"},
    {"pin-file", NULL, true, "one PIN a line, card 1 first; lines of absent cards may be empty (default: ask)"},
    {"hsm", NULL, true, "an HSM region: this server's PKCS#11 URI of the region's token (its module path and PIN "
                        "source may differ from the first node's)"},
    {NULL, NULL, false, NULL},
};

static enum sr_err sr_cmd_region_join(struct sr_cli *cli, const struct sr_args *args)
{
    const struct sr_opt *o = sr_opts_region_join;
    const char *data = sr_data_dir(args, o);
    const char *list = sr_arg(args, o, "cards");
    if (list == NULL && sr_arg(args, o, "hsm") == NULL) {
        sr_cli_detail(cli, "give the inserted cards: --cards 1,3 [--card-dir DIR] (a quorum of the region's set); "
                           "for a region on a PKCS#11 token, --hsm URI (this server's URI of the region's token)");
        return SR_ERR_USAGE;
    }
    unsigned cards[SR_MAX_CARDS];
    char diag[256] = "";
    struct sr_join_params p = {.name = args->pos[0], .card_dir = sr_arg(args, o, "card-dir"), .cards = cards,
                               .hsm = sr_arg(args, o, "hsm"), .diag = diag, .diag_cap = sizeof(diag)};
    SR_TRY(sr_region_name_check(p.name));
    char cards_dir[SR_PATH_MAX];
    SR_TRY(sr_region_cards(data, p.name, p.card_dir, cards_dir, sizeof(cards_dir)));
    p.card_dir = cards_dir;
    if (list != NULL) {
        SR_TRY(sr_cards_parse(cli, list, cards, &p.ncards));
    }
    SR_AUTO_STORE struct sr_store *store = NULL;
    SR_TRY(sr_open_store(cli, args, o, &store));
    SR_AUTO_PINS struct sr_pins pins = {0};
    if (list != NULL) {
        SR_TRY(sr_collect_pins(cli, sr_arg(args, o, "pin-file"), cards, p.ncards, false, &pins));
    }
    enum sr_err r = sr_region_join(data, store, &p, &pins);
    if (r == SR_ERR_USAGE) {
        sr_cli_detail(cli, "give the inserted cards: --cards 1,3 [--card-dir DIR] (a quorum of the region's set)");
        return r;
    }
    if (r != SR_OK) {
        sr_cli_detail(cli, "region %s: nothing was written%s%s", p.name, diag[0] ? "; " : "", diag);
        return r;
    }
    if (p.ncards == 0) {
        fprintf(cli->out, "Region %s joined: this server opened the region's token (its identity key found and "
                          "warranted by this server's root); the server serves the region's vaults from its next "
                          "request.\n", p.name);
    } else {
        fprintf(cli->out, "Region %s joined: this server's own module loaded the region's world from %u cards; "
                          "the server serves the region's vaults from its next request.\n", p.name, p.ncards);
    }
    return SR_OK;
}

static const struct sr_opt sr_opts_listing[] = {
    SR_OPTS_DATA_STORE,
    {"output", "-o", true, SR_OUTPUT_HELP},
    {NULL, NULL, false, NULL},
};

struct sr_region_listing {
    const char *data;
    json_t *rows;
};

static enum sr_err sr_region_listed(void *ctx, const char *name)
{
    struct sr_region_listing *l = ctx;
    char kmdata[SR_PATH_MAX], hsm[SR_PATH_MAX];
    SR_TRY(sr_region_kmdata(l->data, name, kmdata, sizeof(kmdata)));
    SR_TRY(sr_region_hsm_dir(l->data, name, hsm, sizeof(hsm)));
    bool here = sr_file_exists(kmdata) || sr_file_exists(hsm);
    json_t *e = json_pack("{s:s,s:s}", "name", name, "here", here ? "yes" : "no (region join)");
    SR_ENSURE(e != NULL && json_array_append_new(l->rows, e) == 0, SR_ERR_NOMEM);
    return SR_OK;
}

static enum sr_err sr_fill_regions(struct sr_store *store, const struct sr_args *args, json_t *rows)
{
    struct sr_region_listing l = {.data = sr_data_dir(args, args->opts), .rows = rows};
    return store->ops->region_each(store, sr_region_listed, &l);
}

static enum sr_err sr_cmd_region_list(struct sr_cli *cli, const struct sr_args *args)
{
    static const struct sr_column cols[] = {{"name", "NAME"}, {"here", "MODULE ON THIS SERVER"}, {NULL, NULL}};
    return sr_list_rows(cli, args, sr_fill_regions, cols);
}

const struct sr_cmd sr_cmds_region[] = {
    {"list", sr_cmd_region_list, 0, 0, 0, sr_opts_listing, NULL, "region list [--output table|tsv|json] --data DIR",
     "every region of the store, and whether this server holds its module"},
    {"create", sr_cmd_region_create, 0, 1, 1, sr_opts_region, NULL,
     "region create NAME --data DIR [--acs-quorum K/N --pin-file F --card-dir D | --hsm URI]",
     "make a region: a module with its own security world"},
    {"join", sr_cmd_region_join, 0, 1, 1, sr_opts_region_join, NULL,
     "region join NAME --data DIR --store URL (--cards 1,3 [--card-dir D] [--pin-file F] | --hsm URI)",
     "load a region another server made into this server's own module, from a quorum of its cards"},
    {NULL, NULL, 0, 0, 0, NULL, NULL, NULL, NULL},
};

/* --- vault --- */

static const struct sr_opt sr_opts_vault_create[] = {
    SR_OPTS_DATA_STORE,
    {"region", NULL, true, "the region the vault lives in"},
    {"subscription-id", NULL, true, "the subscription id the vault belongs to"},
    {NULL, NULL, false, NULL},
};

static enum sr_err sr_cmd_vault_create(struct sr_cli *cli, const struct sr_args *args)
{
    const struct sr_opt *o = sr_opts_vault_create;
    const char *region = sr_arg(args, o, "region");
    const char *sub = sr_arg(args, o, "subscription-id");
    if (region == NULL || sub == NULL) {
        sr_cli_detail(cli, "--region and --subscription-id are required");
        return SR_ERR_USAGE;
    }
    SR_AUTO_STORE struct sr_store *store = NULL;
    SR_TRY(sr_open_store(cli, args, o, &store));
    enum sr_err r = sr_vault_create(store, args->pos[0], region, sub);
    if (r == SR_ERR_NOT_FOUND) {
        sr_cli_detail(cli, "no region %s; make it with 'strongroom region create %s'", region, region);
    } else if (r == SR_ERR_EXISTS) {
        sr_cli_detail(cli, "vault %s", args->pos[0]);
    }
    SR_TRY(r);
    unsigned port = sr_running_port(sr_data_dir(args, o));
    fprintf(cli->out, "Vault %s created in region %s for subscription %s\n", args->pos[0], region, sub);
    if (port != 0) {
        fprintf(cli->out, "URL: https://%s.localhost:%u (the running server serves it now)\n", args->pos[0], port);
    } else {
        fprintf(cli->out, "URL: https://%s.localhost:PORT (PORT: where 'strongroom serve' listens)\n", args->pos[0]);
    }
    return SR_OK;
}

static enum sr_err sr_vault_listed(void *ctx, const struct sr_vault_row *v)
{
    char created[32], url[SR_MAX_VAULT + 40];
    sr_cli_iso_time(v->created, created);
    snprintf(url, sizeof(url), "https://%s.localhost:<port>", v->name);
    json_t *e = json_pack("{s:s,s:s,s:s,s:s,s:s}", "name", v->name, "region", v->region, "subscriptionId",
                          v->subscription, "created", created, "url", url);
    SR_ENSURE(e != NULL && json_array_append_new(ctx, e) == 0, SR_ERR_NOMEM);
    return SR_OK;
}

static enum sr_err sr_fill_vaults(struct sr_store *store, const struct sr_args *args, json_t *rows)
{
    (void)args;
    return store->ops->vault_each(store, sr_vault_listed, rows);
}

static enum sr_err sr_cmd_vault_list(struct sr_cli *cli, const struct sr_args *args)
{
    static const struct sr_column cols[] = {
        {"name", "NAME"}, {"region", "REGION"}, {"subscriptionId", "SUBSCRIPTION"}, {"created", "CREATED"},
        {"url", "URL"}, {NULL, NULL},
    };
    return sr_list_rows(cli, args, sr_fill_vaults, cols);
}

static const struct sr_opt sr_opts_trust_authority[] = {
    SR_OPTS_DATA_STORE,
    {"vault", NULL, true, "the vault that is to trust the authority"},
    {"issuer", NULL, true, "the authority's URL: the iss of the tokens it signs"},
    {"jwks", NULL, true, "a file with the authority's signing keys, a JWKS: {\"keys\": [JWK, ...]}"},
    {"remove", NULL, false, "trust the authority no more (instead of --jwks): its tokens release nothing"},
    {NULL, NULL, false, NULL},
};

static enum sr_err sr_cmd_vault_trust_authority(struct sr_cli *cli, const struct sr_args *args)
{
    const struct sr_opt *o = sr_opts_trust_authority;
    const char *vault = sr_arg(args, o, "vault");
    const char *issuer = sr_arg(args, o, "issuer");
    const char *path = sr_arg(args, o, "jwks");
    bool remove = sr_arg_set(args, o, "remove");
    if (vault == NULL || issuer == NULL || (path == NULL) == !remove) {
        sr_cli_detail(cli, "--vault, --issuer and one of --jwks FILE or --remove are required");
        return SR_ERR_USAGE;
    }
    if (remove) {
        SR_AUTO_STORE struct sr_store *store = NULL;
        SR_TRY(sr_open_store(cli, args, o, &store));
        enum sr_err r = sr_vault_distrust_authority(store, vault, issuer);
        if (r == SR_ERR_VAULT_NOT_FOUND || r == SR_ERR_NOT_FOUND) {
            sr_cli_detail(cli, r == SR_ERR_NOT_FOUND ? "vault %s does not trust %s" : "no vault %s%s", vault,
                          r == SR_ERR_NOT_FOUND ? issuer : "");
        }
        SR_TRY(r);
        fprintf(cli->out, "Vault %s trusts %s no more: its tokens release no key\n", vault, issuer);
        return SR_OK;
    }
    SR_AUTO_BUF struct sr_buf jwks = {0};
    sr_buf_init(&jwks, 1024 * 1024, SR_BUF_PLAIN);
    enum sr_err r = sr_file_read(path, &jwks);
    if (r != SR_OK) {
        sr_cli_detail(cli, "cannot read %s", path);
        return r;
    }
    SR_AUTO_STORE struct sr_store *store = NULL;
    SR_TRY(sr_open_store(cli, args, o, &store));
    char why[200] = "";
    r = sr_vault_trust_authority(store, vault, issuer, jwks.data, jwks.len, why, sizeof(why));
    if (r == SR_ERR_VAULT_NOT_FOUND) {
        sr_cli_detail(cli, "no vault %s ('strongroom vault list')", vault);
    } else if (r == SR_ERR_BAD_PARAM) {
        sr_cli_detail(cli, "%s", why);
        return SR_ERR_USAGE;
    }
    SR_TRY(r);
    fprintf(cli->out, "Vault %s trusts %s for key release (tokens it signs with the keys of %s)\n", vault, issuer,
            path);
    return SR_OK;
}

const struct sr_cmd sr_cmds_vault[] = {
    {"list", sr_cmd_vault_list, 0, 0, 0, sr_opts_listing, NULL, "vault list [--output table|tsv|json] --data DIR",
     "every vault: region, subscription, created"},
    {"create", sr_cmd_vault_create, 0, 1, 1, sr_opts_vault_create, NULL,
     "vault create NAME --region R --subscription-id ID --data DIR", "make a vault in a region"},
    {"show", sr_cmd_vault_show, 0, 0, 0, sr_opts_vault_show, NULL, "vault show --vault-url URL",
     "print a vault's name, region and subscription id (the guide's first step)"},
    {"trust-authority", sr_cmd_vault_trust_authority, 0, 0, 0, sr_opts_trust_authority, NULL,
     "vault trust-authority --vault V --issuer URL (--jwks FILE | --remove) --data DIR",
     "let a vault release exportable keys to tokens this attestation authority signs (POST .../release)"},
    {NULL, NULL, 0, 0, 0, NULL, NULL, NULL, NULL},
};

/* --- token --- */

static const struct sr_opt sr_opts_data[] = {
    SR_OPTS_DATA_STORE,
    {NULL, NULL, false, NULL},
};

static const struct sr_opt sr_opts_token[] = {
    SR_OPTS_DATA_STORE,
    {"role", NULL, true, "Administrator, \"Crypto Officer\", \"Crypto User\", \"Crypto Service Encryption User\", \"Crypto Service Release User\", Reader"},
    {"vault", NULL, true, "limit the token to one vault (default: every vault)"},
    {"ttl", NULL, true, "lifetime in seconds (default: no expiry)"},
    {"name", NULL, true, "its label, unique: what the audit log and 'token list' show (default token-<id>)"},
    {NULL, NULL, false, NULL},
};

static enum sr_err sr_cmd_token_create(struct sr_cli *cli, const struct sr_args *args)
{
    const struct sr_opt *o = sr_opts_token;
    const char *role = sr_arg(args, o, "role");
    const char *vault = sr_arg(args, o, "vault");
    const char *ttl_text = sr_arg(args, o, "ttl");
    if (role == NULL) {
        sr_cli_detail(cli, "--role is required");
        return SR_ERR_USAGE;
    }
    unsigned long ttl = 0;
    if (ttl_text != NULL && sr_parse_uint(ttl_text, 1, 10u * 365u * 86400u, &ttl) != SR_OK) {
        sr_cli_detail(cli, "--ttl is a number of seconds");
        return SR_ERR_USAGE;
    }
    SR_AUTO_STORE struct sr_store *store = NULL;
    SR_TRY(sr_open_store(cli, args, o, &store));
    if (vault != NULL) {
        struct sr_vault_row v;
        enum sr_err r = store->ops->vault_get(store, vault, &v);
        if (r == SR_ERR_NOT_FOUND) {
            sr_cli_detail(cli, "no vault %s", vault);
        }
        SR_TRY(r);
    }
    char token[64];
    const char *name = sr_arg(args, o, "name");
    enum sr_err r = sr_token_create(store, name, role, vault, (long long)ttl, token);
    if (r == SR_ERR_EXISTS) {
        sr_cli_detail(cli, "a token named %s exists; give another --name", name ? name : "so");
    }
    SR_TRY(r);
    /* The only time the token is ever shown: the store keeps its hash. */
    fprintf(cli->out, "%s\n", token);
    OPENSSL_cleanse(token, sizeof(token));
    return SR_OK;
}

static const struct sr_opt sr_opts_token_list[] = {
    SR_OPTS_DATA_STORE,
    {"output", "-o", true, SR_OUTPUT_HELP},
    {NULL, NULL, false, NULL},
};

static enum sr_err sr_token_listed(void *ctx, const struct sr_token_row *t)
{
    json_t *rows = ctx;
    char created[32], expires[32], used[32], revoked[32], id[17];
    sr_cli_iso_time(t->created, created);
    sr_cli_iso_time(t->expires, expires);
    sr_cli_iso_time(t->last_used, used);
    sr_cli_iso_time(t->revoked, revoked);
    snprintf(id, sizeof(id), "%.16s", t->hash); /* the id: a prefix of the hash, never the token */
    json_t *e = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "name", t->name[0] ? t->name : "-", "id", id, "role",
                          t->role, "vault", t->vault[0] ? t->vault : "*", "created", created, "expires", expires,
                          "lastUsed", used, "revoked", revoked);
    SR_ENSURE(e != NULL && json_array_append_new(rows, e) == 0, SR_ERR_NOMEM);
    return SR_OK;
}

static enum sr_err sr_fill_tokens(struct sr_store *store, const struct sr_args *args, json_t *rows)
{
    (void)args;
    return store->ops->token_each(store, sr_token_listed, rows);
}

static enum sr_err sr_cmd_token_list(struct sr_cli *cli, const struct sr_args *args)
{
    static const struct sr_column cols[] = {
        {"name", "NAME"}, {"id", "ID"}, {"role", "ROLE"}, {"vault", "VAULT"}, {"created", "CREATED"},
        {"expires", "EXPIRES"}, {"lastUsed", "LAST USED"}, {"revoked", "REVOKED"}, {NULL, NULL},
    };
    return sr_list_rows(cli, args, sr_fill_tokens, cols);
}

static enum sr_err sr_cmd_token_revoke(struct sr_cli *cli, const struct sr_args *args)
{
    SR_AUTO_STORE struct sr_store *store = NULL;
    SR_TRY(sr_open_store(cli, args, sr_opts_data, &store));
    enum sr_err r = sr_store_token_revoke(store, args->pos[0], (long long)time(NULL));
    if (r == SR_ERR_NOT_FOUND) {
        sr_cli_detail(cli, "no live token named %s, and none with that id ('strongroom token list')", args->pos[0]);
    }
    SR_TRY(r);
    fprintf(cli->out, "Token %s revoked: its next request is refused, on every server of this store.\n", args->pos[0]);
    return SR_OK;
}

const struct sr_cmd sr_cmds_token[] = {
    {"create", sr_cmd_token_create, 0, 0, 0, sr_opts_token, NULL,
     "token create --role ROLE [--name LABEL] [--vault NAME] [--ttl SECONDS] --data DIR",
     "make a bearer token (printed once)"},
    {"list", sr_cmd_token_list, 0, 0, 0, sr_opts_token_list, NULL, "token list [--output table|tsv|json] --data DIR",
     "every token: label, id, role, vault, created, expires, last used, revoked (never the token)"},
    {"revoke", sr_cmd_token_revoke, 0, 1, 1, sr_opts_data, NULL, "token revoke NAME|ID --data DIR",
     "revoke a token by its label or id: refused from its next request on"},
    {NULL, NULL, 0, 0, 0, NULL, NULL, NULL, NULL},
};

/* --- audit --- */

static const struct sr_opt sr_opts_audit_verify[] = {
    SR_OPTS_DATA_STORE,
    {"checkpoint", NULL, true, "a file from 'audit checkpoint': the log must still hold what it signed"},
    {"root-fingerprint", NULL, true, "the root the checkpoint must chain to (default: this data directory's root)"},
    {NULL, NULL, false, NULL},
};

/* The root a checkpoint must chain to: --root-fingerprint, else this data directory's own. */
static enum sr_err sr_pinned_root(const struct sr_args *args, uint8_t pinned[SR_HASH_LEN])
{
    const char *fp_text = sr_arg(args, args->opts, "root-fingerprint");
    if (fp_text != NULL) {
        SR_ENSURE(sr_hex_decode(fp_text, pinned, SR_HASH_LEN) == SR_OK, SR_ERR_FINGERPRINT);
        return SR_OK;
    }
    char root_dir[SR_PATH_MAX];
    SR_TRY(sr_path_join(root_dir, sizeof(root_dir), sr_data_dir(args, args->opts), "root"));
    return sr_root_fingerprint(root_dir, pinned);
}

static enum sr_err sr_cmd_audit_verify(struct sr_cli *cli, const struct sr_args *args)
{
    const char *checkpoint = sr_arg(args, args->opts, "checkpoint");
    SR_AUTO_STORE struct sr_store *store = NULL;
    SR_TRY(sr_open_store(cli, args, args->opts, &store));
    long long seq = 0, count = 0, bad = 0;
    if (checkpoint == NULL) {
        enum sr_err r = sr_audit_verify(store, &count, &bad);
        if (r == SR_ERR_AUDIT_BROKEN) {
            sr_cli_detail(cli, "first bad entry: %lld of %lld", bad, count);
        }
        SR_TRY(r);
        fprintf(cli->out, "audit log: %lld entries, hash chain intact\n", count);
        return SR_OK;
    }
    uint8_t pinned[SR_HASH_LEN];
    SR_TRY(sr_pinned_root(args, pinned));
    SR_AUTO_BUF struct sr_buf file = {0};
    sr_buf_init(&file, 1u << 20, SR_BUF_PLAIN);
    if (sr_file_read(checkpoint, &file) != SR_OK) {
        sr_cli_detail(cli, "cannot read %s", checkpoint);
        return SR_ERR_IO;
    }
    SR_TRY(sr_audit_checkpoint_check(store, file.data, file.len, pinned, &seq, &count, cli->detail,
                                     sizeof(cli->detail)));
    fprintf(cli->out, "audit log: %lld entries, hash chain intact; it holds the %lld entries the checkpoint signed\n",
            count, seq);
    return SR_OK;
}

static const struct sr_opt sr_opts_audit_checkpoint[] = {
    SR_OPTS_DATA_STORE,
    {"out", NULL, true, "where the signed checkpoint goes (keep copies away from this server)"},
    {"region", NULL, true, "the region whose module signs it (default: the first this server holds)"},
    {NULL, NULL, false, NULL},
};

static enum sr_err sr_first_held_region(void *ctx, const char *name)
{
    char **data_and_out = ctx;
    char kmdata[SR_PATH_MAX];
    if (data_and_out[1][0] == 0 && sr_region_kmdata(data_and_out[0], name, kmdata, sizeof(kmdata)) == SR_OK &&
        sr_file_exists(kmdata)) {
        snprintf(data_and_out[1], SR_MAX_REGION + 1, "%s", name);
    }
    return SR_OK;
}

static enum sr_err sr_cmd_audit_checkpoint(struct sr_cli *cli, const struct sr_args *args)
{
    const struct sr_opt *o = args->opts;
    const char *out = sr_arg(args, o, "out");
    if (out == NULL) {
        sr_cli_detail(cli, "--out FILE is required");
        return SR_ERR_USAGE;
    }
    SR_AUTO_STORE struct sr_store *store = NULL;
    SR_TRY(sr_open_store(cli, args, o, &store));
    char region[SR_MAX_REGION + 1] = "";
    char data_copy[SR_PATH_MAX];
    snprintf(data_copy, sizeof(data_copy), "%s", sr_data_dir(args, o));
    if (sr_arg(args, o, "region") != NULL) {
        snprintf(region, sizeof(region), "%s", sr_arg(args, o, "region"));
    } else {
        char *ctx[2] = {data_copy, region};
        SR_TRY(store->ops->region_each(store, sr_first_held_region, ctx));
    }
    char kmdata[SR_PATH_MAX];
    SR_TRY(sr_region_kmdata(data_copy, region, kmdata, sizeof(kmdata)));
    if (region[0] == 0 || !sr_file_exists(kmdata)) {
        sr_cli_detail(cli, "no region's module on this server to sign with");
        return SR_ERR_NO_MODULE;
    }
    struct sr_seal_config seal;
    SR_TRY(sr_seal_config_read(data_copy, &seal));
    SR_AUTO_MODULE struct sr_module *m = NULL;
    SR_TRY(sr_module_open_sealed(kmdata, &seal, &m));
    SR_AUTO_HSM struct sr_hsm *h = NULL;
    SR_TRY(sr_hsm_software(SR_TAKE(m), &h));
    long long count = 0;
    enum sr_err r = sr_audit_checkpoint_write(store, h, region, out, &count);
    if (r == SR_ERR_AUDIT_BROKEN) {
        sr_cli_detail(cli, "the chain is broken ('audit verify' says where): nothing to vouch for");
    }
    SR_TRY(r);
    fprintf(cli->out, "Checkpoint %s: entry %lld, signed by region %s's module. Keep a copy away from this "
                      "server; 'audit verify --checkpoint %s' proves the log still holds it.\n",
            out, count, region, out);
    return SR_OK;
}

static const struct sr_opt sr_opts_audit_show[] = {
    SR_OPTS_DATA_STORE,
    {"since", NULL, true, "only entries from this time on: 2026-11-27T09:00:00Z or 2026-11-27 (UTC)"},
    {"op", NULL, true, "only this operation: CreateKey, Sign, Authenticate (refused tokens) ..."},
    {"actor", NULL, true, "only this token label"},
    {"client", NULL, true, "only this client address"},
    {"refused", NULL, false, "only refusals and failures (status 400 and above)"},
    {"output", "-o", true, SR_OUTPUT_HELP},
    {NULL, NULL, false, NULL},
};

struct sr_audit_filter {
    long long since;
    const char *op, *actor, *client;
    bool refused;
    json_t *rows;
};

static enum sr_err sr_audit_listed(void *ctx, const struct sr_audit_row *a)
{
    const struct sr_audit_filter *f = ctx;
    if (a->time < f->since || (f->op && strcasecmp(f->op, a->op) != 0) || (f->actor && strcmp(f->actor, a->actor) != 0) ||
        (f->client && strcmp(f->client, a->client) != 0) || (f->refused && a->status < 400)) {
        return SR_OK;
    }
    char when[32];
    sr_cli_iso_time(a->time, when);
    struct sr_audit_row clean = *a;
    sr_audit_row_clean(&clean);
    a = &clean;
    json_t *e = json_pack("{s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:I,s:s}", "seq", (json_int_t)a->seq, "time", when, "vault",
                          a->vault, "actor", a->actor[0] ? a->actor : "-", "client", a->client[0] ? a->client : "-",
                          "op", a->op, "target", a->target[0] ? a->target : "-", "status", a->status, "count",
                          (json_int_t)(a->count > 1 ? a->count : 1), "reason", a->reason[0] ? a->reason : "-");
    SR_ENSURE(e != NULL && json_array_append_new(f->rows, e) == 0, SR_ERR_NOMEM);
    return SR_OK;
}

static enum sr_err sr_fill_audit(struct sr_store *store, const struct sr_args *args, json_t *rows)
{
    const struct sr_opt *o = args->opts;
    struct sr_audit_filter f = {.op = sr_arg(args, o, "op"), .actor = sr_arg(args, o, "actor"),
                                .client = sr_arg(args, o, "client"), .refused = sr_arg_set(args, o, "refused"),
                                .rows = rows};
    if (sr_arg(args, o, "since") && sr_cli_parse_time(sr_arg(args, o, "since"), &f.since) != SR_OK) {
        return SR_ERR_USAGE;
    }
    return store->ops->audit_each(store, sr_audit_listed, &f);
}

static enum sr_err sr_cmd_audit_show(struct sr_cli *cli, const struct sr_args *args)
{
    static const struct sr_column cols[] = {
        {"seq", "SEQ"}, {"time", "TIME"}, {"vault", "VAULT"}, {"actor", "ACTOR"}, {"client", "CLIENT"},
        {"op", "OP"}, {"target", "TARGET"}, {"status", "STATUS"}, {"count", "COUNT"}, {"reason", "REASON"},
        {NULL, NULL},
    };
    long long since = 0;
    const char *text = sr_arg(args, args->opts, "since");
    if (text != NULL && sr_cli_parse_time(text, &since) != SR_OK) {
        sr_cli_detail(cli, "--since is an ISO-8601 UTC time such as 2026-11-27T09:00:00Z, or a date");
        return SR_ERR_USAGE;
    }
    return sr_list_rows(cli, args, sr_fill_audit, cols);
}

const struct sr_cmd sr_cmds_audit[] = {
    {"verify", sr_cmd_audit_verify, 0, 0, 0, sr_opts_audit_verify, NULL,
     "audit verify [--checkpoint FILE [--root-fingerprint HEX]] --data DIR",
     "check the audit log's hash chain (and that it still holds a signed checkpoint)"},
    {"checkpoint", sr_cmd_audit_checkpoint, 0, 0, 0, sr_opts_audit_checkpoint, NULL,
     "audit checkpoint --out FILE [--region R] --data DIR",
     "sign the chain's head with a region module's warranted key, to keep elsewhere"},
    {"show", sr_cmd_audit_show, 0, 0, 0, sr_opts_audit_show, NULL,
     "audit show [--since T] [--op OP] [--actor LABEL] [--client ADDR] [--refused] [--output table|tsv|json] --data DIR",
     "the audit log's entries, oldest first: who did what, from where, with what outcome"},
    {NULL, NULL, 0, 0, 0, NULL, NULL, NULL, NULL},
};

/* --- serve --- */

const struct sr_opt sr_opts_serve[] = {
    SR_OPTS_DATA_STORE,
    {"listen", NULL, true, "ADDR:PORT to listen on (default 127.0.0.1:8443; port 0 picks one)"},
    {"dev", NULL, false, "first start: make a root, region DEV (1-of-1 cards), vault 'dev' and an admin token"},
    {"default-vault", NULL, true, "the vault that answers on plain localhost (default dev)"},
    {"threads", NULL, true, "worker threads (default: one per CPU)"},
    {"max-conns-per-address", NULL, true, "open connections one client address may hold (default 128, of 4,096)"},
    {"body-budget", NULL, true, "MiB of request bodies the server holds at once, past which it answers 503 (default 256)"},
    {"rotation-interval", NULL, true, "seconds between checks of the keys' rotation policies (default 60)"},
    {"token-lifetime", NULL, true, "seconds an access token of the authority lives (default 3600)"},
    {"checkpoint-interval", NULL, true, "seconds between signed audit checkpoints in DATA/checkpoints (default 3600; 0: none)"},
    {"port-file", NULL, true, "write the port actually bound to this file (for tests)"},
    {"quiet", NULL, false, "print nothing but warnings and errors: no serving line, no request log"},
    {"seal", NULL, true, "a new directory's seal: file, tpm2, pkcs11 or cards (as 'seal init --backend'; default file)"},
    {"tpm", NULL, true, "tpm2 seal: the TCTI (default STRONGROOM_TPM_TCTI, else the one given at 'seal init')"},
    {"pcrs", NULL, true, "with --seal tpm2: SHA-256 PCRs to bind the module keys to (7, or 0,2,7)"},
    {"pkcs11", NULL, true, "with --seal pkcs11: the token's RFC 7512 URI (module-path=, pin-source=file:PATH)"},
    {NULL, NULL, false, NULL},
};

/* The directory's seal. --seal makes it on a new directory (and is checked against an existing one); --tpm
 * overrides the TCTI. The `file` seal says what it means at every start. */
static enum sr_err sr_serve_seal(struct sr_cli *cli, const struct sr_args *args, const char *data,
                                 struct sr_seal_config *ret)
{
    const struct sr_opt *o = sr_opts_serve;
    const char *want = sr_arg(args, o, "seal");
    if (want != NULL) {
        struct sr_seal_config cfg;
        struct sr_seal_choice choice = {want, sr_arg(args, o, "tpm"), sr_arg(args, o, "pcrs"),
                                        sr_arg(args, o, "pkcs11")};
        SR_TRY(sr_seal_options(cli, &choice, &cfg));
        enum sr_err r = sr_seal_config_init(data, &cfg);
        SR_ENSURE(r == SR_OK || r == SR_ERR_SEAL_EXISTS, r);
    }
    SR_TRY(sr_seal_config_read(data, ret));
    sr_seal_config_tcti(ret, sr_arg(args, o, "tpm"));
    if (want != NULL && strcmp(want, sr_seal_backend_name(ret->backend)) != 0) {
        sr_cli_detail(cli, "%s is sealed by %s, not %s ('seal status')", data, sr_seal_backend_name(ret->backend),
                      want);
        return SR_ERR_SEAL_EXISTS;
    }
    if (ret->backend == SR_SEAL_FILE) {
        fprintf(stderr, "strongroom: warning: seal 'file': the module keys are plain files in %s, so a copy of the "
                        "directory is a copy of every key ('seal init --backend tpm2' for a new one)\n", data);
    }
    if (ret->backend == SR_SEAL_CARDS) {
        fprintf(stderr, "strongroom: note: seal 'cards': the region modules open only with a quorum of their cards; "
                        "root/ and tls/ in %s are plain files (docs/design.md, trust model)\n", data);
    }
    return SR_OK;
}

static enum sr_err sr_dev_setup(struct sr_cli *cli, const char *data, struct sr_store *store)
{
    char token_path[SR_PATH_MAX];
    SR_TRY(sr_path_join(token_path, sizeof(token_path), data, "dev-token"));
    if (sr_file_exists(token_path)) {
        return SR_OK;
    }
    if (store->ops->region_exists(store, SR_DEV_REGION) != SR_OK) {
        /* A random PIN for the one dev card, kept beside it: a development world, not a guarded one. */
        uint8_t raw[16];
        char pin[33];
        char pin_path[SR_PATH_MAX];
        SR_TRY(sr_rand_bytes(raw, sizeof(raw)));
        sr_hex_encode(raw, sizeof(raw), pin);
        SR_TRY(sr_path_join(pin_path, sizeof(pin_path), data, "dev-card-pin"));
        SR_TRY(sr_file_write_atomic(pin_path, pin, strlen(pin), SR_WRITE_REPLACE));
        SR_AUTO_PINS struct sr_pins pins = {0};
        SR_TRY(sr_pins_read_file(cli, pin_path, &pins));
        OPENSSL_cleanse(pin, sizeof(pin));
        struct sr_region_params p = {.name = SR_DEV_REGION, .quorum_k = 1, .quorum_n = 1};
        SR_TRY(sr_region_create(data, store, &p, &pins));
    }
    struct sr_vault_row v;
    if (store->ops->vault_get(store, SR_DEV_VAULT, &v) != SR_OK) {
        uint8_t raw[16];
        char hex[33], sub[40];
        SR_TRY(sr_rand_bytes(raw, sizeof(raw)));
        sr_hex_encode(raw, sizeof(raw), hex);
        snprintf(sub, sizeof(sub), "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
        SR_TRY(sr_vault_create(store, SR_DEV_VAULT, SR_DEV_REGION, sub));
    }
    char token[64];
    SR_TRY(sr_token_create(store, NULL, "Administrator", NULL, 0, token));
    char line[80];
    snprintf(line, sizeof(line), "%s\n", token);
    enum sr_err r = sr_file_write_atomic(token_path, line, strlen(line), SR_WRITE_CREATE);
    OPENSSL_cleanse(token, sizeof(token));
    OPENSSL_cleanse(line, sizeof(line));
    return r;
}

struct sr_name_list {
    char names[256][SR_MAX_VAULT + 1];
    const char *ptrs[256];
    size_t n;
};

static enum sr_err sr_collect_vault(void *ctx, const struct sr_vault_row *v)
{
    struct sr_name_list *l = ctx;
    if (l->n < SR_ARRAY_LEN(l->names)) {
        snprintf(l->names[l->n], sizeof(l->names[0]), "%s", v->name);
        l->ptrs[l->n] = l->names[l->n];
        l->n++;
    }
    return SR_OK;
}

static enum sr_err sr_parse_listen(struct sr_cli *cli, const char *listen, char *addr, size_t cap, unsigned *port)
{
    const char *colon = strrchr(listen, ':');
    unsigned long p = 0;
    if (colon == NULL || (size_t)(colon - listen) >= cap || sr_parse_uint(colon + 1, 0, 65535, &p) != SR_OK) {
        sr_cli_detail(cli, "--listen takes ADDR:PORT, e.g. 127.0.0.1:8443");
        return SR_ERR_USAGE;
    }
    memcpy(addr, listen, (size_t)(colon - listen));
    addr[colon - listen] = 0;
    *port = (unsigned)p;
    return SR_OK;
}

static void sr_print_dev_help(FILE *f, const char *data, unsigned port)
{
    fprintf(f,
            "\nDevelopment vault ready.\n"
            "  vault URL   https://dev.localhost:%u  (the SDKs need the vault's name; curl and the CLI also take "
            "https://localhost:%u)\n"
            "  CA cert     %s/tls/ca.pem   (NODE_EXTRA_CA_CERTS, curl --cacert, --ca-file)\n"
            "  admin token %s/dev-token\n"
            "Try:\n"
            "  export STRONGROOM_VAULT_URL=https://dev.localhost:%u STRONGROOM_CA_FILE=%s/tls/ca.pem\n"
            "  export STRONGROOM_TOKEN=$(cat %s/dev-token)\n"
            "  strongroom key create --name first --kty RSA --size 2048\n"
            "  curl --cacert %s/tls/ca.pem -H \"Authorization: Bearer $STRONGROOM_TOKEN\" \\\n"
            "       'https://localhost:%u/keys?api-version=7.5'\n"
            "An application with DefaultAzureCredential, unchanged (docs/identity.md):\n"
            "  strongroom app create myapp --secret --data %s    (then 'role assignment create')\n"
            "  AZURE_AUTHORITY_HOST=https://dev.localhost:%u AZURE_TENANT_ID=adfs AZURE_CLIENT_ID=... "
            "AZURE_CLIENT_SECRET=...\n\n",
            port, port, data, data, port, data, data, data, port, data, port);
}

/*
 * One server per data directory, held for the process's life (the kernel drops it at exit, kill -9 too):
 * the server caches key rows because its writer is the only writer of keys (store/rowcache.c). Operator
 * commands (token, vault, region, audit) need no lock and work beside it.
 */
enum sr_err sr_serve_lock(struct sr_cli *cli, const char *data, int *ret_fd)
{
    char path[SR_PATH_MAX];
    SR_TRY(sr_dir_make(data));
    SR_TRY(sr_path_join(path, sizeof(path), data, "serve.lock"));
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    SR_ENSURE(fd >= 0, SR_ERR_IO);
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        /* The holder wrote its PID there when it took the lock. */
        char pid[24] = "";
        ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
        pid[n > 0 ? (size_t)n : 0] = 0;
        pid[strcspn(pid, "\n")] = 0;
        close(fd);
        sr_cli_detail(cli, "another 'strongroom serve'%s%s is using %s: one server per data directory (stop it first)",
                      pid[0] ? ", PID " : "", pid, data);
        return SR_ERR_EXISTS;
    }
    char pid[24];
    int len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
        close(fd);
        return SR_ERR_IO;
    }
    *ret_fd = fd;
    return SR_OK;
}

/* DATA/control.sock, for 'strongroom unseal': without it a cards-sealed server could never serve. */
static enum sr_err sr_serve_control(struct sr_cli *cli, struct sr_vault_svc *svc, const char *data,
                                    const struct sr_seal_config *seal, struct sr_control **ret)
{
    *ret = NULL;
    enum sr_err r = sr_control_start(svc, data, ret);
    if (r != SR_OK && seal->backend != SR_SEAL_CARDS) {
        fprintf(stderr, "strongroom: warning: no control socket in %s (%s)\n", data, sr_err_message(r));
        return SR_OK;
    }
    if (r != SR_OK) {
        sr_cli_detail(cli, "%s/control.sock (a Unix socket's path is at most 107 bytes)", data);
        return r;
    }
    SR_AUTO_JSON json_t *state = NULL;
    SR_TRY(sr_vault_seal_state(svc, &state));
    if (json_is_true(json_object_get(state, "sealed"))) {
        fprintf(cli->out, "strongroom: sealed: %zu region(s) wait for a quorum of their administrator cards: "
                          "strongroom unseal --data %s --cards LIST --pin-file F\n",
                json_array_size(json_object_get(state, "regions")), data);
    }
    return SR_OK;
}

enum sr_err sr_cmd_serve(struct sr_cli *cli, const struct sr_args *args)
{
    const struct sr_opt *o = sr_opts_serve;
    const char *data = sr_data_dir(args, o);
    char addr[64];
    unsigned port = 8443;
    SR_TRY(sr_parse_listen(cli, sr_arg(args, o, "listen") ? sr_arg(args, o, "listen") : "127.0.0.1:8443", addr,
                           sizeof(addr), &port));
    unsigned long threads = (unsigned long)sysconf(_SC_NPROCESSORS_ONLN);
    if (sr_arg(args, o, "threads") && sr_parse_uint(sr_arg(args, o, "threads"), 1, 256, &threads) != SR_OK) {
        sr_cli_detail(cli, "--threads is a number from 1 to 256");
        return SR_ERR_USAGE;
    }
    unsigned long rotation = 60;
    if (sr_arg(args, o, "rotation-interval") &&
        sr_parse_uint(sr_arg(args, o, "rotation-interval"), 1, 86400, &rotation) != SR_OK) {
        sr_cli_detail(cli, "--rotation-interval is a number of seconds from 1 to 86400");
        return SR_ERR_USAGE;
    }
    unsigned long lifetime = 3600;
    if (sr_arg(args, o, "token-lifetime") &&
        sr_parse_uint(sr_arg(args, o, "token-lifetime"), 1, 86400, &lifetime) != SR_OK) {
        sr_cli_detail(cli, "--token-lifetime is a number of seconds from 1 to 86400");
        return SR_ERR_USAGE;
    }
    unsigned long checkpoint = 3600;
    if (sr_arg(args, o, "checkpoint-interval") &&
        sr_parse_uint(sr_arg(args, o, "checkpoint-interval"), 0, 7 * 86400, &checkpoint) != SR_OK) {
        sr_cli_detail(cli, "--checkpoint-interval is a number of seconds from 0 (none) to 604800");
        return SR_ERR_USAGE;
    }
    unsigned long body_mib = 0;
    if (sr_arg(args, o, "body-budget") && sr_parse_uint(sr_arg(args, o, "body-budget"), 1, 65536, &body_mib) != SR_OK) {
        sr_cli_detail(cli, "--body-budget is a number of MiB from 1 to 65536");
        return SR_ERR_USAGE;
    }
    unsigned long per_address = 0;
    if (sr_arg(args, o, "max-conns-per-address") &&
        sr_parse_uint(sr_arg(args, o, "max-conns-per-address"), 1, 1000, &per_address) != SR_OK) {
        sr_cli_detail(cli, "--max-conns-per-address is a number from 1 to 1000");
        return SR_ERR_USAGE;
    }
    SR_TRY(sr_data_dir_check(cli, args, o, sr_arg_set(args, o, "dev"))); /* before the lock makes the directory */
    SR_AUTO(sr_closep) int lock = -1;
    SR_TRY(sr_serve_lock(cli, data, &lock));
    SR_AUTO_STORE struct sr_store *store = NULL;
    SR_TRY(sr_open_store_new(cli, args, o, sr_arg_set(args, o, "dev"), &store));
    struct sr_seal_config seal;
    SR_TRY(sr_serve_seal(cli, args, data, &seal));
    if (sr_arg_set(args, o, "dev")) {
        SR_TRY(sr_dev_setup(cli, data, store));
    }
    struct sr_name_list *names = calloc(1, sizeof(*names));
    SR_ENSURE(names != NULL, SR_ERR_NOMEM);
    enum sr_err r = store->ops->vault_each(store, sr_collect_vault, names);
    char tls_dir[SR_PATH_MAX];
    SR_AUTO_BUF struct sr_buf cert = {0};
    SR_AUTO_BUF struct sr_buf key = {0};
    sr_buf_init(&cert, 1u << 20, SR_BUF_PLAIN);
    sr_buf_init(&key, 16384, SR_BUF_SECRET);
    if (r == SR_OK) {
        r = sr_path_join(tls_dir, sizeof(tls_dir), data, "tls");
    }
    if (r == SR_OK) {
        r = sr_tls_credentials(tls_dir, &seal, names->ptrs, names->n, &cert, &key);
        if (r != SR_OK) {
            sr_cli_detail(cli, "%s", seal.diag);
        }
    }
    free(names);
    SR_TRY(r);
    SR_TRY(sr_buf_terminate(&key));
    SR_AUTO(sr_tls_issuerp) struct sr_tls_issuer *issuer = NULL;
    SR_TRY(sr_tls_issuer_open(tls_dir, &seal, &issuer));
    struct sr_vault_svc *svc = NULL;
    SR_TRY(sr_vault_svc_open(data, store, &svc));
    sr_vault_use_seal(svc, &seal);
    sr_vault_token_lifetime(svc, (long long)lifetime);
    sr_vault_jwks_fetcher(svc, sr_fetch_jwks, NULL); /* only issuers trusted with --discovery are ever fetched */
    if (sr_arg_set(args, o, "dev")) {
        sr_vault_allow_short_policies(svc);
    }
    char why[600] = "";
    r = sr_vault_unseal_regions(svc, why, sizeof(why));
    if (r != SR_OK) {
        sr_cli_detail(cli, "%s", why);
        sr_vault_svc_free(svc);
        return r;
    }
    struct sr_http_config cfg = {.address = addr, .port = port, .threads = (unsigned)threads,
                                 .conns_per_address = (unsigned)per_address,
                                 .body_budget = (size_t)body_mib << 20,
                                 .default_vault = sr_arg(args, o, "default-vault") ? sr_arg(args, o, "default-vault")
                                                                                  : SR_DEV_VAULT,
                                 .cert_pem = (const char *)cert.data, .key_pem = (const char *)key.data,
                                 .issuer = issuer,
                                 .log_requests = !sr_arg_set(args, o, "quiet")};
    /* Block the signals before the worker threads start, so that only sigwait below sees them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    struct sr_http_server *server = NULL;
    struct sr_control *control = NULL;
    r = sr_serve_control(cli, svc, data, &seal, &control);
    if (r == SR_OK) {
        r = sr_vault_background_start(svc, (unsigned)rotation, (unsigned)checkpoint);
    }
    if (r == SR_OK) {
        r = sr_http_start(svc, &cfg, &server);
        if (r != SR_OK) {
            sr_cli_detail(cli, "cannot listen on %s:%u (in use, or not an address of this machine)", addr, port);
        }
    }
    if (r != SR_OK) {
        sr_control_stop(control);
        sr_vault_svc_free(svc);
        return r;
    }
    unsigned bound = sr_http_port(server);
    char lock_text[48];
    int lock_len = snprintf(lock_text, sizeof(lock_text), "%ld\n%u\n", (long)getpid(), bound);
    (void)!pwrite(lock, lock_text, (size_t)lock_len, 0); /* for 'vault create' to print the URL that works */
    bool quiet = sr_arg_set(args, o, "quiet");
    if (!quiet) { /* --quiet: nothing but warnings and errors (readiness: --port-file, or the first answer) */
        fprintf(cli->out, "strongroom: serving https://%s:%u (data %s, %lu threads); TLS CA: %s/ca.pem\n", addr,
                bound, data, threads, tls_dir);
    }
    if (sr_arg_set(args, o, "dev") && !quiet) {
        sr_print_dev_help(cli->out, data, bound);
    }
    fflush(cli->out);
    const char *port_file = sr_arg(args, o, "port-file");
    if (port_file != NULL) {
        char text[16];
        snprintf(text, sizeof(text), "%u\n", bound);
        (void)!sr_file_write_atomic(port_file, text, strlen(text), SR_WRITE_REPLACE);
    }
    int sig = 0;
    sigwait(&set, &sig);
    fprintf(cli->out, "strongroom: signal %d: finishing requests in flight, then stopping\n", sig);
    sr_http_stop(server);
    sr_control_stop(control);
    sr_vault_svc_free(svc);
    return SR_OK;
}

