#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "base/fileio.h"
#include "base/text.h"
#include "cli/cli.h"

static enum sr_err sr_pin_store(struct sr_pins *pins, unsigned index, const char *pin, size_t len)
{
    SR_ENSURE(len <= SR_MAX_PIN, SR_ERR_PIN_INPUT);
    char *copy = OPENSSL_secure_zalloc(len + 1);
    SR_ENSURE(copy != NULL, SR_ERR_NOMEM);
    memcpy(copy, pin, len);
    pins->pin[index] = copy;
    return SR_OK;
}

enum sr_err sr_pins_read_file(struct sr_cli *cli, const char *path, struct sr_pins *ret)
{
    SR_AUTO_BUF struct sr_buf file = {0};
    sr_buf_init(&file, SR_MAX_CARDS * (SR_MAX_PIN + 2), SR_BUF_SECRET);
    enum sr_err r = sr_file_read(path, &file);
    if (r != SR_OK) {
        sr_cli_detail(cli, "cannot read pin file %s", path);
        return r == SR_ERR_TOO_LARGE ? SR_ERR_PIN_INPUT : r;
    }
    unsigned line = 0;
    size_t start = 0;
    for (size_t i = 0; i <= file.len; i++) {
        if (i < file.len && file.data[i] != '\n') {
            continue;
        }
        size_t len = i - start;
        if (len > 0 && file.data[start + len - 1] == '\r') {
            len--;
        }
        if (i == file.len && len == 0) {
            break; /* no text after the final newline */
        }
        if (line >= SR_MAX_CARDS) {
            sr_cli_detail(cli, "pin file %s has more than %u lines", path, SR_MAX_CARDS);
            return SR_ERR_PIN_INPUT;
        }
        if (len > 0) {
            r = sr_pin_store(ret, line, (const char *)file.data + start, len);
            if (r != SR_OK) {
                sr_cli_detail(cli, "pin file line %u is longer than %u bytes", line + 1, SR_MAX_PIN);
                return r;
            }
        }
        line++;
        start = i + 1;
    }
    return SR_OK;
}

static enum sr_err sr_pin_ask(int fd, const char *prompt, char *out, size_t cap)
{
    SR_ENSURE(write(fd, prompt, strlen(prompt)) >= 0, SR_ERR_PIN_INPUT);
    size_t len = 0;
    for (;;) {
        char c;
        ssize_t n = read(fd, &c, 1);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        SR_ENSURE(n == 1, SR_ERR_PIN_INPUT);
        if (c == '\n' || c == '\r') {
            break;
        }
        SR_ENSURE(len + 1 < cap, SR_ERR_PIN_INPUT);
        out[len++] = c;
    }
    out[len] = 0;
    (void)!write(fd, "\n", 1);
    return SR_OK;
}

static enum sr_err sr_pins_prompt_tty(int fd, const unsigned *cards, unsigned ncards, bool confirm,
                                      struct sr_pins *ret)
{
    char first[SR_MAX_PIN + 2];
    char again[SR_MAX_PIN + 2];
    enum sr_err r = SR_OK;
    for (unsigned i = 0; i < ncards && r == SR_OK; i++) {
        char prompt[64];
        snprintf(prompt, sizeof(prompt), "PIN for card %u: ", cards[i]);
        r = sr_pin_ask(fd, prompt, first, sizeof(first));
        if (r == SR_OK && first[0] == 0) {
            r = SR_ERR_PIN_INPUT;
        }
        if (r == SR_OK && confirm) {
            snprintf(prompt, sizeof(prompt), "PIN for card %u again: ", cards[i]);
            r = sr_pin_ask(fd, prompt, again, sizeof(again));
            if (r == SR_OK && strcmp(first, again) != 0) {
                r = SR_ERR_PIN_MISMATCH;
            }
        }
        if (r == SR_OK) {
            r = sr_pin_store(ret, cards[i] - 1, first, strlen(first));
        }
    }
    OPENSSL_cleanse(first, sizeof(first));
    OPENSSL_cleanse(again, sizeof(again));
    return r;
}

enum sr_err sr_pins_prompt(struct sr_cli *cli, const unsigned *cards, unsigned ncards, bool confirm,
                           struct sr_pins *ret)
{
    int fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        sr_cli_detail(cli, "no terminal to ask for PINs on");
        return SR_ERR_PIN_INPUT;
    }
    struct termios saved;
    struct termios quiet;
    if (tcgetattr(fd, &saved) != 0) {
        close(fd);
        sr_cli_detail(cli, "no terminal to ask for PINs on");
        return SR_ERR_PIN_INPUT;
    }
    quiet = saved;
    quiet.c_lflag &= (tcflag_t)~(ECHO | ECHONL);
    quiet.c_lflag |= ICANON;
    (void)tcsetattr(fd, TCSANOW, &quiet);
    enum sr_err r = sr_pins_prompt_tty(fd, cards, ncards, confirm, ret);
    (void)tcsetattr(fd, TCSANOW, &saved);
    close(fd);
    return r;
}

enum sr_err sr_cards_parse(struct sr_cli *cli, const char *list, unsigned *cards, unsigned *ncards)
{
    unsigned n = 0;
    const char *p = list;
    while (*p) {
        char num[8];
        size_t len = strcspn(p, ",");
        if (len == 0 || len >= sizeof(num) || n >= SR_MAX_CARDS) {
            sr_cli_detail(cli, "--cards takes card numbers separated by commas, e.g. --cards 1,3");
            return SR_ERR_USAGE;
        }
        memcpy(num, p, len);
        num[len] = 0;
        unsigned long v = 0;
        if (sr_parse_uint(num, 1, SR_MAX_CARDS, &v) != SR_OK) {
            sr_cli_detail(cli, "card number '%s' is not between 1 and %u", num, SR_MAX_CARDS);
            return SR_ERR_USAGE;
        }
        for (unsigned i = 0; i < n; i++) {
            if (cards[i] == v) {
                sr_cli_detail(cli, "card %lu is given twice in --cards", v);
                return SR_ERR_USAGE;
            }
        }
        cards[n++] = (unsigned)v;
        p += len;
        if (*p == ',') {
            p++;
        }
    }
    if (n == 0) {
        sr_cli_detail(cli, "--cards needs at least one card number");
        return SR_ERR_USAGE;
    }
    *ncards = n;
    return SR_OK;
}
