/*
 * release.c - secure key release, Key Vault's transfer out: POST /keys/{name}/{version}/release hands the
 * key's material, wrapped (CKM_RSA_AES_KEY_WRAP) for the RSA key an attestation token names, to a caller
 * whose token comes from an authority the vault trusts (`strongroom vault trust-authority`), is signed by
 * it, is in date, and carries claims that satisfy the key's release policy. The answer is a JWS signed by
 * the region module's warranted identity key. Only a key made exportable (with a policy) can leave, and the
 * module checks that too: such a key's ACL alone has Release.
 *
 * Also the release policy itself, Key Vault's grammar (version 1.0.0): {version, anyOf: [{authority,
 * allOf|anyOf: [conditions]}]}, a condition being {claim, equals|notEquals|less|lessOrEquals|greater|
 * greaterOrEquals|exists: value} or a nested {allOf|anyOf: [...]}. Member names compare without case, as
 * the grammar writes them in lower case and the examples in camel case.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/json.h"
#include "crypto/crypto.h"
#include "crypto/jwk.h"
#include "crypto/jwt.h"
#include "crypto/ossl.h"
#include "hsm/transfer.h"
#include "vault/internal.h"

#define SR_POLICY_MAX_DEPTH 8
#define SR_POLICY_MAX_CONDITIONS 256
#define SR_POLICY_MAX_TEXT 16384
#define SR_RELEASE_CONTENT_TYPE "application/json; charset=utf-8"
#define SR_RELEASE_DEFAULT_ENC "CKM_RSA_AES_KEY_WRAP"

enum sr_claim_op {
    SR_CLAIM_EQUALS, SR_CLAIM_NOT_EQUALS, SR_CLAIM_LESS, SR_CLAIM_LESS_EQ, SR_CLAIM_GREATER, SR_CLAIM_GREATER_EQ,
    SR_CLAIM_EXISTS,
};

static const struct {
    const char *name;
    enum sr_claim_op op;
} sr_claim_ops[] = {
    {"equals", SR_CLAIM_EQUALS},       {"notEquals", SR_CLAIM_NOT_EQUALS}, {"less", SR_CLAIM_LESS},
    {"lessOrEquals", SR_CLAIM_LESS_EQ}, {"greater", SR_CLAIM_GREATER},      {"greaterOrEquals", SR_CLAIM_GREATER_EQ},
    {"exists", SR_CLAIM_EXISTS},
};

/* obj[name], the name compared without case. */
static const json_t *sr_member(const json_t *obj, const char *name)
{
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        if (strcasecmp(key, name) == 0) {
            return v;
        }
    }
    return NULL;
}

struct sr_policy_check {
    char *why;
    size_t cap;
    unsigned conditions;
};

__attribute__((format(printf, 2, 3))) static enum sr_err sr_policy_bad(struct sr_policy_check *pc, const char *fmt,
                                                                        ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pc->why, pc->cap, fmt, ap);
    va_end(ap);
    return SR_ERR_BAD_PARAM;
}

/* A claim condition's operator: its one member besides "claim". */
static enum sr_err sr_claim_operator(struct sr_policy_check *pc, const json_t *cond, enum sr_claim_op *op,
                                     const json_t **value)
{
    unsigned found = 0;
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)cond, key, v) {
        if (strcasecmp(key, "claim") == 0) {
            continue;
        }
        bool known = false;
        for (size_t i = 0; i < SR_ARRAY_LEN(sr_claim_ops); i++) {
            if (strcasecmp(key, sr_claim_ops[i].name) == 0) {
                *op = sr_claim_ops[i].op;
                *value = v;
                known = true;
                found++;
            }
        }
        SR_ENSURE(known, sr_policy_bad(pc, "'%.40s' is not a condition's member (claim with one of equals, notEquals, "
                                           "less, lessOrEquals, greater, greaterOrEquals, exists)", key));
    }
    SR_ENSURE(found == 1, sr_policy_bad(pc, "a claim condition has exactly one operator (equals, notEquals, ...)"));
    bool number = json_is_number(*value);
    bool ok = *op == SR_CLAIM_EXISTS ? json_is_boolean(*value)
              : *op == SR_CLAIM_EQUALS || *op == SR_CLAIM_NOT_EQUALS
                  ? json_is_string(*value) || number || json_is_boolean(*value)
                  : number;
    SR_ENSURE(ok, sr_policy_bad(pc, "a condition's value must be a string, number or boolean (a number for less and "
                                    "greater, a boolean for exists)"));
    return SR_OK;
}

static enum sr_err sr_conditions_check(struct sr_policy_check *pc, const json_t *arr, unsigned depth);

static enum sr_err sr_condition_check(struct sr_policy_check *pc, const json_t *cond, unsigned depth)
{
    SR_ENSURE(depth <= SR_POLICY_MAX_DEPTH, sr_policy_bad(pc, "conditions nest deeper than %d", SR_POLICY_MAX_DEPTH));
    SR_ENSURE(++pc->conditions <= SR_POLICY_MAX_CONDITIONS,
              sr_policy_bad(pc, "more than %d conditions", SR_POLICY_MAX_CONDITIONS));
    SR_ENSURE(json_is_object(cond), sr_policy_bad(pc, "a condition must be an object"));
    const json_t *claim = sr_member(cond, "claim");
    if (claim != NULL) {
        SR_ENSURE(json_is_string(claim) && json_string_length(claim) > 0 && json_string_length(claim) <= 256,
                  sr_policy_bad(pc, "a condition's claim must be a claim name (a string)"));
        enum sr_claim_op op;
        const json_t *value = NULL;
        return sr_claim_operator(pc, cond, &op, &value);
    }
    const json_t *any = sr_member(cond, "anyOf");
    const json_t *all = sr_member(cond, "allOf");
    SR_ENSURE((any == NULL) != (all == NULL) && json_object_size(cond) == 1,
              sr_policy_bad(pc, "a condition is {claim, operator: value}, {anyOf: [...]} or {allOf: [...]}"));
    return sr_conditions_check(pc, any ? any : all, depth + 1);
}

static enum sr_err sr_conditions_check(struct sr_policy_check *pc, const json_t *arr, unsigned depth)
{
    SR_ENSURE(json_is_array(arr) && json_array_size(arr) > 0,
              sr_policy_bad(pc, "anyOf and allOf take a non-empty array of conditions"));
    size_t i;
    const json_t *c;
    json_array_foreach(arr, i, c) {
        SR_TRY(sr_condition_check(pc, c, depth));
    }
    return SR_OK;
}

enum sr_err sr_release_policy_check(const json_t *policy, char *why, size_t cap)
{
    struct sr_policy_check pc = {.why = why, .cap = cap};
    SR_ENSURE(json_is_object(policy), sr_policy_bad(&pc, "the policy must be a JSON object"));
    const char *version = json_string_value(sr_member(policy, "version"));
    SR_ENSURE(version != NULL && (strcmp(version, "1.0.0") == 0 || strcmp(version, "0.2") == 0),
              sr_policy_bad(&pc, "the policy's version must be \"1.0.0\""));
    const json_t *authorities = sr_member(policy, "anyOf");
    SR_ENSURE(json_is_array(authorities) && json_array_size(authorities) > 0,
              sr_policy_bad(&pc, "the policy needs anyOf: a non-empty array of {authority, allOf|anyOf}"));
    size_t i;
    const json_t *a;
    json_array_foreach(authorities, i, a) {
        SR_ENSURE(json_is_object(a), sr_policy_bad(&pc, "each anyOf entry is {authority, allOf|anyOf}"));
        const char *url = json_string_value(sr_member(a, "authority"));
        SR_ENSURE(url != NULL && strlen(url) <= SR_MAX_ISSUER &&
                      (strncmp(url, "https://", 8) == 0 || strncmp(url, "http://", 7) == 0),
                  sr_policy_bad(&pc, "each anyOf entry needs authority: the URL of an attestation authority"));
        const json_t *any = sr_member(a, "anyOf");
        const json_t *all = sr_member(a, "allOf");
        SR_ENSURE((any == NULL) != (all == NULL) && json_object_size(a) == 2,
                  sr_policy_bad(&pc, "an authority takes exactly one of allOf or anyOf"));
        SR_TRY(sr_conditions_check(&pc, any ? any : all, 1));
    }
    return SR_OK;
}

/* The claim a condition names: a top-level claim of that name, else a path of nested claims ("a.b.c"). */
static const json_t *sr_claim_find(const json_t *claims, const char *name)
{
    const json_t *v = json_object_get(claims, name);
    if (v != NULL || strchr(name, '.') == NULL) {
        return v;
    }
    char path[257];
    snprintf(path, sizeof(path), "%s", name);
    v = claims;
    for (char *save = NULL, *part = strtok_r(path, ".", &save); part != NULL && v != NULL;
         part = strtok_r(NULL, ".", &save)) {
        v = json_object_get(v, part);
    }
    return v;
}

/* A string that stands for a scalar of another type: "true"/"false" (any case) for a boolean, the whole
 * string read as a number for a number. */
static bool sr_string_is_value(const json_t *str, const json_t *other)
{
    const char *s = json_string_value(str);
    if (json_is_boolean(other)) {
        return strcasecmp(s, json_is_true(other) ? "true" : "false") == 0;
    }
    if (json_is_number(other) && *s != 0) {
        char *end = NULL;
        double d = strtod(s, &end);
        return *end == 0 && d == json_number_value(other);
    }
    return false;
}

/*
 * equals as Key Vault evaluates it. Its grammar (learn.microsoft.com, "secure key release policy grammar")
 * lets a condition's value be a string, a number, true or false, and says nothing of types; Azure releases
 * under {"equals": "true"} for a token claim true (the SDK's recorded tests), so a string compares with a
 * boolean or a number by what it spells, both ways. Strings compare exactly.
 */
static bool sr_values_equal(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b)) {
        return json_number_value(a) == json_number_value(b);
    }
    if (json_is_string(a) && json_is_string(b)) {
        return json_string_length(a) == json_string_length(b) &&
               memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
    }
    if (json_is_string(a) || json_is_string(b)) {
        return json_is_string(a) ? sr_string_is_value(a, b) : sr_string_is_value(b, a);
    }
    return json_is_boolean(a) && json_is_boolean(b) && json_is_true(a) == json_is_true(b);
}

static bool sr_claim_holds(const json_t *cond, const json_t *claims)
{
    struct sr_policy_check pc = {.why = (char[1]){0}, .cap = 1};
    enum sr_claim_op op;
    const json_t *want = NULL;
    if (sr_claim_operator(&pc, cond, &op, &want) != SR_OK) {
        return false;
    }
    const json_t *got = sr_claim_find(claims, json_string_value(sr_member(cond, "claim")));
    if (op == SR_CLAIM_EXISTS) {
        return (got != NULL) == json_is_true(want);
    }
    if (got == NULL) {
        return false;
    }
    if (op == SR_CLAIM_EQUALS || op == SR_CLAIM_NOT_EQUALS) {
        return sr_values_equal(got, want) == (op == SR_CLAIM_EQUALS);
    }
    if (!json_is_number(got)) {
        return false;
    }
    double g = json_number_value(got), w = json_number_value(want);
    return op == SR_CLAIM_LESS ? g < w : op == SR_CLAIM_LESS_EQ ? g <= w : op == SR_CLAIM_GREATER ? g > w : g >= w;
}

static bool sr_condition_holds(const json_t *cond, const json_t *claims, unsigned depth);

/* all: every condition holds; otherwise at least one. */
static bool sr_conditions_hold(const json_t *arr, bool all, const json_t *claims, unsigned depth)
{
    if (!json_is_array(arr) || json_array_size(arr) == 0 || depth > SR_POLICY_MAX_DEPTH) {
        return false;
    }
    size_t i;
    const json_t *c;
    json_array_foreach(arr, i, c) {
        if (sr_condition_holds(c, claims, depth) != all) {
            return !all;
        }
    }
    return all;
}

static bool sr_condition_holds(const json_t *cond, const json_t *claims, unsigned depth)
{
    if (!json_is_object(cond)) {
        return false;
    }
    if (sr_member(cond, "claim") != NULL) {
        return sr_claim_holds(cond, claims);
    }
    const json_t *any = sr_member(cond, "anyOf");
    return any != NULL ? sr_conditions_hold(any, false, claims, depth + 1)
                       : sr_conditions_hold(sr_member(cond, "allOf"), true, claims, depth + 1);
}

/* An authority's URL as the store keys it: lower case, no trailing slash — so a token's iss that differs
 * from the trusted one by case or a trailing '/' (Azure's attestation tokens end theirs with one) finds it. */
static void sr_authority_key(const char *url, char out[SR_MAX_ISSUER + 1])
{
    size_t n = strnlen(url, SR_MAX_ISSUER);
    while (n > 0 && url[n - 1] == '/') {
        n--;
    }
    for (size_t i = 0; i < n; i++) {
        out[i] = (char)tolower((unsigned char)url[i]);
    }
    out[n] = 0;
}

/* URLs of one authority: the same but for case and trailing slashes. */
static bool sr_same_authority(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    while (la > 0 && a[la - 1] == '/') {
        la--;
    }
    while (lb > 0 && b[lb - 1] == '/') {
        lb--;
    }
    return la == lb && strncasecmp(a, b, la) == 0;
}

bool sr_release_policy_allows(const json_t *policy, const char *issuer, const json_t *claims)
{
    if (issuer == NULL) {
        return false;
    }
    const json_t *authorities = sr_member(policy, "anyOf");
    size_t i;
    const json_t *a;
    json_array_foreach(authorities, i, a) {
        const char *url = json_string_value(sr_member(a, "authority"));
        if (url == NULL || !sr_same_authority(url, issuer)) {
            continue;
        }
        const json_t *any = sr_member(a, "anyOf");
        if (any != NULL ? sr_conditions_hold(any, false, claims, 1)
                        : sr_conditions_hold(sr_member(a, "allOf"), true, claims, 1)) {
            return true;
        }
    }
    return false;
}

/* The policy a request gives (release_policy: {contentType, immutable, data}), checked, as the key keeps
 * it; NULL when the request gives none. */
static enum sr_err sr_release_policy_parse(struct sr_request *req, const json_t *given, json_t **ret)
{
    *ret = NULL;
    if (given == NULL || json_is_null(given)) {
        return SR_OK;
    }
    SR_ENSURE(json_is_object(given), sr_req_bad(req, "release_policy must be an object {contentType, immutable, data}"));
    const json_t *ct = json_object_get(given, "contentType");
    const char *ctype = ct == NULL || json_is_null(ct) ? SR_RELEASE_CONTENT_TYPE : json_string_value(ct);
    SR_ENSURE(ctype != NULL && strncasecmp(ctype, "application/json", 16) == 0 && strlen(ctype) < 64,
              sr_req_bad(req, "release_policy.contentType must be application/json; charset=utf-8"));
    const json_t *imm = json_object_get(given, "immutable");
    SR_ENSURE(imm == NULL || json_is_null(imm) || json_is_boolean(imm),
              sr_req_bad(req, "release_policy.immutable must be true or false"));
    const char *data = json_string_value(json_object_get(given, "data"));
    SR_ENSURE(data != NULL, sr_req_bad(req, "release_policy.data (the policy's JSON, base64url) is required"));
    SR_AUTO_BUF struct sr_buf text = {0};
    sr_buf_init(&text, SR_POLICY_MAX_TEXT, SR_BUF_PLAIN);
    SR_ENSURE(sr_b64url_decode(data, &text) == SR_OK,
              sr_req_bad(req, "release_policy.data must be the base64url of the policy's JSON (at most 16 KiB)"));
    SR_AUTO_JSON json_t *policy = json_loadb((const char *)text.data, text.len, JSON_REJECT_DUPLICATES, NULL);
    char why[160] = "";
    SR_ENSURE(policy != NULL, sr_req_bad(req, "release_policy.data is not JSON"));
    SR_ENSURE(sr_release_policy_check(policy, why, sizeof(why)) == SR_OK, sr_req_bad(req, "release_policy: %s", why));
    *ret = json_pack("{s:s,s:b,s:s}", "contentType", ctype, "immutable", json_is_true(imm), "data", data);
    SR_ENSURE(*ret != NULL, SR_ERR_NOMEM);
    return SR_OK;
}

/* The policy a stored key keeps, decoded. */
static enum sr_err sr_release_policy_of(const struct sr_key_row *k, json_t **ret)
{
    const char *data = json_string_value(json_object_get(k->release_policy, "data"));
    SR_ENSURE(data != NULL, SR_ERR_INTERNAL);
    SR_AUTO_BUF struct sr_buf text = {0};
    sr_buf_init(&text, SR_POLICY_MAX_TEXT, SR_BUF_PLAIN);
    SR_TRY(sr_b64url_decode(data, &text));
    *ret = json_loadb((const char *)text.data, text.len, 0, NULL);
    SR_ENSURE(*ret != NULL, SR_ERR_INTERNAL);
    return SR_OK;
}

enum sr_err sr_key_release_parse(struct sr_request *req, const json_t *body, struct sr_key_row *k)
{
    const json_t *attrs = json_object_get(body, "attributes");
    const json_t *exportable = json_is_object(attrs) ? json_object_get(attrs, "exportable") : NULL;
    SR_ENSURE(exportable == NULL || json_is_null(exportable) || json_is_boolean(exportable),
              sr_req_bad(req, "attributes.exportable must be true or false"));
    SR_AUTO_JSON json_t *policy = NULL;
    SR_TRY(sr_release_policy_parse(req, json_object_get(body, "release_policy"), &policy));
    /* Key Vault's words for both halves of its rule. */
    SR_ENSURE(!json_is_true(exportable) || policy != NULL,
              sr_req_bad(req, "AKV.SKR.1004: Exportable keys must have release policy."));
    SR_ENSURE(json_is_true(exportable) || policy == NULL,
              sr_req_bad(req, "AKV.SKR.1005: Non-exportable keys must not have release policy."));
    if (k->release_policy != NULL) {
        json_decref(k->release_policy);
    }
    k->release_policy = SR_TAKE(policy);
    return SR_OK;
}

enum sr_err sr_key_release_update(struct sr_request *req, const json_t *body, struct sr_key_row *k)
{
    const json_t *attrs = json_object_get(body, "attributes");
    const json_t *exportable = json_is_object(attrs) ? json_object_get(attrs, "exportable") : NULL;
    SR_ENSURE(exportable == NULL || json_is_null(exportable) || json_is_true(exportable) == (k->release_policy != NULL),
              sr_req_bad(req, "attributes.exportable is fixed when a key version is made; it cannot change"));
    const json_t *given = json_object_get(body, "release_policy");
    if (given == NULL || json_is_null(given)) {
        return SR_OK;
    }
    SR_ENSURE(k->release_policy != NULL, sr_req_bad(req, "AKV.SKR.1005: Non-exportable keys must not have release policy."));
    SR_ENSURE(!json_is_true(json_object_get(k->release_policy, "immutable")),
              sr_req_bad(req, "AKV.SKR.1020: Immutable Key Release Policy cannot be modified."));
    SR_AUTO_JSON json_t *policy = NULL;
    SR_TRY(sr_release_policy_parse(req, given, &policy));
    json_decref(k->release_policy);
    k->release_policy = SR_TAKE(policy);
    return SR_OK;
}

unsigned sr_key_acl(const struct sr_key_row *k)
{
    return SR_VAULT_ACL | (k->release_policy != NULL ? SR_ACL_RELEASE : 0);
}

#define SR_MAX_AUTHORITY_KEYS 32

enum sr_err sr_vault_trust_authority(struct sr_store *store, const char *vault, const char *issuer,
                                     const uint8_t *jwks, size_t len, char *why, size_t cap)
{
    struct sr_policy_check pc = {.why = why, .cap = cap};
    struct sr_vault_row v;
    enum sr_err r = store->ops->vault_get(store, vault, &v);
    SR_ENSURE(r != SR_ERR_NOT_FOUND, SR_ERR_VAULT_NOT_FOUND);
    SR_TRY(r);
    SR_ENSURE((strncmp(issuer, "https://", 8) == 0 || strncmp(issuer, "http://", 7) == 0) &&
                  strlen(issuer) <= SR_MAX_ISSUER && strcspn(issuer, " \t\r\n") == strlen(issuer),
              sr_policy_bad(&pc, "--issuer must be the authority's URL (https://..., at most %d characters), as its "
                                 "tokens' iss says", SR_MAX_ISSUER));
    SR_AUTO_JSON json_t *set = json_loadb((const char *)jwks, len, JSON_REJECT_DUPLICATES, NULL);
    const json_t *keys = json_object_get(set, "keys");
    SR_ENSURE(json_is_array(keys) && json_array_size(keys) > 0 && json_array_size(keys) <= SR_MAX_AUTHORITY_KEYS,
              sr_policy_bad(&pc, "the JWKS file must be JSON {\"keys\": [...]} with 1 to %d keys",
                            SR_MAX_AUTHORITY_KEYS));
    size_t i;
    const json_t *k;
    json_array_foreach(keys, i, k) {
        SR_AUTO_PKEY EVP_PKEY *pub = NULL;
        SR_ENSURE(sr_jwk_public_to_pkey(k, &pub) == SR_OK,
                  sr_policy_bad(&pc, "key %zu of the JWKS is not an RSA or EC public key (kty, n, e or crv, x, y)",
                                i + 1));
    }
    char key[SR_MAX_ISSUER + 1];
    sr_authority_key(issuer, key);
    return sr_store_authority_put(store, v.name, key, set, (long long)time(NULL));
}

enum sr_err sr_vault_distrust_authority(struct sr_store *store, const char *vault, const char *issuer)
{
    struct sr_vault_row v;
    enum sr_err r = store->ops->vault_get(store, vault, &v);
    SR_ENSURE(r != SR_ERR_NOT_FOUND, SR_ERR_VAULT_NOT_FOUND);
    SR_TRY(r);
    SR_ENSURE(strlen(issuer) <= SR_MAX_ISSUER, SR_ERR_NOT_FOUND);
    char key[SR_MAX_ISSUER + 1];
    sr_authority_key(issuer, key);
    /* As trusted: under its key, or (trusted before keys were made) exactly as given then. */
    const char *const names[] = {key, issuer};
    bool found = false;
    for (size_t i = 0; i < SR_ARRAY_LEN(names); i++) {
        SR_AUTO_JSON json_t *jwks = NULL;
        r = store->ops->authority_get(store, v.name, names[i], &jwks);
        if (r == SR_ERR_NOT_FOUND) {
            continue;
        }
        SR_TRY(r);
        SR_TRY(sr_store_authority_put(store, v.name, names[i], NULL, (long long)time(NULL)));
        found = true;
    }
    return found ? SR_OK : SR_ERR_NOT_FOUND;
}

/* --- the attestation token --- */

/* Sets the refusal's reason and returns the one error of a refused release (403). */
__attribute__((format(printf, 2, 3))) static enum sr_err sr_release_refused(struct sr_request *req, const char *fmt,
                                                                             ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(req->detail, sizeof(req->detail), fmt, ap);
    va_end(ap);
    return SR_ERR_RELEASE_DENIED;
}

/* Signature by a key of an authority this vault trusts, then iss, exp and nbf. */
static enum sr_err sr_jwt_trusted(struct sr_vault_svc *svc, struct sr_request *req, const char *token,
                                  const struct sr_jwt *t, const char **ret_issuer)
{
    const char *iss = json_string_value(json_object_get(t->claims, "iss"));
    SR_ENSURE(iss != NULL && strlen(iss) <= SR_MAX_ISSUER, sr_release_refused(req, "the target token has no iss"));
    SR_AUTO_JSON json_t *jwks = NULL;
    char trusted[SR_MAX_ISSUER + 1];
    sr_authority_key(iss, trusted);
    enum sr_err r = svc->store->ops->authority_get(svc->store, req->vault.name, trusted, &jwks);
    if (r == SR_ERR_NOT_FOUND) {
        r = svc->store->ops->authority_get(svc->store, req->vault.name, iss, &jwks); /* trusted before keys were */
    }
    SR_ENSURE(r != SR_ERR_NOT_FOUND,
              sr_release_refused(req, "the token's issuer %.80s is not an authority this vault trusts", iss));
    SR_TRY(r);
    SR_ENSURE(json_object_get(t->header, "crit") == NULL,
              sr_release_refused(req, "the token's header names critical extensions (crit) this vault does not know"));
    SR_AUTO_PKEY EVP_PKEY *key = NULL;
    SR_ENSURE(sr_jwks_key(jwks, json_string_value(json_object_get(t->header, "kid")), &key) == SR_OK,
              sr_release_refused(req, "no key of %.80s matches the token's kid and alg", iss));
    enum sr_err r2 = sr_jwt_verify(t, token, key);
    SR_ENSURE(r2 != SR_ERR_JWT_ALG, sr_release_refused(req, "the token's alg must be RS256/384/512, PS256/384/512 or "
                                                            "ES256/384/512, and fit the key of %.80s", iss));
    SR_ENSURE(r2 == SR_OK, sr_release_refused(req, "the token's signature does not verify with the keys of %.80s", iss));
    r2 = sr_jwt_times(t->claims, (long long)time(NULL));
    SR_ENSURE(r2 != SR_ERR_TOKEN_EXPIRED, sr_release_refused(req, "the token has expired (or has no exp)"));
    SR_ENSURE(r2 == SR_OK, sr_release_refused(req, "the token is not valid yet (nbf)"));
    *ret_issuer = iss;
    return SR_OK;
}

/* The key the token asks the release to be wrapped for: the first RSA key among its runtime keys
 * (x-ms-runtime.keys, where Azure Attestation puts them, or under x-ms-isolation-tee for a confidential VM). */
static enum sr_err sr_runtime_key(struct sr_request *req, const json_t *claims, EVP_PKEY **ret, const char **ret_kid)
{
    const json_t *keys = sr_claim_find(claims, "x-ms-runtime.keys");
    if (keys == NULL) {
        keys = sr_claim_find(claims, "x-ms-isolation-tee.x-ms-runtime.keys");
    }
    size_t i;
    const json_t *k;
    json_array_foreach(keys, i, k) {
        const char *kty = json_string_value(json_object_get(k, "kty"));
        if (kty != NULL && strcmp(kty, "RSA") == 0 && sr_jwk_public_to_pkey(k, ret) == SR_OK) {
            *ret_kid = json_string_value(json_object_get(k, "kid"));
            return SR_OK;
        }
    }
    return sr_release_refused(req, "the token names no RSA key to wrap the key for (x-ms-runtime.keys)");
}

/* A certificate's DER in base64 (x5c): the PEM's body without its lines. */
static enum sr_err sr_x5c_entry(const struct sr_buf *pem, json_t *x5c)
{
    const char *text = (const char *)pem->data;
    const char *begin = strstr(text, "-----\n");
    const char *end = begin ? strstr(begin, "-----END") : NULL;
    SR_ENSURE(end != NULL, SR_ERR_INTERNAL);
    char *b64 = strndup(begin + 6, (size_t)(end - begin - 6));
    SR_ENSURE(b64 != NULL, SR_ERR_NOMEM);
    char *w = b64;
    for (const char *c = b64; *c; c++) {
        if (*c != '\n' && *c != '\r') {
            *w++ = *c;
        }
    }
    *w = 0;
    int rc = json_array_append_new(x5c, json_string(b64));
    free(b64);
    SR_ENSURE(rc == 0, SR_ERR_NOMEM);
    return SR_OK;
}

/* A JWS (ES384) by the region module's identity key over payload, with the warrant and root as x5c. */
static enum sr_err sr_module_jws(const struct sr_hsm *m, const json_t *payload, json_t **ret)
{
    SR_AUTO_BUF struct sr_buf warrant = {0};
    SR_AUTO_BUF struct sr_buf root = {0};
    sr_buf_init(&warrant, 65536, SR_BUF_PLAIN);
    sr_buf_init(&root, 65536, SR_BUF_PLAIN);
    SR_TRY(sr_hsm_certificates(m, &warrant, &root));
    SR_AUTO_JSON json_t *x5c = json_array();
    SR_ENSURE(x5c != NULL, SR_ERR_NOMEM);
    SR_TRY(sr_x5c_entry(&warrant, x5c));
    SR_TRY(sr_x5c_entry(&root, x5c));
    SR_AUTO_JSON json_t *header = json_pack("{s:s,s:s,s:O}", "alg", "ES384", "typ", "JWT", "x5c", x5c);
    SR_ENSURE(header != NULL, SR_ERR_NOMEM);
    SR_AUTO_BUF struct sr_buf jws = {0};
    sr_buf_init(&jws, 4 * SR_MAX_FILE, SR_BUF_PLAIN);
    SR_TRY(sr_b64url_json_append(header, &jws, true));
    SR_TRY(sr_b64url_json_append(payload, &jws, false));
    SR_AUTO_BUF struct sr_buf der = {0};
    SR_AUTO_BUF struct sr_buf raw = {0};
    sr_buf_init(&der, 256, SR_BUF_PLAIN);
    sr_buf_init(&raw, 256, SR_BUF_PLAIN);
    SR_TRY(sr_hsm_attest(m, jws.data, jws.len, &der));
    SR_TRY(sr_ecdsa_der_to_raw(der.data, der.len, sr_sign_alg_coord_len(SR_ALG_ES384), &raw));
    SR_AUTO_BUF struct sr_buf sig = {0};
    sr_buf_init(&sig, 512, SR_BUF_PLAIN);
    SR_TRY(sr_b64url_encode(raw.data, raw.len, &sig));
    SR_TRY(sr_buf_append(&jws, ".", 1));
    SR_TRY(sr_buf_append(&jws, sig.data, strlen((const char *)sig.data) + 1));
    *ret = json_pack("{s:s}", "value", (const char *)jws.data);
    SR_ENSURE(*ret != NULL, SR_ERR_NOMEM);
    return SR_OK;
}

/* enc: Key Vault's KeyEncryptionAlgorithm; the OAEP the transport key is wrapped with. */
static enum sr_err sr_release_enc(struct sr_request *req, const char **enc, enum sr_enc_alg *oaep)
{
    static const struct {
        const char *name;
        enum sr_enc_alg oaep;
    } encs[] = {
        {"CKM_RSA_AES_KEY_WRAP", SR_ENC_RSA_OAEP},
        {"RSA_AES_KEY_WRAP_256", SR_ENC_RSA_OAEP_256},
        {"RSA_AES_KEY_WRAP_384", SR_ENC_RSA_OAEP_384},
    };
    const json_t *given = json_object_get(req->body, "enc");
    *enc = given == NULL || json_is_null(given) ? SR_RELEASE_DEFAULT_ENC : json_string_value(given);
    for (size_t i = 0; *enc != NULL && i < SR_ARRAY_LEN(encs); i++) {
        if (strcmp(*enc, encs[i].name) == 0) {
            *oaep = encs[i].oaep;
            return SR_OK;
        }
    }
    return sr_req_bad(req, "enc must be CKM_RSA_AES_KEY_WRAP, RSA_AES_KEY_WRAP_256 or RSA_AES_KEY_WRAP_384");
}

/* The released key as Key Vault puts it in the JWS: the bundle, its JWK carrying key_hsm (the .byok envelope,
 * here from the vault to the target). */
static enum sr_err sr_released_key(struct sr_vault_svc *svc, const struct sr_request *req, const struct sr_key_row *k,
                                   const char *enc, const char *target_kid, const struct sr_buf *wrapped,
                                   json_t **ret)
{
    SR_AUTO_JSON json_t *bundle = NULL;
    SR_TRY(sr_key_bundle(svc, req, k, NULL, &bundle));
    SR_AUTO_JSON json_t *envelope = json_pack("{s:s,s:{s:s,s:s,s:s}}", "schema_version", "1.0.0", "header", "kid",
                                              target_kid ? target_kid : "", "alg", "dir", "enc", enc);
    SR_ENSURE(envelope != NULL, SR_ERR_NOMEM);
    SR_TRY(sr_json_set_b64url(envelope, "ciphertext", wrapped->data, wrapped->len));
    SR_AUTO_BUF struct sr_buf hsm = {0};
    sr_buf_init(&hsm, 4 * SR_MAX_FILE, SR_BUF_PLAIN);
    SR_TRY(sr_b64url_json_append(envelope, &hsm, false));
    SR_ENSURE(json_object_set_new(json_object_get(bundle, "key"), "key_hsm", json_string((const char *)hsm.data)) == 0,
              SR_ERR_NOMEM);
    *ret = SR_TAKE(bundle);
    return SR_OK;
}

enum sr_err sr_op_key_release(struct sr_vault_svc *svc, struct sr_request *req, json_t **ret)
{
    const char *token = json_string_value(json_object_get(req->body, "target"));
    SR_ENSURE(token != NULL, sr_req_bad(req, "target (the attestation token, a JWT) is required"));
    const json_t *nonce = json_object_get(req->body, "nonce");
    SR_ENSURE(nonce == NULL || json_is_null(nonce) || (json_is_string(nonce) && json_string_length(nonce) <= 256),
              sr_req_bad(req, "nonce must be a string of at most 256 characters"));
    const char *enc = NULL;
    enum sr_enc_alg oaep = SR_ENC_NONE;
    SR_TRY(sr_release_enc(req, &enc, &oaep));
    SR_AUTO_ROW struct sr_key_row k = {0};
    SR_TRY(sr_req_key(svc, req, false, &k, NULL));
    SR_TRY(sr_key_usable(req, &k, 0));
    SR_ENSURE(k.release_policy != NULL,
              sr_release_refused(req, "the key is not exportable (it was made without a release policy)"));
    SR_AUTO(sr_jwt_release) struct sr_jwt t = {0};
    SR_ENSURE(sr_jwt_parse(token, &t) == SR_OK, sr_release_refused(req, "target is not a JWT (header.payload.signature)"));
    const char *issuer = NULL;
    SR_TRY(sr_jwt_trusted(svc, req, token, &t, &issuer));
    SR_AUTO_JSON json_t *policy = NULL;
    SR_TRY(sr_release_policy_of(&k, &policy));
    SR_ENSURE(sr_release_policy_allows(policy, issuer, t.claims),
              sr_release_refused(req, "the token's claims do not satisfy the key's release policy"));
    SR_AUTO_PKEY EVP_PKEY *target = NULL;
    const char *target_kid = NULL;
    SR_TRY(sr_runtime_key(req, t.claims, &target, &target_kid));
    const struct sr_hsm *m = NULL;
    SR_TRY(sr_svc_region_hsm(svc, req->vault.region, &m));
    SR_AUTO_BUF struct sr_buf wrapped = {0};
    sr_buf_init(&wrapped, SR_MAX_FILE, SR_BUF_PLAIN);
    enum sr_err r = sr_hsm_release_wrapped(m, k.blob.data, k.blob.len, target, oaep, &wrapped);
    SR_ENSURE(r != SR_ERR_ACL_DENIED, sr_release_refused(req, "the HSM does not let this key leave: the module's ACL, or the token's own policy "
                                                          "(CKA_EXTRACTABLE, CKA_WRAP_WITH_TRUSTED), forbids it"));
    SR_ENSURE(r != SR_ERR_KEY_TYPE, sr_release_refused(req, "the token's RSA key must have 2048 bits or more"));
    SR_TRY(r);
    json_t *key = NULL;
    SR_TRY(sr_released_key(svc, req, &k, enc, target_kid, &wrapped, &key));
    char kid[1024];
    SR_TRY(sr_key_kid(req, k.name, k.version, kid, sizeof(kid)));
    SR_AUTO_JSON json_t *payload = json_pack("{s:{s:s,s:s,s:s},s:{s:o},s:I,s:s}", "request", "api-version",
                                             req->api_version ? req->api_version : "", "enc", enc, "kid", kid,
                                             "response", "key", key, "iat", (json_int_t)time(NULL), "iss",
                                             req->base_url);
    SR_ENSURE(payload != NULL, SR_ERR_NOMEM);
    if (json_is_string(nonce)) {
        SR_ENSURE(json_object_set(json_object_get(payload, "request"), "nonce", (json_t *)nonce) == 0, SR_ERR_NOMEM);
    }
    return sr_module_jws(m, payload, ret);
}
