/*
 * fuzz_world.c - the module files that hold a security world: the world file (local/world) and the
 * module's NVRAM (module/nvram), as an attacker with the host's disk could replace them.
 * Target: sr_module_world_info and sr_module_require_world (the input as the world file, first byte even),
 * sr_module_open (the input as the NVRAM, first byte odd).
 * Seeds are the genuine files of a module with a world, so mutations reach the MAC and seal checks.
 */
#include <stdio.h>
#include <stdlib.h>

#include "base/fileio.h"
#include "fuzz.h"
#include "module_fixture.h"
#include "testlib.h"

static void sr_path(const char *rel, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", sr_dir, rel);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    char path[512];
    sr_path(data[0] % 2 == 0 ? "local/world" : "module/nvram", path, sizeof(path));
    if (sr_file_write_atomic(path, data + 1, size - 1, SR_WRITE_REPLACE) != SR_OK) {
        abort();
    }
    if (data[0] % 2 == 0) {
        /* The open module holds the genuine world key: the input is parsed, then authenticated under it. */
        struct sr_world_info w;
        (void)!sr_module_world_info(sr_m, &w);
        (void)!sr_module_require_world(sr_m, &w);
        return 0;
    }
    struct sr_module *m = NULL;
    if (sr_module_open(sr_dir, &m) == SR_OK) {
        sr_module_free(m);
    }
    return 0;
}

/* The file with its selector byte in front. */
static void sr_seed(struct sr_buf *seed, uint8_t which, const char *rel)
{
    char path[512];
    struct sr_buf file;
    sr_path(rel, path, sizeof(path));
    sr_test_read_file(path, &file);
    sr_buf_init(seed, file.len + 1, SR_BUF_PLAIN);
    if (sr_buf_append(seed, &which, 1) != SR_OK || sr_buf_append(seed, file.data, file.len) != SR_OK) {
        abort();
    }
    sr_buf_release(&file);
}

void sr_fuzz_seeds(struct sr_buf *seeds, size_t *n)
{
    sr_seed(&seeds[0], 0, "local/world");
    sr_seed(&seeds[1], 1, "module/nvram");
    if (sr_module_require_world(sr_m, NULL) != SR_OK) {
        abort(); /* the genuine files must authenticate, or mutations never reach the deep checks */
    }
    *n = 2;
}
