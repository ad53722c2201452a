/* output.c - table, tsv and json output of rows built as JSON objects (output.h). */
#define _GNU_SOURCE
#include <string.h>
#include <time.h>

#include "base/json.h"
#include "cli/output.h"

enum sr_err sr_output_parse(struct sr_cli *cli, const char *text, enum sr_output *ret)
{
    static const char *const names[] = {[SR_OUT_TABLE] = "table", [SR_OUT_TSV] = "tsv", [SR_OUT_JSON] = "json"};
    for (size_t i = 0; i < SR_ARRAY_LEN(names); i++) {
        if (text == NULL || strcmp(text, names[i]) == 0) {
            *ret = text == NULL ? SR_OUT_TABLE : (enum sr_output)i;
            return SR_OK;
        }
    }
    sr_cli_detail(cli, "--output is table, tsv or json, not '%s'", text);
    return SR_ERR_USAGE;
}

/* A cell's text: strings as they are, numbers and booleans spelt out, anything else as compact JSON. */
static void sr_cell(const json_t *v, char *out, size_t cap)
{
    if (json_is_string(v)) {
        snprintf(out, cap, "%s", json_string_value(v));
    } else if (json_is_integer(v)) {
        snprintf(out, cap, "%lld", (long long)json_integer_value(v));
    } else if (json_is_boolean(v)) {
        snprintf(out, cap, "%s", json_is_true(v) ? "true" : "false");
    } else if (v == NULL || json_is_null(v)) {
        snprintf(out, cap, "-");
    } else {
        char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        snprintf(out, cap, "%s", t ? t : "?");
        free(t);
    }
    /* One row, one line: a tab or newline inside a value (a tag, a reason) would break tsv and tables. */
    for (char *p = out; *p; p++) {
        if (*p == '\t' || *p == '\n' || *p == '\r') {
            *p = ' ';
        }
    }
}

/* Columns are as wide as their text in characters, not bytes: a U+FFFD in a name is one column. */
static int sr_text_columns(const char *text)
{
    int n = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        n += (*p & 0xc0) != 0x80;
    }
    return n;
}

static void sr_table_cell(FILE *f, const char *text, int width, bool last)
{
    if (last) {
        fprintf(f, "%s\n", text);
    } else {
        fprintf(f, "%s%*s  ", text, width - sr_text_columns(text), "");
    }
}

static enum sr_err sr_print_json(struct sr_cli *cli, const json_t *v)
{
    SR_AUTO_FREE char *text = json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY);
    SR_ENSURE(text != NULL, SR_ERR_NOMEM);
    fprintf(cli->out, "%s\n", text);
    return SR_OK;
}

enum sr_err sr_output_rows(struct sr_cli *cli, enum sr_output format, const json_t *rows,
                           const struct sr_column *columns)
{
    SR_ENSURE(json_is_array(rows), SR_ERR_INTERNAL);
    if (format == SR_OUT_JSON) {
        return sr_print_json(cli, rows);
    }
    size_t ncols = 0;
    while (columns[ncols].key != NULL) {
        ncols++;
    }
    int width[16] = {0};
    SR_ENSURE(ncols <= SR_ARRAY_LEN(width), SR_ERR_INTERNAL);
    char cell[1024];
    size_t i;
    const json_t *row;
    for (size_t c = 0; c < ncols && format == SR_OUT_TABLE; c++) {
        width[c] = sr_text_columns(columns[c].header);
        json_array_foreach(rows, i, row) {
            sr_cell(json_object_get(row, columns[c].key), cell, sizeof(cell));
            width[c] = sr_text_columns(cell) > width[c] ? sr_text_columns(cell) : width[c];
        }
    }
    if (format == SR_OUT_TABLE) {
        for (size_t c = 0; c < ncols; c++) {
            sr_table_cell(cli->out, columns[c].header, width[c], c + 1 == ncols);
        }
    }
    json_array_foreach(rows, i, row) {
        for (size_t c = 0; c < ncols; c++) {
            sr_cell(json_object_get(row, columns[c].key), cell, sizeof(cell));
            if (format == SR_OUT_TSV) {
                fprintf(cli->out, "%s%s", cell, c + 1 < ncols ? "\t" : "\n");
            } else {
                sr_table_cell(cli->out, cell, width[c], c + 1 == ncols);
            }
        }
    }
    return SR_OK;
}

enum sr_err sr_output_object(struct sr_cli *cli, enum sr_output format, const json_t *obj,
                             const struct sr_column *columns)
{
    if (format == SR_OUT_JSON) {
        return sr_print_json(cli, obj);
    }
    if (format == SR_OUT_TSV) {
        SR_AUTO_JSON json_t *rows = json_pack("[O]", obj);
        SR_ENSURE(rows != NULL, SR_ERR_NOMEM);
        return sr_output_rows(cli, format, rows, columns);
    }
    char cell[1024];
    for (const struct sr_column *c = columns; c->key != NULL; c++) {
        const json_t *v = json_object_get(obj, c->key);
        if (v != NULL) {
            sr_cell(v, cell, sizeof(cell));
            fprintf(cli->out, "%-16s %s\n", c->header, cell);
        }
    }
    return SR_OK;
}

enum sr_err sr_cli_parse_time(const char *text, long long *ret)
{
    static const char *const forms[] = {"%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"};
    for (size_t i = 0; i < SR_ARRAY_LEN(forms); i++) {
        struct tm tm = {0};
        const char *end = strptime(text, forms[i], &tm);
        if (end != NULL && *end == 0) {
            *ret = (long long)timegm(&tm);
            return SR_OK;
        }
    }
    return SR_ERR_USAGE;
}
