#include "hsm/card.h"

#include <stdio.h>
#include <string.h>

#include "crypto/crypto.h"
#include "hsm/internal.h"

#define SR_CARD_SALT_LEN 16u

enum sr_err sr_card_path(const char *card_dir, const char *world_id, unsigned index, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/acs_%s_%u.card", card_dir, world_id, index);
    SR_ENSURE(n > 0 && (size_t)n < cap, SR_ERR_TOO_LARGE);
    return SR_OK;
}

enum sr_err sr_card_write(const char *path, const struct sr_card *card, const char *pin)
{
    struct sr_scrypt_params kdf = SR_SCRYPT_DEFAULT;
    uint8_t salt[SR_CARD_SALT_LEN];
    SR_TRY(sr_rand_bytes(salt, sizeof(salt)));
    SR_AUTO_JSON json_t *h = json_pack("{s:i,s:s,s:i,s:i,s:i,s:i,s:{s:s,s:i,s:i,s:i}}", "version", 1, "world_id",
                                       card->world_id, "card", (int)card->index, "quorum_k", (int)card->quorum_k,
                                       "quorum_n", (int)card->quorum_n, "x", (int)card->x, "kdf", "alg", "scrypt",
                                       "log2_n", (int)kdf.log2_n, "r", (int)kdf.r, "p", (int)kdf.p);
    SR_ENSURE(h != NULL, SR_ERR_NOMEM);
    SR_TRY(sr_json_set_hex(json_object_get(h, "kdf"), "salt", salt, sizeof(salt)));
    uint8_t key[32];
    enum sr_err r = sr_scrypt(pin, strlen(pin), salt, sizeof(salt), kdf, key);
    /* The PIN key seals the share directly; the purpose label still separates it from other uses. */
    if (r == SR_OK) {
        r = sr_seal_write(key, "strongroom card v1", SR_MAGIC_CARD, h, card->share, SR_SHARE_LEN, path,
                          SR_WRITE_CREATE);
    }
    sr_wipe(key, sizeof(key));
    return r;
}

static enum sr_err sr_card_parse_header(const json_t *h, struct sr_card *card, struct sr_scrypt_params *kdf,
                                        uint8_t salt[SR_CARD_SALT_LEN])
{
    const enum sr_err bad = SR_ERR_CARD_TAMPERED;
    const char *world_id = NULL;
    unsigned long v = 0;
    SR_TRY(sr_json_uint(h, "version", bad, 1, &v));
    SR_ENSURE(v == 1, bad);
    SR_TRY(sr_json_str(h, "world_id", bad, &world_id));
    SR_ENSURE(strlen(world_id) == 32, bad);
    memcpy(card->world_id, world_id, 33);
    SR_TRY(sr_json_uint(h, "card", bad, SR_MAX_CARDS, &v));
    card->index = (unsigned)v;
    SR_TRY(sr_json_uint(h, "quorum_k", bad, SR_MAX_CARDS, &v));
    card->quorum_k = (unsigned)v;
    SR_TRY(sr_json_uint(h, "quorum_n", bad, SR_MAX_CARDS, &v));
    card->quorum_n = (unsigned)v;
    SR_TRY(sr_json_uint(h, "x", bad, 255, &v));
    card->x = (uint8_t)v;
    SR_ENSURE(card->index >= 1 && card->quorum_k >= 1 && card->quorum_k <= card->quorum_n &&
                  card->index <= card->quorum_n && card->x != 0,
              bad);
    if (kdf == NULL) {
        return SR_OK;
    }
    const json_t *k = json_object_get(h, "kdf");
    const char *alg = NULL;
    SR_TRY(sr_json_str(k, "alg", bad, &alg));
    SR_ENSURE(strcmp(alg, "scrypt") == 0, bad);
    SR_TRY(sr_json_uint(k, "log2_n", bad, 20, &v));
    kdf->log2_n = (unsigned)v;
    SR_TRY(sr_json_uint(k, "r", bad, 32, &v));
    kdf->r = (unsigned)v;
    SR_TRY(sr_json_uint(k, "p", bad, 4, &v));
    kdf->p = (unsigned)v;
    /* Refuse a lowered cost: an edited header must not make PIN guessing cheaper. */
    SR_ENSURE(kdf->log2_n >= SR_SCRYPT_DEFAULT.log2_n && kdf->r >= SR_SCRYPT_DEFAULT.r, bad);
    return sr_json_hex(k, "salt", bad, salt, SR_CARD_SALT_LEN);
}

enum sr_err sr_card_peek(const char *path, struct sr_card *ret)
{
    SR_AUTO_CONTAINER struct sr_container c = {0};
    enum sr_err r = sr_container_read(path, SR_MAGIC_CARD, SR_ERR_CARD_TAMPERED, &c);
    SR_TRY(r);
    struct sr_card card = {0};
    SR_TRY(sr_card_parse_header(c.header, &card, NULL, NULL));
    *ret = card;
    return SR_OK;
}

/* The share of a parsed card, opened with its PIN. */
static enum sr_err sr_card_open(const struct sr_container *c, const char *pin, struct sr_card *ret)
{
    struct sr_card card = {0};
    struct sr_scrypt_params kdf;
    uint8_t salt[SR_CARD_SALT_LEN];
    SR_TRY(sr_card_parse_header(c->header, &card, &kdf, salt));
    uint8_t key[32];
    SR_TRY(sr_scrypt(pin, strlen(pin), salt, sizeof(salt), kdf, key));
    SR_AUTO_BUF struct sr_buf share = {0};
    sr_buf_init(&share, 64, SR_BUF_SECRET);
    enum sr_err r = sr_seal_open(key, "strongroom card v1", c, &share);
    sr_wipe(key, sizeof(key));
    SR_ENSURE(r != SR_ERR_AUTH_FAILED, SR_ERR_BAD_PIN);
    SR_TRY(r);
    SR_ENSURE(share.len == SR_SHARE_LEN, SR_ERR_CARD_TAMPERED);
    memcpy(card.share, share.data, SR_SHARE_LEN);
    *ret = card;
    sr_wipe(&card, sizeof(card));
    return SR_OK;
}

enum sr_err sr_card_parse(const uint8_t *data, size_t len, const char *pin, struct sr_card *ret)
{
    SR_AUTO_CONTAINER struct sr_container c = {0};
    SR_TRY(sr_container_parse(data, len, SR_MAGIC_CARD, SR_ERR_CARD_TAMPERED, &c));
    return sr_card_open(&c, pin, ret);
}

enum sr_err sr_card_read(const char *path, const char *pin, struct sr_card *ret)
{
    SR_AUTO_CONTAINER struct sr_container c = {0};
    SR_TRY(sr_container_read(path, SR_MAGIC_CARD, SR_ERR_CARD_TAMPERED, &c));
    return sr_card_open(&c, pin, ret);
}
