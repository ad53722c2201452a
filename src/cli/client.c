#define _GNU_SOURCE
#include "cli/client.h"

#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "base/json.h"

#include <openssl/crypto.h>


enum sr_err sr_client_init_public(struct sr_cli *cli, const char *url_opt, const char *ca_opt,
                                  struct sr_client *ret)
{
    const char *url = url_opt ? url_opt : secure_getenv("STRONGROOM_VAULT_URL");
    if (url == NULL || strncmp(url, "https://", 8) != 0 || strlen(url) >= sizeof(ret->url)) {
        sr_cli_detail(cli, "give the vault's https:// URL with --vault-url or STRONGROOM_VAULT_URL");
        return SR_ERR_USAGE;
    }
    snprintf(ret->url, sizeof(ret->url), "%s", url);
    size_t len = strlen(ret->url);
    while (len > 8 && ret->url[len - 1] == '/') {
        ret->url[--len] = 0;
    }
    ret->token = NULL;
    ret->api_version = NULL;
    ret->ca_file = ca_opt ? ca_opt : secure_getenv("STRONGROOM_CA_FILE");
    return SR_OK;
}

enum sr_err sr_client_init(struct sr_cli *cli, const char *url_opt, const char *ca_opt, const char *token_opt,
                           struct sr_client *ret)
{
    SR_TRY(sr_client_init_public(cli, url_opt, ca_opt, ret));
    ret->token = token_opt ? token_opt : secure_getenv("STRONGROOM_TOKEN");
    if (ret->token == NULL || *ret->token == 0) {
        sr_cli_detail(cli, "give a token from 'strongroom token create' in STRONGROOM_TOKEN (or --token)");
        return SR_ERR_USAGE;
    }
    return SR_OK;
}

static size_t sr_collect(char *ptr, size_t size, size_t n, void *ctx)
{
    struct sr_buf *b = ctx;
    return sr_buf_append(b, ptr, size * n) == SR_OK ? size * n : 0;
}

static void sr_curl_cleanup(CURL **c)
{
    if (*c != NULL) {
        curl_easy_cleanup(*c);
    }
}

static void sr_slist_cleanup(struct curl_slist **l)
{
    curl_slist_free_all(*l);
}

static enum sr_err sr_client_error(struct sr_cli *cli, long status, const json_t *body)
{
    const char *code = json_string_value(json_object_get(json_object_get(body, "error"), "code"));
    const char *msg = json_string_value(json_object_get(json_object_get(body, "error"), "message"));
    sr_cli_detail(cli, "%ld %s: %s", status, code ? code : "", msg ? msg : "(no message)");
    return status >= 500 ? SR_ERR_REMOTE_FAILED : status == 401 || status == 403 ? SR_ERR_REMOTE_DENIED
                                                                               : SR_ERR_REMOTE;
}

/* Why no answer came, in words that say what to check. */
static enum sr_err sr_client_failure(struct sr_cli *cli, const struct sr_client *c, CURLcode cc, const char *why)
{
    const char *text = why[0] ? why : curl_easy_strerror(cc);
    switch (cc) {
    case CURLE_COULDNT_RESOLVE_HOST:
        sr_cli_detail(cli, "%s: no such host (a vault's name.localhost resolves on most systems; else use "
                           "localhost or an /etc/hosts entry)", c->url);
        return SR_ERR_CONNECT;
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
        sr_cli_detail(cli, "%s: %s (is 'strongroom serve' running there?)", c->url, text);
        return SR_ERR_CONNECT;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
        if (strstr(text, "name") != NULL) {
            sr_cli_detail(cli, "%s: %s", c->url, text);
            return SR_ERR_TLS_NAME;
        }
        sr_cli_detail(cli, "%s: %s", c->url, text);
        return SR_ERR_TLS_UNTRUSTED;
    default:
        sr_cli_detail(cli, "%s: %s", c->url, text);
        return SR_ERR_CONNECT;
    }
}

enum sr_err sr_fetch_json(const char *url, json_t **ret)
{
    SR_ENSURE(strncmp(url, "https://", 8) == 0 || strncmp(url, "http://", 7) == 0, SR_ERR_IDP_ISSUER);
    SR_AUTO(sr_curl_cleanup) CURL *curl = curl_easy_init();
    SR_ENSURE(curl != NULL, SR_ERR_NOMEM);
    SR_AUTO_BUF struct sr_buf body = {0};
    sr_buf_init(&body, 1024 * 1024, SR_BUF_PLAIN);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https,http");
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, sr_collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
    SR_ENSURE(curl_easy_perform(curl) == CURLE_OK, SR_ERR_IDP_UNREACHABLE);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    SR_ENSURE(status == 200, SR_ERR_IDP_UNREACHABLE);
    *ret = json_loadb((const char *)body.data, body.len, JSON_REJECT_DUPLICATES, NULL);
    SR_ENSURE(json_is_object(*ret), SR_ERR_IDP_JWKS);
    return SR_OK;
}

enum sr_err sr_fetch_jwks(void *ctx, const char *issuer, json_t **ret_jwks)
{
    (void)ctx;
    char url[SR_PATH_MAX];
    size_t len = strlen(issuer);
    snprintf(url, sizeof(url), "%.*s/.well-known/openid-configuration", (int)(len && issuer[len - 1] == '/' ? len - 1 : len),
             issuer);
    SR_AUTO_JSON json_t *meta = NULL;
    SR_TRY(sr_fetch_json(url, &meta));
    /* OpenID Connect Discovery §4.3: the document must name the issuer it was fetched for. */
    const char *said = json_string_value(json_object_get(meta, "issuer"));
    const char *jwks_uri = json_string_value(json_object_get(meta, "jwks_uri"));
    SR_ENSURE(said != NULL && strcmp(said, issuer) == 0 && jwks_uri != NULL, SR_ERR_IDP_JWKS);
    return sr_fetch_json(jwks_uri, ret_jwks);
}

/* One HTTPS exchange: the answer's status and body bytes. */
static enum sr_err sr_client_fetch(struct sr_cli *cli, const struct sr_client *c, const char *method,
                                   const char *url, const char *body, const char *host, long *ret_status,
                                   struct sr_buf *resp)
{
    SR_AUTO(sr_curl_cleanup) CURL *curl = curl_easy_init();
    SR_ENSURE(curl != NULL, SR_ERR_NOMEM);
    char auth[512] = "";
    SR_AUTO(sr_slist_cleanup) struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    if (c->token != NULL) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", c->token);
        headers = curl_slist_append(headers, auth);
    }
    char host_header[300];
    if (host != NULL) {
        snprintf(host_header, sizeof(host_header), "Host: %s", host);
        headers = curl_slist_append(headers, host_header);
    }
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
    if (c->ca_file != NULL) {
        /* Trust this CA besides the system's. */
        curl_easy_setopt(curl, CURLOPT_CAINFO, c->ca_file);
        curl_easy_setopt(curl, CURLOPT_CAPATH, "/etc/ssl/certs");
    }
    if (body != NULL) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    }
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, sr_collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, resp);
    char why[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, why);
    CURLcode cc = curl_easy_perform(curl);
    OPENSSL_cleanse(auth, sizeof(auth));
    if (cc != CURLE_OK) {
        return sr_client_failure(cli, c, cc, why);
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, ret_status);
    return SR_OK;
}

/*
 * https://NAME.localhost:PORT's certificate does not name NAME: the server issues one for each vault it has,
 * so NAME is most likely not a vault there. Ask the server itself, through the name its certificate does
 * carry (localhost) with NAME in the Host header, and say what it answers.
 */
static enum sr_err sr_client_probe_vault(struct sr_cli *cli, const struct sr_client *c)
{
    const char *host = c->url + strlen("https://");
    const char *dot = strstr(host, ".localhost");
    if (dot == NULL || (dot[10] != ':' && dot[10] != 0)) {
        return SR_ERR_TLS_NAME;
    }
    char saved[sizeof(cli->detail)];
    memcpy(saved, cli->detail, sizeof(saved));
    struct sr_client probe = *c;
    snprintf(probe.url, sizeof(probe.url), "https://localhost%s", dot + 10);
    char url[600];
    snprintf(url, sizeof(url), "%s/byok/vault?api-version=%s", probe.url, SR_CLIENT_API_VERSION);
    SR_AUTO_BUF struct sr_buf resp = {0};
    sr_buf_init(&resp, 65536, SR_BUF_PLAIN);
    long status = 0;
    if (sr_client_fetch(cli, &probe, "GET", url, NULL, host, &status, &resp) != SR_OK) {
        memcpy(cli->detail, saved, sizeof(saved));
        return SR_ERR_TLS_NAME;
    }
    SR_AUTO_JSON json_t *parsed = json_loadb((const char *)resp.data, resp.len, 0, NULL);
    const char *code = json_string_value(json_object_get(json_object_get(parsed, "error"), "code"));
    if (status == 404 && code != NULL && strcmp(code, "VaultNotFound") == 0) {
        sr_cli_detail(cli, "404 VaultNotFound: the server at %s has no vault '%.*s' ('strongroom vault list' shows "
                           "its vaults)", probe.url, (int)(dot - host), host);
        return SR_ERR_REMOTE;
    }
    memcpy(cli->detail, saved, sizeof(saved));
    return SR_ERR_TLS_NAME;
}

enum sr_err sr_client_call(struct sr_cli *cli, const struct sr_client *c, const char *method, const char *path,
                           const json_t *body, json_t **ret)
{
    char url[2048];
    int n = snprintf(url, sizeof(url), "%s%s%sapi-version=%s", c->url, path, strchr(path, '?') ? "&" : "?",
                     c->api_version ? c->api_version : SR_CLIENT_API_VERSION);
    SR_ENSURE(n > 0 && (size_t)n < sizeof(url), SR_ERR_TOO_LARGE);
    SR_AUTO_FREE char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    SR_AUTO_BUF struct sr_buf resp = {0};
    sr_buf_init(&resp, SR_CLIENT_MAX_RESPONSE, SR_BUF_SECRET);
    long status = 0;
    enum sr_err r = sr_client_fetch(cli, c, method, url, text, NULL, &status, &resp);
    if (r == SR_ERR_TLS_NAME) {
        r = sr_client_probe_vault(cli, c);
    }
    if (text != NULL) {
        OPENSSL_cleanse(text, strlen(text)); /* bodies may carry plaintexts or keys */
    }
    SR_TRY(r);
    SR_AUTO_JSON json_t *parsed = resp.len ? json_loadb((const char *)resp.data, resp.len, 0, NULL) : NULL;
    if (status >= 400) {
        return sr_client_error(cli, status, parsed);
    }
    if (resp.len > 0 && parsed == NULL) {
        sr_cli_detail(cli, "%s answered with something that is not JSON: is it a Strongroom vault?", c->url);
        return SR_ERR_REMOTE_FAILED;
    }
    *ret = SR_TAKE(parsed);
    return SR_OK;
}

enum sr_err sr_client_download(struct sr_cli *cli, const struct sr_client *c, const char *path, struct sr_buf *out)
{
    char url[2048];
    int n = snprintf(url, sizeof(url), "%s%s", c->url, path);
    SR_ENSURE(n > 0 && (size_t)n < sizeof(url), SR_ERR_TOO_LARGE);
    long status = 0;
    SR_TRY(sr_client_fetch(cli, c, "GET", url, NULL, NULL, &status, out));
    if (status >= 400) {
        SR_AUTO_JSON json_t *parsed = json_loadb((const char *)out->data, out->len, 0, NULL);
        return sr_client_error(cli, status, parsed);
    }
    return SR_OK;
}
