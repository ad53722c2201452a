#include <stdarg.h>
#include <string.h>

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
