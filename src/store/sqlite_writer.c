/*
 * sqlite_writer.c - the SQL of group commit for SQLite (the queue, the thread and the chain's arithmetic
 * are groupcommit.c's). One BEGIN IMMEDIATE transaction per batch on the writer connection; the chain's
 * head is read inside it, where SQLite's write lock makes it the one the next entry follows. The writer
 * also keeps this process's caches exact: key rows go after any change, and changes to vaults, tokens
 * or regions are counted for other processes (changes.c) around the transaction.
 */
#include <stdio.h>
#include <string.h>

#include "store/rows.h"
#include "store/sqlite_internal.h"

static enum sr_err sr_exec(struct sr_lite_conn *w, enum sr_stmt_id id)
{
    sqlite3_stmt *st = NULL;
    SR_TRY(sr_lite_stmt(w, id, &st));
    enum sr_err r = sr_lite_step_done(st);
    sqlite3_reset(st);
    return r;
}

/* Runs a bound write statement; SR_ERR_NOT_FOUND when it must change a row and changed none. */
static enum sr_err sr_write(struct sr_lite_conn *w, sqlite3_stmt *st, bool must_change)
{
    enum sr_err r = sr_lite_step_done(st);
    sqlite3_reset(st);
    SR_TRY(r);
    SR_ENSURE(!must_change || sqlite3_changes(w->db) >= 1, SR_ERR_NOT_FOUND);
    return SR_OK;
}

static void sr_bind_name(sqlite3_stmt *st, const struct sr_key_row *k)
{
    sqlite3_bind_text(st, 1, k->vault, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, k->name, -1, SQLITE_STATIC);
}

/* The attributes a key version's insert and update both write, from column first on. */
static void sr_bind_attributes(sqlite3_stmt *st, int first, const struct sr_key_row *k)
{
    sqlite3_bind_int64(st, first, k->key_ops);
    sqlite3_bind_int(st, first + 1, k->enabled);
    sqlite3_bind_int64(st, first + 2, k->nbf);
    sqlite3_bind_int64(st, first + 3, k->exp);
}

static enum sr_err sr_apply_key_insert(struct sr_lite_conn *w, const struct sr_key_row *k)
{
    sqlite3_stmt *st = NULL;
    SR_TRY(sr_lite_stmt(w, SR_ST_NAME_ENSURE, &st));
    sr_bind_name(st, k);
    SR_TRY(sr_write(w, st, false));
    SR_TRY(sr_lite_stmt(w, SR_ST_NAME_DELETED_OF, &st));
    sr_bind_name(st, k);
    int rc = sqlite3_step(st);
    long long deleted = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    SR_ENSURE(rc == SQLITE_ROW, SR_ERR_IO);
    /* A soft-deleted name stays reserved until it is recovered or purged. */
    SR_ENSURE(deleted == 0, SR_ERR_EXISTS);
    SR_AUTO_FREE char *tags = k->tags ? json_dumps(k->tags, JSON_COMPACT) : strdup("{}");
    SR_ENSURE(tags != NULL, SR_ERR_NOMEM);
    SR_AUTO_FREE char *release = NULL;
    SR_AUTO_FREE char *meta = NULL;
    SR_TRY(sr_rows_json_text(k->release_policy, &release));
    SR_TRY(sr_rows_json_text(k->meta, &meta));
    SR_TRY(sr_lite_stmt(w, SR_ST_KEY_INSERT, &st));
    sr_bind_name(st, k);
    sqlite3_bind_text(st, 3, k->version, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, k->kty, -1, SQLITE_STATIC);
    sr_bind_attributes(st, 5, k);
    sqlite3_bind_int64(st, 9, k->created);
    sqlite3_bind_int64(st, 10, k->updated);
    sqlite3_bind_text(st, 11, tags, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 12, k->blob.data, (int)k->blob.len, SQLITE_STATIC);
    sqlite3_bind_text(st, 13, release, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 14, meta, -1, SQLITE_STATIC);
    return sr_write(w, st, true);
}

static enum sr_err sr_apply_key_update(struct sr_lite_conn *w, const struct sr_key_row *k)
{
    SR_AUTO_FREE char *tags = k->tags ? json_dumps(k->tags, JSON_COMPACT) : strdup("{}");
    SR_ENSURE(tags != NULL, SR_ERR_NOMEM);
    SR_AUTO_FREE char *release = NULL;
    SR_AUTO_FREE char *meta = NULL;
    SR_TRY(sr_rows_json_text(k->release_policy, &release));
    SR_TRY(sr_rows_json_text(k->meta, &meta));
    sqlite3_stmt *st = NULL;
    SR_TRY(sr_lite_stmt(w, SR_ST_KEY_UPDATE, &st));
    sr_bind_attributes(st, 1, k);
    sqlite3_bind_int64(st, 5, k->updated);
    sqlite3_bind_text(st, 6, tags, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, release, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, meta, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 9, k->vault, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 10, k->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 11, k->version, -1, SQLITE_STATIC);
    return sr_write(w, st, true);
}

static enum sr_err sr_apply_name(struct sr_lite_conn *w, enum sr_stmt_id id, const struct sr_change *ch)
{
    sqlite3_stmt *st = NULL;
    SR_TRY(sr_lite_stmt(w, id, &st));
    sr_bind_name(st, &ch->key);
    SR_AUTO_FREE char *policy = NULL;
    if (id == SR_ST_NAME_SET_DELETED) {
        sqlite3_bind_int64(st, 3, ch->name.deleted);
        sqlite3_bind_int64(st, 4, ch->name.purge_at);
    } else if (id == SR_ST_NAME_POLICY) {
        policy = json_dumps(ch->name.rotation_policy, JSON_COMPACT);
        SR_ENSURE(policy != NULL, SR_ERR_NOMEM);
        sqlite3_bind_text(st, 3, policy, -1, SQLITE_STATIC);
    }
    return sr_write(w, st, true);
}

static enum sr_err sr_apply_operator(struct sr_lite_conn *w, const struct sr_change *ch)
{
    sqlite3_stmt *st = NULL;
    SR_AUTO_FREE char *jwks = NULL;
    SR_AUTO_FREE char *doc = NULL;
    if (ch->kind == SR_CHANGE_IDENT) {
        doc = ch->ident.doc != NULL ? json_dumps(ch->ident.doc, JSON_COMPACT) : NULL;
        SR_ENSURE(doc != NULL || ch->ident.doc == NULL, SR_ERR_NOMEM);
        SR_TRY(sr_lite_stmt(w, doc != NULL ? SR_ST_IDENT_PUT : SR_ST_IDENT_DELETE, &st));
        sqlite3_bind_text(st, 1, ch->ident.kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, ch->ident.name, -1, SQLITE_STATIC);
        if (doc != NULL) {
            sqlite3_bind_text(st, 3, doc, -1, SQLITE_STATIC);
        }
    } else if (ch->kind == SR_CHANGE_AUTHORITY && ch->authority.jwks == NULL) { /* no keys: no longer trusted */
        SR_TRY(sr_lite_stmt(w, SR_ST_AUTHORITY_DELETE, &st));
        sqlite3_bind_text(st, 1, ch->authority.vault, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, ch->authority.issuer, -1, SQLITE_STATIC);
    } else if (ch->kind == SR_CHANGE_AUTHORITY) {
        jwks = json_dumps(ch->authority.jwks, JSON_COMPACT);
        SR_ENSURE(jwks != NULL, SR_ERR_NOMEM);
        SR_TRY(sr_lite_stmt(w, SR_ST_AUTHORITY_PUT, &st));
        sqlite3_bind_text(st, 1, ch->authority.vault, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, ch->authority.issuer, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, jwks, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, ch->authority.created);
    } else if (ch->kind == SR_CHANGE_REGION) {
        SR_TRY(sr_lite_stmt(w, SR_ST_REGION_PUT, &st));
        sqlite3_bind_text(st, 1, ch->key.name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, ch->key.created);
    } else if (ch->kind == SR_CHANGE_REGION_FILE) {
        SR_TRY(sr_lite_stmt(w, SR_ST_REGION_FILE_PUT, &st));
        sqlite3_bind_text(st, 1, ch->key.vault, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, ch->key.name, -1, SQLITE_STATIC);
        sqlite3_bind_blob(st, 3, ch->key.blob.data, (int)ch->key.blob.len, SQLITE_STATIC);
    } else if (ch->kind == SR_CHANGE_VAULT) {
        SR_TRY(sr_lite_stmt(w, SR_ST_VAULT_PUT, &st));
        sqlite3_bind_text(st, 1, ch->vault.name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, ch->vault.region, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, ch->vault.subscription, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, ch->vault.created);
    } else {
        SR_TRY(sr_lite_stmt(w, SR_ST_TOKEN_PUT, &st));
        sqlite3_bind_text(st, 1, ch->token.hash, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, ch->token.role, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, ch->token.vault, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, ch->token.created);
        sqlite3_bind_int64(st, 5, ch->token.expires);
        sqlite3_bind_text(st, 6, ch->token.name, -1, SQLITE_STATIC);
    }
    return sr_write(w, st, false);
}

static enum sr_err sr_apply_change(struct sr_lite_conn *w, const struct sr_change *ch)
{
    sqlite3_stmt *st = NULL;
    switch (ch->kind) {
    case SR_CHANGE_TOKEN_REVOKE:
        SR_TRY(sr_lite_stmt(w, SR_ST_TOKEN_REVOKE, &st));
        sqlite3_bind_text(st, 1, ch->token.name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, ch->token.revoked);
        return sr_write(w, st, true);
    case SR_CHANGE_KEY_INSERT:
        return sr_apply_key_insert(w, &ch->key);
    case SR_CHANGE_KEY_UPDATE:
        return sr_apply_key_update(w, &ch->key);
    case SR_CHANGE_NAME_DELETED:
        return sr_apply_name(w, SR_ST_NAME_SET_DELETED, ch);
    case SR_CHANGE_NAME_PURGE:
        SR_TRY(sr_apply_name(w, SR_ST_KEYS_PURGE, ch));
        return sr_apply_name(w, SR_ST_NAME_PURGE, ch);
    case SR_CHANGE_NAME_POLICY:
        return sr_apply_name(w, SR_ST_NAME_POLICY, ch);
    default:
        return sr_apply_operator(w, ch);
    }
}

static enum sr_err sr_lite_begin(void *db, long long *head_seq, char head_hash[65])
{
    struct sr_lite_conn *w = &((struct sr_sqlite *)db)->writer;
    SR_TRY(sr_exec(w, SR_ST_BEGIN));
    sqlite3_stmt *st = NULL;
    SR_TRY(sr_lite_stmt(w, SR_ST_AUDIT_HEAD, &st));
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *head_seq = sqlite3_column_int64(st, 0);
        sr_lite_text(st, 1, head_hash, 65);
    } else {
        *head_seq = 0;
        memset(head_hash, '0', 64);
        head_hash[64] = 0;
    }
    sqlite3_reset(st);
    SR_ENSURE(rc == SQLITE_ROW || rc == SQLITE_DONE, SR_ERR_IO);
    return SR_OK;
}

static enum sr_err sr_lite_savepoint(void *db, enum sr_gc_savepoint what)
{
    static const enum sr_stmt_id ids[] = {
        [SR_GC_SAVEPOINT] = SR_ST_SAVEPOINT, [SR_GC_RELEASE] = SR_ST_RELEASE, [SR_GC_ROLLBACK_TO] = SR_ST_ROLLBACK_TO};
    return sr_exec(&((struct sr_sqlite *)db)->writer, ids[what]);
}

static enum sr_err sr_lite_apply(void *db, const struct sr_change *ch)
{
    return sr_apply_change(&((struct sr_sqlite *)db)->writer, ch);
}

static enum sr_err sr_lite_audit_insert(void *db, const struct sr_audit_row *a)
{
    struct sr_lite_conn *w = &((struct sr_sqlite *)db)->writer;
    sqlite3_stmt *st = NULL;
    SR_TRY(sr_lite_stmt(w, SR_ST_AUDIT_INSERT, &st));
    sqlite3_bind_int64(st, 1, a->seq);
    sqlite3_bind_int64(st, 2, a->time);
    sqlite3_bind_text(st, 3, a->vault, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, a->actor, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, a->op, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, a->target, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 7, a->status);
    sqlite3_bind_text(st, 8, a->prev, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 9, a->hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 10, a->client, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 11, a->reason, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 12, a->count > 1 ? a->count : 1);
    return sr_write(w, st, false);
}

static enum sr_err sr_lite_commit(void *db)
{
    return sr_exec(&((struct sr_sqlite *)db)->writer, SR_ST_COMMIT);
}

static void sr_lite_rollback(void *db)
{
    struct sr_lite_conn *w = &((struct sr_sqlite *)db)->writer;
    if (!sqlite3_get_autocommit(w->db)) {
        (void)sr_exec(w, SR_ST_ROLLBACK);
    }
}

static void sr_lite_before(void *db, const struct sr_commit *batch)
{
    struct sr_sqlite *l = db;
    l->batch_counted = sr_gc_batch_changes_conf(batch);
    if (l->batch_counted) {
        sr_changes_begin(&l->changes);
    }
}

/* Cached key rows go before any change is acknowledged (a failed batch changed nothing; dropping them
 * anyway costs only reads). */
static void sr_lite_after(void *db, const struct sr_commit *batch, enum sr_err outcome)
{
    (void)outcome;
    struct sr_sqlite *l = db;
    if (sr_gc_batch_changes(batch)) {
        sr_rowcache_clear(&l->rows);
    }
    if (l->batch_counted) {
        sr_changes_end(&l->changes);
    }
}

const struct sr_gc_ops sr_lite_gc_ops = {
    .begin = sr_lite_begin,
    .savepoint = sr_lite_savepoint,
    .apply = sr_lite_apply,
    .audit_insert = sr_lite_audit_insert,
    .commit = sr_lite_commit,
    .rollback = sr_lite_rollback,
    .before = sr_lite_before,
    .after = sr_lite_after,
};
