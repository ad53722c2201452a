#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "base/text.h"
#include "cli/cli.h"

int sr_opt_index(const struct sr_opt *opts, const char *name)
{
    for (int i = 0; opts != NULL && opts[i].name != NULL; i++) {
        if (strcmp(opts[i].name, name) == 0) {
            return i;
        }
    }
    return -1;
}

const char *sr_arg(const struct sr_args *args, const struct sr_opt *opts, const char *name)
{
    int i = sr_opt_index(opts, name);
    return i >= 0 ? args->val[i] : NULL;
}

bool sr_arg_set(const struct sr_args *args, const struct sr_opt *opts, const char *name)
{
    int i = sr_opt_index(opts, name);
    return i >= 0 && args->set[i];
}

void sr_cli_detail(struct sr_cli *cli, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cli->detail, sizeof(cli->detail), fmt, ap);
    va_end(ap);
}

enum sr_err sr_quorum_parse(const char *text, unsigned *k, unsigned *n)
{
    *k = *n = 1;
    if (text == NULL) {
        return SR_OK;
    }
    char copy[32];
    SR_ENSURE(strlen(text) < sizeof(copy), SR_ERR_QUORUM);
    strcpy(copy, text);
    char *slash = strchr(copy, '/');
    SR_ENSURE(slash != NULL, SR_ERR_QUORUM);
    *slash = 0;
    unsigned long kk = 0;
    unsigned long nn = 0;
    SR_ENSURE(sr_parse_uint(copy, 1, SR_MAX_CARDS, &kk) == SR_OK, SR_ERR_QUORUM);
    SR_ENSURE(sr_parse_uint(slash + 1, 1, SR_MAX_CARDS, &nn) == SR_OK && kk <= nn, SR_ERR_QUORUM);
    *k = (unsigned)kk;
    *n = (unsigned)nn;
    return SR_OK;
}

void sr_cli_iso_time(long long t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (t == 0 || gmtime_r(&tt, &tm) == NULL) {
        snprintf(out, 32, "-");
        return;
    }
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
