/*
 * p11v3.c - the PKCS#11 3.0 interface (p11v3.h): C_GetInterfaceList and C_GetInterface, which hand out the 3.0
 * and the 2.40 function lists; C_LoginUser, for a token of one user; C_SessionCancel; and the message-based
 * functions, which this token does not have (each checks its session first, then answers
 * CKR_FUNCTION_NOT_SUPPORTED, as the 2.40 functions it lacks do).
 */
#include "pkcs11/p11.h"
#include "pkcs11/p11v3.h"

#include <stdlib.h>
#include <string.h>

#define SR_P11_INTERFACE_NAME "PKCS 11"

/* The interfaces, newest first: C_GetInterface without a version gives the first. */
static struct sr_ck_interface sr_p11_interfaces[] = {
    {(CK_CHAR *)SR_P11_INTERFACE_NAME, &sr_p11_functions_3_0, 0},
    {(CK_CHAR *)SR_P11_INTERFACE_NAME, &sr_p11_functions_2_40, 0},
};

/* The version of an interface's function list (both begin with a CK_VERSION). */
static CK_VERSION sr_p11_interface_version(const struct sr_ck_interface *i)
{
    return ((const CK_FUNCTION_LIST *)i->pFunctionList)->version;
}

/* §5.4: may be called before C_Initialize, as C_GetFunctionList. */
CK_RV sr_C_GetInterfaceList(struct sr_ck_interface *list, CK_ULONG_PTR count)
{
    if (count == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    CK_ULONG n = SR_ARRAY_LEN(sr_p11_interfaces);
    if (list == NULL) {
        *count = n;
        return CKR_OK;
    }
    if (*count < n) {
        *count = n;
        return CKR_BUFFER_TOO_SMALL;
    }
    memcpy(list, sr_p11_interfaces, sizeof(sr_p11_interfaces));
    *count = n;
    return CKR_OK;
}

CK_RV sr_C_GetInterface(CK_UTF8CHAR_PTR name, CK_VERSION_PTR version, struct sr_ck_interface **ret, CK_FLAGS flags)
{
    if (ret == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    for (size_t i = 0; i < SR_ARRAY_LEN(sr_p11_interfaces); i++) {
        struct sr_ck_interface *it = &sr_p11_interfaces[i];
        CK_VERSION v = sr_p11_interface_version(it);
        if ((name == NULL || strcmp((const char *)name, SR_P11_INTERFACE_NAME) == 0) &&
            (version == NULL || (version->major == v.major && version->minor == v.minor)) &&
            (it->flags & flags) == flags) {
            *ret = it;
            return CKR_OK;
        }
    }
    return CKR_ARGUMENTS_BAD; /* no such interface */
}

/* §5.6: this token has one user and one security officer, so a username names nobody: only none is taken. */
CK_RV sr_C_LoginUser(CK_SESSION_HANDLE h, CK_USER_TYPE who, CK_UTF8CHAR_PTR pin, CK_ULONG pin_len,
                     CK_UTF8CHAR_PTR username, CK_ULONG username_len)
{
    if (username_len > 0) {
        struct sr_p11 *p = sr_p11_get();
        if (p == NULL) {
            return CKR_CRYPTOKI_NOT_INITIALIZED;
        }
        pthread_mutex_lock(&p->lock);
        CK_RV rv = sr_p11_session(p, h) == NULL ? CKR_SESSION_HANDLE_INVALID
                   : username == NULL           ? CKR_ARGUMENTS_BAD
                                                : CKR_USER_TYPE_INVALID;
        pthread_mutex_unlock(&p->lock);
        return rv;
    }
    return sr_C_Login(h, who, pin, pin_len);
}

/* The operations C_SessionCancel's flags name (3.0 §5.6: the mechanism flags, and CKF_FIND_OBJECTS). */
static const struct {
    CK_FLAGS flag;
    enum sr_p11_op op;
} sr_p11_cancellable[] = {
    {CKF_ENCRYPT, SR_P11_OP_ENCRYPT}, {CKF_DECRYPT, SR_P11_OP_DECRYPT}, {CKF_DIGEST, SR_P11_OP_DIGEST},
    {CKF_SIGN, SR_P11_OP_SIGN},       {CKF_VERIFY, SR_P11_OP_VERIFY},   {SR_CKF_FIND_OBJECTS, SR_P11_OP_FIND},
};
/* The message-based operations' flags (CKF_MESSAGE_ENCRYPT ... CKF_MULTI_MESSAGE): none is ever active here. */
#define SR_CKF_MESSAGE_ANY 0x3eUL

CK_RV sr_C_SessionCancel(CK_SESSION_HANDLE h, CK_FLAGS flags)
{
    SR_P11_SESSION_BEGIN(p, h, s);
    CK_FLAGS known = SR_CKF_MESSAGE_ANY;
    for (size_t i = 0; i < SR_ARRAY_LEN(sr_p11_cancellable); i++) {
        known |= sr_p11_cancellable[i].flag;
    }
    rv = rv == CKR_OK && (flags & ~known) ? CKR_ARGUMENTS_BAD : rv;
    for (size_t i = 0; rv == CKR_OK && i < SR_ARRAY_LEN(sr_p11_cancellable); i++) {
        enum sr_p11_op op = sr_p11_cancellable[i].op;
        if (!(flags & sr_p11_cancellable[i].flag) || !s->active[op]) {
            continue;
        }
        sr_p11_active_release(&s->op[op]);
        memset(&s->op[op], 0, sizeof(s->op[op]));
        s->active[op] = false;
        if (op == SR_P11_OP_FIND) {
            free(s->found);
            s->found = NULL;
            s->nfound = s->given = 0;
        }
    }
    SR_P11_SESSION_END(p);
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter" /* these take their arguments only to refuse them */
#define SR_P11_NOT_HERE SR_P11_UNSUPPORTED_S_EXTERN
SR_P11_NOT_HERE(C_MessageEncryptInit, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
SR_P11_NOT_HERE(C_EncryptMessage, CK_VOID_PTR pa, CK_ULONG pn, CK_BYTE_PTR a, CK_ULONG an, CK_BYTE_PTR pt, CK_ULONG ptn,
                CK_BYTE_PTR ct, CK_ULONG_PTR ctn)
SR_P11_NOT_HERE(C_EncryptMessageBegin, CK_VOID_PTR pa, CK_ULONG pn, CK_BYTE_PTR a, CK_ULONG an)
SR_P11_NOT_HERE(C_EncryptMessageNext, CK_VOID_PTR pa, CK_ULONG pn, CK_BYTE_PTR pt, CK_ULONG ptn, CK_BYTE_PTR ct,
                CK_ULONG_PTR ctn, CK_FLAGS f)
SR_P11_NOT_HERE(C_MessageDecryptInit, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
SR_P11_NOT_HERE(C_DecryptMessage, CK_VOID_PTR pa, CK_ULONG pn, CK_BYTE_PTR a, CK_ULONG an, CK_BYTE_PTR ct, CK_ULONG ctn,
                CK_BYTE_PTR pt, CK_ULONG_PTR ptn)
SR_P11_NOT_HERE(C_DecryptMessageBegin, CK_VOID_PTR pa, CK_ULONG pn, CK_BYTE_PTR a, CK_ULONG an)
SR_P11_NOT_HERE(C_DecryptMessageNext, CK_VOID_PTR pa, CK_ULONG pn, CK_BYTE_PTR ct, CK_ULONG ctn, CK_BYTE_PTR pt,
                CK_ULONG_PTR ptn, CK_FLAGS f)
SR_P11_NOT_HERE(C_MessageSignInit, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
SR_P11_NOT_HERE(C_SignMessage, CK_VOID_PTR pa, CK_ULONG pn, CK_BYTE_PTR d, CK_ULONG dn, CK_BYTE_PTR sg, CK_ULONG_PTR sn)
SR_P11_NOT_HERE(C_SignMessageBegin, CK_VOID_PTR pa, CK_ULONG pn)
SR_P11_NOT_HERE(C_SignMessageNext, CK_VOID_PTR pa, CK_ULONG pn, CK_BYTE_PTR d, CK_ULONG dn, CK_BYTE_PTR sg,
                CK_ULONG_PTR sn)
SR_P11_NOT_HERE(C_MessageVerifyInit, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
SR_P11_NOT_HERE(C_VerifyMessage, CK_VOID_PTR pa, CK_ULONG pn, CK_BYTE_PTR d, CK_ULONG dn, CK_BYTE_PTR sg, CK_ULONG sn)
SR_P11_NOT_HERE(C_VerifyMessageBegin, CK_VOID_PTR pa, CK_ULONG pn)
SR_P11_NOT_HERE(C_VerifyMessageNext, CK_VOID_PTR pa, CK_ULONG pn, CK_BYTE_PTR d, CK_ULONG dn, CK_BYTE_PTR sg, CK_ULONG sn)
#pragma GCC diagnostic pop

#define SR_P11_NOT_HERE_0(name)                                                                                   \
    CK_RV sr_##name(CK_SESSION_HANDLE h)                                                                         \
    {                                                                                                            \
        SR_P11_SESSION_BEGIN(p, h, s);                                                                          \
        rv = rv == CKR_OK ? CKR_FUNCTION_NOT_SUPPORTED : rv;                                                    \
        SR_P11_SESSION_END(p);                                                                                  \
    }
SR_P11_NOT_HERE_0(C_MessageEncryptFinal)
SR_P11_NOT_HERE_0(C_MessageDecryptFinal)
SR_P11_NOT_HERE_0(C_MessageSignFinal)
SR_P11_NOT_HERE_0(C_MessageVerifyFinal)

/* The two entry points a 3.0 application looks up. */
SR_P11_EXPORT CK_RV C_GetInterfaceList(struct sr_ck_interface *list, CK_ULONG_PTR count);
CK_RV C_GetInterfaceList(struct sr_ck_interface *list, CK_ULONG_PTR count)
{
    return sr_C_GetInterfaceList(list, count);
}

SR_P11_EXPORT CK_RV C_GetInterface(CK_UTF8CHAR_PTR name, CK_VERSION_PTR version, struct sr_ck_interface **ret,
                                   CK_FLAGS flags);
CK_RV C_GetInterface(CK_UTF8CHAR_PTR name, CK_VERSION_PTR version, struct sr_ck_interface **ret, CK_FLAGS flags)
{
    return sr_C_GetInterface(name, version, ret, flags);
}
