/* Unit tests of src/vault and src/store/sqlite.c through sr_vault_execute: the core without HTTP. */
#include "testlib.h"

#include <string.h>

#include "base/json.h"
#include "crypto/jwk.h"
#include "crypto/jwt.h"
#include "crypto/ossl.h"
#include "hsm/blob.h"
#include "http/http.h"
#include "vault/internal.h"

struct sr_fixture {
    char dir[256];
    struct sr_store *store;
    struct sr_vault_svc *svc;
};

static int sr_setup(void **state)
{
    struct sr_fixture *f = calloc(1, sizeof(*f));
    sr_test_tmpdir(f->dir, sizeof(f->dir));
    sr_test_store_open(f->dir, &f->store);
    struct sr_pins pins = {0};
    sr_test_pins(&pins, 1);
    struct sr_region_params eu = {.name = "EU", .quorum_k = 1, .quorum_n = 1};
    struct sr_region_params na = {.name = "NA", .quorum_k = 1, .quorum_n = 1};
    SR_ASSERT_OK(sr_region_create(f->dir, f->store, &eu, &pins));
    SR_ASSERT_OK(sr_region_create(f->dir, f->store, &na, &pins));
    sr_pins_release(&pins);
    SR_ASSERT_OK(sr_vault_create(f->store, "eu-vault", "EU", "sub-1"));
    SR_ASSERT_OK(sr_vault_create(f->store, "eu-other", "EU", "sub-2"));
    SR_ASSERT_OK(sr_vault_create(f->store, "na-vault", "NA", "sub-1"));
    SR_ASSERT_OK(sr_vault_create(f->store, "eu-same", "EU", "sub-1"));
    SR_ASSERT_OK(sr_vault_svc_open(f->dir, f->store, &f->svc));
    *state = f;
    return 0;
}

static int sr_teardown(void **state)
{
    struct sr_fixture *f = *state;
    sr_vault_svc_free(f->svc);
    f->store->ops->close(f->store);
    sr_test_rmrf(f->dir);
    free(f);
    return 0;
}

static struct sr_request sr_req(struct sr_fixture *f, const char *vault, const char *role, const char *name)
{
    struct sr_request req = {.base_url = "https://v.localhost", .api_version = "7.5", .name = name,
                             .version = "", .maxresults = 25};
    SR_ASSERT_OK(sr_vault_lookup(f->svc, vault, &req.vault));
    snprintf(req.who.role, sizeof(req.who.role), "%s", role);
    snprintf(req.who.actor, sizeof(req.who.actor), "test");
    SR_ASSERT_OK(sr_role_perms(role, &req.who.perms));
    return req;
}

static enum sr_err sr_run(struct sr_fixture *f, const char *vault, const char *role, enum sr_op op, const char *name,
                          const char *body, json_t **ret)
{
    struct sr_request req = sr_req(f, vault, role, name);
    json_t *b = body ? json_loads(body, 0, NULL) : NULL;
    req.body = b;
    json_t *resp = NULL;
    enum sr_err r = sr_vault_execute(f->svc, op, &req, &resp);
    json_decref(b);
    if (ret != NULL) {
        *ret = resp;
    } else {
        json_decref(resp);
    }
    return r;
}

static void test_create_get_list_paging(void **state)
{
    struct sr_fixture *f = *state;
    for (int i = 0; i < 5; i++) {
        char name[16];
        snprintf(name, sizeof(name), "key-%d", i);
        SR_ASSERT_OK(sr_run(f, "eu-vault", "Crypto Officer", SR_OP_KEY_CREATE, name, "{\"kty\":\"EC\"}", NULL));
    }
    json_t *resp = NULL;
    SR_ASSERT_OK(sr_run(f, "eu-vault", "Reader", SR_OP_KEY_GET, "KEY-3", NULL, &resp)); /* names ignore case */
    assert_string_equal(json_string_value(json_object_get(json_object_get(resp, "key"), "crv")), "P-256");
    json_decref(resp);
    struct sr_request req = sr_req(f, "eu-vault", "Reader", NULL);
    req.maxresults = 2;
    unsigned seen = 0;
    for (int page = 0; page < 5; page++) {
        SR_ASSERT_OK(sr_vault_execute(f->svc, SR_OP_KEY_LIST, &req, &resp));
        seen += (unsigned)json_array_size(json_object_get(resp, "value"));
        const char *next = json_string_value(json_object_get(resp, "nextLink"));
        json_decref(resp);
        if (next == NULL) {
            break;
        }
        req.skip += 2;
    }
    assert_int_equal(seen, 5);
    /* Vaults do not share keys, even in one region. */
    SR_ASSERT_ERR(SR_ERR_KEY_NOT_FOUND, sr_run(f, "eu-other", "Reader", SR_OP_KEY_GET, "key-1", NULL, NULL));
}

static void test_roles_and_scope(void **state)
{
    struct sr_fixture *f = *state;
    SR_ASSERT_OK(sr_run(f, "eu-vault", "Administrator", SR_OP_KEY_CREATE, "k", "{\"kty\":\"RSA\"}", NULL));
    const char *digest = "{\"alg\":\"RS256\",\"value\":\"47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU\"}";
    SR_ASSERT_ERR(SR_ERR_FORBIDDEN, sr_run(f, "eu-vault", "Reader", SR_OP_SIGN, "k", digest, NULL));
    SR_ASSERT_ERR(SR_ERR_FORBIDDEN, sr_run(f, "eu-vault", "Crypto Service Encryption User", SR_OP_SIGN, "k", digest, NULL));
    SR_ASSERT_OK(sr_run(f, "eu-vault", "Crypto User", SR_OP_SIGN, "k", digest, NULL));
    SR_ASSERT_ERR(SR_ERR_FORBIDDEN, sr_run(f, "eu-vault", "Crypto User", SR_OP_KEY_DELETE, "k", NULL, NULL));
    struct sr_request req = sr_req(f, "eu-vault", "Administrator", "k");
    snprintf(req.who.scope, sizeof(req.who.scope), "na-vault");
    json_t *resp = NULL;
    SR_ASSERT_ERR(SR_ERR_FORBIDDEN, sr_vault_execute(f->svc, SR_OP_KEY_GET, &req, &resp));
    unsigned perms;
    SR_ASSERT_ERR(SR_ERR_ROLE, sr_role_perms("Owner", &perms));
    SR_ASSERT_OK(sr_role_perms("Key Vault Crypto Officer", &perms));
}

static void test_backup_restores_only_in_its_region_and_subscription(void **state)
{
    struct sr_fixture *f = *state;
    SR_ASSERT_OK(sr_run(f, "eu-vault", "Administrator", SR_OP_KEY_CREATE, "b", "{\"kty\":\"RSA\"}", NULL));
    SR_ASSERT_OK(sr_run(f, "eu-vault", "Administrator", SR_OP_KEY_ROTATE, "b", NULL, NULL));
    json_t *backup = NULL;
    SR_ASSERT_OK(sr_run(f, "eu-vault", "Administrator", SR_OP_KEY_BACKUP, "b", NULL, &backup));
    char *body = json_dumps(backup, 0);
    /* Another region's world cannot open it; nothing is stored. */
    SR_ASSERT_ERR(SR_ERR_BACKUP, sr_run(f, "na-vault", "Administrator", SR_OP_KEY_RESTORE, NULL, body, NULL));
    SR_ASSERT_ERR(SR_ERR_KEY_NOT_FOUND, sr_run(f, "na-vault", "Administrator", SR_OP_KEY_GET, "b", NULL, NULL));
    /* The same region, another subscription: refused, nothing stored. */
    SR_ASSERT_ERR(SR_ERR_BACKUP_SUBSCRIPTION, sr_run(f, "eu-other", "Administrator", SR_OP_KEY_RESTORE, NULL, body, NULL));
    SR_ASSERT_ERR(SR_ERR_KEY_NOT_FOUND, sr_run(f, "eu-other", "Administrator", SR_OP_KEY_GET, "b", NULL, NULL));
    /* The same region and subscription restores it, with both versions. */
    SR_ASSERT_OK(sr_run(f, "eu-same", "Administrator", SR_OP_KEY_RESTORE, NULL, body, NULL));
    json_t *versions = NULL;
    SR_ASSERT_OK(sr_run(f, "eu-same", "Administrator", SR_OP_KEY_VERSIONS, "b", NULL, &versions));
    assert_int_equal(json_array_size(json_object_get(versions, "value")), 2);
    SR_ASSERT_ERR(SR_ERR_KEY_CONFLICT, sr_run(f, "eu-same", "Administrator", SR_OP_KEY_RESTORE, NULL, body, NULL));
    /* A backup as made before backups named their subscription (the same content, sealed by the region, without
     * it) restores nowhere. */
    const struct sr_hsm *m = NULL;
    SR_ASSERT_OK(sr_svc_region_hsm(f->svc, "EU", &m));
    json_t *old = json_pack("{s:s,s:[{s:s}]}", "name", "legacy", "versions", "version", "0");
    char *old_text = json_dumps(old, JSON_COMPACT);
    json_t *header = json_pack("{s:i,s:s}", "version", 1, "region", "EU");
    struct sr_buf sealed, b64;
    sr_buf_init(&sealed, 65536, SR_BUF_PLAIN);
    sr_buf_init(&b64, 131072, SR_BUF_PLAIN);
    SR_ASSERT_OK(sr_hsm_seal_backup(m, header, (const uint8_t *)old_text, strlen(old_text), &sealed));
    SR_ASSERT_OK(sr_b64url_encode(sealed.data, sealed.len, &b64));
    char legacy[140000];
    snprintf(legacy, sizeof(legacy), "{\"value\":\"%.*s\"}", (int)b64.len, (const char *)b64.data);
    SR_ASSERT_ERR(SR_ERR_BACKUP_UNBOUND, sr_run(f, "eu-vault", "Administrator", SR_OP_KEY_RESTORE, NULL, legacy, NULL));
    SR_ASSERT_ERR(SR_ERR_KEY_NOT_FOUND, sr_run(f, "eu-vault", "Administrator", SR_OP_KEY_GET, "legacy", NULL, NULL));
    sr_buf_release(&sealed);
    sr_buf_release(&b64);
    json_decref(header);
    json_decref(old);
    free(old_text);
    /* A flipped character in the blob is refused too. */
    const char *v = json_string_value(json_object_get(backup, "value"));
    char *bad = strdup(v);
    bad[strlen(bad) / 2] = bad[strlen(bad) / 2] == 'A' ? 'B' : 'A';
    char tampered[65536];
    snprintf(tampered, sizeof(tampered), "{\"value\":\"%s\"}", bad);
    SR_ASSERT_ERR(SR_ERR_BACKUP, sr_run(f, "eu-vault", "Administrator", SR_OP_KEY_RESTORE, NULL, tampered, NULL));
    free(bad);
    free(body);
    json_decref(versions);
    json_decref(backup);
}

static void test_soft_delete_lifecycle(void **state)
{
    struct sr_fixture *f = *state;
    SR_ASSERT_OK(sr_run(f, "eu-vault", "Administrator", SR_OP_KEY_CREATE, "d", "{\"kty\":\"EC\"}", NULL));
    json_t *resp = NULL;
    SR_ASSERT_OK(sr_run(f, "eu-vault", "Administrator", SR_OP_KEY_DELETE, "d", NULL, &resp));
    assert_true(json_integer_value(json_object_get(resp, "scheduledPurgeDate")) -
                    json_integer_value(json_object_get(resp, "deletedDate")) == 90 * 86400);
    json_decref(resp);
    SR_ASSERT_ERR(SR_ERR_KEY_NOT_FOUND, sr_run(f, "eu-vault", "Administrator", SR_OP_KEY_GET, "d", NULL, NULL));
    SR_ASSERT_ERR(SR_ERR_KEY_CONFLICT, sr_run(f, "eu-vault", "Administrator", SR_OP_KEY_CREATE, "d", "{\"kty\":\"EC\"}", NULL));
    SR_ASSERT_OK(sr_run(f, "eu-vault", "Administrator", SR_OP_DELETED_GET, "d", NULL, NULL));
    SR_ASSERT_OK(sr_run(f, "eu-vault", "Administrator", SR_OP_DELETED_RECOVER, "d", NULL, NULL));
    SR_ASSERT_OK(sr_run(f, "eu-vault", "Administrator", SR_OP_KEY_GET, "d", NULL, NULL));
    SR_ASSERT_ERR(SR_ERR_NOT_DELETED, sr_run(f, "eu-vault", "Administrator", SR_OP_DELETED_PURGE, "d", NULL, NULL));
    SR_ASSERT_OK(sr_run(f, "eu-vault", "Administrator", SR_OP_KEY_DELETE, "d", NULL, NULL));
    SR_ASSERT_OK(sr_run(f, "eu-vault", "Administrator", SR_OP_DELETED_PURGE, "d", NULL, &resp));
    assert_null(resp);
    SR_ASSERT_ERR(SR_ERR_NOT_DELETED, sr_run(f, "eu-vault", "Administrator", SR_OP_DELETED_GET, "d", NULL, NULL));
    SR_ASSERT_OK(sr_run(f, "eu-vault", "Administrator", SR_OP_KEY_CREATE, "d", "{\"kty\":\"EC\"}", NULL));
}

static const char *sr_kid_of(const json_t *resp)
{
    return json_string_value(json_object_get(json_object_get(resp, "key"), "kid"));
}

/*
 * Key rows are cached after a read (src/store/rowcache.c): every change must be seen by the very next
 * request, through the latest version and an explicit one alike. Each step reads first, so the row it
 * changes is in the cache.
 */
static void test_every_change_seen_at_once(void **state)
{
    struct sr_fixture *f = *state;
    const char *admin = "Administrator";
    const char *es256 = "{\"alg\":\"ES256\",\"value\":\"47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU\"}";
    json_t *resp = NULL;
    SR_ASSERT_OK(sr_run(f, "eu-vault", admin, SR_OP_KEY_CREATE, "c", "{\"kty\":\"EC\"}", &resp));
    char kid1[512];
    snprintf(kid1, sizeof(kid1), "%s", sr_kid_of(resp));
    const char *version1 = strrchr(kid1, '/') + 1;
    json_decref(resp);
    struct sr_request req = sr_req(f, "eu-vault", admin, "c");
    req.version = version1;
    for (int i = 0; i < 2; i++) { /* twice: the second is served from the cache */
        SR_ASSERT_OK(sr_run(f, "eu-vault", admin, SR_OP_SIGN, "c", es256, NULL));
        SR_ASSERT_OK(sr_vault_execute(f->svc, SR_OP_KEY_GET, &req, &resp));
        json_decref(resp);
    }
    /* disable: refused at once, by the latest version and by its explicit version */
    SR_ASSERT_OK(sr_run(f, "eu-vault", admin, SR_OP_KEY_UPDATE, "c", "{\"attributes\":{\"enabled\":false}}", NULL));
    SR_ASSERT_ERR(SR_ERR_KEY_DISABLED, sr_run(f, "eu-vault", admin, SR_OP_SIGN, "c", es256, NULL));
    SR_ASSERT_OK(sr_vault_execute(f->svc, SR_OP_KEY_GET, &req, &resp));
    assert_true(json_is_false(json_object_get(json_object_get(resp, "attributes"), "enabled")));
    json_decref(resp);
    /* enable and tag: both shown at once */
    SR_ASSERT_OK(sr_run(f, "eu-vault", admin, SR_OP_KEY_UPDATE, "c",
                        "{\"attributes\":{\"enabled\":true},\"tags\":{\"team\":\"blue\"}}", NULL));
    SR_ASSERT_OK(sr_run(f, "eu-vault", admin, SR_OP_SIGN, "c", es256, NULL));
    SR_ASSERT_OK(sr_run(f, "eu-vault", admin, SR_OP_KEY_GET, "c", NULL, &resp));
    assert_string_equal(json_string_value(json_object_get(json_object_get(resp, "tags"), "team")), "blue");
    json_decref(resp);
    /* a new version: the latest is it at once; the old version is still served by its id */
    SR_ASSERT_OK(sr_run(f, "eu-vault", admin, SR_OP_KEY_ROTATE, "c", NULL, NULL));
    SR_ASSERT_OK(sr_run(f, "eu-vault", admin, SR_OP_KEY_GET, "c", NULL, &resp));
    assert_string_not_equal(sr_kid_of(resp), kid1);
    json_decref(resp);
    SR_ASSERT_OK(sr_vault_execute(f->svc, SR_OP_KEY_GET, &req, &resp));
    assert_string_equal(sr_kid_of(resp), kid1);
    json_decref(resp);
    /* delete: gone at once, both ways; recover: back at once */
    SR_ASSERT_OK(sr_run(f, "eu-vault", admin, SR_OP_KEY_DELETE, "c", NULL, NULL));
    SR_ASSERT_ERR(SR_ERR_KEY_NOT_FOUND, sr_run(f, "eu-vault", admin, SR_OP_KEY_GET, "c", NULL, NULL));
    SR_ASSERT_ERR(SR_ERR_KEY_NOT_FOUND, sr_vault_execute(f->svc, SR_OP_KEY_GET, &req, &resp));
    SR_ASSERT_ERR(SR_ERR_KEY_NOT_FOUND, sr_run(f, "eu-vault", admin, SR_OP_SIGN, "c", es256, NULL));
    SR_ASSERT_OK(sr_run(f, "eu-vault", admin, SR_OP_DELETED_RECOVER, "c", NULL, NULL));
    SR_ASSERT_OK(sr_run(f, "eu-vault", admin, SR_OP_SIGN, "c", es256, NULL));
    /* purge: the old version's id is gone too, and a key made again under the name is a new one */
    SR_ASSERT_OK(sr_run(f, "eu-vault", admin, SR_OP_KEY_DELETE, "c", NULL, NULL));
    SR_ASSERT_OK(sr_run(f, "eu-vault", admin, SR_OP_DELETED_PURGE, "c", NULL, NULL));
    SR_ASSERT_ERR(SR_ERR_KEY_NOT_FOUND, sr_vault_execute(f->svc, SR_OP_KEY_GET, &req, &resp));
    SR_ASSERT_OK(sr_run(f, "eu-vault", admin, SR_OP_KEY_CREATE, "c", "{\"kty\":\"EC\"}", NULL));
    SR_ASSERT_OK(sr_run(f, "eu-vault", admin, SR_OP_KEY_GET, "C", NULL, &resp)); /* names ignore case, cached or not */
    assert_string_not_equal(sr_kid_of(resp), kid1);
    json_decref(resp);
    SR_ASSERT_ERR(SR_ERR_KEY_NOT_FOUND, sr_vault_execute(f->svc, SR_OP_KEY_GET, &req, &resp));
}

static void test_audit_chain(void **state)
{
    struct sr_fixture *f = *state;
    SR_ASSERT_OK(sr_run(f, "eu-vault", "Administrator", SR_OP_RNG, NULL, "{\"count\":16}", NULL));
    SR_ASSERT_ERR(SR_ERR_FORBIDDEN, sr_run(f, "eu-vault", "Reader", SR_OP_RNG, NULL, "{\"count\":16}", NULL));
    long long count = 0, bad = 0;
    SR_ASSERT_OK(sr_audit_verify(f->store, &count, &bad));
    assert_int_equal(count, 2); /* refusals are audited too */
}

static void test_router(void **state)
{
    (void)state;
    struct sr_route_match m;
    SR_ASSERT_OK(sr_route_match("POST", "/keys/k1/create", &m));
    assert_int_equal(m.op, SR_OP_KEY_CREATE);
    assert_string_equal(m.name, "k1");
    SR_ASSERT_OK(sr_route_match("GET", "/keys/k1/", &m));
    assert_int_equal(m.op, SR_OP_KEY_GET);
    assert_string_equal(m.version, "");
    SR_ASSERT_OK(sr_route_match("GET", "/keys/k1", &m));
    assert_int_equal(m.op, SR_OP_KEY_GET);
    SR_ASSERT_OK(sr_route_match("POST", "/keys/k1/0123456789abcdef0123456789abcdef/sign", &m));
    assert_int_equal(m.op, SR_OP_SIGN);
    assert_string_equal(m.version, "0123456789abcdef0123456789abcdef");
    SR_ASSERT_OK(sr_route_match("POST", "/keys/k1//wrapKey", &m));
    assert_int_equal(m.op, SR_OP_WRAP);
    SR_ASSERT_OK(sr_route_match("GET", "/deletedKeys", &m));
    assert_int_equal(m.op, SR_OP_DELETED_LIST);
    SR_ASSERT_OK(sr_route_match("PUT", "/keys/k1/rotationPolicy", &m));
    assert_int_equal(m.op, SR_OP_POLICY_PUT);
    SR_ASSERT_ERR(SR_ERR_METHOD, sr_route_match("DELETE", "/keys/k1/create", &m));
    SR_ASSERT_OK(sr_route_match("GET", "/secrets/x", &m));
    assert_int_equal(m.op, SR_OP_SECRET_GET);
    SR_ASSERT_OK(sr_route_match("POST", "/secrets/restore", &m));
    assert_int_equal(m.op, SR_OP_SECRET_RESTORE);
    SR_ASSERT_OK(sr_route_match("PUT", "/secrets/restore", &m)); /* a secret named "restore" */
    assert_int_equal(m.op, SR_OP_SECRET_SET);
    SR_ASSERT_OK(sr_route_match("GET", "/deletedSecrets/x", &m));
    assert_int_equal(m.op, SR_OP_SECRET_DELETED_GET);
    SR_ASSERT_ERR(SR_ERR_ROUTE, sr_route_match("GET", "/certificates/x", &m));
    SR_ASSERT_ERR(SR_ERR_ROUTE, sr_route_match("GET", "/a/b/c/d/e/f/g/h/i/j", &m));
    /* A key name longer than 127 characters is a bad parameter (400), not a path we lack (404). */
    char path[300] = "/keys/";
    memset(path + 6, 'k', 200);
    path[206] = 0;
    SR_ASSERT_ERR(SR_ERR_KEY_NAME, sr_route_match("GET", path, &m));
    strcat(path, "/create");
    SR_ASSERT_ERR(SR_ERR_KEY_NAME, sr_route_match("POST", path, &m));
    char secret[300] = "/secrets/";
    memset(secret + 9, 's', 200);
    secret[209] = 0;
    SR_ASSERT_ERR(SR_ERR_KV_SECRET_NAME, sr_route_match("GET", secret, &m));
    assert_int_equal(sr_err_http_status(SR_ERR_KEY_NAME), 400);
    assert_true(sr_api_version_ok("7.5"));
    assert_true(sr_api_version_ok("2025-07-01"));
    assert_true(sr_api_version_ok("7.6-preview.2"));
    assert_false(sr_api_version_ok("7.7"));
    assert_false(sr_api_version_ok(NULL));
    char vault[64], resource[300];
    SR_ASSERT_OK(sr_host_parse("dev.localhost:8443", "default", vault, sizeof(vault), resource, sizeof(resource)));
    assert_string_equal(vault, "dev");
    assert_string_equal(resource, "https://localhost:8443"); /* Python's SDK compares host:port */
    SR_ASSERT_OK(sr_host_parse("dev.localhost", "default", vault, sizeof(vault), resource, sizeof(resource)));
    assert_string_equal(resource, "https://localhost");
    SR_ASSERT_OK(sr_host_parse("localhost:8443", "default", vault, sizeof(vault), resource, sizeof(resource)));
    assert_string_equal(vault, "default");
    assert_string_equal(resource, "https://localhost:8443");
    SR_ASSERT_OK(sr_host_parse("[::1]:8443", "default", vault, sizeof(vault), resource, sizeof(resource)));
    assert_string_equal(resource, "https://localhost:8443");
    SR_ASSERT_OK(sr_host_parse("127.0.0.1:8443", "default", vault, sizeof(vault), resource, sizeof(resource)));
    assert_string_equal(vault, "default");
    SR_ASSERT_OK(sr_host_parse("Contoso.LOCALHOST", "default", vault, sizeof(vault), resource, sizeof(resource)));
    assert_string_equal(vault, "Contoso");
    SR_ASSERT_ERR(SR_ERR_HOST_UNKNOWN, sr_host_parse(NULL, "d", vault, sizeof(vault), resource, sizeof(resource)));
    /* A name the server's certificate does not carry is not answered, so it is never reflected into a kid. */
    static const char *const foreign[] = {"dev.attacker.example", "dev.attacker.example:8443", "attacker.example",
                                          "evil", "a.b.localhost", ".localhost", "localhost.evil", "10.0.0.1",
                                          "[::2]:8443", "localhost:", "localhost:84x", "dev.localhost.", ""};
    for (size_t i = 0; i < SR_ARRAY_LEN(foreign); i++) {
        SR_ASSERT_ERR(SR_ERR_HOST_UNKNOWN, sr_host_parse(foreign[i], "d", vault, sizeof(vault), resource, sizeof(resource)));
    }
}

/* GET /audit: the vault's own entries (not another vault's), the chain's verdict, Administrators only. */
static void test_audit_list(void **state)
{
    struct sr_fixture *f = *state;
    SR_ASSERT_OK(sr_run(f, "eu-vault", "Crypto Officer", SR_OP_KEY_CREATE, "audited", "{\"kty\":\"EC\"}", NULL));
    SR_ASSERT_OK(sr_run(f, "eu-other", "Crypto Officer", SR_OP_KEY_CREATE, "elsewhere", "{\"kty\":\"EC\"}", NULL));
    SR_ASSERT_ERR(SR_ERR_FORBIDDEN, sr_run(f, "eu-vault", "Reader", SR_OP_AUDIT_LIST, NULL, NULL, NULL));
    json_t *log = NULL;
    SR_ASSERT_OK(sr_run(f, "eu-vault", "Administrator", SR_OP_AUDIT_LIST, NULL, NULL, &log));
    assert_true(json_is_true(json_object_get(json_object_get(log, "chain"), "verified")));
    bool created = false;
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(log, "value"), i, e) {
        const char *target = json_string_value(json_object_get(e, "target"));
        assert_string_not_equal(target, "elsewhere");
        created = created || (strcmp(target, "audited") == 0 &&
                              strcmp(json_string_value(json_object_get(e, "op")), "CreateKey") == 0);
    }
    assert_true(created);
    json_decref(log);
}

static bool sr_policy_ok(const char *text)
{
    json_t *p = json_loads(text, 0, NULL);
    assert_non_null(p);
    char why[160] = "";
    enum sr_err r = sr_release_policy_check(p, why, sizeof(why));
    assert_true(r == SR_OK || why[0] != 0); /* a refusal always says why */
    json_decref(p);
    return r == SR_OK;
}

static bool sr_allows(const char *policy, const char *issuer, const char *claims)
{
    json_t *p = json_loads(policy, 0, NULL);
    json_t *c = json_loads(claims, 0, NULL);
    assert_non_null(p);
    assert_non_null(c);
    assert_true(sr_policy_ok(policy));
    bool ok = sr_release_policy_allows(p, issuer, c);
    json_decref(p);
    json_decref(c);
    return ok;
}

/* Key Vault's release policy grammar: what is a policy, and which claims satisfy one. */
static void test_release_policy_grammar(void **state)
{
    (void)state;
    const char *p = "{\"version\":\"1.0.0\",\"anyOf\":[{\"authority\":\"https://a.test/\",\"allOf\":["
                    "{\"claim\":\"t\",\"equals\":\"x\"},{\"claim\":\"n\",\"greater\":3},"
                    "{\"claim\":\"tee.debug\",\"equals\":false}]}]}";
    assert_true(sr_allows(p, "https://a.test", "{\"t\":\"x\",\"n\":4,\"tee\":{\"debug\":false}}"));
    assert_true(sr_allows(p, "HTTPS://A.test//", "{\"t\":\"x\",\"n\":4,\"tee.debug\":false}"));
    assert_false(sr_allows(p, "https://a.test/", "{\"t\":\"x\",\"n\":3,\"tee\":{\"debug\":false}}"));
    assert_false(sr_allows(p, "https://a.test/", "{\"t\":\"X\",\"n\":4,\"tee\":{\"debug\":false}}"));
    assert_false(sr_allows(p, "https://a.test/", "{\"t\":\"x\",\"n\":\"4\",\"tee\":{\"debug\":false}}"));
    assert_false(sr_allows(p, "https://a.test/", "{\"t\":\"x\",\"n\":4,\"tee\":{\"debug\":true}}"));
    assert_false(sr_allows(p, "https://a.test/", "{\"t\":\"x\",\"n\":4}"));
    assert_false(sr_allows(p, "https://b.test/", "{\"t\":\"x\",\"n\":4,\"tee\":{\"debug\":false}}"));
    /* anyOf at both levels, lower-case member names as the grammar writes them, every operator */
    const char *q = "{\"version\":\"1.0.0\",\"anyof\":[{\"authority\":\"https://b.test\",\"anyof\":["
                    "{\"allof\":[{\"claim\":\"a\",\"lessOrEquals\":2},{\"claim\":\"a\",\"greaterOrEquals\":1}]},"
                    "{\"claim\":\"b\",\"notEquals\":\"no\"},{\"claim\":\"c\",\"exists\":false},"
                    "{\"claim\":\"d\",\"less\":0}]},{\"authority\":\"https://a.test\",\"allOf\":[{\"claim\":\"z\","
                    "\"exists\":true}]}]}";
    assert_true(sr_allows(q, "https://b.test", "{\"a\":2,\"b\":\"no\",\"c\":1}"));
    assert_true(sr_allows(q, "https://b.test", "{\"a\":5,\"b\":\"yes\",\"c\":1}"));
    assert_true(sr_allows(q, "https://b.test", "{\"a\":5,\"b\":\"no\"}"));
    assert_true(sr_allows(q, "https://b.test", "{\"a\":5,\"b\":\"no\",\"c\":1,\"d\":-1}"));
    assert_false(sr_allows(q, "https://b.test", "{\"a\":5,\"b\":\"no\",\"c\":1,\"d\":0}"));
    assert_false(sr_allows(q, "https://b.test", "{\"c\":1}")); /* notEquals needs the claim */
    assert_true(sr_allows(q, "https://a.test", "{\"z\":null}"));
    assert_false(sr_allows(q, "https://a.test", "{\"a\":1}")); /* each authority its own conditions */

    /* equals across types, as Azure releases {"equals":"true"} for a claim true: both directions, numbers too */
    const char *t = "{\"version\":\"1.0.0\",\"anyOf\":[{\"authority\":\"https://a.test\",\"allOf\":["
                    "{\"claim\":\"sdk-test\",\"equals\":\"true\"},{\"claim\":\"flag\",\"equals\":false},"
                    "{\"claim\":\"svn\",\"equals\":\"5\"},{\"claim\":\"ver\",\"equals\":2}]}]}";
    assert_true(sr_allows(t, "https://a.test", "{\"sdk-test\":true,\"flag\":\"false\",\"svn\":5,\"ver\":\"2\"}"));
    assert_true(sr_allows(t, "https://a.test", "{\"sdk-test\":\"true\",\"flag\":false,\"svn\":\"5\",\"ver\":2.0}"));
    assert_true(sr_allows(t, "https://a.test", "{\"sdk-test\":true,\"flag\":\"False\",\"svn\":5.0,\"ver\":2}"));
    assert_false(sr_allows(t, "https://a.test", "{\"sdk-test\":false,\"flag\":false,\"svn\":5,\"ver\":2}"));
    assert_false(sr_allows(t, "https://a.test", "{\"sdk-test\":true,\"flag\":\"no\",\"svn\":5,\"ver\":2}"));
    assert_false(sr_allows(t, "https://a.test", "{\"sdk-test\":true,\"flag\":false,\"svn\":\"5x\",\"ver\":2}"));
    assert_false(sr_allows(t, "https://a.test", "{\"sdk-test\":true,\"flag\":false,\"svn\":6,\"ver\":2}"));
    assert_false(sr_allows(t, "https://a.test", "{\"sdk-test\":1,\"flag\":false,\"svn\":5,\"ver\":2}"));
    assert_false(sr_allows(t, "https://a.test", "{\"sdk-test\":true,\"flag\":false,\"svn\":5,\"ver\":\"\"}"));

    static const char *const bad[] = {
        "[]", "{\"anyOf\":[]}", "{\"version\":\"2\",\"anyOf\":[{\"authority\":\"https://a\",\"allOf\":[{\"claim\":\"c\",\"exists\":true}]}]}",
        "{\"version\":\"1.0.0\",\"anyOf\":[]}",
        "{\"version\":\"1.0.0\",\"anyOf\":[{\"authority\":\"a\",\"allOf\":[{\"claim\":\"c\",\"exists\":true}]}]}",
        "{\"version\":\"1.0.0\",\"anyOf\":[{\"authority\":\"https://a\"}]}",
        "{\"version\":\"1.0.0\",\"anyOf\":[{\"authority\":\"https://a\",\"allOf\":[]}]}",
        "{\"version\":\"1.0.0\",\"anyOf\":[{\"authority\":\"https://a\",\"allOf\":[{\"claim\":\"c\",\"exists\":true}],\"anyOf\":[{\"claim\":\"c\",\"exists\":true}]}]}",
        "{\"version\":\"1.0.0\",\"anyOf\":[{\"authority\":\"https://a\",\"allOf\":[{\"claim\":\"c\",\"like\":\"x\"}]}]}",
        "{\"version\":\"1.0.0\",\"anyOf\":[{\"authority\":\"https://a\",\"allOf\":[{\"claim\":\"c\",\"equals\":1,\"less\":2}]}]}",
        "{\"version\":\"1.0.0\",\"anyOf\":[{\"authority\":\"https://a\",\"allOf\":[{\"claim\":\"c\",\"less\":\"2\"}]}]}",
        "{\"version\":\"1.0.0\",\"anyOf\":[{\"authority\":\"https://a\",\"allOf\":[{\"claim\":\"c\",\"exists\":1}]}]}",
        "{\"version\":\"1.0.0\",\"anyOf\":[{\"authority\":\"https://a\",\"allOf\":[{\"claim\":\"c\",\"equals\":[1]}]}]}",
        "{\"version\":\"1.0.0\",\"anyOf\":[{\"authority\":\"https://a\",\"allOf\":[{\"claim\":\"\",\"equals\":1}]}]}",
        "{\"version\":\"1.0.0\",\"anyOf\":[{\"authority\":\"https://a\",\"allOf\":[{\"allOf\":[{\"claim\":\"c\",\"equals\":1}],\"x\":1}]}]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_false(sr_policy_ok(bad[i]));
    }
    /* nesting: eight levels are a policy, nine are not */
    char deep[1024];
    for (int levels = 8; levels <= 9; levels++) {
        int n = snprintf(deep, sizeof(deep), "{\"version\":\"1.0.0\",\"anyOf\":[{\"authority\":\"https://a\",\"allOf\":[");
        for (int i = 1; i < levels; i++) {
            n += snprintf(deep + n, sizeof(deep) - (size_t)n, "{\"anyOf\":[");
        }
        n += snprintf(deep + n, sizeof(deep) - (size_t)n, "{\"claim\":\"c\",\"exists\":true}");
        for (int i = 1; i < levels; i++) {
            n += snprintf(deep + n, sizeof(deep) - (size_t)n, "]}");
        }
        snprintf(deep + n, sizeof(deep) - (size_t)n, "]}]}");
        assert_int_equal(sr_policy_ok(deep), levels == 8);
    }
}

/* sr_run in eu-vault on key "rel" that also checks the error's detail names what is wrong. */
static enum sr_err sr_run_detail(struct sr_fixture *f, const char *role, enum sr_op op, const char *body,
                                 const char *detail)
{
    struct sr_request req = sr_req(f, "eu-vault", role, "rel");
    json_t *b = json_loads(body, 0, NULL);
    assert_non_null(b);
    req.body = b;
    json_t *resp = NULL;
    enum sr_err r = sr_vault_execute(f->svc, op, &req, &resp);
    json_decref(b);
    json_decref(resp);
    if (strstr(req.detail, detail) == NULL) {
        fail_msg("detail '%s' lacks '%s'", req.detail, detail);
    }
    return r;
}

/* Each refusal of a release policy or a release request: a 400 that names the member, and no key made. */
static void test_release_refusals(void **state)
{
    struct sr_fixture *f = *state;
    static const char policy[] = "{\"version\":\"1.0.0\",\"anyOf\":[{\"authority\":\"https://a.test/\","
                                 "\"allOf\":[{\"claim\":\"c\",\"exists\":true}]}]}";
    SR_AUTO_BUF struct sr_buf data = {0};
    sr_buf_init(&data, 1024, SR_BUF_PLAIN);
    SR_ASSERT_OK(sr_b64url_encode((const uint8_t *)policy, strlen(policy), &data));
    const char *d = (const char *)data.data;
    static const char exportable[] = "{\"kty\":\"RSA\",\"attributes\":{\"exportable\":true},\"release_policy\":";
    struct {
        const char *head, *tail; /* the body is head, the policy's base64url, tail */
        const char *detail;
    } cases[] = {
        {"[\"", "\"]}", "must be an object"},
        {"{\"contentType\":\"text/plain\",\"data\":\"", "\"}}", "contentType must be application/json"},
        {"{\"immutable\":\"yes\",\"data\":\"", "\"}}", "immutable must be true or false"},
        {"{\"x\":\"", "\"}}", "data (the policy's"},
        {"{\"data\":\"", "!\"}}", "must be the base64url"},
    };
    char body[1024];
    for (size_t i = 0; i < SR_ARRAY_LEN(cases); i++) {
        snprintf(body, sizeof(body), "%s%s%s%s", exportable, cases[i].head, d, cases[i].tail);
        SR_ASSERT_ERR(SR_ERR_BAD_PARAM, sr_run_detail(f, "Crypto Officer", SR_OP_KEY_CREATE, body, cases[i].detail));
    }
    snprintf(body, sizeof(body),
             "{\"kty\":\"RSA\",\"attributes\":{\"exportable\":\"yes\"},\"release_policy\":{\"data\":\"%s\"}}", d);
    SR_ASSERT_ERR(SR_ERR_BAD_PARAM,
                  sr_run_detail(f, "Crypto Officer", SR_OP_KEY_CREATE, body, "exportable must be true or false"));
    snprintf(body, sizeof(body), "{\"kty\":\"RSA\",\"key_ops\":[\"import\"],\"attributes\":{\"exportable\":true},"
             "\"release_policy\":{\"data\":\"%s\"}}", d);
    SR_ASSERT_ERR(SR_ERR_BAD_PARAM, sr_run_detail(f, "Crypto Officer", SR_OP_KEY_CREATE, body, "cannot be exportable"));
    /* valid base64url of a text that is not JSON ("not json") */
    snprintf(body, sizeof(body), "%s{\"data\":\"bm90IGpzb24\"}}", exportable);
    SR_ASSERT_ERR(SR_ERR_BAD_PARAM, sr_run_detail(f, "Crypto Officer", SR_OP_KEY_CREATE, body, "is not JSON"));
    SR_ASSERT_ERR(SR_ERR_KEY_NOT_FOUND, sr_run(f, "eu-vault", "Reader", SR_OP_KEY_GET, "rel", NULL, NULL));
    /* a release whose nonce is not a string is refused before any key is looked up */
    SR_ASSERT_ERR(SR_ERR_BAD_PARAM, sr_run_detail(f, "Crypto Service Release User", SR_OP_KEY_RELEASE,
                                                  "{\"target\":\"x.y.z\",\"nonce\":5}", "nonce must be a string"));
}

/* The token endpoint's form: each field once, percent-decoding and '+', and nothing malformed taken. */
static void test_form_parse(void **state)
{
    (void)state;
    json_t *f = NULL;
    static const char good[] = "grant_type=client_credentials&scope=https%3A%2F%2Fvault.azure.net%2F.default+openid&x=";
    SR_ASSERT_OK(sr_form_parse((const uint8_t *)good, strlen(good), &f));
    assert_string_equal(json_string_value(json_object_get(f, "scope")), "https://vault.azure.net/.default openid");
    assert_string_equal(json_string_value(json_object_get(f, "x")), "");
    json_decref(f);
    static const char *const bad[] = {"a=1&a=2", "a=%zz", "a=%4", "a=%00", "novalue", "=v", "a=%ff%fe"};
    for (size_t i = 0; i < SR_ARRAY_LEN(bad); i++) {
        SR_ASSERT_ERR(SR_ERR_OAUTH_REQUEST, sr_form_parse((const uint8_t *)bad[i], strlen(bad[i]), &f));
    }
    enum sr_authority_route route;
    char tenant[64];
    assert_true(sr_authority_route("/adfs/oauth2/token", &route, tenant, sizeof(tenant)));
    assert_int_equal(route, SR_AUTH_TOKEN);
    assert_string_equal(tenant, "adfs");
    assert_true(sr_authority_route("/" SR_TENANT_ID "/v2.0/.well-known/openid-configuration", &route, tenant,
                                   sizeof(tenant)));
    assert_int_equal(route, SR_AUTH_METADATA);
    SR_ASSERT_ERR(SR_ERR_OAUTH_REQUEST, sr_authority_tenant_ok("contoso.onmicrosoft.com"));
    assert_false(sr_authority_route("/keys/k/sign", &route, tenant, sizeof(tenant)));
}

/* "alg" is the key's: none, HMAC with the public key as its secret, and an RSA alg on an EC key all fail. */
static void test_jwt_alg_confusion(void **state)
{
    (void)state;
    struct sr_key_spec spec = {.type = SR_KEY_EC, .curve = SR_CURVE_P256};
    SR_AUTO_PKEY EVP_PKEY *key = NULL;
    SR_ASSERT_OK(sr_pkey_generate(&spec, &key));
    static const char *const algs[] = {"ES256", "none", "HS256", "RS256", "ES384"};
    for (size_t i = 0; i < SR_ARRAY_LEN(algs); i++) {
        SR_AUTO_BUF struct sr_buf t = {0}, sig = {0}, s64 = {0};
        sr_buf_init(&t, 4096, SR_BUF_PLAIN);
        sr_buf_init(&sig, 256, SR_BUF_PLAIN);
        sr_buf_init(&s64, 512, SR_BUF_PLAIN);
        SR_AUTO_JSON json_t *h = json_pack("{s:s}", "alg", algs[i]);
        SR_AUTO_JSON json_t *c = json_pack("{s:I}", "exp", (json_int_t)4102444800LL);
        SR_ASSERT_OK(sr_b64url_json_append(h, &t, true));
        SR_ASSERT_OK(sr_b64url_json_append(c, &t, false));
        SR_ASSERT_OK(sr_pkey_sign_message(key, SR_ALG_ES256, t.data, t.len, SR_SIG_RAW, &sig));
        SR_ASSERT_OK(sr_b64url_encode(sig.data, sig.len, &s64));
        SR_ASSERT_OK(sr_buf_append(&t, ".", 1));
        SR_ASSERT_OK(sr_buf_append(&t, s64.data, strlen((const char *)s64.data) + 1));
        SR_AUTO(sr_jwt_release) struct sr_jwt jwt = {0};
        SR_ASSERT_OK(sr_jwt_parse((const char *)t.data, &jwt));
        enum sr_err r = sr_jwt_verify(&jwt, (const char *)t.data, key);
        if (i == 0) {
            SR_ASSERT_OK(r);
            SR_ASSERT_OK(sr_jwt_times(jwt.claims, 1700000000));
            SR_ASSERT_ERR(SR_ERR_TOKEN_EXPIRED, sr_jwt_times(jwt.claims, 4102444800LL + SR_JWT_SKEW));
        } else {
            SR_ASSERT_ERR(SR_ERR_JWT_ALG, r);
        }
    }
}

/* Role assignments: a scope covers its vault (or its one key), a role adds its permissions, others nothing. */
static void test_assignment_scopes(void **state)
{
    struct sr_fixture *f = *state;
    json_t *app = NULL, *a = NULL;
    SR_ASSERT_OK(sr_app_create(f->store, "web", &app));
    const char *oid = json_string_value(json_object_get(app, "objectId"));
    SR_ASSERT_ERR(SR_ERR_APP_EXISTS, sr_app_create(f->store, "WEB", &a));
    SR_ASSERT_ERR(SR_ERR_APP_NAME, sr_app_create(f->store, "no spaces", &a));
    SR_ASSERT_ERR(SR_ERR_VAULT_NOT_FOUND, sr_role_assignment_create(f->store, "web", "Reader", "/vaults/none", "t", &a));
    SR_ASSERT_ERR(SR_ERR_ROLE_SCOPE, sr_role_assignment_create(f->store, "web", "Reader", "/vaults/eu-vault/x", "t", &a));
    SR_ASSERT_ERR(SR_ERR_ROLE, sr_role_assignment_create(f->store, "web", "Owner", "/", "t", &a));
    SR_ASSERT_OK(sr_role_assignment_create(f->store, "web", "Crypto User", "/vaults/eu-vault/keys/k1", "t", &a));
    json_decref(a);
    SR_ASSERT_OK(sr_role_assignment_create(f->store, "web", "Reader", "/vaults/na-vault", "t", &a));
    json_decref(a);
    json_t *all = NULL;
    SR_ASSERT_OK(sr_ident_list(f->store, SR_IDENT_ASSIGNMENT, &all));
    unsigned user = 0, reader = 0;
    SR_ASSERT_OK(sr_role_perms("Crypto User", &user));
    SR_ASSERT_OK(sr_role_perms("Reader", &reader));
    assert_int_equal(sr_assignments_perms(all, oid, "eu-vault", "k1"), user);
    assert_int_equal(sr_assignments_perms(all, oid, "EU-VAULT", "K1"), user);
    assert_int_equal(sr_assignments_perms(all, oid, "eu-vault", "k2"), 0);
    assert_int_equal(sr_assignments_perms(all, oid, "eu-vault", NULL), 0);
    assert_int_equal(sr_assignments_perms(all, oid, "na-vault", "k1"), reader);
    assert_int_equal(sr_assignments_perms(all, "someone-else", "na-vault", NULL), 0);
    json_decref(all);
    /* A deleted application takes its assignments with it. */
    SR_ASSERT_OK(sr_app_delete(f->store, "web"));
    SR_ASSERT_OK(sr_ident_list(f->store, SR_IDENT_ASSIGNMENT, &all));
    assert_int_equal(json_array_size(all), 0);
    json_decref(all);
    json_decref(app);
}

/* Client secrets: the right one passes, a wrong one and an expired one do not, and none is kept in clear. */
static void test_app_secrets(void **state)
{
    struct sr_fixture *f = *state;
    json_t *app = NULL;
    SR_ASSERT_OK(sr_app_create(f->store, "web", &app));
    char secret[SR_SECRET_TEXT], id[9];
    SR_ASSERT_OK(sr_app_secret_add(f->store, "web", 1, secret, id));
    json_decref(app);
    SR_ASSERT_OK(sr_app_find(f->store, "web", &app));
    char *text = json_dumps(app, 0);
    assert_null(strstr(text, secret + 9));
    free(text);
    SR_ASSERT_OK(sr_app_secret_check(app, secret));
    char wrong[SR_SECRET_TEXT];
    snprintf(wrong, sizeof(wrong), "%s", secret);
    wrong[20] = wrong[20] == 'A' ? 'B' : 'A';
    SR_ASSERT_ERR(SR_ERR_SECRET_WRONG, sr_app_secret_check(app, wrong));
    SR_ASSERT_ERR(SR_ERR_SECRET_WRONG, sr_app_secret_check(app, "short"));
    json_object_set_new(json_array_get(json_object_get(app, "secrets"), 0), "expires", json_integer(1000));
    SR_ASSERT_ERR(SR_ERR_SECRET_EXPIRED, sr_app_secret_check(app, secret));
    SR_ASSERT_OK(sr_app_credential_remove(f->store, "web", id));
    SR_ASSERT_ERR(SR_ERR_CREDENTIAL_NOT_FOUND, sr_app_credential_remove(f->store, "web", id));
    json_decref(app);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_get_list_paging, sr_setup, sr_teardown),
        cmocka_unit_test_setup_teardown(test_roles_and_scope, sr_setup, sr_teardown),
        cmocka_unit_test_setup_teardown(test_backup_restores_only_in_its_region_and_subscription, sr_setup, sr_teardown),
        cmocka_unit_test_setup_teardown(test_soft_delete_lifecycle, sr_setup, sr_teardown),
        cmocka_unit_test_setup_teardown(test_every_change_seen_at_once, sr_setup, sr_teardown),
        cmocka_unit_test_setup_teardown(test_audit_chain, sr_setup, sr_teardown),
        cmocka_unit_test(test_router),
        cmocka_unit_test(test_release_policy_grammar),
        cmocka_unit_test_setup_teardown(test_audit_list, sr_setup, sr_teardown),
        cmocka_unit_test_setup_teardown(test_release_refusals, sr_setup, sr_teardown),
        cmocka_unit_test(test_form_parse),
        cmocka_unit_test(test_jwt_alg_confusion),
        cmocka_unit_test_setup_teardown(test_assignment_scopes, sr_setup, sr_teardown),
        cmocka_unit_test_setup_teardown(test_app_secrets, sr_setup, sr_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
