/* libfuzzer_init.c - what a harness needs under libFuzzer (make fuzz): its set-up, and its seeds written
 * as the initial corpus into $SR_FUZZ_SEED_DIR (see fuzz.h). Linked instead of replay_main.c. */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    sr_fuzz_setup();
    const char *dir = getenv("SR_FUZZ_SEED_DIR");
    struct sr_buf seeds[SR_FUZZ_MAX_SEEDS];
    size_t n = 0;
    sr_fuzz_seeds(seeds, &n);
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/seed-%zu", dir ? dir : ".", i);
        FILE *f = dir ? fopen(path, "wb") : NULL;
        if (f != NULL) {
            (void)!fwrite(seeds[i].data, 1, seeds[i].len, f);
            fclose(f);
        }
        sr_buf_release(&seeds[i]);
    }
    return 0;
}
