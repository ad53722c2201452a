/*
 * unseal.c - a `cards`-sealed server's regions opened one administrator card at a time.
 *
 * Each joined region has a quorum in progress (hsm/quorum.c) until its K-th good card; then its module
 * opens with the world key the cards gave, and the quorum (the key's only other copy) is wiped. Everything
 * is in memory: a restart starts sealed, with nothing given.
 */
#include <stdio.h>
#include <string.h>

#include "base/fileio.h"
#include "base/json.h"
#include "hsm/km0.h"
#include "hsm/module.h"
#include "vault/internal.h"

static struct sr_unseal_slot *sr_unseal_slot_find(struct sr_vault_svc *svc, const char *region)
{
    for (size_t i = 0; i < svc->nunseals; i++) {
        if (strcmp(svc->unseals[i].name, region) == 0) {
            return &svc->unseals[i];
        }
    }
    return NULL;
}

const struct sr_quorum *sr_svc_quorum_of(struct sr_vault_svc *svc, const char *region)
{
    struct sr_unseal_slot *slot = sr_unseal_slot_find(svc, region);
    struct sr_quorum_progress p;
    if (slot == NULL || slot->quorum == NULL) {
        return NULL;
    }
    sr_quorum_progress(slot->quorum, &p);
    return p.done ? slot->quorum : NULL;
}

void sr_svc_unseals_free(struct sr_vault_svc *svc)
{
    for (size_t i = 0; i < svc->nunseals; i++) {
        sr_quorum_free(svc->unseals[i].quorum);
        svc->unseals[i].quorum = NULL;
    }
    svc->nunseals = 0;
}

/* The region's quorum in progress, made on first use (lock held). */
static enum sr_err sr_unseal_slot_get(struct sr_vault_svc *svc, const char *region, struct sr_unseal_slot **ret)
{
    struct sr_unseal_slot *slot = sr_unseal_slot_find(svc, region);
    if (slot == NULL) {
        SR_ENSURE(svc->nunseals < SR_MAX_REGIONS, SR_ERR_TOO_LARGE);
        slot = &svc->unseals[svc->nunseals++];
        snprintf(slot->name, sizeof(slot->name), "%s", region);
    }
    if (slot->quorum == NULL) {
        char kmdata[SR_PATH_MAX];
        SR_TRY(sr_region_kmdata(svc->data_dir, region, kmdata, sizeof(kmdata)));
        SR_ENSURE(sr_file_exists(kmdata), SR_ERR_REGION_NOT_JOINED);
        SR_TRY(sr_quorum_new(kmdata, &slot->quorum));
    }
    *ret = slot;
    return SR_OK;
}

static void sr_unseal_state_of(const struct sr_unseal_slot *slot, bool open, struct sr_unseal_state *ret)
{
    struct sr_quorum_progress p = {0};
    if (slot != NULL && slot->quorum != NULL) {
        sr_quorum_progress(slot->quorum, &p);
    }
    *ret = (struct sr_unseal_state){.sealed = !open, .have = open ? p.need : p.have, .need = p.need, .of = p.of,
                                    .refused = p.refused};
    memcpy(ret->world, p.world_id, sizeof(ret->world));
}

enum sr_err sr_vault_unseal_card(struct sr_vault_svc *svc, const char *region, const uint8_t *card, size_t len,
                                 const char *pin, struct sr_unseal_state *ret)
{
    *ret = (struct sr_unseal_state){.sealed = true};
    SR_TRY(sr_region_name_check(region));
    SR_ENSURE(svc->seal.backend == SR_SEAL_CARDS, SR_ERR_UNSEAL_NOT_CARDS);
    SR_ENSURE(svc->store->ops->region_exists(svc->store, region) == SR_OK, SR_ERR_NOT_FOUND);
    if (sr_svc_region_open(svc, region) != NULL) {
        ret->sealed = false;
        return SR_OK;
    }
    pthread_mutex_lock(&svc->lock);
    struct sr_unseal_slot *slot = NULL;
    enum sr_err r = sr_unseal_slot_get(svc, region, &slot);
    if (r == SR_OK) {
        r = sr_quorum_add(slot->quorum, card, len, pin);
    }
    sr_unseal_state_of(slot, false, ret);
    bool complete = r == SR_OK && sr_svc_quorum_of(svc, region) != NULL;
    pthread_mutex_unlock(&svc->lock);
    if (!complete) {
        return r;
    }
    const struct sr_hsm *m = NULL;
    r = sr_svc_region_hsm(svc, region, &m); /* opens it with the quorum's world key */
    pthread_mutex_lock(&svc->lock);
    /* Open or not, the quorum is done with: its world key is wiped (a failed opening starts over). */
    sr_quorum_free(slot->quorum);
    slot->quorum = NULL;
    pthread_mutex_unlock(&svc->lock);
    ret->sealed = r != SR_OK;
    return r;
}

struct sr_seal_walk {
    struct sr_vault_svc *svc;
    json_t *regions;
    unsigned sealed;
};

static enum sr_err sr_seal_state_region(void *ctx, const char *region)
{
    struct sr_seal_walk *w = ctx;
    bool open = sr_svc_region_open(w->svc, region) != NULL;
    struct sr_unseal_slot *slot = NULL;
    struct sr_unseal_state st;
    pthread_mutex_lock(&w->svc->lock);
    enum sr_err r = open ? SR_OK : sr_unseal_slot_get(w->svc, region, &slot);
    sr_unseal_state_of(slot, open, &st);
    pthread_mutex_unlock(&w->svc->lock);
    if (r == SR_ERR_REGION_NOT_JOINED) {
        return SR_OK; /* another server's region */
    }
    SR_TRY(r);
    w->sealed += st.sealed;
    json_t *e = json_pack("{s:s,s:b,s:i,s:i,s:i,s:i,s:s}", "name", region, "sealed", st.sealed, "have", (int)st.have,
                          "need", (int)st.need, "of", (int)st.of, "refused", (int)st.refused, "world", st.world);
    SR_ENSURE(e != NULL && json_array_append_new(w->regions, e) == 0, SR_ERR_NOMEM);
    return SR_OK;
}

enum sr_err sr_vault_seal_state(struct sr_vault_svc *svc, json_t **ret)
{
    SR_AUTO_JSON json_t *regions = json_array();
    SR_ENSURE(regions != NULL, SR_ERR_NOMEM);
    struct sr_seal_walk w = {.svc = svc, .regions = regions};
    if (svc->seal.backend == SR_SEAL_CARDS) {
        SR_TRY(svc->store->ops->region_each(svc->store, sr_seal_state_region, &w));
    }
    *ret = json_pack("{s:s,s:b,s:O}", "backend", sr_seal_backend_name(svc->seal.backend), "sealed", w.sealed > 0,
                     "regions", regions);
    SR_ENSURE(*ret != NULL, SR_ERR_NOMEM);
    return SR_OK;
}
