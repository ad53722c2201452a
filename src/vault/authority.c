/*
 * authority.c - the server as an OAuth 2.0 / OpenID Connect authority in Entra's shapes, so that the
 * Microsoft identity libraries (MSAL, inside @azure/identity and azure-identity) get their tokens from it
 * unchanged: the client credentials grant with a client secret, a certificate's client assertion (RFC 7523,
 * x5t / x5t#S256), or a federated token from a trusted OIDC issuer (Kubernetes, GitHub Actions, ...). Access
 * tokens are ES256 JWTs signed inside a region's module by a key that never leaves it, bound to one resource
 * (aud), short-lived, and checked by the vault on every request (verification kept per token until exp;
 * permissions always from the current role assignments).
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/json.h"
#include "base/text.h"
#include "crypto/crypto.h"
#include "crypto/jwk.h"
#include "crypto/jwt.h"
#include "crypto/ossl.h"
#include "vault/internal.h"

#define SR_ASSERTION_TYPE "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#define SR_FEDERATED_AUDIENCE "api://AzureADTokenExchange"
#define SR_GENERIC_RESOURCE "https://vault.azure.net"
#define SR_MAX_ASSERTION_LIFE 3600 /* a client assertion may not live longer: bounded replay memory */
#define SR_FAILURES_PER_CLIENT 10  /* failed client authentications per minute, per (address, client id) */
#define SR_FAILURES_PER_ADDRESS 50 /* and per address */

void sr_vault_jwks_fetcher(struct sr_vault_svc *svc, sr_jwks_fetch_fn fn, void *ctx)
{
    svc->jwks_fetch = fn;
    svc->jwks_fetch_ctx = ctx;
}

void sr_vault_token_lifetime(struct sr_vault_svc *svc, long long seconds)
{
    svc->token_lifetime = seconds > 0 ? seconds : 3600;
}

static long long sr_lifetime(const struct sr_vault_svc *svc)
{
    return svc->token_lifetime > 0 ? svc->token_lifetime : 3600;
}

enum sr_err sr_authority_metadata(const char *base, const char *tenant, json_t **ret)
{
    bool adfs = strcasecmp(tenant, "adfs") == 0;
    char issuer[512], token[512], authorize[512], jwks[512];
    snprintf(issuer, sizeof(issuer), adfs ? "%s/adfs" : "%s/%s/v2.0", base, tenant);
    snprintf(token, sizeof(token), adfs ? "%s/adfs/oauth2/token" : "%s/%s/oauth2/v2.0/token", base, tenant);
    snprintf(authorize, sizeof(authorize), adfs ? "%s/adfs/oauth2/authorize" : "%s/%s/oauth2/v2.0/authorize", base,
             tenant);
    snprintf(jwks, sizeof(jwks), adfs ? "%s/adfs/discovery/keys" : "%s/%s/discovery/v2.0/keys", base, tenant);
    *ret = json_pack("{s:s,s:s,s:s,s:s,s:[s],s:[s],s:[s,s],s:[s],s:[s],s:s}", "issuer", issuer, "token_endpoint",
                     token, "authorization_endpoint", authorize, "jwks_uri", jwks, "response_types_supported",
                     "token", "subject_types_supported", "pairwise", "token_endpoint_auth_methods_supported",
                     "client_secret_post", "private_key_jwt", "grant_types_supported", "client_credentials",
                     "id_token_signing_alg_values_supported", "ES256", "tenant_region_scope", "NA");
    SR_ENSURE(*ret != NULL, SR_ERR_NOMEM);
    return SR_OK;
}

/* A signing key still to be published: current, or retired less than a token's lifetime ago. */
static bool sr_signer_published(const json_t *doc, long long now, long long lifetime)
{
    long long retired = (long long)json_integer_value(json_object_get(doc, "retired"));
    return retired == 0 || retired + lifetime + SR_JWT_SKEW > now;
}

enum sr_err sr_authority_jwks(struct sr_vault_svc *svc, json_t **ret)
{
    SR_AUTO(sr_ident_snapshot_release) struct sr_ident_snapshot snap = {0};
    SR_TRY(sr_ident_snapshot(svc, SR_ID_SIGNERS, &snap));
    SR_AUTO_JSON json_t *keys = json_array();
    SR_ENSURE(keys != NULL, SR_ERR_NOMEM);
    long long now = (long long)time(NULL);
    const char *kid;
    json_t *doc;
    json_object_foreach(snap.signers, kid, doc) {
        if (sr_signer_published(doc, now, sr_lifetime(svc))) {
            json_t *jwk = json_deep_copy(json_object_get(doc, "jwk"));
            SR_ENSURE(jwk != NULL && json_array_append_new(keys, jwk) == 0, SR_ERR_NOMEM);
        }
    }
    *ret = json_pack("{s:O}", "keys", keys);
    SR_ENSURE(*ret != NULL, SR_ERR_NOMEM);
    return SR_OK;
}

struct sr_retire {
    struct sr_store *store;
    long long now;
};

static enum sr_err sr_signer_retire(void *ctx, const char *kid, const json_t *doc)
{
    struct sr_retire *r = ctx;
    if (json_integer_value(json_object_get(doc, "retired")) != 0) {
        return SR_OK;
    }
    SR_AUTO_JSON json_t *copy = json_deep_copy(doc);
    SR_ENSURE(copy != NULL && json_object_set_new(copy, "retired", json_integer(r->now)) == 0, SR_ERR_NOMEM);
    return sr_store_ident_put(r->store, SR_IDENT_SIGNER, kid, copy);
}

enum sr_err sr_authority_rotate(struct sr_store *store)
{
    struct sr_retire r = {.store = store, .now = (long long)time(NULL)};
    return store->ops->ident_each(store, SR_IDENT_SIGNER, sr_signer_retire, &r);
}

/* --- signing --- */

struct sr_signer {
    char kid[48];
    const struct sr_hsm *hsm;
    struct sr_buf blob;
};

static void sr_signer_release(struct sr_signer *s)
{
    sr_buf_release(&s->blob);
}

/* The newest current signing key whose region this server holds. */
static enum sr_err sr_signer_pick(struct sr_vault_svc *svc, const json_t *signers, struct sr_signer *ret)
{
    const char *kid, *chosen = NULL;
    const json_t *doc, *best = NULL;
    json_object_foreach((json_t *)signers, kid, doc) {
        const char *region = json_string_value(json_object_get(doc, "region"));
        const struct sr_hsm *h = NULL;
        if (json_integer_value(json_object_get(doc, "retired")) != 0 || region == NULL ||
            sr_svc_region_hsm(svc, region, &h) != SR_OK) {
            continue;
        }
        if (best == NULL || json_integer_value(json_object_get(doc, "created")) >
                                json_integer_value(json_object_get(best, "created"))) {
            best = doc, chosen = kid;
            ret->hsm = h;
        }
    }
    SR_ENSURE(best != NULL, SR_ERR_NOT_FOUND);
    snprintf(ret->kid, sizeof(ret->kid), "%s", chosen);
    sr_buf_init(&ret->blob, SR_MAX_FILE, SR_BUF_PLAIN);
    return sr_b64url_decode(json_string_value(json_object_get(best, "blob")), &ret->blob);
}

/* A new ES256 key made inside the first region module this server holds; only its blob (sealed by the module)
 * and its public JWK reach the store. */
static enum sr_err sr_signer_make(struct sr_vault_svc *svc)
{
    const struct sr_hsm *h = NULL;
    char region[SR_MAX_REGION + 1];
    SR_TRY(sr_svc_first_region(svc, &h, region));
    char kid[SR_UUID_LEN + 1];
    sr_uuid(kid);
    struct sr_key_spec spec = {.type = SR_KEY_EC, .curve = SR_CURVE_P256};
    SR_AUTO_BUF struct sr_buf blob = {0};
    sr_buf_init(&blob, SR_MAX_FILE, SR_BUF_PLAIN);
    SR_TRY(sr_hsm_generate(h, kid, "authority", &spec, SR_ACL_SIGN, &blob));
    SR_AUTO_JSON json_t *pub = NULL;
    SR_TRY(sr_hsm_jwk(h, blob.data, blob.len, &pub));
    SR_AUTO_JSON json_t *jwk = json_deep_copy(pub);
    SR_ENSURE(jwk != NULL && json_object_set_new(jwk, "kty", json_string("EC")) == 0 &&
                  json_object_set_new(jwk, "kid", json_string(kid)) == 0 &&
                  json_object_set_new(jwk, "use", json_string("sig")) == 0 &&
                  json_object_set_new(jwk, "alg", json_string("ES256")) == 0,
              SR_ERR_NOMEM);
    SR_AUTO_JSON json_t *doc = json_pack("{s:s,s:s,s:O,s:I,s:I}", "region", region, "alg", "ES256", "jwk", jwk,
                                         "created", (json_int_t)time(NULL), "retired", (json_int_t)0);
    SR_ENSURE(doc != NULL, SR_ERR_NOMEM);
    SR_TRY(sr_json_set_b64url(doc, "blob", blob.data, blob.len));
    return sr_store_ident_put(svc->store, SR_IDENT_SIGNER, kid, doc);
}

static enum sr_err sr_signer_current(struct sr_vault_svc *svc, struct sr_signer *ret)
{
    {
        SR_AUTO(sr_ident_snapshot_release) struct sr_ident_snapshot snap = {0};
        SR_TRY(sr_ident_snapshot(svc, SR_ID_SIGNERS, &snap));
        enum sr_err r = sr_signer_pick(svc, snap.signers, ret);
        if (r != SR_ERR_NOT_FOUND) {
            return r;
        }
    }
    pthread_mutex_lock(&svc->idc.signer_lock);
    SR_AUTO(sr_ident_snapshot_release) struct sr_ident_snapshot snap = {0};
    enum sr_err r = sr_ident_snapshot(svc, SR_ID_SIGNERS, &snap);
    if (r == SR_OK) {
        r = sr_signer_pick(svc, snap.signers, ret); /* another request may have made one meanwhile */
    }
    if (r == SR_ERR_NOT_FOUND) {
        sr_ident_snapshot_release(&snap);
        r = sr_signer_make(svc);
        if (r == SR_OK) {
            r = sr_ident_snapshot(svc, SR_ID_SIGNERS, &snap);
        }
        if (r == SR_OK) {
            r = sr_signer_pick(svc, snap.signers, ret);
        }
    }
    pthread_mutex_unlock(&svc->idc.signer_lock);
    return r;
}

/* header.payload.signature, signed by the module. */
static enum sr_err sr_token_sign(const struct sr_signer *s, const json_t *claims, struct sr_buf *out)
{
    SR_AUTO_JSON json_t *header = json_pack("{s:s,s:s,s:s}", "alg", "ES256", "typ", "JWT", "kid", s->kid);
    SR_ENSURE(header != NULL, SR_ERR_NOMEM);
    SR_TRY(sr_b64url_json_append(header, out, true));
    SR_TRY(sr_b64url_json_append(claims, out, false));
    uint8_t digest[32];
    SR_TRY(sr_sha256(out->data, out->len, digest));
    SR_AUTO_BUF struct sr_buf sig = {0}, text = {0};
    sr_buf_init(&sig, 256, SR_BUF_PLAIN);
    sr_buf_init(&text, 256, SR_BUF_PLAIN);
    SR_TRY(sr_hsm_sign_digest(s->hsm, s->blob.data, s->blob.len, SR_ALG_ES256, digest, sizeof(digest), &sig));
    SR_TRY(sr_b64url_encode(sig.data, sig.len, &text));
    SR_TRY(sr_buf_append(out, ".", 1));
    return sr_buf_append(out, text.data, strlen((const char *)text.data) + 1);
}

/* --- the token endpoint --- */

/* A refusal of the token endpoint: its reason for the audit entry (counted, as other refusals are) and the
 * error_description the client gets. */
__attribute__((format(printf, 3, 4))) static enum sr_err sr_oauth_refuse(struct sr_request *req, enum sr_err e,
                                                                          const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(req->detail, sizeof(req->detail), fmt, ap);
    va_end(ap);
    return e;
}

static const char *sr_form(const struct sr_request *req, const char *name)
{
    return json_string_value(json_object_get(req->body, name));
}

/* The one resource of "<resource>/.default" (other scopes MSAL adds, openid profile offline_access, aside). */
static enum sr_err sr_scope_resource(struct sr_request *req, char *out, size_t cap)
{
    const char *scope = sr_form(req, "scope");
    SR_ENSURE(scope != NULL, sr_oauth_refuse(req, SR_ERR_OAUTH_SCOPE, "the request has no scope"));
    out[0] = 0;
    for (const char *p = scope; *p;) {
        size_t len = strcspn(p, " ");
        static const char suffix[] = "/.default";
        if (len > sizeof(suffix) - 1 && strncmp(p + len - (sizeof(suffix) - 1), suffix, sizeof(suffix) - 1) == 0) {
            size_t rlen = len - (sizeof(suffix) - 1);
            SR_ENSURE(out[0] == 0 && rlen < cap && strncasecmp(p, "https://", 8) == 0 && rlen > 8 &&
                          memchr(p + 8, '/', rlen - 8) == NULL,
                      sr_oauth_refuse(req, SR_ERR_OAUTH_SCOPE, "scope names %s", out[0] ? "more than one resource"
                                                                                         : "a resource that is not https://host[:port]"));
            memcpy(out, p, rlen);
            out[rlen] = 0;
        }
        p += len;
        p += *p == ' ';
    }
    SR_ENSURE(out[0] != 0, sr_oauth_refuse(req, SR_ERR_OAUTH_SCOPE, "scope has no <resource>/.default"));
    for (char *c = out; *c; c++) {
        *c = (char)tolower((unsigned char)*c);
    }
    return SR_OK;
}

/* The client's failures this minute: past the bound, even a right secret is refused until the minute ends. */
static enum sr_err sr_client_not_locked(struct sr_vault_svc *svc, struct sr_request *req, const char *actor)
{
    if (sr_refusals_recent(svc, req->client, NULL) >= SR_FAILURES_PER_ADDRESS ||
        sr_refusals_recent(svc, req->client, actor) >= SR_FAILURES_PER_CLIENT) {
        return sr_oauth_refuse(req, SR_ERR_OAUTH_LOCKED, "too many failed client authentications from %s this minute",
                               req->client);
    }
    return SR_OK;
}

/* Remembers a client assertion's (iss, jti) until its exp: SR_ERR_OAUTH_CLIENT if seen already. */
static enum sr_err sr_jti_first_use(struct sr_vault_svc *svc, struct sr_request *req, const char *iss,
                                    const char *jti, long long exp)
{
    uint8_t h[32];
    SR_AUTO_BUF struct sr_buf key = {0};
    sr_buf_init(&key, 4096, SR_BUF_PLAIN);
    SR_TRY(sr_buf_append(&key, iss, strlen(iss) + 1));
    SR_TRY(sr_buf_append(&key, jti, strlen(jti)));
    SR_TRY(sr_sha256(key.data, key.len, h));
    long long now = (long long)time(NULL);
    struct sr_ident_cache *c = &svc->idc;
    pthread_mutex_lock(&c->lock);
    struct sr_seen_jti *free_slot = NULL;
    bool seen = false;
    for (size_t i = 0; i < SR_SEEN_JTIS; i++) {
        struct sr_seen_jti *j = &c->jtis[i];
        if (j->exp + SR_JWT_SKEW < now) {
            free_slot = free_slot ? free_slot : j;
        } else if (memcmp(j->hash, h, sizeof(h)) == 0) {
            seen = true;
        }
    }
    if (!seen && free_slot != NULL) {
        memcpy(free_slot->hash, h, sizeof(h));
        free_slot->exp = exp;
    }
    pthread_mutex_unlock(&c->lock);
    SR_ENSURE(!seen, sr_oauth_refuse(req, SR_ERR_OAUTH_CLIENT, "the client assertion was used before (jti %.40s)", jti));
    SR_ENSURE(free_slot != NULL,
              sr_oauth_refuse(req, SR_ERR_OAUTH_LOCKED, "too many client assertions in flight; retry in a minute"));
    return SR_OK;
}

/* aud of a client assertion: this server's token endpoint (any tenant path), as MSAL writes it. */
static bool sr_assertion_aud_ok(const struct sr_request *req, const json_t *claims)
{
    static const char *const ends[] = {"/oauth2/v2.0/token", "/oauth2/token"};
    const json_t *aud = json_object_get(claims, "aud");
    const char *a = json_is_array(aud) && json_array_size(aud) == 1 ? json_string_value(json_array_get(aud, 0))
                                                                     : json_string_value(aud);
    size_t blen = strlen(req->base_url);
    if (a == NULL || strncasecmp(a, req->base_url, blen) != 0 || a[blen] != '/') {
        return false;
    }
    for (size_t i = 0; i < SR_ARRAY_LEN(ends); i++) {
        size_t alen = strlen(a), elen = strlen(ends[i]);
        if (alen > elen && strcasecmp(a + alen - elen, ends[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* A certificate's client assertion (iss = sub = client id, signed by a registered certificate's key). */
static enum sr_err sr_assertion_certificate(struct sr_vault_svc *svc, struct sr_request *req, const json_t *app,
                                            const char *token, const struct sr_jwt *t)
{
    const char *x5t256 = json_string_value(json_object_get(t->header, "x5t#S256"));
    const char *x5t = json_string_value(json_object_get(t->header, "x5t"));
    const json_t *cert = NULL;
    size_t i;
    const json_t *c;
    json_array_foreach(json_object_get(app, "certificates"), i, c) {
        const char *a = json_string_value(json_object_get(c, "x5t#S256"));
        const char *b = json_string_value(json_object_get(c, "x5t"));
        if ((x5t256 != NULL && a != NULL && strcmp(a, x5t256) == 0) || (x5t != NULL && b != NULL && strcmp(b, x5t) == 0)) {
            cert = c;
        }
    }
    SR_ENSURE(cert != NULL, sr_oauth_refuse(req, SR_ERR_OAUTH_CLIENT,
                                            "the assertion's certificate (x5t) is not one of the application's"));
    SR_AUTO_PKEY EVP_PKEY *pub = NULL;
    const char *pem = json_string_value(json_object_get(cert, "publicKey"));
    SR_ENSURE(pem != NULL && sr_ident_public_key(svc, NULL, pem, &pub) == SR_OK, SR_ERR_IO);
    enum sr_err r = sr_jwt_verify(t, token, pub);
    SR_ENSURE(r != SR_ERR_JWT_ALG, sr_oauth_refuse(req, SR_ERR_OAUTH_CLIENT, "the assertion's alg is not one the "
                                                                            "certificate's key signs with"));
    SR_ENSURE(r == SR_OK, sr_oauth_refuse(req, SR_ERR_OAUTH_CLIENT, "the assertion's signature does not verify "
                                                                    "with the certificate's key"));
    const char *client_id = json_string_value(json_object_get(app, "clientId"));
    const char *iss = sr_jwt_claim(t->claims, "iss"), *sub = sr_jwt_claim(t->claims, "sub");
    SR_ENSURE(iss != NULL && sub != NULL && strcasecmp(iss, client_id) == 0 && strcasecmp(sub, client_id) == 0,
              sr_oauth_refuse(req, SR_ERR_OAUTH_CLIENT, "the assertion's iss and sub must be the client id"));
    SR_ENSURE(sr_assertion_aud_ok(req, t->claims),
              sr_oauth_refuse(req, SR_ERR_OAUTH_CLIENT, "the assertion's aud is not this server's token endpoint"));
    long long now = (long long)time(NULL);
    r = sr_jwt_times(t->claims, now);
    SR_ENSURE(r == SR_OK, sr_oauth_refuse(req, SR_ERR_OAUTH_GRANT, r == SR_ERR_TOKEN_EXPIRED
                                                                       ? "the assertion has expired (or has no exp)"
                                                                       : "the assertion is not valid yet (nbf)"));
    long long exp = (long long)json_number_value(json_object_get(t->claims, "exp"));
    SR_ENSURE(exp - now <= SR_MAX_ASSERTION_LIFE,
              sr_oauth_refuse(req, SR_ERR_OAUTH_GRANT, "the assertion lives longer than an hour (exp)"));
    const char *jti = sr_jwt_claim(t->claims, "jti");
    SR_ENSURE(jti != NULL && *jti && strlen(jti) <= 256,
              sr_oauth_refuse(req, SR_ERR_OAUTH_CLIENT, "the assertion has no jti"));
    return sr_jti_first_use(svc, req, client_id, jti, exp);
}

/* An issuer trusted by discovery rotated its keys: read them again, at most once a minute (the time of the last
 * read is kept with them, so every server of a store shares the bound). */
static enum sr_err sr_idp_refresh(struct sr_vault_svc *svc, const char *issuer, json_t **idp)
{
    long long fetched = (long long)json_integer_value(json_object_get(*idp, "fetched"));
    SR_ENSURE(svc->jwks_fetch != NULL && json_is_true(json_object_get(*idp, "discovery")) &&
                  fetched + 60 <= (long long)time(NULL),
              SR_ERR_NOT_FOUND);
    SR_AUTO_JSON json_t *jwks = NULL;
    enum sr_err r = svc->jwks_fetch(svc->jwks_fetch_ctx, issuer, &jwks);
    if (r != SR_OK) { /* unreachable: try again in a minute, not at every token */
        json_object_set_new(*idp, "fetched", json_integer((json_int_t)time(NULL)));
        (void)!sr_store_ident_put(svc->store, SR_IDENT_IDP, issuer, *idp);
        return r;
    }
    SR_TRY(sr_idp_trust(svc->store, issuer, jwks, true));
    json_decref(*idp);
    *idp = NULL;
    return svc->store->ops->ident_get(svc->store, SR_IDENT_IDP, issuer, idp);
}

/* A federated token: from an issuer this server trusts, for a subject and audience the application accepts. */
static enum sr_err sr_assertion_federated(struct sr_vault_svc *svc, struct sr_request *req, const json_t *app,
                                          const char *token, const struct sr_jwt *t)
{
    const char *iss = sr_jwt_claim(t->claims, "iss");
    SR_ENSURE(iss != NULL && strlen(iss) <= SR_MAX_IDENT_NAME,
              sr_oauth_refuse(req, SR_ERR_OAUTH_CLIENT, "the assertion has no iss"));
    SR_AUTO_JSON json_t *idp = NULL;
    enum sr_err r = svc->store->ops->ident_get(svc->store, SR_IDENT_IDP, iss, &idp);
    SR_ENSURE(r != SR_ERR_NOT_FOUND,
              sr_oauth_refuse(req, SR_ERR_OAUTH_CLIENT, "the assertion's issuer %.100s is not trusted", iss));
    SR_TRY(r);
    SR_AUTO_PKEY EVP_PKEY *pub = NULL;
    const json_t *jwk = sr_jwks_find(json_object_get(idp, "jwks"), sr_jwt_claim(t->header, "kid"));
    if (jwk == NULL && sr_idp_refresh(svc, iss, &idp) == SR_OK) {
        jwk = sr_jwks_find(json_object_get(idp, "jwks"), sr_jwt_claim(t->header, "kid"));
    }
    SR_ENSURE(jwk != NULL && sr_ident_public_key(svc, jwk, NULL, &pub) == SR_OK,
              sr_oauth_refuse(req, SR_ERR_OAUTH_CLIENT, "no key of %.100s has the assertion's kid", iss));
    r = sr_jwt_verify(t, token, pub);
    SR_ENSURE(r != SR_ERR_JWT_ALG, sr_oauth_refuse(req, SR_ERR_OAUTH_CLIENT, "the assertion's alg is not one its "
                                                                            "issuer's key signs with"));
    SR_ENSURE(r == SR_OK, sr_oauth_refuse(req, SR_ERR_OAUTH_CLIENT, "the assertion's signature does not verify "
                                                                    "with %.100s's keys", iss));
    r = sr_jwt_times(t->claims, (long long)time(NULL));
    SR_ENSURE(r == SR_OK, sr_oauth_refuse(req, SR_ERR_OAUTH_GRANT, r == SR_ERR_TOKEN_EXPIRED
                                                                       ? "the assertion has expired (or has no exp)"
                                                                       : "the assertion is not valid yet (nbf)"));
    const char *sub = sr_jwt_claim(t->claims, "sub");
    bool issuer_known = false;
    size_t i;
    const json_t *f;
    json_array_foreach(json_object_get(app, "federated"), i, f) {
        if (strcmp(json_string_value(json_object_get(f, "issuer")), iss) != 0) {
            continue;
        }
        issuer_known = true;
        size_t j;
        const json_t *aud;
        bool aud_ok = false;
        json_array_foreach(json_object_get(f, "audiences"), j, aud) {
            aud_ok = aud_ok || sr_jwt_aud_has(t->claims, json_string_value(aud));
        }
        if (sub != NULL && strcmp(json_string_value(json_object_get(f, "subject")), sub) == 0) {
            SR_ENSURE(aud_ok, sr_oauth_refuse(req, SR_ERR_OAUTH_CLIENT, "the assertion's aud is not one the federated "
                                                                        "credential accepts"));
            return SR_OK;
        }
    }
    return sr_oauth_refuse(req, SR_ERR_OAUTH_UNAUTHORIZED_CLIENT, "%s",
                           issuer_known ? "no federated credential of the application has the assertion's subject"
                                        : "the application has no federated credential for the assertion's issuer");
}

static enum sr_err sr_client_assertion(struct sr_vault_svc *svc, struct sr_request *req, const json_t *app)
{
    const char *type = sr_form(req, "client_assertion_type");
    const char *assertion = sr_form(req, "client_assertion");
    SR_ENSURE(type != NULL && strcmp(type, SR_ASSERTION_TYPE) == 0 && assertion != NULL,
              sr_oauth_refuse(req, SR_ERR_OAUTH_CLIENT, "the request has neither client_secret nor a client_assertion "
                                                        "of type " SR_ASSERTION_TYPE));
    SR_AUTO(sr_jwt_release) struct sr_jwt t = {0};
    SR_ENSURE(sr_jwt_parse(assertion, &t) == SR_OK,
              sr_oauth_refuse(req, SR_ERR_OAUTH_CLIENT, "client_assertion is not a JWT"));
    bool certificate = json_object_get(t.header, "x5t") != NULL || json_object_get(t.header, "x5t#S256") != NULL;
    return certificate ? sr_assertion_certificate(svc, req, app, assertion, &t)
                       : sr_assertion_federated(svc, req, app, assertion, &t);
}

/* Role names assigned to the application anywhere: informational (the vault checks assignments, not these). */
static json_t *sr_roles_claim(const json_t *assignments, const char *oid)
{
    json_t *roles = json_array();
    size_t i, j;
    const json_t *a, *r;
    json_array_foreach(assignments, i, a) {
        const char *p = json_string_value(json_object_get(a, "principalId"));
        const json_t *name = json_object_get(a, "roleName");
        bool have = false;
        json_array_foreach(roles, j, r) {
            have = have || json_equal(r, name);
        }
        if (roles != NULL && p != NULL && strcasecmp(p, oid) == 0 && json_is_string(name) && !have) {
            json_array_append(roles, (json_t *)name);
        }
    }
    return roles;
}

enum sr_err sr_op_token_issue(struct sr_vault_svc *svc, struct sr_request *req, json_t **ret)
{
    req->audit_refusal_by_count = true;
    const char *grant = sr_form(req, "grant_type");
    SR_ENSURE(grant != NULL && strcmp(grant, "client_credentials") == 0,
              sr_oauth_refuse(req, SR_ERR_OAUTH_GRANT_TYPE, "grant_type %.40s is not client_credentials",
                              grant ? grant : "is missing:"));
    const char *client_id = sr_form(req, "client_id");
    SR_ENSURE(client_id != NULL && sr_is_uuid(client_id),
              sr_oauth_refuse(req, SR_ERR_OAUTH_CLIENT, "client_id must be an application's client id (a GUID)"));
    snprintf(req->who.actor, sizeof(req->who.actor), "%.31s", client_id);
    char resource[160];
    SR_TRY(sr_scope_resource(req, resource, sizeof(resource)));
    SR_AUTO_JSON json_t *app = NULL;
    enum sr_err r = svc->store->ops->ident_get(svc->store, SR_IDENT_APP, client_id, &app);
    if (r == SR_ERR_NOT_FOUND) {
        SR_TRY(sr_client_not_locked(svc, req, req->who.actor));
        return sr_oauth_refuse(req, SR_ERR_OAUTH_CLIENT, "no application has client id %s", client_id);
    }
    SR_TRY(r);
    const char *name = json_string_value(json_object_get(app, "name"));
    snprintf(req->who.actor, sizeof(req->who.actor), "%.31s", name ? name : client_id);
    SR_TRY(sr_client_not_locked(svc, req, req->who.actor)); /* counted under the actor its refusals are audited as */
    const char *secret = sr_form(req, "client_secret");
    if (secret != NULL) {
        r = sr_app_secret_check(app, secret);
        SR_ENSURE(r != SR_ERR_SECRET_WRONG, sr_oauth_refuse(req, SR_ERR_OAUTH_CLIENT, "the client secret is wrong"));
        SR_ENSURE(r != SR_ERR_SECRET_EXPIRED, sr_oauth_refuse(req, SR_ERR_OAUTH_CLIENT, "the client secret has expired"));
        SR_TRY(r);
    } else {
        SR_TRY(sr_client_assertion(svc, req, app));
    }
    req->audit_refusal_by_count = false;
    /* Authenticated: what follows is the server's work, audited as any operation. */
    const char *oid = json_string_value(json_object_get(app, "objectId"));
    SR_AUTO(sr_signer_release) struct sr_signer signer = {0};
    SR_TRY(sr_signer_current(svc, &signer));
    SR_AUTO(sr_ident_snapshot_release) struct sr_ident_snapshot snap = {0};
    SR_TRY(sr_ident_snapshot(svc, SR_ID_ASSIGNMENTS, &snap));
    long long now = (long long)time(NULL), life = sr_lifetime(svc);
    char issuer[512], jti[SR_UUID_LEN + 1];
    snprintf(issuer, sizeof(issuer), "%s/%s/v2.0", req->base_url, SR_TENANT_ID);
    sr_uuid(jti);
    SR_AUTO_JSON json_t *claims = json_pack(
        "{s:s,s:s,s:I,s:I,s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:s,s:s}", "aud", resource, "iss", issuer, "iat",
        (json_int_t)now, "nbf", (json_int_t)now, "exp", (json_int_t)(now + life), "appid", client_id, "azp",
        client_id, "appidacr", secret != NULL ? "1" : "2", "oid", oid, "sub", oid, "tid", SR_TENANT_ID,
        "app_displayname", name, "roles", sr_roles_claim(snap.assignments, oid), "ver", "2.0", "jti", jti);
    SR_ENSURE(claims != NULL, SR_ERR_NOMEM);
    SR_AUTO_BUF struct sr_buf token = {0};
    sr_buf_init(&token, SR_JWT_MAX, SR_BUF_SECRET);
    SR_TRY(sr_token_sign(&signer, claims, &token));
    snprintf(req->name_buf, sizeof(req->name_buf), "%s", oid); /* the audit entry's target: the principal */
    req->name = req->name_buf;
    *ret = json_pack("{s:s,s:I,s:I,s:s}", "token_type", "Bearer", "expires_in", (json_int_t)life, "ext_expires_in",
                     (json_int_t)life, "access_token", (const char *)token.data);
    SR_ENSURE(*ret != NULL, SR_ERR_NOMEM);
    return SR_OK;
}

/* --- the vault's side: an access token presented as a bearer token --- */

static struct sr_seen_token *sr_seen_find(struct sr_ident_cache *c, const uint8_t h[32])
{
    for (size_t i = 0; i < SR_SEEN_TOKENS; i++) {
        if (c->tokens[i].exp != 0 && memcmp(c->tokens[i].hash, h, 32) == 0) {
            return &c->tokens[i];
        }
    }
    return NULL;
}

/* aud names url ("https://host[:port]"), with or without url's port. */
static bool sr_aud_names(const char *aud, const char *url)
{
    if (url == NULL) {
        return false;
    }
    if (strcasecmp(aud, url) == 0) {
        return true;
    }
    const char *host = strncasecmp(url, "https://", 8) == 0 ? url + 8 : url;
    size_t name = strcspn(host, ":");
    size_t prefix = (size_t)(host - url) + name;
    return strlen(aud) == prefix && strncasecmp(aud, url, prefix) == 0;
}

/* aud is the challenge's resource, this vault's own host, or Key Vault at large (each with or without the port). */
static bool sr_aud_fits(const char *aud, const char *resource, const char *host)
{
    char own[300];
    snprintf(own, sizeof(own), "https://%s", host ? host : "");
    return strcasecmp(aud, SR_GENERIC_RESOURCE) == 0 || sr_aud_names(aud, resource) ||
           (host != NULL && sr_aud_names(aud, own));
}

static enum sr_err sr_jwt_check(struct sr_vault_svc *svc, const char *token, const json_t *signers,
                                struct sr_seen_token *ret)
{
    SR_AUTO(sr_jwt_release) struct sr_jwt t = {0};
    SR_ENSURE(sr_jwt_parse(token, &t) == SR_OK, SR_ERR_UNAUTHORIZED);
    const char *kid = sr_jwt_claim(t.header, "kid");
    const json_t *doc = kid != NULL ? json_object_get(signers, kid) : NULL;
    SR_ENSURE(doc != NULL, SR_ERR_JWT_ISSUER);
    SR_AUTO_PKEY EVP_PKEY *pub = NULL;
    SR_ENSURE(sr_ident_public_key(svc, json_object_get(doc, "jwk"), NULL, &pub) == SR_OK, SR_ERR_JWT_ISSUER);
    SR_TRY(sr_jwt_verify(&t, token, pub));
    const char *tid = sr_jwt_claim(t.claims, "tid"), *oid = sr_jwt_claim(t.claims, "oid");
    const char *aud = sr_jwt_claim(t.claims, "aud");
    SR_ENSURE(tid != NULL && strcmp(tid, SR_TENANT_ID) == 0 && oid != NULL && sr_is_uuid(oid) && aud != NULL &&
                  strlen(aud) < sizeof(ret->aud),
              SR_ERR_JWT_ISSUER);
    /* Our own clock made exp: no skew is owed to it. */
    const json_t *exp = json_object_get(t.claims, "exp");
    SR_ENSURE(json_is_integer(exp) && json_integer_value(exp) > (json_int_t)time(NULL), SR_ERR_TOKEN_EXPIRED);
    ret->exp = (long long)json_integer_value(exp);
    snprintf(ret->oid, sizeof(ret->oid), "%s", oid);
    snprintf(ret->kid, sizeof(ret->kid), "%s", kid);
    snprintf(ret->aud, sizeof(ret->aud), "%s", aud);
    return SR_OK;
}

enum sr_err sr_authenticate_jwt(struct sr_vault_svc *svc, const char *token, const char *resource,
                                const char *host, struct sr_principal *ret)
{
    uint8_t h[32];
    SR_TRY(sr_sha256(token, strlen(token), h));
    SR_AUTO(sr_ident_snapshot_release) struct sr_ident_snapshot snap = {0};
    SR_TRY(sr_ident_snapshot(svc, SR_ID_SIGNERS | SR_ID_APPS, &snap));
    struct sr_ident_cache *c = &svc->idc;
    struct sr_seen_token seen = {0};
    pthread_mutex_lock(&c->lock);
    struct sr_seen_token *s = sr_seen_find(c, h);
    if (s != NULL) {
        seen = *s;
    }
    pthread_mutex_unlock(&c->lock);
    if (seen.exp == 0) {
        SR_TRY(sr_jwt_check(svc, token, snap.signers, &seen));
        memcpy(seen.hash, h, sizeof(h));
        pthread_mutex_lock(&c->lock);
        c->tokens[c->tokens_next] = seen;
        c->tokens_next = (c->tokens_next + 1) % SR_SEEN_TOKENS;
        pthread_mutex_unlock(&c->lock);
    }
    /* Kept verifications still end at exp, and with their key: a signing key removed ends its tokens. */
    SR_ENSURE(seen.exp > (long long)time(NULL), SR_ERR_TOKEN_EXPIRED);
    SR_ENSURE(json_object_get(snap.signers, seen.kid) != NULL, SR_ERR_JWT_ISSUER);
    const json_t *app = json_object_get(snap.apps, seen.oid);
    const char *name = json_string_value(json_object_get(app, "name"));
    snprintf(ret->actor, sizeof(ret->actor), "%.31s", name != NULL ? name : seen.oid);
    SR_ENSURE(app != NULL, SR_ERR_PRINCIPAL_GONE);
    SR_ENSURE(sr_aud_fits(seen.aud, resource, host), SR_ERR_JWT_AUDIENCE);
    snprintf(ret->oid, sizeof(ret->oid), "%s", seen.oid);
    ret->role[0] = ret->scope[0] = 0;
    ret->perms = 0;
    return SR_OK;
}
