/* cmd_byok.c - the BYOK toolset: verifykeypackage, toolset download/hash, keytransfer modify-acls/package,
 * and the vault-side helpers key import --byok-file, key download and vault show. */
#include <string.h>

#include "base/fileio.h"
#include "base/json.h"
#include "base/text.h"
#include "byok/byok.h"
#include "cli/client.h"
#include "cli/output.h"
#include "crypto/jwk.h"
#include "crypto/ossl.h"

#include <openssl/pem.h>
#include <strings.h>
#include "hsm/transfer.h"

#define SR_MAX_PKG_FILE (256u * 1024u)

static void sr_pkgp(struct sr_kek_package *p)
{
    sr_kek_package_release(p);
}
#define SR_AUTO_KEKPKG SR_AUTO(sr_pkgp)

static enum sr_err sr_read_small(struct sr_cli *cli, const char *path, struct sr_buf *out)
{
    sr_buf_init(out, SR_MAX_PKG_FILE, SR_BUF_PLAIN);
    enum sr_err r = sr_file_read(path, out);
    if (r != SR_OK) {
        sr_cli_detail(cli, "cannot read %s", path);
    }
    return r == SR_ERR_TOO_LARGE ? SR_ERR_PACKAGE : r;
}

enum sr_err sr_cli_pinned_root(struct sr_cli *cli, const char *hex, struct sr_module *m, uint8_t out[SR_HASH_LEN])
{
    if (hex != NULL) {
        SR_ENSURE(sr_hex_decode(hex, out, SR_HASH_LEN) == SR_OK, SR_ERR_FINGERPRINT);
        return SR_OK;
    }
    if (m == NULL || sr_module_trusted_root(m, out) != SR_OK) {
        sr_cli_detail(cli, "no root is pinned: run 'strongroom root trust FINGERPRINT' with the fingerprint the "
                           "vault operator published, or give --root-fingerprint");
        return SR_ERR_NO_ROOT;
    }
    return SR_OK;
}

/* Verifies both packages, printing every check when verbose. */
static enum sr_err sr_verify_packages(struct sr_cli *cli, const char *kek_path, const char *sw_path,
                                      const char *fp_hex, bool verbose, struct sr_kek_package *ret)
{
    uint8_t pinned[SR_HASH_LEN];
    SR_TRY(sr_cli_pinned_root(cli, fp_hex, cli->module, pinned));
    SR_AUTO_BUF struct sr_buf kek = {0};
    SR_AUTO_BUF struct sr_buf sw = {0};
    SR_TRY(sr_read_small(cli, kek_path, &kek));
    SR_TRY(sr_read_small(cli, sw_path, &sw));
    struct sr_check_report rep = {0};
    enum sr_err r = sr_packages_verify(kek.data, kek.len, sw.data, sw.len, pinned, &rep, ret);
    if (verbose) {
        char fp[72];
        sr_fingerprint_format(pinned, fp);
        fprintf(cli->out, "Verifying %s and %s\nPinned root of trust: %s\n", kek_path, sw_path, fp);
        for (size_t i = 0; i < rep.n; i++) {
            fprintf(cli->out, "Check: %-73s %s\n", rep.name[i], rep.ok[i] ? "OK" : "FAILED");
        }
        if (r == SR_OK) {
            char hash[2 * SR_HASH_LEN + 1];
            sr_hex_encode(ret->kek_hash, SR_HASH_LEN, hash);
            fprintf(cli->out, "KEK %s (region %s, module %s, world %s)\nKEK hash: %s\nResult: SUCCESS\n", ret->kid,
                    ret->region, ret->esn, ret->world_id, hash);
        } else {
            fprintf(cli->out, "Result: FAILED: %s\n", rep.reason[0] ? rep.reason : sr_err_message(r));
        }
    }
    if (r != SR_OK) {
        sr_cli_detail(cli, "%s", rep.reason);
    }
    return r;
}

const struct sr_opt sr_opts_verifykeypackage[] = {
    {"kek-package", "-k", true, "the KEK package, BYOK-KEK-pkg-<REGION>-1"},
    {"world-package", "-w", true, "the Security World package, BYOK-SecurityWorld-pkg-<REGION>-1"},
    {"root-fingerprint", NULL, true, "the root to require (default: the one pinned with 'root trust')"},
    {NULL, NULL, false, NULL},
};

enum sr_err sr_cmd_verifykeypackage(struct sr_cli *cli, const struct sr_args *args)
{
    const struct sr_opt *o = sr_opts_verifykeypackage;
    const char *k = sr_arg(args, o, "kek-package");
    const char *w = sr_arg(args, o, "world-package");
    if (k == NULL || w == NULL) {
        sr_cli_detail(cli, "give -k KEK-PACKAGE -w SECURITY-WORLD-PACKAGE");
        return SR_ERR_USAGE;
    }
    SR_AUTO_KEKPKG struct sr_kek_package pkg = {0};
    return sr_verify_packages(cli, k, w, sr_arg(args, o, "root-fingerprint"), true, &pkg);
}

/* --- toolset --- */

static const struct sr_opt sr_opts_toolset[] = {
    {"vault-url", NULL, true, "the vault's https:// URL (or STRONGROOM_VAULT_URL)"},
    {"ca-file", NULL, true, "a CA certificate to trust besides the system's (or STRONGROOM_CA_FILE)"},
    {"region", NULL, true, "the vault's region, e.g. EU"},
    {"out", NULL, true, "where to put the zip and its contents (default: the current directory)"},
    {NULL, NULL, false, NULL},
};

static void sr_print_file_hash(FILE *f, const char *hash, const char *path)
{
    fprintf(f, "\nAlgorithm       Hash%-62sPath\n---------       ----%-62s----\nSHA256          %s  %s\n\n", "", "",
            hash, path);
}

static enum sr_err sr_cmd_toolset_download(struct sr_cli *cli, const struct sr_args *args)
{
    const struct sr_opt *o = sr_opts_toolset;
    const char *region = sr_arg(args, o, "region");
    const char *out = sr_arg(args, o, "out") ? sr_arg(args, o, "out") : ".";
    if (region == NULL) {
        sr_cli_detail(cli, "--region is required, e.g. --region EU");
        return SR_ERR_USAGE;
    }
    struct sr_client c;
    SR_TRY(sr_client_init_public(cli, sr_arg(args, o, "vault-url"), sr_arg(args, o, "ca-file"), &c));
    SR_AUTO_BUF struct sr_buf list_bytes = {0};
    sr_buf_init(&list_bytes, 1u << 20, SR_BUF_PLAIN);
    SR_TRY(sr_client_download(cli, &c, "/byok/toolsets", &list_bytes));
    SR_AUTO_JSON json_t *list = json_loadb((const char *)list_bytes.data, list_bytes.len, 0, NULL);
    const char *name = NULL, *published = NULL;
    size_t i;
    const json_t *e;
    json_array_foreach(json_object_get(list, "value"), i, e) {
        const char *r = json_string_value(json_object_get(e, "region"));
        if (r != NULL && strcmp(r, region) == 0) {
            name = json_string_value(json_object_get(e, "name"));
            published = json_string_value(json_object_get(e, "sha256"));
        }
    }
    if (name == NULL || published == NULL) {
        sr_cli_detail(cli, "the vault publishes no toolset for region %s", region);
        return SR_ERR_NOT_FOUND;
    }
    char path[SR_PATH_MAX], url[256], hash[65];
    snprintf(url, sizeof(url), "/byok/toolsets/%s", name);
    SR_AUTO_BUF struct sr_buf zip = {0};
    sr_buf_init(&zip, 16u << 20, SR_BUF_PLAIN);
    SR_TRY(sr_client_download(cli, &c, url, &zip));
    SR_TRY(sr_dir_make(out));
    SR_TRY(sr_path_join(path, sizeof(path), out, name));
    SR_TRY(sr_file_write_atomic(path, zip.data, zip.len, SR_WRITE_REPLACE));
    SR_TRY(sr_file_sha256(path, hash));
    sr_print_file_hash(cli->out, hash, path);
    if (strcasecmp(hash, published) != 0) {
        (void)!sr_file_remove(path);
        sr_cli_detail(cli, "%s has SHA-256 %s but the published list says %s; it was removed", name, hash, published);
        return SR_ERR_PACKAGE;
    }
    fprintf(cli->out, "SHA-256 matches the published list.\n");
    SR_TRY(sr_toolset_unpack(path, out));
    fprintf(cli->out, "Unpacked into %s: BYOK-KEK-pkg-%s-1, BYOK-SecurityWorld-pkg-%s-1, README.txt\n", out, region,
            region);
    return SR_OK;
}

static enum sr_err sr_cmd_toolset_hash(struct sr_cli *cli, const struct sr_args *args)
{
    char hash[65];
    enum sr_err r = sr_file_sha256(args->pos[0], hash);
    if (r != SR_OK) {
        sr_cli_detail(cli, "cannot read %s", args->pos[0]);
        return r;
    }
    sr_print_file_hash(cli->out, hash, args->pos[0]);
    return SR_OK;
}

const struct sr_cmd sr_cmds_toolset[] = {
    {"download", sr_cmd_toolset_download, 0, 0, 0, sr_opts_toolset, NULL,
     "toolset download --vault-url URL --region R [--out DIR]",
     "fetch a region's BYOK toolset, check its SHA-256 against the published list, unpack it"},
    {"hash", sr_cmd_toolset_hash, 0, 1, 1, NULL, NULL, "toolset hash FILE", "print a file's SHA-256 (Get-FileHash)"},
    {NULL, NULL, 0, 0, 0, NULL, NULL, NULL, NULL},
};

/* --- keytransfer --- */

static const struct sr_opt sr_opts_keytransfer[] = {
    {"key-app-name", "-KeyAppName", true, "the key's application (simple)"},
    {"key-identifier", "-KeyIdentifier", true, "the key's ident"},
    {"pin-file", NULL, true, "-KeyAppName pkcs11: a file whose first line is the PKCS#11 user PIN (default: typed)"},
    {"exchange-key-package", "-ExchangeKeyPackage", true, "the vault's KEK package"},
    {"new-security-world-package", "-NewSecurityWorldPackage", true, "the vault's Security World package"},
    {"subscription-id", "-SubscriptionId", true, "package: the subscription the key is for"},
    {"key-friendly-name", "-KeyFriendlyName", true, "package: the key's name in the vault"},
    {"kek-public-key", NULL, true, "instead of packages: a KEK public key (PEM) from 'key download'"},
    {"kek-id", NULL, true, "with --kek-public-key: the KEK's kid"},
    {"root-fingerprint", NULL, true, "the root to require (default: the one pinned with 'root trust')"},
    {"cards", NULL, true, "modify-acls: the administrator cards inserted, e.g. 1,3"},
    {"card-dir", NULL, true, "where the card files are"},
    {"pin-file", NULL, true, "one PIN a line, card 1 first"},
    {NULL, NULL, false, NULL},
};

static const char *sr_kt(const struct sr_args *a, const char *name)
{
    return sr_arg(a, sr_opts_keytransfer, name);
}

/* The KEK and where it lives: verified packages, or a public key for the "new method". */
static enum sr_err sr_kek_target(struct sr_cli *cli, const struct sr_args *a, struct sr_kek_package *pkg,
                                 struct sr_export_target *target)
{
    memset(target, 0, sizeof(*target));
    const char *pem = sr_kt(a, "kek-public-key");
    if (pem != NULL) {
        const char *kid = sr_kt(a, "kek-id");
        if (kid == NULL || strlen(kid) >= sizeof(target->kek_kid)) {
            sr_cli_detail(cli, "--kek-public-key needs --kek-id, the KEK's kid as 'key show' prints it");
            return SR_ERR_USAGE;
        }
        SR_AUTO_BUF struct sr_buf text = {0};
        SR_TRY(sr_read_small(cli, pem, &text));
        SR_AUTO_BIO BIO *bio = BIO_new_mem_buf(text.data, (int)text.len);
        SR_ENSURE(bio != NULL, SR_ERR_NOMEM);
        pkg->kek = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
        if (pkg->kek == NULL) {
            sr_cli_detail(cli, "%s is not a PEM public key", pem);
            return SR_ERR_KEY_TYPE;
        }
        SR_TRY(sr_pkey_public_hash(pkg->kek, pkg->kek_hash));
        snprintf(pkg->kid, sizeof(pkg->kid), "%.127s", kid);
        strcpy(target->kek_kid, kid);
        return SR_OK;
    }
    const char *k = sr_kt(a, "exchange-key-package");
    const char *w = sr_kt(a, "new-security-world-package");
    if (k == NULL || w == NULL) {
        sr_cli_detail(cli, "give --exchange-key-package and --new-security-world-package (or --kek-public-key "
                           "and --kek-id)");
        return SR_ERR_USAGE;
    }
    SR_TRY(sr_verify_packages(cli, k, w, sr_kt(a, "root-fingerprint"), false, pkg));
    snprintf(target->kek_kid, sizeof(target->kek_kid), "%s", pkg->kid);
    snprintf(target->region, sizeof(target->region), "%s", pkg->region);
    memcpy(target->world_id, pkg->world_id, sizeof(target->world_id));
    memcpy(target->world_hkm, pkg->world_hkm, SR_HASH_LEN);
    return SR_OK;
}

static enum sr_err sr_cmd_modify_acls(struct sr_cli *cli, const struct sr_args *a)
{
    const char *app = sr_kt(a, "key-app-name") ? sr_kt(a, "key-app-name") : "simple";
    const char *ident = sr_kt(a, "key-identifier");
    if (ident == NULL) {
        sr_cli_detail(cli, "--key-identifier is required");
        return SR_ERR_USAGE;
    }
    SR_TRY(sr_cli_app_login(cli, app, sr_kt(a, "pin-file")));
    SR_TRY(sr_ident_check(ident));
    SR_AUTO_KEKPKG struct sr_kek_package pkg = {0};
    struct sr_export_target target;
    SR_TRY(sr_kek_target(cli, a, &pkg, &target));
    /* = seeds: "copy with reduced permissions (admin cards)": the ACS quorum authorises the ACL change. */
    struct sr_world_info world;
    SR_TRY(sr_module_world_info(cli->module, &world));
    unsigned cards[SR_MAX_CARDS];
    unsigned ncards = 0;
    SR_AUTO_PINS struct sr_pins pins = {0};
    SR_TRY(sr_cards_collect(cli, sr_kt(a, "cards"), sr_kt(a, "pin-file"), world.quorum_k, world.quorum_n, cards,
                            &ncards, &pins));
    SR_TRY(sr_world_check_quorum(cli->module, sr_kt(a, "card-dir"), cards, ncards, &pins));
    struct sr_key_info info;
    SR_TRY(sr_key_reduce_for_export(cli->module, app, ident, pkg.kek_hash, &target, &info));
    char hash[2 * SR_HASH_LEN + 1];
    sr_hex_encode(pkg.kek_hash, SR_HASH_LEN, hash);
    fprintf(cli->out, "Copied key_%s_%s to key_xferacld_%s with reduced permissions:\n    Action: ExportToKey: key hash %s\n"
                      "  bound to %s%s%s\nResult: SUCCESS\n",
            app, ident, ident, hash, target.kek_kid, target.region[0] ? " in region " : "", target.region);
    return SR_OK;
}

static enum sr_err sr_friendly_name_check(struct sr_cli *cli, const char *name)
{
    size_t len = name ? strlen(name) : 0;
    bool ok = len >= 1 && len <= 127;
    for (size_t i = 0; ok && i < len; i++) {
        char c = name[i];
        ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
    }
    if (!ok) {
        sr_cli_detail(cli, "--key-friendly-name is required: 1 to 127 characters of 0-9, a-z, A-Z and '-'");
        return SR_ERR_USAGE;
    }
    return SR_OK;
}

static enum sr_err sr_cmd_package(struct sr_cli *cli, const struct sr_args *a)
{
    const char *ident = sr_kt(a, "key-identifier");
    const char *app = sr_kt(a, "key-app-name");
    const char *name = sr_kt(a, "key-friendly-name");
    if (ident == NULL) {
        sr_cli_detail(cli, "--key-identifier is required");
        return SR_ERR_USAGE;
    }
    SR_TRY(sr_ident_check(ident));
    SR_TRY(sr_friendly_name_check(cli, name));
    char path[SR_PATH_MAX];
    SR_TRY(sr_key_path(cli->module, "xferacld", ident, path, sizeof(path)));
    if ((app != NULL && strcmp(app, "xferacld") != 0) || !sr_file_exists(path)) {
        sr_cli_detail(cli, "run 'strongroom keytransfer modify-acls --key-identifier %s ...' first", ident);
        return SR_ERR_NOT_XFER_COPY;
    }
    SR_AUTO_KEKPKG struct sr_kek_package pkg = {0};
    struct sr_export_target target;
    SR_TRY(sr_kek_target(cli, a, &pkg, &target));
    char binding[512] = "";
    if (target.region[0] != 0) {
        const char *sub = sr_kt(a, "subscription-id");
        if (sub == NULL || *sub == 0 || strlen(sub) > 64) {
            sr_cli_detail(cli, "--subscription-id is required for a region KEK: the package is bound to it");
            return SR_ERR_USAGE;
        }
        SR_TRY(sr_binding_make(sub, target.region, target.world_hkm, binding, sizeof(binding)));
    }
    SR_AUTO_BUF struct sr_buf ct = {0};
    sr_buf_init(&ct, 64u * 1024u, SR_BUF_PLAIN);
    struct sr_key_info info;
    SR_TRY(sr_key_export_wrapped(cli->module, ident, pkg.kek, (const uint8_t *)binding, strlen(binding), &ct, &info));
    /* The reduced copy remembers where it may go: the packages given now must be those. */
    if (!info.has_target || strcmp(info.target.kek_kid, target.kek_kid) != 0 ||
        strcmp(info.target.region, target.region) != 0 ||
        memcmp(info.target.world_hkm, target.world_hkm, SR_HASH_LEN) != 0) {
        sr_cli_detail(cli, "key_xferacld_%s was made for %s, not for %s", ident, info.target.kek_kid, target.kek_kid);
        return SR_ERR_ACL_DENIED;
    }
    SR_AUTO_BUF struct sr_buf json = {0};
    sr_buf_init(&json, 256u * 1024u, SR_BUF_PLAIN);
    SR_TRY(sr_byok_write(target.kek_kid, binding, &ct, &json));
    char file[256];
    snprintf(file, sizeof(file), "KeyTransferPackage-%s.byok", name);
    enum sr_err r = sr_file_write_atomic(file, json.data, json.len, SR_WRITE_CREATE);
    if (r == SR_ERR_EXISTS) {
        sr_cli_detail(cli, "%s exists; move it away or pick another --key-friendly-name", file);
    }
    SR_TRY(r);
    fprintf(cli->out, "Wrote %s: key_xferacld_%s encrypted under %s%s%s\nResult: SUCCESS\n", file, ident,
            target.kek_kid, binding[0] ? ", bound to " : "", binding);
    return SR_OK;
}

#define SR_KT_FLAGS (SR_CMD_MODULE | SR_CMD_EXISTING | SR_CMD_MODE_O | SR_CMD_NEEDS_WORLD)
#define SR_KT_MODIFY_USAGE                                                                                       \
    "keytransfer modify-acls --key-app-name simple --key-identifier ID --exchange-key-package K "              \
    "--new-security-world-package W --cards 1,3 [--pin-file F]"
#define SR_KT_PACKAGE_USAGE                                                                                      \
    "keytransfer package --key-identifier ID --exchange-key-package K --new-security-world-package W "         \
    "--subscription-id S --key-friendly-name NAME"

const struct sr_cmd sr_cmds_keytransfer[] = {
    {"modify-acls", sr_cmd_modify_acls, SR_KT_FLAGS, 0, 0, sr_opts_keytransfer, NULL, SR_KT_MODIFY_USAGE,
     "copy a key with its only permission ExportToKey of the vault's KEK (needs the admin card quorum)"},
    {"-ModifyAcls", sr_cmd_modify_acls, SR_KT_FLAGS, 0, 0, sr_opts_keytransfer, NULL, SR_KT_MODIFY_USAGE,
     "the guide's spelling of modify-acls"},
    {"package", sr_cmd_package, SR_KT_FLAGS, 0, 0, sr_opts_keytransfer, NULL, SR_KT_PACKAGE_USAGE,
     "encrypt the reduced copy under the vault's KEK: KeyTransferPackage-NAME.byok"},
    {"-Package", sr_cmd_package, SR_KT_FLAGS, 0, 0, sr_opts_keytransfer, NULL, SR_KT_PACKAGE_USAGE,
     "the guide's spelling of package"},
    {NULL, NULL, 0, 0, 0, NULL, NULL, NULL, NULL},
};

/* --- vault show --- */

const struct sr_opt sr_opts_vault_show[] = {
    SR_OPTS_CLIENT,
    {"output", "-o", true, SR_OUTPUT_HELP},
    {NULL, NULL, false, NULL},
};

enum sr_err sr_cmd_vault_show(struct sr_cli *cli, const struct sr_args *args)
{
    static const struct sr_column cols[] = {
        {"name", "vault"}, {"region", "region"}, {"subscriptionId", "subscription id"}, {"url", "url"}, {NULL, NULL},
    };
    const struct sr_opt *o = sr_opts_vault_show;
    enum sr_output format;
    SR_TRY(sr_output_parse(cli, sr_arg(args, o, "output"), &format));
    struct sr_client c;
    SR_TRY(sr_client_init(cli, sr_arg(args, o, "vault-url"), sr_arg(args, o, "ca-file"), sr_arg(args, o, "token"), &c));
    SR_AUTO_JSON json_t *v = NULL;
    SR_TRY(sr_client_call(cli, &c, "GET", "/byok/vault", NULL, &v));
    return sr_output_object(cli, format, v, cols);
}

