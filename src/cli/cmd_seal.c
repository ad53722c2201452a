/* cmd_seal.c - `seal init|status`: which backend keeps a data directory's module keys (hsm/km0.h). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fileio.h"
#include "base/json.h"
#include "base/safety.h"
#include "base/text.h"
#include "cli/cli.h"
#include "cli/output.h"
#include "hsm/km0.h"

enum sr_err sr_seal_options(struct sr_cli *cli, const struct sr_seal_choice *choice, struct sr_seal_config *ret)
{
    *ret = (struct sr_seal_config){0};
    if (choice->backend == NULL || sr_seal_backend_parse(choice->backend, &ret->backend) != SR_OK) {
        sr_cli_detail(cli, "%s", choice->backend ? choice->backend : "no --backend");
        return SR_ERR_SEAL_BACKEND;
    }
    if ((choice->tpm != NULL || choice->pcrs != NULL) && ret->backend != SR_SEAL_TPM2) {
        sr_cli_detail(cli, "--tpm and --pcrs belong to --backend tpm2");
        return SR_ERR_USAGE;
    }
    if ((choice->pkcs11 != NULL) != (ret->backend == SR_SEAL_PKCS11)) {
        sr_cli_detail(cli, "--backend pkcs11 takes --pkcs11 URI, and only it does");
        return SR_ERR_USAGE;
    }
    if (choice->pkcs11 != NULL) {
        /* DATA/seal keeps the URI: a PIN in it would sit beside the keys it guards. */
        if (strlen(choice->pkcs11) >= sizeof(ret->pkcs11) || strstr(choice->pkcs11, "pin-value=") != NULL) {
            sr_cli_detail(cli, "give the PIN as pin-source=file:PATH, never pin-value= (DATA/seal keeps the URI)");
            return SR_ERR_P11_SEAL_URI;
        }
        snprintf(ret->pkcs11, sizeof(ret->pkcs11), "%s", choice->pkcs11);
    }
    if (choice->pcrs != NULL) {
        SR_TRY(sr_seal_pcrs_parse(choice->pcrs, &ret->pcrs));
    }
    if (ret->backend == SR_SEAL_TPM2) {
        sr_seal_config_tcti(ret, choice->tpm);
        if (ret->tcti[0] == 0) {
            snprintf(ret->tcti, sizeof(ret->tcti), "%s", SR_TPM_TCTI_DEFAULT);
        }
    }
    return SR_OK;
}

/* "tpm2 (TCTI swtpm:port=2321, PCRs 7)": a seal as one line says it. */
static void sr_seal_summary(const struct sr_seal_config *cfg, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s", sr_seal_backend_name(cfg->backend));
    if (cfg->backend == SR_SEAL_PKCS11 && n > 0 && (size_t)n < cap) {
        snprintf(out + n, cap - (size_t)n, " (%.300s)", cfg->pkcs11);
    }
    if (cfg->backend == SR_SEAL_TPM2 && n > 0 && (size_t)n < cap) {
        n += snprintf(out + n, cap - (size_t)n, " (TCTI %s, %s", cfg->tcti, cfg->pcrs ? "PCRs " : "no PCR policy");
        for (unsigned i = 0, first = 1; i < 24 && n > 0 && (size_t)n < cap; i++) {
            if (cfg->pcrs & (1u << i)) {
                n += snprintf(out + n, cap - (size_t)n, "%s%u", first ? "" : ",", i);
                first = 0;
            }
        }
        if (n > 0 && (size_t)n < cap) {
            snprintf(out + n, cap - (size_t)n, ")");
        }
    }
}

static const struct sr_opt sr_opts_seal_init[] = {
    {"data", NULL, true, "the new data directory (default ./strongroom-data)"},
    {"backend", NULL, true, "file or tpm2: where each module key (KM0) of the directory lives"},
    {"tpm", NULL, true, "tpm2: the TCTI (default STRONGROOM_TPM_TCTI, else device:/dev/tpmrm0; swtpm:host=H,port=P)"},
    {"pcrs", NULL, true, "tpm2: SHA-256 PCRs to bind the keys to, such as 7 or 0,2,7 (default none)"},
    {"pkcs11", NULL, true, "pkcs11: the token's RFC 7512 URI, with module-path= and pin-source=file:PATH"},
    {NULL, NULL, false, NULL},
};

static enum sr_err sr_cmd_seal_init(struct sr_cli *cli, const struct sr_args *args)
{
    const struct sr_opt *o = sr_opts_seal_init;
    const char *data = sr_data_dir(args, o);
    struct sr_seal_config cfg;
    struct sr_seal_choice choice = {sr_arg(args, o, "backend"), sr_arg(args, o, "tpm"), sr_arg(args, o, "pcrs"),
                                    sr_arg(args, o, "pkcs11")};
    SR_TRY(sr_seal_options(cli, &choice, &cfg));
    /* The backend must work here before the directory is bound to it. */
    enum sr_err r = sr_seal_probe(&cfg);
    if (r != SR_OK) {
        sr_cli_detail(cli, "%s", cfg.diag);
        return r;
    }
    r = sr_seal_config_init(data, &cfg);
    if (r == SR_ERR_SEAL_EXISTS) {
        sr_cli_detail(cli, "%s", data);
    }
    SR_TRY(r);
    char summary[400];
    sr_seal_summary(&cfg, summary, sizeof(summary));
    fprintf(cli->out, "Data directory %s sealed by %s: every module key made in it is kept there%s\n", data, summary,
            cfg.backend == SR_SEAL_FILE    ? " as a plain file (a copy of the directory is a copy of every key)"
            : cfg.backend == SR_SEAL_TPM2 ? "; a copy of the directory opens nothing without this TPM"
                                          : "; a copy of the directory opens nothing without this token's key");
    return SR_OK;
}

static const struct sr_opt sr_opts_seal_status[] = {
    {"data", NULL, true, "data directory (default ./strongroom-data)"},
    {"tpm", NULL, true, "tpm2: the TCTI to check with (default the one given at init, or STRONGROOM_TPM_TCTI)"},
    {"output", "-o", true, SR_OUTPUT_HELP},
    {NULL, NULL, false, NULL},
};

/* One module key: what keeps it, what it is bound to, and whether it unseals here now. */
static enum sr_err sr_seal_status_row(struct sr_seal_config *cfg, const char *owner, const char *path, json_t *rows)
{
    json_t *e = NULL;
    SR_TRY(sr_km0_describe(cfg, path, &e));
    SR_ENSURE(json_array_append_new(rows, e) == 0, SR_ERR_NOMEM);
    SR_ENSURE(json_object_set_new(e, "module", json_string(owner)) == 0, SR_ERR_NOMEM);
    if (json_is_true(json_object_get(e, "present"))) {
        uint8_t *km0 = NULL;
        cfg->diag[0] = 0;
        enum sr_err r = sr_km0_load(cfg, path, false, &km0);
        if (r == SR_OK) {
            sr_km0_free(km0);
        }
        char state[1024];
        bool why = r != SR_OK && cfg->diag[0];
        snprintf(state, sizeof(state), "%s%s%s%s", r == SR_OK ? "unseals" : sr_err_message(r), why ? " (" : "",
                 why ? cfg->diag : "", why ? ")" : "");
        SR_ENSURE(json_object_set_new(e, "state", json_string(state)) == 0, SR_ERR_NOMEM);
    }
    return SR_OK;
}

static enum sr_err sr_cmd_seal_status(struct sr_cli *cli, const struct sr_args *args)
{
    const struct sr_opt *o = sr_opts_seal_status;
    const char *data = sr_data_dir(args, o);
    enum sr_output format;
    SR_TRY(sr_output_parse(cli, sr_arg(args, o, "output"), &format));
    struct sr_seal_config cfg;
    SR_TRY(sr_seal_config_read(data, &cfg));
    sr_seal_config_tcti(&cfg, sr_arg(args, o, "tpm"));
    SR_AUTO_JSON json_t *rows = json_array();
    SR_ENSURE(rows != NULL, SR_ERR_NOMEM);
    char path[SR_PATH_MAX];
    static const char *const fixed[][2] = {{"root", "root/km0"}, {"tls", "tls/km0"}};
    for (size_t i = 0; i < SR_ARRAY_LEN(fixed); i++) {
        SR_TRY(sr_path_join(path, sizeof(path), data, fixed[i][1]));
        SR_TRY(sr_seal_status_row(&cfg, fixed[i][0], path, rows));
    }
    SR_TRY(sr_path_join(path, sizeof(path), data, "regions"));
    DIR *d = opendir(path);
    for (struct dirent *de = d ? readdir(d) : NULL; de != NULL; de = readdir(d)) {
        char km0[SR_PATH_MAX], owner[300];
        if (de->d_name[0] == '.' ||
            snprintf(km0, sizeof(km0), "%s/regions/%s/kmdata/module/km0", data, de->d_name) >= (int)sizeof(km0)) {
            continue;
        }
        snprintf(owner, sizeof(owner), "region %s", de->d_name);
        enum sr_err r = sr_seal_status_row(&cfg, owner, km0, rows);
        if (r != SR_OK) {
            closedir(d);
            return r;
        }
    }
    if (d != NULL) {
        closedir(d);
    }
    if (format == SR_OUT_JSON) {
        char summary[400];
        sr_seal_summary(&cfg, summary, sizeof(summary));
        SR_AUTO_JSON json_t *doc = json_pack("{s:s,s:s,s:O}", "backend", sr_seal_backend_name(cfg.backend), "seal",
                                             summary, "modules", rows);
        SR_ENSURE(doc != NULL, SR_ERR_NOMEM);
        return sr_output_object(cli, format, doc, NULL);
    }
    static const struct sr_column columns[] = {
        {"module", "MODULE"}, {"backend", "BACKEND"}, {"state", "STATE"}, {"boundTo", "BOUND TO"}, {"path", "FILE"},
        {NULL, NULL},
    };
    return sr_output_rows(cli, format, rows, columns);
}

static const struct sr_opt sr_opts_seal_migrate[] = {
    {"data", NULL, true, "the data directory, its server stopped (default ./strongroom-data)"},
    {"to", NULL, true, "file, tpm2 or pkcs11: the backend that keeps the module keys from now on"},
    {"tpm", NULL, true, "--to tpm2: the TCTI (default STRONGROOM_TPM_TCTI, else device:/dev/tpmrm0)"},
    {"pcrs", NULL, true, "--to tpm2: SHA-256 PCRs to bind the keys to (7, or 0,2,7)"},
    {"pkcs11", NULL, true, "--to pkcs11: the token's RFC 7512 URI, with module-path= and pin-source=file:PATH"},
    {NULL, NULL, false, NULL},
};

static void sr_fdclose(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
    }
}

static enum sr_err sr_cmd_seal_migrate(struct sr_cli *cli, const struct sr_args *args)
{
    const struct sr_opt *o = sr_opts_seal_migrate;
    const char *data = sr_data_dir(args, o);
    struct sr_seal_choice choice = {sr_arg(args, o, "to"), sr_arg(args, o, "tpm"), sr_arg(args, o, "pcrs"),
                                    sr_arg(args, o, "pkcs11")};
    struct sr_seal_config to, from;
    SR_TRY(sr_seal_options(cli, &choice, &to));
    SR_AUTO(sr_fdclose) int lock = -1;
    SR_TRY(sr_serve_lock(cli, data, &lock)); /* the server is stopped, and stays so while this runs */
    SR_TRY(sr_seal_config_read(data, &from));
    enum sr_err r = sr_seal_probe(&to);
    if (r != SR_OK) {
        sr_cli_detail(cli, "%s", to.diag);
        return r;
    }
    /* STRONGROOM_TEST_SEAL_FAULT=N (tests only): stop after step N, as a crash would. */
    const char *fault = getenv("STRONGROOM_TEST_SEAL_FAULT");
    unsigned long fault_after = 0;
    if (fault != NULL && sr_parse_uint(fault, 1, 1000, &fault_after) != SR_OK) {
        fault_after = 0;
    }
    unsigned moved = 0;
    r = sr_seal_migrate(data, &from, &to, (unsigned)fault_after, &moved);
    if (r != SR_OK) {
        sr_cli_detail(cli, "%s%s%s", from.diag, from.diag[0] && to.diag[0] ? "; " : "", to.diag);
        return r;
    }
    char summary[400];
    sr_seal_summary(&to, summary, sizeof(summary));
    if (from.backend == to.backend) {
        fprintf(cli->out, "Data directory %s is sealed by %s already; nothing of another seal is left in it\n", data,
                summary);
    } else {
        fprintf(cli->out, "Data directory %s: %u module keys moved from %s to %s; the old seal's files are removed\n",
                data, moved, sr_seal_backend_name(from.backend), summary);
    }
    return SR_OK;
}

const struct sr_cmd sr_cmds_seal[] = {
    {"init", sr_cmd_seal_init, 0, 0, 0, sr_opts_seal_init, NULL,
     "seal init --backend file|tpm2|pkcs11 [--tpm TCTI] [--pcrs LIST] [--pkcs11 URI] --data DIR",
     "choose where a new data directory's module keys live (a TPM or an HSM: a copy of the directory opens nothing)"},
    {"migrate", sr_cmd_seal_migrate, 0, 0, 0, sr_opts_seal_migrate, NULL,
     "seal migrate --to file|tpm2|pkcs11 [--tpm TCTI] [--pcrs LIST] [--pkcs11 URI] --data DIR",
     "move every module key of a stopped server's data directory to another seal (a crash leaves one working)"},
    {"status", sr_cmd_seal_status, 0, 0, 0, sr_opts_seal_status, NULL,
     "seal status [--tpm TCTI] [--output table|tsv|json] --data DIR",
     "each module key of a data directory: its backend, what it is bound to, whether it unseals here"},
    {NULL, NULL, 0, 0, 0, NULL, NULL, NULL, NULL},
};
