/*
 * rebuild.c - the way back on new hardware: a data directory restored from a backup (or moved to a machine
 * with another TPM or token) whose module keys were sealed by hardware it no longer has.
 *
 * Nothing of the old modules can open here, and nothing needs to: every key a vault holds is a blob in the
 * store sealed under its region's world key, and the world key comes back from a quorum of the region's
 * administrator cards. So, as nShield replaces a module in a security world:
 *
 *   1. DATA/seal names the new seal (the commit: from here on only it is used);
 *   2. every module key that does not open under it (root/, tls/, each region's kmdata/) is moved to
 *      DATA/unsealable/ — kept, since a rebuild must never destroy, but useless without the old hardware;
 *   3. each region of the store without a module here is joined again: a new module sealed here, its world
 *      loaded from the cards, warranted by a new root.
 *
 * Run again after a crash at any point, it goes on where it stopped: what opens under the new seal stays.
 */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "base/fileio.h"
#include "hsm/km0.h"
#include "vault/internal.h"

/* Whether the module key at path opens under seal here: unseals, or waits only for its cards (cards are
 * not tied to any hardware). A key that is absent in every form "opens" too: there is nothing to move. */
static bool sr_rebuild_opens(struct sr_seal_config *seal, const char *path)
{
    uint8_t *km0 = NULL;
    enum sr_err r = sr_km0_load(seal, path, false, &km0);
    sr_km0_free(km0);
    return r == SR_OK || r == SR_ERR_SEALED || r == SR_ERR_NOT_FOUND;
}

struct sr_rebuild {
    const char *data_dir;
    struct sr_store *store;
    struct sr_seal_config *seal;
    const struct sr_rebuild_params *params;
    const struct sr_pins *pins;
    struct sr_rebuild_report *report;
    unsigned regions, opening;
    char stamp[32];
};

static enum sr_err sr_rebuild_count(void *ctx, const char *region)
{
    struct sr_rebuild *rb = ctx;
    char km0[SR_PATH_MAX];
    int n = snprintf(km0, sizeof(km0), "%s/regions/%s/kmdata/module/km0", rb->data_dir, region);
    SR_ENSURE(n > 0 && (size_t)n < sizeof(km0), SR_ERR_TOO_LARGE);
    char kmdata[SR_PATH_MAX];
    SR_TRY(sr_region_kmdata(rb->data_dir, region, kmdata, sizeof(kmdata)));
    rb->regions++;
    rb->opening += sr_file_exists(kmdata) && sr_rebuild_opens(rb->seal, km0);
    return SR_OK;
}

/* dir (under the data directory) to DATA/unsealable/NAME-STAMP when its key at km0 does not open here. */
static enum sr_err sr_rebuild_set_aside(struct sr_rebuild *rb, const char *dir, const char *km0, const char *name,
                                        struct sr_seal_config *seal)
{
    if (!sr_file_exists(dir) || sr_rebuild_opens(seal, km0)) {
        return SR_OK;
    }
    char aside[SR_PATH_MAX], to[SR_PATH_MAX];
    SR_TRY(sr_path_join(aside, sizeof(aside), rb->data_dir, "unsealable"));
    SR_TRY(sr_dir_make(aside));
    int n = snprintf(to, sizeof(to), "%s/%s-%s", aside, name, rb->stamp);
    SR_ENSURE(n > 0 && (size_t)n < sizeof(to), SR_ERR_TOO_LARGE);
    SR_ENSURE(rename(dir, to) == 0, SR_ERR_IO);
    rb->report->set_aside++;
    return SR_OK;
}

static enum sr_err sr_rebuild_aside_all(struct sr_rebuild *rb)
{
    static const char *const fixed[] = {"root", "tls"};
    char dir[SR_PATH_MAX], km0[SR_PATH_MAX];
    for (size_t i = 0; i < SR_ARRAY_LEN(fixed); i++) {
        struct sr_seal_config file;
        SR_TRY(sr_path_join(dir, sizeof(dir), rb->data_dir, fixed[i]));
        SR_TRY(sr_path_join(km0, sizeof(km0), dir, "km0"));
        SR_TRY(sr_rebuild_set_aside(rb, dir, km0, fixed[i], sr_seal_worldless(rb->seal, &file)));
    }
    char regions[SR_PATH_MAX];
    SR_TRY(sr_path_join(regions, sizeof(regions), rb->data_dir, "regions"));
    DIR *d = opendir(regions);
    enum sr_err r = SR_OK;
    for (struct dirent *de = d ? readdir(d) : NULL; de != NULL && r == SR_OK; de = readdir(d)) {
        char name[SR_PATH_MAX];
        if (de->d_name[0] == '.' || sr_region_kmdata(rb->data_dir, de->d_name, dir, sizeof(dir)) != SR_OK) {
            continue;
        }
        int n = snprintf(km0, sizeof(km0), "%s/module/km0", dir);
        int m = snprintf(name, sizeof(name), "region-%s", de->d_name);
        r = n > 0 && (size_t)n < sizeof(km0) && m > 0 && (size_t)m < sizeof(name) ? SR_OK : SR_ERR_TOO_LARGE;
        if (r == SR_OK) {
            r = sr_rebuild_set_aside(rb, dir, km0, name, rb->seal);
        }
    }
    if (d != NULL) {
        closedir(d);
    }
    return r;
}

static enum sr_err sr_rebuild_join(void *ctx, const char *region)
{
    struct sr_rebuild *rb = ctx;
    char kmdata[SR_PATH_MAX], cards[SR_PATH_MAX];
    SR_TRY(sr_region_kmdata(rb->data_dir, region, kmdata, sizeof(kmdata)));
    if (sr_file_exists(kmdata)) {
        return SR_OK; /* opens here (kept), or rebuilt by a run that stopped later */
    }
    SR_TRY(sr_region_cards(rb->data_dir, region, rb->params->card_dir, cards, sizeof(cards)));
    struct sr_join_params jp = {.name = region, .card_dir = cards, .cards = rb->params->cards,
                                .ncards = rb->params->ncards};
    enum sr_err r = sr_region_join(rb->data_dir, rb->store, &jp, rb->pins);
    if (r != SR_OK) {
        snprintf(rb->report->failed_region, sizeof(rb->report->failed_region), "%s", region);
        return r;
    }
    rb->report->rebuilt++;
    return SR_OK;
}

enum sr_err sr_vault_rebuild(const char *data_dir, struct sr_store *store, const struct sr_rebuild_params *params,
                             const struct sr_pins *pins, struct sr_rebuild_report *ret)
{
    *ret = (struct sr_rebuild_report){0};
    struct sr_seal_config current;
    SR_TRY(sr_seal_config_read(data_dir, &current));
    if (current.backend == SR_SEAL_TPM2 && params->seal->backend == SR_SEAL_TPM2) {
        sr_seal_config_tcti(&current, params->seal->tcti); /* "here" is this machine's TPM */
    }
    struct sr_rebuild rb = {.data_dir = data_dir, .store = store, .seal = &current, .params = params,
                            .pins = pins, .report = ret};
    snprintf(rb.stamp, sizeof(rb.stamp), "%lld", (long long)time(NULL));
    SR_TRY(store->ops->region_each(store, sr_rebuild_count, &rb));
    /* Every region opens under the seal it has: a working directory, which 'seal migrate' moves instead. */
    SR_ENSURE(rb.regions == 0 || rb.opening < rb.regions, SR_ERR_REBUILD_NOT_NEEDED);
    struct sr_seal_config seal = *params->seal;
    rb.seal = &seal;
    SR_TRY(sr_seal_config_write(data_dir, &seal, SR_WRITE_REPLACE)); /* 1: the commit */
    SR_TRY(sr_rebuild_aside_all(&rb));                               /* 2 */
    return store->ops->region_each(store, sr_rebuild_join, &rb);    /* 3 */
}
