/*
 * userpin.c - the PKCS#11 user PIN of a module: what a token's user logs in with. Module-protected keys
 * need no card to be used, so the PIN is the operator's gate in front of them, kept as an scrypt hash
 * (module/pkcs11-pin, 0600): never the PIN itself, compared in constant time.
 *
 * Wrong PINs are counted in the same file, so a restart does not forgive them: after `max_tries` in a row
 * (default 10) the PIN is locked — the right one is refused too — until the security officer sets a new
 * one (C_InitPIN, 'pkcs11 set-pin'). A right PIN before that resets the count.
 */
#include <string.h>

#include <openssl/crypto.h>

#include "base/json.h"
#include "crypto/crypto.h"
#include "hsm/internal.h"

#define SR_USER_PIN_FILE "module/pkcs11-pin"
#define SR_USER_PIN_SALT 16

static enum sr_err sr_user_pin_path(const struct sr_module *m, char *out, size_t cap)
{
    return sr_module_path(m, SR_USER_PIN_FILE, out, cap);
}

bool sr_module_user_pin_set(const struct sr_module *m)
{
    char path[SR_PATH_MAX];
    return sr_user_pin_path(m, path, sizeof(path)) == SR_OK && sr_file_exists(path);
}

struct sr_user_pin {
    uint8_t salt[SR_USER_PIN_SALT], hash[32];
    unsigned failures, max_tries;
};

static enum sr_err sr_user_pin_write(const struct sr_module *m, const struct sr_user_pin *up)
{
    SR_AUTO_JSON json_t *doc = json_pack("{s:i,s:i,s:i}", "version", 1, "failures", (int)up->failures, "maxTries",
                                         (int)up->max_tries);
    SR_ENSURE(doc != NULL, SR_ERR_NOMEM);
    SR_TRY(sr_json_set_hex(doc, "salt", up->salt, sizeof(up->salt)));
    SR_TRY(sr_json_set_hex(doc, "scrypt", up->hash, sizeof(up->hash)));
    SR_AUTO_FREE char *text = json_dumps(doc, JSON_INDENT(1) | JSON_SORT_KEYS);
    SR_ENSURE(text != NULL, SR_ERR_NOMEM);
    char path[SR_PATH_MAX];
    SR_TRY(sr_user_pin_path(m, path, sizeof(path)));
    return sr_file_write_atomic(path, (const uint8_t *)text, strlen(text), SR_WRITE_REPLACE);
}

static enum sr_err sr_user_pin_read(const struct sr_module *m, struct sr_user_pin *ret)
{
    char path[SR_PATH_MAX];
    SR_TRY(sr_user_pin_path(m, path, sizeof(path)));
    SR_AUTO_BUF struct sr_buf text = {0};
    sr_buf_init(&text, 4096, SR_BUF_PLAIN);
    SR_TRY(sr_file_read(path, &text));
    SR_AUTO_JSON json_t *doc = json_loadb((const char *)text.data, text.len, 0, NULL);
    SR_TRY(sr_json_hex(doc, "salt", SR_ERR_MALFORMED, ret->salt, sizeof(ret->salt)));
    SR_TRY(sr_json_hex(doc, "scrypt", SR_ERR_MALFORMED, ret->hash, sizeof(ret->hash)));
    /* Files written before counting have neither member: no failures yet, the default limit. */
    const json_t *failures = json_object_get(doc, "failures"), *max = json_object_get(doc, "maxTries");
    ret->failures = json_is_integer(failures) && json_integer_value(failures) >= 0
                        ? (unsigned)json_integer_value(failures) : 0;
    ret->max_tries = json_is_integer(max) && json_integer_value(max) >= 1 && json_integer_value(max) <= SR_MAX_PIN_TRIES
                         ? (unsigned)json_integer_value(max) : SR_DEFAULT_PIN_TRIES;
    return SR_OK;
}

enum sr_err sr_module_set_user_pin_tries(struct sr_module *m, const char *pin, size_t len, unsigned max_tries)
{
    SR_ENSURE(len >= SR_MIN_USER_PIN && len <= SR_MAX_USER_PIN, SR_ERR_PIN_INPUT);
    struct sr_user_pin up = {.max_tries = max_tries};
    if (max_tries == 0) { /* keep the limit the token had */
        struct sr_user_pin old;
        up.max_tries = sr_user_pin_read(m, &old) == SR_OK ? old.max_tries : SR_DEFAULT_PIN_TRIES;
    }
    SR_ENSURE(up.max_tries >= 1 && up.max_tries <= SR_MAX_PIN_TRIES, SR_ERR_USAGE);
    SR_TRY(sr_rand_bytes(up.salt, sizeof(up.salt)));
    SR_TRY(sr_scrypt(pin, len, up.salt, sizeof(up.salt), SR_SCRYPT_DEFAULT, up.hash));
    enum sr_err r = sr_user_pin_write(m, &up);
    OPENSSL_cleanse(&up, sizeof(up));
    return r;
}

enum sr_err sr_module_set_user_pin(struct sr_module *m, const char *pin, size_t len)
{
    return sr_module_set_user_pin_tries(m, pin, len, 0);
}

enum sr_err sr_module_user_pin_state(const struct sr_module *m, unsigned *ret_failures, unsigned *ret_max)
{
    struct sr_user_pin up;
    SR_TRY(sr_user_pin_read(m, &up));
    *ret_failures = up.failures;
    *ret_max = up.max_tries;
    return SR_OK;
}

enum sr_err sr_module_check_user_pin(const struct sr_module *m, const char *pin, size_t len)
{
    struct sr_user_pin up;
    SR_TRY(sr_user_pin_read(m, &up));
    SR_ENSURE(up.failures < up.max_tries, SR_ERR_PIN_LOCKED);
    uint8_t got[32];
    bool right = len <= SR_MAX_USER_PIN;
    if (right) {
        SR_TRY(sr_scrypt(pin, len, up.salt, sizeof(up.salt), SR_SCRYPT_DEFAULT, got));
        right = sr_ct_equal(got, up.hash, sizeof(up.hash));
    }
    OPENSSL_cleanse(got, sizeof(got));
    if (right && up.failures == 0) {
        return SR_OK;
    }
    /* Counted before the answer: a caller killed after a wrong try has still spent it. */
    up.failures = right ? 0 : up.failures + 1;
    SR_TRY(sr_user_pin_write(m, &up));
    return right ? SR_OK : up.failures >= up.max_tries ? SR_ERR_PIN_LOCKED : SR_ERR_BAD_PIN;
}
