/*
 * trusted.c - wrapping keys the security officer trusts (PKCS#11's CKA_TRUSTED): RSA public keys under which
 * the administrator card quorum lets extractable keys leave. A file local/trust_<ident> (SRTRUST1) holds
 * the public key in its header, sealed under the world key, so only a module of the world can make one
 * that the module accepts. Checking the quorum is the caller's, as for modify-acls.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/json.h"
#include "crypto/crypto.h"
#include "crypto/ossl.h"
#include "hsm/internal.h"
#include "hsm/transfer.h"

#define SR_TRUST_TYPE "trusted-wrapping-key"

enum sr_err sr_trusted_key_path(const struct sr_module *m, const char *ident, char *out, size_t cap)
{
    return sr_local_path(m, "trust_", ident, out, cap);
}

enum sr_err sr_trusted_key_write(struct sr_module *m, const char *ident, const char *plainname, EVP_PKEY *pub)
{
    SR_TRY(sr_module_require_world(m, NULL));
    struct sr_key_spec spec;
    SR_TRY(sr_pkey_describe(pub, &spec));
    SR_ENSURE(spec.type == SR_KEY_RSA && spec.bits >= 2048, SR_ERR_KEY_TYPE);
    SR_ENSURE(strlen(plainname) <= SR_MAX_PLAINNAME, SR_ERR_USAGE);
    char path[SR_PATH_MAX];
    SR_TRY(sr_trusted_key_path(m, ident, path, sizeof(path)));
    SR_ENSURE(!sr_file_exists(path), SR_ERR_EXISTS);
    uint8_t hkm[SR_HASH_LEN];
    SR_TRY(sr_world_hash(m->km, hkm));
    SR_AUTO_JSON json_t *h = json_pack("{s:s,s:s,s:s,s:I}", "type", SR_TRUST_TYPE, "ident", ident, "plainname",
                                       plainname, "created", (json_int_t)time(NULL));
    SR_ENSURE(h != NULL, SR_ERR_NOMEM);
    SR_TRY(sr_json_set_hex(h, "world_hkm", hkm, SR_HASH_LEN));
    SR_TRY(sr_header_set_public_key(h, pub));
    return sr_seal_write(m->km, SR_PURPOSE_TRUST, SR_MAGIC_TRUST, h, (const uint8_t *)"", 0, path, SR_WRITE_CREATE);
}

enum sr_err sr_trusted_key_open(const struct sr_module *m, const uint8_t *bytes, size_t len, char *plainname,
                                size_t cap, EVP_PKEY **ret_pub)
{
    SR_ENSURE(m->km != NULL, SR_ERR_NO_WORLD);
    SR_AUTO_CONTAINER struct sr_container c = {0};
    SR_TRY(sr_container_parse(bytes, len, SR_MAGIC_TRUST, SR_ERR_KEYFILE_TAMPERED, &c));
    SR_AUTO_BUF struct sr_buf empty = {0};
    sr_buf_init(&empty, 16, SR_BUF_PLAIN);
    SR_ENSURE(sr_seal_open(m->km, SR_PURPOSE_TRUST, &c, &empty) == SR_OK, SR_ERR_KEYFILE_TAMPERED);
    const char *type = NULL, *name = NULL;
    SR_TRY(sr_json_str(c.header, "type", SR_ERR_KEYFILE_TAMPERED, &type));
    SR_TRY(sr_json_str(c.header, "plainname", SR_ERR_KEYFILE_TAMPERED, &name));
    SR_ENSURE(strcmp(type, SR_TRUST_TYPE) == 0, SR_ERR_KEYFILE_TAMPERED);
    snprintf(plainname, cap, "%s", name);
    return sr_header_public_key(c.header, SR_ERR_KEYFILE_TAMPERED, ret_pub);
}
