/*
 * fuzz_certimport.c - a certificate with its private key as a user uploads one (PKCS#12 DER or PEM, with or
 * without a password), taken into the module.
 * Target: sr_blob_import_cert (hsm/certkey.c: OpenSSL's PKCS#12 and PEM readers, the MAC check, the match of
 * key and leaf, the key's sealing). The input's first byte picks PEM (odd) or PKCS#12 (even) and whether the
 * password "pw" is given; the rest is the document.
 */
#include "hsm/blob.h"

#include <openssl/pem.h>
#include <openssl/pkcs12.h>

#include "crypto/ossl.h"
#include "crypto/pkey.h"
#include "module_fixture.h"

/* One input (flags byte, then the document) through the import: whether it was taken. */
static bool sr_import(const uint8_t *data, size_t size)
{
    struct sr_cert_import in = {.data = data + 1, .len = size - 1, .pem = (data[0] & 1) != 0,
                                .password = (data[0] & 2) != 0 ? "pw" : NULL};
    struct sr_buf blob;
    sr_buf_init(&blob, 1 << 16, SR_BUF_PLAIN);
    struct sr_key_spec spec;
    X509 *leaf = NULL;
    STACK_OF(X509) *chain = NULL;
    bool taken = sr_blob_import_cert(sr_m, "0123456789abcdef0123456789abcdef", "fuzz", &in, SR_ACL_SIGN, &blob, &spec,
                                     &leaf, &chain) == SR_OK;
    if (taken && (leaf == NULL || chain == NULL || blob.len == 0)) {
        abort(); /* success hands over a leaf, a chain and a sealed key */
    }
    if (!taken && (leaf != NULL || chain != NULL)) {
        abort(); /* a refusal hands over nothing */
    }
    X509_free(leaf);
    sk_X509_pop_free(chain, X509_free);
    sr_buf_release(&blob);
    return taken;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size >= 1) {
        (void)sr_import(data, size);
    }
    return 0;
}

/* flags, then the bytes a BIO holds. */
static void sr_seed_bio(struct sr_buf *seed, uint8_t flags, BIO *bio)
{
    char *p = NULL;
    long n = BIO_get_mem_data(bio, &p);
    sr_buf_init(seed, (size_t)n + 1, SR_BUF_PLAIN);
    if (n <= 0 || sr_buf_append(seed, &flags, 1) != SR_OK || sr_buf_append(seed, p, (size_t)n) != SR_OK) {
        abort();
    }
    BIO_free(bio);
}

void sr_fuzz_seeds(struct sr_buf *seeds, size_t *n)
{
    struct sr_key_spec ec = {.type = SR_KEY_EC, .curve = SR_CURVE_P256};
    struct sr_key_spec rsa = {.type = SR_KEY_RSA, .bits = 2048, .pubexp = 65537};
    EVP_PKEY *key = NULL, *rkey = NULL;
    X509 *cert = NULL, *rcert = NULL;
    if (sr_pkey_generate(&ec, &key) != SR_OK || sr_pkey_generate(&rsa, &rkey) != SR_OK ||
        sr_x509_self_signed(key, "fuzz.example", 30, &cert) != SR_OK ||
        sr_x509_self_signed(rkey, "fuzz-rsa.example", 30, &rcert) != SR_OK) {
        abort();
    }
    size_t k = 0;
    const struct {
        EVP_PKEY *key;
        X509 *cert;
        const char *pass;
        int nid;
    } p12s[] = {{key, cert, "pw", 0}, {rkey, rcert, NULL, 0}, {key, cert, "pw", NID_pbe_WithSHA1And3_Key_TripleDES_CBC}};
    for (size_t i = 0; i < SR_ARRAY_LEN(p12s); i++) {
        PKCS12 *p12 = PKCS12_create(p12s[i].pass, "fuzz", p12s[i].key, p12s[i].cert, NULL, p12s[i].nid, p12s[i].nid, 0, 0, 0);
        BIO *bio = BIO_new(BIO_s_mem());
        if (p12 == NULL || bio == NULL || i2d_PKCS12_bio(bio, p12) != 1) {
            abort();
        }
        PKCS12_free(p12);
        sr_seed_bio(&seeds[k++], p12s[i].pass != NULL ? 2 : 0, bio);
    }
    BIO *pem = BIO_new(BIO_s_mem());
    BIO *enc = BIO_new(BIO_s_mem());
    if (pem == NULL || enc == NULL || PEM_write_bio_X509(pem, cert) != 1 ||
        PEM_write_bio_PrivateKey(pem, key, NULL, NULL, 0, NULL, NULL) != 1 || PEM_write_bio_X509(enc, rcert) != 1 ||
        PEM_write_bio_PKCS8PrivateKey(enc, rkey, EVP_aes_256_cbc(), NULL, 0, NULL, (void *)"pw") != 1) {
        abort();
    }
    sr_seed_bio(&seeds[k++], 1, pem);
    sr_seed_bio(&seeds[k++], 3, enc);
    X509_free(cert);
    X509_free(rcert);
    EVP_PKEY_free(key);
    EVP_PKEY_free(rkey);
    /* Every seed reaches the success path: a seed refused would leave the deep checks unreached. */
    for (size_t i = 0; i < k; i++) {
        if (!sr_import(seeds[i].data, seeds[i].len)) {
            abort();
        }
    }
    *n = k;
}
