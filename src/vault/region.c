/* region.c - regions (one module and security world each) and vaults, as the operator makes them. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/fileio.h"
#include "byok/byok.h"
#include "crypto/ossl.h"
#include "hsm/transfer.h"
#include "vault/internal.h"

enum sr_err sr_region_name_check(const char *name)
{
    size_t len = strlen(name);
    SR_ENSURE(len >= 1 && len <= SR_MAX_REGION, SR_ERR_REGION_NAME);
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        SR_ENSURE((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-', SR_ERR_REGION_NAME);
    }
    return SR_OK;
}

enum sr_err sr_vault_name_check(const char *name)
{
    size_t len = strlen(name);
    SR_ENSURE(len >= 3 && len <= 24 && name[0] >= 'a' && name[0] <= 'z', SR_ERR_VAULT_NAME);
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        SR_ENSURE((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-', SR_ERR_VAULT_NAME);
    }
    return SR_OK;
}

enum sr_err sr_region_kmdata(const char *data_dir, const char *region, char *out, size_t cap)
{
    SR_TRY(sr_region_name_check(region));
    int n = snprintf(out, cap, "%s/regions/%s/kmdata", data_dir, region);
    SR_ENSURE(n > 0 && (size_t)n < cap, SR_ERR_TOO_LARGE);
    return SR_OK;
}

static enum sr_err sr_region_root(const char *data_dir, char *out, size_t cap)
{
    SR_TRY(sr_path_join(out, cap, data_dir, "root"));
    uint8_t fp[SR_HASH_LEN];
    enum sr_err r = sr_root_fingerprint(out, fp);
    if (r == SR_ERR_NO_ROOT) {
        return sr_root_init(out, fp); /* the operator's first region makes the root */
    }
    return r;
}

enum sr_err sr_region_create(const char *data_dir, struct sr_store *store, const struct sr_region_params *params,
                             const struct sr_pins *pins)
{
    SR_TRY(sr_region_name_check(params->name));
    SR_ENSURE(store->ops->region_exists(store, params->name) == SR_ERR_NOT_FOUND, SR_ERR_EXISTS);
    char kmdata[SR_PATH_MAX];
    char root[SR_PATH_MAX];
    char cards[SR_PATH_MAX];
    SR_TRY(sr_region_kmdata(data_dir, params->name, kmdata, sizeof(kmdata)));
    int n = params->card_dir ? snprintf(cards, sizeof(cards), "%s", params->card_dir)
                             : snprintf(cards, sizeof(cards), "%s/regions/%s/cards", data_dir, params->name);
    SR_ENSURE(n > 0 && (size_t)n < sizeof(cards), SR_ERR_TOO_LARGE);
    SR_TRY(sr_region_root(data_dir, root, sizeof(root)));
    SR_AUTO_MODULE struct sr_module *m = NULL;
    SR_TRY(sr_module_open(kmdata, &m));
    SR_TRY(sr_root_warrant_module(root, m));
    SR_TRY(sr_module_set_mode(m, 'I'));
    struct sr_world_params wp = {.suite = "DLf3072s256mAEScSP800131Ar1", .quorum_k = params->quorum_k,
                                 .quorum_n = params->quorum_n, .card_dir = cards};
    struct sr_world_info world;
    SR_TRY(sr_world_create(m, &wp, pins, &world));
    SR_TRY(sr_module_set_mode(m, 'O'));
    /* = SPEC §3: each region has its own KEK, generated inside the region's module, never exportable. */
    unsigned bits = params->kek_bits ? params->kek_bits : 3072;
    SR_ENSURE(bits == 2048 || bits == 3072 || bits == 4096, SR_ERR_KEY_TYPE);
    SR_AUTO_PKEY EVP_PKEY *kek = NULL;
    SR_TRY(sr_kek_generate(m, SR_KEK_IDENT, bits, &kek));
    char dir[SR_PATH_MAX];
    char zip_name[128];
    char zip_path[SR_PATH_MAX];
    SR_TRY(sr_region_toolset_dir(data_dir, params->name, dir, sizeof(dir)));
    SR_TRY(sr_packages_make(m, params->name, dir));
    sr_toolset_name(params->name, zip_name, sizeof(zip_name));
    SR_TRY(sr_path_join(zip_path, sizeof(zip_path), dir, zip_name));
    SR_TRY(sr_toolset_make(dir, params->name, zip_path));
    /* The published hash is fixed when the toolset is made, not recomputed from the file served:
     * a zip changed afterwards no longer matches the list. */
    char hash[65], sums[SR_PATH_MAX], line[256];
    SR_TRY(sr_file_sha256(zip_path, hash));
    SR_TRY(sr_path_join(sums, sizeof(sums), dir, "SHA256SUMS"));
    int len = snprintf(line, sizeof(line), "%s  %s\n", hash, zip_name);
    SR_ENSURE(len > 0 && (size_t)len < sizeof(line), SR_ERR_TOO_LARGE);
    SR_TRY(sr_file_write_atomic(sums, line, (size_t)len, SR_WRITE_CREATE));
    return sr_store_region_put(store, params->name, (long long)time(NULL));
}

enum sr_err sr_vault_create(struct sr_store *store, const char *name, const char *region, const char *subscription)
{
    SR_TRY(sr_vault_name_check(name));
    SR_TRY(sr_region_name_check(region));
    SR_ENSURE(subscription != NULL && strlen(subscription) > 0 && strlen(subscription) < 64, SR_ERR_USAGE);
    SR_ENSURE(store->ops->region_exists(store, region) == SR_OK, SR_ERR_NOT_FOUND);
    struct sr_vault_row v = {.created = (long long)time(NULL)};
    snprintf(v.name, sizeof(v.name), "%s", name);
    snprintf(v.region, sizeof(v.region), "%s", region);
    snprintf(v.subscription, sizeof(v.subscription), "%s", subscription);
    return sr_store_vault_put(store, &v);
}

enum sr_err sr_region_toolset_dir(const char *data_dir, const char *region, char *out, size_t cap)
{
    SR_TRY(sr_region_name_check(region));
    int n = snprintf(out, cap, "%s/regions/%s/toolset", data_dir, region);
    SR_ENSURE(n > 0 && (size_t)n < cap, SR_ERR_TOO_LARGE);
    return SR_OK;
}

struct sr_toolset_list {
    const char *data_dir;
    json_t *value;
};

static enum sr_err sr_toolset_entry(void *ctx, const char *region)
{
    struct sr_toolset_list *l = ctx;
    char dir[SR_PATH_MAX], name[128], path[SR_PATH_MAX], hash[65];
    SR_TRY(sr_region_toolset_dir(l->data_dir, region, dir, sizeof(dir)));
    sr_toolset_name(region, name, sizeof(name));
    SR_TRY(sr_path_join(path, sizeof(path), dir, "SHA256SUMS"));
    SR_AUTO_BUF struct sr_buf sums = {0};
    sr_buf_init(&sums, 4096, SR_BUF_PLAIN);
    if (sr_file_read(path, &sums) != SR_OK) {
        return SR_OK; /* a region made before toolsets existed has none */
    }
    SR_ENSURE(sums.len > 64 && sums.data[64] == ' ', SR_ERR_IO);
    memcpy(hash, sums.data, 64);
    hash[64] = 0;
    json_t *e = json_pack("{s:s,s:s,s:s}", "region", region, "name", name, "sha256", hash);
    SR_ENSURE(e != NULL && json_array_append_new(l->value, e) == 0, SR_ERR_NOMEM);
    return SR_OK;
}

enum sr_err sr_vault_toolsets(struct sr_vault_svc *svc, json_t **ret)
{
    struct sr_toolset_list l = {.data_dir = svc->data_dir, .value = json_array()};
    SR_ENSURE(l.value != NULL, SR_ERR_NOMEM);
    enum sr_err r = svc->store->ops->region_each(svc->store, sr_toolset_entry, &l);
    if (r != SR_OK) {
        json_decref(l.value);
        return r;
    }
    *ret = json_pack("{s:o}", "value", l.value);
    SR_ENSURE(*ret != NULL, SR_ERR_NOMEM);
    return SR_OK;
}

enum sr_err sr_vault_toolset_bytes(struct sr_vault_svc *svc, const char *name, struct sr_buf *out)
{
    /* KeyVault-BYOK-Tools-<REGION>.zip, and nothing else: the name never becomes a free path. */
    const char *prefix = "KeyVault-BYOK-Tools-";
    size_t plen = strlen(prefix);
    size_t len = strlen(name);
    SR_ENSURE(len > plen + 4 && strncmp(name, prefix, plen) == 0 && strcmp(name + len - 4, ".zip") == 0,
              SR_ERR_ROUTE);
    char region[SR_MAX_REGION + 1];
    SR_ENSURE(len - plen - 4 <= SR_MAX_REGION, SR_ERR_ROUTE);
    memcpy(region, name + plen, len - plen - 4);
    region[len - plen - 4] = 0;
    SR_ENSURE(sr_region_name_check(region) == SR_OK, SR_ERR_ROUTE);
    SR_ENSURE(svc->store->ops->region_exists(svc->store, region) == SR_OK, SR_ERR_ROUTE);
    char dir[SR_PATH_MAX], path[SR_PATH_MAX];
    SR_TRY(sr_region_toolset_dir(svc->data_dir, region, dir, sizeof(dir)));
    SR_TRY(sr_path_join(path, sizeof(path), dir, name));
    enum sr_err r = sr_file_read(path, out);
    return r == SR_ERR_NOT_FOUND ? SR_ERR_ROUTE : r;
}
