/*
 * guard.h - what one connection may cost the server, whatever trickles in.
 *
 * Every connection is in one phase at a time, and every phase but the operation's own work has a total
 * deadline from the moment it began (not an idle timeout: a byte a second does not extend it):
 *
 *   handshake   TCP accepted, TLS handshake not finished
 *   headers     ready for a request (after the handshake, or the previous answer), headers not complete
 *   body        headers read, body not complete
 *   working     the operation and its commit run (the connection is suspended; the server's own work)
 *   answer      the answer is queued, not all of it sent
 *
 * A reaper thread shuts down the socket of a connection past its deadline; libmicrohttpd then reads its
 * end and closes it as it would a client's hang-up, in any state. libmicrohttpd's own timeout is not used
 * during the handshake: 0.9.75 closes a handshaking connection on timeout without ever cleaning it up,
 * which leaves the socket in CLOSE-WAIT for good and its thread polling with a zero timeout.
 *
 * The guard also keeps the server-wide budget of request-body bytes held but not yet answered.
 */
#ifndef SR_HTTP_GUARD_H
#define SR_HTTP_GUARD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/safety.h"

enum sr_phase {
    SR_PHASE_HANDSHAKE,
    SR_PHASE_HEADERS,
    SR_PHASE_BODY,
    SR_PHASE_WORKING,
    SR_PHASE_ANSWER,
    SR_PHASE_COUNT
};

struct sr_guard_limits {
    unsigned ms[SR_PHASE_COUNT]; /* each phase's total deadline; 0: none (working) */
    size_t body_budget;          /* request-body bytes the whole server holds at once */
};

struct sr_guard;

/* One connection, from accept to close. Made by sr_guard_add, freed by sr_guard_remove. */
struct sr_watch {
    struct sr_guard *guard;
    void *owner; /* the caller's (the HTTP server), for callbacks that find only the connection */
    int fd;
    bool timeout_set; /* libmicrohttpd's idle timeout is on (once the handshake is over) */
    _Atomic int64_t deadline_ms; /* CLOCK_MONOTONIC; 0: none */
    _Atomic int phase;
    bool reaped;
    struct sr_watch *prev, *next; /* the guard's list */
};

/* The counts /healthz reports. */
struct sr_guard_stats {
    unsigned open;                       /* connections */
    uint64_t reaped[SR_PHASE_COUNT];     /* closed for their phase's deadline, since start */
    size_t body_bytes;                   /* held now */
    size_t body_budget;
    uint64_t body_refused;               /* requests refused because the budget was spent */
};

SR_MUST_USE enum sr_err sr_guard_start(const struct sr_guard_limits *limits, struct sr_guard **ret);
/* Stops the reaper; every watch must have been removed. NULL is a no-op. */
void sr_guard_stop(struct sr_guard *g);

/* A new connection, in the handshake phase. NULL when out of memory (the caller closes the connection). */
struct sr_watch *sr_guard_add(struct sr_guard *g, int fd, void *owner);
/* Before the socket is closed: after this the reaper never touches fd. */
void sr_guard_remove(struct sr_watch *w);
/* Enters a phase; its deadline counts from now. */
void sr_watch_enter(struct sr_watch *w, enum sr_phase p);
enum sr_phase sr_watch_phase(const struct sr_watch *w);

/* Reserves n body bytes of the server's budget; false (and nothing reserved) when it would be exceeded. */
SR_MUST_USE bool sr_guard_take(struct sr_guard *g, size_t n);
void sr_guard_give(struct sr_guard *g, size_t n);
void sr_guard_refused(struct sr_guard *g);

void sr_guard_stats(struct sr_guard *g, struct sr_guard_stats *ret);
const char *sr_phase_name(enum sr_phase p);

#endif
