/*
 * jwt.h - compact JWS/JWT (RFC 7515, 7519) as Strongroom reads and writes them: decoding without trusting,
 * a signature checked with one key under an alg the key fits (so "none", HS256 with a public key as its
 * secret and every alg confusion fail: only RS/PS/ES 256/384/512 exist here), the time claims with a bounded
 * skew, a key picked from a JWKS by kid, and a token's signing input written from JSON. The signature itself
 * is made by whoever holds the key (the module, for the vault's own tokens).
 */
#ifndef SR_CRYPTO_JWT_H
#define SR_CRYPTO_JWT_H

#include <jansson.h>
#include <openssl/evp.h>

#include "base/buf.h"
#include "crypto/pkey.h"

#define SR_JWT_MAX 65536     /* bytes of a compact token */
#define SR_JWT_SKEW 60       /* seconds of tolerance on exp, nbf and iat */

struct sr_jwt {
    json_t *header;
    json_t *claims;
    struct sr_buf sig;
    size_t signed_len; /* "header.payload": the signed bytes, at the token's start */
};

void sr_jwt_release(struct sr_jwt *t);
/* A compact JWS (header.payload.signature) decoded, not yet trusted: both parts JSON objects, no duplicates. */
SR_MUST_USE enum sr_err sr_jwt_parse(const char *token, struct sr_jwt *t);
/* The header's alg, as one of ours (SR_ERR_JWT_ALG for none, HS*, or any other), refused when it does not fit
 * key; then the signature over the token's signing input. SR_ERR_JWT_SIGNATURE when it does not verify. A
 * header with crit (extensions we would have to understand) is refused. */
SR_MUST_USE enum sr_err sr_jwt_verify(const struct sr_jwt *t, const char *token, EVP_PKEY *key);
/* exp present and not past, nbf (if any) reached, within SR_JWT_SKEW of now: SR_ERR_TOKEN_EXPIRED or
 * SR_ERR_JWT_NOT_YET. */
SR_MUST_USE enum sr_err sr_jwt_times(const json_t *claims, long long now);
/* The key of jwks ({"keys": [...]}) with kid, or its only key when kid is NULL: SR_ERR_NOT_FOUND otherwise. */
SR_MUST_USE enum sr_err sr_jwks_key(const json_t *jwks, const char *kid, EVP_PKEY **ret);
/* The same key's JWK, not yet a key (NULL when none, or more than one, matches). */
const json_t *sr_jwks_find(const json_t *jwks, const char *kid);
/* base64url(compact JSON of obj), appended to out, then a '.' when dot. */
SR_MUST_USE enum sr_err sr_b64url_json_append(const json_t *obj, struct sr_buf *out, bool dot);
/* A claim as a string, or NULL when absent or not a string. */
const char *sr_jwt_claim(const json_t *claims, const char *name);
/* aud holds want (a string equal to it, or an array with it). */
bool sr_jwt_aud_has(const json_t *claims, const char *want);

#endif
