#include "crypto/jwk.h"

#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>

#include "base/limits.h"
#include "crypto/ossl.h"
#include "crypto/pkey.h"

#define SR_JWK_MAX_FIELD 1024u /* bytes: an RSA-4096 modulus is 512 */

enum sr_err sr_b64url_encode(const uint8_t *in, size_t n, struct sr_buf *out_text)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    SR_ENSURE(n <= SR_MAX_B64_INPUT, SR_ERR_TOO_LARGE);
    SR_TRY(sr_buf_reserve(out_text, (n + 2) / 3 * 4));
    char *o = (char *)out_text->data + out_text->len;
    size_t k = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n) {
            v |= (uint32_t)in[i + 1] << 8;
        }
        if (i + 2 < n) {
            v |= in[i + 2];
        }
        o[k++] = a[(v >> 18) & 63];
        o[k++] = a[(v >> 12) & 63];
        if (i + 1 < n) {
            o[k++] = a[(v >> 6) & 63];
        }
        if (i + 2 < n) {
            o[k++] = a[v & 63];
        }
    }
    out_text->len += k;
    return sr_buf_terminate(out_text);
}

static int sr_b64url_value(char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    return c == '-' ? 62 : c == '_' ? 63 : -1;
}

enum sr_err sr_b64url_decode(const char *text, struct sr_buf *out)
{
    size_t len = strlen(text);
    while (len > 0 && text[len - 1] == '=') {
        len--;
    }
    SR_ENSURE(len <= SR_MAX_B64_INPUT && len % 4 != 1, SR_ERR_MALFORMED);
    SR_TRY(sr_buf_reserve(out, len / 4 * 3 + 3));
    uint8_t *o = out->data + out->len;
    size_t k = 0;
    uint32_t acc = 0;
    unsigned bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = sr_b64url_value(text[i]);
        SR_ENSURE(v >= 0, SR_ERR_MALFORMED);
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[k++] = (uint8_t)(acc >> bits);
        }
    }
    /* Leftover bits must be zero: one encoding per byte string. */
    SR_ENSURE((acc & ((1u << bits) - 1)) == 0, SR_ERR_MALFORMED);
    out->len += k;
    return SR_OK;
}

enum sr_err sr_b64_encode(const uint8_t *in, size_t n, struct sr_buf *out_text)
{
    size_t start = out_text->len;
    SR_TRY(sr_b64url_encode(in, n, out_text));
    for (size_t i = start; i < out_text->len; i++) {
        char *c = (char *)&out_text->data[i];
        *c = *c == '-' ? '+' : *c == '_' ? '/' : *c;
    }
    while ((out_text->len - start) % 4 != 0) {
        SR_TRY(sr_buf_append(out_text, "=", 1));
    }
    return sr_buf_terminate(out_text);
}

enum sr_err sr_b64_decode(const char *text, struct sr_buf *out)
{
    size_t len = strlen(text);
    SR_ENSURE(len <= SR_MAX_B64_INPUT && strcspn(text, "-_") == len, SR_ERR_MALFORMED);
    SR_AUTO_BUF struct sr_buf url = {0};
    sr_buf_init(&url, SR_MAX_B64_INPUT + 1, SR_BUF_SECRET);
    SR_TRY(sr_buf_append(&url, text, len));
    SR_TRY(sr_buf_terminate(&url));
    for (size_t i = 0; i < len; i++) {
        char *c = (char *)&url.data[i];
        *c = *c == '+' ? '-' : *c == '/' ? '_' : *c;
    }
    return sr_b64url_decode((const char *)url.data, out);
}

enum sr_err sr_json_set_b64url(json_t *obj, const char *name, const uint8_t *p, size_t n)
{
    SR_AUTO_BUF struct sr_buf t = {0};
    sr_buf_init(&t, 4 * n / 3 + 8, SR_BUF_PLAIN);
    SR_TRY(sr_b64url_encode(p, n, &t));
    SR_ENSURE(json_object_set_new(obj, name, json_string((const char *)t.data)) == 0, SR_ERR_NOMEM);
    return SR_OK;
}

static enum sr_err sr_jwk_set_bn(json_t *jwk, const char *name, const EVP_PKEY *key, const char *param, size_t pad)
{
    BIGNUM *bn = NULL;
    SR_ENSURE(EVP_PKEY_get_bn_param(key, param, &bn) == 1, SR_ERR_CRYPTO);
    uint8_t buf[SR_JWK_MAX_FIELD];
    int n = pad ? BN_bn2binpad(bn, buf, (int)pad) : BN_bn2bin(bn, buf);
    BN_free(bn);
    SR_ENSURE(n > 0, SR_ERR_CRYPTO);
    return sr_json_set_b64url(jwk, name, buf, (size_t)n);
}

enum sr_err sr_jwk_set_public(json_t *jwk, const EVP_PKEY *key)
{
    struct sr_key_spec spec;
    SR_TRY(sr_pkey_describe(key, &spec));
    if (spec.type == SR_KEY_RSA) {
        SR_TRY(sr_jwk_set_bn(jwk, "n", key, OSSL_PKEY_PARAM_RSA_N, 0));
        return sr_jwk_set_bn(jwk, "e", key, OSSL_PKEY_PARAM_RSA_E, 0);
    }
    size_t coord = sr_curve_coord_len(spec.curve);
    SR_ENSURE(json_object_set_new(jwk, "crv", json_string(sr_curve_name(spec.curve))) == 0, SR_ERR_NOMEM);
    /* x and y from the uncompressed point 04 || x || y: asking for each as a BIGNUM costs a field inversion. */
    uint8_t point[1 + 2 * 66];
    size_t plen = 0;
    SR_ENSURE(EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point, sizeof(point), &plen) == 1,
              SR_ERR_CRYPTO);
    SR_ENSURE(plen == 1 + 2 * coord && point[0] == 0x04, SR_ERR_CRYPTO);
    SR_TRY(sr_json_set_b64url(jwk, "x", point + 1, coord));
    return sr_json_set_b64url(jwk, "y", point + 1 + coord, coord);
}

SR_DEFINE_CLEANUP(sr_PARAM_BLD_freep, OSSL_PARAM_BLD, OSSL_PARAM_BLD_free)

/* Reads a base64url member into a secure buffer; expect_len 0 means "any length up to the maximum". */
static enum sr_err sr_jwk_field(const json_t *jwk, const char *name, size_t expect_len, struct sr_buf *out)
{
    /* Initialised before any refusal: the caller's cleanup releases out on every path. */
    sr_buf_init(out, SR_JWK_MAX_FIELD, SR_BUF_SECRET);
    const char *s = json_string_value(json_object_get(jwk, name));
    SR_ENSURE(s != NULL, SR_ERR_JWK);
    SR_ENSURE(sr_b64url_decode(s, out) == SR_OK && out->len > 0, SR_ERR_JWK);
    SR_ENSURE(expect_len == 0 || out->len == expect_len, SR_ERR_JWK);
    return SR_OK;
}

static enum sr_err sr_jwk_push_bn(OSSL_PARAM_BLD *bld, const json_t *jwk, const char *name, const char *param,
                                  BIGNUM **keep)
{
    SR_AUTO_BUF struct sr_buf b = {0};
    SR_TRY(sr_jwk_field(jwk, name, 0, &b));
    BIGNUM *bn = BN_secure_new();
    SR_ENSURE(bn != NULL, SR_ERR_NOMEM);
    if (BN_bin2bn(b.data, (int)b.len, bn) == NULL || OSSL_PARAM_BLD_push_BN(bld, param, bn) != 1) {
        BN_clear_free(bn);
        return SR_ERR_NOMEM;
    }
    *keep = bn; /* the builder refers to it until OSSL_PARAM_BLD_to_param */
    return SR_OK;
}

static const char *sr_jwk_kty(const json_t *jwk)
{
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    if (kty == NULL) {
        return "";
    }
    if (strcmp(kty, "RSA") == 0 || strcmp(kty, "RSA-HSM") == 0) {
        return "RSA";
    }
    if (strcmp(kty, "EC") == 0 || strcmp(kty, "EC-HSM") == 0) {
        return "EC";
    }
    return "";
}

static enum sr_err sr_jwk_build(const json_t *jwk, bool private, EVP_PKEY **ret)
{
    const char *kty = sr_jwk_kty(jwk);
    SR_ENSURE(*kty, SR_ERR_JWK);
    bool rsa = strcmp(kty, "RSA") == 0;
    SR_AUTO(sr_PARAM_BLD_freep) OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    SR_ENSURE(bld != NULL, SR_ERR_NOMEM);
    BIGNUM *bns[8] = {0};
    uint8_t point[1 + 2 * 66];
    enum sr_err r = SR_OK;
    if (rsa) {
        static const char *const names[] = {"n", "e", "d", "p", "q", "dp", "dq", "qi"};
        static const char *const params[] = {OSSL_PKEY_PARAM_RSA_N,          OSSL_PKEY_PARAM_RSA_E,
                                             OSSL_PKEY_PARAM_RSA_D,          OSSL_PKEY_PARAM_RSA_FACTOR1,
                                             OSSL_PKEY_PARAM_RSA_FACTOR2,    OSSL_PKEY_PARAM_RSA_EXPONENT1,
                                             OSSL_PKEY_PARAM_RSA_EXPONENT2,  OSSL_PKEY_PARAM_RSA_COEFFICIENT1};
        size_t count = private ? 8 : 2;
        for (size_t i = 0; i < count && r == SR_OK; i++) {
            r = sr_jwk_push_bn(bld, jwk, names[i], params[i], &bns[i]);
        }
    } else {
        enum sr_curve curve;
        const char *crv = json_string_value(json_object_get(jwk, "crv"));
        r = crv != NULL && sr_curve_parse(crv, &curve) == SR_OK ? SR_OK : SR_ERR_JWK;
        size_t coord = r != SR_OK ? 0 : sr_curve_coord_len(curve);
        struct sr_buf x = {0}, y = {0};
        if (r == SR_OK && (r = sr_jwk_field(jwk, "x", coord, &x)) == SR_OK &&
            (r = sr_jwk_field(jwk, "y", coord, &y)) == SR_OK) {
            point[0] = 4; /* uncompressed */
            memcpy(point + 1, x.data, coord);
            memcpy(point + 1 + coord, y.data, coord);
            const char *group = sr_curve_ossl_name(curve);
            if (OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) != 1 ||
                OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * coord) != 1) {
                r = SR_ERR_NOMEM;
            }
        }
        sr_buf_release(&x);
        sr_buf_release(&y);
        if (r == SR_OK && private) {
            struct sr_buf d = {0};
            r = sr_jwk_field(jwk, "d", coord, &d);
            if (r == SR_OK) {
                bns[0] = BN_secure_new();
                if (bns[0] == NULL || BN_bin2bn(d.data, (int)d.len, bns[0]) == NULL ||
                    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, bns[0]) != 1) {
                    r = SR_ERR_NOMEM;
                }
            }
            sr_buf_release(&d);
        }
    }
    OSSL_PARAM *params = r == SR_OK ? OSSL_PARAM_BLD_to_param(bld) : NULL;
    for (size_t i = 0; i < SR_ARRAY_LEN(bns); i++) {
        BN_clear_free(bns[i]);
    }
    SR_TRY(r);
    SR_ENSURE(params != NULL, SR_ERR_NOMEM);
    SR_AUTO_PKEY_CTX EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, kty, NULL);
    EVP_PKEY *key = NULL;
    int ok = ctx != NULL && EVP_PKEY_fromdata_init(ctx) == 1 &&
             EVP_PKEY_fromdata(ctx, &key, private ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params) == 1;
    OSSL_PARAM_free(params); /* secure blocks (from BN_secure_new) are cleared on free */
    SR_ENSURE(ok, SR_ERR_JWK);
    /* A key whose parts disagree (wrong d for n, point off the curve) is refused, never stored. */
    SR_AUTO_PKEY_CTX EVP_PKEY_CTX *check = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
    ok = check != NULL && (private ? EVP_PKEY_pairwise_check(check) : EVP_PKEY_public_check(check)) == 1;
    if (!ok) {
        EVP_PKEY_free(key);
        return SR_ERR_JWK;
    }
    *ret = key;
    return SR_OK;
}

enum sr_err sr_jwk_public_to_pkey(const json_t *jwk, EVP_PKEY **ret)
{
    return sr_jwk_build(jwk, false, ret);
}

enum sr_err sr_jwk_private_to_pkey(const json_t *jwk, EVP_PKEY **ret)
{
    return sr_jwk_build(jwk, true, ret);
}
