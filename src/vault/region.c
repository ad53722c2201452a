/* region.c - regions (one module and security world each) and vaults, as the operator makes them. */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#include "base/fileio.h"
#include "byok/byok.h"
#include "crypto/ossl.h"
#include "hsm/backend_p11.h"
#include "hsm/km0.h"
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

enum sr_err sr_region_hsm_dir(const char *data_dir, const char *region, char *out, size_t cap)
{
    SR_TRY(sr_region_name_check(region));
    int n = snprintf(out, cap, "%s/regions/%s/hsm", data_dir, region);
    SR_ENSURE(n > 0 && (size_t)n < cap, SR_ERR_TOO_LARGE);
    return SR_OK;
}

enum sr_err sr_region_cards(const char *data_dir, const char *region, const char *card_dir, char *out, size_t cap)
{
    int n = card_dir ? snprintf(out, cap, "%s", card_dir) : snprintf(out, cap, "%s/regions/%s/cards", data_dir, region);
    SR_ENSURE(n > 0 && (size_t)n < cap, SR_ERR_TOO_LARGE);
    return SR_OK;
}

static enum sr_err sr_region_root(const char *data_dir, struct sr_seal_config *seal, char *out, size_t cap)
{
    SR_TRY(sr_path_join(out, cap, data_dir, "root"));
    uint8_t fp[SR_HASH_LEN];
    enum sr_err r = sr_root_fingerprint(out, fp);
    if (r == SR_ERR_NO_ROOT) {
        return sr_root_init(out, seal, fp); /* the operator's first region makes the root */
    }
    return r;
}

/* --- what another server needs to join a region, besides a quorum of its cards --- */

/* The region's world file, its KEK's key file and every toolset file, as held in the store. */
#define SR_REGION_FILES_MAX 16

struct sr_region_bundle {
    struct sr_region_file files[SR_REGION_FILES_MAX];
    char names[SR_REGION_FILES_MAX][SR_MAX_NAME + 1];
    struct sr_buf data[SR_REGION_FILES_MAX];
    size_t n;
};

static void sr_region_bundle_release(struct sr_region_bundle *b)
{
    for (size_t i = 0; i < b->n; i++) {
        sr_buf_release(&b->data[i]);
    }
    b->n = 0;
}

static enum sr_err sr_region_bundle_add(void *ctx, const char *name, const uint8_t *data, size_t len)
{
    struct sr_region_bundle *b = ctx;
    SR_ENSURE(b->n < SR_REGION_FILES_MAX && strlen(name) <= SR_MAX_NAME, SR_ERR_TOO_LARGE);
    size_t i = b->n;
    sr_buf_init(&b->data[i], SR_MAX_FILE, SR_BUF_PLAIN);
    b->n++;
    SR_TRY(sr_buf_append(&b->data[i], data, len));
    snprintf(b->names[i], sizeof(b->names[i]), "%s", name);
    b->files[i] = (struct sr_region_file){.name = b->names[i], .data = b->data[i].data, .len = len};
    return SR_OK;
}

/* An HSM region's region.json in a bundle; NULL for a software region's. */
static const struct sr_region_file *sr_region_bundle_hsm(const struct sr_region_bundle *b)
{
    for (size_t i = 0; i < b->n; i++) {
        if (strcmp(b->files[i].name, "hsm/region.json") == 0) {
            return &b->files[i];
        }
    }
    return NULL;
}

/* Where a bundle file lives under DATA/regions/R: the world and KEK in the module, the rest in toolset/. */
static enum sr_err sr_region_file_path(const char *region_dir, const char *name, char *out, size_t cap)
{
    int n;
    if (strcmp(name, "hsm/region.json") == 0) {
        n = snprintf(out, cap, "%s/%s", region_dir, name);
    } else if (strncmp(name, "toolset/", 8) == 0) {
        SR_ENSURE(strchr(name + 8, '/') == NULL && name[8] != '.' && name[8] != 0, SR_ERR_IO);
        n = snprintf(out, cap, "%s/%s", region_dir, name);
    } else {
        SR_ENSURE(strcmp(name, "world") == 0 || strncmp(name, "key_byok_", 9) == 0, SR_ERR_IO);
        SR_ENSURE(strchr(name, '/') == NULL, SR_ERR_IO);
        n = snprintf(out, cap, "%s/kmdata/local/%s", region_dir, name);
    }
    SR_ENSURE(n > 0 && (size_t)n < cap, SR_ERR_TOO_LARGE);
    return SR_OK;
}

static enum sr_err sr_region_bundle_read(const char *data_dir, const char *region, struct sr_region_bundle *b)
{
    char region_dir[SR_PATH_MAX], path[SR_PATH_MAX], toolset[SR_PATH_MAX];
    int n = snprintf(region_dir, sizeof(region_dir), "%s/regions/%s", data_dir, region);
    SR_ENSURE(n > 0 && (size_t)n < sizeof(region_dir), SR_ERR_TOO_LARGE);
    static const char *const module_files[] = {"world", "key_byok_" SR_KEK_IDENT};
    static const char *const hsm_files[] = {"hsm/region.json"};
    char hsm_dir[SR_PATH_MAX];
    SR_TRY(sr_region_hsm_dir(data_dir, region, hsm_dir, sizeof(hsm_dir)));
    bool hsm = sr_file_exists(hsm_dir);
    for (size_t i = 0; i < (hsm ? SR_ARRAY_LEN(hsm_files) : SR_ARRAY_LEN(module_files)); i++) {
        const char *file = hsm ? hsm_files[i] : module_files[i];
        SR_TRY(sr_region_file_path(region_dir, file, path, sizeof(path)));
        SR_AUTO_BUF struct sr_buf data = {0};
        sr_buf_init(&data, SR_MAX_FILE, SR_BUF_PLAIN);
        SR_TRY(sr_file_read(path, &data));
        SR_TRY(sr_region_bundle_add(b, file, data.data, data.len));
    }
    SR_TRY(sr_region_toolset_dir(data_dir, region, toolset, sizeof(toolset)));
    DIR *d = opendir(toolset);
    SR_ENSURE(d != NULL, SR_ERR_IO);
    enum sr_err r = SR_OK;
    for (struct dirent *e = readdir(d); e != NULL && r == SR_OK; e = readdir(d)) {
        if (e->d_name[0] == '.') {
            continue;
        }
        char name[SR_MAX_NAME + 1];
        SR_AUTO_BUF struct sr_buf data = {0};
        sr_buf_init(&data, SR_MAX_FILE, SR_BUF_PLAIN);
        n = snprintf(name, sizeof(name), "toolset/%s", e->d_name);
        r = n > 0 && (size_t)n < sizeof(name) ? sr_path_join(path, sizeof(path), toolset, e->d_name) : SR_ERR_TOO_LARGE;
        if (r == SR_OK) {
            r = sr_file_read(path, &data);
        }
        if (r == SR_OK) {
            r = sr_region_bundle_add(b, name, data.data, data.len);
        }
    }
    closedir(d);
    return r;
}

static enum sr_err sr_region_bundle_write(const char *region_dir, const struct sr_region_bundle *b)
{
    for (size_t i = 0; i < b->n; i++) {
        char path[SR_PATH_MAX], dir[SR_PATH_MAX];
        SR_TRY(sr_region_file_path(region_dir, b->files[i].name, path, sizeof(path)));
        snprintf(dir, sizeof(dir), "%s", path);
        *strrchr(dir, '/') = 0;
        SR_TRY(sr_dir_make(dir));
        SR_TRY(sr_file_write_atomic(path, b->files[i].data, b->files[i].len, SR_WRITE_CREATE));
    }
    return SR_OK;
}

/* What every new region publishes, whatever its HSM: both packages signed by it, the toolset zip and its
 * hash, and the files another server needs to join, in the store. */
static enum sr_err sr_region_publish(const char *data_dir, struct sr_store *store, const char *name,
                                     const struct sr_hsm *h)
{
    char dir[SR_PATH_MAX];
    char zip_name[128];
    char zip_path[SR_PATH_MAX];
    SR_TRY(sr_region_toolset_dir(data_dir, name, dir, sizeof(dir)));
    SR_TRY(sr_packages_make(h, name, dir));
    sr_toolset_name(name, zip_name, sizeof(zip_name));
    SR_TRY(sr_path_join(zip_path, sizeof(zip_path), dir, zip_name));
    SR_TRY(sr_toolset_make(dir, name, zip_path));
    /* The published hash is fixed when the toolset is made, not recomputed from the file served:
     * a zip changed afterwards no longer matches the list. */
    char hash[65], sums[SR_PATH_MAX], line[256];
    SR_TRY(sr_file_sha256(zip_path, hash));
    SR_TRY(sr_path_join(sums, sizeof(sums), dir, "SHA256SUMS"));
    int len = snprintf(line, sizeof(line), "%s  %s\n", hash, zip_name);
    SR_ENSURE(len > 0 && (size_t)len < sizeof(line), SR_ERR_TOO_LARGE);
    SR_TRY(sr_file_write_atomic(sums, line, (size_t)len, SR_WRITE_CREATE));
    struct sr_region_bundle b = {0};
    enum sr_err r = sr_region_bundle_read(data_dir, name, &b);
    if (r == SR_OK) {
        r = sr_store_region_put(store, name, (long long)time(NULL), b.files, b.n);
    }
    sr_region_bundle_release(&b);
    return r;
}

/* A region on a PKCS#11 token: its identity key and KEK made in the token, the identity warranted by the root. */
static enum sr_err sr_region_create_hsm(const char *data_dir, struct sr_store *store,
                                        const struct sr_region_params *params, struct sr_seal_config *seal,
                                        const char *root)
{
    char dir[SR_PATH_MAX];
    SR_TRY(sr_region_hsm_dir(data_dir, params->name, dir, sizeof(dir)));
    SR_ENSURE(!sr_file_exists(dir), SR_ERR_EXISTS);
    SR_AUTO_HSM struct sr_hsm *h = NULL;
    enum sr_err r = sr_hsm_pkcs11_create(dir, params->hsm, params->kek_bits, &h, seal->diag, sizeof(seal->diag));
    SR_AUTO_PKEY EVP_PKEY *identity = NULL;
    if (r == SR_OK) {
        r = sr_hsm_pkcs11_identity(h, &identity);
    }
    if (r == SR_OK) {
        r = sr_root_warrant_key(root, seal, identity, sr_hsm_esn(h), dir);
    }
    if (r == SR_OK) {
        r = sr_region_publish(data_dir, store, params->name, h);
    }
    if (r != SR_OK && params->diag != NULL) {
        snprintf(params->diag, params->diag_cap, "%s", seal->diag);
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
    SR_TRY(sr_region_cards(data_dir, params->name, params->card_dir, cards, sizeof(cards)));
    struct sr_seal_config seal;
    SR_TRY(sr_seal_config_read(data_dir, &seal));
    SR_TRY(sr_region_root(data_dir, &seal, root, sizeof(root)));
    /* = SPEC §3: each region has its own KEK, generated inside the region's module, never exportable. */
    unsigned bits = params->kek_bits ? params->kek_bits : 3072;
    SR_ENSURE(bits == 2048 || bits == 3072 || bits == 4096, SR_ERR_KEY_TYPE);
    if (params->hsm != NULL) {
        struct sr_region_params p = *params;
        p.kek_bits = bits;
        return sr_region_create_hsm(data_dir, store, &p, &seal, root);
    }
    SR_AUTO_MODULE struct sr_module *m = NULL;
    SR_TRY(sr_module_open_sealed(kmdata, &seal, &m));
    SR_TRY(sr_root_warrant_module(root, &seal, m));
    SR_TRY(sr_module_set_mode(m, 'I'));
    struct sr_world_params wp = {.suite = "DLf3072s256mAEScSP800131Ar1", .quorum_k = params->quorum_k,
                                 .quorum_n = params->quorum_n, .card_dir = cards};
    struct sr_world_info world;
    SR_TRY(sr_world_create(m, &wp, pins, &world));
    SR_TRY(sr_module_set_mode(m, 'O'));
    SR_AUTO_PKEY EVP_PKEY *kek = NULL;
    SR_TRY(sr_kek_generate(m, SR_KEK_IDENT, bits, &kek));
    SR_AUTO_HSM struct sr_hsm *h = NULL;
    SR_TRY(sr_hsm_software(SR_TAKE(m), &h));
    return sr_region_publish(data_dir, store, params->name, h);
}

/*
 * As a second nShield joins an existing security world: this server's own module (its own KM0 and
 * warrant) loads the region's world from a quorum of the region's cards, and takes the world file, the
 * KEK's key file and the toolset from the store. Built in DATA/regions/.join-R and moved into DATA/regions/R
 * (which may already hold the inserted cards) only when the cards proved the world: a refused join (too
 * few cards, a wrong PIN, another world's cards) leaves nothing behind.
 */
/* A join's staged toolset and HSM (kmdata, or hsm) moved into DATA/regions/R: the toolset first, the HSM last, as
 * the HSM in place is what says the region is joined. */
static enum sr_err sr_region_join_place(const char *region_dir, const char *staging, const char *hsm)
{
    char placed[SR_PATH_MAX], staged[SR_PATH_MAX], placed_toolset[SR_PATH_MAX], staged_toolset[SR_PATH_MAX];
    SR_TRY(sr_path_join(placed, sizeof(placed), region_dir, hsm));
    SR_TRY(sr_path_join(staged, sizeof(staged), staging, hsm));
    SR_TRY(sr_path_join(placed_toolset, sizeof(placed_toolset), region_dir, "toolset"));
    SR_TRY(sr_path_join(staged_toolset, sizeof(staged_toolset), staging, "toolset"));
    SR_TRY(sr_dir_make(region_dir));
    SR_TRY(sr_dir_remove_tree(placed_toolset));
    SR_ENSURE(rename(staged_toolset, placed_toolset) == 0 && rename(staged, placed) == 0, SR_ERR_IO);
    return SR_OK;
}

/* DATA/regions, if a refused join made it: rmdir leaves a directory with anything in it. */
static void sr_region_join_undo(const char *data_dir)
{
    char regions[SR_PATH_MAX];
    snprintf(regions, sizeof(regions), "%s/regions", data_dir);
    (void)rmdir(regions);
}

/*
 * Another node of an HSM region: no cards, the token's own login is the proof. This node opens the token by its own
 * URI (params->hsm: its module path and PIN source; else the recorded one), which must prove to be the region's
 * (sr_hsm_pkcs11_join), and warrants the token's identity key by this server's root, as a software join warrants
 * its module. Staged in DATA/regions/.join-R as the software join is; hsm/ moved into place last.
 */
static enum sr_err sr_region_join_hsm(const char *data_dir, const struct sr_join_params *params,
                                      const struct sr_region_bundle *b, const char *region_dir, const char *staging)
{
    const struct sr_region_file *json = sr_region_bundle_hsm(b);
    SR_ENSURE(json != NULL, SR_ERR_REGION_NO_FILES);
    char placed[SR_PATH_MAX], staged[SR_PATH_MAX], root[SR_PATH_MAX];
    SR_TRY(sr_path_join(placed, sizeof(placed), region_dir, "hsm"));
    SR_ENSURE(!sr_file_exists(placed), SR_ERR_REGION_JOINED);
    SR_TRY(sr_path_join(staged, sizeof(staged), staging, "hsm"));
    SR_TRY(sr_dir_remove_tree(staging)); /* what a join killed half-way left */
    /* The toolset as the store holds it; region.json is written by the join, with this node's URI. */
    struct sr_region_bundle toolset = {0};
    enum sr_err r = SR_OK;
    for (size_t i = 0; i < b->n && r == SR_OK; i++) {
        if (&b->files[i] != json) {
            r = sr_region_bundle_add(&toolset, b->files[i].name, b->files[i].data, b->files[i].len);
        }
    }
    if (r == SR_OK) {
        r = sr_region_bundle_write(staging, &toolset);
    }
    sr_region_bundle_release(&toolset);
    SR_TRY(r);
    struct sr_seal_config seal;
    SR_TRY(sr_seal_config_read(data_dir, &seal));
    SR_AUTO_HSM struct sr_hsm *h = NULL;
    r = sr_hsm_pkcs11_join(staged, json->data, json->len, params->hsm, &h, seal.diag, sizeof(seal.diag));
    SR_AUTO_PKEY EVP_PKEY *identity = NULL;
    if (r == SR_OK) {
        r = sr_hsm_pkcs11_identity(h, &identity);
    }
    if (r == SR_OK) {
        r = sr_region_root(data_dir, &seal, root, sizeof(root));
    }
    if (r == SR_OK) {
        r = sr_root_warrant_key(root, &seal, identity, sr_hsm_esn(h), staged);
    }
    if (r == SR_OK) {
        r = sr_region_join_place(region_dir, staging, "hsm");
    }
    if (r != SR_OK && params->diag != NULL) {
        snprintf(params->diag, params->diag_cap, "%s", seal.diag);
    }
    return r;
}

enum sr_err sr_region_join(const char *data_dir, struct sr_store *store, const struct sr_join_params *params,
                           const struct sr_pins *pins)
{
    SR_TRY(sr_region_name_check(params->name));
    SR_ENSURE(store->ops->region_exists(store, params->name) == SR_OK, SR_ERR_NOT_FOUND);
    char region_dir[SR_PATH_MAX], staging[SR_PATH_MAX], kmdata[SR_PATH_MAX], root[SR_PATH_MAX];
    int n = snprintf(region_dir, sizeof(region_dir), "%s/regions/%s", data_dir, params->name);
    SR_ENSURE(n > 0 && (size_t)n < sizeof(region_dir), SR_ERR_TOO_LARGE);
    char placed[SR_PATH_MAX];
    SR_TRY(sr_path_join(placed, sizeof(placed), region_dir, "kmdata"));
    /* DATA/regions/R may exist already, holding the inserted cards: only a module there means joined. */
    SR_ENSURE(!sr_file_exists(placed), SR_ERR_REGION_JOINED);
    n = snprintf(staging, sizeof(staging), "%s/regions/.join-%s", data_dir, params->name);
    SR_ENSURE(n > 0 && (size_t)n < sizeof(staging), SR_ERR_TOO_LARGE);
    SR_TRY(sr_path_join(kmdata, sizeof(kmdata), staging, "kmdata"));
    struct sr_region_bundle b = {0};
    enum sr_err r = store->ops->region_files(store, params->name, sr_region_bundle_add, &b);
    if (r == SR_OK && b.n == 0) {
        r = SR_ERR_REGION_NO_FILES;
    }
    if (r == SR_OK && sr_region_bundle_hsm(&b) != NULL) {
        r = sr_region_join_hsm(data_dir, params, &b, region_dir, staging);
        sr_region_bundle_release(&b);
        (void)!sr_dir_remove_tree(staging); /* best effort: a leftover is removed by the next join */
        if (r != SR_OK) {
            sr_region_join_undo(data_dir);
        }
        return r;
    }
    if (r == SR_OK && params->ncards == 0) {
        r = SR_ERR_USAGE; /* a software region is joined with a quorum of its cards */
    }
    if (r == SR_OK) {
        r = sr_dir_remove_tree(staging); /* what a join killed half-way left */
    }
    if (r == SR_OK) {
        r = sr_region_bundle_write(staging, &b);
    }
    sr_region_bundle_release(&b);
    struct sr_module *m = NULL;
    struct sr_seal_config seal;
    if (r == SR_OK) {
        r = sr_seal_config_read(data_dir, &seal);
    }
    if (r == SR_OK) {
        r = sr_module_open_sealed(kmdata, &seal, &m);
    }
    if (r == SR_OK) {
        r = sr_module_set_mode(m, 'I');
    }
    if (r == SR_OK) {
        r = sr_world_load(m, params->card_dir, params->cards, params->ncards, pins);
    }
    if (r == SR_OK) {
        r = sr_module_set_mode(m, 'O');
    }
    /* The cards proved the world: only now is the manufacturer root made (if this is the server's
     * first region) and the module warranted. */
    if (r == SR_OK) {
        r = sr_region_root(data_dir, &seal, root, sizeof(root));
    }
    if (r == SR_OK) {
        r = sr_root_warrant_module(root, &seal, m);
    }
    if (r == SR_OK) {
        r = sr_module_require_world(m, NULL);
    }
    sr_module_free(m);
    if (r == SR_OK) {
        r = sr_region_join_place(region_dir, staging, "kmdata");
    }
    if (r == SR_OK) {
        (void)!sr_dir_remove_tree(staging); /* empty by now; a leftover is removed by the next join */
    }
    if (r != SR_OK) {
        (void)!sr_dir_remove_tree(staging); /* best effort: a leftover is removed by the next join */
        sr_region_join_undo(data_dir);
    }
    return r;
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

struct sr_unseal_walk {
    struct sr_vault_svc *svc;
    enum sr_err first;
    char *detail;
    size_t cap;
};

static enum sr_err sr_unseal_region(void *ctx, const char *region)
{
    struct sr_unseal_walk *w = ctx;
    const struct sr_hsm *h = NULL;
    enum sr_err r = sr_svc_region_hsm(w->svc, region, &h);
    /* Under `cards` a region opens later, when 'strongroom unseal' gives its quorum. */
    if (r != SR_OK && r != SR_ERR_REGION_NOT_JOINED && r != SR_ERR_SEALED && w->first == SR_OK) {
        w->first = r;
        snprintf(w->detail, w->cap, "region %s: %s", region, w->svc->seal.diag);
    }
    return SR_OK;
}

enum sr_err sr_vault_unseal_regions(struct sr_vault_svc *svc, char *detail, size_t cap)
{
    struct sr_unseal_walk w = {.svc = svc, .detail = detail, .cap = cap};
    SR_TRY(svc->store->ops->region_each(svc->store, sr_unseal_region, &w));
    return w.first;
}

struct sr_health_walk {
    struct sr_vault_svc *svc;
    struct sr_vault_health *health;
};

static enum sr_err sr_health_region(void *ctx, const char *region)
{
    struct sr_vault_health *h = ((struct sr_health_walk *)ctx)->health;
    struct sr_vault_svc *svc = ((struct sr_health_walk *)ctx)->svc;
    const struct sr_hsm *hsm = NULL;
    enum sr_err r = sr_svc_region_hsm(svc, region, &hsm);
    h->regions++;
    h->held += r == SR_OK;
    if (r == SR_OK && sr_hsm_check(hsm) != SR_OK) {
        if (h->ndown < SR_ARRAY_LEN(h->down)) {
            snprintf(h->down[h->ndown], sizeof(h->down[0]), "%s", region);
        }
        h->ndown++;
    }
    h->sealed += r == SR_ERR_SEALED;
    return SR_OK;
}

enum sr_err sr_vault_health(struct sr_vault_svc *svc, struct sr_vault_health *ret)
{
    *ret = (struct sr_vault_health){0};
    struct sr_health_walk w = {.svc = svc, .health = ret};
    return svc->store->ops->region_each(svc->store, sr_health_region, &w);
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
