/*
 * fuzz_packages.c - the Key Exchange Key and Security World packages a key owner downloads and checks
 * (verifykeypackage, and the BYOK step that encrypts under the KEK).
 * Target: sr_packages_verify, the input in the position its first byte chooses (even: the KEK package,
 * odd: the Security World package), its partner a genuine package of the same region.
 * Seeds are the genuine pair, so mutations reach the chain and binding checks.
 */
#include <stdlib.h>
#include <string.h>

#include "byok/byok.h"
#include "fuzz.h"
#include "testlib.h"
#include "vault/store.h"

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
    if (size == 0) {
        return 0;
    }
    struct sr_check_report rep;
    struct sr_kek_package pkg = {0};
    enum sr_err r = data[0] % 2 == 0
        ? sr_packages_verify(data + 1, size - 1, sr_sw_pkg.data, sr_sw_pkg.len, NULL, &rep, &pkg)
        : sr_packages_verify(sr_kek_pkg.data, sr_kek_pkg.len, data + 1, size - 1, NULL, &rep, &pkg);
    if (r == SR_OK) {
        sr_kek_package_release(&pkg);
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
    struct sr_store *store = sr_test_data_with_region(sr_dir, "EU");
    store->ops->close(store);
    sr_seed_file(&sr_kek_pkg, "regions/EU/toolset/BYOK-KEK-pkg-EU-1");
    sr_seed_file(&sr_sw_pkg, "regions/EU/toolset/BYOK-SecurityWorld-pkg-EU-1");
}

/* The package with its position byte in front. */
static void sr_seed_at(struct sr_buf *seed, uint8_t position, const struct sr_buf *pkg)
{
    sr_buf_init(seed, pkg->len + 1, SR_BUF_PLAIN);
    if (sr_buf_append(seed, &position, 1) != SR_OK || sr_buf_append(seed, pkg->data, pkg->len) != SR_OK) {
        abort();
    }
}

void sr_fuzz_seeds(struct sr_buf *seeds, size_t *n)
{
    sr_seed_at(&seeds[0], 0, &sr_kek_pkg);
    sr_seed_at(&seeds[1], 1, &sr_sw_pkg);
    struct sr_check_report rep;
    struct sr_kek_package pkg = {0};
    if (sr_packages_verify(sr_kek_pkg.data, sr_kek_pkg.len, sr_sw_pkg.data, sr_sw_pkg.len, NULL, &rep, &pkg) != SR_OK) {
        abort(); /* the genuine pair must verify, or mutations never reach the deep checks */
    }
    sr_kek_package_release(&pkg);
    *n = 2;
}
