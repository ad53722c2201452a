/*
 * internal.h - what the files of hsm/ share and nothing outside hsm/ may see:
 * the module struct itself, and sealing (AEAD under a purpose-derived sub-key
 * of a module key, with the file's header as AAD).
 */
#ifndef SR_HSM_INTERNAL_H
#define SR_HSM_INTERNAL_H

#include <pthread.h>

#include <jansson.h>

#include "base/fileio.h"
#include "hsm/container.h"
#include "hsm/km0.h"
#include "hsm/module.h"

#define SR_KEYCACHE_SLOTS 64

#define SR_KEYCACHE_CTXS 4 /* idle signing contexts kept per key: one per thread that signs at once */

struct sr_keycache {
    pthread_mutex_t lock;
    unsigned long long clock;
    struct {
        uint8_t id[SR_HASH_LEN]; /* SHA-256 of the blob */
        EVP_PKEY *key;
        json_t *jwk;             /* public caches only: the JWK's public members, made once */
        unsigned acl;
        unsigned long long last_used;
        struct {
            EVP_PKEY_CTX *ctx; /* made for this key and alg, not in use */
            int alg;
        } idle[SR_KEYCACHE_CTXS];
    } slot[SR_KEYCACHE_SLOTS];
};

void sr_keycache_init(struct sr_keycache *c);
void sr_keycache_release(struct sr_keycache *c);
/* A new reference to the cached key, or false. */
bool sr_keycache_get(struct sr_keycache *c, const uint8_t id[SR_HASH_LEN], EVP_PKEY **ret, unsigned *ret_acl);
void sr_keycache_put(struct sr_keycache *c, const uint8_t id[SR_HASH_LEN], EVP_PKEY *key, unsigned acl);
/* A new reference to the entry's JWK members, or false; set_jwk adds them to an entry that has none. */
bool sr_keycache_get_jwk(struct sr_keycache *c, const uint8_t id[SR_HASH_LEN], json_t **ret);
void sr_keycache_set_jwk(struct sr_keycache *c, const uint8_t id[SR_HASH_LEN], json_t *jwk);
/*
 * Signing contexts, as an HSM keeps a session per key: take one made for (id, alg), or NULL; give it back
 * when done (it is freed if the entry is gone or has enough). A context is used by one thread at a time.
 */
EVP_PKEY_CTX *sr_keycache_take_ctx(struct sr_keycache *c, const uint8_t id[SR_HASH_LEN], int alg);
void sr_keycache_give_ctx(struct sr_keycache *c, const uint8_t id[SR_HASH_LEN], int alg, EVP_PKEY_CTX *ctx);

struct sr_module {
    struct sr_keycache *cache;               /* loaded vault keys; shared by threads, has its own lock */
    struct sr_keycache *pubcache;            /* their public halves, decoded once (same allocation) */
    char dir[SR_PATH_MAX];
    char esn[SR_ESN_LEN + 1];
    char mode;
    uint8_t *km0;                            /* secure heap, always present */
    uint8_t *km;                             /* secure heap, NULL when NVRAM is empty */
    char km_world_id[2 * SR_WORLD_ID_LEN + 1];
    char diag[256];
    struct sr_seal_config seal; /* where KM0 lives, and the NVRAM's rollback anchor */
    enum sr_err nvram_refused;  /* SR_OK, or why module/nvram was not loaded (rollback, anchor gone) */
    bool km0_pending;           /* cards: a new module's KM0, kept once its world key exists */
};

/* world.c, for what opens a world without a module (an unseal, a migration) */
SR_MUST_USE enum sr_err sr_world_info_at(const char *kmdata, struct sr_world_info *ret);
/* The world file of kmdata authenticated under km: SR_ERR_CARD_FOREIGN when km is another world's key. */
SR_MUST_USE enum sr_err sr_world_authenticate_at(const char *kmdata, const uint8_t km[SR_WORLD_KEY_LEN],
                                                 struct sr_world_info *ret);
/* quorum.c: the world key of a complete quorum (secure heap, the quorum's), or NULL. */
const uint8_t *sr_quorum_world_key(const struct sr_quorum *q);
/* module/nvram at path: km, the world key, sealed under km0. */
SR_MUST_USE enum sr_err sr_world_write_nvram(const uint8_t *km0, const uint8_t km[SR_WORLD_KEY_LEN],
                                             const char *world_id, const char *path);

/* SHA-256 of an NVRAM file as it is on disk, or 32 zero bytes when there is none: what anchors record. */
SR_MUST_USE enum sr_err sr_nvram_digest(const char *path, uint8_t out[SR_HASH_LEN]);
/* Records module/nvram as it is now (its SHA-256, or zeros when absent) in the seal's rollback anchor. */
SR_MUST_USE enum sr_err sr_module_anchor_nvram(struct sr_module *m);

/* Sub-key purposes: one HKDF label per use, so no key ever serves two roles. */
#define SR_PURPOSE_NVRAM "strongroom nvram v1"
#define SR_PURPOSE_IDENTITY "strongroom identity v1"
#define SR_PURPOSE_ROOT "strongroom root v1"
#define SR_PURPOSE_KEYBLOB "strongroom key blob v1"
#define SR_PURPOSE_WORLD_MAC "strongroom world mac v1"
#define SR_PURPOSE_WORLD_HASH "strongroom world hash v1"
#define SR_PURPOSE_BACKUP "strongroom backup v1"
#define SR_PURPOSE_TRUST "strongroom trusted key v1"
#define SR_PURPOSE_APPOBJECT "strongroom application object v1"
#define SR_PURPOSE_VALUE "strongroom secret value v1"

#define SR_MAGIC_WORLD "SRWORLD1"
#define SR_MAGIC_CARD "SRCARD01"
#define SR_MAGIC_KEY "SRKEY001"
#define SR_MAGIC_NVRAM "SRNVRAM1"
#define SR_MAGIC_SEALED "SRSEALD1"
#define SR_MAGIC_BACKUP "SRBACKUP"
#define SR_MAGIC_TRUST "SRTRUST1"
#define SR_MAGIC_APPOBJECT "SROBJCT1"

void sr_module_diagf(struct sr_module *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
SR_MUST_USE enum sr_err sr_module_path(const struct sr_module *m, const char *rel, char *out, size_t cap);

/* Loads a 32-byte raw key file into the secure heap, creating it when create is set and it is absent. */
SR_MUST_USE enum sr_err sr_keyfile_raw_load(const char *path, bool create, uint8_t **ret_secure);
void sr_secure_key_free(uint8_t *k);
static inline void sr_km0_freep(uint8_t **k)
{
    sr_secure_key_free(*k);
    *k = NULL;
}

/* Appends magic|header|AEAD(HKDF(key, purpose), prefix, plaintext) to file. */
SR_MUST_USE enum sr_err sr_seal_build(const uint8_t key[32], const char *purpose, const char *magic,
                                      const json_t *header, const uint8_t *pt, size_t ptlen, struct sr_buf *file);
/* Writes magic|header|AEAD(HKDF(key, purpose), prefix, plaintext) atomically. */
SR_MUST_USE enum sr_err sr_seal_write(const uint8_t key[32], const char *purpose, const char *magic,
                                      const json_t *header, const uint8_t *pt, size_t ptlen, const char *path,
                                      enum sr_write_mode mode);
/* Opens a parsed sealed container into out (a SR_BUF_SECRET buffer). SR_ERR_AUTH_FAILED on any mismatch. */
SR_MUST_USE enum sr_err sr_seal_open(const uint8_t key[32], const char *purpose, const struct sr_container *c,
                                     struct sr_buf *out);

/* Sealed private keys (identity, root): PKCS#8 under a purpose sub-key. */
SR_MUST_USE enum sr_err sr_sealed_pkey_write(const uint8_t key[32], const char *purpose, json_t *header,
                                             EVP_PKEY *pkey, const char *path);
SR_MUST_USE enum sr_err sr_sealed_pkey_read(const uint8_t key[32], const char *purpose, const char *path,
                                            EVP_PKEY **ret);
/* The public key stored in a sealed key's header ("public_key", base64 SPKI). */
SR_MUST_USE enum sr_err sr_header_public_key(const json_t *header, enum sr_err bad, EVP_PKEY **ret);
SR_MUST_USE enum sr_err sr_header_set_public_key(json_t *header, const EVP_PKEY *pkey);
/* The same from SubjectPublicKeyInfo DER already made, and the DER as the header holds it. */
SR_MUST_USE enum sr_err sr_header_set_spki(json_t *header, const uint8_t *der, size_t len);
SR_MUST_USE enum sr_err sr_header_spki(const json_t *header, enum sr_err bad, struct sr_buf *der);

/* keyfile.c, shared with transfer.c */
SR_MUST_USE enum sr_err sr_key_build(const struct sr_module *m, struct sr_key_info *info, EVP_PKEY *key,
                                     struct sr_buf *out);
void sr_key_info_names(struct sr_key_info *info, const char *app, const char *ident, const char *plainname);
/* Seals key as a vault blob (app "vault", ident label) and keeps it loaded in the module's caches. */
SR_MUST_USE enum sr_err sr_vault_blob_seal(const struct sr_module *m, const char *label, const char *name,
                                           const char *origin, unsigned acl, EVP_PKEY *key, struct sr_buf *out_blob,
                                           struct sr_key_spec *ret_spec);
/* A key's material: an asymmetric key's private half, or a secret key's bytes (SR_BUF_SECRET). */
struct sr_key_material {
    EVP_PKEY *priv;
    struct sr_buf secret;
};
void sr_key_material_release(struct sr_key_material *km);
/* Loads a kmdata key of any type with its material; writes m->diag. */
SR_MUST_USE enum sr_err sr_key_load_material(struct sr_module *m, const char *app, const char *ident,
                                             struct sr_key_info *ret, struct sr_key_material *km);
/* The same for a key file's bytes of app (a vault blob: "vault"), on a shared module: no diagnostics. */
SR_MUST_USE enum sr_err sr_keyfile_load_material(const struct sr_module *m, const char *app, const uint8_t *bytes,
                                                 size_t len, struct sr_key_info *ret, struct sr_key_material *km);
/* sr_key_build for either kind of material. */
SR_MUST_USE enum sr_err sr_key_build_material(const struct sr_module *m, struct sr_key_info *info,
                                              const struct sr_key_material *km, struct sr_buf *out);
/* kmdata/local/<prefix><ident>: key files, trusted keys, application objects. */
SR_MUST_USE enum sr_err sr_local_path(const struct sr_module *m, const char *prefix, const char *ident, char *out,
                                      size_t cap);
/* Where a key to make goes (params): its names checked, its plain name (the ident if none), and its path,
 * which must not exist when the key is to be written there. */
SR_MUST_USE enum sr_err sr_key_target(const struct sr_module *m, const struct sr_keygen_params *params,
                                      char path[SR_PATH_MAX], const char **ret_plainname);
/* The last step of making a key: info named as params says, with its origin, sealed with the material into a
 * key file that goes where params says (into params->out, or written atomically, never overwriting, at path). */
SR_MUST_USE enum sr_err sr_key_file_make(const struct sr_module *m, const struct sr_keygen_params *params,
                                         const char *path, const char *plainname, const char *origin,
                                         struct sr_key_info *info, const struct sr_key_material *km);
/* What a transfer wraps: PKCS#8 of a private key, a secret key's bytes. Appends to out (SR_BUF_SECRET). */
SR_MUST_USE enum sr_err sr_key_material_bytes(const struct sr_key_material *km, struct sr_buf *out_secret);
/* Loads a kmdata key (mode O, world checked); writes m->diag. */
SR_MUST_USE enum sr_err sr_key_load(struct sr_module *m, const char *app, const char *ident, struct sr_key_info *ret,
                                    EVP_PKEY **ret_pub, EVP_PKEY **ret_priv);
SR_MUST_USE enum sr_err sr_key_open_container(const struct sr_module *m, const struct sr_container *c,
                                              const char *app, const char *ident, struct sr_key_info *ret,
                                              EVP_PKEY **ret_pub, EVP_PKEY **ret_priv);
/* A kmdata key for a shared, read-only module (the server's): no diagnostics written. */
SR_MUST_USE enum sr_err sr_key_read_const(const struct sr_module *m, const char *app, const char *ident,
                                          struct sr_key_info *ret, EVP_PKEY **ret_priv);

/*
 * The private key of a key container (its bytes, or the kmdata file of app and ident), from the module's
 * loaded-key cache when those bytes were opened before under the same names; SR_ERR_ACL_DENIED unless its
 * ACL permits need. id is its cache key (for the signing contexts).
 */
SR_MUST_USE enum sr_err sr_key_private_cached(const struct sr_module *m, const char *app, const char *ident,
                                              const uint8_t *bytes, size_t len, enum sr_acl_action need,
                                              uint8_t id[SR_HASH_LEN], EVP_PKEY **ret);
SR_MUST_USE enum sr_err sr_key_read_cached(const struct sr_module *m, const char *app, const char *ident,
                                           enum sr_acl_action need, EVP_PKEY **ret);

SR_MUST_USE enum sr_err sr_world_hash(const uint8_t km[SR_WORLD_KEY_LEN], uint8_t out[SR_HASH_LEN]);

#endif
