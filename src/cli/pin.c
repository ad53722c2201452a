#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
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
    struct stat st;
    if (stat(path, &st) == 0 && (st.st_mode & 077) != 0) {
        fprintf(stderr, "strongroom: warning: %s can be read by others than its owner (mode %03o): PINs belong "
                        "in a file only you can read (chmod 600)\n", path, (unsigned)(st.st_mode & 0777));
    }
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

static void sr_say(int fd, const char *text)
{
    (void)!write(fd, text, strlen(text));
}

/* A new card's PIN, typed twice: a mismatch or a PIN too short asks again, three times at most. */
static enum sr_err sr_pin_choose(int fd, unsigned card, char *first, char *again, size_t cap)
{
    for (int attempt = 0; attempt < 3; attempt++) {
        char prompt[96];
        snprintf(prompt, sizeof(prompt), "New PIN for card %u (at least %u characters): ", card, SR_MIN_PIN);
        SR_TRY(sr_pin_ask(fd, prompt, first, cap));
        if (strlen(first) < SR_MIN_PIN) {
            sr_say(fd, "That PIN is too short.\n");
            continue;
        }
        snprintf(prompt, sizeof(prompt), "New PIN for card %u again: ", card);
        SR_TRY(sr_pin_ask(fd, prompt, again, cap));
        if (strcmp(first, again) == 0) {
            return SR_OK;
        }
        sr_say(fd, "The two PINs differ; again.\n");
    }
    return SR_ERR_PIN_MISMATCH;
}

static enum sr_err sr_pins_prompt_tty(int fd, const unsigned *cards, unsigned ncards, bool confirm,
                                      struct sr_pins *ret)
{
    char first[SR_MAX_PIN + 2];
    char again[SR_MAX_PIN + 2];
    enum sr_err r = SR_OK;
    for (unsigned i = 0; i < ncards && r == SR_OK; i++) {
        char prompt[96];
        if (confirm) {
            snprintf(prompt, sizeof(prompt), "Insert card %u of %u (a blank card: it becomes card %u of the set).\n",
                     i + 1, ncards, cards[i]);
            sr_say(fd, prompt);
            r = sr_pin_choose(fd, cards[i], first, again, sizeof(first));
        } else {
            snprintf(prompt, sizeof(prompt), "PIN for card %u: ", cards[i]);
            r = sr_pin_ask(fd, prompt, first, sizeof(first));
            if (r == SR_OK && first[0] == 0) {
                r = SR_ERR_PIN_INPUT;
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

/* The guide's "you are prompted to plug in your administrator cards": which card, then its PIN, one card at
 * a time until quorum cards are in. */
static enum sr_err sr_cards_prompt_tty(int fd, unsigned quorum_k, unsigned quorum_n, unsigned *cards,
                                       unsigned *ncards, struct sr_pins *ret)
{
    char text[SR_MAX_PIN + 2];
    enum sr_err r = SR_OK;
    *ncards = 0;
    for (int tries = 0; *ncards < quorum_k && r == SR_OK && tries < 3 * (int)quorum_n; tries++) {
        char prompt[128];
        snprintf(prompt, sizeof(prompt), "Insert card %u of the %u needed (of the set of %u) and enter its number: ",
                 *ncards + 1, quorum_k, quorum_n);
        r = sr_pin_ask(fd, prompt, text, sizeof(text));
        unsigned long card = 0;
        bool used = false;
        if (r == SR_OK && sr_parse_uint(text, 1, quorum_n, &card) == SR_OK) {
            for (unsigned i = 0; i < *ncards; i++) {
                used |= cards[i] == card;
            }
        }
        if (r != SR_OK || card == 0 || used) {
            if (r == SR_OK) {
                sr_say(fd, used ? "That card is in already.\n" : "Give the card's number in its set.\n");
            }
            continue;
        }
        snprintf(prompt, sizeof(prompt), "PIN for card %lu: ", card);
        r = sr_pin_ask(fd, prompt, text, sizeof(text));
        if (r == SR_OK) {
            r = sr_pin_store(ret, (unsigned)card - 1, text, strlen(text));
            cards[(*ncards)++] = (unsigned)card;
        }
    }
    OPENSSL_cleanse(text, sizeof(text));
    SR_TRY(r);
    return *ncards == quorum_k ? SR_OK : SR_ERR_PIN_INPUT;
}

/* The controlling terminal, with echo off (PINs and card numbers are typed unseen); -1 if there is none. */
static int sr_tty_open(struct termios *saved)
{
    int fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
    if (fd >= 0 && tcgetattr(fd, saved) != 0) {
        close(fd);
        fd = -1;
    }
    if (fd >= 0) {
        struct termios quiet = *saved;
        quiet.c_lflag &= (tcflag_t)~(ECHO | ECHONL);
        quiet.c_lflag |= ICANON;
        (void)tcsetattr(fd, TCSANOW, &quiet);
    }
    return fd;
}

static void sr_tty_close(int fd, const struct termios *saved)
{
    (void)tcsetattr(fd, TCSANOW, saved);
    close(fd);
}

enum sr_err sr_pins_prompt(struct sr_cli *cli, const unsigned *cards, unsigned ncards, bool confirm,
                           struct sr_pins *ret)
{
    struct termios saved;
    int fd = sr_tty_open(&saved);
    if (fd < 0) {
        sr_cli_detail(cli, "no terminal to ask for PINs on: give them in a file with --pin-file");
        return SR_ERR_USAGE;
    }
    enum sr_err r = sr_pins_prompt_tty(fd, cards, ncards, confirm, ret);
    sr_tty_close(fd, &saved);
    return r;
}

enum sr_err sr_cards_collect(struct sr_cli *cli, const char *list, const char *pin_file, unsigned quorum_k,
                             unsigned quorum_n, unsigned *cards, unsigned *ncards, struct sr_pins *pins)
{
    if (list != NULL) {
        SR_TRY(sr_cards_parse(cli, list, cards, ncards));
        return sr_collect_pins(cli, pin_file, cards, *ncards, false, pins);
    }
    struct termios saved;
    int fd = pin_file == NULL ? sr_tty_open(&saved) : -1;
    if (fd < 0) {
        sr_cli_detail(cli, "give the inserted cards with --cards (e.g. --cards 1,3: %u of the set of %u)%s", quorum_k,
                      quorum_n, pin_file == NULL ? ", or run it at a terminal to be asked for each card" : "");
        return SR_ERR_USAGE;
    }
    enum sr_err r = sr_cards_prompt_tty(fd, quorum_k, quorum_n, cards, ncards, pins);
    sr_tty_close(fd, &saved);
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

enum sr_err sr_cli_app_login(struct sr_cli *cli, const char *app, const char *pin_file)
{
    if (strcmp(app, "pkcs11") != 0) {
        return SR_OK;
    }
    SR_ENSURE(sr_module_user_pin_set(cli->module), SR_ERR_USER_PIN_UNSET);
    static const unsigned first[] = {1};
    SR_AUTO_PINS struct sr_pins pins = {0};
    SR_TRY(sr_collect_pins(cli, pin_file, first, 1, false, &pins));
    const char *pin = pins.pin[0] ? pins.pin[0] : "";
    enum sr_err r = sr_module_check_user_pin(cli->module, pin, strlen(pin));
    return r == SR_ERR_BAD_PIN ? SR_ERR_USER_PIN : r;
}
