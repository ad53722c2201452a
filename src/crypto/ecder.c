/*
 * ecder.c - an EC key's SubjectPublicKeyInfo and PKCS#8 built from its parameters with OpenSSL's ASN.1
 * types (X509_PUBKEY, PKCS8_PRIV_KEY_INFO), not with OSSL_ENCODER: in OpenSSL 3.0 making an encoder
 * scans every provided encoder, which costs several times an EC key generation. The bytes are exactly
 * OpenSSL's (tests/unit/test_crypto.c compares them for every curve); decoding stays OpenSSL's.
 */
#include "crypto/ecder.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "crypto/crypto.h"

#define SR_EC_MAX_COORD 66 /* P-521; pkey.c's curve table names the curves */
#define SR_EC_MAX_POINT (1 + 2 * SR_EC_MAX_COORD)

/* The uncompressed point 04 || x || y. */
static enum sr_err sr_ec_point(const EVP_PKEY *key, uint8_t out[SR_EC_MAX_POINT], size_t *len)
{
    SR_ENSURE(EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, out, SR_EC_MAX_POINT, len) == 1,
              SR_ERR_CRYPTO);
    SR_ENSURE(*len > 1 && out[0] == 0x04, SR_ERR_CRYPTO);
    return SR_OK;
}

/* The algorithm both structures name: id-ecPublicKey with the curve's OID as parameter. */
static enum sr_err sr_ec_alg_params(int curve_nid, ASN1_OBJECT **alg, ASN1_OBJECT **curve)
{
    *alg = OBJ_nid2obj(NID_X9_62_id_ecPublicKey);
    *curve = OBJ_nid2obj(curve_nid);
    SR_ENSURE(*alg != NULL && *curve != NULL, SR_ERR_CRYPTO);
    return SR_OK;
}

/* Moves an i2d result into out, then frees (and, for secrets, clears) it. */
static enum sr_err sr_take_der(unsigned char *der, int len, bool secret, struct sr_buf *out)
{
    enum sr_err r = der != NULL && len > 0 ? sr_buf_append(out, der, (size_t)len) : SR_ERR_CRYPTO;
    if (secret && der != NULL && len > 0) {
        OPENSSL_clear_free(der, (size_t)len);
    } else {
        OPENSSL_free(der);
    }
    return r;
}

enum sr_err sr_ec_spki(const EVP_PKEY *key, int curve_nid, struct sr_buf *out)
{
    uint8_t point[SR_EC_MAX_POINT];
    size_t plen = 0;
    SR_TRY(sr_ec_point(key, point, &plen));
    ASN1_OBJECT *alg = NULL, *curve = NULL;
    SR_TRY(sr_ec_alg_params(curve_nid, &alg, &curve));
    X509_PUBKEY *spki = X509_PUBKEY_new();
    SR_ENSURE(spki != NULL, SR_ERR_NOMEM);
    unsigned char *penc = OPENSSL_memdup(point, plen); /* owned by spki once set */
    unsigned char *der = NULL;
    int len = -1;
    if (penc != NULL && X509_PUBKEY_set0_param(spki, alg, V_ASN1_OBJECT, curve, penc, (int)plen) == 1) {
        len = i2d_X509_PUBKEY(spki, &der);
    } else {
        OPENSSL_free(penc);
    }
    X509_PUBKEY_free(spki);
    return sr_take_der(der, len, false, out);
}

/* DER tag and length (short or long form) at p; returns the bytes written. */
static size_t sr_der_head(uint8_t *p, uint8_t tag, size_t len)
{
    p[0] = tag;
    if (len < 0x80) {
        p[1] = (uint8_t)len;
        return 2;
    }
    if (len < 0x100) {
        p[1] = 0x81;
        p[2] = (uint8_t)len;
        return 3;
    }
    p[1] = 0x82;
    p[2] = (uint8_t)(len >> 8);
    p[3] = (uint8_t)len;
    return 4;
}

static size_t sr_der_head_len(size_t len)
{
    return len < 0x80 ? 2 : len < 0x100 ? 3 : 4;
}

/*
 * RFC 5915 ECPrivateKey as OpenSSL writes it inside PKCS#8: version 1, the scalar padded to the order's
 * length, no [0] parameters (PKCS#8 names the curve), [1] the public point.
 */
static enum sr_err sr_ec_private_key_der(const EVP_PKEY *key, size_t scalar_len, struct sr_buf *out)
{
    uint8_t point[SR_EC_MAX_POINT];
    size_t plen = 0;
    SR_TRY(sr_ec_point(key, point, &plen));
    BIGNUM *d = NULL;
    SR_ENSURE(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_PRIV_KEY, &d) == 1, SR_ERR_CRYPTO);
    size_t bits = 1 + plen, tagged = sr_der_head_len(bits) + bits;
    size_t body = 3 + sr_der_head_len(scalar_len) + scalar_len + sr_der_head_len(tagged) + tagged;
    size_t total = sr_der_head_len(body) + body;
    enum sr_err r = sr_buf_reserve(out, total);
    if (r == SR_OK) {
        uint8_t *p = out->data + out->len;
        p += sr_der_head(p, 0x30, body);
        memcpy(p, "\x02\x01\x01", 3);
        p += 3;
        p += sr_der_head(p, 0x04, scalar_len);
        r = BN_bn2binpad(d, p, (int)scalar_len) == (int)scalar_len ? SR_OK : SR_ERR_CRYPTO;
        p += scalar_len;
        p += sr_der_head(p, 0xa1, tagged);
        p += sr_der_head(p, 0x03, bits);
        *p++ = 0x00; /* no unused bits */
        memcpy(p, point, plen);
        if (r == SR_OK) {
            out->len += total;
        }
    }
    BN_clear_free(d);
    return r;
}

enum sr_err sr_ec_pkcs8(const EVP_PKEY *key, int curve_nid, size_t scalar_len, struct sr_buf *out_secret)
{
    SR_ENSURE(out_secret->secret, SR_ERR_INTERNAL);
    SR_AUTO_BUF struct sr_buf inner = {0};
    sr_buf_init(&inner, 512, SR_BUF_SECRET);
    SR_TRY(sr_ec_private_key_der(key, scalar_len, &inner));
    ASN1_OBJECT *alg = NULL, *curve = NULL;
    SR_TRY(sr_ec_alg_params(curve_nid, &alg, &curve));
    PKCS8_PRIV_KEY_INFO *p8 = PKCS8_PRIV_KEY_INFO_new();
    SR_ENSURE(p8 != NULL, SR_ERR_NOMEM);
    /* p8 takes a copy of the inner encoding: PKCS8_PRIV_KEY_INFO_free cleanses it before freeing. */
    unsigned char *penc = OPENSSL_malloc(inner.len);
    unsigned char *der = NULL;
    int len = -1;
    if (penc != NULL) {
        memcpy(penc, inner.data, inner.len);
    }
    if (penc != NULL && PKCS8_pkey_set0(p8, alg, 0, V_ASN1_OBJECT, curve, penc, (int)inner.len) == 1) {
        len = i2d_PKCS8_PRIV_KEY_INFO(p8, &der);
    } else if (penc != NULL) {
        OPENSSL_clear_free(penc, inner.len);
    }
    PKCS8_PRIV_KEY_INFO_free(p8);
    return sr_take_der(der, len, true, out_secret);
}
