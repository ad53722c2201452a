/*
 * console.h - the web console's files (web/console/), embedded in the binary at build time
 * (cmake/embed.cmake), and the headers every console response carries: a Content-Security-Policy that
 * allows no inline script, no eval and no framing, so that what the page shows can never run.
 */
#ifndef SR_HTTP_CONSOLE_H
#define SR_HTTP_CONSOLE_H

#include <stddef.h>

struct sr_console_file {
    const char *name;          /* "index.html", "app.js" ... */
    const unsigned char *data;
    size_t len;
};

/* Generated: every file of web/console, then {0}. */
extern const struct sr_console_file sr_console_files[];

/* The file a console path names ("/console/" is index.html), or NULL. */
const struct sr_console_file *sr_console_find(const char *path);
/* Its Content-Type. */
const char *sr_console_type(const struct sr_console_file *f);

/* Header name/value pairs for every console response, then {NULL, NULL}. */
extern const char *const sr_console_headers[][2];

#endif
