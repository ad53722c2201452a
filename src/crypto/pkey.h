/*
 * pkey.h - asymmetric keys through OpenSSL's EVP_PKEY: generation, encodings
 * (PKCS#8 for the private half, SubjectPublicKeyInfo for the public half),
 * signatures with JOSE algorithm names, and X.509 certificates for the
 * manufacturer root and module warrants.
 *
 * Private encodings are written only into SR_BUF_SECRET buffers; only hsm/
 * calls the private-key functions.
 */
#ifndef SR_CRYPTO_PKEY_H
#define SR_CRYPTO_PKEY_H

#include <stdbool.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "base/buf.h"

/* AES keys (Key Vault's oct) live only in the module layer: no EVP_PKEY, no public half. */
/* SR_KEY_GENERIC: a generic secret (PKCS#11's CKK_GENERIC_SECRET), the key of an HMAC; made through the
 * PKCS#11 library only. */
enum sr_key_type { SR_KEY_NONE = 0, SR_KEY_RSA = 1, SR_KEY_EC = 2, SR_KEY_AES = 3, SR_KEY_GENERIC = 4 };
/* A secret key (its bytes are the key file's payload): AES or generic. */
static inline bool sr_key_type_secret(enum sr_key_type t)
{
    return t == SR_KEY_AES || t == SR_KEY_GENERIC;
}
#define SR_GENERIC_MIN_BITS 112  /* HMAC keys: 14 to 128 bytes */
#define SR_GENERIC_MAX_BITS 1024

enum sr_curve { SR_CURVE_NONE = 0, SR_CURVE_P256, SR_CURVE_P384, SR_CURVE_P521, SR_CURVE_P256K };

struct sr_key_spec {
    enum sr_key_type type;
    unsigned bits;          /* RSA: 2048, 3072, 4096; AES: 128, 192, 256 */
    enum sr_curve curve;    /* EC */
    unsigned long pubexp;   /* RSA: 65537 unless given */
};
/* "RSA", "EC", "AES", "GENERIC" (a key file's type field). */
const char *sr_key_type_name(enum sr_key_type t);
/* Whether a secret key's size fits its type: AES 128, 192, 256 bits; generic 112 to 1024, whole bytes. */
bool sr_secret_size_ok(const struct sr_key_spec *spec);

enum sr_sign_alg {
    SR_ALG_NONE = 0,
    SR_ALG_RS256, SR_ALG_RS384, SR_ALG_RS512,
    SR_ALG_PS256, SR_ALG_PS384, SR_ALG_PS512,
    SR_ALG_ES256, SR_ALG_ES384, SR_ALG_ES512,
    SR_ALG_ES256K,
    /* PKCS#11 only (Key Vault's API has no such algorithm: sr_sign_alg_parse does not know them). SHA-1 ones
     * verify old signatures and never sign. */
    SR_ALG_RS1, SR_ALG_RS224, SR_ALG_PS1, SR_ALG_PS224,
};

/* Signature encodings: DER is what `openssl dgst -verify` takes for ECDSA; JOSE wants raw r||s. */
enum sr_sig_format { SR_SIG_DER, SR_SIG_RAW };

const char *sr_curve_name(enum sr_curve c);       /* "P-256" ... (JOSE's names; secp256k1 is "P-256K") */
const char *sr_curve_ossl_name(enum sr_curve c);  /* OpenSSL's group name, NULL if not a curve we make */
size_t sr_curve_coord_len(enum sr_curve c);       /* bytes per coordinate (32, 48, 66), 0 if unknown */
/* ECDSA's coordinate length for alg (ES256/ES256K 32, ES384 48, ES512 66), 0 for RSA algorithms. */
size_t sr_sign_alg_coord_len(enum sr_sign_alg alg);
SR_MUST_USE enum sr_err sr_curve_parse(const char *name, enum sr_curve *ret);
const char *sr_sign_alg_name(enum sr_sign_alg a);
SR_MUST_USE enum sr_err sr_sign_alg_parse(const char *name, enum sr_sign_alg *ret);
/* SR_OK when alg can be used with key (RS/PS with RSA, ESxxx with its curve). */
SR_MUST_USE enum sr_err sr_sign_alg_fits(enum sr_sign_alg alg, const EVP_PKEY *key);
/* The same for a key known by its type and curve (a token's key, described by its reference). */
SR_MUST_USE enum sr_err sr_sign_alg_fits_spec(enum sr_sign_alg alg, const struct sr_key_spec *spec);
/* Digest length that alg signs over (32, 48, 64). */
size_t sr_sign_alg_digest_len(enum sr_sign_alg alg);
/* ECDSA signatures between JOSE's r||s (coord bytes each: 32, 48, 66) and DER, as openssl dgst takes them. */
SR_MUST_USE enum sr_err sr_ecdsa_der_to_raw(const uint8_t *der, size_t len, size_t coord, struct sr_buf *out);
SR_MUST_USE enum sr_err sr_ecdsa_raw_to_der(const uint8_t *raw, size_t len, size_t coord, struct sr_buf *out);

SR_MUST_USE enum sr_err sr_pkey_generate(const struct sr_key_spec *spec, EVP_PKEY **ret);
SR_MUST_USE enum sr_err sr_pkey_describe(const EVP_PKEY *key, struct sr_key_spec *ret);

SR_MUST_USE enum sr_err sr_pkey_private_to_pkcs8(EVP_PKEY *key, struct sr_buf *out_secret);
SR_MUST_USE enum sr_err sr_pkey_private_from_pkcs8(const uint8_t *der, size_t len, EVP_PKEY **ret);
SR_MUST_USE enum sr_err sr_pkey_public_to_spki(const EVP_PKEY *key, struct sr_buf *out);
SR_MUST_USE enum sr_err sr_pkey_public_from_spki(const uint8_t *der, size_t len, EVP_PKEY **ret);
SR_MUST_USE enum sr_err sr_pkey_public_to_pem(const EVP_PKEY *key, struct sr_buf *out_text);
/* A public key from PEM ("BEGIN PUBLIC KEY"); SR_ERR_MALFORMED if it is none. */
SR_MUST_USE enum sr_err sr_pkey_public_from_pem(const uint8_t *pem, size_t len, EVP_PKEY **ret);
/* The named curve's OID, DER (PKCS#11's CKA_EC_PARAMS). Appended to out. */
SR_MUST_USE enum sr_err sr_curve_oid_der(enum sr_curve c, struct sr_buf *out);
/* SHA-256 over the DER SubjectPublicKeyInfo: the key hash and the root fingerprint. */
SR_MUST_USE enum sr_err sr_pkey_public_hash(const EVP_PKEY *key, uint8_t out[32]);

/* Hashes msg with alg's digest and signs it. */
SR_MUST_USE enum sr_err sr_pkey_sign_message(EVP_PKEY *key, enum sr_sign_alg alg, const void *msg, size_t len,
                                             enum sr_sig_format fmt, struct sr_buf *out_sig);
/* SR_OK or SR_ERR_BAD_SIGNATURE. */
SR_MUST_USE enum sr_err sr_pkey_verify_message(EVP_PKEY *key, enum sr_sign_alg alg, const void *msg, size_t len,
                                               enum sr_sig_format fmt, const uint8_t *sig, size_t siglen);

/* PKCS#11's public key attributes: RSA's modulus and public exponent (unsigned big-endian), EC's parameters
 * (the named curve's OID, DER) and point (DER OCTET STRING of the uncompressed point). Appended to out. */
enum sr_pub_part { SR_PUB_RSA_N, SR_PUB_RSA_E, SR_PUB_EC_PARAMS, SR_PUB_EC_POINT };
SR_MUST_USE enum sr_err sr_pkey_public_part(const EVP_PKEY *key, enum sr_pub_part part, struct sr_buf *out);
/* The curve that EC parameters (a DER OID) name; SR_ERR_KEY_TYPE for any other. */
SR_MUST_USE enum sr_err sr_curve_from_oid_der(const uint8_t *der, size_t len, enum sr_curve *ret);
/* ECDH: the shared secret (the x-coordinate, as many bytes as the curve's) of priv and a peer's public key on
 * the same curve, appended to out (SR_BUF_SECRET). */
SR_MUST_USE enum sr_err sr_pkey_ecdh(EVP_PKEY *priv, EVP_PKEY *peer, struct sr_buf *out_secret);
/* PKCS#11's unhashed mechanisms: CKM_RSA_PKCS (PKCS#1 v1.5 type 1 over the caller's DigestInfo, no hash
 * added) and CKM_ECDSA (over a digest of any length, truncated as ECDSA does; r||s out). */
SR_MUST_USE enum sr_err sr_pkey_sign_unhashed(EVP_PKEY *key, const uint8_t *in, size_t n, struct sr_buf *out_sig);
SR_MUST_USE enum sr_err sr_pkey_verify_unhashed(EVP_PKEY *key, const uint8_t *in, size_t n, const uint8_t *sig,
                                                size_t siglen);
SR_MUST_USE enum sr_err sr_pkey_verify_digest(EVP_PKEY *key, enum sr_sign_alg alg, const uint8_t *digest, size_t dlen,
                                              enum sr_sig_format fmt, const uint8_t *sig, size_t siglen);
/*
 * Signs a digest the caller computed (Key Vault's sign takes the digest; its length must fit alg) in two
 * steps, as openssl speed signs: a context made once for (key, alg), then any number of signatures with
 * it, by one thread at a time. The context holds its own reference to the key.
 */
SR_MUST_USE enum sr_err sr_pkey_sign_ctx(EVP_PKEY *key, enum sr_sign_alg alg, EVP_PKEY_CTX **ret);
SR_MUST_USE enum sr_err sr_pkey_sign_prepared(EVP_PKEY_CTX *ctx, enum sr_sign_alg alg, const uint8_t *digest,
                                              size_t dlen, enum sr_sig_format fmt, struct sr_buf *out_sig);

/* SR_ENC_RSA_OAEP_384 only wraps a released key (RSA_AES_KEY_WRAP_384): Key Vault's encrypt has no such
 * algorithm, so sr_enc_alg_parse does not know its name. */
enum sr_enc_alg { SR_ENC_NONE = 0, SR_ENC_RSA_OAEP, SR_ENC_RSA_OAEP_256, SR_ENC_RSA1_5, SR_ENC_RSA_OAEP_384 };
const char *sr_enc_alg_name(enum sr_enc_alg a);
SR_MUST_USE enum sr_err sr_enc_alg_parse(const char *name, enum sr_enc_alg *ret);
/* RSA public-key encryption (any of the three paddings). */
SR_MUST_USE enum sr_err sr_pkey_encrypt(EVP_PKEY *key, enum sr_enc_alg alg, const uint8_t *pt, size_t ptlen,
                                        struct sr_buf *out);
/* RSA-OAEP decryption only: RSA1_5 is SR_ERR_RSA15_DECRYPT (no implicit rejection in OpenSSL 3.0, so
 * it would be a padding oracle). Every OAEP failure is the one code SR_ERR_DECRYPT_FAILED. */
SR_MUST_USE enum sr_err sr_pkey_decrypt(EVP_PKEY *key, enum sr_enc_alg alg, const uint8_t *ct, size_t ctlen,
                                        struct sr_buf *out);

/* RSA-OAEP with SHA-1 (MGF1-SHA-1) and a label, as CKM_RSA_AES_KEY_WRAP uses it for BYOK. The label binds
 * the ciphertext to a context; decryption fails (one error) under any other label. */
SR_MUST_USE enum sr_err sr_pkey_oaep_sha1_encrypt(EVP_PKEY *key, const uint8_t *label, size_t label_len,
                                                  const uint8_t *pt, size_t ptlen, struct sr_buf *out);
SR_MUST_USE enum sr_err sr_pkey_oaep_sha1_decrypt(EVP_PKEY *key, const uint8_t *label, size_t label_len,
                                                  const uint8_t *ct, size_t ctlen, struct sr_buf *out_secret);

/* X.509: a self-signed CA certificate (the root) and one it issues (a warrant). */
SR_MUST_USE enum sr_err sr_x509_self_signed(EVP_PKEY *key, const char *common_name, unsigned days, X509 **ret);
/* san, when not NULL, makes a TLS server certificate (e.g. "DNS:localhost,DNS:*.localhost,IP:127.0.0.1"). */
SR_MUST_USE enum sr_err sr_x509_issue(EVP_PKEY *issuer_key, X509 *issuer_cert, const EVP_PKEY *subject_pub,
                                      const char *common_name, const char *san, unsigned days, X509 **ret);
/* PEM of a private key, into a secret buffer (for a TLS library that takes PEM in memory). */
SR_MUST_USE enum sr_err sr_pkey_private_to_pem(EVP_PKEY *key, struct sr_buf *out_secret);
SR_MUST_USE enum sr_err sr_x509_to_pem(X509 *cert, struct sr_buf *out_text);
SR_MUST_USE enum sr_err sr_x509_from_pem(const uint8_t *pem, size_t len, X509 **ret);
/* Checks cert's signature by issuer_pub (SR_ERR_BAD_SIGNATURE on mismatch). */
SR_MUST_USE enum sr_err sr_x509_check_signed_by(X509 *cert, EVP_PKEY *issuer_pub);
/* A certificate's thumbprints as JOSE names them (x5t: SHA-1 of the DER, x5t#S256: SHA-256), its notAfter
 * (Unix time) and its subject (one line, RFC 2253). */
SR_MUST_USE enum sr_err sr_x509_describe(X509 *cert, uint8_t sha1[20], uint8_t sha256[32], long long *not_after,
                                         char *subject, size_t cap);

#endif
