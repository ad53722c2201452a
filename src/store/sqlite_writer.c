/*
 * sqlite_writer.c - group commit. Submitters queue commits and return; one writer thread takes every
 * commit queued at that moment, applies them in one transaction (each in a savepoint, with its audit
 * entry chained to the one before), commits with one flush, and only then reports each outcome. While
 * it flushes, the next batch gathers. This is the technique of PostgreSQL's and InnoDB's group commit:
 * the cost of a flush is shared by every request that waits for it.
 */
#include <stdio.h>
#include <string.h>

#include "store/sqlite_internal.h"

static enum sr_err sr_exec(struct sr_lite_conn *w, enum sr_stmt_id id)
{
    sqlite3_stmt *st = NULL;
    SR_TRY(sr_lite_stmt(w, id, &st));
    enum sr_err r = sr_lite_step_done(st);
    sqlite3_reset(st);
    return r;
}

/* Runs a bound write statement; SR_ERR_NOT_FOUND when it must change a row and changed none. */
static enum sr_err sr_write(struct sr_lite_conn *w, sqlite3_stmt *st, bool must_change)
{
    enum sr_err r = sr_lite_step_done(st);
    sqlite3_reset(st);
    SR_TRY(r);
    SR_ENSURE(!must_change || sqlite3_changes(w->db) >= 1, SR_ERR_NOT_FOUND);
    return SR_OK;
}

static void sr_bind_name(sqlite3_stmt *st, const struct sr_key_row *k)
{
    sqlite3_bind_text(st, 1, k->vault, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, k->name, -1, SQLITE_STATIC);
}

/* The attributes a key version's insert and update both write, from column first on. */
static void sr_bind_attributes(sqlite3_stmt *st, int first, const struct sr_key_row *k)
{
    sqlite3_bind_int64(st, first, k->key_ops);
    sqlite3_bind_int(st, first + 1, k->enabled);
    sqlite3_bind_int64(st, first + 2, k->nbf);
    sqlite3_bind_int64(st, first + 3, k->exp);
}

static enum sr_err sr_apply_key_insert(struct sr_lite_conn *w, const struct sr_key_row *k)
{
    sqlite3_stmt *st = NULL;
    SR_TRY(sr_lite_stmt(w, SR_ST_NAME_ENSURE, &st));
    sr_bind_name(st, k);
    SR_TRY(sr_write(w, st, false));
    SR_TRY(sr_lite_stmt(w, SR_ST_NAME_DELETED_OF, &st));
    sr_bind_name(st, k);
    int rc = sqlite3_step(st);
    long long deleted = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    SR_ENSURE(rc == SQLITE_ROW, SR_ERR_IO);
    /* A soft-deleted name stays reserved until it is recovered or purged. */
    SR_ENSURE(deleted == 0, SR_ERR_EXISTS);
    SR_AUTO_FREE char *tags = k->tags ? json_dumps(k->tags, JSON_COMPACT) : strdup("{}");
    SR_ENSURE(tags != NULL, SR_ERR_NOMEM);
    SR_TRY(sr_lite_stmt(w, SR_ST_KEY_INSERT, &st));
    sr_bind_name(st, k);
    sqlite3_bind_text(st, 3, k->version, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, k->kty, -1, SQLITE_STATIC);
    sr_bind_attributes(st, 5, k);
    sqlite3_bind_int64(st, 9, k->created);
    sqlite3_bind_int64(st, 10, k->updated);
    sqlite3_bind_text(st, 11, tags, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 12, k->blob.data, (int)k->blob.len, SQLITE_STATIC);
    return sr_write(w, st, true);
}

static enum sr_err sr_apply_key_update(struct sr_lite_conn *w, const struct sr_key_row *k)
{
    SR_AUTO_FREE char *tags = k->tags ? json_dumps(k->tags, JSON_COMPACT) : strdup("{}");
    SR_ENSURE(tags != NULL, SR_ERR_NOMEM);
    sqlite3_stmt *st = NULL;
    SR_TRY(sr_lite_stmt(w, SR_ST_KEY_UPDATE, &st));
    sr_bind_attributes(st, 1, k);
    sqlite3_bind_int64(st, 5, k->updated);
    sqlite3_bind_text(st, 6, tags, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, k->vault, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, k->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 9, k->version, -1, SQLITE_STATIC);
    return sr_write(w, st, true);
}

static enum sr_err sr_apply_name(struct sr_lite_conn *w, enum sr_stmt_id id, const struct sr_change *ch)
{
    sqlite3_stmt *st = NULL;
    SR_TRY(sr_lite_stmt(w, id, &st));
    sr_bind_name(st, &ch->key);
    SR_AUTO_FREE char *policy = NULL;
    if (id == SR_ST_NAME_SET_DELETED) {
        sqlite3_bind_int64(st, 3, ch->name.deleted);
        sqlite3_bind_int64(st, 4, ch->name.purge_at);
    } else if (id == SR_ST_NAME_POLICY) {
        policy = json_dumps(ch->name.rotation_policy, JSON_COMPACT);
        SR_ENSURE(policy != NULL, SR_ERR_NOMEM);
        sqlite3_bind_text(st, 3, policy, -1, SQLITE_STATIC);
    }
    return sr_write(w, st, true);
}

static enum sr_err sr_apply_operator(struct sr_lite_conn *w, const struct sr_change *ch)
{
    sqlite3_stmt *st = NULL;
    if (ch->kind == SR_CHANGE_REGION) {
        SR_TRY(sr_lite_stmt(w, SR_ST_REGION_PUT, &st));
        sqlite3_bind_text(st, 1, ch->key.name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, ch->key.created);
    } else if (ch->kind == SR_CHANGE_VAULT) {
        SR_TRY(sr_lite_stmt(w, SR_ST_VAULT_PUT, &st));
        sqlite3_bind_text(st, 1, ch->vault.name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, ch->vault.region, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, ch->vault.subscription, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, ch->vault.created);
    } else {
        SR_TRY(sr_lite_stmt(w, SR_ST_TOKEN_PUT, &st));
        sqlite3_bind_text(st, 1, ch->token.hash, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, ch->token.role, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, ch->token.vault, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, ch->token.created);
        sqlite3_bind_int64(st, 5, ch->token.expires);
    }
    return sr_write(w, st, false);
}

static enum sr_err sr_apply_change(struct sr_lite_conn *w, const struct sr_change *ch)
{
    switch (ch->kind) {
    case SR_CHANGE_KEY_INSERT:
        return sr_apply_key_insert(w, &ch->key);
    case SR_CHANGE_KEY_UPDATE:
        return sr_apply_key_update(w, &ch->key);
    case SR_CHANGE_NAME_DELETED:
        return sr_apply_name(w, SR_ST_NAME_SET_DELETED, ch);
    case SR_CHANGE_NAME_PURGE:
        SR_TRY(sr_apply_name(w, SR_ST_KEYS_PURGE, ch));
        return sr_apply_name(w, SR_ST_NAME_PURGE, ch);
    case SR_CHANGE_NAME_POLICY:
        return sr_apply_name(w, SR_ST_NAME_POLICY, ch);
    default:
        return sr_apply_operator(w, ch);
    }
}

/* The chain's head inside the open transaction: the writer lock makes it the one the next entry follows. */
struct sr_chain_head {
    long long seq;
    char hash[65];
};

static enum sr_err sr_chain_head_read(struct sr_lite_conn *w, struct sr_chain_head *h)
{
    sqlite3_stmt *st = NULL;
    SR_TRY(sr_lite_stmt(w, SR_ST_AUDIT_HEAD, &st));
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        h->seq = sqlite3_column_int64(st, 0);
        sr_lite_text(st, 1, h->hash, sizeof(h->hash));
    } else {
        h->seq = 0;
        memset(h->hash, '0', 64);
        h->hash[64] = 0;
    }
    sqlite3_reset(st);
    SR_ENSURE(rc == SQLITE_ROW || rc == SQLITE_DONE, SR_ERR_IO);
    return SR_OK;
}

static enum sr_err sr_chain_append(struct sr_lite_conn *w, struct sr_chain_head *h, struct sr_audit_row *a)
{
    a->seq = h->seq + 1;
    memcpy(a->prev, h->hash, sizeof(a->prev));
    SR_TRY(sr_audit_hash(a, a->hash));
    sqlite3_stmt *st = NULL;
    SR_TRY(sr_lite_stmt(w, SR_ST_AUDIT_INSERT, &st));
    sqlite3_bind_int64(st, 1, a->seq);
    sqlite3_bind_int64(st, 2, a->time);
    sqlite3_bind_text(st, 3, a->vault, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, a->actor, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, a->op, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, a->target, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 7, a->status);
    sqlite3_bind_text(st, 8, a->prev, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 9, a->hash, -1, SQLITE_STATIC);
    SR_TRY(sr_write(w, st, false));
    h->seq = a->seq;
    memcpy(h->hash, a->hash, sizeof(h->hash));
    return SR_OK;
}

/*
 * One commit inside the batch's transaction: its changes all or none (a savepoint), then its audit entry
 * with the outcome. Returns an error only when the whole transaction is unusable.
 */
static enum sr_err sr_apply_commit(struct sr_lite_conn *w, struct sr_chain_head *h, struct sr_commit *c)
{
    c->result = SR_OK;
    if (c->nchanges > 0) {
        SR_TRY(sr_exec(w, SR_ST_SAVEPOINT));
        for (size_t i = 0; i < c->nchanges && c->result == SR_OK; i++) {
            c->result = sr_apply_change(w, &c->changes[i]);
        }
        if (c->result != SR_OK) {
            SR_ENSURE(c->result == SR_ERR_EXISTS || c->result == SR_ERR_NOT_FOUND, c->result);
            SR_TRY(sr_exec(w, SR_ST_ROLLBACK_TO));
        }
        SR_TRY(sr_exec(w, SR_ST_RELEASE));
    }
    if (!c->audited) {
        return SR_OK;
    }
    if (c->result != SR_OK && c->audit.status < 400) {
        c->audit.status = sr_err_http_status(c->result);
    }
    return sr_chain_append(w, h, &c->audit);
}

/* Takes the injected fault, if one is armed. */
static bool sr_fault_commit(struct sr_sqlite *l)
{
    pthread_mutex_lock(&l->queue_lock);
    bool fail = l->fail_commits > 0;
    if (fail) {
        l->fail_commits--;
    }
    pthread_mutex_unlock(&l->queue_lock);
    return fail;
}

/* Whether the batch changes rows that other processes' caches keep (rowcache.c, changes.c). */
static bool sr_batch_changes_conf(const struct sr_commit *batch)
{
    for (const struct sr_commit *c = batch; c != NULL; c = c->next) {
        for (size_t i = 0; i < c->nchanges; i++) {
            enum sr_change_kind k = c->changes[i].kind;
            if (k == SR_CHANGE_REGION || k == SR_CHANGE_VAULT || k == SR_CHANGE_TOKEN) {
                return true;
            }
        }
    }
    return false;
}

static void sr_run_batch(struct sr_sqlite *l, struct sr_commit *batch)
{
    struct sr_lite_conn *w = &l->writer;
    struct sr_chain_head head;
    bool conf = sr_batch_changes_conf(batch);
    if (conf) {
        sr_changes_begin(&l->changes);
    }
    enum sr_err r = sr_exec(w, SR_ST_BEGIN);
    bool open = r == SR_OK;
    if (r == SR_OK) {
        r = sr_chain_head_read(w, &head);
    }
    for (struct sr_commit *c = batch; c != NULL && r == SR_OK; c = c->next) {
        r = sr_apply_commit(w, &head, c);
    }
    if (r == SR_OK && sr_fault_commit(l)) {
        r = SR_ERR_IO;
    }
    if (r == SR_OK) {
        r = sr_exec(w, SR_ST_COMMIT);
    }
    if (r != SR_OK && open && !sqlite3_get_autocommit(w->db)) {
        (void)sr_exec(w, SR_ST_ROLLBACK);
    }
    /* Cached key rows go before any change is acknowledged (a failed batch changed nothing; dropping
     * them anyway costs only reads). */
    bool changed = false;
    for (struct sr_commit *c = batch; c != NULL && !changed; c = c->next) {
        changed = c->nchanges > 0;
    }
    if (changed) {
        sr_rowcache_clear(&l->rows);
    }
    if (conf) {
        sr_changes_end(&l->changes);
    }
    /* Nothing of a failed transaction is kept: every commit of it fails, none is acknowledged. */
    struct sr_commit *next = NULL;
    for (struct sr_commit *c = batch; c != NULL; c = next) {
        next = c->next;
        c->next = NULL;
        if (r != SR_OK) {
            c->result = SR_ERR_COMMIT_FAILED;
        }
        c->done(c);
    }
}

/* Detaches up to SR_MAX_BATCH commits from the queue's front; waits while it is empty and running. */
static struct sr_commit *sr_take_batch(struct sr_sqlite *l, bool *stop)
{
    pthread_mutex_lock(&l->queue_lock);
    while (l->queue_head == NULL && !l->stopping) {
        pthread_cond_wait(&l->queue_cond, &l->queue_lock);
    }
    struct sr_commit *batch = l->queue_head, *last = NULL;
    size_t n = 0;
    for (struct sr_commit *c = batch; c != NULL && n < SR_MAX_BATCH; c = c->next, n++) {
        last = c;
    }
    if (last != NULL) {
        l->queue_head = last->next;
        last->next = NULL;
        if (l->queue_head == NULL) {
            l->queue_tail = NULL;
        }
    }
    *stop = batch == NULL && l->stopping;
    pthread_mutex_unlock(&l->queue_lock);
    return batch;
}

static void *sr_writer_main(void *arg)
{
    struct sr_sqlite *l = arg;
    bool stop = false;
    while (!stop) {
        struct sr_commit *batch = sr_take_batch(l, &stop);
        if (batch != NULL) {
            sr_run_batch(l, batch);
        }
    }
    return NULL;
}

enum sr_err sr_lite_writer_start(struct sr_sqlite *l)
{
    SR_ENSURE(pthread_create(&l->thread, NULL, sr_writer_main, l) == 0, SR_ERR_NOMEM);
    l->thread_started = true;
    return SR_OK;
}

void sr_lite_writer_stop(struct sr_sqlite *l)
{
    if (!l->thread_started) {
        return;
    }
    pthread_mutex_lock(&l->queue_lock);
    l->stopping = true;
    pthread_cond_signal(&l->queue_cond);
    pthread_mutex_unlock(&l->queue_lock);
    pthread_join(l->thread, NULL);
    l->thread_started = false;
}

void sr_lite_submit(struct sr_store *s, struct sr_commit *c)
{
    struct sr_sqlite *l = (struct sr_sqlite *)s;
    c->next = NULL;
    pthread_mutex_lock(&l->queue_lock);
    bool accepted = !l->stopping;
    if (accepted) {
        if (l->queue_tail != NULL) {
            l->queue_tail->next = c;
        } else {
            l->queue_head = c;
        }
        l->queue_tail = c;
        pthread_cond_signal(&l->queue_cond);
    }
    pthread_mutex_unlock(&l->queue_lock);
    if (!accepted) {
        c->result = SR_ERR_SHUTTING_DOWN;
        c->done(c);
    }
}
