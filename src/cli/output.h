/*
 * output.h - how every command that prints data prints it: --output table (aligned columns with a header,
 * for people), tsv (values only, tab-separated, for shell pipelines, as az's tsv) or json (the rows as an
 * array of objects). Commands build the rows as JSON objects once and let this file lay them out.
 */
#ifndef SR_CLI_OUTPUT_H
#define SR_CLI_OUTPUT_H

#include <jansson.h>

#include "cli/cli.h"

enum sr_output { SR_OUT_TABLE, SR_OUT_TSV, SR_OUT_JSON };

#define SR_OUTPUT_HELP "table, tsv or json (default table)"

struct sr_column {
    const char *key;    /* member of each row; a string, number or boolean */
    const char *header; /* the table's heading */
};

/* --output's text (NULL: table); SR_ERR_USAGE names the three choices. */
SR_MUST_USE enum sr_err sr_output_parse(struct sr_cli *cli, const char *text, enum sr_output *ret);
/* Prints rows (an array of objects) in the format; columns (ended by a NULL key) choose and order what a
 * table or tsv shows, JSON shows every member. */
SR_MUST_USE enum sr_err sr_output_rows(struct sr_cli *cli, enum sr_output format, const json_t *rows,
                                       const struct sr_column *columns);
/* One object: JSON as it is, a table as "name  value" lines, tsv as one line of the columns' values. */
SR_MUST_USE enum sr_err sr_output_object(struct sr_cli *cli, enum sr_output format, const json_t *obj,
                                         const struct sr_column *columns);
/* "2026-11-27T00:00:00Z" (or "2026-11-27") as Unix time. */
SR_MUST_USE enum sr_err sr_cli_parse_time(const char *text, long long *ret);

#endif
