/* ecder.h - EC keys' SubjectPublicKeyInfo and PKCS#8 DER without OpenSSL 3.0's costly encoders (pkey.c's). */
#ifndef SR_CRYPTO_ECDER_H
#define SR_CRYPTO_ECDER_H

#include <openssl/evp.h>

#include "base/buf.h"
#include "base/err.h"

/* An EC key on the curve curve_nid; the bytes are those of i2d_PUBKEY. */
SR_MUST_USE enum sr_err sr_ec_spki(const EVP_PKEY *key, int curve_nid, struct sr_buf *out);
/* The same for PKCS#8 (as EVP_PKEY2PKCS8 + i2d; the scalar is scalar_len bytes), into a secret buffer. */
SR_MUST_USE enum sr_err sr_ec_pkcs8(const EVP_PKEY *key, int curve_nid, size_t scalar_len, struct sr_buf *out_secret);

#endif
