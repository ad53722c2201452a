#define _GNU_SOURCE
/*
 * cmd.c - the subcommand table, option parsing, dispatch and help.
 * Every precondition a row's flags name is checked here, once.
 */
#include <stdint.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <string.h>

#include "crypto/crypto.h"
#include "base/fileio.h"
#include "cli/cli.h"
#include "hsm/km0.h"

static enum sr_err sr_cmd_help(struct sr_cli *cli, const struct sr_args *args);
static enum sr_err sr_cmd_completion(struct sr_cli *cli, const struct sr_args *args);

static const struct sr_opt sr_opts_help[] = {
    {"man", NULL, false, "write CMD's manual page (roff) instead"},
    {NULL, NULL, false, NULL},
};

static const struct sr_cmd sr_cmds[] = {
    {"help", sr_cmd_help, 0, 0, 2, sr_opts_help, NULL, "help [--man] [CMD [SUBCMD]]",
     "show commands, or one command's usage (or its manual page)"},
    {"completion", sr_cmd_completion, 0, 1, 1, NULL, NULL, "completion bash",
     "print the bash completion script (source it, or install it as make install does)"},
    {"module", NULL, 0, 0, 0, NULL, sr_cmds_module, "module mode|reset|show", "the software HSM module"},
    {"root", NULL, 0, 0, 0, NULL, sr_cmds_root, "root init|show|trust", "manufacturer root of trust and warrants"},
    {"new-world", sr_cmd_new_world, SR_CMD_MODULE | SR_CMD_MODE_I, 0, 0, sr_opts_new_world, NULL,
     "new-world --initialize --cipher-suite=SUITE --module=1 --acs-quorum=K/N [--card-dir DIR] [--pin-file FILE]",
     "create a security world and its K-of-N administrator card set (mode I)"},
    {"world", NULL, 0, 0, 0, NULL, sr_cmds_world, "world load|show", "restore or show the security world"},
    {"generatekey", sr_cmd_generatekey, SR_CMD_MODULE | SR_CMD_EXISTING | SR_CMD_MODE_O | SR_CMD_NEEDS_WORLD, 1,
     SR_MAX_POSITIONAL,
     sr_opts_generatekey, NULL,
     "generatekey --generate simple type=RSA size=2048|3072|4096 | type=EC curve=P-256|P-384|P-521|P-256K "
     "protect=module ident=NAME plainname=NAME nvram=no pubexp=",
     "generate a module-protected key"},
    {"kmfile-dump", sr_cmd_kmfile_dump, SR_CMD_MODULE | SR_CMD_EXISTING, 1, 1, NULL, NULL, "kmfile-dump FILE",
     "print a key file's header and ACL (never secret material)"},
    {"aclprint", sr_cmd_aclprint, SR_CMD_MODULE | SR_CMD_EXISTING | SR_CMD_MODE_O | SR_CMD_NEEDS_WORLD, 0, 0, sr_opts_key_ident, NULL,
     "aclprint --app simple --ident NAME", "print a key's ACL"},
    {"pubkey", sr_cmd_pubkey, SR_CMD_MODULE | SR_CMD_EXISTING | SR_CMD_MODE_O | SR_CMD_NEEDS_WORLD, 0, 0, sr_opts_key_ident, NULL,
     "pubkey [--app simple] --ident NAME", "print a key's public key (PEM)"},
    {"sign", sr_cmd_sign, SR_CMD_MODULE | SR_CMD_EXISTING | SR_CMD_MODE_O | SR_CMD_NEEDS_WORLD, 0, 0, sr_opts_sign, NULL,
     "sign [--app simple] --ident NAME --alg RS256|PS256|ES256|... --in FILE --out SIG",
     "sign a file with a module key (ECDSA signatures in DER, as openssl dgst -verify takes them)"},
    {"verifykeypackage", sr_cmd_verifykeypackage, SR_CMD_MODULE | SR_CMD_EXISTING, 0, 0, sr_opts_verifykeypackage, NULL,
     "verifykeypackage -k BYOK-KEK-pkg-REGION-1 -w BYOK-SecurityWorld-pkg-REGION-1 [--root-fingerprint HEX]",
     "check the vault's KEK and Security World packages up to the pinned root"},
    {"pkcs11", NULL, 0, 0, 0, NULL, sr_cmds_pkcs11, "pkcs11 set-pin",
     "the PKCS#11 token over this module (libstrongroom-pkcs11.so)"},
    {"toolset", NULL, 0, 0, 0, NULL, sr_cmds_toolset, "toolset download|hash", "the BYOK toolset of a region"},
    {"keytransfer", NULL, 0, 0, 0, NULL, sr_cmds_keytransfer, "keytransfer modify-acls|package",
     "prepare a key for transfer to a vault (the guide's KeyTransferRemote)"},
    {"serve", sr_cmd_serve, 0, 0, 0, sr_opts_serve, NULL,
     "serve [--data DIR] [--listen ADDR:PORT] [--dev]", "run the key vault (HTTPS, Key Vault keys API)"},
    {"seal", NULL, 0, 0, 0, NULL, sr_cmds_seal, "seal init|migrate|status",
     "where a data directory's module keys live: a file, a TPM, a PKCS#11 HSM, the administrator cards"},
    {"unseal", sr_cmd_unseal, 0, 0, 0, sr_opts_unseal, NULL,
     "unseal --data DIR [--region R] --cards LIST [--pin-file F] [--card-dir D]",
     "give a running cards-sealed server a quorum of each region's administrator cards"},
    {"region", NULL, 0, 0, 0, NULL, sr_cmds_region, "region list|create|join", "regions: a module and world each"},
    {"vault", NULL, 0, 0, 0, NULL, sr_cmds_vault, "vault list|create|show", "vaults in regions"},
    {"token", NULL, 0, 0, 0, NULL, sr_cmds_token, "token create|list|revoke", "bearer tokens for the API"},
    {"app", NULL, 0, 0, 0, NULL, sr_cmds_app, "app create|list|show|delete|credential|federate",
     "applications: the identities the token authority signs in (client secrets, certificates, federation)"},
    {"idp", NULL, 0, 0, 0, NULL, sr_cmds_idp, "idp trust|list|distrust",
     "OIDC issuers (Kubernetes, GitHub Actions, ...) whose tokens federated credentials accept"},
    {"role", NULL, 0, 0, 0, NULL, sr_cmds_role, "role assignment create|list|delete | role definition list",
     "role assignments with a scope, as Managed HSM's local RBAC"},
    {"authority", NULL, 0, 0, 0, NULL, sr_cmds_authority, "authority rotate",
     "the token authority's signing key (made and kept in a region's module)"},
    {"backup", sr_cmd_backup, 0, 0, 0, sr_opts_backup, NULL, "backup --data DIR --out FILE [--store URL]",
     "copy a live server's data directory (store snapshot, modules, TLS) into one file"},
    {"restore", sr_cmd_restore, 0, 0, 0, sr_opts_restore, NULL, "restore --in FILE --data NEWDIR",
     "restore a backup into a new data directory, checked file by file and by its audit chain"},
    {"audit", NULL, 0, 0, 0, NULL, sr_cmds_audit, "audit verify|show|checkpoint", "the tamper-evident audit log"},
    {"key", NULL, 0, 0, 0, NULL, sr_cmds_key, "key SUBCOMMAND (as az keyvault key)",
     "use a vault's keys over the API"},
    {"secret", NULL, 0, 0, 0, NULL, sr_cmds_secret, "secret SUBCOMMAND (as az keyvault secret)",
     "use a vault's secrets over the API"},
    {NULL, NULL, 0, 0, 0, NULL, NULL, NULL, NULL},
};

static const struct sr_cmd *sr_cmd_find(const struct sr_cmd *table, const char *name)
{
    for (const struct sr_cmd *c = table; c->name != NULL; c++) {
        if (strcmp(c->name, name) == 0) {
            return c;
        }
    }
    return NULL;
}

static void sr_print_table(FILE *f, const struct sr_cmd *table, const char *prefix)
{
    for (const struct sr_cmd *c = table; c->name != NULL; c++) {
        char name[64];
        snprintf(name, sizeof(name), "%s%s", prefix, c->name);
        fprintf(f, "  %-22s %s\n", name, c->summary);
    }
}

/* The environment a command reads, from what it is: a module command, a store command, a vault client. */
static void sr_env_of(const struct sr_cmd *c, bool seen[3])
{
    if (c->sub != NULL) {
        for (const struct sr_cmd *s = c->sub; s->name != NULL; s++) {
            sr_env_of(s, seen);
        }
        return;
    }
    seen[0] |= (c->flags & SR_CMD_MODULE) != 0 || sr_opt_index(c->opts, "card-dir") >= 0;
    seen[1] |= sr_opt_index(c->opts, "store") >= 0;
    seen[2] |= sr_opt_index(c->opts, "vault-url") >= 0;
}

static void sr_print_env_vars(FILE *f, const struct sr_cmd *c);

static void sr_print_env(FILE *f, const struct sr_cmd *c)
{
    bool seen[3] = {false, false, false};
    sr_env_of(c, seen);
    if (seen[0] || seen[1] || seen[2]) {
        fprintf(f, "\nenvironment:\n");
    }
    sr_print_env_vars(f, c);
}

static void sr_print_env_vars(FILE *f, const struct sr_cmd *c)
{
    static const char *const vars[] = {
        "  STRONGROOM_KMDATA      the module's directory (default ./kmdata)\n",
        "  STRONGROOM_STORE       the database, when not --store (default: SQLite in --data)\n",
        "  STRONGROOM_VAULT_URL   the vault, when not --vault-url\n"
        "  STRONGROOM_TOKEN       the bearer token, when not --token\n"
        "  STRONGROOM_CA_FILE     a CA to trust, when not --ca-file\n",
    };
    bool seen[3] = {false, false, false};
    sr_env_of(c, seen);
    for (size_t i = 0; i < SR_ARRAY_LEN(vars); i++) {
        if (seen[i]) {
            fputs(vars[i], f);
        }
    }
}

static void sr_print_usage(FILE *f, const struct sr_cmd *c)
{
    fprintf(f, "usage: strongroom %s\n\n%s\n", c->usage, c->summary);
    if (c->sub != NULL) {
        char prefix[64];
        snprintf(prefix, sizeof(prefix), "%s ", c->name);
        fprintf(f, "\ncommands:\n");
        sr_print_table(f, c->sub, prefix);
    }
    if (c->opts != NULL && c->opts[0].name != NULL) {
        fprintf(f, "\noptions:\n");
        for (const struct sr_opt *o = c->opts; o->name != NULL; o++) {
            char spell[96];
            snprintf(spell, sizeof(spell), "--%s%s%s%s", o->name, o->has_arg ? " ARG" : "", o->alias ? ", " : "",
                     o->alias ? o->alias : "");
            fprintf(f, "  %-34s %s\n", spell, o->help);
        }
    }
    sr_print_env(f, c);
}

static void sr_print_help(FILE *f)
{
    fprintf(f, "usage: strongroom CMD [options]   (strongroom CMD --help for one command)\n\n"
               "Strongroom " SR_VERSION ": a software HSM, the BYOK toolset and a key vault.\n\ncommands:\n");
    sr_print_table(f, sr_cmds, "");
    fprintf(f, "\nexit status: 0 success, 1 the operation failed, 2 usage error\n");
}

static enum sr_err sr_cmd_help(struct sr_cli *cli, const struct sr_args *args)
{
    const struct sr_cmd *table = sr_cmds;
    const struct sr_cmd *c = NULL;
    for (int i = 0; i < args->npos; i++) {
        c = table ? sr_cmd_find(table, args->pos[i]) : NULL;
        if (c == NULL) {
            sr_cli_detail(cli, "no command '%s'; 'strongroom help' lists them", args->pos[i]);
            return SR_ERR_USAGE;
        }
        table = c->sub;
    }
    if (sr_arg_set(args, sr_opts_help, "man")) {
        if (c == NULL) {
            sr_cli_detail(cli, "help --man takes a command: 'strongroom help --man key'");
            return SR_ERR_USAGE;
        }
        char *env = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&env, &len);
        SR_ENSURE(m != NULL, SR_ERR_NOMEM);
        sr_print_env_vars(m, c);
        fclose(m);
        sr_man_page(cli->out, c, env ? env : "");
        free(env);
    } else if (c == NULL) {
        sr_print_help(cli->out);
    } else {
        sr_print_usage(cli->out, c);
    }
    return SR_OK;
}

static enum sr_err sr_cmd_completion(struct sr_cli *cli, const struct sr_args *args)
{
    if (strcmp(args->pos[0], "bash") != 0) {
        sr_cli_detail(cli, "only bash completion is written: 'strongroom completion bash'");
        return SR_ERR_USAGE;
    }
    sr_bash_completion(cli->out, sr_cmds);
    return SR_OK;
}

/* --- did you mean --- */

/* Levenshtein distance of two short words (longer ones: far apart). */
static size_t sr_edit_distance(const char *a, const char *b)
{
    enum { MAX = 48 };
    size_t la = strlen(a), lb = strlen(b);
    if (la > MAX || lb > MAX) {
        return SIZE_MAX;
    }
    size_t row[MAX + 1];
    for (size_t j = 0; j <= lb; j++) {
        row[j] = j;
    }
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            best = up + 1 < best ? up + 1 : best;
            best = row[j - 1] + 1 < best ? row[j - 1] + 1 : best;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* Whether typed is close enough to known to suggest it (at most 2 edits, and fewer than its length). */
static bool sr_near(const char *typed, const char *known, size_t *best)
{
    size_t d = sr_edit_distance(typed, known);
    if (d <= 2 && d < strlen(typed) && d < *best) {
        *best = d;
        return true;
    }
    return false;
}

static const char *sr_cmd_suggest(const struct sr_cmd *table, const char *typed)
{
    const char *found = NULL;
    size_t best = SIZE_MAX;
    for (const struct sr_cmd *c = table; c->name != NULL; c++) {
        found = sr_near(typed, c->name, &best) ? c->name : found;
    }
    return found;
}

static const char *sr_opt_suggest(const struct sr_opt *opts, const char *typed)
{
    const char *found = NULL;
    size_t best = SIZE_MAX;
    typed += strspn(typed, "-");
    for (int i = 0; opts != NULL && opts[i].name != NULL; i++) {
        found = sr_near(typed, opts[i].name, &best) ? opts[i].name : found;
    }
    return found;
}

static const struct sr_opt *sr_opt_match(const struct sr_opt *opts, const char *arg, const char **ret_value, int *ret_i)
{
    *ret_value = NULL;
    for (int i = 0; opts != NULL && opts[i].name != NULL; i++) {
        const struct sr_opt *o = &opts[i];
        size_t nlen = strlen(o->name);
        if (strncmp(arg, "--", 2) == 0 && strncmp(arg + 2, o->name, nlen) == 0 &&
            (arg[2 + nlen] == 0 || arg[2 + nlen] == '=')) {
            *ret_value = arg[2 + nlen] == '=' ? arg + 3 + nlen : NULL;
            *ret_i = i;
            return o;
        }
        if (o->alias != NULL && strcmp(arg, o->alias) == 0) {
            *ret_i = i;
            return o;
        }
    }
    return NULL;
}

static enum sr_err sr_args_parse(struct sr_cli *cli, const struct sr_cmd *c, int argc, char **argv,
                                 struct sr_args *args)
{
    args->opts = c->opts;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || a[1] == 0) {
            if (args->npos >= SR_MAX_POSITIONAL) {
                sr_cli_detail(cli, "too many arguments");
                return SR_ERR_USAGE;
            }
            args->pos[args->npos++] = a;
            continue;
        }
        const char *value = NULL;
        int idx = -1;
        const struct sr_opt *o = sr_opt_match(c->opts, a, &value, &idx);
        if (o == NULL) {
            const char *near = sr_opt_suggest(c->opts, a);
            sr_cli_detail(cli, "unknown option '%s'%s%s%s; see 'strongroom %s --help'", a, near ? " (did you mean '--" : "",
                          near ? near : "", near ? "'?)" : "", cli->cmd_name);
            return SR_ERR_USAGE;
        }
        if (o->has_arg && value == NULL) {
            if (i + 1 >= argc) {
                sr_cli_detail(cli, "option --%s needs a value", o->name);
                return SR_ERR_USAGE;
            }
            value = argv[++i];
        } else if (!o->has_arg && value != NULL) {
            sr_cli_detail(cli, "option --%s takes no value", o->name);
            return SR_ERR_USAGE;
        }
        if (args->set[idx]) {
            sr_cli_detail(cli, "option --%s is given twice", o->name);
            return SR_ERR_USAGE;
        }
        args->set[idx] = true;
        args->val[idx] = value;
    }
    if (args->npos > c->max_pos) {
        sr_cli_detail(cli, "unexpected argument '%s'; usage: strongroom %s", args->pos[c->max_pos], c->usage);
        return SR_ERR_USAGE;
    }
    if (args->npos < c->min_pos) {
        sr_cli_detail(cli, "usage: strongroom %s", c->usage);
        return SR_ERR_USAGE;
    }
    return SR_OK;
}

static enum sr_err sr_cmd_check_policy(struct sr_cli *cli, const struct sr_cmd *c)
{
    if (!(c->flags & SR_CMD_MODULE)) {
        return SR_OK;
    }
    char esn[SR_PATH_MAX];
    if ((c->flags & SR_CMD_EXISTING) &&
        (sr_path_join(esn, sizeof(esn), cli->kmdata, "module/esn") != SR_OK || !sr_file_exists(esn))) {
        sr_cli_detail(cli, "%s (STRONGROOM_KMDATA); 'strongroom module mode I' makes one there", cli->kmdata);
        return SR_ERR_NO_MODULE;
    }
    /* A region module of a data directory opens with that directory's seal (module reset, world load on it). */
    struct sr_seal_config seal;
    enum sr_err r = sr_seal_config_of_kmdata(cli->kmdata, &seal);
    if (r == SR_OK) {
        r = sr_module_open_sealed(cli->kmdata, &seal, &cli->module);
    }
    if (r != SR_OK) {
        sr_cli_detail(cli, "module directory %s%s%s", cli->kmdata, seal.diag[0] ? ": " : "", seal.diag);
        return r;
    }
    if (c->flags & SR_CMD_MODE_I) {
        SR_ENSURE(sr_module_mode(cli->module) == 'I', SR_ERR_MODE_I_NEEDED);
    }
    if (c->flags & SR_CMD_MODE_O) {
        SR_ENSURE(sr_module_mode(cli->module) == 'O', SR_ERR_MODE_O_NEEDED);
    }
    if (c->flags & SR_CMD_NEEDS_WORLD) {
        SR_TRY(sr_module_require_world(cli->module, NULL));
    }
    return SR_OK;
}

static int sr_report(struct sr_cli *cli, enum sr_err r)
{
    if (r == SR_OK) {
        return 0;
    }
    const char *diag = cli->module ? sr_module_diag(cli->module) : "";
    const char *detail = cli->detail[0] ? cli->detail : diag;
    if (r == SR_ERR_USAGE && cli->detail[0]) {
        fprintf(stderr, "strongroom: %s: %s\n", cli->cmd_name, cli->detail);
    } else if (detail[0]) {
        fprintf(stderr, "strongroom: %s: %s (%s)\n", cli->cmd_name, sr_err_message(r), detail);
    } else {
        fprintf(stderr, "strongroom: %s: %s\n", cli->cmd_name, sr_err_message(r));
    }
    return sr_err_exit_status(r);
}

static bool sr_wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            return true;
        }
    }
    return false;
}

static int sr_dispatch(struct sr_cli *cli, const struct sr_cmd *table, int argc, char **argv, char *name_buf,
                       size_t name_cap)
{
    const struct sr_cmd *c = sr_cmd_find(table, argv[0]);
    size_t used = strlen(name_buf);
    snprintf(name_buf + used, name_cap - used, "%s%s", used ? " " : "", argv[0]);
    cli->cmd_name = name_buf;
    if (c == NULL) {
        const char *near = sr_cmd_suggest(table, argv[0]);
        sr_cli_detail(cli, "unknown command '%s'%s%s%s; 'strongroom help' lists the commands", argv[0],
                      near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "");
        return sr_report(cli, SR_ERR_USAGE);
    }
    if (c->sub != NULL) {
        if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
            sr_print_usage(argc < 2 ? stderr : cli->out, c);
            return argc < 2 ? 2 : 0;
        }
        return sr_dispatch(cli, c->sub, argc - 1, argv + 1, name_buf, name_cap);
    }
    if (sr_wants_help(argc - 1, argv + 1)) {
        sr_print_usage(cli->out, c);
        return 0;
    }
    struct sr_args args = {0};
    enum sr_err r = sr_args_parse(cli, c, argc - 1, argv + 1, &args);
    if (r == SR_OK) {
        r = sr_cmd_check_policy(cli, c);
    }
    if (r == SR_OK) {
        r = c->fn(cli, &args);
    }
    return sr_report(cli, r);
}

int sr_cli_main(int argc, char **argv)
{
    struct sr_cli cli = {.cmd_name = "strongroom", .out = stdout};
    if (argc < 2) {
        sr_print_help(stderr);
        return 2;
    }
    umask(077); /* every file we create, including SQLite's -wal and -shm, is private */
    /* Commands hold PINs, world keys and clear private keys in memory: no core dump may carry them, and no
     * process of the same user may attach to read them (ptrace). OpenSSL's secure heap is also marked
     * MADV_DONTDUMP, should a dump be forced by other means. */
    (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    /* tpm2-tss logs every TPM refusal to stderr; each one we meet is reported once, in our words (seal). */
    (void)setenv("TSS2_LOG", "all+NONE", 0);
    if (sr_crypto_init() != SR_OK) {
        fprintf(stderr, "strongroom: cannot initialise OpenSSL's secure heap\n");
        return 1;
    }
    const char *kmdata = secure_getenv("STRONGROOM_KMDATA");
    cli.kmdata = kmdata && *kmdata ? kmdata : "kmdata";
    char name[128] = "";
    int status;
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        status = (sr_print_help(stdout), 0);
    } else if (strcmp(argv[1], "--version") == 0) {
        status = (fprintf(stdout, "strongroom %s\n", SR_VERSION), 0);
    } else {
        status = sr_dispatch(&cli, sr_cmds, argc - 1, argv + 1, name, sizeof(name));
    }
    sr_module_free(cli.module);
    /* A full disk must be an error, not a silently truncated output (git's run_builtin). */
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "strongroom: cannot write output\n");
        return 1;
    }
    return status;
}
