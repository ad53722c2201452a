/* replay_main.c - runs a harness over its seeds, deterministic mutations of them, and every file of the
 * corpus directory given as its argument (fuzz/corpus/NAME: inputs libFuzzer found, minimised; see fuzz.h). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#define SR_MUTATIONS_PER_SEED 400

static uint64_t sr_next(uint64_t *s)
{
    /* xorshift64*: a fixed sequence, so every run replays the same inputs. */
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

static void sr_mutate(const struct sr_buf *seed, uint64_t *rng, struct sr_buf *out)
{
    sr_buf_release(out);
    sr_buf_init(out, seed->len + 64, SR_BUF_PLAIN);
    if (sr_buf_append(out, seed->data, seed->len) != SR_OK) {
        abort();
    }
    unsigned edits = 1 + (unsigned)(sr_next(rng) % 4);
    for (unsigned e = 0; e < edits && out->len > 0; e++) {
        size_t at = (size_t)(sr_next(rng) % out->len);
        switch (sr_next(rng) % 5) {
        case 0: out->data[at] ^= (uint8_t)(1u << (sr_next(rng) % 8)); break;
        case 1: out->data[at] = (uint8_t)sr_next(rng); break;
        case 2: out->len = at; break;                                      /* truncate */
        case 3: out->data[at] = (uint8_t)"{}[]\",:0x\\"[sr_next(rng) % 10]; break; /* JSON-ish */
        default: if (sr_buf_append(out, "\xff\x00", 2) != SR_OK) { abort(); } break;
        }
    }
}

/* Every regular file of dir, as one input each; the count. */
static size_t sr_replay_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        fprintf(stderr, "replay: no corpus directory %s\n", dir);
        exit(1);
    }
    size_t count = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        FILE *f = e->d_name[0] != '.' ? fopen(path, "rb") : NULL;
        if (f == NULL) {
            continue;
        }
        struct sr_buf in;
        sr_buf_init(&in, 1u << 20, SR_BUF_PLAIN);
        uint8_t block[4096];
        size_t n;
        while ((n = fread(block, 1, sizeof(block), f)) > 0) {
            if (sr_buf_append(&in, block, n) != SR_OK) {
                break; /* over 1 MiB: replayed as far as it goes */
            }
        }
        fclose(f);
        LLVMFuzzerTestOneInput(in.data, in.len);
        sr_buf_release(&in);
        count++;
    }
    closedir(d);
    return count;
}

int main(int argc, char **argv)
{
    struct sr_buf seeds[SR_FUZZ_MAX_SEEDS];
    size_t n = 0;
    sr_fuzz_setup();
    sr_fuzz_seeds(seeds, &n);
    struct sr_buf input;
    sr_buf_init(&input, 0, SR_BUF_PLAIN);
    uint64_t rng = 0x5eed5eed5eedULL;
    size_t runs = 0;
    for (size_t i = 0; i < n; i++) {
        LLVMFuzzerTestOneInput(seeds[i].data, seeds[i].len);
        runs++;
        for (int m = 0; m < SR_MUTATIONS_PER_SEED; m++) {
            sr_mutate(&seeds[i], &rng, &input);
            LLVMFuzzerTestOneInput(input.data, input.len);
            runs++;
        }
        sr_buf_release(&seeds[i]);
    }
    sr_buf_release(&input);
    size_t corpus = argc > 1 ? sr_replay_dir(argv[1]) : 0;
    printf("%s: %zu inputs from %zu seeds and %zu of the corpus, no crash\n", argv[0], runs, n, corpus);
    return n > 0 ? 0 : 1;
}
