/*
 * fuzz_text.c - any bytes a client sends, made into the text the audit log and error messages hold.
 * Target: sr_text_clean (and sr_utf8_sequence under it).
 * Checked against an independent oracle, glibc's iconv: the output is always well-formed UTF-8, holds no
 * control byte, fits its buffer; input that is already clean and fits comes out unchanged.
 */
#include <errno.h>
#include <iconv.h>
#include <stdlib.h>
#include <string.h>

#include "base/text.h"
#include "fuzz.h"

void sr_fuzz_setup(void)
{
    /* A pure function: nothing to set up. */
}

/* Whether iconv takes s as UTF-8 (it refuses overlong forms, surrogates and code points past U+10FFFF). */
static bool sr_iconv_utf8(const char *s, size_t n)
{
    iconv_t cd = iconv_open("UTF-32LE", "UTF-8");
    if (cd == (iconv_t)-1) {
        abort();
    }
    char *in = (char *)s;
    size_t left = n;
    bool ok = true;
    while (ok && left > 0) {
        char out[256];
        char *o = out;
        size_t room = sizeof(out);
        ok = iconv(cd, &in, &left, &o, &room) != (size_t)-1 || errno == E2BIG; /* E2BIG: out is full, go on */
    }
    iconv_close(cd);
    return ok;
}

static bool sr_has_control(const char *s)
{
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f) {
            return true;
        }
    }
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > 4096) {
        return 0;
    }
    /* The first byte chooses the output buffer's size, so that truncation is exercised at every offset. */
    size_t cap = 1 + data[0] % 64;
    char *src = malloc(size);
    char *dst = malloc(cap);
    char *big = malloc(size * 3 + 1);
    if (src == NULL || dst == NULL || big == NULL) {
        abort();
    }
    memcpy(src, data + 1, size - 1);
    src[size - 1] = 0;
    sr_text_clean(dst, cap, src);
    sr_text_clean(big, size * 3 + 1, src);
    if (strlen(dst) >= cap || !sr_iconv_utf8(dst, strlen(dst)) || sr_has_control(dst) ||
        !sr_iconv_utf8(big, strlen(big)) || sr_has_control(big) || strncmp(big, dst, strlen(dst)) != 0) {
        abort();
    }
    size_t srclen = strlen(src);
    if (sr_iconv_utf8(src, srclen) && !sr_has_control(src) && strcmp(big, src) != 0) {
        abort(); /* clean input must pass unchanged */
    }
    free(src);
    free(dst);
    free(big);
    return 0;
}

void sr_fuzz_seeds(struct sr_buf *seeds, size_t *n)
{
    static const char *const inputs[] = {
        "\x20" "plain-key-name", "\x08\xff\xfe", "\x10\xc3\x28\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80",
        "\x05\xe2\x82\xac\xf0\x9f\x94\x91\n\x7f", "\x03\xc3\xa9\xc3\xa9\xc3\xa9", "\x40%00a%FF",
    };
    for (size_t i = 0; i < SR_ARRAY_LEN(inputs); i++) {
        sr_buf_init(&seeds[i], 256, SR_BUF_PLAIN);
        if (sr_buf_append(&seeds[i], inputs[i], strlen(inputs[i])) != SR_OK) {
            abort();
        }
    }
    *n = SR_ARRAY_LEN(inputs);
}
