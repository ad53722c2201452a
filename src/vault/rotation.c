/*
 * rotation.c - Key Vault's rotation policies: their ISO-8601 durations and checks, the expiry a rotated
 * version gets (attributes.expiryTime), and the scheduler a running server's housekeeper calls.
 *
 * The schedule is not stored anywhere: whether a key is due follows from its policy and its latest
 * version's created and exp times, all in the store. So a restart loses nothing, and a server that was
 * down rotates what fell due meanwhile at its first check.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "vault/internal.h"

/* P[nY][nM][nW][nD][T[nH][nM][nS]]: a year is 365 days and a month 30, as a fixed length must be. */
enum sr_err sr_duration_parse(const char *text, long long *ret)
{
    SR_ENSURE(text != NULL && text[0] == 'P' && text[1] != 0, SR_ERR_BAD_PARAM);
    static const struct {
        char unit;
        bool time;
        long long seconds;
    } units[] = {{'Y', false, 365 * 86400LL}, {'M', false, 30 * 86400LL}, {'W', false, 7 * 86400LL},
                 {'D', false, 86400}, {'H', true, 3600}, {'M', true, 60}, {'S', true, 1}};
    long long total = 0;
    bool in_time = false, any = false;
    size_t next = 0; /* units must come in order, each at most once */
    for (const char *p = text + 1; *p;) {
        if (*p == 'T' && !in_time) {
            in_time = true;
            p++;
            SR_ENSURE(*p != 0, SR_ERR_BAD_PARAM);
            continue;
        }
        SR_ENSURE(isdigit((unsigned char)*p), SR_ERR_BAD_PARAM);
        char *end = NULL;
        long long n = strtoll(p, &end, 10);
        SR_ENSURE(n >= 0 && n <= 100000 && end != NULL, SR_ERR_BAD_PARAM);
        size_t u = next;
        while (u < SR_ARRAY_LEN(units) && (units[u].unit != *end || units[u].time != in_time)) {
            u++;
        }
        SR_ENSURE(u < SR_ARRAY_LEN(units), SR_ERR_BAD_PARAM);
        total += n * units[u].seconds;
        next = u + 1;
        any = true;
        p = end + 1;
    }
    SR_ENSURE(any && total > 0, SR_ERR_BAD_PARAM);
    *ret = total;
    return SR_OK;
}

/* Key Vault's floors: a key rotates (or notifies) at least 7 days after creation or before expiry, and a
 * rotated version lives at least 28 days. Below them a scheduler pass would mint a version every minute. */
#define SR_POLICY_MIN_TRIGGER (7 * 86400LL)
#define SR_POLICY_MIN_EXPIRY (28 * 86400LL)

enum sr_err sr_policy_check(const json_t *actions, const json_t *attrs, bool short_ok, char *why, size_t cap)
{
    long long d = 0;
    size_t i;
    const json_t *a;
    json_array_foreach(actions, i, a) {
        const json_t *trigger = json_object_get(a, "trigger");
        const char *type = json_string_value(json_object_get(json_object_get(a, "action"), "type"));
        const char *after = json_string_value(json_object_get(trigger, "timeAfterCreate"));
        const char *before = json_string_value(json_object_get(trigger, "timeBeforeExpiry"));
        if (type == NULL || (strcasecmp(type, "Rotate") != 0 && strcasecmp(type, "Notify") != 0)) {
            snprintf(why, cap, "lifetimeActions[%zu].action.type must be Rotate or Notify", i);
            return SR_ERR_BAD_PARAM;
        }
        if ((after == NULL) == (before == NULL) || sr_duration_parse(after ? after : before, &d) != SR_OK) {
            snprintf(why, cap, "lifetimeActions[%zu].trigger takes one of timeAfterCreate or timeBeforeExpiry, an "
                               "ISO-8601 duration such as P90D or PT12H", i);
            return SR_ERR_BAD_PARAM;
        }
        if (!short_ok && d < SR_POLICY_MIN_TRIGGER) {
            snprintf(why, cap, "lifetimeActions[%zu].trigger is under Key Vault's minimum of 7 days (P7D)", i);
            return SR_ERR_BAD_PARAM;
        }
    }
    const json_t *expiry = json_object_get(attrs, "expiryTime");
    if (expiry != NULL && !json_is_null(expiry) && sr_duration_parse(json_string_value(expiry), &d) != SR_OK) {
        snprintf(why, cap, "attributes.expiryTime must be an ISO-8601 duration such as P90D, or null");
        return SR_ERR_BAD_PARAM;
    }
    if (expiry != NULL && !json_is_null(expiry) && !short_ok && d < SR_POLICY_MIN_EXPIRY) {
        snprintf(why, cap, "attributes.expiryTime is under Key Vault's minimum of 28 days (P28D)");
        return SR_ERR_BAD_PARAM;
    }
    return SR_OK;
}

long long sr_policy_expiry(const json_t *policy, long long now)
{
    long long d = 0;
    const char *expiry = json_string_value(json_object_get(json_object_get(policy, "attributes"), "expiryTime"));
    return expiry != NULL && sr_duration_parse(expiry, &d) == SR_OK ? now + d : 0;
}

/* Whether the latest version (created, exp) is due for rotation under policy at now. */
static bool sr_rotation_due(const json_t *policy, long long created, long long exp, long long now)
{
    size_t i;
    const json_t *a;
    json_array_foreach(json_object_get(policy, "lifetimeActions"), i, a) {
        const char *type = json_string_value(json_object_get(json_object_get(a, "action"), "type"));
        const json_t *trigger = json_object_get(a, "trigger");
        long long d = 0;
        if (type == NULL || strcasecmp(type, "Rotate") != 0) {
            continue;
        }
        const char *after = json_string_value(json_object_get(trigger, "timeAfterCreate"));
        const char *before = json_string_value(json_object_get(trigger, "timeBeforeExpiry"));
        if (after != NULL && sr_duration_parse(after, &d) == SR_OK && now >= created + d) {
            return true;
        }
        if (before != NULL && exp != 0 && sr_duration_parse(before, &d) == SR_OK && now >= exp - d) {
            return true;
        }
    }
    return false;
}

struct sr_rotation_walk {
    struct sr_vault_svc *svc;
    long long now;
    unsigned rotated;
};

static enum sr_err sr_rotate_if_due(void *ctx, const char *vault, const char *name, const json_t *policy)
{
    struct sr_rotation_walk *w = ctx;
    struct sr_vault_svc *svc = w->svc;
    SR_AUTO_ROW struct sr_key_row k = {0};
    if (svc->store->ops->key_get(svc->store, vault, name, NULL, false, &k, NULL) != SR_OK ||
        !sr_rotation_due(policy, k.created, k.exp, w->now)) {
        return SR_OK;
    }
    char base_url[SR_MAX_VAULT + 32];
    snprintf(base_url, sizeof(base_url), "https://%s.localhost", vault);
    struct sr_request req = {.base_url = base_url, .api_version = "7.5", .name = name, .version = NULL};
    /* Only a server that holds the vault's region rotates its keys; another one's lookup fails here. */
    if (sr_vault_lookup(svc, vault, &req.vault) != SR_OK) {
        return SR_OK;
    }
    req.who.perms = SR_PERM_ROTATE;
    snprintf(req.who.role, sizeof(req.who.role), "Administrator");
    snprintf(req.who.actor, sizeof(req.who.actor), "rotation-policy");
    snprintf(req.client, sizeof(req.client), "-");
    json_t *resp = NULL;
    if (sr_vault_execute(svc, SR_OP_KEY_ROTATE, &req, &resp) == SR_OK) {
        w->rotated++;
    }
    json_decref(resp);
    return SR_OK; /* one key's failure (audited) does not stop the others */
}

void sr_rotation_tick(struct sr_vault_svc *svc)
{
    long long now = (long long)time(NULL);
    if (svc->rotation_interval == 0 || now < svc->rotation_next) {
        return;
    }
    svc->rotation_next = now + svc->rotation_interval;
    struct sr_rotation_walk w = {.svc = svc, .now = now};
    (void)!svc->store->ops->policy_each(svc->store, sr_rotate_if_due, &w);
}
