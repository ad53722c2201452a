/*
 * card.h - administrator cards: one Shamir share per file, encrypted under a
 * key derived from the card's PIN with scrypt (memory-hard).
 *
 * Header (authenticated as AAD): world id, card number, K, N, the share's
 * x-coordinate and the KDF salt and cost. Honest limit: a copied card file
 * can be attacked offline at the KDF's cost per guess; choose long PINs.
 */
#ifndef SR_HSM_CARD_H
#define SR_HSM_CARD_H

#include <stdint.h>

#include "hsm/shamir.h"

struct sr_card {
    char world_id[33];
    unsigned index; /* 1..N */
    unsigned quorum_k;
    unsigned quorum_n;
    uint8_t x;
    uint8_t share[SR_SHARE_LEN];
};

SR_MUST_USE enum sr_err sr_card_path(const char *card_dir, const char *world_id, unsigned index, char *out,
                                     size_t cap);
SR_MUST_USE enum sr_err sr_card_write(const char *path, const struct sr_card *card, const char *pin);
/* SR_ERR_CARD_TAMPERED for a malformed file, SR_ERR_BAD_PIN when the share does not open. */
SR_MUST_USE enum sr_err sr_card_read(const char *path, const char *pin, struct sr_card *ret);
/* sr_card_read of a card file's bytes (handed to a running server by 'strongroom unseal'). */
SR_MUST_USE enum sr_err sr_card_parse(const uint8_t *data, size_t len, const char *pin, struct sr_card *ret);
/* Reads only the authenticated-later header: which world and which card this claims to be. */
SR_MUST_USE enum sr_err sr_card_peek(const char *path, struct sr_card *ret);

#endif
