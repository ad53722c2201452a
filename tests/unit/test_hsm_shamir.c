/* Unit tests of src/hsm/shamir.c (libgfshare) and src/hsm/suite.c. */
#include "testlib.h"

#include <string.h>

#include "crypto/crypto.h"
#include "hsm/shamir.h"
#include "hsm/suite.h"

static void test_every_quorum_subset_recovers(void **state)
{
    (void)state;
    uint8_t secret[SR_SHARE_LEN], out[SR_SHARE_LEN];
    uint8_t shares[5][SR_SHARE_LEN];
    SR_ASSERT_OK(sr_rand_bytes(secret, sizeof(secret)));
    SR_ASSERT_OK(sr_shamir_split(secret, 3, 5, shares));
    for (unsigned mask = 0; mask < 32; mask++) {
        uint8_t xs[5];
        uint8_t sel[5][SR_SHARE_LEN];
        unsigned n = 0;
        for (unsigned i = 0; i < 5; i++) {
            if (mask & (1u << i)) {
                xs[n] = (uint8_t)(i + 1);
                memcpy(sel[n++], shares[i], SR_SHARE_LEN);
            }
        }
        if (n == 0) {
            continue;
        }
        SR_ASSERT_OK(sr_shamir_combine(xs, (const uint8_t(*)[SR_SHARE_LEN])sel, n, out));
        if (n >= 3) {
            assert_memory_equal(out, secret, SR_SHARE_LEN);
        } else {
            /* K-1 shares carry no information: the result is not the secret (callers detect it). */
            assert_memory_not_equal(out, secret, SR_SHARE_LEN);
        }
    }
}

static void test_shares_are_fresh_and_not_the_secret(void **state)
{
    (void)state;
    uint8_t secret[SR_SHARE_LEN] = {0x42};
    uint8_t a[2][SR_SHARE_LEN], b[2][SR_SHARE_LEN];
    SR_ASSERT_OK(sr_shamir_split(secret, 2, 2, a));
    SR_ASSERT_OK(sr_shamir_split(secret, 2, 2, b));
    assert_memory_not_equal(a[0], b[0], SR_SHARE_LEN); /* random coefficients: RAND_bytes hook is set */
    assert_memory_not_equal(a[0], secret, SR_SHARE_LEN);
}

static void test_one_of_one(void **state)
{
    (void)state;
    uint8_t secret[SR_SHARE_LEN], out[SR_SHARE_LEN], share[1][SR_SHARE_LEN];
    SR_ASSERT_OK(sr_rand_bytes(secret, sizeof(secret)));
    SR_ASSERT_OK(sr_shamir_split(secret, 1, 1, share));
    uint8_t x = 1;
    SR_ASSERT_OK(sr_shamir_combine(&x, (const uint8_t(*)[SR_SHARE_LEN])share, 1, out));
    assert_memory_equal(out, secret, SR_SHARE_LEN);
}

static void test_misuse_refused(void **state)
{
    (void)state;
    uint8_t secret[SR_SHARE_LEN] = {0}, out[SR_SHARE_LEN];
    uint8_t shares[SR_MAX_CARDS][SR_SHARE_LEN];
    SR_ASSERT_ERR(SR_ERR_QUORUM, sr_shamir_split(secret, 0, 3, shares));
    SR_ASSERT_ERR(SR_ERR_QUORUM, sr_shamir_split(secret, 4, 3, shares));
    SR_ASSERT_ERR(SR_ERR_QUORUM, sr_shamir_split(secret, 2, 65, shares));
    SR_ASSERT_OK(sr_shamir_split(secret, 64, 64, shares));
    uint8_t dup[2] = {1, 1};
    uint8_t zero[2] = {0, 2};
    SR_ASSERT_ERR(SR_ERR_CARD_TAMPERED, sr_shamir_combine(dup, (const uint8_t(*)[SR_SHARE_LEN])shares, 2, out));
    SR_ASSERT_ERR(SR_ERR_CARD_TAMPERED, sr_shamir_combine(zero, (const uint8_t(*)[SR_SHARE_LEN])shares, 2, out));
}

static void test_suites(void **state)
{
    (void)state;
    const struct sr_suite *s = NULL;
    SR_ASSERT_OK(sr_suite_lookup("DLf3072s256mRijndael", &s));
    assert_true(s->strength_bits >= 128);
    SR_ASSERT_OK(sr_suite_lookup("DLf3072s256mAEScSP800131Ar1", &s));
    SR_ASSERT_ERR(SR_ERR_SUITE_WEAK, sr_suite_lookup("DLf1024s160mRijndael", &s));
    SR_ASSERT_ERR(SR_ERR_SUITE_UNKNOWN, sr_suite_lookup("dlf3072s256mrijndael", &s));
    assert_non_null(strstr(sr_err_message(SR_ERR_SUITE_WEAK), "DLf3072s256mRijndael"));
    assert_non_null(strstr(sr_err_message(SR_ERR_SUITE_UNKNOWN), "DLf3072s256mAEScSP800131Ar1"));
}

int main(void)
{
    SR_ASSERT_OK(sr_crypto_init());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_quorum_subset_recovers), cmocka_unit_test(test_shares_are_fresh_and_not_the_secret),
        cmocka_unit_test(test_one_of_one), cmocka_unit_test(test_misuse_refused), cmocka_unit_test(test_suites),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
