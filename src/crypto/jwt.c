/* jwt.c - compact JWS/JWT decoding and checking (jwt.h). */
#include <string.h>
#include <strings.h>

#include "base/json.h"
#include "crypto/jwk.h"
#include "crypto/jwt.h"
#include "crypto/ossl.h"

void sr_jwt_release(struct sr_jwt *t)
{
    json_decref(t->header);
    json_decref(t->claims);
    t->header = t->claims = NULL;
    sr_buf_release(&t->sig);
}

/* Decodes len bytes of base64url at text into out. */
static enum sr_err sr_b64url_part(const char *text, size_t len, struct sr_buf *out)
{
    SR_AUTO_FREE char *part = strndup(text, len);
    SR_ENSURE(part != NULL, SR_ERR_NOMEM);
    return sr_b64url_decode(part, out);
}

static enum sr_err sr_json_part(const char *text, size_t len, json_t **ret)
{
    SR_AUTO_BUF struct sr_buf raw = {0};
    sr_buf_init(&raw, SR_JWT_MAX, SR_BUF_PLAIN);
    SR_TRY(sr_b64url_part(text, len, &raw));
    *ret = json_loadb((const char *)raw.data, raw.len, JSON_REJECT_DUPLICATES, NULL);
    SR_ENSURE(json_is_object(*ret), SR_ERR_MALFORMED);
    return SR_OK;
}

enum sr_err sr_jwt_parse(const char *token, struct sr_jwt *t)
{
    size_t len = strlen(token);
    SR_ENSURE(len <= SR_JWT_MAX, SR_ERR_MALFORMED);
    const char *dot1 = strchr(token, '.');
    const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    SR_ENSURE(dot2 != NULL && strchr(dot2 + 1, '.') == NULL, SR_ERR_MALFORMED);
    SR_TRY(sr_json_part(token, (size_t)(dot1 - token), &t->header));
    SR_TRY(sr_json_part(dot1 + 1, (size_t)(dot2 - dot1 - 1), &t->claims));
    sr_buf_init(&t->sig, 1024, SR_BUF_PLAIN);
    SR_TRY(sr_b64url_decode(dot2 + 1, &t->sig));
    t->signed_len = (size_t)(dot2 - token);
    return SR_OK;
}

enum sr_err sr_jwt_verify(const struct sr_jwt *t, const char *token, EVP_PKEY *key)
{
    /* RFC 7515 §4.1.11: extensions the token says must be understood are ones we do not know. */
    SR_ENSURE(json_object_get(t->header, "crit") == NULL, SR_ERR_JWT_ALG);
    enum sr_sign_alg alg;
    const char *name = json_string_value(json_object_get(t->header, "alg"));
    SR_ENSURE(name != NULL && sr_sign_alg_parse(name, &alg) == SR_OK, SR_ERR_JWT_ALG);
    SR_ENSURE(sr_sign_alg_fits(alg, key) == SR_OK, SR_ERR_JWT_ALG);
    SR_ENSURE(sr_pkey_verify_message(key, alg, token, t->signed_len, SR_SIG_RAW, t->sig.data, t->sig.len) == SR_OK,
              SR_ERR_JWT_SIGNATURE);
    return SR_OK;
}

enum sr_err sr_jwt_times(const json_t *claims, long long now)
{
    const json_t *exp = json_object_get(claims, "exp");
    const json_t *nbf = json_object_get(claims, "nbf");
    SR_ENSURE(json_is_number(exp) && json_number_value(exp) + SR_JWT_SKEW > (double)now, SR_ERR_TOKEN_EXPIRED);
    SR_ENSURE(nbf == NULL || (json_is_number(nbf) && json_number_value(nbf) - SR_JWT_SKEW <= (double)now),
              SR_ERR_JWT_NOT_YET);
    return SR_OK;
}

const json_t *sr_jwks_find(const json_t *jwks, const char *kid)
{
    const json_t *chosen = NULL;
    size_t matches = 0, i;
    const json_t *k;
    json_array_foreach(json_object_get(jwks, "keys"), i, k) {
        const char *id = json_string_value(json_object_get(k, "kid"));
        if (kid == NULL || (id != NULL && strcmp(id, kid) == 0)) {
            chosen = k;
            matches++;
        }
    }
    return matches == 1 ? chosen : NULL;
}

enum sr_err sr_jwks_key(const json_t *jwks, const char *kid, EVP_PKEY **ret)
{
    const json_t *chosen = sr_jwks_find(jwks, kid);
    SR_ENSURE(chosen != NULL, SR_ERR_NOT_FOUND);
    return sr_jwk_public_to_pkey(chosen, ret);
}

enum sr_err sr_b64url_json_append(const json_t *obj, struct sr_buf *out, bool dot)
{
    SR_AUTO_FREE char *text = json_dumps(obj, JSON_COMPACT);
    SR_ENSURE(text != NULL, SR_ERR_NOMEM);
    SR_AUTO_BUF struct sr_buf t = {0};
    sr_buf_init(&t, 4 * strlen(text) / 3 + 8, SR_BUF_PLAIN);
    SR_TRY(sr_b64url_encode((const uint8_t *)text, strlen(text), &t));
    SR_TRY(sr_buf_append(out, t.data, strlen((const char *)t.data)));
    return dot ? sr_buf_append(out, ".", 1) : SR_OK;
}

const char *sr_jwt_claim(const json_t *claims, const char *name)
{
    return json_string_value(json_object_get(claims, name));
}

bool sr_jwt_aud_has(const json_t *claims, const char *want)
{
    const json_t *aud = json_object_get(claims, "aud");
    if (json_is_string(aud)) {
        return strcmp(json_string_value(aud), want) == 0;
    }
    size_t i;
    const json_t *a;
    json_array_foreach(aud, i, a) {
        if (json_is_string(a) && strcmp(json_string_value(a), want) == 0) {
            return true;
        }
    }
    return false;
}
