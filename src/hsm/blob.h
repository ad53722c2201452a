/*
 * blob.h - module-protected key blobs that the caller stores (the vault keeps
 * them in its database rather than in kmdata/local). A blob is a key file's
 * bytes (docs/formats.md) with app "vault" and a label as ident (the key
 * version id): sealed under the module's world key, useless anywhere else.
 *
 * These functions take a const module and write no diagnostics, so one
 * module can serve many threads at once. Callers get signatures and
 * plaintexts, never private keys.
 */
#ifndef SR_HSM_BLOB_H
#define SR_HSM_BLOB_H

#include <jansson.h>
#include <openssl/x509.h>

#include "crypto/crypto.h"
#include "crypto/sym.h"
#include "hsm/module.h"

SR_MUST_USE enum sr_err sr_blob_generate(const struct sr_module *m, const char *label, const char *name,
                                         const struct sr_key_spec *spec, unsigned acl, struct sr_buf *out_blob);
/* Imports a private JWK (RSA 2048/3072/4096, EC P-256/384/521) as a blob; the clear key lives only here. */
SR_MUST_USE enum sr_err sr_blob_import_jwk(const struct sr_module *m, const char *label, const char *name,
                                           const json_t *jwk, unsigned acl, struct sr_buf *out_blob,
                                           struct sr_key_spec *ret_spec);
/* The blob's header, authenticated under the module's world (the private key is checked, never kept): what
 * a key attestation may vouch for. */
SR_MUST_USE enum sr_err sr_blob_info(const struct sr_module *m, const uint8_t *blob, size_t len,
                                     struct sr_key_info *ret);
/* A secret (AES, oct) key of 16, 24 or 32 bytes as a blob; origin is SR_ORIGIN_*. The clear key is the
 * caller's to wipe; sr_blob_generate makes one inside the module. */
SR_MUST_USE enum sr_err sr_blob_import_secret(const struct sr_module *m, const char *label, const char *name,
                                              const char *origin, const uint8_t *key, size_t len, unsigned acl,
                                              struct sr_buf *out_blob);
/* The key type and size the blob's header declares (not authenticated: for routing, not for trust). */
SR_MUST_USE enum sr_err sr_blob_spec(const uint8_t *blob, size_t len, struct sr_key_spec *ret);
/* A symmetric operation with a secret key blob: action (SR_ACL_ENCRYPT, _DECRYPT, _WRAP, _UNWRAP) must be in
 * its ACL. The key is opened, used and wiped here. Decryption failures are the one SR_ERR_DECRYPT_FAILED. */
SR_MUST_USE enum sr_err sr_blob_symmetric(const struct sr_module *m, const uint8_t *blob, size_t len,
                                          enum sr_acl_action action, const struct sr_sym_alg *alg,
                                          const struct sr_sym_input *in, struct sr_buf *out,
                                          struct sr_sym_extra *extra);
/* The public key from the blob's header (no world key needed). */
SR_MUST_USE enum sr_err sr_blob_public(const uint8_t *blob, size_t len, EVP_PKEY **ret);
/* The same, through the module's cache of decoded public keys (keyed by the blob's SHA-256). */
SR_MUST_USE enum sr_err sr_module_blob_public(const struct sr_module *m, const uint8_t *blob, size_t len,
                                              EVP_PKEY **ret);
/* The public JWK members (n, e or crv, x, y) of the blob's key, made once per blob: a new reference,
 * shared and never to be changed. */
SR_MUST_USE enum sr_err sr_module_blob_jwk(const struct sr_module *m, const uint8_t *blob, size_t len,
                                           json_t **ret);
/* Signs a digest; ECDSA signatures come out raw (r||s), as JOSE wants. */
SR_MUST_USE enum sr_err sr_blob_sign_digest(const struct sr_module *m, const uint8_t *blob, size_t len,
                                            enum sr_sign_alg alg, const uint8_t *digest, size_t dlen,
                                            struct sr_buf *out_sig);
/* action is SR_ACL_DECRYPT or SR_ACL_UNWRAP; the blob's ACL must permit it. */
SR_MUST_USE enum sr_err sr_blob_decrypt(const struct sr_module *m, const uint8_t *blob, size_t len,
                                        enum sr_acl_action action, enum sr_enc_alg alg, const uint8_t *ct,
                                        size_t ctlen, struct sr_buf *out);
/*
 * The same operations on any module key's file bytes that the caller holds (a kmdata key file, as the
 * PKCS#11 library keeps them): app is the app its authenticated header must name ("simple", "pkcs11" ...).
 * The vault's sr_blob_* are these with app "vault".
 */
SR_MUST_USE enum sr_err sr_keyfile_info(const struct sr_module *m, const char *app, const uint8_t *bytes, size_t len,
                                        struct sr_key_info *ret);
SR_MUST_USE enum sr_err sr_keyfile_sign_digest(const struct sr_module *m, const char *app, const uint8_t *bytes,
                                               size_t len, enum sr_sign_alg alg, const uint8_t *digest, size_t dlen,
                                               struct sr_buf *out_sig);
/* PKCS#11's unhashed signatures (CKM_RSA_PKCS over a DigestInfo, CKM_ECDSA over a digest of any length). */
SR_MUST_USE enum sr_err sr_keyfile_sign_unhashed(const struct sr_module *m, const char *app, const uint8_t *bytes,
                                                 size_t len, const uint8_t *in, size_t n, struct sr_buf *out_sig);
SR_MUST_USE enum sr_err sr_keyfile_decrypt(const struct sr_module *m, const char *app, const uint8_t *bytes,
                                           size_t len, enum sr_acl_action action, enum sr_enc_alg alg,
                                           const uint8_t *ct, size_t ctlen, struct sr_buf *out);
SR_MUST_USE enum sr_err sr_keyfile_symmetric(const struct sr_module *m, const char *app, const uint8_t *bytes,
                                             size_t len, enum sr_acl_action action, const struct sr_sym_alg *alg,
                                             const struct sr_sym_input *in, struct sr_buf *out,
                                             struct sr_sym_extra *extra);
/* PKCS#11's MACs: alg (HMAC over a generic secret key, CMAC over an AES key) of data under a key file's key,
 * if its ACL has action (SR_ACL_SIGN, or SR_ACL_VERIFY: the caller compares). */
SR_MUST_USE enum sr_err sr_keyfile_mac(const struct sr_module *m, const char *app, const uint8_t *bytes, size_t len,
                                       enum sr_acl_action action, enum sr_mac_alg alg, const uint8_t *data, size_t n,
                                       struct sr_buf *out);
/* PKCS#11's C_DigestKey: a secret key's bytes into a running digest (the key never leaves the module; the
 * digest's state does, as a digest of anything would). Another kind of key is SR_ERR_KEY_TYPE. */
SR_MUST_USE enum sr_err sr_keyfile_digest_key(const struct sr_module *m, const char *app, const uint8_t *bytes,
                                              size_t len, EVP_MD_CTX *digest);
/* --- certificates' keys (certkey.c) --- */
/* Signs cert (a certificate to be, its public key and fields set) or req (a request for the blob's own key: another
 * key's is SR_ERR_CERT_KEY_MISMATCH) with the blob's key, whose ACL must permit Sign: SHA-256 for RSA and P-256,
 * SHA-384 for P-384, SHA-512 for P-521. Exactly one of cert and req. */
SR_MUST_USE enum sr_err sr_blob_sign_cert(const struct sr_module *m, const uint8_t *blob, size_t len, X509 *cert,
                                          X509_REQ *req);
/* A certificate with its private key, as a user brings one: PKCS#12 (DER) or PEM, with a password or none. */
struct sr_cert_import {
    const uint8_t *data;
    size_t len;
    bool pem;
    const char *password; /* NULL or "": none */
};
/* Takes the private key into the module as a blob (RSA 2048-4096, EC); the caller gets the certificate whose key
 * it is (*ret_leaf) and the others (*ret_chain, possibly empty), both to free. A wrong password is
 * SR_ERR_CERT_PASSWORD; a PKCS#12 encrypted with RC2 (the legacy format) SR_ERR_PKCS12_LEGACY; no key
 * SR_ERR_CERT_NO_KEY; no certificate of that key SR_ERR_CERT_KEY_MISMATCH. */
SR_MUST_USE enum sr_err sr_blob_import_cert(const struct sr_module *m, const char *label, const char *name,
                                            const struct sr_cert_import *in, unsigned acl, struct sr_buf *out_blob,
                                            struct sr_key_spec *ret_spec, X509 **ret_leaf,
                                            STACK_OF(X509) **ret_chain);
/* Backups: sealed under the world key, so they restore only into a module of the same world (region). */
SR_MUST_USE enum sr_err sr_module_seal_backup(const struct sr_module *m, const json_t *header, const uint8_t *pt,
                                              size_t len, struct sr_buf *out);
SR_MUST_USE enum sr_err sr_module_open_backup(const struct sr_module *m, const uint8_t *blob, size_t len,
                                              struct sr_buf *out);
/* A vault's secret value: SRVALUE1 | AES-256-GCM under the world key's own HKDF label, with aad (what the value
 * belongs to) authenticated and not stored. Opening with any other aad, or another world, is SR_ERR_AUTH_FAILED. */
SR_MUST_USE enum sr_err sr_module_seal_value(const struct sr_module *m, const uint8_t *aad, size_t aadlen,
                                             const uint8_t *pt, size_t len, struct sr_buf *out);
SR_MUST_USE enum sr_err sr_module_open_value(const struct sr_module *m, const uint8_t *aad, size_t aadlen,
                                             const uint8_t *blob, size_t len, struct sr_buf *out);

#endif
