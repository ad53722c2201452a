/* limits.h - every size bound Strongroom enforces, in one place. */
#ifndef SR_BASE_LIMITS_H
#define SR_BASE_LIMITS_H

#define SR_MAX_FILE (4u * 1024u * 1024u)   /* any file we read */
#define SR_MAX_HEADER (64u * 1024u)        /* JSON header of a container file */
#define SR_MAX_PAYLOAD (1024u * 1024u)     /* payload of a container file */
#define SR_MAX_PIN 512u                    /* bytes, as nShield's ckinittoken */
#define SR_MAX_CARDS 64u                   /* N of an ACS */
#define SR_MAX_IDENT 64u                   /* generatekey ident */
#define SR_MAX_PLAINNAME 256u
#define SR_MAX_SIGN_INPUT (64u * 1024u * 1024u)
#define SR_WORLD_KEY_LEN 32u               /* KM: AES-256 */
#define SR_HASH_LEN 32u                    /* SHA-256 */
#define SR_PATH_MAX 4096u
#define SR_MAX_B64_INPUT (16u * 1024u * 1024u)
#define SR_MAX_COMMIT_CHANGES 1024u        /* changes in one store commit (a restore's versions) */
#define SR_MAX_BATCH 1024u                 /* commits in one group-commit transaction */

#endif
