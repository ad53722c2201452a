/*
 * sqlite_internal.h - what sqlite.c (connections, statements, reads) and sqlite_writer.c (the group-commit
 * writer) share. One database file; one writer connection owned by the writer thread; a small pool of
 * reader connections, each used by one thread at a time, so that reads never wait on writes (WAL).
 * Every statement is prepared once per connection and kept.
 */
#ifndef SR_STORE_SQLITE_INTERNAL_H
#define SR_STORE_SQLITE_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>

#include <sqlite3.h>

#include "vault/store.h"

enum sr_stmt_id {
    SR_ST_REGION_EXISTS, SR_ST_REGION_EACH, SR_ST_VAULT_GET, SR_ST_VAULT_EACH, SR_ST_TOKEN_GET,
    SR_ST_KEY_LATEST, SR_ST_KEY_VERSION, SR_ST_KEY_LIST_LIVE, SR_ST_KEY_LIST_DELETED, SR_ST_KEY_VERSIONS,
    SR_ST_KEY_ALL_VERSIONS, SR_ST_AUDIT_EACH,
    /* the writer's */
    SR_ST_BEGIN, SR_ST_COMMIT, SR_ST_ROLLBACK, SR_ST_SAVEPOINT, SR_ST_RELEASE, SR_ST_ROLLBACK_TO,
    SR_ST_REGION_PUT, SR_ST_VAULT_PUT, SR_ST_TOKEN_PUT, SR_ST_NAME_ENSURE, SR_ST_NAME_DELETED_OF, SR_ST_KEY_INSERT,
    SR_ST_KEY_UPDATE, SR_ST_NAME_SET_DELETED, SR_ST_KEYS_PURGE, SR_ST_NAME_PURGE, SR_ST_NAME_POLICY,
    SR_ST_AUDIT_HEAD, SR_ST_AUDIT_INSERT,
    SR_ST_COUNT_
};

struct sr_lite_conn {
    sqlite3 *db;
    sqlite3_stmt *st[SR_ST_COUNT_];
    pthread_mutex_t lock; /* readers: held while one thread uses the connection */
};

#define SR_LITE_READERS 8

/* rowcache.c: key rows kept after a read, emptied by the writer at every change (see there). */
#define SR_ROWCACHE_SLOTS 256
#define SR_ROWCACHE_ID (SR_MAX_VAULT + SR_MAX_NAME + SR_VERSION_LEN + 3)

struct sr_rowcache_entry {
    bool used;
    char id[SR_ROWCACHE_ID]; /* vault/name/version, case-folded; version "" = the latest */
    struct sr_key_row key;
    struct sr_name_row name;
    unsigned long long last_used;
};

struct sr_rowcache {
    pthread_mutex_t lock;
    unsigned long long gen;   /* counts the writer's changes: a read that began before one is not kept */
    unsigned long long clock;
    struct sr_rowcache_entry slot[SR_ROWCACHE_SLOTS];
};

void sr_rowcache_init(struct sr_rowcache *c);
void sr_rowcache_release(struct sr_rowcache *c);
/* A copy of the cached row, or false; either way *ret_gen is the generation to give sr_rowcache_put. */
bool sr_rowcache_get(struct sr_rowcache *c, const char *vault, const char *name, const char *version,
                     struct sr_key_row *ret, struct sr_name_row *ret_name, unsigned long long *ret_gen);
/* Keeps a copy of a row read from the database, unless a change came since gen. */
void sr_rowcache_put(struct sr_rowcache *c, unsigned long long gen, const char *vault, const char *name,
                     const char *version, const struct sr_key_row *k, const struct sr_name_row *n);
/* The writer, after any change and before acknowledging it. */
void sr_rowcache_clear(struct sr_rowcache *c);

struct sr_sqlite {
    struct sr_store base;
    char path[SR_PATH_MAX];
    struct sr_lite_conn readers[SR_LITE_READERS];
    struct sr_lite_conn writer; /* used by the writer thread only (and by open/close) */
    pthread_t thread;
    pthread_mutex_t queue_lock;
    pthread_cond_t queue_cond;
    struct sr_commit *queue_head, *queue_tail;
    bool stopping;
    bool thread_started;
    unsigned fail_commits; /* fault injection for tests, under queue_lock */
    struct sr_rowcache rows;
};

/* Opens a connection to l->path (the file exists). */
SR_MUST_USE enum sr_err sr_lite_conn_open(struct sr_sqlite *l, struct sr_lite_conn *c, bool writer);
void sr_lite_conn_close(struct sr_lite_conn *c);
/* The connection's prepared statement id, reset and with its bindings cleared. */
SR_MUST_USE enum sr_err sr_lite_stmt(struct sr_lite_conn *c, enum sr_stmt_id id, sqlite3_stmt **ret);
/* Steps a statement that returns no row: SR_ERR_EXISTS on a constraint, SR_ERR_IO otherwise. */
SR_MUST_USE enum sr_err sr_lite_step_done(sqlite3_stmt *st);
void sr_lite_text(sqlite3_stmt *st, int col, char *out, size_t cap);

/* sqlite_writer.c */
SR_MUST_USE enum sr_err sr_lite_writer_start(struct sr_sqlite *l);
/* Commits everything queued, then stops the thread; later submits fail with SR_ERR_SHUTTING_DOWN. */
void sr_lite_writer_stop(struct sr_sqlite *l);
void sr_lite_submit(struct sr_store *s, struct sr_commit *c);

#endif
