/*
 * fuzz_archives.c - the zip files Strongroom unpacks: a region's BYOK toolset (KeyVault-BYOK-Tools-R.zip,
 * downloaded by a key owner) and a backup of a data directory (restore).
 * Target: sr_toolset_unpack, sr_cmd_restore (the manifest, each entry's name and hash, and, when the
 * archive holds a store, opening it and verifying its audit chain).
 * Seeds are a genuine toolset and a genuine backup, so mutations reach the manifest and entry checks.
 */
#include <stdio.h>
#include <stdlib.h>

#include "base/fileio.h"
#include "byok/byok.h"
#include "cli/cli.h"
#include "fuzz.h"
#include "testlib.h"
#include "vault/store.h"

static char sr_dir[256];
static FILE *sr_null;

static void sr_cleanup(void)
{
    if (sr_null != NULL) {
        fclose(sr_null);
    }
    sr_test_rmrf(sr_dir);
}

static void sr_path(const char *rel, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", sr_dir, rel);
}

/* Runs a backup or restore command with two options, its output discarded. */
static enum sr_err sr_run(enum sr_err (*fn)(struct sr_cli *, const struct sr_args *), const struct sr_opt *opts,
                          const char *name1, const char *val1, const char *name2, const char *val2)
{
    struct sr_cli cli = {.cmd_name = "fuzz", .out = sr_null};
    struct sr_args args = {.opts = opts};
    int i = sr_opt_index(opts, name1), j = sr_opt_index(opts, name2);
    if (i < 0 || j < 0) {
        abort();
    }
    args.val[i] = val1;
    args.set[i] = true;
    args.val[j] = val2;
    args.set[j] = true;
    return fn(&cli, &args);
}

void sr_fuzz_setup(void)
{
    if (sr_dir[0] != 0) {
        return;
    }
    sr_test_tmpdir(sr_dir, sizeof(sr_dir));
    atexit(sr_cleanup);
    sr_null = fopen("/dev/null", "w");
    char data[512];
    sr_path("data", data, sizeof(data));
    if (sr_null == NULL || sr_dir_make(data) != SR_OK) {
        abort();
    }
    struct sr_store *store = sr_test_data_with_region(data, "EU");
    store->ops->close(store);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char in[512], out[512];
    sr_path("input.zip", in, sizeof(in));
    if (sr_file_write_atomic(in, data, size, SR_WRITE_REPLACE) != SR_OK) {
        abort();
    }
    sr_path("toolset", out, sizeof(out));
    (void)!sr_toolset_unpack(in, out);
    sr_test_rmrf(out);
    sr_path("restored", out, sizeof(out));
    (void)!sr_run(sr_cmd_restore, sr_opts_restore, "in", in, "data", out);
    sr_test_rmrf(out);
    return 0;
}

void sr_fuzz_seeds(struct sr_buf *seeds, size_t *n)
{
    char toolset[512], path[512], data[512];
    sr_path("data/regions/EU/toolset/KeyVault-BYOK-Tools-EU.zip", toolset, sizeof(toolset));
    sr_test_read_file(toolset, &seeds[0]);
    sr_path("data", data, sizeof(data));
    sr_path("backup.zip", path, sizeof(path));
    if (sr_run(sr_cmd_backup, sr_opts_backup, "data", data, "out", path) != SR_OK) {
        abort();
    }
    sr_test_read_file(path, &seeds[1]);
    char out[512];
    sr_path("restored", out, sizeof(out));
    sr_path("toolset", data, sizeof(data));
    if (sr_toolset_unpack(toolset, data) != SR_OK ||
        sr_run(sr_cmd_restore, sr_opts_restore, "in", path, "data", out) != SR_OK) {
        abort(); /* genuine archives must unpack, or mutations never reach the entry checks */
    }
    sr_test_rmrf(out);
    sr_test_rmrf(data);
    *n = 2;
}
