/*
 * sqlite.c - the embedded store: one SQLite database, DATA/vault.db, in WAL mode with synchronous=FULL,
 * so a commit is on disk before the API answers. Reads go through a pool of reader connections (WAL lets
 * them run beside the writer and each other) with statements prepared once per connection; writes go
 * through the group-commit writer (sqlite_writer.c). Other processes (operator commands) wait on
 * busy_timeout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fileio.h"
#include "base/json.h"
#include "store/rows.h"
#include "store/sqlite_internal.h"

/*
 * Versioned schema: each start applies, in order and once, the migrations the database lacks, recorded in
 * schema_migrations, inside one BEGIN IMMEDIATE (so two processes opening the store at once take turns).
 * Migration 1 is the schema as it was before versions were kept, written so that it also applies cleanly
 * to such a database.
 */
static const char *const sr_migrations[] = {
    "CREATE TABLE IF NOT EXISTS regions(name TEXT PRIMARY KEY COLLATE NOCASE, created INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS vaults(name TEXT PRIMARY KEY COLLATE NOCASE, region TEXT NOT NULL,"
    " subscription TEXT NOT NULL, created INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS tokens(hash TEXT PRIMARY KEY, role TEXT NOT NULL, vault TEXT NOT NULL,"
    " created INTEGER NOT NULL, expires INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS keys(seq INTEGER PRIMARY KEY AUTOINCREMENT, vault TEXT NOT NULL COLLATE NOCASE,"
    " name TEXT NOT NULL COLLATE NOCASE, version TEXT NOT NULL, kty TEXT NOT NULL, key_ops INTEGER NOT NULL,"
    " enabled INTEGER NOT NULL, nbf INTEGER NOT NULL, exp INTEGER NOT NULL, created INTEGER NOT NULL,"
    " updated INTEGER NOT NULL, tags TEXT NOT NULL, blob BLOB NOT NULL, UNIQUE(vault, name, version));"
    "CREATE TABLE IF NOT EXISTS names(vault TEXT NOT NULL COLLATE NOCASE, name TEXT NOT NULL COLLATE NOCASE,"
    " deleted INTEGER NOT NULL DEFAULT 0, purge_at INTEGER NOT NULL DEFAULT 0, policy TEXT,"
    " PRIMARY KEY(vault, name));"
    "CREATE TABLE IF NOT EXISTS audit(seq INTEGER PRIMARY KEY AUTOINCREMENT, time INTEGER NOT NULL,"
    " vault TEXT NOT NULL, actor TEXT NOT NULL, op TEXT NOT NULL, target TEXT NOT NULL, status INTEGER NOT NULL,"
    " prev TEXT NOT NULL, hash TEXT NOT NULL);"
    /* The latest version of a name is found through this index, not by sorting every version. */
    "CREATE INDEX IF NOT EXISTS keys_latest ON keys(vault, name, seq);",
    /* 2: a region's world, KEK and toolset in the store, so that another server can join the region. */
    "CREATE TABLE region_files(region TEXT NOT NULL COLLATE NOCASE, name TEXT NOT NULL, data BLOB NOT NULL,"
    " PRIMARY KEY(region, name));",
    /* 3: tokens get a label and can be revoked; their last use is found in the audit log by actor. */
    "ALTER TABLE tokens ADD COLUMN name TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE tokens ADD COLUMN revoked INTEGER NOT NULL DEFAULT 0;"
    "CREATE UNIQUE INDEX tokens_name ON tokens(name) WHERE name != '';"
    "CREATE INDEX audit_actor ON audit(actor, time);",
    /* 4: refusals are audited with the client's address and the reason; repeats are counted, not repeated. */
    "ALTER TABLE audit ADD COLUMN client TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE audit ADD COLUMN reason TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE audit ADD COLUMN count INTEGER NOT NULL DEFAULT 1;",
    /* 5: secure key release: a version's release policy (none: not exportable), a vault's trusted authorities. */
    "ALTER TABLE keys ADD COLUMN release_policy TEXT;"
    "CREATE TABLE authorities(vault TEXT NOT NULL COLLATE NOCASE, issuer TEXT NOT NULL, jwks TEXT NOT NULL,"
    " created INTEGER NOT NULL, PRIMARY KEY(vault, issuer));",
    /* 6: identity: applications, trusted issuers, role assignments, the token authority's signing keys. */
    "CREATE TABLE idents(kind TEXT NOT NULL, name TEXT NOT NULL COLLATE NOCASE, doc TEXT NOT NULL,"
    " PRIMARY KEY(kind, name));",
    /* 7: secrets: a row's own document (a secret's contentType) beside its sealed value. */
    "ALTER TABLE keys ADD COLUMN meta TEXT;",
};

static int sr_lite_version(void *ctx, int ncols, char **values, char **names)
{
    (void)names;
    *(long long *)ctx = ncols > 0 && values[0] ? strtoll(values[0], NULL, 10) : 0;
    return 0;
}

static enum sr_err sr_lite_migrate(sqlite3 *db)
{
    SR_ENSURE(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK, SR_ERR_IO);
    long long have = 0;
    int rc = sqlite3_exec(db, "CREATE TABLE IF NOT EXISTS schema_migrations(version INTEGER PRIMARY KEY,"
                              " applied INTEGER NOT NULL)", NULL, NULL, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_exec(db, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", sr_lite_version, &have, NULL);
    }
    enum sr_err r = rc == SQLITE_OK ? SR_OK : SR_ERR_IO;
    if (r == SR_OK && have > (long long)SR_ARRAY_LEN(sr_migrations)) {
        r = SR_ERR_STORE_NEWER;
    }
    for (size_t v = (size_t)have; r == SR_OK && v < SR_ARRAY_LEN(sr_migrations); v++) {
        char record[128];
        snprintf(record, sizeof(record), "INSERT INTO schema_migrations VALUES(%zu, strftime('%%s','now'))", v + 1);
        if (sqlite3_exec(db, sr_migrations[v], NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(db, record, NULL, NULL, NULL) != SQLITE_OK) {
            r = SR_ERR_IO;
        }
    }
    if (r == SR_OK && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        r = SR_ERR_IO;
    }
    if (r != SR_OK) {
        (void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    }
    return r;
}

#define SR_KEY_COLS "k.vault, k.name, k.version, k.kty, k.key_ops, k.enabled, k.nbf, k.exp, k.created, k.updated," \
                    " k.tags, k.blob, n.deleted, n.purge_at, n.policy, k.release_policy, k.meta"
#define SR_KEY_FROM " FROM keys k JOIN names n ON n.vault = k.vault AND n.name = k.name"
#define SR_KEY_LATEST " AND k.seq = (SELECT MAX(seq) FROM keys WHERE vault = k.vault AND name = k.name)"

/* Every statement of the store, by id: each connection prepares the ones it uses, once. */
static const char *const sr_sql[SR_ST_COUNT_] = {
    [SR_ST_REGION_EXISTS] = "SELECT 1 FROM regions WHERE name = ?",
    [SR_ST_REGION_EACH] = "SELECT name FROM regions ORDER BY name",
    [SR_ST_REGION_FILES] = "SELECT name, data FROM region_files WHERE region = ? ORDER BY name",
    [SR_ST_VAULT_GET] = "SELECT name, region, subscription, created FROM vaults WHERE name = ?",
    [SR_ST_VAULT_EACH] = "SELECT name, region, subscription, created FROM vaults ORDER BY name",
    [SR_ST_TOKEN_GET] = "SELECT hash, role, vault, created, expires, name, revoked, 0 FROM tokens WHERE hash = ?",
    [SR_ST_TOKEN_EACH] = "SELECT hash, role, vault, created, expires, name, revoked, (SELECT MAX(time) FROM audit WHERE actor = CASE WHEN t.name != '' THEN t.name ELSE 'tok:' || substr(t.hash, 1, 16) END AND status != 401)"
                         " FROM tokens t ORDER BY created, hash",
    [SR_ST_KEY_LATEST] = "SELECT " SR_KEY_COLS SR_KEY_FROM " WHERE k.vault = ?1 AND k.name = ?2"
                         " ORDER BY k.seq DESC LIMIT 1",
    [SR_ST_KEY_VERSION] = "SELECT " SR_KEY_COLS SR_KEY_FROM " WHERE k.vault = ?1 AND k.name = ?2 AND k.version = ?3",
    [SR_ST_KEY_LIST_LIVE] = "SELECT " SR_KEY_COLS SR_KEY_FROM " WHERE k.vault = ?1 AND n.deleted = 0" SR_KEY_LATEST
                            " ORDER BY k.name LIMIT ?2 OFFSET ?3",
    [SR_ST_KEY_LIST_DELETED] = "SELECT " SR_KEY_COLS SR_KEY_FROM " WHERE k.vault = ?1 AND n.deleted != 0"
                               SR_KEY_LATEST " ORDER BY k.name LIMIT ?2 OFFSET ?3",
    [SR_ST_KEY_VERSIONS] = "SELECT " SR_KEY_COLS SR_KEY_FROM " WHERE k.vault = ?1 AND k.name = ?2 AND n.deleted = 0"
                           " ORDER BY k.seq LIMIT ?3 OFFSET ?4",
    [SR_ST_KEY_ALL_VERSIONS] = "SELECT " SR_KEY_COLS SR_KEY_FROM " WHERE k.vault = ?1 AND k.name = ?2 ORDER BY k.seq",
    [SR_ST_AUDIT_EACH] = "SELECT seq, time, vault, actor, op, target, status, prev, hash, client, reason, count FROM audit ORDER BY seq",
    [SR_ST_POLICY_EACH] = "SELECT vault, name, policy FROM names WHERE policy IS NOT NULL AND deleted = 0"
                          " ORDER BY vault, name",
    [SR_ST_AUTHORITY_GET] = "SELECT jwks FROM authorities WHERE vault = ? AND issuer = ?",
    [SR_ST_IDENT_GET] = "SELECT doc FROM idents WHERE kind = ? AND name = ?",
    [SR_ST_IDENT_EACH] = "SELECT name, doc FROM idents WHERE kind = ? ORDER BY name",
    [SR_ST_BEGIN] = "BEGIN IMMEDIATE",
    [SR_ST_COMMIT] = "COMMIT",
    [SR_ST_ROLLBACK] = "ROLLBACK",
    [SR_ST_SAVEPOINT] = "SAVEPOINT one_commit",
    [SR_ST_RELEASE] = "RELEASE one_commit",
    [SR_ST_ROLLBACK_TO] = "ROLLBACK TO one_commit",
    [SR_ST_REGION_PUT] = "INSERT INTO regions(name, created) VALUES(?, ?)",
    [SR_ST_REGION_FILE_PUT] = "INSERT INTO region_files(region, name, data) VALUES(?, ?, ?)",
    [SR_ST_VAULT_PUT] = "INSERT INTO vaults(name, region, subscription, created) VALUES(?, ?, ?, ?)",
    [SR_ST_TOKEN_PUT] = "INSERT INTO tokens(hash, role, vault, created, expires, name) VALUES(?, ?, ?, ?, ?, ?)",
    [SR_ST_TOKEN_REVOKE] = "UPDATE tokens SET revoked = ?2 WHERE revoked = 0 AND (name = ?1 OR substr(hash, 1, 16) = ?1)",
    [SR_ST_NAME_ENSURE] = "INSERT INTO names(vault, name) VALUES(?, ?) ON CONFLICT DO NOTHING",
    [SR_ST_NAME_DELETED_OF] = "SELECT deleted FROM names WHERE vault = ? AND name = ?",
    [SR_ST_KEY_INSERT] = "INSERT INTO keys(vault, name, version, kty, key_ops, enabled, nbf, exp, created, updated,"
                         " tags, blob, release_policy, meta) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    [SR_ST_KEY_UPDATE] = "UPDATE keys SET key_ops = ?, enabled = ?, nbf = ?, exp = ?, updated = ?, tags = ?,"
                         " release_policy = ?, meta = ? WHERE vault = ? AND name = ? AND version = ?",
    [SR_ST_NAME_SET_DELETED] = "UPDATE names SET deleted = ?3, purge_at = ?4 WHERE vault = ?1 AND name = ?2",
    [SR_ST_KEYS_PURGE] = "DELETE FROM keys WHERE vault = ?1 AND name = ?2",
    [SR_ST_NAME_PURGE] = "DELETE FROM names WHERE vault = ?1 AND name = ?2",
    [SR_ST_NAME_POLICY] = "UPDATE names SET policy = ?3 WHERE vault = ?1 AND name = ?2 AND deleted = 0",
    [SR_ST_AUDIT_HEAD] = "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
    [SR_ST_AUDIT_INSERT] = "INSERT INTO audit(seq, time, vault, actor, op, target, status, prev, hash, client,"
                           " reason, count) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    [SR_ST_AUTHORITY_PUT] = "INSERT INTO authorities(vault, issuer, jwks, created) VALUES(?1, ?2, ?3, ?4)"
                            " ON CONFLICT(vault, issuer) DO UPDATE SET jwks = ?3",
    [SR_ST_AUTHORITY_DELETE] = "DELETE FROM authorities WHERE vault = ?1 AND issuer = ?2",
    [SR_ST_IDENT_PUT] = "INSERT INTO idents(kind, name, doc) VALUES(?1, ?2, ?3) ON CONFLICT(kind, name) DO UPDATE SET doc = ?3",
    [SR_ST_IDENT_DELETE] = "DELETE FROM idents WHERE kind = ?1 AND name = ?2",
};

static struct sr_sqlite *sr_lite(struct sr_store *s)
{
    return (struct sr_sqlite *)s;
}

enum sr_err sr_lite_conn_open(struct sr_sqlite *l, struct sr_lite_conn *c, bool writer)
{
    /* NOMUTEX: a connection is only ever used by one thread at a time (the pool's lock, or the writer). */
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (writer ? SQLITE_OPEN_CREATE : 0);
    if (sqlite3_open_v2(l->path, &c->db, flags, NULL) != SQLITE_OK) {
        sr_lite_conn_close(c);
        return SR_ERR_IO;
    }
    sqlite3_busy_timeout(c->db, 10000);
    /* WAL + FULL: a committed transaction survives power loss before we answer. */
    const char *pragmas = writer ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                                 : "PRAGMA query_only=1; PRAGMA cache_size=-1024;";
    if (sqlite3_exec(c->db, pragmas, NULL, NULL, NULL) != SQLITE_OK) {
        sr_lite_conn_close(c);
        return SR_ERR_IO;
    }
    return SR_OK;
}

void sr_lite_conn_close(struct sr_lite_conn *c)
{
    for (size_t i = 0; i < SR_ST_COUNT_; i++) {
        sqlite3_finalize(c->st[i]);
        c->st[i] = NULL;
    }
    sqlite3_close(c->db);
    c->db = NULL;
}

enum sr_err sr_lite_stmt(struct sr_lite_conn *c, enum sr_stmt_id id, sqlite3_stmt **ret)
{
    if (c->st[id] == NULL) {
        SR_ENSURE(sqlite3_prepare_v3(c->db, sr_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &c->st[id], NULL) ==
                      SQLITE_OK,
                  SR_ERR_IO);
    }
    sqlite3_reset(c->st[id]);
    sqlite3_clear_bindings(c->st[id]);
    *ret = c->st[id];
    return SR_OK;
}

enum sr_err sr_lite_step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    SR_ENSURE(rc != SQLITE_CONSTRAINT, SR_ERR_EXISTS);
    SR_ENSURE(rc == SQLITE_DONE, SR_ERR_IO);
    return SR_OK;
}

void sr_lite_text(sqlite3_stmt *st, int col, char *out, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    size_t n = t != NULL ? (size_t)sqlite3_column_bytes(st, col) : 0;
    n = n < cap ? n : cap - 1; /* cut to fit, as snprintf would: every caller's column is bounded by its buffer */
    memcpy(out, t != NULL ? (const char *)t : "", n);
    out[n] = 0;
}

/* --- reads: one pooled connection per read, its statement reset when done --- */

struct sr_read {
    struct sr_lite_conn *conn;
    sqlite3_stmt *st;
};

/* Takes a free reader (any that is not busy, else waits for one), opening it on first use. */
static enum sr_err sr_read_begin(struct sr_store *s, enum sr_stmt_id id, struct sr_read *ret)
{
    struct sr_sqlite *l = sr_lite(s);
    /* Threads spread over the pool by a hash of their id, so each mostly finds "its" reader free. */
    size_t start = (size_t)(((uint64_t)pthread_self() * 0x9E3779B97F4A7C15ull) >> 32) % SR_LITE_READERS;
    struct sr_lite_conn *c = NULL;
    for (size_t i = 0; i < SR_LITE_READERS && c == NULL; i++) {
        struct sr_lite_conn *try = &l->readers[(start + i) % SR_LITE_READERS];
        if (pthread_mutex_trylock(&try->lock) == 0) {
            c = try;
        }
    }
    if (c == NULL) {
        c = &l->readers[start];
        pthread_mutex_lock(&c->lock);
    }
    enum sr_err r = c->db == NULL ? sr_lite_conn_open(l, c, false) : SR_OK;
    if (r == SR_OK) {
        r = sr_lite_stmt(c, id, &ret->st);
    }
    if (r != SR_OK) {
        pthread_mutex_unlock(&c->lock);
        return r;
    }
    ret->conn = c;
    return SR_OK;
}

/* Ends the statement's read transaction at once (so checkpoints are never held back) and frees the reader. */
static void sr_read_end(struct sr_read *rd)
{
    if (rd->conn != NULL) {
        sqlite3_reset(rd->st);
        sqlite3_clear_bindings(rd->st);
        pthread_mutex_unlock(&rd->conn->lock);
        rd->conn = NULL;
    }
}
#define SR_AUTO_READ SR_AUTO(sr_read_end)

/* Steps a query expected to yield at most one row: SR_OK with a row, SR_ERR_NOT_FOUND without. */
static enum sr_err sr_read_one(struct sr_read *rd)
{
    int rc = sqlite3_step(rd->st);
    SR_ENSURE(rc == SQLITE_ROW || rc == SQLITE_DONE, SR_ERR_IO);
    return rc == SQLITE_ROW ? SR_OK : SR_ERR_NOT_FOUND;
}

static enum sr_err sr_lite_region_exists(struct sr_store *s, const char *name)
{
    SR_AUTO_READ struct sr_read rd = {0};
    SR_TRY(sr_read_begin(s, SR_ST_REGION_EXISTS, &rd));
    sqlite3_bind_text(rd.st, 1, name, -1, SQLITE_STATIC);
    return sr_read_one(&rd);
}

static enum sr_err sr_lite_region_each(struct sr_store *s, enum sr_err (*fn)(void *ctx, const char *name), void *ctx)
{
    SR_AUTO_READ struct sr_read rd = {0};
    SR_TRY(sr_read_begin(s, SR_ST_REGION_EACH, &rd));
    int rc;
    while ((rc = sqlite3_step(rd.st)) == SQLITE_ROW) {
        char name[SR_MAX_REGION + 1];
        sr_lite_text(rd.st, 0, name, sizeof(name));
        SR_TRY(fn(ctx, name));
    }
    SR_ENSURE(rc == SQLITE_DONE, SR_ERR_IO);
    return SR_OK;
}

static enum sr_err sr_lite_region_files(struct sr_store *s, const char *region, sr_region_file_fn fn, void *ctx)
{
    SR_AUTO_READ struct sr_read rd = {0};
    SR_TRY(sr_read_begin(s, SR_ST_REGION_FILES, &rd));
    sqlite3_bind_text(rd.st, 1, region, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(rd.st)) == SQLITE_ROW) {
        SR_TRY(fn(ctx, (const char *)sqlite3_column_text(rd.st, 0), sqlite3_column_blob(rd.st, 1),
                  (size_t)sqlite3_column_bytes(rd.st, 1)));
    }
    SR_ENSURE(rc == SQLITE_DONE, SR_ERR_IO);
    return SR_OK;
}

static void sr_read_vault(sqlite3_stmt *st, struct sr_vault_row *v)
{
    sr_lite_text(st, 0, v->name, sizeof(v->name));
    sr_lite_text(st, 1, v->region, sizeof(v->region));
    sr_lite_text(st, 2, v->subscription, sizeof(v->subscription));
    v->created = sqlite3_column_int64(st, 3);
}

static enum sr_err sr_lite_vault_read(struct sr_store *s, const char *name, void *ret)
{
    SR_AUTO_READ struct sr_read rd = {0};
    SR_TRY(sr_read_begin(s, SR_ST_VAULT_GET, &rd));
    sqlite3_bind_text(rd.st, 1, name, -1, SQLITE_STATIC);
    SR_TRY(sr_read_one(&rd));
    sr_read_vault(rd.st, ret);
    return SR_OK;
}

/* A vault or token row, from the cache while no process has changed such rows since it was read. */
static enum sr_err sr_lite_conf_get(struct sr_store *s, enum sr_cached kind, const char *key, void *ret,
                                    size_t size, enum sr_err (*read)(struct sr_store *s, const char *key, void *ret))
{
    struct sr_sqlite *l = sr_lite(s);
    unsigned long long seen = 0, after = 0;
    bool settled = sr_changes_settled(&l->changes, &seen);
    if (settled && sr_rowcache_conf_get(&l->rows, kind, key, seen, ret, size)) {
        return SR_OK;
    }
    SR_TRY(read(s, key, ret));
    if (settled && sr_changes_settled(&l->changes, &after) && after == seen) {
        sr_rowcache_conf_put(&l->rows, kind, key, seen, ret, size);
    }
    return SR_OK;
}

static enum sr_err sr_lite_vault_get(struct sr_store *s, const char *name, struct sr_vault_row *ret)
{
    return sr_lite_conf_get(s, SR_CACHED_VAULT, name, ret, sizeof(*ret), sr_lite_vault_read);
}

static enum sr_err sr_lite_vault_each(struct sr_store *s, sr_vault_row_fn fn, void *ctx)
{
    SR_AUTO_READ struct sr_read rd = {0};
    SR_TRY(sr_read_begin(s, SR_ST_VAULT_EACH, &rd));
    int rc;
    while ((rc = sqlite3_step(rd.st)) == SQLITE_ROW) {
        struct sr_vault_row v;
        sr_read_vault(rd.st, &v);
        SR_TRY(fn(ctx, &v));
    }
    SR_ENSURE(rc == SQLITE_DONE, SR_ERR_IO);
    return SR_OK;
}

static void sr_read_token(sqlite3_stmt *st, struct sr_token_row *t)
{
    sr_lite_text(st, 0, t->hash, sizeof(t->hash));
    sr_lite_text(st, 1, t->role, sizeof(t->role));
    sr_lite_text(st, 2, t->vault, sizeof(t->vault));
    t->created = sqlite3_column_int64(st, 3);
    t->expires = sqlite3_column_int64(st, 4);
    sr_lite_text(st, 5, t->name, sizeof(t->name));
    t->revoked = sqlite3_column_int64(st, 6);
    t->last_used = sqlite3_column_int64(st, 7);
}

static enum sr_err sr_lite_token_read(struct sr_store *s, const char *hash, void *row)
{
    SR_AUTO_READ struct sr_read rd = {0};
    SR_TRY(sr_read_begin(s, SR_ST_TOKEN_GET, &rd));
    sqlite3_bind_text(rd.st, 1, hash, -1, SQLITE_STATIC);
    SR_TRY(sr_read_one(&rd));
    sr_read_token(rd.st, row);
    return SR_OK;
}

static enum sr_err sr_lite_token_each(struct sr_store *s, enum sr_err (*fn)(void *ctx, const struct sr_token_row *t),
                                      void *ctx)
{
    SR_AUTO_READ struct sr_read rd = {0};
    SR_TRY(sr_read_begin(s, SR_ST_TOKEN_EACH, &rd));
    int rc;
    while ((rc = sqlite3_step(rd.st)) == SQLITE_ROW) {
        struct sr_token_row t;
        sr_read_token(rd.st, &t);
        SR_TRY(fn(ctx, &t));
    }
    SR_ENSURE(rc == SQLITE_DONE, SR_ERR_IO);
    return SR_OK;
}

static enum sr_err sr_lite_token_get(struct sr_store *s, const char *hash, struct sr_token_row *ret)
{
    return sr_lite_conf_get(s, SR_CACHED_TOKEN, hash, ret, sizeof(*ret), sr_lite_token_read);
}

static enum sr_err sr_read_key(sqlite3_stmt *st, struct sr_key_row *k, struct sr_name_row *n)
{
    memset(k, 0, sizeof(*k));
    memset(n, 0, sizeof(*n));
    sr_lite_text(st, 0, k->vault, sizeof(k->vault));
    sr_lite_text(st, 1, k->name, sizeof(k->name));
    sr_lite_text(st, 2, k->version, sizeof(k->version));
    sr_lite_text(st, 3, k->kty, sizeof(k->kty));
    k->key_ops = (unsigned)sqlite3_column_int64(st, 4);
    k->enabled = sqlite3_column_int(st, 5) != 0;
    k->nbf = sqlite3_column_int64(st, 6);
    k->exp = sqlite3_column_int64(st, 7);
    k->created = sqlite3_column_int64(st, 8);
    k->updated = sqlite3_column_int64(st, 9);
    n->deleted = sqlite3_column_int64(st, 12);
    n->purge_at = sqlite3_column_int64(st, 13);
    return sr_rows_decode(k, n, (const char *)sqlite3_column_text(st, 10), (const char *)sqlite3_column_text(st, 14),
                          (const char *)sqlite3_column_text(st, 15), (const char *)sqlite3_column_text(st, 16),
                          sqlite3_column_blob(st, 11),
                          (size_t)sqlite3_column_bytes(st, 11));
}

static enum sr_err sr_lite_key_read(struct sr_store *s, const char *vault, const char *name, const char *version,
                                    struct sr_key_row *ret, struct sr_name_row *ret_name)
{
    bool latest = version == NULL || *version == 0;
    SR_AUTO_READ struct sr_read rd = {0};
    SR_TRY(sr_read_begin(s, latest ? SR_ST_KEY_LATEST : SR_ST_KEY_VERSION, &rd));
    sqlite3_bind_text(rd.st, 1, vault, -1, SQLITE_STATIC);
    sqlite3_bind_text(rd.st, 2, name, -1, SQLITE_STATIC);
    if (!latest) {
        sqlite3_bind_text(rd.st, 3, version, -1, SQLITE_STATIC);
    }
    SR_TRY(sr_read_one(&rd));
    return sr_read_key(rd.st, ret, ret_name);
}

static enum sr_err sr_lite_key_get(struct sr_store *s, const char *vault, const char *name, const char *version,
                                   bool deleted_ok, struct sr_key_row *ret, struct sr_name_row *ret_name)
{
    struct sr_sqlite *l = sr_lite(s);
    const char *v = version != NULL && *version != 0 ? version : NULL;
    struct sr_name_row n;
    unsigned long long gen = 0;
    if (!sr_rowcache_get(&l->rows, vault, name, v, ret, &n, &gen)) {
        SR_TRY(sr_lite_key_read(s, vault, name, v, ret, &n));
        sr_rowcache_put(&l->rows, gen, vault, name, v, ret, &n);
    }
    return sr_rows_hand_over(ret, &n, deleted_ok, ret_name);
}

static enum sr_err sr_each_row(struct sr_read *rd, sr_key_row_fn fn, void *ctx)
{
    int rc;
    while ((rc = sqlite3_step(rd->st)) == SQLITE_ROW) {
        struct sr_key_row k;
        struct sr_name_row n;
        SR_TRY(sr_read_key(rd->st, &k, &n));
        enum sr_err r = fn(ctx, &k, &n);
        sr_key_row_release(&k);
        sr_name_row_release(&n);
        SR_TRY(r);
    }
    SR_ENSURE(rc == SQLITE_DONE, SR_ERR_IO);
    return SR_OK;
}

static enum sr_err sr_lite_key_list(struct sr_store *s, const char *vault, bool deleted, unsigned offset,
                                    unsigned limit, sr_key_row_fn fn, void *ctx)
{
    SR_AUTO_READ struct sr_read rd = {0};
    SR_TRY(sr_read_begin(s, deleted ? SR_ST_KEY_LIST_DELETED : SR_ST_KEY_LIST_LIVE, &rd));
    sqlite3_bind_text(rd.st, 1, vault, -1, SQLITE_STATIC);
    sqlite3_bind_int64(rd.st, 2, limit);
    sqlite3_bind_int64(rd.st, 3, offset);
    return sr_each_row(&rd, fn, ctx);
}

static enum sr_err sr_lite_key_versions(struct sr_store *s, const char *vault, const char *name, unsigned offset,
                                        unsigned limit, sr_key_row_fn fn, void *ctx)
{
    SR_AUTO_READ struct sr_read rd = {0};
    SR_TRY(sr_read_begin(s, SR_ST_KEY_VERSIONS, &rd));
    sqlite3_bind_text(rd.st, 1, vault, -1, SQLITE_STATIC);
    sqlite3_bind_text(rd.st, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(rd.st, 3, limit);
    sqlite3_bind_int64(rd.st, 4, offset);
    return sr_each_row(&rd, fn, ctx);
}

static enum sr_err sr_lite_key_all_versions(struct sr_store *s, const char *vault, const char *name,
                                            sr_key_row_fn fn, void *ctx)
{
    SR_AUTO_READ struct sr_read rd = {0};
    SR_TRY(sr_read_begin(s, SR_ST_KEY_ALL_VERSIONS, &rd));
    sqlite3_bind_text(rd.st, 1, vault, -1, SQLITE_STATIC);
    sqlite3_bind_text(rd.st, 2, name, -1, SQLITE_STATIC);
    return sr_each_row(&rd, fn, ctx);
}

static enum sr_err sr_lite_audit_each(struct sr_store *s, sr_audit_row_fn fn, void *ctx)
{
    SR_AUTO_READ struct sr_read rd = {0};
    SR_TRY(sr_read_begin(s, SR_ST_AUDIT_EACH, &rd));
    int rc;
    while ((rc = sqlite3_step(rd.st)) == SQLITE_ROW) {
        struct sr_audit_row a = {0};
        a.seq = sqlite3_column_int64(rd.st, 0);
        a.time = sqlite3_column_int64(rd.st, 1);
        sr_lite_text(rd.st, 2, a.vault, sizeof(a.vault));
        sr_lite_text(rd.st, 3, a.actor, sizeof(a.actor));
        sr_lite_text(rd.st, 4, a.op, sizeof(a.op));
        sr_lite_text(rd.st, 5, a.target, sizeof(a.target));
        a.status = sqlite3_column_int(rd.st, 6);
        sr_lite_text(rd.st, 7, a.prev, sizeof(a.prev));
        sr_lite_text(rd.st, 8, a.hash, sizeof(a.hash));
        sr_lite_text(rd.st, 9, a.client, sizeof(a.client));
        sr_lite_text(rd.st, 10, a.reason, sizeof(a.reason));
        a.count = sqlite3_column_int64(rd.st, 11);
        SR_TRY(fn(ctx, &a));
    }
    SR_ENSURE(rc == SQLITE_DONE, SR_ERR_IO);
    return SR_OK;
}

static enum sr_err sr_lite_authority_get(struct sr_store *s, const char *vault, const char *issuer, json_t **ret_jwks)
{
    SR_AUTO_READ struct sr_read rd = {0};
    SR_TRY(sr_read_begin(s, SR_ST_AUTHORITY_GET, &rd));
    sqlite3_bind_text(rd.st, 1, vault, -1, SQLITE_STATIC);
    sqlite3_bind_text(rd.st, 2, issuer, -1, SQLITE_STATIC);
    SR_TRY(sr_read_one(&rd));
    *ret_jwks = json_loads((const char *)sqlite3_column_text(rd.st, 0), 0, NULL);
    SR_ENSURE(*ret_jwks != NULL, SR_ERR_IO);
    return SR_OK;
}

static enum sr_err sr_lite_ident_get(struct sr_store *s, const char *kind, const char *name, json_t **ret)
{
    SR_AUTO_READ struct sr_read rd = {0};
    SR_TRY(sr_read_begin(s, SR_ST_IDENT_GET, &rd));
    sqlite3_bind_text(rd.st, 1, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(rd.st, 2, name, -1, SQLITE_STATIC);
    SR_TRY(sr_read_one(&rd));
    *ret = json_loads((const char *)sqlite3_column_text(rd.st, 0), 0, NULL);
    SR_ENSURE(*ret != NULL, SR_ERR_IO);
    return SR_OK;
}

static enum sr_err sr_lite_ident_each(struct sr_store *s, const char *kind, sr_ident_fn fn, void *ctx)
{
    SR_AUTO_READ struct sr_read rd = {0};
    SR_TRY(sr_read_begin(s, SR_ST_IDENT_EACH, &rd));
    sqlite3_bind_text(rd.st, 1, kind, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(rd.st)) == SQLITE_ROW) {
        SR_AUTO_JSON json_t *doc = json_loads((const char *)sqlite3_column_text(rd.st, 1), 0, NULL);
        SR_ENSURE(doc != NULL, SR_ERR_IO);
        SR_TRY(fn(ctx, (const char *)sqlite3_column_text(rd.st, 0), doc));
    }
    SR_ENSURE(rc == SQLITE_DONE, SR_ERR_IO);
    return SR_OK;
}

static bool sr_lite_conf_generation(struct sr_store *s, unsigned long long *ret)
{
    return sr_changes_settled(&sr_lite(s)->changes, ret);
}

static enum sr_err sr_lite_policy_each(struct sr_store *s, sr_policy_row_fn fn, void *ctx)
{
    SR_AUTO_READ struct sr_read rd = {0};
    SR_TRY(sr_read_begin(s, SR_ST_POLICY_EACH, &rd));
    int rc;
    while ((rc = sqlite3_step(rd.st)) == SQLITE_ROW) {
        char vault[SR_MAX_VAULT + 1], name[SR_MAX_NAME + 1];
        sr_lite_text(rd.st, 0, vault, sizeof(vault));
        sr_lite_text(rd.st, 1, name, sizeof(name));
        SR_AUTO_JSON json_t *policy = json_loads((const char *)sqlite3_column_text(rd.st, 2), 0, NULL);
        SR_ENSURE(policy != NULL, SR_ERR_IO);
        SR_TRY(fn(ctx, vault, name, policy));
    }
    SR_ENSURE(rc == SQLITE_DONE, SR_ERR_IO);
    return SR_OK;
}

static void sr_lite_close(struct sr_store *s)
{
    if (s == NULL) {
        return;
    }
    struct sr_sqlite *l = sr_lite(s);
    sr_gc_stop(&l->gc);
    for (size_t i = 0; i < SR_LITE_READERS; i++) {
        sr_lite_conn_close(&l->readers[i]);
        pthread_mutex_destroy(&l->readers[i].lock);
    }
    sr_lite_conn_close(&l->writer);
    sr_rowcache_release(&l->rows);
    sr_changes_close(&l->changes);
    sr_gc_release(&l->gc);
    free(l);
}

static void sr_lite_fail_commits(struct sr_store *s, unsigned n)
{
    sr_gc_fail_commits(&sr_lite(s)->gc, n);
}

static void sr_lite_submit(struct sr_store *s, struct sr_commit *c)
{
    sr_gc_submit(&sr_lite(s)->gc, c);
}

static const struct sr_store_ops sr_sqlite_ops = {
    .close = sr_lite_close,
    .submit = sr_lite_submit,
    .region_exists = sr_lite_region_exists,
    .region_each = sr_lite_region_each,
    .region_files = sr_lite_region_files,
    .vault_get = sr_lite_vault_get,
    .vault_each = sr_lite_vault_each,
    .token_get = sr_lite_token_get,
    .token_each = sr_lite_token_each,
    .key_get = sr_lite_key_get,
    .key_list = sr_lite_key_list,
    .key_versions = sr_lite_key_versions,
    .key_all_versions = sr_lite_key_all_versions,
    .audit_each = sr_lite_audit_each,
    .authority_get = sr_lite_authority_get,
    .ident_get = sr_lite_ident_get,
    .ident_each = sr_lite_ident_each,
    .conf_generation = sr_lite_conf_generation,
    .policy_each = sr_lite_policy_each,
    .fail_commits = sr_lite_fail_commits,
};

/* Made 0600 before SQLite opens it: its -wal and -shm files take the database file's mode. */
static enum sr_err sr_lite_file(const char *data_dir, char *path, size_t cap)
{
    SR_TRY(sr_dir_make(data_dir));
    SR_TRY(sr_path_join(path, cap, data_dir, "vault.db"));
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    SR_ENSURE(fd >= 0, SR_ERR_IO);
    int mode_ok = fchmod(fd, 0600) == 0;
    close(fd);
    SR_ENSURE(mode_ok, SR_ERR_IO);
    return SR_OK;
}

enum sr_err sr_store_sqlite_open(const char *data_dir, struct sr_store **ret)
{
    struct sr_sqlite *l = calloc(1, sizeof(*l));
    SR_ENSURE(l != NULL, SR_ERR_NOMEM);
    l->base.ops = &sr_sqlite_ops;
    l->changes.fd = -1;
    for (size_t i = 0; i < SR_LITE_READERS; i++) {
        pthread_mutex_init(&l->readers[i].lock, NULL);
    }
    sr_gc_init(&l->gc, &sr_lite_gc_ops, l);
    sr_rowcache_init(&l->rows);
    enum sr_err r = sr_lite_file(data_dir, l->path, sizeof(l->path));
    if (r == SR_OK) {
        r = sr_changes_open(&l->changes, l->path);
    }
    if (r == SR_OK) {
        r = sr_lite_conn_open(l, &l->writer, true);
    }
    if (r == SR_OK) {
        r = sr_lite_migrate(l->writer.db);
    }
    if (r == SR_OK) {
        r = sr_gc_start(&l->gc);
    }
    if (r != SR_OK) {
        sr_lite_close(&l->base);
        return r;
    }
    *ret = &l->base;
    return SR_OK;
}

enum sr_err sr_store_sqlite_snapshot(const char *data_dir, const char *dest_path)
{
    char src_path[SR_PATH_MAX];
    SR_TRY(sr_path_join(src_path, sizeof(src_path), data_dir, "vault.db"));
    SR_ENSURE(sr_file_exists(src_path), SR_ERR_NOT_FOUND);
    sqlite3 *src = NULL, *dst = NULL;
    enum sr_err r = SR_ERR_IO;
    if (sqlite3_open_v2(src_path, &src, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK &&
        sqlite3_open_v2(dest_path, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) == SQLITE_OK) {
        sqlite3_busy_timeout(src, 30000);
        sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
        int rc = b ? sqlite3_backup_step(b, -1) : SQLITE_ERROR;
        r = b && sqlite3_backup_finish(b) == SQLITE_OK && rc == SQLITE_DONE ? SR_OK : SR_ERR_IO;
    }
    if (dst != NULL && sqlite3_close(dst) != SQLITE_OK) {
        r = SR_ERR_IO;
    }
    sqlite3_close(src);
    return r;
}
