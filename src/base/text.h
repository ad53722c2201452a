/* text.h - hex and small string helpers shared by every layer. */
#ifndef SR_BASE_TEXT_H
#define SR_BASE_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/safety.h"

/* Writes 2*n lowercase hex digits and a NUL; out must hold 2*n+1 bytes. */
void sr_hex_encode(const uint8_t *in, size_t n, char *out);
/* A hex digit's value, or -1. */
int sr_hex_value(char c);
/* Decodes exactly n bytes from hex, ignoring spaces and colons. */
SR_MUST_USE enum sr_err sr_hex_decode(const char *hex, uint8_t *out, size_t n);
/* SHA-256 fingerprints print as eight groups of eight hex digits. out: 72 bytes. */
void sr_fingerprint_format(const uint8_t hash[32], char out[72]);
/* The length (1 to 4) of the well-formed UTF-8 sequence at s (at most n bytes), or 0 when there is none. */
size_t sr_utf8_sequence(const unsigned char *s, size_t n);
/*
 * Copies src into dst (cap bytes, its NUL included) as well-formed UTF-8 that holds no control character:
 * each byte that starts no well-formed sequence becomes U+FFFD, each control character (below 0x20, 0x7f)
 * '?'. Nothing is cut inside a sequence. Every string from outside passes here before it is stored or echoed.
 */
void sr_text_clean(char *dst, size_t cap, const char *src);
/* Whether s is printable ASCII (0x20 to 0x7e) and not empty: what a header may echo. */
bool sr_text_printable(const char *s);
/* Parses a decimal unsigned integer that must lie in [min, max]. */
SR_MUST_USE enum sr_err sr_parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *ret);

#endif
