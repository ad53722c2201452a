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

int sr_hex_value(char c)
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

size_t sr_utf8_sequence(const unsigned char *s, size_t n)
{
    if (n == 0) {
        return 0;
    }
    unsigned char c = s[0];
    if (c < 0x80) {
        return 1;
    }
    /* Unicode's table of well-formed sequences: no overlong forms, no surrogates, nothing past U+10FFFF. */
    size_t len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (len == 0 || n < len) {
        return 0;
    }
    unsigned char lo = c == 0xe0 ? 0xa0 : c == 0xf0 ? 0x90 : 0x80;
    unsigned char hi = c == 0xed ? 0x9f : c == 0xf4 ? 0x8f : 0xbf;
    if (s[1] < lo || s[1] > hi) {
        return 0;
    }
    for (size_t i = 2; i < len; i++) {
        if (s[i] < 0x80 || s[i] > 0xbf) {
            return 0;
        }
    }
    return len;
}

void sr_text_clean(char *dst, size_t cap, const char *src)
{
    static const char replacement[] = "\xef\xbf\xbd"; /* U+FFFD */
    size_t o = 0;
    const unsigned char *s = (const unsigned char *)(src != NULL ? src : "");
    size_t n = strlen((const char *)s);
    while (n > 0 && cap > 0) {
        size_t len = sr_utf8_sequence(s, n);
        const char *out = (const char *)s;
        size_t outlen = len;
        if (len == 0) {
            out = replacement;
            outlen = 3;
            len = 1;
        } else if (s[0] < 0x20 || s[0] == 0x7f) {
            out = "?";
        }
        if (o + outlen >= cap) {
            break;
        }
        memcpy(dst + o, out, outlen);
        o += outlen;
        s += len;
        n -= len;
    }
    if (cap > 0) {
        dst[o] = 0;
    }
}

bool sr_text_printable(const char *s)
{
    if (s == NULL || *s == 0) {
        return false;
    }
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e) {
            return false;
        }
    }
    return true;
}
