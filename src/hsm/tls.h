/*
 * tls.h - the vault server's development TLS credentials, in DATA/tls:
 * a local CA (ca.pem, ca.key) and a server key (server.key), both sealed
 * like module keys under tls/km0, and a server certificate (server.pem)
 * issued at every start for localhost, 127.0.0.1, ::1 and <vault>.localhost
 * of every vault given. Clients trust ca.pem (e.g. NODE_EXTRA_CA_CERTS).
 */
#ifndef SR_HSM_TLS_H
#define SR_HSM_TLS_H

#include <stddef.h>

#include "base/buf.h"

/* cert_pem: the server certificate then the CA; key_pem: a SR_BUF_SECRET buffer. */
struct sr_seal_config;
SR_MUST_USE enum sr_err sr_tls_credentials(const char *tls_dir, struct sr_seal_config *seal,
                                           const char *const *vault_names, size_t nvaults, struct sr_buf *cert_pem,
                                           struct sr_buf *key_pem);

/* The local CA and the server key, held open for a running server, so that it can issue a certificate
 * for a vault made after it started the first time a client names that vault (SNI). */
struct sr_tls_issuer;
SR_MUST_USE enum sr_err sr_tls_issuer_open(const char *tls_dir, struct sr_seal_config *seal,
                                           struct sr_tls_issuer **ret);
/* A certificate for host alone, then the CA, as PEM; signed by the CA for the server key. Thread-safe. */
SR_MUST_USE enum sr_err sr_tls_issue(struct sr_tls_issuer *is, const char *host, struct sr_buf *cert_pem);
void sr_tls_issuer_free(struct sr_tls_issuer *is);

#endif
