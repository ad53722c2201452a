/*
 * groupcommit.h - group commit, whatever the database. Submitters queue commits and return; one writer
 * thread takes every commit queued at that moment, applies them in one transaction (each in a savepoint,
 * with its audit entry chained to the one before), commits with one flush, and only then reports each
 * outcome. While it flushes, the next batch gathers. This is the technique of PostgreSQL's and InnoDB's
 * group commit: the cost of a flush is shared by every request that waits for it.
 *
 * A backend (sqlite_writer.c, pg.c) supplies the SQL through struct sr_gc_ops; this file owns the queue,
 * the thread, the hash chain's arithmetic and the rule that nothing of a failed transaction is
 * acknowledged.
 */
#ifndef SR_STORE_GROUPCOMMIT_H
#define SR_STORE_GROUPCOMMIT_H

#include <pthread.h>
#include <stdbool.h>

#include "base/limits.h"
#include "vault/store.h"


enum sr_gc_savepoint { SR_GC_SAVEPOINT, SR_GC_RELEASE, SR_GC_ROLLBACK_TO };

struct sr_gc_ops {
    /* Opens the batch's transaction and returns the audit chain's head in it, locked against every other
     * writer until the transaction ends (seq 0 and 64 '0's for an empty chain). */
    enum sr_err (*begin)(void *db, long long *head_seq, char head_hash[65]);
    enum sr_err (*savepoint)(void *db, enum sr_gc_savepoint what);
    /* SR_ERR_EXISTS or SR_ERR_NOT_FOUND refuse the change (its commit alone); any other error is the
     * transaction's. */
    enum sr_err (*apply)(void *db, const struct sr_change *ch);
    enum sr_err (*audit_insert)(void *db, const struct sr_audit_row *a);
    enum sr_err (*commit)(void *db);
    void (*rollback)(void *db);
    /* Optional: around the transaction, with whether it changes rows (not only the audit log), and after
     * it with its outcome, before any commit of it is acknowledged. */
    void (*before)(void *db, const struct sr_commit *batch);
    void (*after)(void *db, const struct sr_commit *batch, enum sr_err outcome);
};

struct sr_groupcommit {
    const struct sr_gc_ops *ops;
    void *db;
    pthread_t thread;
    bool started;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct sr_commit *head, *tail; /* under lock */
    bool stopping;                 /* under lock */
    unsigned fail_commits;         /* fault injection for tests, under lock */
};

void sr_gc_init(struct sr_groupcommit *g, const struct sr_gc_ops *ops, void *db);
SR_MUST_USE enum sr_err sr_gc_start(struct sr_groupcommit *g);
/* Commits everything queued, then stops the thread; later submits fail with SR_ERR_SHUTTING_DOWN. */
void sr_gc_stop(struct sr_groupcommit *g);
void sr_gc_release(struct sr_groupcommit *g);
void sr_gc_submit(struct sr_groupcommit *g, struct sr_commit *c);
/* For tests: the next n transactions fail at COMMIT (and are rolled back). */
void sr_gc_fail_commits(struct sr_groupcommit *g, unsigned n);
/* Whether the batch changes anything besides the audit log; whether it changes vaults, tokens or regions. */
bool sr_gc_batch_changes(const struct sr_commit *batch);
bool sr_gc_batch_changes_conf(const struct sr_commit *batch);

#endif
