/*
 * fuzz_api.c - parsers of what API clients send: JSON web keys (import), base64url
 * fields, request paths (the route table; libmicrohttpd has percent-decoded them), Host headers and
 * api-version.
 * Target: sr_jwk_private_to_pkey, sr_jwk_public_to_pkey, sr_b64url_decode, sr_route_match, sr_host_parse,
 *         sr_api_version_ok.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "crypto/jwk.h"
#include "fuzz.h"
#include "http/http.h"
#include "testlib.h"

void sr_fuzz_setup(void)
{
    /* Pure parsers: nothing to set up. */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *jwk = json_loadb((const char *)data, size, 0, NULL);
    if (jwk != NULL) {
        EVP_PKEY *key = NULL;
        if (sr_jwk_private_to_pkey(jwk, &key) == SR_OK) {
            EVP_PKEY_free(key);
        }
        key = NULL;
        if (sr_jwk_public_to_pkey(jwk, &key) == SR_OK) {
            EVP_PKEY_free(key);
        }
        json_decref(jwk);
    }
    char *text = malloc(size + 1);
    if (text == NULL) {
        return 0;
    }
    memcpy(text, data, size);
    text[size] = 0;
    struct sr_buf out;
    sr_buf_init(&out, size + 8, SR_BUF_PLAIN);
    (void)!sr_b64url_decode(text, &out);
    sr_buf_release(&out);
    struct sr_route_match m;
    (void)!sr_route_match("POST", text, &m);
    (void)!sr_route_match("GET", text, &m);
    char vault[SR_MAX_VAULT + 2], resource[300];
    (void)!sr_host_parse(text, "dev", vault, sizeof(vault), resource, sizeof(resource));
    (void)sr_api_version_ok(text);
    free(text);
    return 0;
}

static void sr_seed_text(struct sr_buf *b, const char *text)
{
    sr_buf_init(b, strlen(text) + 1, SR_BUF_PLAIN);
    if (sr_buf_append_str(b, text) != SR_OK) {
        abort();
    }
}

void sr_fuzz_seeds(struct sr_buf *seeds, size_t *n)
{
    /* Real keys as seeds, so mutations reach deep into key construction. */
    static const char *const specs[][2] = {{"EC", "P-256"}, {"EC", "P-521"}, {"RSA", NULL}};
    size_t k = 0;
    for (size_t i = 0; i < SR_ARRAY_LEN(specs); i++) {
        EVP_PKEY *key = specs[i][1] ? EVP_EC_gen(specs[i][1]) : EVP_RSA_gen(2048);
        json_t *jwk = json_pack("{s:s}", "kty", specs[i][0]);
        if (key == NULL || jwk == NULL || sr_jwk_set_public(jwk, key) != SR_OK) {
            abort();
        }
        BIGNUM *bn = NULL;
        const char *names[] = {"d", "p", "q", "dp", "dq", "qi"};
        const char *params[] = {specs[i][1] ? "priv" : "d", "rsa-factor1", "rsa-factor2", "rsa-exponent1",
                                "rsa-exponent2", "rsa-coefficient1"};
        for (size_t j = 0; j < (specs[i][1] ? 1u : 6u); j++) {
            if (EVP_PKEY_get_bn_param(key, params[j], &bn) == 1) {
                uint8_t buf[1024];
                int len = BN_bn2binpad(bn, buf, specs[i][1] && strcmp(specs[i][1], "P-521") == 0 ? 66
                                                    : specs[i][1] ? 32 : BN_num_bytes(bn));
                struct sr_buf t;
                sr_buf_init(&t, 2048, SR_BUF_PLAIN);
                if (len > 0 && sr_b64url_encode(buf, (size_t)len, &t) == SR_OK) {
                    json_object_set_new(jwk, names[j], json_string((const char *)t.data));
                }
                sr_buf_release(&t);
                BN_clear_free(bn);
                bn = NULL;
            }
        }
        EVP_PKEY *back = NULL;
        if (sr_jwk_private_to_pkey(jwk, &back) != SR_OK || EVP_PKEY_eq(back, key) != 1) {
            abort(); /* a seed that does not import would leave the deep paths unexercised */
        }
        EVP_PKEY_free(back);
        char *text = json_dumps(jwk, 0);
        sr_seed_text(&seeds[k++], text);
        free(text);
        json_decref(jwk);
        EVP_PKEY_free(key);
    }
    sr_seed_text(&seeds[k++], "/keys/name/0123456789abcdef0123456789abcdef/sign");
    sr_seed_text(&seeds[k++], "dev.localhost:8443");
    sr_seed_text(&seeds[k++], "7.6-preview.1");
    *n = k;
}
