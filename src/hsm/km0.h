/*
 * km0.h - where each module's KM0 lives: the seal of a data directory.
 *
 * Every module key (KM0) of a data directory — each region's module, the root, tls/ — is kept by one
 * backend, chosen per data directory in DATA/seal and per node:
 *
 *   file    KM0 is the file itself (32 bytes, mode 0600): a copy of the directory is a copy of every key.
 *           For --dev and tests; every start says so.
 *   tpm2    KM0 is a keyed-hash object sealed by a TPM 2.0 under a primary key of its storage hierarchy
 *           (KM0.tpm2 holds the TPM's public and private blobs, useless to another TPM), optionally
 *           under a PCR policy; it crosses the bus only inside a salted session (parameter encryption).
 *   pkcs11  KM0 is encrypted (CKM_AES_GCM) by a non-extractable AES key inside a PKCS#11 HSM named by an
 *           RFC 7512 URI; KM0.p11 holds the IV, ciphertext and tag, useless without that token's key.
 *   cards   a region module's KM0 is encrypted under a key derived from the region's world key, which
 *           exists only once a quorum of the region's administrator cards gave it back (strongroom
 *           unseal, at each start): km0.cards opens with nothing on the disk, and no NVRAM is kept. The
 *           keys of no world (root/, tls/) are files under it: the server answers TLS while sealed.
 *
 * The rest of the module derives from KM0 exactly as before: nothing above hsm/ knows which backend
 * holds it. A backend is a row of operations (struct sr_seal_ops); KM0 is unsealed once per start, onto
 * OpenSSL's secure heap.
 */
#ifndef SR_HSM_KM0_H
#define SR_HSM_KM0_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "base/fileio.h"
#include "base/safety.h"

enum sr_seal_backend { SR_SEAL_FILE, SR_SEAL_TPM2, SR_SEAL_PKCS11, SR_SEAL_CARDS };

struct sr_seal_config {
    enum sr_seal_backend backend;
    char tcti[256];  /* tpm2: the TCTI (--tpm, else STRONGROOM_TPM_TCTI, else the one given at init) */
    uint32_t pcrs;   /* tpm2: the SHA-256 PCRs KM0 is bound to, one bit each (bit 7: PCR 7); 0: none */
    char pkcs11[1024]; /* pkcs11: the token's RFC 7512 URI (module-path=, pin-source=file:PATH, object=) */
    char diag[512];  /* what the last failure was about: the TCTI tried, the PCRs that changed */
    /* cards: the world key a quorum gave, borrowed (secure heap) for one call by the module layer; NULL
     * while the region is sealed. world_id names the world it belongs to. */
    const uint8_t *world_key;
    char world_id[33];
};

#define SR_TPM_TCTI_DEFAULT "device:/dev/tpmrm0"

/* DATA/seal; without it the directory is sealed by `file`, as every directory was before seals. */
SR_MUST_USE enum sr_err sr_seal_config_read(const char *data_dir, struct sr_seal_config *ret);
/* The seal of the data directory a region module belongs to (kmdata = DATA/regions/R/kmdata), or `file` for
 * a module of its own (the key owner's STRONGROOM_KMDATA): what commands on a module directory open it with. */
SR_MUST_USE enum sr_err sr_seal_config_of_kmdata(const char *kmdata, struct sr_seal_config *ret);
/* `seal init`: DATA/seal for a directory that has no module key yet (SR_ERR_EXISTS otherwise). */
SR_MUST_USE enum sr_err sr_seal_config_init(const char *data_dir, const struct sr_seal_config *cfg);
/* DATA/seal written atomically: create it, or replace it (the commit of a migration or a rebuild). */
SR_MUST_USE enum sr_err sr_seal_config_write(const char *data_dir, const struct sr_seal_config *cfg,
                                             enum sr_write_mode mode);
/* An explicit TCTI (serve --tpm) or STRONGROOM_TPM_TCTI overrides the one written at init. */
void sr_seal_config_tcti(struct sr_seal_config *cfg, const char *tcti);
SR_MUST_USE enum sr_err sr_seal_backend_parse(const char *name, enum sr_seal_backend *ret);
const char *sr_seal_backend_name(enum sr_seal_backend b);
/* "7" or "0,2,7" into a bit mask (PCRs 0 to 23). */
SR_MUST_USE enum sr_err sr_seal_pcrs_parse(const char *list, uint32_t *ret);

/*
 * The KM0 kept at path (a module's module/km0, root/km0, tls/km0) by the seal's backend, onto the secure
 * heap; when there is none and create is set, a new random one is made and sealed. seal NULL: `file`.
 * On failure cfg->diag says what was tried.
 */
SR_MUST_USE enum sr_err sr_km0_load(struct sr_seal_config *seal, const char *path, bool create, uint8_t **ret_secure);
/*
 * Rollback: the module's anchor, kept off the disk by the backend (tpm2: an NV index; pkcs11: a data object
 * in the token; made with the KM0), holds the digest of its NVRAM as last written (SHA-256 of module/nvram,
 * 32 zero bytes when there is none). check compares it on every open (SR_ERR_NVRAM_ROLLBACK when the disk
 * holds another: an older copy restored after a reset or a world change); set records every change. A
 * backend without anchors (file) checks and records nothing.
 */
SR_MUST_USE enum sr_err sr_km0_anchor_check(struct sr_seal_config *seal, const char *path, const uint8_t digest[32]);
SR_MUST_USE enum sr_err sr_km0_anchor_set(struct sr_seal_config *seal, const char *path, const uint8_t digest[32]);
/* Whether the seal's backend keeps a KM0 for path (its file exists). */
bool sr_km0_present(const struct sr_seal_config *seal, const char *path);
/* A new KM0 for path, kept later by sr_km0_keep (cards: once the world key exists); refused with
 * SR_ERR_SEAL_MISMATCH when another backend keeps one there. */
SR_MUST_USE enum sr_err sr_km0_new(struct sr_seal_config *seal, const char *path, uint8_t **ret_secure);
SR_MUST_USE enum sr_err sr_km0_keep(struct sr_seal_config *seal, const char *path, const uint8_t *km0);
/* The seal of a key that belongs to no world (root/, tls/): the directory's, except under `cards`, where
 * they are files — the server answers TLS while sealed, and the root exists before any world. Returns
 * seal, or file_out filled in. */
struct sr_seal_config *sr_seal_worldless(struct sr_seal_config *seal, struct sr_seal_config *file_out);
/* Wipes and frees a KM0 sr_km0_load gave. */
void sr_km0_free(uint8_t *km0);
/*
 * `seal migrate` on a stopped server: every module key of data_dir unsealed by from and sealed by to, then
 * DATA/seal replaced (the commit), then the old backend's files and anchors removed. A crash at any point
 * leaves the old seal or the new one able to open everything; with from and to the same backend (after a
 * crash in the clean-up) only the clean-up runs. Leaving `cards` needs a complete quorum per region.
 */
struct sr_quorum;
struct sr_migrate_options {
    struct sr_quorum *const *quorums; /* from `cards`: a complete quorum of each region's cards */
    size_t nquorums;
    unsigned fault_after; /* tests: stop (exit 3) after that many steps; 0: never */
};
SR_MUST_USE enum sr_err sr_seal_migrate(const char *data_dir, struct sr_seal_config *from, struct sr_seal_config *to,
                                        const struct sr_migrate_options *opts, unsigned *ret_moved);
/* Seals a throwaway KM0 and unseals it: the backend works here, before anything is made with it. */
SR_MUST_USE enum sr_err sr_seal_probe(struct sr_seal_config *seal);
/* One KM0's state for `seal status`: {"path", "backend", "present", ...what it is bound to}. */
SR_MUST_USE enum sr_err sr_km0_describe(const struct sr_seal_config *seal, const char *path, json_t **ret);

#endif
