/*
 * fuzz_byok.c - the .byok file a vault receives from a key owner (the import's "key_hsm").
 * Target: sr_byok_parse.
 * The seed is a genuine .byok, so mutations reach every field check.
 */
#include <stdlib.h>
#include <string.h>

#include "byok/byok.h"
#include "fuzz.h"

void sr_fuzz_setup(void)
{
    /* A pure parser: nothing to set up. */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sr_byok b;
    if (sr_byok_parse(data, size, &b) == SR_OK) {
        sr_byok_release(&b);
    }
    return 0;
}

void sr_fuzz_seeds(struct sr_buf *seeds, size_t *n)
{
    struct sr_buf ct;
    sr_buf_init(&ct, 64, SR_BUF_PLAIN);
    if (sr_buf_append(&ct, "0123456789abcdef0123456789abcdef", 32) != SR_OK) {
        abort();
    }
    sr_buf_init(&seeds[0], 4096, SR_BUF_PLAIN);
    if (sr_byok_write("urn:strongroom:kek:EU:1", "strongroom-byok-v1;subscription=s;region=EU;world=00", &ct,
                      &seeds[0]) != SR_OK) {
        abort();
    }
    sr_buf_release(&ct);
    struct sr_byok b;
    if (sr_byok_parse(seeds[0].data, seeds[0].len, &b) != SR_OK) {
        abort(); /* a seed that does not parse would leave the deep checks unexercised */
    }
    sr_byok_release(&b);
    *n = 1;
}
