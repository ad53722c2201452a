#include "hsm/transfer.h"

#include <string.h>

#include <openssl/crypto.h>

#include "crypto/crypto.h"
#include "crypto/ossl.h"
#include "hsm/blob.h"
#include "hsm/internal.h"

#define SR_TRANSFER_AES_LEN 32u
#define SR_MAX_PKCS8 16384u

enum sr_err sr_key_reduce_for_export(struct sr_module *m, const char *app, const char *ident,
                                     const uint8_t kek_hash[SR_HASH_LEN], const struct sr_export_target *target,
                                     struct sr_key_info *ret)
{
    struct sr_key_info src;
    SR_AUTO(sr_key_material_release) struct sr_key_material km = {0};
    sr_buf_init(&km.secret, 64, SR_BUF_SECRET);
    SR_TRY(sr_key_load_material(m, app, ident, &src, &km));
    /* = reference/hsm-world.md §1.6 | §5 #7 */
    /*# ReduceACL makes a new blob; ACL changes only narrow. */
    SR_ENSURE(sr_acl_permits(&src.acl, SR_ACL_REDUCE), SR_ERR_ACL_DENIED);
    char path[SR_PATH_MAX];
    SR_TRY(sr_key_path(m, "xferacld", ident, path, sizeof(path)));
    SR_ENSURE(!sr_file_exists(path), SR_ERR_EXISTS);
    struct sr_key_info info = {.spec = src.spec};
    sr_key_info_names(&info, "xferacld", ident, src.plainname);
    memcpy(info.origin, src.origin, sizeof(info.origin));
    info.acl.actions = SR_ACL_EXPORT_TO_KEY;
    memcpy(info.acl.export_kek_hash, kek_hash, SR_HASH_LEN);
    info.has_target = true;
    info.target = *target;
    SR_AUTO_BUF struct sr_buf file = {0};
    sr_buf_init(&file, SR_MAX_FILE, SR_BUF_PLAIN);
    SR_TRY(sr_key_build_material(m, &info, &km, &file));
    SR_TRY(sr_file_write_atomic(path, file.data, file.len, SR_WRITE_CREATE));
    *ret = info;
    return SR_OK;
}

static void sr_aes_free(uint8_t **k)
{
    if (*k != NULL) {
        OPENSSL_secure_clear_free(*k, SR_TRANSFER_AES_LEN);
    }
}

/* = azure-keyvault.md §1.4: CKM_RSA_AES_KEY_WRAP = RSA-OAEP(kek)(fresh AES-256 key) || AES-KWP(AES key)(PKCS#8,
 * or an AES target key's own bytes). With a label, OAEP is SHA-1 bound to it (the BYOK form); without, oaep says
 * which: SR_ENC_RSA_OAEP (SHA-1), SR_ENC_RSA_OAEP_256 or _384 (RSA_AES_KEY_WRAP_256, _384). Appends to out. */
static enum sr_err sr_rsa_aes_wrap(EVP_PKEY *kek, enum sr_enc_alg oaep, const uint8_t *label, size_t label_len,
                                   const struct sr_key_material *km, struct sr_buf *out)
{
    struct sr_key_spec kspec;
    SR_TRY(sr_pkey_describe(kek, &kspec));
    SR_ENSURE(kspec.type == SR_KEY_RSA && kspec.bits >= 2048, SR_ERR_KEY_TYPE);
    SR_AUTO(sr_aes_free) uint8_t *aes = OPENSSL_secure_zalloc(SR_TRANSFER_AES_LEN);
    SR_ENSURE(aes != NULL, SR_ERR_NOMEM);
    SR_TRY(sr_rand_bytes(aes, SR_TRANSFER_AES_LEN));
    SR_AUTO_BUF struct sr_buf p8 = {0};
    sr_buf_init(&p8, SR_MAX_PKCS8, SR_BUF_SECRET);
    SR_TRY(sr_key_material_bytes(km, &p8));
    SR_TRY(label != NULL ? sr_pkey_oaep_sha1_encrypt(kek, label, label_len, aes, SR_TRANSFER_AES_LEN, out)
                         : sr_pkey_encrypt(kek, oaep, aes, SR_TRANSFER_AES_LEN, out));
    return sr_aes_kwp_wrap(aes, SR_TRANSFER_AES_LEN, p8.data, p8.len, out);
}

enum sr_err sr_key_export_wrapped(struct sr_module *m, const char *ident, EVP_PKEY *kek, const uint8_t *label,
                                  size_t label_len, struct sr_buf *out, struct sr_key_info *ret_info)
{
    struct sr_key_info info;
    SR_AUTO(sr_key_material_release) struct sr_key_material km = {0};
    sr_buf_init(&km.secret, 64, SR_BUF_SECRET);
    SR_TRY(sr_key_load_material(m, "xferacld", ident, &info, &km));
    uint8_t kek_hash[SR_HASH_LEN];
    SR_TRY(sr_pkey_public_hash(kek, kek_hash));
    /* The only way out of the module: wrapped for exactly the KEK the reduced ACL names. */
    SR_ENSURE(sr_acl_permits(&info.acl, SR_ACL_EXPORT_TO_KEY), SR_ERR_ACL_DENIED);
    SR_ENSURE(sr_ct_equal(kek_hash, info.acl.export_kek_hash, SR_HASH_LEN), SR_ERR_ACL_DENIED);
    SR_TRY(sr_rsa_aes_wrap(kek, SR_ENC_RSA_OAEP, label, label_len, &km, out));
    *ret_info = info;
    return SR_OK;
}

enum sr_err sr_blob_release_wrapped(const struct sr_module *m, const uint8_t *blob, size_t len, EVP_PKEY *target,
                                    enum sr_enc_alg oaep, struct sr_buf *out)
{
    SR_ENSURE(oaep == SR_ENC_RSA_OAEP || oaep == SR_ENC_RSA_OAEP_256 || oaep == SR_ENC_RSA_OAEP_384, SR_ERR_ENC_ALG);
    struct sr_key_info info;
    SR_AUTO(sr_key_material_release) struct sr_key_material km = {0};
    sr_buf_init(&km.secret, 64, SR_BUF_SECRET);
    SR_TRY(sr_keyfile_load_material(m, "vault", blob, len, &info, &km));
    /* The module's word, whatever the vault's rows say: only a key made exportable ever leaves. */
    SR_ENSURE(sr_acl_permits(&info.acl, SR_ACL_RELEASE), SR_ERR_ACL_DENIED);
    return sr_rsa_aes_wrap(target, oaep, NULL, 0, &km, out);
}

enum sr_err sr_keyfile_export_trusted(const struct sr_module *m, const char *app, const uint8_t *bytes, size_t len,
                                      const uint8_t *trust, size_t trust_len, const uint8_t *label, size_t label_len,
                                      struct sr_buf *out)
{
    char name[SR_MAX_PLAINNAME + 1];
    SR_AUTO_PKEY EVP_PKEY *kek = NULL;
    SR_TRY(sr_trusted_key_open(m, trust, trust_len, name, sizeof(name), &kek));
    uint8_t kek_hash[SR_HASH_LEN];
    SR_TRY(sr_pkey_public_hash(kek, kek_hash));
    struct sr_key_info info;
    SR_AUTO(sr_key_material_release) struct sr_key_material km = {0};
    sr_buf_init(&km.secret, 64, SR_BUF_SECRET);
    SR_TRY(sr_keyfile_load_material(m, app, bytes, len, &info, &km));
    /* Out only under a key the quorum trusted, and only if the key was made to leave so (or names that KEK). */
    bool to_trusted = sr_acl_permits(&info.acl, SR_ACL_EXPORT_TO_TRUSTED);
    bool to_this = sr_acl_permits(&info.acl, SR_ACL_EXPORT_TO_KEY) &&
                   sr_ct_equal(kek_hash, info.acl.export_kek_hash, SR_HASH_LEN);
    SR_ENSURE(to_trusted || to_this, SR_ERR_ACL_DENIED);
    static const uint8_t none[1] = {0};
    return sr_rsa_aes_wrap(kek, SR_ENC_RSA_OAEP, label_len ? label : none, label_len, &km, out);
}

enum sr_err sr_kek_generate(struct sr_module *m, const char *ident, unsigned bits, EVP_PKEY **ret_pub)
{
    struct sr_keygen_params p = {.app = SR_KEK_APP, .ident = ident, .plainname = "BYOK key exchange key",
                                 .spec = {.type = SR_KEY_RSA, .bits = bits, .pubexp = 65537},
                                 .acl = SR_ACL_IMPORT};
    struct sr_key_info info;
    SR_TRY(sr_key_generate(m, &p, &info));
    return sr_key_public(m, SR_KEK_APP, ident, ret_pub);
}

enum sr_err sr_kek_public(const struct sr_module *m, const char *ident, EVP_PKEY **ret_pub)
{
    char path[SR_PATH_MAX];
    SR_TRY(sr_key_path(m, SR_KEK_APP, ident, path, sizeof(path)));
    SR_AUTO_CONTAINER struct sr_container c = {0};
    SR_TRY(sr_container_read(path, SR_MAGIC_KEY, SR_ERR_KEYFILE_TAMPERED, &c));
    struct sr_key_info info;
    return sr_key_open_container(m, &c, SR_KEK_APP, ident, &info, ret_pub, NULL);
}

/* = reference/hsm-world.md §5 #4: an import-only KEK never decrypts; and only an Import KEK imports. Loaded
 * once and kept in the module's cache, as any vault key: every import is one private operation, no more. */
static enum sr_err sr_kek_private(const struct sr_module *m, const char *kek_ident, const uint8_t *kek_blob,
                                  size_t kek_len, EVP_PKEY **ret)
{
    if (kek_blob == NULL) {
        return sr_key_read_cached(m, SR_KEK_APP, kek_ident, SR_ACL_IMPORT, ret);
    }
    uint8_t id[SR_HASH_LEN];
    return sr_key_private_cached(m, "vault", NULL, kek_blob, kek_len, SR_ACL_IMPORT, id, ret);
}

/* Opens the wrapped bytes (OAEP-SHA1 transport key, then AES-KWP): every failure here is the one error,
 * whatever step it was. out must be SR_BUF_SECRET. */
static enum sr_err sr_unwrap_bytes(EVP_PKEY *kek, const uint8_t *label, size_t label_len, const uint8_t *ct,
                                   size_t ctlen, struct sr_buf *out)
{
    size_t rsa_len = (size_t)EVP_PKEY_get_size(kek);
    SR_ENSURE(ctlen > rsa_len + 16, SR_ERR_BYOK_UNWRAP);
    SR_AUTO_BUF struct sr_buf aes = {0};
    sr_buf_init(&aes, 64, SR_BUF_SECRET);
    enum sr_err r = sr_pkey_oaep_sha1_decrypt(kek, label, label_len, ct, rsa_len, &aes);
    if (r == SR_OK && aes.len != SR_TRANSFER_AES_LEN) {
        r = SR_ERR_BYOK_UNWRAP;
    }
    if (r == SR_OK) {
        r = sr_aes_kwp_unwrap(aes.data, aes.len, ct + rsa_len, ctlen - rsa_len, out);
    }
    return r == SR_OK ? SR_OK : SR_ERR_BYOK_UNWRAP;
}

/* The same, for a private key: the bytes are its PKCS#8. */
static enum sr_err sr_unwrap_package(EVP_PKEY *kek, const uint8_t *label, size_t label_len, const uint8_t *ct,
                                     size_t ctlen, EVP_PKEY **ret)
{
    SR_AUTO_BUF struct sr_buf p8 = {0};
    sr_buf_init(&p8, SR_MAX_PKCS8, SR_BUF_SECRET);
    SR_TRY(sr_unwrap_bytes(kek, label, label_len, ct, ctlen, &p8));
    return sr_pkey_private_from_pkcs8(p8.data, p8.len, ret) == SR_OK ? SR_OK : SR_ERR_BYOK_UNWRAP;
}

enum sr_err sr_import_wrapped(const struct sr_module *m, const char *kek_ident, const uint8_t *kek_blob, size_t kek_len,
                              const uint8_t *label, size_t label_len, const uint8_t *ct, size_t ctlen,
                              const char *blob_label, const char *name, unsigned acl, struct sr_buf *out_blob,
                              struct sr_key_spec *ret_spec)
{
    SR_AUTO_PKEY EVP_PKEY *kek = NULL;
    SR_TRY(sr_kek_private(m, kek_ident, kek_blob, kek_len, &kek));
    SR_AUTO_PKEY EVP_PKEY *key = NULL;
    SR_TRY(sr_unwrap_package(kek, label, label_len, ct, ctlen, &key));
    struct sr_key_spec spec;
    SR_ENSURE(sr_pkey_describe(key, &spec) == SR_OK, SR_ERR_KEY_TYPE);
    SR_ENSURE(spec.type == SR_KEY_EC || spec.bits == 2048 || spec.bits == 3072 || spec.bits == 4096,
              SR_ERR_KEY_TYPE);
    return sr_vault_blob_seal(m, blob_label, name, SR_ORIGIN_TRANSFERRED, acl, key, out_blob, ret_spec);
}

enum sr_err sr_import_wrapped_secret(const struct sr_module *m, const char *kek_ident, const uint8_t *kek_blob,
                                     size_t kek_len, const uint8_t *label, size_t label_len, const uint8_t *ct,
                                     size_t ctlen, const char *blob_label, const char *name, unsigned acl,
                                     struct sr_buf *out_blob, struct sr_key_spec *ret_spec)
{
    SR_AUTO_PKEY EVP_PKEY *kek = NULL;
    SR_TRY(sr_kek_private(m, kek_ident, kek_blob, kek_len, &kek));
    SR_AUTO_BUF struct sr_buf key = {0};
    sr_buf_init(&key, SR_MAX_PKCS8, SR_BUF_SECRET);
    SR_TRY(sr_unwrap_bytes(kek, label, label_len, ct, ctlen, &key));
    SR_ENSURE(key.len == 16 || key.len == 24 || key.len == 32, SR_ERR_KEY_TYPE);
    *ret_spec = (struct sr_key_spec){.type = SR_KEY_AES, .bits = (unsigned)key.len * 8};
    return sr_blob_import_secret(m, blob_label, name, SR_ORIGIN_TRANSFERRED, key.data, key.len, acl, out_blob);
}

enum sr_err sr_keyfile_import_wrapped(struct sr_module *m, const char *kek_app, const uint8_t *kek_bytes,
                                      size_t kek_len, const uint8_t *label, size_t label_len, const uint8_t *ct,
                                      size_t ctlen, enum sr_key_type expect, const struct sr_keygen_params *params,
                                      struct sr_key_info *ret)
{
    char path[SR_PATH_MAX];
    const char *plainname = NULL;
    SR_TRY(sr_key_target(m, params, path, &plainname));
    uint8_t id[SR_HASH_LEN];
    SR_AUTO_PKEY EVP_PKEY *kek = NULL;
    enum sr_err r = sr_key_private_cached(m, kek_app, NULL, kek_bytes, kek_len, SR_ACL_UNWRAP, id, &kek);
    if (r == SR_ERR_ACL_DENIED) {
        r = sr_key_private_cached(m, kek_app, NULL, kek_bytes, kek_len, SR_ACL_IMPORT, id, &kek);
    }
    SR_TRY(r);
    SR_AUTO(sr_key_material_release) struct sr_key_material km = {0};
    sr_buf_init(&km.secret, SR_MAX_PKCS8, SR_BUF_SECRET);
    SR_TRY(sr_unwrap_bytes(kek, label, label_len, ct, ctlen, &km.secret));
    struct sr_key_info info = {.acl.actions = params->acl};
    if (sr_key_type_secret(expect)) {
        info.spec = (struct sr_key_spec){.type = expect, .bits = (unsigned)km.secret.len * 8};
        SR_ENSURE(sr_secret_size_ok(&info.spec), SR_ERR_KEY_TYPE);
    } else {
        SR_ENSURE(sr_pkey_private_from_pkcs8(km.secret.data, km.secret.len, &km.priv) == SR_OK, SR_ERR_BYOK_UNWRAP);
        sr_buf_release(&km.secret);
        SR_ENSURE(sr_pkey_describe(km.priv, &info.spec) == SR_OK && (expect == SR_KEY_NONE || info.spec.type == expect),
                  SR_ERR_KEY_TYPE);
        SR_ENSURE(info.spec.type == SR_KEY_EC || info.spec.bits == 2048 || info.spec.bits == 3072 ||
                      info.spec.bits == 4096, SR_ERR_KEY_TYPE);
    }
    SR_TRY(sr_key_file_make(m, params, path, plainname, SR_ORIGIN_TRANSFERRED, &info, &km));
    *ret = info;
    return SR_OK;
}

enum sr_err sr_module_attest(const struct sr_module *m, const uint8_t *data, size_t len, struct sr_buf *out_sig)
{
    char path[SR_PATH_MAX];
    SR_TRY(sr_module_path(m, "module/identity", path, sizeof(path)));
    SR_AUTO_PKEY EVP_PKEY *identity = NULL;
    SR_TRY(sr_sealed_pkey_read(m->km0, SR_PURPOSE_IDENTITY, path, &identity));
    return sr_pkey_sign_message(identity, SR_ALG_ES384, data, len, SR_SIG_DER, out_sig);
}

enum sr_err sr_module_certificates(const struct sr_module *m, struct sr_buf *warrant_pem, struct sr_buf *root_pem)
{
    char path[SR_PATH_MAX];
    SR_TRY(sr_module_path(m, "module/warrant.pem", path, sizeof(path)));
    SR_TRY(sr_file_read(path, warrant_pem));
    SR_TRY(sr_buf_terminate(warrant_pem));
    SR_TRY(sr_module_path(m, "module/root.pem", path, sizeof(path)));
    SR_TRY(sr_file_read(path, root_pem));
    return sr_buf_terminate(root_pem);
}
