/* guard.c - the connection list, its reaper thread and the body budget (guard.h). */
#include "http/guard.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

/* How often the reaper looks: a deadline is kept to within this. */
#define SR_GUARD_TICK_MS 100

struct sr_guard {
    struct sr_guard_limits limits;
    pthread_mutex_t lock; /* the list; held while the reaper shuts a socket down, so fd stays open */
    pthread_cond_t wake;
    bool stopping;
    struct sr_watch *head;
    unsigned open;
    uint64_t reaped[SR_PHASE_COUNT];
    pthread_t reaper;
    atomic_size_t body_bytes;
    atomic_uint_fast64_t body_refused;
};

static int64_t sr_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *sr_phase_name(enum sr_phase p)
{
    static const char *const names[SR_PHASE_COUNT] = {"handshake", "headers", "body", "working", "answer"};
    return (unsigned)p < SR_PHASE_COUNT ? names[p] : "?";
}

static void sr_guard_sweep(struct sr_guard *g, int64_t now)
{
    for (struct sr_watch *w = g->head; w != NULL; w = w->next) {
        int64_t deadline = atomic_load(&w->deadline_ms);
        if (w->reaped || deadline == 0 || now < deadline) {
            continue;
        }
        /* Counted first: once the socket is shut, libmicrohttpd may end the request and move the phase on. */
        g->reaped[atomic_load(&w->phase) % SR_PHASE_COUNT]++;
        w->reaped = true;
        /* libmicrohttpd reads the end of the stream and closes the connection in whatever state it is. */
        (void)shutdown(w->fd, SHUT_RDWR);
    }
}

static void *sr_guard_main(void *arg)
{
    struct sr_guard *g = arg;
    pthread_mutex_lock(&g->lock);
    while (!g->stopping) {
        sr_guard_sweep(g, sr_now_ms());
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += SR_GUARD_TICK_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        (void)pthread_cond_timedwait(&g->wake, &g->lock, &until);
    }
    pthread_mutex_unlock(&g->lock);
    return NULL;
}

enum sr_err sr_guard_start(const struct sr_guard_limits *limits, struct sr_guard **ret)
{
    struct sr_guard *g = calloc(1, sizeof(*g));
    SR_ENSURE(g != NULL, SR_ERR_NOMEM);
    g->limits = *limits;
    pthread_mutex_init(&g->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&g->wake, &attr);
    pthread_condattr_destroy(&attr);
    if (pthread_create(&g->reaper, NULL, sr_guard_main, g) != 0) {
        pthread_cond_destroy(&g->wake);
        pthread_mutex_destroy(&g->lock);
        free(g);
        return SR_ERR_NOMEM;
    }
    *ret = g;
    return SR_OK;
}

void sr_guard_stop(struct sr_guard *g)
{
    if (g == NULL) {
        return;
    }
    pthread_mutex_lock(&g->lock);
    g->stopping = true;
    pthread_cond_signal(&g->wake);
    pthread_mutex_unlock(&g->lock);
    pthread_join(g->reaper, NULL);
    pthread_cond_destroy(&g->wake);
    pthread_mutex_destroy(&g->lock);
    free(g);
}

struct sr_watch *sr_guard_add(struct sr_guard *g, int fd, void *owner)
{
    struct sr_watch *w = calloc(1, sizeof(*w));
    if (w == NULL) {
        return NULL;
    }
    w->guard = g;
    w->owner = owner;
    w->fd = fd;
    sr_watch_enter(w, SR_PHASE_HANDSHAKE);
    pthread_mutex_lock(&g->lock);
    w->next = g->head;
    if (g->head != NULL) {
        g->head->prev = w;
    }
    g->head = w;
    g->open++;
    pthread_mutex_unlock(&g->lock);
    return w;
}

void sr_guard_remove(struct sr_watch *w)
{
    if (w == NULL) {
        return;
    }
    struct sr_guard *g = w->guard;
    pthread_mutex_lock(&g->lock);
    if (w->prev != NULL) {
        w->prev->next = w->next;
    } else {
        g->head = w->next;
    }
    if (w->next != NULL) {
        w->next->prev = w->prev;
    }
    g->open--;
    pthread_mutex_unlock(&g->lock);
    free(w);
}

void sr_watch_enter(struct sr_watch *w, enum sr_phase p)
{
    unsigned ms = w->guard->limits.ms[p];
    atomic_store(&w->phase, (int)p);
    atomic_store(&w->deadline_ms, ms ? sr_now_ms() + ms : 0);
}

enum sr_phase sr_watch_phase(const struct sr_watch *w)
{
    return (enum sr_phase)atomic_load(&w->phase);
}

bool sr_guard_take(struct sr_guard *g, size_t n)
{
    size_t held = atomic_load(&g->body_bytes);
    do {
        if (n > g->limits.body_budget || held > g->limits.body_budget - n) {
            return false;
        }
    } while (!atomic_compare_exchange_weak(&g->body_bytes, &held, held + n));
    return true;
}

void sr_guard_give(struct sr_guard *g, size_t n)
{
    atomic_fetch_sub(&g->body_bytes, n);
}

void sr_guard_refused(struct sr_guard *g)
{
    atomic_fetch_add(&g->body_refused, 1);
}

void sr_guard_stats(struct sr_guard *g, struct sr_guard_stats *ret)
{
    pthread_mutex_lock(&g->lock);
    ret->open = g->open;
    for (size_t i = 0; i < SR_PHASE_COUNT; i++) {
        ret->reaped[i] = g->reaped[i];
    }
    pthread_mutex_unlock(&g->lock);
    ret->body_bytes = atomic_load(&g->body_bytes);
    ret->body_budget = g->limits.body_budget;
    ret->body_refused = atomic_load(&g->body_refused);
}
