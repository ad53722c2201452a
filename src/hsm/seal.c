#include <string.h>

#include <openssl/crypto.h>

#include "crypto/crypto.h"
#include "crypto/ossl.h"
#include "hsm/internal.h"

void sr_secure_key_free(uint8_t *k)
{
    if (k != NULL) {
        OPENSSL_secure_clear_free(k, 32);
    }
}

enum sr_err sr_keyfile_raw_load(const char *path, bool create, uint8_t **ret_secure)
{
    uint8_t *key = OPENSSL_secure_zalloc(32);
    SR_ENSURE(key != NULL, SR_ERR_NOMEM);
    SR_AUTO_BUF struct sr_buf file = {0};
    sr_buf_init(&file, 64, SR_BUF_SECRET);
    enum sr_err r = sr_file_read(path, &file);
    if (r == SR_ERR_NOT_FOUND && create) {
        r = sr_rand_bytes(key, 32);
        if (r == SR_OK) {
            r = sr_file_write_atomic(path, key, 32, SR_WRITE_CREATE);
        }
    } else if (r == SR_OK) {
        r = file.len == 32 ? SR_OK : SR_ERR_NVRAM_TAMPERED;
        if (r == SR_OK) {
            memcpy(key, file.data, 32);
        }
    }
    if (r != SR_OK) {
        sr_secure_key_free(key);
        return r;
    }
    *ret_secure = key;
    return SR_OK;
}

enum sr_err sr_seal_build(const uint8_t key[32], const char *purpose, const char *magic, const json_t *header,
                          const uint8_t *pt, size_t ptlen, struct sr_buf *file)
{
    uint8_t sub[32];
    SR_TRY(sr_hkdf_sha256(key, 32, purpose, sub, sizeof(sub)));
    SR_AUTO_BUF struct sr_buf payload = {0};
    sr_buf_init(&payload, SR_MAX_PAYLOAD, SR_BUF_PLAIN);
    size_t start = file->len;
    enum sr_err r = sr_container_prefix(magic, header, file);
    if (r == SR_OK) {
        r = sr_aead_seal(sub, file->data + start, file->len - start, pt, ptlen, &payload);
    }
    sr_wipe(sub, sizeof(sub));
    SR_TRY(r);
    return sr_container_finish(file, payload.data, payload.len);
}

enum sr_err sr_seal_write(const uint8_t key[32], const char *purpose, const char *magic, const json_t *header,
                          const uint8_t *pt, size_t ptlen, const char *path, enum sr_write_mode mode)
{
    SR_AUTO_BUF struct sr_buf file = {0};
    sr_buf_init(&file, SR_MAX_FILE, SR_BUF_PLAIN);
    SR_TRY(sr_seal_build(key, purpose, magic, header, pt, ptlen, &file));
    return sr_file_write_atomic(path, file.data, file.len, mode);
}

enum sr_err sr_seal_open(const uint8_t key[32], const char *purpose, const struct sr_container *c,
                         struct sr_buf *out)
{
    uint8_t sub[32];
    SR_TRY(sr_hkdf_sha256(key, 32, purpose, sub, sizeof(sub)));
    enum sr_err r = sr_aead_open(sub, c->bytes.data, c->prefix_len, c->payload, c->payload_len, out);
    sr_wipe(sub, sizeof(sub));
    return r;
}

enum sr_err sr_header_set_spki(json_t *header, const uint8_t *der, size_t len)
{
    SR_AUTO_BUF struct sr_buf b64 = {0};
    sr_buf_init(&b64, 32768, SR_BUF_PLAIN);
    SR_TRY(sr_base64_encode(der, len, &b64));
    SR_ENSURE(json_object_set_new(header, "public_key", json_string((const char *)b64.data)) == 0, SR_ERR_NOMEM);
    return SR_OK;
}

enum sr_err sr_header_set_public_key(json_t *header, const EVP_PKEY *pkey)
{
    SR_AUTO_BUF struct sr_buf der = {0};
    sr_buf_init(&der, 16384, SR_BUF_PLAIN);
    SR_TRY(sr_pkey_public_to_spki(pkey, &der));
    return sr_header_set_spki(header, der.data, der.len);
}

enum sr_err sr_header_spki(const json_t *header, enum sr_err bad, struct sr_buf *der)
{
    const char *b64 = NULL;
    SR_TRY(sr_json_str(header, "public_key", bad, &b64));
    SR_ENSURE(sr_base64_decode(b64, der) == SR_OK, bad);
    return SR_OK;
}

enum sr_err sr_header_public_key(const json_t *header, enum sr_err bad, EVP_PKEY **ret)
{
    SR_AUTO_BUF struct sr_buf der = {0};
    sr_buf_init(&der, 16384, SR_BUF_PLAIN);
    SR_TRY(sr_header_spki(header, bad, &der));
    SR_ENSURE(sr_pkey_public_from_spki(der.data, der.len, ret) == SR_OK, bad);
    return SR_OK;
}

enum sr_err sr_sealed_pkey_write(const uint8_t key[32], const char *purpose, json_t *header, EVP_PKEY *pkey,
                                 const char *path)
{
    SR_TRY(sr_header_set_public_key(header, pkey));
    SR_AUTO_BUF struct sr_buf p8 = {0};
    sr_buf_init(&p8, 16384, SR_BUF_SECRET);
    SR_TRY(sr_pkey_private_to_pkcs8(pkey, &p8));
    return sr_seal_write(key, purpose, SR_MAGIC_SEALED, header, p8.data, p8.len, path, SR_WRITE_CREATE);
}

enum sr_err sr_sealed_pkey_read(const uint8_t key[32], const char *purpose, const char *path, EVP_PKEY **ret)
{
    SR_AUTO_CONTAINER struct sr_container c = {0};
    SR_TRY(sr_container_read(path, SR_MAGIC_SEALED, SR_ERR_NVRAM_TAMPERED, &c));
    SR_AUTO_BUF struct sr_buf p8 = {0};
    sr_buf_init(&p8, 16384, SR_BUF_SECRET);
    SR_ENSURE(sr_seal_open(key, purpose, &c, &p8) == SR_OK, SR_ERR_NVRAM_TAMPERED);
    SR_AUTO_PKEY EVP_PKEY *priv = NULL;
    SR_AUTO_PKEY EVP_PKEY *pub = NULL;
    SR_TRY(sr_pkey_private_from_pkcs8(p8.data, p8.len, &priv));
    SR_TRY(sr_header_public_key(c.header, SR_ERR_NVRAM_TAMPERED, &pub));
    SR_ENSURE(EVP_PKEY_eq(priv, pub) == 1, SR_ERR_NVRAM_TAMPERED);
    *ret = SR_TAKE(priv);
    return SR_OK;
}

enum sr_err sr_world_hash(const uint8_t km[SR_WORLD_KEY_LEN], uint8_t out[SR_HASH_LEN])
{
    return sr_hmac_sha256(km, SR_WORLD_KEY_LEN, SR_PURPOSE_WORLD_HASH, strlen(SR_PURPOSE_WORLD_HASH), out);
}
