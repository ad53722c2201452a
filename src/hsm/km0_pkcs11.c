/*
 * km0_pkcs11.c - the `pkcs11` seal: KM0 encrypted by an AES-256 key that never leaves a PKCS#11 HSM.
 *
 * The token is named by an RFC 7512 URI (p11-kit parses it): module-path= (the vendor's library),
 * token=/serial= (which token), object= (the wrapping key's label, default "strongroom-km0"), and
 * pin-source=file:PATH (the user PIN, first line). The key is made in the token the first time, as Vault's
 * HSM auto-unseal and MinIO KES make theirs: CKK_AES of 32 bytes, CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE,
 * not CKA_EXTRACTABLE, for encrypt and decrypt only. KM0 is encrypted with CKM_AES_GCM by the token
 * (C_Encrypt; a 12-byte random IV, a 128-bit tag, the module key's purpose as AAD), which every HSM in
 * the field and SoftHSMv2 offer; C_WrapKey would need KM0 as a token object first. Another token (a
 * copied directory), a deleted key or the wrong PIN each fail with their own error.
 */
#include <stdio.h>
#include <string.h>

#include "base/fileio.h"
#include "base/json.h"
#include "base/text.h"
#include "crypto/crypto.h"
#include "hsm/container.h"
#include "hsm/km0_internal.h"
#include "hsm/p11token.h"

#define SR_MAGIC_P11_KM0 "SRP11KM0"
#define SR_P11_DEFAULT_LABEL "strongroom-km0"
#define SR_P11_AAD "strongroom km0 v1"
#define SR_P11_IV 12u
#define SR_P11_TAG 16u

struct sr_p11 {
    struct sr_seal_config *cfg;
    struct sr_p11_token t;
    CK_FUNCTION_LIST_PTR f;
    CK_SESSION_HANDLE s;
    char label[128];
    const char *token; /* t's label */
};

static void sr_p11_close(struct sr_p11 *p)
{
    if (p->s != CK_INVALID_HANDLE) {
        (void)p->f->C_CloseSession(p->s);
    }
    sr_p11_token_close(&p->t);
}

static enum sr_err sr_p11_fail(struct sr_p11 *p, const char *call, CK_RV rv, enum sr_err r)
{
    snprintf(p->cfg->diag, sizeof(p->cfg->diag), "%s returned 0x%lx (token %s, key '%s')", call, (unsigned long)rv,
             p->token[0] ? p->token : "?", p->label);
    return r;
}

/* The library loaded, the URI's token found, a session open and logged in as the user. */
static enum sr_err sr_p11_open(struct sr_p11 *p, struct sr_seal_config *cfg)
{
    *p = (struct sr_p11){.cfg = cfg, .s = CK_INVALID_HANDLE};
    p->token = p->t.label;
    char *diag = cfg->diag;
    size_t cap = sizeof(cfg->diag);
    SR_TRY(sr_p11_token_load(&p->t, cfg->pkcs11, diag, cap));
    p->f = p->t.f;
    CK_ATTRIBUTE *label = p11_kit_uri_get_attribute(p->t.uri, CKA_LABEL);
    snprintf(p->label, sizeof(p->label), "%.*s", label ? (int)label->ulValueLen : (int)strlen(SR_P11_DEFAULT_LABEL),
             label ? (const char *)label->pValue : SR_P11_DEFAULT_LABEL);
    SR_TRY(sr_p11_token_find(&p->t, diag, cap));
    CK_RV rv = p->f->C_OpenSession(p->t.slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &p->s);
    if (rv != CKR_OK) {
        return sr_p11_fail(p, "C_OpenSession", rv, SR_ERR_P11_SEAL_TOKEN);
    }
    return sr_p11_token_login(&p->t, p->s, diag, cap);
}

static CK_BBOOL sr_p11_true = CK_TRUE, sr_p11_false = CK_FALSE;

/* The wrapping key by its label; made (non-extractable, sensitive) when create is set and there is none. */
/* Up to two objects matching the template (two: the label is not unique). */
static enum sr_err sr_p11_find(struct sr_p11 *p, CK_ATTRIBUTE *tmpl, CK_ULONG n, CK_OBJECT_HANDLE found[2],
                               CK_ULONG *ret_count)
{
    CK_RV rv = p->f->C_FindObjectsInit(p->s, tmpl, n);
    if (rv == CKR_OK) {
        rv = p->f->C_FindObjects(p->s, found, 2, ret_count);
        (void)p->f->C_FindObjectsFinal(p->s);
    }
    return rv == CKR_OK ? SR_OK : sr_p11_fail(p, "C_FindObjects", rv, SR_ERR_P11_SEAL_TOKEN);
}

static enum sr_err sr_p11_key(struct sr_p11 *p, bool create, CK_OBJECT_HANDLE *ret)
{
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE type = CKK_AES;
    CK_ATTRIBUTE find[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_KEY_TYPE, &type, sizeof(type)},
                           {CKA_LABEL, p->label, strlen(p->label)}};
    CK_OBJECT_HANDLE found[2];
    CK_ULONG count = 0;
    SR_TRY(sr_p11_find(p, find, SR_ARRAY_LEN(find), found, &count));
    if (count > 1) {
        snprintf(p->cfg->diag, sizeof(p->cfg->diag), "two AES keys labelled '%s' in token %s", p->label, p->token);
        return SR_ERR_P11_SEAL_KEY;
    }
    if (count == 1) {
        *ret = found[0];
        return SR_OK;
    }
    if (!create) {
        snprintf(p->cfg->diag, sizeof(p->cfg->diag), "no AES key labelled '%s' in token %s", p->label, p->token);
        return SR_ERR_P11_SEAL_KEY;
    }
    CK_ULONG len = 32;
    CK_ATTRIBUTE tmpl[] = {
        {CKA_CLASS, &cls, sizeof(cls)},         {CKA_KEY_TYPE, &type, sizeof(type)},
        {CKA_LABEL, p->label, strlen(p->label)}, {CKA_VALUE_LEN, &len, sizeof(len)},
        {CKA_TOKEN, &sr_p11_true, 1},            {CKA_PRIVATE, &sr_p11_true, 1},
        {CKA_SENSITIVE, &sr_p11_true, 1},        {CKA_EXTRACTABLE, &sr_p11_false, 1},
        {CKA_ENCRYPT, &sr_p11_true, 1},          {CKA_DECRYPT, &sr_p11_true, 1},
        {CKA_WRAP, &sr_p11_false, 1},            {CKA_UNWRAP, &sr_p11_false, 1},
    };
    CK_MECHANISM gen = {CKM_AES_KEY_GEN, NULL, 0};
    CK_RV rv = p->f->C_GenerateKey(p->s, &gen, tmpl, SR_ARRAY_LEN(tmpl), ret);
    return rv == CKR_OK ? SR_OK : sr_p11_fail(p, "C_GenerateKey", rv, SR_ERR_P11_SEAL_TOKEN);
}

static enum sr_err sr_p11_header(const struct sr_p11 *p, const char *anchor, json_t **ret)
{
    *ret = json_pack("{s:s,s:s,s:s,s:s}", "token", p->token, "key", p->label, "mechanism", "CKM_AES_GCM", "anchor",
                     anchor);
    SR_ENSURE(*ret != NULL, SR_ERR_NOMEM);
    return SR_OK;
}

/* The rollback anchor: a private data object of the token, found by its label. */
static enum sr_err sr_p11_anchor_find(struct sr_p11 *p, const char *label, CK_OBJECT_HANDLE *ret)
{
    CK_OBJECT_CLASS cls = CKO_DATA;
    CK_ATTRIBUTE find[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_LABEL, (void *)label, strlen(label)}};
    CK_OBJECT_HANDLE found[2];
    CK_ULONG count = 0;
    SR_TRY(sr_p11_find(p, find, SR_ARRAY_LEN(find), found, &count));
    if (count != 1) {
        snprintf(p->cfg->diag, sizeof(p->cfg->diag), "data object '%s' is gone from token %s", label, p->token);
        return SR_ERR_SEAL_ANCHOR;
    }
    *ret = found[0];
    return SR_OK;
}

static enum sr_err sr_p11_anchor_make(struct sr_p11 *p, const char *label, const uint8_t value[SR_KM0_LEN])
{
    CK_OBJECT_CLASS cls = CKO_DATA;
    CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof(cls)},         {CKA_LABEL, (void *)label, strlen(label)},
                           {CKA_TOKEN, &sr_p11_true, 1},           {CKA_PRIVATE, &sr_p11_true, 1},
                           {CKA_VALUE, (void *)value, SR_KM0_LEN}};
    CK_OBJECT_HANDLE h;
    CK_RV rv = p->f->C_CreateObject(p->s, tmpl, SR_ARRAY_LEN(tmpl), &h);
    return rv == CKR_OK ? SR_OK : sr_p11_fail(p, "C_CreateObject (rollback anchor)", rv, SR_ERR_P11_SEAL_TOKEN);
}

static enum sr_err sr_p11_anchor_create(struct sr_p11 *p, char *label, size_t cap)
{
    uint8_t rnd[8];
    char hex[17];
    SR_TRY(sr_rand_bytes(rnd, sizeof(rnd)));
    sr_hex_encode(rnd, sizeof(rnd), hex);
    snprintf(label, cap, "strongroom-km0-anchor-%s", hex);
    static const uint8_t zeros[SR_KM0_LEN] = {0};
    return sr_p11_anchor_make(p, label, zeros);
}

static enum sr_err sr_p11_seal_with(struct sr_p11 *p, const uint8_t km0[SR_KM0_LEN], struct sr_buf *out)
{
    CK_OBJECT_HANDLE key;
    SR_TRY(sr_p11_key(p, true, &key));
    uint8_t sealed[SR_P11_IV + SR_KM0_LEN + SR_P11_TAG];
    SR_TRY(sr_rand_bytes(sealed, SR_P11_IV));
    CK_GCM_PARAMS gcm = {.pIv = sealed, .ulIvLen = SR_P11_IV, .ulIvBits = SR_P11_IV * 8,
                         .pAAD = (CK_BYTE_PTR)SR_P11_AAD, .ulAADLen = strlen(SR_P11_AAD), .ulTagBits = SR_P11_TAG * 8};
    CK_MECHANISM mech = {CKM_AES_GCM, &gcm, sizeof(gcm)};
    CK_ULONG len = SR_KM0_LEN + SR_P11_TAG;
    CK_RV rv = p->f->C_EncryptInit(p->s, &mech, key);
    if (rv == CKR_OK) {
        rv = p->f->C_Encrypt(p->s, (CK_BYTE_PTR)km0, SR_KM0_LEN, sealed + SR_P11_IV, &len);
    }
    if (rv != CKR_OK || len != SR_KM0_LEN + SR_P11_TAG) {
        return sr_p11_fail(p, "C_Encrypt (CKM_AES_GCM)", rv,
                           rv == CKR_MECHANISM_INVALID ? SR_ERR_P11_MECHANISM : SR_ERR_P11_SEAL_TOKEN);
    }
    char anchor[64];
    SR_TRY(sr_p11_anchor_create(p, anchor, sizeof(anchor)));
    SR_AUTO_JSON json_t *header = NULL;
    SR_TRY(sr_p11_header(p, anchor, &header));
    SR_TRY(sr_container_prefix(SR_MAGIC_P11_KM0, header, out));
    return sr_container_finish(out, sealed, sizeof(sealed));
}

static enum sr_err sr_p11_unseal_with(struct sr_p11 *p, const uint8_t *sealed, size_t len, uint8_t km0[SR_KM0_LEN])
{
    SR_ENSURE(len == SR_P11_IV + SR_KM0_LEN + SR_P11_TAG, SR_ERR_NVRAM_TAMPERED);
    CK_OBJECT_HANDLE key;
    SR_TRY(sr_p11_key(p, false, &key));
    CK_GCM_PARAMS gcm = {.pIv = (CK_BYTE_PTR)sealed, .ulIvLen = SR_P11_IV, .ulIvBits = SR_P11_IV * 8,
                         .pAAD = (CK_BYTE_PTR)SR_P11_AAD, .ulAADLen = strlen(SR_P11_AAD), .ulTagBits = SR_P11_TAG * 8};
    CK_MECHANISM mech = {CKM_AES_GCM, &gcm, sizeof(gcm)};
    uint8_t plain[SR_KM0_LEN + SR_P11_TAG];
    CK_ULONG plen = sizeof(plain);
    CK_RV rv = p->f->C_DecryptInit(p->s, &mech, key);
    if (rv == CKR_OK) {
        rv = p->f->C_Decrypt(p->s, (CK_BYTE_PTR)sealed + SR_P11_IV, SR_KM0_LEN + SR_P11_TAG, plain, &plen);
    }
    enum sr_err r = SR_OK;
    if (rv != CKR_OK || plen != SR_KM0_LEN) {
        /* A key of the same label in another token does not open it: its tag fails, which tokens report as
         * CKR_ENCRYPTED_DATA_INVALID, CKR_FUNCTION_FAILED or (SoftHSMv2 2.6) CKR_GENERAL_ERROR. */
        bool tag = rv == CKR_OK || rv == CKR_ENCRYPTED_DATA_INVALID || rv == CKR_FUNCTION_FAILED ||
                   rv == CKR_GENERAL_ERROR;
        r = sr_p11_fail(p, "C_Decrypt (CKM_AES_GCM)", rv, tag ? SR_ERR_P11_SEAL_FOREIGN : SR_ERR_P11_SEAL_TOKEN);
    } else {
        memcpy(km0, plain, SR_KM0_LEN);
    }
    sr_wipe(plain, sizeof(plain));
    return r;
}

static enum sr_err sr_p11_seal(struct sr_seal_config *cfg, const uint8_t km0[SR_KM0_LEN], struct sr_buf *out)
{
    struct sr_p11 p;
    enum sr_err r = sr_p11_open(&p, cfg);
    if (r == SR_OK) {
        r = sr_p11_seal_with(&p, km0, out);
    }
    sr_p11_close(&p);
    return r;
}

static enum sr_err sr_p11_unseal(struct sr_seal_config *cfg, const uint8_t *kept, size_t len, uint8_t km0[SR_KM0_LEN])
{
    SR_AUTO_CONTAINER struct sr_container c = {0};
    SR_TRY(sr_container_parse(kept, len, SR_MAGIC_P11_KM0, SR_ERR_NVRAM_TAMPERED, &c));
    struct sr_p11 p;
    enum sr_err r = sr_p11_open(&p, cfg);
    if (r == SR_OK) {
        r = sr_p11_unseal_with(&p, c.payload, c.payload_len, km0);
    }
    sr_p11_close(&p);
    return r;
}

static enum sr_err sr_p11_describe(const struct sr_seal_config *cfg, const uint8_t *kept, size_t len, json_t *into)
{
    (void)cfg;
    SR_AUTO_CONTAINER struct sr_container c = {0};
    SR_TRY(sr_container_parse(kept, len, SR_MAGIC_P11_KM0, SR_ERR_NVRAM_TAMPERED, &c));
    const char *token = json_string_value(json_object_get(c.header, "token"));
    const char *key = json_string_value(json_object_get(c.header, "key"));
    char bound[256];
    snprintf(bound, sizeof(bound), "AES key '%s' in token '%s' (CKM_AES_GCM)", key ? key : "?", token ? token : "?");
    SR_ENSURE(json_object_set_new(into, "boundTo", json_string(bound)) == 0, SR_ERR_NOMEM);
    return SR_OK;
}

/* Reads (in == NULL) or writes, or destroys (forget), the anchor the kept KM0 names. */
enum sr_p11_anchor_op { SR_ANCHOR_READ, SR_ANCHOR_WRITE, SR_ANCHOR_FORGET };

static enum sr_err sr_p11_anchor(struct sr_seal_config *cfg, const uint8_t *kept, size_t len,
                                 enum sr_p11_anchor_op op, const uint8_t *in, uint8_t *out)
{
    SR_AUTO_CONTAINER struct sr_container c = {0};
    SR_TRY(sr_container_parse(kept, len, SR_MAGIC_P11_KM0, SR_ERR_NVRAM_TAMPERED, &c));
    const char *label = json_string_value(json_object_get(c.header, "anchor"));
    if (label == NULL) {
        return op == SR_ANCHOR_FORGET ? SR_OK : SR_ERR_NOT_FOUND;
    }
    struct sr_p11 p;
    enum sr_err r = sr_p11_open(&p, cfg);
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
    if (r == SR_OK) {
        r = sr_p11_anchor_find(&p, label, &h);
    }
    if (r == SR_OK && op == SR_ANCHOR_WRITE) {
        /* A data object's value cannot be changed in place on every token (SoftHSMv2: CKR_ATTRIBUTE_READ_ONLY):
         * the new one is made, then the old destroyed. Interrupted between the two, two anchors remain and the
         * module refuses its NVRAM until the cards load the world again: it fails closed. */
        r = sr_p11_anchor_make(&p, label, in);
        CK_RV rv = r == SR_OK ? p.f->C_DestroyObject(p.s, h) : CKR_OK;
        r = r != SR_OK || rv == CKR_OK ? r : sr_p11_fail(&p, "C_DestroyObject (old anchor)", rv, SR_ERR_P11_SEAL_TOKEN);
    } else if (r == SR_OK && op == SR_ANCHOR_READ) {
        CK_ATTRIBUTE v = {CKA_VALUE, out, SR_KM0_LEN};
        CK_RV rv = p.f->C_GetAttributeValue(p.s, h, &v, 1);
        r = rv == CKR_OK && v.ulValueLen == SR_KM0_LEN
                ? SR_OK
                : sr_p11_fail(&p, "C_GetAttributeValue (rollback anchor)", rv, SR_ERR_SEAL_ANCHOR);
    } else if (r == SR_OK) {
        CK_RV rv = p.f->C_DestroyObject(p.s, h);
        r = rv == CKR_OK ? SR_OK : sr_p11_fail(&p, "C_DestroyObject (rollback anchor)", rv, SR_ERR_P11_SEAL_TOKEN);
    }
    sr_p11_close(&p);
    return r;
}

static enum sr_err sr_p11_anchor_read(struct sr_seal_config *cfg, const uint8_t *kept, size_t len,
                                      uint8_t out[SR_KM0_LEN])
{
    return sr_p11_anchor(cfg, kept, len, SR_ANCHOR_READ, NULL, out);
}

static enum sr_err sr_p11_anchor_write(struct sr_seal_config *cfg, const uint8_t *kept, size_t len,
                                       const uint8_t in[SR_KM0_LEN])
{
    return sr_p11_anchor(cfg, kept, len, SR_ANCHOR_WRITE, in, NULL);
}

static enum sr_err sr_p11_forget(struct sr_seal_config *cfg, const uint8_t *kept, size_t len)
{
    return sr_p11_anchor(cfg, kept, len, SR_ANCHOR_FORGET, NULL, NULL);
}

const struct sr_seal_ops sr_seal_pkcs11 = {
    .name = "pkcs11", .suffix = ".p11", .seal = sr_p11_seal, .unseal = sr_p11_unseal, .describe = sr_p11_describe,
    .anchor_read = sr_p11_anchor_read, .anchor_write = sr_p11_anchor_write, .forget = sr_p11_forget,
};
