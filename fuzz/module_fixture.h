/*
 * module_fixture.h - the set-up of the harnesses that parse module files (fuzz_kmfiles, fuzz_world):
 * sr_fuzz_setup makes a module with a 1-of-1 world in a temporary directory (sr_dir, sr_m), removed at
 * exit. Included once, by the harness's .c file, which then has these statics to itself.
 */
#ifndef SR_FUZZ_MODULE_FIXTURE_H
#define SR_FUZZ_MODULE_FIXTURE_H

#include <stdlib.h>

#include "fuzz.h"
#include "testlib.h"

static char sr_dir[256];
static struct sr_module *sr_m;

static void sr_fuzz_cleanup(void)
{
    sr_module_free(sr_m);
    sr_test_rmrf(sr_dir);
}

void sr_fuzz_setup(void)
{
    if (sr_m != NULL) {
        return;
    }
    sr_test_tmpdir(sr_dir, sizeof(sr_dir));
    sr_m = sr_test_module_with_world(sr_dir, 1, 1, NULL);
    atexit(sr_fuzz_cleanup);
}

#endif
