/*
 * sym.h - Key Vault's symmetric algorithms for oct keys (Managed HSM): AES-GCM, AES-CBC with and without
 * PKCS#7 padding, and AES key wrap (RFC 3394 as A*KW and CKM_AES_KEY_WRAP, RFC 5649 as
 * CKM_AES_KEY_WRAP_PAD). Owns the algorithm table and the one place where a symmetric key meets data;
 * the key itself comes from the module layer and never leaves it.
 */
#ifndef SR_CRYPTO_SYM_H
#define SR_CRYPTO_SYM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

enum sr_sym_mode { SR_SYM_GCM = 1, SR_SYM_CBC, SR_SYM_CBCPAD, SR_SYM_KW, SR_SYM_KWP, SR_SYM_ECB, SR_SYM_CTR };

#define SR_GCM_IV_LEN 12
#define SR_GCM_TAG_LEN 16
#define SR_CBC_IV_LEN 16

struct sr_sym_alg {
    const char *name;    /* "A256GCM" ... */
    enum sr_sym_mode mode;
    size_t key_len;      /* the key size the name fixes; 0: any AES key (CKM_AES_KEY_WRAP[_PAD]) */
};

/* The algorithm named name, or NULL: Key Vault's and Managed HSM's (the API's). */
const struct sr_sym_alg *sr_sym_alg_find(const char *name);
/* The same, PKCS#11's modes without integrity included (CKM_AES_ECB, CKM_AES_CTR): the library's alone. */
const struct sr_sym_alg *sr_sym_alg_find_p11(const char *name);

/* One symmetric operation's inputs. iv: GCM (encrypt: NULL makes a 12-byte one) and CBC (16 bytes, required);
 * aad and tag: GCM only. */
struct sr_sym_input {
    const uint8_t *data;
    size_t len;
    const uint8_t *iv;
    size_t iv_len;
    const uint8_t *aad;
    size_t aad_len;
    const uint8_t *tag;
    size_t tag_len;
};

/* What an encryption gives back beside the ciphertext: the IV used (GCM, CBC) and the tag (GCM). */
struct sr_sym_extra {
    uint8_t iv[SR_CBC_IV_LEN];
    size_t iv_len;
    uint8_t tag[SR_GCM_TAG_LEN];
    size_t tag_len;
};

/* Encrypts (or wraps) in under key with alg into out. SR_ERR_MALFORMED for an input the algorithm cannot
 * take (a partial block for unpadded CBC, a missing CBC IV, a key of another size than the name says). */
SR_MUST_USE enum sr_err sr_sym_encrypt(const struct sr_sym_alg *alg, const uint8_t *key, size_t key_len,
                                       const struct sr_sym_input *in, struct sr_buf *out, struct sr_sym_extra *extra);
/* Decrypts (or unwraps). A wrong tag, bad padding or a failed unwrap is the one SR_ERR_DECRYPT_FAILED: no
 * caller can tell them apart. out should be SR_BUF_SECRET. */
SR_MUST_USE enum sr_err sr_sym_decrypt(const struct sr_sym_alg *alg, const uint8_t *key, size_t key_len,
                                       const struct sr_sym_input *in, struct sr_buf *out);

#endif
