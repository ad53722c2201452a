/* Unit tests of module-protected keys (src/hsm/keyfile.c): generation, authentication, swaps, refusals. */
#include "testlib.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "base/fileio.h"
#include "crypto/ossl.h"
#include "hsm/blob.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509v3.h>

struct sr_fixture {
    char dir[256];
    struct sr_module *m;
};

static int sr_setup(void **state)
{
    struct sr_fixture *f = calloc(1, sizeof(*f));
    sr_test_tmpdir(f->dir, sizeof(f->dir));
    f->m = sr_test_module_with_world(f->dir, 1, 1, NULL);
    *state = f;
    return 0;
}

static int sr_teardown(void **state)
{
    struct sr_fixture *f = *state;
    sr_module_free(f->m);
    sr_test_rmrf(f->dir);
    free(f);
    return 0;
}

static struct sr_keygen_params sr_rsa(const char *ident)
{
    struct sr_keygen_params p = {.app = "simple", .ident = ident, .plainname = ident,
                                 .spec = {.type = SR_KEY_RSA, .bits = 2048, .pubexp = 65537}};
    return p;
}

static struct sr_keygen_params sr_ec(const char *ident, enum sr_curve c)
{
    struct sr_keygen_params p = {.app = "simple", .ident = ident, .plainname = ident,
                                 .spec = {.type = SR_KEY_EC, .curve = c}};
    return p;
}

static void sr_sign_verify(struct sr_module *m, const char *ident, enum sr_sign_alg alg)
{
    struct sr_buf sig;
    sr_buf_init(&sig, 4096, SR_BUF_PLAIN);
    SR_ASSERT_OK(sr_key_sign(m, "simple", ident, alg, "data", 4, SR_SIG_DER, &sig));
    EVP_PKEY *pub = NULL;
    SR_ASSERT_OK(sr_key_public(m, "simple", ident, &pub));
    SR_ASSERT_OK(sr_pkey_verify_message(pub, alg, "data", 4, SR_SIG_DER, sig.data, sig.len));
    EVP_PKEY_free(pub);
    sr_buf_release(&sig);
}

static void test_generate_every_type(void **state)
{
    struct sr_fixture *f = *state;
    struct sr_key_info info;
    struct sr_keygen_params rsa = sr_rsa("contosokey");
    SR_ASSERT_OK(sr_key_generate(f->m, &rsa, &info));
    assert_int_equal(info.spec.bits, 2048);
    assert_true(sr_acl_permits(&info.acl, SR_ACL_SIGN));
    assert_false(sr_acl_permits(&info.acl, SR_ACL_EXPORT_TO_KEY));
    sr_sign_verify(f->m, "contosokey", SR_ALG_RS256);
    sr_sign_verify(f->m, "contosokey", SR_ALG_PS256);
    struct {
        const char *ident;
        enum sr_curve c;
        enum sr_sign_alg alg;
    } ec[] = {{"ec-256", SR_CURVE_P256, SR_ALG_ES256}, {"ec-384", SR_CURVE_P384, SR_ALG_ES384},
              {"ec-521", SR_CURVE_P521, SR_ALG_ES512}, {"ec-256k", SR_CURVE_P256K, SR_ALG_ES256K}};
    for (size_t i = 0; i < SR_ARRAY_LEN(ec); i++) {
        struct sr_keygen_params p = sr_ec(ec[i].ident, ec[i].c);
        SR_ASSERT_OK(sr_key_generate(f->m, &p, &info));
        assert_false(sr_acl_permits(&info.acl, SR_ACL_DECRYPT));
        sr_sign_verify(f->m, ec[i].ident, ec[i].alg);
    }
    char path[512];
    SR_ASSERT_OK(sr_key_path(f->m, "simple", "contosokey", path, sizeof(path)));
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    bool verified = false;
    SR_ASSERT_OK(sr_key_inspect(f->m, path, &info, &verified));
    assert_true(verified);
    assert_string_equal(info.ident, "contosokey");
}

static void test_big_rsa_sizes(void **state)
{
    struct sr_fixture *f = *state;
    struct sr_key_info info;
    struct sr_keygen_params p = sr_rsa("rsa-3072");
    p.spec.bits = 3072;
    SR_ASSERT_OK(sr_key_generate(f->m, &p, &info));
    assert_int_equal(info.spec.bits, 3072);
    p = sr_rsa("rsa-4096");
    p.spec.bits = 4096;
    SR_ASSERT_OK(sr_key_generate(f->m, &p, &info));
    assert_int_equal(info.spec.bits, 4096);
    sr_sign_verify(f->m, "rsa-4096", SR_ALG_RS512);
}

static void test_refusals_change_nothing(void **state)
{
    struct sr_fixture *f = *state;
    struct sr_key_info info;
    struct sr_keygen_params p = sr_rsa("taken");
    SR_ASSERT_OK(sr_key_generate(f->m, &p, &info));
    char before[65], after[65];
    sr_test_tree_digest(f->dir, before);
    SR_ASSERT_ERR(SR_ERR_EXISTS, sr_key_generate(f->m, &p, &info));
    const char *bad_idents[] = {"Contoso", "has space", "under_score", "", "dot.ted",
                                "a0123456789012345678901234567890123456789012345678901234567890123"};
    for (size_t i = 0; i < SR_ARRAY_LEN(bad_idents); i++) {
        p = sr_rsa(bad_idents[i]);
        SR_ASSERT_ERR(SR_ERR_IDENT, sr_key_generate(f->m, &p, &info));
    }
    p = sr_rsa("weak");
    p.spec.bits = 1024;
    SR_ASSERT_ERR(SR_ERR_KEY_TYPE, sr_key_generate(f->m, &p, &info));
    p.spec.bits = 2048;
    p.spec.pubexp = 3;
    SR_ASSERT_ERR(SR_ERR_PUBEXP, sr_key_generate(f->m, &p, &info));
    SR_ASSERT_OK(sr_module_set_mode(f->m, 'I'));
    p = sr_rsa("in-mode-i");
    SR_ASSERT_ERR(SR_ERR_MODE_O_NEEDED, sr_key_generate(f->m, &p, &info));
    SR_ASSERT_OK(sr_module_set_mode(f->m, 'O'));
    sr_test_tree_digest(f->dir, after);
    assert_string_equal(before, after);
    /* 64 characters is the limit, and it is accepted. */
    SR_ASSERT_OK(sr_ident_check("a123456789012345678901234567890123456789012345678901234567890123"));
}

static void test_every_flipped_byte_refused(void **state)
{
    struct sr_fixture *f = *state;
    struct sr_key_info info;
    struct sr_keygen_params p = sr_ec("flip", SR_CURVE_P256);
    SR_ASSERT_OK(sr_key_generate(f->m, &p, &info));
    char path[512];
    SR_ASSERT_OK(sr_key_path(f->m, "simple", "flip", path, sizeof(path)));
    struct sr_buf orig;
    sr_test_read_file(path, &orig);
    for (size_t i = 0; i < orig.len; i++) {
        orig.data[i] ^= 0x20;
        SR_ASSERT_OK(sr_file_write_atomic(path, orig.data, orig.len, SR_WRITE_REPLACE));
        struct sr_buf sig;
        sr_buf_init(&sig, 4096, SR_BUF_PLAIN);
        enum sr_err r = sr_key_sign(f->m, "simple", "flip", SR_ALG_ES256, "x", 1, SR_SIG_DER, &sig);
        if (r == SR_OK) {
            fail_msg("byte %zu of the key file flipped and the key still signed", i);
        }
        bool verified = false;
        r = sr_key_inspect(f->m, path, &info, &verified);
        if (r == SR_OK) {
            fail_msg("byte %zu flipped and kmfile-dump still calls the file valid", i);
        }
        sr_buf_release(&sig);
        orig.data[i] ^= 0x20;
    }
    /* Truncation and trailing garbage too. */
    SR_ASSERT_OK(sr_file_write_atomic(path, orig.data, orig.len - 1, SR_WRITE_REPLACE));
    EVP_PKEY *pub = NULL;
    SR_ASSERT_ERR(SR_ERR_KEYFILE_TAMPERED, sr_key_public(f->m, "simple", "flip", &pub));
    SR_ASSERT_OK(sr_buf_append(&orig, "x", 1));
    SR_ASSERT_OK(sr_file_write_atomic(path, orig.data, orig.len, SR_WRITE_REPLACE));
    SR_ASSERT_ERR(SR_ERR_KEYFILE_TAMPERED, sr_key_public(f->m, "simple", "flip", &pub));
    SR_ASSERT_OK(sr_file_write_atomic(path, orig.data, orig.len - 1, SR_WRITE_REPLACE));
    SR_ASSERT_OK(sr_key_public(f->m, "simple", "flip", &pub));
    EVP_PKEY_free(pub);
    sr_buf_release(&orig);
}

static void test_swapped_key_file_refused(void **state)
{
    struct sr_fixture *f = *state;
    struct sr_key_info info;
    struct sr_keygen_params a = sr_ec("alpha", SR_CURVE_P256);
    struct sr_keygen_params b = sr_ec("beta", SR_CURVE_P256);
    SR_ASSERT_OK(sr_key_generate(f->m, &a, &info));
    SR_ASSERT_OK(sr_key_generate(f->m, &b, &info));
    char pa[512], pb[512];
    SR_ASSERT_OK(sr_key_path(f->m, "simple", "alpha", pa, sizeof(pa)));
    SR_ASSERT_OK(sr_key_path(f->m, "simple", "beta", pb, sizeof(pb)));
    struct sr_buf alpha;
    sr_test_read_file(pa, &alpha);
    SR_ASSERT_OK(sr_file_write_atomic(pb, alpha.data, alpha.len, SR_WRITE_REPLACE));
    EVP_PKEY *pub = NULL;
    SR_ASSERT_ERR(SR_ERR_KEYFILE_TAMPERED, sr_key_public(f->m, "simple", "beta", &pub));
    bool verified;
    SR_ASSERT_ERR(SR_ERR_KEYFILE_TAMPERED, sr_key_inspect(f->m, pb, &info, &verified));
    sr_buf_release(&alpha);
}

static void test_key_of_another_world(void **state)
{
    struct sr_fixture *f = *state;
    char other[256];
    sr_test_tmpdir(other, sizeof(other));
    struct sr_module *m2 = sr_test_module_with_world(other, 1, 1, NULL);
    struct sr_key_info info;
    struct sr_keygen_params p = sr_ec("foreign", SR_CURVE_P256);
    SR_ASSERT_OK(sr_key_generate(m2, &p, &info));
    char src[512], dst[512];
    SR_ASSERT_OK(sr_key_path(m2, "simple", "foreign", src, sizeof(src)));
    SR_ASSERT_OK(sr_key_path(f->m, "simple", "foreign", dst, sizeof(dst)));
    struct sr_buf data;
    sr_test_read_file(src, &data);
    SR_ASSERT_OK(sr_file_write_atomic(dst, data.data, data.len, SR_WRITE_REPLACE));
    EVP_PKEY *pub = NULL;
    SR_ASSERT_ERR(SR_ERR_WORLD_MISMATCH, sr_key_public(f->m, "simple", "foreign", &pub));
    bool verified = true;
    SR_ASSERT_OK(sr_key_inspect(f->m, dst, &info, &verified)); /* readable, but not vouched for */
    assert_false(verified);
    sr_buf_release(&data);
    sr_module_free(m2);
    sr_test_rmrf(other);
}

static void test_keys_work_again_only_after_world_load(void **state)
{
    struct sr_fixture *f = *state;
    struct sr_key_info info;
    struct sr_keygen_params p = sr_rsa("survivor");
    SR_ASSERT_OK(sr_key_generate(f->m, &p, &info));
    SR_ASSERT_OK(sr_module_reset(f->m));
    struct sr_buf sig;
    sr_buf_init(&sig, 4096, SR_BUF_PLAIN);
    SR_ASSERT_ERR(SR_ERR_NO_WORLD, sr_key_sign(f->m, "simple", "survivor", SR_ALG_RS256, "x", 1, SR_SIG_DER, &sig));
    struct sr_pins pins = {0};
    sr_test_pins(&pins, 1);
    unsigned one = 1;
    SR_ASSERT_OK(sr_world_load(f->m, NULL, &one, 1, &pins));
    sr_pins_release(&pins);
    sr_sign_verify(f->m, "survivor", SR_ALG_RS256);
    sr_buf_release(&sig);
}

static void test_blob_cache_never_serves_a_changed_blob(void **state)
{
    struct sr_fixture *f = *state;
    struct sr_key_spec spec = {.type = SR_KEY_EC, .curve = SR_CURVE_P256};
    struct sr_buf blob, sig;
    sr_buf_init(&blob, 1 << 16, SR_BUF_PLAIN);
    SR_ASSERT_OK(sr_blob_generate(f->m, "0123456789abcdef0123456789abcdef", "cached", &spec, SR_ACL_SIGN, &blob));
    uint8_t digest[32] = {9};
    EVP_PKEY *pub = NULL;
    SR_ASSERT_OK(sr_blob_public(blob.data, blob.len, &pub));
    for (int i = 0; i < 3; i++) { /* the first loads, the others come from the cache */
        sr_buf_init(&sig, 256, SR_BUF_PLAIN);
        SR_ASSERT_OK(sr_blob_sign_digest(f->m, blob.data, blob.len, SR_ALG_ES256, digest, 32, &sig));
        SR_ASSERT_OK(sr_pkey_verify_digest(pub, SR_ALG_ES256, digest, 32, SR_SIG_RAW, sig.data, sig.len));
        sr_buf_release(&sig);
    }
    /* A changed byte is another blob: authenticated again, and refused. */
    blob.data[blob.len - 5] ^= 1;
    sr_buf_init(&sig, 256, SR_BUF_PLAIN);
    SR_ASSERT_ERR(SR_ERR_KEYFILE_TAMPERED, sr_blob_sign_digest(f->m, blob.data, blob.len, SR_ALG_ES256, digest, 32, &sig));
    blob.data[blob.len - 5] ^= 1;
    /* The ACL is kept with the cached key: decrypt stays refused. */
    SR_ASSERT_ERR(SR_ERR_ACL_DENIED, sr_blob_decrypt(f->m, blob.data, blob.len, SR_ACL_DECRYPT, SR_ENC_RSA_OAEP_256,
                                                     digest, 32, &sig));
    /* After a reset the module forgets it: no world, no key. */
    SR_ASSERT_OK(sr_module_reset(f->m));
    SR_ASSERT_ERR(SR_ERR_NO_WORLD, sr_blob_sign_digest(f->m, blob.data, blob.len, SR_ALG_ES256, digest, 32, &sig));
    sr_buf_release(&sig);
    sr_buf_release(&blob);
    EVP_PKEY_free(pub);
}

/* Pooled signing contexts: one made for RS256 never signs a PS256 request, and threads never share one. */
static void sr_blob_sign_check(struct sr_module *m, const struct sr_buf *blob, EVP_PKEY *pub, enum sr_sign_alg alg)
{
    uint8_t digest[32] = {7, (uint8_t)alg};
    struct sr_buf sig;
    sr_buf_init(&sig, 1024, SR_BUF_PLAIN);
    SR_ASSERT_OK(sr_blob_sign_digest(m, blob->data, blob->len, alg, digest, 32, &sig));
    SR_ASSERT_OK(sr_pkey_verify_digest(pub, alg, digest, 32, SR_SIG_RAW, sig.data, sig.len));
    sr_buf_release(&sig);
}

struct sr_signer {
    struct sr_module *m;
    const struct sr_buf *blob;
    EVP_PKEY *pub;
    enum sr_sign_alg alg;
    int failures;
};

static void *sr_signer_main(void *arg)
{
    struct sr_signer *s = arg;
    uint8_t digest[32] = {3};
    for (int i = 0; i < 200; i++) {
        digest[1] = (uint8_t)i;
        struct sr_buf sig;
        sr_buf_init(&sig, 1024, SR_BUF_PLAIN);
        if (sr_blob_sign_digest(s->m, s->blob->data, s->blob->len, s->alg, digest, 32, &sig) != SR_OK ||
            sr_pkey_verify_digest(s->pub, s->alg, digest, 32, SR_SIG_RAW, sig.data, sig.len) != SR_OK) {
            s->failures++;
        }
        sr_buf_release(&sig);
    }
    return NULL;
}

/* A certificate to be for pub, subject and issuer CN=name, a day long. */
static X509 *sr_cert_for(EVP_PKEY *pub, const char *name)
{
    X509 *c = X509_new();
    X509_NAME *n = X509_NAME_new();
    assert_non_null(c);
    assert_true(X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)name, -1, -1, 0) == 1);
    assert_true(X509_set_version(c, 2) == 1 && X509_set_subject_name(c, n) == 1 && X509_set_issuer_name(c, n) == 1);
    assert_true(ASN1_INTEGER_set(X509_get_serialNumber(c), 7) == 1);
    assert_non_null(X509_gmtime_adj(X509_getm_notBefore(c), 0));
    assert_non_null(X509_gmtime_adj(X509_getm_notAfter(c), 86400));
    assert_true(X509_set_pubkey(c, pub) == 1);
    X509_NAME_free(n);
    return c;
}

/* A certificate and a request signed by module keys: each verifies with the key's public half, under the digest
 * its curve pairs with; a request for another key, or a key without Sign, is refused and signs nothing. */
static void test_certificates_signed_by_the_module(void **state)
{
    struct sr_fixture *f = *state;
    struct sr_key_spec specs[] = {{.type = SR_KEY_EC, .curve = SR_CURVE_P384}, {.type = SR_KEY_RSA, .bits = 2048, .pubexp = 65537}};
    const int mds[] = {NID_sha384, NID_sha256};
    for (size_t i = 0; i < SR_ARRAY_LEN(specs); i++) {
        struct sr_buf blob;
        sr_buf_init(&blob, 1 << 16, SR_BUF_PLAIN);
        SR_ASSERT_OK(sr_blob_generate(f->m, "0123456789abcdef0123456789abcdef", "c", &specs[i], SR_ACL_SIGN, &blob));
        EVP_PKEY *pub = NULL;
        SR_ASSERT_OK(sr_blob_public(blob.data, blob.len, &pub));
        X509 *cert = sr_cert_for(pub, "self.example");
        SR_ASSERT_OK(sr_blob_sign_cert(f->m, blob.data, blob.len, cert, NULL));
        assert_int_equal(X509_verify(cert, pub), 1);
        int md = 0, pk = 0;
        assert_true(OBJ_find_sigid_algs(X509_get_signature_nid(cert), &md, &pk) == 1);
        assert_int_equal(md, mds[i]);
        X509_REQ *req = X509_REQ_new();
        assert_true(X509_REQ_set_pubkey(req, pub) == 1 && X509_REQ_set_subject_name(req, X509_get_subject_name(cert)) == 1);
        SR_ASSERT_OK(sr_blob_sign_cert(f->m, blob.data, blob.len, NULL, req));
        assert_int_equal(X509_REQ_verify(req, pub), 1);
        SR_ASSERT_ERR(SR_ERR_USAGE, sr_blob_sign_cert(f->m, blob.data, blob.len, cert, req));
        X509_REQ_free(req);
        X509_free(cert);
        EVP_PKEY_free(pub);
        sr_buf_release(&blob);
    }
    /* A request for another key (a key of the test's, not the module's) is refused. */
    struct sr_buf blob, verify_only;
    sr_buf_init(&blob, 1 << 16, SR_BUF_PLAIN);
    sr_buf_init(&verify_only, 1 << 16, SR_BUF_PLAIN);
    SR_ASSERT_OK(sr_blob_generate(f->m, "0123456789abcdef0123456789abcdef", "c", &specs[0], SR_ACL_SIGN, &blob));
    SR_ASSERT_OK(sr_blob_generate(f->m, "fedcba9876543210fedcba9876543210", "v", &specs[0], SR_ACL_VERIFY, &verify_only));
    EVP_PKEY *other = NULL;
    SR_ASSERT_OK(sr_pkey_generate(&specs[0], &other));
    X509_REQ *req = X509_REQ_new();
    assert_true(X509_REQ_set_pubkey(req, other) == 1);
    SR_ASSERT_ERR(SR_ERR_CERT_KEY_MISMATCH, sr_blob_sign_cert(f->m, blob.data, blob.len, NULL, req));
    assert_true(X509_REQ_verify(req, other) <= 0); /* still unsigned */
    X509 *cert = sr_cert_for(other, "no.sign");
    SR_ASSERT_ERR(SR_ERR_ACL_DENIED, sr_blob_sign_cert(f->m, verify_only.data, verify_only.len, cert, NULL));
    X509_free(cert);
    X509_REQ_free(req);
    EVP_PKEY_free(other);
    sr_buf_release(&blob);
    sr_buf_release(&verify_only);
    ERR_clear_error();
}

/* DER of a PKCS#12 of key and cert (and ca), under pass with OpenSSL's PBE nid (0: OpenSSL 3's AES-256 default). */
static uint8_t *sr_p12(EVP_PKEY *key, X509 *cert, X509 *ca, const char *pass, int nid, int *len)
{
    STACK_OF(X509) *cas = sk_X509_new_null();
    if (ca != NULL) {
        assert_true(sk_X509_push(cas, ca) > 0);
    }
    PKCS12 *p12 = PKCS12_create(pass, "friendly", key, cert, cas, nid, nid, 0, 0, 0);
    assert_non_null(p12);
    uint8_t *der = NULL;
    *len = i2d_PKCS12(p12, &der);
    assert_true(*len > 0);
    PKCS12_free(p12);
    sk_X509_free(cas);
    return der;
}

/* A certificate's key taken into the module from a PKCS#12 (AES-256, 3DES, no password) or a PEM (plain or an
 * encrypted PKCS#8): the key then signs as itself; a wrong password, a certificate without its key, a key
 * without its certificate and bytes that are neither are each refused by name. */
static void test_certificate_imports(void **state)
{
    struct sr_fixture *f = *state;
    struct sr_key_spec spec = {.type = SR_KEY_EC, .curve = SR_CURVE_P256};
    EVP_PKEY *key = NULL, *other = NULL;
    SR_ASSERT_OK(sr_pkey_generate(&spec, &key));
    SR_ASSERT_OK(sr_pkey_generate(&spec, &other));
    X509 *cert = sr_cert_for(key, "imported.example");
    X509 *ca = sr_cert_for(other, "ca.example");
    assert_true(X509_sign(cert, other, EVP_sha256()) > 0 && X509_sign(ca, other, EVP_sha256()) > 0);
    const struct {
        const char *pass;
        int nid;
    } kinds[] = {{"pw", 0}, {"pw", NID_pbe_WithSHA1And3_Key_TripleDES_CBC}, {NULL, 0}};
    for (size_t i = 0; i < SR_ARRAY_LEN(kinds); i++) {
        int len = 0;
        uint8_t *der = sr_p12(key, cert, ca, kinds[i].pass, kinds[i].nid, &len);
        struct sr_cert_import in = {.data = der, .len = (size_t)len, .password = kinds[i].pass};
        struct sr_buf blob;
        sr_buf_init(&blob, 1 << 16, SR_BUF_PLAIN);
        struct sr_key_spec got;
        X509 *leaf = NULL;
        STACK_OF(X509) *chain = NULL;
        SR_ASSERT_OK(sr_blob_import_cert(f->m, "0123456789abcdef0123456789abcdef", "p12", &in, SR_ACL_SIGN, &blob, &got,
                                         &leaf, &chain));
        assert_int_equal(X509_cmp(leaf, cert), 0);
        assert_int_equal(sk_X509_num(chain), 1);
        assert_int_equal(X509_cmp(sk_X509_value(chain, 0), ca), 0);
        assert_int_equal(got.type, SR_KEY_EC);
        EVP_PKEY *pub = NULL;
        SR_ASSERT_OK(sr_blob_public(blob.data, blob.len, &pub));
        assert_int_equal(EVP_PKEY_eq(pub, key), 1);
        if (kinds[i].pass != NULL) {
            struct sr_cert_import wrong = in;
            wrong.password = "not-pw";
            X509 *l2 = NULL;
            STACK_OF(X509) *c2 = NULL;
            SR_ASSERT_ERR(SR_ERR_CERT_PASSWORD, sr_blob_import_cert(f->m, "0123456789abcdef0123456789abcdef", "p12",
                                                                    &wrong, SR_ACL_SIGN, &blob, &got, &l2, &c2));
            assert_null(l2);
            assert_null(c2);
        }
        EVP_PKEY_free(pub);
        X509_free(leaf);
        sk_X509_pop_free(chain, X509_free);
        sr_buf_release(&blob);
        OPENSSL_free(der);
    }
    /* PEM: the chain first and an encrypted PKCS#8 key last, in one text; then each refusal. */
    BIO *bio = BIO_new(BIO_s_mem());
    assert_true(PEM_write_bio_X509(bio, ca) == 1 && PEM_write_bio_X509(bio, cert) == 1);
    assert_true(PEM_write_bio_PKCS8PrivateKey(bio, key, EVP_aes_256_cbc(), NULL, 0, NULL, (void *)"pem-pass") == 1);
    char *pem = NULL;
    long pem_len = BIO_get_mem_data(bio, &pem);
    struct sr_cert_import in = {.data = (const uint8_t *)pem, .len = (size_t)pem_len, .pem = true, .password = "pem-pass"};
    struct sr_buf blob;
    sr_buf_init(&blob, 1 << 16, SR_BUF_PLAIN);
    struct sr_key_spec got;
    X509 *leaf = NULL;
    STACK_OF(X509) *chain = NULL;
    SR_ASSERT_OK(sr_blob_import_cert(f->m, "0123456789abcdef0123456789abcdef", "pem", &in, SR_ACL_SIGN, &blob, &got,
                                     &leaf, &chain));
    assert_int_equal(X509_cmp(leaf, cert), 0);
    assert_int_equal(sk_X509_num(chain), 1);
    X509_free(leaf);
    sk_X509_pop_free(chain, X509_free);
    sr_buf_release(&blob);
    sr_buf_init(&blob, 1 << 16, SR_BUF_PLAIN); /* every refusal below leaves it empty */
    in.password = "wrong";
    SR_ASSERT_ERR(SR_ERR_CERT_PASSWORD, sr_blob_import_cert(f->m, "l", "pem", &in, SR_ACL_SIGN, &blob, &got, &leaf, &chain));
    BIO *certs_only = BIO_new(BIO_s_mem());
    assert_true(PEM_write_bio_X509(certs_only, cert) == 1);
    pem_len = BIO_get_mem_data(certs_only, &pem);
    in = (struct sr_cert_import){.data = (const uint8_t *)pem, .len = (size_t)pem_len, .pem = true};
    SR_ASSERT_ERR(SR_ERR_CERT_NO_KEY, sr_blob_import_cert(f->m, "l", "pem", &in, SR_ACL_SIGN, &blob, &got, &leaf, &chain));
    BIO *key_other_cert = BIO_new(BIO_s_mem());
    assert_true(PEM_write_bio_X509(key_other_cert, ca) == 1 &&
                PEM_write_bio_PrivateKey(key_other_cert, key, NULL, NULL, 0, NULL, NULL) == 1);
    pem_len = BIO_get_mem_data(key_other_cert, &pem);
    in = (struct sr_cert_import){.data = (const uint8_t *)pem, .len = (size_t)pem_len, .pem = true};
    SR_ASSERT_ERR(SR_ERR_CERT_KEY_MISMATCH, sr_blob_import_cert(f->m, "l", "pem", &in, SR_ACL_SIGN, &blob, &got, &leaf, &chain));
    in = (struct sr_cert_import){.data = (const uint8_t *)"not a certificate", .len = 17};
    SR_ASSERT_ERR(SR_ERR_CERT_FORMAT, sr_blob_import_cert(f->m, "l", "x", &in, SR_ACL_SIGN, &blob, &got, &leaf, &chain));
    assert_null(leaf);
    assert_null(chain);
    assert_int_equal(blob.len, 0);
    BIO_free(bio);
    BIO_free(certs_only);
    BIO_free(key_other_cert);
    sr_buf_release(&blob);
    X509_free(cert);
    X509_free(ca);
    EVP_PKEY_free(key);
    EVP_PKEY_free(other);
}

static void test_blob_sign_contexts_pooled_per_alg(void **state)
{
    struct sr_fixture *f = *state;
    struct sr_key_spec rsa = {.type = SR_KEY_RSA, .bits = 2048, .pubexp = 65537};
    struct sr_key_spec ec = {.type = SR_KEY_EC, .curve = SR_CURVE_P256};
    struct sr_buf rblob, eblob;
    sr_buf_init(&rblob, 1 << 16, SR_BUF_PLAIN);
    sr_buf_init(&eblob, 1 << 16, SR_BUF_PLAIN);
    SR_ASSERT_OK(sr_blob_generate(f->m, "0123456789abcdef0123456789abcdef", "r", &rsa, SR_ACL_SIGN, &rblob));
    SR_ASSERT_OK(sr_blob_generate(f->m, "fedcba9876543210fedcba9876543210", "e", &ec, SR_ACL_SIGN, &eblob));
    EVP_PKEY *rpub = NULL, *epub = NULL;
    SR_ASSERT_OK(sr_blob_public(rblob.data, rblob.len, &rpub));
    SR_ASSERT_OK(sr_blob_public(eblob.data, eblob.len, &epub));
    const enum sr_sign_alg order[] = {SR_ALG_RS256, SR_ALG_PS256, SR_ALG_RS256, SR_ALG_PS256, SR_ALG_PS256, SR_ALG_RS256};
    for (size_t i = 0; i < SR_ARRAY_LEN(order); i++) {
        sr_blob_sign_check(f->m, &rblob, rpub, order[i]); /* each verifies only under its own padding */
    }
    /* A signature made under one alg does not verify as another: the pool kept them apart. */
    uint8_t digest[32] = {5};
    struct sr_buf sig;
    sr_buf_init(&sig, 1024, SR_BUF_PLAIN);
    SR_ASSERT_OK(sr_blob_sign_digest(f->m, rblob.data, rblob.len, SR_ALG_PS256, digest, 32, &sig));
    SR_ASSERT_ERR(SR_ERR_BAD_SIGNATURE, sr_pkey_verify_digest(rpub, SR_ALG_RS256, digest, 32, SR_SIG_RAW, sig.data, sig.len));
    sr_buf_release(&sig);
    /* A wrong alg for the key is still refused, pooled contexts or not. */
    sr_buf_init(&sig, 1024, SR_BUF_PLAIN);
    SR_ASSERT_ERR(SR_ERR_ALG, sr_blob_sign_digest(f->m, eblob.data, eblob.len, SR_ALG_ES384, digest, 48, &sig));
    sr_buf_release(&sig);
    /* Four threads at once on one EC key and one RSA key: every signature verifies. */
    struct sr_signer s[4] = {{f->m, &eblob, epub, SR_ALG_ES256, 0}, {f->m, &eblob, epub, SR_ALG_ES256, 0},
                             {f->m, &rblob, rpub, SR_ALG_PS256, 0}, {f->m, &eblob, epub, SR_ALG_ES256, 0}};
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_create(&t[i], NULL, sr_signer_main, &s[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(s[i].failures, 0);
    }
    /* A reset drops the loaded keys and their contexts: nothing signs without the world. */
    SR_ASSERT_OK(sr_module_reset(f->m));
    sr_buf_init(&sig, 1024, SR_BUF_PLAIN);
    SR_ASSERT_ERR(SR_ERR_NO_WORLD, sr_blob_sign_digest(f->m, eblob.data, eblob.len, SR_ALG_ES256, digest, 32, &sig));
    sr_buf_release(&sig);
    EVP_PKEY_free(rpub);
    EVP_PKEY_free(epub);
    sr_buf_release(&rblob);
    sr_buf_release(&eblob);
}

/* A key file's bytes as the PKCS#11 library holds them (session objects: params.out). */
static void sr_make_in_memory(struct sr_module *m, struct sr_keygen_params *p, struct sr_buf *out)
{
    struct sr_key_info info;
    sr_buf_init(out, SR_MAX_FILE, SR_BUF_PLAIN);
    p->out = out;
    SR_ASSERT_OK(sr_key_generate(m, p, &info));
    char path[SR_PATH_MAX];
    SR_ASSERT_OK(sr_key_path(m, p->app, p->ident, path, sizeof(path)));
    assert_false(sr_file_exists(path)); /* made and sealed, never written */
}

/* sr_keyfile_copy: a copy does what the original does or less; never more. */
static void test_copy_never_broadens(void **state)
{
    struct sr_fixture *f = *state;
    SR_AUTO_BUF struct sr_buf orig = {0};
    struct sr_keygen_params p = sr_ec("orig", SR_CURVE_P256);
    p.app = "pkcs11";
    p.acl = SR_ACL_SIGN | SR_ACL_VERIFY;
    sr_make_in_memory(f->m, &p, &orig);
    struct sr_keygen_params c = {.app = "pkcs11", .ident = "copy", .acl = SR_ACL_SIGN};
    struct sr_key_info info;
    SR_ASSERT_OK(sr_keyfile_copy(f->m, "pkcs11", orig.data, orig.len, &c, &info));
    assert_int_equal(info.acl.actions, SR_ACL_SIGN);
    c.ident = "wider";
    c.acl = SR_ACL_SIGN | SR_ACL_EXPORT_TO_TRUSTED;
    assert_int_equal(sr_keyfile_copy(f->m, "pkcs11", orig.data, orig.len, &c, &info), SR_ERR_ACL_DENIED);
    char path[SR_PATH_MAX];
    SR_ASSERT_OK(sr_key_path(f->m, "pkcs11", "wider", path, sizeof(path)));
    assert_false(sr_file_exists(path));
}

/* sr_keyfile_derive_ecdh: only a key with Derive; the new key is the whole shared secret. */
static void test_derive_needs_permission(void **state)
{
    struct sr_fixture *f = *state;
    SR_AUTO_BUF struct sr_buf signer = {0};
    SR_AUTO_BUF struct sr_buf deriver = {0};
    struct sr_keygen_params p = sr_ec("signer", SR_CURVE_P256);
    p.acl = SR_ACL_SIGN;
    sr_make_in_memory(f->m, &p, &signer);
    p = sr_ec("deriver", SR_CURVE_P256);
    p.acl = SR_ACL_DERIVE;
    sr_make_in_memory(f->m, &p, &deriver);
    struct sr_key_spec spec = {.type = SR_KEY_EC, .curve = SR_CURVE_P256};
    SR_AUTO_PKEY EVP_PKEY *peer = NULL;
    SR_ASSERT_OK(sr_pkey_generate(&spec, &peer));
    SR_AUTO_BUF struct sr_buf out = {0};
    sr_buf_init(&out, SR_MAX_FILE, SR_BUF_PLAIN);
    struct sr_keygen_params d = {.app = "pkcs11", .ident = "shared", .spec = {.type = SR_KEY_GENERIC},
                                 .acl = SR_ACL_SIGN, .out = &out};
    struct sr_key_info info;
    assert_int_equal(sr_keyfile_derive_ecdh(f->m, "simple", signer.data, signer.len, peer, &d, &info), SR_ERR_ACL_DENIED);
    SR_ASSERT_OK(sr_keyfile_derive_ecdh(f->m, "simple", deriver.data, deriver.len, peer, &d, &info));
    assert_true(info.spec.type == SR_KEY_GENERIC && info.spec.bits == 256);
    d.spec.bits = 128; /* a part of the secret: refused */
    assert_int_equal(sr_keyfile_derive_ecdh(f->m, "simple", deriver.data, deriver.len, peer, &d, &info), SR_ERR_KEY_TYPE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_generate_every_type, sr_setup, sr_teardown),
        cmocka_unit_test_setup_teardown(test_big_rsa_sizes, sr_setup, sr_teardown),
        cmocka_unit_test_setup_teardown(test_refusals_change_nothing, sr_setup, sr_teardown),
        cmocka_unit_test_setup_teardown(test_every_flipped_byte_refused, sr_setup, sr_teardown),
        cmocka_unit_test_setup_teardown(test_swapped_key_file_refused, sr_setup, sr_teardown),
        cmocka_unit_test_setup_teardown(test_key_of_another_world, sr_setup, sr_teardown),
        cmocka_unit_test_setup_teardown(test_keys_work_again_only_after_world_load, sr_setup, sr_teardown),
        cmocka_unit_test_setup_teardown(test_blob_cache_never_serves_a_changed_blob, sr_setup, sr_teardown),
        cmocka_unit_test_setup_teardown(test_blob_sign_contexts_pooled_per_alg, sr_setup, sr_teardown),
        cmocka_unit_test_setup_teardown(test_copy_never_broadens, sr_setup, sr_teardown),
        cmocka_unit_test_setup_teardown(test_derive_needs_permission, sr_setup, sr_teardown),
        cmocka_unit_test_setup_teardown(test_certificates_signed_by_the_module, sr_setup, sr_teardown),
        cmocka_unit_test_setup_teardown(test_certificate_imports, sr_setup, sr_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
