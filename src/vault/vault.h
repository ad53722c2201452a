/*
 * vault.h - the key vault's service core, independent of HTTP.
 *
 * A struct sr_vault_svc owns the data directory's regions (one software module
 * each, opened on first use and shared by all threads) and borrows a store.
 * Requests arrive as an operation (enum sr_op) with its path parameters, query
 * and JSON body; sr_vault_execute() checks the caller's role, runs the
 * operation, writes one audit entry, and returns the Key Vault JSON response.
 * Keys reach the store only as module-protected blobs of the vault's region.
 */
#ifndef SR_VAULT_VAULT_H
#define SR_VAULT_VAULT_H

#include <jansson.h>

#include "vault/store.h"

enum sr_op {
    SR_OP_KEY_CREATE, SR_OP_KEY_IMPORT, SR_OP_KEY_GET, SR_OP_KEY_LIST, SR_OP_KEY_VERSIONS, SR_OP_KEY_UPDATE,
    SR_OP_KEY_DELETE, SR_OP_DELETED_LIST, SR_OP_DELETED_GET, SR_OP_DELETED_RECOVER, SR_OP_DELETED_PURGE,
    SR_OP_KEY_BACKUP, SR_OP_KEY_RESTORE, SR_OP_KEY_ROTATE, SR_OP_POLICY_GET, SR_OP_POLICY_PUT,
    SR_OP_SIGN, SR_OP_VERIFY, SR_OP_ENCRYPT, SR_OP_DECRYPT, SR_OP_WRAP, SR_OP_UNWRAP, SR_OP_RNG, SR_OP_VAULT_SHOW,
    SR_OP_KEY_ATTESTATION, SR_OP_KEY_RELEASE, SR_OP_AUDIT_LIST, SR_OP_TOKEN_ISSUE, SR_OP_ROLE_DEFINITIONS,
    SR_OP_ROLE_DEFINITION_GET, SR_OP_ROLE_ASSIGNMENTS, SR_OP_ROLE_ASSIGNMENT_GET, SR_OP_ROLE_ASSIGNMENT_PUT,
    SR_OP_ROLE_ASSIGNMENT_DELETE, SR_OP_SECRET_SET, SR_OP_SECRET_GET, SR_OP_SECRET_LIST, SR_OP_SECRET_VERSIONS,
    SR_OP_SECRET_UPDATE, SR_OP_SECRET_DELETE, SR_OP_SECRET_DELETED_LIST, SR_OP_SECRET_DELETED_GET,
    SR_OP_SECRET_RECOVER, SR_OP_SECRET_PURGE, SR_OP_SECRET_BACKUP, SR_OP_SECRET_RESTORE, SR_OP_COUNT_
};

/* The tenant of every token this server's authority issues (tid), named in the 401 challenge. */
#define SR_TENANT_ID "00000000-0000-0000-0000-000000000000"
#define SR_UUID_LEN 36

/* Who is calling: the token's role and scope, never the token itself. */
struct sr_principal {
    char role[48];
    char scope[SR_MAX_VAULT + 1]; /* "" = every vault */
    char actor[SR_MAX_TOKEN_NAME + 1]; /* the token's label (or "tok:" and its id), or the application's name */
    unsigned perms;
    char oid[SR_UUID_LEN + 1];    /* an application (an access token of the authority): its object id, and its
                                   * permissions are its role assignments' at the request's vault and key */
    bool assignable;              /* a labelled token: role assignments to its label add to its role */
};

struct sr_request {
    struct sr_vault_row vault;
    struct sr_principal who;
    const char *base_url;    /* "https://host[:port]" as the client addressed us: the kid prefix */
    const char *api_version;
    const char *name;        /* path {key-name} or NULL */
    const char *version;     /* path {key-version}, "" or NULL = latest */
    const char *scope;       /* role assignments' path scope ("/", "/keys", "/keys/K"), NULL otherwise */
    unsigned maxresults;     /* list paging, 1..25 */
    unsigned skip;           /* list paging offset */
    const json_t *body;      /* NULL when the operation takes none */
    char detail[256];        /* extra words for the error message */
    char client[48];         /* the client's address, for the audit entry */
    char name_buf[SR_MAX_NAME + 2]; /* owns the name when the operation finds it in the body (restore) */
    bool audit_refusal_by_count; /* set by the operation: its refusal is counted with the 401s, not queued */
    unsigned status;             /* set by the operation when its success is not 200 (201: made) */
    /* Filled by the operation: its changes and audit entry, then the outcome once they are durable. */
    struct sr_commit commit;
    enum sr_err result;
    json_t *response;        /* owned; NULL for 204 or an error */
    /* A purge of keys in a token: their references (base64url strings, owned), destroyed in purged_in once the
     * purge is durable, never before (a purge that is not kept must leave its keys usable). */
    json_t *purged;
    const struct sr_hsm *purged_in;
    void (*done)(struct sr_request *req); /* sr_vault_start's completion; ctx is the caller's */
    void *ctx;
};

struct sr_vault_svc;

SR_MUST_USE enum sr_err sr_vault_svc_open(const char *data_dir, struct sr_store *store, struct sr_vault_svc **ret);
/* A server's background work: refusal counts at the end of each minute, keys rotated as their policies
 * say (checked every rotation_seconds), and a signed audit checkpoint every checkpoint_seconds (0: none).
 * sr_vault_svc_free stops it. */
/* The seal the server was started with (serve --tpm overrides DATA/seal's TCTI); its backend's name. */
struct sr_seal_config;
void sr_vault_use_seal(struct sr_vault_svc *svc, const struct sr_seal_config *seal);
const char *sr_vault_seal_name(const struct sr_vault_svc *svc);
/* Opens (unseals) the module of every region this server holds, once per start: a module whose KM0 will not
 * unseal (another TPM, changed PCRs) stops the start with its error; detail names the region and why. */
SR_MUST_USE enum sr_err sr_vault_unseal_regions(struct sr_vault_svc *svc, char *detail, size_t cap);
/*
 * The `cards` unseal (strongroom unseal, over DATA/control.sock): one card file and its PIN toward the
 * quorum of a region this server has joined. A refused card (wrong PIN, another world's, damaged, given
 * twice) is counted in ret->refused and returned as its error; the K-th good one opens the region's
 * module and the region serves. Progress lives in memory only: a restart forgets it.
 */
struct sr_unseal_state {
    bool sealed;
    unsigned have, need, of, refused;
    char world[33];
};
SR_MUST_USE enum sr_err sr_vault_unseal_card(struct sr_vault_svc *svc, const char *region, const uint8_t *card,
                                             size_t len, const char *pin, struct sr_unseal_state *ret);
/* {"backend", "sealed", "regions": [{"name", "sealed", "have", "need", "of", "refused", "world"}]}: every
 * region joined here. */
SR_MUST_USE enum sr_err sr_vault_seal_state(struct sr_vault_svc *svc, json_t **ret);
/* --dev: rotation policies under Key Vault's minimums (7 days, 28 for expiry) are taken, for tests and demos. */
void sr_vault_allow_short_policies(struct sr_vault_svc *svc);
SR_MUST_USE enum sr_err sr_vault_background_start(struct sr_vault_svc *svc, unsigned rotation_seconds,
                                                  unsigned checkpoint_seconds);
void sr_vault_svc_free(struct sr_vault_svc *svc);
struct sr_store *sr_vault_svc_store(struct sr_vault_svc *svc);

/* Token → principal; SR_ERR_UNAUTHORIZED for an unknown token, SR_ERR_TOKEN_EXPIRED when past its time,
 * SR_ERR_TOKEN_REVOKED once revoked (for these two, ret->actor still names the token, for the audit). An
 * access token of this server's authority (a JWT) must also be for resource (the challenge's, "https://localhost"
 * for "kv.localhost:8443"), for this vault's own host ("https://" host, with or without its port) or for Key
 * Vault at large ("https://vault.azure.net"): SR_ERR_JWT_AUDIENCE otherwise. */
SR_MUST_USE enum sr_err sr_vault_authenticate(struct sr_vault_svc *svc, const char *token, const char *resource,
                                              const char *host, struct sr_principal *ret);
/* A principal's permissions at vault (and key, "" or NULL for the vault as a whole): an application's come
 * from its role assignments, a labelled token's role is widened by its own. (An application deleted since its
 * token was issued is refused by sr_vault_authenticate, SR_ERR_PRINCIPAL_GONE.) */
SR_MUST_USE enum sr_err sr_principal_authorize(struct sr_vault_svc *svc, struct sr_principal *who, const char *vault,
                                               const char *key);

/* --- the token authority (authority.c): OpenID Connect's shapes, as Entra's --- */
/* Seconds an access token lives (default 3600; at least 1). */
void sr_vault_token_lifetime(struct sr_vault_svc *svc, long long seconds);
/* The discovery document of the authority at base ("https://host[:port]") for tenant (SR_TENANT_ID, or
 * "adfs": MSAL's shape for an authority it must not look up at login.microsoftonline.com). */
SR_MUST_USE enum sr_err sr_authority_metadata(const char *base, const char *tenant, json_t **ret);
/* The public keys access tokens are signed with (JWKS): the current one and those retired recently. */
SR_MUST_USE enum sr_err sr_authority_jwks(struct sr_vault_svc *svc, json_t **ret);
/* Retires the current signing key: the next token is signed by a new one; tokens signed by the old one stay
 * good until they expire (the old key stays in the JWKS for a token's lifetime). */
SR_MUST_USE enum sr_err sr_authority_rotate(struct sr_store *store);

/* How a server reads an issuer's keys again (trusted with discovery) when a token names a kid it lacks: the
 * command line's libcurl (cli/client.c's sr_fetch_jwks). At most once a minute per issuer; without it (or for an
 * issuer trusted with a JWKS file) the server makes no outbound call. */
typedef enum sr_err (*sr_jwks_fetch_fn)(void *ctx, const char *issuer, json_t **ret_jwks);
void sr_vault_jwks_fetcher(struct sr_vault_svc *svc, sr_jwks_fetch_fn fn, void *ctx);

/* --- applications, trusted issuers, role assignments (identity.c): the operator's side --- */
#define SR_SECRET_TEXT 64
void sr_uuid(char out[SR_UUID_LEN + 1]);
bool sr_is_uuid(const char *s);
#define SR_IDENT_APP "app"
#define SR_IDENT_IDP "idp"
#define SR_IDENT_ASSIGNMENT "assignment"
#define SR_IDENT_SIGNER "signer"
SR_MUST_USE enum sr_err sr_app_name_check(const char *name);
/* A new application (name unique among applications and token labels): its document, with clientId. */
SR_MUST_USE enum sr_err sr_app_create(struct sr_store *store, const char *name, json_t **ret);
/* By name (case-insensitive) or client id: SR_ERR_APP_NOT_FOUND otherwise. */
SR_MUST_USE enum sr_err sr_app_find(struct sr_store *store, const char *name_or_id, json_t **ret);
/* Every application as an operator may see it (sr_app_view). */
SR_MUST_USE enum sr_err sr_app_list(struct sr_store *store, json_t **ret);
json_t *sr_app_view(const json_t *doc);
/* Deletes the application and its role assignments. */
SR_MUST_USE enum sr_err sr_app_delete(struct sr_store *store, const char *app);
/* A new client secret, valid for days (0: a year): written to out, the only time it is ever shown. */
SR_MUST_USE enum sr_err sr_app_secret_add(struct sr_store *store, const char *app, unsigned days,
                                          char out[SR_SECRET_TEXT], char ret_id[9]);
/* A certificate (PEM) whose key signs the application's client assertions; it expires with the certificate. */
SR_MUST_USE enum sr_err sr_app_certificate_add(struct sr_store *store, const char *app, const uint8_t *pem,
                                               size_t len, char ret_id[9]);
/* A federated credential: tokens of issuer (trusted with sr_idp_trust) whose sub is subject and whose aud holds
 * audience sign the application in. */
SR_MUST_USE enum sr_err sr_app_federate(struct sr_store *store, const char *app, const char *issuer,
                                        const char *subject, const char *audience, char ret_id[9]);
SR_MUST_USE enum sr_err sr_app_credential_remove(struct sr_store *store, const char *app, const char *id);
/* Trusts issuer's tokens for federation, checked with jwks; discovery: its keys were read by OIDC discovery,
 * and a server may read them again (sr_vault_jwks_fetcher). */
SR_MUST_USE enum sr_err sr_idp_trust(struct sr_store *store, const char *issuer, const json_t *jwks, bool discovery);
SR_MUST_USE enum sr_err sr_idp_distrust(struct sr_store *store, const char *issuer);
/* Every document of a kind, each with its "name". */
SR_MUST_USE enum sr_err sr_ident_list(struct sr_store *store, const char *kind, json_t **ret);
/* Grants role to principal (application name, client id, object id, or a token label) at scope ("/",
 * "/vaults/V", "/vaults/V/keys/K"), audited with who (the operator) as actor; and takes a grant back. */
SR_MUST_USE enum sr_err sr_role_assignment_create(struct sr_store *store, const char *principal, const char *role,
                                                  const char *scope, const char *who, json_t **ret);
SR_MUST_USE enum sr_err sr_role_assignment_delete(struct sr_store *store, const char *name, const char *who);
/* The built-in roles: [{name, id, permissions: "get,list,..."}]. */
SR_MUST_USE enum sr_err sr_role_definitions_json(json_t **ret);
/*
 * Audits a request refused before any operation (why: SR_ERR_UNAUTHORIZED, _TOKEN_EXPIRED, _TOKEN_REVOKED)
 * without waiting for the store. Identical refusals (client, vault, actor, reason) within a minute make
 * two entries at most: the first at once, then one that counts the rest (refusals.c says why).
 */
void sr_vault_refused(struct sr_vault_svc *svc, const char *client, const char *vault, const char *actor,
                      const char *reason, enum sr_err why);
/* Sets an audit entry's client and reason, control bytes replaced. */
void sr_audit_set_client(struct sr_audit_row *a, const char *client, const char *reason);
/* Makes every text field of an entry well-formed UTF-8 without control bytes (text.h's sr_text_clean): done
 * before an entry is written, and again when one is read, for entries written before it was. */
void sr_audit_row_clean(struct sr_audit_row *a);
/* Vault by name (case-insensitive). */
SR_MUST_USE enum sr_err sr_vault_lookup(struct sr_vault_svc *svc, const char *name, struct sr_vault_row *ret);
/* The vault's row, whether or not this server can serve it (SR_ERR_VAULT_NOT_FOUND if none). */
SR_MUST_USE enum sr_err sr_vault_exists(struct sr_vault_svc *svc, const char *name, struct sr_vault_row *ret);
/*
 * Runs one operation for an authenticated principal and queues its changes with its audit entry (group
 * commit): nothing is acknowledged before both are durable. req->done(req) follows once the outcome is
 * known, from the store's writer thread; then req->result and req->response (NULL: 204) are the answer.
 * The cryptography runs in the calling thread; only the durable write is waited for.
 */
void sr_vault_start(struct sr_vault_svc *svc, enum sr_op op, struct sr_request *req);
/* Frees what the request owns after sr_vault_start (its commit and response). */
void sr_request_release(struct sr_request *req);
/* sr_vault_start and a wait: *ret is the response body (NULL for 204). */
SR_MUST_USE enum sr_err sr_vault_execute(struct sr_vault_svc *svc, enum sr_op op, struct sr_request *req,
                                         json_t **ret);
/* Does op take a request body? (The HTTP layer reads one only then.) */
bool sr_op_has_body(enum sr_op op);
/* Does op use (or make) a private key? Those cost far more than a request's other work. */
bool sr_op_uses_private_key(enum sr_op op);
const char *sr_op_name(enum sr_op op);

/* --- tokens and roles (auth.c) --- */
SR_MUST_USE enum sr_err sr_role_perms(const char *role, unsigned *ret);
/* Makes a random token, stores only its hash; writes the token (base64url, 43 chars + NUL) to out. */
SR_MUST_USE enum sr_err sr_token_name_check(const char *name);
SR_MUST_USE enum sr_err sr_token_create(struct sr_store *store, const char *name, const char *role, const char *vault,
                                        long long ttl_seconds, char out[64]);
SR_MUST_USE enum sr_err sr_token_hash_hex(const char *token, char out[SR_TOKEN_HASH_HEX + 1]);

/* --- regions and vaults (region.c): operator actions on the data directory --- */
struct sr_region_params {
    const char *name;
    unsigned quorum_k, quorum_n;
    const char *card_dir; /* NULL: DATA/regions/NAME/cards */
    unsigned kek_bits;    /* 0: 3072 */
    const char *hsm;      /* an RFC 7512 URI: the region's keys live in that PKCS#11 token (no world, no cards) */
    char *diag;           /* set: why the token refused, for the operator */
    size_t diag_cap;
};
struct sr_pins;
SR_MUST_USE enum sr_err sr_region_create(const char *data_dir, struct sr_store *store,
                                         const struct sr_region_params *params, const struct sr_pins *pins);
/* Joins this server (its data directory) to a region another server made, from the store and a quorum of
 * the region's cards: see region.c. */
struct sr_join_params {
    const char *name;
    const char *card_dir; /* where the inserted cards are */
    const unsigned *cards; /* 1-based card numbers (a software region; none for an HSM region) */
    unsigned ncards;
    const char *hsm;      /* an HSM region: this node's URI of the region's token (NULL: the recorded one) */
    char *diag;           /* what the token said, when it refused */
    size_t diag_cap;
};
SR_MUST_USE enum sr_err sr_region_join(const char *data_dir, struct sr_store *store,
                                       const struct sr_join_params *params, const struct sr_pins *pins);
/* DATA/regions/R/hsm: an HSM region's region.json, warrant and root (absent for a software region). */
SR_MUST_USE enum sr_err sr_region_hsm_dir(const char *data_dir, const char *region, char *out, size_t cap);
SR_MUST_USE enum sr_err sr_region_kmdata(const char *data_dir, const char *region, char *out, size_t cap);
/* Where a command finds a region's card files: card_dir when given, else DATA/regions/R/cards, where
 * 'region create' writes them. */
SR_MUST_USE enum sr_err sr_region_cards(const char *data_dir, const char *region, const char *card_dir, char *out,
                                        size_t cap);
/*
 * `seal rebuild` (rebuild.c), on a stopped server: the way back on new hardware for a data directory whose
 * module keys were sealed by a TPM or token it no longer has (a backup restored on a new machine). The
 * directory is sealed by params->seal from now on; every module key that does not open under it is moved
 * to DATA/unsealable/; each region is rebuilt as a join, from a quorum of its cards (card_dir NULL:
 * DATA/regions/R/cards), warranted by a new root. SR_ERR_REBUILD_NOT_NEEDED when every region opens here.
 */
struct sr_seal_config;
struct sr_rebuild_params {
    const struct sr_seal_config *seal;
    const char *card_dir;
    const unsigned *cards;
    unsigned ncards;
};
struct sr_rebuild_report {
    unsigned set_aside; /* module directories moved to DATA/unsealable */
    unsigned rebuilt;   /* regions joined again */
    char failed_region[SR_MAX_REGION + 1];
};
SR_MUST_USE enum sr_err sr_vault_rebuild(const char *data_dir, struct sr_store *store,
                                         const struct sr_rebuild_params *params, const struct sr_pins *pins,
                                         struct sr_rebuild_report *ret);
/* Lets vault trust an attestation authority for key release (release.c): issuer is its tokens' iss (an http(s)
 * URL), jwks its signing keys ({"keys": [JWK, ...]}, RSA or EC public keys). Trusting it again replaces its
 * keys. SR_ERR_BAD_PARAM with why for a bad issuer or key set, SR_ERR_VAULT_NOT_FOUND without the vault. */
SR_MUST_USE enum sr_err sr_vault_trust_authority(struct sr_store *store, const char *vault, const char *issuer,
                                                 const uint8_t *jwks, size_t len, char *why, size_t cap);
/* The vault trusts issuer no more (matched as tokens are: case and a trailing '/' aside): tokens it signs
 * release nothing from now on. SR_ERR_NOT_FOUND when the vault does not trust it. */
SR_MUST_USE enum sr_err sr_vault_distrust_authority(struct sr_store *store, const char *vault, const char *issuer);
SR_MUST_USE enum sr_err sr_vault_create(struct sr_store *store, const char *name, const char *region,
                                        const char *subscription);
SR_MUST_USE enum sr_err sr_region_name_check(const char *name);
/* DATA/regions/R/toolset: both packages and KeyVault-BYOK-Tools-R.zip, made with the region. */
SR_MUST_USE enum sr_err sr_region_toolset_dir(const char *data_dir, const char *region, char *out, size_t cap);
/* The published toolsets: [{"region","name","sha256"}] for every region. */
SR_MUST_USE enum sr_err sr_vault_toolsets(struct sr_vault_svc *svc, json_t **ret);
/* Liveness for a load balancer: the store answers a read, and how many of its regions this server holds
 * (has loaded or can load). SR_OK or the store's error (SR_ERR_UNAVAILABLE when it cannot be reached). */
struct sr_vault_health {
    unsigned regions; /* in the store */
    unsigned held;    /* whose module this server has open or can open */
    unsigned sealed;  /* joined here, sealed by `cards` until 'strongroom unseal' */
    unsigned ndown;   /* regions whose HSM token is unreachable now, and (the first few) their names */
    char down[8][SR_MAX_REGION + 1];
};
SR_MUST_USE enum sr_err sr_vault_health(struct sr_vault_svc *svc, struct sr_vault_health *ret);
/* The zip of a toolset by file name (KeyVault-BYOK-Tools-R.zip), into out. */
SR_MUST_USE enum sr_err sr_vault_toolset_bytes(struct sr_vault_svc *svc, const char *name, struct sr_buf *out);
SR_MUST_USE enum sr_err sr_vault_name_check(const char *name);

/* --- audit (audit.c) --- */
/* Walks the chain; on a break, *ret_bad_seq is the first bad entry. */
SR_MUST_USE enum sr_err sr_audit_verify(struct sr_store *store, long long *ret_count, long long *ret_bad_seq);
struct sr_hsm;
/* A checkpoint at path: the intact chain's head (entry count and hash) signed by the HSM m of region, in
 * the packages' envelope; *ret_seq is the count it signed. SR_ERR_AUDIT_BROKEN if the chain is not intact. */
SR_MUST_USE enum sr_err sr_audit_checkpoint_write(struct sr_store *store, const struct sr_hsm *m,
                                                  const char *region, const char *path, long long *ret_seq);
/* Checks a checkpoint up to the pinned root, then that the log is intact and still holds exactly the entry
 * it signed: SR_ERR_AUDIT_BROKEN with why otherwise (a forged checkpoint, a removed tail, a rewrite). */
SR_MUST_USE enum sr_err sr_audit_checkpoint_check(struct sr_store *store, const uint8_t *data, size_t len,
                                                  const uint8_t pinned[32], long long *ret_seq, long long *ret_count,
                                                  char *why, size_t cap);
/* The same walk; at_hash gets the hash of entry at_seq ("" if the log has no such entry), or with at_seq 0
 * the head's hash (64 '0' for an empty log). */
SR_MUST_USE enum sr_err sr_audit_verify_to(struct sr_store *store, long long *ret_count, long long *ret_bad_seq,
                                           long long at_seq, char at_hash[65]);

#endif
