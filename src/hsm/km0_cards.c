/*
 * km0_cards.c - the `cards` seal: a region module's KM0 encrypted (AES-256-GCM, the container every sealed
 * file uses) under a sub-key of the region's world key. The world key is on no disk: it exists only once
 * a quorum of the region's administrator cards gave it back, in the server (strongroom unseal) or in a
 * command that was given the cards. So km0.cards opens with nothing a copy of the directory holds — the
 * nShield model, where the world key is reassembled from the ACS, and Vault's Shamir unseal.
 */
#include <stdio.h>
#include <string.h>

#include "base/json.h"
#include "hsm/container.h"
#include "hsm/internal.h"
#include "hsm/km0_internal.h"

#define SR_MAGIC_KM0_CARDS "SRCRDKM0"
#define SR_PURPOSE_KM0_CARDS "strongroom km0 cards v1"

static enum sr_err sr_cards_need_key(struct sr_seal_config *cfg)
{
    if (cfg->world_key == NULL) {
        snprintf(cfg->diag, sizeof(cfg->diag), "sealed by the administrator cards: 'strongroom unseal' with a "
                                               "quorum of the region's cards opens it");
        return SR_ERR_SEALED;
    }
    return SR_OK;
}

static enum sr_err sr_cards_seal(struct sr_seal_config *cfg, const uint8_t km0[SR_KM0_LEN], struct sr_buf *out)
{
    SR_TRY(sr_cards_need_key(cfg));
    SR_AUTO_JSON json_t *h = json_pack("{s:i,s:s}", "version", 1, "world_id", cfg->world_id);
    SR_ENSURE(h != NULL, SR_ERR_NOMEM);
    return sr_seal_build(cfg->world_key, SR_PURPOSE_KM0_CARDS, SR_MAGIC_KM0_CARDS, h, km0, SR_KM0_LEN, out);
}

static enum sr_err sr_cards_parse(const uint8_t *kept, size_t len, struct sr_container *c, const char **world_id)
{
    SR_TRY(sr_container_parse(kept, len, SR_MAGIC_KM0_CARDS, SR_ERR_NVRAM_TAMPERED, c));
    SR_TRY(sr_json_str(c->header, "world_id", SR_ERR_NVRAM_TAMPERED, world_id));
    SR_ENSURE(strlen(*world_id) == 2 * SR_WORLD_ID_LEN, SR_ERR_NVRAM_TAMPERED);
    return SR_OK;
}

static enum sr_err sr_cards_unseal(struct sr_seal_config *cfg, const uint8_t *kept, size_t len,
                                   uint8_t km0[SR_KM0_LEN])
{
    SR_AUTO_CONTAINER struct sr_container c = {0};
    const char *world_id = NULL;
    SR_TRY(sr_cards_parse(kept, len, &c, &world_id));
    SR_TRY(sr_cards_need_key(cfg));
    SR_AUTO_BUF struct sr_buf out = {0};
    sr_buf_init(&out, 64, SR_BUF_SECRET);
    enum sr_err r = sr_seal_open(cfg->world_key, SR_PURPOSE_KM0_CARDS, &c, &out);
    if (r == SR_ERR_AUTH_FAILED || strcmp(world_id, cfg->world_id) != 0) {
        snprintf(cfg->diag, sizeof(cfg->diag), "sealed under world %s, the cards given are world %s's", world_id,
                 cfg->world_id);
        return SR_ERR_SEAL_CARDS_FOREIGN;
    }
    SR_TRY(r);
    SR_ENSURE(out.len == SR_KM0_LEN, SR_ERR_NVRAM_TAMPERED);
    memcpy(km0, out.data, SR_KM0_LEN);
    return SR_OK;
}

static enum sr_err sr_cards_describe(const struct sr_seal_config *cfg, const uint8_t *kept, size_t len,
                                     json_t *into)
{
    (void)cfg;
    SR_AUTO_CONTAINER struct sr_container c = {0};
    const char *world_id = NULL;
    SR_TRY(sr_cards_parse(kept, len, &c, &world_id));
    SR_ENSURE(json_object_set_new(into, "boundTo", json_string("the world key: a quorum of the region's "
                                                               "administrator cards at each start")) == 0 &&
                  json_object_set_new(into, "world", json_string(world_id)) == 0,
              SR_ERR_NOMEM);
    return SR_OK;
}

const struct sr_seal_ops sr_seal_cards = {
    .name = "cards", .suffix = ".cards", .seal = sr_cards_seal, .unseal = sr_cards_unseal,
    .describe = sr_cards_describe,
};
