/*
 * p11.c - libstrongroom-pkcs11.so's face: C_GetFunctionList, the library, its one slot and token, sessions
 * and login. The token is present while the module in $STRONGROOM_KMDATA has a security world loaded.
 * Login: the user logs in with the PIN the operator set (`strongroom pkcs11 set-pin`); the security
 * officer with a quorum of the world's administrator cards, as "CARD:PIN,CARD:PIN" (docs/pkcs11.md).
 */
#include "pkcs11/p11.h"
#include "pkcs11/p11v3.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "hsm/km0.h"


static pthread_mutex_t sr_p11_init_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sr_p11 *sr_p11_lib;

struct sr_p11 *sr_p11_get(void)
{
    return __atomic_load_n(&sr_p11_lib, __ATOMIC_ACQUIRE);
}

CK_RV sr_p11_rv(enum sr_err r)
{
    switch (r) {
    case SR_OK: return CKR_OK;
    case SR_ERR_NOMEM: return CKR_HOST_MEMORY;
    case SR_ERR_ACL_DENIED: return CKR_KEY_FUNCTION_NOT_PERMITTED;
    case SR_ERR_BAD_SIGNATURE: return CKR_SIGNATURE_INVALID;
    case SR_ERR_DECRYPT_FAILED: return CKR_ENCRYPTED_DATA_INVALID;
    case SR_ERR_TOO_LARGE: return CKR_DATA_LEN_RANGE;
    case SR_ERR_DIGEST_LEN: return CKR_DATA_LEN_RANGE;
    case SR_ERR_MALFORMED: return CKR_DATA_LEN_RANGE;
    case SR_ERR_KEY_TYPE: return CKR_KEY_TYPE_INCONSISTENT;
    case SR_ERR_NO_WORLD: return CKR_TOKEN_NOT_PRESENT;
    case SR_ERR_MODE_O_NEEDED: return CKR_TOKEN_NOT_PRESENT;
    case SR_ERR_BAD_PIN: return CKR_PIN_INCORRECT;
    case SR_ERR_PIN_LOCKED: return CKR_PIN_LOCKED;
    case SR_ERR_PIN_INPUT: return CKR_PIN_LEN_RANGE;
    case SR_ERR_QUORUM: return CKR_PIN_INCORRECT;
    case SR_ERR_QUORUM_NOT_MET: return CKR_PIN_INCORRECT;
    case SR_ERR_NOT_FOUND: return CKR_OBJECT_HANDLE_INVALID;
    case SR_ERR_EXISTS: return CKR_ATTRIBUTE_VALUE_INVALID;
    default: return CKR_DEVICE_ERROR;
    }
}

CK_RV sr_p11_out(const void *src, CK_ULONG n, CK_BYTE_PTR dst, CK_ULONG_PTR dst_len)
{
    if (dst_len == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    if (dst == NULL) {
        *dst_len = n;
        return CKR_OK;
    }
    if (*dst_len < n) {
        *dst_len = n;
        return CKR_BUFFER_TOO_SMALL;
    }
    if (n > 0) {
        memcpy(dst, src, n);
    }
    *dst_len = n;
    return CKR_OK;
}

/* PKCS#11's blank-padded fixed-length strings. */
static void sr_p11_pad(CK_UTF8CHAR *dst, size_t cap, const char *src)
{
    memset(dst, ' ', cap);
    size_t n = strlen(src);
    memcpy(dst, src, n < cap ? n : cap);
}

static CK_RV sr_p11_lib_or_fail(struct sr_p11 **ret)
{
    *ret = sr_p11_get();
    return *ret != NULL ? CKR_OK : CKR_CRYPTOKI_NOT_INITIALIZED;
}

/* The library, for a call about the slot that answers into out. */
static CK_RV sr_p11_slot_call(CK_SLOT_ID slot, const void *out, struct sr_p11 **ret)
{
    CK_RV rv = sr_p11_lib_or_fail(ret);
    return rv != CKR_OK ? rv : out == NULL ? CKR_ARGUMENTS_BAD : slot != SR_P11_SLOT ? CKR_SLOT_ID_INVALID : CKR_OK;
}

struct sr_p11_session *sr_p11_session(struct sr_p11 *p, CK_SESSION_HANDLE h)
{
    return h >= 1 && h <= SR_P11_MAX_SESSIONS && p->sessions[h - 1].open ? &p->sessions[h - 1] : NULL;
}

static bool sr_p11_token_present(struct sr_p11 *p)
{
    return sr_module_require_world(p->module, NULL) == SR_OK;
}

/* --- general --- */

static CK_RV sr_C_Initialize(CK_VOID_PTR args)
{
    if (args != NULL) {
        CK_C_INITIALIZE_ARGS *a = args;
        if (a->pReserved != NULL) {
            return CKR_ARGUMENTS_BAD;
        }
        /* Our own pthread locks serve: the application's callbacks are not needed (CKF_OS_LOCKING_OK). */
        bool some = a->CreateMutex || a->DestroyMutex || a->LockMutex || a->UnlockMutex;
        bool all = a->CreateMutex && a->DestroyMutex && a->LockMutex && a->UnlockMutex;
        if (some && !all) {
            return CKR_ARGUMENTS_BAD;
        }
        if (all && !(a->flags & CKF_OS_LOCKING_OK)) {
            return CKR_CANT_LOCK;
        }
    }
    pthread_mutex_lock(&sr_p11_init_lock);
    CK_RV rv = CKR_OK;
    if (sr_p11_lib != NULL) {
        rv = CKR_CRYPTOKI_ALREADY_INITIALIZED;
    } else if (sr_crypto_init() != SR_OK) {
        rv = CKR_GENERAL_ERROR;
    } else {
        struct sr_p11 *p = calloc(1, sizeof(*p));
        const char *kmdata = getenv("STRONGROOM_KMDATA");
        kmdata = kmdata && *kmdata ? kmdata : "kmdata";
        struct sr_seal_config seal; /* a region module of a data directory opens with that directory's seal */
        if (p == NULL) {
            rv = CKR_HOST_MEMORY;
        } else if (!sr_module_present(kmdata)) {
            free(p);
            rv = CKR_GENERAL_ERROR; /* never a new, empty module where the token's went away (moved, unmounted) */
        } else if (sr_seal_config_of_kmdata(kmdata, &seal) != SR_OK ||
                   sr_module_open_sealed(kmdata, &seal, &p->module) != SR_OK) {
            free(p);
            rv = CKR_GENERAL_ERROR; /* no module there: nothing a slot could show */
        } else {
            pthread_mutex_init(&p->lock, NULL);
            pthread_rwlock_init(&p->module_lock, NULL);
            __atomic_store_n(&sr_p11_lib, p, __ATOMIC_RELEASE);
        }
    }
    pthread_mutex_unlock(&sr_p11_init_lock);
    return rv;
}

static CK_RV sr_C_Finalize(CK_VOID_PTR reserved)
{
    if (reserved != NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    pthread_mutex_lock(&sr_p11_init_lock);
    struct sr_p11 *p = sr_p11_lib;
    __atomic_store_n(&sr_p11_lib, NULL, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&sr_p11_init_lock);
    if (p == NULL) {
        return CKR_CRYPTOKI_NOT_INITIALIZED;
    }
    for (size_t i = 0; i < SR_P11_MAX_SESSIONS; i++) {
        for (size_t k = 0; k < SR_P11_OP_COUNT_; k++) {
            sr_p11_active_release(&p->sessions[i].op[k]);
        }
        free(p->sessions[i].found);
    }
    for (CK_ULONG i = 0; i < p->nobjects; i++) {
        sr_p11_object_release(&p->objects[i]);
    }
    sr_module_free(p->module);
    sr_crypto_cleanup(); /* the library may be unloaded next: nothing of it may stay referenced */
    pthread_rwlock_destroy(&p->module_lock);
    pthread_mutex_destroy(&p->lock);
    free(p);
    return CKR_OK;
}

static CK_RV sr_C_GetInfo(CK_INFO_PTR info)
{
    struct sr_p11 *p = NULL;
    CK_RV rv = sr_p11_lib_or_fail(&p);
    if (rv != CKR_OK || info == NULL) {
        return rv != CKR_OK ? rv : CKR_ARGUMENTS_BAD;
    }
    memset(info, 0, sizeof(*info));
    info->cryptokiVersion.major = 2;
    info->cryptokiVersion.minor = 40;
    sr_p11_pad(info->manufacturerID, sizeof(info->manufacturerID), "Strongroom");
    sr_p11_pad(info->libraryDescription, sizeof(info->libraryDescription), "Strongroom software HSM");
    info->libraryVersion.major = 1;
    info->libraryVersion.minor = 0;
    return CKR_OK;
}

/* --- slots and tokens --- */

static CK_RV sr_C_GetSlotList(CK_BBOOL token_present, CK_SLOT_ID_PTR list, CK_ULONG_PTR count)
{
    struct sr_p11 *p = NULL;
    CK_RV rv = sr_p11_lib_or_fail(&p);
    if (rv != CKR_OK || count == NULL) {
        return rv != CKR_OK ? rv : CKR_ARGUMENTS_BAD;
    }
    pthread_rwlock_rdlock(&p->module_lock);
    CK_ULONG n = !token_present || sr_p11_token_present(p) ? 1 : 0;
    pthread_rwlock_unlock(&p->module_lock);
    if (list != NULL && *count < n) {
        *count = n;
        return CKR_BUFFER_TOO_SMALL;
    }
    if (list != NULL && n == 1) {
        list[0] = SR_P11_SLOT;
    }
    *count = n;
    return CKR_OK;
}

static CK_RV sr_C_GetSlotInfo(CK_SLOT_ID slot, CK_SLOT_INFO_PTR info)
{
    struct sr_p11 *p = NULL;
    CK_RV rv = sr_p11_slot_call(slot, info, &p);
    if (rv != CKR_OK) {
        return rv;
    }
    memset(info, 0, sizeof(*info));
    char desc[128];
    snprintf(desc, sizeof(desc), "Strongroom module %s", sr_module_esn(p->module));
    sr_p11_pad(info->slotDescription, sizeof(info->slotDescription), desc);
    sr_p11_pad(info->manufacturerID, sizeof(info->manufacturerID), "Strongroom");
    pthread_rwlock_rdlock(&p->module_lock);
    info->flags = CKF_REMOVABLE_DEVICE | (sr_p11_token_present(p) ? CKF_TOKEN_PRESENT : 0);
    pthread_rwlock_unlock(&p->module_lock);
    info->hardwareVersion.major = 1;
    info->firmwareVersion.major = 1;
    return CKR_OK;
}

static CK_RV sr_C_GetTokenInfo(CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info)
{
    struct sr_p11 *p = NULL;
    CK_RV rv = sr_p11_slot_call(slot, info, &p);
    if (rv != CKR_OK) {
        return rv;
    }
    struct sr_world_info world;
    pthread_rwlock_rdlock(&p->module_lock);
    enum sr_err r = sr_module_require_world(p->module, &world);
    bool pin = sr_module_user_pin_set(p->module);
    unsigned failures = 0, max_tries = SR_DEFAULT_PIN_TRIES;
    if (pin && sr_module_user_pin_state(p->module, &failures, &max_tries) != SR_OK) {
        failures = 0;
    }
    pthread_rwlock_unlock(&p->module_lock);
    if (r != SR_OK) {
        return CKR_TOKEN_NOT_PRESENT;
    }
    memset(info, 0, sizeof(*info));
    char label[64];
    snprintf(label, sizeof(label), "strongroom-%.16s", world.id);
    sr_p11_pad(info->label, sizeof(info->label), label);
    sr_p11_pad(info->manufacturerID, sizeof(info->manufacturerID), "Strongroom");
    sr_p11_pad(info->model, sizeof(info->model), "software HSM");
    sr_p11_pad((CK_UTF8CHAR *)info->serialNumber, sizeof(info->serialNumber), sr_module_esn(p->module));
    info->flags = CKF_RNG | CKF_LOGIN_REQUIRED | CKF_TOKEN_INITIALIZED | (pin ? CKF_USER_PIN_INITIALIZED : 0);
    /* PKCS#11 2.40 §4.2 (CK_TOKEN_INFO): a wrong PIN since the last right one, the last try left, locked. */
    info->flags |= (failures > 0 ? CKF_USER_PIN_COUNT_LOW : 0) |
                   (failures + 1 == max_tries ? CKF_USER_PIN_FINAL_TRY : 0) |
                   (failures >= max_tries ? CKF_USER_PIN_LOCKED : 0);
    info->ulMaxSessionCount = SR_P11_MAX_SESSIONS;
    info->ulMaxRwSessionCount = SR_P11_MAX_SESSIONS;
    info->ulSessionCount = CK_UNAVAILABLE_INFORMATION;
    info->ulRwSessionCount = CK_UNAVAILABLE_INFORMATION;
    info->ulMaxPinLen = SR_MAX_USER_PIN;
    info->ulMinPinLen = SR_MIN_USER_PIN;
    info->ulTotalPublicMemory = info->ulFreePublicMemory = CK_UNAVAILABLE_INFORMATION;
    info->ulTotalPrivateMemory = info->ulFreePrivateMemory = CK_UNAVAILABLE_INFORMATION;
    info->hardwareVersion.major = 1;
    info->firmwareVersion.major = 1;
    return CKR_OK;
}

/* --- mechanisms --- */

#define SR_RSA_SIZES 2048, 4096
#define SR_EC_FLAGS (CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS)

static const struct {
    CK_MECHANISM_TYPE type;
    CK_MECHANISM_INFO info;
} sr_p11_mechs[] = {
    {CKM_RSA_PKCS_KEY_PAIR_GEN, {SR_RSA_SIZES, CKF_HW | CKF_GENERATE_KEY_PAIR}},
    {CKM_EC_KEY_PAIR_GEN, {256, 521, CKF_HW | CKF_GENERATE_KEY_PAIR | SR_EC_FLAGS}},
    {CKM_AES_KEY_GEN, {16, 32, CKF_HW | CKF_GENERATE}},
    {CKM_ECDH1_DERIVE, {256, 521, CKF_HW | CKF_DERIVE | SR_EC_FLAGS}},
    {CKM_GENERIC_SECRET_KEY_GEN, {SR_GENERIC_MIN_BITS / 8, SR_GENERIC_MAX_BITS / 8, CKF_HW | CKF_GENERATE}},
    /* Encryption, never decryption: OpenSSL 3.0 has no implicit rejection, so PKCS#1 v1.5 decryption would be
     * a padding oracle (Bleichenbacher, Marvin). */
    {CKM_RSA_PKCS, {SR_RSA_SIZES, CKF_HW | CKF_SIGN | CKF_VERIFY | CKF_ENCRYPT}},
    {CKM_SHA1_RSA_PKCS, {SR_RSA_SIZES, CKF_HW | CKF_VERIFY}}, /* old signatures: verified, never made */
    {CKM_SHA224_RSA_PKCS, {SR_RSA_SIZES, CKF_HW | CKF_SIGN | CKF_VERIFY}},
    {CKM_SHA256_RSA_PKCS, {SR_RSA_SIZES, CKF_HW | CKF_SIGN | CKF_VERIFY}},
    {CKM_SHA384_RSA_PKCS, {SR_RSA_SIZES, CKF_HW | CKF_SIGN | CKF_VERIFY}},
    {CKM_SHA512_RSA_PKCS, {SR_RSA_SIZES, CKF_HW | CKF_SIGN | CKF_VERIFY}},
    {CKM_RSA_PKCS_PSS, {SR_RSA_SIZES, CKF_HW | CKF_SIGN | CKF_VERIFY}},
    {CKM_SHA1_RSA_PKCS_PSS, {SR_RSA_SIZES, CKF_HW | CKF_VERIFY}},
    {CKM_SHA224_RSA_PKCS_PSS, {SR_RSA_SIZES, CKF_HW | CKF_SIGN | CKF_VERIFY}},
    {CKM_SHA256_RSA_PKCS_PSS, {SR_RSA_SIZES, CKF_HW | CKF_SIGN | CKF_VERIFY}},
    {CKM_SHA384_RSA_PKCS_PSS, {SR_RSA_SIZES, CKF_HW | CKF_SIGN | CKF_VERIFY}},
    {CKM_SHA512_RSA_PKCS_PSS, {SR_RSA_SIZES, CKF_HW | CKF_SIGN | CKF_VERIFY}},
    {CKM_RSA_PKCS_OAEP, {SR_RSA_SIZES, CKF_HW | CKF_ENCRYPT | CKF_DECRYPT}},
    {CKM_ECDSA, {256, 521, CKF_HW | CKF_SIGN | CKF_VERIFY | SR_EC_FLAGS}},
    {CKM_ECDSA_SHA256, {256, 521, CKF_HW | CKF_SIGN | CKF_VERIFY | SR_EC_FLAGS}},
    {CKM_ECDSA_SHA384, {256, 521, CKF_HW | CKF_SIGN | CKF_VERIFY | SR_EC_FLAGS}},
    {CKM_ECDSA_SHA512, {256, 521, CKF_HW | CKF_SIGN | CKF_VERIFY | SR_EC_FLAGS}},
    {CKM_AES_GCM, {16, 32, CKF_HW | CKF_ENCRYPT | CKF_DECRYPT}},
    {CKM_AES_CBC_PAD, {16, 32, CKF_HW | CKF_ENCRYPT | CKF_DECRYPT}},
    {CKM_AES_CBC, {16, 32, CKF_HW | CKF_ENCRYPT | CKF_DECRYPT}},
    {CKM_AES_ECB, {16, 32, CKF_HW | CKF_ENCRYPT | CKF_DECRYPT}},
    {CKM_AES_CTR, {16, 32, CKF_HW | CKF_ENCRYPT | CKF_DECRYPT}},
    {CKM_AES_KEY_WRAP, {16, 32, CKF_HW | CKF_ENCRYPT | CKF_DECRYPT}},
    {CKM_AES_KEY_WRAP_PAD, {16, 32, CKF_HW | CKF_ENCRYPT | CKF_DECRYPT}},
    {CKM_RSA_AES_KEY_WRAP, {SR_RSA_SIZES, CKF_HW | CKF_WRAP | CKF_UNWRAP}},
    {CKM_AES_CMAC, {16, 32, CKF_HW | CKF_SIGN | CKF_VERIFY}},
    {CKM_SHA_1_HMAC, {SR_GENERIC_MIN_BITS / 8, SR_GENERIC_MAX_BITS / 8, CKF_HW | CKF_SIGN | CKF_VERIFY}},
    {CKM_SHA224_HMAC, {SR_GENERIC_MIN_BITS / 8, SR_GENERIC_MAX_BITS / 8, CKF_HW | CKF_SIGN | CKF_VERIFY}},
    {CKM_SHA256_HMAC, {SR_GENERIC_MIN_BITS / 8, SR_GENERIC_MAX_BITS / 8, CKF_HW | CKF_SIGN | CKF_VERIFY}},
    {CKM_SHA384_HMAC, {SR_GENERIC_MIN_BITS / 8, SR_GENERIC_MAX_BITS / 8, CKF_HW | CKF_SIGN | CKF_VERIFY}},
    {CKM_SHA512_HMAC, {SR_GENERIC_MIN_BITS / 8, SR_GENERIC_MAX_BITS / 8, CKF_HW | CKF_SIGN | CKF_VERIFY}},
    {CKM_SHA_1, {0, 0, CKF_HW | CKF_DIGEST}},
    {CKM_SHA224, {0, 0, CKF_HW | CKF_DIGEST}},
    {CKM_SHA256, {0, 0, CKF_HW | CKF_DIGEST}},
    {CKM_SHA384, {0, 0, CKF_HW | CKF_DIGEST}},
    {CKM_SHA512, {0, 0, CKF_HW | CKF_DIGEST}},
};

bool sr_p11_mechanism_flags(CK_MECHANISM_TYPE type, CK_FLAGS *ret)
{
    for (size_t i = 0; i < SR_ARRAY_LEN(sr_p11_mechs); i++) {
        if (sr_p11_mechs[i].type == type) {
            *ret = sr_p11_mechs[i].info.flags;
            return true;
        }
    }
    return false;
}

static CK_RV sr_C_GetMechanismList(CK_SLOT_ID slot, CK_MECHANISM_TYPE_PTR list, CK_ULONG_PTR count)
{
    struct sr_p11 *p = NULL;
    CK_RV rv = sr_p11_slot_call(slot, count, &p);
    if (rv != CKR_OK) {
        return rv;
    }
    CK_ULONG n = SR_ARRAY_LEN(sr_p11_mechs);
    if (list != NULL && *count < n) {
        *count = n;
        return CKR_BUFFER_TOO_SMALL;
    }
    for (CK_ULONG i = 0; list != NULL && i < n; i++) {
        list[i] = sr_p11_mechs[i].type;
    }
    *count = n;
    return CKR_OK;
}

static CK_RV sr_C_GetMechanismInfo(CK_SLOT_ID slot, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR info)
{
    struct sr_p11 *p = NULL;
    CK_RV rv = sr_p11_slot_call(slot, info, &p);
    if (rv != CKR_OK) {
        return rv;
    }
    for (size_t i = 0; i < SR_ARRAY_LEN(sr_p11_mechs); i++) {
        if (sr_p11_mechs[i].type == type) {
            *info = sr_p11_mechs[i].info;
            return CKR_OK;
        }
    }
    return CKR_MECHANISM_INVALID;
}

/* The token's PINs are set by the operator, not through the token. */
static CK_RV sr_C_InitToken(CK_SLOT_ID slot, CK_UTF8CHAR_PTR pin, CK_ULONG len, CK_UTF8CHAR_PTR label)
{
    (void)slot, (void)pin, (void)len, (void)label;
    return sr_p11_get() == NULL ? CKR_CRYPTOKI_NOT_INITIALIZED : CKR_FUNCTION_NOT_SUPPORTED;
}

/* --- sessions --- */

static CK_RV sr_C_OpenSession(CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app, CK_NOTIFY notify,
                              CK_SESSION_HANDLE_PTR ret)
{
    (void)app, (void)notify;
    struct sr_p11 *p = NULL;
    CK_RV rv = sr_p11_lib_or_fail(&p);
    if (rv != CKR_OK || ret == NULL) {
        return rv != CKR_OK ? rv : CKR_ARGUMENTS_BAD;
    }
    if (slot != SR_P11_SLOT) {
        return CKR_SLOT_ID_INVALID;
    }
    if (!(flags & CKF_SERIAL_SESSION)) {
        return CKR_SESSION_PARALLEL_NOT_SUPPORTED;
    }
    pthread_rwlock_rdlock(&p->module_lock);
    bool present = sr_p11_token_present(p);
    pthread_rwlock_unlock(&p->module_lock);
    if (!present) {
        return CKR_TOKEN_NOT_PRESENT;
    }
    pthread_mutex_lock(&p->lock);
    /* §5.6 (C_OpenSession): while the SO is logged in, every session is read/write. */
    rv = p->so && !(flags & CKF_RW_SESSION) ? CKR_SESSION_READ_WRITE_SO_EXISTS : CKR_SESSION_COUNT;
    for (size_t i = 0; rv == CKR_SESSION_COUNT && i < SR_P11_MAX_SESSIONS; i++) {
        if (!p->sessions[i].open) {
            struct sr_p11_session *s = &p->sessions[i];
            memset(s->active, 0, sizeof(s->active));
            s->open = true;
            s->flags = flags;
            *ret = i + 1;
            rv = CKR_OK;
            break;
        }
    }
    pthread_mutex_unlock(&p->lock);
    return rv;
}

static void sr_p11_session_close(struct sr_p11_session *s)
{
    for (size_t k = 0; k < SR_P11_OP_COUNT_; k++) {
        sr_p11_active_release(&s->op[k]);
        s->active[k] = false;
    }
    free(s->found);
    s->found = NULL;
    s->nfound = s->given = 0;
    s->open = false;
}

static bool sr_p11_any_session(const struct sr_p11 *p)
{
    for (size_t i = 0; i < SR_P11_MAX_SESSIONS; i++) {
        if (p->sessions[i].open) {
            return true;
        }
    }
    return false;
}

static CK_RV sr_C_CloseSession(CK_SESSION_HANDLE h)
{
    SR_P11_SESSION_BEGIN(p, h, s);
    if (s != NULL) {
        sr_p11_session_close(s);
        sr_p11_drop_session_objects(p, h); /* §4.4: a session object lives as long as its session */
        if (!sr_p11_any_session(p)) {
            p->user = p->so = false; /* PKCS#11: the login ends with the last session */
        }
    }
    SR_P11_SESSION_END(p);
}

static CK_RV sr_C_CloseAllSessions(CK_SLOT_ID slot)
{
    struct sr_p11 *p = NULL;
    CK_RV rv = sr_p11_lib_or_fail(&p);
    if (rv != CKR_OK || slot != SR_P11_SLOT) {
        return rv != CKR_OK ? rv : CKR_SLOT_ID_INVALID;
    }
    pthread_mutex_lock(&p->lock);
    for (size_t i = 0; i < SR_P11_MAX_SESSIONS; i++) {
        if (p->sessions[i].open) {
            sr_p11_session_close(&p->sessions[i]);
        }
    }
    sr_p11_drop_session_objects(p, 0);
    p->user = p->so = false;
    pthread_mutex_unlock(&p->lock);
    return CKR_OK;
}

static CK_RV sr_C_GetSessionInfo(CK_SESSION_HANDLE h, CK_SESSION_INFO_PTR info)
{
    SR_P11_SESSION_BEGIN(p, h, s);
    rv = rv == CKR_OK && info == NULL ? CKR_ARGUMENTS_BAD : rv;
    if (rv == CKR_OK) {
        bool rw = (s->flags & CKF_RW_SESSION) != 0;
        info->slotID = SR_P11_SLOT;
        info->flags = s->flags;
        info->ulDeviceError = 0;
        info->state = p->so ? CKS_RW_SO_FUNCTIONS
                      : p->user ? (rw ? CKS_RW_USER_FUNCTIONS : CKS_RO_USER_FUNCTIONS)
                                : (rw ? CKS_RW_PUBLIC_SESSION : CKS_RO_PUBLIC_SESSION);
    }
    SR_P11_SESSION_END(p);
}

/* "CARD:PIN,CARD:PIN": the administrator cards of the world and their PINs, a quorum of them. */
static CK_RV sr_p11_so_login(struct sr_p11 *p, const char *text)
{
    unsigned cards[SR_MAX_CARDS];
    unsigned n = 0;
    struct sr_pins pins = {0};
    SR_AUTO_FREE char *copy = strdup(text);
    if (copy == NULL) {
        return CKR_HOST_MEMORY;
    }
    CK_RV rv = CKR_OK;
    for (char *save = NULL, *part = strtok_r(copy, ",", &save); part != NULL && rv == CKR_OK;
         part = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(part, ':');
        char *end = NULL;
        unsigned long card = colon ? strtoul(part, &end, 10) : 0;
        if (colon == NULL || end != colon || card < 1 || card > SR_MAX_CARDS || n == SR_MAX_CARDS ||
            pins.pin[card - 1] != NULL) {
            rv = CKR_PIN_INCORRECT;
            break;
        }
        cards[n++] = (unsigned)card;
        pins.pin[card - 1] = strdup(colon + 1);
        rv = pins.pin[card - 1] != NULL ? CKR_OK : CKR_HOST_MEMORY;
    }
    if (rv == CKR_OK) {
        rv = n == 0 ? CKR_PIN_INCORRECT : sr_p11_rv(sr_world_check_quorum(p->module, NULL, cards, n, &pins));
    }
    sr_pins_release(&pins);
    OPENSSL_cleanse(copy, strlen(text));
    return rv == CKR_OK || rv == CKR_HOST_MEMORY ? rv : CKR_PIN_INCORRECT;
}

CK_RV sr_C_Login(CK_SESSION_HANDLE h, CK_USER_TYPE who, CK_UTF8CHAR_PTR pin, CK_ULONG len)
{
    struct sr_p11 *p = NULL;
    CK_RV rv = sr_p11_lib_or_fail(&p);
    if (rv != CKR_OK) {
        return rv;
    }
    if (who != CKU_USER && who != CKU_SO) {
        return who == CKU_CONTEXT_SPECIFIC ? CKR_OPERATION_NOT_INITIALIZED : CKR_USER_TYPE_INVALID;
    }
    if (pin == NULL || len > 4096) {
        return CKR_ARGUMENTS_BAD;
    }
    pthread_mutex_lock(&p->lock);
    struct sr_p11_session *s = sr_p11_session(p, h);
    rv = s == NULL ? CKR_SESSION_HANDLE_INVALID
         : p->user || p->so ? ((who == CKU_USER) == p->user ? CKR_USER_ALREADY_LOGGED_IN
                                                              : CKR_USER_ANOTHER_ALREADY_LOGGED_IN)
                            : CKR_OK;
    bool ro = false;
    for (size_t i = 0; rv == CKR_OK && i < SR_P11_MAX_SESSIONS; i++) {
        ro = ro || (p->sessions[i].open && !(p->sessions[i].flags & CKF_RW_SESSION));
    }
    pthread_mutex_unlock(&p->lock);
    if (rv != CKR_OK) {
        return rv;
    }
    if (who == CKU_SO && ro) {
        return CKR_SESSION_READ_ONLY_EXISTS;
    }
    SR_AUTO_FREE char *text = strndup((const char *)pin, len);
    if (text == NULL) {
        return CKR_HOST_MEMORY;
    }
    pthread_rwlock_wrlock(&p->module_lock);
    if (who == CKU_USER) {
        rv = !sr_module_user_pin_set(p->module) ? CKR_USER_PIN_NOT_INITIALIZED
                                                 : sr_p11_rv(sr_module_check_user_pin(p->module, text, len));
    } else {
        rv = sr_p11_so_login(p, text);
    }
    pthread_rwlock_unlock(&p->module_lock);
    OPENSSL_cleanse(text, len);
    if (rv == CKR_OK) {
        pthread_mutex_lock(&p->lock);
        p->user = who == CKU_USER;
        p->so = who == CKU_SO;
        pthread_mutex_unlock(&p->lock);
    }
    return rv;
}

static CK_RV sr_C_Logout(CK_SESSION_HANDLE h)
{
    SR_P11_SESSION_BEGIN(p, h, s);
    rv = rv == CKR_OK && !p->user && !p->so ? CKR_USER_NOT_LOGGED_IN : rv;
    if (rv == CKR_OK) {
        p->user = p->so = false;
        sr_p11_logout_objects(p);
    }
    SR_P11_SESSION_END(p);
}

/* C_InitPIN (by the security officer) sets the user PIN; C_SetPIN changes it (by the user). */
static CK_RV sr_p11_set_pin(CK_SESSION_HANDLE h, bool need_so, CK_UTF8CHAR_PTR pin, CK_ULONG len)
{
    struct sr_p11 *p = NULL;
    CK_RV rv = sr_p11_lib_or_fail(&p);
    if (rv != CKR_OK) {
        return rv;
    }
    pthread_mutex_lock(&p->lock);
    struct sr_p11_session *s = sr_p11_session(p, h);
    rv = s == NULL                                ? CKR_SESSION_HANDLE_INVALID
         : !(s->flags & CKF_RW_SESSION)           ? CKR_SESSION_READ_ONLY
         : need_so ? (p->so ? CKR_OK : CKR_USER_NOT_LOGGED_IN)
                   : (p->user ? CKR_OK : CKR_USER_NOT_LOGGED_IN);
    pthread_mutex_unlock(&p->lock);
    if (rv != CKR_OK) {
        return rv;
    }
    if (pin == NULL || len < SR_MIN_USER_PIN || len > SR_MAX_USER_PIN) {
        return CKR_PIN_LEN_RANGE;
    }
    pthread_rwlock_wrlock(&p->module_lock);
    rv = sr_p11_rv(sr_module_set_user_pin(p->module, (const char *)pin, len));
    pthread_rwlock_unlock(&p->module_lock);
    return rv;
}

static CK_RV sr_C_InitPIN(CK_SESSION_HANDLE h, CK_UTF8CHAR_PTR pin, CK_ULONG len)
{
    return sr_p11_set_pin(h, true, pin, len);
}

static CK_RV sr_C_SetPIN(CK_SESSION_HANDLE h, CK_UTF8CHAR_PTR old, CK_ULONG old_len, CK_UTF8CHAR_PTR pin,
                         CK_ULONG len)
{
    struct sr_p11 *p = sr_p11_get();
    if (p == NULL) {
        return CKR_CRYPTOKI_NOT_INITIALIZED;
    }
    if (old == NULL || old_len > SR_MAX_USER_PIN) {
        return CKR_PIN_INCORRECT;
    }
    char text[SR_MAX_USER_PIN + 1];
    memcpy(text, old, old_len);
    text[old_len] = 0;
    pthread_rwlock_wrlock(&p->module_lock); /* a wrong PIN is counted in the module's file */
    CK_RV rv = sr_p11_rv(sr_module_check_user_pin(p->module, text, old_len));
    pthread_rwlock_unlock(&p->module_lock);
    OPENSSL_cleanse(text, sizeof(text));
    return rv != CKR_OK ? rv : sr_p11_set_pin(h, false, pin, len);
}

/* --- random --- */

static CK_RV sr_C_GenerateRandom(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG len)
{
    SR_P11_SESSION_BEGIN(p, h, s);
    rv = rv == CKR_OK && out == NULL && len > 0 ? CKR_ARGUMENTS_BAD : rv;
    if (rv == CKR_OK && len > 0) {
        rv = sr_p11_rv(sr_rand_bytes(out, len));
    }
    SR_P11_SESSION_END(p);
}

/* PKCS#11 2.40 §5.1: the session is checked before what the function does. */
static CK_RV sr_C_SeedRandom(CK_SESSION_HANDLE h, CK_BYTE_PTR seed, CK_ULONG len)
{
    SR_P11_SESSION_BEGIN(p, h, s);
    rv = rv == CKR_OK && seed == NULL && len > 0 ? CKR_ARGUMENTS_BAD : rv;
    rv = rv == CKR_OK ? CKR_RANDOM_SEED_NOT_SUPPORTED : rv; /* OpenSSL's generator seeds itself */
    SR_P11_SESSION_END(p);
}

/* --- what this token does not do --- */

#define SR_P11_UNSUPPORTED(name, ...)                                                                          \
    static CK_RV sr_##name(__VA_ARGS__)                                                                          \
    {                                                                                                            \
        return sr_p11_get() == NULL ? CKR_CRYPTOKI_NOT_INITIALIZED : CKR_FUNCTION_NOT_SUPPORTED;                \
    }

/* The same for a function of a session: a bad handle is CKR_SESSION_HANDLE_INVALID first (§5.1). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter" /* these take their arguments only to refuse them */
SR_P11_UNSUPPORTED_S(C_GetOperationState, CK_BYTE_PTR st, CK_ULONG_PTR n)
SR_P11_UNSUPPORTED_S(C_SetOperationState, CK_BYTE_PTR st, CK_ULONG n, CK_OBJECT_HANDLE e, CK_OBJECT_HANDLE a)
SR_P11_UNSUPPORTED_S(C_SignRecoverInit, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
SR_P11_UNSUPPORTED_S(C_SignRecover, CK_BYTE_PTR d, CK_ULONG n, CK_BYTE_PTR sg, CK_ULONG_PTR sn)
SR_P11_UNSUPPORTED_S(C_VerifyRecoverInit, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
SR_P11_UNSUPPORTED_S(C_VerifyRecover, CK_BYTE_PTR sg, CK_ULONG n, CK_BYTE_PTR d, CK_ULONG_PTR dn)
SR_P11_UNSUPPORTED_S(C_DigestEncryptUpdate, CK_BYTE_PTR a, CK_ULONG an, CK_BYTE_PTR b, CK_ULONG_PTR bn)
SR_P11_UNSUPPORTED_S(C_DecryptDigestUpdate, CK_BYTE_PTR a, CK_ULONG an, CK_BYTE_PTR b, CK_ULONG_PTR bn)
SR_P11_UNSUPPORTED_S(C_SignEncryptUpdate, CK_BYTE_PTR a, CK_ULONG an, CK_BYTE_PTR b, CK_ULONG_PTR bn)
SR_P11_UNSUPPORTED_S(C_DecryptVerifyUpdate, CK_BYTE_PTR a, CK_ULONG an, CK_BYTE_PTR b, CK_ULONG_PTR bn)
SR_P11_UNSUPPORTED(C_WaitForSlotEvent, CK_FLAGS f, CK_SLOT_ID_PTR s, CK_VOID_PTR r)
#pragma GCC diagnostic pop

static CK_RV sr_C_GetFunctionStatus(CK_SESSION_HANDLE h)
{
    (void)h;
    return sr_p11_get() == NULL ? CKR_CRYPTOKI_NOT_INITIALIZED : CKR_FUNCTION_NOT_PARALLEL;
}

static CK_RV sr_C_CancelFunction(CK_SESSION_HANDLE h)
{
    (void)h;
    return sr_p11_get() == NULL ? CKR_CRYPTOKI_NOT_INITIALIZED : CKR_FUNCTION_NOT_PARALLEL;
}

static CK_RV sr_C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ret);

#define SR_P11_FN(name) .name = sr_##name
/* The 2.40 functions, in CK_FUNCTION_LIST's order: both lists begin with them. */
#define SR_P11_FUNCTIONS_2_40 \
    SR_P11_FN(C_Initialize), SR_P11_FN(C_Finalize), SR_P11_FN(C_GetInfo), SR_P11_FN(C_GetFunctionList), \
    SR_P11_FN(C_GetSlotList), SR_P11_FN(C_GetSlotInfo), SR_P11_FN(C_GetTokenInfo), SR_P11_FN(C_GetMechanismList), \
    SR_P11_FN(C_GetMechanismInfo), SR_P11_FN(C_InitToken), SR_P11_FN(C_InitPIN), SR_P11_FN(C_SetPIN), \
    SR_P11_FN(C_OpenSession), SR_P11_FN(C_CloseSession), SR_P11_FN(C_CloseAllSessions), \
    SR_P11_FN(C_GetSessionInfo), SR_P11_FN(C_GetOperationState), SR_P11_FN(C_SetOperationState), \
    SR_P11_FN(C_Login), SR_P11_FN(C_Logout), SR_P11_FN(C_CreateObject), SR_P11_FN(C_CopyObject), \
    SR_P11_FN(C_DestroyObject), SR_P11_FN(C_GetObjectSize), SR_P11_FN(C_GetAttributeValue), \
    SR_P11_FN(C_SetAttributeValue), SR_P11_FN(C_FindObjectsInit), SR_P11_FN(C_FindObjects), \
    SR_P11_FN(C_FindObjectsFinal), SR_P11_FN(C_EncryptInit), SR_P11_FN(C_Encrypt), SR_P11_FN(C_EncryptUpdate), \
    SR_P11_FN(C_EncryptFinal), SR_P11_FN(C_DecryptInit), SR_P11_FN(C_Decrypt), SR_P11_FN(C_DecryptUpdate), \
    SR_P11_FN(C_DecryptFinal), SR_P11_FN(C_DigestInit), SR_P11_FN(C_Digest), SR_P11_FN(C_DigestUpdate), \
    SR_P11_FN(C_DigestKey), SR_P11_FN(C_DigestFinal), SR_P11_FN(C_SignInit), SR_P11_FN(C_Sign), \
    SR_P11_FN(C_SignUpdate), SR_P11_FN(C_SignFinal), SR_P11_FN(C_SignRecoverInit), SR_P11_FN(C_SignRecover), \
    SR_P11_FN(C_VerifyInit), SR_P11_FN(C_Verify), SR_P11_FN(C_VerifyUpdate), SR_P11_FN(C_VerifyFinal), \
    SR_P11_FN(C_VerifyRecoverInit), SR_P11_FN(C_VerifyRecover), SR_P11_FN(C_DigestEncryptUpdate), \
    SR_P11_FN(C_DecryptDigestUpdate), SR_P11_FN(C_SignEncryptUpdate), SR_P11_FN(C_DecryptVerifyUpdate), \
    SR_P11_FN(C_GenerateKey), SR_P11_FN(C_GenerateKeyPair), SR_P11_FN(C_WrapKey), SR_P11_FN(C_UnwrapKey), \
    SR_P11_FN(C_DeriveKey), SR_P11_FN(C_SeedRandom), SR_P11_FN(C_GenerateRandom), \
    SR_P11_FN(C_GetFunctionStatus), SR_P11_FN(C_CancelFunction), SR_P11_FN(C_WaitForSlotEvent)

CK_FUNCTION_LIST sr_p11_functions_2_40 = {.version = {2, 40}, SR_P11_FUNCTIONS_2_40};

/* PKCS#11 3.0's list (p11v3.h): the same functions, then 3.0's (p11v3.c). */
struct sr_ck_function_list_3_0 sr_p11_functions_3_0 = {
    .v2 = {.version = {3, 0}, SR_P11_FUNCTIONS_2_40},
    SR_P11_FN(C_GetInterfaceList), SR_P11_FN(C_GetInterface), SR_P11_FN(C_LoginUser), SR_P11_FN(C_SessionCancel),
    SR_P11_FN(C_MessageEncryptInit), SR_P11_FN(C_EncryptMessage), SR_P11_FN(C_EncryptMessageBegin),
    SR_P11_FN(C_EncryptMessageNext), SR_P11_FN(C_MessageEncryptFinal), SR_P11_FN(C_MessageDecryptInit),
    SR_P11_FN(C_DecryptMessage), SR_P11_FN(C_DecryptMessageBegin), SR_P11_FN(C_DecryptMessageNext),
    SR_P11_FN(C_MessageDecryptFinal), SR_P11_FN(C_MessageSignInit), SR_P11_FN(C_SignMessage),
    SR_P11_FN(C_SignMessageBegin), SR_P11_FN(C_SignMessageNext), SR_P11_FN(C_MessageSignFinal),
    SR_P11_FN(C_MessageVerifyInit), SR_P11_FN(C_VerifyMessage), SR_P11_FN(C_VerifyMessageBegin),
    SR_P11_FN(C_VerifyMessageNext), SR_P11_FN(C_MessageVerifyFinal),
};
#undef SR_P11_FN

static CK_RV sr_C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ret)
{
    if (ret == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    *ret = &sr_p11_functions_2_40;
    return CKR_OK;
}

/* The one exported symbol every PKCS#11 application looks up. */
SR_P11_EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ret);
CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ret)
{
    return sr_C_GetFunctionList(ret);
}
