/* libfuzzer_init.c - what a harness needs under libFuzzer (make fuzz): its set-up, and its seeds written
 * as the initial corpus into $SR_FUZZ_SEED_DIR (see fuzz.h). Linked instead of replay_main.c. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <openssl/crypto.h>
#include <sanitizer/lsan_interface.h>

#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);

/* OpenSSL keeps its DRBGs' state in the secure heap (an mmap'd arena that LeakSanitizer does not scan), so
 * the cipher contexts that state points to look leaked, and libFuzzer's per-input leak check stops on
 * them. Scanning the arena as a root makes them reachable again, without suppressing them by a libcrypto
 * frame, which needs a full unwind per malloc (libcrypto has no frame pointers) and ran 4x slower. The
 * arena is the mapping that holds a secure allocation. */
static void register_secure_heap(void)
{
    if (!CRYPTO_secure_malloc_initialized())
        return;
    void *probe = OPENSSL_secure_malloc(1);
    uintptr_t at = (uintptr_t)probe;
    FILE *maps = fopen("/proc/self/maps", "r");
    char line[512];
    while (maps != NULL && probe != NULL && fgets(line, sizeof(line), maps) != NULL) {
        unsigned long lo = 0, hi = 0;
        if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && lo <= at && at < hi) {
            __lsan_register_root_region((const void *)lo, hi - lo);
            break;
        }
    }
    if (maps != NULL)
        fclose(maps);
    OPENSSL_secure_free(probe);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    sr_fuzz_setup();
    register_secure_heap();
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
