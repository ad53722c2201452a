/*
 * km0_migrate.c - `seal migrate`: every module key of a data directory moved from one backend to another,
 * on a stopped server, so that a crash at any point leaves the old seal or the new one working.
 *
 *   1. each KM0 is unsealed by the old backend and sealed by the new one beside it (the backends keep
 *      different files: km0, km0.tpm2, km0.p11), and the new anchor records the module's NVRAM as it is;
 *   2. DATA/seal is replaced atomically: the commit — before it the old seal opens everything, after it
 *      the new one does;
 *   3. the old backend's files are removed and its anchors freed.
 *
 * Run again after a crash in step 3, it finishes the clean-up.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "base/json.h"
#include "crypto/crypto.h"
#include "hsm/internal.h"
#include "hsm/km0_internal.h"

#define SR_MIGRATE_SLOTS 64

struct sr_migration {
    const char *data_dir;
    struct sr_seal_config *from, *to;
    unsigned fault_after; /* tests: stop (exit 3) after this many steps; 0: never */
    unsigned steps;
    char slots[SR_MIGRATE_SLOTS][SR_PATH_MAX]; /* every KM0 path of the directory */
    size_t n;
};

/* A step is done: with a fault injected after it, the process stops here as a crash would. */
static void sr_migration_step(struct sr_migration *mg)
{
    if (++mg->steps == mg->fault_after) {
        _exit(3);
    }
}

static enum sr_err sr_migration_add(struct sr_migration *mg, const char *path)
{
    SR_ENSURE(mg->n < SR_MIGRATE_SLOTS, SR_ERR_TOO_LARGE);
    SR_ENSURE(strlen(path) < SR_PATH_MAX, SR_ERR_TOO_LARGE);
    snprintf(mg->slots[mg->n++], SR_PATH_MAX, "%s", path);
    return SR_OK;
}

/* The KM0s the old seal keeps: root, tls and each region's module. */
static enum sr_err sr_migration_slots(struct sr_migration *mg)
{
    const struct sr_seal_ops *from = sr_seal_ops_of(mg->from);
    char path[SR_PATH_MAX], kept[SR_PATH_MAX];
    static const char *const fixed[] = {"root/km0", "tls/km0"};
    for (size_t i = 0; i < SR_ARRAY_LEN(fixed); i++) {
        SR_TRY(sr_path_join(path, sizeof(path), mg->data_dir, fixed[i]));
        SR_TRY(sr_km0_kept_path(from, path, kept, sizeof(kept)));
        if (sr_file_exists(kept)) {
            SR_TRY(sr_migration_add(mg, path));
        }
    }
    SR_TRY(sr_path_join(path, sizeof(path), mg->data_dir, "regions"));
    DIR *d = opendir(path);
    enum sr_err r = SR_OK;
    for (struct dirent *de = d ? readdir(d) : NULL; de != NULL && r == SR_OK; de = readdir(d)) {
        int n = snprintf(path, sizeof(path), "%s/regions/%s/kmdata/module/km0", mg->data_dir, de->d_name);
        if (de->d_name[0] == '.' || n <= 0 || (size_t)n >= sizeof(path) ||
            sr_km0_kept_path(from, path, kept, sizeof(kept)) != SR_OK || !sr_file_exists(kept)) {
            continue;
        }
        r = sr_migration_add(mg, path);
    }
    if (d != NULL) {
        closedir(d);
    }
    return r;
}

/* SHA-256 of the module/nvram beside a module's KM0 (zeros when none): what the new anchor records. */
static enum sr_err sr_migration_nvram_digest(const char *km0_path, uint8_t out[SR_HASH_LEN])
{
    char nvram[SR_PATH_MAX];
    int n = snprintf(nvram, sizeof(nvram), "%.*snvram", (int)(strlen(km0_path) - 3), km0_path);
    SR_ENSURE(n > 0 && (size_t)n < sizeof(nvram), SR_ERR_TOO_LARGE);
    return sr_nvram_digest(nvram, out);
}

/* Step 1 for one KM0: the old backend opens it, the new one seals it beside, its anchor records the NVRAM. */
static enum sr_err sr_migration_move(struct sr_migration *mg, const char *path)
{
    const struct sr_seal_ops *to = sr_seal_ops_of(mg->to);
    SR_AUTO(sr_km0_freep) uint8_t *km0 = NULL;
    SR_TRY(sr_km0_load(mg->from, path, false, &km0));
    SR_AUTO_BUF struct sr_buf kept = {0};
    sr_buf_init(&kept, 16384, SR_BUF_SECRET);
    enum sr_err r = to->seal(mg->to, km0, &kept);
    if (r == SR_OK && to->anchor_write != NULL) {
        uint8_t digest[SR_HASH_LEN];
        r = sr_migration_nvram_digest(path, digest);
        if (r == SR_OK) {
            r = to->anchor_write(mg->to, kept.data, kept.len, digest);
        }
    }
    char kept_path[SR_PATH_MAX];
    if (r == SR_OK) {
        r = sr_km0_kept_path(to, path, kept_path, sizeof(kept_path));
    }
    if (r == SR_OK && to->forget != NULL && sr_file_exists(kept_path)) {
        /* What a migration cut short before its commit left: its anchor is freed before the file is replaced. */
        SR_AUTO_BUF struct sr_buf stale = {0};
        sr_buf_init(&stale, 16384, SR_BUF_SECRET);
        if (sr_file_read(kept_path, &stale) == SR_OK) {
            (void)to->forget(mg->to, stale.data, stale.len);
        }
    }
    if (r == SR_OK) {
        r = sr_file_write_atomic(kept_path, kept.data, kept.len, SR_WRITE_REPLACE);
    }
    sr_migration_step(mg);
    return r;
}

/* Step 3: the old backend's files removed, its anchors freed; for every backend but the current one. */
static enum sr_err sr_migration_clean(struct sr_migration *mg)
{
    const struct sr_seal_ops *keep = sr_seal_ops_of(mg->to);
    for (size_t i = 0; i < mg->n; i++) {
        char current[SR_PATH_MAX];
        if (sr_km0_kept_path(keep, mg->slots[i], current, sizeof(current)) != SR_OK || !sr_file_exists(current)) {
            continue; /* never remove a module key's only copy */
        }
        for (enum sr_seal_backend b = SR_SEAL_FILE; b <= SR_SEAL_PKCS11; b++) {
            struct sr_seal_config old = *mg->from;
            old.backend = b;
            const struct sr_seal_ops *ops = sr_seal_ops_of(&old);
            char kept_path[SR_PATH_MAX];
            if (ops == keep || sr_km0_kept_path(ops, mg->slots[i], kept_path, sizeof(kept_path)) != SR_OK ||
                !sr_file_exists(kept_path)) {
                continue;
            }
            if (ops->forget != NULL && b == mg->from->backend) {
                SR_AUTO_BUF struct sr_buf kept = {0};
                sr_buf_init(&kept, 16384, SR_BUF_SECRET);
                if (sr_file_read(kept_path, &kept) == SR_OK) {
                    (void)ops->forget(mg->from, kept.data, kept.len); /* a gone anchor is no reason to stop */
                }
            }
            SR_TRY(sr_file_remove(kept_path));
            sr_migration_step(mg);
        }
    }
    return SR_OK;
}

enum sr_err sr_seal_migrate(const char *data_dir, struct sr_seal_config *from, struct sr_seal_config *to,
                            unsigned fault_after, unsigned *ret_moved)
{
    struct sr_migration *mg = OPENSSL_zalloc(sizeof(*mg));
    SR_ENSURE(mg != NULL, SR_ERR_NOMEM);
    *mg = (struct sr_migration){.data_dir = data_dir, .from = from, .to = to, .fault_after = fault_after};
    enum sr_err r = SR_OK;
    if (from->backend == to->backend) {
        /* Already committed (a clean-up cut short, run again): only the clean-up is left. */
        struct sr_seal_config none = *from;
        mg->from = &none;
        for (enum sr_seal_backend b = SR_SEAL_FILE; b <= SR_SEAL_PKCS11 && r == SR_OK; b++) {
            none.backend = b;
            mg->n = 0;
            r = b == to->backend ? SR_OK : sr_migration_slots(mg);
            if (r == SR_OK && mg->n > 0) {
                mg->from = &none;
                r = sr_migration_clean(mg);
            }
        }
        *ret_moved = 0;
        OPENSSL_free(mg);
        return r;
    }
    r = sr_migration_slots(mg);
    for (size_t i = 0; i < mg->n && r == SR_OK; i++) {
        r = sr_migration_move(mg, mg->slots[i]);
    }
    if (r == SR_OK) {
        r = sr_seal_config_write(data_dir, to, SR_WRITE_REPLACE); /* the commit */
        sr_migration_step(mg);
    }
    if (r == SR_OK) {
        r = sr_migration_clean(mg);
    }
    *ret_moved = (unsigned)mg->n;
    OPENSSL_free(mg);
    return r;
}
