/*
 * backend.c - the calls of backend.h, and the `software` backend: a region's software module, whose keys are
 * key-file blobs (blob.h) the store keeps. Each row is the module's own function; nothing is added here.
 */
#include <stdlib.h>

#include "hsm/backend.h"
#include "hsm/blob.h"
#include "hsm/transfer.h"

struct sr_hsm_soft {
    struct sr_hsm base; /* first: a struct sr_hsm * of this backend is a struct sr_hsm_soft * */
    struct sr_module *m;
};

static const struct sr_module *sr_soft(const struct sr_hsm *h)
{
    return ((const struct sr_hsm_soft *)h)->m;
}

static void sr_soft_free(struct sr_hsm *h)
{
    struct sr_hsm_soft *s = (struct sr_hsm_soft *)h;
    sr_module_free(s->m);
    free(s);
}

static const char *sr_soft_esn(const struct sr_hsm *h)
{
    return sr_module_esn(sr_soft(h));
}

static enum sr_err sr_soft_world(const struct sr_hsm *h, struct sr_world_info *ret)
{
    /* Reads the world file's header, which changes nothing in the module. */
    return sr_module_world_info((struct sr_module *)sr_soft(h), ret);
}

static enum sr_err sr_soft_kek_public(const struct sr_hsm *h, EVP_PKEY **ret)
{
    return sr_kek_public(sr_soft(h), SR_KEK_IDENT, ret);
}

static enum sr_err sr_soft_attest(const struct sr_hsm *h, const uint8_t *data, size_t len, struct sr_buf *out)
{
    return sr_module_attest(sr_soft(h), data, len, out);
}

static enum sr_err sr_soft_certificates(const struct sr_hsm *h, struct sr_buf *warrant, struct sr_buf *root)
{
    return sr_module_certificates(sr_soft(h), warrant, root);
}

static enum sr_err sr_soft_generate(const struct sr_hsm *h, const char *label, const char *name,
                                    const struct sr_key_spec *spec, unsigned acl, struct sr_buf *out)
{
    return sr_blob_generate(sr_soft(h), label, name, spec, acl, out);
}

static enum sr_err sr_soft_import_jwk(const struct sr_hsm *h, const char *label, const char *name, const json_t *jwk,
                                      unsigned acl, struct sr_buf *out, struct sr_key_spec *ret_spec)
{
    return sr_blob_import_jwk(sr_soft(h), label, name, jwk, acl, out, ret_spec);
}

static enum sr_err sr_soft_import_secret(const struct sr_hsm *h, const char *label, const char *name,
                                         const char *origin, const uint8_t *key, size_t len, unsigned acl,
                                         struct sr_buf *out)
{
    return sr_blob_import_secret(sr_soft(h), label, name, origin, key, len, acl, out);
}

static enum sr_err sr_soft_import_wrapped(const struct sr_hsm *h, const struct sr_hsm_import *in, const char *label,
                                          const char *name, unsigned acl, struct sr_buf *out,
                                          struct sr_key_spec *ret_spec)
{
    return (in->secret ? sr_import_wrapped_secret : sr_import_wrapped)(sr_soft(h), SR_KEK_IDENT, in->kek, in->kek_len,
                                                                        in->label, in->label_len, in->ct, in->ct_len,
                                                                        label, name, acl, out, ret_spec);
}

static enum sr_err sr_soft_info(const struct sr_hsm *h, const uint8_t *blob, size_t len, struct sr_key_info *ret)
{
    return sr_blob_info(sr_soft(h), blob, len, ret);
}

static enum sr_err sr_soft_public(const struct sr_hsm *h, const uint8_t *blob, size_t len, EVP_PKEY **ret)
{
    return sr_module_blob_public(sr_soft(h), blob, len, ret);
}

static enum sr_err sr_soft_jwk(const struct sr_hsm *h, const uint8_t *blob, size_t len, json_t **ret)
{
    return sr_module_blob_jwk(sr_soft(h), blob, len, ret);
}

static enum sr_err sr_soft_sign_digest(const struct sr_hsm *h, const uint8_t *blob, size_t len, enum sr_sign_alg alg,
                                       const uint8_t *digest, size_t dlen, struct sr_buf *out)
{
    return sr_blob_sign_digest(sr_soft(h), blob, len, alg, digest, dlen, out);
}

static enum sr_err sr_soft_decrypt(const struct sr_hsm *h, const uint8_t *blob, size_t len, enum sr_acl_action action,
                                   enum sr_enc_alg alg, const uint8_t *ct, size_t ctlen, struct sr_buf *out)
{
    return sr_blob_decrypt(sr_soft(h), blob, len, action, alg, ct, ctlen, out);
}

static enum sr_err sr_soft_symmetric(const struct sr_hsm *h, const uint8_t *blob, size_t len,
                                     enum sr_acl_action action, const struct sr_sym_alg *alg,
                                     const struct sr_sym_input *in, struct sr_buf *out, struct sr_sym_extra *extra)
{
    return sr_blob_symmetric(sr_soft(h), blob, len, action, alg, in, out, extra);
}

static enum sr_err sr_soft_release_wrapped(const struct sr_hsm *h, const uint8_t *blob, size_t len, EVP_PKEY *target,
                                           enum sr_enc_alg oaep, struct sr_buf *out)
{
    return sr_blob_release_wrapped(sr_soft(h), blob, len, target, oaep, out);
}

static enum sr_err sr_soft_seal_backup(const struct sr_hsm *h, const json_t *header, const uint8_t *pt, size_t len,
                                       struct sr_buf *out)
{
    return sr_module_seal_backup(sr_soft(h), header, pt, len, out);
}

static enum sr_err sr_soft_open_backup(const struct sr_hsm *h, const uint8_t *blob, size_t len, struct sr_buf *out)
{
    return sr_module_open_backup(sr_soft(h), blob, len, out);
}

static enum sr_err sr_soft_seal_value(const struct sr_hsm *h, const uint8_t *aad, size_t aadlen, const uint8_t *pt,
                                      size_t len, struct sr_buf *out)
{
    return sr_module_seal_value(sr_soft(h), aad, aadlen, pt, len, out);
}

static enum sr_err sr_soft_open_value(const struct sr_hsm *h, const uint8_t *aad, size_t aadlen, const uint8_t *blob,
                                      size_t len, struct sr_buf *out)
{
    return sr_module_open_value(sr_soft(h), aad, aadlen, blob, len, out);
}

static enum sr_err sr_soft_destroy(const struct sr_hsm *h, const uint8_t *blob, size_t len)
{
    (void)h, (void)blob, (void)len; /* the blob was the key: the store's row going is its end */
    return SR_OK;
}

static enum sr_err sr_soft_evidence(const struct sr_hsm *h, const uint8_t *blob, size_t len, json_t **ret)
{
    (void)h, (void)blob, (void)len; /* the blob's header, authenticated under the world key, is the evidence */
    *ret = NULL;
    return SR_OK;
}

static enum sr_err sr_soft_sign_cert(const struct sr_hsm *h, const uint8_t *blob, size_t len, X509 *cert,
                                     X509_REQ *req)
{
    return sr_blob_sign_cert(sr_soft(h), blob, len, cert, req);
}

static enum sr_err sr_soft_import_cert(const struct sr_hsm *h, const char *label, const char *name,
                                       const struct sr_cert_import *in, unsigned acl, struct sr_buf *out_blob,
                                       struct sr_key_spec *ret_spec, X509 **ret_leaf, STACK_OF(X509) **ret_chain)
{
    return sr_blob_import_cert(sr_soft(h), label, name, in, acl, out_blob, ret_spec, ret_leaf, ret_chain);
}

static enum sr_err sr_soft_check(const struct sr_hsm *h)
{
    (void)h; /* in this process: it answers whenever the server does */
    return SR_OK;
}

static const struct sr_hsm_ops sr_hsm_soft_ops = {
    .name = "software", .free = sr_soft_free, .esn = sr_soft_esn, .world = sr_soft_world,
    .kek_public = sr_soft_kek_public, .attest = sr_soft_attest, .certificates = sr_soft_certificates,
    .generate = sr_soft_generate, .import_jwk = sr_soft_import_jwk, .import_secret = sr_soft_import_secret,
    .import_wrapped = sr_soft_import_wrapped, .info = sr_soft_info, .spec = sr_blob_spec,
    .public_key = sr_soft_public, .jwk = sr_soft_jwk, .sign_digest = sr_soft_sign_digest,
    .decrypt = sr_soft_decrypt, .symmetric = sr_soft_symmetric, .release_wrapped = sr_soft_release_wrapped,
    .seal_backup = sr_soft_seal_backup, .open_backup = sr_soft_open_backup, .destroy = sr_soft_destroy,
    .seal_value = sr_soft_seal_value, .open_value = sr_soft_open_value,
    .evidence = sr_soft_evidence, .check = sr_soft_check, .sign_cert = sr_soft_sign_cert,
    .import_cert = sr_soft_import_cert,
};

enum sr_err sr_hsm_software(struct sr_module *m, struct sr_hsm **ret)
{
    struct sr_hsm_soft *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        sr_module_free(m);
        return SR_ERR_NOMEM;
    }
    s->base.ops = &sr_hsm_soft_ops;
    s->m = m;
    *ret = &s->base;
    return SR_OK;
}

const struct sr_module *sr_hsm_module(const struct sr_hsm *h)
{
    return h->ops == &sr_hsm_soft_ops ? sr_soft(h) : NULL;
}

void sr_hsm_free(struct sr_hsm *h)
{
    if (h != NULL) {
        h->ops->free(h);
    }
}

/* --- the calls --- */

const char *sr_hsm_esn(const struct sr_hsm *h)
{
    return h->ops->esn(h);
}

enum sr_err sr_hsm_world(const struct sr_hsm *h, struct sr_world_info *ret)
{
    return h->ops->world(h, ret);
}

enum sr_err sr_hsm_kek_public(const struct sr_hsm *h, EVP_PKEY **ret)
{
    return h->ops->kek_public(h, ret);
}

enum sr_err sr_hsm_attest(const struct sr_hsm *h, const uint8_t *data, size_t len, struct sr_buf *out)
{
    return h->ops->attest(h, data, len, out);
}

enum sr_err sr_hsm_certificates(const struct sr_hsm *h, struct sr_buf *warrant_pem, struct sr_buf *root_pem)
{
    return h->ops->certificates(h, warrant_pem, root_pem);
}

enum sr_err sr_hsm_generate(const struct sr_hsm *h, const char *label, const char *name,
                            const struct sr_key_spec *spec, unsigned acl, struct sr_buf *out_blob)
{
    return h->ops->generate(h, label, name, spec, acl, out_blob);
}

enum sr_err sr_hsm_import_jwk(const struct sr_hsm *h, const char *label, const char *name, const json_t *jwk,
                              unsigned acl, struct sr_buf *out_blob, struct sr_key_spec *ret_spec)
{
    return h->ops->import_jwk(h, label, name, jwk, acl, out_blob, ret_spec);
}

enum sr_err sr_hsm_import_secret(const struct sr_hsm *h, const char *label, const char *name, const char *origin,
                                 const uint8_t *key, size_t len, unsigned acl, struct sr_buf *out_blob)
{
    return h->ops->import_secret(h, label, name, origin, key, len, acl, out_blob);
}

enum sr_err sr_hsm_import_wrapped(const struct sr_hsm *h, const struct sr_hsm_import *in, const char *label,
                                  const char *name, unsigned acl, struct sr_buf *out_blob, struct sr_key_spec *ret_spec)
{
    return h->ops->import_wrapped(h, in, label, name, acl, out_blob, ret_spec);
}

enum sr_err sr_hsm_info(const struct sr_hsm *h, const uint8_t *blob, size_t len, struct sr_key_info *ret)
{
    return h->ops->info(h, blob, len, ret);
}

enum sr_err sr_hsm_spec(const struct sr_hsm *h, const uint8_t *blob, size_t len, struct sr_key_spec *ret)
{
    return h->ops->spec(blob, len, ret);
}

enum sr_err sr_hsm_public(const struct sr_hsm *h, const uint8_t *blob, size_t len, EVP_PKEY **ret)
{
    return h->ops->public_key(h, blob, len, ret);
}

enum sr_err sr_hsm_jwk(const struct sr_hsm *h, const uint8_t *blob, size_t len, json_t **ret)
{
    return h->ops->jwk(h, blob, len, ret);
}

enum sr_err sr_hsm_sign_digest(const struct sr_hsm *h, const uint8_t *blob, size_t len, enum sr_sign_alg alg,
                               const uint8_t *digest, size_t dlen, struct sr_buf *out_sig)
{
    return h->ops->sign_digest(h, blob, len, alg, digest, dlen, out_sig);
}

enum sr_err sr_hsm_decrypt(const struct sr_hsm *h, const uint8_t *blob, size_t len, enum sr_acl_action action,
                           enum sr_enc_alg alg, const uint8_t *ct, size_t ctlen, struct sr_buf *out)
{
    return h->ops->decrypt(h, blob, len, action, alg, ct, ctlen, out);
}

enum sr_err sr_hsm_symmetric(const struct sr_hsm *h, const uint8_t *blob, size_t len, enum sr_acl_action action,
                             const struct sr_sym_alg *alg, const struct sr_sym_input *in, struct sr_buf *out,
                             struct sr_sym_extra *extra)
{
    return h->ops->symmetric(h, blob, len, action, alg, in, out, extra);
}

enum sr_err sr_hsm_release_wrapped(const struct sr_hsm *h, const uint8_t *blob, size_t len, EVP_PKEY *target,
                                   enum sr_enc_alg oaep, struct sr_buf *out)
{
    return h->ops->release_wrapped(h, blob, len, target, oaep, out);
}

enum sr_err sr_hsm_sign_cert(const struct sr_hsm *h, const uint8_t *blob, size_t len, X509 *cert, X509_REQ *req)
{
    return h->ops->sign_cert(h, blob, len, cert, req);
}

enum sr_err sr_hsm_import_cert(const struct sr_hsm *h, const char *label, const char *name,
                               const struct sr_cert_import *in, unsigned acl, struct sr_buf *out_blob,
                               struct sr_key_spec *ret_spec, X509 **ret_leaf, STACK_OF(X509) **ret_chain)
{
    return h->ops->import_cert(h, label, name, in, acl, out_blob, ret_spec, ret_leaf, ret_chain);
}

enum sr_err sr_hsm_seal_value(const struct sr_hsm *h, const uint8_t *aad, size_t aadlen, const uint8_t *pt,
                              size_t len, struct sr_buf *out)
{
    return h->ops->seal_value(h, aad, aadlen, pt, len, out);
}

enum sr_err sr_hsm_open_value(const struct sr_hsm *h, const uint8_t *aad, size_t aadlen, const uint8_t *blob,
                              size_t len, struct sr_buf *out)
{
    return h->ops->open_value(h, aad, aadlen, blob, len, out);
}

enum sr_err sr_hsm_seal_backup(const struct sr_hsm *h, const json_t *header, const uint8_t *pt, size_t len,
                               struct sr_buf *out)
{
    return h->ops->seal_backup(h, header, pt, len, out);
}

enum sr_err sr_hsm_open_backup(const struct sr_hsm *h, const uint8_t *blob, size_t len, struct sr_buf *out)
{
    return h->ops->open_backup(h, blob, len, out);
}

enum sr_err sr_hsm_destroy(const struct sr_hsm *h, const uint8_t *blob, size_t len)
{
    return h->ops->destroy(h, blob, len);
}

enum sr_err sr_hsm_evidence(const struct sr_hsm *h, const uint8_t *blob, size_t len, json_t **ret)
{
    return h->ops->evidence(h, blob, len, ret);
}

enum sr_err sr_hsm_check(const struct sr_hsm *h)
{
    return h->ops->check(h);
}
