/*
 * backend_p11.h - opening the `pkcs11` backend of backend.h (backend_p11.c): a region whose keys live in a
 * PKCS#11 token named by an RFC 7512 URI. dir is DATA/regions/R/hsm: region.json (the URI, the CKA_IDs of the
 * region's identity key and KEK, the token's world), warrant.pem and root.pem.
 */
#ifndef SR_HSM_BACKEND_P11_H
#define SR_HSM_BACKEND_P11_H

#include "hsm/backend.h"

#define SR_P11_URI_MAX 2048

/* A new HSM region: the identity key (ECDSA P-384) and the KEK (RSA of kek_bits, unwrap only) made in the token,
 * dir/region.json written. The caller has the root warrant the identity (sr_hsm_pkcs11_identity). */
SR_MUST_USE enum sr_err sr_hsm_pkcs11_create(const char *dir, const char *uri, unsigned kek_bits, struct sr_hsm **ret,
                                             char *diag, size_t cap);
/* The HSM of a region made by create (its URI from dir/region.json): the token must answer now (later losses
 * are survived). */
SR_MUST_USE enum sr_err sr_hsm_pkcs11_open(const char *dir, struct sr_hsm **ret, char *diag, size_t cap);
/* Another node of the region (region join): region_json as the store holds it, uri this node's way to the same
 * token (NULL: the recorded one). The token must prove to be the region's (its identity key under the recorded
 * CKA_ID, its model and serial, the world they give: else SR_ERR_HSM_FOREIGN_TOKEN); dir/region.json written. */
SR_MUST_USE enum sr_err sr_hsm_pkcs11_join(const char *dir, const uint8_t *region_json, size_t len, const char *uri,
                                           struct sr_hsm **ret, char *diag, size_t cap);
/* The public half of the region's identity key, read from the token. */
SR_MUST_USE enum sr_err sr_hsm_pkcs11_identity(const struct sr_hsm *h, EVP_PKEY **ret);

#endif
