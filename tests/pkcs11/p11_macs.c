/*
 * Conformance, issue 27 item 3 (third part): MACs, against libstrongroom-pkcs11.so and SoftHSMv2 alike
 * (PKCS#11 2.40 Current Mechanisms §2.20 general-length HMAC, §4.3 generic secret keys, §2.10 AES-CMAC):
 *
 * - CKM_GENERIC_SECRET_KEY_GEN makes an HMAC key (CKK_GENERIC_SECRET, CKA_VALUE_LEN bytes);
 * - CKM_SHA_1_HMAC, CKM_SHA224_HMAC ... CKM_SHA512_HMAC sign and verify, single- and multi-part: a MAC of
 *   the digest's length, CKR_SIGNATURE_INVALID for a wrong one, CKR_SIGNATURE_LEN_RANGE for a short one;
 * - CKM_AES_CMAC over an AES key, 16 bytes;
 * - against known answers: RFC 2202 and RFC 4231 test case 1 (HMAC), RFC 4493 example 2 (CMAC), with keys of
 *   known value put into each token its own way (fixture.c), and every other length against OpenSSL.
 */
#include <p11-kit/pkcs11.h>

#include "testlib.h"
#include "fixture.h"

#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

static CK_BBOOL sr_yes = CK_TRUE;

static CK_ULONG sr_sign(struct sr_token *t, CK_SESSION_HANDLE s, CK_MECHANISM_TYPE m, CK_OBJECT_HANDLE k,
                        const void *data, size_t n, uint8_t *mac)
{
    CK_MECHANISM mech = {m, NULL, 0};
    CK_ULONG len = 64;
    assert_int_equal(t->f->C_SignInit(s, &mech, k), CKR_OK);
    assert_int_equal(t->f->C_Sign(s, (CK_BYTE_PTR)data, n, mac, &len), CKR_OK);
    return len;
}

static void sr_hex(const char *hex, uint8_t *out)
{
    for (size_t i = 0; hex[2 * i]; i++) {
        sscanf(hex + 2 * i, "%2hhx", &out[i]);
    }
}

/* OpenSSL's MAC (name "HMAC" with digest, or "CMAC" with cipher) of data under key. */
static size_t sr_openssl_mac(const char *name, const char *param_name, const char *param, const uint8_t *key,
                             size_t klen, const void *data, size_t n, uint8_t *out)
{
    EVP_MAC *mac = EVP_MAC_fetch(NULL, name, NULL);
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(mac);
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(param_name, (char *)param, 0), OSSL_PARAM_construct_end()};
    size_t len = 0;
    assert_true(ctx && EVP_MAC_init(ctx, key, klen, params) == 1 && EVP_MAC_update(ctx, data, n) == 1 &&
                EVP_MAC_final(ctx, out, &len, 64) == 1);
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    return len;
}

static void sr_cases(struct sr_token *t)
{
    fprintf(stderr, "-- %s\n", t->name);
    CK_SESSION_HANDLE s = sr_open(t, CKF_RW_SESSION);
    assert_int_equal(t->f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR) "1234", 4), CKR_OK);
    uint8_t mac[64], want[64];
    const char data[] = "Hi There";

    /* A generated HMAC key: its class, type and length; it signs and verifies with every HMAC. */
    CK_ULONG vlen = 64; /* SoftHSMv2 wants an HMAC key as long as the digest */
    CK_MECHANISM gen = {CKM_GENERIC_SECRET_KEY_GEN, NULL, 0};
    CK_ATTRIBUTE gt[] = {{CKA_VALUE_LEN, &vlen, sizeof(vlen)}, {CKA_SIGN, &sr_yes, 1}, {CKA_VERIFY, &sr_yes, 1}};
    CK_OBJECT_HANDLE k = 0;
    assert_int_equal(t->f->C_GenerateKey(s, &gen, gt, 3, &k), CKR_OK);
    CK_KEY_TYPE type = 0;
    CK_ULONG got_len = 0;
    CK_ATTRIBUTE q[] = {{CKA_KEY_TYPE, &type, sizeof(type)}, {CKA_VALUE_LEN, &got_len, sizeof(got_len)}};
    assert_int_equal(t->f->C_GetAttributeValue(s, k, q, 2), CKR_OK);
    assert_true(type == CKK_GENERIC_SECRET && got_len == 64);
    static const struct {
        CK_MECHANISM_TYPE m;
        const char *md;
        size_t len;
    } hmacs[] = {{CKM_SHA_1_HMAC, "SHA1", 20}, {CKM_SHA224_HMAC, "SHA224", 28}, {CKM_SHA256_HMAC, "SHA256", 32},
                 {CKM_SHA384_HMAC, "SHA384", 48}, {CKM_SHA512_HMAC, "SHA512", 64}};
    for (size_t i = 0; i < SR_ARRAY_LEN(hmacs); i++) {
        CK_MECHANISM m = {hmacs[i].m, NULL, 0};
        CK_ULONG len = sr_sign(t, s, hmacs[i].m, k, data, 8, mac);
        assert_int_equal(len, hmacs[i].len);
        assert_int_equal(t->f->C_VerifyInit(s, &m, k), CKR_OK);
        assert_int_equal(t->f->C_VerifyUpdate(s, (CK_BYTE_PTR)data, 3), CKR_OK);
        assert_int_equal(t->f->C_VerifyUpdate(s, (CK_BYTE_PTR)data + 3, 5), CKR_OK);
        assert_int_equal(t->f->C_VerifyFinal(s, mac, len), CKR_OK);
        mac[0] ^= 1;
        assert_int_equal(t->f->C_VerifyInit(s, &m, k), CKR_OK);
        assert_int_equal(t->f->C_Verify(s, (CK_BYTE_PTR)data, 8, mac, len), CKR_SIGNATURE_INVALID);
        assert_int_equal(t->f->C_VerifyInit(s, &m, k), CKR_OK);
        assert_int_equal(t->f->C_Verify(s, (CK_BYTE_PTR)data, 8, mac, len - 1), CKR_SIGNATURE_LEN_RANGE);
    }

    /* Known answers: RFC 2202 test case 1 (key 20 bytes of 0x0b, "Hi There"); then a 64-byte key of known
     * value with every HMAC, against OpenSSL. */
    uint8_t key[64];
    memset(key, 0x0b, 20);
    CK_ATTRIBUTE uses[] = {{CKA_SIGN, &sr_yes, 1}, {CKA_VERIFY, &sr_yes, 1}};
    CK_OBJECT_HANDLE known = sr_token_known_secret(t, s, CKK_GENERIC_SECRET, key, 20, uses, 2);
    sr_hex("b617318655057264e28bc0b6fb378c8ef146be00", want);
    assert_int_equal(sr_sign(t, s, CKM_SHA_1_HMAC, known, data, 8, mac), 20);
    assert_memory_equal(mac, want, 20);
    for (size_t i = 0; i < sizeof(key); i++) {
        key[i] = (uint8_t)(i * 7 + 1);
    }
    known = sr_token_known_secret(t, s, CKK_GENERIC_SECRET, key, sizeof(key), uses, 2);
    for (size_t i = 0; i < SR_ARRAY_LEN(hmacs); i++) {
        size_t n = sr_openssl_mac("HMAC", OSSL_MAC_PARAM_DIGEST, hmacs[i].md, key, sizeof(key), data, 8, want);
        assert_int_equal(sr_sign(t, s, hmacs[i].m, known, data, 8, mac), n);
        assert_memory_equal(mac, want, n);
    }

    /* AES-CMAC: RFC 4493 example 2 (one block), and a generated key's MACs verify. */
    uint8_t aes[16], msg[16];
    sr_hex("2b7e151628aed2a6abf7158809cf4f3c", aes);
    sr_hex("6bc1bee22e409f96e93d7e117393172a", msg);
    sr_hex("070a16b46b4d4144f79bdd9dd04a287c", want);
    CK_OBJECT_HANDLE ak = sr_token_known_secret(t, s, CKK_AES, aes, sizeof(aes), uses, 2);
    assert_int_equal(sr_sign(t, s, CKM_AES_CMAC, ak, msg, sizeof(msg), mac), 16);
    assert_memory_equal(mac, want, 16);
    CK_MECHANISM cmac = {CKM_AES_CMAC, NULL, 0};
    assert_int_equal(t->f->C_VerifyInit(s, &cmac, ak), CKR_OK);
    assert_int_equal(t->f->C_Verify(s, msg, sizeof(msg), mac, 16), CKR_OK);
    /* Empty data too (RFC 4493 example 1). */
    sr_hex("bb1d6929e95937287fa37d129b756746", want);
    assert_int_equal(sr_sign(t, s, CKM_AES_CMAC, ak, msg, 0, mac), 16);
    assert_memory_equal(mac, want, 16);

    /* An HMAC mechanism with an AES key is the wrong key type. */
    CK_MECHANISM sha256 = {CKM_SHA256_HMAC, NULL, 0};
    assert_int_equal(t->f->C_SignInit(s, &sha256, ak), CKR_KEY_TYPE_INCONSISTENT);
    assert_int_equal(t->f->C_CloseSession(s), CKR_OK);
}

static void test_macs_strongroom(void **state)
{
    (void)state;
    struct sr_token t = {0};
    sr_token_strongroom_pin(&t);
    sr_cases(&t);
    /* RFC 4231 test case 1 (HMAC-SHA-256 with the 20-byte key: SoftHSMv2 refuses keys shorter than the
     * digest, CKR_KEY_SIZE_RANGE). */
    CK_SESSION_HANDLE s = sr_open(&t, CKF_RW_SESSION);
    assert_int_equal(t.f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR) "1234", 4), CKR_OK);
    uint8_t key[20], mac[64], want[32];
    memset(key, 0x0b, sizeof(key));
    CK_ATTRIBUTE uses[] = {{CKA_SIGN, &sr_yes, 1}, {CKA_VERIFY, &sr_yes, 1}};
    CK_OBJECT_HANDLE known = sr_token_known_secret(&t, s, CKK_GENERIC_SECRET, key, sizeof(key), uses, 2);
    sr_hex("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7", want);
    assert_int_equal(sr_sign(&t, s, CKM_SHA256_HMAC, known, "Hi There", 8, mac), 32);
    assert_memory_equal(mac, want, 32);
    /* Ours: an HMAC key has no cipher; a key made without CKA_SIGN does not MAC. */
    CK_ULONG vlen = 32;
    CK_MECHANISM gen = {CKM_GENERIC_SECRET_KEY_GEN, NULL, 0};
    CK_ATTRIBUTE enc[] = {{CKA_VALUE_LEN, &vlen, sizeof(vlen)}, {CKA_ENCRYPT, &sr_yes, 1}};
    CK_OBJECT_HANDLE k = 0;
    assert_int_equal(t.f->C_GenerateKey(s, &gen, enc, 2, &k), CKR_TEMPLATE_INCONSISTENT);
    vlen = 8;
    assert_int_equal(t.f->C_GenerateKey(s, &gen, enc, 1, &k), CKR_KEY_SIZE_RANGE);
    CK_MECHANISM aesgen = {CKM_AES_KEY_GEN, NULL, 0};
    vlen = 32;
    CK_ATTRIBUTE plain[] = {{CKA_VALUE_LEN, &vlen, sizeof(vlen)}};
    assert_int_equal(t.f->C_GenerateKey(s, &aesgen, plain, 1, &k), CKR_OK);
    CK_MECHANISM cmac = {CKM_AES_CMAC, NULL, 0};
    assert_int_equal(t.f->C_SignInit(s, &cmac, k), CKR_KEY_FUNCTION_NOT_PERMITTED);
    sr_token_close(&t);
}

static void test_macs_softhsm(void **state)
{
    (void)state;
    sr_softhsm_cases(sr_cases);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_macs_strongroom),
        cmocka_unit_test(test_macs_softhsm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
