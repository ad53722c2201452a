/* cmd_seal.c - `seal init|status|migrate`: which backend keeps a data directory's module keys (hsm/km0.h),
 * and `unseal`: a quorum of cards handed to a running cards-sealed server (http/control.h). */
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
#include "crypto/jwk.h"
#include "hsm/km0.h"
#include "hsm/module.h"
#include "http/control.h"
#include "vault/vault.h"

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
    {"backend", NULL, true, "file, tpm2, pkcs11 or cards: where each module key (KM0) of the directory lives"},
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
            : cfg.backend == SR_SEAL_TPM2   ? "; a copy of the directory opens nothing without this TPM"
            : cfg.backend == SR_SEAL_PKCS11 ? "; a copy of the directory opens nothing without this token's key"
                                            : " under its region's world key: each start is sealed until "
                                              "'strongroom unseal' gives a quorum of the region's cards (root/ "
                                              "and tls/ are plain files)");
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
        bool why = r != SR_OK && r != SR_ERR_SEALED && cfg->diag[0];
        snprintf(state, sizeof(state), "%s%s%s%s",
                 r == SR_OK          ? "unseals"
                 : r == SR_ERR_SEALED ? "sealed: a quorum of the region's cards opens it (strongroom unseal)"
                                      : sr_err_message(r),
                 why ? " (" : "",
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
        struct sr_seal_config file;
        SR_TRY(sr_path_join(path, sizeof(path), data, fixed[i][1]));
        SR_TRY(sr_seal_status_row(sr_seal_worldless(&cfg, &file), fixed[i][0], path, rows));
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
    {"to", NULL, true, "file, tpm2, pkcs11 or cards: the backend that keeps the module keys from now on"},
    {"tpm", NULL, true, "--to tpm2: the TCTI (default STRONGROOM_TPM_TCTI, else device:/dev/tpmrm0)"},
    {"pcrs", NULL, true, "--to tpm2: SHA-256 PCRs to bind the keys to (7, or 0,2,7)"},
    {"pkcs11", NULL, true, "--to pkcs11: the token's RFC 7512 URI, with module-path= and pin-source=file:PATH"},
    {"cards", NULL, true, "from cards: the cards of each region's quorum, such as 1,3"},
    {"pin-file", NULL, true, "from cards: one PIN a line, card 1 first (default: ask on the terminal)"},
    {"card-dir", NULL, true, "from cards: where the card files are (default DATA/regions/R/cards)"},
    {NULL, NULL, false, NULL},
};

struct sr_migrate_quorums {
    struct sr_quorum *q[64];
    size_t n;
};

static void sr_migrate_quorums_free(struct sr_migrate_quorums *mq)
{
    for (size_t i = 0; i < mq->n; i++) {
        sr_quorum_free(mq->q[i]);
    }
    mq->n = 0;
}

/* Leaving `cards`: a complete quorum of every region's cards, from the card files and their PINs. */
static enum sr_err sr_migrate_collect_quorums(struct sr_cli *cli, const struct sr_args *args, const char *data,
                                              struct sr_migrate_quorums *mq)
{
    const struct sr_opt *o = sr_opts_seal_migrate;
    unsigned cards[SR_MAX_CARDS], ncards = 0;
    if (sr_arg(args, o, "cards") == NULL) {
        sr_cli_detail(cli, "the directory is sealed by cards: give --cards LIST and --pin-file F of each region's "
                           "quorum");
        return SR_ERR_USAGE;
    }
    SR_TRY(sr_cards_parse(cli, sr_arg(args, o, "cards"), cards, &ncards));
    SR_AUTO_PINS struct sr_pins pins = {0};
    SR_TRY(sr_collect_pins(cli, sr_arg(args, o, "pin-file"), cards, ncards, false, &pins));
    char regions[SR_PATH_MAX];
    SR_TRY(sr_path_join(regions, sizeof(regions), data, "regions"));
    DIR *d = opendir(regions);
    enum sr_err r = SR_OK;
    for (struct dirent *de = d ? readdir(d) : NULL; de != NULL && r == SR_OK; de = readdir(d)) {
        char kmdata[SR_PATH_MAX], dir[SR_PATH_MAX];
        int n = snprintf(kmdata, sizeof(kmdata), "%s/%s/kmdata", regions, de->d_name);
        if (de->d_name[0] == '.' || n <= 0 || (size_t)n >= sizeof(kmdata) || !sr_file_exists(kmdata)) {
            continue;
        }
        r = mq->n < SR_ARRAY_LEN(mq->q) ? SR_OK : SR_ERR_TOO_LARGE;
        if (r == SR_OK) {
            r = sr_region_cards(data, de->d_name, sr_arg(args, o, "card-dir"), dir, sizeof(dir));
        }
        if (r == SR_OK) {
            r = sr_quorum_from_cards(kmdata, dir, cards, ncards, &pins, &mq->q[mq->n]);
            if (r != SR_OK) {
                sr_cli_detail(cli, "region %s: cards %s from %s", de->d_name, sr_arg(args, o, "cards"), dir);
            }
        }
        mq->n += r == SR_OK;
    }
    if (d != NULL) {
        closedir(d);
    }
    return r;
}

static enum sr_err sr_cmd_seal_migrate(struct sr_cli *cli, const struct sr_args *args)
{
    const struct sr_opt *o = sr_opts_seal_migrate;
    const char *data = sr_data_dir(args, o);
    struct sr_seal_choice choice = {sr_arg(args, o, "to"), sr_arg(args, o, "tpm"), sr_arg(args, o, "pcrs"),
                                    sr_arg(args, o, "pkcs11")};
    struct sr_seal_config to, from;
    SR_TRY(sr_seal_options(cli, &choice, &to));
    SR_AUTO(sr_closep) int lock = -1;
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
    SR_AUTO(sr_migrate_quorums_free) struct sr_migrate_quorums mq = {0};
    if (from.backend == SR_SEAL_CARDS && to.backend != SR_SEAL_CARDS) {
        SR_TRY(sr_migrate_collect_quorums(cli, args, data, &mq));
    }
    struct sr_migrate_options mo = {.quorums = mq.q, .nquorums = mq.n, .fault_after = (unsigned)fault_after};
    r = sr_seal_migrate(data, &from, &to, &mo, &moved);
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

static const struct sr_opt sr_opts_seal_rebuild[] = {
    SR_OPTS_DATA_STORE,
    {"backend", NULL, true, "file, tpm2, pkcs11 or cards: the seal of this machine"},
    {"tpm", NULL, true, "tpm2: the TCTI (default STRONGROOM_TPM_TCTI, else device:/dev/tpmrm0)"},
    {"pcrs", NULL, true, "tpm2: SHA-256 PCRs to bind the keys to (7, or 0,2,7)"},
    {"pkcs11", NULL, true, "pkcs11: the token's RFC 7512 URI, with module-path= and pin-source=file:PATH"},
    {"cards", NULL, true, "a quorum of each region's administrator cards, such as 1,3"},
    {"pin-file", NULL, true, "one PIN a line, card 1 first (default: ask on the terminal)"},
    {"card-dir", NULL, true, "where the card files are (default DATA/regions/R/cards)"},
    {NULL, NULL, false, NULL},
};

static enum sr_err sr_cmd_seal_rebuild(struct sr_cli *cli, const struct sr_args *args)
{
    const struct sr_opt *o = sr_opts_seal_rebuild;
    const char *data = sr_data_dir(args, o);
    struct sr_seal_choice choice = {sr_arg(args, o, "backend"), sr_arg(args, o, "tpm"), sr_arg(args, o, "pcrs"),
                                    sr_arg(args, o, "pkcs11")};
    struct sr_seal_config seal;
    SR_TRY(sr_seal_options(cli, &choice, &seal));
    if (sr_arg(args, o, "cards") == NULL) {
        sr_cli_detail(cli, "give a quorum of each region's cards: --cards LIST --pin-file F [--card-dir D]");
        return SR_ERR_USAGE;
    }
    unsigned cards[SR_MAX_CARDS];
    struct sr_rebuild_params p = {.seal = &seal, .card_dir = sr_arg(args, o, "card-dir"), .cards = cards};
    SR_TRY(sr_cards_parse(cli, sr_arg(args, o, "cards"), cards, &p.ncards));
    SR_AUTO(sr_closep) int lock = -1;
    SR_TRY(sr_serve_lock(cli, data, &lock));
    enum sr_err r = sr_seal_probe(&seal);
    if (r != SR_OK) {
        sr_cli_detail(cli, "%s", seal.diag);
        return r;
    }
    SR_AUTO_STORE struct sr_store *store = NULL;
    SR_TRY(sr_open_store(cli, args, o, &store));
    SR_AUTO_PINS struct sr_pins pins = {0};
    SR_TRY(sr_collect_pins(cli, sr_arg(args, o, "pin-file"), cards, p.ncards, false, &pins));
    struct sr_rebuild_report report;
    r = sr_vault_rebuild(data, store, &p, &pins, &report);
    if (r != SR_OK) {
        if (report.failed_region[0]) {
            sr_cli_detail(cli, "region %s; run the command again with its cards to finish", report.failed_region);
        }
        return r;
    }
    char summary[400];
    sr_seal_summary(&seal, summary, sizeof(summary));
    fprintf(cli->out, "Data directory %s sealed by %s: %u region(s) rebuilt from their cards; %u module "
                      "director%s that open only on the old hardware moved to %s/unsealable.\n",
            data, summary, report.rebuilt, report.set_aside, report.set_aside == 1 ? "y" : "ies", data);
    char root[SR_PATH_MAX];
    uint8_t fp[SR_HASH_LEN];
    char hex[2 * SR_HASH_LEN + 1];
    if (sr_path_join(root, sizeof(root), data, "root") == SR_OK && sr_root_fingerprint(root, fp) == SR_OK) {
        sr_hex_encode(fp, sizeof(fp), hex);
        fprintf(cli->out, "The manufacturer root is %s: key owners pin it for new imports "
                          "(verifykeypackage --root-fingerprint); clients trust the new %s/tls/ca.pem.\n",
                hex, data);
    }
    return SR_OK;
}

const struct sr_opt sr_opts_unseal[] = {
    {"data", NULL, true, "the running server's data directory (default ./strongroom-data)"},
    {"region", NULL, true, "only this region (default: every region still sealed)"},
    {"cards", NULL, true, "the cards to give, such as 1,3: a quorum, or some now and the rest later"},
    {"pin-file", NULL, true, "one PIN a line, card 1 first (default: ask on the terminal)"},
    {"card-dir", NULL, true, "where the card files are (default DATA/regions/R/cards)"},
    {NULL, NULL, false, NULL},
};

/* The error a control answer names ({"error": {"code": "SR_ERR_BAD_PIN"}}), or SR_OK. */
static enum sr_err sr_control_error(const json_t *answer)
{
    const char *code = json_string_value(json_object_get(json_object_get(answer, "error"), "code"));
    if (code == NULL) {
        return SR_OK;
    }
    for (int e = 1; e < SR_ERR_COUNT_; e++) {
        if (strcmp(sr_err_name((enum sr_err)e), code) == 0) {
            return (enum sr_err)e;
        }
    }
    return SR_ERR_CONTROL;
}

/* One card file of a region, sent with its PIN; prints what the server made of it. */
static enum sr_err sr_unseal_give(struct sr_cli *cli, const char *data, const char *region, const char *dir,
                                  const char *world, unsigned card, const char *pin, bool *ret_open)
{
    char path[SR_PATH_MAX];
    int n = snprintf(path, sizeof(path), "%s/acs_%s_%u.card", dir, world, card);
    SR_ENSURE(n > 0 && (size_t)n < sizeof(path), SR_ERR_TOO_LARGE);
    SR_AUTO_BUF struct sr_buf file = {0}, b64 = {0};
    sr_buf_init(&file, 8192, SR_BUF_PLAIN);
    sr_buf_init(&b64, 16384, SR_BUF_PLAIN);
    enum sr_err r = sr_file_read(path, &file);
    if (r != SR_OK) {
        sr_cli_detail(cli, "card %u of region %s: %s", card, region, path);
        return r;
    }
    SR_TRY(sr_b64url_encode(file.data, file.len, &b64));
    SR_TRY(sr_buf_terminate(&b64));
    SR_AUTO_JSON json_t *req = json_pack("{s:s,s:s,s:s,s:s}", "op", "unseal", "region", region, "card",
                                         (const char *)b64.data, "pin", pin);
    SR_ENSURE(req != NULL, SR_ERR_NOMEM);
    SR_AUTO_JSON json_t *answer = NULL;
    r = sr_control_call(data, req, &answer);
    if (r != SR_OK) {
        sr_cli_detail(cli, "%s/control.sock", data);
        return r;
    }
    r = sr_control_error(answer);
    long long have = json_integer_value(json_object_get(answer, "have"));
    long long need = json_integer_value(json_object_get(answer, "need"));
    *ret_open = json_is_false(json_object_get(answer, "sealed"));
    if (r != SR_OK) {
        fprintf(cli->out, "Region %s: card %u refused: %s (refused so far: %lld); %lld of %lld given\n", region, card,
                sr_err_message(r), json_integer_value(json_object_get(answer, "refused")), have, need);
    } else {
        fprintf(cli->out, "Region %s: card %u taken: %lld of %lld%s\n", region, card, have, need,
                *ret_open ? "; unsealed, serving" : "");
    }
    return r;
}

enum sr_err sr_cmd_unseal(struct sr_cli *cli, const struct sr_args *args)
{
    const struct sr_opt *o = sr_opts_unseal;
    const char *data = sr_data_dir(args, o);
    const char *only = sr_arg(args, o, "region");
    unsigned cards[SR_MAX_CARDS], ncards = 0;
    if (sr_arg(args, o, "cards") == NULL) {
        sr_cli_detail(cli, "give the cards with --cards LIST (and their PINs with --pin-file F or at the terminal)");
        return SR_ERR_USAGE;
    }
    SR_TRY(sr_cards_parse(cli, sr_arg(args, o, "cards"), cards, &ncards));
    SR_AUTO_JSON json_t *status = NULL;
    SR_AUTO_JSON json_t *ask = json_pack("{s:s}", "op", "status");
    SR_ENSURE(ask != NULL, SR_ERR_NOMEM);
    enum sr_err r = sr_control_call(data, ask, &status);
    if (r != SR_OK) {
        sr_cli_detail(cli, "%s/control.sock", data);
        return r;
    }
    SR_TRY(sr_control_error(status));
    const char *backend = json_string_value(json_object_get(status, "backend"));
    if (backend == NULL || strcmp(backend, "cards") != 0) {
        return SR_ERR_UNSEAL_NOT_CARDS;
    }
    SR_AUTO_PINS struct sr_pins pins = {0};
    SR_TRY(sr_collect_pins(cli, sr_arg(args, o, "pin-file"), cards, ncards, false, &pins));
    enum sr_err first = SR_OK;
    bool found = only == NULL;
    size_t i;
    const json_t *region;
    json_array_foreach(json_object_get(status, "regions"), i, region) {
        const char *name = json_string_value(json_object_get(region, "name"));
        const char *world = json_string_value(json_object_get(region, "world"));
        if (name == NULL || world == NULL || (only != NULL && strcmp(name, only) != 0)) {
            continue;
        }
        found = true;
        bool open = json_is_false(json_object_get(region, "sealed"));
        if (open) {
            fprintf(cli->out, "Region %s: unsealed already\n", name);
            continue;
        }
        char dir[SR_PATH_MAX];
        SR_TRY(sr_region_cards(data, name, sr_arg(args, o, "card-dir"), dir, sizeof(dir)));
        enum sr_err refused = SR_OK; /* a card refused on the way counts only if the region stays sealed */
        for (unsigned c = 0; c < ncards && !open; c++) {
            r = sr_unseal_give(cli, data, name, dir, world, cards[c], pins.pin[cards[c] - 1], &open);
            refused = refused != SR_OK ? refused : r;
            if (r == SR_ERR_NO_SERVER || r == SR_ERR_NOT_FOUND) {
                return r;
            }
        }
        first = first != SR_OK || open ? first : refused;
        if (!open && refused == SR_OK) {
            /* Cards may come one holder at a time, as Vault's unseal keys do: taken ones count until a restart. */
            fprintf(cli->out, "Region %s: still sealed: its other card holders run 'strongroom unseal' with theirs\n",
                    name);
        }
    }
    if (!found) {
        sr_cli_detail(cli, "region %s is not one this server has joined", only);
        return SR_ERR_NOT_FOUND;
    }
    return first;
}

const struct sr_cmd sr_cmds_seal[] = {
    {"init", sr_cmd_seal_init, 0, 0, 0, sr_opts_seal_init, NULL,
     "seal init --backend file|tpm2|pkcs11|cards [--tpm TCTI] [--pcrs LIST] [--pkcs11 URI] --data DIR",
     "choose where a new data directory's module keys live (a TPM, an HSM, the administrator cards: a copy of the "
     "directory opens nothing)"},
    {"migrate", sr_cmd_seal_migrate, 0, 0, 0, sr_opts_seal_migrate, NULL,
     "seal migrate --to file|tpm2|pkcs11|cards [--tpm TCTI] [--pcrs LIST] [--pkcs11 URI] [--cards LIST --pin-file F] "
     "--data DIR",
     "move every module key of a stopped server's data directory to another seal (a crash leaves one working)"},
    {"rebuild", sr_cmd_seal_rebuild, 0, 0, 0, sr_opts_seal_rebuild, NULL,
     "seal rebuild --backend file|tpm2|pkcs11|cards [seal options] --cards LIST [--pin-file F] --data DIR",
     "on new hardware: rebuild a restored directory's modules from each region's cards under this machine's seal"},
    {"status", sr_cmd_seal_status, 0, 0, 0, sr_opts_seal_status, NULL,
     "seal status [--tpm TCTI] [--output table|tsv|json] --data DIR",
     "each module key of a data directory: its backend, what it is bound to, whether it unseals here"},
    {NULL, NULL, 0, 0, 0, NULL, NULL, NULL, NULL},
};
