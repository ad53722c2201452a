/*
 * fuzz_authority.c - the token authority's parsers on a real server core: the token endpoint's form body
 * (sr_form_parse) and its grant (sr_op_token_issue: client secrets, certificate and federated assertions, so
 * the JWT parser and JWKS key lookup), the access token the vault then checks (sr_vault_authenticate's JWT
 * path), and a JWKS as an issuer's keys (sr_jwks_key).
 * Target: sr_form_parse, sr_op_token_issue, sr_vault_authenticate, sr_jwks_key.
 * Setup: a region, a vault, an application with a secret, a certificate and a federated credential from a
 * trusted issuer, so that the seeds are grants the server accepts.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/json.h"
#include "crypto/jwk.h"
#include "crypto/jwt.h"
#include "crypto/ossl.h"
#include "fuzz.h"
#include "http/http.h"
#include "testlib.h"
#include "vault/internal.h"

#define SR_FUZZ_BASE "https://dev.localhost:8443"
#define SR_FUZZ_ISSUER "https://issuer.fuzz.test"
#define SR_FUZZ_SUBJECT "system:serviceaccount:fuzz:app"

static char sr_dir[256];
static struct sr_store *sr_store;
static struct sr_vault_svc *sr_svc;
static EVP_PKEY *sr_cert_key, *sr_issuer_key;
static char sr_client_id[SR_UUID_LEN + 1], sr_secret[SR_SECRET_TEXT], sr_x5t[64];

static void sr_cleanup(void)
{
    EVP_PKEY_free(sr_cert_key);
    EVP_PKEY_free(sr_issuer_key);
    sr_vault_svc_free(sr_svc);
    sr_store->ops->close(sr_store);
    sr_test_rmrf(sr_dir);
}

static void sr_check(bool ok)
{
    if (!ok) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *form = NULL;
    if (sr_form_parse(data, size, &form) == SR_OK) {
        struct sr_request req = {.base_url = SR_FUZZ_BASE, .body = form, .client = "127.0.0.1"};
        json_t *resp = NULL;
        if (sr_op_token_issue(sr_svc, &req, &resp) == SR_OK) {
            /* A token just issued is good here, unless the grant asked for another resource (scope). */
            struct sr_principal who = {0};
            const char *token = json_string_value(json_object_get(resp, "access_token"));
            enum sr_err r = token ? sr_vault_authenticate(sr_svc, token, "https://localhost:8443", "dev.localhost:8443",
                                                          &who)
                                  : SR_ERR_INTERNAL;
            sr_check(r == SR_OK || r == SR_ERR_JWT_AUDIENCE);
        }
        sr_commit_release(&req.commit);
        json_decref(resp);
        json_decref(form);
    }
    /* The same bytes as a bearer token, and as an issuer's JWKS. */
    char *text = strndup((const char *)data, size);
    if (text != NULL) {
        struct sr_principal who = {0};
        (void)!sr_vault_authenticate(sr_svc, text, "https://localhost:8443", "dev.localhost:8443", &who);
        free(text);
    }
    json_t *jwks = json_loadb((const char *)data, size, 0, NULL);
    if (jwks != NULL) {
        EVP_PKEY *k = NULL;
        (void)!sr_jwks_key(jwks, NULL, &k);
        EVP_PKEY_free(k);
        k = NULL;
        (void)!sr_jwks_key(jwks, "k1", &k);
        EVP_PKEY_free(k);
        json_decref(jwks);
    }
    return 0;
}

void sr_fuzz_setup(void)
{
    if (sr_svc != NULL) {
        return;
    }
    sr_test_tmpdir(sr_dir, sizeof(sr_dir));
    atexit(sr_cleanup);
    sr_store = sr_test_data_with_region(sr_dir, "EU");
    sr_check(sr_vault_create(sr_store, "dev", "EU", "sub") == SR_OK && sr_vault_svc_open(sr_dir, sr_store, &sr_svc) == SR_OK);
    json_t *app = NULL;
    char id[9];
    sr_check(sr_app_create(sr_store, "fuzz", &app) == SR_OK);
    snprintf(sr_client_id, sizeof(sr_client_id), "%s", json_string_value(json_object_get(app, "clientId")));
    json_decref(app);
    sr_check(sr_app_secret_add(sr_store, "fuzz", 0, sr_secret, id) == SR_OK);
    /* A certificate credential, and an issuer trusted for a federated one. */
    struct sr_key_spec spec = {.type = SR_KEY_RSA, .bits = 2048, .pubexp = 65537};
    X509 *cert = NULL;
    struct sr_buf pem = {0};
    sr_buf_init(&pem, 8192, SR_BUF_PLAIN);
    sr_check(sr_pkey_generate(&spec, &sr_cert_key) == SR_OK && sr_pkey_generate(&spec, &sr_issuer_key) == SR_OK &&
             sr_x509_self_signed(sr_cert_key, "fuzz", 30, &cert) == SR_OK && sr_x509_to_pem(cert, &pem) == SR_OK &&
             sr_app_certificate_add(sr_store, "fuzz", pem.data, pem.len, id) == SR_OK);
    uint8_t sha1[20], sha256[32];
    long long not_after;
    char subject[128];
    struct sr_buf x5t = {0};
    sr_buf_init(&x5t, 64, SR_BUF_PLAIN);
    sr_check(sr_x509_describe(cert, sha1, sha256, &not_after, subject, sizeof(subject)) == SR_OK &&
             sr_b64url_encode(sha256, sizeof(sha256), &x5t) == SR_OK);
    snprintf(sr_x5t, sizeof(sr_x5t), "%s", (const char *)x5t.data);
    sr_buf_release(&x5t), sr_buf_release(&pem);
    X509_free(cert);
    json_t *jwk = json_pack("{s:s,s:s}", "kty", "RSA", "kid", "k1");
    sr_check(jwk != NULL && sr_jwk_set_public(jwk, sr_issuer_key) == SR_OK);
    json_t *jwks = json_pack("{s:[o]}", "keys", jwk);
    sr_check(sr_idp_trust(sr_store, SR_FUZZ_ISSUER, jwks, false) == SR_OK &&
             sr_app_federate(sr_store, "fuzz", SR_FUZZ_ISSUER, SR_FUZZ_SUBJECT, "api://AzureADTokenExchange", id) == SR_OK);
    json_decref(jwks);
    json_t *ignored = NULL;
    sr_check(sr_role_assignment_create(sr_store, "fuzz", "Crypto User", "/vaults/dev", "fuzz", &ignored) == SR_OK);
    json_decref(ignored);
}

static void sr_seed(struct sr_buf *b, const char *text)
{
    sr_buf_init(b, strlen(text) + 1, SR_BUF_PLAIN);
    sr_check(sr_buf_append_str(b, text) == SR_OK);
}

#define SR_GRANT "grant_type=client_credentials&scope=https%3A%2F%2Flocalhost%3A8443%2F.default&client_id="
#define SR_ASSERTION "&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion="

void sr_fuzz_seeds(struct sr_buf *seeds, size_t *n)
{
    size_t k = 0;
    char body[16384];
    snprintf(body, sizeof(body), "%s%s&client_secret=%s", SR_GRANT, sr_client_id, sr_secret);
    sr_seed(&seeds[k++], body);
    json_int_t now = (json_int_t)time(NULL);
    /* Each replay makes its seeds anew: a fresh jti, so the certificate's assertion is accepted once more. */
    char jti[SR_UUID_LEN + 1];
    sr_uuid(jti);
    char *cert = sr_test_jws(sr_cert_key, SR_ALG_RS256, json_pack("{s:s,s:s}", "alg", "RS256", "x5t#S256", sr_x5t),
                             json_pack("{s:s,s:s,s:s,s:s,s:I,s:I}", "iss", sr_client_id, "sub", sr_client_id, "aud",
                                       SR_FUZZ_BASE "/adfs/oauth2/token", "jti", jti, "nbf", now, "exp", now + 600));
    snprintf(body, sizeof(body), "%s%s%s%s", SR_GRANT, sr_client_id, SR_ASSERTION, cert);
    sr_seed(&seeds[k++], body);
    char *fed = sr_test_jws(sr_issuer_key, SR_ALG_RS256, json_pack("{s:s,s:s}", "alg", "RS256", "kid", "k1"),
                            json_pack("{s:s,s:s,s:s,s:I,s:I}", "iss", SR_FUZZ_ISSUER, "sub", SR_FUZZ_SUBJECT, "aud",
                                      "api://AzureADTokenExchange", "iat", now, "exp", now + 600));
    snprintf(body, sizeof(body), "%s%s%s%s", SR_GRANT, sr_client_id, SR_ASSERTION, fed);
    sr_seed(&seeds[k++], body);
    sr_seed(&seeds[k++], fed); /* as a bearer token */
    sr_seed(&seeds[k++], "{\"keys\":[{\"kty\":\"EC\",\"kid\":\"k1\",\"crv\":\"P-256\",\"x\":\"2X17KQWC537XakMZVRNj40djbA7P-nq-nrRMAasXj0Y\","
                         "\"y\":\"oGTCnVS_blv7OVaJkLH3kmKo-r-6af7Sc0Ecg8cDpxY\"}]}");
    sr_seed(&seeds[k++], "grant_type=client_credentials&client_id=%41%42&client_id=x&scope=a+b%2");
    free(cert);
    free(fed);
    *n = k;
}
