/*
 * jwk.h - JSON Web Keys (RFC 7517/7518) and base64url (RFC 4648 §5, no padding),
 * as Key Vault puts them on the wire. EC coordinates are always fixed length
 * (32/48/66 bytes); RSA n is unsigned big-endian without leading zeros.
 * sr_jwk_private_to_pkey() builds a private key from a JWK: only hsm/ calls it.
 */
#ifndef SR_CRYPTO_JWK_H
#define SR_CRYPTO_JWK_H

#include <jansson.h>
#include <openssl/evp.h>

#include "base/buf.h"

SR_MUST_USE enum sr_err sr_b64url_encode(const uint8_t *in, size_t n, struct sr_buf *out_text);
/* Strict: alphabet A-Z a-z 0-9 - _, no padding, no whitespace (padding '=' is tolerated at the end). */
SR_MUST_USE enum sr_err sr_b64url_decode(const char *text, struct sr_buf *out);
/* Standard base64 (RFC 4648 section 4: '+', '/', padded), as az writes a file's bytes into a secret. */
SR_MUST_USE enum sr_err sr_b64_encode(const uint8_t *in, size_t n, struct sr_buf *out_text);
SR_MUST_USE enum sr_err sr_b64_decode(const char *text, struct sr_buf *out);
/* Sets obj[name] to the base64url text of p[0..n). */
SR_MUST_USE enum sr_err sr_json_set_b64url(json_t *obj, const char *name, const uint8_t *p, size_t n);
/* Sets kty-dependent public members (n, e or crv, x, y) on jwk. */
SR_MUST_USE enum sr_err sr_jwk_set_public(json_t *jwk, const EVP_PKEY *key);
/* Public key from a JWK's public members. */
SR_MUST_USE enum sr_err sr_jwk_public_to_pkey(const json_t *jwk, EVP_PKEY **ret);
/* Private key from a JWK (RSA: n e d p q dp dq qi; EC: crv x y d). Checks the key's consistency. */
SR_MUST_USE enum sr_err sr_jwk_private_to_pkey(const json_t *jwk, EVP_PKEY **ret);

#endif
