/*
 * crypto.h - thin wrappers over OpenSSL 3 libcrypto: randomness, hashes,
 * HMAC and CMAC, HKDF, the memory-hard PIN KDF (scrypt) and AEAD (AES-256-GCM).
 *
 * Nothing here invents a primitive; each function is a bounded, checked call
 * into EVP. Keys and outputs are caller-owned; outputs that hold secrets go
 * into buffers the caller made with SR_BUF_SECRET.
 */
#ifndef SR_CRYPTO_CRYPTO_H
#define SR_CRYPTO_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "base/buf.h"
#include "base/limits.h"

#define SR_AEAD_KEY_LEN 32u
#define SR_AEAD_NONCE_LEN 12u
#define SR_AEAD_TAG_LEN 16u
#define SR_AEAD_OVERHEAD (SR_AEAD_NONCE_LEN + SR_AEAD_TAG_LEN)

/* Initialises the secure heap once per process; call before any secret is made. */
/* The secure heap's size and the bytes in use now (both 0 before sr_crypto_init). */
void sr_secure_heap_usage(size_t *ret_size, size_t *ret_used);
SR_MUST_USE enum sr_err sr_crypto_init(void);
/* Frees what the crypto layer fetched once per process: for a library about to be unloaded (C_Finalize),
 * whose statics would otherwise hold the last references. SHA-256 then falls back to EVP_sha256(). */
void sr_crypto_cleanup(void);

SR_MUST_USE enum sr_err sr_rand_bytes(void *out, size_t n);
SR_MUST_USE enum sr_err sr_sha256(const void *data, size_t n, uint8_t out[32]);
/* SHA-256 of a file of any size, read in blocks (a backup's database, a toolset zip). */
/* A digest by OpenSSL's name for it ("SHA256", "SHA384", "SHA512", "SHA1"); out holds EVP_MAX_MD_SIZE bytes. */
SR_MUST_USE enum sr_err sr_digest(const char *md, const void *data, size_t n, uint8_t *out, size_t *ret_len);
/* The same in steps (PKCS#11's C_DigestKey feeds a key into a running digest inside the module): begin, any
 * number of updates, then end, which also frees it; sr_digest_free drops one that is not ended. */
SR_MUST_USE enum sr_err sr_digest_begin(const char *md, EVP_MD_CTX **ret);
SR_MUST_USE enum sr_err sr_digest_update(EVP_MD_CTX *ctx, const void *data, size_t n);
SR_MUST_USE enum sr_err sr_digest_end(EVP_MD_CTX *ctx, uint8_t *out, size_t *ret_len);
void sr_digest_free(EVP_MD_CTX *ctx);
SR_MUST_USE enum sr_err sr_sha256_file(const char *path, uint8_t out[32]);
SR_MUST_USE enum sr_err sr_hmac_sha256(const uint8_t *key, size_t klen, const void *data, size_t n, uint8_t out[32]);
/* PKCS#11's MACs: HMAC over a generic secret key, CMAC over an AES key (its size picks the cipher). */
enum sr_mac_alg { SR_MAC_NONE = 0, SR_MAC_HMAC_SHA1, SR_MAC_HMAC_SHA224, SR_MAC_HMAC_SHA256, SR_MAC_HMAC_SHA384,
                  SR_MAC_HMAC_SHA512, SR_MAC_CMAC_AES };
/* The MAC's full length: the digest's, 16 for CMAC. */
size_t sr_mac_len(enum sr_mac_alg alg);
/* The MAC of data under key, appended to out. */
SR_MUST_USE enum sr_err sr_mac(enum sr_mac_alg alg, const uint8_t *key, size_t klen, const void *data, size_t n,
                               struct sr_buf *out);
/* HKDF-SHA256 with an empty salt: derives a sub-key of ikm for one purpose named by info. */
SR_MUST_USE enum sr_err sr_hkdf_sha256(const uint8_t *ikm, size_t ikmlen, const char *info, uint8_t *out,
                                       size_t outlen);

struct sr_scrypt_params {
    unsigned log2_n;
    unsigned r;
    unsigned p;
};
/* Cost of PIN derivation: 2^15 x 8 x 1 = 32 MiB and tens of ms per guess. */
#define SR_SCRYPT_DEFAULT ((struct sr_scrypt_params){15, 8, 1})
SR_MUST_USE enum sr_err sr_scrypt(const char *pin, size_t pinlen, const uint8_t *salt, size_t saltlen,
                                  struct sr_scrypt_params params, uint8_t out[32]);

/* AES-256-GCM with a fresh random nonce; appends nonce || ciphertext || tag to out. */
SR_MUST_USE enum sr_err sr_aead_seal(const uint8_t key[32], const void *aad, size_t aadlen, const void *pt,
                                     size_t ptlen, struct sr_buf *out);
/* Opens nonce || ciphertext || tag; appends the plaintext to out (make it SR_BUF_SECRET).
 * Any mismatch is SR_ERR_AUTH_FAILED and out is left as it was. */
SR_MUST_USE enum sr_err sr_aead_open(const uint8_t key[32], const void *aad, size_t aadlen, const uint8_t *in,
                                     size_t inlen, struct sr_buf *out);
/* AES-GCM (128/192/256) with an explicit IV: appends the ciphertext to out, the 16-byte tag to tag. */
SR_MUST_USE enum sr_err sr_aes_gcm_encrypt(const uint8_t *key, size_t keylen, const uint8_t *iv, size_t ivlen,
                                           const uint8_t *aad, size_t aadlen, const uint8_t *pt, size_t ptlen,
                                           struct sr_buf *out, uint8_t tag[16]);
/* The raw primitive, for known-answer tests: explicit nonce of any length, tag of tag_len bytes. */
SR_MUST_USE enum sr_err sr_aes_gcm_decrypt(const uint8_t *key, size_t keylen, const uint8_t *iv, size_t ivlen,
                                           const uint8_t *aad, size_t aadlen, const uint8_t *ct, size_t ctlen,
                                           const uint8_t *tag, size_t taglen, struct sr_buf *out);

/* AES key wrap with padding (RFC 5649), AES-128/192/256. unwrap checks the AIV, the length and the
 * zero padding (OpenSSL's id-aes256-wrap-pad); any failure is SR_ERR_AUTH_FAILED. */
SR_MUST_USE enum sr_err sr_aes_kwp_wrap(const uint8_t *key, size_t keylen, const uint8_t *in, size_t inlen,
                                        struct sr_buf *out);
SR_MUST_USE enum sr_err sr_aes_kwp_unwrap(const uint8_t *key, size_t keylen, const uint8_t *in, size_t inlen,
                                          struct sr_buf *out_secret);

/* AES key wrap without padding (RFC 3394): whole 64-bit blocks, at least two; AES-128/192/256. Any unwrap
 * failure is SR_ERR_AUTH_FAILED. */
SR_MUST_USE enum sr_err sr_aes_kw_wrap(const uint8_t *key, size_t keylen, const uint8_t *in, size_t inlen,
                                       struct sr_buf *out);
SR_MUST_USE enum sr_err sr_aes_kw_unwrap(const uint8_t *key, size_t keylen, const uint8_t *in, size_t inlen,
                                         struct sr_buf *out_secret);
/* AES-CBC (128/192/256) with a 16-byte IV, with PKCS#7 padding or on whole blocks; appends to out. Every
 * decryption failure, bad padding included, is the one SR_ERR_AUTH_FAILED (no padding oracle). */
SR_MUST_USE enum sr_err sr_aes_cbc(bool encrypt, bool padded, const uint8_t *key, size_t keylen, const uint8_t iv[16],
                                   const uint8_t *in, size_t inlen, struct sr_buf *out);
/* AES without integrity, for PKCS#11's CKM_AES_ECB (whole blocks, no IV) and CKM_AES_CTR (any length; counter is
 * the initial 16-byte counter block, incremented as one 128-bit number); appends to out. */
enum sr_aes_plain { SR_AES_ECB, SR_AES_CTR };
SR_MUST_USE enum sr_err sr_aes_stream(enum sr_aes_plain mode, bool encrypt, const uint8_t *key, size_t keylen,
                                      const uint8_t counter[16], const uint8_t *in, size_t inlen, struct sr_buf *out);

/* base64 (standard alphabet, padded), as used in file headers. */
SR_MUST_USE enum sr_err sr_base64_encode(const uint8_t *in, size_t n, struct sr_buf *out_text);
SR_MUST_USE enum sr_err sr_base64_decode(const char *text, struct sr_buf *out);

#endif
