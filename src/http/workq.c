/* workq.c - the request pool: one mutex-guarded FIFO, one condition, N threads. */
#include "http/workq.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

struct sr_workq {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct sr_workq_job *head, *tail;
    bool stopping;
    unsigned nthreads;
    pthread_t threads[];
};

static void *sr_workq_main(void *arg)
{
    struct sr_workq *q = arg;
    for (;;) {
        pthread_mutex_lock(&q->lock);
        while (q->head == NULL && !q->stopping) {
            pthread_cond_wait(&q->cond, &q->lock);
        }
        struct sr_workq_job *job = q->head;
        if (job != NULL) {
            q->head = job->next;
            if (q->head == NULL) {
                q->tail = NULL;
            }
        }
        pthread_mutex_unlock(&q->lock);
        if (job == NULL) {
            return NULL; /* stopping, and nothing left */
        }
        job->next = NULL;
        job->run(job);
    }
}

enum sr_err sr_workq_start(unsigned threads, struct sr_workq **ret)
{
    SR_ENSURE(threads > 0 && threads <= 1024, SR_ERR_USAGE);
    struct sr_workq *q = calloc(1, sizeof(*q) + threads * sizeof(q->threads[0]));
    SR_ENSURE(q != NULL, SR_ERR_NOMEM);
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->cond, NULL);
    for (; q->nthreads < threads; q->nthreads++) {
        if (pthread_create(&q->threads[q->nthreads], NULL, sr_workq_main, q) != 0) {
            sr_workq_stop(q);
            return SR_ERR_NOMEM;
        }
    }
    *ret = q;
    return SR_OK;
}

void sr_workq_push(struct sr_workq *q, struct sr_workq_job *job)
{
    job->next = NULL;
    pthread_mutex_lock(&q->lock);
    if (q->tail != NULL) {
        q->tail->next = job;
    } else {
        q->head = job;
    }
    q->tail = job;
    pthread_cond_signal(&q->cond);
    pthread_mutex_unlock(&q->lock);
}

void sr_workq_stop(struct sr_workq *q)
{
    if (q == NULL) {
        return;
    }
    pthread_mutex_lock(&q->lock);
    q->stopping = true;
    pthread_cond_broadcast(&q->cond);
    pthread_mutex_unlock(&q->lock);
    for (unsigned i = 0; i < q->nthreads; i++) {
        pthread_join(q->threads[i], NULL);
    }
    pthread_cond_destroy(&q->cond);
    pthread_mutex_destroy(&q->lock);
    free(q);
}
