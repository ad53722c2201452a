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

#include "store/groupcommit.h"
#include "vault/store.h"

enum sr_stmt_id {
    SR_ST_REGION_EXISTS, SR_ST_REGION_EACH, SR_ST_REGION_FILES, SR_ST_VAULT_GET, SR_ST_VAULT_EACH, SR_ST_TOKEN_GET, SR_ST_TOKEN_EACH,
    SR_ST_KEY_LATEST, SR_ST_KEY_VERSION, SR_ST_KEY_LIST_LIVE, SR_ST_KEY_LIST_DELETED, SR_ST_KEY_VERSIONS,
    SR_ST_KEY_ALL_VERSIONS, SR_ST_AUDIT_EACH, SR_ST_POLICY_EACH, SR_ST_AUTHORITY_GET, SR_ST_IDENT_GET, SR_ST_IDENT_EACH,
    /* the writer's */
    SR_ST_BEGIN, SR_ST_COMMIT, SR_ST_ROLLBACK, SR_ST_SAVEPOINT, SR_ST_RELEASE, SR_ST_ROLLBACK_TO,
    SR_ST_REGION_PUT, SR_ST_REGION_FILE_PUT, SR_ST_VAULT_PUT, SR_ST_TOKEN_PUT, SR_ST_TOKEN_REVOKE, SR_ST_NAME_ENSURE, SR_ST_NAME_DELETED_OF, SR_ST_KEY_INSERT,
    SR_ST_KEY_UPDATE, SR_ST_NAME_SET_DELETED, SR_ST_KEYS_PURGE, SR_ST_NAME_PURGE, SR_ST_NAME_POLICY,
    SR_ST_AUDIT_HEAD, SR_ST_AUDIT_INSERT, SR_ST_AUTHORITY_PUT, SR_ST_AUTHORITY_DELETE, SR_ST_IDENT_PUT, SR_ST_IDENT_DELETE,
    SR_ST_COUNT_
};

struct sr_lite_conn {
    sqlite3 *db;
    sqlite3_stmt *st[SR_ST_COUNT_];
    pthread_mutex_t lock; /* readers: held while one thread uses the connection */
};

#define SR_LITE_READERS 8

/* rowcache.c: rows kept after a read. Key rows are emptied by this process's writer at every change;
 * vault and token rows are kept while the change counter shared with other processes stands still. */
#define SR_ROWCACHE_SLOTS 256
#define SR_ROWCACHE_ID (SR_MAX_SPACE + SR_MAX_NAME + SR_VERSION_LEN + 4)

enum sr_cached { SR_CACHED_KEY, SR_CACHED_VAULT, SR_CACHED_TOKEN };

struct sr_rowcache_entry {
    bool used;
    enum sr_cached kind;
    char id[SR_ROWCACHE_ID];  /* kind, then vault/name/version (names case-folded), a vault or a token hash */
    unsigned long long gen;   /* vault and token rows: the shared count of finished changes they were read at */
    struct sr_key_row key;    /* SR_CACHED_KEY, with name */
    struct sr_name_row name;
    union {
        struct sr_vault_row vault;
        struct sr_token_row token;
    } conf;
    unsigned long long last_used;
};

struct sr_rowcache {
    pthread_mutex_t lock;
    unsigned long long gen;   /* counts the writer's key changes: a read that began before one is not kept */
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
/* The writer, after any key change and before acknowledging it. */
void sr_rowcache_clear(struct sr_rowcache *c);
/* A vault (by name) or token (by hash) row read at shared count `seen`: copied into row (size bytes). */
bool sr_rowcache_conf_get(struct sr_rowcache *c, enum sr_cached kind, const char *id, unsigned long long seen,
                          void *row, size_t size);
void sr_rowcache_conf_put(struct sr_rowcache *c, enum sr_cached kind, const char *id, unsigned long long seen,
                          const void *row, size_t size);

/* changes.c: the count of vault, token and region changes, shared by every process (see there). */
struct sr_change_counts;

struct sr_changes {
    int fd;
    struct sr_change_counts *counts; /* mapped shared */
    char path[SR_PATH_MAX + 16];
};

SR_MUST_USE enum sr_err sr_changes_open(struct sr_changes *ch, const char *db_path);
void sr_changes_close(struct sr_changes *ch);
/* Around a transaction that changes vaults, tokens or regions, whatever its outcome. */
void sr_changes_begin(struct sr_changes *ch);
void sr_changes_end(struct sr_changes *ch);
/* True, with the count of finished changes, when no change is being made (or was left half-made). */
bool sr_changes_settled(struct sr_changes *ch, unsigned long long *ret);

struct sr_sqlite {
    struct sr_store base;
    char path[SR_PATH_MAX];
    struct sr_lite_conn readers[SR_LITE_READERS];
    struct sr_lite_conn writer; /* used by the group-commit thread only (and by open/close) */
    struct sr_groupcommit gc;
    struct sr_rowcache rows;
    struct sr_changes changes;
    bool batch_counted; /* the writer's: its batch in flight is counted in changes */
};

/* Opens a connection to l->path (the file exists). */
SR_MUST_USE enum sr_err sr_lite_conn_open(struct sr_sqlite *l, struct sr_lite_conn *c, bool writer);
void sr_lite_conn_close(struct sr_lite_conn *c);
/* The connection's prepared statement id, reset and with its bindings cleared. */
SR_MUST_USE enum sr_err sr_lite_stmt(struct sr_lite_conn *c, enum sr_stmt_id id, sqlite3_stmt **ret);
/* Steps a statement that returns no row: SR_ERR_EXISTS on a constraint, SR_ERR_IO otherwise. */
SR_MUST_USE enum sr_err sr_lite_step_done(sqlite3_stmt *st);
void sr_lite_text(sqlite3_stmt *st, int col, char *out, size_t cap);

/* sqlite_writer.c: the SQL of group commit. */
extern const struct sr_gc_ops sr_lite_gc_ops;

#endif
