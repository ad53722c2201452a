/*
 * import.c - keys that come into a vault from outside: a plain JSON web key, or a BYOK .byok made for
 * the region's Key Exchange Key or for one of the vault's import keys (azure-keyvault.md, BYOK).
 */
#include <stdio.h>
#include <string.h>

#include "base/text.h"
#include "byok/byok.h"
#include "crypto/jwk.h"
#include "hsm/blob.h"
#include "hsm/transfer.h"
#include "vault/internal.h"

/* The KEK a .byok names: the vault's region KEK (urn:strongroom:kek:<REGION>:1), or an import key of this
 * vault (its kid URL). Fills the expected binding label and, for a vault KEK, its blob. */
static enum sr_err sr_byok_kek(struct sr_vault_svc *svc, struct sr_request *req, const struct sr_hsm *m,
                               const struct sr_byok *b, struct sr_key_row *kek_row, char *binding, size_t cap)
{
    struct sr_world_info world;
    SR_TRY(sr_hsm_world(m, &world));
    SR_TRY(sr_binding_make(req->vault.subscription, req->vault.region, world.hkm, binding, cap));
    size_t plen = strlen(SR_KEK_KID_PREFIX);
    if (strncmp(b->kid, SR_KEK_KID_PREFIX, plen) == 0) {
        char expect[128];
        snprintf(expect, sizeof(expect), SR_KEK_KID_PREFIX "%s:1", req->vault.region);
        if (strcmp(b->kid, expect) != 0) {
            snprintf(req->detail, sizeof(req->detail), "the package is for %.120s; this vault's region is %s", b->kid,
                     req->vault.region);
            return SR_ERR_BYOK_KEK;
        }
        /* A region KEK serves every subscription of the region: the package must say whose it is. */
        if (b->binding[0] == 0) {
            snprintf(req->detail, sizeof(req->detail), "a package for a region KEK must carry the binding");
            return SR_ERR_BYOK_BINDING;
        }
        SR_ENSURE(strcmp(b->binding, binding) == 0, SR_ERR_BYOK_BINDING);
        return SR_OK;
    }
    /* https://<this vault>/keys/<name>/<version> */
    char prefix[512];
    snprintf(prefix, sizeof(prefix), "%s/keys/", req->base_url);
    SR_ENSURE(strncmp(b->kid, prefix, strlen(prefix)) == 0, SR_ERR_BYOK_KEK);
    char name[SR_MAX_NAME + 2], version[SR_VERSION_LEN + 2] = "";
    const char *rest = b->kid + strlen(prefix);
    size_t nlen = strcspn(rest, "/");
    SR_ENSURE(nlen > 0 && nlen <= SR_MAX_NAME, SR_ERR_BYOK_KEK);
    memcpy(name, rest, nlen);
    name[nlen] = 0;
    if (rest[nlen] == '/') {
        SR_ENSURE(strlen(rest + nlen + 1) <= SR_VERSION_LEN, SR_ERR_BYOK_KEK);
        strcpy(version, rest + nlen + 1);
    }
    enum sr_err r = svc->store->ops->key_get(svc->store, req->vault.name, name, version, false, kek_row, NULL);
    SR_ENSURE(r != SR_ERR_NOT_FOUND, SR_ERR_BYOK_KEK);
    SR_TRY(r);
    SR_ENSURE(kek_row->key_ops == SR_KOP_IMPORT, SR_ERR_BYOK_KEK);
    SR_TRY(sr_key_usable(req, kek_row, SR_KOP_IMPORT));
    /* A vault KEK binds the package by itself; a binding, when present, must still be this vault's. */
    SR_ENSURE(b->binding[0] == 0 || strcmp(b->binding, binding) == 0, SR_ERR_BYOK_BINDING);
    if (b->binding[0] == 0) {
        binding[0] = 0;
    }
    return SR_OK;
}

static enum sr_err sr_import_byok(struct sr_vault_svc *svc, struct sr_request *req, const json_t *jwk, json_t **ret)
{
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    const char *hsm = json_string_value(json_object_get(jwk, "key_hsm"));
    SR_ENSURE(hsm != NULL, sr_req_bad(req, "key_hsm must be the base64url of the .byok file"));
    SR_ENSURE(kty != NULL && (strcmp(kty, "RSA-HSM") == 0 || strcmp(kty, "EC-HSM") == 0 || strcmp(kty, "oct-HSM") == 0),
              sr_req_bad(req, "a BYOK import takes kty RSA-HSM, EC-HSM or oct-HSM"));
    bool secret = strcmp(kty, "oct-HSM") == 0;
    SR_AUTO_BUF struct sr_buf file = {0};
    sr_buf_init(&file, SR_MAX_OP_INPUT * 64, SR_BUF_PLAIN);
    SR_ENSURE(sr_b64url_decode(hsm, &file) == SR_OK, sr_req_bad(req, "key_hsm is not base64url"));
    struct sr_byok b = {0};
    SR_TRY(sr_byok_parse(file.data, file.len, &b));
    const struct sr_hsm *m = NULL;
    SR_AUTO_ROW struct sr_key_row kek = {0};
    SR_AUTO_ROW struct sr_key_row k = {0};
    sr_key_row_init(req, &k);
    char binding[512];
    /* A BYOK key stays in the vault's modules unless its owner asked, here, for it to be exportable. */
    enum sr_err r = sr_key_release_parse(req, req->body, &k);
    if (r == SR_OK) {
        r = sr_svc_region_hsm(svc, req->vault.region, &m);
    }
    if (r == SR_OK) {
        r = sr_byok_kek(svc, req, m, &b, &kek, binding, sizeof(binding));
    }
    if (r == SR_OK) {
        r = sr_key_new_version(k.version);
    }
    struct sr_key_spec spec = {0};
    if (r == SR_OK) {
        struct sr_hsm_import in = {.kek = kek.blob.len ? kek.blob.data : NULL, .kek_len = kek.blob.len,
                                   .label = (const uint8_t *)binding, .label_len = strlen(binding),
                                   .ct = b.ciphertext.data, .ct_len = b.ciphertext.len, .secret = secret,
                                   .type = secret ? SR_KEY_AES : strcmp(kty, "RSA-HSM") == 0 ? SR_KEY_RSA : SR_KEY_EC};
        r = sr_hsm_import_wrapped(m, &in, k.version, req->name, sr_key_acl(&k), &k.blob, &spec);
    }
    sr_byok_release(&b);
    SR_TRY(sr_key_rest_words(req, r));
    const char *crv = json_string_value(json_object_get(jwk, "crv"));
    bool rsa = strcmp(kty, "RSA-HSM") == 0;
    SR_ENSURE(rsa == (spec.type == SR_KEY_RSA), sr_req_bad(req, "the package holds a key of another type than kty"));
    SR_ENSURE(!secret || json_object_get(jwk, "key_size") == NULL ||
                  json_integer_value(json_object_get(jwk, "key_size")) == (json_int_t)spec.bits,
              sr_req_bad(req, "the package holds an AES key of another size than key_size"));
    SR_ENSURE(rsa || crv == NULL || strcmp(crv, sr_curve_name(spec.curve)) == 0,
              sr_req_bad(req, "the package holds a key on another curve than crv"));
    snprintf(k.kty, sizeof(k.kty), "%s", kty);
    k.key_ops = sr_key_default_ops(spec.type);
    const json_t *given = json_object_get(jwk, "key_ops");
    if (given != NULL && !json_is_null(given)) {
        SR_TRY(sr_key_ops_parse(req, given, sr_key_default_ops(spec.type), &k.key_ops));
    }
    SR_TRY(sr_key_attrs_parse(req, json_object_get(req->body, "attributes"), &k));
    SR_TRY(sr_key_tags_parse(req, json_object_get(req->body, "tags"), &k));
    return sr_key_insert_answer(svc, req, &k, ret);
}

/* A plain oct JWK: its k (16, 24 or 32 bytes) becomes a module blob and is wiped here. */
static enum sr_err sr_import_oct(const struct sr_hsm *m, struct sr_request *req, const json_t *jwk,
                                 struct sr_key_row *k)
{
    const char *text = json_string_value(json_object_get(jwk, "k"));
    SR_ENSURE(text != NULL, sr_req_bad(req, "an oct key needs k (base64url of 16, 24 or 32 bytes)"));
    SR_AUTO_BUF struct sr_buf key = {0};
    sr_buf_init(&key, 64, SR_BUF_SECRET);
    SR_ENSURE(sr_b64url_decode(text, &key) == SR_OK && (key.len == 16 || key.len == 24 || key.len == 32),
              sr_req_bad(req, "k must be the base64url of 16, 24 or 32 bytes (AES-128, -192, -256)"));
    snprintf(k->kty, sizeof(k->kty), "oct-HSM");
    return sr_hsm_import_secret(m, k->version, req->name, SR_ORIGIN_IMPORTED, key.data, key.len, sr_key_acl(k),
                                 &k->blob);
}

enum sr_err sr_op_key_import(struct sr_vault_svc *svc, struct sr_request *req, json_t **ret)
{
    SR_TRY(sr_key_name_check(req));
    const json_t *jwk = json_object_get(req->body, "key");
    SR_ENSURE(json_is_object(jwk), sr_req_bad(req, "'key' (a JSON web key) is required"));
    if (json_object_get(jwk, "key_hsm") != NULL) {
        return sr_import_byok(svc, req, jwk, ret);
    }
    const struct sr_hsm *m = NULL;
    SR_TRY(sr_svc_region_hsm(svc, req->vault.region, &m));
    SR_AUTO_ROW struct sr_key_row k = {0};
    sr_key_row_init(req, &k);
    SR_TRY(sr_key_attrs_parse(req, json_object_get(req->body, "attributes"), &k));
    SR_TRY(sr_key_tags_parse(req, json_object_get(req->body, "tags"), &k));
    SR_TRY(sr_key_release_parse(req, req->body, &k));
    SR_TRY(sr_key_new_version(k.version));
    struct sr_key_spec spec = {.type = SR_KEY_AES};
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    if (kty != NULL && (strcmp(kty, "oct") == 0 || strcmp(kty, "oct-HSM") == 0)) {
        SR_TRY(sr_import_oct(m, req, jwk, &k));
    } else {
        SR_TRY(sr_key_rest_words(req, sr_hsm_import_jwk(m, k.version, req->name, jwk, sr_key_acl(&k), &k.blob, &spec)));
        snprintf(k.kty, sizeof(k.kty), "%s", spec.type == SR_KEY_RSA ? "RSA-HSM" : "EC-HSM");
    }
    k.key_ops = sr_key_default_ops(spec.type);
    const json_t *given = json_object_get(jwk, "key_ops");
    if (given != NULL && !json_is_null(given)) {
        SR_TRY(sr_key_ops_parse(req, given, sr_key_default_ops(spec.type), &k.key_ops));
    }
    return sr_key_insert_answer(svc, req, &k, ret);
}

