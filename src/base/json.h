/* json.h - jansson helpers shared by every layer: a cleanup attribute and checked field accessors. */
#ifndef SR_BASE_JSON_H
#define SR_BASE_JSON_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/safety.h"

SR_DEFINE_CLEANUP(sr_json_decrefp, json_t, json_decref)
#define SR_AUTO_JSON SR_AUTO(sr_json_decrefp)

/* Header field accessors: bad_format when absent or of the wrong type. */
SR_MUST_USE enum sr_err sr_json_str(const json_t *obj, const char *key, enum sr_err bad, const char **ret);
SR_MUST_USE enum sr_err sr_json_uint(const json_t *obj, const char *key, enum sr_err bad, unsigned long max,
                                     unsigned long *ret);
/* A string field of fewer than cap bytes, copied into out. */
SR_MUST_USE enum sr_err sr_json_strcpy(const json_t *obj, const char *key, enum sr_err bad, char *out, size_t cap);
/* Reads a field holding hex of exactly n bytes. */
SR_MUST_USE enum sr_err sr_json_hex(const json_t *obj, const char *key, enum sr_err bad, uint8_t *out, size_t n);
/* Sets a field to the hex of n bytes. */
SR_MUST_USE enum sr_err sr_json_set_hex(json_t *obj, const char *key, const uint8_t *in, size_t n);


#endif
