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
/* A key row's vault column is a namespace: the vault's name for its keys, "V/secrets" for its secrets (vault
 * names hold no "/"), so secrets and keys of one name never meet and every query stays an exact match. */
#define SR_MAX_SPACE (SR_MAX_VAULT + 16)
#define SR_SPACE_SECRETS "/secrets"
#define SR_TOKEN_HASH_HEX 64

struct sr_vault_row {
    char name[SR_MAX_VAULT + 1];
    char region[SR_MAX_REGION + 1];
    char subscription[64];
    long long created;
};

#define SR_MAX_TOKEN_NAME 31

struct sr_token_row {
    char hash[SR_TOKEN_HASH_HEX + 1];
    char role[48];
    char vault[SR_MAX_VAULT + 1]; /* "" = every vault */
    long long created;
    long long expires;            /* 0 = never */
    char name[SR_MAX_TOKEN_NAME + 1]; /* its label, unique; "" for a token made before labels */
    long long revoked;            /* when; 0 = not revoked */
    long long last_used;          /* token_each only: its last audit entry's time, 0 = never used */
};

struct sr_key_row {
    char vault[SR_MAX_SPACE + 1]; /* the namespace: a vault name (its keys) or "V/secrets" */
    char name[SR_MAX_NAME + 1];
    char version[SR_VERSION_LEN + 1];
    char kty[16];
    unsigned key_ops;   /* enum sr_key_op bits */
    bool enabled;
    long long nbf, exp; /* 0 = unset */
    long long created, updated;
    json_t *tags;       /* object, owned */
    struct sr_buf blob; /* module-protected key */
    json_t *release_policy; /* owned {contentType, immutable, data}; NULL: not exportable (Key Vault's rule:
                             * a key is exportable exactly when it has a release policy) */
    json_t *meta;       /* owned; NULL for a key. A secret's {contentType} */
};

/* The per-name state: soft-deletion and the rotation policy. */
struct sr_name_row {
    long long deleted;  /* 0 = live */
    long long purge_at;
    json_t *rotation_policy; /* owned, may be NULL */
};

#define SR_MAX_ISSUER 255

/* An attestation authority a vault trusts for key release: its issuer (the tokens' iss) and its keys. */
struct sr_authority_row {
    char vault[SR_MAX_VAULT + 1];
    char issuer[SR_MAX_ISSUER + 1];
    json_t *jwks; /* owned: {"keys": [JWK, ...]} */
    long long created;
};

/* An identity document (vault/identity.c), by kind and name: an application ("app", by client id), an OIDC
 * issuer trusted for federation ("idp", by issuer URL), a role assignment ("assignment", by its name) or one
 * of the token authority's signing keys ("signer", by kid). doc is owned; in a change, NULL removes it. */
#define SR_MAX_IDENT_KIND 15
#define SR_MAX_IDENT_NAME 255
struct sr_ident_row {
    char kind[SR_MAX_IDENT_KIND + 1];
    char name[SR_MAX_IDENT_NAME + 1];
    json_t *doc;
};

struct sr_audit_row {
    long long seq;
    long long time;
    char vault[SR_MAX_VAULT + 1];
    char actor[SR_MAX_TOKEN_NAME + 1]; /* the token's label (or "tok:" and its id), never the token */
    char op[32];
    char target[SR_MAX_NAME + SR_VERSION_LEN + 2];
    int status;
    char client[48];                   /* the client's address ("" for entries from before it was kept) */
    char reason[160];                  /* why it was refused; "" when it succeeded */
    long long count;                   /* identical refusals this entry stands for (0 and 1: one) */
    char prev[65];
    char hash[65];
};

void sr_key_row_release(struct sr_key_row *k);
void sr_name_row_release(struct sr_name_row *n);
static inline void sr_rowp(struct sr_key_row *k)
{
    sr_key_row_release(k);
}
static inline void sr_namep(struct sr_name_row *n)
{
    sr_name_row_release(n);
}
#define SR_AUTO_ROW SR_AUTO(sr_rowp)
#define SR_AUTO_NAME SR_AUTO(sr_namep)

typedef enum sr_err (*sr_key_row_fn)(void *ctx, const struct sr_key_row *k, const struct sr_name_row *n);
typedef enum sr_err (*sr_vault_row_fn)(void *ctx, const struct sr_vault_row *v);
typedef enum sr_err (*sr_audit_row_fn)(void *ctx, const struct sr_audit_row *a);
typedef enum sr_err (*sr_policy_row_fn)(void *ctx, const char *vault, const char *name, const json_t *policy);
typedef enum sr_err (*sr_region_file_fn)(void *ctx, const char *name, const uint8_t *data, size_t len);
typedef enum sr_err (*sr_ident_fn)(void *ctx, const char *name, const json_t *doc);

/* What a server needs of a region besides cards to serve it: its world file, its KEK's module-protected
 * key file and its published toolset, by name ("world", "key_byok_kek-1", "toolset/..."). */
struct sr_region_file {
    const char *name;
    const uint8_t *data;
    size_t len;
};

/*
 * Writes: every change reaches the store inside a struct sr_commit, with the audit entry of the request
 * that made it, and the store makes the commit durable together with others (group commit): one
 * transaction and one flush for all commits that wait at the same time.
 *
 * Within a commit, the changes apply all or none: if one fails (a name taken, a row gone), none of them is
 * kept, result says why, and the audit entry is still written with that outcome. If the transaction
 * itself cannot be made durable, every commit of it fails with SR_ERR_COMMIT_FAILED and nothing of the
 * batch is kept, audit entries included, so the hash chain never has a gap. done() is called exactly once,
 * after the outcome is durable (or known to have failed), from the store's writer thread; it must not block.
 */
enum sr_change_kind {
    SR_CHANGE_REGION, SR_CHANGE_REGION_FILE, SR_CHANGE_VAULT, SR_CHANGE_TOKEN, SR_CHANGE_TOKEN_REVOKE, SR_CHANGE_KEY_INSERT, SR_CHANGE_KEY_UPDATE,
    SR_CHANGE_NAME_DELETED, SR_CHANGE_NAME_PURGE, SR_CHANGE_NAME_POLICY, SR_CHANGE_AUTHORITY, SR_CHANGE_IDENT,
};

struct sr_change {
    enum sr_change_kind kind;
    struct sr_key_row key;      /* KEY_*: owned; NAME_*: key.vault and key.name; REGION: key.name, key.created;
                                 * REGION_FILE: key.vault (the region), key.name (the file), key.blob */
    struct sr_name_row name;    /* NAME_DELETED: deleted, purge_at; NAME_POLICY: rotation_policy (owned) */
    struct sr_vault_row vault;  /* VAULT */
    struct sr_token_row token;  /* TOKEN; TOKEN_REVOKE: token.name (a label or the id), token.revoked */
    struct sr_authority_row authority; /* AUTHORITY: added, its keys replaced (jwks owned), or removed (NULL) */
    struct sr_ident_row ident;  /* IDENT: written (doc owned), or removed (doc NULL) */
};

struct sr_commit {
    struct sr_change *changes; /* owned, nchanges of them */
    size_t nchanges;
    bool audited;              /* false: an operator action outside the API, not audited */
    struct sr_audit_row audit; /* the store fills seq, prev and hash */
    enum sr_err result;        /* set before done() */
    void (*done)(struct sr_commit *c);
    void *ctx;                 /* the submitter's */
    struct sr_commit *next;    /* the store's queue */
};

struct sr_store;

struct sr_store_ops {
    void (*close)(struct sr_store *s);
    /* Queues c; c->done(c) follows once its outcome is durable. c must stay valid until then. */
    void (*submit)(struct sr_store *s, struct sr_commit *c);
    enum sr_err (*region_exists)(struct sr_store *s, const char *name);
    enum sr_err (*region_each)(struct sr_store *s, enum sr_err (*fn)(void *ctx, const char *name), void *ctx);
    enum sr_err (*region_files)(struct sr_store *s, const char *region, sr_region_file_fn fn, void *ctx);
    enum sr_err (*vault_get)(struct sr_store *s, const char *name, struct sr_vault_row *ret);
    enum sr_err (*vault_each)(struct sr_store *s, sr_vault_row_fn fn, void *ctx);
    enum sr_err (*token_get)(struct sr_store *s, const char *hash, struct sr_token_row *ret);
    /* Every token, oldest first, with the time of its last audit entry. */
    enum sr_err (*token_each)(struct sr_store *s, enum sr_err (*fn)(void *ctx, const struct sr_token_row *t),
                              void *ctx);
    /* version NULL or "" = the latest. Soft-deleted names are SR_ERR_NOT_FOUND unless deleted_ok. */
    enum sr_err (*key_get)(struct sr_store *s, const char *vault, const char *name, const char *version,
                           bool deleted_ok, struct sr_key_row *ret, struct sr_name_row *ret_name);
    /* Lists the latest version of each live (or each deleted) name, from offset, at most limit rows. */
    enum sr_err (*key_list)(struct sr_store *s, const char *vault, bool deleted, unsigned offset, unsigned limit,
                            sr_key_row_fn fn, void *ctx);
    enum sr_err (*key_versions)(struct sr_store *s, const char *vault, const char *name, unsigned offset,
                                unsigned limit, sr_key_row_fn fn, void *ctx);
    enum sr_err (*key_all_versions)(struct sr_store *s, const char *vault, const char *name, sr_key_row_fn fn,
                                    void *ctx);
    enum sr_err (*audit_each)(struct sr_store *s, sr_audit_row_fn fn, void *ctx);
    /* The keys (JWKS) of the authority issuer that vault trusts; SR_ERR_NOT_FOUND if it trusts none such. */
    enum sr_err (*authority_get)(struct sr_store *s, const char *vault, const char *issuer, json_t **ret_jwks);
    /* One identity document (a new reference in *ret); SR_ERR_NOT_FOUND if there is none. */
    enum sr_err (*ident_get)(struct sr_store *s, const char *kind, const char *name, json_t **ret);
    /* Every document of a kind, by name. */
    enum sr_err (*ident_each)(struct sr_store *s, const char *kind, sr_ident_fn fn, void *ctx);
    /* The count of changes to regions, vaults, tokens and identity documents by any process, when it is
     * settled (no writer in the middle of one): what was read at an equal count may be served again.
     * false: read again (always, on a store whose other writers cannot be followed, as PostgreSQL's). */
    bool (*conf_generation)(struct sr_store *s, unsigned long long *ret);
    /* Every live name that has a rotation policy: (vault, name, policy), for the rotation scheduler. */
    enum sr_err (*policy_each)(struct sr_store *s, sr_policy_row_fn fn, void *ctx);
    /* For tests: the next n transactions fail at COMMIT (and are rolled back). */
    void (*fail_commits)(struct sr_store *s, unsigned n);
};

struct sr_store {
    const struct sr_store_ops *ops;
};

/* store/sqlite.c: opens (creating) DIR/vault.db in WAL mode with synchronous=FULL. */
SR_MUST_USE enum sr_err sr_store_sqlite_open(const char *data_dir, struct sr_store **ret);
/* store/pg.c: connects to a postgresql:// (or postgres://) URL, libpq's syntax, multi-host included, and
 * brings the schema up to date. SR_ERR_UNAVAILABLE when the database cannot be reached. */
SR_MUST_USE enum sr_err sr_store_pg_open(const char *url, struct sr_store **ret);
bool sr_store_is_pg_url(const char *url);
/* store/sqlite.c: a consistent copy of DIR/vault.db at dest_path (SQLite's online backup API, in one step
 * under one read transaction: a server may keep writing meanwhile). */
SR_MUST_USE enum sr_err sr_store_sqlite_snapshot(const char *data_dir, const char *dest_path);
/* The store a server or command uses: the PostgreSQL database at a postgresql:// url, or with url NULL, ""
 * or a path the SQLite store in data_dir; any other scheme is SR_ERR_STORE_URL. */
SR_MUST_USE enum sr_err sr_store_open(const char *url, const char *data_dir, struct sr_store **ret);

/* --- commits (vault/commit.c): building them and waiting for one --- */
void sr_commit_init(struct sr_commit *c);
void sr_commit_release(struct sr_commit *c);
/* Each adds a copy of its arguments: the commit owns everything it holds. */
SR_MUST_USE enum sr_err sr_commit_key_insert(struct sr_commit *c, const struct sr_key_row *k);
SR_MUST_USE enum sr_err sr_commit_key_update(struct sr_commit *c, const struct sr_key_row *k);
SR_MUST_USE enum sr_err sr_commit_name_deleted(struct sr_commit *c, const char *vault, const char *name,
                                               long long deleted, long long purge_at);
SR_MUST_USE enum sr_err sr_commit_name_purge(struct sr_commit *c, const char *vault, const char *name);
SR_MUST_USE enum sr_err sr_commit_name_policy(struct sr_commit *c, const char *vault, const char *name,
                                              const json_t *policy);
/* Submits c and waits for its durable outcome (c->result, also returned). */
SR_MUST_USE enum sr_err sr_store_commit_wait(struct sr_store *s, struct sr_commit *c);
/* Operator writes outside the API (one unaudited commit each), durable when they return SR_OK. */
SR_MUST_USE enum sr_err sr_store_region_put(struct sr_store *s, const char *name, long long created,
                                            const struct sr_region_file *files, size_t nfiles);
SR_MUST_USE enum sr_err sr_store_vault_put(struct sr_store *s, const struct sr_vault_row *v);
SR_MUST_USE enum sr_err sr_store_token_put(struct sr_store *s, const struct sr_token_row *t);
/* Lets vault trust issuer's tokens for key release, checked with the keys in jwks ({"keys": [...]}); trusting
 * an issuer again replaces its keys (an authority that rotated its signing keys); jwks NULL: it is trusted no
 * more. */
SR_MUST_USE enum sr_err sr_store_authority_put(struct sr_store *s, const char *vault, const char *issuer,
                                               const json_t *jwks, long long created);
/* Writes identity document kind/name (doc NULL: removes it), unaudited, as the operator's commands do. */
SR_MUST_USE enum sr_err sr_store_ident_put(struct sr_store *s, const char *kind, const char *name, const json_t *doc);
/* The same change inside a request's commit (audited with it). */
SR_MUST_USE enum sr_err sr_commit_ident(struct sr_commit *c, const char *kind, const char *name, const json_t *doc);
/* Revokes the token whose label or id (the first 16 hex digits of its hash) is name: SR_ERR_NOT_FOUND if
 * none is live. */
SR_MUST_USE enum sr_err sr_store_token_revoke(struct sr_store *s, const char *name, long long when);

/* The audit chain's hash: SHA-256 over prev and the entry's fields (store-independent). */
SR_MUST_USE enum sr_err sr_audit_hash(const struct sr_audit_row *a, char out[65]);

#endif
