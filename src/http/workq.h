/*
 * workq.h - a fixed pool of threads that run queued jobs in arrival order. The HTTP layer hands each
 * request's operation (its cryptography) to this pool, so every core works whatever libmicrohttpd's
 * threads happen to hold: its connections are not balanced across its threads, the pool's queue is.
 */
#ifndef SR_HTTP_WORKQ_H
#define SR_HTTP_WORKQ_H

#include "base/safety.h"

struct sr_workq_job {
    void (*run)(struct sr_workq_job *job);
    struct sr_workq_job *next; /* the queue's */
};

struct sr_workq;

SR_MUST_USE enum sr_err sr_workq_start(unsigned threads, struct sr_workq **ret);
void sr_workq_push(struct sr_workq *q, struct sr_workq_job *job);
/* Runs every job queued so far, then stops the threads and frees the pool. */
void sr_workq_stop(struct sr_workq *q);

#endif
