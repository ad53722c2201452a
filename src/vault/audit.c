/* audit.c - the hash chain over audit entries: entry i carries SHA-256(prev || fields of i). */
#include <stdio.h>
#include <string.h>

#include "base/text.h"
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
