/*
 * module.h - the software HSM: a kmdata directory and the operations on it.
 *
 * Layout ($STRONGROOM_KMDATA, default ./kmdata), every file 0600, written atomically:
 *   module/km0          the module's own 256-bit key (the analogue of nShield's KM0);
 *                       it seals everything under module/ and never leaves the host
 *   module/esn          the module's electronic serial number
 *   module/identity     the module's identity key (ECDSA P-384), sealed under KM0
 *   module/warrant.pem  X.509 certificate of the identity key, signed by a root
 *   module/root.pem     the root certificate that signed the warrant
 *   module/mode         "I" or "O"
 *   module/nvram        the loaded world key KM, sealed under KM0 (absent after reset)
 *   local/world         world file (id, suite, quorum, KM check value), MACed under KM
 *   local/key_<app>_<ident>  module-protected keys, AES-256-GCM under a KM sub-key
 *   cards/acs_<world>_<i>.card  administrator cards (default --card-dir)
 *   trusted-root        the pinned root fingerprint (root trust)
 *
 * Clear private keys and the clear world key exist only inside hsm/: callers
 * get results (signatures, public keys, headers), never key material.
 * A struct sr_module is owned by its caller: sr_module_open() and
 * sr_module_free(). Failure detail (which card, which file) goes to m->diag.
 */
#ifndef SR_HSM_MODULE_H
#define SR_HSM_MODULE_H

#include <stdbool.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "base/buf.h"
#include "base/limits.h"
#include "crypto/pkey.h"
#include "hsm/acl.h"

#define SR_WORLD_ID_LEN 16u
#define SR_ESN_LEN 14u /* "XXXX-XXXX-XXXX" */

struct sr_module;

struct sr_world_info {
    char id[2 * SR_WORLD_ID_LEN + 1];
    char suite[64];
    unsigned quorum_k;
    unsigned quorum_n;
    uint8_t hkm[SR_HASH_LEN];
    long long created;
};

/* PINs for cards 1..N; entry i-1 is card i's PIN or NULL when that card is not inserted. */
struct sr_pins {
    char *pin[SR_MAX_CARDS];
};
void sr_pins_release(struct sr_pins *pins);

struct sr_seal_config;
/* A module whose KM0 is a plain file (the key owner's workstation, tests). */
SR_MUST_USE enum sr_err sr_module_open(const char *kmdata, struct sr_module **ret);
/* Whether kmdata holds a module already (opening one that does not makes a new module there). */
bool sr_module_present(const char *kmdata);
/* A module of a data directory: its KM0 kept by the directory's seal (km0.h); NULL is `file`. */
SR_MUST_USE enum sr_err sr_module_open_sealed(const char *kmdata, struct sr_seal_config *seal, struct sr_module **ret);
void sr_module_free(struct sr_module *m);
SR_DEFINE_CLEANUP(sr_module_freep, struct sr_module, sr_module_free)
#define SR_AUTO_MODULE SR_AUTO(sr_module_freep)

const char *sr_module_diag(const struct sr_module *m);
const char *sr_module_dir(const struct sr_module *m);
const char *sr_module_esn(const struct sr_module *m);
char sr_module_mode(const struct sr_module *m);
SR_MUST_USE enum sr_err sr_module_set_mode(struct sr_module *m, char mode);
/* Erases NVRAM, as a tamper event would: keys stay unusable until 'world load'. */
SR_MUST_USE enum sr_err sr_module_reset(struct sr_module *m);
bool sr_module_has_world_key(const struct sr_module *m);
/* Mode O, world key loaded, world file intact and matching: what every key operation needs. */
SR_MUST_USE enum sr_err sr_module_require_world(struct sr_module *m, struct sr_world_info *ret);
/* Reads the world file header without needing the world key (for 'world show' and quorum ops). */
SR_MUST_USE enum sr_err sr_module_world_info(struct sr_module *m, struct sr_world_info *ret);

/* --- root and warrant (root.c) --- */
/* Creates a root in root_dir (never overwriting) and returns its fingerprint; its KM0 kept by seal. */
SR_MUST_USE enum sr_err sr_root_init(const char *root_dir, struct sr_seal_config *seal,
                                     uint8_t ret_fingerprint[SR_HASH_LEN]);
SR_MUST_USE enum sr_err sr_root_fingerprint(const char *root_dir, uint8_t ret_fingerprint[SR_HASH_LEN]);
/* The root in root_dir signs module m's identity: module/warrant.pem and module/root.pem. */
SR_MUST_USE enum sr_err sr_root_warrant_module(const char *root_dir, struct sr_seal_config *seal, struct sr_module *m);
/* The same for any identity key (an HSM region's, inside its token): out_dir/warrant.pem, out_dir/root.pem. */
SR_MUST_USE enum sr_err sr_root_warrant_key(const char *root_dir, struct sr_seal_config *seal, EVP_PKEY *identity,
                                            const char *subject, const char *out_dir);
SR_MUST_USE enum sr_err sr_module_trust_root(struct sr_module *m, const uint8_t fingerprint[SR_HASH_LEN]);
/* SR_OK with the trusted fingerprint, SR_ERR_NOT_FOUND if none is pinned. */
SR_MUST_USE enum sr_err sr_module_trusted_root(struct sr_module *m, uint8_t ret_fingerprint[SR_HASH_LEN]);
/* Checks module/warrant.pem against module/root.pem and the identity key; returns the root's fingerprint. */
SR_MUST_USE enum sr_err sr_module_check_warrant(struct sr_module *m, uint8_t ret_root_fingerprint[SR_HASH_LEN]);

/* --- security world (world.c) --- */
struct sr_world_params {
    const char *suite;
    unsigned quorum_k;
    unsigned quorum_n;
    const char *card_dir; /* NULL: <kmdata>/cards */
};
/* Mode I only. Makes KM, splits it K-of-N onto N cards under pins (all N needed), writes the world, loads KM. */
SR_MUST_USE enum sr_err sr_world_create(struct sr_module *m, const struct sr_world_params *params,
                                        const struct sr_pins *pins, struct sr_world_info *ret);
/* Reassembles KM from the inserted cards (card numbers 1-based) and checks it against the world file. */
SR_MUST_USE enum sr_err sr_world_load(struct sr_module *m, const char *card_dir, const unsigned *cards,
                                      unsigned ncards, const struct sr_pins *pins);
/* Checks a quorum without loading anything: what 'modify-acls' and other ACS operations require. */
SR_MUST_USE enum sr_err sr_world_check_quorum(struct sr_module *m, const char *card_dir, const unsigned *cards,
                                              unsigned ncards, const struct sr_pins *pins);

/* --- a world key given back one card at a time (quorum.c): how a `cards`-sealed module opens --- */
struct sr_quorum;
struct sr_quorum_progress {
    unsigned have, need, of; /* distinct cards taken, the quorum K, the set's N */
    unsigned refused;        /* cards refused so far: a wrong PIN, another world's card, a damaged file */
    bool done;               /* the world key is back and authenticated the world file */
    char world_id[2 * SR_WORLD_ID_LEN + 1];
};
/* A quorum toward the world of the module in kmdata (its local/world says which, and K). */
SR_MUST_USE enum sr_err sr_quorum_new(const char *kmdata, struct sr_quorum **ret);
/* One card (the bytes of its file) and its PIN. Refused, and counted: SR_ERR_BAD_PIN, SR_ERR_CARD_TAMPERED,
 * SR_ERR_WORLD_MISMATCH (another world's card), SR_ERR_CARD_REPEATED. The K-th card combines the shares and
 * authenticates the world file (SR_ERR_CARD_FOREIGN: the shares so far are forgotten). */
SR_MUST_USE enum sr_err sr_quorum_add(struct sr_quorum *q, const uint8_t *card_file, size_t len, const char *pin);
void sr_quorum_progress(const struct sr_quorum *q, struct sr_quorum_progress *ret);
/* A complete quorum from card files (card_dir/acs_<world>_<n>.card), for a command given the cards. */
SR_MUST_USE enum sr_err sr_quorum_from_cards(const char *kmdata, const char *card_dir, const unsigned *cards,
                                             unsigned ncards, const struct sr_pins *pins, struct sr_quorum **ret);
void sr_quorum_free(struct sr_quorum *q);
/* The module of a `cards`-sealed directory, opened with the world key of a complete quorum (SR_ERR_SEALED
 * before): its KM0 unsealed under it, the world loaded. */
SR_MUST_USE enum sr_err sr_module_open_quorum(const char *kmdata, struct sr_seal_config *seal,
                                              const struct sr_quorum *q, struct sr_module **ret);

/* --- module-protected keys (keyfile.c) --- */
struct sr_keygen_params {
    const char *app;       /* "simple" */
    const char *ident;
    const char *plainname;
    struct sr_key_spec spec;
    unsigned acl;          /* 0: the default for the key type */
    struct sr_buf *out;    /* set: the key file's bytes go here and no file is written (a PKCS#11 session
                            * object, which lives in the library's memory, sealed as a file would be) */
};

/* Where a transfer copy (key_xferacld_<ident>) may go: set by modify-acls, authenticated in its header. */
struct sr_export_target {
    char kek_kid[256];
    char region[32];       /* "" when the KEK is a vault key (the guide's "new method") */
    char world_id[2 * SR_WORLD_ID_LEN + 1];
    uint8_t world_hkm[SR_HASH_LEN];
};

#define SR_ORIGIN_GENERATED "generated"
#define SR_ORIGIN_IMPORTED "imported"
#define SR_ORIGIN_TRANSFERRED "transferred"
#define SR_ORIGIN_DERIVED "derived" /* by ECDH, from a key of the module */

struct sr_key_info {
    char app[32];
    char ident[SR_MAX_IDENT + 1];
    char plainname[SR_MAX_PLAINNAME + 1];
    struct sr_key_spec spec;
    struct sr_acl acl;
    uint8_t world_hkm[SR_HASH_LEN];
    uint8_t key_hash[SR_HASH_LEN];
    long long created;
    /* Where the key came from: "generated" in a module, "imported" (a clear JWK), "transferred" (BYOK);
     * "" in files written before it was kept. Authenticated with the rest of the header. */
    char origin[16];
    bool has_target;
    struct sr_export_target target;
};

SR_MUST_USE enum sr_err sr_ident_check(const char *ident);
SR_MUST_USE enum sr_err sr_key_path(const struct sr_module *m, const char *app, const char *ident, char *out,
                                    size_t cap);
SR_MUST_USE enum sr_err sr_key_generate(struct sr_module *m, const struct sr_keygen_params *params,
                                        struct sr_key_info *ret);
/* Parses a key file's header (no world key needed). verified tells whether the file was also
 * authenticated, which happens when this module holds the key's world. A file that fails
 * authentication is an error, never "unverified". */
SR_MUST_USE enum sr_err sr_key_inspect(struct sr_module *m, const char *path, struct sr_key_info *ret,
                                       bool *ret_verified);
/* PKCS#11's C_CopyObject of a key: the key of a key file (app, its bytes) becomes the key file params names
 * (into params->out, or written), with the same type, size and origin; params->acl may only narrow the
 * original's (SR_ERR_ACL_DENIED). */
SR_MUST_USE enum sr_err sr_keyfile_copy(struct sr_module *m, const char *app, const uint8_t *bytes, size_t len,
                                        const struct sr_keygen_params *params, struct sr_key_info *ret);
/* PKCS#11's C_DeriveKey with CKM_ECDH1_DERIVE (CKD_NULL): ECDH of a key file's EC key (app, its bytes; ACL
 * Derive) with peer becomes the secret key file params names (params->spec: AES or generic, bits 0 or the
 * shared secret's whole length). */
SR_MUST_USE enum sr_err sr_keyfile_derive_ecdh(struct sr_module *m, const char *app, const uint8_t *bytes, size_t len,
                                               EVP_PKEY *peer, const struct sr_keygen_params *params,
                                               struct sr_key_info *ret);
/* Deletes a kmdata key file (PKCS#11's C_DestroyObject): SR_ERR_NOT_FOUND if there is none. */
SR_MUST_USE enum sr_err sr_key_destroy(struct sr_module *m, const char *app, const char *ident);
SR_MUST_USE enum sr_err sr_key_public(struct sr_module *m, const char *app, const char *ident, EVP_PKEY **ret);
SR_MUST_USE enum sr_err sr_key_sign(struct sr_module *m, const char *app, const char *ident, enum sr_sign_alg alg,
                                    const void *msg, size_t len, enum sr_sig_format fmt, struct sr_buf *out_sig);

/* --- the PKCS#11 user PIN (userpin.c): an scrypt hash in module/pkcs11-pin --- */
#define SR_MIN_USER_PIN 4u
#define SR_MAX_USER_PIN 64u
#define SR_DEFAULT_PIN_TRIES 10u
#define SR_MAX_PIN_TRIES 100u
bool sr_module_user_pin_set(const struct sr_module *m);
/* A new user PIN (the wrong tries forgotten) locking after max_tries wrong ones in a row (0: the limit the
 * token had, else SR_DEFAULT_PIN_TRIES). */
SR_MUST_USE enum sr_err sr_module_set_user_pin_tries(struct sr_module *m, const char *pin, size_t len,
                                                     unsigned max_tries);
SR_MUST_USE enum sr_err sr_module_set_user_pin(struct sr_module *m, const char *pin, size_t len);
/* SR_OK (the count of wrong tries reset), SR_ERR_BAD_PIN (counted), or SR_ERR_PIN_LOCKED once max_tries
 * wrong ones came in a row — then even the right PIN, until a new one is set. */
SR_MUST_USE enum sr_err sr_module_check_user_pin(const struct sr_module *m, const char *pin, size_t len);
/* Wrong tries since the last right one, and the limit: the token's PIN flags. */
SR_MUST_USE enum sr_err sr_module_user_pin_state(const struct sr_module *m, unsigned *ret_failures,
                                                 unsigned *ret_max);

#endif
