/*
 * Conformance, issue 27 item 6: the user PIN's retry counter, as PKCS#11 2.40 states it.
 *
 *   §4.2 (CK_TOKEN_INFO): CKF_USER_PIN_COUNT_LOW "an incorrect user login PIN has been entered at least once
 *   since the last successful authentication", CKF_USER_PIN_FINAL_TRY "supplying an incorrect user PIN will
 *   cause it to become locked", CKF_USER_PIN_LOCKED "the user PIN has been locked".
 *   §5.6 (C_Login): CKR_PIN_LOCKED once locked; §5.6 (C_InitPIN): the SO initialises the normal user's PIN.
 *
 * The limit and its persistence are ours (a restart does not forgive, the SO unlocks by C_InitPIN); SoftHSMv2
 * 2.6 keeps no retry counter, so this runs against libstrongroom-pkcs11.so only.
 */
#include <p11-kit/pkcs11.h>

#include "testlib.h"
#include "fixture.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#define SR_PIN "user-pin-1"
#define SR_SO "1:pin-1,2:pin-2" /* the security officer: a quorum of the world's cards */

struct sr_fixture {
    struct sr_token tok;
    CK_FUNCTION_LIST_PTR f;
    CK_SESSION_HANDLE s;
};

/* The token (re)loaded, a read/write session open. */
static void sr_begin(struct sr_fixture *t, bool restart)
{
    if (restart) {
        sr_token_restart(&t->tok);
    }
    t->f = t->tok.f;
    t->s = sr_open(&t->tok, CKF_RW_SESSION);
}

static CK_FLAGS sr_pin_flags(struct sr_fixture *t)
{
    CK_TOKEN_INFO info;
    assert_int_equal(t->f->C_GetTokenInfo(t->tok.slot, &info), CKR_OK);
    return info.flags & (CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY | CKF_USER_PIN_LOCKED);
}

static CK_RV sr_login(struct sr_fixture *t, CK_USER_TYPE who, const char *pin)
{
    return t->f->C_Login(t->s, who, (CK_UTF8CHAR_PTR)pin, strlen(pin));
}

static void test_pin_counter(void **state)
{
    (void)state;
    struct sr_fixture t = {0};
    sr_token_strongroom(&t.tok);
    struct sr_module *m = NULL;
    SR_ASSERT_OK(sr_module_open(t.tok.dir, &m));
    SR_ASSERT_OK(sr_module_set_user_pin_tries(m, SR_PIN, strlen(SR_PIN), 3));
    sr_module_free(m);
    sr_begin(&t, false);
    assert_int_equal(sr_pin_flags(&t), 0);

    /* A wrong PIN: counted, COUNT_LOW; a second: the final try is next. A right one resets both. */
    assert_int_equal(sr_login(&t, CKU_USER, "wrong-pin"), CKR_PIN_INCORRECT);
    assert_int_equal(sr_pin_flags(&t), CKF_USER_PIN_COUNT_LOW);
    assert_int_equal(sr_login(&t, CKU_USER, "wrong-pin"), CKR_PIN_INCORRECT);
    assert_int_equal(sr_pin_flags(&t), CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY);
    assert_int_equal(sr_login(&t, CKU_USER, SR_PIN), CKR_OK);
    assert_int_equal(sr_pin_flags(&t), 0);
    assert_int_equal(t.f->C_Logout(t.s), CKR_OK);

    /* Three wrong in a row lock it: the third answers CKR_PIN_LOCKED, and so does the right PIN. */
    assert_int_equal(sr_login(&t, CKU_USER, "wrong-pin"), CKR_PIN_INCORRECT);
    assert_int_equal(sr_login(&t, CKU_USER, "wrong-pin"), CKR_PIN_INCORRECT);
    assert_int_equal(sr_login(&t, CKU_USER, "wrong-pin"), CKR_PIN_LOCKED);
    assert_int_equal(sr_pin_flags(&t) & CKF_USER_PIN_LOCKED, CKF_USER_PIN_LOCKED);
    assert_int_equal(sr_login(&t, CKU_USER, SR_PIN), CKR_PIN_LOCKED);
    /* C_SetPIN checks the old PIN the same way. */
    assert_int_equal(t.f->C_SetPIN(t.s, (CK_UTF8CHAR_PTR)SR_PIN, strlen(SR_PIN), (CK_UTF8CHAR_PTR) "new-pin-2", 9),
                     CKR_PIN_LOCKED);

    /* A restart (C_Finalize, C_Initialize: a new process) does not forgive. */
    sr_begin(&t, true);
    assert_int_equal(sr_pin_flags(&t) & CKF_USER_PIN_LOCKED, CKF_USER_PIN_LOCKED);
    assert_int_equal(sr_login(&t, CKU_USER, SR_PIN), CKR_PIN_LOCKED);

    /* The security officer unlocks by setting a new PIN (C_InitPIN): the count is gone, the limit kept. */
    assert_int_equal(sr_login(&t, CKU_SO, SR_SO), CKR_OK);
    assert_int_equal(t.f->C_InitPIN(t.s, (CK_UTF8CHAR_PTR) "user-pin-2", 10), CKR_OK);
    assert_int_equal(t.f->C_Logout(t.s), CKR_OK);
    assert_int_equal(sr_pin_flags(&t), 0);
    assert_int_equal(sr_login(&t, CKU_USER, SR_PIN), CKR_PIN_INCORRECT);
    assert_int_equal(sr_login(&t, CKU_USER, "user-pin-2"), CKR_OK);
    assert_int_equal(t.f->C_Logout(t.s), CKR_OK);
    assert_int_equal(sr_login(&t, CKU_USER, "wrong-pin"), CKR_PIN_INCORRECT);
    assert_int_equal(sr_login(&t, CKU_USER, "wrong-pin"), CKR_PIN_INCORRECT);
    assert_int_equal(sr_login(&t, CKU_USER, "wrong-pin"), CKR_PIN_LOCKED); /* still 3 */
    sr_token_close(&t.tok);
}

/* A PIN file written before the counter (no failures, no maxTries) opens with the default limit of 10. */
static void test_pin_file_before_counters(void **state)
{
    (void)state;
    char dir[256], path[400];
    sr_test_tmpdir(dir, sizeof(dir));
    struct sr_module *m = sr_test_module_with_world(dir, 1, 1, NULL);
    SR_ASSERT_OK(sr_module_set_user_pin(m, SR_PIN, strlen(SR_PIN)));
    snprintf(path, sizeof(path), "%s/module/pkcs11-pin", dir);
    json_t *doc = json_load_file(path, 0, NULL);
    assert_non_null(doc);
    json_object_del(doc, "failures");
    json_object_del(doc, "maxTries");
    assert_int_equal(json_dump_file(doc, path, 0), 0);
    json_decref(doc);
    unsigned failures = 99, max = 0;
    SR_ASSERT_OK(sr_module_user_pin_state(m, &failures, &max));
    assert_true(failures == 0 && max == SR_DEFAULT_PIN_TRIES);
    for (unsigned i = 1; i < SR_DEFAULT_PIN_TRIES; i++) {
        assert_int_equal(sr_module_check_user_pin(m, "nope", 4), SR_ERR_BAD_PIN);
    }
    assert_int_equal(sr_module_check_user_pin(m, "nope", 4), SR_ERR_PIN_LOCKED);
    sr_module_free(m);
    sr_test_rmrf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pin_counter),
        cmocka_unit_test(test_pin_file_before_counters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
