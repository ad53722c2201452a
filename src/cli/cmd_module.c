/* cmd_module.c - module, root, new-world and world commands. */
#include <string.h>
#include <time.h>

#include "base/text.h"
#include "cli/cli.h"
#include "hsm/card.h"
#include "hsm/suite.h"

static const char *sr_mode_words(char mode)
{
    return mode == 'I' ? "initialisation" : "operational";
}

static enum sr_err sr_cmd_module_mode(struct sr_cli *cli, const struct sr_args *args)
{
    struct sr_module *m = cli->module;
    if (args->npos == 0) {
        fprintf(cli->out, "Module 1: mode %c (%s)\n", sr_module_mode(m), sr_mode_words(sr_module_mode(m)));
        return SR_OK;
    }
    const char *want = args->pos[0];
    if (strcmp(want, "I") != 0 && strcmp(want, "O") != 0) {
        sr_cli_detail(cli, "mode is I (initialisation) or O (operational), not '%s'", want);
        return SR_ERR_USAGE;
    }
    SR_TRY(sr_module_set_mode(m, want[0]));
    fprintf(cli->out, "Module 1: mode %c (%s)\n", want[0], sr_mode_words(want[0]));
    return SR_OK;
}

static enum sr_err sr_cmd_module_reset(struct sr_cli *cli, const struct sr_args *args)
{
    (void)args;
    SR_TRY(sr_module_reset(cli->module));
    fprintf(cli->out, "Module 1: NVRAM erased; the world key is gone from the module.\n"
                      "Keys stay unusable until 'strongroom world load --cards ...' restores the world.\n");
    return SR_OK;
}

static void sr_print_fingerprint(FILE *f, const char *label, const uint8_t fp[SR_HASH_LEN])
{
    char text[72];
    sr_fingerprint_format(fp, text);
    fprintf(f, "%s%s\n", label, text);
}

static enum sr_err sr_cmd_module_show(struct sr_cli *cli, const struct sr_args *args)
{
    (void)args;
    struct sr_module *m = cli->module;
    FILE *f = cli->out;
    fprintf(f, "Module 1\n  directory   %s\n  ESN         %s\n  mode        %c (%s)\n", sr_module_dir(m),
            sr_module_esn(m), sr_module_mode(m), sr_mode_words(sr_module_mode(m)));
    struct sr_world_info world;
    enum sr_err r = sr_module_world_info(m, &world);
    if (r == SR_OK) {
        char hkm[2 * SR_HASH_LEN + 1];
        sr_hex_encode(world.hkm, SR_HASH_LEN, hkm);
        fprintf(f, "  world       %s (%s, ACS %u of %u)\n  hkm         %s\n", world.id, world.suite, world.quorum_k,
                world.quorum_n, hkm);
    } else {
        fprintf(f, "  world       none\n");
    }
    fprintf(f, "  world key   %s\n", sr_module_has_world_key(m) ? "loaded" : "not loaded (NVRAM empty)");
    uint8_t fp[SR_HASH_LEN];
    if (sr_module_check_warrant(m, fp) == SR_OK) {
        sr_print_fingerprint(f, "  warrant     valid, signed by root ", fp);
    } else {
        fprintf(f, "  warrant     none or invalid (run 'strongroom root init' or have the vendor warrant it)\n");
    }
    if (sr_module_trusted_root(m, fp) == SR_OK) {
        sr_print_fingerprint(f, "  trusted     ", fp);
    }
    return SR_OK;
}

static const struct sr_opt sr_opts_root_dir[] = {
    {"dir", NULL, true, "root directory (default $STRONGROOM_KMDATA/root)"},
    {"data", NULL, true, "vault data directory: the root is DATA/root"},
    {NULL, NULL, false, NULL},
};

static enum sr_err sr_root_dir(struct sr_cli *cli, const struct sr_args *args, char *out, size_t cap)
{
    const char *dir = sr_arg(args, sr_opts_root_dir, "dir");
    const char *data = sr_arg(args, sr_opts_root_dir, "data");
    if (dir != NULL && data != NULL) {
        sr_cli_detail(cli, "give --dir or --data, not both");
        return SR_ERR_USAGE;
    }
    int n = dir ? snprintf(out, cap, "%s", dir)
                : snprintf(out, cap, "%s/root", data ? data : cli->kmdata);
    SR_ENSURE(n > 0 && (size_t)n < cap, SR_ERR_TOO_LARGE);
    return SR_OK;
}

static enum sr_err sr_cmd_root_init(struct sr_cli *cli, const struct sr_args *args)
{
    char dir[SR_PATH_MAX];
    uint8_t fp[SR_HASH_LEN];
    SR_TRY(sr_root_dir(cli, args, dir, sizeof(dir)));
    enum sr_err r = sr_root_init(dir, NULL, fp); /* the manufacturer's own root: a file KM0 */
    if (r != SR_OK) {
        sr_cli_detail(cli, "%s", dir);
        return r;
    }
    fprintf(cli->out, "Root of trust created in %s\n", dir);
    sr_print_fingerprint(cli->out, "Fingerprint (SHA-256 of the public key): ", fp);
    SR_TRY(sr_root_warrant_module(dir, NULL, cli->module));
    fprintf(cli->out, "Module 1 (ESN %s) warranted by this root.\n", sr_module_esn(cli->module));
    return SR_OK;
}

static enum sr_err sr_cmd_root_show(struct sr_cli *cli, const struct sr_args *args)
{
    char dir[SR_PATH_MAX];
    uint8_t fp[SR_HASH_LEN];
    SR_TRY(sr_root_dir(cli, args, dir, sizeof(dir)));
    enum sr_err r = sr_root_fingerprint(dir, fp);
    if (r != SR_OK) {
        sr_cli_detail(cli, "%s", dir);
        return r;
    }
    sr_print_fingerprint(cli->out, "", fp);
    return SR_OK;
}

static enum sr_err sr_cmd_root_trust(struct sr_cli *cli, const struct sr_args *args)
{
    uint8_t fp[SR_HASH_LEN];
    /* The fingerprint may arrive as one argument or as the eight groups root show prints. */
    char joined[256] = "";
    for (int i = 0; i < args->npos; i++) {
        if (strlen(joined) + strlen(args->pos[i]) + 1 >= sizeof(joined)) {
            return SR_ERR_FINGERPRINT;
        }
        strcat(joined, args->pos[i]);
    }
    SR_ENSURE(sr_hex_decode(joined, fp, sizeof(fp)) == SR_OK, SR_ERR_FINGERPRINT);
    SR_TRY(sr_module_trust_root(cli->module, fp));
    sr_print_fingerprint(cli->out, "Trusted root pinned: ", fp);
    return SR_OK;
}

const struct sr_cmd sr_cmds_module[] = {
    {"mode", sr_cmd_module_mode, SR_CMD_MODULE, 0, 1, NULL, NULL, "module mode [I|O]",
     "show or set the module mode: I (initialisation) or O (operational)"},
    {"reset", sr_cmd_module_reset, SR_CMD_MODULE, 0, 0, NULL, NULL, "module reset",
     "erase the module's NVRAM (the loaded world key), as a tamper event would"},
    {"show", sr_cmd_module_show, SR_CMD_MODULE | SR_CMD_EXISTING, 0, 0, NULL, NULL, "module show",
     "print the module's ESN, mode, world and warrant"},
    {NULL, NULL, 0, 0, 0, NULL, NULL, NULL, NULL},
};

const struct sr_cmd sr_cmds_root[] = {
    {"init", sr_cmd_root_init, SR_CMD_MODULE, 0, 0, sr_opts_root_dir, NULL, "root init [--dir DIR | --data DIR]",
     "create a manufacturer root and warrant this module with it"},
    {"show", sr_cmd_root_show, 0, 0, 0, sr_opts_root_dir, NULL, "root show [--dir DIR | --data DIR]",
     "print the root's fingerprint, to publish out of band"},
    {"trust", sr_cmd_root_trust, SR_CMD_MODULE, 1, 8, NULL, NULL, "root trust FINGERPRINT",
     "pin a root fingerprint that package verification will require"},
    {NULL, NULL, 0, 0, 0, NULL, NULL, NULL, NULL},
};

const struct sr_opt sr_opts_new_world[] = {
    {"initialize", "-i", false, "create a new world (required, as in the vendor tool)"},
    {"cipher-suite", "-c", true, "DLf3072s256mRijndael or DLf3072s256mAEScSP800131Ar1"},
    {"module", "-m", true, "module number (this machine has module 1)"},
    {"acs-quorum", "-Q", true, "K/N: N administrator cards, K of them needed (1 <= K <= N <= 64)"},
    {"card-dir", NULL, true, "where card files go (default $STRONGROOM_KMDATA/cards)"},
    {"pin-file", NULL, true, "file with one PIN a line, card 1 first (default: ask on the terminal)"},
    {NULL, NULL, false, NULL},
};

enum sr_err sr_collect_pins(struct sr_cli *cli, const char *pin_file, const unsigned *cards,
                                   unsigned ncards, bool confirm, struct sr_pins *pins)
{
    if (pin_file != NULL) {
        SR_TRY(sr_pins_read_file(cli, pin_file, pins));
        for (unsigned i = 0; i < ncards; i++) {
            const char *pin = pins->pin[cards[i] - 1];
            if (pin == NULL) {
                sr_cli_detail(cli, "pin file %s has no PIN on line %u for card %u", pin_file, cards[i], cards[i]);
                return SR_ERR_PIN_INPUT;
            }
            if (confirm && strlen(pin) < SR_MIN_PIN) { /* a new card's PIN */
                sr_cli_detail(cli, "pin file %s, line %u: a card's PIN has at least %u characters", pin_file,
                              cards[i], SR_MIN_PIN);
                return SR_ERR_USAGE;
            }
        }
        return SR_OK;
    }
    return sr_pins_prompt(cli, cards, ncards, confirm, pins);
}

enum sr_err sr_cmd_new_world(struct sr_cli *cli, const struct sr_args *args)
{
    const struct sr_opt *o = sr_opts_new_world;
    if (!sr_arg_set(args, o, "initialize")) {
        sr_cli_detail(cli, "give --initialize to create a new security world");
        return SR_ERR_USAGE;
    }
    const char *module = sr_arg(args, o, "module");
    SR_ENSURE(module == NULL || strcmp(module, "1") == 0, SR_ERR_MODULE_NUMBER);
    const char *suite = sr_arg(args, o, "cipher-suite");
    if (suite == NULL) {
        sr_cli_detail(cli, "--cipher-suite is required, e.g. --cipher-suite=DLf3072s256mRijndael");
        return SR_ERR_USAGE;
    }
    struct sr_world_params params = {.suite = suite, .card_dir = sr_arg(args, o, "card-dir")};
    if (sr_arg(args, o, "acs-quorum") == NULL) {
        sr_cli_detail(cli, "--acs-quorum=K/N is required, e.g. --acs-quorum=2/3");
        return SR_ERR_USAGE;
    }
    SR_TRY(sr_quorum_parse(sr_arg(args, o, "acs-quorum"), &params.quorum_k, &params.quorum_n));
    /* Refuse what would fail anyway before anyone types N PINs. */
    const struct sr_suite *s = NULL;
    SR_TRY(sr_suite_lookup(suite, &s));
    struct sr_world_info existing;
    SR_ENSURE(sr_module_world_info(cli->module, &existing) == SR_ERR_NO_WORLD, SR_ERR_WORLD_EXISTS);
    unsigned cards[SR_MAX_CARDS];
    for (unsigned i = 0; i < params.quorum_n; i++) {
        cards[i] = i + 1;
    }
    SR_AUTO_PINS struct sr_pins pins = {0};
    SR_TRY(sr_collect_pins(cli, sr_arg(args, o, "pin-file"), cards, params.quorum_n, true, &pins));
    struct sr_world_info world;
    SR_TRY(sr_world_create(cli->module, &params, &pins, &world));
    char hkm[2 * SR_HASH_LEN + 1];
    sr_hex_encode(world.hkm, SR_HASH_LEN, hkm);
    FILE *f = cli->out;
    fprintf(f, "Create Security World:\n  Module 1 (ESN %s): world %s, cipher suite %s\n", sr_module_esn(cli->module),
            world.id, world.suite);
    fprintf(f, "  Administrator Card Set: %u of %u cards needed\n", world.quorum_k, world.quorum_n);
    for (unsigned i = 1; i <= world.quorum_n; i++) {
        char path[SR_PATH_MAX];
        char dir[SR_PATH_MAX];
        snprintf(dir, sizeof(dir), "%s/cards", sr_module_dir(cli->module));
        if (sr_card_path(params.card_dir ? params.card_dir : dir, world.id, i, path, sizeof(path)) == SR_OK) {
            fprintf(f, "  Card %u of %u written: %s\n", i, world.quorum_n, path);
        }
    }
    fprintf(f, "security world generated on module #1; hkm = %s\n", hkm);
    fprintf(f, "Keep the cards apart; anyone holding a card file can try PINs offline.\n");
    return SR_OK;
}

static const struct sr_opt sr_opts_world_load[] = {
    {"cards", NULL, true, "the inserted administrator cards, e.g. 1,3"},
    {"card-dir", NULL, true, "where the card files are (default $STRONGROOM_KMDATA/cards)"},
    {"pin-file", NULL, true, "file with one PIN a line, card 1 first; lines of absent cards may be empty"},
    {NULL, NULL, false, NULL},
};

static enum sr_err sr_cmd_world_load(struct sr_cli *cli, const struct sr_args *args)
{
    const struct sr_opt *o = sr_opts_world_load;
    SR_ENSURE(!sr_module_has_world_key(cli->module), SR_ERR_WORLD_LOADED);
    struct sr_world_info world;
    SR_TRY(sr_module_world_info(cli->module, &world));
    unsigned cards[SR_MAX_CARDS];
    unsigned ncards = 0;
    SR_AUTO_PINS struct sr_pins pins = {0};
    SR_TRY(sr_cards_collect(cli, sr_arg(args, o, "cards"), sr_arg(args, o, "pin-file"), world.quorum_k,
                            world.quorum_n, cards, &ncards, &pins));
    if (ncards < world.quorum_k) {
        sr_cli_detail(cli, "this world's card set is %u of %u: insert %u cards (you gave %u)", world.quorum_k,
                      world.quorum_n, world.quorum_k, ncards);
        return SR_ERR_QUORUM_NOT_MET;
    }
    SR_TRY(sr_world_load(cli->module, sr_arg(args, o, "card-dir"), cards, ncards, &pins));
    fprintf(cli->out, "Module 1: world %s loaded from %u of %u cards.\n", world.id, ncards, world.quorum_n);
    return SR_OK;
}

static enum sr_err sr_cmd_world_show(struct sr_cli *cli, const struct sr_args *args)
{
    (void)args;
    struct sr_world_info world;
    SR_TRY(sr_module_world_info(cli->module, &world));
    char hkm[2 * SR_HASH_LEN + 1];
    sr_hex_encode(world.hkm, SR_HASH_LEN, hkm);
    char when[32];
    sr_cli_iso_time(world.created, when);
    fprintf(cli->out, "world         %s\ncipher suite  %s\nACS quorum    %u/%u\nhkm           %s\ncreated       %s\n",
            world.id, world.suite, world.quorum_k, world.quorum_n, hkm, when);
    return SR_OK;
}

const struct sr_cmd sr_cmds_world[] = {
    {"load", sr_cmd_world_load, SR_CMD_MODULE, 0, 0, sr_opts_world_load, NULL,
     "world load --cards 1,3 [--pin-file FILE] [--card-dir DIR]",
     "restore the world key into the module from a quorum of administrator cards"},
    {"show", sr_cmd_world_show, SR_CMD_MODULE | SR_CMD_EXISTING, 0, 0, NULL, NULL, "world show", "print the security world"},
    {NULL, NULL, 0, 0, 0, NULL, NULL, NULL, NULL},
};
