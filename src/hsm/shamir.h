/*
 * shamir.h - K-of-N splitting of the world key with libgfshare.
 *
 * libgfshare's random hook is pointed at OpenSSL's RAND_bytes before any
 * split (it is NULL by default). Share i has x-coordinate i (1..N, never 0);
 * the x-coordinate is stored beside each share on its card, since the share
 * bytes do not carry it. Shamir itself cannot tell a wrong share: callers
 * authenticate the result against the world's check value.
 */
#ifndef SR_HSM_SHAMIR_H
#define SR_HSM_SHAMIR_H

#include <stddef.h>
#include <stdint.h>

#include "base/limits.h"
#include "base/safety.h"

#define SR_SHARE_LEN SR_WORLD_KEY_LEN

/* shares: n rows of SR_SHARE_LEN bytes; row i is the share with x = i + 1. */
SR_MUST_USE enum sr_err sr_shamir_split(const uint8_t secret[SR_SHARE_LEN], unsigned k, unsigned n,
                                        uint8_t (*shares)[SR_SHARE_LEN]);
/* count shares with distinct non-zero x; writes the interpolated secret. */
SR_MUST_USE enum sr_err sr_shamir_combine(const uint8_t *xs, const uint8_t (*shares)[SR_SHARE_LEN], unsigned count,
                                          uint8_t secret[SR_SHARE_LEN]);

#endif
