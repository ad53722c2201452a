#include "base/buf.h"

#include <string.h>

#include <openssl/crypto.h>

void sr_buf_init(struct sr_buf *b, size_t max, bool secret)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
    b->secret = secret;
}

static void sr_buf_free_data(uint8_t *data, size_t cap, bool secret)
{
    if (data == NULL) {
        return;
    }
    if (secret) {
        OPENSSL_secure_clear_free(data, cap);
    } else {
        OPENSSL_clear_free(data, cap);
    }
}

void sr_buf_release(struct sr_buf *b)
{
    sr_buf_free_data(b->data, b->cap, b->secret);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

enum sr_err sr_buf_reserve(struct sr_buf *b, size_t extra)
{
    SR_ENSURE(extra <= b->max && b->len <= b->max - extra, SR_ERR_TOO_LARGE);
    size_t need = b->len + extra + 1; /* room for sr_buf_terminate */
    if (need <= b->cap) {
        return SR_OK;
    }
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) {
        cap *= 2;
    }
    if (cap > b->max + 1) {
        cap = b->max + 1;
    }
    /* Never realloc: the old block must be wiped, which realloc would skip. */
    uint8_t *data = b->secret ? OPENSSL_secure_zalloc(cap) : OPENSSL_zalloc(cap);
    SR_ENSURE(data != NULL, SR_ERR_NOMEM);
    if (b->len > 0) {
        memcpy(data, b->data, b->len);
    }
    sr_buf_free_data(b->data, b->cap, b->secret);
    b->data = data;
    b->cap = cap;
    return SR_OK;
}

enum sr_err sr_buf_append(struct sr_buf *b, const void *p, size_t n)
{
    if (n == 0) {
        return SR_OK;
    }
    SR_TRY(sr_buf_reserve(b, n));
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return SR_OK;
}

enum sr_err sr_buf_append_str(struct sr_buf *b, const char *s)
{
    return sr_buf_append(b, s, strlen(s));
}

enum sr_err sr_buf_append_u32be(struct sr_buf *b, uint32_t v)
{
    uint8_t be[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    return sr_buf_append(b, be, sizeof(be));
}

enum sr_err sr_buf_terminate(struct sr_buf *b)
{
    SR_TRY(sr_buf_reserve(b, 0));
    b->data[b->len] = 0;
    return SR_OK;
}

void sr_reader_init(struct sr_reader *r, const uint8_t *data, size_t len)
{
    r->data = data;
    r->len = len;
    r->off = 0;
}

size_t sr_reader_remaining(const struct sr_reader *r)
{
    return r->len - r->off;
}

enum sr_err sr_reader_bytes(struct sr_reader *r, size_t n, const uint8_t **ret)
{
    SR_ENSURE(n <= sr_reader_remaining(r), SR_ERR_TRUNCATED);
    *ret = r->data + r->off;
    r->off += n;
    return SR_OK;
}

enum sr_err sr_reader_u8(struct sr_reader *r, uint8_t *ret)
{
    const uint8_t *p;
    SR_TRY(sr_reader_bytes(r, 1, &p));
    *ret = p[0];
    return SR_OK;
}

enum sr_err sr_reader_u32be(struct sr_reader *r, uint32_t *ret)
{
    const uint8_t *p;
    SR_TRY(sr_reader_bytes(r, 4, &p));
    *ret = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
    return SR_OK;
}

bool sr_ct_equal(const void *a, const void *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}

void sr_wipe(void *p, size_t n)
{
    if (p != NULL && n > 0) {
        OPENSSL_cleanse(p, n);
    }
}
