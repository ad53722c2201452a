/*
 * http.h - the HTTPS front end (libmicrohttpd, TLS by GnuTLS inside it).
 *
 * router.c turns (method, path, query, Host) into an operation of the vault
 * core; server.c does the rest once, for every request: the 401 challenge
 * the Azure SDKs expect (before any body is read), api-version, the 1 MiB
 * body limit, JSON parsing, Key Vault's error shape and x-ms-request-id.
 * Nothing here does cryptography or SQL.
 */
#ifndef SR_HTTP_HTTP_H
#define SR_HTTP_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "hsm/tls.h"
#include "vault/vault.h"

#define SR_MAX_BODY (1024u * 1024u)

struct sr_route_match {
    enum sr_op op;
    char name[SR_MAX_NAME + 2];     /* +1 so an overlong name is caught by the name check */
    char version[SR_VERSION_LEN + 2];
    char scope[SR_MAX_NAME + 8];    /* role assignments: the path before /providers/ ("/", "/keys/K") */
};

/* SR_OK and ret; SR_ERR_ROUTE for an unknown path; SR_ERR_METHOD for a known path with another method. */
SR_MUST_USE enum sr_err sr_route_match(const char *method, const char *path, struct sr_route_match *ret);
bool sr_api_version_ok(const char *version);

/* --- the token authority's paths (authority.c) --- */
enum sr_authority_route { SR_AUTH_METADATA, SR_AUTH_JWKS, SR_AUTH_TOKEN };
/* Whether path is one of the authority's (/{tenant}/v2.0/.well-known/openid-configuration,
 * /{tenant}/discovery/v2.0/keys, /{tenant}/oauth2/v2.0/token, and /adfs/... as ADFS has them); tenant gets
 * the path's tenant, which must be this server's or "adfs" (SR_ERR_OAUTH_REQUEST otherwise). */
bool sr_authority_route(const char *path, enum sr_authority_route *ret, char *tenant, size_t cap);
SR_MUST_USE enum sr_err sr_authority_tenant_ok(const char *tenant);
/* An application/x-www-form-urlencoded body as a JSON object of strings: percent-decoded, '+' a space; a name
 * given twice, a NUL, bad escapes or more than 32 fields are SR_ERR_OAUTH_REQUEST (RFC 6749 §3.2). */
SR_MUST_USE enum sr_err sr_form_parse(const uint8_t *data, size_t len, json_t **ret);
/* Wipes the form's values (a client secret, an assertion) before it is freed. */
void sr_form_wipe(json_t *form);
/* OAuth's error body ({error, error_description, error_codes, timestamp, trace_id}) for e. */
json_t *sr_oauth_error_body(enum sr_err e, const char *detail, const char *trace_id);
/* From a Host header: the vault name it addresses and the challenge resource ("https://localhost[:port]").
 * Only the names the server's certificate carries are taken: localhost, 127.0.0.1 and [::1] (the default vault)
 * and <vault>.localhost, each with an optional port; any other is SR_ERR_HOST_UNKNOWN. */
SR_MUST_USE enum sr_err sr_host_parse(const char *host, const char *default_vault, char *vault, size_t vcap,
                                      char *resource, size_t rcap);

struct sr_http_config {
    const char *address; /* "127.0.0.1" */
    unsigned port;
    unsigned threads;
    unsigned conns_per_address; /* open connections one client address may hold; 0: SR_HTTP_CONNS_PER_ADDRESS */
    size_t body_budget;         /* request-body bytes the server holds at once; 0: twice one address's worth */
    const char *default_vault;
    const char *cert_pem;   /* borrowed for the server's life: localhost and the vaults known at start */
    const char *key_pem;
    struct sr_tls_issuer *issuer; /* borrowed: certificates for vaults made later, issued on first use (SNI) */
    bool log_requests;
};

struct sr_http_server;
SR_MUST_USE enum sr_err sr_http_start(struct sr_vault_svc *svc, const struct sr_http_config *cfg,
                                      struct sr_http_server **ret);
/* Stops accepting, finishes requests in flight, frees. */
void sr_http_stop(struct sr_http_server *s);
unsigned sr_http_port(const struct sr_http_server *s);

#endif
