#include "base/json.h"

#include <string.h>

#include "base/text.h"

enum sr_err sr_json_str(const json_t *obj, const char *key, enum sr_err bad, const char **ret)
{
    const json_t *v = json_object_get(obj, key);
    SR_ENSURE(json_is_string(v), bad);
    *ret = json_string_value(v);
    return SR_OK;
}

enum sr_err sr_json_uint(const json_t *obj, const char *key, enum sr_err bad, unsigned long max,
                         unsigned long *ret)
{
    const json_t *v = json_object_get(obj, key);
    SR_ENSURE(json_is_integer(v), bad);
    json_int_t i = json_integer_value(v);
    SR_ENSURE(i >= 0 && (unsigned long long)i <= max, bad);
    *ret = (unsigned long)i;
    return SR_OK;
}

enum sr_err sr_json_hex(const json_t *obj, const char *key, enum sr_err bad, uint8_t *out, size_t n)
{
    const char *s = NULL;
    SR_TRY(sr_json_str(obj, key, bad, &s));
    SR_ENSURE(s != NULL && strlen(s) == 2 * n && sr_hex_decode(s, out, n) == SR_OK, bad);
    return SR_OK;
}

enum sr_err sr_json_strcpy(const json_t *obj, const char *key, enum sr_err bad, char *out, size_t cap)
{
    const char *s = NULL;
    SR_TRY(sr_json_str(obj, key, bad, &s));
    SR_ENSURE(s != NULL && strlen(s) < cap, bad);
    strcpy(out, s);
    return SR_OK;
}

enum sr_err sr_json_set_hex(json_t *obj, const char *key, const uint8_t *in, size_t n)
{
    SR_ENSURE(n <= 256, SR_ERR_INTERNAL);
    char hex[513];
    sr_hex_encode(in, n, hex);
    SR_ENSURE(json_object_set_new(obj, key, json_string(hex)) == 0, SR_ERR_NOMEM);
    return SR_OK;
}
