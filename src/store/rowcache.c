/*
 * rowcache.c - key rows (a version and its name's state) kept after a read, so that a sign or a get of a
 * hot key costs no SQLite read transaction. Exact, not eventually right: this process's writer is the only
 * writer of keys (serve holds DATA/serve.lock), and it empties the cache after committing any change and
 * before acknowledging it, so the next request reads the change. A read that started before a change may
 * finish after it: it carries the generation it started in, and its row is not kept if a change came since.
 * Bounded (SR_ROWCACHE_SLOTS rows, least recently used replaced); tokens and vaults are not cached (other
 * processes write them).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "store/sqlite_internal.h"

void sr_rowcache_init(struct sr_rowcache *c)
{
    memset(c, 0, sizeof(*c));
    pthread_mutex_init(&c->lock, NULL);
}

static void sr_rowcache_drop(struct sr_rowcache_entry *e)
{
    if (e->used) {
        sr_key_row_release(&e->key);
        sr_name_row_release(&e->name);
        e->used = false;
    }
}

void sr_rowcache_release(struct sr_rowcache *c)
{
    for (size_t i = 0; i < SR_ROWCACHE_SLOTS; i++) {
        sr_rowcache_drop(&c->slot[i]);
    }
    pthread_mutex_destroy(&c->lock);
}

/* Vault and key names compare without case, as SQLite's NOCASE does (ASCII), so the id folds them; versions
 * compare exactly. Version "" is the latest. False if the names are too long to cache (never served then). */
static bool sr_rowcache_id(const char *vault, const char *name, const char *version, char out[SR_ROWCACHE_ID])
{
    int n = snprintf(out, SR_ROWCACHE_ID, "%s/%s/%s", vault, name, version ? version : "");
    if (n < 0 || n >= SR_ROWCACHE_ID) {
        return false;
    }
    size_t names = strlen(vault) + strlen(name) + 2;
    for (size_t i = 0; i < names; i++) {
        out[i] = (char)tolower((unsigned char)out[i]);
    }
    return true;
}

static int sr_rowcache_find(const struct sr_rowcache *c, const char *id)
{
    for (int i = 0; i < (int)SR_ROWCACHE_SLOTS; i++) {
        if (c->slot[i].used && strcmp(c->slot[i].id, id) == 0) {
            return i;
        }
    }
    return -1;
}

/* Deep copies, so that no caller ever shares a row (or its JSON) with the cache. */
static enum sr_err sr_rows_copy(const struct sr_key_row *k, const struct sr_name_row *n, struct sr_key_row *ret,
                                struct sr_name_row *ret_name)
{
    *ret = *k;
    *ret_name = *n;
    sr_buf_init(&ret->blob, k->blob.max, SR_BUF_PLAIN);
    ret->tags = k->tags ? json_deep_copy(k->tags) : NULL;
    ret_name->rotation_policy = n->rotation_policy ? json_deep_copy(n->rotation_policy) : NULL;
    enum sr_err r = (k->tags == NULL || ret->tags != NULL) && (n->rotation_policy == NULL || ret_name->rotation_policy)
                        ? sr_buf_append(&ret->blob, k->blob.data, k->blob.len)
                        : SR_ERR_NOMEM;
    if (r != SR_OK) {
        sr_key_row_release(ret);
        sr_name_row_release(ret_name);
    }
    return r;
}

bool sr_rowcache_get(struct sr_rowcache *c, const char *vault, const char *name, const char *version,
                     struct sr_key_row *ret, struct sr_name_row *ret_name, unsigned long long *ret_gen)
{
    char id[SR_ROWCACHE_ID];
    bool named = sr_rowcache_id(vault, name, version, id);
    pthread_mutex_lock(&c->lock);
    *ret_gen = c->gen;
    int i = named ? sr_rowcache_find(c, id) : -1;
    bool hit = i >= 0 && sr_rows_copy(&c->slot[i].key, &c->slot[i].name, ret, ret_name) == SR_OK;
    if (hit) {
        c->slot[i].last_used = ++c->clock;
    }
    pthread_mutex_unlock(&c->lock);
    return hit;
}

void sr_rowcache_put(struct sr_rowcache *c, unsigned long long gen, const char *vault, const char *name,
                     const char *version, const struct sr_key_row *k, const struct sr_name_row *n)
{
    char id[SR_ROWCACHE_ID];
    if (!sr_rowcache_id(vault, name, version, id)) {
        return;
    }
    pthread_mutex_lock(&c->lock);
    if (gen == c->gen && sr_rowcache_find(c, id) < 0) { /* a change since the read began: not kept */
        size_t victim = 0;
        for (size_t i = 0; i < SR_ROWCACHE_SLOTS; i++) {
            if (!c->slot[i].used) {
                victim = i;
                break;
            }
            if (c->slot[i].last_used < c->slot[victim].last_used) {
                victim = i;
            }
        }
        struct sr_rowcache_entry *e = &c->slot[victim];
        sr_rowcache_drop(e);
        if (sr_rows_copy(k, n, &e->key, &e->name) == SR_OK) {
            memcpy(e->id, id, sizeof(id));
            e->used = true;
            e->last_used = ++c->clock;
        }
    }
    pthread_mutex_unlock(&c->lock);
}

void sr_rowcache_clear(struct sr_rowcache *c)
{
    pthread_mutex_lock(&c->lock);
    c->gen++;
    for (size_t i = 0; i < SR_ROWCACHE_SLOTS; i++) {
        sr_rowcache_drop(&c->slot[i]);
    }
    pthread_mutex_unlock(&c->lock);
}
