/* Unit tests of src/byok: package verification (every link, every byte), the attestation's claims,
 * the .byok parser, and that a region's KEK private key is in no file the vault writes. */
#include "testlib.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "base/fileio.h"
#include "base/json.h"
#include "byok/byok.h"
#include "crypto/crypto.h"
#include "crypto/ossl.h"
#include "hsm/blob.h"
#include "hsm/internal.h"
#include "hsm/transfer.h"
#include "vault/vault.h"

struct sr_fixture {
    char dir[256];
    struct sr_store *store;
    struct sr_buf kek, sw;
    uint8_t root_fp[SR_HASH_LEN];
};

static void sr_read_pkg(struct sr_fixture *f, const char *name, struct sr_buf *out)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/regions/EU/toolset/%s", f->dir, name);
    sr_test_read_file(path, out);
}

static int sr_setup(void **state)
{
    struct sr_fixture *f = calloc(1, sizeof(*f));
    sr_test_tmpdir(f->dir, sizeof(f->dir));
    sr_test_store_open(f->dir, &f->store);
    struct sr_pins pins = {0};
    sr_test_pins(&pins, 1);
    struct sr_region_params eu = {.name = "EU", .quorum_k = 1, .quorum_n = 1, .kek_bits = 2048};
    SR_ASSERT_OK(sr_region_create(f->dir, f->store, &eu, &pins));
    sr_pins_release(&pins);
    sr_read_pkg(f, "BYOK-KEK-pkg-EU-1", &f->kek);
    sr_read_pkg(f, "BYOK-SecurityWorld-pkg-EU-1", &f->sw);
    char root[512];
    snprintf(root, sizeof(root), "%s/root", f->dir);
    SR_ASSERT_OK(sr_root_fingerprint(root, f->root_fp));
    *state = f;
    return 0;
}

static int sr_teardown(void **state)
{
    struct sr_fixture *f = *state;
    sr_buf_release(&f->kek);
    sr_buf_release(&f->sw);
    f->store->ops->close(f->store);
    sr_test_rmrf(f->dir);
    free(f);
    return 0;
}

static enum sr_err sr_verify(struct sr_fixture *f, const struct sr_buf *kek, const struct sr_buf *sw,
                             const uint8_t *pin, struct sr_check_report *rep)
{
    struct sr_kek_package pkg = {0};
    memset(rep, 0, sizeof(*rep));
    enum sr_err r = sr_packages_verify(kek->data, kek->len, sw->data, sw->len, pin ? pin : f->root_fp, rep, &pkg);
    sr_kek_package_release(&pkg);
    return r;
}

static void test_genuine_packages_verify(void **state)
{
    struct sr_fixture *f = *state;
    struct sr_check_report rep;
    struct sr_kek_package pkg = {0};
    SR_ASSERT_OK(sr_packages_verify(f->kek.data, f->kek.len, f->sw.data, f->sw.len, f->root_fp, &rep, &pkg));
    assert_string_equal(pkg.kid, "urn:strongroom:kek:EU:1");
    assert_string_equal(pkg.region, "EU");
    assert_true(rep.n >= 15);
    for (size_t i = 0; i < rep.n; i++) {
        assert_true(rep.ok[i]);
    }
    sr_kek_package_release(&pkg);
    uint8_t other[SR_HASH_LEN] = {1};
    SR_ASSERT_ERR(SR_ERR_PACKAGE, sr_verify(f, &f->kek, &f->sw, other, &rep));
    assert_non_null(strstr(rep.reason, "root other than the pinned"));
    SR_ASSERT_ERR(SR_ERR_PACKAGE, sr_verify(f, &f->sw, &f->kek, NULL, &rep)); /* swapped -k and -w */
}

static void sr_flip_all(struct sr_fixture *f, struct sr_buf *target)
{
    /* Every byte, one bit each, walking through all eight bit positions. */
    for (size_t i = 0; i < target->len; i++) {
        unsigned bit = (unsigned)(i % 8);
        target->data[i] ^= (uint8_t)(1u << bit);
        struct sr_check_report rep;
        if (sr_verify(f, &f->kek, &f->sw, NULL, &rep) == SR_OK) {
            fail_msg("byte %zu bit %u flipped and the packages still verify", i, bit);
        }
        target->data[i] ^= (uint8_t)(1u << bit);
    }
    struct sr_check_report rep;
    SR_ASSERT_OK(sr_verify(f, &f->kek, &f->sw, NULL, &rep));
}

static void test_every_flipped_byte_fails(void **state)
{
    struct sr_fixture *f = *state;
    sr_flip_all(f, &f->kek);
    sr_flip_all(f, &f->sw);
}

/* Re-signs a KEK package with an edited payload, with the genuine module's identity key: only the
 * claims differ, so the verifier's checks of those claims are what must catch it. */
static void sr_resign(struct sr_fixture *f, const char *key, json_t *value, struct sr_buf *out)
{
    json_t *env = json_loadb((const char *)f->kek.data, f->kek.len, 0, NULL);
    struct sr_buf payload;
    sr_buf_init(&payload, 1 << 20, SR_BUF_PLAIN);
    SR_ASSERT_OK(sr_base64_decode(json_string_value(json_object_get(env, "payload")), &payload));
    json_t *p = json_loadb((const char *)payload.data, payload.len, 0, NULL);
    json_object_set_new(p, key, value);
    char *text = json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS);
    char kmdata[512];
    snprintf(kmdata, sizeof(kmdata), "%s/regions/EU/kmdata", f->dir);
    struct sr_module *m = NULL;
    SR_ASSERT_OK(sr_module_open(kmdata, &m));
    struct sr_buf sig, b64;
    sr_buf_init(&sig, 1024, SR_BUF_PLAIN);
    sr_buf_init(&b64, 1 << 20, SR_BUF_PLAIN);
    SR_ASSERT_OK(sr_module_attest(m, (const uint8_t *)text, strlen(text), &sig));
    SR_ASSERT_OK(sr_base64_encode((const uint8_t *)text, strlen(text), &b64));
    json_object_set_new(env, "payload", json_string((const char *)b64.data));
    sr_buf_release(&b64);
    sr_buf_init(&b64, 4096, SR_BUF_PLAIN);
    SR_ASSERT_OK(sr_base64_encode(sig.data, sig.len, &b64));
    json_object_set_new(env, "signature", json_string((const char *)b64.data));
    char *out_text = json_dumps(env, 0);
    sr_buf_init(out, 1 << 20, SR_BUF_PLAIN);
    SR_ASSERT_OK(sr_buf_append_str(out, out_text));
    free(out_text);
    free(text);
    sr_buf_release(&sig);
    sr_buf_release(&b64);
    sr_buf_release(&payload);
    sr_module_free(m);
    json_decref(p);
    json_decref(env);
}

static void test_attestation_claims_are_checked(void **state)
{
    struct sr_fixture *f = *state;
    struct sr_check_report rep;
    struct sr_buf rogue;
    sr_resign(f, "exportable", json_true(), &rogue);
    SR_ASSERT_ERR(SR_ERR_PACKAGE, sr_verify(f, &rogue, &f->sw, NULL, &rep));
    assert_non_null(strstr(rep.reason, "exportable"));
    sr_buf_release(&rogue);
    sr_resign(f, "acl", json_pack("[s,s]", "Import", "Decrypt"), &rogue);
    SR_ASSERT_ERR(SR_ERR_PACKAGE, sr_verify(f, &rogue, &f->sw, NULL, &rep));
    sr_buf_release(&rogue);
    sr_resign(f, "generated_in_module", json_false(), &rogue);
    SR_ASSERT_ERR(SR_ERR_PACKAGE, sr_verify(f, &rogue, &f->sw, NULL, &rep));
    assert_non_null(strstr(rep.reason, "generated"));
    sr_buf_release(&rogue);
    sr_resign(f, "region", json_string("NA"), &rogue);
    SR_ASSERT_ERR(SR_ERR_PACKAGE, sr_verify(f, &rogue, &f->sw, NULL, &rep));
    assert_non_null(strstr(rep.reason, "different worlds or regions"));
    sr_buf_release(&rogue);
    /* The control: re-signing without a change verifies, so the failures above are the claims'. */
    sr_resign(f, "type", json_string("kek"), &rogue);
    SR_ASSERT_OK(sr_verify(f, &rogue, &f->sw, NULL, &rep));
    sr_buf_release(&rogue);
}

static void test_byok_parser(void **state)
{
    (void)state;
    struct sr_byok b;
    const char *good = "{\"schema_version\":\"1.0.0\",\"header\":{\"kid\":\"k\",\"alg\":\"dir\",\"enc\":"
                       "\"CKM_RSA_AES_KEY_WRAP\"},\"ciphertext\":\"AAEC\"}";
    SR_ASSERT_OK(sr_byok_parse((const uint8_t *)good, strlen(good), &b));
    assert_int_equal(b.ciphertext.len, 3);
    assert_string_equal(b.binding, "");
    sr_byok_release(&b);
    const char *bad[] = {
        "{}", "[]", "not json",
        "{\"schema_version\":\"2.0.0\",\"header\":{\"kid\":\"k\",\"alg\":\"dir\",\"enc\":\"CKM_RSA_AES_KEY_WRAP\"},\"ciphertext\":\"AA\"}",
        "{\"schema_version\":\"1.0.0\",\"header\":{\"kid\":\"k\",\"alg\":\"RSA-OAEP\",\"enc\":\"CKM_RSA_AES_KEY_WRAP\"},\"ciphertext\":\"AA\"}",
        "{\"schema_version\":\"1.0.0\",\"header\":{\"alg\":\"dir\",\"enc\":\"CKM_RSA_AES_KEY_WRAP\"},\"ciphertext\":\"AA\"}",
        "{\"schema_version\":\"1.0.0\",\"header\":{\"kid\":\"k\",\"alg\":\"dir\",\"enc\":\"CKM_RSA_AES_KEY_WRAP\"},\"ciphertext\":\"A$\"}",
        "{\"schema_version\":\"1.0.0\",\"header\":{\"kid\":7,\"alg\":\"dir\",\"enc\":\"CKM_RSA_AES_KEY_WRAP\"},\"ciphertext\":\"AA\"}",
    };
    for (size_t i = 0; i < SR_ARRAY_LEN(bad); i++) {
        SR_ASSERT_ERR(SR_ERR_BYOK_FORMAT, sr_byok_parse((const uint8_t *)bad[i], strlen(bad[i]), &b));
    }
}

static void test_kek_private_key_is_in_no_file(void **state)
{
    struct sr_fixture *f = *state;
    char kmdata[512];
    snprintf(kmdata, sizeof(kmdata), "%s/regions/EU/kmdata", f->dir);
    struct sr_module *m = NULL;
    SR_ASSERT_OK(sr_module_open(kmdata, &m));
    struct sr_key_info info;
    EVP_PKEY *kek = NULL;
    SR_ASSERT_OK(sr_key_read_const(m, SR_KEK_APP, SR_KEK_IDENT, &info, &kek));
    assert_int_equal(info.acl.actions, SR_ACL_IMPORT); /* import only: never decrypt, sign or export */
    struct sr_buf p8;
    sr_buf_init(&p8, 16384, SR_BUF_SECRET);
    SR_ASSERT_OK(sr_pkey_private_to_pkcs8(kek, &p8));
    assert_true(sr_test_contains(p8.data, p8.len, p8.data + 40, 32)); /* the needle finds itself */
    sr_test_assert_absent(f->dir, p8.data + 40, 32, "the KEK's private key");
    /* A KEK blob cannot be used for decryption through the module either. */
    struct sr_buf out;
    sr_buf_init(&out, 1024, SR_BUF_SECRET);
    struct sr_buf blob;
    char path[512];
    SR_ASSERT_OK(sr_key_path(m, SR_KEK_APP, SR_KEK_IDENT, path, sizeof(path)));
    sr_test_read_file(path, &blob);
    uint8_t ct[256] = {0};
    SR_ASSERT_ERR(SR_ERR_KEYFILE_TAMPERED, sr_blob_decrypt(m, blob.data, blob.len, SR_ACL_DECRYPT, SR_ENC_RSA_OAEP_256, ct,
                                                           sizeof(ct), &out)); /* not a vault blob: refused */
    sr_buf_release(&blob);
    sr_buf_release(&out);
    sr_buf_release(&p8);
    EVP_PKEY_free(kek);
    sr_module_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_genuine_packages_verify, sr_setup, sr_teardown),
        cmocka_unit_test_setup_teardown(test_every_flipped_byte_fails, sr_setup, sr_teardown),
        cmocka_unit_test_setup_teardown(test_attestation_claims_are_checked, sr_setup, sr_teardown),
        cmocka_unit_test(test_byok_parser),
        cmocka_unit_test_setup_teardown(test_kek_private_key_is_in_no_file, sr_setup, sr_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
