/*
 * Conformance, issue 27 item 5: return codes and operation state to the letter of PKCS#11 2.40 §5, run
 * against libstrongroom-pkcs11.so and SoftHSMv2 (the behaviour is the standard's, not ours: a reader sees
 * both answer the same). Each case names its clause.
 */
#include <p11-kit/pkcs11.h>

#include "testlib.h"
#include "fixture.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/sha.h>

static void sr_cases(struct sr_token *t)
{
    fprintf(stderr, "-- %s\n", t->name);
    CK_SESSION_HANDLE s = sr_open(t, CKF_RW_SESSION);
    CK_SESSION_HANDLE bad = s + 1000;
    uint8_t data[] = "the same message, two tokens";
    uint8_t want[32], out[64];
    SHA256(data, sizeof(data), want);
    CK_MECHANISM sha256 = {CKM_SHA256, NULL, 0};
    CK_ULONG len;

    /* §5.1 (and C_SeedRandom, §5.15): a bad session handle is named before anything else is refused. */
    uint8_t seed[8] = {0};
    assert_int_equal(t->f->C_SeedRandom(bad, seed, sizeof(seed)), CKR_SESSION_HANDLE_INVALID);
    assert_int_equal(t->f->C_GenerateRandom(bad, out, 8), CKR_SESSION_HANDLE_INVALID);

    /* §5.2 (output buffers): a NULL buffer asks the length and leaves the operation as it was; a short one
     * is CKR_BUFFER_TOO_SMALL and leaves it too; the call that fits ends it. */
    assert_int_equal(t->f->C_DigestInit(s, &sha256), CKR_OK);
    len = 0;
    assert_int_equal(t->f->C_Digest(s, data, sizeof(data), NULL, &len), CKR_OK);
    assert_int_equal(len, 32);
    len = 16;
    assert_int_equal(t->f->C_Digest(s, data, sizeof(data), out, &len), CKR_BUFFER_TOO_SMALL);
    assert_int_equal(len, 32);
    len = sizeof(out);
    assert_int_equal(t->f->C_Digest(s, data, sizeof(data), out, &len), CKR_OK);
    assert_true(len == 32 && memcmp(out, want, 32) == 0);
    assert_int_equal(t->f->C_Digest(s, data, sizeof(data), out, &len), CKR_OPERATION_NOT_INITIALIZED);

    /* §5.10 (C_DigestInit): one digest at a time per session. */
    assert_int_equal(t->f->C_DigestInit(s, &sha256), CKR_OK);
    assert_int_equal(t->f->C_DigestInit(s, &sha256), CKR_OPERATION_ACTIVE);
    assert_int_equal(t->f->C_DigestUpdate(s, data, 10), CKR_OK);
    assert_int_equal(t->f->C_DigestUpdate(s, data + 10, sizeof(data) - 10), CKR_OK);
    len = sizeof(out);
    assert_int_equal(t->f->C_DigestFinal(s, out, &len), CKR_OK);
    assert_true(len == 32 && memcmp(out, want, 32) == 0);

    /* §5.6 (C_OpenSession): while the SO is logged in, a read-only session is
     * CKR_SESSION_READ_WRITE_SO_EXISTS; and §5.6 (C_Login): the SO cannot log in while one is open. */
    CK_SESSION_HANDLE ro = sr_open(t, 0);
    assert_int_equal(t->f->C_Login(s, CKU_SO, (CK_UTF8CHAR_PTR)t->so_pin, strlen(t->so_pin)),
                     CKR_SESSION_READ_ONLY_EXISTS);
    assert_int_equal(t->f->C_CloseSession(ro), CKR_OK);
    assert_int_equal(t->f->C_Login(s, CKU_SO, (CK_UTF8CHAR_PTR)t->so_pin, strlen(t->so_pin)), CKR_OK);
    assert_int_equal(t->f->C_OpenSession(t->slot, CKF_SERIAL_SESSION, NULL, NULL, &ro),
                     CKR_SESSION_READ_WRITE_SO_EXISTS);
    assert_int_equal(t->f->C_Logout(s), CKR_OK);
    ro = sr_open(t, 0);
    assert_int_equal(t->f->C_CloseSession(ro), CKR_OK);
    assert_int_equal(t->f->C_CloseSession(s), CKR_OK);
    assert_int_equal(t->f->C_CloseSession(s), CKR_SESSION_HANDLE_INVALID);
}

static void test_return_codes_strongroom(void **state)
{
    (void)state;
    struct sr_token t = {0};
    sr_token_strongroom(&t);
    sr_cases(&t);
    /* Ours: functions this token does not have still check their session first (§5.1). */
    CK_SESSION_HANDLE s = sr_open(&t, CKF_RW_SESSION);
    uint8_t part[16] = {0}, dual[32];
    CK_ULONG dual_len = sizeof(dual);
    assert_int_equal(t.f->C_DigestEncryptUpdate(s + 1000, part, 16, dual, &dual_len), CKR_SESSION_HANDLE_INVALID);
    assert_int_equal(t.f->C_DigestEncryptUpdate(s, part, 16, dual, &dual_len), CKR_FUNCTION_NOT_SUPPORTED);
    /* Ours, listed in docs/pkcs11.md: DES and 3DES are not mechanisms here (CKR_MECHANISM_INVALID), and RSA keys
     * are 2048 bits or more (CKR_KEY_SIZE_RANGE) — SoftHSMv2 makes both. */
    SR_ASSERT_OK(sr_module_set_user_pin_of(t.dir, "1234"));
    assert_int_equal(t.f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR) "1234", 4), CKR_OK);
    CK_ULONG bits = 1024;
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE pt[] = {{CKA_MODULUS_BITS, &bits, sizeof(bits)}, {CKA_VERIFY, &yes, 1}};
    CK_ATTRIBUTE kt[] = {{CKA_SIGN, &yes, 1}, {CKA_ID, "small", 5}};
    CK_MECHANISM rsa = {CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0};
    CK_OBJECT_HANDLE pub = 0, priv = 0;
    assert_int_equal(t.f->C_GenerateKeyPair(s, &rsa, pt, 2, kt, 2, &pub, &priv), CKR_KEY_SIZE_RANGE);
    CK_ATTRIBUTE dt[] = {{CKA_ID, "des", 3}, {CKA_ENCRYPT, &yes, 1}};
    CK_MECHANISM_TYPE des[] = {CKM_DES_KEY_GEN, CKM_DES3_KEY_GEN, CKM_DES2_KEY_GEN};
    for (size_t i = 0; i < sizeof(des) / sizeof(des[0]); i++) {
        CK_MECHANISM m = {des[i], NULL, 0};
        assert_int_equal(t.f->C_GenerateKey(s, &m, dt, 2, &pub), CKR_MECHANISM_INVALID);
    }
    CK_MECHANISM_INFO info;
    assert_int_equal(t.f->C_GetMechanismInfo(t.slot, CKM_DES3_CBC, &info), CKR_MECHANISM_INVALID);
    assert_int_equal(t.f->C_Logout(s), CKR_OK);
    /* §5.10 (C_Digest): it "cannot be used to terminate a multi-part operation", so after C_DigestUpdate it
     * is CKR_OPERATION_ACTIVE and the operation goes on to C_DigestFinal; the same for C_Sign (§5.11).
     * SoftHSMv2 2.6 answers CKR_OK there instead — one of the conformance suite's findings against it. */
    uint8_t data[] = "the same message, two tokens", out[64], want[32];
    SHA256(data, sizeof(data), want);
    CK_MECHANISM sha256 = {CKM_SHA256, NULL, 0};
    CK_ULONG len = sizeof(out);
    assert_int_equal(t.f->C_DigestInit(s, &sha256), CKR_OK);
    assert_int_equal(t.f->C_DigestUpdate(s, data, 10), CKR_OK);
    assert_int_equal(t.f->C_Digest(s, data, sizeof(data), out, &len), CKR_OPERATION_ACTIVE);
    assert_int_equal(t.f->C_DigestUpdate(s, data + 10, sizeof(data) - 10), CKR_OK);
    len = sizeof(out);
    assert_int_equal(t.f->C_DigestFinal(s, out, &len), CKR_OK);
    assert_true(len == 32 && memcmp(out, want, 32) == 0);
    sr_token_close(&t);
}

static void test_return_codes_softhsm(void **state)
{
    (void)state;
    struct sr_token t = {0};
    if (!sr_token_softhsm(&t)) {
        skip();
    }
    sr_cases(&t);
    sr_token_close(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_return_codes_strongroom),
        cmocka_unit_test(test_return_codes_softhsm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
