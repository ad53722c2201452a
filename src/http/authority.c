/* authority.c - the token authority's paths in Entra's (and ADFS's) shapes, its form bodies and its errors. */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/json.h"
#include "base/text.h"
#include "http/http.h"

#define SR_FORM_MAX_FIELDS 32

enum sr_err sr_authority_tenant_ok(const char *tenant)
{
    SR_ENSURE(strcasecmp(tenant, SR_TENANT_ID) == 0 || strcasecmp(tenant, "adfs") == 0, SR_ERR_OAUTH_REQUEST);
    return SR_OK;
}

bool sr_authority_route(const char *path, enum sr_authority_route *ret, char *tenant, size_t cap)
{
    static const struct {
        const char *rest;
        enum sr_authority_route route;
    } routes[] = {
        {"/v2.0/.well-known/openid-configuration", SR_AUTH_METADATA},
        {"/.well-known/openid-configuration", SR_AUTH_METADATA}, /* ADFS's, and an authority ending in v2.0 */
        {"/discovery/v2.0/keys", SR_AUTH_JWKS},
        {"/discovery/keys", SR_AUTH_JWKS},
        {"/oauth2/v2.0/token", SR_AUTH_TOKEN},
        {"/oauth2/token", SR_AUTH_TOKEN},
    };
    if (path[0] != '/') {
        return false;
    }
    size_t tlen = strcspn(path + 1, "/");
    const char *rest = path + 1 + tlen;
    for (size_t i = 0; i < SR_ARRAY_LEN(routes); i++) {
        if (tlen > 0 && tlen < cap && strcasecmp(rest, routes[i].rest) == 0) {
            memcpy(tenant, path + 1, tlen);
            tenant[tlen] = 0;
            *ret = routes[i].route;
            return true;
        }
    }
    return false;
}

/* Percent-decodes in[0..n) ('+' is a space) into out, NUL-terminated; refuses a NUL and a bad escape. */
static enum sr_err sr_form_decode(const uint8_t *in, size_t n, struct sr_buf *out)
{
    out->len = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = in[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            SR_ENSURE(i + 2 < n, SR_ERR_OAUTH_REQUEST);
            int hi = sr_hex_value((char)in[i + 1]), lo = sr_hex_value((char)in[i + 2]);
            SR_ENSURE(hi >= 0 && lo >= 0, SR_ERR_OAUTH_REQUEST);
            c = (uint8_t)(hi * 16 + lo);
            i += 2;
        }
        SR_ENSURE(c != 0, SR_ERR_OAUTH_REQUEST);
        SR_TRY(sr_buf_append(out, &c, 1));
    }
    uint8_t nul = 0;
    SR_TRY(sr_buf_append(out, &nul, 1));
    return SR_OK;
}

enum sr_err sr_form_parse(const uint8_t *data, size_t len, json_t **ret)
{
    SR_AUTO_JSON json_t *obj = json_object();
    SR_ENSURE(obj != NULL, SR_ERR_NOMEM);
    SR_AUTO_BUF struct sr_buf name = {0}, value = {0};
    sr_buf_init(&name, len + 1, SR_BUF_PLAIN);
    sr_buf_init(&value, len + 1, SR_BUF_SECRET); /* a client secret passes through here */
    size_t fields = 0;
    for (size_t at = 0; at < len;) {
        const uint8_t *amp = memchr(data + at, '&', len - at);
        size_t end = amp ? (size_t)(amp - data) : len;
        const uint8_t *eq = memchr(data + at, '=', end - at);
        if (end > at) {
            SR_ENSURE(eq != NULL && ++fields <= SR_FORM_MAX_FIELDS, SR_ERR_OAUTH_REQUEST);
            size_t split = (size_t)(eq - data);
            SR_TRY(sr_form_decode(data + at, split - at, &name));
            SR_TRY(sr_form_decode(data + split + 1, end - split - 1, &value));
            const char *n = (const char *)name.data;
            SR_ENSURE(*n != 0 && json_object_get(obj, n) == NULL, SR_ERR_OAUTH_REQUEST);
            json_t *v = json_stringn((const char *)value.data, value.len - 1);
            SR_ENSURE(v != NULL, SR_ERR_OAUTH_REQUEST); /* not UTF-8 */
            SR_ENSURE(json_object_set_new(obj, n, v) == 0, SR_ERR_NOMEM);
        }
        at = end + 1;
    }
    *ret = SR_TAKE(obj);
    return SR_OK;
}

void sr_form_wipe(json_t *form)
{
    const char *name;
    json_t *v;
    json_object_foreach(form, name, v) {
        if (json_is_string(v)) {
            sr_wipe((char *)json_string_value(v), json_string_length(v));
        }
    }
}

json_t *sr_oauth_error_body(enum sr_err e, const char *detail, const char *trace_id)
{
    const char *code = sr_err_kv_code(e);
    /* Errors that are not OAuth's own (a store outage, a bug) are the server's. */
    bool oauth = code[0] >= 'a' && code[0] <= 'z';
    char description[512], when[32] = "";
    snprintf(description, sizeof(description), "%s%s%s", sr_err_message(e), detail && *detail ? ": " : "",
             detail ? detail : "");
    char clean[512];
    sr_text_clean(clean, sizeof(clean), description);
    time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm) != NULL) {
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%SZ", &tm);
    }
    return json_pack("{s:s,s:s,s:[],s:s,s:s}", "error",
                     oauth ? code : sr_err_http_status(e) == 503 ? "temporarily_unavailable" : "server_error",
                     "error_description", clean, "error_codes", "timestamp", when, "trace_id", trace_id);
}
