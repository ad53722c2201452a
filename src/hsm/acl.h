/*
 * acl.h - a key's permissions: a set of actions, with the one KEK hash that
 * ExportToKey names. There is no plain export action at all, so no ACL can
 * ever permit one: ExportToKey and Release both let a key out only wrapped.
 */
#ifndef SR_HSM_ACL_H
#define SR_HSM_ACL_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "base/limits.h"
#include "base/safety.h"

enum sr_acl_action {
    SR_ACL_NONE = 0, /* no permission asked (a digest of a key: C_DigestKey) */
    SR_ACL_SIGN = 1u << 0,
    SR_ACL_VERIFY = 1u << 1,
    SR_ACL_ENCRYPT = 1u << 2,
    SR_ACL_DECRYPT = 1u << 3,
    SR_ACL_WRAP = 1u << 4,
    SR_ACL_UNWRAP = 1u << 5,
    SR_ACL_REDUCE = 1u << 6,
    SR_ACL_EXPORT_TO_KEY = 1u << 7,
    SR_ACL_IMPORT = 1u << 8, /* unwrap a key into the module: nothing leaves (a KEK's only action) */
    SR_ACL_RELEASE = 1u << 9, /* secure key release: out only wrapped (CKM_RSA_AES_KEY_WRAP) under a key that an
                               * attestation token names, once the vault has checked the key's release policy.
                               * Given when the key is made exportable, never added later. */
    SR_ACL_DERIVE = 1u << 11, /* PKCS#11's CKA_DERIVE: an EC key's ECDH into a new secret key in the module */
    SR_ACL_EXPORT_TO_TRUSTED = 1u << 10, /* PKCS#11's CKA_EXTRACTABLE: out only wrapped, under a key the
                                          * administrator quorum marked trusted (CKA_WRAP_WITH_TRUSTED) */
};

struct sr_acl {
    unsigned actions;
    uint8_t export_kek_hash[SR_HASH_LEN]; /* meaningful only with SR_ACL_EXPORT_TO_KEY */
};

/* JSON array of action names, e.g. ["Sign","Verify","ExportToKey(<hex>)"]. */
SR_MUST_USE enum sr_err sr_acl_to_json(const struct sr_acl *acl, json_t **ret);
SR_MUST_USE enum sr_err sr_acl_from_json(const json_t *arr, struct sr_acl *ret);
/* One line per action, for aclprint and kmfile-dump; writes into a caller buffer. */
void sr_acl_format(const struct sr_acl *acl, char *out, size_t cap);
bool sr_acl_permits(const struct sr_acl *acl, enum sr_acl_action action);

#endif
