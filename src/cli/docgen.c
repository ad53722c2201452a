/*
 * docgen.c - the manual pages and the bash completion, written from the command table itself, so that
 * they can never disagree with what the program accepts (`strongroom help --man CMD`,
 * `strongroom completion bash`; `make install` installs both).
 */
#include <string.h>
#include <time.h>

#include "cli/cli.h"

/* Text as roff shows it literally: backslashes and dashes escaped, no line taken for a request. */
static void sr_roff(FILE *f, const char *text)
{
    if (text[0] == '.' || text[0] == '\'') {
        fputs("\\&", f);
    }
    for (const char *p = text; *p; p++) {
        if (*p == '\\') {
            fputs("\\e", f);
        } else if (*p == '-') {
            fputs("\\-", f);
        } else {
            fputc(*p, f);
        }
    }
}

static void sr_man_options(FILE *f, const struct sr_opt *opts)
{
    for (const struct sr_opt *o = opts; o != NULL && o->name != NULL; o++) {
        fputs(".TP\n.B \\-\\-", f);
        sr_roff(f, o->name);
        if (o->has_arg) {
            fputs(" \\fIARG\\fR", f);
        }
        if (o->alias != NULL) {
            fputs(", ", f);
            sr_roff(f, o->alias);
        }
        fputc('\n', f);
        sr_roff(f, o->help);
        fputc('\n', f);
    }
}

/* One entry per command under c (c itself when it has no subcommands), recursively. */
static void sr_man_entries(FILE *f, const struct sr_cmd *c)
{
    if (c->sub != NULL) {
        for (const struct sr_cmd *s = c->sub; s->name != NULL; s++) {
            sr_man_entries(f, s);
        }
        return;
    }
    fputs(".SS \"strongroom ", f);
    sr_roff(f, c->usage);
    fputs("\"\n", f);
    sr_roff(f, c->summary);
    fputs(".\n", f);
    sr_man_options(f, c->opts);
}

void sr_man_page(FILE *f, const struct sr_cmd *c, const char *env_text)
{
    char when[16];
    time_t now = time(NULL);
    struct tm tm;
    strftime(when, sizeof(when), "%Y-%m-%d", gmtime_r(&now, &tm));
    char upper[64];
    size_t i = 0;
    for (; c->name[i] && i + 1 < sizeof(upper); i++) {
        upper[i] = c->name[i] >= 'a' && c->name[i] <= 'z' ? (char)(c->name[i] - 32) : c->name[i];
    }
    upper[i] = 0;
    fprintf(f, ".TH STRONGROOM\\-%s 1 \"%s\" \"Strongroom %s\" \"User Commands\"\n.SH NAME\nstrongroom\\-", upper,
            when, SR_VERSION);
    sr_roff(f, c->name);
    fputs(" \\- ", f);
    sr_roff(f, c->summary);
    fputs("\n.SH SYNOPSIS\n.B strongroom ", f);
    sr_roff(f, c->usage);
    fputs("\n.SH COMMANDS\n", f);
    sr_man_entries(f, c);
    if (env_text[0] != 0) {
        fputs(".SH ENVIRONMENT\n.nf\n", f);
        sr_roff(f, env_text);
        fputs(".fi\n", f);
    }
    fputs(".SH EXIT STATUS\n0 success, 1 the operation failed, 2 usage error.\n"
          ".SH SEE ALSO\n.BR strongroom (1)\n",
          f);
}

static void sr_words(FILE *f, const struct sr_cmd *table)
{
    for (const struct sr_cmd *c = table; c->name != NULL; c++) {
        fprintf(f, "%s%s", c == table ? "" : " ", c->name);
    }
}

static void sr_option_words(FILE *f, const struct sr_opt *opts)
{
    for (const struct sr_opt *o = opts; o != NULL && o->name != NULL; o++) {
        fprintf(f, " --%s", o->name);
    }
    fputs(" --help", f);
}

/* A case arm per command path ("key sign") listing its options, and per group its subcommands. */
static void sr_completion_cases(FILE *f, const struct sr_cmd *table, const char *prefix)
{
    for (const struct sr_cmd *c = table; c->name != NULL; c++) {
        char path[128];
        snprintf(path, sizeof(path), "%s%s%s", prefix, prefix[0] ? " " : "", c->name);
        fprintf(f, "        \"%s\") words=\"", path);
        if (c->sub != NULL) {
            sr_words(f, c->sub);
        } else {
            sr_option_words(f, c->opts);
        }
        fputs("\" ;;\n", f);
        if (c->sub != NULL) {
            sr_completion_cases(f, c->sub, path);
        }
    }
}

void sr_bash_completion(FILE *f, const struct sr_cmd *table)
{
    fputs("# bash completion for strongroom, written by 'strongroom completion bash' from its command table\n"
          "_strongroom() {\n"
          "    local cur=${COMP_WORDS[COMP_CWORD]} path=\"\" words i\n"
          "    for ((i = 1; i < COMP_CWORD; i++)); do\n"
          "        case ${COMP_WORDS[i]} in -*) break ;; esac\n"
          "        path=\"${path:+$path }${COMP_WORDS[i]}\"\n"
          "    done\n"
          "    case $path in\n"
          "        \"\") words=\"",
          f);
    sr_words(f, table);
    fputs(" --help --version\" ;;\n", f);
    sr_completion_cases(f, table, "");
    fputs("        *) words=\"\" ;;\n"
          "    esac\n"
          "    if [[ $cur != -* && $COMP_CWORD -gt 1 && ${COMP_WORDS[COMP_CWORD-1]} == --* ]]; then\n"
          "        COMPREPLY=($(compgen -f -- \"$cur\"))\n"
          "    else\n"
          "        COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n"
          "    fi\n"
          "}\n"
          "complete -F _strongroom strongroom\n",
          f);
}
