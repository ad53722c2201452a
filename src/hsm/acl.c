#include "hsm/acl.h"

#include <stdio.h>
#include <string.h>

#include "base/text.h"
#include "hsm/container.h"

struct sr_acl_name {
    enum sr_acl_action action;
    const char *name;
};

static const struct sr_acl_name sr_acl_names[] = {
    {SR_ACL_SIGN, "Sign"},       {SR_ACL_VERIFY, "Verify"},       {SR_ACL_ENCRYPT, "Encrypt"},
    {SR_ACL_DECRYPT, "Decrypt"}, {SR_ACL_WRAP, "WrapKey"},        {SR_ACL_UNWRAP, "UnwrapKey"},
    {SR_ACL_REDUCE, "ReduceACL"}, {SR_ACL_EXPORT_TO_KEY, "ExportToKey"}, {SR_ACL_IMPORT, "Import"},
    {SR_ACL_RELEASE, "Release"}, {SR_ACL_EXPORT_TO_TRUSTED, "ExportToTrusted"}, {SR_ACL_DERIVE, "Derive"},
};

#define SR_EXPORT_PREFIX "ExportToKey("

enum sr_err sr_acl_to_json(const struct sr_acl *acl, json_t **ret)
{
    SR_AUTO_JSON json_t *arr = json_array();
    SR_ENSURE(arr != NULL, SR_ERR_NOMEM);
    for (size_t i = 0; i < SR_ARRAY_LEN(sr_acl_names); i++) {
        if (!(acl->actions & sr_acl_names[i].action)) {
            continue;
        }
        char text[sizeof(SR_EXPORT_PREFIX) + 2 * SR_HASH_LEN + 2];
        if (sr_acl_names[i].action == SR_ACL_EXPORT_TO_KEY) {
            char hex[2 * SR_HASH_LEN + 1];
            sr_hex_encode(acl->export_kek_hash, SR_HASH_LEN, hex);
            snprintf(text, sizeof(text), SR_EXPORT_PREFIX "%s)", hex);
        } else {
            snprintf(text, sizeof(text), "%s", sr_acl_names[i].name);
        }
        SR_ENSURE(json_array_append_new(arr, json_string(text)) == 0, SR_ERR_NOMEM);
    }
    *ret = SR_TAKE(arr);
    return SR_OK;
}

static enum sr_err sr_acl_parse_one(const char *s, struct sr_acl *acl)
{
    size_t plen = strlen(SR_EXPORT_PREFIX);
    if (strncmp(s, SR_EXPORT_PREFIX, plen) == 0) {
        size_t len = strlen(s);
        SR_ENSURE(len == plen + 2 * SR_HASH_LEN + 1 && s[len - 1] == ')', SR_ERR_KEYFILE_FORMAT);
        char hex[2 * SR_HASH_LEN + 1];
        memcpy(hex, s + plen, 2 * SR_HASH_LEN);
        hex[2 * SR_HASH_LEN] = 0;
        SR_ENSURE(sr_hex_decode(hex, acl->export_kek_hash, SR_HASH_LEN) == SR_OK, SR_ERR_KEYFILE_FORMAT);
        acl->actions |= SR_ACL_EXPORT_TO_KEY;
        return SR_OK;
    }
    for (size_t i = 0; i < SR_ARRAY_LEN(sr_acl_names); i++) {
        if (sr_acl_names[i].action != SR_ACL_EXPORT_TO_KEY && strcmp(s, sr_acl_names[i].name) == 0) {
            acl->actions |= sr_acl_names[i].action;
            return SR_OK;
        }
    }
    return SR_ERR_KEYFILE_FORMAT;
}

enum sr_err sr_acl_from_json(const json_t *arr, struct sr_acl *ret)
{
    SR_ENSURE(json_is_array(arr), SR_ERR_KEYFILE_FORMAT);
    struct sr_acl acl = {0};
    size_t i;
    const json_t *v;
    json_array_foreach(arr, i, v) {
        SR_ENSURE(json_is_string(v), SR_ERR_KEYFILE_FORMAT);
        SR_TRY(sr_acl_parse_one(json_string_value(v), &acl));
    }
    *ret = acl;
    return SR_OK;
}

void sr_acl_format(const struct sr_acl *acl, char *out, size_t cap)
{
    size_t off = 0;
    out[0] = 0;
    for (size_t i = 0; i < SR_ARRAY_LEN(sr_acl_names) && off < cap; i++) {
        if (!(acl->actions & sr_acl_names[i].action)) {
            continue;
        }
        int n;
        if (sr_acl_names[i].action == SR_ACL_EXPORT_TO_KEY) {
            char hex[2 * SR_HASH_LEN + 1];
            sr_hex_encode(acl->export_kek_hash, SR_HASH_LEN, hex);
            n = snprintf(out + off, cap - off, "    Action: ExportToKey: key hash %s\n", hex);
        } else {
            n = snprintf(out + off, cap - off, "    Action: %s\n", sr_acl_names[i].name);
        }
        if (n < 0) {
            return;
        }
        off += (size_t)n;
    }
}

bool sr_acl_permits(const struct sr_acl *acl, enum sr_acl_action action)
{
    return (acl->actions & action) != 0;
}
