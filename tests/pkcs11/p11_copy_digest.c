/*
 * Conformance, issue 27 item 3 (last part), against libstrongroom-pkcs11.so and SoftHSMv2 alike:
 *
 * - C_CopyObject (PKCS#11 2.40 §5.7): a copy is a new object with the same value (it encrypts the same),
 *   a session key becomes a token key by CKA_TOKEN, CKA_EXTRACTABLE may only turn false and CKA_SENSITIVE
 *   only true (CKR_ATTRIBUTE_READ_ONLY otherwise); a data object's value is copied;
 * - C_DigestKey (§5.10): a secret key's value enters the digest between the data, as if it were data;
 *   another kind of key is CKR_KEY_INDIGESTIBLE; no digest in progress is CKR_OPERATION_NOT_INITIALIZED.
 *
 * Strongroom's own rules come after: the dual-function calls are CKR_FUNCTION_NOT_SUPPORTED with the
 * session checked first, a copy keeps its original's permissions (no usage attribute changes), a trusted
 * key is not copyable (CKR_ACTION_PROHIBITED), and a copy of a token key needs its own CKA_ID.
 */
#include <p11-kit/pkcs11.h>

#include "testlib.h"
#include "fixture.h"

#include <stdio.h>
#include <string.h>

#include <openssl/sha.h>

static CK_BBOOL sr_yes = CK_TRUE, sr_no = CK_FALSE;

/* AES-ECB of one zero block under k. */
static void sr_ecb(struct sr_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE k, uint8_t out[16])
{
    uint8_t zero[16] = {0};
    CK_ULONG len = 16;
    CK_MECHANISM ecb = {CKM_AES_ECB, NULL, 0};
    assert_int_equal(t->f->C_EncryptInit(s, &ecb, k), CKR_OK);
    assert_int_equal(t->f->C_Encrypt(s, zero, 16, out, &len), CKR_OK);
}

static CK_BBOOL sr_bool(struct sr_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type)
{
    CK_BBOOL v = 2;
    CK_ATTRIBUTE a = {type, &v, 1};
    assert_int_equal(t->f->C_GetAttributeValue(s, o, &a, 1), CKR_OK);
    return v;
}

static CK_ULONG sr_count(struct sr_token *t, CK_SESSION_HANDLE s, const char *label)
{
    CK_ATTRIBUTE tmpl = {CKA_LABEL, (void *)label, strlen(label)};
    CK_OBJECT_HANDLE found[8];
    CK_ULONG n = 0;
    assert_int_equal(t->f->C_FindObjectsInit(s, &tmpl, 1), CKR_OK);
    assert_int_equal(t->f->C_FindObjects(s, found, 8, &n), CKR_OK);
    assert_int_equal(t->f->C_FindObjectsFinal(s), CKR_OK);
    return n;
}

static void sr_cases(struct sr_token *t)
{
    fprintf(stderr, "-- %s\n", t->name);
    CK_SESSION_HANDLE s = sr_open(t, CKF_RW_SESSION);
    assert_int_equal(t->f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR) "1234", 4), CKR_OK);

    /* C_CopyObject of a session AES key. */
    CK_ULONG len = 32;
    CK_MECHANISM gen = {CKM_AES_KEY_GEN, NULL, 0};
    CK_ATTRIBUTE kt[] = {{CKA_VALUE_LEN, &len, sizeof(len)}, {CKA_ENCRYPT, &sr_yes, 1}, {CKA_DECRYPT, &sr_yes, 1},
                         {CKA_EXTRACTABLE, &sr_yes, 1}, {CKA_LABEL, "original", 8}};
    CK_OBJECT_HANDLE k = 0, copy = 0, token = 0, latched = 0, back = 0;
    assert_int_equal(t->f->C_GenerateKey(s, &gen, kt, SR_ARRAY_LEN(kt), &k), CKR_OK);
    CK_ATTRIBUTE relabel[] = {{CKA_LABEL, "the copy", 8}};
    assert_int_equal(t->f->C_CopyObject(s, k, relabel, 1, &copy), CKR_OK);
    assert_true(copy != k);
    uint8_t a[16], b[16];
    sr_ecb(t, s, k, a);
    sr_ecb(t, s, copy, b);
    assert_memory_equal(a, b, 16);
    assert_int_equal(sr_count(t, s, "the copy"), 1);
    /* ... into a token key. */
    CK_ATTRIBUTE to_token[] = {{CKA_TOKEN, &sr_yes, 1}, {CKA_LABEL, "token copy", 10}, {CKA_ID, "copied", 6}};
    assert_int_equal(t->f->C_CopyObject(s, k, to_token, 3, &token), CKR_OK);
    assert_int_equal(sr_bool(t, s, token, CKA_TOKEN), CK_TRUE);
    sr_ecb(t, s, token, b);
    assert_memory_equal(a, b, 16);
    /* CKA_EXTRACTABLE turns false, never back; CKA_SENSITIVE never turns false. */
    CK_ATTRIBUTE unextract[] = {{CKA_EXTRACTABLE, &sr_no, 1}};
    assert_int_equal(t->f->C_CopyObject(s, k, unextract, 1, &latched), CKR_OK);
    assert_int_equal(sr_bool(t, s, latched, CKA_EXTRACTABLE), CK_FALSE);
    /* §5.7: "but not the other way around" — SoftHSMv2 2.6 makes such a copy extractable again (CKR_OK), and
     * a copy of a sensitive key non-sensitive, so both refusals are checked for Strongroom alone. */
    CK_ATTRIBUTE extract[] = {{CKA_EXTRACTABLE, &sr_yes, 1}};
    CK_RV again = t->f->C_CopyObject(s, latched, extract, 1, &back);
    assert_true(again == CKR_ATTRIBUTE_READ_ONLY || strcmp(t->name, "SoftHSMv2") == 0);
    CK_ATTRIBUTE insensitive[] = {{CKA_SENSITIVE, &sr_no, 1}}; /* SoftHSMv2 2.6: CKR_OK here too */
    again = t->f->C_CopyObject(s, k, insensitive, 1, &back);
    assert_true(again == CKR_ATTRIBUTE_READ_ONLY || strcmp(t->name, "SoftHSMv2") == 0);

    /* A data object's copy has its value. */
    CK_OBJECT_CLASS data = CKO_DATA;
    CK_ATTRIBUTE dt[] = {{CKA_CLASS, &data, sizeof(data)}, {CKA_VALUE, "payload", 7}, {CKA_LABEL, "data", 4}};
    CK_OBJECT_HANDLE d = 0, dcopy = 0;
    assert_int_equal(t->f->C_CreateObject(s, dt, 3, &d), CKR_OK);
    CK_ATTRIBUTE dlabel[] = {{CKA_LABEL, "data copy", 9}};
    assert_int_equal(t->f->C_CopyObject(s, d, dlabel, 1, &dcopy), CKR_OK);
    uint8_t value[16];
    CK_ATTRIBUTE get = {CKA_VALUE, value, sizeof(value)};
    assert_int_equal(t->f->C_GetAttributeValue(s, dcopy, &get, 1), CKR_OK);
    assert_true(get.ulValueLen == 7 && memcmp(value, "payload", 7) == 0);

    /* C_DigestKey: SHA-256("abc" || key || "def"), the key's value known to the test. */
    uint8_t key[32];
    for (int i = 0; i < 32; i++) {
        key[i] = (uint8_t)(0xa0 + i);
    }
    CK_ATTRIBUTE uses[] = {{CKA_ENCRYPT, &sr_yes, 1}, {CKA_EXTRACTABLE, &sr_yes, 1}};
    CK_OBJECT_HANDLE known = sr_token_known_secret(t, s, CKK_AES, key, sizeof(key), uses, 2);
    uint8_t all[38], want[32], got[32];
    memcpy(all, "abc", 3);
    memcpy(all + 3, key, 32);
    memcpy(all + 35, "def", 3);
    SHA256(all, sizeof(all), want);
    CK_MECHANISM sha256 = {CKM_SHA256, NULL, 0};
    CK_ULONG glen = sizeof(got);
    assert_int_equal(t->f->C_DigestKey(s, known), CKR_OPERATION_NOT_INITIALIZED);
    assert_int_equal(t->f->C_DigestInit(s, &sha256), CKR_OK);
    assert_int_equal(t->f->C_DigestUpdate(s, (CK_BYTE_PTR) "abc", 3), CKR_OK);
    assert_int_equal(t->f->C_DigestKey(s, known), CKR_OK);
    assert_int_equal(t->f->C_DigestUpdate(s, (CK_BYTE_PTR) "def", 3), CKR_OK);
    assert_int_equal(t->f->C_DigestFinal(s, got, &glen), CKR_OK);
    assert_true(glen == 32 && memcmp(got, want, 32) == 0);
    /* A private key is no value to digest. */
    CK_ULONG bits = 2048;
    CK_MECHANISM rsagen = {CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0};
    CK_ATTRIBUTE pt[] = {{CKA_MODULUS_BITS, &bits, sizeof(bits)}};
    CK_OBJECT_HANDLE pub = 0, priv = 0;
    assert_int_equal(t->f->C_GenerateKeyPair(s, &rsagen, pt, 1, NULL, 0, &pub, &priv), CKR_OK);
    assert_int_equal(t->f->C_DigestInit(s, &sha256), CKR_OK);
    assert_int_equal(t->f->C_DigestKey(s, priv), CKR_KEY_INDIGESTIBLE);
    glen = sizeof(got);
    assert_int_equal(t->f->C_DigestFinal(s, got, &glen), CKR_OK);
    assert_int_equal(t->f->C_CloseSession(s), CKR_OK);
}

static void test_copy_digest_softhsm(void **state)
{
    (void)state;
    sr_softhsm_cases(sr_cases);
}

static void test_copy_digest_strongroom(void **state)
{
    (void)state;
    struct sr_token t = {0};
    sr_token_strongroom_pin(&t);
    sr_cases(&t);
    /* The token copy above outlives the library. */
    sr_token_restart(&t);
    CK_SESSION_HANDLE s = sr_open(&t, CKF_RW_SESSION);
    assert_int_equal(t.f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR) "1234", 4), CKR_OK);
    assert_int_equal(sr_count(&t, s, "token copy"), 1);
    /* Ours: a copy does what its original does, no more (no usage attribute changes), and a token copy of a
     * token key takes its own CKA_ID (its file's name): the same one is taken. */
    CK_ULONG len = 32;
    CK_MECHANISM gen = {CKM_AES_KEY_GEN, NULL, 0};
    CK_ATTRIBUTE kt[] = {{CKA_VALUE_LEN, &len, sizeof(len)}, {CKA_TOKEN, &sr_yes, 1}, {CKA_ID, "tok", 3}};
    CK_OBJECT_HANDLE k = 0, c = 0;
    assert_int_equal(t.f->C_GenerateKey(s, &gen, kt, 3, &k), CKR_OK);
    CK_ATTRIBUTE wrap[] = {{CKA_WRAP, &sr_yes, 1}};
    assert_int_equal(t.f->C_CopyObject(s, k, wrap, 1, &c), CKR_ATTRIBUTE_READ_ONLY);
    CK_ATTRIBUTE same[] = {{CKA_TOKEN, &sr_yes, 1}};
    assert_int_equal(t.f->C_CopyObject(s, k, same, 1, &c), CKR_ATTRIBUTE_VALUE_INVALID);
    CK_ATTRIBUTE other[] = {{CKA_TOKEN, &sr_yes, 1}, {CKA_ID, "tok2", 4}};
    assert_int_equal(t.f->C_CopyObject(s, k, other, 2, &c), CKR_OK);
    /* Ours: a token key is private, so its copy is too. */
    CK_ATTRIBUTE public_copy[] = {{CKA_PRIVATE, &sr_no, 1}, {CKA_ID, "tok3", 4}};
    assert_int_equal(t.f->C_CopyObject(s, k, public_copy, 2, &c), CKR_TEMPLATE_INCONSISTENT);
    /* Ours: the dual-function calls are not offered; the session is checked first (§5.1). */
    uint8_t in[16] = {0}, out[32];
    CK_ULONG olen = sizeof(out);
    assert_int_equal(t.f->C_DigestEncryptUpdate(s + 100, in, 16, out, &olen), CKR_SESSION_HANDLE_INVALID);
    assert_int_equal(t.f->C_DigestEncryptUpdate(s, in, 16, out, &olen), CKR_FUNCTION_NOT_SUPPORTED);
    assert_int_equal(t.f->C_DecryptDigestUpdate(s, in, 16, out, &olen), CKR_FUNCTION_NOT_SUPPORTED);
    assert_int_equal(t.f->C_SignEncryptUpdate(s, in, 16, out, &olen), CKR_FUNCTION_NOT_SUPPORTED);
    assert_int_equal(t.f->C_DecryptVerifyUpdate(s, in, 16, out, &olen), CKR_FUNCTION_NOT_SUPPORTED);
    sr_token_close(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_copy_digest_strongroom),
        cmocka_unit_test(test_copy_digest_softhsm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
