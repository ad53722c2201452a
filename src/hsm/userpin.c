/*
 * userpin.c - the PKCS#11 user PIN of a module: what a token's user logs in with. Module-protected keys
 * need no card to be used, so the PIN is the operator's gate in front of them, kept as an scrypt hash
 * (module/pkcs11-pin, 0600): never the PIN itself, compared in constant time.
 */
#include <string.h>

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

enum sr_err sr_module_set_user_pin(struct sr_module *m, const char *pin, size_t len)
{
    SR_ENSURE(len >= SR_MIN_USER_PIN && len <= SR_MAX_USER_PIN, SR_ERR_PIN_INPUT);
    uint8_t salt[SR_USER_PIN_SALT], hash[32];
    SR_TRY(sr_rand_bytes(salt, sizeof(salt)));
    SR_TRY(sr_scrypt(pin, len, salt, sizeof(salt), SR_SCRYPT_DEFAULT, hash));
    SR_AUTO_JSON json_t *doc = json_pack("{s:i}", "version", 1);
    SR_ENSURE(doc != NULL, SR_ERR_NOMEM);
    SR_TRY(sr_json_set_hex(doc, "salt", salt, sizeof(salt)));
    SR_TRY(sr_json_set_hex(doc, "scrypt", hash, sizeof(hash)));
    SR_AUTO_FREE char *text = json_dumps(doc, JSON_INDENT(1) | JSON_SORT_KEYS);
    SR_ENSURE(text != NULL, SR_ERR_NOMEM);
    char path[SR_PATH_MAX];
    SR_TRY(sr_user_pin_path(m, path, sizeof(path)));
    return sr_file_write_atomic(path, (const uint8_t *)text, strlen(text), SR_WRITE_REPLACE);
}

enum sr_err sr_module_check_user_pin(const struct sr_module *m, const char *pin, size_t len)
{
    char path[SR_PATH_MAX];
    SR_TRY(sr_user_pin_path(m, path, sizeof(path)));
    SR_AUTO_BUF struct sr_buf text = {0};
    sr_buf_init(&text, 4096, SR_BUF_PLAIN);
    SR_TRY(sr_file_read(path, &text));
    SR_AUTO_JSON json_t *doc = json_loadb((const char *)text.data, text.len, 0, NULL);
    uint8_t salt[SR_USER_PIN_SALT], want[32], got[32];
    SR_TRY(sr_json_hex(doc, "salt", SR_ERR_MALFORMED, salt, sizeof(salt)));
    SR_TRY(sr_json_hex(doc, "scrypt", SR_ERR_MALFORMED, want, sizeof(want)));
    SR_ENSURE(len <= SR_MAX_USER_PIN, SR_ERR_BAD_PIN);
    SR_TRY(sr_scrypt(pin, len, salt, sizeof(salt), SR_SCRYPT_DEFAULT, got));
    return sr_ct_equal(got, want, sizeof(want)) ? SR_OK : SR_ERR_BAD_PIN;
}
