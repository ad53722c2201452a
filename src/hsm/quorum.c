/*
 * quorum.c - a world key given back one administrator card at a time: how a `cards`-sealed module opens.
 *
 * Each card is opened with its PIN as it arrives (a wrong one is refused and counted, and the shares given
 * so far stay); the K-th distinct card of the world combines the shares, and the result counts only once
 * it authenticates the world file. The shares and the world key live on the secure heap, and a new
 * quorum starts from nothing: a restart forgets partial progress.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "base/fileio.h"
#include "crypto/crypto.h"
#include "hsm/card.h"
#include "hsm/internal.h"
#include "hsm/shamir.h"

struct sr_quorum {
    char kmdata[SR_PATH_MAX];
    struct sr_world_info world;
    unsigned have, refused;
    unsigned cards[SR_MAX_CARDS];      /* card numbers given, in order */
    uint8_t xs[SR_MAX_CARDS];
    uint8_t shares[SR_MAX_CARDS][SR_SHARE_LEN];
    uint8_t km[SR_WORLD_KEY_LEN];      /* the world key, once done */
    bool done;
};

enum sr_err sr_quorum_new(const char *kmdata, struct sr_quorum **ret)
{
    SR_ENSURE(strlen(kmdata) < SR_PATH_MAX, SR_ERR_TOO_LARGE);
    struct sr_quorum *q = OPENSSL_secure_zalloc(sizeof(*q));
    SR_ENSURE(q != NULL, SR_ERR_NOMEM);
    snprintf(q->kmdata, sizeof(q->kmdata), "%s", kmdata);
    enum sr_err r = sr_world_info_at(kmdata, &q->world);
    if (r != SR_OK) {
        sr_quorum_free(q);
        return r;
    }
    *ret = q;
    return SR_OK;
}

void sr_quorum_free(struct sr_quorum *q)
{
    if (q != NULL) {
        OPENSSL_secure_clear_free(q, sizeof(*q));
    }
}

static void sr_quorum_forget_shares(struct sr_quorum *q)
{
    OPENSSL_cleanse(q->shares, sizeof(q->shares));
    OPENSSL_cleanse(q->xs, sizeof(q->xs));
    q->have = 0;
}

static enum sr_err sr_quorum_take(struct sr_quorum *q, const struct sr_card *card)
{
    SR_ENSURE(strcmp(card->world_id, q->world.id) == 0, SR_ERR_WORLD_MISMATCH);
    SR_ENSURE(card->quorum_k == q->world.quorum_k && card->quorum_n == q->world.quorum_n, SR_ERR_CARD_TAMPERED);
    for (unsigned i = 0; i < q->have; i++) {
        SR_ENSURE(q->cards[i] != card->index && q->xs[i] != card->x, SR_ERR_CARD_REPEATED);
    }
    q->cards[q->have] = card->index;
    q->xs[q->have] = card->x;
    memcpy(q->shares[q->have], card->share, SR_SHARE_LEN);
    q->have++;
    if (q->have < q->world.quorum_k) {
        return SR_OK;
    }
    enum sr_err r = sr_shamir_combine(q->xs, (const uint8_t(*)[SR_SHARE_LEN])q->shares, q->have, q->km);
    struct sr_world_info checked;
    if (r == SR_OK) {
        r = sr_world_authenticate_at(q->kmdata, q->km, &checked);
    }
    sr_quorum_forget_shares(q);
    if (r != SR_OK) {
        /* Cards that open with their PINs and still give another key: edited, or a world remade under the
         * same id. None of them is trusted for the next try. */
        OPENSSL_cleanse(q->km, sizeof(q->km));
        return r;
    }
    q->done = true;
    return SR_OK;
}

enum sr_err sr_quorum_add(struct sr_quorum *q, const uint8_t *card_file, size_t len, const char *pin)
{
    if (q->done) {
        return SR_OK;
    }
    struct sr_card card = {0};
    enum sr_err r = sr_card_parse(card_file, len, pin, &card);
    if (r == SR_OK) {
        r = sr_quorum_take(q, &card);
    }
    OPENSSL_cleanse(&card, sizeof(card));
    q->refused += r != SR_OK;
    return r;
}

void sr_quorum_progress(const struct sr_quorum *q, struct sr_quorum_progress *ret)
{
    *ret = (struct sr_quorum_progress){.have = q->done ? q->world.quorum_k : q->have,
                                       .need = q->world.quorum_k, .of = q->world.quorum_n,
                                       .refused = q->refused, .done = q->done};
    memcpy(ret->world_id, q->world.id, sizeof(ret->world_id));
}

enum sr_err sr_quorum_from_cards(const char *kmdata, const char *card_dir, const unsigned *cards, unsigned ncards,
                                 const struct sr_pins *pins, struct sr_quorum **ret)
{
    struct sr_quorum *q = NULL;
    SR_TRY(sr_quorum_new(kmdata, &q));
    enum sr_err r = SR_OK;
    for (unsigned i = 0; i < ncards && r == SR_OK; i++) {
        char path[SR_PATH_MAX];
        SR_AUTO_BUF struct sr_buf file = {0};
        sr_buf_init(&file, 4096, SR_BUF_PLAIN);
        r = cards[i] >= 1 && cards[i] <= SR_MAX_CARDS ? SR_OK : SR_ERR_USAGE;
        if (r == SR_OK) {
            r = sr_card_path(card_dir, q->world.id, cards[i], path, sizeof(path));
        }
        if (r == SR_OK) {
            r = sr_file_read(path, &file);
        }
        if (r == SR_OK) {
            r = pins->pin[cards[i] - 1] != NULL ? SR_OK : SR_ERR_PIN_INPUT;
        }
        if (r == SR_OK) {
            r = sr_quorum_add(q, file.data, file.len, pins->pin[cards[i] - 1]);
        }
    }
    if (r == SR_OK && !q->done) {
        r = SR_ERR_QUORUM_NOT_MET;
    }
    if (r != SR_OK) {
        sr_quorum_free(q);
        return r;
    }
    *ret = q;
    return SR_OK;
}

enum sr_err sr_module_open_quorum(const char *kmdata, struct sr_seal_config *seal, const struct sr_quorum *q,
                                  struct sr_module **ret)
{
    SR_ENSURE(q->done && strcmp(q->kmdata, kmdata) == 0, SR_ERR_SEALED);
    struct sr_seal_config with_key = *seal;
    with_key.world_key = q->km;
    memcpy(with_key.world_id, q->world.id, sizeof(with_key.world_id));
    enum sr_err r = sr_module_open_sealed(kmdata, &with_key, ret);
    memcpy(seal->diag, with_key.diag, sizeof(seal->diag));
    return r;
}

const uint8_t *sr_quorum_world_key(const struct sr_quorum *q)
{
    return q->done ? q->km : NULL;
}
