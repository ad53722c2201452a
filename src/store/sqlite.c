/*
 * sqlite.c - the embedded store: one SQLite database, DATA/vault.db, in WAL
 * mode with synchronous=FULL, so a write is on disk before the API says so.
 * One connection in serialized mode, plus a mutex around multi-statement
 * transactions; other processes (operator commands) wait on busy_timeout.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "base/fileio.h"
#include "vault/store.h"

struct sr_sqlite {
    struct sr_store base;
    sqlite3 *db;
    pthread_mutex_t lock;
};

static const char sr_schema[] =
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
    " prev TEXT NOT NULL, hash TEXT NOT NULL);";

static struct sr_sqlite *sr_lite(struct sr_store *s)
{
    return (struct sr_sqlite *)s;
}

SR_DEFINE_CLEANUP(sr_stmt_finalizep, sqlite3_stmt, sqlite3_finalize)
#define SR_AUTO_STMT SR_AUTO(sr_stmt_finalizep)

static enum sr_err sr_prepare(struct sr_store *s, const char *sql, sqlite3_stmt **ret)
{
    SR_ENSURE(sqlite3_prepare_v2(sr_lite(s)->db, sql, -1, ret, NULL) == SQLITE_OK, SR_ERR_IO);
    return SR_OK;
}

static void sr_text(sqlite3_stmt *st, int col, char *out, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    snprintf(out, cap, "%s", t ? (const char *)t : "");
}

static enum sr_err sr_step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    SR_ENSURE(rc != SQLITE_CONSTRAINT, SR_ERR_EXISTS);
    SR_ENSURE(rc == SQLITE_DONE, SR_ERR_IO);
    return SR_OK;
}

static void sr_lite_close(struct sr_store *s)
{
    if (s == NULL) {
        return;
    }
    sqlite3_close(sr_lite(s)->db);
    pthread_mutex_destroy(&sr_lite(s)->lock);
    free(s);
}

static enum sr_err sr_lite_region_put(struct sr_store *s, const char *name, long long created)
{
    SR_AUTO_STMT sqlite3_stmt *st = NULL;
    SR_TRY(sr_prepare(s, "INSERT INTO regions(name, created) VALUES(?, ?)", &st));
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, created);
    return sr_step_done(st);
}

static enum sr_err sr_lite_region_exists(struct sr_store *s, const char *name)
{
    SR_AUTO_STMT sqlite3_stmt *st = NULL;
    SR_TRY(sr_prepare(s, "SELECT 1 FROM regions WHERE name = ?", &st));
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    SR_ENSURE(rc == SQLITE_ROW || rc == SQLITE_DONE, SR_ERR_IO);
    return rc == SQLITE_ROW ? SR_OK : SR_ERR_NOT_FOUND;
}

static enum sr_err sr_lite_region_each(struct sr_store *s, enum sr_err (*fn)(void *ctx, const char *name), void *ctx)
{
    SR_AUTO_STMT sqlite3_stmt *st = NULL;
    SR_TRY(sr_prepare(s, "SELECT name FROM regions ORDER BY name", &st));
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        char name[SR_MAX_REGION + 1];
        sr_text(st, 0, name, sizeof(name));
        SR_TRY(fn(ctx, name));
    }
    SR_ENSURE(rc == SQLITE_DONE, SR_ERR_IO);
    return SR_OK;
}

static enum sr_err sr_lite_vault_put(struct sr_store *s, const struct sr_vault_row *v)
{
    SR_AUTO_STMT sqlite3_stmt *st = NULL;
    SR_TRY(sr_prepare(s, "INSERT INTO vaults(name, region, subscription, created) VALUES(?, ?, ?, ?)", &st));
    sqlite3_bind_text(st, 1, v->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, v->region, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, v->subscription, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, v->created);
    return sr_step_done(st);
}

static enum sr_err sr_lite_vault_get(struct sr_store *s, const char *name, struct sr_vault_row *ret)
{
    SR_AUTO_STMT sqlite3_stmt *st = NULL;
    SR_TRY(sr_prepare(s, "SELECT name, region, subscription, created FROM vaults WHERE name = ?", &st));
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    SR_ENSURE(rc == SQLITE_ROW || rc == SQLITE_DONE, SR_ERR_IO);
    SR_ENSURE(rc == SQLITE_ROW, SR_ERR_NOT_FOUND);
    sr_text(st, 0, ret->name, sizeof(ret->name));
    sr_text(st, 1, ret->region, sizeof(ret->region));
    sr_text(st, 2, ret->subscription, sizeof(ret->subscription));
    ret->created = sqlite3_column_int64(st, 3);
    return SR_OK;
}

static enum sr_err sr_lite_vault_each(struct sr_store *s, sr_vault_row_fn fn, void *ctx)
{
    SR_AUTO_STMT sqlite3_stmt *st = NULL;
    SR_TRY(sr_prepare(s, "SELECT name, region, subscription, created FROM vaults ORDER BY name", &st));
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct sr_vault_row v;
        sr_text(st, 0, v.name, sizeof(v.name));
        sr_text(st, 1, v.region, sizeof(v.region));
        sr_text(st, 2, v.subscription, sizeof(v.subscription));
        v.created = sqlite3_column_int64(st, 3);
        SR_TRY(fn(ctx, &v));
    }
    SR_ENSURE(rc == SQLITE_DONE, SR_ERR_IO);
    return SR_OK;
}

static enum sr_err sr_lite_token_put(struct sr_store *s, const struct sr_token_row *t)
{
    SR_AUTO_STMT sqlite3_stmt *st = NULL;
    SR_TRY(sr_prepare(s, "INSERT INTO tokens(hash, role, vault, created, expires) VALUES(?, ?, ?, ?, ?)", &st));
    sqlite3_bind_text(st, 1, t->hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, t->role, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, t->vault, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, t->created);
    sqlite3_bind_int64(st, 5, t->expires);
    return sr_step_done(st);
}

static enum sr_err sr_lite_token_get(struct sr_store *s, const char *hash, struct sr_token_row *ret)
{
    SR_AUTO_STMT sqlite3_stmt *st = NULL;
    SR_TRY(sr_prepare(s, "SELECT hash, role, vault, created, expires FROM tokens WHERE hash = ?", &st));
    sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    SR_ENSURE(rc == SQLITE_ROW || rc == SQLITE_DONE, SR_ERR_IO);
    SR_ENSURE(rc == SQLITE_ROW, SR_ERR_NOT_FOUND);
    sr_text(st, 0, ret->hash, sizeof(ret->hash));
    sr_text(st, 1, ret->role, sizeof(ret->role));
    sr_text(st, 2, ret->vault, sizeof(ret->vault));
    ret->created = sqlite3_column_int64(st, 3);
    ret->expires = sqlite3_column_int64(st, 4);
    return SR_OK;
}

void sr_key_row_release(struct sr_key_row *k)
{
    if (k->tags != NULL) {
        json_decref(k->tags);
        k->tags = NULL;
    }
    sr_buf_release(&k->blob);
}

void sr_name_row_release(struct sr_name_row *n)
{
    if (n->rotation_policy != NULL) {
        json_decref(n->rotation_policy);
        n->rotation_policy = NULL;
    }
}

#define SR_KEY_COLS "k.vault, k.name, k.version, k.kty, k.key_ops, k.enabled, k.nbf, k.exp, k.created, k.updated," \
                    " k.tags, k.blob, n.deleted, n.purge_at, n.policy"

static enum sr_err sr_read_key(sqlite3_stmt *st, struct sr_key_row *k, struct sr_name_row *n)
{
    memset(k, 0, sizeof(*k));
    sr_text(st, 0, k->vault, sizeof(k->vault));
    sr_text(st, 1, k->name, sizeof(k->name));
    sr_text(st, 2, k->version, sizeof(k->version));
    sr_text(st, 3, k->kty, sizeof(k->kty));
    k->key_ops = (unsigned)sqlite3_column_int64(st, 4);
    k->enabled = sqlite3_column_int(st, 5) != 0;
    k->nbf = sqlite3_column_int64(st, 6);
    k->exp = sqlite3_column_int64(st, 7);
    k->created = sqlite3_column_int64(st, 8);
    k->updated = sqlite3_column_int64(st, 9);
    const char *tags = (const char *)sqlite3_column_text(st, 10);
    k->tags = json_loads(tags ? tags : "{}", 0, NULL);
    sr_buf_init(&k->blob, SR_MAX_FILE, SR_BUF_PLAIN);
    enum sr_err r = k->tags != NULL ? SR_OK : SR_ERR_IO;
    if (r == SR_OK) {
        r = sr_buf_append(&k->blob, sqlite3_column_blob(st, 11), (size_t)sqlite3_column_bytes(st, 11));
    }
    if (n != NULL) {
        memset(n, 0, sizeof(*n));
        n->deleted = sqlite3_column_int64(st, 12);
        n->purge_at = sqlite3_column_int64(st, 13);
        const char *policy = (const char *)sqlite3_column_text(st, 14);
        n->rotation_policy = policy ? json_loads(policy, 0, NULL) : NULL;
    }
    if (r != SR_OK) {
        sr_key_row_release(k);
    }
    return r;
}

static enum sr_err sr_lite_key_insert(struct sr_store *s, const struct sr_key_row *k)
{
    struct sr_sqlite *l = sr_lite(s);
    SR_AUTO_FREE char *tags = k->tags ? json_dumps(k->tags, JSON_COMPACT) : strdup("{}");
    SR_ENSURE(tags != NULL, SR_ERR_NOMEM);
    pthread_mutex_lock(&l->lock);
    enum sr_err r = sqlite3_exec(l->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK ? SR_OK : SR_ERR_IO;
    if (r == SR_OK) {
        sqlite3_stmt *st = NULL;
        r = sr_prepare(s, "INSERT INTO names(vault, name) VALUES(?, ?) ON CONFLICT DO NOTHING", &st);
        if (r == SR_OK) {
            sqlite3_bind_text(st, 1, k->vault, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, k->name, -1, SQLITE_STATIC);
            r = sr_step_done(st);
        }
        sqlite3_finalize(st);
        st = NULL;
        if (r == SR_OK) {
            r = sr_prepare(s, "SELECT deleted FROM names WHERE vault = ? AND name = ?", &st);
        }
        if (r == SR_OK) {
            sqlite3_bind_text(st, 1, k->vault, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, k->name, -1, SQLITE_STATIC);
            r = sqlite3_step(st) == SQLITE_ROW ? SR_OK : SR_ERR_IO;
            /* A soft-deleted name stays reserved until it is recovered or purged. */
            if (r == SR_OK && sqlite3_column_int64(st, 0) != 0) {
                r = SR_ERR_EXISTS;
            }
        }
        sqlite3_finalize(st);
        st = NULL;
        if (r == SR_OK) {
            r = sr_prepare(s,
                           "INSERT INTO keys(vault, name, version, kty, key_ops, enabled, nbf, exp, created, updated,"
                           " tags, blob) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           &st);
        }
        if (r == SR_OK) {
            sqlite3_bind_text(st, 1, k->vault, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, k->name, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 3, k->version, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 4, k->kty, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 5, k->key_ops);
            sqlite3_bind_int(st, 6, k->enabled);
            sqlite3_bind_int64(st, 7, k->nbf);
            sqlite3_bind_int64(st, 8, k->exp);
            sqlite3_bind_int64(st, 9, k->created);
            sqlite3_bind_int64(st, 10, k->updated);
            sqlite3_bind_text(st, 11, tags, -1, SQLITE_STATIC);
            sqlite3_bind_blob(st, 12, k->blob.data, (int)k->blob.len, SQLITE_STATIC);
            r = sr_step_done(st);
        }
        sqlite3_finalize(st);
        if (sqlite3_exec(l->db, r == SR_OK ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL) != SQLITE_OK && r == SR_OK) {
            r = SR_ERR_IO;
        }
    }
    pthread_mutex_unlock(&l->lock);
    return r;
}

static enum sr_err sr_lite_key_get(struct sr_store *s, const char *vault, const char *name, const char *version,
                                   bool deleted_ok, struct sr_key_row *ret, struct sr_name_row *ret_name)
{
    SR_AUTO_STMT sqlite3_stmt *st = NULL;
    bool latest = version == NULL || *version == 0;
    SR_TRY(sr_prepare(s,
                      latest ? "SELECT " SR_KEY_COLS " FROM keys k JOIN names n ON n.vault = k.vault AND n.name = k.name"
                               " WHERE k.vault = ? AND k.name = ? ORDER BY k.seq DESC LIMIT 1"
                             : "SELECT " SR_KEY_COLS " FROM keys k JOIN names n ON n.vault = k.vault AND n.name = k.name"
                               " WHERE k.vault = ? AND k.name = ? AND k.version = ?",
                      &st));
    sqlite3_bind_text(st, 1, vault, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    if (!latest) {
        sqlite3_bind_text(st, 3, version, -1, SQLITE_STATIC);
    }
    int rc = sqlite3_step(st);
    SR_ENSURE(rc == SQLITE_ROW || rc == SQLITE_DONE, SR_ERR_IO);
    SR_ENSURE(rc == SQLITE_ROW, SR_ERR_NOT_FOUND);
    struct sr_name_row n;
    SR_TRY(sr_read_key(st, ret, &n));
    if (n.deleted != 0 && !deleted_ok) {
        sr_key_row_release(ret);
        sr_name_row_release(&n);
        return SR_ERR_NOT_FOUND;
    }
    if (ret_name != NULL) {
        *ret_name = n;
    } else {
        sr_name_row_release(&n);
    }
    return SR_OK;
}

static enum sr_err sr_lite_key_update(struct sr_store *s, const struct sr_key_row *k)
{
    SR_AUTO_FREE char *tags = k->tags ? json_dumps(k->tags, JSON_COMPACT) : strdup("{}");
    SR_ENSURE(tags != NULL, SR_ERR_NOMEM);
    SR_AUTO_STMT sqlite3_stmt *st = NULL;
    SR_TRY(sr_prepare(s,
                      "UPDATE keys SET key_ops = ?, enabled = ?, nbf = ?, exp = ?, updated = ?, tags = ?"
                      " WHERE vault = ? AND name = ? AND version = ?",
                      &st));
    sqlite3_bind_int64(st, 1, k->key_ops);
    sqlite3_bind_int(st, 2, k->enabled);
    sqlite3_bind_int64(st, 3, k->nbf);
    sqlite3_bind_int64(st, 4, k->exp);
    sqlite3_bind_int64(st, 5, k->updated);
    sqlite3_bind_text(st, 6, tags, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, k->vault, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, k->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 9, k->version, -1, SQLITE_STATIC);
    SR_TRY(sr_step_done(st));
    SR_ENSURE(sqlite3_changes(sr_lite(s)->db) == 1, SR_ERR_NOT_FOUND);
    return SR_OK;
}

static enum sr_err sr_each_row(sqlite3_stmt *st, sr_key_row_fn fn, void *ctx)
{
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct sr_key_row k;
        struct sr_name_row n;
        SR_TRY(sr_read_key(st, &k, &n));
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
    SR_AUTO_STMT sqlite3_stmt *st = NULL;
    SR_TRY(sr_prepare(s,
                      deleted ? "SELECT " SR_KEY_COLS " FROM keys k JOIN names n ON n.vault = k.vault AND n.name = k.name"
                                " WHERE k.vault = ?1 AND n.deleted != 0 AND k.seq = (SELECT MAX(seq) FROM keys"
                                " WHERE vault = k.vault AND name = k.name) ORDER BY k.name LIMIT ?2 OFFSET ?3"
                              : "SELECT " SR_KEY_COLS " FROM keys k JOIN names n ON n.vault = k.vault AND n.name = k.name"
                                " WHERE k.vault = ?1 AND n.deleted = 0 AND k.seq = (SELECT MAX(seq) FROM keys"
                                " WHERE vault = k.vault AND name = k.name) ORDER BY k.name LIMIT ?2 OFFSET ?3",
                      &st));
    sqlite3_bind_text(st, 1, vault, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, limit);
    sqlite3_bind_int64(st, 3, offset);
    return sr_each_row(st, fn, ctx);
}

static enum sr_err sr_lite_key_versions(struct sr_store *s, const char *vault, const char *name, unsigned offset,
                                        unsigned limit, sr_key_row_fn fn, void *ctx)
{
    SR_AUTO_STMT sqlite3_stmt *st = NULL;
    SR_TRY(sr_prepare(s,
                      "SELECT " SR_KEY_COLS " FROM keys k JOIN names n ON n.vault = k.vault AND n.name = k.name"
                      " WHERE k.vault = ? AND k.name = ? AND n.deleted = 0 ORDER BY k.seq LIMIT ? OFFSET ?",
                      &st));
    sqlite3_bind_text(st, 1, vault, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, limit);
    sqlite3_bind_int64(st, 4, offset);
    return sr_each_row(st, fn, ctx);
}

static enum sr_err sr_lite_key_all_versions(struct sr_store *s, const char *vault, const char *name,
                                            sr_key_row_fn fn, void *ctx)
{
    SR_AUTO_STMT sqlite3_stmt *st = NULL;
    SR_TRY(sr_prepare(s,
                      "SELECT " SR_KEY_COLS " FROM keys k JOIN names n ON n.vault = k.vault AND n.name = k.name"
                      " WHERE k.vault = ? AND k.name = ? ORDER BY k.seq",
                      &st));
    sqlite3_bind_text(st, 1, vault, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    return sr_each_row(st, fn, ctx);
}

static enum sr_err sr_lite_name_exec(struct sr_store *s, const char *sql, const char *vault, const char *name,
                                     long long a, long long b)
{
    SR_AUTO_STMT sqlite3_stmt *st = NULL;
    SR_TRY(sr_prepare(s, sql, &st));
    sqlite3_bind_text(st, 1, vault, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, a);
    sqlite3_bind_int64(st, 4, b);
    SR_TRY(sr_step_done(st));
    SR_ENSURE(sqlite3_changes(sr_lite(s)->db) >= 1, SR_ERR_NOT_FOUND);
    return SR_OK;
}

static enum sr_err sr_lite_name_set_deleted(struct sr_store *s, const char *vault, const char *name,
                                            long long deleted, long long purge_at)
{
    return sr_lite_name_exec(s, "UPDATE names SET deleted = ?3, purge_at = ?4 WHERE vault = ?1 AND name = ?2",
                             vault, name, deleted, purge_at);
}

static enum sr_err sr_lite_name_purge(struct sr_store *s, const char *vault, const char *name)
{
    struct sr_sqlite *l = sr_lite(s);
    pthread_mutex_lock(&l->lock);
    enum sr_err r = sqlite3_exec(l->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK ? SR_OK : SR_ERR_IO;
    if (r == SR_OK) {
        r = sr_lite_name_exec(s, "DELETE FROM keys WHERE vault = ?1 AND name = ?2 AND ?3 = ?4", vault, name, 0, 0);
        if (r == SR_OK) {
            r = sr_lite_name_exec(s, "DELETE FROM names WHERE vault = ?1 AND name = ?2 AND ?3 = ?4", vault, name, 0,
                                  0);
        }
        if (sqlite3_exec(l->db, r == SR_OK ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL) != SQLITE_OK && r == SR_OK) {
            r = SR_ERR_IO;
        }
    }
    pthread_mutex_unlock(&l->lock);
    return r;
}

static enum sr_err sr_lite_name_set_policy(struct sr_store *s, const char *vault, const char *name,
                                           const json_t *policy)
{
    SR_AUTO_FREE char *text = json_dumps(policy, JSON_COMPACT);
    SR_ENSURE(text != NULL, SR_ERR_NOMEM);
    SR_AUTO_STMT sqlite3_stmt *st = NULL;
    SR_TRY(sr_prepare(s, "UPDATE names SET policy = ? WHERE vault = ? AND name = ? AND deleted = 0", &st));
    sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, vault, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
    SR_TRY(sr_step_done(st));
    SR_ENSURE(sqlite3_changes(sr_lite(s)->db) == 1, SR_ERR_NOT_FOUND);
    return SR_OK;
}

static enum sr_err sr_lite_audit_insert(struct sr_store *s, struct sr_audit_row *a)
{
    sqlite3_stmt *st = NULL;
    SR_TRY(sr_prepare(s, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", &st));
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        a->seq = sqlite3_column_int64(st, 0) + 1;
        sr_text(st, 1, a->prev, sizeof(a->prev));
    } else {
        a->seq = 1;
        memset(a->prev, '0', 64);
        a->prev[64] = 0;
    }
    sqlite3_finalize(st);
    SR_ENSURE(rc == SQLITE_ROW || rc == SQLITE_DONE, SR_ERR_IO);
    SR_TRY(sr_audit_hash(a, a->hash));
    SR_AUTO_STMT sqlite3_stmt *ins = NULL;
    SR_TRY(sr_prepare(s,
                      "INSERT INTO audit(seq, time, vault, actor, op, target, status, prev, hash)"
                      " VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      &ins));
    sqlite3_bind_int64(ins, 1, a->seq);
    sqlite3_bind_int64(ins, 2, a->time);
    sqlite3_bind_text(ins, 3, a->vault, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 4, a->actor, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 5, a->op, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 6, a->target, -1, SQLITE_STATIC);
    sqlite3_bind_int(ins, 7, a->status);
    sqlite3_bind_text(ins, 8, a->prev, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 9, a->hash, -1, SQLITE_STATIC);
    return sr_step_done(ins);
}

static enum sr_err sr_lite_audit_append(struct sr_store *s, struct sr_audit_row *a)
{
    struct sr_sqlite *l = sr_lite(s);
    pthread_mutex_lock(&l->lock);
    enum sr_err r = sqlite3_exec(l->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK ? SR_OK : SR_ERR_IO;
    if (r == SR_OK) {
        r = sr_lite_audit_insert(s, a);
        if (sqlite3_exec(l->db, r == SR_OK ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL) != SQLITE_OK && r == SR_OK) {
            r = SR_ERR_IO;
        }
    }
    pthread_mutex_unlock(&l->lock);
    return r;
}

static enum sr_err sr_lite_audit_each(struct sr_store *s, sr_audit_row_fn fn, void *ctx)
{
    SR_AUTO_STMT sqlite3_stmt *st = NULL;
    SR_TRY(sr_prepare(s, "SELECT seq, time, vault, actor, op, target, status, prev, hash FROM audit ORDER BY seq",
                      &st));
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct sr_audit_row a = {0};
        a.seq = sqlite3_column_int64(st, 0);
        a.time = sqlite3_column_int64(st, 1);
        sr_text(st, 2, a.vault, sizeof(a.vault));
        sr_text(st, 3, a.actor, sizeof(a.actor));
        sr_text(st, 4, a.op, sizeof(a.op));
        sr_text(st, 5, a.target, sizeof(a.target));
        a.status = sqlite3_column_int(st, 6);
        sr_text(st, 7, a.prev, sizeof(a.prev));
        sr_text(st, 8, a.hash, sizeof(a.hash));
        SR_TRY(fn(ctx, &a));
    }
    SR_ENSURE(rc == SQLITE_DONE, SR_ERR_IO);
    return SR_OK;
}

static const struct sr_store_ops sr_sqlite_ops = {
    .close = sr_lite_close,
    .region_put = sr_lite_region_put,
    .region_exists = sr_lite_region_exists,
    .region_each = sr_lite_region_each,
    .vault_put = sr_lite_vault_put,
    .vault_get = sr_lite_vault_get,
    .vault_each = sr_lite_vault_each,
    .token_put = sr_lite_token_put,
    .token_get = sr_lite_token_get,
    .key_insert = sr_lite_key_insert,
    .key_get = sr_lite_key_get,
    .key_update = sr_lite_key_update,
    .key_list = sr_lite_key_list,
    .key_versions = sr_lite_key_versions,
    .key_all_versions = sr_lite_key_all_versions,
    .name_set_deleted = sr_lite_name_set_deleted,
    .name_purge = sr_lite_name_purge,
    .name_set_policy = sr_lite_name_set_policy,
    .audit_append = sr_lite_audit_append,
    .audit_each = sr_lite_audit_each,
};

enum sr_err sr_store_sqlite_open(const char *data_dir, struct sr_store **ret)
{
    char path[SR_PATH_MAX];
    SR_TRY(sr_dir_make(data_dir));
    SR_TRY(sr_path_join(path, sizeof(path), data_dir, "vault.db"));
    /* Made 0600 before SQLite opens it: its -wal and -shm files take the database file's mode. */
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    SR_ENSURE(fd >= 0, SR_ERR_IO);
    int mode_ok = fchmod(fd, 0600) == 0;
    close(fd);
    SR_ENSURE(mode_ok, SR_ERR_IO);
    struct sr_sqlite *l = calloc(1, sizeof(*l));
    SR_ENSURE(l != NULL, SR_ERR_NOMEM);
    l->base.ops = &sr_sqlite_ops;
    pthread_mutex_init(&l->lock, NULL);
    int rc = sqlite3_open_v2(path, &l->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL);
    enum sr_err r = rc == SQLITE_OK ? SR_OK : SR_ERR_IO;
    if (r == SR_OK) {
        sqlite3_busy_timeout(l->db, 10000);
        /* WAL + FULL: a committed write survives power loss before we answer. */
        if (sqlite3_exec(l->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;", NULL,
                         NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(l->db, sr_schema, NULL, NULL, NULL) != SQLITE_OK) {
            r = SR_ERR_IO;
        }
    }
    if (r != SR_OK) {
        sr_lite_close(&l->base);
        return r;
    }
    *ret = &l->base;
    return SR_OK;
}
