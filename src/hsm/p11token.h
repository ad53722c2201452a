/*
 * p11token.h - one PKCS#11 token named by an RFC 7512 URI (parsed by p11-kit), as the `pkcs11` seal
 * (km0_pkcs11.c) and an HSM region (backend_p11.c) both open it: module-path= (the vendor's library, loaded
 * with dlopen), token=/serial=/manufacturer=/model= (which token), pin-source=file:PATH or pin-value= (the
 * user PIN). Failure detail (which call, which token) goes to diag.
 */
#ifndef SR_HSM_P11TOKEN_H
#define SR_HSM_P11TOKEN_H

#include <stdbool.h>

#include <p11-kit/pkcs11.h>
#include <p11-kit/uri.h>

#include "base/buf.h"
#include "base/err.h"

/* PKCS#11 2.40's CK_RSA_AES_KEY_WRAP_PARAMS, which p11-kit's header lacks. */
struct sr_ck_rsa_aes_key_wrap_params {
    CK_ULONG ulAESKeyBits;
    CK_RSA_PKCS_OAEP_PARAMS_PTR pOAEPParams;
};

struct sr_p11_token {
    P11KitUri *uri;
    void *lib;
    CK_FUNCTION_LIST_PTR f;
    bool initialized; /* this opening called C_Initialize, so its close calls C_Finalize */
    CK_SLOT_ID slot;
    CK_TOKEN_INFO info;
    char label[33], serial[17], model[17], manufacturer[33]; /* the token's, trailing blanks cut */
};

/* Parses uri, loads its module-path and initialises it (a library another part of this process initialised
 * already is shared, and not finalised by this one). Errors: SR_ERR_P11_SEAL_URI (the URI), SR_ERR_P11_SEAL_TOKEN
 * (the library). */
SR_MUST_USE enum sr_err sr_p11_token_load(struct sr_p11_token *t, const char *uri, char *diag, size_t cap);
/* The slot whose token matches the URI (again: a token put back may be in another slot). */
SR_MUST_USE enum sr_err sr_p11_token_find(struct sr_p11_token *t, char *diag, size_t cap);
/* Logs session s in as the user with the URI's PIN (already logged in is fine): SR_ERR_P11_SEAL_PIN refused. */
SR_MUST_USE enum sr_err sr_p11_token_login(struct sr_p11_token *t, CK_SESSION_HANDLE s, char *diag, size_t cap);
/* Closes what load opened; t may be half-opened or zeroed. */
void sr_p11_token_close(struct sr_p11_token *t);

#endif
