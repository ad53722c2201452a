/*
 * rowcache.c - rows kept after a read, so that a sign or a get of a hot key by a known token costs no SQLite
 * read transaction. Exact, not eventually right.
 *
 * Key rows: this process's writer is the only writer of keys (serve holds DATA/serve.lock), and it empties
 * the cache of them after committing any change and before acknowledging it, so the next request reads
 * the change. A read that started before a change may finish after it: it carries the generation it
 * started in, and its row is not kept if a change came since.
 *
 * Vault and token rows: operator commands in other processes write them, so each is kept with the count
 * of finished changes shared by every process (changes.c) and served only while that count stands still.
 *
 * Bounded (SR_ROWCACHE_SLOTS rows, least recently used replaced).
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
    if (e->used && e->kind == SR_CACHED_KEY) {
        sr_key_row_release(&e->key);
        sr_name_row_release(&e->name);
    }
    e->used = false;
}

void sr_rowcache_release(struct sr_rowcache *c)
{
    for (size_t i = 0; i < SR_ROWCACHE_SLOTS; i++) {
        sr_rowcache_drop(&c->slot[i]);
    }
    pthread_mutex_destroy(&c->lock);
}

static void sr_fold(char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        s[i] = (char)tolower((unsigned char)s[i]);
    }
}

/* Vault and key names compare without case, as SQLite's NOCASE does (ASCII), so the id folds them; versions
 * compare exactly. Version "" is the latest. False if the names are too long to cache (never served then). */
static bool sr_rowcache_id(const char *vault, const char *name, const char *version, char out[SR_ROWCACHE_ID])
{
    int n = snprintf(out, SR_ROWCACHE_ID, "k%s|%s|%s", vault, name, version ? version : "");
    if (n < 0 || n >= SR_ROWCACHE_ID) {
        return false;
    }
    sr_fold(out, strlen(vault) + strlen(name) + 3);
    return true;
}

/* A token's hash is exact; a vault's name folds. */
static bool sr_rowcache_conf_id(enum sr_cached kind, const char *key, char out[SR_ROWCACHE_ID])
{
    int n = snprintf(out, SR_ROWCACHE_ID, "%c%s", kind == SR_CACHED_VAULT ? 'v' : 't', key);
    if (n < 0 || n >= SR_ROWCACHE_ID) {
        return false;
    }
    if (kind == SR_CACHED_VAULT) {
        sr_fold(out, (size_t)n);
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
    ret->release_policy = k->release_policy ? json_deep_copy(k->release_policy) : NULL;
    ret->meta = k->meta ? json_deep_copy(k->meta) : NULL;
    ret_name->rotation_policy = n->rotation_policy ? json_deep_copy(n->rotation_policy) : NULL;
    enum sr_err r = (k->tags == NULL || ret->tags != NULL) && (n->rotation_policy == NULL || ret_name->rotation_policy) &&
                            (k->release_policy == NULL || ret->release_policy != NULL) &&
                            (k->meta == NULL || ret->meta != NULL)
                        ? sr_buf_append(&ret->blob, k->blob.data, k->blob.len)
                        : SR_ERR_NOMEM;
    if (r != SR_OK) {
        sr_key_row_release(ret);
        sr_name_row_release(ret_name);
    }
    return r;
}

/* The slot to fill, emptied: `at` if given, else a free one, else the least recently used. */
static struct sr_rowcache_entry *sr_rowcache_claim(struct sr_rowcache *c, int at)
{
    size_t victim = 0;
    for (size_t i = 0; at < 0 && i < SR_ROWCACHE_SLOTS; i++) {
        if (!c->slot[i].used) {
            victim = i;
            break;
        }
        if (c->slot[i].last_used < c->slot[victim].last_used) {
            victim = i;
        }
    }
    struct sr_rowcache_entry *e = &c->slot[at >= 0 ? (size_t)at : victim];
    sr_rowcache_drop(e);
    return e;
}

static void sr_rowcache_fill(struct sr_rowcache *c, struct sr_rowcache_entry *e, enum sr_cached kind,
                             const char *id, unsigned long long gen)
{
    memcpy(e->id, id, SR_ROWCACHE_ID);
    e->kind = kind;
    e->gen = gen;
    e->used = true;
    e->last_used = ++c->clock;
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
        struct sr_rowcache_entry *e = sr_rowcache_claim(c, -1);
        if (sr_rows_copy(k, n, &e->key, &e->name) == SR_OK) {
            sr_rowcache_fill(c, e, SR_CACHED_KEY, id, gen);
        }
    }
    pthread_mutex_unlock(&c->lock);
}

void sr_rowcache_clear(struct sr_rowcache *c)
{
    pthread_mutex_lock(&c->lock);
    c->gen++;
    for (size_t i = 0; i < SR_ROWCACHE_SLOTS; i++) {
        if (c->slot[i].kind == SR_CACHED_KEY) {
            sr_rowcache_drop(&c->slot[i]);
        }
    }
    pthread_mutex_unlock(&c->lock);
}

static void *sr_conf_row(struct sr_rowcache_entry *e)
{
    return e->kind == SR_CACHED_VAULT ? (void *)&e->conf.vault : (void *)&e->conf.token;
}

bool sr_rowcache_conf_get(struct sr_rowcache *c, enum sr_cached kind, const char *key, unsigned long long seen,
                          void *row, size_t size)
{
    char id[SR_ROWCACHE_ID];
    if (!sr_rowcache_conf_id(kind, key, id)) {
        return false;
    }
    pthread_mutex_lock(&c->lock);
    int i = sr_rowcache_find(c, id);
    bool hit = i >= 0 && c->slot[i].gen == seen && size <= sizeof(c->slot[i].conf);
    if (hit) {
        memcpy(row, sr_conf_row(&c->slot[i]), size);
        c->slot[i].last_used = ++c->clock;
    }
    pthread_mutex_unlock(&c->lock);
    return hit;
}

void sr_rowcache_conf_put(struct sr_rowcache *c, enum sr_cached kind, const char *key, unsigned long long seen,
                          const void *row, size_t size)
{
    char id[SR_ROWCACHE_ID];
    if (kind == SR_CACHED_KEY || size > sizeof(c->slot[0].conf) || !sr_rowcache_conf_id(kind, key, id)) {
        return;
    }
    pthread_mutex_lock(&c->lock);
    struct sr_rowcache_entry *e = sr_rowcache_claim(c, sr_rowcache_find(c, id)); /* a stale copy is replaced */
    e->kind = kind;
    memcpy(sr_conf_row(e), row, size);
    sr_rowcache_fill(c, e, kind, id, seen);
    pthread_mutex_unlock(&c->lock);
}
