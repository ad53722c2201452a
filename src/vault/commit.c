/* commit.c - building a store commit (each change owns a copy of its rows) and waiting for one. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "vault/store.h"

void sr_key_row_release(struct sr_key_row *k)
{
    if (k->tags != NULL) {
        json_decref(k->tags);
        k->tags = NULL;
    }
    if (k->release_policy != NULL) {
        json_decref(k->release_policy);
        k->release_policy = NULL;
    }
    if (k->meta != NULL) {
        json_decref(k->meta);
        k->meta = NULL;
    }
    sr_buf_release(&k->blob);
}

void sr_name_row_release(struct sr_name_row *n)
{
    if (n->rotation_policy != NULL) {
        json_decref(n->rotation_policy);
        n->rotation_policy = NULL;
    }
}

void sr_commit_init(struct sr_commit *c)
{
    memset(c, 0, sizeof(*c));
}

void sr_commit_release(struct sr_commit *c)
{
    for (size_t i = 0; i < c->nchanges; i++) {
        sr_key_row_release(&c->changes[i].key);
        sr_name_row_release(&c->changes[i].name);
        if (c->changes[i].authority.jwks != NULL) {
            json_decref(c->changes[i].authority.jwks);
        }
        if (c->changes[i].ident.doc != NULL) {
            json_decref(c->changes[i].ident.doc);
        }
    }
    free(c->changes);
    c->changes = NULL;
    c->nchanges = 0;
}

/* Appends a zeroed change of that kind; the pointer is valid until the next append. */
static enum sr_err sr_commit_push(struct sr_commit *c, enum sr_change_kind kind, struct sr_change **ret)
{
    SR_ENSURE(c->nchanges < SR_MAX_COMMIT_CHANGES, SR_ERR_TOO_LARGE);
    struct sr_change *grown = realloc(c->changes, (c->nchanges + 1) * sizeof(*grown));
    SR_ENSURE(grown != NULL, SR_ERR_NOMEM);
    c->changes = grown;
    struct sr_change *ch = &c->changes[c->nchanges++];
    memset(ch, 0, sizeof(*ch));
    ch->kind = kind;
    sr_buf_init(&ch->key.blob, SR_MAX_FILE, SR_BUF_PLAIN);
    *ret = ch;
    return SR_OK;
}

static enum sr_err sr_commit_key(struct sr_commit *c, enum sr_change_kind kind, const struct sr_key_row *k)
{
    struct sr_change *ch = NULL;
    SR_TRY(sr_commit_push(c, kind, &ch));
    struct sr_buf blob = ch->key.blob;
    ch->key = *k;
    ch->key.blob = blob;
    ch->key.tags = k->tags != NULL ? json_incref(k->tags) : NULL;
    ch->key.release_policy = k->release_policy != NULL ? json_incref(k->release_policy) : NULL;
    ch->key.meta = k->meta != NULL ? json_incref(k->meta) : NULL;
    return kind == SR_CHANGE_KEY_INSERT ? sr_buf_append(&ch->key.blob, k->blob.data, k->blob.len) : SR_OK;
}

enum sr_err sr_commit_key_insert(struct sr_commit *c, const struct sr_key_row *k)
{
    return sr_commit_key(c, SR_CHANGE_KEY_INSERT, k);
}

enum sr_err sr_commit_key_update(struct sr_commit *c, const struct sr_key_row *k)
{
    return sr_commit_key(c, SR_CHANGE_KEY_UPDATE, k);
}

static enum sr_err sr_commit_name(struct sr_commit *c, enum sr_change_kind kind, const char *vault, const char *name,
                                  struct sr_change **ret)
{
    SR_ENSURE(strlen(vault) <= SR_MAX_SPACE && strlen(name) <= SR_MAX_NAME, SR_ERR_TOO_LARGE);
    SR_TRY(sr_commit_push(c, kind, ret));
    strcpy((*ret)->key.vault, vault);
    strcpy((*ret)->key.name, name);
    return SR_OK;
}

enum sr_err sr_commit_name_deleted(struct sr_commit *c, const char *vault, const char *name, long long deleted,
                                   long long purge_at)
{
    struct sr_change *ch = NULL;
    SR_TRY(sr_commit_name(c, SR_CHANGE_NAME_DELETED, vault, name, &ch));
    ch->name.deleted = deleted;
    ch->name.purge_at = purge_at;
    return SR_OK;
}

enum sr_err sr_commit_name_purge(struct sr_commit *c, const char *vault, const char *name)
{
    struct sr_change *ch = NULL;
    return sr_commit_name(c, SR_CHANGE_NAME_PURGE, vault, name, &ch);
}

enum sr_err sr_commit_name_policy(struct sr_commit *c, const char *vault, const char *name, const json_t *policy)
{
    struct sr_change *ch = NULL;
    SR_TRY(sr_commit_name(c, SR_CHANGE_NAME_POLICY, vault, name, &ch));
    ch->name.rotation_policy = json_deep_copy(policy);
    SR_ENSURE(ch->name.rotation_policy != NULL, SR_ERR_NOMEM);
    return SR_OK;
}

/* A waiter on the stack of the submitting thread, woken by the writer. */
struct sr_commit_waiter {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
};

static void sr_commit_wake(struct sr_commit *c)
{
    struct sr_commit_waiter *w = c->ctx;
    pthread_mutex_lock(&w->lock);
    w->done = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

enum sr_err sr_store_commit_wait(struct sr_store *s, struct sr_commit *c)
{
    struct sr_commit_waiter w = {.done = false};
    pthread_mutex_init(&w.lock, NULL);
    pthread_cond_init(&w.cond, NULL);
    c->done = sr_commit_wake;
    c->ctx = &w;
    s->ops->submit(s, c);
    pthread_mutex_lock(&w.lock);
    while (!w.done) {
        pthread_cond_wait(&w.cond, &w.lock);
    }
    pthread_mutex_unlock(&w.lock);
    pthread_cond_destroy(&w.cond);
    pthread_mutex_destroy(&w.lock);
    return c->result;
}

/* One unaudited change, committed and waited for. */
static enum sr_err sr_store_put(struct sr_store *s, struct sr_commit *c)
{
    enum sr_err r = sr_store_commit_wait(s, c);
    sr_commit_release(c);
    return r;
}

enum sr_err sr_store_region_put(struct sr_store *s, const char *name, long long created,
                                const struct sr_region_file *files, size_t nfiles)
{
    SR_ENSURE(strlen(name) <= SR_MAX_REGION, SR_ERR_TOO_LARGE);
    struct sr_commit c;
    sr_commit_init(&c);
    struct sr_change *ch = NULL;
    enum sr_err r = sr_commit_push(&c, SR_CHANGE_REGION, &ch);
    if (r == SR_OK) {
        strcpy(ch->key.name, name);
        ch->key.created = created;
    }
    for (size_t i = 0; i < nfiles && r == SR_OK; i++) {
        r = strlen(files[i].name) <= SR_MAX_NAME ? sr_commit_push(&c, SR_CHANGE_REGION_FILE, &ch) : SR_ERR_TOO_LARGE;
        if (r == SR_OK) {
            strcpy(ch->key.vault, name);
            strcpy(ch->key.name, files[i].name);
            r = sr_buf_append(&ch->key.blob, files[i].data, files[i].len);
        }
    }
    if (r != SR_OK) {
        sr_commit_release(&c);
        return r;
    }
    return sr_store_put(s, &c);
}

enum sr_err sr_store_vault_put(struct sr_store *s, const struct sr_vault_row *v)
{
    struct sr_commit c;
    sr_commit_init(&c);
    struct sr_change *ch = NULL;
    SR_TRY(sr_commit_push(&c, SR_CHANGE_VAULT, &ch));
    ch->vault = *v;
    return sr_store_put(s, &c);
}

enum sr_err sr_store_authority_put(struct sr_store *s, const char *vault, const char *issuer, const json_t *jwks,
                                   long long created)
{
    SR_ENSURE(strlen(vault) <= SR_MAX_VAULT && strlen(issuer) <= SR_MAX_ISSUER, SR_ERR_TOO_LARGE);
    struct sr_commit c;
    sr_commit_init(&c);
    struct sr_change *ch = NULL;
    SR_TRY(sr_commit_push(&c, SR_CHANGE_AUTHORITY, &ch));
    strcpy(ch->authority.vault, vault);
    strcpy(ch->authority.issuer, issuer);
    ch->authority.created = created;
    ch->authority.jwks = jwks != NULL ? json_deep_copy(jwks) : NULL;
    if (jwks != NULL && ch->authority.jwks == NULL) {
        sr_commit_release(&c);
        return SR_ERR_NOMEM;
    }
    return sr_store_put(s, &c);
}

enum sr_err sr_commit_ident(struct sr_commit *c, const char *kind, const char *name, const json_t *doc)
{
    SR_ENSURE(strlen(kind) <= SR_MAX_IDENT_KIND && strlen(name) <= SR_MAX_IDENT_NAME, SR_ERR_TOO_LARGE);
    struct sr_change *ch = NULL;
    SR_TRY(sr_commit_push(c, SR_CHANGE_IDENT, &ch));
    strcpy(ch->ident.kind, kind);
    strcpy(ch->ident.name, name);
    if (doc != NULL) {
        ch->ident.doc = json_deep_copy(doc);
        SR_ENSURE(ch->ident.doc != NULL, SR_ERR_NOMEM);
    }
    return SR_OK;
}

enum sr_err sr_store_ident_put(struct sr_store *s, const char *kind, const char *name, const json_t *doc)
{
    struct sr_commit c;
    sr_commit_init(&c);
    enum sr_err r = sr_commit_ident(&c, kind, name, doc);
    if (r != SR_OK) {
        sr_commit_release(&c);
        return r;
    }
    return sr_store_put(s, &c);
}

enum sr_err sr_store_token_revoke(struct sr_store *s, const char *name, long long when)
{
    SR_ENSURE(strlen(name) <= SR_MAX_TOKEN_NAME, SR_ERR_NOT_FOUND);
    struct sr_commit c;
    sr_commit_init(&c);
    struct sr_change *ch = NULL;
    SR_TRY(sr_commit_push(&c, SR_CHANGE_TOKEN_REVOKE, &ch));
    strcpy(ch->token.name, name);
    ch->token.revoked = when;
    return sr_store_put(s, &c);
}

enum sr_err sr_store_token_put(struct sr_store *s, const struct sr_token_row *t)
{
    struct sr_commit c;
    sr_commit_init(&c);
    struct sr_change *ch = NULL;
    SR_TRY(sr_commit_push(&c, SR_CHANGE_TOKEN, &ch));
    ch->token = *t;
    return sr_store_put(s, &c);
}
