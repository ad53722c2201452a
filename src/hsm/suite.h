/*
 * suite.h - the security-world cipher suites Strongroom accepts.
 *
 * Both accepted names give at least 128-bit strength: 3072-bit-class
 * signatures (here ECDSA P-384), SHA-256 and an AES-256 module key.
 * DLf1024s160mRijndael (DSA-1024, SHA-1) is known and refused by name.
 */
#ifndef SR_HSM_SUITE_H
#define SR_HSM_SUITE_H

#include "base/safety.h"

/* The "world" of an HSM region (backend_p11.c): the token guards the keys, the region's identity key in it is
 * ECDSA P-384 with SHA-384, and the KEK package states the KEK's own size. */
#define SR_SUITE_TOKEN "PKCS11-ECDSAP384-SHA384"

struct sr_suite {
    const char *name;
    unsigned strength_bits;
};

/* SR_OK and *ret set; SR_ERR_SUITE_WEAK for the legacy suite; SR_ERR_SUITE_UNKNOWN otherwise. */
SR_MUST_USE enum sr_err sr_suite_lookup(const char *name, const struct sr_suite **ret);

#endif
