/*
 * km0_internal.h - a seal backend as km0.c drives it: one row of operations per backend. A backend keeps
 * KM0 as bytes in one file beside the module (its suffix), made by seal and read back by unseal.
 */
#ifndef SR_HSM_KM0_INTERNAL_H
#define SR_HSM_KM0_INTERNAL_H

#include "base/buf.h"
#include "base/fileio.h"
#include "hsm/km0.h"

#define SR_KM0_LEN 32u

struct sr_seal_ops {
    const char *name;
    const char *suffix; /* appended to the KM0 path: the file the backend keeps */
    /* km0 into the bytes kept on disk (out is SR_BUF_SECRET). */
    enum sr_err (*seal)(struct sr_seal_config *cfg, const uint8_t km0[SR_KM0_LEN], struct sr_buf *out);
    /* Those bytes back into km0 (secure memory). */
    enum sr_err (*unseal)(struct sr_seal_config *cfg, const uint8_t *kept, size_t len, uint8_t km0[SR_KM0_LEN]);
    /* What the kept bytes are bound to, added to a `seal status` entry. */
    enum sr_err (*describe)(const struct sr_seal_config *cfg, const uint8_t *kept, size_t len, json_t *into);
    /* The rollback anchor the kept bytes name: 32 bytes the backend keeps off the disk (a TPM NV index, a
     * token's data object), made with KM0. NULL for a backend with none (file). A kept KM0 that names no
     * anchor reads SR_ERR_NOT_FOUND. */
    enum sr_err (*anchor_read)(struct sr_seal_config *cfg, const uint8_t *kept, size_t len, uint8_t out[SR_KM0_LEN]);
    enum sr_err (*anchor_write)(struct sr_seal_config *cfg, const uint8_t *kept, size_t len,
                                const uint8_t in[SR_KM0_LEN]);
    /* Frees what the backend holds for these kept bytes besides the disk (the anchor); NULL: nothing. */
    enum sr_err (*forget)(struct sr_seal_config *cfg, const uint8_t *kept, size_t len);
};

const struct sr_seal_ops *sr_seal_ops_of(const struct sr_seal_config *cfg);
/* path (a KM0's) with the backend's suffix: the file it keeps. */
SR_MUST_USE enum sr_err sr_km0_kept_path(const struct sr_seal_ops *ops, const char *path, char *out, size_t cap);

extern const struct sr_seal_ops sr_seal_tpm2;
extern const struct sr_seal_ops sr_seal_pkcs11;
extern const struct sr_seal_ops sr_seal_cards;

#endif
