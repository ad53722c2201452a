/*
 * fuzz_kmfiles.c - the parsers of module files an attacker can hand us: key files (kmfile-dump, sign),
 * card files and PIN files (key files of every type: RSA, EC, AES). World files and NVRAM are fuzz_world's.
 * Target: sr_key_inspect, sr_key_sign, sr_card_peek, sr_pins_read_file.
 * The module used holds a world, so a well-formed key file also reaches AEAD authentication.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fileio.h"
#include "cli/cli.h"
#include "crypto/crypto.h"
#include "fuzz.h"
#include "hsm/card.h"
#include "module_fixture.h"
#include "testlib.h"

static void sr_put(const char *rel, const uint8_t *data, size_t size, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s", sr_dir, rel);
    if (sr_file_write_atomic(path, data, size, SR_WRITE_REPLACE) != SR_OK) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[512];
    struct sr_key_info info;
    bool verified;
    sr_put("local/key_simple_fuzz", data, size, path, sizeof(path));
    (void)!sr_key_inspect(sr_m, path, &info, &verified);
    struct sr_buf sig;
    sr_buf_init(&sig, 4096, SR_BUF_PLAIN);
    (void)!sr_key_sign(sr_m, "simple", "fuzz", SR_ALG_ES256, "x", 1, SR_SIG_DER, &sig);
    sr_buf_release(&sig);
    struct sr_card card;
    sr_put("card", data, size, path, sizeof(path));
    (void)!sr_card_peek(path, &card);
    struct sr_pins pins = {0};
    struct sr_cli cli = {.cmd_name = "fuzz"};
    (void)!sr_pins_read_file(&cli, path, &pins);
    sr_pins_release(&pins);
    return 0;
}

static void sr_seed_file(struct sr_buf *seed, const char *path)
{
    sr_test_read_file(path, seed);
}

void sr_fuzz_seeds(struct sr_buf *seeds, size_t *n)
{
    struct sr_key_info info;
    struct sr_keygen_params p = {.app = "simple", .ident = "fuzz", .plainname = "fuzz",
                                 .spec = {.type = SR_KEY_EC, .curve = SR_CURVE_P256}};
    if (sr_key_generate(sr_m, &p, &info) != SR_OK) {
        abort();
    }
    char path[512];
    snprintf(path, sizeof(path), "%s/local/key_simple_fuzz", sr_dir);
    sr_seed_file(&seeds[0], path);
    /* The same name holding an AES key: the secret-key branch of the parser. */
    p.spec = (struct sr_key_spec){.type = SR_KEY_AES, .bits = 256};
    if (sr_file_remove(path) != SR_OK || sr_key_generate(sr_m, &p, &info) != SR_OK) {
        abort();
    }
    sr_seed_file(&seeds[3], path);
    struct sr_world_info w;
    if (sr_module_world_info(sr_m, &w) != SR_OK) {
        abort();
    }
    char cards[300];
    snprintf(cards, sizeof(cards), "%s/cards", sr_dir);
    if (sr_card_path(cards, w.id, 1, path, sizeof(path)) != SR_OK) {
        abort();
    }
    sr_seed_file(&seeds[1], path);
    sr_buf_init(&seeds[2], 64, SR_BUF_PLAIN);
    if (sr_buf_append_str(&seeds[2], "pin-1\n\npin-3\r\n") != SR_OK) {
        abort();
    }
    *n = 4;
}
