/*
 * fuzz_byok.c - the BYOK documents a key owner or a vault receives from outside: KEK and Security
 * World packages, and .byok files.
 * Target: sr_packages_verify, sr_byok_parse.
 * Seeds are a genuine pair of packages and a genuine .byok, so mutations reach the deep checks.
 */
#include <stdlib.h>
#include <string.h>

#include "base/fileio.h"
#include "byok/byok.h"
#include "fuzz.h"
#include "testlib.h"
#include "vault/vault.h"

static struct sr_buf sr_kek_pkg, sr_sw_pkg;
static char sr_dir[256];

static void sr_cleanup(void)
{
    sr_buf_release(&sr_kek_pkg);
    sr_buf_release(&sr_sw_pkg);
    sr_test_rmrf(sr_dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sr_check_report rep;
    struct sr_kek_package pkg = {0};
    /* The input in either position, its partner genuine. */
    if (sr_packages_verify(data, size, sr_sw_pkg.data, sr_sw_pkg.len, NULL, &rep, &pkg) == SR_OK) {
        sr_kek_package_release(&pkg);
    }
    if (sr_packages_verify(sr_kek_pkg.data, sr_kek_pkg.len, data, size, NULL, &rep, &pkg) == SR_OK) {
        sr_kek_package_release(&pkg);
    }
    struct sr_byok b;
    if (sr_byok_parse(data, size, &b) == SR_OK) {
        sr_byok_release(&b);
    }
    return 0;
}

static void sr_seed_file(struct sr_buf *seed, const char *rel)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", sr_dir, rel);
    sr_test_read_file(path, seed);
}

void sr_fuzz_setup(void)
{
    if (sr_dir[0] != 0) {
        return;
    }
    sr_test_tmpdir(sr_dir, sizeof(sr_dir));
    atexit(sr_cleanup);
    struct sr_store *store = NULL;
    if (sr_store_sqlite_open(sr_dir, &store) != SR_OK) {
        abort();
    }
    struct sr_pins pins = {0};
    sr_test_pins(&pins, 1);
    struct sr_region_params eu = {.name = "EU", .quorum_k = 1, .quorum_n = 1, .kek_bits = 2048};
    if (sr_region_create(sr_dir, store, &eu, &pins) != SR_OK) {
        abort();
    }
    sr_pins_release(&pins);
    store->ops->close(store);
    sr_seed_file(&sr_kek_pkg, "regions/EU/toolset/BYOK-KEK-pkg-EU-1");
    sr_seed_file(&sr_sw_pkg, "regions/EU/toolset/BYOK-SecurityWorld-pkg-EU-1");
}

void sr_fuzz_seeds(struct sr_buf *seeds, size_t *n)
{
    sr_seed_file(&seeds[0], "regions/EU/toolset/BYOK-KEK-pkg-EU-1");
    sr_seed_file(&seeds[1], "regions/EU/toolset/BYOK-SecurityWorld-pkg-EU-1");
    struct sr_buf ct;
    sr_buf_init(&ct, 64, SR_BUF_PLAIN);
    if (sr_buf_append(&ct, "0123456789abcdef0123456789abcdef", 32) != SR_OK) {
        abort();
    }
    sr_buf_init(&seeds[2], 4096, SR_BUF_PLAIN);
    if (sr_byok_write("urn:strongroom:kek:EU:1", "strongroom-byok-v1;subscription=s;region=EU;world=00", &ct,
                      &seeds[2]) != SR_OK) {
        abort();
    }
    sr_buf_release(&ct);
    *n = 3;
}
