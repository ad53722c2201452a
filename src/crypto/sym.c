/* sym.c - Key Vault's symmetric algorithms over crypto.c's AES primitives (see sym.h). */
#include "crypto/sym.h"

#include <string.h>

#include "crypto/crypto.h"

static const struct sr_sym_alg sr_sym_algs[] = {
    {"A128GCM", SR_SYM_GCM, 16},       {"A192GCM", SR_SYM_GCM, 24},       {"A256GCM", SR_SYM_GCM, 32},
    {"A128CBC", SR_SYM_CBC, 16},       {"A192CBC", SR_SYM_CBC, 24},       {"A256CBC", SR_SYM_CBC, 32},
    {"A128CBCPAD", SR_SYM_CBCPAD, 16}, {"A192CBCPAD", SR_SYM_CBCPAD, 24}, {"A256CBCPAD", SR_SYM_CBCPAD, 32},
    {"A128KW", SR_SYM_KW, 16},         {"A192KW", SR_SYM_KW, 24},         {"A256KW", SR_SYM_KW, 32},
    {"CKM_AES_KEY_WRAP", SR_SYM_KW, 0}, {"CKM_AES_KEY_WRAP_PAD", SR_SYM_KWP, 0},
    /* PKCS#11's alone (Key Vault has no such algorithm): its API never finds them by a JOSE name. */
    {"CKM_AES_ECB", SR_SYM_ECB, 0},     {"CKM_AES_CTR", SR_SYM_CTR, 0},
};

const struct sr_sym_alg *sr_sym_alg_find_p11(const char *name)
{
    for (size_t i = 0; name != NULL && i < SR_ARRAY_LEN(sr_sym_algs); i++) {
        if (strcmp(sr_sym_algs[i].name, name) == 0) {
            return &sr_sym_algs[i];
        }
    }
    return NULL;
}

const struct sr_sym_alg *sr_sym_alg_find(const char *name)
{
    const struct sr_sym_alg *alg = sr_sym_alg_find_p11(name);
    return alg != NULL && alg->mode != SR_SYM_ECB && alg->mode != SR_SYM_CTR ? alg : NULL;
}

static enum sr_err sr_sym_key_ok(const struct sr_sym_alg *alg, size_t key_len)
{
    SR_ENSURE(key_len == 16 || key_len == 24 || key_len == 32, SR_ERR_MALFORMED);
    SR_ENSURE(alg->key_len == 0 || alg->key_len == key_len, SR_ERR_MALFORMED);
    return SR_OK;
}

/* ECB (no IV) and CTR (iv: the 16-byte counter block). */
static enum sr_err sr_sym_plain(const struct sr_sym_alg *alg, bool encrypt, const uint8_t *key, size_t key_len,
                                const struct sr_sym_input *in, struct sr_buf *out)
{
    bool ctr = alg->mode == SR_SYM_CTR;
    SR_ENSURE(ctr ? in->iv != NULL && in->iv_len == 16 : in->iv == NULL, SR_ERR_MALFORMED);
    return sr_aes_stream(ctr ? SR_AES_CTR : SR_AES_ECB, encrypt, key, key_len, in->iv, in->data, in->len, out);
}

enum sr_err sr_sym_encrypt(const struct sr_sym_alg *alg, const uint8_t *key, size_t key_len,
                           const struct sr_sym_input *in, struct sr_buf *out, struct sr_sym_extra *extra)
{
    SR_TRY(sr_sym_key_ok(alg, key_len));
    memset(extra, 0, sizeof(*extra));
    switch (alg->mode) {
    case SR_SYM_GCM:
        SR_ENSURE(in->iv == NULL || in->iv_len == SR_GCM_IV_LEN, SR_ERR_MALFORMED);
        if (in->iv != NULL) {
            memcpy(extra->iv, in->iv, SR_GCM_IV_LEN);
        } else {
            SR_TRY(sr_rand_bytes(extra->iv, SR_GCM_IV_LEN)); /* the module makes the IV, as an HSM does */
        }
        extra->iv_len = SR_GCM_IV_LEN;
        extra->tag_len = SR_GCM_TAG_LEN;
        return sr_aes_gcm_encrypt(key, key_len, extra->iv, SR_GCM_IV_LEN, in->aad, in->aad_len, in->data, in->len,
                                  out, extra->tag);
    case SR_SYM_CBC:
    case SR_SYM_CBCPAD:
        SR_ENSURE(in->iv != NULL && in->iv_len == SR_CBC_IV_LEN, SR_ERR_MALFORMED);
        memcpy(extra->iv, in->iv, SR_CBC_IV_LEN);
        extra->iv_len = SR_CBC_IV_LEN;
        return sr_aes_cbc(true, alg->mode == SR_SYM_CBCPAD, key, key_len, in->iv, in->data, in->len, out);
    case SR_SYM_KW:
        return sr_aes_kw_wrap(key, key_len, in->data, in->len, out);
    case SR_SYM_KWP:
        return sr_aes_kwp_wrap(key, key_len, in->data, in->len, out);
    case SR_SYM_ECB:
    case SR_SYM_CTR:
        return sr_sym_plain(alg, true, key, key_len, in, out);
    }
    return SR_ERR_INTERNAL;
}

static enum sr_err sr_sym_open(const struct sr_sym_alg *alg, const uint8_t *key, size_t key_len,
                               const struct sr_sym_input *in, struct sr_buf *out)
{
    switch (alg->mode) {
    case SR_SYM_GCM:
        SR_ENSURE(in->iv != NULL && in->iv_len == SR_GCM_IV_LEN && in->tag != NULL && in->tag_len == SR_GCM_TAG_LEN,
                  SR_ERR_MALFORMED);
        return sr_aes_gcm_decrypt(key, key_len, in->iv, in->iv_len, in->aad, in->aad_len, in->data, in->len, in->tag,
                                  in->tag_len, out);
    case SR_SYM_CBC:
    case SR_SYM_CBCPAD:
        SR_ENSURE(in->iv != NULL && in->iv_len == SR_CBC_IV_LEN, SR_ERR_MALFORMED);
        return sr_aes_cbc(false, alg->mode == SR_SYM_CBCPAD, key, key_len, in->iv, in->data, in->len, out);
    case SR_SYM_KW:
        return sr_aes_kw_unwrap(key, key_len, in->data, in->len, out);
    case SR_SYM_KWP:
        return sr_aes_kwp_unwrap(key, key_len, in->data, in->len, out);
    case SR_SYM_ECB:
    case SR_SYM_CTR:
        return sr_sym_plain(alg, false, key, key_len, in, out);
    }
    return SR_ERR_INTERNAL;
}

enum sr_err sr_sym_decrypt(const struct sr_sym_alg *alg, const uint8_t *key, size_t key_len,
                           const struct sr_sym_input *in, struct sr_buf *out)
{
    SR_TRY(sr_sym_key_ok(alg, key_len));
    enum sr_err r = sr_sym_open(alg, key, key_len, in, out);
    /* Tag, padding and integrity-check failures are one answer: otherwise an oracle. */
    return r == SR_ERR_AUTH_FAILED ? SR_ERR_DECRYPT_FAILED : r;
}
