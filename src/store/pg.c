/*
 * pg.c - the PostgreSQL store (libpq), for several servers over one database. The same group commit as
 * SQLite's (groupcommit.c): each server batches its requests' commits into one transaction, and the
 * audit chain's head is one row (audit_head) locked FOR UPDATE inside it, so the batches of all servers
 * append to one chain in commit order, and PostgreSQL's own group commit shares the WAL flushes of
 * batches from several servers. Reads use a small pool of connections, statements prepared once on each.
 *
 * Names compare without case (citext), as in Key Vault and the SQLite store. Nothing is cached: another
 * server may change any row at any moment, and the next request must see it.
 *
 * A lost connection fails what ran on it with SR_ERR_UNAVAILABLE (HTTP 503, nothing acknowledged) and is
 * opened again by the next use, so a server outlives a database restart or a failover (libpq's multi-host
 * URLs with target_session_attrs=read-write find the new primary).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "base/json.h"
#include "store/groupcommit.h"
#include "store/rows.h"

enum sr_pg_stmt {
    SR_PG_REGION_EXISTS, SR_PG_REGION_EACH, SR_PG_REGION_FILES, SR_PG_VAULT_GET, SR_PG_VAULT_EACH, SR_PG_TOKEN_GET, SR_PG_TOKEN_EACH,
    SR_PG_KEY_LATEST, SR_PG_KEY_VERSION, SR_PG_KEY_LIST_LIVE, SR_PG_KEY_LIST_DELETED, SR_PG_KEY_VERSIONS,
    SR_PG_KEY_ALL_VERSIONS, SR_PG_AUDIT_EACH, SR_PG_POLICY_EACH, SR_PG_AUTHORITY_GET, SR_PG_IDENT_GET, SR_PG_IDENT_EACH,
    SR_PG_HEAD_LOCK, SR_PG_HEAD_SET, SR_PG_REGION_PUT, SR_PG_REGION_FILE_PUT, SR_PG_VAULT_PUT, SR_PG_TOKEN_PUT, SR_PG_TOKEN_REVOKE, SR_PG_NAME_ENSURE,
    SR_PG_NAME_DELETED_OF, SR_PG_KEY_INSERT, SR_PG_KEY_UPDATE, SR_PG_NAME_SET_DELETED, SR_PG_KEYS_PURGE,
    SR_PG_NAME_PURGE, SR_PG_NAME_POLICY, SR_PG_AUDIT_INSERT, SR_PG_AUTHORITY_PUT, SR_PG_AUTHORITY_DELETE,
    SR_PG_IDENT_PUT, SR_PG_IDENT_DELETE,
    SR_PG_COUNT_
};

#define SR_PG_KEY_COLS "k.vault, k.name, k.version, k.kty, k.key_ops, k.enabled, k.nbf, k.exp, k.created," \
                       " k.updated, k.tags, k.blob, n.deleted, n.purge_at, n.policy, k.release_policy, k.meta"
#define SR_PG_KEY_FROM " FROM keys k JOIN names n ON n.vault = k.vault AND n.name = k.name"
#define SR_PG_IS_LATEST " AND k.seq = (SELECT MAX(seq) FROM keys WHERE vault = k.vault AND name = k.name)"

static const char *const sr_pg_sql[SR_PG_COUNT_] = {
    [SR_PG_REGION_EXISTS] = "SELECT 1 FROM regions WHERE name = $1",
    [SR_PG_REGION_EACH] = "SELECT name FROM regions ORDER BY lower(name)",
    [SR_PG_REGION_FILES] = "SELECT name, data FROM region_files WHERE region = $1 ORDER BY name",
    [SR_PG_VAULT_GET] = "SELECT name, region, subscription, created FROM vaults WHERE name = $1",
    [SR_PG_VAULT_EACH] = "SELECT name, region, subscription, created FROM vaults ORDER BY lower(name)",
    [SR_PG_TOKEN_GET] = "SELECT hash, role, vault, created, expires, name, revoked, 0 FROM tokens WHERE hash = $1",
    [SR_PG_TOKEN_EACH] = "SELECT hash, role, vault, created, expires, name, revoked, COALESCE((SELECT MAX(time) FROM audit WHERE actor = CASE WHEN t.name != '' THEN t.name ELSE 'tok:' || substr(t.hash, 1, 16) END AND status != 401), 0)"
                         " FROM tokens t ORDER BY created, hash",
    [SR_PG_KEY_LATEST] = "SELECT " SR_PG_KEY_COLS SR_PG_KEY_FROM " WHERE k.vault = $1 AND k.name = $2"
                         " ORDER BY k.seq DESC LIMIT 1",
    [SR_PG_KEY_VERSION] = "SELECT " SR_PG_KEY_COLS SR_PG_KEY_FROM " WHERE k.vault = $1 AND k.name = $2"
                          " AND k.version = $3",
    [SR_PG_KEY_LIST_LIVE] = "SELECT " SR_PG_KEY_COLS SR_PG_KEY_FROM " WHERE k.vault = $1 AND n.deleted = 0"
                            SR_PG_IS_LATEST " ORDER BY lower(k.name) LIMIT $2 OFFSET $3",
    [SR_PG_KEY_LIST_DELETED] = "SELECT " SR_PG_KEY_COLS SR_PG_KEY_FROM " WHERE k.vault = $1 AND n.deleted != 0"
                               SR_PG_IS_LATEST " ORDER BY lower(k.name) LIMIT $2 OFFSET $3",
    [SR_PG_KEY_VERSIONS] = "SELECT " SR_PG_KEY_COLS SR_PG_KEY_FROM " WHERE k.vault = $1 AND k.name = $2"
                           " AND n.deleted = 0 ORDER BY k.seq LIMIT $3 OFFSET $4",
    [SR_PG_KEY_ALL_VERSIONS] = "SELECT " SR_PG_KEY_COLS SR_PG_KEY_FROM " WHERE k.vault = $1 AND k.name = $2"
                               " ORDER BY k.seq",
    [SR_PG_POLICY_EACH] = "SELECT vault, name, policy FROM names WHERE policy IS NOT NULL AND deleted = 0"
                          " ORDER BY lower(vault), lower(name)",
    [SR_PG_AUTHORITY_GET] = "SELECT jwks FROM authorities WHERE vault = $1 AND issuer = $2",
    [SR_PG_IDENT_GET] = "SELECT doc FROM idents WHERE kind = $1 AND name = $2",
    [SR_PG_IDENT_EACH] = "SELECT name, doc FROM idents WHERE kind = $1 ORDER BY lower(name)",
    [SR_PG_AUDIT_EACH] = "SELECT seq, time, vault, actor, op, target, status, prev, hash, client, reason, count FROM audit ORDER BY seq",
    /* The writer's. The head row's lock is held to the batch's commit: other servers' batches wait. */
    [SR_PG_HEAD_LOCK] = "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE",
    [SR_PG_HEAD_SET] = "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1",
    [SR_PG_REGION_PUT] = "INSERT INTO regions(name, created) VALUES($1, $2)",
    [SR_PG_REGION_FILE_PUT] = "INSERT INTO region_files(region, name, data) VALUES($1, $2, $3)",
    [SR_PG_VAULT_PUT] = "INSERT INTO vaults(name, region, subscription, created) VALUES($1, $2, $3, $4)",
    [SR_PG_TOKEN_PUT] = "INSERT INTO tokens(hash, role, vault, created, expires, name) VALUES($1, $2, $3, $4, $5, $6)",
    [SR_PG_TOKEN_REVOKE] = "UPDATE tokens SET revoked = $2 WHERE revoked = 0 AND (name = $1 OR substr(hash, 1, 16) = $1)",
    [SR_PG_NAME_ENSURE] = "INSERT INTO names(vault, name) VALUES($1, $2) ON CONFLICT DO NOTHING",
    /* Locked: a delete on another server waits for this version's insert, or this insert sees it. */
    [SR_PG_NAME_DELETED_OF] = "SELECT deleted FROM names WHERE vault = $1 AND name = $2 FOR UPDATE",
    [SR_PG_KEY_INSERT] = "INSERT INTO keys(vault, name, version, kty, key_ops, enabled, nbf, exp, created, updated,"
                         " tags, blob, release_policy, meta) VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    [SR_PG_KEY_UPDATE] = "UPDATE keys SET key_ops = $4, enabled = $5, nbf = $6, exp = $7, updated = $8, tags = $9,"
                         " release_policy = $10, meta = $11 WHERE vault = $1 AND name = $2 AND version = $3",
    [SR_PG_NAME_SET_DELETED] = "UPDATE names SET deleted = $3, purge_at = $4 WHERE vault = $1 AND name = $2",
    [SR_PG_KEYS_PURGE] = "DELETE FROM keys WHERE vault = $1 AND name = $2",
    [SR_PG_NAME_PURGE] = "DELETE FROM names WHERE vault = $1 AND name = $2",
    [SR_PG_NAME_POLICY] = "UPDATE names SET policy = $3 WHERE vault = $1 AND name = $2 AND deleted = 0",
    [SR_PG_AUDIT_INSERT] = "INSERT INTO audit(seq, time, vault, actor, op, target, status, prev, hash, client,"
                           " reason, count) VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    [SR_PG_AUTHORITY_PUT] = "INSERT INTO authorities(vault, issuer, jwks, created) VALUES($1, $2, $3, $4)"
                            " ON CONFLICT(vault, issuer) DO UPDATE SET jwks = $3",
    [SR_PG_AUTHORITY_DELETE] = "DELETE FROM authorities WHERE vault = $1 AND issuer = $2",
    [SR_PG_IDENT_PUT] = "INSERT INTO idents(kind, name, doc) VALUES($1, $2, $3) ON CONFLICT(kind, name) DO UPDATE SET doc = $3",
    [SR_PG_IDENT_DELETE] = "DELETE FROM idents WHERE kind = $1 AND name = $2",
};

/* Versioned schema: each server applies, in order and once, the migrations the database lacks. */
static const char *const sr_pg_migrations[] = {
    /* 1: the schema of the SQLite store, with citext for the names that compare without case. */
    "CREATE EXTENSION IF NOT EXISTS citext;"
    "CREATE TABLE regions(name citext PRIMARY KEY, created BIGINT NOT NULL);"
    "CREATE TABLE vaults(name citext PRIMARY KEY, region TEXT NOT NULL, subscription TEXT NOT NULL,"
    " created BIGINT NOT NULL);"
    "CREATE TABLE tokens(hash TEXT PRIMARY KEY, role TEXT NOT NULL, vault TEXT NOT NULL, created BIGINT NOT NULL,"
    " expires BIGINT NOT NULL);"
    "CREATE TABLE keys(seq BIGSERIAL PRIMARY KEY, vault citext NOT NULL, name citext NOT NULL, version TEXT NOT NULL,"
    " kty TEXT NOT NULL, key_ops BIGINT NOT NULL, enabled INTEGER NOT NULL, nbf BIGINT NOT NULL, exp BIGINT NOT NULL,"
    " created BIGINT NOT NULL, updated BIGINT NOT NULL, tags TEXT NOT NULL, blob BYTEA NOT NULL,"
    " UNIQUE(vault, name, version));"
    "CREATE INDEX keys_latest ON keys(vault, name, seq);"
    "CREATE TABLE names(vault citext NOT NULL, name citext NOT NULL, deleted BIGINT NOT NULL DEFAULT 0,"
    " purge_at BIGINT NOT NULL DEFAULT 0, policy TEXT, PRIMARY KEY(vault, name));"
    "CREATE TABLE audit(seq BIGINT PRIMARY KEY, time BIGINT NOT NULL, vault TEXT NOT NULL, actor TEXT NOT NULL,"
    " op TEXT NOT NULL, target TEXT NOT NULL, status INTEGER NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL);"
    "CREATE TABLE audit_head(id INTEGER PRIMARY KEY CHECK (id = 1), seq BIGINT NOT NULL, hash TEXT NOT NULL);"
    "INSERT INTO audit_head VALUES(1, 0, repeat('0', 64));",
    /* 2: a region's world, KEK and toolset in the store, so that another server can join the region. */
    "CREATE TABLE region_files(region citext NOT NULL, name TEXT NOT NULL, data BYTEA NOT NULL,"
    " PRIMARY KEY(region, name));",
    /* 3: tokens get a label and can be revoked; their last use is found in the audit log by actor. */
    "ALTER TABLE tokens ADD COLUMN name TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE tokens ADD COLUMN revoked BIGINT NOT NULL DEFAULT 0;"
    "CREATE UNIQUE INDEX tokens_name ON tokens(name) WHERE name != '';"
    "CREATE INDEX audit_actor ON audit(actor, time);",
    /* 4: refusals are audited with the client's address and the reason; repeats are counted, not repeated. */
    "ALTER TABLE audit ADD COLUMN client TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE audit ADD COLUMN reason TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE audit ADD COLUMN count BIGINT NOT NULL DEFAULT 1;",
    /* 5: secure key release: a version's release policy (none: not exportable), a vault's trusted authorities. */
    "ALTER TABLE keys ADD COLUMN release_policy TEXT;"
    "CREATE TABLE authorities(vault citext NOT NULL, issuer TEXT NOT NULL, jwks TEXT NOT NULL,"
    " created BIGINT NOT NULL, PRIMARY KEY(vault, issuer));",
    /* 6: identity: applications, trusted issuers, role assignments, the token authority's signing keys. */
    "CREATE TABLE idents(kind TEXT NOT NULL, name citext NOT NULL, doc TEXT NOT NULL, PRIMARY KEY(kind, name));",
    /* 7: secrets: a row's own document (a secret's contentType) beside its sealed value. */
    "ALTER TABLE keys ADD COLUMN meta TEXT;",
};

#define SR_PG_READERS 16

struct sr_pg_conn {
    PGconn *db;
    bool prepared[SR_PG_COUNT_];
    pthread_mutex_t lock; /* readers: held while one thread uses the connection */
};

struct sr_pg {
    struct sr_store base;
    char *conninfo;
    struct sr_pg_conn readers[SR_PG_READERS];
    struct sr_pg_conn writer; /* the group-commit thread's */
    struct sr_groupcommit gc;
    atomic_bool down;    /* the last connection attempt failed: said once on stderr, and once when back */
    atomic_bool ever_up; /* a store that never connected says nothing itself: its opener reports it */
    /* The chain's head in the batch's transaction: written back to audit_head once, before COMMIT. */
    long long head_seq;
    char head_hash[65];
    bool head_moved;
};

static struct sr_pg *sr_pg_of(struct sr_store *s)
{
    return (struct sr_pg *)s;
}

static void sr_pg_conn_drop(struct sr_pg_conn *c)
{
    PQfinish(c->db);
    c->db = NULL;
    memset(c->prepared, 0, sizeof(c->prepared));
}

/* The server's notices ("relation already exists, skipping") are not the user's business. */
static void sr_pg_no_notices(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* A connection that works, opened again if it was lost. */
static enum sr_err sr_pg_conn_ready(struct sr_pg *p, struct sr_pg_conn *c)
{
    if (c->db != NULL && PQstatus(c->db) == CONNECTION_OK) {
        return SR_OK;
    }
    sr_pg_conn_drop(c);
    c->db = PQconnectdb(p->conninfo);
    if (c->db == NULL || PQstatus(c->db) != CONNECTION_OK) {
        /* libpq's message names the hosts and the reason, never the password. */
        if (!atomic_exchange(&p->down, true) && atomic_load(&p->ever_up)) {
            fprintf(stderr, "strongroom: the database cannot be reached (answering 503 until it can): %s",
                    c->db ? PQerrorMessage(c->db) : "out of memory\n");
        }
        sr_pg_conn_drop(c);
        return SR_ERR_UNAVAILABLE;
    }
    if (atomic_exchange(&p->down, false) && atomic_load(&p->ever_up)) {
        fprintf(stderr, "strongroom: the database is reachable again\n");
    }
    atomic_store(&p->ever_up, true);
    PQsetNoticeProcessor(c->db, sr_pg_no_notices, NULL);
    return SR_OK;
}

/* What a failed statement means: a taken name, a lost database, or anything else. */
static enum sr_err sr_pg_failure(struct sr_pg_conn *c, const PGresult *res)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (state != NULL && strcmp(state, "23505") == 0) {
        return SR_ERR_EXISTS;
    }
    if (PQstatus(c->db) != CONNECTION_OK || (state != NULL && (strncmp(state, "08", 2) == 0 ||
                                                                 strncmp(state, "57P", 3) == 0 ||
                                                                 strcmp(state, "25006") == 0))) {
        /* Connection lost, server shutting down, or a standby that is read-only: another try may reach
         * a primary. */
        sr_pg_conn_drop(c);
        return SR_ERR_UNAVAILABLE;
    }
    return SR_ERR_IO;
}

#define SR_PG_MAX_PARAMS 14

struct sr_pg_params {
    int n;
    const char *values[SR_PG_MAX_PARAMS];
    int lengths[SR_PG_MAX_PARAMS];
    int formats[SR_PG_MAX_PARAMS];
    char numbers[SR_PG_MAX_PARAMS][24];
};

static void sr_pg_text(struct sr_pg_params *pp, const char *v)
{
    pp->values[pp->n++] = v;
}

static void sr_pg_int(struct sr_pg_params *pp, long long v)
{
    snprintf(pp->numbers[pp->n], sizeof(pp->numbers[0]), "%lld", v);
    pp->values[pp->n] = pp->numbers[pp->n];
    pp->n++;
}

static void sr_pg_bytes(struct sr_pg_params *pp, const void *v, size_t len)
{
    pp->values[pp->n] = v;
    pp->lengths[pp->n] = (int)len;
    pp->formats[pp->n] = 1;
    pp->n++;
}

/* Runs statement id on c (preparing it on first use): the result, which the caller clears, or an error. */
static enum sr_err sr_pg_run(struct sr_pg_conn *c, enum sr_pg_stmt id, const struct sr_pg_params *pp,
                             PGresult **ret)
{
    char name[16];
    snprintf(name, sizeof(name), "s%d", (int)id);
    if (!c->prepared[id]) {
        PGresult *res = PQprepare(c->db, name, sr_pg_sql[id], 0, NULL);
        bool ok = res != NULL && PQresultStatus(res) == PGRES_COMMAND_OK;
        enum sr_err r = ok ? SR_OK : sr_pg_failure(c, res);
        PQclear(res);
        SR_TRY(r);
        c->prepared[id] = true;
    }
    PGresult *res = PQexecPrepared(c->db, name, pp->n, pp->values, pp->lengths, pp->formats, 0);
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        enum sr_err r = sr_pg_failure(c, res);
        PQclear(res);
        return r;
    }
    *ret = res;
    return SR_OK;
}

static enum sr_err sr_pg_exec(struct sr_pg_conn *c, const char *sql)
{
    PGresult *res = PQexec(c->db, sql);
    bool ok = res != NULL && (PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK);
    enum sr_err r = ok ? SR_OK : sr_pg_failure(c, res);
    PQclear(res);
    return r;
}

static void sr_pg_copy(const PGresult *res, int row, int col, char *out, size_t cap)
{
    snprintf(out, cap, "%s", PQgetvalue(res, row, col));
}

static long long sr_pg_ll(const PGresult *res, int row, int col)
{
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/* --- reads --- */

struct sr_pg_read {
    struct sr_pg_conn *conn;
    PGresult *res;
};

static void sr_pg_read_end(struct sr_pg_read *rd)
{
    PQclear(rd->res);
    rd->res = NULL;
    if (rd->conn != NULL) {
        pthread_mutex_unlock(&rd->conn->lock);
        rd->conn = NULL;
    }
}
#define SR_AUTO_PG_READ SR_AUTO(sr_pg_read_end)

/* One statement on a free reader connection; the rows stay in rd->res until sr_pg_read_end. */
static enum sr_err sr_pg_read(struct sr_store *s, enum sr_pg_stmt id, const struct sr_pg_params *pp,
                              struct sr_pg_read *rd)
{
    struct sr_pg *p = sr_pg_of(s);
    struct sr_pg_conn *c = NULL;
    for (size_t i = 0; i < SR_PG_READERS && c == NULL; i++) {
        if (pthread_mutex_trylock(&p->readers[i].lock) == 0) {
            c = &p->readers[i];
        }
    }
    if (c == NULL) {
        c = &p->readers[(size_t)pthread_self() % SR_PG_READERS];
        pthread_mutex_lock(&c->lock);
    }
    rd->conn = c;
    SR_TRY(sr_pg_conn_ready(p, c));
    return sr_pg_run(c, id, pp, &rd->res);
}

static enum sr_err sr_pg_region_exists(struct sr_store *s, const char *name)
{
    struct sr_pg_params pp = {0};
    sr_pg_text(&pp, name);
    SR_AUTO_PG_READ struct sr_pg_read rd = {0};
    SR_TRY(sr_pg_read(s, SR_PG_REGION_EXISTS, &pp, &rd));
    return PQntuples(rd.res) > 0 ? SR_OK : SR_ERR_NOT_FOUND;
}

static enum sr_err sr_pg_region_each(struct sr_store *s, enum sr_err (*fn)(void *ctx, const char *name), void *ctx)
{
    struct sr_pg_params pp = {0};
    SR_AUTO_PG_READ struct sr_pg_read rd = {0};
    SR_TRY(sr_pg_read(s, SR_PG_REGION_EACH, &pp, &rd));
    for (int i = 0; i < PQntuples(rd.res); i++) {
        char name[SR_MAX_REGION + 1];
        sr_pg_copy(rd.res, i, 0, name, sizeof(name));
        SR_TRY(fn(ctx, name));
    }
    return SR_OK;
}

static enum sr_err sr_pg_region_files(struct sr_store *s, const char *region, sr_region_file_fn fn, void *ctx)
{
    struct sr_pg_params pp = {0};
    sr_pg_text(&pp, region);
    SR_AUTO_PG_READ struct sr_pg_read rd = {0};
    SR_TRY(sr_pg_read(s, SR_PG_REGION_FILES, &pp, &rd));
    for (int i = 0; i < PQntuples(rd.res); i++) {
        size_t len = 0;
        unsigned char *data = PQunescapeBytea((const unsigned char *)PQgetvalue(rd.res, i, 1), &len);
        SR_ENSURE(data != NULL, SR_ERR_NOMEM);
        enum sr_err r = fn(ctx, PQgetvalue(rd.res, i, 0), data, len);
        PQfreemem(data);
        SR_TRY(r);
    }
    return SR_OK;
}

static void sr_pg_vault_row(const PGresult *res, int i, struct sr_vault_row *v)
{
    sr_pg_copy(res, i, 0, v->name, sizeof(v->name));
    sr_pg_copy(res, i, 1, v->region, sizeof(v->region));
    sr_pg_copy(res, i, 2, v->subscription, sizeof(v->subscription));
    v->created = sr_pg_ll(res, i, 3);
}

static enum sr_err sr_pg_vault_get(struct sr_store *s, const char *name, struct sr_vault_row *ret)
{
    struct sr_pg_params pp = {0};
    sr_pg_text(&pp, name);
    SR_AUTO_PG_READ struct sr_pg_read rd = {0};
    SR_TRY(sr_pg_read(s, SR_PG_VAULT_GET, &pp, &rd));
    SR_ENSURE(PQntuples(rd.res) > 0, SR_ERR_NOT_FOUND);
    sr_pg_vault_row(rd.res, 0, ret);
    return SR_OK;
}

static enum sr_err sr_pg_vault_each(struct sr_store *s, sr_vault_row_fn fn, void *ctx)
{
    struct sr_pg_params pp = {0};
    SR_AUTO_PG_READ struct sr_pg_read rd = {0};
    SR_TRY(sr_pg_read(s, SR_PG_VAULT_EACH, &pp, &rd));
    for (int i = 0; i < PQntuples(rd.res); i++) {
        struct sr_vault_row v;
        sr_pg_vault_row(rd.res, i, &v);
        SR_TRY(fn(ctx, &v));
    }
    return SR_OK;
}

static void sr_pg_token_row(const PGresult *res, int i, struct sr_token_row *t)
{
    sr_pg_copy(res, i, 0, t->hash, sizeof(t->hash));
    sr_pg_copy(res, i, 1, t->role, sizeof(t->role));
    sr_pg_copy(res, i, 2, t->vault, sizeof(t->vault));
    t->created = sr_pg_ll(res, i, 3);
    t->expires = sr_pg_ll(res, i, 4);
    sr_pg_copy(res, i, 5, t->name, sizeof(t->name));
    t->revoked = sr_pg_ll(res, i, 6);
    t->last_used = sr_pg_ll(res, i, 7);
}

static enum sr_err sr_pg_token_get(struct sr_store *s, const char *hash, struct sr_token_row *ret)
{
    struct sr_pg_params pp = {0};
    sr_pg_text(&pp, hash);
    SR_AUTO_PG_READ struct sr_pg_read rd = {0};
    SR_TRY(sr_pg_read(s, SR_PG_TOKEN_GET, &pp, &rd));
    SR_ENSURE(PQntuples(rd.res) > 0, SR_ERR_NOT_FOUND);
    sr_pg_token_row(rd.res, 0, ret);
    return SR_OK;
}

static enum sr_err sr_pg_token_each(struct sr_store *s, enum sr_err (*fn)(void *ctx, const struct sr_token_row *t),
                                    void *ctx)
{
    struct sr_pg_params pp = {0};
    SR_AUTO_PG_READ struct sr_pg_read rd = {0};
    SR_TRY(sr_pg_read(s, SR_PG_TOKEN_EACH, &pp, &rd));
    for (int i = 0; i < PQntuples(rd.res); i++) {
        struct sr_token_row t;
        sr_pg_token_row(rd.res, i, &t);
        SR_TRY(fn(ctx, &t));
    }
    return SR_OK;
}

static enum sr_err sr_pg_key_row(const PGresult *res, int i, struct sr_key_row *k, struct sr_name_row *n)
{
    memset(k, 0, sizeof(*k));
    memset(n, 0, sizeof(*n));
    sr_pg_copy(res, i, 0, k->vault, sizeof(k->vault));
    sr_pg_copy(res, i, 1, k->name, sizeof(k->name));
    sr_pg_copy(res, i, 2, k->version, sizeof(k->version));
    sr_pg_copy(res, i, 3, k->kty, sizeof(k->kty));
    k->key_ops = (unsigned)sr_pg_ll(res, i, 4);
    k->enabled = sr_pg_ll(res, i, 5) != 0;
    k->nbf = sr_pg_ll(res, i, 6);
    k->exp = sr_pg_ll(res, i, 7);
    k->created = sr_pg_ll(res, i, 8);
    k->updated = sr_pg_ll(res, i, 9);
    n->deleted = sr_pg_ll(res, i, 12);
    n->purge_at = sr_pg_ll(res, i, 13);
    size_t blob_len = 0;
    unsigned char *blob = PQunescapeBytea((const unsigned char *)PQgetvalue(res, i, 11), &blob_len);
    SR_ENSURE(blob != NULL, SR_ERR_NOMEM);
    enum sr_err r = sr_rows_decode(k, n, PQgetvalue(res, i, 10), PQgetisnull(res, i, 14) ? NULL : PQgetvalue(res, i, 14),
                                   PQgetisnull(res, i, 15) ? NULL : PQgetvalue(res, i, 15),
                                   PQgetisnull(res, i, 16) ? NULL : PQgetvalue(res, i, 16), blob, blob_len);
    PQfreemem(blob);
    return r;
}

static enum sr_err sr_pg_key_get(struct sr_store *s, const char *vault, const char *name, const char *version,
                                 bool deleted_ok, struct sr_key_row *ret, struct sr_name_row *ret_name)
{
    bool latest = version == NULL || *version == 0;
    struct sr_pg_params pp = {0};
    sr_pg_text(&pp, vault);
    sr_pg_text(&pp, name);
    if (!latest) {
        sr_pg_text(&pp, version);
    }
    SR_AUTO_PG_READ struct sr_pg_read rd = {0};
    SR_TRY(sr_pg_read(s, latest ? SR_PG_KEY_LATEST : SR_PG_KEY_VERSION, &pp, &rd));
    SR_ENSURE(PQntuples(rd.res) > 0, SR_ERR_NOT_FOUND);
    struct sr_name_row n;
    SR_TRY(sr_pg_key_row(rd.res, 0, ret, &n));
    return sr_rows_hand_over(ret, &n, deleted_ok, ret_name);
}

static enum sr_err sr_pg_each_key(struct sr_store *s, enum sr_pg_stmt id, const struct sr_pg_params *pp,
                                  sr_key_row_fn fn, void *ctx)
{
    SR_AUTO_PG_READ struct sr_pg_read rd = {0};
    SR_TRY(sr_pg_read(s, id, pp, &rd));
    for (int i = 0; i < PQntuples(rd.res); i++) {
        struct sr_key_row k;
        struct sr_name_row n;
        SR_TRY(sr_pg_key_row(rd.res, i, &k, &n));
        enum sr_err r = fn(ctx, &k, &n);
        sr_key_row_release(&k);
        sr_name_row_release(&n);
        SR_TRY(r);
    }
    return SR_OK;
}

static enum sr_err sr_pg_key_list(struct sr_store *s, const char *vault, bool deleted, unsigned offset,
                                  unsigned limit, sr_key_row_fn fn, void *ctx)
{
    struct sr_pg_params pp = {0};
    sr_pg_text(&pp, vault);
    sr_pg_int(&pp, limit);
    sr_pg_int(&pp, offset);
    return sr_pg_each_key(s, deleted ? SR_PG_KEY_LIST_DELETED : SR_PG_KEY_LIST_LIVE, &pp, fn, ctx);
}

static enum sr_err sr_pg_key_versions(struct sr_store *s, const char *vault, const char *name, unsigned offset,
                                      unsigned limit, sr_key_row_fn fn, void *ctx)
{
    struct sr_pg_params pp = {0};
    sr_pg_text(&pp, vault);
    sr_pg_text(&pp, name);
    sr_pg_int(&pp, limit);
    sr_pg_int(&pp, offset);
    return sr_pg_each_key(s, SR_PG_KEY_VERSIONS, &pp, fn, ctx);
}

static enum sr_err sr_pg_key_all_versions(struct sr_store *s, const char *vault, const char *name,
                                          sr_key_row_fn fn, void *ctx)
{
    struct sr_pg_params pp = {0};
    sr_pg_text(&pp, vault);
    sr_pg_text(&pp, name);
    return sr_pg_each_key(s, SR_PG_KEY_ALL_VERSIONS, &pp, fn, ctx);
}

static enum sr_err sr_pg_authority_get(struct sr_store *s, const char *vault, const char *issuer, json_t **ret_jwks)
{
    struct sr_pg_params pp = {0};
    sr_pg_text(&pp, vault);
    sr_pg_text(&pp, issuer);
    SR_AUTO_PG_READ struct sr_pg_read rd = {0};
    SR_TRY(sr_pg_read(s, SR_PG_AUTHORITY_GET, &pp, &rd));
    SR_ENSURE(PQntuples(rd.res) > 0, SR_ERR_NOT_FOUND);
    *ret_jwks = json_loads(PQgetvalue(rd.res, 0, 0), 0, NULL);
    SR_ENSURE(*ret_jwks != NULL, SR_ERR_IO);
    return SR_OK;
}

static enum sr_err sr_pg_ident_get(struct sr_store *s, const char *kind, const char *name, json_t **ret)
{
    struct sr_pg_params pp = {0};
    sr_pg_text(&pp, kind);
    sr_pg_text(&pp, name);
    SR_AUTO_PG_READ struct sr_pg_read rd = {0};
    SR_TRY(sr_pg_read(s, SR_PG_IDENT_GET, &pp, &rd));
    SR_ENSURE(PQntuples(rd.res) > 0, SR_ERR_NOT_FOUND);
    *ret = json_loads(PQgetvalue(rd.res, 0, 0), 0, NULL);
    SR_ENSURE(*ret != NULL, SR_ERR_IO);
    return SR_OK;
}

static enum sr_err sr_pg_ident_each(struct sr_store *s, const char *kind, sr_ident_fn fn, void *ctx)
{
    struct sr_pg_params pp = {0};
    sr_pg_text(&pp, kind);
    SR_AUTO_PG_READ struct sr_pg_read rd = {0};
    SR_TRY(sr_pg_read(s, SR_PG_IDENT_EACH, &pp, &rd));
    for (int i = 0; i < PQntuples(rd.res); i++) {
        SR_AUTO_JSON json_t *doc = json_loads(PQgetvalue(rd.res, i, 1), 0, NULL);
        SR_ENSURE(doc != NULL, SR_ERR_IO);
        SR_TRY(fn(ctx, PQgetvalue(rd.res, i, 0), doc));
    }
    return SR_OK;
}

/* Other servers write the same rows unseen: nothing read is served again. */
static bool sr_pg_conf_generation(struct sr_store *s, unsigned long long *ret)
{
    (void)s;
    *ret = 0;
    return false;
}

static enum sr_err sr_pg_policy_each(struct sr_store *s, sr_policy_row_fn fn, void *ctx)
{
    struct sr_pg_params pp = {0};
    SR_AUTO_PG_READ struct sr_pg_read rd = {0};
    SR_TRY(sr_pg_read(s, SR_PG_POLICY_EACH, &pp, &rd));
    for (int i = 0; i < PQntuples(rd.res); i++) {
        char vault[SR_MAX_VAULT + 1], name[SR_MAX_NAME + 1];
        sr_pg_copy(rd.res, i, 0, vault, sizeof(vault));
        sr_pg_copy(rd.res, i, 1, name, sizeof(name));
        SR_AUTO_JSON json_t *policy = json_loads(PQgetvalue(rd.res, i, 2), 0, NULL);
        SR_ENSURE(policy != NULL, SR_ERR_IO);
        SR_TRY(fn(ctx, vault, name, policy));
    }
    return SR_OK;
}

/* The whole chain, a row at a time (libpq's single-row mode: a long log is never all in memory). */
static enum sr_err sr_pg_audit_each(struct sr_store *s, sr_audit_row_fn fn, void *ctx)
{
    struct sr_pg *p = sr_pg_of(s);
    struct sr_pg_conn *c = &p->readers[0];
    pthread_mutex_lock(&c->lock);
    enum sr_err r = sr_pg_conn_ready(p, c);
    if (r == SR_OK && !PQsendQuery(c->db, sr_pg_sql[SR_PG_AUDIT_EACH])) {
        r = sr_pg_failure(c, NULL);
    }
    if (r == SR_OK) {
        PQsetSingleRowMode(c->db);
    }
    PGresult *res = NULL;
    while (c->db != NULL && (res = PQgetResult(c->db)) != NULL) {
        ExecStatusType st = PQresultStatus(res);
        if (r == SR_OK && st == PGRES_SINGLE_TUPLE) {
            struct sr_audit_row a = {0};
            a.seq = sr_pg_ll(res, 0, 0);
            a.time = sr_pg_ll(res, 0, 1);
            sr_pg_copy(res, 0, 2, a.vault, sizeof(a.vault));
            sr_pg_copy(res, 0, 3, a.actor, sizeof(a.actor));
            sr_pg_copy(res, 0, 4, a.op, sizeof(a.op));
            sr_pg_copy(res, 0, 5, a.target, sizeof(a.target));
            a.status = (int)sr_pg_ll(res, 0, 6);
            sr_pg_copy(res, 0, 7, a.prev, sizeof(a.prev));
            sr_pg_copy(res, 0, 8, a.hash, sizeof(a.hash));
            sr_pg_copy(res, 0, 9, a.client, sizeof(a.client));
            sr_pg_copy(res, 0, 10, a.reason, sizeof(a.reason));
            a.count = sr_pg_ll(res, 0, 11);
            r = fn(ctx, &a); /* the rest is read and dropped: the connection must be left idle */
        } else if (r == SR_OK && st != PGRES_TUPLES_OK) {
            r = sr_pg_failure(c, res);
        }
        PQclear(res);
    }
    pthread_mutex_unlock(&c->lock);
    return r;
}

/* --- writes: the SQL of group commit --- */

static enum sr_err sr_pg_write(struct sr_pg *p, enum sr_pg_stmt id, const struct sr_pg_params *pp, bool must_change)
{
    PGresult *res = NULL;
    SR_TRY(sr_pg_run(&p->writer, id, pp, &res));
    bool changed = strcmp(PQcmdTuples(res), "0") != 0;
    PQclear(res);
    SR_ENSURE(!must_change || changed, SR_ERR_NOT_FOUND);
    return SR_OK;
}

static enum sr_err sr_pg_begin(void *db, long long *head_seq, char head_hash[65])
{
    struct sr_pg *p = db;
    SR_TRY(sr_pg_conn_ready(p, &p->writer));
    SR_TRY(sr_pg_exec(&p->writer, "BEGIN"));
    struct sr_pg_params pp = {0};
    PGresult *res = NULL;
    SR_TRY(sr_pg_run(&p->writer, SR_PG_HEAD_LOCK, &pp, &res));
    enum sr_err r = PQntuples(res) == 1 ? SR_OK : SR_ERR_IO;
    if (r == SR_OK) {
        *head_seq = sr_pg_ll(res, 0, 0);
        sr_pg_copy(res, 0, 1, head_hash, 65);
    }
    PQclear(res);
    p->head_moved = false;
    return r;
}

static enum sr_err sr_pg_savepoint(void *db, enum sr_gc_savepoint what)
{
    static const char *const sql[] = {[SR_GC_SAVEPOINT] = "SAVEPOINT one_commit",
                                      [SR_GC_RELEASE] = "RELEASE SAVEPOINT one_commit",
                                      [SR_GC_ROLLBACK_TO] = "ROLLBACK TO SAVEPOINT one_commit"};
    return sr_pg_exec(&((struct sr_pg *)db)->writer, sql[what]);
}

static void sr_pg_name_params(struct sr_pg_params *pp, const struct sr_key_row *k)
{
    sr_pg_text(pp, k->vault);
    sr_pg_text(pp, k->name);
}

static enum sr_err sr_pg_key_insert(struct sr_pg *p, const struct sr_key_row *k)
{
    struct sr_pg_params pp = {0};
    sr_pg_name_params(&pp, k);
    SR_TRY(sr_pg_write(p, SR_PG_NAME_ENSURE, &pp, false));
    PGresult *res = NULL;
    SR_TRY(sr_pg_run(&p->writer, SR_PG_NAME_DELETED_OF, &pp, &res));
    long long deleted = PQntuples(res) == 1 ? sr_pg_ll(res, 0, 0) : -1;
    PQclear(res);
    SR_ENSURE(deleted >= 0, SR_ERR_IO);
    /* A soft-deleted name stays reserved until it is recovered or purged. */
    SR_ENSURE(deleted == 0, SR_ERR_EXISTS);
    SR_AUTO_FREE char *tags = k->tags ? json_dumps(k->tags, JSON_COMPACT) : strdup("{}");
    SR_ENSURE(tags != NULL, SR_ERR_NOMEM);
    sr_pg_text(&pp, k->version);
    sr_pg_text(&pp, k->kty);
    sr_pg_int(&pp, k->key_ops);
    sr_pg_int(&pp, k->enabled);
    sr_pg_int(&pp, k->nbf);
    sr_pg_int(&pp, k->exp);
    sr_pg_int(&pp, k->created);
    sr_pg_int(&pp, k->updated);
    sr_pg_text(&pp, tags);
    sr_pg_bytes(&pp, k->blob.data, k->blob.len);
    SR_AUTO_FREE char *release = NULL;
    SR_AUTO_FREE char *meta = NULL;
    SR_TRY(sr_rows_json_text(k->release_policy, &release));
    SR_TRY(sr_rows_json_text(k->meta, &meta));
    sr_pg_text(&pp, release);
    sr_pg_text(&pp, meta);
    return sr_pg_write(p, SR_PG_KEY_INSERT, &pp, true);
}

static enum sr_err sr_pg_key_update(struct sr_pg *p, const struct sr_key_row *k)
{
    SR_AUTO_FREE char *tags = k->tags ? json_dumps(k->tags, JSON_COMPACT) : strdup("{}");
    SR_ENSURE(tags != NULL, SR_ERR_NOMEM);
    struct sr_pg_params pp = {0};
    sr_pg_name_params(&pp, k);
    sr_pg_text(&pp, k->version);
    sr_pg_int(&pp, k->key_ops);
    sr_pg_int(&pp, k->enabled);
    sr_pg_int(&pp, k->nbf);
    sr_pg_int(&pp, k->exp);
    sr_pg_int(&pp, k->updated);
    sr_pg_text(&pp, tags);
    SR_AUTO_FREE char *release = NULL;
    SR_AUTO_FREE char *meta = NULL;
    SR_TRY(sr_rows_json_text(k->release_policy, &release));
    SR_TRY(sr_rows_json_text(k->meta, &meta));
    sr_pg_text(&pp, release);
    sr_pg_text(&pp, meta);
    return sr_pg_write(p, SR_PG_KEY_UPDATE, &pp, true);
}

static enum sr_err sr_pg_name_change(struct sr_pg *p, enum sr_pg_stmt id, const struct sr_change *ch)
{
    struct sr_pg_params pp = {0};
    sr_pg_name_params(&pp, &ch->key);
    SR_AUTO_FREE char *policy = NULL;
    if (id == SR_PG_NAME_SET_DELETED) {
        sr_pg_int(&pp, ch->name.deleted);
        sr_pg_int(&pp, ch->name.purge_at);
    } else if (id == SR_PG_NAME_POLICY) {
        policy = json_dumps(ch->name.rotation_policy, JSON_COMPACT);
        SR_ENSURE(policy != NULL, SR_ERR_NOMEM);
        sr_pg_text(&pp, policy);
    }
    return sr_pg_write(p, id, &pp, true);
}

static enum sr_err sr_pg_operator_change(struct sr_pg *p, const struct sr_change *ch)
{
    struct sr_pg_params pp = {0};
    enum sr_pg_stmt id;
    SR_AUTO_FREE char *jwks = NULL;
    SR_AUTO_FREE char *doc = NULL;
    if (ch->kind == SR_CHANGE_IDENT) {
        doc = ch->ident.doc != NULL ? json_dumps(ch->ident.doc, JSON_COMPACT) : NULL;
        SR_ENSURE(doc != NULL || ch->ident.doc == NULL, SR_ERR_NOMEM);
        id = doc != NULL ? SR_PG_IDENT_PUT : SR_PG_IDENT_DELETE;
        sr_pg_text(&pp, ch->ident.kind);
        sr_pg_text(&pp, ch->ident.name);
        if (doc != NULL) {
            sr_pg_text(&pp, doc);
        }
    } else if (ch->kind == SR_CHANGE_AUTHORITY && ch->authority.jwks == NULL) { /* no keys: no longer trusted */
        id = SR_PG_AUTHORITY_DELETE;
        sr_pg_text(&pp, ch->authority.vault);
        sr_pg_text(&pp, ch->authority.issuer);
    } else if (ch->kind == SR_CHANGE_AUTHORITY) {
        jwks = json_dumps(ch->authority.jwks, JSON_COMPACT);
        SR_ENSURE(jwks != NULL, SR_ERR_NOMEM);
        id = SR_PG_AUTHORITY_PUT;
        sr_pg_text(&pp, ch->authority.vault);
        sr_pg_text(&pp, ch->authority.issuer);
        sr_pg_text(&pp, jwks);
        sr_pg_int(&pp, ch->authority.created);
    } else if (ch->kind == SR_CHANGE_REGION) {
        id = SR_PG_REGION_PUT;
        sr_pg_text(&pp, ch->key.name);
        sr_pg_int(&pp, ch->key.created);
    } else if (ch->kind == SR_CHANGE_REGION_FILE) {
        id = SR_PG_REGION_FILE_PUT;
        sr_pg_text(&pp, ch->key.vault);
        sr_pg_text(&pp, ch->key.name);
        sr_pg_bytes(&pp, ch->key.blob.data, ch->key.blob.len);
    } else if (ch->kind == SR_CHANGE_VAULT) {
        id = SR_PG_VAULT_PUT;
        sr_pg_text(&pp, ch->vault.name);
        sr_pg_text(&pp, ch->vault.region);
        sr_pg_text(&pp, ch->vault.subscription);
        sr_pg_int(&pp, ch->vault.created);
    } else {
        id = SR_PG_TOKEN_PUT;
        sr_pg_text(&pp, ch->token.hash);
        sr_pg_text(&pp, ch->token.role);
        sr_pg_text(&pp, ch->token.vault);
        sr_pg_int(&pp, ch->token.created);
        sr_pg_int(&pp, ch->token.expires);
        sr_pg_text(&pp, ch->token.name);
    }
    return sr_pg_write(p, id, &pp, false);
}

static enum sr_err sr_pg_apply(void *db, const struct sr_change *ch)
{
    struct sr_pg *p = db;
    struct sr_pg_params pp = {0};
    switch (ch->kind) {
    case SR_CHANGE_TOKEN_REVOKE:
        sr_pg_text(&pp, ch->token.name);
        sr_pg_int(&pp, ch->token.revoked);
        return sr_pg_write(p, SR_PG_TOKEN_REVOKE, &pp, true);
    case SR_CHANGE_KEY_INSERT:
        return sr_pg_key_insert(p, &ch->key);
    case SR_CHANGE_KEY_UPDATE:
        return sr_pg_key_update(p, &ch->key);
    case SR_CHANGE_NAME_DELETED:
        return sr_pg_name_change(p, SR_PG_NAME_SET_DELETED, ch);
    case SR_CHANGE_NAME_PURGE:
        SR_TRY(sr_pg_name_change(p, SR_PG_KEYS_PURGE, ch));
        return sr_pg_name_change(p, SR_PG_NAME_PURGE, ch);
    case SR_CHANGE_NAME_POLICY:
        return sr_pg_name_change(p, SR_PG_NAME_POLICY, ch);
    default:
        return sr_pg_operator_change(p, ch);
    }
}

static enum sr_err sr_pg_audit_insert(void *db, const struct sr_audit_row *a)
{
    struct sr_pg *p = db;
    struct sr_pg_params pp = {0};
    sr_pg_int(&pp, a->seq);
    sr_pg_int(&pp, a->time);
    sr_pg_text(&pp, a->vault);
    sr_pg_text(&pp, a->actor);
    sr_pg_text(&pp, a->op);
    sr_pg_text(&pp, a->target);
    sr_pg_int(&pp, a->status);
    sr_pg_text(&pp, a->prev);
    sr_pg_text(&pp, a->hash);
    sr_pg_text(&pp, a->client);
    sr_pg_text(&pp, a->reason);
    sr_pg_int(&pp, a->count > 1 ? a->count : 1);
    SR_TRY(sr_pg_write(p, SR_PG_AUDIT_INSERT, &pp, true));
    p->head_seq = a->seq;
    memcpy(p->head_hash, a->hash, sizeof(p->head_hash));
    p->head_moved = true;
    return SR_OK;
}

/* A COMMIT whose answer never came (the connection broke) may or may not have happened: it is never
 * acknowledged, and the answer says the outcome is unknown; a retried request is a new request. */
static enum sr_err sr_pg_commit(void *db)
{
    struct sr_pg *p = db;
    if (p->head_moved) {
        struct sr_pg_params head = {0};
        sr_pg_int(&head, p->head_seq);
        sr_pg_text(&head, p->head_hash);
        SR_TRY(sr_pg_write(p, SR_PG_HEAD_SET, &head, true));
    }
    enum sr_err r = sr_pg_exec(&p->writer, "COMMIT");
    return r == SR_ERR_UNAVAILABLE ? SR_ERR_COMMIT_UNKNOWN : r;
}

static void sr_pg_rollback(void *db)
{
    struct sr_pg *p = db;
    if (p->writer.db != NULL && PQtransactionStatus(p->writer.db) != PQTRANS_IDLE) {
        (void)sr_pg_exec(&p->writer, "ROLLBACK");
    }
}

static const struct sr_gc_ops sr_pg_gc_ops = {
    .begin = sr_pg_begin,
    .savepoint = sr_pg_savepoint,
    .apply = sr_pg_apply,
    .audit_insert = sr_pg_audit_insert,
    .commit = sr_pg_commit,
    .rollback = sr_pg_rollback,
};

/* --- open, migrate, close --- */

static void sr_pg_submit(struct sr_store *s, struct sr_commit *c)
{
    sr_gc_submit(&sr_pg_of(s)->gc, c);
}

static void sr_pg_close(struct sr_store *s)
{
    if (s == NULL) {
        return;
    }
    struct sr_pg *p = sr_pg_of(s);
    sr_gc_stop(&p->gc);
    sr_gc_release(&p->gc);
    for (size_t i = 0; i < SR_PG_READERS; i++) {
        sr_pg_conn_drop(&p->readers[i]);
        pthread_mutex_destroy(&p->readers[i].lock);
    }
    sr_pg_conn_drop(&p->writer);
    free(p->conninfo);
    free(p);
}

static void sr_pg_fail_commits(struct sr_store *s, unsigned n)
{
    sr_gc_fail_commits(&sr_pg_of(s)->gc, n);
}

static const struct sr_store_ops sr_pg_ops = {
    .close = sr_pg_close,
    .submit = sr_pg_submit,
    .region_exists = sr_pg_region_exists,
    .region_each = sr_pg_region_each,
    .region_files = sr_pg_region_files,
    .vault_get = sr_pg_vault_get,
    .vault_each = sr_pg_vault_each,
    .token_get = sr_pg_token_get,
    .token_each = sr_pg_token_each,
    .key_get = sr_pg_key_get,
    .key_list = sr_pg_key_list,
    .key_versions = sr_pg_key_versions,
    .key_all_versions = sr_pg_key_all_versions,
    .audit_each = sr_pg_audit_each,
    .authority_get = sr_pg_authority_get,
    .ident_get = sr_pg_ident_get,
    .ident_each = sr_pg_ident_each,
    .conf_generation = sr_pg_conf_generation,
    .policy_each = sr_pg_policy_each,
    .fail_commits = sr_pg_fail_commits,
};

/* Every server runs this at start; an advisory lock makes concurrent starts apply each migration once. */
static enum sr_err sr_pg_migrate(struct sr_pg_conn *c)
{
    SR_TRY(sr_pg_exec(c, "BEGIN"));
    enum sr_err r = sr_pg_exec(c, "SELECT pg_advisory_xact_lock(7368267)"); /* any constant of our own */
    if (r == SR_OK) {
        r = sr_pg_exec(c, "CREATE TABLE IF NOT EXISTS schema_migrations(version INTEGER PRIMARY KEY,"
                          " applied BIGINT NOT NULL)");
    }
    long long have = 0;
    if (r == SR_OK) {
        PGresult *res = PQexec(c->db, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
        r = res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK ? SR_OK : sr_pg_failure(c, res);
        have = r == SR_OK ? sr_pg_ll(res, 0, 0) : 0;
        PQclear(res);
    }
    for (size_t v = (size_t)have; r == SR_OK && v < SR_ARRAY_LEN(sr_pg_migrations); v++) {
        char record[128];
        snprintf(record, sizeof(record),
                 "INSERT INTO schema_migrations VALUES(%zu, extract(epoch from now())::bigint)", v + 1);
        r = sr_pg_exec(c, sr_pg_migrations[v]);
        if (r == SR_OK) {
            r = sr_pg_exec(c, record);
        }
    }
    SR_ENSURE(have <= (long long)SR_ARRAY_LEN(sr_pg_migrations) || r != SR_OK, SR_ERR_STORE_NEWER);
    if (r == SR_OK) {
        r = sr_pg_exec(c, "COMMIT");
    }
    if (r != SR_OK && c->db != NULL) {
        (void)sr_pg_exec(c, "ROLLBACK");
    }
    return r;
}

bool sr_store_is_pg_url(const char *url)
{
    return url != NULL && (strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0);
}

enum sr_err sr_store_pg_open(const char *url, struct sr_store **ret)
{
    SR_ENSURE(sr_store_is_pg_url(url), SR_ERR_USAGE);
    struct sr_pg *p = calloc(1, sizeof(*p));
    SR_ENSURE(p != NULL, SR_ERR_NOMEM);
    p->base.ops = &sr_pg_ops;
    for (size_t i = 0; i < SR_PG_READERS; i++) {
        pthread_mutex_init(&p->readers[i].lock, NULL);
    }
    sr_gc_init(&p->gc, &sr_pg_gc_ops, p);
    p->conninfo = strdup(url);
    enum sr_err r = p->conninfo != NULL ? sr_pg_conn_ready(p, &p->writer) : SR_ERR_NOMEM;
    if (r == SR_OK) {
        r = sr_pg_migrate(&p->writer);
    }
    if (r == SR_OK) {
        r = sr_gc_start(&p->gc);
    }
    if (r != SR_OK) {
        sr_pg_close(&p->base);
        return r;
    }
    *ret = &p->base;
    return SR_OK;
}


enum sr_err sr_store_open(const char *url, const char *data_dir, struct sr_store **ret)
{
    /* SPEC 4a: no value, or a path (no scheme), is SQLite in the data directory. */
    if (url == NULL || *url == 0 || strstr(url, "://") == NULL) {
        return sr_store_sqlite_open(data_dir, ret);
    }
    SR_ENSURE(sr_store_is_pg_url(url), SR_ERR_STORE_URL);
    return sr_store_pg_open(url, ret);
}
