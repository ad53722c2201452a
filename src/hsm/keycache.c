/*
 * keycache.c - loaded keys, as an HSM keeps key handles: the vault's blobs are opened (AEAD under
 * the world key, PKCS#8 decoded, checked) once and then used by reference. Entries are keyed by the
 * SHA-256 of the exact blob bytes, so a changed blob is a different entry and is authenticated again.
 * An entry may also hold idle signing contexts made for its key (one thread uses one at a time) and, in
 * a module's public cache, the JWK members (alone, before the public key is ever decoded). At most
 * SR_KEYCACHE_SLOTS entries, least recently used evicted; all freed with the module.
 */
#include <string.h>

#include "crypto/crypto.h"
#include "hsm/internal.h"

void sr_keycache_init(struct sr_keycache *c)
{
    memset(c, 0, sizeof(*c));
    pthread_mutex_init(&c->lock, NULL);
}

/* Frees the slot's idle contexts (each holds a reference to the slot's key). */
static void sr_keycache_drop_ctxs(struct sr_keycache *c, size_t i)
{
    for (size_t j = 0; j < SR_KEYCACHE_CTXS; j++) {
        EVP_PKEY_CTX_free(c->slot[i].idle[j].ctx);
        c->slot[i].idle[j].ctx = NULL;
    }
}

void sr_keycache_release(struct sr_keycache *c)
{
    for (size_t i = 0; i < SR_KEYCACHE_SLOTS; i++) {
        sr_keycache_drop_ctxs(c, i);
        EVP_PKEY_free(c->slot[i].key); /* OpenSSL clears private components on free */
        c->slot[i].key = NULL;
        json_decref(c->slot[i].jwk);
        c->slot[i].jwk = NULL;
    }
    pthread_mutex_destroy(&c->lock);
}

bool sr_keycache_get(struct sr_keycache *c, const uint8_t id[SR_HASH_LEN], EVP_PKEY **ret, unsigned *ret_acl)
{
    bool found = false;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < SR_KEYCACHE_SLOTS && !found; i++) {
        if (c->slot[i].key != NULL && memcmp(c->slot[i].id, id, SR_HASH_LEN) == 0) { /* jwk-only slots hold no key */
            found = EVP_PKEY_up_ref(c->slot[i].key) == 1;
            if (found) {
                *ret = c->slot[i].key;
                *ret_acl = c->slot[i].acl;
                c->slot[i].last_used = ++c->clock;
            }
        }
    }
    pthread_mutex_unlock(&c->lock);
    return found;
}

/* A live slot holds a key, a JWK, or both. */
static bool sr_slot_live(const struct sr_keycache *c, size_t i)
{
    return c->slot[i].key != NULL || c->slot[i].jwk != NULL;
}

/* The live slot holding id, under the lock. */
static int sr_keycache_find(struct sr_keycache *c, const uint8_t id[SR_HASH_LEN])
{
    for (int i = 0; i < (int)SR_KEYCACHE_SLOTS; i++) {
        if (sr_slot_live(c, (size_t)i) && memcmp(c->slot[i].id, id, SR_HASH_LEN) == 0) {
            return i;
        }
    }
    return -1;
}

/* The slot for id: its own if present, else a free one or the least recently used, emptied. Under the lock;
 * what was evicted is handed back to be freed outside it. */
static size_t sr_keycache_slot_for(struct sr_keycache *c, const uint8_t id[SR_HASH_LEN], EVP_PKEY **old_key,
                                   json_t **old_jwk)
{
    *old_key = NULL;
    *old_jwk = NULL;
    int own = sr_keycache_find(c, id);
    if (own >= 0) {
        return (size_t)own;
    }
    size_t victim = 0;
    for (size_t i = 0; i < SR_KEYCACHE_SLOTS; i++) {
        if (!sr_slot_live(c, i)) {
            victim = i;
            break;
        }
        if (c->slot[i].last_used < c->slot[victim].last_used) {
            victim = i;
        }
    }
    sr_keycache_drop_ctxs(c, victim);
    *old_key = c->slot[victim].key;
    *old_jwk = c->slot[victim].jwk;
    memcpy(c->slot[victim].id, id, SR_HASH_LEN);
    c->slot[victim].key = NULL;
    c->slot[victim].jwk = NULL;
    c->slot[victim].acl = 0;
    return victim;
}

void sr_keycache_put(struct sr_keycache *c, const uint8_t id[SR_HASH_LEN], EVP_PKEY *key, unsigned acl)
{
    if (EVP_PKEY_up_ref(key) != 1) {
        return;
    }
    EVP_PKEY *old = NULL;
    json_t *old_jwk = NULL;
    pthread_mutex_lock(&c->lock);
    size_t i = sr_keycache_slot_for(c, id, &old, &old_jwk);
    if (c->slot[i].key != NULL) { /* another thread loaded it meanwhile: keep one */
        old = key;
    } else {
        c->slot[i].key = key;
        c->slot[i].acl = acl;
    }
    c->slot[i].last_used = ++c->clock;
    pthread_mutex_unlock(&c->lock);
    EVP_PKEY_free(old);
    json_decref(old_jwk);
}


bool sr_keycache_get_jwk(struct sr_keycache *c, const uint8_t id[SR_HASH_LEN], json_t **ret)
{
    pthread_mutex_lock(&c->lock);
    int i = sr_keycache_find(c, id);
    bool found = i >= 0 && c->slot[i].jwk != NULL;
    if (found) {
        *ret = json_incref(c->slot[i].jwk); /* jansson's reference counts are atomic */
        c->slot[i].last_used = ++c->clock;
    }
    pthread_mutex_unlock(&c->lock);
    return found;
}

void sr_keycache_set_jwk(struct sr_keycache *c, const uint8_t id[SR_HASH_LEN], json_t *jwk)
{
    EVP_PKEY *old = NULL;
    json_t *old_jwk = NULL;
    pthread_mutex_lock(&c->lock);
    size_t i = sr_keycache_slot_for(c, id, &old, &old_jwk);
    if (c->slot[i].jwk == NULL) {
        c->slot[i].jwk = json_incref(jwk);
    }
    c->slot[i].last_used = ++c->clock;
    pthread_mutex_unlock(&c->lock);
    EVP_PKEY_free(old);
    json_decref(old_jwk);
}

EVP_PKEY_CTX *sr_keycache_take_ctx(struct sr_keycache *c, const uint8_t id[SR_HASH_LEN], int alg)
{
    EVP_PKEY_CTX *ctx = NULL;
    pthread_mutex_lock(&c->lock);
    int i = sr_keycache_find(c, id);
    for (size_t j = 0; i >= 0 && j < SR_KEYCACHE_CTXS && ctx == NULL; j++) {
        if (c->slot[i].idle[j].ctx != NULL && c->slot[i].idle[j].alg == alg) {
            ctx = c->slot[i].idle[j].ctx;
            c->slot[i].idle[j].ctx = NULL;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return ctx;
}

void sr_keycache_give_ctx(struct sr_keycache *c, const uint8_t id[SR_HASH_LEN], int alg, EVP_PKEY_CTX *ctx)
{
    pthread_mutex_lock(&c->lock);
    int i = sr_keycache_find(c, id);
    for (size_t j = 0; i >= 0 && j < SR_KEYCACHE_CTXS && ctx != NULL; j++) {
        if (c->slot[i].idle[j].ctx == NULL) {
            c->slot[i].idle[j].ctx = ctx;
            c->slot[i].idle[j].alg = alg;
            ctx = NULL;
        }
    }
    pthread_mutex_unlock(&c->lock);
    EVP_PKEY_CTX_free(ctx);
}
