/* groupcommit.c - the group-commit writer thread, for any backend (see groupcommit.h). */
#include <string.h>

#include "store/groupcommit.h"

void sr_gc_init(struct sr_groupcommit *g, const struct sr_gc_ops *ops, void *db)
{
    memset(g, 0, sizeof(*g));
    g->ops = ops;
    g->db = db;
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->cond, NULL);
}

void sr_gc_release(struct sr_groupcommit *g)
{
    pthread_mutex_destroy(&g->lock);
    pthread_cond_destroy(&g->cond);
}

bool sr_gc_batch_changes(const struct sr_commit *batch)
{
    for (const struct sr_commit *c = batch; c != NULL; c = c->next) {
        if (c->nchanges > 0) {
            return true;
        }
    }
    return false;
}

bool sr_gc_batch_changes_conf(const struct sr_commit *batch)
{
    for (const struct sr_commit *c = batch; c != NULL; c = c->next) {
        for (size_t i = 0; i < c->nchanges; i++) {
            enum sr_change_kind k = c->changes[i].kind;
            if (k == SR_CHANGE_REGION || k == SR_CHANGE_REGION_FILE || k == SR_CHANGE_VAULT || k == SR_CHANGE_TOKEN ||
                k == SR_CHANGE_TOKEN_REVOKE || k == SR_CHANGE_IDENT) {
                return true;
            }
        }
    }
    return false;
}

struct sr_chain_head {
    long long seq;
    char hash[65];
};

static enum sr_err sr_chain_append(struct sr_groupcommit *g, struct sr_chain_head *h, struct sr_audit_row *a)
{
    a->seq = h->seq + 1;
    memcpy(a->prev, h->hash, sizeof(a->prev));
    SR_TRY(sr_audit_hash(a, a->hash));
    SR_TRY(g->ops->audit_insert(g->db, a));
    h->seq = a->seq;
    memcpy(h->hash, a->hash, sizeof(h->hash));
    return SR_OK;
}

/*
 * One commit inside the batch's transaction: its changes all or none (a savepoint), then its audit entry
 * with the outcome. Returns an error only when the whole transaction is unusable.
 */
static enum sr_err sr_apply_commit(struct sr_groupcommit *g, struct sr_chain_head *h, struct sr_commit *c)
{
    c->result = SR_OK;
    if (c->nchanges > 0) {
        SR_TRY(g->ops->savepoint(g->db, SR_GC_SAVEPOINT));
        for (size_t i = 0; i < c->nchanges && c->result == SR_OK; i++) {
            c->result = g->ops->apply(g->db, &c->changes[i]);
        }
        if (c->result != SR_OK) {
            SR_ENSURE(c->result == SR_ERR_EXISTS || c->result == SR_ERR_NOT_FOUND, c->result);
            SR_TRY(g->ops->savepoint(g->db, SR_GC_ROLLBACK_TO));
        }
        SR_TRY(g->ops->savepoint(g->db, SR_GC_RELEASE));
    }
    if (!c->audited) {
        return SR_OK;
    }
    if (c->result != SR_OK && c->audit.status < 400) {
        c->audit.status = sr_err_http_status(c->result);
    }
    return sr_chain_append(g, h, &c->audit);
}

/* Takes the injected fault, if one is armed. */
static bool sr_fault_commit(struct sr_groupcommit *g)
{
    pthread_mutex_lock(&g->lock);
    bool fail = g->fail_commits > 0;
    if (fail) {
        g->fail_commits--;
    }
    pthread_mutex_unlock(&g->lock);
    return fail;
}

static void sr_run_batch(struct sr_groupcommit *g, struct sr_commit *batch)
{
    if (g->ops->before != NULL) {
        g->ops->before(g->db, batch);
    }
    struct sr_chain_head head = {0};
    enum sr_err r = g->ops->begin(g->db, &head.seq, head.hash);
    bool open = r == SR_OK;
    for (struct sr_commit *c = batch; c != NULL && r == SR_OK; c = c->next) {
        r = sr_apply_commit(g, &head, c);
    }
    if (r == SR_OK && sr_fault_commit(g)) {
        r = SR_ERR_IO;
    }
    if (r == SR_OK) {
        r = g->ops->commit(g->db);
    }
    if (r != SR_OK && open) {
        g->ops->rollback(g->db);
    }
    if (g->ops->after != NULL) {
        g->ops->after(g->db, batch, r);
    }
    /* Nothing of a failed transaction is kept: every commit of it fails, none is acknowledged. */
    struct sr_commit *next = NULL;
    for (struct sr_commit *c = batch; c != NULL; c = next) {
        next = c->next;
        c->next = NULL;
        if (r != SR_OK) {
            c->result = r == SR_ERR_UNAVAILABLE || r == SR_ERR_COMMIT_UNKNOWN ? r : SR_ERR_COMMIT_FAILED;
        }
        c->done(c);
    }
}

/* Detaches up to SR_MAX_BATCH commits from the queue's front; waits while it is empty and running. */
static struct sr_commit *sr_take_batch(struct sr_groupcommit *g, bool *stop)
{
    pthread_mutex_lock(&g->lock);
    while (g->head == NULL && !g->stopping) {
        pthread_cond_wait(&g->cond, &g->lock);
    }
    struct sr_commit *batch = g->head, *last = NULL;
    size_t n = 0;
    for (struct sr_commit *c = batch; c != NULL && n < SR_MAX_BATCH; c = c->next, n++) {
        last = c;
    }
    if (last != NULL) {
        g->head = last->next;
        last->next = NULL;
        if (g->head == NULL) {
            g->tail = NULL;
        }
    }
    *stop = batch == NULL && g->stopping;
    pthread_mutex_unlock(&g->lock);
    return batch;
}

static void *sr_gc_main(void *arg)
{
    struct sr_groupcommit *g = arg;
    bool stop = false;
    while (!stop) {
        struct sr_commit *batch = sr_take_batch(g, &stop);
        if (batch != NULL) {
            sr_run_batch(g, batch);
        }
    }
    return NULL;
}

enum sr_err sr_gc_start(struct sr_groupcommit *g)
{
    SR_ENSURE(pthread_create(&g->thread, NULL, sr_gc_main, g) == 0, SR_ERR_NOMEM);
    g->started = true;
    return SR_OK;
}

void sr_gc_stop(struct sr_groupcommit *g)
{
    if (!g->started) {
        return;
    }
    pthread_mutex_lock(&g->lock);
    g->stopping = true;
    pthread_cond_signal(&g->cond);
    pthread_mutex_unlock(&g->lock);
    pthread_join(g->thread, NULL);
    g->started = false;
}

void sr_gc_submit(struct sr_groupcommit *g, struct sr_commit *c)
{
    c->next = NULL;
    pthread_mutex_lock(&g->lock);
    bool accepted = !g->stopping;
    if (accepted) {
        if (g->tail != NULL) {
            g->tail->next = c;
        } else {
            g->head = c;
        }
        g->tail = c;
        pthread_cond_signal(&g->cond);
    }
    pthread_mutex_unlock(&g->lock);
    if (!accepted) {
        c->result = SR_ERR_SHUTTING_DOWN;
        c->done(c);
    }
}

void sr_gc_fail_commits(struct sr_groupcommit *g, unsigned n)
{
    pthread_mutex_lock(&g->lock);
    g->fail_commits = n;
    pthread_mutex_unlock(&g->lock);
}
