/*
 * store.h - the vault's storage interface. The vault core talks only to this;
 * store/sqlite.c implements it (a PostgreSQL backend would implement the same
 * table of functions without touching vault/ or http/).
 *
 * Every write is durable when it returns SR_OK. Key material reaches the store
 * only as module-protected blobs. Names of keys compare case-insensitively, as
 * in Key Vault. Rows returned are owned by the caller (sr_key_row_release).
 */
#ifndef SR_VAULT_STORE_H
#define SR_VAULT_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "base/buf.h"
#include "base/limits.h"

#define SR_VERSION_LEN 32
#define SR_MAX_NAME 127
#define SR_MAX_VAULT 63
#define SR_MAX_REGION 31
#define SR_TOKEN_HASH_HEX 64

struct sr_vault_row {
    char name[SR_MAX_VAULT + 1];
    char region[SR_MAX_REGION + 1];
    char subscription[64];
    long long created;
};

struct sr_token_row {
    char hash[SR_TOKEN_HASH_HEX + 1];
    char role[48];
    char vault[SR_MAX_VAULT + 1]; /* "" = every vault */
    long long created;
    long long expires;            /* 0 = never */
};

struct sr_key_row {
    char vault[SR_MAX_VAULT + 1];
    char name[SR_MAX_NAME + 1];
    char version[SR_VERSION_LEN + 1];
    char kty[16];
    unsigned key_ops;   /* enum sr_key_op bits */
    bool enabled;
    long long nbf, exp; /* 0 = unset */
    long long created, updated;
    json_t *tags;       /* object, owned */
    struct sr_buf blob; /* module-protected key */
};

/* The per-name state: soft-deletion and the rotation policy. */
struct sr_name_row {
    long long deleted;  /* 0 = live */
    long long purge_at;
    json_t *rotation_policy; /* owned, may be NULL */
};

struct sr_audit_row {
    long long seq;
    long long time;
    char vault[SR_MAX_VAULT + 1];
    char actor[24];      /* token hash prefix, never the token */
    char op[32];
    char target[SR_MAX_NAME + SR_VERSION_LEN + 2];
    int status;
    char prev[65];
    char hash[65];
};

void sr_key_row_release(struct sr_key_row *k);
void sr_name_row_release(struct sr_name_row *n);

typedef enum sr_err (*sr_key_row_fn)(void *ctx, const struct sr_key_row *k, const struct sr_name_row *n);
typedef enum sr_err (*sr_vault_row_fn)(void *ctx, const struct sr_vault_row *v);
typedef enum sr_err (*sr_audit_row_fn)(void *ctx, const struct sr_audit_row *a);

struct sr_store;

struct sr_store_ops {
    void (*close)(struct sr_store *s);
    enum sr_err (*region_put)(struct sr_store *s, const char *name, long long created);
    enum sr_err (*region_exists)(struct sr_store *s, const char *name);
    enum sr_err (*region_each)(struct sr_store *s, enum sr_err (*fn)(void *ctx, const char *name), void *ctx);
    enum sr_err (*vault_put)(struct sr_store *s, const struct sr_vault_row *v);
    enum sr_err (*vault_get)(struct sr_store *s, const char *name, struct sr_vault_row *ret);
    enum sr_err (*vault_each)(struct sr_store *s, sr_vault_row_fn fn, void *ctx);
    enum sr_err (*token_put)(struct sr_store *s, const struct sr_token_row *t);
    enum sr_err (*token_get)(struct sr_store *s, const char *hash, struct sr_token_row *ret);
    /* Inserts a new version (SR_ERR_EXISTS if that name is soft-deleted, or the version id is taken). */
    enum sr_err (*key_insert)(struct sr_store *s, const struct sr_key_row *k);
    /* version NULL or "" = the latest. Soft-deleted names are SR_ERR_NOT_FOUND unless deleted_ok. */
    enum sr_err (*key_get)(struct sr_store *s, const char *vault, const char *name, const char *version,
                           bool deleted_ok, struct sr_key_row *ret, struct sr_name_row *ret_name);
    enum sr_err (*key_update)(struct sr_store *s, const struct sr_key_row *k);
    /* Lists the latest version of each live (or each deleted) name, from offset, at most limit rows. */
    enum sr_err (*key_list)(struct sr_store *s, const char *vault, bool deleted, unsigned offset, unsigned limit,
                            sr_key_row_fn fn, void *ctx);
    enum sr_err (*key_versions)(struct sr_store *s, const char *vault, const char *name, unsigned offset,
                                unsigned limit, sr_key_row_fn fn, void *ctx);
    enum sr_err (*key_all_versions)(struct sr_store *s, const char *vault, const char *name, sr_key_row_fn fn,
                                    void *ctx);
    enum sr_err (*name_set_deleted)(struct sr_store *s, const char *vault, const char *name, long long deleted,
                                    long long purge_at);
    enum sr_err (*name_purge)(struct sr_store *s, const char *vault, const char *name);
    enum sr_err (*name_set_policy)(struct sr_store *s, const char *vault, const char *name, const json_t *policy);
    /* Appends to the hash chain in one transaction; fills seq, prev and hash. */
    enum sr_err (*audit_append)(struct sr_store *s, struct sr_audit_row *a);
    enum sr_err (*audit_each)(struct sr_store *s, sr_audit_row_fn fn, void *ctx);
};

struct sr_store {
    const struct sr_store_ops *ops;
};

/* store/sqlite.c: opens (creating) DIR/vault.db in WAL mode with synchronous=FULL. */
SR_MUST_USE enum sr_err sr_store_sqlite_open(const char *data_dir, struct sr_store **ret);

/* The audit chain's hash: SHA-256 over prev and the entry's fields (store-independent). */
SR_MUST_USE enum sr_err sr_audit_hash(const struct sr_audit_row *a, char out[65]);

#endif
