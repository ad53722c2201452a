/*
 * appobject.c - data objects and public keys an application stores (appobject.h): one sealed container
 * per object, under a purpose of its own, so neither a key file nor a trusted key's file passes for one.
 */
#include "hsm/appobject.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/json.h"
#include "base/text.h"
#include "crypto/ossl.h"
#include "hsm/internal.h"

#define SR_APPOBJECT_DATA "data"
#define SR_APPOBJECT_PUBLIC "public-key"

enum sr_err sr_appobject_path(const struct sr_module *m, const char *ident, char *out, size_t cap)
{
    return sr_local_path(m, "object_", ident, out, cap);
}

enum sr_err sr_appobject_build(const struct sr_module *m, const struct sr_appobject *d, const EVP_PKEY *pub,
                               const uint8_t *value, size_t len, struct sr_buf *out)
{
    SR_ENSURE(m->km != NULL, SR_ERR_NO_WORLD);
    SR_TRY(sr_ident_check(d->ident));
    SR_ENSURE(d->is_public_key == (pub != NULL) && len <= SR_APPOBJECT_MAX_VALUE &&
                  d->object_id_len <= SR_APPOBJECT_MAX_OID && d->id_len <= SR_APPOBJECT_MAX_ID, SR_ERR_USAGE);
    uint8_t hkm[SR_HASH_LEN];
    SR_TRY(sr_world_hash(m->km, hkm));
    SR_AUTO_JSON json_t *h = json_pack("{s:s,s:s,s:b,s:s,s:s,s:i,s:I}", "type",
                                       d->is_public_key ? SR_APPOBJECT_PUBLIC : SR_APPOBJECT_DATA, "ident", d->ident,
                                       "private", d->private_, "label", d->label, "application", d->application,
                                       "usage", (int)d->usage, "created", (json_int_t)time(NULL));
    SR_ENSURE(h != NULL, SR_ERR_NOMEM);
    SR_TRY(sr_json_set_hex(h, "world_hkm", hkm, SR_HASH_LEN));
    SR_TRY(sr_json_set_hex(h, "object_id", d->object_id, d->object_id_len));
    SR_TRY(sr_json_set_hex(h, "id", d->id, d->id_len));
    if (pub != NULL) {
        SR_TRY(sr_header_set_public_key(h, pub));
    }
    return sr_seal_build(m->km, SR_PURPOSE_APPOBJECT, SR_MAGIC_APPOBJECT, h, value != NULL ? value : (const uint8_t *)"",
                         len, out);
}

/* A hex field of at most cap bytes into out. */
static enum sr_err sr_appobject_hex(const json_t *h, const char *key, uint8_t *out, size_t cap, size_t *ret_len)
{
    const char *hex = NULL;
    SR_TRY(sr_json_str(h, key, SR_ERR_KEYFILE_TAMPERED, &hex));
    size_t n = strlen(hex) / 2;
    SR_ENSURE(strlen(hex) % 2 == 0 && n <= cap && sr_hex_decode(hex, out, n) == SR_OK, SR_ERR_KEYFILE_TAMPERED);
    *ret_len = n;
    return SR_OK;
}

enum sr_err sr_appobject_open(const struct sr_module *m, const uint8_t *bytes, size_t len, struct sr_appobject *ret,
                              EVP_PKEY **ret_pub, struct sr_buf *value)
{
    SR_ENSURE(m->km != NULL, SR_ERR_NO_WORLD);
    SR_AUTO_CONTAINER struct sr_container c = {0};
    SR_TRY(sr_container_parse(bytes, len, SR_MAGIC_APPOBJECT, SR_ERR_KEYFILE_TAMPERED, &c));
    SR_ENSURE(sr_seal_open(m->km, SR_PURPOSE_APPOBJECT, &c, value) == SR_OK, SR_ERR_KEYFILE_TAMPERED);
    struct sr_appobject d = {0};
    char type[16];
    SR_TRY(sr_json_strcpy(c.header, "type", SR_ERR_KEYFILE_TAMPERED, type, sizeof(type)));
    SR_TRY(sr_json_strcpy(c.header, "ident", SR_ERR_KEYFILE_TAMPERED, d.ident, sizeof(d.ident)));
    SR_TRY(sr_json_strcpy(c.header, "label", SR_ERR_KEYFILE_TAMPERED, d.label, sizeof(d.label)));
    SR_TRY(sr_json_strcpy(c.header, "application", SR_ERR_KEYFILE_TAMPERED, d.application, sizeof(d.application)));
    const json_t *priv = json_object_get(c.header, "private");
    SR_ENSURE(json_is_boolean(priv), SR_ERR_KEYFILE_TAMPERED);
    d.private_ = json_is_true(priv);
    unsigned long usage = 0;
    SR_TRY(sr_json_uint(c.header, "usage", SR_ERR_KEYFILE_TAMPERED, SR_ACL_VERIFY | SR_ACL_ENCRYPT, &usage));
    d.usage = (unsigned)usage;
    SR_TRY(sr_appobject_hex(c.header, "object_id", d.object_id, sizeof(d.object_id), &d.object_id_len));
    SR_TRY(sr_appobject_hex(c.header, "id", d.id, sizeof(d.id), &d.id_len));
    d.is_public_key = strcmp(type, SR_APPOBJECT_PUBLIC) == 0;
    SR_ENSURE(d.is_public_key || strcmp(type, SR_APPOBJECT_DATA) == 0, SR_ERR_KEYFILE_TAMPERED);
    SR_AUTO_PKEY EVP_PKEY *pub = NULL;
    if (d.is_public_key) {
        SR_TRY(sr_header_public_key(c.header, SR_ERR_KEYFILE_TAMPERED, &pub));
    }
    *ret = d;
    *ret_pub = SR_TAKE(pub);
    return SR_OK;
}
