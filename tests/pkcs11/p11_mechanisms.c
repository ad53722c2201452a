/*
 * Conformance, issue 27 item 3 (first part): the AES modes and digests integrators expect — CKM_AES_ECB,
 * CKM_AES_CBC (no padding), CKM_AES_CTR, CKM_SHA_1, CKM_SHA224 — against libstrongroom-pkcs11.so and
 * SoftHSMv2 alike. The key never leaves either token, so the modes are checked by the relations that define
 * them (PKCS#11 2.40 Current Mechanisms §2.10: ECB, CBC and CTR over the same AES block function): equal
 * blocks under ECB, CBC's first block as ECB of plaintext XOR IV, CTR as ECB of the counter block XORed in,
 * and every decryption giving the plaintext back; the digests against OpenSSL's.
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

static CK_BBOOL sr_yes = CK_TRUE;

static CK_OBJECT_HANDLE sr_aes_key(struct sr_token *t, CK_SESSION_HANDLE s, const char *id)
{
    CK_ULONG len = 32;
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_AES;
    CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_KEY_TYPE, &kt, sizeof(kt)},
                           {CKA_VALUE_LEN, &len, sizeof(len)}, {CKA_TOKEN, &sr_yes, 1}, {CKA_ID, (void *)id, strlen(id)},
                           {CKA_ENCRYPT, &sr_yes, 1}, {CKA_DECRYPT, &sr_yes, 1}};
    CK_MECHANISM gen = {CKM_AES_KEY_GEN, NULL, 0};
    CK_OBJECT_HANDLE k = 0;
    assert_int_equal(t->f->C_GenerateKey(s, &gen, tmpl, SR_ARRAY_LEN(tmpl), &k), CKR_OK);
    return k;
}

static void sr_crypt(struct sr_token *t, CK_SESSION_HANDLE s, bool enc, CK_MECHANISM *m, CK_OBJECT_HANDLE k,
                     const uint8_t *in, CK_ULONG n, uint8_t *out, CK_ULONG want)
{
    CK_ULONG len = 4096;
    assert_int_equal((enc ? t->f->C_EncryptInit : t->f->C_DecryptInit)(s, m, k), CKR_OK);
    assert_int_equal((enc ? t->f->C_Encrypt : t->f->C_Decrypt)(s, (CK_BYTE_PTR)in, n, out, &len), CKR_OK);
    assert_int_equal(len, want);
}

static void sr_modes(struct sr_token *t, const char *user_pin)
{
    fprintf(stderr, "-- %s\n", t->name);
    CK_SESSION_HANDLE s = sr_open(t, CKF_RW_SESSION);
    assert_int_equal(t->f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)user_pin, strlen(user_pin)), CKR_OK);
    CK_OBJECT_HANDLE k = sr_aes_key(t, s, "modes");
    uint8_t pt[64], ct[4096], back[4096], ecb[4096], iv[16], counter[16];
    for (size_t i = 0; i < sizeof(pt); i++) {
        pt[i] = (uint8_t)(i < 32 ? 0xa5 : i); /* blocks 1 and 2 equal */
    }
    memset(iv, 0x3c, sizeof(iv));
    memset(counter, 0, sizeof(counter));
    counter[15] = 7;

    /* ECB: equal plaintext blocks give equal ciphertext blocks; whole blocks only. */
    CK_MECHANISM m_ecb = {CKM_AES_ECB, NULL, 0};
    sr_crypt(t, s, true, &m_ecb, k, pt, 64, ecb, 64);
    assert_memory_equal(ecb, ecb + 16, 16);
    sr_crypt(t, s, false, &m_ecb, k, ecb, 64, back, 64);
    assert_memory_equal(back, pt, 64);
    CK_ULONG len = sizeof(ct);
    assert_int_equal(t->f->C_EncryptInit(s, &m_ecb, k), CKR_OK);
    assert_int_equal(t->f->C_Encrypt(s, pt, 15, ct, &len), CKR_DATA_LEN_RANGE);

    /* CBC without padding: block 1 is ECB(P1 xor IV). */
    CK_MECHANISM m_cbc = {CKM_AES_CBC, iv, sizeof(iv)};
    sr_crypt(t, s, true, &m_cbc, k, pt, 64, ct, 64);
    uint8_t x[16], ex[16];
    for (int i = 0; i < 16; i++) {
        x[i] = pt[i] ^ iv[i];
    }
    sr_crypt(t, s, true, &m_ecb, k, x, 16, ex, 16);
    assert_memory_equal(ct, ex, 16);
    sr_crypt(t, s, false, &m_cbc, k, ct, 64, back, 64);
    assert_memory_equal(back, pt, 64);

    /* CTR: C = P xor ECB(counter block), then counter + 1; any length; decryption is the same operation. */
    CK_AES_CTR_PARAMS cp = {.ulCounterBits = 128};
    memcpy(cp.cb, counter, 16);
    CK_MECHANISM m_ctr = {CKM_AES_CTR, &cp, sizeof(cp)};
    sr_crypt(t, s, true, &m_ctr, k, pt, 37, ct, 37);
    uint8_t blocks[48], ks[48];
    for (int b = 0; b < 3; b++) {
        memcpy(blocks + 16 * b, counter, 16);
        blocks[16 * b + 15] = (uint8_t)(counter[15] + b);
    }
    sr_crypt(t, s, true, &m_ecb, k, blocks, 48, ks, 48);
    for (int i = 0; i < 37; i++) {
        assert_int_equal(ct[i], pt[i] ^ ks[i]);
    }
    sr_crypt(t, s, false, &m_ctr, k, ct, 37, back, 37);
    assert_memory_equal(back, pt, 37);

    /* SHA-1 and SHA-224, single- and multi-part, as OpenSSL computes them. */
    struct {
        CK_MECHANISM_TYPE m;
        size_t len;
        unsigned char *(*fn)(const unsigned char *, size_t, unsigned char *);
    } digests[] = {{CKM_SHA_1, 20, SHA1}, {CKM_SHA224, 28, SHA224}};
    for (size_t i = 0; i < SR_ARRAY_LEN(digests); i++) {
        CK_MECHANISM m = {digests[i].m, NULL, 0};
        uint8_t want[64], got[64];
        digests[i].fn(pt, sizeof(pt), want);
        len = sizeof(got);
        assert_int_equal(t->f->C_DigestInit(s, &m), CKR_OK);
        assert_int_equal(t->f->C_Digest(s, pt, sizeof(pt), got, &len), CKR_OK);
        assert_true(len == digests[i].len && memcmp(got, want, len) == 0);
        len = sizeof(got);
        assert_int_equal(t->f->C_DigestInit(s, &m), CKR_OK);
        assert_int_equal(t->f->C_DigestUpdate(s, pt, 10), CKR_OK);
        assert_int_equal(t->f->C_DigestUpdate(s, pt + 10, sizeof(pt) - 10), CKR_OK);
        assert_int_equal(t->f->C_DigestFinal(s, got, &len), CKR_OK);
        assert_true(len == digests[i].len && memcmp(got, want, len) == 0);
        CK_MECHANISM_INFO info;
        assert_int_equal(t->f->C_GetMechanismInfo(t->slot, digests[i].m, &info), CKR_OK);
        assert_true(info.flags & CKF_DIGEST);
    }
    CK_MECHANISM_TYPE modes[] = {CKM_AES_ECB, CKM_AES_CBC, CKM_AES_CTR};
    for (size_t i = 0; i < SR_ARRAY_LEN(modes); i++) {
        CK_MECHANISM_INFO info;
        assert_int_equal(t->f->C_GetMechanismInfo(t->slot, modes[i], &info), CKR_OK);
        assert_true((info.flags & (CKF_ENCRYPT | CKF_DECRYPT)) == (CKF_ENCRYPT | CKF_DECRYPT));
    }
    assert_int_equal(t->f->C_Logout(s), CKR_OK);
    assert_int_equal(t->f->C_CloseSession(s), CKR_OK);
}

static void test_modes_strongroom(void **state)
{
    (void)state;
    struct sr_token t = {0};
    sr_token_strongroom(&t);
    SR_ASSERT_OK(sr_module_set_user_pin_of(t.dir, "1234"));
    sr_modes(&t, "1234");
    /* Ours: a CTR counter narrower than the block must not wrap within the data (it would reuse keystream
     * past the nonce it was given): 8 counter bits at 0xff leave one block. */
    CK_SESSION_HANDLE s = sr_open(&t, CKF_RW_SESSION);
    assert_int_equal(t.f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR) "1234", 4), CKR_OK);
    CK_OBJECT_HANDLE k = sr_aes_key(&t, s, "counter");
    CK_AES_CTR_PARAMS cp = {.ulCounterBits = 8};
    cp.cb[15] = 0xff;
    CK_MECHANISM m_ctr = {CKM_AES_CTR, &cp, sizeof(cp)};
    uint8_t in[32] = {0}, out[64];
    CK_ULONG len = sizeof(out);
    assert_int_equal(t.f->C_EncryptInit(s, &m_ctr, k), CKR_OK);
    assert_int_equal(t.f->C_Encrypt(s, in, 16, out, &len), CKR_OK);
    len = sizeof(out);
    assert_int_equal(t.f->C_EncryptInit(s, &m_ctr, k), CKR_OK);
    assert_int_equal(t.f->C_Encrypt(s, in, 17, out, &len), CKR_DATA_LEN_RANGE);
    cp.ulCounterBits = 0;
    assert_int_equal(t.f->C_EncryptInit(s, &m_ctr, k), CKR_MECHANISM_PARAM_INVALID);
    sr_token_close(&t);
}

static void test_modes_softhsm(void **state)
{
    (void)state;
    struct sr_token t = {0};
    if (!sr_token_softhsm(&t)) {
        skip();
    }
    sr_modes(&t, "1234");
    sr_token_close(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_modes_strongroom),
        cmocka_unit_test(test_modes_softhsm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
