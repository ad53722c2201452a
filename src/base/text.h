/* text.h - hex and small string helpers shared by every layer. */
#ifndef SR_BASE_TEXT_H
#define SR_BASE_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/safety.h"

/* Writes 2*n lowercase hex digits and a NUL; out must hold 2*n+1 bytes. */
void sr_hex_encode(const uint8_t *in, size_t n, char *out);
/* Decodes exactly n bytes from hex, ignoring spaces and colons. */
SR_MUST_USE enum sr_err sr_hex_decode(const char *hex, uint8_t *out, size_t n);
/* SHA-256 fingerprints print as eight groups of eight hex digits. out: 72 bytes. */
void sr_fingerprint_format(const uint8_t hash[32], char out[72]);
/* Parses a decimal unsigned integer that must lie in [min, max]. */
SR_MUST_USE enum sr_err sr_parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *ret);

#endif
