/* cmd_vaultkey.c - `strongroom key ...`: an application's use of a vault's keys over the API. */
#include <stdlib.h>
#include <string.h>

#include "base/fileio.h"
#include "base/json.h"
#include "base/text.h"
#include "cli/client.h"
#include "crypto/crypto.h"
#include "crypto/jwk.h"
#include "crypto/ossl.h"

#define SR_MAX_CLI_INPUT (1024u * 1024u)

static const struct sr_opt sr_opts_key[] = {
    {"vault-url", NULL, true, "https://VAULT.localhost:PORT (or STRONGROOM_VAULT_URL); token in STRONGROOM_TOKEN"},
    {"ca-file", NULL, true, "a CA certificate to trust besides the system's (or STRONGROOM_CA_FILE)"},
    {"output", "-o", true, "json or table (default table)"},
    {"name", NULL, true, "key name"},
    {"version", NULL, true, "key version (default: the latest)"},
    {"kty", NULL, true, "create: RSA, RSA-HSM, EC or EC-HSM (default RSA)"},
    {"size", NULL, true, "create: RSA size 2048, 3072 or 4096"},
    {"curve", NULL, true, "create: P-256, P-384 or P-521"},
    {"ops", NULL, true, "create: key_ops, comma separated (e.g. sign,verify)"},
    {"alg", NULL, true, "sign/verify: RS256 ... ES512; encrypt/decrypt: RSA-OAEP, RSA-OAEP-256, RSA1_5"},
    {"in", NULL, true, "input file (sign/verify hash it locally and send the digest)"},
    {"out", NULL, true, "output file"},
    {"signature", NULL, true, "verify: the signature file (raw, as 'key sign' writes it)"},
    {"jwk-file", NULL, true, "import: a JSON web key with its private members"},
    {"byok-file", NULL, true, "import: a KeyTransferPackage-NAME.byok (BYOK); kty from --kty (default RSA-HSM)"},
    {"destination", NULL, true, "import: HSM (every Strongroom key is module-protected)"},
    {"file", NULL, true, "download: where the public key goes (PEM)"},
    {NULL, NULL, false, NULL},
};

static const char *sr_opt_val(const struct sr_args *a, const char *name)
{
    return sr_arg(a, sr_opts_key, name);
}

static enum sr_err sr_need(struct sr_cli *cli, const struct sr_args *a, const char *name)
{
    if (sr_opt_val(a, name) == NULL) {
        sr_cli_detail(cli, "--%s is required", name);
        return SR_ERR_USAGE;
    }
    return SR_OK;
}

static bool sr_want_json(const struct sr_args *a)
{
    const char *o = sr_opt_val(a, "output");
    return o != NULL && strcmp(o, "json") == 0;
}

static enum sr_err sr_client_for(struct sr_cli *cli, const struct sr_args *a, struct sr_client *c)
{
    const char *o = sr_opt_val(a, "output");
    if (o != NULL && strcmp(o, "json") != 0 && strcmp(o, "table") != 0) {
        sr_cli_detail(cli, "--output is json or table");
        return SR_ERR_USAGE;
    }
    return sr_client_init(cli, sr_opt_val(a, "vault-url"), sr_opt_val(a, "ca-file"), c);
}

static enum sr_err sr_key_path_of(struct sr_cli *cli, const struct sr_args *a, const char *suffix, char *out,
                                  size_t cap)
{
    SR_TRY(sr_need(cli, a, "name"));
    const char *v = sr_opt_val(a, "version");
    int n = snprintf(out, cap, "/keys/%s/%s%s", sr_opt_val(a, "name"), v ? v : "", suffix);
    SR_ENSURE(n > 0 && (size_t)n < cap, SR_ERR_TOO_LARGE);
    return SR_OK;
}

static void sr_print_bundle(FILE *f, const json_t *b)
{
    const json_t *key = json_object_get(b, "key");
    const json_t *attrs = json_object_get(b, "attributes");
    fprintf(f, "kid       %s\nkty       %s\n", json_string_value(json_object_get(key, "kid")),
            json_string_value(json_object_get(key, "kty")));
    if (json_object_get(key, "crv")) {
        fprintf(f, "crv       %s\n", json_string_value(json_object_get(key, "crv")));
    }
    fprintf(f, "key_ops  ");
    size_t i;
    const json_t *v;
    json_array_foreach(json_object_get(key, "key_ops"), i, v) {
        fprintf(f, " %s", json_string_value(v));
    }
    fprintf(f, "\nenabled   %s\ncreated   %lld\n", json_is_true(json_object_get(attrs, "enabled")) ? "yes" : "no",
            (long long)json_integer_value(json_object_get(attrs, "created")));
    if (json_object_get(b, "recoveryId")) {
        fprintf(f, "deleted   %lld (purge after %lld)\nrecovery  %s\n",
                (long long)json_integer_value(json_object_get(b, "deletedDate")),
                (long long)json_integer_value(json_object_get(b, "scheduledPurgeDate")),
                json_string_value(json_object_get(b, "recoveryId")));
    }
}

static void sr_print(struct sr_cli *cli, const struct sr_args *a, const json_t *resp)
{
    if (resp == NULL) {
        return;
    }
    if (sr_want_json(a)) {
        json_dumpf(resp, cli->out, JSON_INDENT(2));
        fputc('\n', cli->out);
    } else if (json_object_get(resp, "key") != NULL) {
        sr_print_bundle(cli->out, resp);
    } else if (json_is_array(json_object_get(resp, "value"))) {
        size_t i;
        const json_t *v;
        json_array_foreach(json_object_get(resp, "value"), i, v) {
            fprintf(cli->out, "%s\n", json_string_value(json_object_get(v, "kid")));
        }
    }
}

static enum sr_err sr_ops_json(struct sr_cli *cli, const char *ops, json_t **ret)
{
    json_t *arr = json_array();
    SR_ENSURE(arr != NULL, SR_ERR_NOMEM);
    char copy[256];
    if (strlen(ops) >= sizeof(copy)) {
        json_decref(arr);
        sr_cli_detail(cli, "--ops is too long");
        return SR_ERR_USAGE;
    }
    strcpy(copy, ops);
    for (char *save = NULL, *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        json_array_append_new(arr, json_string(t));
    }
    *ret = arr;
    return SR_OK;
}

static enum sr_err sr_cmd_key_create(struct sr_cli *cli, const struct sr_args *a)
{
    struct sr_client c;
    SR_TRY(sr_client_for(cli, a, &c));
    SR_TRY(sr_need(cli, a, "name"));
    const char *kty = sr_opt_val(a, "kty") ? sr_opt_val(a, "kty") : "RSA";
    SR_AUTO_JSON json_t *body = json_pack("{s:s}", "kty", kty);
    SR_ENSURE(body != NULL, SR_ERR_NOMEM);
    if (sr_opt_val(a, "size")) {
        unsigned long size = 0;
        if (sr_parse_uint(sr_opt_val(a, "size"), 1, 65536, &size) != SR_OK) {
            sr_cli_detail(cli, "--size is 2048, 3072 or 4096");
            return SR_ERR_USAGE;
        }
        json_object_set_new(body, "key_size", json_integer((json_int_t)size));
    }
    if (sr_opt_val(a, "curve")) {
        json_object_set_new(body, "crv", json_string(sr_opt_val(a, "curve")));
    }
    if (sr_opt_val(a, "ops")) {
        json_t *ops = NULL;
        SR_TRY(sr_ops_json(cli, sr_opt_val(a, "ops"), &ops));
        json_object_set_new(body, "key_ops", ops);
    }
    char path[512];
    snprintf(path, sizeof(path), "/keys/%s/create", sr_opt_val(a, "name"));
    SR_AUTO_JSON json_t *resp = NULL;
    SR_TRY(sr_client_call(cli, &c, "POST", path, body, &resp));
    sr_print(cli, a, resp);
    return SR_OK;
}

static enum sr_err sr_cmd_key_simple(struct sr_cli *cli, const struct sr_args *a, const char *method,
                                     const char *path)
{
    struct sr_client c;
    SR_TRY(sr_client_for(cli, a, &c));
    SR_AUTO_JSON json_t *resp = NULL;
    SR_TRY(sr_client_call(cli, &c, method, path, NULL, &resp));
    sr_print(cli, a, resp);
    return SR_OK;
}

static enum sr_err sr_cmd_key_list(struct sr_cli *cli, const struct sr_args *a)
{
    return sr_cmd_key_simple(cli, a, "GET", "/keys?maxresults=25");
}

static enum sr_err sr_cmd_key_show(struct sr_cli *cli, const struct sr_args *a)
{
    char path[512];
    SR_TRY(sr_key_path_of(cli, a, "", path, sizeof(path)));
    return sr_cmd_key_simple(cli, a, "GET", path);
}

static enum sr_err sr_cmd_key_delete(struct sr_cli *cli, const struct sr_args *a)
{
    SR_TRY(sr_need(cli, a, "name"));
    char path[512];
    snprintf(path, sizeof(path), "/keys/%s", sr_opt_val(a, "name"));
    return sr_cmd_key_simple(cli, a, "DELETE", path);
}

static enum sr_err sr_read_input(struct sr_cli *cli, const char *path, struct sr_buf *out)
{
    sr_buf_init(out, SR_MAX_CLI_INPUT, SR_BUF_SECRET);
    enum sr_err r = sr_file_read(path, out);
    if (r != SR_OK) {
        sr_cli_detail(cli, "cannot read %s", path);
    }
    return r;
}

static enum sr_err sr_b64_of(const struct sr_buf *in, json_t **ret)
{
    SR_AUTO_BUF struct sr_buf t = {0};
    sr_buf_init(&t, SR_MAX_CLI_INPUT * 2, SR_BUF_SECRET);
    SR_TRY(sr_b64url_encode(in->data, in->len, &t));
    *ret = json_string((const char *)t.data);
    SR_ENSURE(*ret != NULL, SR_ERR_NOMEM);
    return SR_OK;
}

static enum sr_err sr_write_value(struct sr_cli *cli, const json_t *resp, const char *out)
{
    const char *v = json_string_value(json_object_get(resp, "value"));
    SR_ENSURE(v != NULL, SR_ERR_IO);
    SR_AUTO_BUF struct sr_buf bytes = {0};
    sr_buf_init(&bytes, SR_MAX_CLI_INPUT, SR_BUF_SECRET);
    SR_TRY(sr_b64url_decode(v, &bytes));
    enum sr_err r = sr_file_write_atomic(out, bytes.data, bytes.len, SR_WRITE_REPLACE);
    if (r != SR_OK) {
        sr_cli_detail(cli, "cannot write %s", out);
    }
    return r;
}

/* Hashes the input locally with the algorithm's digest, as Key Vault's sign and verify take digests. */
static enum sr_err sr_digest_for(struct sr_cli *cli, const char *alg_name, const struct sr_buf *data, json_t **ret)
{
    enum sr_sign_alg alg;
    SR_TRY(sr_sign_alg_parse(alg_name, &alg));
    size_t dlen = sr_sign_alg_digest_len(alg);
    const EVP_MD *md = dlen == 32 ? EVP_sha256() : dlen == 48 ? EVP_sha384() : EVP_sha512();
    uint8_t d[64];
    unsigned int len = 0;
    SR_ENSURE(EVP_Digest(data->data, data->len, d, &len, md, NULL) == 1, SR_ERR_CRYPTO);
    struct sr_buf b = {.data = d, .len = len};
    (void)cli;
    return sr_b64_of(&b, ret);
}

static enum sr_err sr_cmd_key_op(struct sr_cli *cli, const struct sr_args *a, const char *op, bool hash_input)
{
    struct sr_client c;
    SR_TRY(sr_client_for(cli, a, &c));
    SR_TRY(sr_need(cli, a, "alg"));
    SR_TRY(sr_need(cli, a, "in"));
    SR_TRY(sr_need(cli, a, "out"));
    char path[512];
    char suffix[32];
    snprintf(suffix, sizeof(suffix), "/%s", op);
    SR_TRY(sr_key_path_of(cli, a, suffix, path, sizeof(path)));
    SR_AUTO_BUF struct sr_buf in = {0};
    SR_TRY(sr_read_input(cli, sr_opt_val(a, "in"), &in));
    json_t *value = NULL;
    SR_TRY(hash_input ? sr_digest_for(cli, sr_opt_val(a, "alg"), &in, &value) : sr_b64_of(&in, &value));
    SR_AUTO_JSON json_t *body = json_pack("{s:s,s:o}", "alg", sr_opt_val(a, "alg"), "value", value);
    SR_ENSURE(body != NULL, SR_ERR_NOMEM);
    SR_AUTO_JSON json_t *resp = NULL;
    SR_TRY(sr_client_call(cli, &c, "POST", path, body, &resp));
    SR_TRY(sr_write_value(cli, resp, sr_opt_val(a, "out")));
    fprintf(cli->out, "%s: %s -> %s (%s)\n", op, sr_opt_val(a, "in"), sr_opt_val(a, "out"),
            json_string_value(json_object_get(resp, "kid")));
    return SR_OK;
}

static enum sr_err sr_cmd_key_sign(struct sr_cli *cli, const struct sr_args *a)
{
    return sr_cmd_key_op(cli, a, "sign", true);
}

static enum sr_err sr_cmd_key_encrypt(struct sr_cli *cli, const struct sr_args *a)
{
    return sr_cmd_key_op(cli, a, "encrypt", false);
}

static enum sr_err sr_cmd_key_decrypt(struct sr_cli *cli, const struct sr_args *a)
{
    return sr_cmd_key_op(cli, a, "decrypt", false);
}

static enum sr_err sr_cmd_key_verify(struct sr_cli *cli, const struct sr_args *a)
{
    struct sr_client c;
    SR_TRY(sr_client_for(cli, a, &c));
    SR_TRY(sr_need(cli, a, "alg"));
    SR_TRY(sr_need(cli, a, "in"));
    SR_TRY(sr_need(cli, a, "signature"));
    char path[512];
    SR_TRY(sr_key_path_of(cli, a, "/verify", path, sizeof(path)));
    SR_AUTO_BUF struct sr_buf in = {0};
    SR_AUTO_BUF struct sr_buf sig = {0};
    SR_TRY(sr_read_input(cli, sr_opt_val(a, "in"), &in));
    SR_TRY(sr_read_input(cli, sr_opt_val(a, "signature"), &sig));
    json_t *digest = NULL;
    json_t *value = NULL;
    SR_TRY(sr_digest_for(cli, sr_opt_val(a, "alg"), &in, &digest));
    if (sr_b64_of(&sig, &value) != SR_OK) {
        json_decref(digest);
        return SR_ERR_NOMEM;
    }
    SR_AUTO_JSON json_t *body = json_pack("{s:s,s:o,s:o}", "alg", sr_opt_val(a, "alg"), "digest", digest, "value",
                                          value);
    SR_ENSURE(body != NULL, SR_ERR_NOMEM);
    SR_AUTO_JSON json_t *resp = NULL;
    SR_TRY(sr_client_call(cli, &c, "POST", path, body, &resp));
    bool ok = json_is_true(json_object_get(resp, "value"));
    fprintf(cli->out, "Verified: %s\n", ok ? "true" : "false");
    return ok ? SR_OK : SR_ERR_BAD_SIGNATURE;
}

static enum sr_err sr_byok_body(struct sr_cli *cli, const struct sr_args *a, json_t **ret)
{
    const char *dest = sr_opt_val(a, "destination");
    if (dest != NULL && strcmp(dest, "HSM") != 0) {
        sr_cli_detail(cli, "--destination is HSM: Strongroom keeps every key in its region's module");
        return SR_ERR_USAGE;
    }
    SR_AUTO_BUF struct sr_buf file = {0};
    SR_TRY(sr_read_input(cli, sr_opt_val(a, "byok-file"), &file));
    json_t *hsm = NULL;
    SR_TRY(sr_b64_of(&file, &hsm));
    const char *kty = sr_opt_val(a, "kty") ? sr_opt_val(a, "kty") : "RSA-HSM";
    json_t *key = json_pack("{s:s,s:o}", "kty", kty, "key_hsm", hsm);
    SR_ENSURE(key != NULL, SR_ERR_NOMEM);
    if (sr_opt_val(a, "curve")) {
        json_object_set_new(key, "crv", json_string(sr_opt_val(a, "curve")));
    }
    *ret = json_pack("{s:o}", "key", key);
    SR_ENSURE(*ret != NULL, SR_ERR_NOMEM);
    return SR_OK;
}

static enum sr_err sr_jwk_body(struct sr_cli *cli, const struct sr_args *a, json_t **ret)
{
    SR_TRY(sr_need(cli, a, "jwk-file"));
    SR_AUTO_BUF struct sr_buf text = {0};
    SR_TRY(sr_read_input(cli, sr_opt_val(a, "jwk-file"), &text));
    json_t *jwk = json_loadb((const char *)text.data, text.len, 0, NULL);
    if (!json_is_object(jwk)) {
        json_decref(jwk);
        sr_cli_detail(cli, "%s is not a JSON web key", sr_opt_val(a, "jwk-file"));
        return SR_ERR_JWK;
    }
    *ret = json_pack("{s:o}", "key", jwk);
    SR_ENSURE(*ret != NULL, SR_ERR_NOMEM);
    return SR_OK;
}

static enum sr_err sr_cmd_key_import(struct sr_cli *cli, const struct sr_args *a)
{
    struct sr_client c;
    SR_TRY(sr_client_for(cli, a, &c));
    SR_TRY(sr_need(cli, a, "name"));
    char path[512];
    snprintf(path, sizeof(path), "/keys/%s", sr_opt_val(a, "name"));
    SR_AUTO_JSON json_t *body = NULL;
    SR_TRY(sr_opt_val(a, "byok-file") != NULL ? sr_byok_body(cli, a, &body) : sr_jwk_body(cli, a, &body));
    SR_AUTO_JSON json_t *resp = NULL;
    SR_TRY(sr_client_call(cli, &c, "PUT", path, body, &resp));
    sr_print(cli, a, resp);
    return SR_OK;
}

static enum sr_err sr_cmd_key_download(struct sr_cli *cli, const struct sr_args *a)
{
    struct sr_client c;
    SR_TRY(sr_client_for(cli, a, &c));
    SR_TRY(sr_need(cli, a, "file"));
    char path[512];
    SR_TRY(sr_key_path_of(cli, a, "", path, sizeof(path)));
    SR_AUTO_JSON json_t *resp = NULL;
    SR_TRY(sr_client_call(cli, &c, "GET", path, NULL, &resp));
    SR_AUTO_PKEY EVP_PKEY *pub = NULL;
    SR_TRY(sr_jwk_public_to_pkey(json_object_get(resp, "key"), &pub));
    SR_AUTO_BUF struct sr_buf pem = {0};
    sr_buf_init(&pem, 16384, SR_BUF_PLAIN);
    SR_TRY(sr_pkey_public_to_pem(pub, &pem));
    SR_TRY(sr_file_write_atomic(sr_opt_val(a, "file"), pem.data, pem.len, SR_WRITE_REPLACE));
    fprintf(cli->out, "%s: public key of %s\n", sr_opt_val(a, "file"),
            json_string_value(json_object_get(json_object_get(resp, "key"), "kid")));
    return SR_OK;
}

const struct sr_cmd sr_cmds_key[] = {
    {"create", sr_cmd_key_create, 0, 0, 0, sr_opts_key, NULL,
     "key create --name N [--kty RSA|EC] [--size 2048] [--curve P-256] [--ops sign,verify]", "create a key"},
    {"list", sr_cmd_key_list, 0, 0, 0, sr_opts_key, NULL, "key list", "list the vault's keys"},
    {"show", sr_cmd_key_show, 0, 0, 0, sr_opts_key, NULL, "key show --name N [--version V]",
     "show a key's public part and attributes"},
    {"delete", sr_cmd_key_delete, 0, 0, 0, sr_opts_key, NULL, "key delete --name N", "soft-delete a key"},
    {"sign", sr_cmd_key_sign, 0, 0, 0, sr_opts_key, NULL, "key sign --name N --alg ALG --in FILE --out SIG",
     "sign a file's digest (ECDSA signatures are raw r||s, as JOSE)"},
    {"verify", sr_cmd_key_verify, 0, 0, 0, sr_opts_key, NULL,
     "key verify --name N --alg ALG --in FILE --signature SIG", "verify a signature (exit 1 if invalid)"},
    {"encrypt", sr_cmd_key_encrypt, 0, 0, 0, sr_opts_key, NULL, "key encrypt --name N --alg ALG --in F --out F",
     "encrypt with a key"},
    {"decrypt", sr_cmd_key_decrypt, 0, 0, 0, sr_opts_key, NULL, "key decrypt --name N --alg ALG --in F --out F",
     "decrypt with a key (RSA-OAEP, RSA-OAEP-256)"},
    {"import", sr_cmd_key_import, 0, 0, 0, sr_opts_key, NULL,
     "key import --name N (--jwk-file F | --byok-file F --destination HSM [--kty EC-HSM --curve P-256])",
     "import a plain JSON web key, or a BYOK package"},
    {"download", sr_cmd_key_download, 0, 0, 0, sr_opts_key, NULL, "key download --name N --file F.pem",
     "save a key's public half as PEM (e.g. an import KEK, as az keyvault key download)"},
    {NULL, NULL, 0, 0, 0, NULL, NULL, NULL, NULL},
};
