/*
 * transfer.h - what the BYOK pipeline needs from a module, with every clear key kept inside:
 *
 *  - the key owner's side: a reduced copy of a key (key_xferacld_<ident>) whose only permission
 *    is ExportToKey of one KEK, bound to a target world; and the export itself, which leaves the
 *    module only as CKM_RSA_AES_KEY_WRAP ciphertext under that KEK;
 *  - the vault's side: a region KEK (ACL "Import" only) and the import that unwraps a package
 *    into a new module-protected blob, so the key never exists in clear outside hsm/;
 *  - attestation: the module's identity key signs what the module vouches for.
 */
#ifndef SR_HSM_TRANSFER_H
#define SR_HSM_TRANSFER_H

#include "hsm/module.h"

#define SR_KEK_APP "byok"
#define SR_KEK_IDENT "kek-1" /* a region's KEK: local/key_byok_kek-1 */

/* modify-acls: writes local/key_xferacld_<ident> from local/key_<app>_<ident> (which must allow ReduceACL).
 * The caller has checked the administrator quorum. The original key file is untouched. */
SR_MUST_USE enum sr_err sr_key_reduce_for_export(struct sr_module *m, const char *app, const char *ident,
                                                 const uint8_t kek_hash[SR_HASH_LEN],
                                                 const struct sr_export_target *target, struct sr_key_info *ret);
/* package: the key_xferacld_<ident> copy only. Checks ExportToKey(hash(kek)), then writes
 * OAEP-SHA1(kek, label)(fresh AES-256 key) || AES-KWP(AES key, PKCS#8) to out. */
SR_MUST_USE enum sr_err sr_key_export_wrapped(struct sr_module *m, const char *ident, EVP_PKEY *kek,
                                              const uint8_t *label, size_t label_len, struct sr_buf *out,
                                              struct sr_key_info *ret_info);

/* Secure key release of a vault blob: its ACL must have Release (the vault has checked the release policy).
 * The key leaves only as CKM_RSA_AES_KEY_WRAP ciphertext under target (RSA, 2048 bits or more): oaep
 * SR_ENC_RSA_OAEP for CKM_RSA_AES_KEY_WRAP (OAEP-SHA-1), SR_ENC_RSA_OAEP_256 and _384 for RSA_AES_KEY_WRAP_256
 * and _384 (OAEP and MGF1 with SHA-256, SHA-384). */
SR_MUST_USE enum sr_err sr_blob_release_wrapped(const struct sr_module *m, const uint8_t *blob, size_t len,
                                                EVP_PKEY *target, enum sr_enc_alg oaep, struct sr_buf *out);

/* PKCS#11's trusted wrapping keys (trusted.c): local/trust_<ident>, written after the caller checked the
 * administrator quorum; RSA 2048 bits or more. open authenticates one and gives its public key. */
SR_MUST_USE enum sr_err sr_trusted_key_path(const struct sr_module *m, const char *ident, char *out, size_t cap);
SR_MUST_USE enum sr_err sr_trusted_key_write(struct sr_module *m, const char *ident, const char *plainname,
                                             EVP_PKEY *pub);
SR_MUST_USE enum sr_err sr_trusted_key_open(const struct sr_module *m, const uint8_t *bytes, size_t len,
                                            char *plainname, size_t cap, EVP_PKEY **ret_pub);
/* C_WrapKey with CKM_RSA_AES_KEY_WRAP: a key file's key (app) out under a trusted key (its file's bytes), if
 * its ACL has ExportToTrusted, or ExportToKey naming that very key. OAEP-SHA-1 with label (may be empty). */
SR_MUST_USE enum sr_err sr_keyfile_export_trusted(const struct sr_module *m, const char *app, const uint8_t *bytes,
                                                  size_t len, const uint8_t *trust, size_t trust_len,
                                                  const uint8_t *label, size_t label_len, struct sr_buf *out);

/* C_UnwrapKey with CKM_RSA_AES_KEY_WRAP: ct, opened by a key file's private key (kek_app, its bytes; ACL
 * UnwrapKey or Import), becomes the module key file params names (params->acl; never overwriting). expect:
 * SR_KEY_AES or SR_KEY_GENERIC for a secret key's bytes, SR_KEY_RSA or SR_KEY_EC (or SR_KEY_NONE: either)
 * for PKCS#8. Every failure to open is SR_ERR_BYOK_UNWRAP; a key of another type SR_ERR_KEY_TYPE. */
SR_MUST_USE enum sr_err sr_keyfile_import_wrapped(struct sr_module *m, const char *kek_app, const uint8_t *kek_bytes,
                                                  size_t kek_len, const uint8_t *label, size_t label_len,
                                                  const uint8_t *ct, size_t ctlen, enum sr_key_type expect,
                                                  const struct sr_keygen_params *params, struct sr_key_info *ret);

/* Creates the region's KEK as local/key_byok_<ident>: RSA 2048/3072/4096, ACL Import only. */
SR_MUST_USE enum sr_err sr_kek_generate(struct sr_module *m, const char *ident, unsigned bits, EVP_PKEY **ret_pub);
/* The public half and key hash of a module KEK. */
SR_MUST_USE enum sr_err sr_kek_public(const struct sr_module *m, const char *ident, EVP_PKEY **ret_pub);

/* Import: the KEK is either a module key (kek_blob NULL: local/key_byok_<kek_ident>) or a vault blob.
 * Its ACL must permit Import. Any failure to open the package is the one SR_ERR_BYOK_UNWRAP; a key
 * that opens but is not allowed (RSA < 2048, another curve) is SR_ERR_KEY_TYPE. */
SR_MUST_USE enum sr_err sr_import_wrapped(const struct sr_module *m, const char *kek_ident, const uint8_t *kek_blob,
                                          size_t kek_len, const uint8_t *label, size_t label_len,
                                          const uint8_t *ct, size_t ctlen, const char *blob_label, const char *name,
                                          unsigned acl, struct sr_buf *out_blob, struct sr_key_spec *ret_spec);

/* The same for an AES (oct-HSM) target, whose wrapped bytes are the key itself (16, 24 or 32 of them, else
 * SR_ERR_KEY_TYPE), as the Azure BYOK specification allows. */
SR_MUST_USE enum sr_err sr_import_wrapped_secret(const struct sr_module *m, const char *kek_ident,
                                                 const uint8_t *kek_blob, size_t kek_len, const uint8_t *label,
                                                 size_t label_len, const uint8_t *ct, size_t ctlen,
                                                 const char *blob_label, const char *name, unsigned acl,
                                                 struct sr_buf *out_blob, struct sr_key_spec *ret_spec);

/* ECDSA P-384 / SHA-384 signature (DER) by the module's identity key over data. */
SR_MUST_USE enum sr_err sr_module_attest(const struct sr_module *m, const uint8_t *data, size_t len,
                                         struct sr_buf *out_sig);
/* The module's warrant and the root that signed it, PEM. */
SR_MUST_USE enum sr_err sr_module_certificates(const struct sr_module *m, struct sr_buf *warrant_pem,
                                               struct sr_buf *root_pem);

#endif
