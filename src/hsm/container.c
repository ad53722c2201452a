#include "hsm/container.h"

#include <string.h>

#include "base/fileio.h"
#include "base/limits.h"
#include "base/text.h"

void sr_container_release(struct sr_container *c)
{
    sr_buf_release(&c->bytes);
    if (c->header != NULL) {
        json_decref(c->header);
        c->header = NULL;
    }
    c->payload = NULL;
    c->payload_len = 0;
}

static enum sr_err sr_container_parse_bytes(struct sr_container *c, const char magic[SR_MAGIC_LEN],
                                            enum sr_err bad)
{
    struct sr_reader r;
    const uint8_t *p = NULL;
    uint32_t hlen = 0;
    uint32_t plen = 0;
    sr_reader_init(&r, c->bytes.data, c->bytes.len);
    SR_ENSURE(sr_reader_bytes(&r, SR_MAGIC_LEN, &p) == SR_OK, bad);
    SR_ENSURE(memcmp(p, magic, SR_MAGIC_LEN) == 0, bad);
    SR_ENSURE(sr_reader_u32be(&r, &hlen) == SR_OK && hlen <= SR_MAX_HEADER, bad);
    SR_ENSURE(sr_reader_bytes(&r, hlen, &p) == SR_OK, bad);
    json_error_t jerr;
    c->header = json_loadb((const char *)p, hlen, JSON_REJECT_DUPLICATES, &jerr);
    SR_ENSURE(c->header != NULL && json_is_object(c->header), bad);
    c->prefix_len = r.off;
    SR_ENSURE(sr_reader_u32be(&r, &plen) == SR_OK && plen <= SR_MAX_PAYLOAD, bad);
    SR_ENSURE(sr_reader_bytes(&r, plen, &c->payload) == SR_OK, bad);
    SR_ENSURE(sr_reader_remaining(&r) == 0, bad);
    c->payload_len = plen;
    return SR_OK;
}

enum sr_err sr_container_parse(const uint8_t *data, size_t len, const char magic[SR_MAGIC_LEN],
                               enum sr_err bad_format, struct sr_container *ret)
{
    struct sr_container c = {0};
    sr_buf_init(&c.bytes, SR_MAX_FILE, SR_BUF_PLAIN);
    enum sr_err r = sr_buf_append(&c.bytes, data, len);
    if (r == SR_OK) {
        r = sr_container_parse_bytes(&c, magic, bad_format);
    }
    if (r != SR_OK) {
        sr_container_release(&c);
        return r == SR_ERR_TOO_LARGE ? bad_format : r;
    }
    *ret = c;
    return SR_OK;
}

enum sr_err sr_container_read(const char *path, const char magic[SR_MAGIC_LEN], enum sr_err bad_format,
                              struct sr_container *ret)
{
    SR_AUTO_BUF struct sr_buf file = {0};
    sr_buf_init(&file, SR_MAX_FILE, SR_BUF_PLAIN);
    enum sr_err r = sr_file_read(path, &file);
    SR_ENSURE(r != SR_ERR_TOO_LARGE, bad_format);
    SR_TRY(r);
    return sr_container_parse(file.data, file.len, magic, bad_format, ret);
}

enum sr_err sr_container_prefix(const char magic[SR_MAGIC_LEN], const json_t *header, struct sr_buf *out)
{
    SR_AUTO_FREE char *text = json_dumps(header, JSON_COMPACT | JSON_SORT_KEYS);
    SR_ENSURE(text != NULL, SR_ERR_NOMEM);
    size_t hlen = strlen(text);
    SR_ENSURE(hlen <= SR_MAX_HEADER, SR_ERR_TOO_LARGE);
    SR_TRY(sr_buf_append(out, magic, SR_MAGIC_LEN));
    SR_TRY(sr_buf_append_u32be(out, (uint32_t)hlen));
    return sr_buf_append(out, text, hlen);
}

enum sr_err sr_container_finish(struct sr_buf *file, const uint8_t *payload, size_t len)
{
    SR_ENSURE(len <= SR_MAX_PAYLOAD, SR_ERR_TOO_LARGE);
    SR_TRY(sr_buf_append_u32be(file, (uint32_t)len));
    return sr_buf_append(file, payload, len);
}

