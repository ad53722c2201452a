/*
 * certkey.c - what certificates ask of the module (blob.h): a certificate or a certificate request signed by a
 * module key, and a PKCS#12 or PEM's private key taken into the module. The private key is in clear only here,
 * between its decoding and its sealing (or its signature), and the caller gets the certificates alone.
 */
#define _GNU_SOURCE /* memmem */
#include <stdbool.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>

#include "hsm/blob.h"
#include "crypto/ossl.h"
#include "crypto/pkey.h"
#include "hsm/internal.h"

/* The digest a certificate signed by key uses: SHA-256 for RSA and P-256 (P-256K), SHA-384 for P-384, SHA-512
 * for P-521 (as Key Vault and the CA/Browser Forum pair them). */
static const EVP_MD *sr_cert_md(const EVP_PKEY *key)
{
    struct sr_key_spec spec;
    if (sr_pkey_describe((EVP_PKEY *)key, &spec) == SR_OK && spec.type == SR_KEY_EC) {
        return spec.curve == SR_CURVE_P384 ? EVP_sha384() : spec.curve == SR_CURVE_P521 ? EVP_sha512() : EVP_sha256();
    }
    return EVP_sha256();
}

enum sr_err sr_blob_sign_cert(const struct sr_module *m, const uint8_t *blob, size_t len, X509 *cert, X509_REQ *req)
{
    SR_ENSURE((cert == NULL) != (req == NULL), SR_ERR_USAGE);
    uint8_t id[SR_HASH_LEN];
    SR_AUTO_PKEY EVP_PKEY *key = NULL;
    SR_TRY(sr_key_private_cached(m, "vault", NULL, blob, len, SR_ACL_SIGN, id, &key));
    /* A request is signed by the key it asks a certificate for: another key's would prove nothing. */
    SR_ENSURE(req == NULL || (X509_REQ_get0_pubkey(req) != NULL && EVP_PKEY_eq(X509_REQ_get0_pubkey(req), key) == 1),
              SR_ERR_CERT_KEY_MISMATCH);
    int ok = cert != NULL ? X509_sign(cert, key, sr_cert_md(key)) : X509_REQ_sign(req, key, sr_cert_md(key));
    SR_ENSURE(ok > 0, SR_ERR_CRYPTO);
    return SR_OK;
}

static int sr_pem_password(char *buf, int size, int rwflag, void *u)
{
    (void)rwflag;
    const char *pass = u;
    size_t n = pass != NULL ? strlen(pass) : 0;
    if (n > (size_t)size) {
        return -1;
    }
    memcpy(buf, pass != NULL ? pass : "", n);
    return (int)n;
}

/* The certificate of chain whose public key is key's (the leaf), taken out of chain. */
static enum sr_err sr_take_leaf(EVP_PKEY *key, STACK_OF(X509) *chain, X509 **ret)
{
    for (int i = 0; i < sk_X509_num(chain); i++) {
        X509 *c = sk_X509_value(chain, i);
        if (X509_check_private_key(c, key) == 1) {
            *ret = sk_X509_delete(chain, i);
            return SR_OK;
        }
    }
    ERR_clear_error();
    return SR_ERR_CERT_KEY_MISMATCH;
}

/* PEM: a private key (PKCS#8, encrypted or not, or a traditional one) and certificates, in any order: each
 * reader skips the blocks of other kinds. A key that will not decode in a PEM that holds an encrypted one is a
 * wrong (or missing) password. */
static enum sr_err sr_read_pem(const uint8_t *text, size_t len, const char *password, EVP_PKEY **ret_key,
                               STACK_OF(X509) *chain)
{
    SR_ENSURE(len <= INT32_MAX, SR_ERR_TOO_LARGE);
    BIO *bio = BIO_new_mem_buf(text, (int)len);
    SR_ENSURE(bio != NULL, SR_ERR_NOMEM);
    *ret_key = PEM_read_bio_PrivateKey(bio, NULL, sr_pem_password, (void *)password);
    enum sr_err r = SR_OK;
    if (*ret_key == NULL) {
        bool encrypted = memmem(text, len, "ENCRYPTED PRIVATE KEY", 21) != NULL || memmem(text, len, "Proc-Type: 4,ENCRYPTED", 22) != NULL;
        r = encrypted ? SR_ERR_CERT_PASSWORD : SR_ERR_CERT_NO_KEY;
    }
    (void)BIO_reset(bio);
    X509 *c = NULL;
    while (r == SR_OK && (c = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (sk_X509_push(chain, c) <= 0) {
            X509_free(c);
            r = SR_ERR_NOMEM;
        }
    }
    BIO_free(bio);
    ERR_clear_error();
    return r;
}

/* PKCS#12: its MAC tells a wrong password from an encryption OpenSSL's default provider lacks (RC2, the
 * legacy `openssl pkcs12 -export -legacy` and Windows' old default), which is refused by name. */
static enum sr_err sr_read_pkcs12(const uint8_t *der, size_t len, const char *password, EVP_PKEY **ret_key,
                                  STACK_OF(X509) *chain)
{
    SR_ENSURE(len <= INT32_MAX, SR_ERR_TOO_LARGE);
    const unsigned char *p = der;
    PKCS12 *p12 = d2i_PKCS12(NULL, &p, (long)len);
    if (p12 == NULL || p != der + len) {
        PKCS12_free(p12);
        ERR_clear_error();
        return SR_ERR_CERT_FORMAT;
    }
    const char *pass = password != NULL ? password : "";
    enum sr_err r = SR_OK;
    if (PKCS12_mac_present(p12) && PKCS12_verify_mac(p12, pass, -1) != 1 &&
        (*pass != 0 || PKCS12_verify_mac(p12, NULL, 0) != 1)) {
        r = SR_ERR_CERT_PASSWORD;
    }
    X509 *leaf = NULL;
    STACK_OF(X509) *ca = NULL;
    if (r == SR_OK && PKCS12_parse(p12, pass, ret_key, &leaf, &ca) != 1) {
        r = SR_ERR_PKCS12_LEGACY; /* the MAC verified: what failed is the content's encryption */
    }
    PKCS12_free(p12);
    if (r == SR_OK && leaf != NULL) {
        r = sk_X509_push(chain, leaf) > 0 ? SR_OK : SR_ERR_NOMEM;
        leaf = r == SR_OK ? NULL : leaf;
    }
    while (r == SR_OK && ca != NULL && sk_X509_num(ca) > 0) {
        X509 *c = sk_X509_shift(ca);
        if (sk_X509_push(chain, c) <= 0) {
            X509_free(c);
            r = SR_ERR_NOMEM;
        }
    }
    X509_free(leaf);
    sk_X509_pop_free(ca, X509_free);
    ERR_clear_error();
    return r;
}

enum sr_err sr_blob_import_cert(const struct sr_module *m, const char *label, const char *name,
                                const struct sr_cert_import *in, unsigned acl, struct sr_buf *out_blob,
                                struct sr_key_spec *ret_spec, X509 **ret_leaf, STACK_OF(X509) **ret_chain)
{
    *ret_leaf = NULL;
    *ret_chain = NULL;
    STACK_OF(X509) *chain = sk_X509_new_null();
    SR_ENSURE(chain != NULL, SR_ERR_NOMEM);
    EVP_PKEY *key = NULL;
    enum sr_err r = in->pem ? sr_read_pem(in->data, in->len, in->password, &key, chain)
                            : sr_read_pkcs12(in->data, in->len, in->password, &key, chain);
    X509 *leaf = NULL;
    if (r == SR_OK && key == NULL) {
        r = SR_ERR_CERT_NO_KEY;
    }
    if (r == SR_OK) {
        r = sr_take_leaf(key, chain, &leaf);
    }
    struct sr_key_spec spec;
    if (r == SR_OK) {
        r = sr_pkey_describe(key, &spec);
    }
    if (r == SR_OK && !(spec.type == SR_KEY_EC || (spec.type == SR_KEY_RSA && (spec.bits == 2048 || spec.bits == 3072 ||
                                                                              spec.bits == 4096)))) {
        r = SR_ERR_KEY_TYPE;
    }
    if (r == SR_OK) {
        r = sr_vault_blob_seal(m, label, name, SR_ORIGIN_IMPORTED, acl, key, out_blob, ret_spec);
    }
    EVP_PKEY_free(key); /* OpenSSL clears a private key it frees */
    if (r != SR_OK) {
        X509_free(leaf);
        sk_X509_pop_free(chain, X509_free);
        return r;
    }
    *ret_leaf = leaf;
    *ret_chain = chain;
    return SR_OK;
}
