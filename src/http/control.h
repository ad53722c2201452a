/*
 * control.h - DATA/control.sock: the operator's local channel to a running server (strongroom unseal).
 *
 * A Unix socket, mode 0600 in the data directory, that only the server's own user (or root) may use: the
 * peer's credentials (SO_PEERCRED) are checked on every connection. One request per connection, one JSON
 * object on one line each way:
 *
 *   {"op": "status"}
 *     -> {"backend", "sealed", "regions": [{"name", "sealed", "have", "need", "of", "refused", "world"}]}
 *   {"op": "unseal", "region": R, "card": base64url(card file), "pin": PIN}
 *     -> {"region", "sealed", "have", "need", "of", "refused", "world"[, "error": {"code", "message"}]}
 *
 * It is a second front end beside http/, calling the same vault layer; nothing here touches a key.
 */
#ifndef SR_HTTP_CONTROL_H
#define SR_HTTP_CONTROL_H

#include <stddef.h>

#include <jansson.h>

#include "base/buf.h"
#include "base/limits.h"
#include "vault/vault.h"

#define SR_CONTROL_MAX_LINE 65536u

struct sr_control_request {
    char op[16];
    char region[SR_MAX_REGION + 1];
    struct sr_buf card; /* the card file's bytes */
    char pin[SR_MAX_PIN + 1];
};
/* One request line: SR_ERR_CONTROL for anything but the two shapes above. ret is released by the caller. */
SR_MUST_USE enum sr_err sr_control_parse(const char *line, size_t len, struct sr_control_request *ret);
void sr_control_request_release(struct sr_control_request *req);
/* The answer to one request line, as the line to send back (malloc'd, no newline). */
SR_MUST_USE enum sr_err sr_control_answer(struct sr_vault_svc *svc, const char *line, size_t len, char **ret_text);

/* The server's end: DATA/control.sock made (a stale one from a killed server replaced) and served by one
 * thread until sr_control_stop, which removes it. */
struct sr_control;
SR_MUST_USE enum sr_err sr_control_start(struct sr_vault_svc *svc, const char *data_dir, struct sr_control **ret);
void sr_control_stop(struct sr_control *c);

/* The client's end: request sent to the server of data_dir, its answer parsed (SR_ERR_NO_SERVER when none
 * listens there). */
SR_MUST_USE enum sr_err sr_control_call(const char *data_dir, const json_t *request, json_t **ret);

#endif
