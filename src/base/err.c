#include "base/err.h"

struct sr_err_entry {
    const char *name;
    enum sr_err_family family;
    const char *kv_code;
    const char *message;
};

static const struct sr_err_entry sr_err_entries[] = {
#define SR_X_ROW(name, fam, kv, msg) {#name, fam, kv, msg},
    SR_ERR_TABLE(SR_X_ROW)
#undef SR_X_ROW
};

static const struct sr_err_entry *sr_err_entry(enum sr_err e)
{
    if ((unsigned)e >= SR_ERR_COUNT_) {
        return &sr_err_entries[SR_ERR_INTERNAL];
    }
    return &sr_err_entries[e];
}

const char *sr_err_name(enum sr_err e)
{
    return sr_err_entry(e)->name;
}

const char *sr_err_message(enum sr_err e)
{
    return sr_err_entry(e)->message;
}

const char *sr_err_kv_code(enum sr_err e)
{
    return sr_err_entry(e)->kv_code;
}

enum sr_err_family sr_err_family(enum sr_err e)
{
    return sr_err_entry(e)->family;
}

int sr_err_exit_status(enum sr_err e)
{
    switch (sr_err_family(e)) {
    case SR_FAM_OK:
        return 0;
    case SR_FAM_USAGE:
        return 2;
    default:
        return 1;
    }
}

int sr_err_http_status(enum sr_err e)
{
    switch (sr_err_family(e)) {
    case SR_FAM_OK:
        return 200;
    case SR_FAM_USAGE:
    case SR_FAM_INPUT:
    case SR_FAM_INTEGRITY:
        return 400;
    case SR_FAM_UNAUTH:
        return 401;
    case SR_FAM_DENIED:
        return 403;
    case SR_FAM_NOT_FOUND:
        return 404;
    case SR_FAM_METHOD:
        return 405;
    case SR_FAM_CONFLICT:
    case SR_FAM_STATE:
        return 409;
    case SR_FAM_TOO_LARGE:
        return 413;
    case SR_FAM_TOO_MANY:
        return 429;
    case SR_FAM_UNAVAILABLE:
        return 503;
    default:
        return 500;
    }
}
