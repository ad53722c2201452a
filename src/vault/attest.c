/*
 * attest.c - key attestation (GET /keys/{name}/{version}/attestation, api-version 7.6 and later): the key
 * bundle with what the region's module vouches for about that version, signed by the module's warranted
 * identity key in the packages' envelope (docs/formats.md), so that `openssl` alone can check it up to the
 * root that `strongroom root show` prints.
 *
 * The bundle's attributes carry {version, certificatePemFile, privateKeyAttestation, publicKeyAttestation},
 * each base64url. privateKeyAttestation: the private key's properties as the module's authenticated key header records
 * them (where it came from, its ACL, exportable only if that ACL has Release, its world and module). publicKeyAttestation: its
 * public key and key hash. certificatePemFile: the warrant and the root, PEM.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/json.h"
#include "byok/byok.h"
#include "crypto/crypto.h"
#include "crypto/jwk.h"
#include "crypto/ossl.h"
#include "hsm/acl.h"
#include "hsm/blob.h"
#include "hsm/transfer.h"
#include "vault/internal.h"

#define SR_ATTESTATION_FORMAT "strongroom-key-attestation-v1"
#define SR_MAX_ATTESTATION (256u * 1024u)

/* Key Vault serves attestations from api-version 7.6 on; older versions never had the path. */
static bool sr_attestation_api(const char *v)
{
    if (v == NULL || strncmp(v, "7.", 2) != 0) {
        return v != NULL; /* the dated versions (2025-07-01 ...) are all later */
    }
    return atoi(v + 2) >= 6;
}

static enum sr_err sr_set_base64(json_t *obj, const char *key, const uint8_t *p, size_t n)
{
    SR_AUTO_BUF struct sr_buf t = {0};
    sr_buf_init(&t, 2 * SR_MAX_ATTESTATION, SR_BUF_PLAIN);
    SR_TRY(sr_base64_encode(p, n, &t));
    SR_ENSURE(json_object_set_new(obj, key, json_string((const char *)t.data)) == 0, SR_ERR_NOMEM);
    return SR_OK;
}

/* {public_key (base64 SPKI DER), key_hash, kty, size | curve}, as in the KEK package; {kty, size} for oct. */
static enum sr_err sr_key_json(const struct sr_hsm *m, const struct sr_key_row *k, const struct sr_key_info *info,
                               json_t **ret)
{
    if (info->spec.type == SR_KEY_AES) { /* a secret key: its kind and size, nothing derived from it */
        *ret = json_pack("{s:s,s:i}", "kty", k->kty, "size", (int)info->spec.bits);
        SR_ENSURE(*ret != NULL, SR_ERR_NOMEM);
        return SR_OK;
    }
    SR_AUTO_PKEY EVP_PKEY *pub = NULL;
    SR_TRY(sr_hsm_public(m, k->blob.data, k->blob.len, &pub));
    SR_AUTO_BUF struct sr_buf spki = {0};
    sr_buf_init(&spki, 16384, SR_BUF_PLAIN);
    SR_TRY(sr_pkey_public_to_spki(pub, &spki));
    SR_AUTO_JSON json_t *key = json_pack("{s:s}", "kty", k->kty);
    SR_ENSURE(key != NULL, SR_ERR_NOMEM);
    SR_TRY(sr_set_base64(key, "public_key", spki.data, spki.len));
    SR_TRY(sr_json_set_hex(key, "key_hash", info->key_hash, SR_HASH_LEN));
    json_t *size = info->spec.type == SR_KEY_RSA ? json_integer(info->spec.bits)
                                                  : json_string(sr_curve_name(info->spec.curve));
    SR_ENSURE(json_object_set_new(key, info->spec.type == SR_KEY_RSA ? "size" : "curve", size) == 0, SR_ERR_NOMEM);
    *ret = SR_TAKE(key);
    return SR_OK;
}

/* The two statements' common members: what they are about, and who says so when. */
static enum sr_err sr_statement(const struct sr_hsm *m, const struct sr_request *req, const char *kid,
                                const char *which, json_t *key, json_t **ret)
{
    json_t *s = json_pack("{s:s,s:s,s:s,s:s,s:s,s:o,s:{s:s},s:I}", "format", SR_ATTESTATION_FORMAT, "statement",
                          which, "kid", kid, "vault", req->vault.name, "region", req->vault.region, "key", key,
                          "module", "esn", sr_hsm_esn(m), "attested", (json_int_t)time(NULL));
    SR_ENSURE(s != NULL, SR_ERR_NOMEM);
    *ret = s;
    return SR_OK;
}

static enum sr_err sr_private_statement(const struct sr_hsm *m, const struct sr_request *req, const char *kid,
                                        const struct sr_key_info *info, const uint8_t *blob, size_t blob_len,
                                        json_t *key, json_t **ret)
{
    struct sr_world_info world;
    SR_TRY(sr_hsm_world(m, &world));
    SR_AUTO_JSON json_t *s = NULL;
    SR_TRY(sr_statement(m, req, kid, "private-key", key, &s));
    json_t *acl = NULL;
    SR_TRY(sr_acl_to_json(&info->acl, &acl));
    json_t *w = json_pack("{s:s,s:s}", "id", world.id, "cipher_suite", world.suite);
    const char *origin = info->origin[0] ? info->origin : "unknown";
    if (w == NULL || json_object_set_new(s, "acl", acl) != 0 || json_object_set_new(s, "world", w) != 0 ||
        json_object_set_new(s, "origin", json_string(origin)) != 0 ||
        json_object_set_new(s, "generated_in_module", json_boolean(strcmp(origin, SR_ORIGIN_GENERATED) == 0)) != 0 ||
        json_object_set_new(s, "exportable", json_boolean(sr_acl_permits(&info->acl, SR_ACL_RELEASE))) != 0 ||
        json_object_set_new(s, "created", json_integer(info->created)) != 0) {
        return SR_ERR_NOMEM;
    }
    SR_TRY(sr_json_set_hex(w, "hkm", world.hkm, SR_HASH_LEN));
    json_t *evidence = NULL; /* a token's model, serial and the key object's attributes, read from it now */
    SR_TRY(sr_hsm_evidence(m, blob, blob_len, &evidence));
    if (evidence != NULL) {
        SR_ENSURE(json_object_set_new(s, "hsm", evidence) == 0, SR_ERR_NOMEM);
    }
    *ret = SR_TAKE(s);
    return SR_OK;
}

/* Signs payload in the module's envelope and sets it, base64url, as obj[name]. */
static enum sr_err sr_set_signed(const struct sr_hsm *m, json_t *obj, const char *name, const json_t *payload)
{
    SR_AUTO_BUF struct sr_buf env = {0};
    sr_buf_init(&env, SR_MAX_ATTESTATION, SR_BUF_PLAIN);
    SR_TRY(sr_signed_bytes(m, payload, &env));
    return sr_json_set_b64url(obj, name, env.data, env.len);
}

enum sr_err sr_op_key_attestation(struct sr_vault_svc *svc, struct sr_request *req, json_t **ret)
{
    SR_ENSURE(sr_attestation_api(req->api_version),
              sr_req_bad(req, "key attestation needs api-version 7.6 or later (this request says %.20s)",
                         req->api_version ? req->api_version : "none"));
    SR_AUTO_ROW struct sr_key_row k = {0};
    SR_TRY(sr_req_key(svc, req, false, &k, NULL));
    const struct sr_hsm *m = NULL;
    SR_TRY(sr_svc_region_hsm(svc, req->vault.region, &m));
    struct sr_key_info info;
    SR_TRY(sr_hsm_info(m, k.blob.data, k.blob.len, &info));
    char kid[1024];
    SR_TRY(sr_key_kid(req, k.name, k.version, kid, sizeof(kid)));
    SR_AUTO_JSON json_t *bundle = NULL;
    SR_TRY(sr_key_bundle(svc, req, &k, NULL, &bundle));
    json_t *key = NULL;
    SR_TRY(sr_key_json(m, &k, &info, &key));
    SR_AUTO_JSON json_t *pub_stmt = NULL;
    SR_TRY(sr_statement(m, req, kid, "public-key", json_incref(key), &pub_stmt));
    SR_AUTO_JSON json_t *priv_stmt = NULL;
    SR_TRY(sr_private_statement(m, req, kid, &info, k.blob.data, k.blob.len, key, &priv_stmt));
    SR_AUTO_BUF struct sr_buf warrant = {0};
    SR_AUTO_BUF struct sr_buf root = {0};
    sr_buf_init(&warrant, 65536, SR_BUF_PLAIN);
    sr_buf_init(&root, 65536, SR_BUF_PLAIN);
    SR_TRY(sr_hsm_certificates(m, &warrant, &root));
    SR_TRY(sr_buf_append(&warrant, root.data, root.len));
    SR_AUTO_JSON json_t *att = json_pack("{s:s}", "version", "1.0");
    SR_ENSURE(att != NULL, SR_ERR_NOMEM);
    SR_TRY(sr_json_set_b64url(att, "certificatePemFile", warrant.data, warrant.len));
    SR_TRY(sr_set_signed(m, att, "privateKeyAttestation", priv_stmt));
    SR_TRY(sr_set_signed(m, att, "publicKeyAttestation", pub_stmt));
    /* Key Vault puts it among the attributes (KeyAttributes.attestation), where the SDKs read it. */
    SR_ENSURE(json_object_set(json_object_get(bundle, "attributes"), "attestation", att) == 0, SR_ERR_NOMEM);
    *ret = SR_TAKE(bundle);
    return SR_OK;
}
