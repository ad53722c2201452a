/* cmd_key.c - generatekey, kmfile-dump, aclprint, pubkey and sign. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/fileio.h"
#include "base/text.h"
#include "cli/cli.h"
#include "crypto/ossl.h"

const struct sr_opt sr_opts_generatekey[] = {
    {"generate", "-g", true, "application: simple"},
    {NULL, NULL, false, NULL},
};

struct sr_genparam {
    const char *type, *size, *curve, *protect, *ident, *plainname, *nvram, *pubexp;
};

static enum sr_err sr_genparam_set(struct sr_cli *cli, struct sr_genparam *g, const char *kv)
{
    static const char *const names[] = {"type", "size", "curve", "protect", "ident", "plainname", "nvram", "pubexp"};
    const char **slots[] = {&g->type, &g->size, &g->curve, &g->protect, &g->ident, &g->plainname, &g->nvram,
                            &g->pubexp};
    const char *eq = strchr(kv, '=');
    if (eq == NULL) {
        sr_cli_detail(cli, "'%s' is not a NAME=VALUE parameter, e.g. type=RSA", kv);
        return SR_ERR_USAGE;
    }
    for (size_t i = 0; i < SR_ARRAY_LEN(names); i++) {
        if (strlen(names[i]) == (size_t)(eq - kv) && strncmp(kv, names[i], (size_t)(eq - kv)) == 0) {
            if (*slots[i] != NULL) {
                sr_cli_detail(cli, "parameter %s is given twice", names[i]);
                return SR_ERR_USAGE;
            }
            *slots[i] = eq + 1;
            return SR_OK;
        }
    }
    sr_cli_detail(cli, "unknown parameter '%.*s'; known: type size curve protect ident plainname nvram pubexp",
                  (int)(eq - kv), kv);
    return SR_ERR_USAGE;
}

static enum sr_err sr_genparam_spec(struct sr_cli *cli, const struct sr_genparam *g, struct sr_key_spec *spec)
{
    if (g->type == NULL) {
        sr_cli_detail(cli, "type=RSA, type=EC or type=AES is required");
        return SR_ERR_USAGE;
    }
    if (strcmp(g->type, "RSA") == 0) {
        unsigned long bits = 0;
        SR_ENSURE(g->curve == NULL && g->size != NULL, SR_ERR_KEY_TYPE);
        SR_ENSURE(sr_parse_uint(g->size, 1, 65536, &bits) == SR_OK, SR_ERR_KEY_TYPE);
        SR_ENSURE(bits == 2048 || bits == 3072 || bits == 4096, SR_ERR_KEY_TYPE);
        spec->type = SR_KEY_RSA;
        spec->bits = (unsigned)bits;
        spec->pubexp = 65537;
        if (g->pubexp != NULL && *g->pubexp != 0) {
            char *end = NULL;
            unsigned long e = strtoul(g->pubexp, &end, 0);
            SR_ENSURE(end != NULL && *end == 0 && e >= 65537 && (e & 1) == 1 && e <= 0xffffffffUL, SR_ERR_PUBEXP);
            spec->pubexp = e;
        }
        return SR_OK;
    }
    if (strcmp(g->type, "AES") == 0) { /* a symmetric target key for BYOK into an oct-HSM key */
        unsigned long bits = 0;
        SR_ENSURE(g->curve == NULL && g->size != NULL && sr_parse_uint(g->size, 1, 65536, &bits) == SR_OK &&
                      (bits == 128 || bits == 192 || bits == 256),
                  SR_ERR_KEY_TYPE);
        SR_ENSURE(g->pubexp == NULL || *g->pubexp == 0, SR_ERR_PUBEXP);
        spec->type = SR_KEY_AES;
        spec->bits = (unsigned)bits;
        return SR_OK;
    }
    if (strcmp(g->type, "EC") == 0) {
        SR_ENSURE(g->size == NULL && g->curve != NULL, SR_ERR_KEY_TYPE);
        SR_ENSURE(g->pubexp == NULL || *g->pubexp == 0, SR_ERR_PUBEXP);
        spec->type = SR_KEY_EC;
        return sr_curve_parse(g->curve, &spec->curve);
    }
    return SR_ERR_KEY_TYPE;
}

static void sr_print_genparams(FILE *f, const struct sr_keygen_params *p)
{
    fprintf(f, "key generation parameters:\n");
    fprintf(f, " %-12s %-26s %s\n", "operation", "Operation to perform", "generate");
    fprintf(f, " %-12s %-26s %s\n", "application", "Application", p->app);
    fprintf(f, " %-12s %-26s %s\n", "protect", "Protected by", "module");
    fprintf(f, " %-12s %-26s %s\n", "type", "Key type",
            sr_key_type_name(p->spec.type));
    if (p->spec.type == SR_KEY_RSA) {
        fprintf(f, " %-12s %-26s %u\n", "size", "Key size", p->spec.bits);
        fprintf(f, " %-12s %-26s %lu\n", "pubexp", "Public exponent", p->spec.pubexp);
    } else {
        fprintf(f, " %-12s %-26s %s\n", "curve", "Elliptic curve", sr_curve_name(p->spec.curve));
    }
    fprintf(f, " %-12s %-26s %s\n", "ident", "Key identifier", p->ident);
    fprintf(f, " %-12s %-26s %s\n", "plainname", "Key name", p->plainname);
    fprintf(f, " %-12s %-26s %s\n", "nvram", "Blob in NVRAM (needs ACS)", "no");
}

enum sr_err sr_cmd_generatekey(struct sr_cli *cli, const struct sr_args *args)
{
    const char *app = sr_arg(args, sr_opts_generatekey, "generate");
    if (app == NULL || strcmp(app, "simple") != 0) {
        sr_cli_detail(cli, "give --generate simple: the BYOK toolset transfers 'simple' application keys");
        return SR_ERR_USAGE;
    }
    struct sr_genparam g = {0};
    for (int i = 0; i < args->npos; i++) {
        SR_TRY(sr_genparam_set(cli, &g, args->pos[i]));
    }
    if (g.protect != NULL && strcmp(g.protect, "module") != 0) {
        return SR_ERR_PROTECT;
    }
    if (g.nvram != NULL && *g.nvram != 0 && strcmp(g.nvram, "no") != 0) {
        return SR_ERR_NVRAM_KEY;
    }
    if (g.ident == NULL) {
        sr_cli_detail(cli, "ident=NAME is required (a-z, 0-9 and '-')");
        return SR_ERR_USAGE;
    }
    SR_TRY(sr_ident_check(g.ident));
    struct sr_keygen_params p = {.app = app, .ident = g.ident,
                                 .plainname = g.plainname && *g.plainname ? g.plainname : g.ident};
    SR_TRY(sr_genparam_spec(cli, &g, &p.spec));
    char path[SR_PATH_MAX];
    SR_TRY(sr_key_path(cli->module, app, g.ident, path, sizeof(path)));
    if (sr_file_exists(path)) {
        sr_cli_detail(cli, "%s", path);
        return SR_ERR_EXISTS;
    }
    sr_print_genparams(cli->out, &p);
    struct sr_key_info info;
    SR_TRY(sr_key_generate(cli->module, &p, &info));
    char hash[2 * SR_HASH_LEN + 1];
    sr_hex_encode(info.key_hash, SR_HASH_LEN, hash);
    fprintf(cli->out, "Key successfully generated.\nPath to key: %s\nKey hash: %s\n", path, hash);
    return SR_OK;
}

static void sr_print_acl(FILE *f, const struct sr_acl *acl)
{
    char text[1024];
    sr_acl_format(acl, text, sizeof(text));
    fprintf(f, "ACL containing 1 Permission Group\n  Permission Group 1:\n%s", text);
}

enum sr_err sr_cmd_kmfile_dump(struct sr_cli *cli, const struct sr_args *args)
{
    struct sr_key_info info;
    bool verified = false;
    enum sr_err r = sr_key_inspect(cli->module, args->pos[0], &info, &verified);
    if (r != SR_OK) {
        sr_cli_detail(cli, "%s", args->pos[0]);
        return r;
    }
    FILE *f = cli->out;
    char hkm[2 * SR_HASH_LEN + 1];
    char hash[2 * SR_HASH_LEN + 1];
    char when[32];
    sr_hex_encode(info.world_hkm, SR_HASH_LEN, hkm);
    sr_hex_encode(info.key_hash, SR_HASH_LEN, hash);
    sr_cli_iso_time(info.created, when);
    fprintf(f, "%s\n  app           %s\n  ident         %s\n  name          %s\n  protection    module\n", args->pos[0],
            info.app, info.ident, info.plainname);
    if (info.spec.type == SR_KEY_RSA) {
        fprintf(f, "  type          RSA\n  size          %u\n  pubexp        %lu\n", info.spec.bits, info.spec.pubexp);
    } else if (sr_key_type_secret(info.spec.type)) {
        fprintf(f, "  type          %s\n  size          %u\n", sr_key_type_name(info.spec.type), info.spec.bits);
    } else {
        fprintf(f, "  type          EC\n  curve         %s\n", sr_curve_name(info.spec.curve));
    }
    fprintf(f, "  world (hkm)   %s\n  key hash      %s\n  created       %s\n", hkm, hash, when);
    fprintf(f, "  origin        %s\n", info.origin[0] ? info.origin : "not recorded (a key file from before 0.1)");
    fprintf(f, "  integrity     %s\n", verified ? "verified under the loaded world key"
                                                : "not checked (this module does not hold the key's world)");
    sr_print_acl(f, &info.acl);
    return SR_OK;
}

const struct sr_opt sr_opts_key_ident[] = {
    {"app", "-A", true, "application (default simple)"},
    {"ident", "-K", true, "key identifier"},
    {NULL, NULL, false, NULL},
};

static enum sr_err sr_key_args(struct sr_cli *cli, const struct sr_args *args, const struct sr_opt *opts,
                               const char **app, const char **ident)
{
    *app = sr_arg(args, opts, "app");
    *ident = sr_arg(args, opts, "ident");
    if (*app == NULL) {
        *app = "simple";
    }
    if (*ident == NULL) {
        sr_cli_detail(cli, "--ident NAME is required");
        return SR_ERR_USAGE;
    }
    return sr_ident_check(*ident);
}

enum sr_err sr_cmd_aclprint(struct sr_cli *cli, const struct sr_args *args)
{
    const char *app = NULL;
    const char *ident = NULL;
    SR_TRY(sr_key_args(cli, args, sr_opts_key_ident, &app, &ident));
    char path[SR_PATH_MAX];
    SR_TRY(sr_key_path(cli->module, app, ident, path, sizeof(path)));
    struct sr_key_info info;
    bool verified = false;
    enum sr_err r = sr_key_inspect(cli->module, path, &info, &verified);
    if (r != SR_OK) {
        sr_cli_detail(cli, "%s", path);
        return r;
    }
    SR_ENSURE(verified, SR_ERR_WORLD_MISMATCH);
    fprintf(cli->out, "key_%s_%s\n", app, ident);
    sr_print_acl(cli->out, &info.acl);
    return SR_OK;
}

enum sr_err sr_cmd_pubkey(struct sr_cli *cli, const struct sr_args *args)
{
    const char *app = NULL;
    const char *ident = NULL;
    SR_TRY(sr_key_args(cli, args, sr_opts_key_ident, &app, &ident));
    SR_AUTO_PKEY EVP_PKEY *pub = NULL;
    SR_TRY(sr_key_public(cli->module, app, ident, &pub));
    SR_AUTO_BUF struct sr_buf pem = {0};
    sr_buf_init(&pem, 65536, SR_BUF_PLAIN);
    SR_TRY(sr_pkey_public_to_pem(pub, &pem));
    fwrite(pem.data, 1, pem.len, cli->out);
    return SR_OK;
}

const struct sr_opt sr_opts_sign[] = {
    {"app", "-A", true, "application (default simple)"},
    {"ident", "-K", true, "key identifier"},
    {"alg", NULL, true, "RS256 RS384 RS512 PS256 PS384 PS512 (RSA); ES256 ES384 ES512 ES256K (EC)"},
    {"in", NULL, true, "file to sign"},
    {"out", NULL, true, "where the signature goes"},
    {"pin-file", NULL, true, "--app pkcs11: a file whose first line is the PKCS#11 user PIN (default: typed)"},
    {NULL, NULL, false, NULL},
};

enum sr_err sr_cmd_sign(struct sr_cli *cli, const struct sr_args *args)
{
    const char *app = NULL;
    const char *ident = NULL;
    SR_TRY(sr_key_args(cli, args, sr_opts_sign, &app, &ident));
    const char *alg_name = sr_arg(args, sr_opts_sign, "alg");
    const char *in = sr_arg(args, sr_opts_sign, "in");
    const char *out = sr_arg(args, sr_opts_sign, "out");
    if (alg_name == NULL || in == NULL || out == NULL) {
        sr_cli_detail(cli, "--alg, --in and --out are required");
        return SR_ERR_USAGE;
    }
    enum sr_sign_alg alg;
    SR_TRY(sr_sign_alg_parse(alg_name, &alg));
    SR_AUTO_BUF struct sr_buf data = {0};
    sr_buf_init(&data, SR_MAX_SIGN_INPUT, SR_BUF_PLAIN);
    enum sr_err r = sr_file_read(in, &data);
    if (r != SR_OK) {
        sr_cli_detail(cli, "cannot read %s", in);
        return r;
    }
    SR_AUTO_BUF struct sr_buf sig = {0};
    sr_buf_init(&sig, 4096, SR_BUF_PLAIN);
    SR_TRY(sr_cli_app_login(cli, app, sr_arg(args, sr_opts_sign, "pin-file")));
    SR_TRY(sr_key_sign(cli->module, app, ident, alg, data.data, data.len, SR_SIG_DER, &sig));
    r = sr_file_write_atomic(out, sig.data, sig.len, SR_WRITE_REPLACE);
    if (r != SR_OK) {
        sr_cli_detail(cli, "cannot write %s", out);
        return r;
    }
    fprintf(cli->out, "Signed %s with key_%s_%s (%s): %s\n", in, app, ident, alg_name, out);
    return SR_OK;
}
