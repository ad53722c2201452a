/* Unit tests of the stores behind store.h: group commit (store/groupcommit.c), its chain and failure rules,
 * the SQLite store's caches; run on SQLite, and on PostgreSQL by tests/pg/with-pg.sh (test_store_pg). */
#include "testlib.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "store/sqlite_internal.h"
#include "vault/vault.h"

struct sr_store_fixture {
    char dir[256];
    struct sr_store *store;
};

static int sr_setup(void **state)
{
    struct sr_store_fixture *f = calloc(1, sizeof(*f));
    sr_test_tmpdir(f->dir, sizeof(f->dir));
    sr_test_store_open(f->dir, &f->store);
    *state = f;
    return 0;
}

static int sr_teardown(void **state)
{
    struct sr_store_fixture *f = *state;
    if (f->store != NULL) {
        f->store->ops->close(f->store);
    }
    sr_test_rmrf(f->dir);
    free(f);
    return 0;
}

/* A commit as a create request makes it: one new key version and its audit entry. */
static void sr_create_commit(struct sr_commit *c, const char *name, const char *version)
{
    sr_commit_init(c);
    struct sr_key_row k = {.enabled = true, .created = 1, .updated = 1};
    snprintf(k.vault, sizeof(k.vault), "v");
    snprintf(k.name, sizeof(k.name), "%s", name);
    snprintf(k.version, sizeof(k.version), "%s", version);
    snprintf(k.kty, sizeof(k.kty), "EC-HSM");
    sr_buf_init(&k.blob, 64, SR_BUF_PLAIN);
    SR_ASSERT_OK(sr_buf_append(&k.blob, "blob-bytes", 10));
    SR_ASSERT_OK(sr_commit_key_insert(c, &k));
    sr_buf_release(&k.blob);
    c->audited = true;
    c->audit.time = 1;
    c->audit.status = 200;
    snprintf(c->audit.vault, sizeof(c->audit.vault), "v");
    snprintf(c->audit.actor, sizeof(c->audit.actor), "test");
    snprintf(c->audit.op, sizeof(c->audit.op), "CreateKey");
    snprintf(c->audit.target, sizeof(c->audit.target), "%s", name);
}

static bool sr_key_exists(struct sr_store *s, const char *name)
{
    struct sr_key_row k = {0};
    enum sr_err r = s->ops->key_get(s, "v", name, NULL, false, &k, NULL);
    assert_true(r == SR_OK || r == SR_ERR_NOT_FOUND);
    sr_key_row_release(&k);
    return r == SR_OK;
}

static long long sr_chain_length(struct sr_store *s)
{
    long long count = 0, bad = -1;
    SR_ASSERT_OK(sr_audit_verify(s, &count, &bad));
    assert_int_equal(bad, 0);
    return count;
}

struct sr_appender {
    struct sr_store *store;
    int id;
};

static void *sr_append_many(void *arg)
{
    struct sr_appender *a = arg;
    for (int i = 0; i < 150; i++) {
        char name[64];
        snprintf(name, sizeof(name), "t%d-k%d", a->id, i);
        struct sr_commit c;
        sr_create_commit(&c, name, "00000000000000000000000000000001");
        if (i % 3 == 0) {
            sr_commit_release(&c); /* an audit entry alone, as a read request leaves */
        }
        assert_int_equal(SR_OK, sr_store_commit_wait(a->store, &c));
        assert_true(c.audit.seq > 0);
        sr_commit_release(&c);
    }
    return NULL;
}

/* Eight threads commit at once, half through each of two stores: every entry lands, in one chain that
 * verifies, and every key is readable through either. */
static void sr_eight_appenders(struct sr_store *first, struct sr_store *second)
{
    pthread_t t[8];
    struct sr_appender a[8];
    for (int i = 0; i < 8; i++) {
        a[i] = (struct sr_appender){.store = i % 2 ? second : first, .id = i};
        assert_int_equal(0, pthread_create(&t[i], NULL, sr_append_many, &a[i]));
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
    }
    assert_int_equal(sr_chain_length(first), 8 * 150);
    assert_true(sr_key_exists(first, "t7-k149"));
    assert_true(sr_key_exists(second, "t6-k149"));
    assert_false(sr_key_exists(first, "t7-k0")); /* that one was an audit entry alone */
}

static void test_many_threads_one_chain(void **state)
{
    struct sr_store_fixture *f = *state;
    sr_eight_appenders(f->store, f->store);
}

/* Two servers over one database (on SQLite: two writers on one file, taking turns at its lock; on
 * PostgreSQL: two nodes whose batches take turns at the chain's head row). */
static void test_two_stores_one_chain(void **state)
{
    struct sr_store_fixture *f = *state;
    struct sr_store *other = NULL;
    sr_test_store_reopen(f->dir, &other);
    sr_eight_appenders(f->store, other);
    other->ops->close(other);
}

struct sr_pending {
    struct sr_commit c;
    atomic_int *calls;
};

static void sr_count_done(struct sr_commit *c)
{
    struct sr_pending *p = c->ctx;
    atomic_fetch_add(p->calls, 1);
}

/* Submits n creates of keys prefix0..prefix(n-1), each counting its report in *calls. */
static struct sr_pending *sr_submit_creates(struct sr_store *store, int n, const char *prefix, atomic_int *calls)
{
    struct sr_pending *p = calloc((size_t)n, sizeof(*p));
    assert_non_null(p);
    for (int i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof(name), "%s%d", prefix, i);
        sr_create_commit(&p[i].c, name, "00000000000000000000000000000001");
        p[i].calls = calls;
        p[i].c.done = sr_count_done;
        p[i].c.ctx = &p[i];
        store->ops->submit(store, &p[i].c);
    }
    return p;
}

/* A commit whose transaction fails is not acknowledged, keeps nothing, and leaves no gap in the chain. */
static void test_failed_commit_keeps_nothing(void **state)
{
    struct sr_store_fixture *f = *state;
    struct sr_commit c;
    sr_create_commit(&c, "before", "00000000000000000000000000000001");
    SR_ASSERT_OK(sr_store_commit_wait(f->store, &c));
    sr_commit_release(&c);

    f->store->ops->fail_commits(f->store, 1);
    sr_create_commit(&c, "lost", "00000000000000000000000000000001");
    SR_ASSERT_ERR(SR_ERR_COMMIT_FAILED, sr_store_commit_wait(f->store, &c));
    sr_commit_release(&c);
    assert_int_equal(sr_err_http_status(SR_ERR_COMMIT_FAILED), 500);
    assert_false(sr_key_exists(f->store, "lost"));
    assert_int_equal(sr_chain_length(f->store), 1);

    sr_create_commit(&c, "after", "00000000000000000000000000000001");
    SR_ASSERT_OK(sr_store_commit_wait(f->store, &c));
    assert_int_equal(c.audit.seq, 2); /* the failed entry's number is reused: no gap */
    sr_commit_release(&c);
    assert_true(sr_key_exists(f->store, "after"));
    assert_int_equal(sr_chain_length(f->store), 2);
}

/* A change that cannot apply (a soft-deleted name) fails alone: its entry records the refusal. */
static void test_refused_change_is_audited_alone(void **state)
{
    struct sr_store_fixture *f = *state;
    struct sr_commit c;
    sr_create_commit(&c, "gone", "00000000000000000000000000000001");
    SR_ASSERT_OK(sr_store_commit_wait(f->store, &c));
    sr_commit_release(&c);
    sr_commit_init(&c);
    SR_ASSERT_OK(sr_commit_name_deleted(&c, "v", "gone", 100, 200));
    SR_ASSERT_OK(sr_store_commit_wait(f->store, &c));
    sr_commit_release(&c);
    assert_false(sr_key_exists(f->store, "gone")); /* a read right after a commit sees it */

    sr_create_commit(&c, "gone", "00000000000000000000000000000002");
    SR_ASSERT_ERR(SR_ERR_EXISTS, sr_store_commit_wait(f->store, &c));
    assert_int_equal(c.audit.status, 409);
    sr_commit_release(&c);
    struct sr_key_row k = {0};
    struct sr_name_row n = {0};
    SR_ASSERT_OK(f->store->ops->key_get(f->store, "v", "gone", NULL, true, &k, &n));
    assert_string_equal(k.version, "00000000000000000000000000000001");
    assert_int_equal(n.deleted, 100);
    sr_key_row_release(&k);
    sr_name_row_release(&n);
    assert_int_equal(sr_chain_length(f->store), 2);
}

/* A failed transaction fails every commit of its batch, and only those: what is acknowledged is kept. */
static void test_failed_batch_fails_all_of_it(void **state)
{
    struct sr_store_fixture *f = *state;
    enum { N = 64 };
    atomic_int calls = 0;
    f->store->ops->fail_commits(f->store, 1);
    struct sr_pending *p = sr_submit_creates(f->store, N, "b", &calls);
    while (atomic_load(&calls) < N) {
        struct timespec ms = {.tv_nsec = 1000000};
        nanosleep(&ms, NULL);
    }
    long long kept = 0, failed = 0;
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof(name), "b%d", i);
        assert_true(p[i].c.result == SR_OK || p[i].c.result == SR_ERR_COMMIT_FAILED);
        assert_int_equal(p[i].c.result == SR_OK, sr_key_exists(f->store, name));
        kept += p[i].c.result == SR_OK;
        failed += p[i].c.result != SR_OK;
        /* The first batch failed whole: nothing before a failure was acknowledged. */
        assert_true(i == 0 || !(p[i].c.result != SR_OK && p[i - 1].c.result == SR_OK));
        sr_commit_release(&p[i].c);
    }
    assert_true(failed >= 1);
    assert_int_equal(sr_chain_length(f->store), kept);
    free(p);
}

/* Closing with commits still queued: each is committed (and reported) before the store goes. */
static void test_shutdown_commits_pending(void **state)
{
    struct sr_store_fixture *f = *state;
    enum { N = 400 };
    atomic_int calls = 0;
    struct sr_pending *p = sr_submit_creates(f->store, N, "k", &calls);
    f->store->ops->close(f->store);
    f->store = NULL;
    assert_int_equal(atomic_load(&calls), N);
    sr_test_store_reopen(f->dir, &f->store);
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof(name), "k%d", i);
        /* Acknowledged means kept; nothing is ever reported otherwise than it ended. */
        assert_int_equal(p[i].c.result == SR_OK, sr_key_exists(f->store, name));
        assert_int_equal(p[i].c.result, SR_OK);
        sr_commit_release(&p[i].c);
    }
    assert_int_equal(sr_chain_length(f->store), N);
    free(p);
}

/*
 * The key-row cache: a read that began before a change is not kept after it (the race a cache filled by
 * readers and emptied by the writer must close), rows handed out are copies, and names match without case.
 */
static void test_rowcache_keeps_nothing_older_than_a_change(void **state)
{
    (void)state;
    if (sr_test_on_pg()) {
        skip(); /* the SQLite store's cache */
    }
    struct sr_rowcache *c = calloc(1, sizeof(*c));
    sr_rowcache_init(c);
    struct sr_key_row k = {.enabled = true}, got = {0};
    struct sr_name_row n = {0}, got_n = {0};
    snprintf(k.version, sizeof(k.version), "00000000000000000000000000000001");
    k.tags = json_pack("{s:s}", "a", "b");
    sr_buf_init(&k.blob, 64, SR_BUF_PLAIN);
    SR_ASSERT_OK(sr_buf_append(&k.blob, "blob", 4));
    unsigned long long gen = 0;
    assert_false(sr_rowcache_get(c, "V", "Key", NULL, &got, &got_n, &gen));
    sr_rowcache_clear(c); /* the writer changed something while the read ran */
    sr_rowcache_put(c, gen, "V", "Key", NULL, &k, &n);
    assert_false(sr_rowcache_get(c, "V", "Key", NULL, &got, &got_n, &gen)); /* not kept */
    sr_rowcache_put(c, gen, "V", "Key", NULL, &k, &n);
    assert_true(sr_rowcache_get(c, "v", "KEY", NULL, &got, &got_n, &gen)); /* names without case */
    assert_memory_equal(got.blob.data, "blob", 4);
    /* A copy: changing it changes nothing cached. */
    json_object_set_new(got.tags, "x", json_true());
    got.blob.data[0] = 'X';
    sr_key_row_release(&got);
    sr_name_row_release(&got_n);
    assert_true(sr_rowcache_get(c, "v", "key", NULL, &got, &got_n, &gen));
    assert_null(json_object_get(got.tags, "x"));
    assert_memory_equal(got.blob.data, "blob", 4);
    sr_key_row_release(&got);
    sr_name_row_release(&got_n);
    /* Versions match exactly; the latest ("") is another row. */
    assert_false(sr_rowcache_get(c, "v", "key", "00000000000000000000000000000001", &got, &got_n, &gen));
    sr_rowcache_clear(c);
    assert_false(sr_rowcache_get(c, "v", "key", NULL, &got, &got_n, &gen));
    /* Bounded: many rows, never more than the slots, the recent ones kept. */
    for (int i = 0; i < 3 * SR_ROWCACHE_SLOTS; i++) {
        char name[32];
        snprintf(name, sizeof(name), "k%d", i);
        sr_rowcache_put(c, gen, "v", name, NULL, &k, &n);
    }
    char last[32];
    snprintf(last, sizeof(last), "k%d", 3 * SR_ROWCACHE_SLOTS - 1);
    assert_true(sr_rowcache_get(c, "v", last, NULL, &got, &got_n, &gen));
    sr_key_row_release(&got);
    sr_name_row_release(&got_n);
    assert_false(sr_rowcache_get(c, "v", "k0", NULL, &got, &got_n, &gen));
    sr_key_row_release(&k);
    sr_rowcache_release(c);
    free(c);
}

static struct sr_token_row sr_token(const char *hash, long long expires)
{
    struct sr_token_row t = {.created = 1, .expires = expires};
    snprintf(t.hash, sizeof(t.hash), "%s", hash);
    snprintf(t.role, sizeof(t.role), "Reader");
    return t;
}

static long long sr_token_expiry(struct sr_store *s, const char *hash)
{
    struct sr_token_row t;
    SR_ASSERT_OK(s->ops->token_get(s, hash, &t));
    return t.expires;
}

/* Edits the token's row behind the store's back, as no store writer does: nothing counts it as a change. */
static void sr_token_edit_raw(const char *dir, const char *hash, long long expires)
{
    char path[300], sql[200];
    snprintf(path, sizeof(path), "%s/vault.db", dir);
    snprintf(sql, sizeof(sql), "UPDATE tokens SET expires = %lld WHERE hash = '%s'", expires, hash);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

/*
 * A server keeps token and vault rows; an operator command in another process (here a second store on the
 * same directory) changes them. Every change made through a store is seen by the next look-up; and a
 * writer that died in the middle of one stops the cache until the look-up finds it gone.
 */
static void test_token_changes_from_another_process_seen_at_once(void **state)
{
    struct sr_store_fixture *f = *state;
    if (sr_test_on_pg()) {
        skip(); /* SQLite's cache and its change count; the PostgreSQL store keeps no rows */
    }
    struct sr_token_row t = sr_token("aa11", 100);
    SR_ASSERT_OK(sr_store_token_put(f->store, &t));
    assert_int_equal(sr_token_expiry(f->store, "aa11"), 100);
    /* Kept: a change no store counted is not read again (what proves the cache is used at all). */
    sr_token_edit_raw(f->dir, "aa11", 200);
    assert_int_equal(sr_token_expiry(f->store, "aa11"), 100);
    /* Another process's store writes a token: the count moves, the next look-up reads the row again. */
    struct sr_store *other = NULL;
    SR_ASSERT_OK(sr_store_sqlite_open(f->dir, &other));
    struct sr_token_row u = sr_token("bb22", 0);
    SR_ASSERT_OK(sr_store_token_put(other, &u));
    assert_int_equal(sr_token_expiry(f->store, "aa11"), 200);
    assert_int_equal(sr_token_expiry(f->store, "bb22"), 0);
    other->ops->close(other);
    /* A writer half-way (its change begun, not ended): every look-up reads the database. */
    struct sr_sqlite *l = (struct sr_sqlite *)f->store;
    struct sr_changes writer;
    SR_ASSERT_OK(sr_changes_open(&writer, l->path));
    sr_changes_begin(&writer);
    sr_token_edit_raw(f->dir, "aa11", 300);
    assert_int_equal(sr_token_expiry(f->store, "aa11"), 300);
    sr_token_edit_raw(f->dir, "aa11", 400);
    assert_int_equal(sr_token_expiry(f->store, "aa11"), 400);
    /* It dies without ending (its flock goes with it): the next look-up settles the count, caching again. */
    sr_changes_close(&writer);
    assert_int_equal(sr_token_expiry(f->store, "aa11"), 400);
    sr_token_edit_raw(f->dir, "aa11", 500);
    assert_int_equal(sr_token_expiry(f->store, "aa11"), 400);
    /* Vaults the same way. */
    struct sr_vault_row v = {.created = 1};
    snprintf(v.name, sizeof(v.name), "Payments");
    snprintf(v.region, sizeof(v.region), "r1");
    SR_ASSERT_OK(sr_store_vault_put(f->store, &v));
    struct sr_vault_row got;
    SR_ASSERT_OK(f->store->ops->vault_get(f->store, "payments", &got)); /* names without case */
    assert_string_equal(got.name, "Payments");
    assert_int_equal(f->store->ops->vault_get(f->store, "nope", &got), SR_ERR_NOT_FOUND);
    v = (struct sr_vault_row){.created = 1};
    snprintf(v.name, sizeof(v.name), "nope");
    snprintf(v.region, sizeof(v.region), "r1");
    SR_ASSERT_OK(sr_store_sqlite_open(f->dir, &other));
    SR_ASSERT_OK(sr_store_vault_put(other, &v)); /* a miss is never kept: the new vault is there at once */
    other->ops->close(other);
    SR_ASSERT_OK(f->store->ops->vault_get(f->store, "nope", &got));
}

/* The schema is versioned: a database from a newer strongroom is refused, not guessed at; one from before
 * versions were kept (SQLite) is brought up to date with its rows. */
static void test_schema_versions(void **state)
{
    struct sr_store_fixture *f = *state;
    struct sr_commit c;
    sr_create_commit(&c, "kept", "00000000000000000000000000000001");
    SR_ASSERT_OK(sr_store_commit_wait(f->store, &c));
    sr_commit_release(&c);
    f->store->ops->close(f->store);
    f->store = NULL;
    if (!sr_test_on_pg()) {
        /* As a database from before versions was: migration 1's schema alone. */
        sr_test_store_sql(f->dir, "DROP TABLE schema_migrations; DROP TABLE region_files; DROP INDEX tokens_name;"
                                  "DROP INDEX audit_actor; ALTER TABLE tokens DROP COLUMN name;"
                                  "ALTER TABLE tokens DROP COLUMN revoked; ALTER TABLE audit DROP COLUMN client;"
                                  "ALTER TABLE audit DROP COLUMN reason; ALTER TABLE audit DROP COLUMN count;"
                                  "DROP TABLE authorities; ALTER TABLE keys DROP COLUMN release_policy; DROP TABLE idents;"
                                  "ALTER TABLE keys DROP COLUMN meta");
        sr_test_store_reopen(f->dir, &f->store);
        assert_true(sr_key_exists(f->store, "kept"));
        f->store->ops->close(f->store);
        f->store = NULL;
    }
    sr_test_store_sql(f->dir, "INSERT INTO schema_migrations VALUES(999, 0)");
    struct sr_store *s = NULL;
    SR_ASSERT_ERR(SR_ERR_STORE_NEWER, sr_test_store_try_reopen(f->dir, &s));
    assert_null(s);
    sr_test_store_sql(f->dir, "DELETE FROM schema_migrations WHERE version = 999");
    sr_test_store_reopen(f->dir, &f->store);
    assert_true(sr_key_exists(f->store, "kept"));
}

static enum sr_err sr_count_row(void *ctx, const struct sr_key_row *k, const struct sr_name_row *n)
{
    (void)k, (void)n;
    (*(int *)ctx)++;
    return SR_OK;
}

/* The live names a namespace lists. */
static int sr_count_keys(struct sr_store *s, const char *space)
{
    int n = 0;
    SR_ASSERT_OK(s->ops->key_list(s, space, false, 0, 100, sr_count_row, &n));
    return n;
}

/* A secret's rows live in the namespace "v/secrets": beside a key of the same name, never in the vault's key
 * list, with their meta (contentType) kept through insert and update. */
static void test_secret_namespace_and_meta(void **state)
{
    struct sr_store_fixture *f = *state;
    struct sr_commit c;
    sr_create_commit(&c, "shared", "00000000000000000000000000000001");
    SR_ASSERT_OK(sr_store_commit_wait(f->store, &c));
    sr_commit_release(&c);
    sr_create_commit(&c, "shared", "00000000000000000000000000000002");
    snprintf(c.changes[0].key.vault, sizeof(c.changes[0].key.vault), "v" SR_SPACE_SECRETS);
    snprintf(c.changes[0].key.kty, sizeof(c.changes[0].key.kty), "secret");
    c.changes[0].key.meta = json_pack("{s:s}", "contentType", "text/plain");
    SR_ASSERT_OK(sr_store_commit_wait(f->store, &c));
    sr_commit_release(&c);
    struct sr_key_row k = {0};
    SR_ASSERT_OK(f->store->ops->key_get(f->store, "v", "shared", NULL, false, &k, NULL));
    assert_string_equal(k.version, "00000000000000000000000000000001");
    assert_null(k.meta);
    sr_key_row_release(&k);
    SR_ASSERT_OK(f->store->ops->key_get(f->store, "V/Secrets", "SHARED", NULL, false, &k, NULL));
    assert_string_equal(k.kty, "secret");
    assert_string_equal(json_string_value(json_object_get(k.meta, "contentType")), "text/plain");
    json_object_set_new(k.meta, "contentType", json_string("application/json"));
    sr_commit_init(&c);
    SR_ASSERT_OK(sr_commit_key_update(&c, &k));
    SR_ASSERT_OK(sr_store_commit_wait(f->store, &c));
    sr_commit_release(&c);
    sr_key_row_release(&k);
    SR_ASSERT_OK(f->store->ops->key_get(f->store, "v/secrets", "shared", NULL, false, &k, NULL));
    assert_string_equal(json_string_value(json_object_get(k.meta, "contentType")), "application/json");
    sr_key_row_release(&k);
    assert_int_equal(sr_count_keys(f->store, "v"), 1);
    assert_int_equal(sr_count_keys(f->store, "v/secrets"), 1);
}

/* A version's release policy goes in with it, changes with an update and comes back the same; a vault's
 * authorities are kept per vault and issuer, and trusting one again replaces its keys. */
static void test_release_policy_and_authorities(void **state)
{
    struct sr_store_fixture *f = *state;
    struct sr_commit c;
    sr_create_commit(&c, "exportable", "00000000000000000000000000000001");
    c.changes[0].key.release_policy = json_pack("{s:s,s:b,s:s}", "contentType", "application/json", "immutable", 0,
                                                "data", "e30");
    SR_ASSERT_OK(sr_store_commit_wait(f->store, &c));
    sr_commit_release(&c);
    struct sr_key_row k = {0};
    SR_ASSERT_OK(f->store->ops->key_get(f->store, "v", "exportable", NULL, false, &k, NULL));
    assert_non_null(k.release_policy);
    assert_string_equal(json_string_value(json_object_get(k.release_policy, "data")), "e30");
    json_object_set_new(k.release_policy, "immutable", json_true());
    sr_commit_init(&c);
    SR_ASSERT_OK(sr_commit_key_update(&c, &k));
    SR_ASSERT_OK(sr_store_commit_wait(f->store, &c));
    sr_commit_release(&c);
    sr_key_row_release(&k);
    SR_ASSERT_OK(f->store->ops->key_get(f->store, "v", "exportable", NULL, false, &k, NULL));
    assert_true(json_is_true(json_object_get(k.release_policy, "immutable")));
    sr_key_row_release(&k);
    sr_create_commit(&c, "plain", "00000000000000000000000000000002");
    SR_ASSERT_OK(sr_store_commit_wait(f->store, &c));
    sr_commit_release(&c);
    SR_ASSERT_OK(f->store->ops->key_get(f->store, "v", "plain", NULL, false, &k, NULL));
    assert_null(k.release_policy);
    sr_key_row_release(&k);

    json_t *jwks = NULL;
    SR_ASSERT_ERR(SR_ERR_NOT_FOUND, f->store->ops->authority_get(f->store, "v", "https://a/", &jwks));
    json_t *first = json_pack("{s:[{s:s}]}", "keys", "kid", "one");
    json_t *second = json_pack("{s:[{s:s}]}", "keys", "kid", "two");
    SR_ASSERT_OK(sr_store_authority_put(f->store, "v", "https://a/", first, 1));
    SR_ASSERT_OK(sr_store_authority_put(f->store, "w", "https://a/", first, 1));
    SR_ASSERT_OK(sr_store_authority_put(f->store, "v", "https://a/", second, 2));
    SR_ASSERT_OK(f->store->ops->authority_get(f->store, "V", "https://a/", &jwks)); /* vault names ignore case */
    assert_true(json_equal(jwks, second));
    json_decref(jwks);
    SR_ASSERT_OK(f->store->ops->authority_get(f->store, "w", "https://a/", &jwks));
    assert_true(json_equal(jwks, first));
    json_decref(jwks);
    SR_ASSERT_ERR(SR_ERR_NOT_FOUND, f->store->ops->authority_get(f->store, "v", "https://A/", &jwks));
    json_decref(first);
    json_decref(second);
}

static enum sr_err sr_count_doc(void *ctx, const char *name, const json_t *doc)
{
    (void)doc;
    assert_non_null(name);
    (*(int *)ctx)++;
    return SR_OK;
}

/* Identity documents: by kind and name (names without case), replaced by a second put, gone with NULL; every
 * change moves the count a server's caches follow (SQLite; PostgreSQL's servers never serve from memory). */
static void test_identity_documents(void **state)
{
    struct sr_store_fixture *f = *state;
    struct sr_store *s = f->store;
    unsigned long long before = 0, after = 0;
    bool settled = s->ops->conf_generation(s, &before);
    assert_true(settled == !sr_test_on_pg());
    json_t *one = json_pack("{s:s}", "name", "one"), *two = json_pack("{s:s}", "name", "two"), *got = NULL;
    SR_ASSERT_OK(sr_store_ident_put(s, "app", "Client-1", one));
    SR_ASSERT_OK(sr_store_ident_put(s, "idp", "client-1", two)); /* another kind, the same name */
    SR_ASSERT_OK(s->ops->ident_get(s, "app", "client-1", &got));
    assert_true(json_equal(got, one));
    json_decref(got);
    SR_ASSERT_OK(sr_store_ident_put(s, "app", "client-1", two));
    SR_ASSERT_OK(s->ops->ident_get(s, "app", "CLIENT-1", &got));
    assert_true(json_equal(got, two));
    json_decref(got);
    int n = 0;
    SR_ASSERT_OK(s->ops->ident_each(s, "app", sr_count_doc, &n));
    assert_int_equal(n, 1);
    if (settled) {
        assert_true(s->ops->conf_generation(s, &after));
        assert_true(after > before);
    }
    SR_ASSERT_OK(sr_store_ident_put(s, "app", "client-1", NULL));
    SR_ASSERT_ERR(SR_ERR_NOT_FOUND, s->ops->ident_get(s, "app", "client-1", &got));
    SR_ASSERT_OK(s->ops->ident_get(s, "idp", "client-1", &got));
    json_decref(got);
    n = 0;
    SR_ASSERT_OK(s->ops->ident_each(s, "app", sr_count_doc, &n));
    assert_int_equal(n, 0);
    char big[SR_MAX_IDENT_NAME + 2];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    SR_ASSERT_ERR(SR_ERR_TOO_LARGE, sr_store_ident_put(s, "app", big, one));
    json_decref(one);
    json_decref(two);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_many_threads_one_chain, sr_setup, sr_teardown),
        cmocka_unit_test_setup_teardown(test_two_stores_one_chain, sr_setup, sr_teardown),
        cmocka_unit_test_setup_teardown(test_failed_commit_keeps_nothing, sr_setup, sr_teardown),
        cmocka_unit_test_setup_teardown(test_refused_change_is_audited_alone, sr_setup, sr_teardown),
        cmocka_unit_test_setup_teardown(test_failed_batch_fails_all_of_it, sr_setup, sr_teardown),
        cmocka_unit_test_setup_teardown(test_shutdown_commits_pending, sr_setup, sr_teardown),
        cmocka_unit_test_setup_teardown(test_schema_versions, sr_setup, sr_teardown),
        cmocka_unit_test_setup_teardown(test_release_policy_and_authorities, sr_setup, sr_teardown),
        cmocka_unit_test_setup_teardown(test_secret_namespace_and_meta, sr_setup, sr_teardown),
        cmocka_unit_test_setup_teardown(test_identity_documents, sr_setup, sr_teardown),
        cmocka_unit_test(test_rowcache_keeps_nothing_older_than_a_change),
        cmocka_unit_test_setup_teardown(test_token_changes_from_another_process_seen_at_once, sr_setup, sr_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
