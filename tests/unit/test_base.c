/* Unit tests of src/base: buffers, the bounded reader, atomic files, text helpers, the error table. */
#include "testlib.h"

#include <string.h>
#include <sys/stat.h>
#include <dirent.h>

#include "base/fileio.h"
#include "base/text.h"

static void test_buf_bounded(void **state)
{
    (void)state;
    struct sr_buf b;
    sr_buf_init(&b, 8, SR_BUF_PLAIN);
    SR_ASSERT_OK(sr_buf_append(&b, "12345678", 8));
    SR_ASSERT_ERR(SR_ERR_TOO_LARGE, sr_buf_append(&b, "9", 1));
    assert_int_equal(b.len, 8);
    sr_buf_release(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    sr_buf_release(&b); /* releasing twice is harmless */
}

static void test_buf_secret_grows(void **state)
{
    (void)state;
    struct sr_buf b;
    sr_buf_init(&b, 10000, SR_BUF_SECRET);
    for (int i = 0; i < 1000; i++) {
        SR_ASSERT_OK(sr_buf_append(&b, "abcdefghij", 10));
    }
    assert_int_equal(b.len, 10000);
    assert_memory_equal(b.data + 9990, "abcdefghij", 10);
    sr_buf_release(&b);
}

static void test_reader_never_overreads(void **state)
{
    (void)state;
    const uint8_t data[] = {0, 0, 0, 5, 'a', 'b'};
    struct sr_reader r;
    uint32_t v = 0;
    const uint8_t *p = NULL;
    sr_reader_init(&r, data, sizeof(data));
    SR_ASSERT_OK(sr_reader_u32be(&r, &v));
    assert_int_equal(v, 5);
    SR_ASSERT_ERR(SR_ERR_TRUNCATED, sr_reader_bytes(&r, v, &p));
    SR_ASSERT_OK(sr_reader_bytes(&r, 2, &p));
    assert_memory_equal(p, "ab", 2);
    uint8_t u = 0;
    SR_ASSERT_ERR(SR_ERR_TRUNCATED, sr_reader_u8(&r, &u));
    SR_ASSERT_ERR(SR_ERR_TRUNCATED, sr_reader_bytes(&r, SIZE_MAX, &p));
}

static int sr_count_entries(const char *dir)
{
    int n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        n += e->d_name[0] != '.';
    }
    closedir(d);
    return n;
}

static void test_atomic_write(void **state)
{
    (void)state;
    char dir[256];
    char path[512];
    sr_test_tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/f", dir);
    SR_ASSERT_OK(sr_file_write_atomic(path, "one", 3, SR_WRITE_CREATE));
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* CREATE never replaces an existing file; REPLACE does, atomically. */
    SR_ASSERT_ERR(SR_ERR_EXISTS, sr_file_write_atomic(path, "two", 3, SR_WRITE_CREATE));
    struct sr_buf b;
    sr_test_read_file(path, &b);
    assert_memory_equal(b.data, "one", 3);
    sr_buf_release(&b);
    SR_ASSERT_OK(sr_file_write_atomic(path, "three", 5, SR_WRITE_REPLACE));
    sr_test_read_file(path, &b);
    assert_int_equal(b.len, 5);
    sr_buf_release(&b);
    assert_int_equal(sr_count_entries(dir), 1); /* no temp file left behind */
    SR_ASSERT_ERR(SR_ERR_NOT_FOUND, sr_file_read("/nonexistent/x", &b));
    SR_ASSERT_OK(sr_file_remove(path));
    SR_ASSERT_OK(sr_file_remove(path));
    sr_test_rmrf(dir);
}

static void test_file_read_bounded(void **state)
{
    (void)state;
    char dir[256];
    char path[512];
    sr_test_tmpdir(dir, sizeof(dir));
    sr_test_write_file(dir, "big", "0123456789", path, sizeof(path));
    struct sr_buf b;
    sr_buf_init(&b, 5, SR_BUF_PLAIN);
    SR_ASSERT_ERR(SR_ERR_TOO_LARGE, sr_file_read(path, &b));
    sr_buf_release(&b);
    sr_test_rmrf(dir);
}

static void test_hex_and_fingerprint(void **state)
{
    (void)state;
    uint8_t in[32];
    for (int i = 0; i < 32; i++) {
        in[i] = (uint8_t)(i * 7);
    }
    char hex[65];
    char fp[72];
    uint8_t back[32];
    sr_hex_encode(in, 32, hex);
    SR_ASSERT_OK(sr_hex_decode(hex, back, 32));
    assert_memory_equal(in, back, 32);
    sr_fingerprint_format(in, fp);
    assert_int_equal(strlen(fp), 71);
    assert_int_equal(fp[8], ' ');
    SR_ASSERT_OK(sr_hex_decode(fp, back, 32)); /* the printed form reads back */
    assert_memory_equal(in, back, 32);
    SR_ASSERT_ERR(SR_ERR_MALFORMED, sr_hex_decode("abc", back, 2));
    SR_ASSERT_ERR(SR_ERR_MALFORMED, sr_hex_decode("zz", back, 1));
    SR_ASSERT_ERR(SR_ERR_MALFORMED, sr_hex_decode("aabbcc", back, 2));
}

static void test_parse_uint(void **state)
{
    (void)state;
    unsigned long v = 0;
    SR_ASSERT_OK(sr_parse_uint("64", 1, 64, &v));
    assert_int_equal(v, 64);
    SR_ASSERT_ERR(SR_ERR_USAGE, sr_parse_uint("65", 1, 64, &v));
    SR_ASSERT_ERR(SR_ERR_USAGE, sr_parse_uint("0", 1, 64, &v));
    SR_ASSERT_ERR(SR_ERR_USAGE, sr_parse_uint("-1", 0, 64, &v));
    SR_ASSERT_ERR(SR_ERR_USAGE, sr_parse_uint("3x", 0, 64, &v));
    SR_ASSERT_ERR(SR_ERR_USAGE, sr_parse_uint("", 0, 64, &v));
    SR_ASSERT_ERR(SR_ERR_USAGE, sr_parse_uint("99999999999999999999999", 0, 64, &v));
}

/* Invalid UTF-8 becomes U+FFFD byte by byte, controls '?', valid text passes, nothing is cut mid-sequence. */
static void test_text_clean(void **state)
{
    (void)state;
    char out[64];
    sr_text_clean(out, sizeof(out), "key-1 \xc3\xa9\xe2\x82\xac\xf0\x9f\x94\x91");
    assert_string_equal(out, "key-1 \xc3\xa9\xe2\x82\xac\xf0\x9f\x94\x91");
    sr_text_clean(out, sizeof(out), "\xff\xfe");
    assert_string_equal(out, "\xef\xbf\xbd\xef\xbf\xbd");
    /* overlong '/', a UTF-16 surrogate, past U+10FFFF, a lone continuation, a truncated sequence */
    static const char *const bad[] = {"\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\x80", "\xe2\x82"};
    for (size_t i = 0; i < SR_ARRAY_LEN(bad); i++) {
        sr_text_clean(out, sizeof(out), bad[i]);
        assert_non_null(strstr(out, "\xef\xbf\xbd"));
        for (const unsigned char *p = (const unsigned char *)out; *p; p += 3) {
            assert_memory_equal(p, "\xef\xbf\xbd", 3);
        }
    }
    sr_text_clean(out, sizeof(out), "a\nb\x7f\tc");
    assert_string_equal(out, "a?b??c");
    /* a 3-byte sequence that does not fit is dropped whole */
    char small[5];
    sr_text_clean(small, sizeof(small), "ab\xe2\x82\xac");
    assert_string_equal(small, "ab");
    sr_text_clean(small, sizeof(small), NULL);
    assert_string_equal(small, "");
    assert_int_equal(sr_utf8_sequence((const unsigned char *)"\xf0\x9f\x94\x91", 4), 4);
    assert_int_equal(sr_utf8_sequence((const unsigned char *)"\xf0\x9f\x94", 3), 0);
    assert_true(sr_text_printable("id-1 ok"));
    assert_false(sr_text_printable("id-\xc3\xa9"));
    assert_false(sr_text_printable(""));
}

static void test_error_table(void **state)
{
    (void)state;
    assert_int_equal(sr_err_exit_status(SR_OK), 0);
    assert_int_equal(sr_err_exit_status(SR_ERR_USAGE), 2);
    assert_int_equal(sr_err_exit_status(SR_ERR_QUORUM), 2);
    assert_int_equal(sr_err_exit_status(SR_ERR_BAD_PIN), 1);
    assert_string_equal(sr_err_name(SR_ERR_EXISTS), "SR_ERR_EXISTS");
    for (int e = 0; e < SR_ERR_COUNT_; e++) {
        assert_true(strlen(sr_err_message((enum sr_err)e)) > 0);
    }
    assert_string_equal(sr_err_message((enum sr_err)9999), sr_err_message(SR_ERR_INTERNAL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_bounded),       cmocka_unit_test(test_buf_secret_grows),
        cmocka_unit_test(test_reader_never_overreads), cmocka_unit_test(test_atomic_write),
        cmocka_unit_test(test_file_read_bounded), cmocka_unit_test(test_hex_and_fingerprint),
        cmocka_unit_test(test_parse_uint),        cmocka_unit_test(test_error_table),
        cmocka_unit_test(test_text_clean),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
