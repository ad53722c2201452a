/*
 * keycache.c - loaded keys, as an HSM keeps key handles: the vault's blobs are opened (AEAD under
 * the world key, PKCS#8 decoded, checked) once and then used by reference. Entries are keyed by the
 * SHA-256 of the exact blob bytes, so a changed blob is a different entry and is authenticated again.
 * At most SR_KEYCACHE_SLOTS keys, least recently used evicted; all freed with the module.
 */
#include <string.h>

#include "crypto/crypto.h"
#include "hsm/internal.h"

void sr_keycache_init(struct sr_keycache *c)
{
    memset(c, 0, sizeof(*c));
    pthread_mutex_init(&c->lock, NULL);
}

void sr_keycache_release(struct sr_keycache *c)
{
    for (size_t i = 0; i < SR_KEYCACHE_SLOTS; i++) {
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
        if (c->slot[i].key != NULL && memcmp(c->slot[i].id, id, SR_HASH_LEN) == 0) {
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

void sr_keycache_put(struct sr_keycache *c, const uint8_t id[SR_HASH_LEN], EVP_PKEY *key, unsigned acl)
{
    if (EVP_PKEY_up_ref(key) != 1) {
        return;
    }
    pthread_mutex_lock(&c->lock);
    size_t victim = 0;
    for (size_t i = 0; i < SR_KEYCACHE_SLOTS; i++) {
        if (c->slot[i].key == NULL) {
            victim = i;
            break;
        }
        if (c->slot[i].last_used < c->slot[victim].last_used) {
            victim = i;
        }
    }
    EVP_PKEY *old = c->slot[victim].key;
    json_t *old_jwk = c->slot[victim].jwk;
    memcpy(c->slot[victim].id, id, SR_HASH_LEN);
    c->slot[victim].key = key;
    c->slot[victim].jwk = NULL;
    c->slot[victim].acl = acl;
    c->slot[victim].last_used = ++c->clock;
    pthread_mutex_unlock(&c->lock);
    EVP_PKEY_free(old);
    json_decref(old_jwk);
}

/* The live slot holding id, under the lock. */
static int sr_keycache_find(struct sr_keycache *c, const uint8_t id[SR_HASH_LEN])
{
    for (int i = 0; i < (int)SR_KEYCACHE_SLOTS; i++) {
        if (c->slot[i].key != NULL && memcmp(c->slot[i].id, id, SR_HASH_LEN) == 0) {
            return i;
        }
    }
    return -1;
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
    pthread_mutex_lock(&c->lock);
    int i = sr_keycache_find(c, id);
    if (i >= 0 && c->slot[i].jwk == NULL) {
        c->slot[i].jwk = json_incref(jwk);
    }
    pthread_mutex_unlock(&c->lock);
}
