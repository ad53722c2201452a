/* console.c - finding the console's embedded files, their types, and the console's security headers. */
#include "http/console.h"

#include <string.h>

const char *const sr_console_headers[][2] = {
    {"Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                                "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"},
    {"X-Frame-Options", "DENY"},
    {"X-Content-Type-Options", "nosniff"},
    {"Referrer-Policy", "no-referrer"},
    {"Cache-Control", "no-store"},
    {"Cross-Origin-Opener-Policy", "same-origin"},
    {"Strict-Transport-Security", "max-age=31536000;includeSubDomains"},
    {NULL, NULL},
};

const struct sr_console_file *sr_console_find(const char *path)
{
    const char *name = strncmp(path, "/console/", 9) == 0 ? path + 9 : NULL;
    if (name == NULL) {
        return NULL;
    }
    if (*name == 0) {
        name = "index.html";
    }
    for (const struct sr_console_file *f = sr_console_files; f->name != NULL; f++) {
        if (strcmp(f->name, name) == 0) {
            return f;
        }
    }
    return NULL;
}

const char *sr_console_type(const struct sr_console_file *f)
{
    const char *dot = strrchr(f->name, '.');
    static const char *const types[][2] = {
        {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},   {".svg", "image/svg+xml"},
    };
    for (size_t i = 0; dot != NULL && i < sizeof(types) / sizeof(types[0]); i++) {
        if (strcmp(dot, types[i][0]) == 0) {
            return types[i][1];
        }
    }
    return "application/octet-stream";
}
