/*
 * server.c - libmicrohttpd glue: one handler that authenticates, routes, reads the body within its
 * limit and runs the operation in the worker thread; then the connection is suspended while the store
 * makes the request's audit entry (and changes) durable in a group commit, and resumed to answer. So a
 * worker thread never waits for a disk flush, and a few threads (one per core) keep every core on crypto.
 */
#include <arpa/inet.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>

#include "base/json.h"
#include "base/text.h"
#include "crypto/crypto.h"
#include "http/console.h"
#include "http/guard.h"
#include "http/http.h"
#include "http/workq.h"

/* libmicrohttpd's per-connection pool (headers, read buffer, response headers; bodies are streamed to us).
 * Its default, 32 KiB, is cleared between the requests of a keep-alive connection: a cost per request. */
#define SR_HTTP_CONN_MEMORY (16u * 1024)
/* Whatever a few addresses do, others keep being served: one may hold this many connections of the server's
 * SR_HTTP_CONN_LIMIT (fewer when the process may not open that many files). */
#define SR_HTTP_CONNS_PER_ADDRESS 128u
#define SR_HTTP_CONN_LIMIT 4096u
/* Silence closes a connection after this, in any phase after the handshake (libmicrohttpd's timeout). */
#define SR_HTTP_IDLE_SECONDS 10u
/* Each phase's total deadline (guard.h), however slowly its bytes trickle in. */
static const struct sr_guard_limits sr_http_limits = {
    .ms = {[SR_PHASE_HANDSHAKE] = 10000, [SR_PHASE_HEADERS] = 10000, [SR_PHASE_BODY] = 30000,
           [SR_PHASE_WORKING] = 0, [SR_PHASE_ANSWER] = 60000},
    /* Twice what one address may hold (its connections, each with a whole body): no one address spends it. */
    .body_budget = 2u * SR_HTTP_CONNS_PER_ADDRESS * SR_MAX_BODY,
};

/* A certificate chain and key as GnuTLS takes them from the handshake callback. */
struct sr_tls_cert {
    char host[SR_MAX_VAULT + 16]; /* "" for the start-up certificate */
    gnutls_pcert_st chain[2];     /* the server certificate, then the CA */
    unsigned n;
};

/* At most this many vaults made after start get a certificate of their own; a restart folds them into the
 * start-up certificate. */
#define SR_TLS_LATE_VAULTS 256

struct sr_tls_certs {
    pthread_mutex_t lock;
    gnutls_privkey_t key;
    struct sr_tls_cert start;
    gnutls_x509_crt_t start_crt; /* the start-up certificate, to ask which names it already carries */
    struct sr_tls_cert late[SR_TLS_LATE_VAULTS];
    size_t nlate;
};

struct sr_http_server {
    struct MHD_Daemon *daemon;
    struct sr_tls_certs certs;
    struct sr_vault_svc *svc;
    struct sr_http_config cfg;
    unsigned port;
    struct sr_workq *workers; /* run the operations: one thread per core */
    struct sr_guard *guard;   /* every connection's deadlines; the body budget */
    atomic_uint suspended;    /* requests waiting for their operation or commit */
    uint8_t id_prefix[8];     /* random at start: x-ms-request-id is this and a count */
    atomic_uint_fast64_t requests;
};

enum sr_conn_state { SR_CONN_READING, SR_CONN_COMMITTING, SR_CONN_ANSWERING };

/* Per-request state, kept between libmicrohttpd's calls for one request (and while it is suspended). */
struct sr_conn {
    struct sr_http_server *server;
    struct MHD_Connection *connection;
    struct sr_buf body;
    enum sr_err body_refused; /* SR_ERR_BODY_TOO_LARGE or SR_ERR_BODY_BUDGET once the rest is to be dropped */
    bool authenticated;
    enum sr_err refused; /* a bodiless request's failed authentication, answered on its last call */
    _Atomic enum sr_conn_state state;
    struct sr_principal who;
    struct sr_route_match route;
    char base_url[300];
    json_t *body_json;
    struct sr_request req;
    struct sr_workq_job job;
    char method[12]; /* for the request's log line */
    bool routed;     /* route and req.vault are known */
    bool authority;  /* the token endpoint: no bearer token, a form body, OAuth's errors */
};

/* Unique, not secret: the server's random prefix and a count, so no request pays for the RNG. */
static void sr_request_id(struct sr_http_server *s, char out[37])
{
    uint64_t n = atomic_fetch_add(&s->requests, 1);
    uint8_t raw[16];
    memcpy(raw, s->id_prefix, 8);
    for (int i = 0; i < 8; i++) {
        raw[8 + i] = (uint8_t)(n >> (56 - 8 * i));
    }
    char hex[33];
    sr_hex_encode(raw, sizeof(raw), hex);
    static const size_t groups[] = {8, 4, 4, 4, 12}; /* a UUID's shape */
    char *o = out;
    const char *h = hex;
    for (size_t g = 0; g < SR_ARRAY_LEN(groups); g++) {
        if (g > 0) {
            *o++ = '-';
        }
        memcpy(o, h, groups[g]);
        o += groups[g];
        h += groups[g];
    }
    *o = 0;
}

static struct sr_watch *sr_watch_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci != NULL ? ci->socket_context : NULL;
}

/* Queues an answer and lets go of it: the connection's answer phase, and its deadline, begin. */
static enum MHD_Result sr_queue(struct MHD_Connection *c, unsigned status, struct MHD_Response *resp)
{
    struct sr_watch *w = sr_watch_of(c);
    if (w != NULL) {
        sr_watch_enter(w, SR_PHASE_ANSWER);
    }
    enum MHD_Result r = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return r;
}

static enum MHD_Result sr_send(struct sr_http_server *s, struct MHD_Connection *c, unsigned status, const json_t *body,
                               const char *challenge)
{
    /* Most answers fit on the stack, written once and copied once (json_dumps would grow a buffer, then
     * duplicate it); a long list is written to the heap. */
    char small[4096];
    size_t len = 0;
    char *text = NULL;
    if (body != NULL) {
        len = json_dumpb(body, small, sizeof(small), JSON_COMPACT);
        if (len > sizeof(small)) {
            text = json_dumps(body, JSON_COMPACT);
            len = text ? strlen(text) : 0;
        }
        SR_ENSURE(len > 0, MHD_NO);
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, text ? text : small,
                                                                text ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_MUST_COPY);
    if (resp == NULL) {
        free(text);
        return MHD_NO;
    }
    char rid[37];
    sr_request_id(s, rid);
    MHD_add_response_header(resp, "x-ms-request-id", rid);
    const char *client_rid = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "x-ms-client-request-id");
    if (sr_text_printable(client_rid) && strlen(client_rid) < 128) {
        MHD_add_response_header(resp, "x-ms-client-request-id", client_rid);
    }
    if (body != NULL) {
        MHD_add_response_header(resp, "Content-Type", "application/json; charset=utf-8");
    }
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Strict-Transport-Security", "max-age=31536000;includeSubDomains");
    if (challenge != NULL) {
        MHD_add_response_header(resp, "WWW-Authenticate", challenge);
    }
    if (status == 503) {
        MHD_add_response_header(resp, "Retry-After", "1"); /* a database failover takes seconds */
    }
    return sr_queue(c, status, resp);
}

static enum MHD_Result sr_send_error(struct sr_http_server *s, struct MHD_Connection *c, enum sr_err e, const char *detail,
                                     const char *challenge)
{
    char raw[512], message[512];
    if (detail != NULL && strncmp(detail, "AKV.", 4) == 0) {
        snprintf(raw, sizeof(raw), "%s", detail); /* Key Vault's own words, which clients match: alone */
    } else {
        snprintf(raw, sizeof(raw), "%s%s%s%s", sr_err_message(e), detail && *detail ? " (" : "",
                 detail ? detail : "", detail && *detail ? ")" : "");
    }
    sr_text_clean(message, sizeof(message), raw); /* details echo paths and names a client sent */
    SR_AUTO_JSON json_t *body = json_pack("{s:{s:s,s:s}}", "error", "code", sr_err_kv_code(e), "message", message);
    return sr_send(s, c, (unsigned)sr_err_http_status(e), body, challenge);
}

/* The challenge names this server's authority (where the SDK's credential may get a token: the tenant is what it
 * reads of it) and the resource the token must be for. */
static enum MHD_Result sr_send_challenge(struct sr_http_server *s, struct MHD_Connection *c, enum sr_err e, const char *resource)
{
    char challenge[512];
    const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
    snprintf(challenge, sizeof(challenge), "Bearer authorization=\"https://%s/%s\", resource=\"%s\"",
             host ? host : "localhost", SR_TENANT_ID, resource);
    return sr_send_error(s, c, e, NULL, challenge);
}

static const char *sr_bearer(struct MHD_Connection *c)
{
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0) {
        return NULL;
    }
    return auth + 7;
}

/* Why authentication failed, in the audit log's words. */
static const char *sr_refusal_reason(struct MHD_Connection *c, enum sr_err r)
{
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    const char *token = sr_bearer(c);
    if (auth == NULL) {
        return "no token";
    }
    if (token == NULL || *token == 0 || (strlen(token) >= 256 && strchr(token, '.') == NULL)) {
        return "malformed Authorization header";
    }
    switch (r) {
    case SR_ERR_TOKEN_REVOKED:
        return "revoked token";
    case SR_ERR_TOKEN_EXPIRED:
        return "expired token";
    case SR_ERR_JWT_AUDIENCE:
        return "access token for another audience";
    case SR_ERR_JWT_ALG:
    case SR_ERR_JWT_SIGNATURE:
    case SR_ERR_JWT_ISSUER:
        return "access token not signed by this authority";
    case SR_ERR_JWT_NOT_YET:
        return "access token not valid yet";
    case SR_ERR_PRINCIPAL_GONE:
        return "access token of a deleted application";
    default:
        return "unknown token";
    }
}

static void sr_client_address(struct MHD_Connection *c, char *out, size_t cap)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(out, cap, "-");
    if (ci != NULL && ci->client_addr != NULL) {
        const struct sockaddr *sa = ci->client_addr;
        const void *bytes = sa->sa_family == AF_INET6 ? (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr
                                                     : (const void *)&((const struct sockaddr_in *)sa)->sin_addr;
        (void)inet_ntop(sa->sa_family, bytes, out, (socklen_t)cap);
    }
}

static enum MHD_Result sr_send_refusal(struct sr_http_server *s, struct MHD_Connection *c, enum sr_err r, const char *resource)
{
    if (sr_err_family(r) == SR_FAM_UNAUTH) {
        return sr_send_challenge(s, c, r, resource);
    }
    return sr_send_error(s, c, r, NULL, NULL);
}

static bool sr_has_body(struct MHD_Connection *c)
{
    const char *len = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    return (len != NULL && strcmp(len, "0") != 0) ||
           MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Transfer-Encoding") != NULL;
}

/*
 * First call of a request: authenticate before reading any body (the SDK's first request has none). A
 * request with a body is refused at once, and its connection closed unread; one without is answered on
 * its last call, so the connection stays open (libmicrohttpd closes one answered before its end).
 */
static enum MHD_Result sr_first_call(struct sr_http_server *s, struct MHD_Connection *c, struct sr_conn *conn,
                                     const char *vault, const char *resource)
{
    enum sr_err r = sr_vault_authenticate(s->svc, sr_bearer(c), resource,
                                          MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host"), &conn->who);
    if (sr_err_family(r) == SR_FAM_UNAUTH) {
        char client[48];
        sr_client_address(c, client, sizeof(client));
        sr_vault_refused(s->svc, client, vault, conn->who.actor, sr_refusal_reason(c, r), r);
    }
    if (r != SR_OK && sr_has_body(c)) {
        return sr_send_refusal(s, c, r, resource);
    }
    const char *len = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    unsigned long announced = 0;
    if (r == SR_OK && len != NULL && sr_parse_uint(len, 0, ULONG_MAX, &announced) == SR_OK && announced > SR_MAX_BODY) {
        return sr_send_error(s, c, SR_ERR_BODY_TOO_LARGE, NULL, NULL); /* before a byte of it is read */
    }
    conn->refused = r;
    conn->authenticated = r == SR_OK;
    return MHD_YES;
}

static enum sr_err sr_paging(struct MHD_Connection *c, struct sr_request *req)
{
    const char *max = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "maxresults");
    const char *skip = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "$skiptoken");
    unsigned long v = 25;
    if (max != NULL && sr_parse_uint(max, 1, 25, &v) != SR_OK) {
        snprintf(req->detail, sizeof(req->detail), "maxresults must be an integer from 1 to 25");
        return SR_ERR_BAD_PARAM;
    }
    req->maxresults = (unsigned)v;
    v = 0;
    if (skip != NULL && sr_parse_uint(skip, 0, 1u << 30, &v) != SR_OK) {
        snprintf(req->detail, sizeof(req->detail), "$skiptoken is not one this server issued");
        return SR_ERR_BAD_PARAM;
    }
    req->skip = (unsigned)v;
    return SR_OK;
}

static enum sr_err sr_parse_body(struct sr_conn *conn, json_t **ret)
{
    json_error_t jerr;
    json_t *body = json_loadb((const char *)conn->body.data, conn->body.len, JSON_REJECT_DUPLICATES, &jerr);
    SR_ENSURE(body != NULL, SR_ERR_BAD_JSON);
    if (!json_is_object(body)) {
        json_decref(body);
        return SR_ERR_BAD_PARAM; /* valid JSON, but not the object every operation takes */
    }
    *ret = body;
    return SR_OK;
}

/* The store's writer thread: the request's outcome is durable; let its worker answer. */
static void sr_conn_committed(struct sr_request *req)
{
    struct sr_conn *conn = req->ctx;
    struct sr_http_server *s = conn->server;
    atomic_store(&conn->state, SR_CONN_ANSWERING);
    MHD_resume_connection(conn->connection);
    atomic_fetch_sub(&s->suspended, 1);
}

/* A worker thread: the operation's cryptography, then its commit is queued. */
static void sr_conn_run(struct sr_workq_job *job)
{
    struct sr_conn *conn = (struct sr_conn *)((char *)job - offsetof(struct sr_conn, job));
    sr_vault_start(conn->server->svc, conn->route.op, &conn->req);
}

/* The token endpoint's refusal, in OAuth's words (RFC 6749 §5.2) as Entra writes them. */
static enum MHD_Result sr_send_oauth_error(struct sr_http_server *s, struct MHD_Connection *c, enum sr_err e,
                                           const char *detail)
{
    char rid[37];
    sr_request_id(s, rid);
    SR_AUTO_JSON json_t *body = sr_oauth_error_body(e, detail, rid);
    return body ? sr_send(s, c, (unsigned)sr_err_http_status(e), body, NULL) : MHD_NO;
}

/* The request is whole: the connection waits (suspended) while its operation runs and its commit becomes
 * durable; an operation that uses a private key runs on the worker pool, a cheap one at once. */
static enum MHD_Result sr_conn_dispatch(struct sr_http_server *s, struct MHD_Connection *c, struct sr_conn *conn)
{
    struct sr_request *req = &conn->req;
    req->done = sr_conn_committed;
    req->ctx = conn;
    atomic_store(&conn->state, SR_CONN_COMMITTING);
    atomic_fetch_add(&s->suspended, 1);
    struct sr_watch *w = sr_watch_of(c);
    if (w != NULL) {
        sr_watch_enter(w, SR_PHASE_WORKING); /* the server's own work: no deadline until it is answered */
    }
    MHD_suspend_connection(c);
    if (sr_op_uses_private_key(conn->route.op)) {
        conn->job.run = sr_conn_run;
        sr_workq_push(s->workers, &conn->job);
    } else {
        sr_vault_start(s->svc, conn->route.op, req); /* cheap: not worth a hand-off to another thread */
    }
    return MHD_YES;
}

static enum MHD_Result sr_answer(struct sr_http_server *s, struct MHD_Connection *c, struct sr_conn *conn)
{
    struct sr_request *req = &conn->req;
    if (req->result != SR_OK) {
        return conn->authority ? sr_send_oauth_error(s, c, req->result, req->detail)
                               : sr_send_error(s, c, req->result, req->detail, NULL);
    }
    return sr_send(s, c, req->response ? (req->status ? req->status : 200) : 204, req->response, NULL);
}

/* The token endpoint's last call: the form, then the grant on a worker (it signs with the module). */
static enum MHD_Result sr_authority_final(struct sr_http_server *s, struct MHD_Connection *c, struct sr_conn *conn)
{
    const char *type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    if (type == NULL || strncasecmp(type, "application/x-www-form-urlencoded", 33) != 0) {
        return sr_send_oauth_error(s, c, SR_ERR_OAUTH_REQUEST, "the body must be application/x-www-form-urlencoded");
    }
    if (sr_form_parse(conn->body.data, conn->body.len, &conn->body_json) != SR_OK) {
        return sr_send_oauth_error(s, c, SR_ERR_OAUTH_REQUEST, "the body is not a well-formed form (each field once)");
    }
    const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
    snprintf(conn->base_url, sizeof(conn->base_url), "https://%s", host ? host : "localhost");
    struct sr_request *req = &conn->req;
    *req = (struct sr_request){.base_url = conn->base_url, .body = conn->body_json};
    sr_client_address(c, req->client, sizeof(req->client));
    conn->route.op = SR_OP_TOKEN_ISSUE;
    conn->routed = true;
    return sr_conn_dispatch(s, c, conn);
}

/* The discovery document and the keys: public, GET only, never audited (MSAL reads them at every start). */
static enum MHD_Result sr_send_authority_doc(struct sr_http_server *s, struct MHD_Connection *c,
                                             enum sr_authority_route route, const char *tenant, const char *method)
{
    if (strcmp(method, "GET") != 0) {
        return sr_send_oauth_error(s, c, SR_ERR_OAUTH_REQUEST, "only GET");
    }
    if (sr_authority_tenant_ok(tenant) != SR_OK) {
        return sr_send_oauth_error(s, c, SR_ERR_OAUTH_REQUEST, "no such tenant: this server's is " SR_TENANT_ID);
    }
    const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
    char base[300];
    snprintf(base, sizeof(base), "https://%s", host ? host : "localhost");
    SR_AUTO_JSON json_t *doc = NULL;
    enum sr_err r = route == SR_AUTH_METADATA ? sr_authority_metadata(base, tenant, &doc)
                                              : sr_authority_jwks(s->svc, &doc);
    return r == SR_OK ? sr_send(s, c, 200, doc, NULL) : sr_send_oauth_error(s, c, r, NULL);
}

static enum MHD_Result sr_final_call(struct sr_http_server *s, struct MHD_Connection *c, struct sr_conn *conn,
                                     const char *method, const char *url, const char *vault_name)
{
    struct sr_route_match *m = &conn->route;
    enum sr_err r = sr_route_match(method, url, m);
    if (r != SR_OK) {
        return sr_send_error(s, c, r, url, NULL);
    }
    const char *api = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "api-version");
    if (!sr_api_version_ok(api)) {
        return sr_send_error(s, c, SR_ERR_API_VERSION, api, NULL);
    }
    const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
    snprintf(conn->base_url, sizeof(conn->base_url), "https://%s", host);
    /* Everything the request points at lives in conn (or in libmicrohttpd's request) until it is answered. */
    struct sr_request *req = &conn->req;
    *req = (struct sr_request){.who = conn->who, .base_url = conn->base_url, .api_version = api, .name = m->name,
                               .version = m->version, .scope = m->scope[0] ? m->scope : NULL};
    sr_client_address(c, req->client, sizeof(req->client));
    r = sr_vault_lookup(s->svc, vault_name, &req->vault);
    if (r != SR_OK) {
        return sr_send_error(s, c, r, vault_name, NULL);
    }
    conn->routed = true;
    r = sr_paging(c, req);
    if (r != SR_OK) {
        return sr_send_error(s, c, r, req->detail, NULL);
    }
    if (sr_op_has_body(m->op)) {
        r = sr_parse_body(conn, &conn->body_json);
        if (r != SR_OK) {
            return sr_send_error(s, c, r, "the body must be one JSON object", NULL);
        }
        req->body = conn->body_json;
    }
    return sr_conn_dispatch(s, c, conn);
}

/* libmicrohttpd's unescaping of the path and the query, except that %00 stays as it is: a NUL would cut a key
 * name short, while "%00" is refused as the malformed name it is. */
static size_t sr_unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls, (void)c;
    char *out = s;
    for (const char *in = s; *in != 0;) {
        int hi = in[0] == '%' ? sr_hex_value(in[1]) : -1;
        int lo = hi >= 0 ? sr_hex_value(in[2]) : -1;
        if (lo >= 0 && (hi | lo) != 0) {
            *out++ = (char)(hi * 16 + lo);
            in += 3;
        } else {
            *out++ = *in++;
        }
    }
    *out = 0;
    return (size_t)(out - s);
}

/* The published toolsets are public downloads, as in the guide: no token, GET only. */
static enum MHD_Result sr_send_toolsets(struct sr_http_server *s, struct MHD_Connection *c, const char *url)
{
    const char *name = url + strlen("/byok/toolsets");
    if (*name == 0 || strcmp(name, "/") == 0) {
        SR_AUTO_JSON json_t *list = NULL;
        enum sr_err r = sr_vault_toolsets(s->svc, &list);
        return r == SR_OK ? sr_send(s, c, 200, list, NULL) : sr_send_error(s, c, r, NULL, NULL);
    }
    SR_AUTO_BUF struct sr_buf zip = {0};
    sr_buf_init(&zip, 16u << 20, SR_BUF_PLAIN);
    enum sr_err r = name[0] == '/' ? sr_vault_toolset_bytes(s->svc, name + 1, &zip) : SR_ERR_ROUTE;
    if (r != SR_OK) {
        return sr_send_error(s, c, r, url, NULL);
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(zip.len, zip.data, MHD_RESPMEM_MUST_COPY);
    if (resp == NULL) {
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/zip");
    return sr_queue(c, 200, resp);
}

/* The web console's files: public (the page asks for the token itself), GET only, each answer with the
 * console's security headers, errors included. "/console" goes to "/console/". */
static enum MHD_Result sr_send_console(struct sr_http_server *s, struct MHD_Connection *c, const char *url,
                                       const char *method)
{
    const struct sr_console_file *f = sr_console_find(url);
    bool redirect = strcmp(url, "/console") == 0;
    unsigned status = redirect ? 301 : strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 ? 405 : f ? 200 : 404;
    /* A sealed server has nothing to show: the page says so instead of failing call by call. */
    struct sr_vault_health h = {0};
    if (status == 200 && (sr_vault_health(s->svc, &h) != SR_OK || h.sealed > 0)) {
        status = 503;
    }
    static const char missing[] = "Not found: the console's pages are under /console/\n";
    static const char sealed[] = "Sealed: this server waits for a quorum of administrator cards "
                                 "(strongroom unseal), or for its database\n";
    const char *text = status == 503 ? sealed : missing;
    size_t len = status == 503 ? sizeof(sealed) - 1 : sizeof(missing) - 1;
    struct MHD_Response *resp = status == 200
                                    ? MHD_create_response_from_buffer(f->len, (void *)f->data, MHD_RESPMEM_PERSISTENT)
                                    : MHD_create_response_from_buffer(len, (void *)text, MHD_RESPMEM_PERSISTENT);
    if (resp == NULL) {
        return MHD_NO;
    }
    for (size_t i = 0; sr_console_headers[i][0] != NULL; i++) {
        MHD_add_response_header(resp, sr_console_headers[i][0], sr_console_headers[i][1]);
    }
    MHD_add_response_header(resp, "Content-Type", status == 200 ? sr_console_type(f) : "text/plain; charset=utf-8");
    if (redirect) {
        MHD_add_response_header(resp, "Location", "/console/");
    } else if (status == 405) {
        MHD_add_response_header(resp, "Allow", "GET, HEAD");
    } else if (status == 503) {
        MHD_add_response_header(resp, "Retry-After", "5");
    }
    return sr_queue(c, status, resp);
}

/* Public, for load balancers: 200 when the store answers, 503 (Key Vault's error JSON) when it does not.
 * Counts only (no vault or key name), and the names of regions whose HSM token is unreachable. */
static enum MHD_Result sr_send_health(struct sr_http_server *s, struct MHD_Connection *c)
{
    struct sr_vault_health h;
    enum sr_err r = sr_vault_health(s->svc, &h);
    if (r != SR_OK) {
        return sr_send_error(s, c, r, "health", NULL);
    }
    size_t heap = 0, heap_used = 0;
    sr_secure_heap_usage(&heap, &heap_used);
    struct sr_guard_stats g;
    sr_guard_stats(s->guard, &g);
    SR_AUTO_JSON json_t *reaped = json_object();
    for (enum sr_phase p = 0; p < SR_PHASE_COUNT && reaped != NULL; p++) {
        if (p != SR_PHASE_WORKING) {
            json_object_set_new(reaped, sr_phase_name(p), json_integer((json_int_t)g.reaped[p]));
        }
    }
    /* A cards-sealed region answers nothing until 'strongroom unseal': the balancer must not send it requests. */
    SR_AUTO_JSON json_t *body = json_pack(
        "{s:s,s:I,s:I,s:s,s:b,s:{s:I,s:I},s:{s:I,s:O,s:I,s:I,s:I}}", "status", h.sealed ? "sealed" : "ok", "regions",
        (json_int_t)h.regions, "regionsServed", (json_int_t)h.held, "seal", sr_vault_seal_name(s->svc), "sealed",
        h.sealed > 0, "secureHeap", "size",
        (json_int_t)heap, "used", (json_int_t)heap_used, "connections", "open", (json_int_t)g.open,
        "closedAtDeadline", reaped, "bodyBytes", (json_int_t)g.body_bytes, "bodyBudget", (json_int_t)g.body_budget,
        "bodiesRefused", (json_int_t)g.body_refused);
    /* A region whose HSM token is away: named, so the operator knows which token to look at; the others serve. */
    if (body != NULL && h.ndown > 0) {
        json_t *down = json_array();
        for (unsigned i = 0; down != NULL && i < h.ndown && i < SR_ARRAY_LEN(h.down); i++) {
            json_array_append_new(down, json_string(h.down[i]));
        }
        json_object_set_new(body, "regionsDown", down);
        json_object_set_new(body, "status", json_string(h.sealed ? "sealed" : "degraded"));
    }
    return body ? sr_send(s, c, h.sealed ? 503 : 200, body, NULL) : MHD_NO;
}

/* A request's headers are in: its body's deadline starts, and after the handshake silence is timed again. */
static void sr_request_begins(struct MHD_Connection *c)
{
    struct sr_watch *w = sr_watch_of(c);
    if (w == NULL) {
        return;
    }
    if (!w->timeout_set) {
        (void)MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, SR_HTTP_IDLE_SECONDS);
        w->timeout_set = true;
    }
    sr_watch_enter(w, SR_PHASE_BODY);
}

/* The body's bytes are exactly what it holds of the server's budget. */
static void sr_conn_drop_body(struct sr_conn *conn)
{
    sr_guard_give(conn->server->guard, conn->body.len);
    sr_buf_release(&conn->body);
}

/* A piece of the body, kept within its 1 MiB and the server's budget; past either, the rest is read and
 * dropped and the request answered 413 or 503 at its end (libmicrohttpd answers only a whole request). */
static void sr_conn_take_body(struct sr_conn *conn, const char *data, size_t n)
{
    if (conn->body_refused != SR_OK) {
        return;
    }
    if (n > SR_MAX_BODY - conn->body.len) {
        conn->body_refused = SR_ERR_BODY_TOO_LARGE;
    } else if (!sr_guard_take(conn->server->guard, n)) {
        conn->body_refused = SR_ERR_BODY_BUDGET;
        sr_guard_refused(conn->server->guard);
    } else if (sr_buf_append(&conn->body, data, n) != SR_OK) {
        sr_guard_give(conn->server->guard, n);
        conn->body_refused = SR_ERR_BODY_TOO_LARGE;
    }
    if (conn->body_refused != SR_OK) {
        sr_conn_drop_body(conn);
    }
}

static enum MHD_Result sr_handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)version;
    struct sr_http_server *s = cls;
    struct sr_conn *conn = *con_cls;
    char vault[SR_MAX_VAULT + 2] = "";
    char resource[300] = "";
    const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
    if (sr_host_parse(host, s->cfg.default_vault, vault, sizeof(vault), resource, sizeof(resource)) != SR_OK) {
        return sr_send_error(s, c, SR_ERR_HOST_UNKNOWN, NULL, NULL);
    }
    if (conn == NULL) {
        sr_request_begins(c);
    }
    if (conn == NULL && strcmp(url, "/healthz") == 0) {
        return strcmp(method, "GET") == 0 ? sr_send_health(s, c) : sr_send_error(s, c, SR_ERR_METHOD, url, NULL);
    }
    if (conn == NULL && (strcmp(url, "/console") == 0 || strncmp(url, "/console/", 9) == 0)) {
        return sr_send_console(s, c, url, method);
    }
    if (conn == NULL && strncasecmp(url, "/byok/toolsets", 14) == 0) {
        if (strcmp(method, "GET") != 0) {
            return sr_send_error(s, c, SR_ERR_METHOD, url, NULL);
        }
        return sr_send_toolsets(s, c, url);
    }
    enum sr_authority_route aroute;
    char tenant[64];
    bool authority = conn == NULL && sr_authority_route(url, &aroute, tenant, sizeof(tenant));
    if (authority && aroute != SR_AUTH_TOKEN) {
        return sr_send_authority_doc(s, c, aroute, tenant, method);
    }
    if (authority && (strcmp(method, "POST") != 0 || sr_authority_tenant_ok(tenant) != SR_OK)) {
        *upload_data_size = 0;
        return sr_send_oauth_error(s, c, SR_ERR_OAUTH_REQUEST, strcmp(method, "POST") != 0
                                                                   ? "the token endpoint takes POST"
                                                                   : "no such tenant: this server's is " SR_TENANT_ID);
    }
    if (conn == NULL) {
        conn = calloc(1, sizeof(*conn));
        if (conn == NULL) {
            return MHD_NO;
        }
        conn->server = s;
        conn->connection = c;
        snprintf(conn->method, sizeof(conn->method), "%s", method);
        /* The ordinary heap, wiped when freed (imports carry keys): the secure heap is for the module's keys. */
        sr_buf_init(&conn->body, SR_MAX_BODY, SR_BUF_PLAIN);
        *con_cls = conn;
        if (authority) { /* the client authenticates in its body */
            conn->authority = conn->authenticated = true;
            return MHD_YES;
        }
        return sr_first_call(s, c, conn, vault, resource);
    }
    if (conn->refused != SR_OK) {
        *upload_data_size = 0;
        return sr_send_refusal(s, c, conn->refused, resource);
    }
    if (!conn->authenticated) {
        return MHD_NO; /* answered already */
    }
    enum sr_conn_state state = atomic_load(&conn->state);
    if (state == SR_CONN_ANSWERING) {
        return sr_answer(s, c, conn);
    }
    if (state == SR_CONN_COMMITTING) {
        return MHD_YES; /* still suspended: nothing to do until the commit resumes it */
    }
    if (*upload_data_size > 0) {
        sr_conn_take_body(conn, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (conn->body_refused != SR_OK) {
        return sr_send_error(s, c, conn->body_refused, NULL, NULL);
    }
    if (conn->authority) {
        return sr_authority_final(s, c, conn);
    }
    return sr_final_call(s, c, conn, method, url, vault);
}

/* One line per request, refusals included: ISO-8601 time, client address, vault, method, operation, status. */
static void sr_log_request(struct MHD_Connection *c, const struct sr_conn *conn)
{
    const union MHD_ConnectionInfo *st = MHD_get_connection_info(c, MHD_CONNECTION_INFO_HTTP_STATUS);
    char addr[INET6_ADDRSTRLEN], when[32] = "-";
    sr_client_address(c, addr, sizeof(addr));
    time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm) != NULL) {
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
    bool routed = conn != NULL && conn->routed;
    fprintf(stderr, "%s %s %s %s %s -> %u\n", when, addr, routed ? conn->req.vault.name : "-",
            conn != NULL ? conn->method : "-", routed ? sr_op_name(conn->route.op) : "-",
            st != NULL ? st->http_status : 0u);
}

static void sr_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    const struct sr_http_server *s = cls;
    if (s->cfg.log_requests && toe == MHD_REQUEST_TERMINATED_COMPLETED_OK) {
        sr_log_request(c, *con_cls);
    }
    struct sr_conn *conn = *con_cls;
    struct sr_watch *w = sr_watch_of(c);
    if (w != NULL) {
        sr_watch_enter(w, SR_PHASE_HEADERS); /* keep-alive: the next request's headers, or the close */
    }
    if (conn != NULL) {
        sr_conn_drop_body(conn); /* wipes: bodies can carry keys (import) and plaintexts */
        sr_request_release(&conn->req);
        if (conn->authority) {
            sr_form_wipe(conn->body_json); /* client secrets and assertions */
        }
        json_decref(conn->body_json);
        free(conn);
        *con_cls = NULL;
    }
}

/* libmicrohttpd's own messages, without what every client that hangs up mid-handshake or mid-record makes
 * GnuTLS say: those are the client's business, and a flood of them would bury what matters. */
__attribute__((format(printf, 2, 0))) static void sr_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof(line), fmt, ap);
    static const char *const noise[] = {"TLS", "handshake", "GnuTLS", "reset by peer", "Broken pipe",
                                        "closed by the remote", "non-properly terminated"};
    for (size_t i = 0; i < SR_ARRAY_LEN(noise); i++) {
        if (strstr(line, noise[i]) != NULL) {
            return;
        }
    }
    fprintf(stderr, "strongroom: libmicrohttpd: %s%s", line, line[0] && line[strlen(line) - 1] == '\n' ? "" : "\n");
}

/* --- TLS: one certificate for localhost and the vaults known at start, one more per vault made later --- */

static enum sr_err sr_tls_cert_load(struct sr_tls_cert *c, const char *host, const char *pem, size_t len)
{
    gnutls_datum_t all = {.data = (unsigned char *)pem, .size = (unsigned)len};
    unsigned n = 2;
    SR_ENSURE(gnutls_pcert_list_import_x509_raw(c->chain, &n, &all, GNUTLS_X509_FMT_PEM, 0) == 0, SR_ERR_CRYPTO);
    c->n = n;
    snprintf(c->host, sizeof(c->host), "%s", host);
    return SR_OK;
}

static void sr_tls_cert_release(struct sr_tls_cert *c)
{
    for (unsigned i = 0; i < c->n; i++) {
        gnutls_pcert_deinit(&c->chain[i]);
    }
    c->n = 0;
}

static enum sr_err sr_tls_certs_init(struct sr_tls_certs *t, const struct sr_http_config *cfg)
{
    pthread_mutex_init(&t->lock, NULL);
    SR_ENSURE(gnutls_privkey_init(&t->key) == 0, SR_ERR_NOMEM);
    gnutls_datum_t key = {.data = (unsigned char *)cfg->key_pem, .size = (unsigned)strlen(cfg->key_pem)};
    SR_ENSURE(gnutls_privkey_import_x509_raw(t->key, &key, GNUTLS_X509_FMT_PEM, NULL, 0) == 0, SR_ERR_CRYPTO);
    SR_TRY(sr_tls_cert_load(&t->start, "", cfg->cert_pem, strlen(cfg->cert_pem)));
    SR_ENSURE(gnutls_x509_crt_init(&t->start_crt) == 0, SR_ERR_NOMEM);
    SR_ENSURE(gnutls_x509_crt_import(t->start_crt, &t->start.chain[0].cert, GNUTLS_X509_FMT_DER) == 0, SR_ERR_CRYPTO);
    return SR_OK;
}

static void sr_tls_certs_release(struct sr_tls_certs *t)
{
    sr_tls_cert_release(&t->start);
    if (t->start_crt != NULL) {
        gnutls_x509_crt_deinit(t->start_crt);
    }
    for (size_t i = 0; i < t->nlate; i++) {
        sr_tls_cert_release(&t->late[i]);
    }
    if (t->key != NULL) {
        gnutls_privkey_deinit(t->key);
    }
    pthread_mutex_destroy(&t->lock);
}

/* The certificate for the name a client asked for: a vault made after start gets one issued now. Any
 * other name (an unknown vault, localhost, none) gets the start-up certificate. */
static const struct sr_tls_cert *sr_tls_cert_for(struct sr_http_server *s, const char *host)
{
    struct sr_tls_certs *t = &s->certs;
    size_t len = strlen(host);
    /* A name the start-up certificate carries (localhost, a vault known at start) costs no lock and no read. */
    if (s->cfg.issuer == NULL || len <= 10 || len >= sizeof(t->late[0].host) ||
        strcasecmp(host + len - 10, ".localhost") != 0 || gnutls_x509_crt_check_hostname(t->start_crt, host) != 0) {
        return &t->start;
    }
    const struct sr_tls_cert *found = &t->start;
    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; i < t->nlate; i++) {
        if (strcasecmp(t->late[i].host, host) == 0) {
            found = &t->late[i];
            break;
        }
    }
    char vault[SR_MAX_VAULT + 2];
    snprintf(vault, sizeof(vault), "%.*s", (int)(len - 10), host);
    struct sr_vault_row row;
    if (found == &t->start && t->nlate < SR_TLS_LATE_VAULTS && sr_vault_exists(s->svc, vault, &row) == SR_OK) {
        SR_AUTO_BUF struct sr_buf pem = {0};
        sr_buf_init(&pem, 65536, SR_BUF_PLAIN);
        if (sr_tls_issue(s->cfg.issuer, host, &pem) == SR_OK && sr_buf_terminate(&pem) == SR_OK &&
            sr_tls_cert_load(&t->late[t->nlate], host, (const char *)pem.data, pem.len) == SR_OK) {
            found = &t->late[t->nlate++];
        }
    }
    pthread_mutex_unlock(&t->lock);
    return found;
}

/* GnuTLS asks during each handshake; libmicrohttpd keeps its connection in the session, and the
 * connection keeps our server (sr_notify_connection). Entries are never removed while the server runs,
 * so what is returned stays valid. */
static int sr_tls_retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_dn, int nreqs,
                           const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length, gnutls_pcert_st **pcert,
                           unsigned int *pcert_length, gnutls_privkey_t *pkey)
{
    (void)req_ca_dn, (void)nreqs, (void)pk_algos, (void)pk_algos_length;
    struct MHD_Connection *c = gnutls_session_get_ptr(session);
    struct sr_watch *w = c != NULL ? sr_watch_of(c) : NULL;
    struct sr_http_server *s = w != NULL ? w->owner : NULL;
    if (s == NULL) {
        return -1;
    }
    char host[256];
    size_t len = sizeof(host);
    unsigned type = 0;
    const struct sr_tls_cert *cert = &s->certs.start;
    if (gnutls_server_name_get(session, host, &len, &type, 0) == 0 && type == GNUTLS_NAME_DNS && len < sizeof(host)) {
        host[len] = 0;
        cert = sr_tls_cert_for(s, host);
    }
    *pcert = (gnutls_pcert_st *)cert->chain;
    *pcert_length = cert->n;
    *pkey = s->certs.key;
    return 0;
}

/* The client's Finished message: the handshake is over, the first request's headers are awaited. */
static int sr_tls_finished(gnutls_session_t session, unsigned int htype, unsigned when, unsigned int incoming,
                           const gnutls_datum_t *msg)
{
    (void)htype, (void)when, (void)msg;
    struct MHD_Connection *c = gnutls_session_get_ptr(session);
    struct sr_watch *w = c != NULL ? sr_watch_of(c) : NULL;
    if (incoming && w != NULL && sr_watch_phase(w) == SR_PHASE_HANDSHAKE) {
        sr_watch_enter(w, SR_PHASE_HEADERS);
    }
    return 0;
}

/* Every TCP connection is watched from accept to close (guard.h); one that cannot be is refused its handshake
 * (sr_tls_retrieve finds no server), so none escapes its deadlines. */
static void sr_notify_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                                 enum MHD_ConnectionNotificationCode toe)
{
    struct sr_http_server *s = cls;
    if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        sr_guard_remove(*socket_context);
        *socket_context = NULL;
        return;
    }
    const union MHD_ConnectionInfo *fd = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    const union MHD_ConnectionInfo *tls = MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (fd == NULL || tls == NULL || tls->tls_session == NULL) {
        return;
    }
    *socket_context = sr_guard_add(s->guard, fd->connect_fd, s);
    gnutls_handshake_set_hook_function(tls->tls_session, GNUTLS_HANDSHAKE_FINISHED, GNUTLS_HOOK_POST, sr_tls_finished);
}

/* SR_HTTP_CONN_LIMIT, or what the process may open: its soft file limit is raised to the hard one first. */
static unsigned sr_http_conn_limit(void)
{
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) != 0) {
        return 1000;
    }
    if (nofile.rlim_cur < nofile.rlim_max) {
        nofile.rlim_cur = nofile.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &nofile);
        (void)getrlimit(RLIMIT_NOFILE, &nofile);
    }
    rlim_t spare = 128; /* the store, modules, logs */
    rlim_t room = nofile.rlim_cur > spare * 2 ? nofile.rlim_cur - spare : nofile.rlim_cur / 2;
    return room < SR_HTTP_CONN_LIMIT ? (unsigned)room : SR_HTTP_CONN_LIMIT;
}

/* Frees what sr_http_start made, whichever step it reached. */
static void sr_http_free(struct sr_http_server *s)
{
    if (s->workers != NULL) {
        sr_workq_stop(s->workers);
    }
    sr_guard_stop(s->guard);
    sr_tls_certs_release(&s->certs);
    free(s);
}

enum sr_err sr_http_start(struct sr_vault_svc *svc, const struct sr_http_config *cfg, struct sr_http_server **ret)
{
    struct sr_http_server *s = calloc(1, sizeof(*s));
    SR_ENSURE(s != NULL, SR_ERR_NOMEM);
    s->svc = svc;
    s->cfg = *cfg;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)cfg->port)};
    enum sr_err r = sr_tls_certs_init(&s->certs, cfg);
    if (r == SR_OK) {
        r = sr_rand_bytes(s->id_prefix, sizeof(s->id_prefix));
    }
    if (r == SR_OK && inet_pton(AF_INET, cfg->address, &addr.sin_addr) != 1) {
        r = SR_ERR_USAGE;
    }
    if (r == SR_OK) {
        r = sr_workq_start(cfg->threads, &s->workers);
    }
    if (r == SR_OK) {
        struct sr_guard_limits limits = sr_http_limits;
        limits.body_budget = cfg->body_budget ? cfg->body_budget : limits.body_budget;
        r = sr_guard_start(&limits, &s->guard);
    }
    if (r != SR_OK) {
        sr_http_free(s);
        return r;
    }
    /* poll(), not epoll: libmicrohttpd 0.9.75's MHD_quiesce_daemon races its own epoll loop and can abort
     * the process at shutdown (an unguarded MHD_PANIC when both remove the listen socket; seen after a
     * connection flood, t2008). The poll() side of quiescing has no such race. The certificate is chosen
     * per handshake by the name the client asks for (sr_tls_retrieve). */
    s->daemon = MHD_start_daemon(
        MHD_USE_TLS | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME |
            MHD_USE_ITC | MHD_USE_TURBO,
        0, NULL, NULL, sr_handler, s, MHD_OPTION_EXTERNAL_LOGGER, sr_mhd_log, NULL, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&addr, MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)cfg->threads,
        MHD_OPTION_HTTPS_CERT_CALLBACK, sr_tls_retrieve, MHD_OPTION_NOTIFY_CONNECTION, sr_notify_connection, s,
        MHD_OPTION_NOTIFY_COMPLETED, sr_completed, s, MHD_OPTION_UNESCAPE_CALLBACK, sr_unescape, NULL, MHD_OPTION_CONNECTION_TIMEOUT, 0u,
        MHD_OPTION_CONNECTION_LIMIT, sr_http_conn_limit(), MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        cfg->conns_per_address ? cfg->conns_per_address : SR_HTTP_CONNS_PER_ADDRESS,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)SR_HTTP_CONN_MEMORY, MHD_OPTION_END);
    if (s->daemon == NULL) {
        sr_http_free(s);
        return SR_ERR_IO;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : cfg->port;
    *ret = s;
    return SR_OK;
}

unsigned sr_http_port(const struct sr_http_server *s)
{
    return s->port;
}

void sr_http_stop(struct sr_http_server *s)
{
    if (s == NULL) {
        return;
    }
    /* No new connections; requests whose commit is in flight are answered before the daemon stops. */
    MHD_socket listen = MHD_quiesce_daemon(s->daemon);
    for (int i = 0; i < 1000 && atomic_load(&s->suspended) > 0; i++) {
        struct timespec ms = {.tv_nsec = 10 * 1000 * 1000};
        nanosleep(&ms, NULL);
    }
    MHD_stop_daemon(s->daemon);
    if (listen != MHD_INVALID_SOCKET) {
        close(listen);
    }
    sr_http_free(s);
}
