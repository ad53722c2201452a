/*
 * fuzz_audit.c - what the audit commands read back: the rows of the audit table (a store file someone
 * edited: any type in any column, NULLs, over-long text, a broken chain) and signed checkpoints.
 * Target: the store's audit reader (audit_each), sr_audit_verify, sr_audit_checkpoint_check.
 * An input starting with '{' is a checkpoint, checked against the genuine log. Any other input is a row
 * script that replaces the audit table: one row per line, 12 tab-separated fields in the reader's column
 * order (seq time vault actor op target status prev hash client reason count); a field is text, "#N" an
 * integer, "~" NULL. The rows are then verified whole and up to the genuine checkpoint's entry (what
 * sr_audit_checkpoint_check does once the signature holds; its signature check is left to the '{' inputs,
 * so that row scripts run at the reader's speed, not the certificate decoder's).
 * Seeds are the genuine log as a script and a genuine checkpoint.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "base/fileio.h"
#include "fuzz.h"
#include "hsm/backend.h"
#include "hsm/module.h"
#include "testlib.h"
#include "vault/store.h"
#include "vault/vault.h"

#define SR_AUDIT_COLUMNS 12
#define SR_AUDIT_MAX_ROWS 64

static char sr_dir[256];
static struct sr_store *sr_store;
static sqlite3 *sr_db; /* a second connection, for writes the store would never make */
static struct sr_buf sr_checkpoint;
static uint8_t sr_pinned[32];
static long long sr_checkpoint_seq; /* the entry the genuine checkpoint signed */

static void sr_cleanup(void)
{
    sqlite3_close(sr_db);
    sr_store->ops->close(sr_store);
    sr_buf_release(&sr_checkpoint);
    sr_test_rmrf(sr_dir);
}

static void sr_audited(const char *op, int status)
{
    struct sr_commit c = {.audited = true};
    c.audit = (struct sr_audit_row){.time = 1700000000, .status = status};
    snprintf(c.audit.vault, sizeof(c.audit.vault), "fuzz-vault");
    snprintf(c.audit.actor, sizeof(c.audit.actor), "admin");
    snprintf(c.audit.op, sizeof(c.audit.op), "%s", op);
    snprintf(c.audit.target, sizeof(c.audit.target), "key1");
    if (status >= 400) {
        sr_audit_set_client(&c.audit, "127.0.0.1", "token expired");
        c.audit.count = 3;
    }
    if (sr_store_commit_wait(sr_store, &c) != SR_OK) {
        abort();
    }
    sr_commit_release(&c);
}

void sr_fuzz_setup(void)
{
    if (sr_store != NULL) {
        return;
    }
    sr_test_tmpdir(sr_dir, sizeof(sr_dir));
    atexit(sr_cleanup);
    sr_store = sr_test_data_with_region(sr_dir, "EU");
    sr_audited("CreateKey", 200);
    sr_audited("Sign", 200);
    sr_audited("Authenticate", 401);
    char kmdata[512], path[512], root[512];
    struct sr_module *m = NULL;
    struct sr_hsm *h = NULL;
    snprintf(path, sizeof(path), "%s/checkpoint", sr_dir);
    snprintf(root, sizeof(root), "%s/root", sr_dir);
    if (sr_region_kmdata(sr_dir, "EU", kmdata, sizeof(kmdata)) != SR_OK || sr_module_open(kmdata, &m) != SR_OK ||
        sr_hsm_software(m, &h) != SR_OK || sr_audit_checkpoint_write(sr_store, h, "EU", path, &sr_checkpoint_seq) != SR_OK ||
        sr_root_fingerprint(root, sr_pinned) != SR_OK) {
        abort();
    }
    sr_hsm_free(h);
    sr_test_read_file(path, &sr_checkpoint);
    snprintf(path, sizeof(path), "%s/vault.db", sr_dir);
    if (sqlite3_open(path, &sr_db) != SQLITE_OK) {
        abort();
    }
    sqlite3_busy_timeout(sr_db, 5000);
}

static void sr_bind_field(sqlite3_stmt *st, int col, const char *field, size_t len)
{
    if (len == 1 && field[0] == '~') {
        sqlite3_bind_null(st, col);
    } else if (len > 0 && field[0] == '#') {
        char num[32];
        snprintf(num, sizeof(num), "%.*s", (int)(len - 1 < 31 ? len - 1 : 31), field + 1);
        sqlite3_bind_int64(st, col, strtoll(num, NULL, 10));
    } else {
        sqlite3_bind_text(st, col, field, (int)len, SQLITE_TRANSIENT);
    }
}

/* Replaces the audit table by the script's rows (rows the table's constraints refuse are left out). */
static void sr_load_rows(const char *text, size_t size)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_exec(sr_db, "BEGIN; DELETE FROM audit", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(sr_db, "INSERT INTO audit(seq, time, vault, actor, op, target, status, prev, hash, "
                                  "client, reason, count) VALUES(?,?,?,?,?,?,?,?,?,?,?,?)", -1, &st, NULL) != SQLITE_OK) {
        abort();
    }
    const char *p = text, *end = text + size;
    for (int row = 0; p < end && row < SR_AUDIT_MAX_ROWS; row++) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = eol ? eol : end;
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        for (int col = 1; col <= SR_AUDIT_COLUMNS && p <= line_end; col++) {
            const char *tab = memchr(p, '\t', (size_t)(line_end - p));
            const char *field_end = tab ? tab : line_end;
            sr_bind_field(st, col, p, (size_t)(field_end - p));
            p = field_end + 1;
        }
        (void)sqlite3_step(st);
        p = line_end + 1;
    }
    sqlite3_finalize(st);
    if (sqlite3_exec(sr_db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    long long seq = 0, count = 0, bad = 0;
    char why[256];
    if (size > 0 && data[0] == '{') {
        (void)!sr_audit_checkpoint_check(sr_store, data, size, sr_pinned, &seq, &count, why, sizeof(why));
        return 0;
    }
    sr_load_rows((const char *)data, size);
    (void)!sr_audit_verify(sr_store, &count, &bad);
    char head[65];
    (void)!sr_audit_verify_to(sr_store, &count, &bad, sr_checkpoint_seq, head);
    return 0;
}

/* One script line per genuine row. */
static enum sr_err sr_script_row(void *ctx, const struct sr_audit_row *a)
{
    char line[1024];
    int n = snprintf(line, sizeof(line), "#%lld\t#%lld\t%s\t%s\t%s\t%s\t#%d\t%s\t%s\t%s\t%s\t#%lld\n", a->seq, a->time,
                     a->vault, a->actor, a->op, a->target, a->status, a->prev, a->hash, a->client, a->reason, a->count);
    if (n < 0 || (size_t)n >= sizeof(line)) {
        abort();
    }
    return sr_buf_append(ctx, line, (size_t)n);
}

void sr_fuzz_seeds(struct sr_buf *seeds, size_t *n)
{
    sr_buf_init(&seeds[0], 1u << 16, SR_BUF_PLAIN);
    if (sr_store->ops->audit_each(sr_store, sr_script_row, &seeds[0]) != SR_OK) {
        abort();
    }
    sr_buf_init(&seeds[1], sr_checkpoint.len, SR_BUF_PLAIN);
    if (sr_buf_append(&seeds[1], sr_checkpoint.data, sr_checkpoint.len) != SR_OK) {
        abort();
    }
    long long count = 0, bad = 0, seq = 0;
    char why[256];
    sr_load_rows((const char *)seeds[0].data, seeds[0].len);
    if (sr_audit_verify(sr_store, &count, &bad) != SR_OK || count != 3 ||
        sr_audit_checkpoint_check(sr_store, seeds[1].data, seeds[1].len, sr_pinned, &seq, &count, why,
                                  sizeof(why)) != SR_OK) {
        abort(); /* the genuine log read back through the script must verify, or the script format is wrong */
    }
    *n = 2;
}
