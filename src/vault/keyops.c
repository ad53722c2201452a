/*
 * keyops.c - the cryptographic operations on a vault key: sign, verify, encrypt, decrypt, wrapKey,
 * unwrapKey, and random bytes. Private-key operations run in the region's module; public ones on the
 * key's public half.
 */
#include <stdio.h>
#include <string.h>

#include "crypto/crypto.h"
#include "crypto/jwk.h"
#include "crypto/ossl.h"
#include "hsm/blob.h"
#include "vault/internal.h"

/* Reads a base64url member of the body into out (plain buffer, bounded). */
static enum sr_err sr_b64_member(struct sr_request *req, const char *name, struct sr_buf *out)
{
    const char *s = json_string_value(json_object_get(req->body, name));
    SR_ENSURE(s != NULL, sr_req_bad(req, "'%s' (base64url) is required", name));
    SR_ENSURE(sr_b64url_decode(s, out) == SR_OK, sr_req_bad(req, "'%s' is not base64url", name));
    return SR_OK;
}

static const char *sr_alg_member(const struct sr_request *req)
{
    const char *alg = json_string_value(json_object_get(req->body, "alg"));
    return alg ? alg : "";
}

static enum sr_err sr_result(const struct sr_request *req, const struct sr_key_row *k, const struct sr_buf *value,
                             json_t **ret)
{
    char kid[1024];
    SR_TRY(sr_key_kid(req, k->name, k->version, kid, sizeof(kid)));
    SR_AUTO_BUF struct sr_buf text = {0};
    sr_buf_init(&text, SR_MAX_OP_INPUT * 2, SR_BUF_SECRET);
    SR_TRY(sr_b64url_encode(value->data, value->len, &text));
    *ret = json_pack("{s:s,s:s}", "kid", kid, "value", (const char *)text.data);
    SR_ENSURE(*ret != NULL, SR_ERR_NOMEM);
    return SR_OK;
}

/* The common front of sign and verify: algorithm, digest (its length checked), and a usable key. */
static enum sr_err sr_digest_request(struct sr_vault_svc *svc, struct sr_request *req, const char *member,
                                     unsigned kop, enum sr_sign_alg *alg, struct sr_buf *digest,
                                     struct sr_key_row *k)
{
    SR_TRY(sr_sign_alg_parse(sr_alg_member(req), alg));
    SR_TRY(sr_b64_member(req, member, digest));
    SR_ENSURE(digest->len == sr_sign_alg_digest_len(*alg), SR_ERR_DIGEST_LEN);
    SR_TRY(sr_req_key(svc, req, false, k, NULL));
    return sr_key_usable(req, k, kop);
}

enum sr_err sr_op_sign(struct sr_vault_svc *svc, struct sr_request *req, json_t **ret)
{
    enum sr_sign_alg alg;
    SR_AUTO_BUF struct sr_buf digest = {0};
    SR_AUTO_BUF struct sr_buf sig = {0};
    sr_buf_init(&digest, SR_MAX_OP_INPUT, SR_BUF_PLAIN);
    sr_buf_init(&sig, SR_MAX_OP_INPUT, SR_BUF_PLAIN);
    SR_AUTO_ROW struct sr_key_row k = {0};
    SR_TRY(sr_digest_request(svc, req, "value", SR_KOP_SIGN, &alg, &digest, &k));
    const struct sr_hsm *m = NULL;
    SR_TRY(sr_svc_region_hsm(svc, req->vault.region, &m));
    SR_TRY(sr_hsm_sign_digest(m, k.blob.data, k.blob.len, alg, digest.data, digest.len, &sig));
    return sr_result(req, &k, &sig, ret);
}

enum sr_err sr_op_verify(struct sr_vault_svc *svc, struct sr_request *req, json_t **ret)
{
    enum sr_sign_alg alg;
    SR_AUTO_BUF struct sr_buf digest = {0};
    SR_AUTO_BUF struct sr_buf sig = {0};
    sr_buf_init(&digest, SR_MAX_OP_INPUT, SR_BUF_PLAIN);
    sr_buf_init(&sig, SR_MAX_OP_INPUT, SR_BUF_PLAIN);
    SR_TRY(sr_b64_member(req, "value", &sig));
    SR_AUTO_ROW struct sr_key_row k = {0};
    SR_TRY(sr_digest_request(svc, req, "digest", SR_KOP_VERIFY, &alg, &digest, &k));
    SR_AUTO_PKEY EVP_PKEY *pub = NULL;
    SR_TRY(sr_key_row_public(svc, req, &k, &pub));
    enum sr_err r = sr_pkey_verify_digest(pub, alg, digest.data, digest.len, SR_SIG_RAW, sig.data, sig.len);
    SR_ENSURE(r == SR_OK || r == SR_ERR_BAD_SIGNATURE, r);
    *ret = json_pack("{s:b}", "value", r == SR_OK);
    SR_ENSURE(*ret != NULL, SR_ERR_NOMEM);
    return SR_OK;
}

/* The common front of encrypt, decrypt, wrap and unwrap: algorithm, value, and a usable RSA key. */
static enum sr_err sr_cipher_request(struct sr_vault_svc *svc, struct sr_request *req, unsigned kop,
                                     enum sr_enc_alg *alg, struct sr_buf *in, struct sr_key_row *k)
{
    SR_TRY(sr_enc_alg_parse(sr_alg_member(req), alg));
    SR_TRY(sr_b64_member(req, "value", in));
    SR_TRY(sr_req_key(svc, req, false, k, NULL));
    SR_TRY(sr_key_usable(req, k, kop));
    SR_ENSURE(strncmp(k->kty, "RSA", 3) == 0, SR_ERR_ENC_ALG);
    return SR_OK;
}

static enum sr_err sr_public_op(struct sr_vault_svc *svc, struct sr_request *req, unsigned kop, json_t **ret)
{
    enum sr_enc_alg alg;
    SR_AUTO_BUF struct sr_buf in = {0};
    SR_AUTO_BUF struct sr_buf out = {0};
    sr_buf_init(&in, SR_MAX_OP_INPUT, SR_BUF_SECRET);
    sr_buf_init(&out, SR_MAX_OP_INPUT, SR_BUF_PLAIN);
    SR_AUTO_ROW struct sr_key_row k = {0};
    SR_TRY(sr_cipher_request(svc, req, kop, &alg, &in, &k));
    SR_AUTO_PKEY EVP_PKEY *pub = NULL;
    SR_TRY(sr_key_row_public(svc, req, &k, &pub));
    enum sr_err r = sr_pkey_encrypt(pub, alg, in.data, in.len, &out);
    SR_ENSURE(r != SR_ERR_ALG, SR_ERR_ENC_ALG);
    SR_ENSURE(r != SR_ERR_TOO_LARGE, sr_req_bad(req, "the value is too long for this key and algorithm"));
    SR_TRY(r);
    return sr_result(req, &k, &out, ret);
}

static enum sr_err sr_private_op(struct sr_vault_svc *svc, struct sr_request *req, unsigned kop,
                                 enum sr_acl_action action, json_t **ret)
{
    enum sr_enc_alg alg;
    SR_TRY(sr_enc_alg_parse(sr_alg_member(req), &alg));
    SR_ENSURE(alg != SR_ENC_RSA1_5, SR_ERR_RSA15_DECRYPT);
    SR_AUTO_BUF struct sr_buf in = {0};
    SR_AUTO_BUF struct sr_buf out = {0};
    sr_buf_init(&in, SR_MAX_OP_INPUT, SR_BUF_PLAIN);
    sr_buf_init(&out, SR_MAX_OP_INPUT, SR_BUF_SECRET);
    SR_AUTO_ROW struct sr_key_row k = {0};
    SR_TRY(sr_cipher_request(svc, req, kop, &alg, &in, &k));
    const struct sr_hsm *m = NULL;
    SR_TRY(sr_svc_region_hsm(svc, req->vault.region, &m));
    SR_TRY(sr_hsm_decrypt(m, k.blob.data, k.blob.len, action, alg, in.data, in.len, &out));
    return sr_result(req, &k, &out, ret);
}

/* An optional base64url member into out (left empty when absent); SR_OK when absent or well formed. */
static enum sr_err sr_b64_optional(struct sr_request *req, const char *name, struct sr_buf *out)
{
    return json_object_get(req->body, name) == NULL ? SR_OK : sr_b64_member(req, name, out);
}

/* Sets a base64url member of a result; nothing when n is 0. */
static enum sr_err sr_result_member(json_t *res, const char *name, const uint8_t *p, size_t n)
{
    if (n == 0) {
        return SR_OK;
    }
    return sr_json_set_b64url(res, name, p, n);
}

/* What each mode needs of a request, for the 400 that refuses one. */
static const char *sr_sym_needs(enum sr_sym_mode mode)
{
    switch (mode) {
    case SR_SYM_GCM:
        return "a 12-byte iv (or none when encrypting: the module makes one) and, to decrypt, the 16-byte tag";
    case SR_SYM_CBC:
        return "a 16-byte iv and a value of whole 16-byte blocks";
    case SR_SYM_CBCPAD:
        return "a 16-byte iv";
    case SR_SYM_KW:
        return "a value of whole 8-byte blocks, at least 16 bytes";
    case SR_SYM_KWP:
        return "a value of at least one byte";
    case SR_SYM_ECB:
    case SR_SYM_CTR:
        break; /* the PKCS#11 library's alone: never an algorithm of the API */
    }
    return "other input";
}

/*
 * encrypt, decrypt, wrapKey and unwrapKey with an oct key (Managed HSM's symmetric algorithms): the key is
 * opened, used and wiped in the module layer. GCM and CBC encrypt and decrypt; the key wraps wrap and
 * unwrap. The answer carries iv, tag and aad as Key Vault's KeyOperationResult does.
 */
static enum sr_err sr_symmetric_op(struct sr_vault_svc *svc, struct sr_request *req, const struct sr_sym_alg *alg,
                                   unsigned kop, enum sr_acl_action action, json_t **ret)
{
    bool wrapping = kop == SR_KOP_WRAP || kop == SR_KOP_UNWRAP;
    SR_ENSURE(wrapping == (alg->mode == SR_SYM_KW || alg->mode == SR_SYM_KWP), SR_ERR_ENC_ALG);
    SR_AUTO_BUF struct sr_buf value = {0};
    SR_AUTO_BUF struct sr_buf iv = {0};
    SR_AUTO_BUF struct sr_buf aad = {0};
    SR_AUTO_BUF struct sr_buf tag = {0};
    SR_AUTO_BUF struct sr_buf out = {0};
    sr_buf_init(&value, SR_MAX_OP_INPUT, SR_BUF_SECRET);
    sr_buf_init(&iv, 64, SR_BUF_PLAIN);
    sr_buf_init(&aad, SR_MAX_OP_INPUT, SR_BUF_PLAIN);
    sr_buf_init(&tag, 64, SR_BUF_PLAIN);
    sr_buf_init(&out, SR_MAX_OP_INPUT + 64, SR_BUF_SECRET);
    SR_TRY(sr_b64_member(req, "value", &value));
    SR_TRY(sr_b64_optional(req, "iv", &iv));
    SR_TRY(sr_b64_optional(req, "aad", &aad));
    SR_TRY(sr_b64_optional(req, "tag", &tag));
    SR_AUTO_ROW struct sr_key_row k = {0};
    SR_TRY(sr_req_key(svc, req, false, &k, NULL));
    SR_TRY(sr_key_usable(req, &k, kop));
    SR_ENSURE(strncmp(k.kty, "oct", 3) == 0, SR_ERR_ENC_ALG);
    const struct sr_hsm *m = NULL;
    SR_TRY(sr_svc_region_hsm(svc, req->vault.region, &m));
    struct sr_key_spec spec;
    SR_TRY(sr_hsm_spec(m, k.blob.data, k.blob.len, &spec));
    SR_ENSURE(alg->key_len == 0 || alg->key_len * 8 == spec.bits, SR_ERR_ENC_ALG); /* A128* takes AES-128 only */
    struct sr_sym_input in = {value.data, value.len, iv.len ? iv.data : NULL, iv.len, aad.data, aad.len,
                              tag.len ? tag.data : NULL, tag.len};
    struct sr_sym_extra extra = {0};
    enum sr_err r = sr_hsm_symmetric(m, k.blob.data, k.blob.len, action, alg, &in, &out, &extra);
    SR_ENSURE(r != SR_ERR_MALFORMED, sr_req_bad(req, "%s takes %s", alg->name, sr_sym_needs(alg->mode)));
    SR_TRY(r);
    SR_TRY(sr_result(req, &k, &out, ret));
    SR_TRY(sr_result_member(*ret, "iv", extra.iv, extra.iv_len));
    SR_TRY(sr_result_member(*ret, "tag", extra.tag, extra.tag_len));
    return alg->mode == SR_SYM_GCM && action == SR_ACL_ENCRYPT ? sr_result_member(*ret, "aad", aad.data, aad.len)
                                                                : SR_OK;
}

/* RSA algorithms go to the RSA paths, the symmetric ones to the oct path. */
static enum sr_err sr_cipher_op(struct sr_vault_svc *svc, struct sr_request *req, unsigned kop,
                                enum sr_acl_action action, json_t **ret)
{
    const struct sr_sym_alg *sym = sr_sym_alg_find(sr_alg_member(req));
    if (sym != NULL) {
        return sr_symmetric_op(svc, req, sym, kop, action, ret);
    }
    bool public_half = kop == SR_KOP_ENCRYPT || kop == SR_KOP_WRAP;
    return public_half ? sr_public_op(svc, req, kop, ret) : sr_private_op(svc, req, kop, action, ret);
}

enum sr_err sr_op_encrypt(struct sr_vault_svc *svc, struct sr_request *req, json_t **ret)
{
    return sr_cipher_op(svc, req, SR_KOP_ENCRYPT, SR_ACL_ENCRYPT, ret);
}

enum sr_err sr_op_wrap(struct sr_vault_svc *svc, struct sr_request *req, json_t **ret)
{
    return sr_cipher_op(svc, req, SR_KOP_WRAP, SR_ACL_WRAP, ret);
}

enum sr_err sr_op_decrypt(struct sr_vault_svc *svc, struct sr_request *req, json_t **ret)
{
    return sr_cipher_op(svc, req, SR_KOP_DECRYPT, SR_ACL_DECRYPT, ret);
}

enum sr_err sr_op_unwrap(struct sr_vault_svc *svc, struct sr_request *req, json_t **ret)
{
    return sr_cipher_op(svc, req, SR_KOP_UNWRAP, SR_ACL_UNWRAP, ret);
}

enum sr_err sr_op_rng(struct sr_vault_svc *svc, struct sr_request *req, json_t **ret)
{
    (void)svc;
    const json_t *count = json_object_get(req->body, "count");
    SR_ENSURE(json_is_integer(count) && json_integer_value(count) >= 1 && json_integer_value(count) <= 128,
              sr_req_bad(req, "count must be an integer from 1 to 128"));
    uint8_t bytes[128];
    size_t n = (size_t)json_integer_value(count);
    SR_TRY(sr_rand_bytes(bytes, n));
    SR_AUTO_BUF struct sr_buf text = {0};
    sr_buf_init(&text, 256, SR_BUF_PLAIN);
    SR_TRY(sr_b64url_encode(bytes, n, &text));
    *ret = json_pack("{s:s}", "value", (const char *)text.data);
    SR_ENSURE(*ret != NULL, SR_ERR_NOMEM);
    return SR_OK;
}
