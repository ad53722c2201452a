/*
 * fixture.h - the two tokens the PKCS#11 conformance programs run against: libstrongroom-pkcs11.so over a
 * module with a 2-of-3 world (its SO is a quorum of the cards), and SoftHSMv2 with a token of its own
 * (user PIN 1234, SO PIN 5678) under its own SOFTHSM2_CONF, skipped where it is not installed.
 */
#ifndef SR_TESTS_P11_FIXTURE_H
#define SR_TESTS_P11_FIXTURE_H

#include <p11-kit/pkcs11.h>

#include <stdbool.h>

#include <openssl/evp.h>

#include "base/safety.h"

struct sr_token {
    const char *name;
    char dir[256];
    void *lib;
    CK_FUNCTION_LIST_PTR f;
    CK_SLOT_ID slot;
    const char *so_pin;
};

void sr_token_strongroom(struct sr_token *t);
/* false: SoftHSMv2 is not installed here (its column is skipped). */
bool sr_token_softhsm(struct sr_token *t);
void sr_token_close(struct sr_token *t);
/* The shared cases of a conformance program on SoftHSMv2's column: skipped where it is not installed. */
void sr_softhsm_cases(void (*cases)(struct sr_token *t));
/* Strongroom's token with the user PIN "1234", SoftHSMv2's own. */
void sr_token_strongroom_pin(struct sr_token *t);
/* The library finalized and loaded again, as a new process would (the token's directory kept). */
void sr_token_restart(struct sr_token *t);
CK_SESSION_HANDLE sr_open(struct sr_token *t, CK_FLAGS rw);
/* The token's RSA public key (pub's CKA_MODULUS and CKA_PUBLIC_EXPONENT) as OpenSSL's. */
EVP_PKEY *sr_token_rsa_public(struct sr_token *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE pub);
/* A session secret key of type (CKK_AES, CKK_GENERIC_SECRET) whose value the test knows, with the
 * attributes uses: Strongroom takes it only wrapped (C_UnwrapKey, CKM_RSA_AES_KEY_WRAP under a session RSA
 * key made for it), SoftHSMv2 by C_CreateObject with CKA_VALUE. The user is logged in. */
CK_OBJECT_HANDLE sr_token_known_secret(struct sr_token *t, CK_SESSION_HANDLE s, CK_KEY_TYPE type, const uint8_t *key,
                                       size_t n, CK_ATTRIBUTE *uses, CK_ULONG nuses);
/* Strongroom: sets the token's user PIN (as 'strongroom pkcs11 set-pin' does) in the module at dir. */
enum sr_err sr_module_set_user_pin_of(const char *dir, const char *pin);

#endif
