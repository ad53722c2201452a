/* internal.h - what the files of vault/ share: permissions and the service struct. */
#ifndef SR_VAULT_INTERNAL_H
#define SR_VAULT_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "hsm/backend.h"
#include "hsm/km0.h"
#include "hsm/module.h"
#include "vault/vault.h"

enum sr_perm {
    SR_PERM_GET = 1u << 0, SR_PERM_LIST = 1u << 1, SR_PERM_CREATE = 1u << 2, SR_PERM_IMPORT = 1u << 3,
    SR_PERM_UPDATE = 1u << 4, SR_PERM_DELETE = 1u << 5, SR_PERM_RECOVER = 1u << 6, SR_PERM_PURGE = 1u << 7,
    SR_PERM_BACKUP = 1u << 8, SR_PERM_RESTORE = 1u << 9, SR_PERM_ROTATE = 1u << 10, SR_PERM_SIGN = 1u << 11,
    SR_PERM_VERIFY = 1u << 12, SR_PERM_ENCRYPT = 1u << 13, SR_PERM_DECRYPT = 1u << 14, SR_PERM_WRAP = 1u << 15,
    SR_PERM_UNWRAP = 1u << 16, SR_PERM_RNG = 1u << 17, SR_PERM_RELEASE = 1u << 18, SR_PERM_AUDIT = 1u << 19,
    SR_PERM_ROLES = 1u << 20, /* role assignments: Administrator alone, as Managed HSM's */
    /* Secrets, as Key Vault's data actions group them: a value read (getSecret), its metadata (readMetadata:
     * lists, versions, deleted ones), the changes (set, update, delete, recover, backup, restore), and purge. */
    SR_PERM_SECRET_GET = 1u << 21, SR_PERM_SECRET_META = 1u << 22, SR_PERM_SECRET_WRITE = 1u << 23,
    SR_PERM_SECRET_PURGE = 1u << 24,
};
#define SR_PERM_KEYS_ALL ((1u << 21) - 1) /* everything before secrets: keys, audit, role assignments */
#define SR_PERM_SECRETS_ALL (SR_PERM_SECRET_GET | SR_PERM_SECRET_META | SR_PERM_SECRET_WRITE | SR_PERM_SECRET_PURGE)
#define SR_PERM_ALL ((1u << 25) - 1)
/* An operation row's permission is "any of its bits": the vault's own description is for any role that reads. */
#define SR_PERM_ANY_READ (SR_PERM_GET | SR_PERM_SECRET_META)

struct sr_role {
    const char *name;
    const char *id; /* Azure's role definition id */
    unsigned perms;
};
/* A role by any of its spellings ("crypto-user", "Key Vault Crypto User") or its definition id; NULL if none. */
const struct sr_role *sr_role_find(const char *role);
const struct sr_role *sr_role_by_id(const char *id);
const struct sr_role *sr_role_at(size_t i); /* the built-in roles in order; NULL past the last */

/* identity.c: the documents every request needs, kept while the store's change count stands still. */
#define SR_SEEN_TOKENS 512
#define SR_SEEN_JTIS 1024
struct sr_seen_token {
    uint8_t hash[32];              /* SHA-256 of the access token */
    long long exp;
    char oid[SR_UUID_LEN + 1];
    char kid[48];
    char aud[160];
};
struct sr_seen_jti {
    uint8_t hash[32]; /* SHA-256 of iss, a NUL and jti */
    long long exp;
};
/* What a snapshot holds: each kind is read only when asked for (on PostgreSQL, every time it is asked for). */
enum sr_ident_part { SR_ID_ASSIGNMENTS = 1u << 0, SR_ID_APPS = 1u << 1, SR_ID_SIGNERS = 1u << 2 };
#define SR_ID_PARTS 3
#define SR_SEEN_KEYS 64
struct sr_seen_key {
    uint8_t hash[32]; /* SHA-256 of the key's text (a JWK's compact JSON, or a PEM) */
    EVP_PKEY *key;
};
struct sr_ident_cache {
    pthread_mutex_t lock;
    struct sr_seen_key keys[SR_SEEN_KEYS]; /* public keys that checked tokens: decoded (and checked) once */
    size_t keys_next;
    json_t *part[SR_ID_PARTS];              /* [assignment doc], {objectId: {name, clientId}}, {kid: signer doc} */
    bool valid[SR_ID_PARTS];
    unsigned long long gen[SR_ID_PARTS];    /* the store's change count each was read at */
    struct sr_seen_token tokens[SR_SEEN_TOKENS]; /* verified access tokens, replaced in turn */
    size_t tokens_next;
    struct sr_seen_jti jtis[SR_SEEN_JTIS];       /* client assertions' jti, each until its exp */
    pthread_mutex_t signer_lock;                 /* one new signing key made at a time */
};
struct sr_ident_snapshot {
    json_t *assignments, *apps, *signers; /* references (NULL: not asked for), released with sr_ident_snapshot_release */
};
void sr_ident_cache_init(struct sr_ident_cache *c);
void sr_ident_cache_free(struct sr_ident_cache *c);
/* The parts asked for (enum sr_ident_part bits), as the store has them now; read outside the cache's lock. */
SR_MUST_USE enum sr_err sr_ident_snapshot(struct sr_vault_svc *svc, unsigned parts, struct sr_ident_snapshot *ret);
void sr_ident_snapshot_release(struct sr_ident_snapshot *s);
/* A public key from a JWK (pem NULL) or a PEM, decoded and checked once (an RSA key's check costs a
 * millisecond), then shared: *ret is a new reference. */
SR_MUST_USE enum sr_err sr_ident_public_key(struct sr_vault_svc *svc, const json_t *jwk, const char *pem,
                                            EVP_PKEY **ret);
/* The permissions assignments give principal at vault (and key, when the request names one). */
unsigned sr_assignments_perms(const json_t *assignments, const char *principal, const char *vault, const char *key);
/* The role assignment document for principal (an application or a token label), role and scope. */
SR_MUST_USE enum sr_err sr_role_assignment_make(struct sr_store *store, const char *principal, const char *role,
                                                const char *scope, const char *name, json_t **ret_doc);
/* SR_OK if secret is one of app's, in date; SR_ERR_SECRET_WRONG or SR_ERR_SECRET_EXPIRED otherwise. */
SR_MUST_USE enum sr_err sr_app_secret_check(const json_t *app, const char *secret);

/* Key Vault key_ops, as bits of struct sr_key_row.key_ops. */
enum sr_key_op {
    SR_KOP_ENCRYPT = 1u << 0, SR_KOP_DECRYPT = 1u << 1, SR_KOP_SIGN = 1u << 2, SR_KOP_VERIFY = 1u << 3,
    SR_KOP_WRAP = 1u << 4, SR_KOP_UNWRAP = 1u << 5, SR_KOP_IMPORT = 1u << 6,
};

#define SR_MAX_REGIONS 64

struct sr_region_slot {
    char name[SR_MAX_REGION + 1];
    struct sr_hsm *hsm;
};

/* A `cards`-sealed region's unseal in progress (unseal.c): the cards given so far, until its module opens. */
struct sr_unseal_slot {
    char name[SR_MAX_REGION + 1];
    struct sr_quorum *quorum;
};

/* Refusals before any operation, grouped per client and minute (refusals.c). */
#define SR_REFUSAL_GROUPS 1024
struct sr_refusal_group {
    long long minute; /* Unix time / 60 */
    long long repeats; /* after the first, which was written at once */
    int status;
    char client[48];
    char vault[SR_MAX_VAULT + 1];
    char actor[SR_MAX_TOKEN_NAME + 1];
    char reason[160];
};

struct sr_refusals {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool running, stopping;
    pthread_t thread; /* the housekeeper: writes ended minutes' counts */
    atomic_uint in_flight; /* refusal entries queued to the store and not yet durable */
    size_t ngroups;
    struct sr_refusal_group groups[SR_REFUSAL_GROUPS];
};

struct sr_vault_svc {
    char data_dir[SR_PATH_MAX];
    struct sr_store *store; /* borrowed */
    pthread_mutex_t lock;   /* serialises opening a region; lookups take no lock */
    struct sr_region_slot regions[SR_MAX_REGIONS];
    _Atomic size_t nregions;
    struct sr_refusals refusals;
    unsigned rotation_interval; /* seconds between the scheduler's checks; 0: no scheduler (not serving) */
    long long rotation_next;    /* the housekeeper's alone */
    unsigned checkpoint_interval; /* seconds between audit checkpoints in DATA/checkpoints; 0: none */
    long long checkpoint_next, checkpoint_last_seq; /* the housekeeper's alone */
    bool short_policies; /* --dev: rotation policies below Key Vault's minimums are taken (tests, demos) */
    struct sr_seal_config seal; /* where the region modules' KM0s live; opening a region unseals (under lock) */
    struct sr_unseal_slot unseals[SR_MAX_REGIONS]; /* cards: partial quorums, under lock */
    size_t nunseals;
    struct sr_ident_cache idc; /* identity.c, authority.c */
    sr_jwks_fetch_fn jwks_fetch; /* NULL: no outbound call, ever */
    void *jwks_fetch_ctx;
    long long token_lifetime;  /* seconds an access token of the authority lives */
};

/* The region's HSM when this server has it open (no lock, no opening), else NULL. */
const struct sr_hsm *sr_svc_region_open(struct sr_vault_svc *svc, const char *region);
/* unseal.c: the complete quorum of a cards-sealed region (lock held), or NULL while it is sealed. */
const struct sr_quorum *sr_svc_quorum_of(struct sr_vault_svc *svc, const char *region);
void sr_svc_unseals_free(struct sr_vault_svc *svc);

/* audit.c: the first region (by name) whose module this server holds, opening it if need be. */
SR_MUST_USE enum sr_err sr_svc_first_region(struct sr_vault_svc *svc, const struct sr_hsm **ret,
                                            char name[SR_MAX_REGION + 1]);
/* audit.c: writes DATA/checkpoints/checkpoint-SEQ.json when the log grew since the last one (at most once
 * per checkpoint_interval), signed by the module of the first region this server holds. */
void sr_checkpoint_tick(struct sr_vault_svc *svc);

/* rotation.c */
/* An ISO-8601 duration (P90D, PT12H, P1Y2M) in seconds; SR_ERR_BAD_PARAM if it is not one. */
SR_MUST_USE enum sr_err sr_duration_parse(const char *text, long long *ret);
/* A rotation policy's lifetimeActions and attributes as Key Vault takes them, its minimums held (7 days for a
 * trigger, 28 for expiryTime) unless short is set; why says what is wrong. */
SR_MUST_USE enum sr_err sr_policy_check(const json_t *actions, const json_t *attrs, bool short_ok, char *why,
                                        size_t cap);
/* The exp a version made now gets under policy's attributes.expiryTime; 0 when it sets none. */
long long sr_policy_expiry(const json_t *policy, long long now);
/* Rotates every key whose policy says it is due (at most once per rotation_interval). */
void sr_rotation_tick(struct sr_vault_svc *svc);

void sr_refusals_init(struct sr_vault_svc *svc);
/* Stops the housekeeper, writes every count still open and waits until the store has them. */
void sr_refusals_finish(struct sr_vault_svc *svc);

/* auth.c: 256 random bits as 43 base64url characters (a token, a client secret), in a secret buffer. */
SR_MUST_USE enum sr_err sr_random_text(struct sr_buf *out);
/* auth.c: a permission set as the role table names it (["get", "list", "create", ...]). */
SR_MUST_USE enum sr_err sr_perms_json(unsigned perms, json_t **ret);

/* The region's HSM, opened once and checked (a software module: mode O, world loaded and intact). Shared. */
SR_MUST_USE enum sr_err sr_svc_region_hsm(struct sr_vault_svc *svc, const char *region, const struct sr_hsm **ret);

/* --- what the key files share (keys.c) --- */

#define SR_MAX_OP_INPUT 4096u
/* The module ACL of vault keys: every use; key_ops, which the owner may change, narrows it per request. */
#define SR_VAULT_ACL (SR_ACL_SIGN | SR_ACL_VERIFY | SR_ACL_ENCRYPT | SR_ACL_DECRYPT | SR_ACL_WRAP | SR_ACL_UNWRAP)

/* What keys and secrets share (keys.c): a row's attributes (a key's with "exportable"), a deleted one's
 * recoveryId ("{base}/{collection}/{name}") and dates, and lists of a namespace's rows, paged. */
SR_MUST_USE enum sr_err sr_row_attrs_json(const struct sr_key_row *k, bool key, json_t **ret);
SR_MUST_USE enum sr_err sr_row_deleted_fields(const struct sr_request *req, const char *collection,
                                              const struct sr_key_row *k, const struct sr_name_row *n, json_t *obj);
typedef enum sr_err (*sr_row_item_fn)(const struct sr_request *req, const struct sr_key_row *k,
                                      const struct sr_name_row *n, bool with_version, json_t **ret);
/* The latest version of each live (deleted) name of space, as items, with Key Vault's nextLink to path. */
SR_MUST_USE enum sr_err sr_rows_list(struct sr_vault_svc *svc, struct sr_request *req, const char *space,
                                     bool deleted, const char *path, sr_row_item_fn item, json_t **ret);
/* The versions of req->name in space, linked as /{collection}/{name}/versions. */
SR_MUST_USE enum sr_err sr_rows_versions(struct sr_vault_svc *svc, struct sr_request *req, const char *space,
                                         const char *collection, sr_row_item_fn item, json_t **ret);
/* A backup: content (name, subscription, versions; kind "secret" for a secret's, none for a key's) sealed by the
 * region's HSM as {"value": base64url}; and the content of a restore's body opened, bound to this vault's
 * subscription and of the kind asked, with req->name set to its name (*ret_content to free; *ret_versions its). */
SR_MUST_USE enum sr_err sr_backup_seal(struct sr_vault_svc *svc, const struct sr_request *req, const json_t *content,
                                       const char *kind, json_t **ret);
SR_MUST_USE enum sr_err sr_backup_open(struct sr_vault_svc *svc, struct sr_request *req, const char *kind,
                                       json_t **ret_content, const json_t **ret_versions);
/* A soft-deleted name's retention, and the retention's end from now. */
#define SR_RETENTION_DAYS 90
/* Sets req->detail and returns SR_ERR_BAD_PARAM (a 400 that says what is wrong). */
__attribute__((format(printf, 2, 3))) enum sr_err sr_req_bad(struct sr_request *req, const char *fmt, ...);
/* The request's key name is one Key Vault accepts. */
SR_MUST_USE enum sr_err sr_key_name_check(const struct sr_request *req);
/* The key (version) the request names, SR_ERR_KEY_NOT_FOUND with its name otherwise. */
SR_MUST_USE enum sr_err sr_req_key(struct sr_vault_svc *svc, struct sr_request *req, bool deleted_ok,
                                   struct sr_key_row *k, struct sr_name_row *n);
/* Enabled, within nbf/exp, and kop in its key_ops. */
SR_MUST_USE enum sr_err sr_key_usable(struct sr_request *req, const struct sr_key_row *k, unsigned kop);
/* key_ops as a bit set; only operations in allowed. */
SR_MUST_USE enum sr_err sr_key_ops_parse(struct sr_request *req, const json_t *arr, unsigned allowed, unsigned *ret);
unsigned sr_key_default_ops(enum sr_key_type type);
SR_MUST_USE enum sr_err sr_key_attrs_parse(struct sr_request *req, const json_t *attrs, struct sr_key_row *k);
SR_MUST_USE enum sr_err sr_key_tags_parse(struct sr_request *req, const json_t *tags, struct sr_key_row *k);
/* https://vault/keys/NAME[/VERSION] */
SR_MUST_USE enum sr_err sr_key_kid(const struct sr_request *req, const char *name, const char *version, char *out,
                                   size_t cap);
/* The key's public half, decoded once per blob by the region's module. */
SR_MUST_USE enum sr_err sr_key_row_public(struct sr_vault_svc *svc, const struct sr_request *req,
                                          const struct sr_key_row *k, EVP_PKEY **ret);
SR_MUST_USE enum sr_err sr_key_new_version(char out[SR_VERSION_LEN + 1]);
/* A new row for the request's vault and name: enabled, created now, an empty blob. */
void sr_key_row_init(const struct sr_request *req, struct sr_key_row *k);
/* KeyBundle (DeletedKeyBundle when n says deleted): public JWK, attributes, tags. */
SR_MUST_USE enum sr_err sr_key_bundle(struct sr_vault_svc *svc, const struct sr_request *req,
                                      const struct sr_key_row *k, const struct sr_name_row *n, json_t **ret);
/* Stores a freshly made version and answers with its bundle. */
SR_MUST_USE enum sr_err sr_key_insert_answer(struct sr_vault_svc *svc, struct sr_request *req, struct sr_key_row *k,
                                             json_t **ret);
/* The module's refusals of a key's type or size in JWK's words. */
SR_MUST_USE enum sr_err sr_key_rest_words(struct sr_request *req, enum sr_err r);

/* One function per operation: lifecycle in keys.c, cryptography in keyops.c, import in import.c. */
typedef enum sr_err (*sr_op_fn)(struct sr_vault_svc *svc, struct sr_request *req, json_t **ret);
enum sr_err sr_op_key_create(struct sr_vault_svc *, struct sr_request *, json_t **);
enum sr_err sr_op_key_import(struct sr_vault_svc *, struct sr_request *, json_t **);
enum sr_err sr_op_key_get(struct sr_vault_svc *, struct sr_request *, json_t **);
enum sr_err sr_op_key_list(struct sr_vault_svc *, struct sr_request *, json_t **);
enum sr_err sr_op_key_versions(struct sr_vault_svc *, struct sr_request *, json_t **);
enum sr_err sr_op_key_update(struct sr_vault_svc *, struct sr_request *, json_t **);
enum sr_err sr_op_key_delete(struct sr_vault_svc *, struct sr_request *, json_t **);
enum sr_err sr_op_deleted_list(struct sr_vault_svc *, struct sr_request *, json_t **);
enum sr_err sr_op_deleted_get(struct sr_vault_svc *, struct sr_request *, json_t **);
enum sr_err sr_op_deleted_recover(struct sr_vault_svc *, struct sr_request *, json_t **);
enum sr_err sr_op_deleted_purge(struct sr_vault_svc *, struct sr_request *, json_t **);
enum sr_err sr_op_key_backup(struct sr_vault_svc *, struct sr_request *, json_t **);
enum sr_err sr_op_key_restore(struct sr_vault_svc *, struct sr_request *, json_t **);
enum sr_err sr_op_key_rotate(struct sr_vault_svc *, struct sr_request *, json_t **);
enum sr_err sr_op_policy_get(struct sr_vault_svc *, struct sr_request *, json_t **);
enum sr_err sr_op_policy_put(struct sr_vault_svc *, struct sr_request *, json_t **);
enum sr_err sr_op_sign(struct sr_vault_svc *, struct sr_request *, json_t **);
enum sr_err sr_op_verify(struct sr_vault_svc *, struct sr_request *, json_t **);
enum sr_err sr_op_encrypt(struct sr_vault_svc *, struct sr_request *, json_t **);
enum sr_err sr_op_decrypt(struct sr_vault_svc *, struct sr_request *, json_t **);
enum sr_err sr_op_wrap(struct sr_vault_svc *, struct sr_request *, json_t **);
enum sr_err sr_op_unwrap(struct sr_vault_svc *, struct sr_request *, json_t **);
enum sr_err sr_op_rng(struct sr_vault_svc *, struct sr_request *, json_t **);
enum sr_err sr_op_vault_show(struct sr_vault_svc *, struct sr_request *, json_t **);
enum sr_err sr_op_key_attestation(struct sr_vault_svc *, struct sr_request *, json_t **); /* attest.c */
enum sr_err sr_op_key_release(struct sr_vault_svc *, struct sr_request *, json_t **);     /* release.c */
enum sr_err sr_op_audit_list(struct sr_vault_svc *, struct sr_request *, json_t **);      /* audit.c */
/* secrets.c */
enum sr_err sr_op_secret_set(struct sr_vault_svc *, struct sr_request *, json_t **);
enum sr_err sr_op_secret_get(struct sr_vault_svc *, struct sr_request *, json_t **);
enum sr_err sr_op_secret_list(struct sr_vault_svc *, struct sr_request *, json_t **);
enum sr_err sr_op_secret_versions(struct sr_vault_svc *, struct sr_request *, json_t **);
enum sr_err sr_op_secret_update(struct sr_vault_svc *, struct sr_request *, json_t **);
enum sr_err sr_op_secret_delete(struct sr_vault_svc *, struct sr_request *, json_t **);
enum sr_err sr_op_secret_deleted_list(struct sr_vault_svc *, struct sr_request *, json_t **);
enum sr_err sr_op_secret_deleted_get(struct sr_vault_svc *, struct sr_request *, json_t **);
enum sr_err sr_op_secret_recover(struct sr_vault_svc *, struct sr_request *, json_t **);
enum sr_err sr_op_secret_purge(struct sr_vault_svc *, struct sr_request *, json_t **);
enum sr_err sr_op_secret_backup(struct sr_vault_svc *, struct sr_request *, json_t **);
enum sr_err sr_op_secret_restore(struct sr_vault_svc *, struct sr_request *, json_t **);
enum sr_err sr_op_token_issue(struct sr_vault_svc *, struct sr_request *, json_t **);     /* authority.c */
enum sr_err sr_op_role_definitions(struct sr_vault_svc *, struct sr_request *, json_t **); /* roles.c */
enum sr_err sr_op_role_definition_get(struct sr_vault_svc *, struct sr_request *, json_t **);
enum sr_err sr_op_role_assignments(struct sr_vault_svc *, struct sr_request *, json_t **);
enum sr_err sr_op_role_assignment_get(struct sr_vault_svc *, struct sr_request *, json_t **);
enum sr_err sr_op_role_assignment_put(struct sr_vault_svc *, struct sr_request *, json_t **);
enum sr_err sr_op_role_assignment_delete(struct sr_vault_svc *, struct sr_request *, json_t **);

/* authority.c: an access token of this server's authority → principal (auth.c calls it for a JWT). */
SR_MUST_USE enum sr_err sr_authenticate_jwt(struct sr_vault_svc *svc, const char *token, const char *resource,
                                            const char *host, struct sr_principal *ret);
/* refusals.c: failed client authentications counted this minute from client (and, when actor is not NULL, for
 * that client id or application). */
long long sr_refusals_recent(struct sr_vault_svc *svc, const char *client, const char *actor);

/* --- secure key release (release.c) --- */
/* A release policy's grammar (the decoded data of release_policy); why says what is wrong. */
SR_MUST_USE enum sr_err sr_release_policy_check(const json_t *policy, char *why, size_t cap);
/* Whether a token of issuer with these claims satisfies policy (one that passed the check). */
bool sr_release_policy_allows(const json_t *policy, const char *issuer, const json_t *claims);
/* A new key's attributes.exportable and release_policy from a create or import body, into k->release_policy
 * (NULL: not exportable): an exportable key needs a policy and only an exportable key may have one. */
SR_MUST_USE enum sr_err sr_key_release_parse(struct sr_request *req, const json_t *body, struct sr_key_row *k);
/* An update's: exportable never changes, and an immutable policy never does either. */
SR_MUST_USE enum sr_err sr_key_release_update(struct sr_request *req, const json_t *body, struct sr_key_row *k);
/* The module ACL of a new key version: SR_VAULT_ACL, and Release for an exportable one. */
unsigned sr_key_acl(const struct sr_key_row *k);

#endif
