#include "crypto/pkey.h"

#include <limits.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "crypto/crypto.h"
#include "crypto/ecder.h"
#include "crypto/ossl.h"

#define SR_MAX_SIG 1024u
#define SR_MAX_DER (16u * 1024u)

struct sr_curve_row {
    enum sr_curve curve;
    const char *jose;
    const char *ossl;
    enum sr_sign_alg alg;
    size_t coord_len; /* also the private scalar's length in PKCS#8 */
    int nid;
};

static const struct sr_curve_row sr_curves[] = {
    {SR_CURVE_P256, "P-256", "P-256", SR_ALG_ES256, 32, NID_X9_62_prime256v1},
    {SR_CURVE_P384, "P-384", "P-384", SR_ALG_ES384, 48, NID_secp384r1},
    {SR_CURVE_P521, "P-521", "P-521", SR_ALG_ES512, 66, NID_secp521r1},
    {SR_CURVE_P256K, "P-256K", "secp256k1", SR_ALG_ES256K, 32, NID_secp256k1},
};

struct sr_alg_row {
    enum sr_sign_alg alg;
    const char *name;
    const char *md;
    size_t digest_len;
    enum sr_key_type type;
    bool pss;
    bool api;         /* one of Key Vault's (JOSE) algorithms */
    bool verify_only; /* SHA-1: old signatures are checked, none is made */
};

static const struct sr_alg_row sr_algs[] = {
    {SR_ALG_RS256, "RS256", "SHA256", 32, SR_KEY_RSA, false, true, false},
    {SR_ALG_RS384, "RS384", "SHA384", 48, SR_KEY_RSA, false, true, false},
    {SR_ALG_RS512, "RS512", "SHA512", 64, SR_KEY_RSA, false, true, false},
    {SR_ALG_PS256, "PS256", "SHA256", 32, SR_KEY_RSA, true, true, false},
    {SR_ALG_PS384, "PS384", "SHA384", 48, SR_KEY_RSA, true, true, false},
    {SR_ALG_PS512, "PS512", "SHA512", 64, SR_KEY_RSA, true, true, false},
    {SR_ALG_ES256, "ES256", "SHA256", 32, SR_KEY_EC, false, true, false},
    {SR_ALG_ES384, "ES384", "SHA384", 48, SR_KEY_EC, false, true, false},
    {SR_ALG_ES512, "ES512", "SHA512", 64, SR_KEY_EC, false, true, false},
    {SR_ALG_ES256K, "ES256K", "SHA256", 32, SR_KEY_EC, false, true, false},
    {SR_ALG_RS1, "RSA-SHA1", "SHA1", 20, SR_KEY_RSA, false, false, true},
    {SR_ALG_RS224, "RSA-SHA224", "SHA224", 28, SR_KEY_RSA, false, false, false},
    {SR_ALG_PS1, "RSA-PSS-SHA1", "SHA1", 20, SR_KEY_RSA, true, false, true},
    {SR_ALG_PS224, "RSA-PSS-SHA224", "SHA224", 28, SR_KEY_RSA, true, false, false},
};

static const struct sr_curve_row *sr_curve_row(enum sr_curve c)
{
    for (size_t i = 0; i < SR_ARRAY_LEN(sr_curves); i++) {
        if (sr_curves[i].curve == c) {
            return &sr_curves[i];
        }
    }
    return NULL;
}

static const struct sr_alg_row *sr_alg_row(enum sr_sign_alg a)
{
    for (size_t i = 0; i < SR_ARRAY_LEN(sr_algs); i++) {
        if (sr_algs[i].alg == a) {
            return &sr_algs[i];
        }
    }
    return NULL;
}

/* The row of an EC key's curve, or NULL (not EC, or a curve Strongroom does not make). */
static const struct sr_curve_row *sr_ec_curve_of(const EVP_PKEY *key)
{
    struct sr_key_spec spec;
    if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC || sr_pkey_describe(key, &spec) != SR_OK) {
        return NULL;
    }
    return sr_curve_row(spec.curve);
}

const char *sr_key_type_name(enum sr_key_type t)
{
    switch (t) {
    case SR_KEY_RSA: return "RSA";
    case SR_KEY_EC: return "EC";
    case SR_KEY_AES: return "AES";
    case SR_KEY_GENERIC: return "GENERIC";
    default: return "none";
    }
}

bool sr_secret_size_ok(const struct sr_key_spec *spec)
{
    unsigned b = spec->bits;
    if (spec->type == SR_KEY_AES) {
        return b == 128 || b == 192 || b == 256;
    }
    return spec->type == SR_KEY_GENERIC && b % 8 == 0 && b >= SR_GENERIC_MIN_BITS && b <= SR_GENERIC_MAX_BITS;
}

const char *sr_curve_name(enum sr_curve c)
{
    const struct sr_curve_row *row = sr_curve_row(c);
    return row ? row->jose : "none";
}

const char *sr_curve_ossl_name(enum sr_curve c)
{
    const struct sr_curve_row *row = sr_curve_row(c);
    return row ? row->ossl : NULL;
}

size_t sr_curve_coord_len(enum sr_curve c)
{
    const struct sr_curve_row *row = sr_curve_row(c);
    return row ? row->coord_len : 0;
}

enum sr_err sr_curve_parse(const char *name, enum sr_curve *ret)
{
    for (size_t i = 0; i < SR_ARRAY_LEN(sr_curves); i++) {
        if (strcmp(sr_curves[i].jose, name) == 0) {
            *ret = sr_curves[i].curve;
            return SR_OK;
        }
    }
    return SR_ERR_KEY_TYPE;
}

const char *sr_sign_alg_name(enum sr_sign_alg a)
{
    const struct sr_alg_row *row = sr_alg_row(a);
    return row ? row->name : "none";
}

enum sr_err sr_sign_alg_parse(const char *name, enum sr_sign_alg *ret)
{
    for (size_t i = 0; i < SR_ARRAY_LEN(sr_algs); i++) {
        if (sr_algs[i].api && strcmp(sr_algs[i].name, name) == 0) {
            *ret = sr_algs[i].alg;
            return SR_OK;
        }
    }
    return SR_ERR_ALG;
}

size_t sr_sign_alg_digest_len(enum sr_sign_alg alg)
{
    const struct sr_alg_row *row = sr_alg_row(alg);
    return row ? row->digest_len : 0;
}

enum sr_err sr_pkey_describe(const EVP_PKEY *key, struct sr_key_spec *ret)
{
    struct sr_key_spec spec = {0};
    if (EVP_PKEY_is_a(key, "RSA")) {
        BIGNUM *e = NULL;
        spec.type = SR_KEY_RSA;
        spec.bits = (unsigned)EVP_PKEY_get_bits(key);
        SR_ENSURE(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &e) == 1, SR_ERR_CRYPTO);
        spec.pubexp = BN_get_word(e);
        BN_free(e);
    } else if (EVP_PKEY_is_a(key, "EC")) {
        char group[32];
        size_t glen = 0;
        spec.type = SR_KEY_EC;
        SR_ENSURE(EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &glen) == 1,
                  SR_ERR_KEY_TYPE);
        int nid = OBJ_txt2nid(group);
        for (size_t i = 0; i < SR_ARRAY_LEN(sr_curves); i++) {
            if (sr_curves[i].nid == nid) {
                spec.curve = sr_curves[i].curve;
            }
        }
        SR_ENSURE(spec.curve != SR_CURVE_NONE, SR_ERR_KEY_TYPE);
        spec.bits = (unsigned)EVP_PKEY_get_bits(key);
    } else {
        return SR_ERR_KEY_TYPE;
    }
    *ret = spec;
    return SR_OK;
}

enum sr_err sr_sign_alg_fits_spec(enum sr_sign_alg alg, const struct sr_key_spec *spec)
{
    const struct sr_alg_row *row = sr_alg_row(alg);
    SR_ENSURE(row != NULL, SR_ERR_ALG);
    SR_ENSURE(row->type == spec->type, SR_ERR_ALG);
    if (spec->type == SR_KEY_EC) {
        SR_ENSURE(sr_curve_row(spec->curve)->alg == alg, SR_ERR_ALG);
    }
    return SR_OK;
}

enum sr_err sr_sign_alg_fits(enum sr_sign_alg alg, const EVP_PKEY *key)
{
    struct sr_key_spec spec;
    SR_TRY(sr_pkey_describe(key, &spec));
    return sr_sign_alg_fits_spec(alg, &spec);
}

static bool sr_rsa_bits_ok(unsigned bits)
{
    return bits == 2048 || bits == 3072 || bits == 4096;
}

enum sr_err sr_pkey_generate(const struct sr_key_spec *spec, EVP_PKEY **ret)
{
    SR_AUTO_PKEY_CTX EVP_PKEY_CTX *ctx = NULL;
    if (spec->type == SR_KEY_RSA) {
        SR_ENSURE(sr_rsa_bits_ok(spec->bits), SR_ERR_KEY_TYPE);
        unsigned long e = spec->pubexp ? spec->pubexp : 65537;
        SR_ENSURE(e >= 65537 && (e & 1) == 1, SR_ERR_PUBEXP);
        ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
        SR_ENSURE(ctx != NULL && EVP_PKEY_keygen_init(ctx) == 1, SR_ERR_CRYPTO);
        size_t bits = spec->bits;
        OSSL_PARAM params[] = {OSSL_PARAM_construct_size_t(OSSL_PKEY_PARAM_RSA_BITS, &bits),
                               OSSL_PARAM_construct_ulong(OSSL_PKEY_PARAM_RSA_E, &e), OSSL_PARAM_construct_end()};
        SR_ENSURE(EVP_PKEY_CTX_set_params(ctx, params) == 1, SR_ERR_CRYPTO);
    } else if (spec->type == SR_KEY_EC) {
        const struct sr_curve_row *row = sr_curve_row(spec->curve);
        SR_ENSURE(row != NULL, SR_ERR_KEY_TYPE);
        ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
        SR_ENSURE(ctx != NULL && EVP_PKEY_keygen_init(ctx) == 1, SR_ERR_CRYPTO);
        OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)row->ossl, 0),
                               OSSL_PARAM_construct_end()};
        SR_ENSURE(EVP_PKEY_CTX_set_params(ctx, params) == 1, SR_ERR_CRYPTO);
    } else {
        return SR_ERR_KEY_TYPE;
    }
    EVP_PKEY *key = NULL;
    SR_ENSURE(EVP_PKEY_generate(ctx, &key) == 1, SR_ERR_CRYPTO);
    *ret = key;
    return SR_OK;
}

enum sr_err sr_pkey_private_to_pkcs8(EVP_PKEY *key, struct sr_buf *out_secret)
{
    SR_ENSURE(out_secret->secret, SR_ERR_INTERNAL);
    const struct sr_curve_row *curve = sr_ec_curve_of(key);
    if (curve != NULL) {
        return sr_ec_pkcs8(key, curve->nid, curve->coord_len, out_secret);
    }
    PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(key);
    SR_ENSURE(p8 != NULL, SR_ERR_CRYPTO);
    int len = i2d_PKCS8_PRIV_KEY_INFO(p8, NULL);
    enum sr_err r = len > 0 ? sr_buf_reserve(out_secret, (size_t)len) : SR_ERR_CRYPTO;
    if (r == SR_OK) {
        unsigned char *p = out_secret->data + out_secret->len;
        if (i2d_PKCS8_PRIV_KEY_INFO(p8, &p) == len) {
            out_secret->len += (size_t)len;
        } else {
            r = SR_ERR_CRYPTO;
        }
    }
    /* PKCS8_PRIV_KEY_INFO_free clears the encoded key material it holds. */
    PKCS8_PRIV_KEY_INFO_free(p8);
    return r;
}

/*
 * The provider's key type for an algorithm OID, or NULL. OpenSSL 3.0's decoders cost far more than the
 * decoding when they must try every key type (EVP_PKCS82PKEY: about 500 us on our bench machine); told
 * the type, a third of that.
 */
static const char *sr_key_type_of(const ASN1_OBJECT *oid)
{
    switch (OBJ_obj2nid(oid)) {
    case NID_rsaEncryption:
        return "RSA";
    case NID_X9_62_id_ecPublicKey:
        return "EC";
    default:
        return NULL;
    }
}

/* Decodes DER of the given structure and key type, all of it or nothing. */
static EVP_PKEY *sr_decode_typed(const uint8_t *der, size_t len, const char *structure, const char *type,
                                 int selection)
{
    EVP_PKEY *key = NULL;
    OSSL_DECODER_CTX *dctx = OSSL_DECODER_CTX_new_for_pkey(&key, "DER", structure, type, selection, NULL, NULL);
    const unsigned char *p = der;
    size_t left = len;
    bool ok = dctx != NULL && OSSL_DECODER_from_data(dctx, &p, &left) == 1 && left == 0;
    OSSL_DECODER_CTX_free(dctx);
    if (!ok) {
        EVP_PKEY_free(key);
        return NULL;
    }
    return key;
}

enum sr_err sr_pkey_private_from_pkcs8(const uint8_t *der, size_t len, EVP_PKEY **ret)
{
    SR_ENSURE(len <= SR_MAX_DER, SR_ERR_MALFORMED);
    const unsigned char *p = der;
    PKCS8_PRIV_KEY_INFO *p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)len);
    SR_ENSURE(p8 != NULL, SR_ERR_MALFORMED);
    bool whole = p == der + len;
    const ASN1_OBJECT *oid = NULL;
    const char *type = PKCS8_pkey_get0(&oid, NULL, NULL, NULL, p8) == 1 ? sr_key_type_of(oid) : NULL;
    EVP_PKEY *key = NULL;
    if (whole) {
        key = type != NULL ? sr_decode_typed(der, len, "PrivateKeyInfo", type, EVP_PKEY_KEYPAIR) : EVP_PKCS82PKEY(p8);
    }
    PKCS8_PRIV_KEY_INFO_free(p8);
    SR_ENSURE(key != NULL, SR_ERR_MALFORMED);
    *ret = key;
    return SR_OK;
}

enum sr_err sr_pkey_public_to_spki(const EVP_PKEY *key, struct sr_buf *out)
{
    const struct sr_curve_row *curve = sr_ec_curve_of(key);
    if (curve != NULL) {
        return sr_ec_spki(key, curve->nid, out);
    }
    unsigned char *der = NULL; /* one encoder pass: asking for the length first would run it twice */
    int len = i2d_PUBKEY(key, &der);
    SR_ENSURE(len > 0 && der != NULL, SR_ERR_CRYPTO);
    enum sr_err r = sr_buf_append(out, der, (size_t)len);
    OPENSSL_free(der);
    return r;
}

enum sr_err sr_pkey_public_from_spki(const uint8_t *der, size_t len, EVP_PKEY **ret)
{
    SR_ENSURE(len <= SR_MAX_DER, SR_ERR_MALFORMED);
    const unsigned char *p = der;
    EVP_PKEY *key = d2i_PUBKEY(NULL, &p, (long)len);
    SR_ENSURE(key != NULL, SR_ERR_MALFORMED);
    if (p != der + len) {
        EVP_PKEY_free(key);
        return SR_ERR_MALFORMED;
    }
    *ret = key;
    return SR_OK;
}

enum sr_err sr_pkey_public_to_pem(const EVP_PKEY *key, struct sr_buf *out_text)
{
    SR_AUTO_BIO BIO *bio = BIO_new(BIO_s_mem());
    SR_ENSURE(bio != NULL, SR_ERR_NOMEM);
    SR_ENSURE(PEM_write_bio_PUBKEY(bio, key) == 1, SR_ERR_CRYPTO);
    return sr_bio_to_buf(bio, out_text);
}

enum sr_err sr_pkey_public_hash(const EVP_PKEY *key, uint8_t out[32])
{
    SR_AUTO_BUF struct sr_buf der = {0};
    sr_buf_init(&der, SR_MAX_DER, SR_BUF_PLAIN);
    SR_TRY(sr_pkey_public_to_spki(key, &der));
    return sr_sha256(der.data, der.len, out);
}

static enum sr_err sr_md_ctx_init(EVP_MD_CTX *md, EVP_PKEY *key, const struct sr_alg_row *row, bool sign)
{
    EVP_PKEY_CTX *pctx = NULL; /* owned by md */
    int ok = sign ? EVP_DigestSignInit_ex(md, &pctx, row->md, NULL, NULL, key, NULL)
                  : EVP_DigestVerifyInit_ex(md, &pctx, row->md, NULL, NULL, key, NULL);
    SR_ENSURE(ok == 1, SR_ERR_CRYPTO);
    if (row->pss) {
        /* JOSE PS*: MGF1 with the same hash, salt length = digest length. */
        SR_ENSURE(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1, SR_ERR_CRYPTO);
        SR_ENSURE(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1, SR_ERR_CRYPTO);
    } else if (row->type == SR_KEY_RSA) {
        SR_ENSURE(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1, SR_ERR_CRYPTO);
    }
    return SR_OK;
}

enum sr_err sr_ecdsa_der_to_raw(const uint8_t *der, size_t len, size_t coord, struct sr_buf *out)
{
    const unsigned char *p = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)len);
    SR_ENSURE(sig != NULL, SR_ERR_CRYPTO);
    enum sr_err r = sr_buf_reserve(out, 2 * coord);
    if (r == SR_OK) {
        uint8_t *o = out->data + out->len;
        if (BN_bn2binpad(ECDSA_SIG_get0_r(sig), o, (int)coord) == (int)coord &&
            BN_bn2binpad(ECDSA_SIG_get0_s(sig), o + coord, (int)coord) == (int)coord) {
            out->len += 2 * coord;
        } else {
            r = SR_ERR_CRYPTO;
        }
    }
    ECDSA_SIG_free(sig);
    return r;
}

enum sr_err sr_ecdsa_raw_to_der(const uint8_t *raw, size_t len, size_t coord, struct sr_buf *out)
{
    SR_ENSURE(len == 2 * coord, SR_ERR_BAD_SIGNATURE);
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, (int)coord, NULL);
    BIGNUM *s = BN_bin2bn(raw + coord, (int)coord, NULL);
    if (sig == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(sig, r, s) != 1) {
        ECDSA_SIG_free(sig);
        BN_free(r);
        BN_free(s);
        return SR_ERR_NOMEM;
    }
    int dlen = i2d_ECDSA_SIG(sig, NULL);
    enum sr_err rc = dlen > 0 ? sr_buf_reserve(out, (size_t)dlen) : SR_ERR_CRYPTO;
    if (rc == SR_OK) {
        unsigned char *p = out->data + out->len;
        rc = i2d_ECDSA_SIG(sig, &p) == dlen ? SR_OK : SR_ERR_CRYPTO;
        out->len += rc == SR_OK ? (size_t)dlen : 0;
    }
    ECDSA_SIG_free(sig);
    return rc;
}

static size_t sr_ec_coord_len(const EVP_PKEY *key)
{
    struct sr_key_spec spec;
    if (sr_pkey_describe(key, &spec) != SR_OK || spec.type != SR_KEY_EC) {
        return 0;
    }
    return sr_curve_row(spec.curve)->coord_len;
}

enum sr_err sr_pkey_sign_message(EVP_PKEY *key, enum sr_sign_alg alg, const void *msg, size_t len,
                                 enum sr_sig_format fmt, struct sr_buf *out_sig)
{
    SR_TRY(sr_sign_alg_fits(alg, key));
    const struct sr_alg_row *row = sr_alg_row(alg);
    SR_ENSURE(!row->verify_only, SR_ERR_ALG);
    SR_AUTO_MD_CTX EVP_MD_CTX *md = EVP_MD_CTX_new();
    SR_ENSURE(md != NULL, SR_ERR_NOMEM);
    SR_TRY(sr_md_ctx_init(md, key, row, true));
    uint8_t sig[SR_MAX_SIG];
    size_t siglen = sizeof(sig);
    SR_ENSURE(EVP_DigestSign(md, sig, &siglen, msg, len) == 1, SR_ERR_CRYPTO);
    if (row->type == SR_KEY_EC && fmt == SR_SIG_RAW) {
        return sr_ecdsa_der_to_raw(sig, siglen, sr_ec_coord_len(key), out_sig);
    }
    return sr_buf_append(out_sig, sig, siglen);
}

enum sr_err sr_pkey_verify_message(EVP_PKEY *key, enum sr_sign_alg alg, const void *msg, size_t len,
                                   enum sr_sig_format fmt, const uint8_t *sig, size_t siglen)
{
    SR_TRY(sr_sign_alg_fits(alg, key));
    const struct sr_alg_row *row = sr_alg_row(alg);
    SR_AUTO_BUF struct sr_buf der = {0};
    sr_buf_init(&der, SR_MAX_SIG, SR_BUF_PLAIN);
    if (row->type == SR_KEY_EC && fmt == SR_SIG_RAW) {
        SR_TRY(sr_ecdsa_raw_to_der(sig, siglen, sr_ec_coord_len(key), &der));
        sig = der.data;
        siglen = der.len;
    }
    SR_AUTO_MD_CTX EVP_MD_CTX *md = EVP_MD_CTX_new();
    SR_ENSURE(md != NULL, SR_ERR_NOMEM);
    SR_TRY(sr_md_ctx_init(md, key, row, false));
    SR_ENSURE(EVP_DigestVerify(md, sig, siglen, msg, len) == 1, SR_ERR_BAD_SIGNATURE);
    return SR_OK;
}

static enum sr_err sr_x509_add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    SR_ENSURE(ext != NULL, SR_ERR_CRYPTO);
    int ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    SR_ENSURE(ok == 1, SR_ERR_CRYPTO);
    return SR_OK;
}

static enum sr_err sr_x509_new(const EVP_PKEY *subject_pub, const char *cn, unsigned days, X509 **ret)
{
    SR_AUTO_X509 X509 *cert = X509_new();
    SR_ENSURE(cert != NULL, SR_ERR_NOMEM);
    uint8_t serial[16];
    SR_TRY(sr_rand_bytes(serial, sizeof(serial)));
    serial[0] &= 0x7f;
    BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
    SR_ENSURE(bn != NULL, SR_ERR_NOMEM);
    int ok = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != NULL;
    BN_free(bn);
    SR_ENSURE(ok, SR_ERR_CRYPTO);
    SR_ENSURE(X509_set_version(cert, 2) == 1, SR_ERR_CRYPTO);
    SR_ENSURE(X509_gmtime_adj(X509_getm_notBefore(cert), 0) != NULL, SR_ERR_CRYPTO);
    SR_ENSURE(X509_gmtime_adj(X509_getm_notAfter(cert), (long)days * 86400L) != NULL, SR_ERR_CRYPTO);
    SR_ENSURE(X509_set_pubkey(cert, (EVP_PKEY *)subject_pub) == 1, SR_ERR_CRYPTO);
    X509_NAME *name = X509_get_subject_name(cert);
    SR_ENSURE(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)"Strongroom", -1, -1, 0) == 1,
              SR_ERR_CRYPTO);
    SR_ENSURE(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0) == 1,
              SR_ERR_CRYPTO);
    *ret = SR_TAKE(cert);
    return SR_OK;
}

enum sr_err sr_x509_self_signed(EVP_PKEY *key, const char *common_name, unsigned days, X509 **ret)
{
    SR_AUTO_X509 X509 *cert = NULL;
    SR_TRY(sr_x509_new(key, common_name, days, &cert));
    SR_ENSURE(X509_set_issuer_name(cert, X509_get_subject_name(cert)) == 1, SR_ERR_CRYPTO);
    SR_TRY(sr_x509_add_ext(cert, cert, NID_basic_constraints, "critical,CA:TRUE,pathlen:1"));
    SR_TRY(sr_x509_add_ext(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign"));
    SR_TRY(sr_x509_add_ext(cert, cert, NID_subject_key_identifier, "hash"));
    SR_ENSURE(X509_sign(cert, key, EVP_sha384()) > 0, SR_ERR_CRYPTO);
    *ret = SR_TAKE(cert);
    return SR_OK;
}

enum sr_err sr_x509_issue(EVP_PKEY *issuer_key, X509 *issuer_cert, const EVP_PKEY *subject_pub,
                          const char *common_name, const char *san, unsigned days, X509 **ret)
{
    SR_AUTO_X509 X509 *cert = NULL;
    SR_TRY(sr_x509_new(subject_pub, common_name, days, &cert));
    SR_ENSURE(X509_set_issuer_name(cert, X509_get_subject_name(issuer_cert)) == 1, SR_ERR_CRYPTO);
    SR_TRY(sr_x509_add_ext(cert, issuer_cert, NID_basic_constraints, "critical,CA:FALSE"));
    SR_TRY(sr_x509_add_ext(cert, issuer_cert, NID_key_usage, "critical,digitalSignature"));
    if (san != NULL) {
        SR_TRY(sr_x509_add_ext(cert, issuer_cert, NID_subject_alt_name, san));
        SR_TRY(sr_x509_add_ext(cert, issuer_cert, NID_ext_key_usage, "serverAuth"));
    }
    SR_TRY(sr_x509_add_ext(cert, issuer_cert, NID_authority_key_identifier, "keyid:always"));
    SR_ENSURE(X509_sign(cert, issuer_key, EVP_sha384()) > 0, SR_ERR_CRYPTO);
    *ret = SR_TAKE(cert);
    return SR_OK;
}

enum sr_err sr_x509_to_pem(X509 *cert, struct sr_buf *out_text)
{
    SR_AUTO_BIO BIO *bio = BIO_new(BIO_s_mem());
    SR_ENSURE(bio != NULL, SR_ERR_NOMEM);
    SR_ENSURE(PEM_write_bio_X509(bio, cert) == 1, SR_ERR_CRYPTO);
    return sr_bio_to_buf(bio, out_text);
}

enum sr_err sr_x509_from_pem(const uint8_t *pem, size_t len, X509 **ret)
{
    SR_ENSURE(len <= SR_MAX_DER * 2, SR_ERR_MALFORMED);
    SR_AUTO_BIO BIO *bio = BIO_new_mem_buf(pem, (int)len);
    SR_ENSURE(bio != NULL, SR_ERR_NOMEM);
    X509 *cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    SR_ENSURE(cert != NULL, SR_ERR_MALFORMED);
    *ret = cert;
    return SR_OK;
}

enum sr_err sr_x509_check_signed_by(X509 *cert, EVP_PKEY *issuer_pub)
{
    SR_ENSURE(X509_verify(cert, issuer_pub) == 1, SR_ERR_BAD_SIGNATURE);
    return SR_OK;
}

enum sr_err sr_x509_describe(X509 *cert, uint8_t sha1[20], uint8_t sha256[32], long long *not_after,
                             char *subject, size_t cap)
{
    unsigned n = 0;
    SR_ENSURE(X509_digest(cert, EVP_sha1(), sha1, &n) == 1 && n == 20, SR_ERR_CRYPTO);
    SR_ENSURE(X509_digest(cert, EVP_sha256(), sha256, &n) == 1 && n == 32, SR_ERR_CRYPTO);
    struct tm tm;
    SR_ENSURE(ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) == 1, SR_ERR_MALFORMED);
    *not_after = (long long)timegm(&tm);
    SR_AUTO_BIO BIO *bio = BIO_new(BIO_s_mem());
    SR_ENSURE(bio != NULL, SR_ERR_NOMEM);
    SR_ENSURE(X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) >= 0, SR_ERR_CRYPTO);
    int len = BIO_read(bio, subject, (int)cap - 1);
    subject[len > 0 ? len : 0] = 0;
    return SR_OK;
}

static enum sr_err sr_pkey_ctx_for_digest(EVP_PKEY *key, const struct sr_alg_row *row, bool sign,
                                          EVP_PKEY_CTX **ret)
{
    SR_AUTO_PKEY_CTX EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
    SR_ENSURE(ctx != NULL, SR_ERR_NOMEM);
    SR_ENSURE((sign ? EVP_PKEY_sign_init(ctx) : EVP_PKEY_verify_init(ctx)) == 1, SR_ERR_CRYPTO);
    /* ECDSA signs the digest as given (callers check its length): no digest to fetch by name. */
    const EVP_MD *md = row->type == SR_KEY_EC ? NULL : EVP_get_digestbyname(row->md);
    SR_ENSURE(row->type == SR_KEY_EC || (md != NULL && EVP_PKEY_CTX_set_signature_md(ctx, md) == 1), SR_ERR_CRYPTO);
    if (row->pss) {
        SR_ENSURE(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) == 1, SR_ERR_CRYPTO);
        SR_ENSURE(EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_DIGEST) == 1, SR_ERR_CRYPTO);
        SR_ENSURE(EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) == 1, SR_ERR_CRYPTO);
    } else if (row->type == SR_KEY_RSA) {
        SR_ENSURE(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1, SR_ERR_CRYPTO);
    }
    *ret = SR_TAKE(ctx);
    return SR_OK;
}

enum sr_err sr_pkey_sign_ctx(EVP_PKEY *key, enum sr_sign_alg alg, EVP_PKEY_CTX **ret)
{
    SR_TRY(sr_sign_alg_fits(alg, key));
    SR_ENSURE(!sr_alg_row(alg)->verify_only, SR_ERR_ALG);
    return sr_pkey_ctx_for_digest(key, sr_alg_row(alg), true, ret);
}

/* An ECDSA alg names its curve (sr_sign_alg_fits), so it also fixes the raw signature's halves. */
size_t sr_sign_alg_coord_len(enum sr_sign_alg alg)
{
    for (size_t i = 0; i < SR_ARRAY_LEN(sr_curves); i++) {
        if (sr_curves[i].alg == alg) {
            return sr_curves[i].coord_len;
        }
    }
    return 0;
}

enum sr_err sr_pkey_sign_prepared(EVP_PKEY_CTX *ctx, enum sr_sign_alg alg, const uint8_t *digest, size_t dlen,
                                  enum sr_sig_format fmt, struct sr_buf *out_sig)
{
    const struct sr_alg_row *row = sr_alg_row(alg);
    SR_ENSURE(row != NULL && !row->verify_only, SR_ERR_ALG);
    SR_ENSURE(dlen == row->digest_len, SR_ERR_DIGEST_LEN);
    uint8_t sig[SR_MAX_SIG];
    size_t siglen = sizeof(sig);
    SR_ENSURE(EVP_PKEY_sign(ctx, sig, &siglen, digest, dlen) == 1, SR_ERR_CRYPTO);
    if (row->type == SR_KEY_EC && fmt == SR_SIG_RAW) {
        return sr_ecdsa_der_to_raw(sig, siglen, sr_sign_alg_coord_len(alg), out_sig);
    }
    return sr_buf_append(out_sig, sig, siglen);
}


/* An object identifier's DER, appended to out. */
static enum sr_err sr_oid_der(int nid, struct sr_buf *out)
{
    ASN1_OBJECT *oid = OBJ_nid2obj(nid);
    int n = oid != NULL ? i2d_ASN1_OBJECT(oid, NULL) : -1;
    SR_ENSURE(n > 0, SR_ERR_KEY_TYPE);
    SR_TRY(sr_buf_reserve(out, (size_t)n));
    unsigned char *p = out->data + out->len;
    SR_ENSURE(i2d_ASN1_OBJECT(oid, &p) == n, SR_ERR_CRYPTO);
    out->len += (size_t)n;
    return SR_OK;
}

enum sr_err sr_pkey_public_part(const EVP_PKEY *key, enum sr_pub_part part, struct sr_buf *out)
{
    if (part == SR_PUB_RSA_N || part == SR_PUB_RSA_E) {
        SR_ENSURE(EVP_PKEY_is_a(key, "RSA"), SR_ERR_KEY_TYPE);
        BIGNUM *bn = NULL;
        SR_ENSURE(EVP_PKEY_get_bn_param(key, part == SR_PUB_RSA_N ? OSSL_PKEY_PARAM_RSA_N : OSSL_PKEY_PARAM_RSA_E,
                                        &bn) == 1, SR_ERR_CRYPTO);
        enum sr_err r = sr_buf_reserve(out, (size_t)BN_num_bytes(bn));
        if (r == SR_OK) {
            out->len += (size_t)BN_bn2bin(bn, out->data + out->len);
        }
        BN_free(bn);
        return r;
    }
    SR_ENSURE(EVP_PKEY_is_a(key, "EC"), SR_ERR_KEY_TYPE);
    if (part == SR_PUB_EC_PARAMS) {
        char group[64];
        SR_ENSURE(EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), NULL) == 1,
                  SR_ERR_CRYPTO);
        return sr_oid_der(OBJ_sn2nid(group), out);
    }
    uint8_t point[1 + 2 * 66];
    size_t plen = 0;
    SR_ENSURE(EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point, sizeof(point), &plen) == 1,
              SR_ERR_CRYPTO);
    /* OCTET STRING: tag, a length of one byte (up to 127) or 0x81 and one byte, the point. */
    uint8_t head[3] = {0x04, 0, 0};
    size_t hlen = 2;
    if (plen < 128) {
        head[1] = (uint8_t)plen;
    } else {
        head[1] = 0x81;
        head[2] = (uint8_t)plen;
        hlen = 3;
    }
    SR_TRY(sr_buf_append(out, head, hlen));
    return sr_buf_append(out, point, plen);
}

enum sr_err sr_pkey_public_from_pem(const uint8_t *pem, size_t len, EVP_PKEY **ret)
{
    SR_ENSURE(len < INT_MAX, SR_ERR_TOO_LARGE);
    SR_AUTO_BIO BIO *bio = BIO_new_mem_buf(pem, (int)len);
    SR_ENSURE(bio != NULL, SR_ERR_NOMEM);
    *ret = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    ERR_clear_error();
    SR_ENSURE(*ret != NULL, SR_ERR_MALFORMED);
    return SR_OK;
}

enum sr_err sr_curve_oid_der(enum sr_curve c, struct sr_buf *out)
{
    for (size_t i = 0; i < SR_ARRAY_LEN(sr_curves); i++) {
        if (sr_curves[i].curve != c) {
            continue;
        }
        return sr_oid_der(sr_curves[i].nid, out);
    }
    return SR_ERR_KEY_TYPE;
}

enum sr_err sr_curve_from_oid_der(const uint8_t *der, size_t len, enum sr_curve *ret)
{
    const unsigned char *p = der;
    ASN1_OBJECT *oid = d2i_ASN1_OBJECT(NULL, &p, (long)len);
    int nid = oid != NULL && p == der + len ? OBJ_obj2nid(oid) : NID_undef;
    ASN1_OBJECT_free(oid);
    for (size_t i = 0; i < SR_ARRAY_LEN(sr_curves); i++) {
        if (nid != NID_undef && sr_curves[i].nid == nid) {
            *ret = sr_curves[i].curve;
            return SR_OK;
        }
    }
    return SR_ERR_KEY_TYPE;
}

/* A context for an unhashed operation: PKCS#1 v1.5 padding and no digest for RSA; ECDSA as it is. */
static enum sr_err sr_unhashed_ctx(EVP_PKEY *key, bool sign, EVP_PKEY_CTX **ret)
{
    SR_AUTO_PKEY_CTX EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
    SR_ENSURE(ctx != NULL, SR_ERR_NOMEM);
    SR_ENSURE((sign ? EVP_PKEY_sign_init(ctx) : EVP_PKEY_verify_init(ctx)) == 1, SR_ERR_CRYPTO);
    SR_ENSURE(!EVP_PKEY_is_a(key, "RSA") || EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1, SR_ERR_CRYPTO);
    *ret = SR_TAKE(ctx);
    return SR_OK;
}

enum sr_err sr_pkey_sign_unhashed(EVP_PKEY *key, const uint8_t *in, size_t n, struct sr_buf *out_sig)
{
    SR_AUTO_PKEY_CTX EVP_PKEY_CTX *ctx = NULL;
    SR_TRY(sr_unhashed_ctx(key, true, &ctx));
    uint8_t sig[SR_MAX_SIG];
    size_t siglen = sizeof(sig);
    /* Too long an input for the modulus (less 11 bytes of padding) is the caller's error. */
    SR_ENSURE(n > 0 && EVP_PKEY_sign(ctx, sig, &siglen, in, n) == 1, SR_ERR_TOO_LARGE);
    if (EVP_PKEY_is_a(key, "EC")) {
        return sr_ecdsa_der_to_raw(sig, siglen, sr_ec_coord_len(key), out_sig);
    }
    return sr_buf_append(out_sig, sig, siglen);
}

enum sr_err sr_pkey_verify_unhashed(EVP_PKEY *key, const uint8_t *in, size_t n, const uint8_t *sig, size_t siglen)
{
    SR_AUTO_BUF struct sr_buf der = {0};
    sr_buf_init(&der, SR_MAX_SIG, SR_BUF_PLAIN);
    if (EVP_PKEY_is_a(key, "EC")) {
        SR_ENSURE(sr_ecdsa_raw_to_der(sig, siglen, sr_ec_coord_len(key), &der) == SR_OK, SR_ERR_BAD_SIGNATURE);
        sig = der.data;
        siglen = der.len;
    }
    SR_AUTO_PKEY_CTX EVP_PKEY_CTX *ctx = NULL;
    SR_TRY(sr_unhashed_ctx(key, false, &ctx));
    int ok = EVP_PKEY_verify(ctx, sig, siglen, in, n);
    ERR_clear_error();
    return ok == 1 ? SR_OK : SR_ERR_BAD_SIGNATURE;
}

enum sr_err sr_pkey_verify_digest(EVP_PKEY *key, enum sr_sign_alg alg, const uint8_t *digest, size_t dlen,
                                  enum sr_sig_format fmt, const uint8_t *sig, size_t siglen)
{
    SR_TRY(sr_sign_alg_fits(alg, key));
    const struct sr_alg_row *row = sr_alg_row(alg);
    SR_ENSURE(dlen == row->digest_len, SR_ERR_DIGEST_LEN);
    SR_AUTO_BUF struct sr_buf der = {0};
    sr_buf_init(&der, SR_MAX_SIG, SR_BUF_PLAIN);
    if (row->type == SR_KEY_EC && fmt == SR_SIG_RAW) {
        SR_TRY(sr_ecdsa_raw_to_der(sig, siglen, sr_ec_coord_len(key), &der));
        sig = der.data;
        siglen = der.len;
    }
    SR_AUTO_PKEY_CTX EVP_PKEY_CTX *ctx = NULL;
    SR_TRY(sr_pkey_ctx_for_digest(key, row, false, &ctx));
    SR_ENSURE(EVP_PKEY_verify(ctx, sig, siglen, digest, dlen) == 1, SR_ERR_BAD_SIGNATURE);
    return SR_OK;
}

struct sr_enc_row {
    enum sr_enc_alg alg;
    const char *name;
    int padding;
    const char *md; /* OAEP and MGF1 digest */
    bool api;       /* an algorithm of Key Vault's encrypt, wrapKey and their inverses */
};

static const struct sr_enc_row sr_encs[] = {
    {SR_ENC_RSA_OAEP, "RSA-OAEP", RSA_PKCS1_OAEP_PADDING, "SHA1", true},
    {SR_ENC_RSA_OAEP_256, "RSA-OAEP-256", RSA_PKCS1_OAEP_PADDING, "SHA256", true},
    {SR_ENC_RSA1_5, "RSA1_5", RSA_PKCS1_PADDING, NULL, true},
    {SR_ENC_RSA_OAEP_384, "RSA-OAEP-384", RSA_PKCS1_OAEP_PADDING, "SHA384", false},
};

static const struct sr_enc_row *sr_enc_row(enum sr_enc_alg a)
{
    for (size_t i = 0; i < SR_ARRAY_LEN(sr_encs); i++) {
        if (sr_encs[i].alg == a) {
            return &sr_encs[i];
        }
    }
    return NULL;
}

const char *sr_enc_alg_name(enum sr_enc_alg a)
{
    const struct sr_enc_row *row = sr_enc_row(a);
    return row ? row->name : "none";
}

enum sr_err sr_enc_alg_parse(const char *name, enum sr_enc_alg *ret)
{
    for (size_t i = 0; i < SR_ARRAY_LEN(sr_encs); i++) {
        if (sr_encs[i].api && strcmp(sr_encs[i].name, name) == 0) {
            *ret = sr_encs[i].alg;
            return SR_OK;
        }
    }
    return SR_ERR_ENC_ALG;
}

static enum sr_err sr_rsa_ctx(EVP_PKEY *key, const struct sr_enc_row *row, bool enc, EVP_PKEY_CTX **ret)
{
    SR_ENSURE(EVP_PKEY_is_a(key, "RSA"), SR_ERR_ALG);
    SR_AUTO_PKEY_CTX EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
    SR_ENSURE(ctx != NULL, SR_ERR_NOMEM);
    SR_ENSURE((enc ? EVP_PKEY_encrypt_init(ctx) : EVP_PKEY_decrypt_init(ctx)) == 1, SR_ERR_CRYPTO);
    SR_ENSURE(EVP_PKEY_CTX_set_rsa_padding(ctx, row->padding) == 1, SR_ERR_CRYPTO);
    if (row->md != NULL) {
        const EVP_MD *md = EVP_get_digestbyname(row->md);
        SR_ENSURE(md != NULL, SR_ERR_CRYPTO);
        SR_ENSURE(EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md) == 1 && EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) == 1,
                  SR_ERR_CRYPTO);
    }
    *ret = SR_TAKE(ctx);
    return SR_OK;
}

enum sr_err sr_pkey_encrypt(EVP_PKEY *key, enum sr_enc_alg alg, const uint8_t *pt, size_t ptlen, struct sr_buf *out)
{
    const struct sr_enc_row *row = sr_enc_row(alg);
    SR_ENSURE(row != NULL, SR_ERR_ENC_ALG);
    SR_AUTO_PKEY_CTX EVP_PKEY_CTX *ctx = NULL;
    SR_TRY(sr_rsa_ctx(key, row, true, &ctx));
    size_t len = 0;
    SR_ENSURE(EVP_PKEY_encrypt(ctx, NULL, &len, pt, ptlen) == 1, SR_ERR_CRYPTO);
    SR_TRY(sr_buf_reserve(out, len));
    /* Too long a plaintext for the padding is the caller's error, not ours. */
    SR_ENSURE(EVP_PKEY_encrypt(ctx, out->data + out->len, &len, pt, ptlen) == 1, SR_ERR_TOO_LARGE);
    out->len += len;
    return SR_OK;
}

enum sr_err sr_pkey_decrypt(EVP_PKEY *key, enum sr_enc_alg alg, const uint8_t *ct, size_t ctlen, struct sr_buf *out)
{
    const struct sr_enc_row *row = sr_enc_row(alg);
    SR_ENSURE(row != NULL, SR_ERR_ENC_ALG);
    /* = reference/hsm-world.md §5 #1 | SPEC §7 */
    /*# RSA1_5 decrypt/unwrap is refused with a clear BadParameter that names RSA-OAEP-256. */
    SR_ENSURE(alg != SR_ENC_RSA1_5, SR_ERR_RSA15_DECRYPT);
    SR_AUTO_PKEY_CTX EVP_PKEY_CTX *ctx = NULL;
    SR_TRY(sr_rsa_ctx(key, row, false, &ctx));
    uint8_t buf[1024];
    size_t len = sizeof(buf);
    /* One error for every OAEP failure, and OpenSSL's OAEP decoding runs in constant time. */
    int ok = ctlen == (size_t)EVP_PKEY_get_size(key) && EVP_PKEY_decrypt(ctx, buf, &len, ct, ctlen) == 1;
    ERR_clear_error();
    enum sr_err r = ok ? sr_buf_append(out, buf, len) : SR_ERR_DECRYPT_FAILED;
    OPENSSL_cleanse(buf, sizeof(buf));
    return r;
}

enum sr_err sr_pkey_private_to_pem(EVP_PKEY *key, struct sr_buf *out_secret)
{
    SR_ENSURE(out_secret->secret, SR_ERR_INTERNAL);
    SR_AUTO_BIO BIO *bio = BIO_new(BIO_s_secmem());
    SR_ENSURE(bio != NULL, SR_ERR_NOMEM);
    SR_ENSURE(PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) == 1, SR_ERR_CRYPTO);
    return sr_bio_to_buf(bio, out_secret);
}

static enum sr_err sr_oaep_label(EVP_PKEY_CTX *ctx, const uint8_t *label, size_t len)
{
    if (label == NULL || len == 0) {
        return SR_OK;
    }
    /* set0 takes ownership of an OPENSSL_malloc'd copy. */
    char *copy = OPENSSL_memdup(label, len);
    SR_ENSURE(copy != NULL, SR_ERR_NOMEM);
    if (EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, copy, (int)len) != 1) {
        OPENSSL_free(copy);
        return SR_ERR_CRYPTO;
    }
    return SR_OK;
}

enum sr_err sr_pkey_oaep_sha1_encrypt(EVP_PKEY *key, const uint8_t *label, size_t label_len, const uint8_t *pt,
                                      size_t ptlen, struct sr_buf *out)
{
    SR_AUTO_PKEY_CTX EVP_PKEY_CTX *ctx = NULL;
    SR_TRY(sr_rsa_ctx(key, sr_enc_row(SR_ENC_RSA_OAEP), true, &ctx));
    SR_TRY(sr_oaep_label(ctx, label, label_len));
    size_t len = 0;
    SR_ENSURE(EVP_PKEY_encrypt(ctx, NULL, &len, pt, ptlen) == 1, SR_ERR_CRYPTO);
    SR_TRY(sr_buf_reserve(out, len));
    SR_ENSURE(EVP_PKEY_encrypt(ctx, out->data + out->len, &len, pt, ptlen) == 1, SR_ERR_TOO_LARGE);
    out->len += len;
    return SR_OK;
}

enum sr_err sr_pkey_oaep_sha1_decrypt(EVP_PKEY *key, const uint8_t *label, size_t label_len, const uint8_t *ct,
                                      size_t ctlen, struct sr_buf *out_secret)
{
    SR_AUTO_PKEY_CTX EVP_PKEY_CTX *ctx = NULL;
    SR_TRY(sr_rsa_ctx(key, sr_enc_row(SR_ENC_RSA_OAEP), false, &ctx));
    SR_TRY(sr_oaep_label(ctx, label, label_len));
    uint8_t buf[1024];
    size_t len = sizeof(buf);
    int ok = ctlen == (size_t)EVP_PKEY_get_size(key) && EVP_PKEY_decrypt(ctx, buf, &len, ct, ctlen) == 1;
    ERR_clear_error();
    enum sr_err r = ok ? sr_buf_append(out_secret, buf, len) : SR_ERR_DECRYPT_FAILED;
    OPENSSL_cleanse(buf, sizeof(buf));
    return r;
}

enum sr_err sr_pkey_ecdh(EVP_PKEY *priv, EVP_PKEY *peer, struct sr_buf *out_secret)
{
    SR_AUTO_PKEY_CTX EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, priv, NULL);
    SR_ENSURE(ctx != NULL, SR_ERR_NOMEM);
    SR_ENSURE(EVP_PKEY_derive_init(ctx) == 1, SR_ERR_KEY_TYPE);
    SR_ENSURE(EVP_PKEY_derive_set_peer(ctx, peer) == 1, SR_ERR_MALFORMED); /* another curve, or no EC key */
    size_t len = 0;
    SR_ENSURE(EVP_PKEY_derive(ctx, NULL, &len) == 1, SR_ERR_CRYPTO);
    SR_TRY(sr_buf_reserve(out_secret, len));
    SR_ENSURE(EVP_PKEY_derive(ctx, out_secret->data + out_secret->len, &len) == 1, SR_ERR_CRYPTO);
    out_secret->len += len;
    return SR_OK;
}
