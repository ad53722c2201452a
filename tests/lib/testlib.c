#define _GNU_SOURCE
#include "testlib.h"

#include "crypto/jwk.h"
#include "crypto/jwt.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fileio.h"
#include "base/text.h"
#include "cli/cli.h"
#include "crypto/crypto.h"
#include "vault/store.h"
#include "vault/vault.h"

#include <libpq-fe.h>
#include <sqlite3.h>

#include <openssl/crypto.h>

void sr_test_tmpdir(char *out, size_t cap)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(out, cap, "%s/srtest.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(out));
    SR_ASSERT_OK(sr_crypto_init());
}

static int sr_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void sr_test_rmrf(const char *path)
{
    (void)nftw(path, sr_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void sr_test_write_file(const char *dir, const char *name, const char *text, char *out, size_t cap)
{
    SR_ASSERT_OK(sr_path_join(out, cap, dir, name));
    SR_ASSERT_OK(sr_file_write_atomic(out, text, strlen(text), SR_WRITE_REPLACE));
}

void sr_test_read_file(const char *path, struct sr_buf *out)
{
    sr_buf_init(out, 64u << 20, SR_BUF_PLAIN);
    SR_ASSERT_OK(sr_file_read(path, out));
}

void sr_test_pins(struct sr_pins *pins, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        char pin[32];
        snprintf(pin, sizeof(pin), "pin-%u", i + 1);
        pins->pin[i] = OPENSSL_secure_zalloc(strlen(pin) + 1);
        assert_non_null(pins->pin[i]);
        strcpy(pins->pin[i], pin);
    }
}

struct sr_module *sr_test_module_with_world(const char *dir, unsigned k, unsigned n, struct sr_world_info *ret)
{
    struct sr_module *m = NULL;
    SR_ASSERT_OK(sr_module_open(dir, &m));
    SR_ASSERT_OK(sr_module_set_mode(m, 'I'));
    struct sr_pins pins = {0};
    sr_test_pins(&pins, n);
    struct sr_world_params params = {.suite = "DLf3072s256mRijndael", .quorum_k = k, .quorum_n = n};
    struct sr_world_info info;
    SR_ASSERT_OK(sr_world_create(m, &params, &pins, &info));
    sr_pins_release(&pins);
    SR_ASSERT_OK(sr_module_set_mode(m, 'O'));
    if (ret != NULL) {
        *ret = info;
    }
    return m;
}

json_t *sr_test_vectors(const char *name)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", SR_VECTORS_DIR, name);
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    if (root == NULL) {
        fail_msg("cannot load test vectors %s: %s", path, err.text);
    }
    return root;
}

void sr_test_hex(const char *hex, struct sr_buf *out)
{
    size_t n = strlen(hex) / 2;
    sr_buf_init(out, n + 1, SR_BUF_PLAIN);
    SR_ASSERT_OK(sr_buf_reserve(out, n + 1));
    if (n > 0) {
        SR_ASSERT_OK(sr_hex_decode(hex, out->data, n));
    }
    out->len = n;
}

static void sr_capture_read(int fd, struct sr_buf *out)
{
    sr_buf_init(out, 16u << 20, SR_BUF_PLAIN);
    lseek(fd, 0, SEEK_SET);
    char chunk[4096];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof(chunk))) > 0) {
        SR_ASSERT_OK(sr_buf_append(out, chunk, (size_t)n));
    }
    SR_ASSERT_OK(sr_buf_terminate(out));
    close(fd);
}

int sr_test_cli(const char *kmdata, struct sr_buf *out, struct sr_buf *err, const char *arg0, ...)
{
    char *argv[64];
    int argc = 0;
    argv[argc++] = (char *)"strongroom";
    va_list ap;
    va_start(ap, arg0);
    for (const char *a = arg0; a != NULL && argc < 63; a = va_arg(ap, const char *)) {
        argv[argc++] = (char *)a;
    }
    va_end(ap);
    argv[argc] = NULL;
    setenv("STRONGROOM_KMDATA", kmdata, 1);
    fflush(stdout);
    fflush(stderr);
    int out_fd = memfd_create("out", 0);
    int err_fd = memfd_create("err", 0);
    int saved_out = dup(1);
    int saved_err = dup(2);
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    int status = sr_cli_main(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    sr_capture_read(out_fd, out);
    sr_capture_read(err_fd, err);
    return status;
}

static int sr_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void sr_tree_collect(const char *dir, char **lines, size_t *n, size_t cap)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL && *n < cap) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) != 0) {
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            sr_tree_collect(path, lines, n, cap);
            continue;
        }
        struct sr_buf data;
        sr_test_read_file(path, &data);
        uint8_t h[32];
        char hex[65];
        SR_ASSERT_OK(sr_sha256(data.data, data.len, h));
        sr_buf_release(&data);
        sr_hex_encode(h, 32, hex);
        char *line = malloc(strlen(path) + 80);
        sprintf(line, "%s %o %s", path, (unsigned)st.st_mode, hex);
        lines[(*n)++] = line;
    }
    closedir(d);
}

void sr_test_tree_digest(const char *dir, char out[65])
{
    char *lines[1024];
    size_t n = 0;
    sr_tree_collect(dir, lines, &n, 1024);
    qsort(lines, n, sizeof(lines[0]), sr_cmp_str);
    struct sr_buf all;
    sr_buf_init(&all, 1u << 20, SR_BUF_PLAIN);
    for (size_t i = 0; i < n; i++) {
        SR_ASSERT_OK(sr_buf_append_str(&all, lines[i]));
        SR_ASSERT_OK(sr_buf_append_str(&all, "\n"));
        free(lines[i]);
    }
    uint8_t h[32];
    SR_ASSERT_OK(sr_sha256(all.data, all.len, h));
    sr_buf_release(&all);
    sr_hex_encode(h, 32, out);
}

int sr_test_contains(const uint8_t *hay, size_t haylen, const uint8_t *needle, size_t nlen)
{
    return nlen > 0 && memmem(hay, haylen, needle, nlen) != NULL;
}

void sr_test_assert_absent(const char *dir, const uint8_t *needle, size_t n, const char *what)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        struct stat st;
        assert_int_equal(lstat(path, &st), 0);
        if (S_ISDIR(st.st_mode)) {
            sr_test_assert_absent(path, needle, n, what);
            continue;
        }
        if ((st.st_mode & 0077) != 0) {
            fail_msg("%s is readable by others", path);
        }
        struct sr_buf data;
        sr_test_read_file(path, &data);
        if (sr_test_contains(data.data, data.len, needle, n)) {
            fail_msg("%s found in %s", what, path);
        }
        sr_buf_release(&data);
    }
    closedir(d);
}

struct sr_store *sr_test_data_with_region(const char *dir, const char *region)
{
    struct sr_store *store = NULL;
    if (sr_store_sqlite_open(dir, &store) != SR_OK) {
        abort();
    }
    struct sr_pins pins = {0};
    sr_test_pins(&pins, 1);
    struct sr_region_params p = {.name = region, .quorum_k = 1, .quorum_n = 1, .kek_bits = 2048};
    if (sr_region_create(dir, store, &p, &pins) != SR_OK) {
        abort();
    }
    sr_pins_release(&pins);
    return store;
}

bool sr_test_on_pg(void)
{
    const char *base = getenv("SR_TEST_PG_BASE");
    return base != NULL && *base != 0;
}

void sr_test_store_open(const char *dir, struct sr_store **ret)
{
    if (!sr_test_on_pg()) {
        SR_ASSERT_OK(sr_store_sqlite_open(dir, ret));
        return;
    }
    /* A database of its own for each store a test opens: tests never see each other's rows. */
    static unsigned count;
    char name[64], admin[512], url[512], sql[128];
    snprintf(name, sizeof(name), "t%ld_%u", (long)getpid(), ++count);
    snprintf(admin, sizeof(admin), "%s/postgres", getenv("SR_TEST_PG_BASE"));
    snprintf(url, sizeof(url), "%s/%s", getenv("SR_TEST_PG_BASE"), name);
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
    PGconn *c = PQconnectdb(admin);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PGresult *res = PQexec(c, sql);
    assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);
    PQfinish(c);
    /* The directory still holds what is not in the database (the module, cards); the URL is kept there
     * for tests that open the same store a second time. */
    char path[512];
    sr_test_write_file(dir, "store-url", url, path, sizeof(path));
    SR_ASSERT_OK(sr_store_pg_open(url, ret));
}

/* The URL a test's PostgreSQL store was opened with, NUL-terminated in out. */
static void sr_test_store_url(const char *dir, struct sr_buf *out)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/store-url", dir);
    sr_test_read_file(path, out);
    SR_ASSERT_OK(sr_buf_append(out, "", 1));
}

enum sr_err sr_test_store_try_reopen(const char *dir, struct sr_store **ret)
{
    if (!sr_test_on_pg()) {
        return sr_store_sqlite_open(dir, ret);
    }
    struct sr_buf url = {0};
    sr_test_store_url(dir, &url);
    enum sr_err r = sr_store_pg_open((const char *)url.data, ret);
    sr_buf_release(&url);
    return r;
}

void sr_test_store_reopen(const char *dir, struct sr_store **ret)
{
    SR_ASSERT_OK(sr_test_store_try_reopen(dir, ret));
}

void sr_test_store_sql(const char *dir, const char *sql)
{
    char path[512];
    if (!sr_test_on_pg()) {
        snprintf(path, sizeof(path), "%s/vault.db", dir);
        sqlite3 *db = NULL;
        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        sqlite3_busy_timeout(db, 5000);
        assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
        return;
    }
    struct sr_buf url = {0};
    sr_test_store_url(dir, &url);
    PGconn *c = PQconnectdb((const char *)url.data);
    sr_buf_release(&url);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PGresult *res = PQexec(c, sql);
    assert_true(PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK);
    PQclear(res);
    PQfinish(c);
}

char *sr_test_jws(EVP_PKEY *key, enum sr_sign_alg alg, json_t *header, json_t *claims)
{
    struct sr_buf t = {0}, sig = {0}, s64 = {0};
    sr_buf_init(&t, 65536, SR_BUF_PLAIN);
    sr_buf_init(&sig, 1024, SR_BUF_PLAIN);
    sr_buf_init(&s64, 2048, SR_BUF_PLAIN);
    if (header == NULL || claims == NULL || sr_b64url_json_append(header, &t, true) != SR_OK ||
        sr_b64url_json_append(claims, &t, false) != SR_OK ||
        sr_pkey_sign_message(key, alg, t.data, t.len, SR_SIG_RAW, &sig) != SR_OK ||
        sr_b64url_encode(sig.data, sig.len, &s64) != SR_OK || sr_buf_append(&t, ".", 1) != SR_OK ||
        sr_buf_append(&t, s64.data, strlen((const char *)s64.data) + 1) != SR_OK) {
        abort();
    }
    char *s = strdup((const char *)t.data);
    sr_buf_release(&t), sr_buf_release(&sig), sr_buf_release(&s64);
    json_decref(header), json_decref(claims);
    return s;
}
