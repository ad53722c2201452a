/* control.c - DATA/control.sock, both ends (control.h). */
#define _GNU_SOURCE
#include "http/control.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "base/fileio.h"
#include "base/json.h"
#include "base/text.h"
#include "crypto/jwk.h"

#define SR_CONTROL_TIMEOUT_SECONDS 5
#define SR_MAX_CARD_FILE 8192u

void sr_control_request_release(struct sr_control_request *req)
{
    sr_buf_release(&req->card);
    OPENSSL_cleanse(req->pin, sizeof(req->pin));
}

static enum sr_err sr_control_copy(const json_t *doc, const char *field, char *out, size_t cap)
{
    const char *s = json_string_value(json_object_get(doc, field));
    SR_ENSURE(s != NULL && strlen(s) < cap, SR_ERR_CONTROL);
    memcpy(out, s, strlen(s) + 1);
    return SR_OK;
}

enum sr_err sr_control_parse(const char *line, size_t len, struct sr_control_request *ret)
{
    memset(ret, 0, sizeof(*ret));
    sr_buf_init(&ret->card, SR_MAX_CARD_FILE, SR_BUF_PLAIN);
    SR_ENSURE(len <= SR_CONTROL_MAX_LINE, SR_ERR_CONTROL);
    SR_AUTO_JSON json_t *doc = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
    SR_ENSURE(json_is_object(doc), SR_ERR_CONTROL);
    SR_TRY(sr_control_copy(doc, "op", ret->op, sizeof(ret->op)));
    if (strcmp(ret->op, "status") == 0) {
        SR_ENSURE(json_object_size(doc) == 1, SR_ERR_CONTROL);
        return SR_OK;
    }
    SR_ENSURE(strcmp(ret->op, "unseal") == 0 && json_object_size(doc) == 4, SR_ERR_CONTROL);
    SR_TRY(sr_control_copy(doc, "region", ret->region, sizeof(ret->region)));
    SR_TRY(sr_control_copy(doc, "pin", ret->pin, sizeof(ret->pin)));
    SR_ENSURE(ret->pin[0] != 0, SR_ERR_CONTROL);
    const char *card = json_string_value(json_object_get(doc, "card"));
    SR_ENSURE(card != NULL && sr_b64url_decode(card, &ret->card) == SR_OK && ret->card.len > 0, SR_ERR_CONTROL);
    return SR_OK;
}

static enum sr_err sr_control_unseal(struct sr_vault_svc *svc, const struct sr_control_request *req, json_t **ret)
{
    struct sr_unseal_state st;
    enum sr_err r = sr_vault_unseal_card(svc, req->region, req->card.data, req->card.len, req->pin, &st);
    json_t *doc = json_pack("{s:s,s:b,s:i,s:i,s:i,s:i,s:s}", "region", req->region, "sealed", st.sealed, "have",
                            (int)st.have, "need", (int)st.need, "of", (int)st.of, "refused", (int)st.refused,
                            "world", st.world);
    SR_ENSURE(doc != NULL, SR_ERR_NOMEM);
    if (r != SR_OK) {
        json_object_set_new(doc, "error", json_pack("{s:s,s:s}", "code", sr_err_name(r), "message",
                                                    sr_err_message(r)));
    }
    /* The server's log says every card given, taken or refused: who holds the socket is its own operator. */
    fprintf(stderr, "strongroom: unseal: region %s: a card %s%s%s; %u of %u given%s\n", req->region,
            r == SR_OK ? "taken" : "refused (", r == SR_OK ? "" : sr_err_message(r), r == SR_OK ? "" : ")", st.have,
            st.need, st.sealed ? "" : ": unsealed, serving");
    *ret = doc;
    return SR_OK;
}

enum sr_err sr_control_answer(struct sr_vault_svc *svc, const char *line, size_t len, char **ret_text)
{
    struct sr_control_request req;
    enum sr_err r = sr_control_parse(line, len, &req);
    SR_AUTO_JSON json_t *doc = NULL;
    if (r == SR_OK && strcmp(req.op, "status") == 0) {
        r = sr_vault_seal_state(svc, &doc);
    } else if (r == SR_OK) {
        r = sr_control_unseal(svc, &req, &doc);
    }
    sr_control_request_release(&req);
    if (r != SR_OK) {
        json_decref(doc);
        doc = json_pack("{s:{s:s,s:s}}", "error", "code", sr_err_name(r), "message", sr_err_message(r));
    }
    SR_ENSURE(doc != NULL, SR_ERR_NOMEM);
    *ret_text = json_dumps(doc, JSON_COMPACT);
    SR_ENSURE(*ret_text != NULL, SR_ERR_NOMEM);
    return SR_OK;
}

/* --- the server's end --- */

struct sr_control {
    struct sr_vault_svc *svc;
    int fd;
    int stop[2];
    pthread_t thread;
    char path[SR_PATH_MAX];
};

static enum sr_err sr_control_address(const char *data_dir, struct sockaddr_un *sa, char *path, size_t cap)
{
    SR_TRY(sr_path_join(path, cap, data_dir, "control.sock"));
    *sa = (struct sockaddr_un){.sun_family = AF_UNIX};
    SR_ENSURE(strlen(path) < sizeof(sa->sun_path), SR_ERR_TOO_LARGE); /* 108 bytes: a shorter --data */
    memcpy(sa->sun_path, path, strlen(path) + 1);
    return SR_OK;
}

/* Reads one line (up to SR_CONTROL_MAX_LINE) into a secret buffer: it carries a PIN. */
static enum sr_err sr_control_read_line(int fd, struct sr_buf *line)
{
    char chunk[4096];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        SR_ENSURE(n > 0, SR_ERR_CONTROL); /* closed early, or silent past the timeout */
        char *nl = memchr(chunk, '\n', (size_t)n);
        enum sr_err r = sr_buf_append(line, chunk, nl ? (size_t)(nl - chunk) : (size_t)n);
        OPENSSL_cleanse(chunk, sizeof(chunk));
        SR_ENSURE(r == SR_OK, SR_ERR_CONTROL);
        if (nl != NULL) {
            return SR_OK;
        }
    }
}

static void sr_control_write_all(int fd, const char *text, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, text, len, MSG_NOSIGNAL); /* a peer gone early is no reason to die */
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return;
        }
        text += n;
        len -= (size_t)n;
    }
}

static void sr_control_serve_one(struct sr_control *ctl, int fd)
{
    struct ucred cred;
    socklen_t clen = sizeof(cred);
    char *text = NULL;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) != 0 || (cred.uid != geteuid() && cred.uid != 0)) {
        text = strdup("{\"error\":{\"code\":\"Forbidden\",\"message\":\"only the server's own user may use its "
                      "control socket\"}}");
    } else {
        struct timeval tv = {.tv_sec = SR_CONTROL_TIMEOUT_SECONDS};
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        SR_AUTO_BUF struct sr_buf line = {0};
        sr_buf_init(&line, SR_CONTROL_MAX_LINE + 1, SR_BUF_SECRET);
        enum sr_err r = sr_control_read_line(fd, &line);
        if (r == SR_OK) {
            r = sr_control_answer(ctl->svc, (const char *)line.data, line.len, &text);
        }
        if (r != SR_OK) {
            text = strdup("{\"error\":{\"code\":\"SR_ERR_CONTROL\",\"message\":\"one JSON object on one line\"}}");
        }
    }
    if (text != NULL) {
        sr_control_write_all(fd, text, strlen(text));
        sr_control_write_all(fd, "\n", 1);
        free(text);
    }
}

static void *sr_control_loop(void *arg)
{
    struct sr_control *ctl = arg;
    for (;;) {
        struct pollfd p[2] = {{.fd = ctl->fd, .events = POLLIN}, {.fd = ctl->stop[0], .events = POLLIN}};
        if (poll(p, 2, -1) < 0 && errno != EINTR) {
            return NULL;
        }
        if (p[1].revents != 0) {
            return NULL;
        }
        if (p[0].revents & POLLIN) {
            int fd = accept4(ctl->fd, NULL, NULL, SOCK_CLOEXEC);
            if (fd >= 0) {
                sr_control_serve_one(ctl, fd);
                close(fd);
            } else if (errno == EMFILE || errno == ENFILE) {
                (void)poll(NULL, 0, 100); /* out of descriptors: the pending connection waits, no busy loop */
            }
        }
    }
}

enum sr_err sr_control_start(struct sr_vault_svc *svc, const char *data_dir, struct sr_control **ret)
{
    struct sr_control *ctl = calloc(1, sizeof(*ctl));
    SR_ENSURE(ctl != NULL, SR_ERR_NOMEM);
    ctl->svc = svc;
    ctl->fd = ctl->stop[0] = ctl->stop[1] = -1;
    struct sockaddr_un sa;
    enum sr_err r = sr_control_address(data_dir, &sa, ctl->path, sizeof(ctl->path));
    if (r == SR_OK) {
        ctl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        r = ctl->fd >= 0 && pipe2(ctl->stop, O_CLOEXEC) == 0 ? SR_OK : SR_ERR_IO;
    }
    if (r == SR_OK) {
        (void)unlink(ctl->path); /* a killed server's: the serve lock says no other server runs here */
        /* Made 0600 from the start: the umask decides a socket's mode at bind, before any chmod could. */
        mode_t old = umask(0177);
        r = bind(ctl->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(ctl->fd, 8) == 0 ? SR_OK : SR_ERR_IO;
        umask(old);
    }
    if (r == SR_OK) {
        r = pthread_create(&ctl->thread, NULL, sr_control_loop, ctl) == 0 ? SR_OK : SR_ERR_IO;
    }
    if (r != SR_OK) {
        if (ctl->fd >= 0) {
            close(ctl->fd);
            (void)unlink(ctl->path);
        }
        for (int i = 0; i < 2; i++) {
            if (ctl->stop[i] >= 0) {
                close(ctl->stop[i]);
            }
        }
        free(ctl);
        return r;
    }
    *ret = ctl;
    return SR_OK;
}

void sr_control_stop(struct sr_control *ctl)
{
    if (ctl == NULL) {
        return;
    }
    (void)!write(ctl->stop[1], "x", 1);
    pthread_join(ctl->thread, NULL);
    close(ctl->fd);
    close(ctl->stop[0]);
    close(ctl->stop[1]);
    (void)unlink(ctl->path);
    free(ctl);
}

/* --- the client's end --- */

enum sr_err sr_control_call(const char *data_dir, const json_t *request, json_t **ret)
{
    struct sockaddr_un sa;
    char path[SR_PATH_MAX];
    SR_TRY(sr_control_address(data_dir, &sa, path, sizeof(path)));
    SR_AUTO(sr_closep) int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    SR_ENSURE(fd >= 0, SR_ERR_IO);
    SR_ENSURE(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, SR_ERR_NO_SERVER);
    char *text = json_dumps(request, JSON_COMPACT);
    SR_ENSURE(text != NULL, SR_ERR_NOMEM);
    size_t len = strlen(text);
    sr_control_write_all(fd, text, len);
    sr_control_write_all(fd, "\n", 1);
    OPENSSL_cleanse(text, len); /* it carried a PIN */
    free(text);
    struct timeval tv = {.tv_sec = 60}; /* a card's scrypt and a module's opening take well under that */
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    SR_AUTO_BUF struct sr_buf line = {0};
    sr_buf_init(&line, SR_CONTROL_MAX_LINE + 1, SR_BUF_PLAIN);
    SR_ENSURE(sr_control_read_line(fd, &line) == SR_OK, SR_ERR_NO_SERVER);
    *ret = json_loadb((const char *)line.data, line.len, 0, NULL);
    SR_ENSURE(json_is_object(*ret), SR_ERR_CONTROL);
    return SR_OK;
}
