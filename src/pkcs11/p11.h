/*
 * p11.h - what the files of the PKCS#11 library share (pkcs11/ sits beside cli/ on top of hsm/): the one
 * library instance, its objects and its sessions.
 *
 * Objects are the module's key files: a key pair's file is two objects (private and public), an AES key's
 * one (secret). Token objects are read from kmdata/local when a search starts; a session object's file is
 * made by the module as any other but kept only here, in memory, until its session ends. Every key
 * operation goes through hsm/ with the file's bytes: no clear key exists here.
 *
 * Include <p11-kit/pkcs11.h> (through this header) before any other: in its compatible mode it renames
 * lower-case names (value, count, iv_len ...) by macro, so every header must see the same renaming.
 */
#ifndef SR_PKCS11_P11_H
#define SR_PKCS11_P11_H

#include <p11-kit/pkcs11.h>

#include <pthread.h>
#include <stdbool.h>

#include "base/buf.h"
#include "hsm/appobject.h"
#include "hsm/module.h"
#include "hsm/p11token.h"

#define SR_P11_SLOT 0
#define SR_P11_MAX_SESSIONS 256
#define SR_P11_MAX_OBJECTS 4096
#define SR_P11_MAX_ID 32 /* CKA_ID bytes of a key made here: its ident is their hex */
#define SR_P11_APP "pkcs11"
#define SR_P11_TRUST_APP "trust" /* the objects of local/trust_<ident>: not key files */
#define SR_P11_OBJECT_APP "object" /* the objects of local/object_<ident> (hsm/appobject.h) */

struct sr_p11_object {
    bool live;
    CK_ULONG generation;       /* how often this slot was reused: part of the handle, so that the handle of a
                                * destroyed object never names the next one */
    CK_SESSION_HANDLE session; /* a session object (CKA_TOKEN false): the session that made it; 0: a token object */
    bool priv;                 /* CKA_PRIVATE: seen and used only while the user is logged in */
    CK_OBJECT_HANDLE pair;     /* a session key pair's other half, which goes with it (as a token pair's file) */
    CK_OBJECT_CLASS cls;    /* CKO_PRIVATE_KEY, CKO_PUBLIC_KEY, CKO_SECRET_KEY or CKO_DATA */
    char app[32];
    char ident[SR_MAX_IDENT + 1];
    struct sr_key_info info; /* the key file's header, authenticated under the loaded world */
    struct sr_buf file;      /* the key file's bytes (sealed: no secret in clear); a data object's value */
    EVP_PKEY *pub;           /* RSA and EC: the public half */
    bool trusted;            /* a wrapping key the security officer trusts (local/trust_<ident>) */
    bool created;            /* a data object or public key an application stored (C_CreateObject) */
    struct sr_appobject stored; /* then: its attributes */
};

enum sr_p11_op { SR_P11_OP_NONE, SR_P11_OP_SIGN, SR_P11_OP_VERIFY, SR_P11_OP_ENCRYPT, SR_P11_OP_DECRYPT,
                 SR_P11_OP_DIGEST, SR_P11_OP_FIND, SR_P11_OP_COUNT_ };

/* One operation in progress per kind, as PKCS#11 allows: its mechanism, its key (copied at *Init, so that
 * the operation runs without the library's lock), and the data of a multi-part call. */
struct sr_p11_active {
    CK_MECHANISM_TYPE mech;
    CK_ULONG hash;          /* PSS and OAEP: the hash mechanism of the parameters */
    struct sr_p11_object key; /* a copy: file bytes, info and a reference to pub */
    struct sr_buf data;
    struct sr_buf iv, aad;  /* AES: the mechanism's parameters */
    CK_ULONG tag_bits;
    bool multipart;         /* an *Update came: only *Final ends it (C_Sign and the like: CKR_OPERATION_ACTIVE) */
    EVP_MD_CTX *digest;     /* a digest that took a key (C_DigestKey) goes on in steps, not from data */
};

struct sr_p11_session {
    bool open;
    CK_FLAGS flags;
    bool active[SR_P11_OP_COUNT_];
    struct sr_p11_active op[SR_P11_OP_COUNT_];
    CK_OBJECT_HANDLE *found; /* C_FindObjects: the matches, and how many were handed out */
    CK_ULONG nfound, given;
};

struct sr_p11 {
    pthread_mutex_t lock; /* the tables below, and who is logged in */
    pthread_rwlock_t module_lock; /* key operations share the module; generating or destroying takes it whole */
    struct sr_module *module;
    bool user, so;        /* logged in as the user (PIN) or the security officer (card quorum) */
    struct sr_p11_object objects[SR_P11_MAX_OBJECTS]; /* see sr_p11_handle */
    CK_ULONG nobjects;
    struct sr_p11_session sessions[SR_P11_MAX_SESSIONS]; /* handle h is sessions[h - 1] */
};

/* The library instance C_Initialize made, or NULL: PKCS#11 gives its functions no context argument, so
 * this is the one piece of global state, set and cleared under a lock by C_Initialize and C_Finalize. */
struct sr_p11 *sr_p11_get(void);

/* The flags of a mechanism the token offers (p11.c's table), or false. */
bool sr_p11_mechanism_flags(CK_MECHANISM_TYPE type, CK_FLAGS *ret);
/* The module lock for making a key: whole for a token key (a file, then the table's refresh), shared for a
 * session key (nothing of the module changes). */
void sr_p11_module_lock_for(struct sr_p11 *p, bool token);
/* The open session h (p->lock held), or NULL. */
struct sr_p11_session *sr_p11_session(struct sr_p11 *p, CK_SESSION_HANDLE h);

/* The one shape of a function on a session: the library, its lock taken, the session h (NULL and rv
 * CKR_SESSION_HANDLE_INVALID if there is no such open session); SR_P11_SESSION_END unlocks and returns rv. */
#define SR_P11_SESSION_BEGIN(p, h, s)                                                                            \
    struct sr_p11 *p = sr_p11_get();                                                                            \
    if (p == NULL) {                                                                                             \
        return CKR_CRYPTOKI_NOT_INITIALIZED;                                                                     \
    }                                                                                                            \
    pthread_mutex_lock(&p->lock);                                                                               \
    struct sr_p11_session *s = sr_p11_session(p, h);                                                           \
    CK_RV rv = s == NULL ? CKR_SESSION_HANDLE_INVALID : CKR_OK

#define SR_P11_SESSION_END(p)                                                                                    \
    pthread_mutex_unlock(&p->lock);                                                                             \
    return rv

/* A function this token does not have: its session checked first (PKCS#11 2.40 §5.1), then
 * CKR_FUNCTION_NOT_SUPPORTED. */
#define SR_P11_UNSUPPORTED_BODY(storage, name, ...)                                                            \
    storage CK_RV sr_##name(CK_SESSION_HANDLE h, __VA_ARGS__)                                                    \
    {                                                                                                            \
        SR_P11_SESSION_BEGIN(p, h, s);                                                                          \
        rv = rv == CKR_OK ? CKR_FUNCTION_NOT_SUPPORTED : rv;                                                    \
        SR_P11_SESSION_END(p);                                                                                  \
    }
#define SR_P11_UNSUPPORTED_S(name, ...) SR_P11_UNSUPPORTED_BODY(static, name, __VA_ARGS__)
#define SR_P11_UNSUPPORTED_S_EXTERN(name, ...) SR_P11_UNSUPPORTED_BODY(, name, __VA_ARGS__)

/* What the library exports; everything else is hidden. */
#define SR_P11_EXPORT __attribute__((visibility("default")))

/* sr_err → the PKCS#11 return value that names the same refusal. */
CK_RV sr_p11_rv(enum sr_err r);
/* Copies n bytes into a caller's attribute or output buffer under PKCS#11's length rules. */
CK_RV sr_p11_out(const void *src, CK_ULONG n, CK_BYTE_PTR dst, CK_ULONG_PTR dst_len);

/* objects.c (with p->lock held unless said otherwise) */
/* Reads kmdata/local again: new key files become objects, removed ones die. */
CK_RV sr_p11_refresh(struct sr_p11 *p);
struct sr_p11_object *sr_p11_object(struct sr_p11 *p, CK_OBJECT_HANDLE h);
/* An object's handle: its slot in the table and the slot's generation. */
CK_OBJECT_HANDLE sr_p11_handle(const struct sr_p11 *p, const struct sr_p11_object *o);
/* Ends the session objects of session h (0: of every session). */
void sr_p11_drop_session_objects(struct sr_p11 *p, CK_SESSION_HANDLE h);
/* What C_Logout does to objects: private session objects end, private token objects get new handles. */
void sr_p11_logout_objects(struct sr_p11 *p);
bool sr_p11_object_visible(const struct sr_p11 *p, const struct sr_p11_object *o);
/* CKK_RSA, CKK_EC, CKK_AES; CK_UNAVAILABLE_INFORMATION for a data object. */
CK_KEY_TYPE sr_p11_key_type(const struct sr_p11_object *o);
/* Whether the object has every attribute of the template with that value. */
bool sr_p11_matches(struct sr_p11 *p, const struct sr_p11_object *o, const CK_ATTRIBUTE *tmpl, CK_ULONG n);
CK_RV sr_p11_attribute(struct sr_p11 *p, const struct sr_p11_object *o, CK_ATTRIBUTE *a);
/* The objects of an application object's sealed bytes (hsm/appobject.h), of session h (0: a token
 * object), into *ret. */
CK_RV sr_p11_add_appobject(struct sr_p11 *p, const uint8_t *bytes, size_t len, CK_SESSION_HANDLE h,
                           struct sr_p11_object **ret);
/* The handle of the token object app/ident of class cls, just written: the refresh that follows finds it. */
CK_RV sr_p11_handle_of(struct sr_p11 *p, const char *app, const char *ident, CK_OBJECT_CLASS cls,
                       CK_OBJECT_HANDLE_PTR ret);
/* Templates: a CK_BBOOL or CK_ULONG value (false: not one), CKA_LABEL (NUL-terminated) and CKA_ID (1 to
 * SR_P11_MAX_ID bytes), each CKR_ATTRIBUTE_VALUE_INVALID when it does not fit. */
bool sr_p11_template_bool(const CK_ATTRIBUTE *a, CK_BBOOL *ret);
bool sr_p11_template_ulong(const CK_ATTRIBUTE *a, CK_ULONG *ret);
CK_RV sr_p11_template_label(const CK_ATTRIBUTE *a, char out[SR_MAX_PLAINNAME + 1]);
CK_RV sr_p11_template_id(const CK_ATTRIBUTE *a, uint8_t out[SR_P11_MAX_ID], CK_ULONG *len);
/* A made object's ident: the hex of its CKA_ID, or of 8 random bytes (then also its CKA_ID) if it has none. */
CK_RV sr_p11_ident_of(uint8_t id[SR_P11_MAX_ID], CK_ULONG *id_len, char ident[2 * SR_P11_MAX_ID + 1]);
/* What a template asks of a key to make (C_GenerateKey, C_GenerateKeyPair, C_UnwrapKey, C_CopyObject). */
struct sr_p11_keygen {
    CK_ULONG bits;             /* CKA_MODULUS_BITS; CKA_VALUE_LEN * 8 */
    enum sr_curve curve;       /* CKA_EC_PARAMS */
    unsigned long pubexp;
    uint8_t id[SR_P11_MAX_ID];
    CK_ULONG id_len;           /* 0: a random one */
    char label[SR_MAX_PLAINNAME + 1];
    unsigned acl;
    unsigned acl_set;          /* the usage attributes the templates gave, true or false */
    CK_BBOOL token;            /* CKA_TOKEN of the private or secret key (PKCS#11's default: false) */
    int pub_token;             /* the public key template's CKA_TOKEN; -1: not given */
    CK_BBOOL priv;             /* CKA_PRIVATE of the private or secret key (default: true) */
    CK_KEY_TYPE key_type;      /* CKA_KEY_TYPE if given: it must be the mechanism's */
};

/* The defaults of every template: a private session object. */
#define SR_P11_KEYGEN_DEFAULTS .pub_token = -1, .priv = CK_TRUE, .key_type = CK_UNAVAILABLE_INFORMATION
/* §4.4's table of sessions and objects for a key to make: CKR_OK, or why not. */
CK_RV sr_p11_may_make(const struct sr_p11 *p, const struct sr_p11_session *s, const struct sr_p11_keygen *g);
/* The objects of a key file just made into file, as session objects of session h; their handles. */
CK_RV sr_p11_add_session_key(struct sr_p11 *p, CK_SESSION_HANDLE h, const struct sr_p11_keygen *g,
                             const struct sr_key_info *info, const struct sr_buf *file, CK_OBJECT_HANDLE_PTR ret_pub,
                             CK_OBJECT_HANDLE_PTR ret_priv);
/* An object's CKA_ID, appended to out; whether it was made through the library (its CKA_ID and CKA_LABEL
 * are its own, not its key file's ident). */
enum sr_err sr_p11_id(const struct sr_p11_object *o, struct sr_buf *out);
bool sr_p11_made_here(const struct sr_p11_object *o);
/* CKA_COPYABLE: keys made through the library, public keys, data objects; never a trusted key, nor a key
 * another application of the module made. */
bool sr_p11_copyable(const struct sr_p11_object *o);
/* A copy that owns its bytes and a reference to pub (for an operation), and its release. */
enum sr_err sr_p11_object_copy(const struct sr_p11_object *o, struct sr_p11_object *ret);
void sr_p11_object_release(struct sr_p11_object *o);

/* ops.c */
void sr_p11_active_release(struct sr_p11_active *a);
/* CKM_RSA_AES_KEY_WRAP's parameters as the Azure BYOK specification uses them: a 256-bit AES key, OAEP with
 * SHA-1 (and MGF1-SHA-1), and the label if the caller gives one. */
CK_RV sr_p11_rsa_aes_params(const CK_MECHANISM *mech, const uint8_t **label, size_t *label_len);

/* The function lists (p11.c): 2.40's, and 3.0's (p11v3.h), which begins with the same functions. */
extern CK_FUNCTION_LIST sr_p11_functions_2_40;
extern struct sr_ck_function_list_3_0 sr_p11_functions_3_0;

/* The functions objects.c, create.c, ops.c and p11v3.c give the function lists. */
CK_RV sr_C_Login(CK_SESSION_HANDLE, CK_USER_TYPE, CK_UTF8CHAR_PTR, CK_ULONG);
struct sr_ck_interface;
CK_RV sr_C_GetInterfaceList(struct sr_ck_interface *, CK_ULONG_PTR);
CK_RV sr_C_GetInterface(CK_UTF8CHAR_PTR, CK_VERSION_PTR, struct sr_ck_interface **, CK_FLAGS);
CK_RV sr_C_LoginUser(CK_SESSION_HANDLE, CK_USER_TYPE, CK_UTF8CHAR_PTR, CK_ULONG, CK_UTF8CHAR_PTR, CK_ULONG);
CK_RV sr_C_SessionCancel(CK_SESSION_HANDLE, CK_FLAGS);
CK_RV sr_C_MessageEncryptInit(CK_SESSION_HANDLE, CK_MECHANISM_PTR, CK_OBJECT_HANDLE);
CK_RV sr_C_EncryptMessage(CK_SESSION_HANDLE, CK_VOID_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG,
                          CK_BYTE_PTR, CK_ULONG_PTR);
CK_RV sr_C_EncryptMessageBegin(CK_SESSION_HANDLE, CK_VOID_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG);
CK_RV sr_C_EncryptMessageNext(CK_SESSION_HANDLE, CK_VOID_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR,
                              CK_ULONG_PTR, CK_FLAGS);
CK_RV sr_C_MessageEncryptFinal(CK_SESSION_HANDLE);
CK_RV sr_C_MessageDecryptInit(CK_SESSION_HANDLE, CK_MECHANISM_PTR, CK_OBJECT_HANDLE);
CK_RV sr_C_DecryptMessage(CK_SESSION_HANDLE, CK_VOID_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG,
                          CK_BYTE_PTR, CK_ULONG_PTR);
CK_RV sr_C_DecryptMessageBegin(CK_SESSION_HANDLE, CK_VOID_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG);
CK_RV sr_C_DecryptMessageNext(CK_SESSION_HANDLE, CK_VOID_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR,
                              CK_ULONG_PTR, CK_FLAGS);
CK_RV sr_C_MessageDecryptFinal(CK_SESSION_HANDLE);
CK_RV sr_C_MessageSignInit(CK_SESSION_HANDLE, CK_MECHANISM_PTR, CK_OBJECT_HANDLE);
CK_RV sr_C_SignMessage(CK_SESSION_HANDLE, CK_VOID_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR);
CK_RV sr_C_SignMessageBegin(CK_SESSION_HANDLE, CK_VOID_PTR, CK_ULONG);
CK_RV sr_C_SignMessageNext(CK_SESSION_HANDLE, CK_VOID_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR);
CK_RV sr_C_MessageSignFinal(CK_SESSION_HANDLE);
CK_RV sr_C_MessageVerifyInit(CK_SESSION_HANDLE, CK_MECHANISM_PTR, CK_OBJECT_HANDLE);
CK_RV sr_C_VerifyMessage(CK_SESSION_HANDLE, CK_VOID_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG);
CK_RV sr_C_VerifyMessageBegin(CK_SESSION_HANDLE, CK_VOID_PTR, CK_ULONG);
CK_RV sr_C_VerifyMessageNext(CK_SESSION_HANDLE, CK_VOID_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG);
CK_RV sr_C_MessageVerifyFinal(CK_SESSION_HANDLE);
CK_RV sr_C_CreateObject(CK_SESSION_HANDLE, CK_ATTRIBUTE_PTR, CK_ULONG, CK_OBJECT_HANDLE_PTR);
CK_RV sr_C_CopyObject(CK_SESSION_HANDLE, CK_OBJECT_HANDLE, CK_ATTRIBUTE_PTR, CK_ULONG, CK_OBJECT_HANDLE_PTR);
CK_RV sr_C_DeriveKey(CK_SESSION_HANDLE, CK_MECHANISM_PTR, CK_OBJECT_HANDLE, CK_ATTRIBUTE_PTR, CK_ULONG, CK_OBJECT_HANDLE_PTR);
/* An EC public key from CKA_EC_PARAMS and CKA_EC_POINT (DER OCTET STRING or bare), checked on its curve. */
CK_RV sr_p11_ec_public(const CK_ATTRIBUTE *params, const CK_ATTRIBUTE *point, EVP_PKEY **ret);
CK_RV sr_C_DestroyObject(CK_SESSION_HANDLE, CK_OBJECT_HANDLE);
CK_RV sr_C_GetObjectSize(CK_SESSION_HANDLE, CK_OBJECT_HANDLE, CK_ULONG_PTR);
CK_RV sr_C_GetAttributeValue(CK_SESSION_HANDLE, CK_OBJECT_HANDLE, CK_ATTRIBUTE_PTR, CK_ULONG);
CK_RV sr_C_SetAttributeValue(CK_SESSION_HANDLE, CK_OBJECT_HANDLE, CK_ATTRIBUTE_PTR, CK_ULONG);
CK_RV sr_C_FindObjectsInit(CK_SESSION_HANDLE, CK_ATTRIBUTE_PTR, CK_ULONG);
CK_RV sr_C_FindObjects(CK_SESSION_HANDLE, CK_OBJECT_HANDLE_PTR, CK_ULONG, CK_ULONG_PTR);
CK_RV sr_C_FindObjectsFinal(CK_SESSION_HANDLE);
CK_RV sr_C_GenerateKey(CK_SESSION_HANDLE, CK_MECHANISM_PTR, CK_ATTRIBUTE_PTR, CK_ULONG, CK_OBJECT_HANDLE_PTR);
CK_RV sr_C_GenerateKeyPair(CK_SESSION_HANDLE, CK_MECHANISM_PTR, CK_ATTRIBUTE_PTR, CK_ULONG, CK_ATTRIBUTE_PTR,
                           CK_ULONG, CK_OBJECT_HANDLE_PTR, CK_OBJECT_HANDLE_PTR);
CK_RV sr_C_WrapKey(CK_SESSION_HANDLE, CK_MECHANISM_PTR, CK_OBJECT_HANDLE, CK_OBJECT_HANDLE, CK_BYTE_PTR, CK_ULONG_PTR);
CK_RV sr_C_UnwrapKey(CK_SESSION_HANDLE, CK_MECHANISM_PTR, CK_OBJECT_HANDLE, CK_BYTE_PTR, CK_ULONG, CK_ATTRIBUTE_PTR,
                     CK_ULONG, CK_OBJECT_HANDLE_PTR);
CK_RV sr_C_EncryptInit(CK_SESSION_HANDLE, CK_MECHANISM_PTR, CK_OBJECT_HANDLE);
CK_RV sr_C_Encrypt(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR);
CK_RV sr_C_EncryptUpdate(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR);
CK_RV sr_C_EncryptFinal(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG_PTR);
CK_RV sr_C_DecryptInit(CK_SESSION_HANDLE, CK_MECHANISM_PTR, CK_OBJECT_HANDLE);
CK_RV sr_C_Decrypt(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR);
CK_RV sr_C_DecryptUpdate(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR);
CK_RV sr_C_DecryptFinal(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG_PTR);
CK_RV sr_C_DigestInit(CK_SESSION_HANDLE, CK_MECHANISM_PTR);
CK_RV sr_C_Digest(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR);
CK_RV sr_C_DigestUpdate(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG);
CK_RV sr_C_DigestFinal(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG_PTR);
CK_RV sr_C_DigestKey(CK_SESSION_HANDLE, CK_OBJECT_HANDLE);
CK_RV sr_C_SignInit(CK_SESSION_HANDLE, CK_MECHANISM_PTR, CK_OBJECT_HANDLE);
CK_RV sr_C_Sign(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR);
CK_RV sr_C_SignUpdate(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG);
CK_RV sr_C_SignFinal(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG_PTR);
CK_RV sr_C_VerifyInit(CK_SESSION_HANDLE, CK_MECHANISM_PTR, CK_OBJECT_HANDLE);
CK_RV sr_C_Verify(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG);
CK_RV sr_C_VerifyUpdate(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG);
CK_RV sr_C_VerifyFinal(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG);


#endif
