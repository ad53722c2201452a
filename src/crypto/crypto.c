#include "crypto/crypto.h"

#include <pthread.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "crypto/ossl.h"

/* 1 MiB holds every secret Strongroom keeps at once: a few RSA-4096 keys and their PKCS#8 forms. */
#define SR_SECURE_HEAP_SIZE (1u << 20)
#define SR_SECURE_HEAP_MIN 32

enum sr_err sr_crypto_init(void)
{
    if (CRYPTO_secure_malloc_initialized()) {
        return SR_OK;
    }
    /* 0 = failed; 2 = works without mlock (e.g. RLIMIT_MEMLOCK); both 1 and 2 are usable. */
    SR_ENSURE(CRYPTO_secure_malloc_init(SR_SECURE_HEAP_SIZE, SR_SECURE_HEAP_MIN) != 0, SR_ERR_CRYPTO);
    return SR_OK;
}

void sr_secure_heap_usage(size_t *ret_size, size_t *ret_used)
{
    bool on = CRYPTO_secure_malloc_initialized();
    *ret_size = on ? SR_SECURE_HEAP_SIZE : 0;
    *ret_used = on ? CRYPTO_secure_used() : 0;
}

enum sr_err sr_rand_bytes(void *out, size_t n)
{
    SR_ENSURE(n <= 1u << 20, SR_ERR_TOO_LARGE);
    SR_ENSURE(RAND_bytes(out, (int)n) == 1, SR_ERR_CRYPTO);
    return SR_OK;
}

/*
 * SHA-256 fetched from the provider once per process, as OpenSSL's guide to performance advises: the
 * implicit fetch behind EVP_sha256() costs more than hashing a token. Written once (pthread_once), then
 * only read: an immutable handle, not state.
 */
static pthread_once_t sr_sha256_once = PTHREAD_ONCE_INIT;
static EVP_MD *sr_sha256_md;

static void sr_sha256_fetch(void)
{
    sr_sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

void sr_crypto_cleanup(void)
{
    (void)pthread_once(&sr_sha256_once, sr_sha256_fetch); /* so that no fetch can follow the free */
    EVP_MD_free(sr_sha256_md);
    sr_sha256_md = NULL;
}

enum sr_err sr_digest(const char *md, const void *data, size_t n, uint8_t *out, size_t *ret_len)
{
    SR_AUTO(sr_EVP_MD_freep) EVP_MD *m = EVP_MD_fetch(NULL, md, NULL);
    SR_ENSURE(m != NULL, SR_ERR_ALG);
    unsigned int len = 0;
    SR_ENSURE(EVP_Digest(data, n, out, &len, m, NULL) == 1, SR_ERR_CRYPTO);
    *ret_len = len;
    return SR_OK;
}

enum sr_err sr_digest_begin(const char *md, EVP_MD_CTX **ret)
{
    SR_AUTO(sr_EVP_MD_freep) EVP_MD *m = EVP_MD_fetch(NULL, md, NULL);
    SR_ENSURE(m != NULL, SR_ERR_ALG);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    SR_ENSURE(ctx != NULL, SR_ERR_NOMEM);
    if (EVP_DigestInit_ex(ctx, m, NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        return SR_ERR_CRYPTO;
    }
    *ret = ctx;
    return SR_OK;
}

enum sr_err sr_digest_update(EVP_MD_CTX *ctx, const void *data, size_t n)
{
    SR_ENSURE(EVP_DigestUpdate(ctx, data, n) == 1, SR_ERR_CRYPTO);
    return SR_OK;
}

enum sr_err sr_digest_end(EVP_MD_CTX *ctx, uint8_t *out, size_t *ret_len)
{
    unsigned int len = 0;
    int ok = EVP_DigestFinal_ex(ctx, out, &len);
    EVP_MD_CTX_free(ctx);
    SR_ENSURE(ok == 1, SR_ERR_CRYPTO);
    *ret_len = len;
    return SR_OK;
}

void sr_digest_free(EVP_MD_CTX *ctx)
{
    EVP_MD_CTX_free(ctx); /* its state may hold what a key gave it: OpenSSL cleanses it on free */
}

enum sr_err sr_sha256(const void *data, size_t n, uint8_t out[32])
{
    unsigned int len = 0;
    (void)pthread_once(&sr_sha256_once, sr_sha256_fetch);
    const EVP_MD *md = sr_sha256_md != NULL ? sr_sha256_md : EVP_sha256();
    SR_ENSURE(EVP_Digest(data, n, out, &len, md, NULL) == 1 && len == 32, SR_ERR_CRYPTO);
    return SR_OK;
}

enum sr_err sr_sha256_file(const char *path, uint8_t out[32])
{
    FILE *f = fopen(path, "rb");
    SR_ENSURE(f != NULL, SR_ERR_IO);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;
    uint8_t block[65536];
    size_t n;
    while (ok && (n = fread(block, 1, sizeof(block), f)) > 0) {
        ok = EVP_DigestUpdate(ctx, block, n) == 1;
    }
    ok = ok && !ferror(f);
    unsigned int len = 0;
    ok = ok && EVP_DigestFinal_ex(ctx, out, &len) == 1 && len == 32;
    EVP_MD_CTX_free(ctx);
    fclose(f);
    return ok ? SR_OK : SR_ERR_IO;
}

static const struct {
    enum sr_mac_alg alg;
    const char *mac, *digest;
    size_t len;
} sr_macs[] = {
    {SR_MAC_HMAC_SHA1, "HMAC", "SHA1", 20},     {SR_MAC_HMAC_SHA224, "HMAC", "SHA224", 28},
    {SR_MAC_HMAC_SHA256, "HMAC", "SHA256", 32}, {SR_MAC_HMAC_SHA384, "HMAC", "SHA384", 48},
    {SR_MAC_HMAC_SHA512, "HMAC", "SHA512", 64}, {SR_MAC_CMAC_AES, "CMAC", NULL, 16},
};

size_t sr_mac_len(enum sr_mac_alg alg)
{
    for (size_t i = 0; i < SR_ARRAY_LEN(sr_macs); i++) {
        if (sr_macs[i].alg == alg) {
            return sr_macs[i].len;
        }
    }
    return 0;
}

enum sr_err sr_mac(enum sr_mac_alg alg, const uint8_t *key, size_t klen, const void *data, size_t n, struct sr_buf *out)
{
    size_t i = 0;
    while (i < SR_ARRAY_LEN(sr_macs) && sr_macs[i].alg != alg) {
        i++;
    }
    SR_ENSURE(i < SR_ARRAY_LEN(sr_macs), SR_ERR_ALG);
    const char *cipher = klen == 16 ? "AES-128-CBC" : klen == 24 ? "AES-192-CBC" : klen == 32 ? "AES-256-CBC" : NULL;
    bool cmac = sr_macs[i].digest == NULL;
    SR_ENSURE(!cmac || cipher != NULL, SR_ERR_KEY_TYPE);
    SR_AUTO(sr_EVP_MAC_freep) EVP_MAC *mac = EVP_MAC_fetch(NULL, sr_macs[i].mac, NULL);
    SR_ENSURE(mac != NULL, SR_ERR_CRYPTO);
    SR_AUTO(sr_EVP_MAC_CTX_freep) EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(mac);
    SR_ENSURE(ctx != NULL, SR_ERR_CRYPTO);
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(cmac ? OSSL_MAC_PARAM_CIPHER : OSSL_MAC_PARAM_DIGEST,
                                         (char *)(cmac ? cipher : sr_macs[i].digest), 0),
        OSSL_PARAM_construct_end()};
    size_t len = 0;
    SR_TRY(sr_buf_reserve(out, sr_macs[i].len));
    SR_ENSURE(EVP_MAC_init(ctx, key, klen, params) == 1, SR_ERR_CRYPTO);
    SR_ENSURE(EVP_MAC_update(ctx, data, n) == 1, SR_ERR_CRYPTO);
    SR_ENSURE(EVP_MAC_final(ctx, out->data + out->len, &len, sr_macs[i].len) == 1 && len == sr_macs[i].len,
              SR_ERR_CRYPTO);
    out->len += len;
    return SR_OK;
}

enum sr_err sr_hmac_sha256(const uint8_t *key, size_t klen, const void *data, size_t n, uint8_t out[32])
{
    SR_AUTO_BUF struct sr_buf mac = {0};
    sr_buf_init(&mac, 32, SR_BUF_SECRET);
    SR_TRY(sr_mac(SR_MAC_HMAC_SHA256, key, klen, data, n, &mac));
    memcpy(out, mac.data, 32);
    return SR_OK;
}

static enum sr_err sr_kdf_derive(const char *name, OSSL_PARAM *params, uint8_t *out, size_t outlen)
{
    SR_AUTO(sr_EVP_KDF_freep) EVP_KDF *kdf = EVP_KDF_fetch(NULL, name, NULL);
    SR_ENSURE(kdf != NULL, SR_ERR_CRYPTO);
    SR_AUTO(sr_EVP_KDF_CTX_freep) EVP_KDF_CTX *ctx = EVP_KDF_CTX_new(kdf);
    SR_ENSURE(ctx != NULL, SR_ERR_CRYPTO);
    SR_ENSURE(EVP_KDF_derive(ctx, out, outlen, params) == 1, SR_ERR_CRYPTO);
    return SR_OK;
}

enum sr_err sr_hkdf_sha256(const uint8_t *ikm, size_t ikmlen, const char *info, uint8_t *out, size_t outlen)
{
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikmlen),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, strlen(info)),
        OSSL_PARAM_construct_end(),
    };
    return sr_kdf_derive("HKDF", params, out, outlen);
}

enum sr_err sr_scrypt(const char *pin, size_t pinlen, const uint8_t *salt, size_t saltlen,
                      struct sr_scrypt_params sp, uint8_t out[32])
{
    SR_ENSURE(sp.log2_n >= 10 && sp.log2_n <= 20 && sp.r >= 1 && sp.r <= 32 && sp.p >= 1 && sp.p <= 4,
              SR_ERR_MALFORMED);
    uint64_t n = (uint64_t)1 << sp.log2_n;
    uint32_t r = sp.r;
    uint32_t p = sp.p;
    uint64_t maxmem = 256u * 1024u * 1024u;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, (void *)pin, pinlen),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, saltlen),
        OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
        OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r),
        OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p),
        OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem),
        OSSL_PARAM_construct_end(),
    };
    return sr_kdf_derive("SCRYPT", params, out, 32);
}

static enum sr_err sr_gcm_init(EVP_CIPHER_CTX *ctx, int enc, const uint8_t *key, size_t keylen, const uint8_t *iv,
                               size_t ivlen)
{
    const EVP_CIPHER *cipher = keylen == 16 ? EVP_aes_128_gcm() : keylen == 24 ? EVP_aes_192_gcm()
                               : keylen == 32 ? EVP_aes_256_gcm() : NULL;
    /* OpenSSL caps GCM IVs at 128 bytes; Strongroom itself only ever uses 12. */
    SR_ENSURE(cipher != NULL && ivlen > 0 && ivlen <= 128, SR_ERR_MALFORMED);
    SR_ENSURE(EVP_CipherInit_ex(ctx, cipher, NULL, NULL, NULL, enc) == 1, SR_ERR_CRYPTO);
    SR_ENSURE(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, (int)ivlen, NULL) == 1, SR_ERR_CRYPTO);
    SR_ENSURE(EVP_CipherInit_ex(ctx, NULL, NULL, key, iv, enc) == 1, SR_ERR_CRYPTO);
    return SR_OK;
}

enum sr_err sr_aes_gcm_encrypt(const uint8_t *key, size_t keylen, const uint8_t *iv, size_t ivlen, const uint8_t *aad,
                               size_t aadlen, const uint8_t *pt, size_t ptlen, struct sr_buf *out,
                               uint8_t tag[SR_AEAD_TAG_LEN])
{
    SR_ENSURE(ptlen <= INT32_MAX && aadlen <= INT32_MAX, SR_ERR_TOO_LARGE);
    SR_AUTO(sr_EVP_CIPHER_CTX_freep) EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    SR_ENSURE(ctx != NULL, SR_ERR_NOMEM);
    SR_TRY(sr_gcm_init(ctx, 1, key, keylen, iv, ivlen));
    SR_TRY(sr_buf_reserve(out, ptlen + 16));
    int n = 0;
    if (aadlen > 0) {
        SR_ENSURE(EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aadlen) == 1, SR_ERR_CRYPTO);
    }
    uint8_t *ct = out->data + out->len;
    n = 0;
    SR_ENSURE(EVP_EncryptUpdate(ctx, ct, &n, pt, (int)ptlen) == 1, SR_ERR_CRYPTO);
    int fin = 0;
    SR_ENSURE(EVP_EncryptFinal_ex(ctx, ct + n, &fin) == 1, SR_ERR_CRYPTO);
    SR_ENSURE((size_t)n + (size_t)fin == ptlen, SR_ERR_INTERNAL);
    SR_ENSURE(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, SR_AEAD_TAG_LEN, tag) == 1, SR_ERR_CRYPTO);
    out->len += ptlen;
    return SR_OK;
}

enum sr_err sr_aead_seal(const uint8_t key[32], const void *aad, size_t aadlen, const void *pt, size_t ptlen,
                         struct sr_buf *out)
{
    uint8_t nonce[SR_AEAD_NONCE_LEN], tag[SR_AEAD_TAG_LEN];
    SR_TRY(sr_rand_bytes(nonce, sizeof(nonce)));
    size_t start = out->len;
    SR_TRY(sr_buf_reserve(out, SR_AEAD_OVERHEAD + ptlen));
    SR_TRY(sr_buf_append(out, nonce, sizeof(nonce)));
    enum sr_err r = sr_aes_gcm_encrypt(key, 32, nonce, sizeof(nonce), aad, aadlen, pt, ptlen, out, tag);
    if (r == SR_OK) {
        r = sr_buf_append(out, tag, sizeof(tag));
    }
    if (r != SR_OK) {
        out->len = start;
        return r;
    }
    return SR_OK;
}

enum sr_err sr_aes_gcm_decrypt(const uint8_t *key, size_t keylen, const uint8_t *iv, size_t ivlen,
                               const uint8_t *aad, size_t aadlen, const uint8_t *ct, size_t ctlen,
                               const uint8_t *tag, size_t taglen, struct sr_buf *out)
{
    SR_ENSURE(ctlen <= INT32_MAX && aadlen <= INT32_MAX, SR_ERR_TOO_LARGE);
    SR_ENSURE(taglen >= 12 && taglen <= 16, SR_ERR_AUTH_FAILED);
    SR_AUTO(sr_EVP_CIPHER_CTX_freep) EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    SR_ENSURE(ctx != NULL, SR_ERR_NOMEM);
    SR_TRY(sr_gcm_init(ctx, 0, key, keylen, iv, ivlen));
    /* Decrypt into a scratch secret buffer so that out never holds unauthenticated plaintext. */
    SR_AUTO_BUF struct sr_buf tmp = {0};
    sr_buf_init(&tmp, ctlen, SR_BUF_SECRET);
    SR_TRY(sr_buf_reserve(&tmp, ctlen));
    int n = 0;
    if (aadlen > 0) {
        SR_ENSURE(EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aadlen) == 1, SR_ERR_CRYPTO);
    }
    n = 0;
    SR_ENSURE(EVP_DecryptUpdate(ctx, tmp.data, &n, ct, (int)ctlen) == 1, SR_ERR_CRYPTO);
    tmp.len = (size_t)n;
    SR_ENSURE(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, (int)taglen, (void *)tag) == 1, SR_ERR_CRYPTO);
    int fin = 0;
    SR_ENSURE(EVP_DecryptFinal_ex(ctx, tmp.data + tmp.len, &fin) == 1, SR_ERR_AUTH_FAILED);
    tmp.len += (size_t)fin;
    return sr_buf_append(out, tmp.data, tmp.len);
}

enum sr_err sr_aead_open(const uint8_t key[32], const void *aad, size_t aadlen, const uint8_t *in, size_t inlen,
                         struct sr_buf *out)
{
    SR_ENSURE(inlen >= SR_AEAD_OVERHEAD, SR_ERR_AUTH_FAILED);
    size_t ctlen = inlen - SR_AEAD_OVERHEAD;
    return sr_aes_gcm_decrypt(key, 32, in, SR_AEAD_NONCE_LEN, aad, aadlen, in + SR_AEAD_NONCE_LEN, ctlen,
                              in + SR_AEAD_NONCE_LEN + ctlen, SR_AEAD_TAG_LEN, out);
}

/* AES key wrap, padded (RFC 5649) or not (RFC 3394), by key length. */
static const EVP_CIPHER *sr_kw_cipher(bool padded, size_t keylen)
{
    if (padded) {
        return keylen == 16 ? EVP_aes_128_wrap_pad() : keylen == 24 ? EVP_aes_192_wrap_pad()
               : keylen == 32 ? EVP_aes_256_wrap_pad() : NULL;
    }
    return keylen == 16 ? EVP_aes_128_wrap() : keylen == 24 ? EVP_aes_192_wrap()
           : keylen == 32 ? EVP_aes_256_wrap() : NULL;
}

static enum sr_err sr_kw(int enc, bool padded, const uint8_t *key, size_t keylen, const uint8_t *in, size_t inlen,
                         struct sr_buf *out)
{
    const EVP_CIPHER *cipher = sr_kw_cipher(padded, keylen);
    SR_ENSURE(cipher != NULL, SR_ERR_MALFORMED);
    SR_ENSURE(inlen <= SR_MAX_PAYLOAD, SR_ERR_TOO_LARGE);
    /* Unwrap input is whole 64-bit blocks, at least two (RFC 5649) or three (RFC 3394: a key of at least
     * 128 bits); wrap output is at most 15 bytes longer. RFC 3394 wraps whole blocks only, two or more. */
    SR_ENSURE(enc || (inlen >= (padded ? 16u : 24u) && inlen % 8 == 0), SR_ERR_AUTH_FAILED);
    SR_ENSURE(!enc || padded || (inlen >= 16 && inlen % 8 == 0), SR_ERR_MALFORMED);
    SR_AUTO(sr_EVP_CIPHER_CTX_freep) EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    SR_ENSURE(ctx != NULL, SR_ERR_NOMEM);
    EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
    SR_ENSURE(EVP_CipherInit_ex(ctx, cipher, NULL, key, NULL, enc) == 1, SR_ERR_CRYPTO);
    SR_AUTO_BUF struct sr_buf tmp = {0};
    sr_buf_init(&tmp, inlen + 16, SR_BUF_SECRET);
    SR_TRY(sr_buf_reserve(&tmp, inlen + 16));
    int n = 0;
    if (EVP_CipherUpdate(ctx, tmp.data, &n, in, (int)inlen) != 1 || n < 0) {
        ERR_clear_error();
        return enc ? SR_ERR_CRYPTO : SR_ERR_AUTH_FAILED;
    }
    int fin = 0;
    if (EVP_CipherFinal_ex(ctx, tmp.data + n, &fin) != 1) {
        ERR_clear_error();
        return enc ? SR_ERR_CRYPTO : SR_ERR_AUTH_FAILED;
    }
    tmp.len = (size_t)n + (size_t)fin;
    return sr_buf_append(out, tmp.data, tmp.len);
}

enum sr_err sr_aes_kwp_wrap(const uint8_t *key, size_t keylen, const uint8_t *in, size_t inlen, struct sr_buf *out)
{
    SR_ENSURE(inlen > 0, SR_ERR_MALFORMED);
    return sr_kw(1, true, key, keylen, in, inlen, out);
}

enum sr_err sr_aes_kwp_unwrap(const uint8_t *key, size_t keylen, const uint8_t *in, size_t inlen,
                              struct sr_buf *out_secret)
{
    return sr_kw(0, true, key, keylen, in, inlen, out_secret);
}

enum sr_err sr_aes_kw_wrap(const uint8_t *key, size_t keylen, const uint8_t *in, size_t inlen, struct sr_buf *out)
{
    return sr_kw(1, false, key, keylen, in, inlen, out);
}

enum sr_err sr_aes_kw_unwrap(const uint8_t *key, size_t keylen, const uint8_t *in, size_t inlen,
                             struct sr_buf *out_secret)
{
    return sr_kw(0, false, key, keylen, in, inlen, out_secret);
}

/* One whole AES encryption or decryption through EVP (a secret-heap buffer between), appended to out; failed:
 * what a failure of the cipher itself is called. */
static enum sr_err sr_aes_run(const EVP_CIPHER *cipher, bool encrypt, bool padded, const uint8_t *key,
                              const uint8_t *iv, const uint8_t *in, size_t inlen, enum sr_err failed,
                              struct sr_buf *out)
{
    SR_AUTO(sr_EVP_CIPHER_CTX_freep) EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    SR_ENSURE(ctx != NULL, SR_ERR_NOMEM);
    SR_ENSURE(EVP_CipherInit_ex(ctx, cipher, NULL, key, iv, encrypt) == 1, SR_ERR_CRYPTO);
    SR_ENSURE(EVP_CIPHER_CTX_set_padding(ctx, padded) == 1, SR_ERR_CRYPTO);
    SR_AUTO_BUF struct sr_buf tmp = {0};
    sr_buf_init(&tmp, inlen + 32, SR_BUF_SECRET);
    SR_TRY(sr_buf_reserve(&tmp, inlen + 32));
    int n = 0, fin = 0;
    if (EVP_CipherUpdate(ctx, tmp.data, &n, in, (int)inlen) != 1 || n < 0 ||
        EVP_CipherFinal_ex(ctx, tmp.data + n, &fin) != 1) {
        ERR_clear_error();
        return failed;
    }
    tmp.len = (size_t)n + (size_t)fin;
    return sr_buf_append(out, tmp.data, tmp.len);
}

enum sr_err sr_aes_cbc(bool encrypt, bool padded, const uint8_t *key, size_t keylen, const uint8_t iv[16],
                       const uint8_t *in, size_t inlen, struct sr_buf *out)
{
    const EVP_CIPHER *cipher = keylen == 16 ? EVP_aes_128_cbc() : keylen == 24 ? EVP_aes_192_cbc()
                               : keylen == 32 ? EVP_aes_256_cbc() : NULL;
    SR_ENSURE(cipher != NULL, SR_ERR_MALFORMED);
    SR_ENSURE(inlen <= SR_MAX_PAYLOAD, SR_ERR_TOO_LARGE);
    /* Without padding the input is whole blocks; with it, a ciphertext is at least one. The decrypt-side
     * refusals are the padding failure's, so that no caller can tell them apart. */
    SR_ENSURE(!encrypt || padded || inlen % 16 == 0, SR_ERR_MALFORMED);
    SR_ENSURE(encrypt || (inlen % 16 == 0 && (inlen > 0 || !padded)), SR_ERR_AUTH_FAILED);
    return sr_aes_run(cipher, encrypt, padded, key, iv, in, inlen, encrypt ? SR_ERR_CRYPTO : SR_ERR_AUTH_FAILED, out);
}

enum sr_err sr_aes_stream(enum sr_aes_plain mode, bool encrypt, const uint8_t *key, size_t keylen,
                          const uint8_t counter[16], const uint8_t *in, size_t inlen, struct sr_buf *out)
{
    const EVP_CIPHER *ecb = keylen == 16 ? EVP_aes_128_ecb() : keylen == 24 ? EVP_aes_192_ecb()
                            : keylen == 32 ? EVP_aes_256_ecb() : NULL;
    const EVP_CIPHER *ctr = keylen == 16 ? EVP_aes_128_ctr() : keylen == 24 ? EVP_aes_192_ctr()
                            : keylen == 32 ? EVP_aes_256_ctr() : NULL;
    const EVP_CIPHER *cipher = mode == SR_AES_ECB ? ecb : ctr;
    SR_ENSURE(cipher != NULL, SR_ERR_MALFORMED);
    SR_ENSURE(inlen <= SR_MAX_PAYLOAD, SR_ERR_TOO_LARGE);
    SR_ENSURE(mode != SR_AES_ECB || inlen % 16 == 0, SR_ERR_MALFORMED); /* ECB: whole blocks, no padding */
    return sr_aes_run(cipher, encrypt, false, key, mode == SR_AES_CTR ? counter : NULL, in, inlen, SR_ERR_CRYPTO,
                      out);
}

enum sr_err sr_base64_encode(const uint8_t *in, size_t n, struct sr_buf *out_text)
{
    SR_ENSURE(n <= SR_MAX_B64_INPUT, SR_ERR_TOO_LARGE);
    size_t need = 4 * ((n + 2) / 3);
    SR_TRY(sr_buf_reserve(out_text, need));
    int w = EVP_EncodeBlock(out_text->data + out_text->len, in, (int)n);
    SR_ENSURE(w >= 0 && (size_t)w == need, SR_ERR_CRYPTO);
    out_text->len += need;
    return sr_buf_terminate(out_text);
}

enum sr_err sr_base64_decode(const char *text, struct sr_buf *out)
{
    size_t len = strlen(text);
    SR_ENSURE(len % 4 == 0 && len <= SR_MAX_B64_INPUT, SR_ERR_MALFORMED);
    SR_TRY(sr_buf_reserve(out, len / 4 * 3));
    int w = EVP_DecodeBlock(out->data + out->len, (const unsigned char *)text, (int)len);
    SR_ENSURE(w >= 0, SR_ERR_MALFORMED);
    size_t pad = (len > 0 && text[len - 1] == '=') + (len > 1 && text[len - 2] == '=');
    out->len += (size_t)w - pad;
    return SR_OK;
}

enum sr_err sr_bio_to_buf(BIO *bio, struct sr_buf *out)
{
    char *p = NULL;
    long n = BIO_get_mem_data(bio, &p);
    SR_ENSURE(n >= 0, SR_ERR_CRYPTO);
    SR_TRY(sr_buf_append(out, p, (size_t)n));
    return sr_buf_terminate(out);
}
