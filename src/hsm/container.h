/*
 * container.h - the one on-disk layout of every module file (world, card,
 * key, NVRAM, sealed key). See docs/formats.md.
 *
 *   magic (8 bytes) | u32 BE H | header: H bytes of JSON object | u32 BE P | payload: P bytes | EOF
 *
 * The "prefix" (magic, H and header) is the AAD or MAC input of the payload,
 * so no byte of the file can change without the payload failing to open.
 * The parser reads through a bounded reader and refuses trailing bytes.
 */
#ifndef SR_HSM_CONTAINER_H
#define SR_HSM_CONTAINER_H

#include <jansson.h>

#include "base/buf.h"
#include "base/json.h"

#define SR_MAGIC_LEN 8

struct sr_container {
    struct sr_buf bytes;      /* the whole file */
    json_t *header;           /* owned */
    size_t prefix_len;        /* magic + H + header: what the payload authenticates */
    const uint8_t *payload;   /* borrowed from bytes */
    size_t payload_len;
};

void sr_container_release(struct sr_container *c);
static inline void sr_container_releasep(struct sr_container *c)
{
    sr_container_release(c);
}
#define SR_AUTO_CONTAINER SR_AUTO(sr_container_releasep)

/* Takes ownership of nothing: copies data. bad_format is returned for any malformation. */
SR_MUST_USE enum sr_err sr_container_parse(const uint8_t *data, size_t len, const char magic[SR_MAGIC_LEN],
                                           enum sr_err bad_format, struct sr_container *ret);
SR_MUST_USE enum sr_err sr_container_read(const char *path, const char magic[SR_MAGIC_LEN], enum sr_err bad_format,
                                          struct sr_container *ret);
/* Writes magic, H and the canonical (sorted, compact) header into out: the prefix. */
SR_MUST_USE enum sr_err sr_container_prefix(const char magic[SR_MAGIC_LEN], const json_t *header,
                                            struct sr_buf *out);
/* Appends P and the payload to a prefix, completing the file. */
SR_MUST_USE enum sr_err sr_container_finish(struct sr_buf *file, const uint8_t *payload, size_t len);

#endif
