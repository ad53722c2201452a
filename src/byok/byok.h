/*
 * byok.h - the BYOK pipeline's documents (docs/formats.md, docs/byok-walkthrough.md):
 *
 *  - KEK and Security World packages: a payload (JSON) signed end to end by the issuing
 *    module's identity key, carried with that module's warrant and the root that signed it;
 *    sr_packages_verify() checks every link up to a pinned root fingerprint;
 *  - the .byok file (Azure Key Vault's vendor-neutral BYOK JSON) and its binding label;
 *  - toolsets: a zip of both packages and a README per region, and their SHA-256.
 */
#ifndef SR_BYOK_BYOK_H
#define SR_BYOK_BYOK_H

#include <stdbool.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "base/buf.h"
#include "hsm/backend.h"
#include "hsm/transfer.h"

#define SR_PACKAGE_FORMAT "strongroom-package-v1"
#define SR_KEK_KID_PREFIX "urn:strongroom:kek:"

/* What a verified pair of packages tells the key owner. */
struct sr_kek_package {
    char kid[128];
    char region[32];
    char esn[32];
    char world_id[2 * SR_WORLD_ID_LEN + 1];
    uint8_t world_hkm[SR_HASH_LEN];
    char suite[64];
    uint8_t kek_hash[SR_HASH_LEN];
    uint8_t root_fingerprint[SR_HASH_LEN];
    EVP_PKEY *kek;          /* owned: sr_kek_package_release */
};
void sr_kek_package_release(struct sr_kek_package *p);

/* One line per check, for verifykeypackage. */
#define SR_MAX_CHECKS 24
struct sr_check_report {
    const char *name[SR_MAX_CHECKS];
    bool ok[SR_MAX_CHECKS];
    size_t n;
    char reason[256];      /* why the first failing check failed */
};

/* Server side: writes both packages (as files in dir) for the region's module and KEK. */
SR_MUST_USE enum sr_err sr_packages_make(const struct sr_hsm *m, const char *region, const char *dir);
/* Package file names for a region: BYOK-KEK-pkg-<R>-1 and BYOK-SecurityWorld-pkg-<R>-1. */
void sr_package_names(const char *region, char *kek_name, char *sw_name, size_t cap);

/* Key owner side: every check (root pin, root, warrant, signatures, attestation, world) in order.
 * pinned may be NULL only when the caller accepts any root (never in the CLI). */
SR_MUST_USE enum sr_err sr_packages_verify(const uint8_t *kek_pkg, size_t kek_len, const uint8_t *sw_pkg,
                                           size_t sw_len, const uint8_t pinned[SR_HASH_LEN],
                                           struct sr_check_report *report, struct sr_kek_package *ret);

/* Any payload signed by module m's warranted identity key, in the packages' envelope (payload, signature,
 * warrant, root): what an audit checkpoint is. */
SR_MUST_USE enum sr_err sr_signed_write(const struct sr_hsm *m, const json_t *payload, const char *path);
/* The same envelope, appended to out (a key attestation). */
SR_MUST_USE enum sr_err sr_signed_bytes(const struct sr_hsm *m, const json_t *payload, struct sr_buf *out);
/* Checks such an envelope link by link (root pinned, when pinned is not NULL; root self-signed; warrant by
 * root; payload by the warrant's key) and hands out the payload; why names the first link that failed. */
SR_MUST_USE enum sr_err sr_signed_read(const uint8_t *data, size_t len, const uint8_t pinned[SR_HASH_LEN],
                                       json_t **ret_payload, char *why, size_t cap);

/* The binding label: "strongroom-byok-v1;subscription=S;region=R;world=HKM". */
SR_MUST_USE enum sr_err sr_binding_make(const char *subscription, const char *region,
                                        const uint8_t world_hkm[SR_HASH_LEN], char *out, size_t cap);

/* .byok: {"schema_version":"1.0.0","header":{"kid","alg":"dir","enc":"CKM_RSA_AES_KEY_WRAP"[,"binding"]},
 * "ciphertext": base64url, "generator"}. */
SR_MUST_USE enum sr_err sr_byok_write(const char *kid, const char *binding, const struct sr_buf *ciphertext,
                                      struct sr_buf *out_json);
struct sr_byok {
    char kid[512];
    char binding[512];       /* "" when none */
    struct sr_buf ciphertext;
};
void sr_byok_release(struct sr_byok *b);
SR_MUST_USE enum sr_err sr_byok_parse(const uint8_t *data, size_t len, struct sr_byok *ret);

/* Toolsets. */
void sr_toolset_name(const char *region, char *out, size_t cap); /* KeyVault-BYOK-Tools-<Region>.zip */
SR_MUST_USE enum sr_err sr_toolset_make(const char *package_dir, const char *region, const char *zip_path);
/* Unpacks the zip's regular files into dir (names without '/' only). */
SR_MUST_USE enum sr_err sr_toolset_unpack(const char *zip_path, const char *dir);
SR_MUST_USE enum sr_err sr_file_sha256(const char *path, char hex_upper[65]);

#endif
