/*
 * Unit tests of src/cli through sr_cli_main in-process: exit statuses, messages, and the
 * promise that no private key byte reaches any file, any output or any error message.
 */
#include "testlib.h"

#include "base/fileio.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>

#include "base/text.h"
#include "crypto/ossl.h"
#include "hsm/internal.h"

struct sr_fixture {
    char dir[256];
    char kmdata[512];
    char pins[512];
};

static int sr_setup(void **state)
{
    struct sr_fixture *f = calloc(1, sizeof(*f));
    sr_test_tmpdir(f->dir, sizeof(f->dir));
    snprintf(f->kmdata, sizeof(f->kmdata), "%s/kmdata", f->dir);
    sr_test_write_file(f->dir, "pins", "first-pin\nsecond-pin\nthird-pin\n", f->pins, sizeof(f->pins));
    *state = f;
    return 0;
}

static int sr_teardown(void **state)
{
    struct sr_fixture *f = *state;
    sr_test_rmrf(f->dir);
    free(f);
    return 0;
}

/* Runs the CLI; checks the status and that stderr holds want_err (if given). Output buffers are released. */
#define SR_CLI(f, status, want_err, ...)                                                  \
    do {                                                                                  \
        struct sr_buf o_, e_;                                                             \
        int s_ = sr_test_cli((f)->kmdata, &o_, &e_, __VA_ARGS__, NULL);                   \
        if (s_ != (status)) {                                                             \
            fail_msg("exit %d, wanted %d; stderr: %s", s_, (status), (char *)e_.data);    \
        }                                                                                 \
        if ((want_err) != NULL && strstr((char *)e_.data, (want_err) ? (want_err) : "") == NULL) { \
            fail_msg("stderr lacks '%s': %s", (want_err), (char *)e_.data);               \
        }                                                                                 \
        sr_buf_release(&o_);                                                              \
        sr_buf_release(&e_);                                                              \
    } while (0)

static void sr_make_world(struct sr_fixture *f)
{
    SR_CLI(f, 0, NULL, "module", "mode", "I");
    SR_CLI(f, 0, NULL, "new-world", "--initialize", "--cipher-suite=DLf3072s256mRijndael", "--module=1",
           "--acs-quorum=2/3", "--pin-file", f->pins);
    SR_CLI(f, 0, NULL, "module", "mode", "O");
}

static void test_help_and_usage(void **state)
{
    struct sr_fixture *f = *state;
    struct sr_buf o, e;
    assert_int_equal(sr_test_cli(f->kmdata, &o, &e, "help", NULL), 0);
    assert_non_null(strstr((char *)o.data, "generatekey"));
    assert_non_null(strstr((char *)o.data, "new-world"));
    sr_buf_release(&o);
    sr_buf_release(&e);
    assert_int_equal(sr_test_cli(f->kmdata, &o, &e, "generatekey", "--help", NULL), 0);
    assert_non_null(strstr((char *)o.data, "usage: strongroom generatekey"));
    sr_buf_release(&o);
    sr_buf_release(&e);
    SR_CLI(f, 2, "unknown command 'frobnicate'; 'strongroom help'", "frobnicate"); /* nothing near it */
    SR_CLI(f, 2, "unknown option '--bogus'; see", "module", "show", "--bogus");
    /* Typos get the nearest name, at every level; an argument too many is named. */
    SR_CLI(f, 2, "unknown command 'lst' (did you mean 'list'?)", "key", "lst");
    SR_CLI(f, 2, "unknown command 'tokn' (did you mean 'token'?)", "tokn", "list");
    SR_CLI(f, 2, "unknown command 'verfy' (did you mean 'verify'?)", "audit", "verfy");
    SR_CLI(f, 2, "unknown option '--dat' (did you mean '--data'?)", "token", "list", "--dat", "x");
    SR_CLI(f, 2, "unexpected argument 'extra'; usage: strongroom token list", "token", "list", "extra");
    SR_CLI(f, 2, "unexpected argument 'B'; usage: strongroom region create", "region", "create", "A", "B");
    SR_CLI(f, 2, "mode is I (initialisation) or O", "module", "mode", "X");
    SR_CLI(f, 2, NULL, "module");
    SR_CLI(f, 1, "strongroom: new-world: the module is in operational mode", "new-world");
}

/* Read-only commands on a directory with no module say so and make nothing; --version answers. */
static void test_no_module_made_by_accident(void **state)
{
    struct sr_fixture *f = *state;
    SR_CLI(f, 1, "no module", "module", "show");
    SR_CLI(f, 1, "module mode I", "world", "show");
    SR_CLI(f, 1, "no module", "pubkey", "--ident", "k");
    SR_CLI(f, 1, "no module", "kmfile-dump", "nothing");
    assert_false(sr_file_exists(f->kmdata));
    SR_CLI(f, 0, NULL, "module", "mode", "I"); /* the command that makes one */
    assert_true(sr_file_exists(f->kmdata));
    SR_CLI(f, 0, NULL, "module", "show");
    struct sr_buf o, e;
    assert_int_equal(sr_test_cli(f->kmdata, &o, &e, "--version", NULL), 0);
    assert_non_null(strstr((char *)o.data, "strongroom " SR_VERSION));
    sr_buf_release(&o);
    sr_buf_release(&e);
}

/* Only 'serve --dev' and 'region create' make a data directory: any other command on a directory that is no
 * server's is refused and makes nothing (a token that works on no server, an empty chain called intact). */
static void test_no_data_directory_made_by_accident(void **state)
{
    struct sr_fixture *f = *state;
    char data[600];
    snprintf(data, sizeof(data), "%s/nowhere", f->dir);
    SR_CLI(f, 1, "not a Strongroom data directory", "token", "create", "--role", "Administrator", "--data", data);
    SR_CLI(f, 1, "not a Strongroom data directory", "audit", "verify", "--data", data);
    SR_CLI(f, 1, "not a Strongroom data directory", "vault", "create", "v", "--region", "EU", "--subscription-id", "s",
           "--data", data);
    SR_CLI(f, 1, "not a Strongroom data directory", "region", "list", "--data", data);
    SR_CLI(f, 1, "not a Strongroom data directory", "serve", "--data", data, "--listen", "127.0.0.1:0");
    assert_false(sr_file_exists(data));
}

/* The refusals of the store and server options: usage errors (exit 2) that say what to give. */
static void test_store_option_refusals(void **state)
{
    struct sr_fixture *f = *state;
    char data[600];
    snprintf(data, sizeof(data), "%s/data", f->dir);
    SR_CLI(f, 2, "postgresql://", "serve", "--data", data, "--store", "mysql://x", "--listen", "127.0.0.1:0");
    SR_CLI(f, 2, "postgresql://", "token", "list", "--data", data, "--store", "sqlite://x");
    SR_CLI(f, 2, "--max-conns-per-address", "serve", "--data", data, "--max-conns-per-address", "0");
    SR_CLI(f, 2, "--output is table, tsv or json", "token", "list", "--data", data, "--output", "yaml");
    SR_CLI(f, 2, "--cards", "region", "join", "EU", "--data", data);
    SR_CLI(f, 1, "not a Strongroom data directory", "token", "revoke", "nobody", "--data", data);
    SR_CLI(f, 2, "--rotation-interval", "serve", "--data", data, "--rotation-interval", "0");
    SR_CLI(f, 2, "--checkpoint-interval", "serve", "--data", data, "--checkpoint-interval", "soon");
    SR_CLI(f, 2, "--out FILE", "backup", "--data", data);
    SR_CLI(f, 2, "--in FILE and --data NEWDIR", "restore", "--data", data);
    SR_CLI(f, 2, "--out FILE", "audit", "checkpoint", "--data", data);
    SR_CLI(f, 2, "only bash", "completion", "zsh");
    SR_CLI(f, 2, "help --man takes a command", "help", "--man");
}

static void test_new_world_refusals(void **state)
{
    struct sr_fixture *f = *state;
    SR_CLI(f, 1, "module mode I", "new-world", "--initialize", "--cipher-suite=DLf3072s256mRijndael", "--module=1",
           "--acs-quorum=2/3", "--pin-file", f->pins);
    SR_CLI(f, 0, NULL, "module", "mode", "I");
    char before[65], after[65];
    sr_test_tree_digest(f->kmdata, before);
    SR_CLI(f, 1, "use --cipher-suite=DLf3072s256mRijndael", "new-world", "--initialize",
           "--cipher-suite=DLf1024s160mRijndael", "--module=1", "--acs-quorum=2/3", "--pin-file", f->pins);
    SR_CLI(f, 2, "accepted: DLf3072s256mRijndael", "new-world", "--initialize", "--cipher-suite=Foo", "--module=1",
           "--acs-quorum=2/3", "--pin-file", f->pins);
    const char *quorums[] = {"--acs-quorum=0/3", "--acs-quorum=4/3", "--acs-quorum=2/65", "--acs-quorum=2",
                             "--acs-quorum=a/b"};
    for (size_t i = 0; i < SR_ARRAY_LEN(quorums); i++) {
        SR_CLI(f, 2, "1 <= K <= N <= 64", "new-world", "--initialize", "--cipher-suite=DLf3072s256mRijndael",
               "--module=1", quorums[i], "--pin-file", f->pins);
    }
    SR_CLI(f, 2, "module 1", "new-world", "--initialize", "--cipher-suite=DLf3072s256mRijndael", "--module=2",
           "--acs-quorum=2/3", "--pin-file", f->pins);
    char short_pins[512];
    sr_test_write_file(f->dir, "short", "only-one\n", short_pins, sizeof(short_pins));
    SR_CLI(f, 2, "no PIN on line 2", "new-world", "--initialize", "--cipher-suite=DLf3072s256mRijndael",
           "--module=1", "--acs-quorum=2/3", "--pin-file", short_pins);
    sr_test_tree_digest(f->kmdata, after);
    assert_string_equal(before, after);
}

static void test_generatekey_refusals(void **state)
{
    struct sr_fixture *f = *state;
    sr_make_world(f);
    SR_CLI(f, 0, NULL, "generatekey", "--generate", "simple", "type=RSA", "size=2048", "protect=module",
           "ident=contosokey", "plainname=contosokey", "nvram=no", "pubexp=");
    char before[65], after[65];
    sr_test_tree_digest(f->kmdata, before);
    SR_CLI(f, 1, "already exists", "generatekey", "--generate", "simple", "type=RSA", "size=2048", "protect=module",
           "ident=contosokey", "plainname=contosokey", "nvram=no", "pubexp=");
    SR_CLI(f, 2, "no capitals", "generatekey", "--generate", "simple", "type=RSA", "size=2048", "ident=Contoso");
    SR_CLI(f, 2, "no capitals", "generatekey", "--generate", "simple", "type=RSA", "size=2048", "ident=two words");
    SR_CLI(f, 1, "module-protected keys only", "generatekey", "--generate", "simple", "type=RSA", "size=2048",
           "protect=token", "ident=tok");
    SR_CLI(f, 1, "nvram=no", "generatekey", "--generate", "simple", "type=RSA", "size=2048", "nvram=yes",
           "ident=nv");
    SR_CLI(f, 2, "size=2048|3072|4096", "generatekey", "--generate", "simple", "type=RSA", "size=1024", "ident=small");
    SR_CLI(f, 2, "P-256|P-384|P-521", "generatekey", "--generate", "simple", "type=EC", "curve=P-192", "ident=small");
    SR_CLI(f, 2, "pubexp", "generatekey", "--generate", "simple", "type=RSA", "size=2048", "pubexp=3", "ident=e3");
    SR_CLI(f, 2, "unknown parameter 'colour'", "generatekey", "--generate", "simple", "type=RSA", "colour=red",
           "ident=x");
    SR_CLI(f, 2, "--generate simple", "generatekey", "--generate", "custom", "type=RSA", "size=2048", "ident=x");
    SR_CLI(f, 0, NULL, "module", "mode", "I");
    SR_CLI(f, 1, "module mode O", "generatekey", "--generate", "simple", "type=RSA", "size=2048", "ident=later");
    SR_CLI(f, 0, NULL, "module", "mode", "O");
    sr_test_tree_digest(f->kmdata, after);
    assert_string_equal(before, after);
}

static void test_world_load_refusals(void **state)
{
    struct sr_fixture *f = *state;
    sr_make_world(f);
    SR_CLI(f, 1, "already holds a world key", "world", "load", "--cards", "1,3", "--pin-file", f->pins);
    SR_CLI(f, 0, NULL, "module", "reset");
    char before[65], after[65];
    sr_test_tree_digest(f->kmdata, before);
    SR_CLI(f, 1, "2 of 3", "world", "load", "--cards", "1", "--pin-file", f->pins);
    char wrong[512];
    sr_test_write_file(f->dir, "wrong", "first-pin\n\nnot-the-pin\n", wrong, sizeof(wrong));
    SR_CLI(f, 1, "wrong PIN", "world", "load", "--cards", "1,3", "--pin-file", wrong);
    SR_CLI(f, 2, "given twice", "world", "load", "--cards", "1,1", "--pin-file", f->pins);
    SR_CLI(f, 2, "not between 1 and 64", "world", "load", "--cards", "0,1", "--pin-file", f->pins);
    SR_CLI(f, 1, "no security world is loaded", "generatekey", "--generate", "simple", "type=RSA", "size=2048",
           "ident=x");
    sr_test_tree_digest(f->kmdata, after);
    assert_string_equal(before, after);
    SR_CLI(f, 0, NULL, "world", "load", "--cards", "3,2", "--pin-file", f->pins);
}

/* Every form in which a private key could leak: PKCS#8 DER, its hex, and the secret scalars. */
struct sr_needles {
    struct sr_buf items[16];
    size_t n;
};

static void sr_needle_add(struct sr_needles *nd, const uint8_t *p, size_t len)
{
    assert_true(nd->n < SR_ARRAY_LEN(nd->items));
    struct sr_buf *b = &nd->items[nd->n++];
    sr_buf_init(b, 1 << 16, SR_BUF_PLAIN);
    SR_ASSERT_OK(sr_buf_append(b, p, len));
}

static void sr_needle_bn(struct sr_needles *nd, const EVP_PKEY *k, const char *param)
{
    BIGNUM *bn = NULL;
    if (EVP_PKEY_get_bn_param(k, param, &bn) != 1) {
        return;
    }
    uint8_t buf[1024];
    int len = BN_bn2bin(bn, buf);
    /* A 16-byte window of the scalar is enough to find it anywhere. */
    sr_needle_add(nd, buf + len / 2 - 8, 16);
    BN_clear_free(bn);
}

static void sr_collect_secrets(const char *kmdata, const char *ident, struct sr_needles *nd)
{
    struct sr_module *m = NULL;
    SR_ASSERT_OK(sr_module_open(kmdata, &m));
    char path[512];
    SR_ASSERT_OK(sr_key_path(m, "simple", ident, path, sizeof(path)));
    struct sr_container c = {0};
    SR_ASSERT_OK(sr_container_read(path, SR_MAGIC_KEY, SR_ERR_KEYFILE_FORMAT, &c));
    struct sr_buf p8;
    sr_buf_init(&p8, 16384, SR_BUF_SECRET);
    SR_ASSERT_OK(sr_seal_open(m->km, SR_PURPOSE_KEYBLOB, &c, &p8));
    sr_needle_add(nd, p8.data, p8.len);
    char *hex = malloc(2 * p8.len + 1);
    sr_hex_encode(p8.data, p8.len, hex);
    sr_needle_add(nd, (const uint8_t *)hex, 64);
    for (char *q = hex; *q; q++) {
        *q = (char)(*q >= 'a' ? *q - 32 : *q);
    }
    sr_needle_add(nd, (const uint8_t *)hex, 64);
    free(hex);
    EVP_PKEY *k = NULL;
    SR_ASSERT_OK(sr_pkey_private_from_pkcs8(p8.data, p8.len, &k));
    sr_needle_bn(nd, k, OSSL_PKEY_PARAM_RSA_D);
    sr_needle_bn(nd, k, OSSL_PKEY_PARAM_RSA_FACTOR1);
    sr_needle_bn(nd, k, OSSL_PKEY_PARAM_PRIV_KEY);
    EVP_PKEY_free(k);
    sr_buf_release(&p8);
    sr_container_release(&c);
    sr_module_free(m);
}

static void sr_assert_clean(const struct sr_needles *nd, const uint8_t *data, size_t len, const char *where)
{
    for (size_t i = 0; i < nd->n; i++) {
        if (sr_test_contains(data, len, nd->items[i].data, nd->items[i].len)) {
            fail_msg("private key material (needle %zu) found in %s", i, where);
        }
    }
}

static void sr_scan_tree(const struct sr_needles *nd, const char *dir)
{
    for (size_t i = 0; i < nd->n; i++) {
        sr_test_assert_absent(dir, nd->items[i].data, nd->items[i].len, "private key material");
    }
}

static void sr_scan_cli(const struct sr_needles *nd, struct sr_fixture *f, const char *a, const char *b,
                        const char *c, const char *d)
{
    struct sr_buf o, e;
    (void)sr_test_cli(f->kmdata, &o, &e, a, b, c, d, NULL);
    sr_assert_clean(nd, o.data, o.len, "stdout");
    sr_assert_clean(nd, e.data, e.len, "stderr");
    sr_buf_release(&o);
    sr_buf_release(&e);
}

static void test_no_private_bytes_anywhere(void **state)
{
    struct sr_fixture *f = *state;
    sr_make_world(f);
    SR_CLI(f, 0, NULL, "generatekey", "--generate", "simple", "type=RSA", "size=2048", "protect=module",
           "ident=contosokey", "plainname=contosokey", "nvram=no", "pubexp=");
    SR_CLI(f, 0, NULL, "generatekey", "--generate", "simple", "type=EC", "curve=P-256", "protect=module",
           "ident=eckey", "plainname=eckey", "nvram=no");
    struct sr_needles nd = {0};
    sr_collect_secrets(f->kmdata, "contosokey", &nd);
    sr_collect_secrets(f->kmdata, "eckey", &nd);
    assert_true(nd.n >= 7);
    sr_scan_tree(&nd, f->dir);
    char key_path[1024];
    snprintf(key_path, sizeof(key_path), "%s/local/key_simple_contosokey", f->kmdata);
    sr_scan_cli(&nd, f, "kmfile-dump", key_path, NULL, NULL);
    sr_scan_cli(&nd, f, "aclprint", "--ident", "contosokey", NULL);
    sr_scan_cli(&nd, f, "pubkey", "--ident", "eckey", NULL);
    sr_scan_cli(&nd, f, "module", "show", NULL, NULL);
    /* Errors about the key, after tampering, name the file but never its contents. */
    struct sr_buf k;
    sr_test_read_file(key_path, &k);
    k.data[k.len - 20] ^= 1;
    SR_ASSERT_OK(sr_file_write_atomic(key_path, k.data, k.len, SR_WRITE_REPLACE));
    SR_CLI(f, 1, "failed authentication", "kmfile-dump", key_path);
    sr_scan_cli(&nd, f, "kmfile-dump", key_path, NULL, NULL);
    sr_scan_cli(&nd, f, "pubkey", "--ident", "contosokey", NULL);
    sr_buf_release(&k);
    for (size_t i = 0; i < nd.n; i++) {
        sr_buf_release(&nd.items[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_help_and_usage, sr_setup, sr_teardown),
        cmocka_unit_test_setup_teardown(test_no_module_made_by_accident, sr_setup, sr_teardown),
        cmocka_unit_test_setup_teardown(test_store_option_refusals, sr_setup, sr_teardown),
        cmocka_unit_test_setup_teardown(test_no_data_directory_made_by_accident, sr_setup, sr_teardown),
        cmocka_unit_test_setup_teardown(test_new_world_refusals, sr_setup, sr_teardown),
        cmocka_unit_test_setup_teardown(test_generatekey_refusals, sr_setup, sr_teardown),
        cmocka_unit_test_setup_teardown(test_world_load_refusals, sr_setup, sr_teardown),
        cmocka_unit_test_setup_teardown(test_no_private_bytes_anywhere, sr_setup, sr_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
