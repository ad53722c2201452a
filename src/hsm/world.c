#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "base/text.h"
#include "crypto/crypto.h"
#include "hsm/card.h"
#include "hsm/internal.h"
#include "hsm/shamir.h"
#include "hsm/suite.h"

static enum sr_err sr_world_path(const struct sr_module *m, char *out, size_t cap)
{
    return sr_module_path(m, "local/world", out, cap);
}

static enum sr_err sr_world_path_at(const char *kmdata, char *out, size_t cap)
{
    return sr_path_join(out, cap, kmdata, "local/world");
}

static enum sr_err sr_world_default_card_dir(const struct sr_module *m, const char *card_dir, char *out,
                                             size_t cap)
{
    if (card_dir != NULL) {
        SR_ENSURE(strlen(card_dir) < cap, SR_ERR_TOO_LARGE);
        strcpy(out, card_dir);
        return SR_OK;
    }
    return sr_module_path(m, "cards", out, cap);
}

static enum sr_err sr_world_parse_info(const json_t *h, struct sr_world_info *ret)
{
    const enum sr_err bad = SR_ERR_WORLD_TAMPERED;
    struct sr_world_info info = {0};
    const char *s = NULL;
    unsigned long v = 0;
    SR_TRY(sr_json_uint(h, "version", bad, 1, &v));
    SR_ENSURE(v == 1, bad);
    SR_TRY(sr_json_str(h, "world_id", bad, &s));
    SR_ENSURE(strlen(s) == 2 * SR_WORLD_ID_LEN, bad);
    memcpy(info.id, s, sizeof(info.id));
    SR_TRY(sr_json_str(h, "cipher_suite", bad, &s));
    SR_ENSURE(strlen(s) < sizeof(info.suite), bad);
    strcpy(info.suite, s);
    SR_TRY(sr_json_uint(h, "quorum_k", bad, SR_MAX_CARDS, &v));
    info.quorum_k = (unsigned)v;
    SR_TRY(sr_json_uint(h, "quorum_n", bad, SR_MAX_CARDS, &v));
    info.quorum_n = (unsigned)v;
    SR_ENSURE(info.quorum_k >= 1 && info.quorum_k <= info.quorum_n, bad);
    SR_TRY(sr_json_uint(h, "created", bad, (unsigned long)INT64_MAX, &v));
    info.created = (long long)v;
    SR_TRY(sr_json_hex(h, "hkm", bad, info.hkm, SR_HASH_LEN));
    *ret = info;
    return SR_OK;
}

enum sr_err sr_module_world_info(struct sr_module *m, struct sr_world_info *ret)
{
    return sr_world_info_at(m->dir, ret);
}

enum sr_err sr_world_info_at(const char *kmdata, struct sr_world_info *ret)
{
    char path[SR_PATH_MAX];
    SR_TRY(sr_world_path_at(kmdata, path, sizeof(path)));
    SR_AUTO_CONTAINER struct sr_container c = {0};
    enum sr_err r = sr_container_read(path, SR_MAGIC_WORLD, SR_ERR_WORLD_TAMPERED, &c);
    SR_ENSURE(r != SR_ERR_NOT_FOUND, SR_ERR_NO_WORLD);
    SR_TRY(r);
    return sr_world_parse_info(c.header, ret);
}

/* Authenticates the world file under km: the MAC over the whole header, and the check value. */
enum sr_err sr_world_authenticate_at(const char *kmdata, const uint8_t km[SR_WORLD_KEY_LEN],
                                     struct sr_world_info *ret)
{
    char path[SR_PATH_MAX];
    SR_TRY(sr_world_path_at(kmdata, path, sizeof(path)));
    SR_AUTO_CONTAINER struct sr_container c = {0};
    enum sr_err r = sr_container_read(path, SR_MAGIC_WORLD, SR_ERR_WORLD_TAMPERED, &c);
    SR_ENSURE(r != SR_ERR_NOT_FOUND, SR_ERR_NO_WORLD);
    SR_TRY(r);
    struct sr_world_info info;
    SR_TRY(sr_world_parse_info(c.header, &info));
    uint8_t hkm[SR_HASH_LEN];
    SR_TRY(sr_world_hash(km, hkm));
    SR_ENSURE(sr_ct_equal(hkm, info.hkm, SR_HASH_LEN), SR_ERR_CARD_FOREIGN);
    uint8_t mac_key[32];
    uint8_t mac[32];
    SR_TRY(sr_hkdf_sha256(km, SR_WORLD_KEY_LEN, SR_PURPOSE_WORLD_MAC, mac_key, sizeof(mac_key)));
    r = sr_hmac_sha256(mac_key, sizeof(mac_key), c.bytes.data, c.prefix_len, mac);
    sr_wipe(mac_key, sizeof(mac_key));
    SR_TRY(r);
    SR_ENSURE(c.payload_len == sizeof(mac) && sr_ct_equal(mac, c.payload, sizeof(mac)), SR_ERR_WORLD_TAMPERED);
    *ret = info;
    return SR_OK;
}

enum sr_err sr_module_require_world(struct sr_module *m, struct sr_world_info *ret)
{
    SR_ENSURE(m->mode == 'O', SR_ERR_MODE_O_NEEDED);
    SR_ENSURE(m->nvram_refused == SR_OK, m->nvram_refused);
    SR_ENSURE(m->km != NULL, SR_ERR_NO_WORLD);
    struct sr_world_info info;
    enum sr_err r = sr_world_authenticate_at(m->dir, m->km, &info);
    /* The NVRAM key no longer matches local/world: the world file was replaced or edited. */
    SR_ENSURE(r != SR_ERR_CARD_FOREIGN, SR_ERR_WORLD_TAMPERED);
    SR_TRY(r);
    SR_ENSURE(strcmp(info.id, m->km_world_id) == 0, SR_ERR_WORLD_TAMPERED);
    if (ret != NULL) {
        *ret = info;
    }
    return SR_OK;
}

enum sr_err sr_world_write_nvram(const uint8_t *km0, const uint8_t km[SR_WORLD_KEY_LEN], const char *world_id,
                                 const char *path)
{
    SR_AUTO_JSON json_t *h = json_pack("{s:i,s:s}", "version", 1, "world_id", world_id);
    SR_ENSURE(h != NULL, SR_ERR_NOMEM);
    return sr_seal_write(km0, SR_PURPOSE_NVRAM, SR_MAGIC_NVRAM, h, km, SR_WORLD_KEY_LEN, path, SR_WRITE_REPLACE);
}

/* Under `cards` nothing on the disk holds the world key: the KM0 of a new module is kept now, sealed under it. */
static enum sr_err sr_world_keep_carded(struct sr_module *m, const uint8_t km[SR_WORLD_KEY_LEN], const char *world_id)
{
    if (!m->km0_pending) {
        return SR_OK;
    }
    char path[SR_PATH_MAX];
    SR_TRY(sr_module_path(m, "module/km0", path, sizeof(path)));
    m->seal.world_key = km;
    snprintf(m->seal.world_id, sizeof(m->seal.world_id), "%s", world_id);
    enum sr_err r = sr_km0_keep(&m->seal, path, m->km0);
    m->seal.world_key = NULL;
    SR_TRY(r);
    m->km0_pending = false;
    return SR_OK;
}

static enum sr_err sr_world_store_nvram(struct sr_module *m, const uint8_t km[SR_WORLD_KEY_LEN],
                                        const char *world_id)
{
    if (m->seal.backend == SR_SEAL_CARDS) {
        SR_TRY(sr_world_keep_carded(m, km, world_id));
    } else {
        char path[SR_PATH_MAX];
        SR_TRY(sr_module_path(m, "module/nvram", path, sizeof(path)));
        SR_TRY(sr_world_write_nvram(m->km0, km, world_id, path));
        SR_TRY(sr_module_anchor_nvram(m)); /* from now on only this NVRAM opens (rollback) */
    }
    if (m->km == NULL) {
        m->km = OPENSSL_secure_zalloc(SR_WORLD_KEY_LEN);
        SR_ENSURE(m->km != NULL, SR_ERR_NOMEM);
    }
    memcpy(m->km, km, SR_WORLD_KEY_LEN);
    memcpy(m->km_world_id, world_id, sizeof(m->km_world_id));
    return SR_OK;
}

static enum sr_err sr_world_write_file(struct sr_module *m, const uint8_t km[SR_WORLD_KEY_LEN],
                                       const struct sr_world_info *info)
{
    SR_AUTO_JSON json_t *h = json_pack("{s:i,s:s,s:s,s:i,s:i,s:I,s:s}", "version", 1, "world_id", info->id,
                                       "cipher_suite", info->suite, "quorum_k", (int)info->quorum_k, "quorum_n",
                                       (int)info->quorum_n, "created", (json_int_t)info->created, "esn", m->esn);
    SR_ENSURE(h != NULL, SR_ERR_NOMEM);
    SR_TRY(sr_json_set_hex(h, "hkm", info->hkm, SR_HASH_LEN));
    SR_AUTO_BUF struct sr_buf file = {0};
    sr_buf_init(&file, SR_MAX_FILE, SR_BUF_PLAIN);
    SR_TRY(sr_container_prefix(SR_MAGIC_WORLD, h, &file));
    uint8_t mac_key[32];
    uint8_t mac[32];
    SR_TRY(sr_hkdf_sha256(km, SR_WORLD_KEY_LEN, SR_PURPOSE_WORLD_MAC, mac_key, sizeof(mac_key)));
    enum sr_err r = sr_hmac_sha256(mac_key, sizeof(mac_key), file.data, file.len, mac);
    sr_wipe(mac_key, sizeof(mac_key));
    SR_TRY(r);
    SR_TRY(sr_container_finish(&file, mac, sizeof(mac)));
    char path[SR_PATH_MAX];
    SR_TRY(sr_world_path(m, path, sizeof(path)));
    return sr_file_write_atomic(path, file.data, file.len, SR_WRITE_CREATE);
}

static enum sr_err sr_world_write_cards(const char *card_dir, const struct sr_world_info *info,
                                        const uint8_t (*shares)[SR_SHARE_LEN], const struct sr_pins *pins)
{
    SR_TRY(sr_dir_make(card_dir));
    for (unsigned i = 0; i < info->quorum_n; i++) {
        struct sr_card card = {.index = i + 1, .quorum_k = info->quorum_k, .quorum_n = info->quorum_n,
                               .x = (uint8_t)(i + 1)};
        memcpy(card.world_id, info->id, sizeof(card.world_id));
        memcpy(card.share, shares[i], SR_SHARE_LEN);
        char path[SR_PATH_MAX];
        enum sr_err r = sr_card_path(card_dir, info->id, i + 1, path, sizeof(path));
        if (r == SR_OK) {
            r = sr_card_write(path, &card, pins->pin[i]);
        }
        sr_wipe(&card, sizeof(card));
        SR_TRY(r);
    }
    return SR_OK;
}

static void sr_shares_free(uint8_t (**shares)[SR_SHARE_LEN])
{
    if (*shares != NULL) {
        OPENSSL_secure_clear_free(*shares, SR_MAX_CARDS * SR_SHARE_LEN);
    }
}


enum sr_err sr_world_create(struct sr_module *m, const struct sr_world_params *params, const struct sr_pins *pins,
                            struct sr_world_info *ret)
{
    const struct sr_suite *suite = NULL;
    SR_ENSURE(m->mode == 'I', SR_ERR_MODE_I_NEEDED);
    SR_TRY(sr_suite_lookup(params->suite, &suite));
    SR_ENSURE(params->quorum_k >= 1 && params->quorum_k <= params->quorum_n && params->quorum_n <= SR_MAX_CARDS,
              SR_ERR_QUORUM);
    for (unsigned i = 0; i < params->quorum_n; i++) {
        SR_ENSURE(pins->pin[i] != NULL && pins->pin[i][0] != 0, SR_ERR_PIN_INPUT);
    }
    char path[SR_PATH_MAX];
    SR_TRY(sr_world_path(m, path, sizeof(path)));
    SR_ENSURE(!sr_file_exists(path), SR_ERR_WORLD_EXISTS);
    char card_dir[SR_PATH_MAX];
    SR_TRY(sr_world_default_card_dir(m, params->card_dir, card_dir, sizeof(card_dir)));

    struct sr_world_info info = {.quorum_k = params->quorum_k, .quorum_n = params->quorum_n,
                                 .created = (long long)time(NULL)};
    strcpy(info.suite, suite->name);
    uint8_t id[SR_WORLD_ID_LEN];
    SR_TRY(sr_rand_bytes(id, sizeof(id)));
    sr_hex_encode(id, sizeof(id), info.id);

    SR_AUTO(sr_km0_freep) uint8_t *km = OPENSSL_secure_zalloc(SR_WORLD_KEY_LEN);
    SR_AUTO(sr_shares_free) uint8_t (*shares)[SR_SHARE_LEN] = OPENSSL_secure_zalloc(SR_MAX_CARDS * SR_SHARE_LEN);
    SR_ENSURE(km != NULL && shares != NULL, SR_ERR_NOMEM);
    SR_TRY(sr_rand_bytes(km, SR_WORLD_KEY_LEN));
    SR_TRY(sr_world_hash(km, info.hkm));
    SR_TRY(sr_shamir_split(km, info.quorum_k, info.quorum_n, shares));
    /* Cards first: a crash before the world file leaves only cards of a world that never existed. */
    SR_TRY(sr_world_write_cards(card_dir, &info, (const uint8_t(*)[SR_SHARE_LEN])shares, pins));
    SR_TRY(sr_world_write_file(m, km, &info));
    SR_TRY(sr_world_store_nvram(m, km, info.id));
    *ret = info;
    return SR_OK;
}

static enum sr_err sr_world_reassemble(struct sr_module *m, const char *card_dir_opt, const unsigned *cards,
                                       unsigned ncards, const struct sr_pins *pins, uint8_t *km)
{
    struct sr_world_info info;
    SR_TRY(sr_module_world_info(m, &info));
    char card_dir[SR_PATH_MAX];
    SR_TRY(sr_world_default_card_dir(m, card_dir_opt, card_dir, sizeof(card_dir)));
    for (unsigned i = 0; i < ncards; i++) {
        SR_ENSURE(cards[i] >= 1 && cards[i] <= info.quorum_n, SR_ERR_USAGE);
        for (unsigned j = 0; j < i; j++) {
            SR_ENSURE(cards[j] != cards[i], SR_ERR_USAGE);
        }
    }
    if (ncards < info.quorum_k) {
        sr_module_diagf(m, "this world's card set is %u of %u: insert %u cards with --cards (you gave %u)",
                        info.quorum_k, info.quorum_n, info.quorum_k, ncards);
        return SR_ERR_QUORUM_NOT_MET;
    }
    SR_AUTO(sr_shares_free) uint8_t (*shares)[SR_SHARE_LEN] = OPENSSL_secure_zalloc(SR_MAX_CARDS * SR_SHARE_LEN);
    SR_ENSURE(shares != NULL, SR_ERR_NOMEM);
    uint8_t xs[SR_MAX_CARDS];
    for (unsigned i = 0; i < ncards; i++) {
        unsigned n = cards[i];
        char path[SR_PATH_MAX];
        struct sr_card card = {0};
        SR_TRY(sr_card_path(card_dir, info.id, n, path, sizeof(path)));
        sr_module_diagf(m, "card %u (%s)", n, path);
        SR_TRY(sr_card_peek(path, &card));
        SR_ENSURE(strcmp(card.world_id, info.id) == 0, SR_ERR_WORLD_MISMATCH);
        SR_ENSURE(card.index == n && card.quorum_k == info.quorum_k && card.quorum_n == info.quorum_n,
                  SR_ERR_CARD_TAMPERED);
        if (pins->pin[n - 1] == NULL) {
            sr_module_diagf(m, "no PIN for card %u: the pin file needs one on line %u", n, n);
            return SR_ERR_PIN_INPUT;
        }
        enum sr_err r = sr_card_read(path, pins->pin[n - 1], &card);
        if (r == SR_OK) {
            xs[i] = card.x;
            memcpy(shares[i], card.share, SR_SHARE_LEN);
        }
        sr_wipe(&card, sizeof(card));
        SR_TRY(r);
    }
    sr_module_diagf(m, "cards %u..: combined shares", cards[0]);
    SR_TRY(sr_shamir_combine(xs, (const uint8_t(*)[SR_SHARE_LEN])shares, ncards, km));
    struct sr_world_info checked;
    SR_TRY(sr_world_authenticate_at(m->dir, km, &checked));
    m->diag[0] = 0;
    return SR_OK;
}

enum sr_err sr_world_load(struct sr_module *m, const char *card_dir, const unsigned *cards, unsigned ncards,
                          const struct sr_pins *pins)
{
    SR_ENSURE(m->km == NULL, SR_ERR_WORLD_LOADED);
    SR_AUTO(sr_km0_freep) uint8_t *km = OPENSSL_secure_zalloc(SR_WORLD_KEY_LEN);
    SR_ENSURE(km != NULL, SR_ERR_NOMEM);
    SR_TRY(sr_world_reassemble(m, card_dir, cards, ncards, pins, km));
    struct sr_world_info info;
    SR_TRY(sr_module_world_info(m, &info));
    return sr_world_store_nvram(m, km, info.id);
}

enum sr_err sr_world_check_quorum(struct sr_module *m, const char *card_dir, const unsigned *cards,
                                  unsigned ncards, const struct sr_pins *pins)
{
    SR_AUTO(sr_km0_freep) uint8_t *km = OPENSSL_secure_zalloc(SR_WORLD_KEY_LEN);
    SR_ENSURE(km != NULL, SR_ERR_NOMEM);
    SR_TRY(sr_world_reassemble(m, card_dir, cards, ncards, pins, km));
    SR_ENSURE(m->km == NULL || sr_ct_equal(km, m->km, SR_WORLD_KEY_LEN), SR_ERR_CARD_FOREIGN);
    return SR_OK;
}
