#include "base/text.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

void sr_hex_encode(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = 0;
}

static int sr_hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c = (char)tolower((unsigned char)c);
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

enum sr_err sr_hex_decode(const char *hex, uint8_t *out, size_t n)
{
    size_t got = 0;
    int high = -1;
    for (const char *p = hex; *p; p++) {
        if (*p == ' ' || *p == ':') {
            continue;
        }
        int v = sr_hex_value(*p);
        SR_ENSURE(v >= 0, SR_ERR_MALFORMED);
        if (high < 0) {
            high = v;
            continue;
        }
        SR_ENSURE(got < n, SR_ERR_MALFORMED);
        out[got++] = (uint8_t)(high << 4 | v);
        high = -1;
    }
    SR_ENSURE(high < 0 && got == n, SR_ERR_MALFORMED);
    return SR_OK;
}

void sr_fingerprint_format(const uint8_t hash[32], char out[72])
{
    char hex[65];
    sr_hex_encode(hash, 32, hex);
    size_t o = 0;
    for (size_t i = 0; i < 64; i++) {
        if (i > 0 && i % 8 == 0) {
            out[o++] = ' ';
        }
        out[o++] = hex[i];
    }
    out[o] = 0;
}

enum sr_err sr_parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *ret)
{
    SR_ENSURE(s != NULL && *s >= '0' && *s <= '9', SR_ERR_USAGE);
    errno = 0;
    char *end = NULL;
    unsigned long v = strtoul(s, &end, 10);
    SR_ENSURE(errno == 0 && end != NULL && *end == 0, SR_ERR_USAGE);
    SR_ENSURE(v >= min && v <= max, SR_ERR_USAGE);
    *ret = v;
    return SR_OK;
}
