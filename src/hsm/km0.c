/* km0.c - the seal of a data directory (DATA/seal) and the `file` backend; km0_tpm2.c is `tpm2`,
 * km0_pkcs11.c `pkcs11`, km0_cards.c `cards`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "base/fileio.h"
#include "base/json.h"
#include "base/text.h"
#include "crypto/crypto.h"
#include "hsm/internal.h"
#include "hsm/km0_internal.h"

/* --- file: KM0 is the file, as it always was --- */

static enum sr_err sr_file_seal(struct sr_seal_config *cfg, const uint8_t km0[SR_KM0_LEN], struct sr_buf *out)
{
    (void)cfg;
    return sr_buf_append(out, km0, SR_KM0_LEN);
}

static enum sr_err sr_file_unseal(struct sr_seal_config *cfg, const uint8_t *kept, size_t len,
                                  uint8_t km0[SR_KM0_LEN])
{
    (void)cfg;
    SR_ENSURE(len == SR_KM0_LEN, SR_ERR_NVRAM_TAMPERED);
    memcpy(km0, kept, SR_KM0_LEN);
    return SR_OK;
}

static enum sr_err sr_file_describe(const struct sr_seal_config *cfg, const uint8_t *kept, size_t len, json_t *into)
{
    (void)cfg, (void)kept, (void)len;
    SR_ENSURE(json_object_set_new(into, "boundTo", json_string("nothing: the file is the key")) == 0, SR_ERR_NOMEM);
    return SR_OK;
}

static const struct sr_seal_ops sr_seal_file = {
    .name = "file", .suffix = "", .seal = sr_file_seal, .unseal = sr_file_unseal, .describe = sr_file_describe,
};

static const struct sr_seal_ops *const sr_seal_backends[] = {
    [SR_SEAL_FILE] = &sr_seal_file,
    [SR_SEAL_TPM2] = &sr_seal_tpm2,
    [SR_SEAL_PKCS11] = &sr_seal_pkcs11,
    [SR_SEAL_CARDS] = &sr_seal_cards,
};

const struct sr_seal_ops *sr_seal_ops_of(const struct sr_seal_config *cfg)
{
    return cfg != NULL && (unsigned)cfg->backend < SR_ARRAY_LEN(sr_seal_backends) ? sr_seal_backends[cfg->backend]
                                                                                   : &sr_seal_file;
}

const char *sr_seal_backend_name(enum sr_seal_backend b)
{
    return (unsigned)b < SR_ARRAY_LEN(sr_seal_backends) ? sr_seal_backends[b]->name : "?";
}

enum sr_err sr_seal_backend_parse(const char *name, enum sr_seal_backend *ret)
{
    for (size_t i = 0; name != NULL && i < SR_ARRAY_LEN(sr_seal_backends); i++) {
        if (strcmp(name, sr_seal_backends[i]->name) == 0) {
            *ret = (enum sr_seal_backend)i;
            return SR_OK;
        }
    }
    return SR_ERR_SEAL_BACKEND;
}

enum sr_err sr_seal_pcrs_parse(const char *list, uint32_t *ret)
{
    uint32_t mask = 0;
    char copy[128];
    SR_ENSURE(list != NULL && strlen(list) < sizeof(copy), SR_ERR_SEAL_PCRS);
    snprintf(copy, sizeof(copy), "%s", list);
    char *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
        unsigned long pcr = 0;
        SR_ENSURE(sr_parse_uint(t, 0, 23, &pcr) == SR_OK, SR_ERR_SEAL_PCRS);
        mask |= 1u << pcr;
    }
    SR_ENSURE(mask != 0, SR_ERR_SEAL_PCRS);
    *ret = mask;
    return SR_OK;
}

void sr_seal_config_tcti(struct sr_seal_config *cfg, const char *tcti)
{
    const char *env = getenv("STRONGROOM_TPM_TCTI");
    const char *use = tcti != NULL && *tcti ? tcti : env != NULL && *env ? env : NULL;
    if (use != NULL) {
        snprintf(cfg->tcti, sizeof(cfg->tcti), "%s", use);
    }
}

static enum sr_err sr_seal_path(const char *data_dir, char *out, size_t cap)
{
    return sr_path_join(out, cap, data_dir, "seal");
}

enum sr_err sr_seal_config_read(const char *data_dir, struct sr_seal_config *ret)
{
    *ret = (struct sr_seal_config){.backend = SR_SEAL_FILE};
    char path[SR_PATH_MAX];
    SR_TRY(sr_seal_path(data_dir, path, sizeof(path)));
    SR_AUTO_BUF struct sr_buf text = {0};
    sr_buf_init(&text, 4096, SR_BUF_PLAIN);
    enum sr_err r = sr_file_read(path, &text);
    if (r == SR_ERR_NOT_FOUND) {
        return SR_OK;
    }
    SR_TRY(r);
    SR_AUTO_JSON json_t *doc = json_loadb((const char *)text.data, text.len, 0, NULL);
    const char *backend = json_string_value(json_object_get(doc, "backend"));
    SR_ENSURE(backend != NULL && sr_seal_backend_parse(backend, &ret->backend) == SR_OK, SR_ERR_SEAL_CONFIG);
    const char *uri = json_string_value(json_object_get(doc, "pkcs11"));
    if (uri != NULL) {
        /* A PIN written into the URI would be printed by every status and error: only pin-source is read. */
        SR_ENSURE(strlen(uri) < sizeof(ret->pkcs11) && strstr(uri, "pin-value=") == NULL, SR_ERR_SEAL_CONFIG);
        snprintf(ret->pkcs11, sizeof(ret->pkcs11), "%s", uri);
    }
    SR_ENSURE(ret->backend != SR_SEAL_PKCS11 || ret->pkcs11[0] != 0, SR_ERR_SEAL_CONFIG);
    const char *tcti = json_string_value(json_object_get(doc, "tcti"));
    if (tcti != NULL) {
        SR_ENSURE(strlen(tcti) < sizeof(ret->tcti), SR_ERR_SEAL_CONFIG);
        snprintf(ret->tcti, sizeof(ret->tcti), "%s", tcti);
    }
    size_t i;
    const json_t *pcr;
    json_array_foreach(json_object_get(doc, "pcrs"), i, pcr) {
        SR_ENSURE(json_is_integer(pcr) && json_integer_value(pcr) >= 0 && json_integer_value(pcr) <= 23,
                  SR_ERR_SEAL_CONFIG);
        ret->pcrs |= 1u << json_integer_value(pcr);
    }
    sr_seal_config_tcti(ret, NULL); /* STRONGROOM_TPM_TCTI over the one given at init */
    return SR_OK;
}

enum sr_err sr_seal_config_of_kmdata(const char *kmdata, struct sr_seal_config *ret)
{
    *ret = (struct sr_seal_config){.backend = SR_SEAL_FILE};
    char dir[SR_PATH_MAX];
    int n = snprintf(dir, sizeof(dir), "%s", kmdata);
    SR_ENSURE(n > 0 && (size_t)n < sizeof(dir), SR_ERR_TOO_LARGE);
    while (n > 1 && dir[n - 1] == '/') {
        dir[--n] = 0;
    }
    /* .../regions/<R>/kmdata: three names up is the data directory */
    char *cut[3] = {NULL, NULL, NULL};
    for (int i = 0; i < 3; i++) {
        cut[i] = strrchr(dir, '/');
        if (cut[i] == NULL) {
            return SR_OK;
        }
        *cut[i] = 0;
    }
    if (strcmp(cut[0] + 1, "kmdata") != 0 || strcmp(cut[2] + 1, "regions") != 0) {
        return SR_OK;
    }
    return sr_seal_config_read(dir[0] ? dir : "/", ret);
}

/* Whether the directory holds a module key already, kept by any backend: then its seal is chosen. */
static bool sr_seal_has_keys(const char *data_dir)
{
    static const char *const km0s[] = {"root/km0", "tls/km0"};
    char path[SR_PATH_MAX];
    for (size_t i = 0; i < SR_ARRAY_LEN(km0s); i++) {
        for (size_t b = 0; b < SR_ARRAY_LEN(sr_seal_backends); b++) {
            int n = snprintf(path, sizeof(path), "%s/%s%s", data_dir, km0s[i], sr_seal_backends[b]->suffix);
            if (n > 0 && (size_t)n < sizeof(path) && sr_file_exists(path)) {
                return true;
            }
        }
    }
    /* a region's module is a module key whatever keeps it */
    return sr_path_join(path, sizeof(path), data_dir, "regions") == SR_OK && sr_file_exists(path);
}

enum sr_err sr_seal_config_init(const char *data_dir, const struct sr_seal_config *cfg)
{
    char path[SR_PATH_MAX];
    SR_TRY(sr_seal_path(data_dir, path, sizeof(path)));
    SR_ENSURE(!sr_file_exists(path) && !sr_seal_has_keys(data_dir), SR_ERR_SEAL_EXISTS);
    SR_TRY(sr_dir_make(data_dir));
    return sr_seal_config_write(data_dir, cfg, SR_WRITE_CREATE);
}

enum sr_err sr_seal_config_write(const char *data_dir, const struct sr_seal_config *cfg, enum sr_write_mode mode)
{
    char path[SR_PATH_MAX];
    SR_TRY(sr_seal_path(data_dir, path, sizeof(path)));
    SR_AUTO_JSON json_t *pcrs = json_array();
    SR_ENSURE(pcrs != NULL, SR_ERR_NOMEM);
    for (unsigned i = 0; i < 24; i++) {
        if (cfg->pcrs & (1u << i)) {
            SR_ENSURE(json_array_append_new(pcrs, json_integer(i)) == 0, SR_ERR_NOMEM);
        }
    }
    SR_AUTO_JSON json_t *doc = json_pack("{s:s,s:O}", "backend", sr_seal_backend_name(cfg->backend), "pcrs", pcrs);
    SR_ENSURE(doc != NULL, SR_ERR_NOMEM);
    if (cfg->backend == SR_SEAL_TPM2) {
        SR_ENSURE(json_object_set_new(doc, "tcti", json_string(cfg->tcti)) == 0, SR_ERR_NOMEM);
    }
    if (cfg->backend == SR_SEAL_PKCS11) {
        SR_ENSURE(json_object_set_new(doc, "pkcs11", json_string(cfg->pkcs11)) == 0, SR_ERR_NOMEM);
    }
    SR_AUTO_FREE char *text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
    SR_ENSURE(text != NULL, SR_ERR_NOMEM);
    return sr_file_write_atomic(path, text, strlen(text), mode);
}

enum sr_err sr_km0_kept_path(const struct sr_seal_ops *ops, const char *path, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s%s", path, ops->suffix);
    SR_ENSURE(n > 0 && (size_t)n < cap, SR_ERR_TOO_LARGE);
    return SR_OK;
}

/* A KM0 kept by another backend than the directory's seal: never make a second one beside it. */
static enum sr_err sr_km0_other_backend(const struct sr_seal_ops *ops, const char *path, struct sr_seal_config *cfg)
{
    char other[SR_PATH_MAX];
    for (size_t b = 0; b < SR_ARRAY_LEN(sr_seal_backends); b++) {
        if (sr_seal_backends[b] != ops && sr_km0_kept_path(sr_seal_backends[b], path, other, sizeof(other)) == SR_OK &&
            sr_file_exists(other)) {
            snprintf(cfg->diag, sizeof(cfg->diag), "%s is kept by '%s', the directory's seal is '%s'", path,
                     sr_seal_backends[b]->name, ops->name);
            return SR_ERR_SEAL_MISMATCH;
        }
    }
    return SR_OK;
}

struct sr_seal_config *sr_seal_worldless(struct sr_seal_config *seal, struct sr_seal_config *file_out)
{
    if (seal != NULL && seal->backend != SR_SEAL_CARDS) {
        return seal;
    }
    *file_out = (struct sr_seal_config){.backend = SR_SEAL_FILE};
    return file_out;
}

bool sr_km0_present(const struct sr_seal_config *seal, const char *path)
{
    char kept_path[SR_PATH_MAX];
    return sr_km0_kept_path(sr_seal_ops_of(seal), path, kept_path, sizeof(kept_path)) == SR_OK &&
           sr_file_exists(kept_path);
}

enum sr_err sr_km0_new(struct sr_seal_config *seal, const char *path, uint8_t **ret_secure)
{
    SR_TRY(sr_km0_other_backend(sr_seal_ops_of(seal), path, seal));
    SR_AUTO(sr_km0_freep) uint8_t *km0 = OPENSSL_secure_zalloc(SR_KM0_LEN);
    SR_ENSURE(km0 != NULL, SR_ERR_NOMEM);
    SR_TRY(sr_rand_bytes(km0, SR_KM0_LEN));
    *ret_secure = SR_TAKE(km0);
    return SR_OK;
}

enum sr_err sr_km0_keep(struct sr_seal_config *seal, const char *path, const uint8_t *km0)
{
    const struct sr_seal_ops *ops = sr_seal_ops_of(seal);
    char kept_path[SR_PATH_MAX];
    SR_TRY(sr_km0_kept_path(ops, path, kept_path, sizeof(kept_path)));
    SR_AUTO_BUF struct sr_buf kept = {0};
    sr_buf_init(&kept, 16384, SR_BUF_SECRET);
    SR_TRY(ops->seal(seal, km0, &kept));
    return sr_file_write_atomic(kept_path, kept.data, kept.len, SR_WRITE_CREATE);
}

enum sr_err sr_km0_load(struct sr_seal_config *seal, const char *path, bool create, uint8_t **ret_secure)
{
    struct sr_seal_config file = {.backend = SR_SEAL_FILE};
    struct sr_seal_config *cfg = seal != NULL ? seal : &file;
    const struct sr_seal_ops *ops = sr_seal_ops_of(cfg);
    char kept_path[SR_PATH_MAX];
    SR_TRY(sr_km0_kept_path(ops, path, kept_path, sizeof(kept_path)));
    SR_AUTO_BUF struct sr_buf kept = {0};
    sr_buf_init(&kept, 16384, SR_BUF_SECRET);
    enum sr_err r = sr_file_read(kept_path, &kept);
    if (r == SR_ERR_NOT_FOUND && create) {
        SR_AUTO(sr_km0_freep) uint8_t *km0 = NULL;
        SR_TRY(sr_km0_new(cfg, path, &km0));
        SR_TRY(sr_km0_keep(cfg, path, km0));
        *ret_secure = SR_TAKE(km0);
        return SR_OK;
    }
    if (r == SR_ERR_NOT_FOUND) {
        SR_TRY(sr_km0_other_backend(ops, path, cfg));
    }
    SR_TRY(r);
    SR_AUTO(sr_km0_freep) uint8_t *km0 = OPENSSL_secure_zalloc(SR_KM0_LEN);
    SR_ENSURE(km0 != NULL, SR_ERR_NOMEM);
    r = ops->unseal(cfg, kept.data, kept.len, km0);
    if (r != SR_OK) {
        char why[sizeof(cfg->diag)];
        memcpy(why, cfg->diag, sizeof(why));
        snprintf(cfg->diag, sizeof(cfg->diag), "%.200s: %.300s", kept_path, why); /* which module key */
        return r;
    }
    *ret_secure = SR_TAKE(km0);
    return SR_OK;
}

enum sr_err sr_km0_describe(const struct sr_seal_config *seal, const char *path, json_t **ret)
{
    const struct sr_seal_ops *ops = sr_seal_ops_of(seal);
    char kept_path[SR_PATH_MAX];
    SR_TRY(sr_km0_kept_path(ops, path, kept_path, sizeof(kept_path)));
    SR_AUTO_JSON json_t *e = json_pack("{s:s,s:s,s:b}", "path", kept_path, "backend", ops->name, "present",
                                       sr_file_exists(kept_path));
    SR_ENSURE(e != NULL, SR_ERR_NOMEM);
    if (sr_file_exists(kept_path)) {
        SR_AUTO_BUF struct sr_buf kept = {0};
        sr_buf_init(&kept, 16384, SR_BUF_SECRET);
        SR_TRY(sr_file_read(kept_path, &kept));
        SR_TRY(ops->describe(seal, kept.data, kept.len, e));
    }
    *ret = SR_TAKE(e);
    return SR_OK;
}

enum sr_err sr_seal_probe(struct sr_seal_config *seal)
{
    if (seal->backend == SR_SEAL_CARDS) {
        return SR_OK; /* nothing to reach: the cards are given at each start */
    }
    const struct sr_seal_ops *ops = sr_seal_ops_of(seal);
    SR_AUTO(sr_km0_freep) uint8_t *km0 = OPENSSL_secure_zalloc(SR_KM0_LEN);
    SR_AUTO(sr_km0_freep) uint8_t *back = OPENSSL_secure_zalloc(SR_KM0_LEN);
    SR_ENSURE(km0 != NULL && back != NULL, SR_ERR_NOMEM);
    SR_AUTO_BUF struct sr_buf kept = {0};
    sr_buf_init(&kept, 16384, SR_BUF_SECRET);
    SR_TRY(sr_rand_bytes(km0, SR_KM0_LEN));
    SR_TRY(ops->seal(seal, km0, &kept));
    enum sr_err r = ops->unseal(seal, kept.data, kept.len, back);
    if (ops->forget != NULL) {
        enum sr_err f = ops->forget(seal, kept.data, kept.len);
        r = r != SR_OK ? r : f;
    }
    SR_TRY(r);
    SR_ENSURE(sr_ct_equal(km0, back, SR_KM0_LEN), SR_ERR_INTERNAL);
    return SR_OK;
}

void sr_km0_free(uint8_t *km0)
{
    sr_secure_key_free(km0);
}

/* The kept bytes of the KM0 at path, and its backend, for the anchor's operations. */
static enum sr_err sr_km0_kept(const struct sr_seal_config *cfg, const char *path, const struct sr_seal_ops **ops,
                               struct sr_buf *kept)
{
    *ops = sr_seal_ops_of(cfg);
    if ((*ops)->anchor_read == NULL) {
        return SR_OK; /* nothing to read: the backend keeps no anchor */
    }
    char kept_path[SR_PATH_MAX];
    SR_TRY(sr_km0_kept_path(*ops, path, kept_path, sizeof(kept_path)));
    return sr_file_read(kept_path, kept);
}

enum sr_err sr_km0_anchor_check(struct sr_seal_config *seal, const char *path, const uint8_t digest[32])
{
    const struct sr_seal_ops *ops = NULL;
    SR_AUTO_BUF struct sr_buf kept = {0};
    sr_buf_init(&kept, 16384, SR_BUF_SECRET);
    SR_TRY(sr_km0_kept(seal, path, &ops, &kept));
    if (ops->anchor_read == NULL) {
        return SR_OK;
    }
    uint8_t anchored[SR_KM0_LEN];
    enum sr_err r = ops->anchor_read(seal, kept.data, kept.len, anchored);
    if (r == SR_ERR_NOT_FOUND) {
        return SR_OK; /* a KM0 sealed before anchors were made names none */
    }
    SR_TRY(r);
    if (!sr_ct_equal(anchored, digest, SR_KM0_LEN)) {
        snprintf(seal->diag, sizeof(seal->diag), "%s: the NVRAM beside it is not the one the %s last recorded", path,
                 ops->name);
        return SR_ERR_NVRAM_ROLLBACK;
    }
    return SR_OK;
}

enum sr_err sr_km0_anchor_set(struct sr_seal_config *seal, const char *path, const uint8_t digest[32])
{
    const struct sr_seal_ops *ops = NULL;
    SR_AUTO_BUF struct sr_buf kept = {0};
    sr_buf_init(&kept, 16384, SR_BUF_SECRET);
    SR_TRY(sr_km0_kept(seal, path, &ops, &kept));
    if (ops->anchor_write == NULL) {
        return SR_OK;
    }
    enum sr_err r = ops->anchor_write(seal, kept.data, kept.len, digest);
    return r == SR_ERR_NOT_FOUND ? SR_OK : r;
}
