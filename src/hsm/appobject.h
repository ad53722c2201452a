/*
 * appobject.h - what an application stores in the module that is not a module key: PKCS#11's data objects
 * (CKO_DATA) and public keys made by C_CreateObject. A token one is a file local/object_<ident> (SROBJCT1):
 * its attributes in the header, its value (a data object's CKA_VALUE) as the payload, both authenticated
 * and the value encrypted under the world key, so a copy of the disk neither reads a private data object
 * nor plants one. A session one is the same bytes, kept by the library.
 */
#ifndef SR_HSM_APPOBJECT_H
#define SR_HSM_APPOBJECT_H

#include "hsm/module.h"

#define SR_APPOBJECT_MAX_VALUE (64u * 1024u)
#define SR_APPOBJECT_MAX_OID 128u
#define SR_APPOBJECT_MAX_APP 256u
#define SR_APPOBJECT_MAX_ID 64u

struct sr_appobject {
    bool is_public_key;                       /* else a data object */
    bool private_;                            /* CKA_PRIVATE */
    char ident[SR_MAX_IDENT + 1];             /* its name in local/ (random hex) */
    uint8_t id[SR_APPOBJECT_MAX_ID];          /* CKA_ID, as given (a public key's; may be empty) */
    size_t id_len;
    char label[SR_MAX_PLAINNAME + 1];
    char application[SR_APPOBJECT_MAX_APP + 1];
    uint8_t object_id[SR_APPOBJECT_MAX_OID];  /* CKA_OBJECT_ID: DER, as given */
    size_t object_id_len;
    unsigned usage;                           /* a public key's SR_ACL_VERIFY | SR_ACL_ENCRYPT */
};

/* The file of a token object. */
SR_MUST_USE enum sr_err sr_appobject_path(const struct sr_module *m, const char *ident, char *out, size_t cap);
/* Seals an object into out: d, the public key (a public-key object) and the value (a data object). */
SR_MUST_USE enum sr_err sr_appobject_build(const struct sr_module *m, const struct sr_appobject *d, const EVP_PKEY *pub,
                                           const uint8_t *value, size_t len, struct sr_buf *out);
/* Authenticates an object's bytes under the loaded world: its description, public key (NULL for a data
 * object) and value (into value, a SR_BUF_SECRET buffer). */
SR_MUST_USE enum sr_err sr_appobject_open(const struct sr_module *m, const uint8_t *bytes, size_t len,
                                          struct sr_appobject *ret, EVP_PKEY **ret_pub, struct sr_buf *value);

#endif
