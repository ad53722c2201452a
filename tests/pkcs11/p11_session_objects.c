/*
 * Conformance, issue 27 items 1 and 2: session objects and public session keys, against
 * libstrongroom-pkcs11.so and SoftHSMv2 alike (the behaviour is PKCS#11 2.40's):
 *
 * - §4.4 (CKA_TOKEN, default false) and §4.4's table of sessions and objects: session objects are made in
 *   read-only sessions too, private ones need the user, public ones need no login; token objects need a
 *   read/write session;
 * - §5.6: a session object is seen by every session of the application, and ends with its session
 *   (C_CloseSession), with every session (C_CloseAllSessions), with C_Finalize; C_Logout ends the private
 *   ones.
 *
 * Strongroom's own rules come after, in their own test: a token key is always private, a pair's halves are
 * both token or both session objects, no session key touches the disk, handles are not reused, and every
 * key-extraction refusal (docs/pkcs11.md) holds again with session keys made by the attacker.
 */
#include <p11-kit/pkcs11.h>

#include "testlib.h"
#include "fixture.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static CK_BBOOL sr_yes = CK_TRUE, sr_no = CK_FALSE;
static const char *sr_pin = "1234";

/* An AES-256 key: token or session, private or public, with CKA_ID id. */
static CK_RV sr_aes(struct sr_token *t, CK_SESSION_HANDLE s, const char *id, CK_BBOOL token, CK_BBOOL priv,
                    CK_OBJECT_HANDLE *ret)
{
    CK_ULONG len = 32;
    CK_ATTRIBUTE tmpl[] = {{CKA_VALUE_LEN, &len, sizeof(len)}, {CKA_TOKEN, &token, 1}, {CKA_PRIVATE, &priv, 1},
                           {CKA_ID, (void *)id, strlen(id)},   {CKA_ENCRYPT, &sr_yes, 1}, {CKA_DECRYPT, &sr_yes, 1}};
    CK_MECHANISM gen = {CKM_AES_KEY_GEN, NULL, 0};
    return t->f->C_GenerateKey(s, &gen, tmpl, SR_ARRAY_LEN(tmpl), ret);
}

/* The objects of CKA_ID id that session s sees. */
static CK_ULONG sr_count(struct sr_token *t, CK_SESSION_HANDLE s, const char *id)
{
    CK_ATTRIBUTE tmpl[] = {{CKA_ID, (void *)id, strlen(id)}};
    CK_OBJECT_HANDLE found[16];
    CK_ULONG n = 0;
    assert_int_equal(t->f->C_FindObjectsInit(s, tmpl, 1), CKR_OK);
    assert_int_equal(t->f->C_FindObjects(s, found, 16, &n), CKR_OK);
    assert_int_equal(t->f->C_FindObjectsFinal(s), CKR_OK);
    return n;
}

/* AES-CBC-PAD of a fixed message in session s under k: whether it worked. */
static CK_RV sr_use(struct sr_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE k)
{
    uint8_t iv[16] = {0}, msg[] = "a session key at work", out[64];
    CK_ULONG len = sizeof(out);
    CK_MECHANISM cbc = {CKM_AES_CBC_PAD, iv, sizeof(iv)};
    CK_RV rv = t->f->C_EncryptInit(s, &cbc, k);
    return rv != CKR_OK ? rv : t->f->C_Encrypt(s, msg, sizeof(msg), out, &len);
}

static CK_BBOOL sr_attr_bool(struct sr_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type)
{
    CK_BBOOL v = 2;
    CK_ATTRIBUTE a = {type, &v, 1};
    assert_int_equal(t->f->C_GetAttributeValue(s, o, &a, 1), CKR_OK);
    return v;
}

static void sr_login(struct sr_token *t, CK_SESSION_HANDLE s)
{
    assert_int_equal(t->f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)sr_pin, strlen(sr_pin)), CKR_OK);
}

static void sr_cases(struct sr_token *t)
{
    fprintf(stderr, "-- %s\n", t->name);
    CK_OBJECT_HANDLE k = 0, pubk = 0, privk = 0, tok = 0;

    /* §4.4's table, R/O public session: a public session key is made and used without login; a private one
     * needs the user; a token key needs a read/write session. */
    CK_SESSION_HANDLE ro = sr_open(t, 0);
    assert_int_equal(sr_aes(t, ro, "public", CK_FALSE, CK_FALSE, &k), CKR_OK);
    assert_int_equal(sr_use(t, ro, k), CKR_OK);
    assert_int_equal(sr_attr_bool(t, ro, k, CKA_TOKEN), CK_FALSE);
    assert_int_equal(sr_attr_bool(t, ro, k, CKA_PRIVATE), CK_FALSE);
    assert_int_equal(sr_aes(t, ro, "private", CK_FALSE, CK_TRUE, &privk), CKR_USER_NOT_LOGGED_IN);
    /* R/W public session: the same (item 2). */
    CK_SESSION_HANDLE rw = sr_open(t, CKF_RW_SESSION);
    assert_int_equal(sr_aes(t, rw, "public-rw", CK_FALSE, CK_FALSE, &pubk), CKR_OK);
    assert_int_equal(sr_use(t, rw, pubk), CKR_OK);
    assert_int_equal(sr_aes(t, rw, "private", CK_FALSE, CK_TRUE, &privk), CKR_USER_NOT_LOGGED_IN);

    /* R/O user session: private session keys, and key pairs, are made there; token keys are not. */
    sr_login(t, ro);
    assert_int_equal(sr_aes(t, ro, "private", CK_FALSE, CK_TRUE, &privk), CKR_OK);
    assert_int_equal(sr_attr_bool(t, ro, privk, CKA_PRIVATE), CK_TRUE);
    assert_int_equal(sr_aes(t, ro, "token", CK_TRUE, CK_TRUE, &tok), CKR_SESSION_READ_ONLY);
    CK_MECHANISM ecgen = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
    static const uint8_t p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
    CK_ATTRIBUTE pt[] = {{CKA_EC_PARAMS, (void *)p256, sizeof(p256)}, {CKA_VERIFY, &sr_yes, 1}, {CKA_ID, "pair", 4}};
    CK_ATTRIBUTE kt[] = {{CKA_SIGN, &sr_yes, 1}, {CKA_ID, "pair", 4}};
    CK_OBJECT_HANDLE epub = 0, epriv = 0;
    assert_int_equal(t->f->C_GenerateKeyPair(ro, &ecgen, pt, SR_ARRAY_LEN(pt), kt, SR_ARRAY_LEN(kt), &epub, &epriv),
                     CKR_OK);
    assert_int_equal(sr_attr_bool(t, ro, epriv, CKA_TOKEN), CK_FALSE);
    uint8_t digest[32] = {1}, sig[128];
    CK_ULONG siglen = sizeof(sig);
    CK_MECHANISM ecdsa = {CKM_ECDSA, NULL, 0};
    assert_int_equal(t->f->C_SignInit(ro, &ecdsa, epriv), CKR_OK);
    assert_int_equal(t->f->C_Sign(ro, digest, sizeof(digest), sig, &siglen), CKR_OK);
    assert_int_equal(t->f->C_VerifyInit(ro, &ecdsa, epub), CKR_OK);
    assert_int_equal(t->f->C_Verify(ro, digest, sizeof(digest), sig, siglen), CKR_OK);
    /* A token key, in the read/write session. */
    assert_int_equal(sr_aes(t, rw, "token", CK_TRUE, CK_TRUE, &tok), CKR_OK);
    assert_int_equal(sr_attr_bool(t, rw, tok, CKA_TOKEN), CK_TRUE);

    /* §5.6: every session of the application sees a session object, and uses it. */
    assert_int_equal(sr_count(t, rw, "private"), 1);
    assert_int_equal(sr_use(t, rw, privk), CKR_OK);
    assert_int_equal(sr_count(t, rw, "pair"), 2);

    /* §5.6 (C_CloseSession): the session's objects end with it; another session's stay. */
    assert_int_equal(t->f->C_CloseSession(ro), CKR_OK);
    assert_int_equal(sr_count(t, rw, "private"), 0);
    assert_int_equal(sr_count(t, rw, "public"), 0);
    assert_int_equal(sr_count(t, rw, "pair"), 0);
    /* C_EncryptInit's answer for a key that is gone is CKR_KEY_HANDLE_INVALID (§5.8); SoftHSMv2 2.6 says
     * CKR_OBJECT_HANDLE_INVALID. Strongroom's exact answer is checked in its own test below. */
    CK_RV gone = sr_use(t, rw, privk);
    assert_true(gone == CKR_KEY_HANDLE_INVALID || gone == CKR_OBJECT_HANDLE_INVALID);
    CK_BBOOL v;
    CK_ATTRIBUTE a = {CKA_TOKEN, &v, 1};
    assert_int_equal(t->f->C_GetAttributeValue(rw, k, &a, 1), CKR_OBJECT_HANDLE_INVALID);
    assert_int_equal(sr_count(t, rw, "public-rw"), 1);
    assert_int_equal(sr_count(t, rw, "token"), 1);

    /* §5.6 (C_Logout): the private session objects end, the public ones stay, even after a new login; and
     * every handle to a private object becomes invalid, a token object's too (it is found again). */
    assert_int_equal(sr_aes(t, rw, "private-2", CK_FALSE, CK_TRUE, &privk), CKR_OK);
    assert_int_equal(t->f->C_Logout(rw), CKR_OK);
    sr_login(t, rw);
    assert_int_equal(sr_count(t, rw, "private-2"), 0);
    assert_int_equal(sr_count(t, rw, "public-rw"), 1);
    assert_int_equal(sr_use(t, rw, pubk), CKR_OK);
    gone = sr_use(t, rw, tok);
    assert_true(gone == CKR_KEY_HANDLE_INVALID || gone == CKR_OBJECT_HANDLE_INVALID);
    CK_ATTRIBUTE by_id = {CKA_ID, "token", 5};
    CK_ULONG n = 0;
    assert_int_equal(t->f->C_FindObjectsInit(rw, &by_id, 1), CKR_OK);
    assert_int_equal(t->f->C_FindObjects(rw, &tok, 1, &n), CKR_OK);
    assert_int_equal(t->f->C_FindObjectsFinal(rw), CKR_OK);
    assert_int_equal(n, 1);
    assert_int_equal(sr_use(t, rw, tok), CKR_OK);

    /* C_DestroyObject of a session object: in a read-only session too. */
    CK_SESSION_HANDLE ro2 = sr_open(t, 0);
    assert_int_equal(sr_aes(t, ro2, "gone", CK_FALSE, CK_TRUE, &k), CKR_OK);
    assert_int_equal(t->f->C_DestroyObject(ro2, k), CKR_OK);
    assert_int_equal(sr_count(t, rw, "gone"), 0);
    /* ... but a token object only in a read/write one. */
    assert_int_equal(t->f->C_DestroyObject(ro2, tok), CKR_SESSION_READ_ONLY);

    /* §5.6 (C_CloseAllSessions): every session object ends; token objects stay. */
    assert_int_equal(t->f->C_CloseAllSessions(t->slot), CKR_OK);
    rw = sr_open(t, CKF_RW_SESSION);
    sr_login(t, rw);
    assert_int_equal(sr_count(t, rw, "public-rw"), 0);
    assert_int_equal(sr_count(t, rw, "token"), 1);

    /* §5.4 (C_Finalize): session objects end with the library; token objects outlive it. */
    assert_int_equal(sr_aes(t, rw, "until-finalize", CK_FALSE, CK_TRUE, &k), CKR_OK);
    sr_token_restart(t);
    rw = sr_open(t, CKF_RW_SESSION);
    sr_login(t, rw);
    assert_int_equal(sr_count(t, rw, "until-finalize"), 0);
    assert_int_equal(sr_count(t, rw, "token"), 1);
    assert_int_equal(t->f->C_CloseSession(rw), CKR_OK);
}

static void test_session_objects_softhsm(void **state)
{
    (void)state;
    sr_softhsm_cases(sr_cases);
}

/* The files of dir/local. */
static int sr_files(const char *dir)
{
    char path[400];
    snprintf(path, sizeof(path), "%s/local", dir);
    DIR *d = opendir(path);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
        n += e->d_name[0] != '.';
    }
    closedir(d);
    return n;
}

static void test_session_objects_strongroom(void **state)
{
    (void)state;
    struct sr_token t = {0};
    sr_token_strongroom(&t);
    SR_ASSERT_OK(sr_module_set_user_pin_of(t.dir, sr_pin));
    sr_cases(&t);

    CK_SESSION_HANDLE s = sr_open(&t, CKF_RW_SESSION);
    sr_login(&t, s);
    CK_OBJECT_HANDLE k = 0, k2 = 0;
    /* Ours: a token key is private (the user PIN is its gate); a public one is refused. */
    assert_int_equal(sr_aes(&t, s, "public-token", CK_TRUE, CK_FALSE, &k), CKR_TEMPLATE_INCONSISTENT);
    /* Ours: a pair is one key file, so its halves are both token or both session objects. */
    CK_MECHANISM ecgen = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
    static const uint8_t p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
    CK_ATTRIBUTE pt[] = {{CKA_EC_PARAMS, (void *)p256, sizeof(p256)}, {CKA_TOKEN, &sr_yes, 1}};
    CK_ATTRIBUTE kt[] = {{CKA_SIGN, &sr_yes, 1}, {CKA_TOKEN, &sr_no, 1}};
    CK_OBJECT_HANDLE pub = 0, priv = 0;
    assert_int_equal(t.f->C_GenerateKeyPair(s, &ecgen, pt, 2, kt, 2, &pub, &priv), CKR_TEMPLATE_INCONSISTENT);

    /* Ours: a session key is sealed as a key file is, but never written: kmdata/local does not change. */
    int before = sr_files(t.dir);
    assert_int_equal(sr_aes(&t, s, "in-memory", CK_FALSE, CK_TRUE, &k), CKR_OK);
    assert_int_equal(t.f->C_GenerateKeyPair(s, &ecgen, pt, 1, kt, 2, &pub, &priv), CKR_OK);
    assert_int_equal(sr_files(t.dir), before);
    /* Ours: a session pair is one key file, as a token pair is: destroying one half takes the other. */
    assert_int_equal(t.f->C_DestroyObject(s, priv), CKR_OK);
    CK_ATTRIBUTE pub_class = {CKA_CLASS, NULL, 0};
    assert_int_equal(t.f->C_GetAttributeValue(s, pub, &pub_class, 1), CKR_OBJECT_HANDLE_INVALID);
    /* Ours: the handle of a destroyed object never names the next one, though its slot is reused. */
    assert_int_equal(t.f->C_DestroyObject(s, k), CKR_OK);
    assert_int_equal(sr_aes(&t, s, "next", CK_FALSE, CK_TRUE, &k2), CKR_OK);
    assert_true(k2 != k);
    assert_int_equal(sr_use(&t, s, k), CKR_KEY_HANDLE_INVALID);
    assert_int_equal(sr_use(&t, s, k2), CKR_OK);
    sr_token_close(&t);
}

/* docs/pkcs11.md, "What closes the key-extraction attacks", again with the attacker's own session keys
 * beside the token's: none of them wraps a token key out, or is itself readable. */
static void test_extraction_with_session_keys(void **state)
{
    (void)state;
    struct sr_token t = {0};
    sr_token_strongroom(&t);
    SR_ASSERT_OK(sr_module_set_user_pin_of(t.dir, sr_pin));
    CK_SESSION_HANDLE s = sr_open(&t, CKF_RW_SESSION);
    sr_login(&t, s);
    /* The victim: an extractable token key (it may leave, but only to a key the SO's quorum trusted). */
    CK_ULONG len = 32;
    CK_MECHANISM aesgen = {CKM_AES_KEY_GEN, NULL, 0};
    CK_ATTRIBUTE vt[] = {{CKA_VALUE_LEN, &len, sizeof(len)}, {CKA_TOKEN, &sr_yes, 1}, {CKA_EXTRACTABLE, &sr_yes, 1},
                         {CKA_ID, "victim", 6}};
    CK_OBJECT_HANDLE victim = 0;
    assert_int_equal(t.f->C_GenerateKey(s, &aesgen, vt, SR_ARRAY_LEN(vt), &victim), CKR_OK);

    /* A session RSA pair of the attacker's, made to wrap. */
    CK_ULONG bits = 2048;
    CK_MECHANISM rsagen = {CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0};
    CK_ATTRIBUTE pt[] = {{CKA_MODULUS_BITS, &bits, sizeof(bits)}, {CKA_WRAP, &sr_yes, 1}};
    CK_ATTRIBUTE kt[] = {{CKA_UNWRAP, &sr_yes, 1}, {CKA_SIGN, &sr_no, 1}};
    CK_OBJECT_HANDLE wpub = 0, wpriv = 0;
    assert_int_equal(t.f->C_GenerateKeyPair(s, &rsagen, pt, 2, kt, 2, &wpub, &wpriv), CKR_OK);
    uint8_t out[4096];
    CK_ULONG outlen = sizeof(out);
    CK_MECHANISM rsa_aes = {CKM_RSA_AES_KEY_WRAP, NULL, 0};
    CK_MECHANISM oaep = {CKM_RSA_PKCS_OAEP, NULL, 0};
    CK_MECHANISM kw = {CKM_AES_KEY_WRAP, NULL, 0};
    /* It is no trusted key: nothing is wrapped under it, by any mechanism. */
    assert_int_equal(t.f->C_WrapKey(s, &rsa_aes, wpub, victim, out, &outlen), CKR_KEY_NOT_WRAPPABLE);
    assert_int_equal(t.f->C_WrapKey(s, &oaep, wpub, victim, out, &outlen), CKR_MECHANISM_INVALID);
    /* A session AES key made to wrap cannot wrap either; one made to wrap and decrypt is never made. */
    CK_ATTRIBUTE wt[] = {{CKA_VALUE_LEN, &len, sizeof(len)}, {CKA_WRAP, &sr_yes, 1}, {CKA_DECRYPT, &sr_yes, 1}};
    CK_OBJECT_HANDLE wk = 0;
    assert_int_equal(t.f->C_GenerateKey(s, &aesgen, wt, 3, &wk), CKR_TEMPLATE_INCONSISTENT);
    assert_int_equal(t.f->C_GenerateKey(s, &aesgen, wt, 2, &wk), CKR_OK);
    assert_int_equal(t.f->C_WrapKey(s, &kw, wk, victim, out, &outlen), CKR_MECHANISM_INVALID);
    /* A session key is as sensitive as a token key: never non-sensitive, its value never read. */
    CK_ATTRIBUTE weak[] = {{CKA_VALUE_LEN, &len, sizeof(len)}, {CKA_SENSITIVE, &sr_no, 1}};
    assert_int_equal(t.f->C_GenerateKey(s, &aesgen, weak, 2, &wk), CKR_ATTRIBUTE_VALUE_INVALID);
    uint8_t value[64];
    CK_ATTRIBUTE read = {CKA_VALUE, value, sizeof(value)};
    assert_int_equal(t.f->C_GetAttributeValue(s, wk, &read, 1), CKR_ATTRIBUTE_SENSITIVE);
    CK_BBOOL no = CK_FALSE;
    CK_ATTRIBUTE loosen = {CKA_SENSITIVE, &no, 1};
    assert_int_equal(t.f->C_SetAttributeValue(s, wk, &loosen, 1), CKR_ATTRIBUTE_READ_ONLY);
    /* The attacker's session key cannot unwrap into a data key of a known value (its unwrap role excludes
     * decrypt), and a public session key, no login, sees no private token key at all. */
    CK_MECHANISM cbc = {CKM_AES_CBC_PAD, value, 16};
    assert_int_equal(t.f->C_DecryptInit(s, &oaep, wpriv), CKR_KEY_FUNCTION_NOT_PERMITTED);
    assert_int_equal(t.f->C_Logout(s), CKR_OK);
    CK_ATTRIBUTE pubt[] = {{CKA_VALUE_LEN, &len, sizeof(len)}, {CKA_PRIVATE, &no, 1}, {CKA_WRAP, &sr_yes, 1}};
    CK_OBJECT_HANDLE pk = 0;
    assert_int_equal(t.f->C_GenerateKey(s, &aesgen, pubt, 3, &pk), CKR_OK);
    outlen = sizeof(out);
    assert_int_equal(t.f->C_WrapKey(s, &kw, pk, victim, out, &outlen), CKR_KEY_HANDLE_INVALID);
    assert_int_equal(t.f->C_EncryptInit(s, &cbc, victim), CKR_KEY_HANDLE_INVALID);
    assert_int_equal(sr_count(&t, s, "victim"), 0);
    sr_token_close(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_session_objects_strongroom),
        cmocka_unit_test(test_session_objects_softhsm),
        cmocka_unit_test(test_extraction_with_session_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
