/*
 * cmd_pkcs11.c - the `pkcs11` commands: the user PIN of this module's token, and `pkcs11 byok`, the key
 * owner's BYOK step done with PKCS#11 calls alone against any PKCS#11 library (ours or another vendor's):
 * the security officer stores the vault's KEK as a trusted wrapping key, the user wraps an extractable
 * key under it with CKM_RSA_AES_KEY_WRAP, and the result is written as a .byok (docs/byok-walkthrough.md,
 * "Any PKCS#11 HSM").
 */
#include <p11-kit/pkcs11.h> /* first: in its compatible mode it renames lower-case names for all that follows */

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fileio.h"
#include "base/text.h"
#include "byok/byok.h"
#include "cli/cli.h"
#include "crypto/crypto.h"
#include "crypto/ossl.h"

/* --- pkcs11 set-pin --- */

static const struct sr_opt sr_opts_pkcs11_pin[] = {
    {"pin-file", NULL, true, "a file whose first line is the new user PIN (default: typed twice at the terminal)"},
    {"max-tries", NULL, true, "wrong PINs in a row that lock it, 1 to 100 (default: as before, else 10)"},
    {NULL, NULL, false, NULL},
};

/* The PKCS#11 token's user PIN: the operator's gate in front of the module's keys (docs/pkcs11.md). */
static enum sr_err sr_cmd_pkcs11_set_pin(struct sr_cli *cli, const struct sr_args *args)
{
    static const unsigned first[] = {1};
    unsigned long tries = 0;
    const char *max = sr_arg(args, sr_opts_pkcs11_pin, "max-tries");
    if (max != NULL && sr_parse_uint(max, 1, SR_MAX_PIN_TRIES, &tries) != SR_OK) {
        sr_cli_detail(cli, "--max-tries is a number from 1 to %u", SR_MAX_PIN_TRIES);
        return SR_ERR_USAGE;
    }
    SR_AUTO_PINS struct sr_pins pins = {0};
    SR_TRY(sr_collect_pins(cli, sr_arg(args, sr_opts_pkcs11_pin, "pin-file"), first, 1, true, &pins));
    const char *pin = pins.pin[0] ? pins.pin[0] : "";
    /* Setting it is the security officer's unlock too: the wrong tries are forgotten. */
    enum sr_err r = sr_module_set_user_pin_tries(cli->module, pin, strlen(pin), (unsigned)tries);
    if (r == SR_ERR_PIN_INPUT) {
        sr_cli_detail(cli, "the user PIN is %u to %u characters", SR_MIN_USER_PIN, SR_MAX_USER_PIN);
    }
    SR_TRY(r);
    fprintf(cli->out, "PKCS#11 user PIN set for module %s (libstrongroom-pkcs11.so, C_Login as CKU_USER)\n",
            sr_module_esn(cli->module));
    return SR_OK;
}

/* --- pkcs11 byok --- */

static const struct sr_opt sr_opts_pkcs11_byok[] = {
    {"module", NULL, true, "the PKCS#11 library (libstrongroom-pkcs11.so, or another HSM's)"},
    {"pin-file", NULL, true, "a file whose first line is the user PIN"},
    {"so-pin-file", NULL, true, "a file whose first line is the security officer's PIN, to trust the KEK "
                                "(Strongroom: CARD:PIN,CARD:PIN of an administrator card quorum)"},
    {"kek-file", NULL, true, "the vault's KEK, PEM ('strongroom key download --name KEK')"},
    {"kid", NULL, true, "the KEK's key id in the vault (its kid URL)"},
    {"key-label", NULL, true, "the key to transfer (CKA_LABEL)"},
    {"generate", NULL, true, "make the key first, extractable: rsa:2048|rsa:3072|rsa:4096|ec:P-256|ec:P-384|ec:P-521"},
    {"out", NULL, true, "the .byok file to write"},
    {NULL, NULL, false, NULL},
};

struct sr_p11_client {
    struct sr_cli *cli;
    void *lib;
    CK_FUNCTION_LIST_PTR f;
    CK_SESSION_HANDLE s;
    CK_SLOT_ID slot;
    bool initialized;
};

static void sr_p11_client_close(struct sr_p11_client *c)
{
    if (c->initialized) {
        c->f->C_CloseSession(c->s);
        c->f->C_Finalize(NULL);
    }
    if (c->lib != NULL) {
        dlclose(c->lib);
    }
}

/* A failed PKCS#11 call: its name and return value in the error message; a missing mechanism is said so. */
static enum sr_err sr_p11_failed(struct sr_p11_client *c, const char *call, CK_RV rv, enum sr_err r)
{
    sr_cli_detail(c->cli, "%s returned 0x%lx%s", call, (unsigned long)rv,
                  rv == CKR_KEY_UNEXTRACTABLE ? " (CKR_KEY_UNEXTRACTABLE: the key was not made extractable)"
                  : rv == CKR_PIN_INCORRECT   ? " (CKR_PIN_INCORRECT)"
                  : rv == CKR_KEY_NOT_WRAPPABLE ? " (CKR_KEY_NOT_WRAPPABLE: the KEK is not a trusted wrapping key)"
                  : rv == CKR_MECHANISM_INVALID ? " (CKR_MECHANISM_INVALID)"
                                              : "");
    return rv == CKR_MECHANISM_INVALID ? SR_ERR_P11_MECHANISM : r;
}

#define SR_P11_CALL(c, call, args, err)                                                                          \
    do {                                                                                                         \
        CK_RV rv_ = (c)->f->call args;                                                                           \
        if (rv_ != CKR_OK) {                                                                                     \
            return sr_p11_failed((c), #call, rv_, (err));                                                        \
        }                                                                                                        \
    } while (0)

static enum sr_err sr_p11_client_open(struct sr_p11_client *c, const char *path)
{
    c->lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (c->lib == NULL) {
        sr_cli_detail(c->cli, "cannot load the PKCS#11 library %s", path);
        return SR_ERR_NOT_FOUND;
    }
    CK_C_GetFunctionList get = (CK_C_GetFunctionList)dlsym(c->lib, "C_GetFunctionList");
    if (get == NULL || get(&c->f) != CKR_OK) {
        sr_cli_detail(c->cli, "%s is not a PKCS#11 library (no C_GetFunctionList)", path);
        return SR_ERR_USAGE;
    }
    CK_C_INITIALIZE_ARGS init = {.flags = CKF_OS_LOCKING_OK};
    SR_P11_CALL(c, C_Initialize, (&init), SR_ERR_UNAVAILABLE);
    c->initialized = true;
    CK_SLOT_ID slots[16];
    CK_ULONG n = SR_ARRAY_LEN(slots);
    SR_P11_CALL(c, C_GetSlotList, (CK_TRUE, slots, &n), SR_ERR_UNAVAILABLE);
    if (n == 0) {
        sr_cli_detail(c->cli, "no token in %s (Strongroom: a world must be loaded in STRONGROOM_KMDATA)", path);
        return SR_ERR_NO_WORLD;
    }
    c->slot = slots[0];
    SR_P11_CALL(c, C_OpenSession, (c->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &c->s), SR_ERR_UNAVAILABLE);
    return SR_OK;
}

/* The first line of a PIN file. */
static enum sr_err sr_p11_pin(struct sr_cli *cli, const char *path, struct sr_pins *ret)
{
    if (path == NULL) {
        sr_cli_detail(cli, "--pin-file is required");
        return SR_ERR_USAGE;
    }
    SR_TRY(sr_pins_read_file(cli, path, ret));
    if (ret->pin[0] == NULL) {
        sr_cli_detail(cli, "%s has no PIN on its first line", path);
        return SR_ERR_PIN_INPUT;
    }
    return SR_OK;
}

static enum sr_err sr_p11_login(struct sr_p11_client *c, CK_USER_TYPE who, const char *pin_file)
{
    SR_AUTO_PINS struct sr_pins pins = {0};
    SR_TRY(sr_p11_pin(c->cli, pin_file, &pins));
    SR_P11_CALL(c, C_Login, (c->s, who, (CK_UTF8CHAR_PTR)pins.pin[0], strlen(pins.pin[0])), SR_ERR_BAD_PIN);
    return SR_OK;
}

/* The one object matching the template, or CK_INVALID_HANDLE. */
static enum sr_err sr_p11_find_one(struct sr_p11_client *c, CK_ATTRIBUTE *tmpl, CK_ULONG n, CK_OBJECT_HANDLE *ret)
{
    CK_OBJECT_HANDLE found[2];
    CK_ULONG count = 0;
    SR_P11_CALL(c, C_FindObjectsInit, (c->s, tmpl, n), SR_ERR_UNAVAILABLE);
    CK_RV rv = c->f->C_FindObjects(c->s, found, 2, &count);
    c->f->C_FindObjectsFinal(c->s);
    if (rv != CKR_OK) {
        return sr_p11_failed(c, "C_FindObjects", rv, SR_ERR_UNAVAILABLE);
    }
    *ret = count == 1 ? found[0] : CK_INVALID_HANDLE;
    return SR_OK;
}

static CK_BBOOL sr_yes = CK_TRUE;

/* The KEK as a trusted wrapping key of the token: found by its modulus, or stored by the security officer. */
static enum sr_err sr_p11_trusted_kek(struct sr_p11_client *c, EVP_PKEY *kek, const char *so_pin_file,
                                      CK_OBJECT_HANDLE *ret)
{
    SR_AUTO_BUF struct sr_buf n = {0};
    SR_AUTO_BUF struct sr_buf e = {0};
    sr_buf_init(&n, 1024, SR_BUF_PLAIN);
    sr_buf_init(&e, 16, SR_BUF_PLAIN);
    SR_TRY(sr_pkey_public_part(kek, SR_PUB_RSA_N, &n));
    SR_TRY(sr_pkey_public_part(kek, SR_PUB_RSA_E, &e));
    CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
    CK_KEY_TYPE type = CKK_RSA;
    static const char label[] = "vault KEK (BYOK)";
    CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_MODULUS, n.data, n.len}, {CKA_TRUSTED, &sr_yes, 1},
                           {CKA_KEY_TYPE, &type, sizeof(type)}, {CKA_PUBLIC_EXPONENT, e.data, e.len},
                           {CKA_WRAP, &sr_yes, 1}, {CKA_TOKEN, &sr_yes, 1}, {CKA_LABEL, (void *)label, sizeof(label) - 1}};
    SR_TRY(sr_p11_find_one(c, tmpl, 3, ret));
    if (*ret != CK_INVALID_HANDLE) {
        return SR_OK;
    }
    if (so_pin_file == NULL) {
        sr_cli_detail(c->cli, "the KEK is not a trusted wrapping key of this token: give --so-pin-file, so that the "
                              "security officer trusts it");
        return SR_ERR_USAGE;
    }
    SR_TRY(sr_p11_login(c, CKU_SO, so_pin_file));
    CK_RV rv = c->f->C_CreateObject(c->s, tmpl, SR_ARRAY_LEN(tmpl), ret);
    c->f->C_Logout(c->s);
    return rv == CKR_OK ? SR_OK : sr_p11_failed(c, "C_CreateObject", rv, SR_ERR_ACL_DENIED);
}

/* --generate: an extractable key made in the token (CKA_EXTRACTABLE, CKA_WRAP_WITH_TRUSTED). */
static enum sr_err sr_p11_generate(struct sr_p11_client *c, const char *what, const char *label)
{
    CK_ULONG bits = 0;
    enum sr_curve curve = SR_CURVE_NONE;
    if (strncmp(what, "rsa:", 4) == 0) {
        bits = strtoul(what + 4, NULL, 10);
    } else if (strncmp(what, "ec:", 3) != 0 || sr_curve_parse(what + 3, &curve) != SR_OK) {
        sr_cli_detail(c->cli, "--generate takes rsa:2048|3072|4096 or ec:P-256|P-384|P-521");
        return SR_ERR_USAGE;
    }
    SR_AUTO_BUF struct sr_buf oid = {0};
    sr_buf_init(&oid, 64, SR_BUF_PLAIN);
    if (curve != SR_CURVE_NONE) {
        SR_TRY(sr_curve_oid_der(curve, &oid));
    }
    uint8_t id[8];
    SR_TRY(sr_rand_bytes(id, sizeof(id)));
    CK_ATTRIBUTE pub[] = {{curve ? CKA_EC_PARAMS : CKA_MODULUS_BITS, curve ? (void *)oid.data : (void *)&bits,
                           curve ? oid.len : sizeof(bits)},
                          {CKA_VERIFY, &sr_yes, 1}, {CKA_TOKEN, &sr_yes, 1}, {CKA_ID, id, sizeof(id)}};
    CK_ATTRIBUTE priv[] = {{CKA_SIGN, &sr_yes, 1}, {CKA_EXTRACTABLE, &sr_yes, 1}, {CKA_WRAP_WITH_TRUSTED, &sr_yes, 1},
                           {CKA_SENSITIVE, &sr_yes, 1}, {CKA_TOKEN, &sr_yes, 1}, {CKA_PRIVATE, &sr_yes, 1},
                           {CKA_ID, id, sizeof(id)}, {CKA_LABEL, (void *)label, strlen(label)}};
    CK_MECHANISM mech = {curve ? CKM_EC_KEY_PAIR_GEN : CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0};
    CK_OBJECT_HANDLE hpub, hpriv;
    SR_P11_CALL(c, C_GenerateKeyPair, (c->s, &mech, pub, SR_ARRAY_LEN(pub), priv, SR_ARRAY_LEN(priv), &hpub, &hpriv),
                SR_ERR_KEY_TYPE);
    return SR_OK;
}

/* PKCS#11 2.40's CK_RSA_AES_KEY_WRAP_PARAMS (p11-kit's header lacks it). */
struct sr_rsa_aes_params {
    CK_ULONG ulAESKeyBits;
    CK_RSA_PKCS_OAEP_PARAMS_PTR pOAEPParams;
};

static enum sr_err sr_cmd_pkcs11_byok(struct sr_cli *cli, const struct sr_args *args)
{
    const struct sr_opt *o = sr_opts_pkcs11_byok;
    const char *module = sr_arg(args, o, "module"), *kek_file = sr_arg(args, o, "kek-file");
    const char *kid = sr_arg(args, o, "kid"), *label = sr_arg(args, o, "key-label"), *out = sr_arg(args, o, "out");
    if (module == NULL || kek_file == NULL || kid == NULL || label == NULL || out == NULL) {
        sr_cli_detail(cli, "--module, --kek-file, --kid, --key-label, --out and --pin-file are required");
        return SR_ERR_USAGE;
    }
    SR_AUTO_BUF struct sr_buf pem = {0};
    sr_buf_init(&pem, 65536, SR_BUF_PLAIN);
    SR_AUTO_PKEY EVP_PKEY *kek = NULL;
    if (sr_file_read(kek_file, &pem) != SR_OK || sr_pkey_public_from_pem(pem.data, pem.len, &kek) != SR_OK ||
        !EVP_PKEY_is_a(kek, "RSA")) {
        sr_cli_detail(cli, "%s is not an RSA public key in PEM", kek_file);
        return SR_ERR_BYOK_KEK;
    }
    SR_AUTO(sr_p11_client_close) struct sr_p11_client c = {.cli = cli};
    SR_TRY(sr_p11_client_open(&c, module));
    /* Before anything is stored or made: the token must wrap with Azure's BYOK mechanism at all. */
    CK_MECHANISM_INFO info;
    if (c.f->C_GetMechanismInfo(c.slot, CKM_RSA_AES_KEY_WRAP, &info) != CKR_OK || !(info.flags & CKF_WRAP)) {
        sr_cli_detail(cli, "%s does not offer CKM_RSA_AES_KEY_WRAP for wrapping, which Azure's BYOK format needs "
                           "(SoftHSMv2 2.6, for one, does not)", module);
        return SR_ERR_P11_MECHANISM;
    }
    CK_OBJECT_HANDLE wrapping = CK_INVALID_HANDLE, key = CK_INVALID_HANDLE;
    SR_TRY(sr_p11_trusted_kek(&c, kek, sr_arg(args, o, "so-pin-file"), &wrapping));
    SR_TRY(sr_p11_login(&c, CKU_USER, sr_arg(args, o, "pin-file")));
    if (sr_arg(args, o, "generate") != NULL) {
        SR_TRY(sr_p11_generate(&c, sr_arg(args, o, "generate"), label));
    }
    CK_OBJECT_CLASS classes[] = {CKO_PRIVATE_KEY, CKO_SECRET_KEY};
    for (size_t i = 0; i < SR_ARRAY_LEN(classes) && key == CK_INVALID_HANDLE; i++) {
        CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &classes[i], sizeof(classes[i])}, {CKA_LABEL, (void *)label, strlen(label)}};
        SR_TRY(sr_p11_find_one(&c, tmpl, SR_ARRAY_LEN(tmpl), &key));
    }
    if (key == CK_INVALID_HANDLE) {
        sr_cli_detail(cli, "no private or secret key labelled '%s' (or more than one)", label);
        return SR_ERR_NOT_FOUND;
    }
    /* = azure-keyvault.md §1.4: CKM_RSA_AES_KEY_WRAP with a 256-bit AES key and OAEP-SHA-1, no label */
    CK_RSA_PKCS_OAEP_PARAMS oaep = {CKM_SHA_1, CKG_MGF1_SHA1, CKZ_DATA_SPECIFIED, NULL, 0};
    struct sr_rsa_aes_params params = {256, &oaep};
    CK_MECHANISM mech = {CKM_RSA_AES_KEY_WRAP, &params, sizeof(params)};
    /* One call with room to spare: a length query would make the HSM wrap twice (an RSA operation and a
     * fresh AES key each time). Only a library that still wants more room is asked again. */
    SR_AUTO_BUF struct sr_buf ct = {0};
    sr_buf_init(&ct, SR_MAX_FILE, SR_BUF_PLAIN);
    CK_ULONG len = 16384;
    SR_TRY(sr_buf_reserve(&ct, len));
    CK_RV rv = c.f->C_WrapKey(c.s, &mech, wrapping, key, ct.data, &len);
    if (rv == CKR_BUFFER_TOO_SMALL) {
        SR_TRY(sr_buf_reserve(&ct, len));
        rv = c.f->C_WrapKey(c.s, &mech, wrapping, key, ct.data, &len);
    }
    if (rv != CKR_OK) {
        return sr_p11_failed(&c, "C_WrapKey", rv, SR_ERR_ACL_DENIED);
    }
    ct.len = len;
    SR_AUTO_BUF struct sr_buf json = {0};
    sr_buf_init(&json, 4 * len + 4096, SR_BUF_PLAIN);
    SR_TRY(sr_byok_write(kid, "", &ct, &json));
    SR_TRY(sr_file_write_atomic(out, json.data, json.len, SR_WRITE_REPLACE));
    fprintf(cli->out, "Wrote %s: '%s' wrapped CKM_RSA_AES_KEY_WRAP for %s by PKCS#11 (%s)\n", out, label, kid, module);
    return SR_OK;
}

const struct sr_cmd sr_cmds_pkcs11[] = {
    {"set-pin", sr_cmd_pkcs11_set_pin, SR_CMD_MODULE | SR_CMD_EXISTING, 0, 0, sr_opts_pkcs11_pin, NULL,
     "pkcs11 set-pin [--pin-file FILE] [--max-tries N]", "set (or unlock) the PKCS#11 token's user PIN"},
    {"byok", sr_cmd_pkcs11_byok, 0, 0, 0, sr_opts_pkcs11_byok, NULL,
     "pkcs11 byok --module LIB --pin-file F [--so-pin-file F] --kek-file KEK.pem --kid URL --key-label L "
     "[--generate ec:P-256] --out KEY.byok",
     "wrap a key of any PKCS#11 HSM for a vault's KEK (CKM_RSA_AES_KEY_WRAP) into a .byok"},
    {NULL, NULL, 0, 0, 0, NULL, NULL, NULL, NULL},
};
