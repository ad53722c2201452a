/* Unit tests of the security world: creation, modes, quorum loading and every refusal (src/hsm/world.c, card.c). */
#define _GNU_SOURCE /* memmem */
#include "testlib.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "base/fileio.h"
#include "crypto/crypto.h"
#include "hsm/blob.h"
#include "hsm/card.h"
#include "hsm/km0.h"

#include <openssl/crypto.h>

struct sr_fixture {
    char dir[256];
    struct sr_module *m;
    struct sr_world_info world;
};

static int sr_setup(void **state)
{
    struct sr_fixture *f = calloc(1, sizeof(*f));
    sr_test_tmpdir(f->dir, sizeof(f->dir));
    f->m = sr_test_module_with_world(f->dir, 2, 3, &f->world);
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

static void sr_card_file(const struct sr_fixture *f, unsigned i, char *out, size_t cap)
{
    char cards[512];
    snprintf(cards, sizeof(cards), "%s/cards", f->dir);
    SR_ASSERT_OK(sr_card_path(cards, f->world.id, i, out, cap));
}

static enum sr_err sr_load(struct sr_fixture *f, const unsigned *cards, unsigned n)
{
    struct sr_pins pins = {0};
    sr_test_pins(&pins, 3);
    enum sr_err r = sr_world_load(f->m, NULL, cards, n, &pins);
    sr_pins_release(&pins);
    return r;
}

/* A secret value sealed by the world: it opens with its own aad only, never once a byte changed, and never
 * under another world; the sealed bytes do not hold the value. */
static void test_value_seal_binds_aad_and_world(void **state)
{
    struct sr_fixture *f = *state;
    static const char value[] = "connection-string-of-the-test";
    static const uint8_t aad[] = "strongroom secret\0v\0name\0version";
    struct sr_buf sealed = {0}, out = {0};
    sr_buf_init(&sealed, 4096, SR_BUF_PLAIN);
    sr_buf_init(&out, 4096, SR_BUF_SECRET);
    SR_ASSERT_OK(sr_module_seal_value(f->m, aad, sizeof(aad), (const uint8_t *)value, strlen(value), &sealed));
    assert_null(memmem(sealed.data, sealed.len, value, strlen(value)));
    SR_ASSERT_OK(sr_module_open_value(f->m, aad, sizeof(aad), sealed.data, sealed.len, &out));
    assert_int_equal(out.len, strlen(value));
    assert_memory_equal(out.data, value, out.len);
    sr_buf_release(&out);
    sr_buf_init(&out, 4096, SR_BUF_SECRET);
    static const uint8_t other[] = "strongroom secret\0v\0other\0version";
    SR_ASSERT_ERR(SR_ERR_AUTH_FAILED, sr_module_open_value(f->m, other, sizeof(other), sealed.data, sealed.len, &out));
    assert_int_equal(out.len, 0);
    sealed.data[sealed.len - 1] ^= 1;
    SR_ASSERT_ERR(SR_ERR_AUTH_FAILED, sr_module_open_value(f->m, aad, sizeof(aad), sealed.data, sealed.len, &out));
    sealed.data[sealed.len - 1] ^= 1;
    SR_ASSERT_ERR(SR_ERR_AUTH_FAILED, sr_module_open_value(f->m, aad, sizeof(aad), sealed.data, 8, &out));
    char other_dir[256];
    sr_test_tmpdir(other_dir, sizeof(other_dir));
    struct sr_module *m2 = sr_test_module_with_world(other_dir, 1, 1, NULL);
    SR_ASSERT_ERR(SR_ERR_AUTH_FAILED, sr_module_open_value(m2, aad, sizeof(aad), sealed.data, sealed.len, &out));
    sr_module_free(m2);
    sr_test_rmrf(other_dir);
    sr_buf_release(&sealed);
    sr_buf_release(&out);
}

static void test_world_files_and_modes(void **state)
{
    struct sr_fixture *f = *state;
    char path[512];
    struct stat st;
    const char *files[] = {"local/world", "module/nvram", "module/km0", "module/identity", "module/mode"};
    for (size_t i = 0; i < SR_ARRAY_LEN(files); i++) {
        snprintf(path, sizeof(path), "%s/%s", f->dir, files[i]);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
    }
    for (unsigned i = 1; i <= 3; i++) {
        sr_card_file(f, i, path, sizeof(path));
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
    }
    assert_int_equal(f->world.quorum_k, 2);
    assert_int_equal(f->world.quorum_n, 3);
    SR_ASSERT_OK(sr_module_require_world(f->m, NULL));
    /* Mode I refuses key operations; mode O refuses world creation. */
    SR_ASSERT_OK(sr_module_set_mode(f->m, 'I'));
    SR_ASSERT_ERR(SR_ERR_MODE_O_NEEDED, sr_module_require_world(f->m, NULL));
    SR_ASSERT_OK(sr_module_set_mode(f->m, 'O'));
    struct sr_pins pins = {0};
    sr_test_pins(&pins, 3);
    struct sr_world_params params = {.suite = "DLf3072s256mRijndael", .quorum_k = 2, .quorum_n = 3};
    struct sr_world_info info;
    SR_ASSERT_ERR(SR_ERR_MODE_I_NEEDED, sr_world_create(f->m, &params, &pins, &info));
    /* Even in mode I, an existing world is never overwritten. */
    SR_ASSERT_OK(sr_module_set_mode(f->m, 'I'));
    SR_ASSERT_ERR(SR_ERR_WORLD_EXISTS, sr_world_create(f->m, &params, &pins, &info));
    sr_pins_release(&pins);
}

static void test_create_refusals_change_nothing(void **state)
{
    (void)state;
    char dir[256];
    sr_test_tmpdir(dir, sizeof(dir));
    struct sr_module *m = NULL;
    SR_ASSERT_OK(sr_module_open(dir, &m));
    SR_ASSERT_OK(sr_module_set_mode(m, 'I'));
    char before[65], after[65];
    sr_test_tree_digest(dir, before);
    struct sr_pins pins = {0};
    sr_test_pins(&pins, 64);
    struct sr_world_info info;
    struct {
        const char *suite;
        unsigned k, n;
        enum sr_err want;
    } cases[] = {
        {"DLf1024s160mRijndael", 2, 3, SR_ERR_SUITE_WEAK}, {"nope", 2, 3, SR_ERR_SUITE_UNKNOWN},
        {"DLf3072s256mRijndael", 0, 3, SR_ERR_QUORUM},     {"DLf3072s256mRijndael", 4, 3, SR_ERR_QUORUM},
        {"DLf3072s256mRijndael", 2, 65, SR_ERR_QUORUM},
    };
    for (size_t i = 0; i < SR_ARRAY_LEN(cases); i++) {
        struct sr_world_params p = {.suite = cases[i].suite, .quorum_k = cases[i].k, .quorum_n = cases[i].n};
        SR_ASSERT_ERR(cases[i].want, sr_world_create(m, &p, &pins, &info));
    }
    /* A missing PIN for any card refuses before anything is written. */
    OPENSSL_secure_clear_free(pins.pin[1], strlen(pins.pin[1]) + 1);
    pins.pin[1] = NULL;
    struct sr_world_params p = {.suite = "DLf3072s256mRijndael", .quorum_k = 2, .quorum_n = 3};
    SR_ASSERT_ERR(SR_ERR_PIN_INPUT, sr_world_create(m, &p, &pins, &info));
    sr_test_tree_digest(dir, after);
    assert_string_equal(before, after);
    sr_pins_release(&pins);
    sr_module_free(m);
    sr_test_rmrf(dir);
}

static void test_reset_and_load_with_quorum(void **state)
{
    struct sr_fixture *f = *state;
    SR_ASSERT_OK(sr_module_reset(f->m));
    assert_false(sr_module_has_world_key(f->m));
    SR_ASSERT_ERR(SR_ERR_NO_WORLD, sr_module_require_world(f->m, NULL));
    char before[65], after[65];
    sr_test_tree_digest(f->dir, before);
    unsigned one[] = {2};
    SR_ASSERT_ERR(SR_ERR_QUORUM_NOT_MET, sr_load(f, one, 1));
    sr_test_tree_digest(f->dir, after);
    assert_string_equal(before, after);
    unsigned two[] = {1, 3};
    SR_ASSERT_OK(sr_load(f, two, 2));
    SR_ASSERT_OK(sr_module_require_world(f->m, NULL));
    SR_ASSERT_ERR(SR_ERR_WORLD_LOADED, sr_load(f, two, 2));
    /* A freshly opened module sees the restored NVRAM. */
    struct sr_module *again = NULL;
    SR_ASSERT_OK(sr_module_open(f->dir, &again));
    SR_ASSERT_OK(sr_module_require_world(again, NULL));
    sr_module_free(again);
    /* Every pair of the three cards works. */
    unsigned pairs[][2] = {{1, 2}, {2, 3}, {3, 1}};
    for (size_t i = 0; i < 3; i++) {
        SR_ASSERT_OK(sr_module_reset(f->m));
        SR_ASSERT_OK(sr_load(f, pairs[i], 2));
    }
}

static void test_wrong_pin_refused(void **state)
{
    struct sr_fixture *f = *state;
    SR_ASSERT_OK(sr_module_reset(f->m));
    char before[65], after[65];
    sr_test_tree_digest(f->dir, before);
    struct sr_pins pins = {0};
    sr_test_pins(&pins, 3);
    pins.pin[2][0] = 'X';
    unsigned cards[] = {1, 3};
    SR_ASSERT_ERR(SR_ERR_BAD_PIN, sr_world_load(f->m, NULL, cards, 2, &pins));
    assert_non_null(strstr(sr_module_diag(f->m), "card 3"));
    SR_ASSERT_ERR(SR_ERR_BAD_PIN, sr_world_check_quorum(f->m, NULL, cards, 2, &pins));
    sr_pins_release(&pins);
    sr_test_tree_digest(f->dir, after);
    assert_string_equal(before, after);
    assert_false(sr_module_has_world_key(f->m));
}

static void sr_flip_and_expect(struct sr_fixture *f, const char *path, size_t step, enum sr_err (*op)(struct sr_fixture *),
                               const char *what)
{
    struct sr_buf orig;
    sr_test_read_file(path, &orig);
    for (size_t i = 0; i < orig.len; i += step) {
        orig.data[i] ^= 0x04;
        SR_ASSERT_OK(sr_file_write_atomic(path, orig.data, orig.len, SR_WRITE_REPLACE));
        enum sr_err r = op(f);
        if (r == SR_OK) {
            fail_msg("%s: byte %zu flipped and still accepted", what, i);
        }
        orig.data[i] ^= 0x04;
    }
    SR_ASSERT_OK(sr_file_write_atomic(path, orig.data, orig.len, SR_WRITE_REPLACE));
    SR_ASSERT_OK(op(f));
    sr_buf_release(&orig);
}

static enum sr_err sr_op_require(struct sr_fixture *f)
{
    return sr_module_require_world(f->m, NULL);
}

static enum sr_err sr_op_load_13(struct sr_fixture *f)
{
    unsigned cards[] = {1, 3};
    enum sr_err r = sr_module_reset(f->m);
    return r != SR_OK ? r : sr_load(f, cards, 2);
}

static void test_flipped_world_file(void **state)
{
    struct sr_fixture *f = *state;
    char path[512];
    snprintf(path, sizeof(path), "%s/local/world", f->dir);
    sr_flip_and_expect(f, path, 1, sr_op_require, "world file");
}

static void test_flipped_card_file(void **state)
{
    struct sr_fixture *f = *state;
    char path[512];
    sr_card_file(f, 3, path, sizeof(path));
    /* Every byte costs a scrypt run, so flip every 7th byte plus the whole ciphertext tail. */
    sr_flip_and_expect(f, path, 7, sr_op_load_13, "card file");
}

static void test_foreign_card(void **state)
{
    struct sr_fixture *f = *state;
    /* A card of another world, renamed to look like card 3 of this one, is caught. */
    char other[256];
    sr_test_tmpdir(other, sizeof(other));
    struct sr_world_info ow;
    struct sr_module *m2 = sr_test_module_with_world(other, 2, 3, &ow);
    char src[512], dst[512], cards[512];
    snprintf(cards, sizeof(cards), "%s/cards", other);
    SR_ASSERT_OK(sr_card_path(cards, ow.id, 3, src, sizeof(src)));
    sr_card_file(f, 3, dst, sizeof(dst));
    struct sr_buf data;
    sr_test_read_file(src, &data);
    SR_ASSERT_OK(sr_file_write_atomic(dst, data.data, data.len, SR_WRITE_REPLACE));
    sr_buf_release(&data);
    SR_ASSERT_OK(sr_module_reset(f->m));
    unsigned cards13[] = {1, 3};
    SR_ASSERT_ERR(SR_ERR_WORLD_MISMATCH, sr_load(f, cards13, 2));
    assert_false(sr_module_has_world_key(f->m));
    sr_module_free(m2);
    sr_test_rmrf(other);
}

static void test_nvram_and_world_swap(void **state)
{
    struct sr_fixture *f = *state;
    /* Another world's file dropped into local/ does not match the NVRAM key. */
    char other[256];
    sr_test_tmpdir(other, sizeof(other));
    struct sr_module *m2 = sr_test_module_with_world(other, 1, 1, NULL);
    char src[512], dst[512];
    snprintf(src, sizeof(src), "%s/local/world", other);
    snprintf(dst, sizeof(dst), "%s/local/world", f->dir);
    struct sr_buf mine, theirs;
    sr_test_read_file(dst, &mine);
    sr_test_read_file(src, &theirs);
    SR_ASSERT_OK(sr_file_write_atomic(dst, theirs.data, theirs.len, SR_WRITE_REPLACE));
    SR_ASSERT_ERR(SR_ERR_WORLD_TAMPERED, sr_module_require_world(f->m, NULL));
    SR_ASSERT_OK(sr_file_write_atomic(dst, mine.data, mine.len, SR_WRITE_REPLACE));
    SR_ASSERT_OK(sr_module_require_world(f->m, NULL));
    /* A damaged NVRAM file is reported when the module opens, never used. */
    char nv[512];
    snprintf(nv, sizeof(nv), "%s/module/nvram", f->dir);
    struct sr_buf n;
    sr_test_read_file(nv, &n);
    n.data[n.len - 1] ^= 1;
    SR_ASSERT_OK(sr_file_write_atomic(nv, n.data, n.len, SR_WRITE_REPLACE));
    struct sr_module *again = NULL;
    SR_ASSERT_ERR(SR_ERR_NVRAM_TAMPERED, sr_module_open(f->dir, &again));
    sr_buf_release(&n);
    sr_buf_release(&mine);
    sr_buf_release(&theirs);
    sr_module_free(m2);
    sr_test_rmrf(other);
}

static void sr_card_bytes(const struct sr_fixture *f, unsigned i, struct sr_buf *out)
{
    char path[512];
    sr_card_file(f, i, path, sizeof(path));
    sr_buf_init(out, 8192, SR_BUF_PLAIN);
    SR_ASSERT_OK(sr_file_read(path, out));
}

/* Cards one at a time: a wrong PIN, a repeated card and a damaged file refused and counted, the shares
 * taken before kept; the K-th good card gives the world key. */
static void test_quorum_one_card_at_a_time(void **state)
{
    struct sr_fixture *f = *state;
    struct sr_quorum *q = NULL;
    struct sr_quorum_progress p;
    struct sr_buf c1 = {0}, c3 = {0};
    sr_card_bytes(f, 1, &c1);
    sr_card_bytes(f, 3, &c3);
    SR_ASSERT_OK(sr_quorum_new(f->dir, &q));
    assert_int_equal(sr_quorum_add(q, c1.data, c1.len, "pin-2"), SR_ERR_BAD_PIN);
    SR_ASSERT_OK(sr_quorum_add(q, c1.data, c1.len, "pin-1"));
    assert_int_equal(sr_quorum_add(q, c1.data, c1.len, "pin-1"), SR_ERR_CARD_REPEATED);
    c3.data[c3.len / 2] ^= 1;
    assert_int_equal(sr_quorum_add(q, c3.data, c3.len, "pin-3"), SR_ERR_CARD_TAMPERED);
    c3.data[c3.len / 2] ^= 1;
    sr_quorum_progress(q, &p);
    assert_true(p.have == 1 && p.need == 2 && p.of == 3 && p.refused == 3 && !p.done);
    assert_string_equal(p.world_id, f->world.id);
    SR_ASSERT_OK(sr_quorum_add(q, c3.data, c3.len, "pin-3"));
    sr_quorum_progress(q, &p);
    assert_true(p.have == 2 && p.done);
    sr_quorum_free(q);
    sr_buf_release(&c1);
    sr_buf_release(&c3);
}

/* Another world's card is refused by the quorum, and counted. */
static void test_quorum_foreign_card(void **state)
{
    struct sr_fixture *f = *state;
    char other[300];
    snprintf(other, sizeof(other), "%s/other", f->dir);
    struct sr_world_info w2;
    struct sr_module *m2 = sr_test_module_with_world(other, 1, 1, &w2);
    char path[512], cards[400];
    snprintf(cards, sizeof(cards), "%s/cards", other);
    SR_ASSERT_OK(sr_card_path(cards, w2.id, 1, path, sizeof(path)));
    struct sr_buf card = {0};
    sr_buf_init(&card, 8192, SR_BUF_PLAIN);
    SR_ASSERT_OK(sr_file_read(path, &card));
    struct sr_quorum *q = NULL;
    SR_ASSERT_OK(sr_quorum_new(f->dir, &q));
    assert_int_equal(sr_quorum_add(q, card.data, card.len, "pin-1"), SR_ERR_WORLD_MISMATCH);
    struct sr_quorum_progress p;
    sr_quorum_progress(q, &p);
    assert_true(p.refused == 1 && p.have == 0);
    sr_quorum_free(q);
    sr_buf_release(&card);
    sr_module_free(m2);
}

/* Under `cards` a new module keeps no KM0 and no NVRAM until its world exists, then KM0 only sealed under
 * the world key: opening it again needs a complete quorum, and another world's quorum does not open it. */
static void test_cards_sealed_module(void **state)
{
    (void)state;
    char dir[256];
    sr_test_tmpdir(dir, sizeof(dir));
    struct sr_seal_config seal = {.backend = SR_SEAL_CARDS};
    struct sr_module *m = NULL;
    SR_ASSERT_OK(sr_module_open_sealed(dir, &seal, &m));
    char path[400];
    snprintf(path, sizeof(path), "%s/module/km0.cards", dir);
    assert_false(sr_file_exists(path));
    SR_ASSERT_OK(sr_module_set_mode(m, 'I'));
    struct sr_pins pins = {0};
    sr_test_pins(&pins, 2);
    struct sr_world_params params = {.suite = "DLf3072s256mRijndael", .quorum_k = 2, .quorum_n = 2};
    struct sr_world_info info;
    SR_ASSERT_OK(sr_world_create(m, &params, &pins, &info));
    SR_ASSERT_OK(sr_module_set_mode(m, 'O'));
    SR_ASSERT_OK(sr_module_require_world(m, NULL));
    sr_module_free(m);
    assert_true(sr_file_exists(path));
    snprintf(path, sizeof(path), "%s/module/nvram", dir);
    assert_false(sr_file_exists(path));
    snprintf(path, sizeof(path), "%s/module/km0", dir);
    assert_false(sr_file_exists(path));

    m = NULL;
    assert_int_equal(sr_module_open_sealed(dir, &seal, &m), SR_ERR_SEALED);
    char cards[400];
    snprintf(cards, sizeof(cards), "%s/cards", dir);
    unsigned one[] = {1}, both[] = {1, 2};
    struct sr_quorum *q = NULL;
    assert_int_equal(sr_quorum_from_cards(dir, cards, one, 1, &pins, &q), SR_ERR_QUORUM_NOT_MET);
    SR_ASSERT_OK(sr_quorum_from_cards(dir, cards, both, 2, &pins, &q));
    SR_ASSERT_OK(sr_module_open_quorum(dir, &seal, q, &m));
    SR_ASSERT_OK(sr_module_require_world(m, NULL));
    sr_module_free(m);
    sr_quorum_free(q);

    /* Another world's complete quorum: its world file differs, so the quorum is for another directory. */
    char other[300];
    snprintf(other, sizeof(other), "%s/other", dir);
    struct sr_module *m2 = sr_test_module_with_world(other, 1, 1, NULL);
    sr_module_free(m2);
    snprintf(cards, sizeof(cards), "%s/cards", other);
    SR_ASSERT_OK(sr_quorum_from_cards(other, cards, one, 1, &pins, &q));
    m = NULL;
    assert_int_equal(sr_module_open_quorum(dir, &seal, q, &m), SR_ERR_SEALED);
    sr_quorum_free(q);
    sr_pins_release(&pins);
    sr_test_rmrf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_world_files_and_modes, sr_setup, sr_teardown),
        cmocka_unit_test(test_create_refusals_change_nothing),
        cmocka_unit_test_setup_teardown(test_reset_and_load_with_quorum, sr_setup, sr_teardown),
        cmocka_unit_test_setup_teardown(test_wrong_pin_refused, sr_setup, sr_teardown),
        cmocka_unit_test_setup_teardown(test_flipped_world_file, sr_setup, sr_teardown),
        cmocka_unit_test_setup_teardown(test_flipped_card_file, sr_setup, sr_teardown),
        cmocka_unit_test_setup_teardown(test_foreign_card, sr_setup, sr_teardown),
        cmocka_unit_test_setup_teardown(test_nvram_and_world_swap, sr_setup, sr_teardown),
        cmocka_unit_test_setup_teardown(test_quorum_one_card_at_a_time, sr_setup, sr_teardown),
        cmocka_unit_test_setup_teardown(test_quorum_foreign_card, sr_setup, sr_teardown),
        cmocka_unit_test(test_cards_sealed_module),
        cmocka_unit_test_setup_teardown(test_value_seal_binds_aad_and_world, sr_setup, sr_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
