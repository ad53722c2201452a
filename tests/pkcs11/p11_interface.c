/*
 * Conformance, issue 27 item 7: the PKCS#11 3.0 interface of libstrongroom-pkcs11.so (OASIS PKCS#11 3.0:
 * §5.4 C_GetInterfaceList and C_GetInterface, §5.5 CK_FUNCTION_LIST_3_0, §5.6 C_LoginUser and
 * C_SessionCancel, §5.13-§5.16 the message-based functions). SoftHSMv2 2.6 (Debian 12's) has no 3.0
 * interface: its column shows only that it exports no C_GetInterface.
 */
#include <p11-kit/pkcs11.h>

#include "testlib.h"
#include "fixture.h"
#include "pkcs11/p11v3.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

static void test_interface_strongroom(void **state)
{
    (void)state;
    struct sr_token t = {0};
    sr_token_strongroom(&t);
    SR_ASSERT_OK(sr_module_set_user_pin_of(t.dir, "1234"));
    sr_ck_get_interface_list get_list = (sr_ck_get_interface_list)dlsym(t.lib, "C_GetInterfaceList");
    sr_ck_get_interface get = (sr_ck_get_interface)dlsym(t.lib, "C_GetInterface");
    assert_true(get_list != NULL && get != NULL);

    /* §5.4: two interfaces named "PKCS 11", 3.0's first; a short list is CKR_BUFFER_TOO_SMALL. */
    CK_ULONG n = 0;
    assert_int_equal(get_list(NULL, &n), CKR_OK);
    assert_int_equal(n, 2);
    struct sr_ck_interface list[2];
    CK_ULONG one = 1;
    assert_int_equal(get_list(list, &one), CKR_BUFFER_TOO_SMALL);
    assert_int_equal(one, 2);
    assert_int_equal(get_list(list, &n), CKR_OK);
    for (int i = 0; i < 2; i++) {
        assert_string_equal((const char *)list[i].pInterfaceName, "PKCS 11");
    }
    CK_VERSION v3 = ((CK_FUNCTION_LIST_PTR)list[0].pFunctionList)->version;
    CK_VERSION v2 = ((CK_FUNCTION_LIST_PTR)list[1].pFunctionList)->version;
    assert_true(v3.major == 3 && v3.minor == 0 && v2.major == 2 && v2.minor == 40);

    /* C_GetInterface: no name and no version is the newest; a version picks its list; an unknown name or a
     * flag no interface has finds none. */
    struct sr_ck_interface *it = NULL;
    assert_int_equal(get(NULL, NULL, &it, 0), CKR_OK);
    struct sr_ck_function_list_3_0 *f3 = it->pFunctionList;
    assert_true(f3->v2.version.major == 3);
    CK_VERSION want = {2, 40};
    assert_int_equal(get((CK_UTF8CHAR_PTR) "PKCS 11", &want, &it, 0), CKR_OK);
    CK_FUNCTION_LIST_PTR f2 = it->pFunctionList, legacy = NULL;
    assert_int_equal(t.f, f2); /* C_GetFunctionList's list */
    assert_int_equal(t.f->C_GetFunctionList(&legacy), CKR_OK);
    assert_true(legacy == f2 && f3->v2.C_Sign == f2->C_Sign && f3->v2.C_WaitForSlotEvent == f2->C_WaitForSlotEvent);
    assert_int_equal(get((CK_UTF8CHAR_PTR) "Vendor", NULL, &it, 0), CKR_ARGUMENTS_BAD);
    assert_int_equal(get(NULL, NULL, &it, SR_CKF_INTERFACE_FORK_SAFE), CKR_ARGUMENTS_BAD);
    assert_int_equal(get(NULL, NULL, NULL, 0), CKR_ARGUMENTS_BAD);

    /* §5.6 C_LoginUser: no username is C_Login; this token has one user, so a username names nobody. */
    CK_SESSION_HANDLE s = sr_open(&t, CKF_RW_SESSION);
    assert_int_equal(f3->C_LoginUser(s + 100, CKU_USER, (CK_UTF8CHAR_PTR) "1234", 4, NULL, 0), CKR_SESSION_HANDLE_INVALID);
    assert_int_equal(f3->C_LoginUser(s, CKU_USER, (CK_UTF8CHAR_PTR) "1234", 4, (CK_UTF8CHAR_PTR) "alice", 5),
                     CKR_USER_TYPE_INVALID);
    assert_int_equal(f3->C_LoginUser(s, CKU_USER, (CK_UTF8CHAR_PTR) "0000", 4, NULL, 0), CKR_PIN_INCORRECT);
    assert_int_equal(f3->C_LoginUser(s, CKU_USER, (CK_UTF8CHAR_PTR) "1234", 4, NULL, 0), CKR_OK);
    CK_SESSION_INFO info;
    assert_int_equal(f3->v2.C_GetSessionInfo(s, &info), CKR_OK);
    assert_int_equal(info.state, CKS_RW_USER_FUNCTIONS);

    /* §5.6 C_SessionCancel: the named operations end, the others go on; unknown flags are refused. */
    CK_MECHANISM sha256 = {CKM_SHA256, NULL, 0};
    uint8_t out[64];
    CK_ULONG len = sizeof(out);
    assert_int_equal(f3->v2.C_DigestInit(s, &sha256), CKR_OK);
    assert_int_equal(f3->v2.C_FindObjectsInit(s, NULL, 0), CKR_OK);
    assert_int_equal(f3->C_SessionCancel(s, CKF_DIGEST), CKR_OK);
    assert_int_equal(f3->v2.C_DigestUpdate(s, out, 4), CKR_OPERATION_NOT_INITIALIZED);
    CK_OBJECT_HANDLE found[4];
    assert_int_equal(f3->v2.C_FindObjects(s, found, 4, &n), CKR_OK); /* still searching */
    assert_int_equal(f3->C_SessionCancel(s, SR_CKF_FIND_OBJECTS), CKR_OK);
    assert_int_equal(f3->v2.C_FindObjects(s, found, 4, &n), CKR_OPERATION_NOT_INITIALIZED);
    assert_int_equal(f3->v2.C_DigestInit(s, &sha256), CKR_OK);
    assert_int_equal(f3->v2.C_Digest(s, out, 4, out, &len), CKR_OK);
    assert_int_equal(f3->C_SessionCancel(s, 0x80000000UL), CKR_ARGUMENTS_BAD);
    assert_int_equal(f3->C_SessionCancel(s + 100, CKF_DIGEST), CKR_SESSION_HANDLE_INVALID);

    /* §5.13-§5.16: the message-based functions are not this token's; the session is checked first. */
    assert_int_equal(f3->C_MessageEncryptInit(s + 100, &sha256, 1), CKR_SESSION_HANDLE_INVALID);
    assert_int_equal(f3->C_MessageEncryptInit(s, &sha256, 1), CKR_FUNCTION_NOT_SUPPORTED);
    assert_int_equal(f3->C_MessageSignFinal(s), CKR_FUNCTION_NOT_SUPPORTED);
    assert_int_equal(f3->C_VerifyMessageBegin(s, NULL, 0), CKR_FUNCTION_NOT_SUPPORTED);
    assert_int_equal(f3->v2.C_CloseSession(s), CKR_OK);
    sr_token_close(&t);
}

static void test_interface_softhsm(void **state)
{
    (void)state;
    struct sr_token t = {0};
    if (!sr_token_softhsm(&t)) {
        skip();
    }
    fprintf(stderr, "SoftHSMv2 exports C_GetInterface: %s\n", dlsym(t.lib, "C_GetInterface") ? "yes" : "no (2.40 only)");
    sr_token_close(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_interface_strongroom),
        cmocka_unit_test(test_interface_softhsm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
