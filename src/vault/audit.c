/* audit.c - the hash chain over audit entries: entry i carries SHA-256(prev || fields of i). */
#include <stdio.h>
#include <string.h>

#include <time.h>

#include "base/fileio.h"
#include "base/json.h"
#include "base/text.h"
#include "byok/byok.h"
#include "crypto/crypto.h"
#include "vault/internal.h"

enum sr_err sr_audit_hash(const struct sr_audit_row *a, char out[65])
{
    char line[1024];
    /* Fields are separated by a byte none of them may hold. */
    int n = snprintf(line, sizeof(line), "%s\n%lld\n%lld\n%s\n%s\n%s\n%s\n%d", a->prev, a->seq, a->time, a->vault,
                     a->actor, a->op, a->target, a->status);
    /* Client, reason and count joined the entry later: an entry without them hashes as it always did, so
     * a chain begun by an older version still verifies. */
    if (n > 0 && (size_t)n < sizeof(line) && (a->client[0] || a->reason[0] || a->count > 1)) {
        n += snprintf(line + n, sizeof(line) - (size_t)n, "\n%s\n%s\n%lld", a->client, a->reason,
                      a->count > 1 ? a->count : 1);
    }
    SR_ENSURE(n > 0 && (size_t)n < sizeof(line), SR_ERR_TOO_LARGE);
    uint8_t h[32];
    SR_TRY(sr_sha256(line, (size_t)n, h));
    sr_hex_encode(h, sizeof(h), out);
    return SR_OK;
}

struct sr_audit_walk {
    char prev[65];
    long long expect_seq;
    long long bad;
    long long at_seq;  /* 0, or the entry whose hash to keep */
    char at_hash[65];  /* "" until the walk reaches at_seq */
};

static enum sr_err sr_audit_check(void *ctx, const struct sr_audit_row *a)
{
    struct sr_audit_walk *w = ctx;
    char hash[65];
    SR_TRY(sr_audit_hash(a, hash));
    if (w->bad == 0 && (a->seq != w->expect_seq || strcmp(a->prev, w->prev) != 0 || strcmp(hash, a->hash) != 0)) {
        w->bad = a->seq;
    }
    memcpy(w->prev, a->hash, sizeof(w->prev));
    if (a->seq == w->at_seq) {
        memcpy(w->at_hash, a->hash, sizeof(w->at_hash));
    }
    w->expect_seq = a->seq + 1;
    return SR_OK;
}

enum sr_err sr_audit_verify_to(struct sr_store *store, long long *ret_count, long long *ret_bad_seq,
                               long long at_seq, char at_hash[65])
{
    struct sr_audit_walk w = {.expect_seq = 1, .at_seq = at_seq};
    memset(w.prev, '0', 64);
    w.prev[64] = 0;
    SR_TRY(store->ops->audit_each(store, sr_audit_check, &w));
    *ret_count = w.expect_seq - 1;
    *ret_bad_seq = w.bad;
    if (at_hash != NULL) {
        memcpy(at_hash, at_seq > 0 ? w.at_hash : w.prev, 65);
    }
    return w.bad == 0 ? SR_OK : SR_ERR_AUDIT_BROKEN;
}

enum sr_err sr_audit_verify(struct sr_store *store, long long *ret_count, long long *ret_bad_seq)
{
    return sr_audit_verify_to(store, ret_count, ret_bad_seq, 0, NULL);
}

#define SR_CHECKPOINT_FORMAT "strongroom-audit-checkpoint-1"

enum sr_err sr_audit_checkpoint_write(struct sr_store *store, const struct sr_hsm *m, const char *region,
                                      const char *path, long long *ret_seq)
{
    long long count = 0, bad = 0;
    char head[65];
    SR_TRY(sr_audit_verify_to(store, &count, &bad, 0, head)); /* a broken chain is vouched for by nobody */
    char when[32] = "";
    time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm) != NULL) {
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
    SR_AUTO_JSON json_t *payload = json_pack("{s:s,s:I,s:s,s:s,s:s}", "format", SR_CHECKPOINT_FORMAT, "seq",
                                             (json_int_t)count, "head", head, "time", when, "region", region);
    SR_ENSURE(payload != NULL, SR_ERR_NOMEM);
    SR_TRY(sr_signed_write(m, payload, path));
    *ret_seq = count;
    return SR_OK;
}

enum sr_err sr_audit_checkpoint_check(struct sr_store *store, const uint8_t *data, size_t len,
                                      const uint8_t pinned[32], long long *ret_seq, long long *ret_count, char *why,
                                      size_t cap)
{
    SR_AUTO_JSON json_t *payload = NULL;
    char reason[256];
    if (sr_signed_read(data, len, pinned, &payload, reason, sizeof(reason)) != SR_OK) {
        snprintf(why, cap, "the checkpoint does not verify: %s", reason);
        return SR_ERR_AUDIT_BROKEN;
    }
    const char *format = json_string_value(json_object_get(payload, "format"));
    const char *head = json_string_value(json_object_get(payload, "head"));
    const json_t *seq = json_object_get(payload, "seq");
    if (format == NULL || strcmp(format, SR_CHECKPOINT_FORMAT) != 0 || head == NULL || strlen(head) != 64 ||
        !json_is_integer(seq) || json_integer_value(seq) < 0) {
        snprintf(why, cap, "a signed document, but not an audit checkpoint");
        return SR_ERR_AUDIT_BROKEN;
    }
    long long want = (long long)json_integer_value(seq), bad = 0;
    char at[65] = "";
    enum sr_err r = sr_audit_verify_to(store, ret_count, &bad, want, at);
    *ret_seq = want;
    if (r == SR_ERR_AUDIT_BROKEN) {
        snprintf(why, cap, "first bad entry: %lld of %lld", bad, *ret_count);
        return r;
    }
    SR_TRY(r);
    if (want > 0 && *ret_count < want) {
        snprintf(why, cap, "the log ends at entry %lld, but the checkpoint signed entry %lld: entries were removed",
                 *ret_count, want);
        return SR_ERR_AUDIT_BROKEN;
    }
    if (want > 0 && !sr_ct_equal(at, head, 64)) {
        snprintf(why, cap, "entry %lld is not the one the checkpoint signed: the log was rewritten", want);
        return SR_ERR_AUDIT_BROKEN;
    }
    return SR_OK;
}

struct sr_held_region {
    struct sr_vault_svc *svc;
    const struct sr_hsm *m;
    char name[SR_MAX_REGION + 1];
};

static enum sr_err sr_first_held(void *ctx, const char *name)
{
    struct sr_held_region *h = ctx;
    if (h->m == NULL && sr_svc_region_hsm(h->svc, name, &h->m) == SR_OK) {
        snprintf(h->name, sizeof(h->name), "%s", name);
    }
    return SR_OK;
}

enum sr_err sr_svc_first_region(struct sr_vault_svc *svc, const struct sr_hsm **ret, char name[SR_MAX_REGION + 1])
{
    struct sr_held_region h = {.svc = svc};
    SR_TRY(svc->store->ops->region_each(svc->store, sr_first_held, &h));
    SR_ENSURE(h.m != NULL, SR_ERR_NO_MODULE);
    *ret = h.m;
    memcpy(name, h.name, sizeof(h.name));
    return SR_OK;
}

void sr_checkpoint_tick(struct sr_vault_svc *svc)
{
    long long now = (long long)time(NULL), count = 0, bad = 0;
    if (svc->checkpoint_interval == 0 || now < svc->checkpoint_next) {
        return;
    }
    svc->checkpoint_next = now + svc->checkpoint_interval;
    char head[65];
    if (sr_audit_verify_to(svc->store, &count, &bad, 0, head) != SR_OK || count == svc->checkpoint_last_seq) {
        return; /* nothing new, or a broken chain, which 'audit verify' reports and no checkpoint may vouch for */
    }
    const struct sr_hsm *m = NULL;
    char region[SR_MAX_REGION + 1];
    char dir[SR_PATH_MAX], path[SR_PATH_MAX + 48];
    long long seq = 0;
    enum sr_err r = sr_svc_first_region(svc, &m, region);
    if (r == SR_OK) {
        r = sr_path_join(dir, sizeof(dir), svc->data_dir, "checkpoints");
    }
    if (r == SR_OK) {
        r = sr_dir_make(dir);
    }
    if (r == SR_OK) {
        snprintf(path, sizeof(path), "%s/checkpoint-%012lld.json", dir, count);
        r = sr_audit_checkpoint_write(svc->store, m, region, path, &seq);
    }
    if (r == SR_OK) {
        svc->checkpoint_last_seq = seq;
    } else {
        fprintf(stderr, "strongroom: audit checkpoint not written: %s\n", sr_err_message(r));
    }
}

#define SR_AUDIT_PAGE 1000

struct sr_audit_page {
    const char *vault;
    json_t *entries; /* the vault's latest SR_AUDIT_PAGE, oldest first */
};

static enum sr_err sr_audit_add(void *ctx, const struct sr_audit_row *a)
{
    struct sr_audit_page *pg = ctx;
    if (strcasecmp(a->vault, pg->vault) != 0) {
        return SR_OK;
    }
    struct sr_audit_row clean = *a;
    sr_audit_row_clean(&clean);
    a = &clean;
    json_t *e = json_pack("{s:I,s:I,s:s,s:s,s:s,s:s,s:i,s:s,s:I}", "seq", (json_int_t)a->seq, "time", (json_int_t)a->time,
                          "actor", a->actor, "client", a->client, "op", a->op, "target", a->target, "status",
                          a->status, "reason", a->reason, "count", (json_int_t)(a->count > 1 ? a->count : 1));
    SR_ENSURE(e != NULL && json_array_append_new(pg->entries, e) == 0, SR_ERR_NOMEM);
    if (json_array_size(pg->entries) > SR_AUDIT_PAGE) {
        json_array_remove(pg->entries, 0);
    }
    return SR_OK;
}

/* GET /audit: this vault's latest entries and the whole chain's verdict (the console's audit view). */
enum sr_err sr_op_audit_list(struct sr_vault_svc *svc, struct sr_request *req, json_t **ret)
{
    struct sr_store *store = sr_vault_svc_store(svc);
    long long count = 0, bad = -1;
    SR_TRY(sr_audit_verify(store, &count, &bad));
    SR_AUTO_JSON json_t *entries = json_array();
    SR_ENSURE(entries != NULL, SR_ERR_NOMEM);
    struct sr_audit_page pg = {.vault = req->vault.name, .entries = entries};
    SR_TRY(store->ops->audit_each(store, sr_audit_add, &pg));
    *ret = json_pack("{s:O,s:{s:b,s:I,s:o}}", "value", entries, "chain", "verified", bad == 0, "entries",
                     (json_int_t)count, "brokenAt", bad > 0 ? json_integer(bad) : json_null());
    SR_ENSURE(*ret != NULL, SR_ERR_NOMEM);
    return SR_OK;
}
