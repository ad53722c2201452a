/*
 * refusals.c - the audit entries of requests refused before any operation (no, malformed, unknown,
 * expired or revoked token), and the server's background thread (the housekeeper) that writes their
 * counts each minute and runs the rotation scheduler (rotation.c).
 *
 * Every refusal is audited, but a flood must not grow the log without bound or make the writer its
 * bottleneck. So refusals are grouped by (client, vault, actor, reason) and minute: the first of a group
 * is written at once (an operator sees an attack begin without waiting), the rest of its minute are
 * counted and written as one entry with their count when the minute ends. The log grows by at most two
 * entries per group and minute, and at most SR_REFUSAL_GROUPS groups are kept apart per minute; beyond
 * that, refusals are counted under client "*". A refused request never waits for the store.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/text.h"
#include "vault/internal.h"

/* An audit text field is well-formed UTF-8 without control bytes: the hash chain separates fields with '\n',
 * and every reader (GET /audit, 'audit show', the console) turns it into JSON. */
static void sr_audit_text(char *dst, size_t cap, const char *src)
{
    sr_text_clean(dst, cap, src);
}

/* In place, through a copy: the field may be the source. */
static void sr_audit_field(char *field, size_t cap)
{
    char raw[256];
    snprintf(raw, sizeof(raw), "%s", field);
    sr_audit_text(field, cap, raw);
}

void sr_audit_row_clean(struct sr_audit_row *a)
{
    sr_audit_field(a->vault, sizeof(a->vault));
    sr_audit_field(a->actor, sizeof(a->actor));
    sr_audit_field(a->op, sizeof(a->op));
    sr_audit_field(a->target, sizeof(a->target));
    sr_audit_field(a->client, sizeof(a->client));
    sr_audit_field(a->reason, sizeof(a->reason));
}

void sr_audit_set_client(struct sr_audit_row *a, const char *client, const char *reason)
{
    sr_audit_text(a->client, sizeof(a->client), client);
    sr_audit_text(a->reason, sizeof(a->reason), reason);
}

static void sr_refusal_done(struct sr_commit *c)
{
    struct sr_vault_svc *svc = c->ctx;
    free(c);
    atomic_fetch_sub(&svc->refusals.in_flight, 1);
}

/* Queues one audit-only commit; the store frees nothing of it, so it is freed when done. */
static void sr_refusal_write(struct sr_vault_svc *svc, const struct sr_refusal_group *g, long long when,
                             long long count)
{
    struct sr_commit *c = malloc(sizeof(*c));
    if (c == NULL) {
        return; /* out of memory: the group's count stays for the next flush */
    }
    sr_commit_init(c);
    c->audited = true;
    struct sr_audit_row *a = &c->audit;
    a->time = when;
    a->status = g->status;
    a->count = count;
    memcpy(a->vault, g->vault, sizeof(a->vault));
    memcpy(a->actor, g->actor, sizeof(a->actor));
    snprintf(a->op, sizeof(a->op), "Authenticate");
    memcpy(a->client, g->client, sizeof(a->client));
    memcpy(a->reason, g->reason, sizeof(a->reason));
    c->done = sr_refusal_done;
    c->ctx = svc;
    atomic_fetch_add(&svc->refusals.in_flight, 1);
    svc->store->ops->submit(svc->store, c);
}

static bool sr_group_is(const struct sr_refusal_group *g, const struct sr_refusal_group *key)
{
    return strcmp(g->client, key->client) == 0 && strcmp(g->reason, key->reason) == 0 &&
           strcmp(g->vault, key->vault) == 0 && strcmp(g->actor, key->actor) == 0;
}

/* Writes the repeats of every group whose minute has ended (all of them when minute is LLONG_MAX), and
 * forgets those groups. Called with the lock held. */
static void sr_refusals_flush_locked(struct sr_vault_svc *svc, long long minute)
{
    struct sr_refusals *rf = &svc->refusals;
    size_t kept = 0;
    for (size_t i = 0; i < rf->ngroups; i++) {
        struct sr_refusal_group *g = &rf->groups[i];
        if (g->minute >= minute) {
            rf->groups[kept++] = *g;
            continue;
        }
        if (g->repeats > 0) {
            long long now = (long long)time(NULL), end = g->minute * 60 + 59;
            sr_refusal_write(svc, g, now < end ? now : end, g->repeats);
        }
    }
    rf->ngroups = kept;
}

void sr_vault_refused(struct sr_vault_svc *svc, const char *client, const char *vault, const char *actor,
                      const char *reason, enum sr_err why)
{
    struct sr_refusal_group key = {.status = sr_err_http_status(why)};
    sr_audit_text(key.client, sizeof(key.client), client);
    sr_audit_text(key.vault, sizeof(key.vault), vault);
    sr_audit_text(key.actor, sizeof(key.actor), actor);
    sr_audit_text(key.reason, sizeof(key.reason), reason);
    long long now = (long long)time(NULL);
    key.minute = now / 60;
    struct sr_refusals *rf = &svc->refusals;
    pthread_mutex_lock(&rf->lock);
    sr_refusals_flush_locked(svc, key.minute);
    struct sr_refusal_group *g = NULL;
    for (size_t i = 0; i < rf->ngroups && g == NULL; i++) {
        g = sr_group_is(&rf->groups[i], &key) ? &rf->groups[i] : NULL;
    }
    if (g == NULL && rf->ngroups == SR_REFUSAL_GROUPS - 1) {
        snprintf(key.client, sizeof(key.client), "*"); /* the last group counts every other client */
        key.vault[0] = key.actor[0] = 0;
        snprintf(key.reason, sizeof(key.reason), "refusals of more than %d clients", SR_REFUSAL_GROUPS - 1);
        for (size_t i = 0; i < rf->ngroups && g == NULL; i++) {
            g = sr_group_is(&rf->groups[i], &key) ? &rf->groups[i] : NULL;
        }
    }
    if (g != NULL) {
        g->repeats++;
    } else if (rf->ngroups < SR_REFUSAL_GROUPS) {
        rf->groups[rf->ngroups++] = key;
        sr_refusal_write(svc, &key, now, 1);
    }
    pthread_mutex_unlock(&rf->lock);
}

long long sr_refusals_recent(struct sr_vault_svc *svc, const char *client, const char *actor)
{
    static const char prefix[] = "client authentication";
    char want_client[48], want_actor[SR_MAX_TOKEN_NAME + 1];
    sr_audit_text(want_client, sizeof(want_client), client);
    sr_audit_text(want_actor, sizeof(want_actor), actor ? actor : "");
    long long minute = (long long)time(NULL) / 60, n = 0;
    struct sr_refusals *rf = &svc->refusals;
    pthread_mutex_lock(&rf->lock);
    for (size_t i = 0; i < rf->ngroups; i++) {
        const struct sr_refusal_group *g = &rf->groups[i];
        if (g->minute == minute && strcmp(g->client, want_client) == 0 &&
            strncmp(g->reason, prefix, sizeof(prefix) - 1) == 0 && (actor == NULL || strcmp(g->actor, want_actor) == 0)) {
            n += g->repeats + 1;
        }
    }
    pthread_mutex_unlock(&rf->lock);
    return n;
}

static void *sr_housekeeper(void *arg)
{
    struct sr_vault_svc *svc = arg;
    struct sr_refusals *rf = &svc->refusals;
    pthread_mutex_lock(&rf->lock);
    while (!rf->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_cond_timedwait(&rf->wake, &rf->lock, &until);
        sr_refusals_flush_locked(svc, (long long)time(NULL) / 60);
        pthread_mutex_unlock(&rf->lock);
        sr_rotation_tick(svc);
        sr_checkpoint_tick(svc);
        pthread_mutex_lock(&rf->lock);
    }
    pthread_mutex_unlock(&rf->lock);
    return NULL;
}

void sr_refusals_init(struct sr_vault_svc *svc)
{
    pthread_mutex_init(&svc->refusals.lock, NULL);
    pthread_cond_init(&svc->refusals.wake, NULL);
}

enum sr_err sr_vault_background_start(struct sr_vault_svc *svc, unsigned rotation_seconds,
                                      unsigned checkpoint_seconds)
{
    SR_ENSURE(!svc->refusals.running, SR_ERR_INTERNAL);
    svc->rotation_interval = rotation_seconds;
    svc->checkpoint_interval = checkpoint_seconds;
    svc->checkpoint_next = (long long)time(NULL) + checkpoint_seconds;
    SR_ENSURE(pthread_create(&svc->refusals.thread, NULL, sr_housekeeper, svc) == 0, SR_ERR_NOMEM);
    svc->refusals.running = true;
    return SR_OK;
}

void sr_refusals_finish(struct sr_vault_svc *svc)
{
    struct sr_refusals *rf = &svc->refusals;
    if (rf->running) {
        pthread_mutex_lock(&rf->lock);
        rf->stopping = true;
        pthread_cond_signal(&rf->wake);
        pthread_mutex_unlock(&rf->lock);
        pthread_join(rf->thread, NULL);
        rf->running = false;
    }
    /* Nothing counted is lost at shutdown: the open minute's repeats are written before the store closes. */
    pthread_mutex_lock(&rf->lock);
    sr_refusals_flush_locked(svc, __LONG_LONG_MAX__);
    pthread_mutex_unlock(&rf->lock);
    while (atomic_load(&rf->in_flight) > 0) {
        struct timespec ms = {.tv_nsec = 1000 * 1000};
        nanosleep(&ms, NULL);
    }
    pthread_cond_destroy(&rf->wake);
    pthread_mutex_destroy(&rf->lock);
}
