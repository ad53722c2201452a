/* byokfile.c - Azure Key Vault's vendor-neutral .byok JSON (azure-keyvault.md §1.5). */
#include <stdio.h>
#include <string.h>

#include "base/json.h"
#include "byok/byok.h"
#include "crypto/jwk.h"

#define SR_MAX_BYOK (256u * 1024u)

enum sr_err sr_byok_write(const char *kid, const char *binding, const struct sr_buf *ciphertext,
                          struct sr_buf *out_json)
{
    SR_AUTO_BUF struct sr_buf ct = {0};
    sr_buf_init(&ct, SR_MAX_BYOK, SR_BUF_PLAIN);
    SR_TRY(sr_b64url_encode(ciphertext->data, ciphertext->len, &ct));
    SR_AUTO_JSON json_t *header = json_pack("{s:s,s:s,s:s}", "kid", kid, "alg", "dir", "enc", "CKM_RSA_AES_KEY_WRAP");
    SR_ENSURE(header != NULL, SR_ERR_NOMEM);
    if (binding != NULL && *binding != 0) {
        /* The binding is also the OAEP label: editing it here breaks decryption. */
        json_object_set_new(header, "binding", json_string(binding));
    }
    SR_AUTO_JSON json_t *doc = json_pack("{s:s,s:O,s:s,s:s}", "schema_version", "1.0.0", "header", header,
                                         "ciphertext", (const char *)ct.data, "generator", "strongroom " SR_VERSION);
    SR_ENSURE(doc != NULL, SR_ERR_NOMEM);
    SR_AUTO_FREE char *text = json_dumps(doc, JSON_COMPACT);
    SR_ENSURE(text != NULL, SR_ERR_NOMEM);
    return sr_buf_append_str(out_json, text);
}

void sr_byok_release(struct sr_byok *b)
{
    sr_buf_release(&b->ciphertext);
}

static bool sr_copy(const json_t *o, const char *key, char *out, size_t cap, bool required)
{
    const json_t *v = json_object_get(o, key);
    if (v == NULL) {
        out[0] = 0;
        return !required;
    }
    const char *s = json_string_value(v);
    if (s == NULL || strlen(s) >= cap) {
        return false;
    }
    strcpy(out, s);
    return true;
}

enum sr_err sr_byok_parse(const uint8_t *data, size_t len, struct sr_byok *ret)
{
    SR_ENSURE(len <= SR_MAX_BYOK, SR_ERR_BYOK_FORMAT);
    SR_AUTO_JSON json_t *doc = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, NULL);
    const json_t *h = json_object_get(doc, "header");
    const char *version = json_string_value(json_object_get(doc, "schema_version"));
    const char *alg = json_string_value(json_object_get(h, "alg"));
    const char *enc = json_string_value(json_object_get(h, "enc"));
    const char *ct = json_string_value(json_object_get(doc, "ciphertext"));
    SR_ENSURE(version && alg && enc && ct && strcmp(version, "1.0.0") == 0 && strcmp(alg, "dir") == 0 &&
                  strcmp(enc, "CKM_RSA_AES_KEY_WRAP") == 0,
              SR_ERR_BYOK_FORMAT);
    struct sr_byok b = {0};
    SR_ENSURE(sr_copy(h, "kid", b.kid, sizeof(b.kid), true) && sr_copy(h, "binding", b.binding, sizeof(b.binding), false),
              SR_ERR_BYOK_FORMAT);
    sr_buf_init(&b.ciphertext, SR_MAX_BYOK, SR_BUF_PLAIN);
    if (sr_b64url_decode(ct, &b.ciphertext) != SR_OK) {
        sr_byok_release(&b);
        return SR_ERR_BYOK_FORMAT;
    }
    *ret = b;
    return SR_OK;
}
