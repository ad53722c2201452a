/*
 * backend.h - a region's HSM as everything above hsm/ sees it: one table of operations, two implementations.
 *
 *  - `software` (backend_soft.c): the region's software module; a key is a key file's bytes (blob.h), sealed
 *    under the region's world key, and the store keeps that blob.
 *  - `pkcs11` (backend_p11.c): a PKCS#11 token (docs/hsm.md); a key is an object inside the token, and the
 *    store keeps a reference to it (its CKA_ID, type and public part, "SRP11REF"), never key material.
 *
 * Callers hold a `const struct sr_hsm *` and never learn which one they use: the vault's key operations, the
 * BYOK packages (the region's identity signs them), attestation, release and audit checkpoints all go
 * through these functions. Each is safe to call from many threads at once. Errors are the module's
 * (SR_ERR_ACL_DENIED, SR_ERR_KEY_TYPE, SR_ERR_BYOK_UNWRAP, SR_ERR_DECRYPT_FAILED ...) plus, for a token,
 * SR_ERR_P11_MECHANISM (the token lacks a mechanism: never done in software instead) and
 * SR_ERR_HSM_UNAVAILABLE (the token is unreachable: the request may be retried, nothing was changed).
 */
#ifndef SR_HSM_BACKEND_H
#define SR_HSM_BACKEND_H

#include <jansson.h>

#include "crypto/crypto.h"
#include "crypto/sym.h"
#include "hsm/blob.h"
#include "hsm/module.h"

struct sr_hsm;

/* What a sealed secret value starts with, in either backend (then its nonce, ciphertext and tag). */
#define SR_MAGIC_VALUE "SRVALUE1"

/* What a BYOK import unwraps: the vault's region KEK (kek NULL) or a vault import key's blob. */
struct sr_hsm_import {
    const uint8_t *kek;
    size_t kek_len;
    const uint8_t *label; /* the binding, the OAEP label */
    size_t label_len;
    const uint8_t *ct;    /* OAEP(KEK)(AES key) || AES-KWP(AES key, target) */
    size_t ct_len;
    bool secret;          /* oct-HSM: the wrapped bytes are an AES key itself */
    enum sr_key_type type; /* what the request says it holds (RSA, EC, AES): a token's C_UnwrapKey must be told */
};

struct sr_hsm_ops {
    const char *name; /* "software", "pkcs11" */
    void (*free)(struct sr_hsm *h);
    /* Identity: the module's serial (ESN or token serial), its world (what BYOK binds to), the region KEK. */
    const char *(*esn)(const struct sr_hsm *h);
    enum sr_err (*world)(const struct sr_hsm *h, struct sr_world_info *ret);
    enum sr_err (*kek_public)(const struct sr_hsm *h, EVP_PKEY **ret);
    enum sr_err (*attest)(const struct sr_hsm *h, const uint8_t *data, size_t len, struct sr_buf *out_sig);
    enum sr_err (*certificates)(const struct sr_hsm *h, struct sr_buf *warrant_pem, struct sr_buf *root_pem);
    /* Keys: made, imported, described. */
    enum sr_err (*generate)(const struct sr_hsm *h, const char *label, const char *name,
                            const struct sr_key_spec *spec, unsigned acl, struct sr_buf *out_blob);
    enum sr_err (*import_jwk)(const struct sr_hsm *h, const char *label, const char *name, const json_t *jwk,
                              unsigned acl, struct sr_buf *out_blob, struct sr_key_spec *ret_spec);
    enum sr_err (*import_secret)(const struct sr_hsm *h, const char *label, const char *name, const char *origin,
                                 const uint8_t *key, size_t len, unsigned acl, struct sr_buf *out_blob);
    enum sr_err (*import_wrapped)(const struct sr_hsm *h, const struct sr_hsm_import *in, const char *label,
                                  const char *name, unsigned acl, struct sr_buf *out_blob,
                                  struct sr_key_spec *ret_spec);
    enum sr_err (*info)(const struct sr_hsm *h, const uint8_t *blob, size_t len, struct sr_key_info *ret);
    enum sr_err (*spec)(const uint8_t *blob, size_t len, struct sr_key_spec *ret);
    enum sr_err (*public_key)(const struct sr_hsm *h, const uint8_t *blob, size_t len, EVP_PKEY **ret);
    enum sr_err (*jwk)(const struct sr_hsm *h, const uint8_t *blob, size_t len, json_t **ret);
    /* Uses. */
    enum sr_err (*sign_digest)(const struct sr_hsm *h, const uint8_t *blob, size_t len, enum sr_sign_alg alg,
                               const uint8_t *digest, size_t dlen, struct sr_buf *out_sig);
    enum sr_err (*decrypt)(const struct sr_hsm *h, const uint8_t *blob, size_t len, enum sr_acl_action action,
                           enum sr_enc_alg alg, const uint8_t *ct, size_t ctlen, struct sr_buf *out);
    enum sr_err (*symmetric)(const struct sr_hsm *h, const uint8_t *blob, size_t len, enum sr_acl_action action,
                             const struct sr_sym_alg *alg, const struct sr_sym_input *in, struct sr_buf *out,
                             struct sr_sym_extra *extra);
    enum sr_err (*release_wrapped)(const struct sr_hsm *h, const uint8_t *blob, size_t len, EVP_PKEY *target,
                                   enum sr_enc_alg oaep, struct sr_buf *out);
    /* Backups (sealed so they restore only into this region), and the end of a key (purge). */
    enum sr_err (*seal_backup)(const struct sr_hsm *h, const json_t *header, const uint8_t *pt, size_t len,
                               struct sr_buf *out);
    enum sr_err (*open_backup)(const struct sr_hsm *h, const uint8_t *blob, size_t len, struct sr_buf *out);
    enum sr_err (*destroy)(const struct sr_hsm *h, const uint8_t *blob, size_t len);
    /* A vault's secret values: sealed (AEAD) by the region's HSM, bound to aad, which is not stored. */
    enum sr_err (*seal_value)(const struct sr_hsm *h, const uint8_t *aad, size_t aadlen, const uint8_t *pt,
                              size_t len, struct sr_buf *out);
    enum sr_err (*open_value)(const struct sr_hsm *h, const uint8_t *aad, size_t aadlen, const uint8_t *blob,
                              size_t len, struct sr_buf *out);
    /* What the HSM itself says of a key, for its attestation: a token's model and serial and the key object's
     * attributes as the token reads them (CKA_SENSITIVE, CKA_EXTRACTABLE ...); NULL when there is nothing more
     * than the blob's own authenticated header (the software module). */
    enum sr_err (*evidence)(const struct sr_hsm *h, const uint8_t *blob, size_t len, json_t **ret);
    /* Certificates: a certificate or request signed by a key; a certificate's private key taken in. */
    enum sr_err (*sign_cert)(const struct sr_hsm *h, const uint8_t *blob, size_t len, X509 *cert, X509_REQ *req);
    enum sr_err (*import_cert)(const struct sr_hsm *h, const char *label, const char *name,
                               const struct sr_cert_import *in, unsigned acl, struct sr_buf *out_blob,
                               struct sr_key_spec *ret_spec, X509 **ret_leaf, STACK_OF(X509) **ret_chain);
    /* Whether the HSM answers now (a token: it still shows the region's identity key). */
    enum sr_err (*check)(const struct sr_hsm *h);
};

struct sr_hsm {
    const struct sr_hsm_ops *ops;
};

/* The software module m (taken, freed with the hsm) as a region's HSM. */
SR_MUST_USE enum sr_err sr_hsm_software(struct sr_module *m, struct sr_hsm **ret);
/* The software module behind h, or NULL for another backend (for operator commands that need a module). */
const struct sr_module *sr_hsm_module(const struct sr_hsm *h);
void sr_hsm_free(struct sr_hsm *h);
SR_DEFINE_CLEANUP(sr_hsm_freep, struct sr_hsm, sr_hsm_free)
#define SR_AUTO_HSM SR_AUTO(sr_hsm_freep)

/* The calls, each one h->ops's row. */
const char *sr_hsm_esn(const struct sr_hsm *h);
SR_MUST_USE enum sr_err sr_hsm_world(const struct sr_hsm *h, struct sr_world_info *ret);
SR_MUST_USE enum sr_err sr_hsm_kek_public(const struct sr_hsm *h, EVP_PKEY **ret);
SR_MUST_USE enum sr_err sr_hsm_attest(const struct sr_hsm *h, const uint8_t *data, size_t len, struct sr_buf *out);
SR_MUST_USE enum sr_err sr_hsm_certificates(const struct sr_hsm *h, struct sr_buf *warrant_pem,
                                            struct sr_buf *root_pem);
SR_MUST_USE enum sr_err sr_hsm_generate(const struct sr_hsm *h, const char *label, const char *name,
                                        const struct sr_key_spec *spec, unsigned acl, struct sr_buf *out_blob);
SR_MUST_USE enum sr_err sr_hsm_import_jwk(const struct sr_hsm *h, const char *label, const char *name,
                                          const json_t *jwk, unsigned acl, struct sr_buf *out_blob,
                                          struct sr_key_spec *ret_spec);
SR_MUST_USE enum sr_err sr_hsm_import_secret(const struct sr_hsm *h, const char *label, const char *name,
                                             const char *origin, const uint8_t *key, size_t len, unsigned acl,
                                             struct sr_buf *out_blob);
SR_MUST_USE enum sr_err sr_hsm_import_wrapped(const struct sr_hsm *h, const struct sr_hsm_import *in,
                                              const char *label, const char *name, unsigned acl,
                                              struct sr_buf *out_blob, struct sr_key_spec *ret_spec);
SR_MUST_USE enum sr_err sr_hsm_info(const struct sr_hsm *h, const uint8_t *blob, size_t len, struct sr_key_info *ret);
/* The key type and size a blob of h's kind declares (for routing, not for trust). */
SR_MUST_USE enum sr_err sr_hsm_spec(const struct sr_hsm *h, const uint8_t *blob, size_t len, struct sr_key_spec *ret);
SR_MUST_USE enum sr_err sr_hsm_public(const struct sr_hsm *h, const uint8_t *blob, size_t len, EVP_PKEY **ret);
/* The public JWK members (n, e or crv, x, y): a new reference, shared, never to be changed. */
SR_MUST_USE enum sr_err sr_hsm_jwk(const struct sr_hsm *h, const uint8_t *blob, size_t len, json_t **ret);
SR_MUST_USE enum sr_err sr_hsm_sign_digest(const struct sr_hsm *h, const uint8_t *blob, size_t len,
                                           enum sr_sign_alg alg, const uint8_t *digest, size_t dlen,
                                           struct sr_buf *out_sig);
SR_MUST_USE enum sr_err sr_hsm_decrypt(const struct sr_hsm *h, const uint8_t *blob, size_t len,
                                       enum sr_acl_action action, enum sr_enc_alg alg, const uint8_t *ct,
                                       size_t ctlen, struct sr_buf *out);
SR_MUST_USE enum sr_err sr_hsm_symmetric(const struct sr_hsm *h, const uint8_t *blob, size_t len,
                                         enum sr_acl_action action, const struct sr_sym_alg *alg,
                                         const struct sr_sym_input *in, struct sr_buf *out,
                                         struct sr_sym_extra *extra);
SR_MUST_USE enum sr_err sr_hsm_release_wrapped(const struct sr_hsm *h, const uint8_t *blob, size_t len,
                                               EVP_PKEY *target, enum sr_enc_alg oaep, struct sr_buf *out);
SR_MUST_USE enum sr_err sr_hsm_seal_backup(const struct sr_hsm *h, const json_t *header, const uint8_t *pt,
                                           size_t len, struct sr_buf *out);
SR_MUST_USE enum sr_err sr_hsm_open_backup(const struct sr_hsm *h, const uint8_t *blob, size_t len,
                                           struct sr_buf *out);
SR_MUST_USE enum sr_err sr_hsm_destroy(const struct sr_hsm *h, const uint8_t *blob, size_t len);
/* out: a value's sealed bytes (seal) or the value itself (open: make out SR_BUF_SECRET). Another aad, a
 * changed byte or another region: SR_ERR_AUTH_FAILED. */
SR_MUST_USE enum sr_err sr_hsm_seal_value(const struct sr_hsm *h, const uint8_t *aad, size_t aadlen,
                                          const uint8_t *pt, size_t len, struct sr_buf *out);
SR_MUST_USE enum sr_err sr_hsm_open_value(const struct sr_hsm *h, const uint8_t *aad, size_t aadlen,
                                          const uint8_t *blob, size_t len, struct sr_buf *out);
SR_MUST_USE enum sr_err sr_hsm_evidence(const struct sr_hsm *h, const uint8_t *blob, size_t len, json_t **ret);
/* blob.h's sr_blob_sign_cert and sr_blob_import_cert, in the region's HSM. A token region signs no certificate
 * yet (SR_ERR_HSM_CERT) and takes no key in clear (SR_ERR_HSM_CLEAR_KEY), as for a JWK. */
SR_MUST_USE enum sr_err sr_hsm_sign_cert(const struct sr_hsm *h, const uint8_t *blob, size_t len, X509 *cert,
                                         X509_REQ *req);
SR_MUST_USE enum sr_err sr_hsm_import_cert(const struct sr_hsm *h, const char *label, const char *name,
                                           const struct sr_cert_import *in, unsigned acl, struct sr_buf *out_blob,
                                           struct sr_key_spec *ret_spec, X509 **ret_leaf,
                                           STACK_OF(X509) **ret_chain);
/* SR_OK while the HSM answers; SR_ERR_HSM_UNAVAILABLE when its token is away (for /healthz). */
SR_MUST_USE enum sr_err sr_hsm_check(const struct sr_hsm *h);

#endif
