/*
 * p11v3.h - the PKCS#11 3.0 interface types this library offers beside 2.40's function list: p11-kit 0.24's
 * header (Debian 12's) has none of them. Written from the OASIS PKCS#11 Specification Version 3.0 (§5.2
 * CK_INTERFACE, §5.4 C_GetInterfaceList and C_GetInterface, §5.5 CK_FUNCTION_LIST_3_0, §5.6 C_LoginUser and
 * C_SessionCancel, §5.13-§5.16 the message-based functions): the layouts and the order of the functions
 * are the standard's, the names ours (sr_ck_*), so that a newer header with the standard's names never
 * clashes. Tests include it too, to call the library as a 3.0 application does.
 */
#ifndef SR_PKCS11_P11V3_H
#define SR_PKCS11_P11V3_H

#include <p11-kit/pkcs11.h>

/* CK_INTERFACE. */
struct sr_ck_interface {
    CK_CHAR *pInterfaceName; /* "PKCS 11" */
    CK_VOID_PTR pFunctionList;
    CK_FLAGS flags;
};
#define SR_CKF_INTERFACE_FORK_SAFE 0x00000001UL
#define SR_CKF_FIND_OBJECTS 0x00000040UL /* C_SessionCancel's flag for a search (3.0 §5.6) */

/* CK_FUNCTION_LIST_3_0: version {3, 0}, the 2.40 functions in their order, then these. */
struct sr_ck_function_list_3_0 {
    CK_FUNCTION_LIST v2; /* its version field is the list's: {3, 0} */
    CK_RV (*C_GetInterfaceList)(struct sr_ck_interface *list, CK_ULONG_PTR count);
    CK_RV (*C_GetInterface)(CK_UTF8CHAR_PTR name, CK_VERSION_PTR version, struct sr_ck_interface **ret, CK_FLAGS flags);
    CK_RV (*C_LoginUser)(CK_SESSION_HANDLE h, CK_USER_TYPE who, CK_UTF8CHAR_PTR pin, CK_ULONG pin_len,
                         CK_UTF8CHAR_PTR username, CK_ULONG username_len);
    CK_RV (*C_SessionCancel)(CK_SESSION_HANDLE h, CK_FLAGS flags);
    CK_RV (*C_MessageEncryptInit)(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key);
    CK_RV (*C_EncryptMessage)(CK_SESSION_HANDLE h, CK_VOID_PTR param, CK_ULONG param_len, CK_BYTE_PTR aad,
                              CK_ULONG aad_len, CK_BYTE_PTR pt, CK_ULONG pt_len, CK_BYTE_PTR ct, CK_ULONG_PTR ct_len);
    CK_RV (*C_EncryptMessageBegin)(CK_SESSION_HANDLE h, CK_VOID_PTR param, CK_ULONG param_len, CK_BYTE_PTR aad,
                                   CK_ULONG aad_len);
    CK_RV (*C_EncryptMessageNext)(CK_SESSION_HANDLE h, CK_VOID_PTR param, CK_ULONG param_len, CK_BYTE_PTR pt,
                                  CK_ULONG pt_len, CK_BYTE_PTR ct, CK_ULONG_PTR ct_len, CK_FLAGS flags);
    CK_RV (*C_MessageEncryptFinal)(CK_SESSION_HANDLE h);
    CK_RV (*C_MessageDecryptInit)(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key);
    CK_RV (*C_DecryptMessage)(CK_SESSION_HANDLE h, CK_VOID_PTR param, CK_ULONG param_len, CK_BYTE_PTR aad,
                              CK_ULONG aad_len, CK_BYTE_PTR ct, CK_ULONG ct_len, CK_BYTE_PTR pt, CK_ULONG_PTR pt_len);
    CK_RV (*C_DecryptMessageBegin)(CK_SESSION_HANDLE h, CK_VOID_PTR param, CK_ULONG param_len, CK_BYTE_PTR aad,
                                   CK_ULONG aad_len);
    CK_RV (*C_DecryptMessageNext)(CK_SESSION_HANDLE h, CK_VOID_PTR param, CK_ULONG param_len, CK_BYTE_PTR ct,
                                  CK_ULONG ct_len, CK_BYTE_PTR pt, CK_ULONG_PTR pt_len, CK_FLAGS flags);
    CK_RV (*C_MessageDecryptFinal)(CK_SESSION_HANDLE h);
    CK_RV (*C_MessageSignInit)(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key);
    CK_RV (*C_SignMessage)(CK_SESSION_HANDLE h, CK_VOID_PTR param, CK_ULONG param_len, CK_BYTE_PTR data,
                           CK_ULONG data_len, CK_BYTE_PTR sig, CK_ULONG_PTR sig_len);
    CK_RV (*C_SignMessageBegin)(CK_SESSION_HANDLE h, CK_VOID_PTR param, CK_ULONG param_len);
    CK_RV (*C_SignMessageNext)(CK_SESSION_HANDLE h, CK_VOID_PTR param, CK_ULONG param_len, CK_BYTE_PTR data,
                               CK_ULONG data_len, CK_BYTE_PTR sig, CK_ULONG_PTR sig_len);
    CK_RV (*C_MessageSignFinal)(CK_SESSION_HANDLE h);
    CK_RV (*C_MessageVerifyInit)(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key);
    CK_RV (*C_VerifyMessage)(CK_SESSION_HANDLE h, CK_VOID_PTR param, CK_ULONG param_len, CK_BYTE_PTR data,
                             CK_ULONG data_len, CK_BYTE_PTR sig, CK_ULONG sig_len);
    CK_RV (*C_VerifyMessageBegin)(CK_SESSION_HANDLE h, CK_VOID_PTR param, CK_ULONG param_len);
    CK_RV (*C_VerifyMessageNext)(CK_SESSION_HANDLE h, CK_VOID_PTR param, CK_ULONG param_len, CK_BYTE_PTR data,
                                 CK_ULONG data_len, CK_BYTE_PTR sig, CK_ULONG sig_len);
    CK_RV (*C_MessageVerifyFinal)(CK_SESSION_HANDLE h);
};

/* The two exported entry points a 3.0 application looks up (beside C_GetFunctionList). */
typedef CK_RV (*sr_ck_get_interface_list)(struct sr_ck_interface *list, CK_ULONG_PTR count);
typedef CK_RV (*sr_ck_get_interface)(CK_UTF8CHAR_PTR name, CK_VERSION_PTR version, struct sr_ck_interface **ret,
                                     CK_FLAGS flags);

#endif
