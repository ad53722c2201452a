#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "base/text.h"
#include "crypto/crypto.h"
#include "crypto/ossl.h"
#include "hsm/internal.h"
#include "hsm/km0.h"

void sr_module_diagf(struct sr_module *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->diag, sizeof(m->diag), fmt, ap);
    va_end(ap);
}

const char *sr_module_diag(const struct sr_module *m)
{
    return m->diag;
}

const char *sr_module_dir(const struct sr_module *m)
{
    return m->dir;
}

const char *sr_module_esn(const struct sr_module *m)
{
    return m->esn;
}

char sr_module_mode(const struct sr_module *m)
{
    return m->mode;
}

bool sr_module_has_world_key(const struct sr_module *m)
{
    return m->km != NULL;
}

enum sr_err sr_module_path(const struct sr_module *m, const char *rel, char *out, size_t cap)
{
    return sr_path_join(out, cap, m->dir, rel);
}

void sr_pins_release(struct sr_pins *pins)
{
    for (size_t i = 0; i < SR_MAX_CARDS; i++) {
        if (pins->pin[i] != NULL) {
            OPENSSL_secure_clear_free(pins->pin[i], strlen(pins->pin[i]) + 1);
            pins->pin[i] = NULL;
        }
    }
}

void sr_module_free(struct sr_module *m)
{
    if (m == NULL) {
        return;
    }
    sr_secure_key_free(m->km0);
    sr_secure_key_free(m->km);
    if (m->cache != NULL) {
        sr_keycache_release(m->cache);
        sr_keycache_release(m->pubcache);
        OPENSSL_free(m->cache);
    }
    OPENSSL_clear_free(m, sizeof(*m));
}

static enum sr_err sr_module_load_esn(struct sr_module *m)
{
    char path[SR_PATH_MAX];
    SR_TRY(sr_module_path(m, "module/esn", path, sizeof(path)));
    SR_AUTO_BUF struct sr_buf file = {0};
    sr_buf_init(&file, 64, SR_BUF_PLAIN);
    enum sr_err r = sr_file_read(path, &file);
    if (r == SR_ERR_NOT_FOUND) {
        uint8_t rnd[6];
        char hex[13];
        SR_TRY(sr_rand_bytes(rnd, sizeof(rnd)));
        sr_hex_encode(rnd, sizeof(rnd), hex);
        for (char *p = hex; *p; p++) {
            *p = (char)(*p >= 'a' ? *p - 'a' + 'A' : *p);
        }
        snprintf(m->esn, sizeof(m->esn), "%.4s-%.4s-%.4s", hex, hex + 4, hex + 8);
        char line[SR_ESN_LEN + 2];
        snprintf(line, sizeof(line), "%s\n", m->esn);
        return sr_file_write_atomic(path, line, strlen(line), SR_WRITE_CREATE);
    }
    SR_TRY(r);
    SR_ENSURE(file.len == SR_ESN_LEN + 1 && file.data[SR_ESN_LEN] == '\n', SR_ERR_NVRAM_TAMPERED);
    memcpy(m->esn, file.data, SR_ESN_LEN);
    m->esn[SR_ESN_LEN] = 0;
    return SR_OK;
}

static enum sr_err sr_module_load_identity(struct sr_module *m)
{
    char path[SR_PATH_MAX];
    SR_TRY(sr_module_path(m, "module/identity", path, sizeof(path)));
    if (sr_file_exists(path)) {
        return SR_OK; /* opened (and checked) when a warrant or an attestation needs it */
    }
    struct sr_key_spec spec = {.type = SR_KEY_EC, .curve = SR_CURVE_P384};
    SR_AUTO_PKEY EVP_PKEY *key = NULL;
    SR_TRY(sr_pkey_generate(&spec, &key));
    SR_AUTO_JSON json_t *header = json_pack("{s:s,s:s}", "kind", "module identity", "esn", m->esn);
    SR_ENSURE(header != NULL, SR_ERR_NOMEM);
    return sr_sealed_pkey_write(m->km0, SR_PURPOSE_IDENTITY, header, key, path);
}

static enum sr_err sr_module_load_mode(struct sr_module *m)
{
    char path[SR_PATH_MAX];
    SR_TRY(sr_module_path(m, "module/mode", path, sizeof(path)));
    SR_AUTO_BUF struct sr_buf file = {0};
    sr_buf_init(&file, 16, SR_BUF_PLAIN);
    enum sr_err r = sr_file_read(path, &file);
    if (r == SR_ERR_NOT_FOUND) {
        return sr_module_set_mode(m, 'O');
    }
    SR_TRY(r);
    SR_ENSURE(file.len == 2 && (file.data[0] == 'I' || file.data[0] == 'O') && file.data[1] == '\n',
              SR_ERR_NVRAM_TAMPERED);
    m->mode = (char)file.data[0];
    return SR_OK;
}

enum sr_err sr_nvram_digest(const char *path, uint8_t out[SR_HASH_LEN])
{
    SR_AUTO_BUF struct sr_buf file = {0};
    sr_buf_init(&file, SR_MAX_FILE, SR_BUF_PLAIN);
    enum sr_err r = sr_file_read(path, &file);
    if (r == SR_ERR_NOT_FOUND) {
        memset(out, 0, SR_HASH_LEN);
        return SR_OK;
    }
    SR_TRY(r);
    return sr_sha256(file.data, file.len, out);
}

enum sr_err sr_module_anchor_nvram(struct sr_module *m)
{
    char km0[SR_PATH_MAX];
    uint8_t digest[SR_HASH_LEN];
    char nvram[SR_PATH_MAX];
    SR_TRY(sr_module_path(m, "module/km0", km0, sizeof(km0)));
    SR_TRY(sr_module_path(m, "module/nvram", nvram, sizeof(nvram)));
    SR_TRY(sr_nvram_digest(nvram, digest));
    enum sr_err r = sr_km0_anchor_set(&m->seal, km0, digest);
    if (r != SR_OK) {
        sr_module_diagf(m, "%s", m->seal.diag);
        return r;
    }
    m->nvram_refused = SR_OK;
    return SR_OK;
}

static enum sr_err sr_module_load_nvram(struct sr_module *m)
{
    char path[SR_PATH_MAX], km0[SR_PATH_MAX];
    uint8_t digest[SR_HASH_LEN];
    SR_TRY(sr_module_path(m, "module/nvram", path, sizeof(path)));
    SR_TRY(sr_module_path(m, "module/km0", km0, sizeof(km0)));
    SR_TRY(sr_nvram_digest(path, digest));
    /* An NVRAM the seal did not record last is an older copy: its world key is not loaded, and only a quorum of
     * cards (world load) brings one back. The module still opens, so that they can. */
    enum sr_err r = sr_km0_anchor_check(&m->seal, km0, digest);
    if (r == SR_ERR_NVRAM_ROLLBACK || r == SR_ERR_SEAL_ANCHOR) {
        m->nvram_refused = r;
        sr_module_diagf(m, "%s", m->seal.diag);
        return SR_OK;
    }
    SR_TRY(r);
    if (!sr_file_exists(path)) {
        return SR_OK;
    }
    SR_AUTO_CONTAINER struct sr_container c = {0};
    SR_TRY(sr_container_read(path, SR_MAGIC_NVRAM, SR_ERR_NVRAM_TAMPERED, &c));
    const char *world_id = NULL;
    SR_TRY(sr_json_str(c.header, "world_id", SR_ERR_NVRAM_TAMPERED, &world_id));
    SR_ENSURE(strlen(world_id) == 2 * SR_WORLD_ID_LEN, SR_ERR_NVRAM_TAMPERED);
    SR_AUTO_BUF struct sr_buf km = {0};
    sr_buf_init(&km, 64, SR_BUF_SECRET);
    SR_ENSURE(sr_seal_open(m->km0, SR_PURPOSE_NVRAM, &c, &km) == SR_OK && km.len == SR_WORLD_KEY_LEN,
              SR_ERR_NVRAM_TAMPERED);
    m->km = OPENSSL_secure_zalloc(SR_WORLD_KEY_LEN);
    SR_ENSURE(m->km != NULL, SR_ERR_NOMEM);
    memcpy(m->km, km.data, SR_WORLD_KEY_LEN);
    memcpy(m->km_world_id, world_id, sizeof(m->km_world_id));
    return SR_OK;
}

static enum sr_err sr_module_load_km0(struct sr_module *m, struct sr_seal_config *seal)
{
    char path[SR_PATH_MAX], identity[SR_PATH_MAX];
    SR_TRY(sr_module_path(m, "module/km0", path, sizeof(path)));
    SR_TRY(sr_module_path(m, "module/identity", identity, sizeof(identity)));
    enum sr_err r = SR_OK;
    if (seal->backend == SR_SEAL_CARDS && !sr_km0_present(seal, path)) {
        /* A new module under `cards`: its KM0 is kept once its world key exists (world create or load). A
         * module made before has lost its KM0, and a new one would open none of its files. */
        r = sr_km0_new(seal, path, &m->km0);
        if (r == SR_OK && sr_file_exists(identity)) {
            sr_km0_freep(&m->km0);
            snprintf(seal->diag, sizeof(seal->diag), "%.400s.cards is missing beside the module's files", path);
            r = SR_ERR_SEAL_MISMATCH;
        }
        m->km0_pending = r == SR_OK;
    } else {
        r = sr_km0_load(seal, path, true, &m->km0);
    }
    if (r != SR_OK) {
        sr_module_diagf(m, "%s", seal->diag);
    }
    return r;
}

/* Under `cards` no NVRAM is kept: the world key is the one the cards gave for this opening, if any. */
static enum sr_err sr_module_load_carded_world(struct sr_module *m, struct sr_seal_config *seal)
{
    if (seal->world_key == NULL) {
        return SR_OK;
    }
    m->km = OPENSSL_secure_zalloc(SR_WORLD_KEY_LEN);
    SR_ENSURE(m->km != NULL, SR_ERR_NOMEM);
    memcpy(m->km, seal->world_key, SR_WORLD_KEY_LEN);
    memcpy(m->km_world_id, seal->world_id, sizeof(m->km_world_id));
    seal->world_key = NULL; /* borrowed for the opening only */
    return SR_OK;
}

static enum sr_err sr_module_load(struct sr_module *m, struct sr_seal_config *seal)
{
    char path[SR_PATH_MAX];
    SR_TRY(sr_dir_make(m->dir));
    SR_TRY(sr_module_path(m, "module", path, sizeof(path)));
    SR_TRY(sr_dir_make(path));
    SR_TRY(sr_module_path(m, "local", path, sizeof(path)));
    SR_TRY(sr_dir_make(path));
    SR_TRY(sr_module_load_km0(m, seal));
    SR_TRY(sr_module_load_esn(m));
    SR_TRY(sr_module_load_identity(m));
    SR_TRY(sr_module_load_mode(m));
    return seal->backend == SR_SEAL_CARDS ? sr_module_load_carded_world(m, seal) : sr_module_load_nvram(m);
}

bool sr_module_present(const char *kmdata)
{
    char path[SR_PATH_MAX];
    return sr_path_join(path, sizeof(path), kmdata, "module") == SR_OK && sr_file_exists(path);
}

enum sr_err sr_module_open(const char *kmdata, struct sr_module **ret)
{
    return sr_module_open_sealed(kmdata, NULL, ret);
}

enum sr_err sr_module_open_sealed(const char *kmdata, struct sr_seal_config *seal, struct sr_module **ret)
{
    struct sr_seal_config file = {.backend = SR_SEAL_FILE};
    SR_ENSURE(kmdata != NULL && *kmdata != 0, SR_ERR_USAGE);
    struct sr_module *m = OPENSSL_zalloc(sizeof(*m));
    SR_ENSURE(m != NULL, SR_ERR_NOMEM);
    m->cache = OPENSSL_zalloc(2 * sizeof(*m->cache));
    if (m->cache == NULL) {
        OPENSSL_free(m);
        return SR_ERR_NOMEM;
    }
    m->pubcache = m->cache + 1;
    sr_keycache_init(m->cache);
    sr_keycache_init(m->pubcache);
    size_t len = strlen(kmdata);
    enum sr_err r = len < sizeof(m->dir) ? SR_OK : SR_ERR_TOO_LARGE;
    if (r == SR_OK) {
        memcpy(m->dir, kmdata, len + 1);
        m->seal = seal != NULL ? *seal : file;
        r = sr_module_load(m, &m->seal);
        m->seal.world_key = NULL;
    }
    if (r != SR_OK) {
        if (seal != NULL) {
            memcpy(seal->diag, m->seal.diag, sizeof(seal->diag)); /* what the backend said, for the caller */
        }
        sr_module_free(m);
        return r;
    }
    *ret = m;
    return SR_OK;
}

enum sr_err sr_module_set_mode(struct sr_module *m, char mode)
{
    SR_ENSURE(mode == 'I' || mode == 'O', SR_ERR_USAGE);
    char path[SR_PATH_MAX];
    SR_TRY(sr_module_path(m, "module/mode", path, sizeof(path)));
    char line[2] = {mode, '\n'};
    SR_TRY(sr_file_write_atomic(path, line, sizeof(line), SR_WRITE_REPLACE));
    m->mode = mode;
    return SR_OK;
}

enum sr_err sr_module_reset(struct sr_module *m)
{
    char path[SR_PATH_MAX];
    SR_TRY(sr_module_path(m, "module/nvram", path, sizeof(path)));
    SR_TRY(sr_file_remove(path));
    SR_TRY(sr_module_anchor_nvram(m)); /* a copy made before the reset is refused from now on */
    sr_secure_key_free(m->km);
    m->km = NULL;
    m->km_world_id[0] = 0;
    /* A reset forgets loaded keys too. */
    sr_keycache_release(m->cache);
    sr_keycache_init(m->cache);
    sr_keycache_release(m->pubcache);
    sr_keycache_init(m->pubcache);
    return SR_OK;
}
