/*
 * root.c - the manufacturer root and module warrants.
 *
 * The root is a key pair in its own directory, sealed like a module key under
 * that directory's km0; its self-signed certificate is root.pem. A warrant is
 * an X.509 certificate, signed by the root, for a module's identity key with
 * the module's ESN as common name, so `openssl verify` can check it by hand.
 */
#include <string.h>

#include "base/text.h"
#include "crypto/crypto.h"
#include "crypto/ossl.h"
#include "hsm/internal.h"
#include "hsm/km0.h"

#define SR_ROOT_DAYS (20u * 365u)
#define SR_WARRANT_DAYS (10u * 365u)

static enum sr_err sr_read_cert(const char *path, enum sr_err missing, X509 **ret)
{
    SR_AUTO_BUF struct sr_buf pem = {0};
    sr_buf_init(&pem, 65536, SR_BUF_PLAIN);
    enum sr_err r = sr_file_read(path, &pem);
    SR_ENSURE(r != SR_ERR_NOT_FOUND, missing);
    SR_TRY(r);
    return sr_x509_from_pem(pem.data, pem.len, ret);
}

static enum sr_err sr_write_cert(const char *path, X509 *cert, enum sr_write_mode mode)
{
    SR_AUTO_BUF struct sr_buf pem = {0};
    sr_buf_init(&pem, 65536, SR_BUF_PLAIN);
    SR_TRY(sr_x509_to_pem(cert, &pem));
    return sr_file_write_atomic(path, pem.data, pem.len, mode);
}

static enum sr_err sr_cert_fingerprint(X509 *cert, uint8_t out[SR_HASH_LEN])
{
    EVP_PKEY *pub = X509_get0_pubkey(cert); /* borrowed */
    SR_ENSURE(pub != NULL, SR_ERR_MALFORMED);
    return sr_pkey_public_hash(pub, out);
}

enum sr_err sr_root_init(const char *root_dir, struct sr_seal_config *seal, uint8_t ret_fingerprint[SR_HASH_LEN])
{
    char key_path[SR_PATH_MAX];
    char cert_path[SR_PATH_MAX];
    char km0_path[SR_PATH_MAX];
    SR_TRY(sr_dir_make(root_dir));
    SR_TRY(sr_path_join(key_path, sizeof(key_path), root_dir, "root.key"));
    SR_TRY(sr_path_join(cert_path, sizeof(cert_path), root_dir, "root.pem"));
    SR_TRY(sr_path_join(km0_path, sizeof(km0_path), root_dir, "km0"));
    SR_ENSURE(!sr_file_exists(key_path) && !sr_file_exists(cert_path), SR_ERR_ROOT_EXISTS);
    SR_AUTO(sr_km0_freep) uint8_t *km0 = NULL;
    struct sr_seal_config file;
    SR_TRY(sr_km0_load(sr_seal_worldless(seal, &file), km0_path, true, &km0));
    struct sr_key_spec spec = {.type = SR_KEY_EC, .curve = SR_CURVE_P384};
    SR_AUTO_PKEY EVP_PKEY *key = NULL;
    SR_TRY(sr_pkey_generate(&spec, &key));
    SR_AUTO_X509 X509 *cert = NULL;
    SR_TRY(sr_x509_self_signed(key, "Strongroom manufacturer root", SR_ROOT_DAYS, &cert));
    SR_AUTO_JSON json_t *h = json_pack("{s:s}", "kind", "manufacturer root");
    SR_ENSURE(h != NULL, SR_ERR_NOMEM);
    SR_TRY(sr_sealed_pkey_write(km0, SR_PURPOSE_ROOT, h, key, key_path));
    SR_TRY(sr_write_cert(cert_path, cert, SR_WRITE_CREATE));
    return sr_pkey_public_hash(key, ret_fingerprint);
}

enum sr_err sr_root_fingerprint(const char *root_dir, uint8_t ret_fingerprint[SR_HASH_LEN])
{
    char cert_path[SR_PATH_MAX];
    SR_TRY(sr_path_join(cert_path, sizeof(cert_path), root_dir, "root.pem"));
    SR_AUTO_X509 X509 *cert = NULL;
    SR_TRY(sr_read_cert(cert_path, SR_ERR_NO_ROOT, &cert));
    return sr_cert_fingerprint(cert, ret_fingerprint);
}

static enum sr_err sr_module_identity_public(struct sr_module *m, EVP_PKEY **ret)
{
    char path[SR_PATH_MAX];
    SR_TRY(sr_module_path(m, "module/identity", path, sizeof(path)));
    SR_AUTO_CONTAINER struct sr_container c = {0};
    SR_TRY(sr_container_read(path, SR_MAGIC_SEALED, SR_ERR_NVRAM_TAMPERED, &c));
    return sr_header_public_key(c.header, SR_ERR_NVRAM_TAMPERED, ret);
}

enum sr_err sr_root_warrant_key(const char *root_dir, struct sr_seal_config *seal, EVP_PKEY *identity,
                                const char *subject, const char *out_dir)
{
    char key_path[SR_PATH_MAX];
    char cert_path[SR_PATH_MAX];
    char km0_path[SR_PATH_MAX];
    SR_TRY(sr_path_join(key_path, sizeof(key_path), root_dir, "root.key"));
    SR_TRY(sr_path_join(cert_path, sizeof(cert_path), root_dir, "root.pem"));
    SR_TRY(sr_path_join(km0_path, sizeof(km0_path), root_dir, "km0"));
    SR_AUTO_X509 X509 *root_cert = NULL;
    SR_TRY(sr_read_cert(cert_path, SR_ERR_NO_ROOT, &root_cert));
    SR_AUTO(sr_km0_freep) uint8_t *km0 = NULL;
    struct sr_seal_config file;
    enum sr_err r = sr_km0_load(sr_seal_worldless(seal, &file), km0_path, false, &km0);
    SR_ENSURE(r != SR_ERR_NOT_FOUND, SR_ERR_NO_ROOT);
    SR_TRY(r);
    SR_AUTO_PKEY EVP_PKEY *root_key = NULL;
    r = sr_sealed_pkey_read(km0, SR_PURPOSE_ROOT, key_path, &root_key);
    SR_ENSURE(r != SR_ERR_NOT_FOUND, SR_ERR_NO_ROOT);
    SR_TRY(r);
    SR_ENSURE(X509_check_private_key(root_cert, root_key) == 1, SR_ERR_NVRAM_TAMPERED);
    SR_AUTO_X509 X509 *warrant = NULL;
    SR_TRY(sr_x509_issue(root_key, root_cert, identity, subject, NULL, SR_WARRANT_DAYS, &warrant));
    char path[SR_PATH_MAX];
    SR_TRY(sr_path_join(path, sizeof(path), out_dir, "root.pem"));
    SR_TRY(sr_write_cert(path, root_cert, SR_WRITE_REPLACE));
    SR_TRY(sr_path_join(path, sizeof(path), out_dir, "warrant.pem"));
    return sr_write_cert(path, warrant, SR_WRITE_REPLACE);
}

enum sr_err sr_root_warrant_module(const char *root_dir, struct sr_seal_config *seal, struct sr_module *m)
{
    SR_AUTO_PKEY EVP_PKEY *identity = NULL;
    SR_TRY(sr_module_identity_public(m, &identity));
    char dir[SR_PATH_MAX];
    SR_TRY(sr_module_path(m, "module", dir, sizeof(dir)));
    return sr_root_warrant_key(root_dir, seal, identity, m->esn, dir);
}

enum sr_err sr_module_trust_root(struct sr_module *m, const uint8_t fingerprint[SR_HASH_LEN])
{
    char path[SR_PATH_MAX];
    char line[80];
    sr_fingerprint_format(fingerprint, line);
    strcat(line, "\n");
    SR_TRY(sr_module_path(m, "trusted-root", path, sizeof(path)));
    return sr_file_write_atomic(path, line, strlen(line), SR_WRITE_REPLACE);
}

enum sr_err sr_module_trusted_root(struct sr_module *m, uint8_t ret_fingerprint[SR_HASH_LEN])
{
    char path[SR_PATH_MAX];
    SR_TRY(sr_module_path(m, "trusted-root", path, sizeof(path)));
    SR_AUTO_BUF struct sr_buf text = {0};
    sr_buf_init(&text, 256, SR_BUF_PLAIN);
    SR_TRY(sr_file_read(path, &text));
    SR_TRY(sr_buf_terminate(&text));
    char *nl = strchr((char *)text.data, '\n');
    if (nl != NULL) {
        *nl = 0;
    }
    SR_ENSURE(sr_hex_decode((const char *)text.data, ret_fingerprint, SR_HASH_LEN) == SR_OK, SR_ERR_FINGERPRINT);
    return SR_OK;
}

enum sr_err sr_module_check_warrant(struct sr_module *m, uint8_t ret_root_fingerprint[SR_HASH_LEN])
{
    char path[SR_PATH_MAX];
    SR_AUTO_X509 X509 *root = NULL;
    SR_AUTO_X509 X509 *warrant = NULL;
    SR_TRY(sr_module_path(m, "module/root.pem", path, sizeof(path)));
    SR_TRY(sr_read_cert(path, SR_ERR_NOT_FOUND, &root));
    SR_TRY(sr_module_path(m, "module/warrant.pem", path, sizeof(path)));
    SR_TRY(sr_read_cert(path, SR_ERR_NOT_FOUND, &warrant));
    EVP_PKEY *root_pub = X509_get0_pubkey(root); /* borrowed */
    SR_ENSURE(root_pub != NULL, SR_ERR_MALFORMED);
    SR_TRY(sr_x509_check_signed_by(root, root_pub));
    SR_TRY(sr_x509_check_signed_by(warrant, root_pub));
    SR_AUTO_PKEY EVP_PKEY *identity = NULL;
    SR_TRY(sr_module_identity_public(m, &identity));
    SR_ENSURE(EVP_PKEY_eq(X509_get0_pubkey(warrant), identity) == 1, SR_ERR_BAD_SIGNATURE);
    return sr_pkey_public_hash(root_pub, ret_root_fingerprint);
}
