/*
 * ossl.h - cleanup attributes for OpenSSL objects, shared by the layers that
 * hold them (crypto/ and hsm/). Names keep OpenSSL's spelling.
 */
#ifndef SR_CRYPTO_OSSL_H
#define SR_CRYPTO_OSSL_H

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/x509.h>

#include "base/safety.h"

SR_DEFINE_CLEANUP(sr_EVP_PKEY_freep, EVP_PKEY, EVP_PKEY_free)
SR_DEFINE_CLEANUP(sr_EVP_PKEY_CTX_freep, EVP_PKEY_CTX, EVP_PKEY_CTX_free)
SR_DEFINE_CLEANUP(sr_EVP_MD_CTX_freep, EVP_MD_CTX, EVP_MD_CTX_free)
SR_DEFINE_CLEANUP(sr_EVP_MD_freep, EVP_MD, EVP_MD_free)
SR_DEFINE_CLEANUP(sr_EVP_CIPHER_CTX_freep, EVP_CIPHER_CTX, EVP_CIPHER_CTX_free)
SR_DEFINE_CLEANUP(sr_EVP_KDF_freep, EVP_KDF, EVP_KDF_free)
SR_DEFINE_CLEANUP(sr_EVP_KDF_CTX_freep, EVP_KDF_CTX, EVP_KDF_CTX_free)
SR_DEFINE_CLEANUP(sr_EVP_MAC_freep, EVP_MAC, EVP_MAC_free)
SR_DEFINE_CLEANUP(sr_EVP_MAC_CTX_freep, EVP_MAC_CTX, EVP_MAC_CTX_free)
SR_DEFINE_CLEANUP(sr_BIO_freep, BIO, BIO_free)
SR_DEFINE_CLEANUP(sr_X509_freep, X509, X509_free)

#define SR_AUTO_PKEY SR_AUTO(sr_EVP_PKEY_freep)
#define SR_AUTO_PKEY_CTX SR_AUTO(sr_EVP_PKEY_CTX_freep)
#define SR_AUTO_MD_CTX SR_AUTO(sr_EVP_MD_CTX_freep)
#define SR_AUTO_X509 SR_AUTO(sr_X509_freep)
#define SR_AUTO_BIO SR_AUTO(sr_BIO_freep)

/* Copies a memory BIO's contents into out. */
SR_MUST_USE enum sr_err sr_bio_to_buf(BIO *bio, struct sr_buf *out);

#endif
