/*
 * fuzz_api_bodies.c - request bodies as the vault core receives them (after the HTTP layer has
 * parsed one JSON object): every operation that reads a body, on real keys.
 * Target: sr_op_key_create (EC only), sr_op_key_import, sr_op_key_update, sr_op_sign, sr_op_verify,
 *         sr_op_encrypt, sr_op_decrypt, sr_op_wrap, sr_op_unwrap (RSA and oct keys), sr_op_rng, sr_op_key_restore,
 *         sr_op_policy_put, sr_op_key_release (its token, release policies on create and update), and the secrets'
 *         bodies: sr_op_secret_set, sr_op_secret_update, sr_op_secret_restore (a real backup among the seeds).
 * The operation functions are called directly (no audit entry); the changes an input makes are committed,
 * so the store's writer sees every shape of change too.
 */
#include <stdlib.h>
#include <string.h>

#include "crypto/jwk.h"
#include "crypto/ossl.h"
#include "fuzz.h"
#include "testlib.h"
#include "vault/internal.h"

#define SR_FUZZ_ISSUER "https://fuzz-attest.test/"

static char sr_dir[256];
static struct sr_store *sr_store;
static struct sr_vault_svc *sr_svc;
static EVP_PKEY *sr_authority; /* the trusted authority's signing key, and the seed token's runtime key */

static void sr_cleanup(void)
{
    EVP_PKEY_free(sr_authority);
    sr_vault_svc_free(sr_svc);
    sr_store->ops->close(sr_store);
    sr_test_rmrf(sr_dir);
}

/* Commits what the operation changed (unaudited) and frees the request's commit. */
static enum sr_err sr_commit_changes(struct sr_request *req)
{
    enum sr_err r = req->commit.nchanges > 0 ? sr_store_commit_wait(sr_store, &req->commit) : SR_OK;
    sr_commit_release(&req->commit);
    return r;
}

static struct sr_request sr_req(const char *name)
{
    struct sr_request req = {.base_url = "https://v.localhost", .api_version = "7.5", .name = name, .version = "",
                             .maxresults = 25};
    if (sr_vault_lookup(sr_svc, "fuzz-vault", &req.vault) != SR_OK) {
        abort();
    }
    return req;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *body = json_loadb((const char *)data, size, 0, NULL);
    if (!json_is_object(body)) {
        json_decref(body);
        return 0;
    }
    struct {
        sr_op_fn fn;
        const char *name;
    } ops[] = {
        {sr_op_sign, "rsa"},      {sr_op_sign, "ec"},       {sr_op_verify, "rsa"},   {sr_op_verify, "ec"},
        {sr_op_encrypt, "rsa"},   {sr_op_decrypt, "rsa"},   {sr_op_wrap, "rsa"},     {sr_op_unwrap, "rsa"},
        {sr_op_rng, NULL},        {sr_op_key_update, "scratch"}, {sr_op_policy_put, "scratch"},
        {sr_op_key_restore, NULL}, {sr_op_key_import, "imported"},
        {sr_op_encrypt, "oct"},   {sr_op_decrypt, "oct"},   {sr_op_wrap, "oct"},     {sr_op_unwrap, "oct"},
        {sr_op_key_release, "exportable"}, {sr_op_key_release, "ec"}, {sr_op_key_update, "exportable"},
        {sr_op_secret_set, "fsecret"}, {sr_op_secret_update, "fsecret"}, {sr_op_secret_restore, NULL},
        {sr_op_secret_get, "fsecret"},
    };
    for (size_t i = 0; i < SR_ARRAY_LEN(ops); i++) {
        struct sr_request req = sr_req(ops[i].name);
        req.body = body;
        json_t *resp = NULL;
        if (ops[i].fn(sr_svc, &req, &resp) == SR_OK) {
            (void)!sr_commit_changes(&req);
        }
        sr_commit_release(&req.commit);
        json_decref(resp);
    }
    /* Create only EC and oct keys here: RSA generation would make each input seconds long. */
    const char *kty = json_string_value(json_object_get(body, "kty"));
    if (kty != NULL && (strncmp(kty, "EC", 2) == 0 || strncmp(kty, "oct", 3) == 0)) {
        struct sr_request req = sr_req("created");
        req.body = body;
        json_t *resp = NULL;
        if (sr_op_key_create(sr_svc, &req, &resp) == SR_OK) {
            (void)!sr_commit_changes(&req);
        }
        sr_commit_release(&req.commit);
        json_decref(resp);
    }
    json_decref(body);
    return 0;
}

static void sr_seed(struct sr_buf *b, const char *text)
{
    sr_buf_init(b, strlen(text) + 1, SR_BUF_PLAIN);
    if (sr_buf_append_str(b, text) != SR_OK) {
        abort();
    }
}

static void sr_make_with(sr_op_fn fn, const char *name, const char *body)
{
    struct sr_request req = sr_req(name);
    json_t *b = body != NULL ? json_loads(body, 0, NULL) : NULL;
    req.body = b;
    json_t *resp = NULL;
    if (fn(sr_svc, &req, &resp) != SR_OK || sr_commit_changes(&req) != SR_OK) {
        abort();
    }
    json_decref(resp);
    json_decref(b);
}

static void sr_make(const char *name, const char *body)
{
    sr_make_with(sr_op_key_create, name, body);
}

/* base64url of n bytes, as a string the caller frees. */
static char *sr_b64url_text(const void *p, size_t n)
{
    struct sr_buf t = {0};
    sr_buf_init(&t, 4 * n / 3 + 8, SR_BUF_PLAIN);
    if (sr_b64url_encode(p, n, &t) != SR_OK) {
        abort();
    }
    char *s = strdup((const char *)t.data);
    sr_buf_release(&t);
    return s;
}

static char *sr_b64url_json(json_t *obj)
{
    char *text = json_dumps(obj, JSON_COMPACT);
    char *s = sr_b64url_text(text, strlen(text));
    free(text);
    json_decref(obj);
    return s;
}

static json_t *sr_authority_jwk(void)
{
    json_t *jwk = json_pack("{s:s,s:s}", "kty", "RSA", "kid", "fuzz");
    if (jwk == NULL || sr_jwk_set_public(jwk, sr_authority) != SR_OK) {
        abort();
    }
    return jwk;
}

/* A release policy's data: tokens of the fuzz authority whose attestation type is sevsnpvm. */
static char *sr_policy_data(void)
{
    return sr_b64url_json(json_pack("{s:s,s:[{s:s,s:[{s:s,s:s},{s:s,s:b}]}]}", "version", "1.0.0", "anyOf",
                                    "authority", SR_FUZZ_ISSUER, "allOf", "claim", "x-ms-attestation-type", "equals",
                                    "sevsnpvm", "claim", "x-ms-runtime", "exists", 1));
}

/* A token the vault accepts: signed by the authority, in date until 2100, satisfying the policy. */
static char *sr_good_token(void)
{
    return sr_test_jws(sr_authority, SR_ALG_RS256, json_pack("{s:s,s:s}", "alg", "RS256", "kid", "fuzz"),
                       json_pack("{s:s,s:I,s:s,s:{s:[o]}}", "iss", SR_FUZZ_ISSUER, "exp", (json_int_t)4102444800LL,
                                 "x-ms-attestation-type", "sevsnpvm", "x-ms-runtime", "keys", sr_authority_jwk()));
}

void sr_fuzz_setup(void)
{
    if (sr_svc != NULL) {
        return;
    }
    sr_test_tmpdir(sr_dir, sizeof(sr_dir));
    atexit(sr_cleanup);
    sr_store = sr_test_data_with_region(sr_dir, "EU");
    if (sr_vault_create(sr_store, "fuzz-vault", "EU", "sub") != SR_OK ||
        sr_vault_svc_open(sr_dir, sr_store, &sr_svc) != SR_OK) {
        abort();
    }
    sr_make("rsa", "{\"kty\":\"RSA\",\"key_size\":2048}");
    sr_make("ec", "{\"kty\":\"EC\",\"crv\":\"P-256\"}");
    sr_make("scratch", "{\"kty\":\"EC\"}");
    sr_make("oct", "{\"kty\":\"oct-HSM\",\"key_size\":256}");
    struct sr_key_spec spec = {.type = SR_KEY_RSA, .bits = 2048, .pubexp = 65537};
    json_t *jwks = json_pack("{s:[]}", "keys");
    if (sr_pkey_generate(&spec, &sr_authority) != SR_OK || jwks == NULL ||
        json_array_append_new(json_object_get(jwks, "keys"), sr_authority_jwk()) != 0) {
        abort();
    }
    char *text = json_dumps(jwks, JSON_COMPACT);
    char why[200];
    if (sr_vault_trust_authority(sr_store, "fuzz-vault", SR_FUZZ_ISSUER, (const uint8_t *)text, strlen(text), why,
                                 sizeof(why)) != SR_OK) {
        abort();
    }
    free(text);
    json_decref(jwks);
    char *data = sr_policy_data();
    char body[1024];
    snprintf(body, sizeof(body), "{\"kty\":\"oct-HSM\",\"attributes\":{\"exportable\":true},\"release_policy\":{\"data\":\"%s\"}}",
             data);
    sr_make("exportable", body);
    free(data);
    sr_make_with(sr_op_secret_set, "fsecret", "{\"value\":\"fuzz value\",\"contentType\":\"text/plain\"}");
}

/* A real backup of the secret fsecret, as restore's body. */
static char *sr_secret_backup_body(void)
{
    struct sr_request req = sr_req("fsecret");
    json_t *resp = NULL;
    if (sr_op_secret_backup(sr_svc, &req, &resp) != SR_OK) {
        abort();
    }
    char *text = json_dumps(resp, JSON_COMPACT);
    json_decref(resp);
    sr_commit_release(&req.commit);
    return text;
}

void sr_fuzz_seeds(struct sr_buf *seeds, size_t *n)
{
    size_t k = 0;
    sr_seed(&seeds[k++], "{\"alg\":\"RS256\",\"value\":\"47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU\"}");
    sr_seed(&seeds[k++], "{\"alg\":\"ES256\",\"digest\":\"47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU\",\"value\":\"AAAA\"}");
    sr_seed(&seeds[k++], "{\"alg\":\"RSA-OAEP-256\",\"value\":\"aGVsbG8\"}");
    sr_seed(&seeds[k++], "{\"count\":16}");
    sr_seed(&seeds[k++], "{\"key_ops\":[\"sign\"],\"attributes\":{\"enabled\":true,\"nbf\":1,\"exp\":0},\"tags\":{\"a\":\"b\"}}");
    sr_seed(&seeds[k++], "{\"lifetimeActions\":[{\"trigger\":{\"timeAfterCreate\":\"P30D\"},\"action\":{\"type\":\"Rotate\"}}],\"attributes\":{\"expiryTime\":\"P90D\"}}");
    sr_seed(&seeds[k++], "{\"kty\":\"EC\",\"crv\":\"P-384\",\"key_ops\":[\"sign\",\"verify\"],\"tags\":{}}");
    sr_seed(&seeds[k++], "{\"key\":{\"kty\":\"EC-HSM\",\"key_hsm\":\"eyJzY2hlbWFfdmVyc2lvbiI6IjEuMC4wIn0\"}}");
    sr_seed(&seeds[k++], "{\"alg\":\"A256GCM\",\"value\":\"aGVsbG8\",\"iv\":\"AAAAAAAAAAAAAAAA\",\"tag\":\"AAAAAAAAAAAAAAAAAAAAAA\",\"aad\":\"YQ\"}");
    sr_seed(&seeds[k++], "{\"alg\":\"A256CBCPAD\",\"value\":\"AAAAAAAAAAAAAAAAAAAAAA\",\"iv\":\"AAAAAAAAAAAAAAAAAAAAAA\"}");
    sr_seed(&seeds[k++], "{\"alg\":\"CKM_AES_KEY_WRAP_PAD\",\"value\":\"AAAAAAAAAAAAAAAAAAAAAA\"}");
    sr_seed(&seeds[k++], "{\"key\":{\"kty\":\"oct-HSM\",\"k\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}}");
    char *token = sr_good_token();
    char *data = sr_policy_data();
    char body[8192];
    snprintf(body, sizeof(body), "{\"target\":\"%s\",\"nonce\":\"n\",\"enc\":\"RSA_AES_KEY_WRAP_256\"}", token);
    sr_seed(&seeds[k++], body);
    snprintf(body, sizeof(body), "{\"kty\":\"EC\",\"attributes\":{\"exportable\":true},\"release_policy\":"
                                 "{\"data\":\"%s\",\"immutable\":false}}", data);
    sr_seed(&seeds[k++], body);
    snprintf(body, sizeof(body), "{\"release_policy\":{\"data\":\"%s\"},\"attributes\":{\"exportable\":true}}", data);
    sr_seed(&seeds[k++], body);
    free(token);
    free(data);
    sr_seed(&seeds[k++], "{\"value\":\"s3cr3t\",\"contentType\":\"text/plain\",\"attributes\":{\"enabled\":true,\"exp\":4102444800},\"tags\":{\"a\":\"b\"}}");
    sr_seed(&seeds[k++], "{\"contentType\":null,\"attributes\":{\"nbf\":null},\"tags\":{}}");
    char *backup = sr_secret_backup_body();
    sr_seed(&seeds[k++], backup);
    free(backup);
    *n = k;
}
