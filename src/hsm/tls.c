#include "hsm/tls.h"

#include <stdio.h>
#include <string.h>

#include "crypto/ossl.h"
#include "hsm/internal.h"

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

enum sr_err sr_tls_credentials(const char *tls_dir, const char *const *vault_names, size_t nvaults,
                               struct sr_buf *cert_pem, struct sr_buf *key_pem)
{
    char path[SR_PATH_MAX];
    SR_TRY(sr_dir_make(tls_dir));
    SR_TRY(sr_path_join(path, sizeof(path), tls_dir, "km0"));
    SR_AUTO(sr_km0_freep) uint8_t *km0 = NULL;
    SR_TRY(sr_keyfile_raw_load(path, true, &km0));
    SR_AUTO_PKEY EVP_PKEY *ca_key = NULL;
    SR_AUTO_X509 X509 *ca = NULL;
    SR_TRY(sr_tls_ca(tls_dir, km0, &ca_key, &ca));
    SR_TRY(sr_path_join(path, sizeof(path), tls_dir, "server.key"));
    SR_AUTO_PKEY EVP_PKEY *key = NULL;
    SR_TRY(sr_tls_key(km0, path, "tls server", &key));
    char san[8192];
    SR_TRY(sr_tls_san(vault_names, nvaults, san, sizeof(san)));
    SR_AUTO_X509 X509 *cert = NULL;
    SR_TRY(sr_x509_issue(ca_key, ca, key, "localhost", san, SR_TLS_CERT_DAYS, &cert));
    SR_TRY(sr_x509_to_pem(cert, cert_pem));
    SR_TRY(sr_path_join(path, sizeof(path), tls_dir, "server.pem"));
    SR_TRY(sr_file_write_atomic(path, cert_pem->data, cert_pem->len, SR_WRITE_REPLACE));
    SR_TRY(sr_x509_to_pem(ca, cert_pem));
    return sr_pkey_private_to_pem(key, key_pem);
}
