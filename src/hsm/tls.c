#include "hsm/tls.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/ossl.h"
#include "hsm/internal.h"
#include "hsm/km0.h"

#define SR_TLS_CA_DAYS 3650u
#define SR_TLS_CERT_DAYS 397u
#define SR_PURPOSE_TLS "strongroom tls v1"

static enum sr_err sr_tls_key(const uint8_t *km0, const char *path, const char *kind, EVP_PKEY **ret)
{
    if (sr_file_exists(path)) {
        return sr_sealed_pkey_read(km0, SR_PURPOSE_TLS, path, ret);
    }
    struct sr_key_spec spec = {.type = SR_KEY_EC, .curve = SR_CURVE_P256};
    SR_AUTO_PKEY EVP_PKEY *key = NULL;
    SR_TRY(sr_pkey_generate(&spec, &key));
    SR_AUTO_JSON json_t *h = json_pack("{s:s}", "kind", kind);
    SR_ENSURE(h != NULL, SR_ERR_NOMEM);
    SR_TRY(sr_sealed_pkey_write(km0, SR_PURPOSE_TLS, h, key, path));
    *ret = SR_TAKE(key);
    return SR_OK;
}

static enum sr_err sr_tls_ca(const char *dir, const uint8_t *km0, EVP_PKEY **ret_key, X509 **ret_cert)
{
    char key_path[SR_PATH_MAX];
    char cert_path[SR_PATH_MAX];
    SR_TRY(sr_path_join(key_path, sizeof(key_path), dir, "ca.key"));
    SR_TRY(sr_path_join(cert_path, sizeof(cert_path), dir, "ca.pem"));
    bool fresh = !sr_file_exists(key_path);
    SR_AUTO_PKEY EVP_PKEY *key = NULL;
    SR_TRY(sr_tls_key(km0, key_path, "tls ca", &key));
    SR_AUTO_X509 X509 *cert = NULL;
    SR_AUTO_BUF struct sr_buf pem = {0};
    sr_buf_init(&pem, 65536, SR_BUF_PLAIN);
    if (fresh || !sr_file_exists(cert_path)) {
        SR_TRY(sr_x509_self_signed(key, "Strongroom development CA", SR_TLS_CA_DAYS, &cert));
        SR_TRY(sr_x509_to_pem(cert, &pem));
        SR_TRY(sr_file_write_atomic(cert_path, pem.data, pem.len, SR_WRITE_REPLACE));
    } else {
        SR_TRY(sr_file_read(cert_path, &pem));
        SR_TRY(sr_x509_from_pem(pem.data, pem.len, &cert));
        SR_ENSURE(X509_check_private_key(cert, key) == 1, SR_ERR_NVRAM_TAMPERED);
    }
    *ret_key = SR_TAKE(key);
    *ret_cert = SR_TAKE(cert);
    return SR_OK;
}

static enum sr_err sr_tls_san(const char *const *names, size_t n, char *out, size_t cap)
{
    int used = snprintf(out, cap, "DNS:localhost,IP:127.0.0.1,IP:::1");
    for (size_t i = 0; i < n && used > 0 && (size_t)used < cap; i++) {
        used += snprintf(out + used, cap - (size_t)used, ",DNS:%s.localhost", names[i]);
    }
    SR_ENSURE(used > 0 && (size_t)used < cap, SR_ERR_TOO_LARGE);
    return SR_OK;
}

struct sr_tls_issuer {
    pthread_mutex_t lock; /* OpenSSL keys may be shared across threads for signing, but not relied on */
    EVP_PKEY *ca_key;
    X509 *ca;
    EVP_PKEY *key;
};

void sr_tls_issuer_free(struct sr_tls_issuer *is)
{
    if (is == NULL) {
        return;
    }
    EVP_PKEY_free(is->ca_key);
    X509_free(is->ca);
    EVP_PKEY_free(is->key);
    pthread_mutex_destroy(&is->lock);
    free(is);
}

static void sr_tls_issuerp(struct sr_tls_issuer **is)
{
    sr_tls_issuer_free(*is);
}

enum sr_err sr_tls_issuer_open(const char *tls_dir, struct sr_seal_config *seal, struct sr_tls_issuer **ret)
{
    char path[SR_PATH_MAX];
    SR_TRY(sr_dir_make(tls_dir));
    SR_TRY(sr_path_join(path, sizeof(path), tls_dir, "km0"));
    SR_AUTO(sr_km0_freep) uint8_t *km0 = NULL;
    struct sr_seal_config file;
    SR_TRY(sr_km0_load(sr_seal_worldless(seal, &file), path, true, &km0));
    SR_AUTO(sr_tls_issuerp) struct sr_tls_issuer *is = calloc(1, sizeof(*is));
    SR_ENSURE(is != NULL, SR_ERR_NOMEM);
    pthread_mutex_init(&is->lock, NULL);
    SR_TRY(sr_tls_ca(tls_dir, km0, &is->ca_key, &is->ca));
    SR_TRY(sr_path_join(path, sizeof(path), tls_dir, "server.key"));
    SR_TRY(sr_tls_key(km0, path, "tls server", &is->key));
    *ret = SR_TAKE(is);
    return SR_OK;
}

static enum sr_err sr_tls_issue_san(struct sr_tls_issuer *is, const char *san, struct sr_buf *cert_pem)
{
    SR_AUTO_X509 X509 *cert = NULL;
    pthread_mutex_lock(&is->lock);
    enum sr_err r = sr_x509_issue(is->ca_key, is->ca, is->key, "localhost", san, SR_TLS_CERT_DAYS, &cert);
    pthread_mutex_unlock(&is->lock);
    SR_TRY(r);
    SR_TRY(sr_x509_to_pem(cert, cert_pem));
    return sr_x509_to_pem(is->ca, cert_pem);
}

enum sr_err sr_tls_issue(struct sr_tls_issuer *is, const char *host, struct sr_buf *cert_pem)
{
    char san[300];
    int n = snprintf(san, sizeof(san), "DNS:%s", host);
    SR_ENSURE(n > 0 && (size_t)n < sizeof(san) && strchr(host, ',') == NULL, SR_ERR_TOO_LARGE);
    return sr_tls_issue_san(is, san, cert_pem);
}

enum sr_err sr_tls_credentials(const char *tls_dir, struct sr_seal_config *seal, const char *const *vault_names,
                               size_t nvaults, struct sr_buf *cert_pem, struct sr_buf *key_pem)
{
    SR_AUTO(sr_tls_issuerp) struct sr_tls_issuer *is = NULL;
    SR_TRY(sr_tls_issuer_open(tls_dir, seal, &is));
    char san[8192];
    SR_TRY(sr_tls_san(vault_names, nvaults, san, sizeof(san)));
    SR_TRY(sr_tls_issue_san(is, san, cert_pem));
    char path[SR_PATH_MAX];
    SR_TRY(sr_path_join(path, sizeof(path), tls_dir, "server.pem"));
    SR_TRY(sr_file_write_atomic(path, cert_pem->data, cert_pem->len, SR_WRITE_REPLACE));
    return sr_pkey_private_to_pem(is->key, key_pem);
}
