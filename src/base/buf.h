/*
 * buf.h - bytes travel in one type, and parsers read through a bounded cursor.
 *
 * struct sr_buf owns its memory, grows up to the maximum given at init and
 * never beyond (SR_ERR_TOO_LARGE). A buffer made with SR_BUF_SECRET lives on
 * OpenSSL's secure heap. sr_buf_release() always wipes before freeing, on
 * every path, and leaves the buffer empty and reusable.
 *
 * struct sr_reader borrows bytes and reads them front to back; every read
 * fails with SR_ERR_TRUNCATED rather than over-reading.
 */
#ifndef SR_BASE_BUF_H
#define SR_BASE_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/safety.h"

#define SR_BUF_PLAIN false
#define SR_BUF_SECRET true

struct sr_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t max;
    bool secret;
};

void sr_buf_init(struct sr_buf *b, size_t max, bool secret);
void sr_buf_release(struct sr_buf *b);
static inline void sr_buf_releasep(struct sr_buf *b)
{
    sr_buf_release(b);
}
#define SR_AUTO_BUF SR_AUTO(sr_buf_releasep)

SR_MUST_USE enum sr_err sr_buf_reserve(struct sr_buf *b, size_t extra);
SR_MUST_USE enum sr_err sr_buf_append(struct sr_buf *b, const void *p, size_t n);
SR_MUST_USE enum sr_err sr_buf_append_str(struct sr_buf *b, const char *s);
SR_MUST_USE enum sr_err sr_buf_append_u32be(struct sr_buf *b, uint32_t v);
/* Appends a terminating NUL that is not counted in len. */
SR_MUST_USE enum sr_err sr_buf_terminate(struct sr_buf *b);

struct sr_reader {
    const uint8_t *data;
    size_t len;
    size_t off;
};

void sr_reader_init(struct sr_reader *r, const uint8_t *data, size_t len);
size_t sr_reader_remaining(const struct sr_reader *r);
SR_MUST_USE enum sr_err sr_reader_u8(struct sr_reader *r, uint8_t *ret);
SR_MUST_USE enum sr_err sr_reader_u32be(struct sr_reader *r, uint32_t *ret);
/* Borrows n bytes: *ret points into the reader's data. */
SR_MUST_USE enum sr_err sr_reader_bytes(struct sr_reader *r, size_t n, const uint8_t **ret);

/* Constant-time equality of two byte strings of the same length. */
bool sr_ct_equal(const void *a, const void *b, size_t n);
/* Wipes memory in a way the compiler cannot drop. */
void sr_wipe(void *p, size_t n);

#endif
