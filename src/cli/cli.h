/*
 * cli.h - the `strongroom` command line: a table of subcommands whose rows
 * carry the policy (which module mode, whether a world must be loaded), one
 * option parser, and the only place that talks to humans.
 *
 * A command function returns an enum sr_err; the dispatcher prints
 * "strongroom: CMD: message" for it and maps it to exit status 0/1/2.
 */
#ifndef SR_CLI_CLI_H
#define SR_CLI_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "hsm/module.h"

#define SR_MAX_OPTS 24
#define SR_MAX_POSITIONAL 32

struct sr_opt {
    const char *name;  /* long name without "--" */
    const char *alias; /* a second spelling, with its dashes, e.g. "-k" or "-KeyIdentifier"; may be NULL */
    bool has_arg;
    const char *help;
};

struct sr_args {
    const struct sr_opt *opts; /* the command's options, which val and set follow */
    const char *val[SR_MAX_OPTS];
    bool set[SR_MAX_OPTS];
    const char *pos[SR_MAX_POSITIONAL];
    int npos;
};

enum sr_cmd_flags {
    SR_CMD_MODULE = 1u << 0,      /* opens $STRONGROOM_KMDATA before running */
    SR_CMD_MODE_I = 1u << 1,      /* module must be in initialisation mode */
    SR_CMD_MODE_O = 1u << 2,      /* module must be in operational mode */
    SR_CMD_NEEDS_WORLD = 1u << 3, /* a world key must be loaded and the world file intact */
    SR_CMD_EXISTING = 1u << 4,    /* the module must exist already: this command never makes one */
};

struct sr_cli;

struct sr_cmd {
    const char *name;
    enum sr_err (*fn)(struct sr_cli *cli, const struct sr_args *args);
    unsigned flags;
    int min_pos;
    int max_pos;
    const struct sr_opt *opts; /* terminated by a row with name == NULL */
    const struct sr_cmd *sub;  /* second-level table (module mode, root init ...), or NULL */
    const char *usage;
    const char *summary;
};

struct sr_cli {
    const char *cmd_name;      /* "generatekey", "module mode" ... for error messages */
    const char *kmdata;
    struct sr_module *module;  /* open when the command has SR_CMD_MODULE */
    char detail[512];          /* extra words for the error message, set by commands */
    FILE *out;
};

int sr_cli_main(int argc, char **argv);

/* The root packages and attestations must chain to: hex (--root-fingerprint) when given, else the one
 * pinned with 'root trust' in module m (which may be NULL: none pinned). */
SR_MUST_USE enum sr_err sr_cli_pinned_root(struct sr_cli *cli, const char *hex, struct sr_module *m,
                                           uint8_t out[SR_HASH_LEN]);

/* Index of option name in opts (for args->val / args->set). */
int sr_opt_index(const struct sr_opt *opts, const char *name);
const char *sr_arg(const struct sr_args *args, const struct sr_opt *opts, const char *name);
bool sr_arg_set(const struct sr_args *args, const struct sr_opt *opts, const char *name);
void sr_cli_detail(struct sr_cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* pin.c: PINs from --pin-file (line i = card i) or typed twice at the terminal without echo. */
SR_MUST_USE enum sr_err sr_pins_read_file(struct sr_cli *cli, const char *path, struct sr_pins *ret);
SR_MUST_USE enum sr_err sr_pins_prompt(struct sr_cli *cli, const unsigned *cards, unsigned ncards, bool confirm,
                                       struct sr_pins *ret);
/* A key made through the PKCS#11 library (app "pkcs11") is used from the command line as through the library:
 * after its user PIN (first line of pin_file, or typed at the terminal). Other apps need nothing. */
SR_MUST_USE enum sr_err sr_cli_app_login(struct sr_cli *cli, const char *app, const char *pin_file);
#define SR_DEFAULT_DATA "strongroom-data"
/* --data, else ./strongroom-data. */
const char *sr_data_dir(const struct sr_args *args, const struct sr_opt *opts);
/* cmd_seal.c: a seal from the options of `seal init` and `serve --seal` (backend, --tpm, --pcrs). */
struct sr_seal_config;
struct sr_seal_choice {
    const char *backend, *tpm, *pcrs, *pkcs11;
};
SR_MUST_USE enum sr_err sr_seal_options(struct sr_cli *cli, const struct sr_seal_choice *choice,
                                        struct sr_seal_config *ret);
extern const struct sr_cmd sr_cmds_seal[];
/* The data directory's serve.lock, taken (its fd, with this PID in it): SR_ERR_EXISTS while a server holds it. */
SR_MUST_USE enum sr_err sr_serve_lock(struct sr_cli *cli, const char *data, int *ret_fd);
/* Parses --acs-quorum K/N (1 <= K <= N <= 64); text NULL gives 1/1. */
SR_MUST_USE enum sr_err sr_quorum_parse(const char *text, unsigned *k, unsigned *n);
/* A Unix time as ISO-8601 UTC ("2026-11-27T00:00:00Z"), the form every table prints; "-" for 0. */
void sr_cli_iso_time(long long t, char out[32]);
static inline void sr_pinsp(struct sr_pins *p)
{
    sr_pins_release(p);
}
#define SR_AUTO_PINS SR_AUTO(sr_pinsp)
/* The cards a quorum operation uses: --cards LIST (PINs from pin_file or the terminal), or without it, at a
 * terminal, asked for one at a time ("Insert card 1 of the 2 needed ...") until quorum_k are in. Without
 * --cards or a terminal: SR_ERR_USAGE, naming --cards. */
SR_MUST_USE enum sr_err sr_cards_collect(struct sr_cli *cli, const char *list, const char *pin_file, unsigned quorum_k,
                                         unsigned quorum_n, unsigned *cards, unsigned *ncards, struct sr_pins *pins);
/* New cards' PINs are at least this long. */
#define SR_MIN_PIN 4u
/* Parses "1,3" into card numbers. */
SR_MUST_USE enum sr_err sr_cards_parse(struct sr_cli *cli, const char *list, unsigned *cards, unsigned *ncards);

/* docgen.c: a command's manual page (env_text: the variables it reads) and the bash completion script. */
void sr_man_page(FILE *f, const struct sr_cmd *c, const char *env_text);
void sr_bash_completion(FILE *f, const struct sr_cmd *table);

/* The command tables, one per file. */
extern const struct sr_cmd sr_cmds_module[];
extern const struct sr_cmd sr_cmds_pkcs11[];
extern const struct sr_cmd sr_cmds_root[];
extern const struct sr_cmd sr_cmds_world[];
extern const struct sr_cmd sr_cmds_region[];
extern const struct sr_cmd sr_cmds_vault[];
extern const struct sr_cmd sr_cmds_token[];
extern const struct sr_cmd sr_cmds_app[];  /* cmd_identity.c */
extern const struct sr_cmd sr_cmds_idp[];
extern const struct sr_cmd sr_cmds_role[];
extern const struct sr_cmd sr_cmds_authority[];
extern const struct sr_cmd sr_cmds_audit[];
extern const struct sr_cmd sr_cmds_key[];
extern const struct sr_cmd sr_cmds_secret[];
extern const struct sr_cmd sr_cmds_toolset[];
extern const struct sr_cmd sr_cmds_keytransfer[];
extern const struct sr_opt sr_opts_verifykeypackage[];
enum sr_err sr_cmd_verifykeypackage(struct sr_cli *cli, const struct sr_args *args);
enum sr_err sr_cmd_vault_show(struct sr_cli *cli, const struct sr_args *args);
extern const struct sr_opt sr_opts_vault_show[];
/* PINs for the listed cards from --pin-file, or typed at the terminal. */
SR_MUST_USE enum sr_err sr_collect_pins(struct sr_cli *cli, const char *pin_file, const unsigned *cards,
                                        unsigned ncards, bool confirm, struct sr_pins *pins);
enum sr_err sr_cmd_serve(struct sr_cli *cli, const struct sr_args *args);
/* cmd_serve.c: the store of a command (--store URL, else STRONGROOM_STORE, else SQLite in the data directory). */
struct sr_store;
SR_MUST_USE enum sr_err sr_open_store(struct sr_cli *cli, const struct sr_args *args, const struct sr_opt *opts,
                                      struct sr_store **ret);
/* The same for the commands that may make a new data directory (serve --dev, region create): may_create. */
SR_MUST_USE enum sr_err sr_open_store_new(struct sr_cli *cli, const struct sr_args *args, const struct sr_opt *opts,
                                          bool may_create, struct sr_store **ret);
void sr_storep(struct sr_store **s);
/* Rows a fill function reads from the store, printed as --output says: the frame of every listing command. */
struct sr_column;
typedef enum sr_err (*sr_rows_fill)(struct sr_store *store, const struct sr_args *args, json_t *rows);
SR_MUST_USE enum sr_err sr_list_rows(struct sr_cli *cli, const struct sr_args *args, sr_rows_fill fill,
                                     const struct sr_column *cols);
#define SR_AUTO_STORE SR_AUTO(sr_storep)
/* The two options of every command that opens the store. */
#define SR_OPTS_DATA_STORE                                                                                     \
    {"data", NULL, true, "data directory (default ./strongroom-data)"},                                        \
    {                                                                                                          \
        "store", NULL, true, "the database: a postgresql:// URL (default: SQLite in the data directory; env "   \
                             "STRONGROOM_STORE)"                                                               \
    }
/* cmd_seal.c: `unseal`, a top-level command as the spec names it. */
enum sr_err sr_cmd_unseal(struct sr_cli *cli, const struct sr_args *args);
extern const struct sr_opt sr_opts_unseal[];
enum sr_err sr_cmd_backup(struct sr_cli *cli, const struct sr_args *args);
extern const struct sr_opt sr_opts_backup[];
enum sr_err sr_cmd_restore(struct sr_cli *cli, const struct sr_args *args);
extern const struct sr_opt sr_opts_restore[];
extern const struct sr_opt sr_opts_serve[];
enum sr_err sr_cmd_new_world(struct sr_cli *cli, const struct sr_args *args);
extern const struct sr_opt sr_opts_new_world[];
enum sr_err sr_cmd_generatekey(struct sr_cli *cli, const struct sr_args *args);
extern const struct sr_opt sr_opts_generatekey[];
enum sr_err sr_cmd_kmfile_dump(struct sr_cli *cli, const struct sr_args *args);
enum sr_err sr_cmd_aclprint(struct sr_cli *cli, const struct sr_args *args);
extern const struct sr_opt sr_opts_key_ident[];
enum sr_err sr_cmd_pubkey(struct sr_cli *cli, const struct sr_args *args);
enum sr_err sr_cmd_sign(struct sr_cli *cli, const struct sr_args *args);
extern const struct sr_opt sr_opts_sign[];

#endif
