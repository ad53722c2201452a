/*
 * km0_migrate.c - `seal migrate`: every module key of a data directory moved from one backend to another,
 * on a stopped server, so that a crash at any point leaves the old seal or the new one working.
 *
 *   1. each KM0 is unsealed by the old backend and sealed by the new one beside it (the backends keep
 *      different files: km0, km0.tpm2, km0.p11, km0.cards), and the new anchor records the module's NVRAM
 *      as it is; a region module leaving `cards` (which keeps no NVRAM) gets its NVRAM from the quorum
 *      given, and one going to `cards` has its KM0 sealed under the world key its NVRAM holds;
 *   2. DATA/seal is replaced atomically: the commit — before it the old seal opens everything, after it
 *      the new one does;
 *   3. the old backend's files are removed and its anchors freed (going to `cards`, the NVRAM too).
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

struct sr_migration_slot {
    char path[SR_PATH_MAX]; /* the KM0's path: DATA/root/km0, DATA/tls/km0, DATA/regions/R/kmdata/module/km0 */
    bool worldless;         /* root/ and tls/: files under `cards` */
};

struct sr_migration {
    const char *data_dir;
    struct sr_seal_config *from, *to;
    struct sr_quorum *const *quorums; /* from `cards`: one complete quorum per region */
    size_t nquorums;
    unsigned fault_after; /* tests: stop (exit 3) after this many steps; 0: never */
    unsigned steps;
    struct sr_migration_slot slots[SR_MIGRATE_SLOTS]; /* every KM0 of the directory */
    size_t n;
};

/* A step is done: with a fault injected after it, the process stops here as a crash would. */
static void sr_migration_step(struct sr_migration *mg)
{
    if (++mg->steps == mg->fault_after) {
        _exit(3);
    }
}

/* The seal that keeps a slot's KM0 under cfg. */
static struct sr_seal_config *sr_slot_seal(const struct sr_migration_slot *slot, struct sr_seal_config *cfg,
                                           struct sr_seal_config *file_out)
{
    return slot->worldless ? sr_seal_worldless(cfg, file_out) : cfg;
}

static bool sr_slot_kept_by(const struct sr_migration_slot *slot, const struct sr_seal_ops *ops)
{
    char kept[SR_PATH_MAX];
    return sr_km0_kept_path(ops, slot->path, kept, sizeof(kept)) == SR_OK && sr_file_exists(kept);
}

/* Any backend keeps it: the slot exists. */
static bool sr_slot_kept(const struct sr_migration_slot *slot)
{
    for (enum sr_seal_backend b = SR_SEAL_FILE; b <= SR_SEAL_CARDS; b++) {
        struct sr_seal_config cfg = {.backend = b};
        if (sr_slot_kept_by(slot, sr_seal_ops_of(&cfg))) {
            return true;
        }
    }
    return false;
}

static enum sr_err sr_migration_add(struct sr_migration *mg, const char *path, bool worldless)
{
    SR_ENSURE(mg->n < SR_MIGRATE_SLOTS, SR_ERR_TOO_LARGE);
    SR_ENSURE(strlen(path) < SR_PATH_MAX, SR_ERR_TOO_LARGE);
    struct sr_migration_slot *slot = &mg->slots[mg->n];
    snprintf(slot->path, sizeof(slot->path), "%s", path);
    slot->worldless = worldless;
    mg->n += sr_slot_kept(slot);
    return SR_OK;
}

/* Every KM0 of the directory, whatever keeps it: root, tls and each region's module. */
static enum sr_err sr_migration_slots(struct sr_migration *mg)
{
    char path[SR_PATH_MAX];
    static const char *const fixed[] = {"root/km0", "tls/km0"};
    for (size_t i = 0; i < SR_ARRAY_LEN(fixed); i++) {
        SR_TRY(sr_path_join(path, sizeof(path), mg->data_dir, fixed[i]));
        SR_TRY(sr_migration_add(mg, path, true));
    }
    SR_TRY(sr_path_join(path, sizeof(path), mg->data_dir, "regions"));
    DIR *d = opendir(path);
    enum sr_err r = SR_OK;
    for (struct dirent *de = d ? readdir(d) : NULL; de != NULL && r == SR_OK; de = readdir(d)) {
        int n = snprintf(path, sizeof(path), "%s/regions/%s/kmdata/module/km0", mg->data_dir, de->d_name);
        if (de->d_name[0] != '.' && n > 0 && (size_t)n < sizeof(path)) {
            r = sr_migration_add(mg, path, false);
        }
    }
    if (d != NULL) {
        closedir(d);
    }
    return r;
}

/* A module's files beside its KM0 (.../module/km0): name is "nvram" or "" (the kmdata directory). */
static enum sr_err sr_slot_sibling(const struct sr_migration_slot *slot, const char *name, char *out, size_t cap)
{
    size_t cut = strlen(slot->path) - (*name ? strlen("km0") : strlen("/module/km0"));
    int n = snprintf(out, cap, "%.*s%s", (int)cut, slot->path, name);
    SR_ENSURE(n > 0 && (size_t)n < cap, SR_ERR_TOO_LARGE);
    return SR_OK;
}

/*
 * A region module's world key, which `cards` seals its KM0 under: from the quorum the caller was given, or
 * from the module's NVRAM under the old seal. Into km (secure) and world_id.
 */
static enum sr_err sr_slot_world_key(struct sr_migration *mg, const struct sr_migration_slot *slot, uint8_t *km,
                                     char world_id[2 * SR_WORLD_ID_LEN + 1])
{
    char kmdata[SR_PATH_MAX];
    SR_TRY(sr_slot_sibling(slot, "", kmdata, sizeof(kmdata)));
    if (mg->from->backend == SR_SEAL_CARDS) {
        for (size_t i = 0; i < mg->nquorums; i++) {
            struct sr_world_info info;
            const uint8_t *key = sr_quorum_world_key(mg->quorums[i]);
            if (key != NULL && sr_world_authenticate_at(kmdata, key, &info) == SR_OK) {
                memcpy(km, key, SR_WORLD_KEY_LEN);
                memcpy(world_id, info.id, 2 * SR_WORLD_ID_LEN + 1);
                return SR_OK;
            }
        }
        snprintf(mg->from->diag, sizeof(mg->from->diag), "%.400s: no quorum of its cards was given (--cards)",
                 kmdata);
        return SR_ERR_SEALED;
    }
    SR_AUTO_MODULE struct sr_module *m = NULL;
    SR_TRY(sr_module_open_sealed(kmdata, mg->from, &m));
    if (m->km == NULL) {
        snprintf(mg->from->diag, sizeof(mg->from->diag), "%.400s has no world loaded ('world load' first)", kmdata);
        return SR_ERR_NO_WORLD;
    }
    memcpy(km, m->km, SR_WORLD_KEY_LEN);
    memcpy(world_id, m->km_world_id, 2 * SR_WORLD_ID_LEN + 1);
    return SR_OK;
}

/* Step 1 for one KM0: the old backend opens it, the new one seals it beside (a region module leaving `cards`
 * gets its NVRAM back first), its anchor records the NVRAM. */
static enum sr_err sr_migration_move(struct sr_migration *mg, const struct sr_migration_slot *slot)
{
    struct sr_seal_config from_file, to_file;
    struct sr_seal_config *from = sr_slot_seal(slot, mg->from, &from_file);
    struct sr_seal_config *to = sr_slot_seal(slot, mg->to, &to_file);
    if (from->backend == to->backend) {
        return SR_OK; /* root/ and tls/ between `file` and `cards`: files either way */
    }
    const struct sr_seal_ops *ops = sr_seal_ops_of(to);
    SR_AUTO(sr_km0_freep) uint8_t *km = NULL;
    if (!slot->worldless && (from->backend == SR_SEAL_CARDS || to->backend == SR_SEAL_CARDS)) {
        km = OPENSSL_secure_zalloc(SR_WORLD_KEY_LEN);
        SR_ENSURE(km != NULL, SR_ERR_NOMEM);
        SR_TRY(sr_slot_world_key(mg, slot, km, to->world_id));
        memcpy(from->world_id, to->world_id, sizeof(from->world_id));
        from->world_key = to->world_key = km;
    }
    SR_AUTO(sr_km0_freep) uint8_t *km0 = NULL;
    enum sr_err r = sr_km0_load(from, slot->path, false, &km0);
    char nvram[SR_PATH_MAX];
    if (r == SR_OK) {
        r = sr_slot_sibling(slot, "nvram", nvram, sizeof(nvram));
    }
    if (r == SR_OK && from->backend == SR_SEAL_CARDS && !slot->worldless) {
        r = sr_world_write_nvram(km0, km, to->world_id, nvram); /* the old seal reads none: safe before the commit */
    }
    SR_AUTO_BUF struct sr_buf kept = {0};
    sr_buf_init(&kept, 16384, SR_BUF_SECRET);
    if (r == SR_OK) {
        r = ops->seal(to, km0, &kept);
    }
    from->world_key = to->world_key = NULL;
    if (r == SR_OK && ops->anchor_write != NULL) {
        uint8_t digest[SR_HASH_LEN];
        r = sr_nvram_digest(nvram, digest);
        if (r == SR_OK) {
            r = ops->anchor_write(to, kept.data, kept.len, digest);
        }
    }
    char kept_path[SR_PATH_MAX];
    if (r == SR_OK) {
        r = sr_km0_kept_path(ops, slot->path, kept_path, sizeof(kept_path));
    }
    if (r == SR_OK && ops->forget != NULL && sr_file_exists(kept_path)) {
        /* What a migration cut short before its commit left: its anchor is freed before the file is replaced. */
        SR_AUTO_BUF struct sr_buf stale = {0};
        sr_buf_init(&stale, 16384, SR_BUF_SECRET);
        if (sr_file_read(kept_path, &stale) == SR_OK) {
            (void)ops->forget(to, stale.data, stale.len);
        }
    }
    if (r == SR_OK) {
        r = sr_file_write_atomic(kept_path, kept.data, kept.len, SR_WRITE_REPLACE);
    }
    sr_migration_step(mg);
    return r;
}

/* Step 3: every other backend's files removed and anchors freed (and under `cards`, the NVRAM no seal reads). */
static enum sr_err sr_migration_clean(struct sr_migration *mg)
{
    for (size_t i = 0; i < mg->n; i++) {
        const struct sr_migration_slot *slot = &mg->slots[i];
        struct sr_seal_config to_file;
        const struct sr_seal_ops *keep = sr_seal_ops_of(sr_slot_seal(slot, mg->to, &to_file));
        if (!sr_slot_kept_by(slot, keep)) {
            continue; /* never remove a module key's only copy */
        }
        for (enum sr_seal_backend b = SR_SEAL_FILE; b <= SR_SEAL_CARDS; b++) {
            struct sr_seal_config old = *mg->from;
            old.backend = b;
            const struct sr_seal_ops *ops = sr_seal_ops_of(&old);
            char kept_path[SR_PATH_MAX];
            if (ops == keep || sr_km0_kept_path(ops, slot->path, kept_path, sizeof(kept_path)) != SR_OK ||
                !sr_file_exists(kept_path)) {
                continue;
            }
            if (ops->forget != NULL) {
                SR_AUTO_BUF struct sr_buf kept = {0};
                sr_buf_init(&kept, 16384, SR_BUF_SECRET);
                if (sr_file_read(kept_path, &kept) == SR_OK) {
                    (void)ops->forget(mg->from, kept.data, kept.len); /* a gone anchor is no reason to stop */
                }
            }
            SR_TRY(sr_file_remove(kept_path));
            sr_migration_step(mg);
        }
        char nvram[SR_PATH_MAX];
        if (keep == &sr_seal_cards && sr_slot_sibling(slot, "nvram", nvram, sizeof(nvram)) == SR_OK &&
            sr_file_exists(nvram)) {
            SR_TRY(sr_file_remove(nvram));
            sr_migration_step(mg);
        }
    }
    return SR_OK;
}

enum sr_err sr_seal_migrate(const char *data_dir, struct sr_seal_config *from, struct sr_seal_config *to,
                            const struct sr_migrate_options *opts, unsigned *ret_moved)
{
    struct sr_migration *mg = OPENSSL_zalloc(sizeof(*mg));
    SR_ENSURE(mg != NULL, SR_ERR_NOMEM);
    *mg = (struct sr_migration){.data_dir = data_dir, .from = from, .to = to, .fault_after = opts->fault_after,
                                .quorums = opts->quorums, .nquorums = opts->nquorums};
    enum sr_err r = sr_migration_slots(mg);
    if (from->backend == to->backend) {
        /* Already committed (a clean-up cut short, run again): only the clean-up is left. */
        if (r == SR_OK) {
            r = sr_migration_clean(mg);
        }
        *ret_moved = 0;
        OPENSSL_free(mg);
        return r;
    }
    for (size_t i = 0; i < mg->n && r == SR_OK; i++) {
        r = sr_migration_move(mg, &mg->slots[i]);
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
