/*
 * err.h - Strongroom's one error vocabulary.
 *
 * Every fallible function returns `enum sr_err`; SR_OK is zero. Each code has
 * one row in the table in err.c: its family (which decides the command-line
 * exit status and, later, the HTTP status), a Key Vault error code, and a
 * message a user can act on. Library code never prints; the edge (cli/, http/)
 * turns a code into words with sr_err_message().
 */
#ifndef SR_BASE_ERR_H
#define SR_BASE_ERR_H

enum sr_err_family {
    SR_FAM_OK = 0,
    SR_FAM_USAGE,     /* the caller asked for something malformed: exit 2, HTTP 400 */
    SR_FAM_INPUT,     /* well-formed request refused on its merits: exit 1, HTTP 400 */
    SR_FAM_NOT_FOUND, /* exit 1, HTTP 404 */
    SR_FAM_CONFLICT,  /* exit 1, HTTP 409 */
    SR_FAM_STATE,     /* wrong module mode / no world: exit 1, HTTP 409 */
    SR_FAM_DENIED,    /* authentication or permission: exit 1, HTTP 403 */
    SR_FAM_INTEGRITY, /* tampered or foreign data: exit 1, HTTP 400 */
    SR_FAM_UNAUTH,    /* no or bad credentials: exit 1, HTTP 401 */
    SR_FAM_TOO_LARGE, /* exit 1, HTTP 413 */
    SR_FAM_METHOD,    /* exit 1, HTTP 405 */
    SR_FAM_IO,        /* exit 1, HTTP 500 */
    SR_FAM_UNAVAILABLE, /* try again later: exit 1, HTTP 503 */
    SR_FAM_TOO_MANY,  /* too many attempts: exit 1, HTTP 429 */
    SR_FAM_INTERNAL,  /* exit 1, HTTP 500 */
};

/* X(name, family, kv_code, message) */
#define SR_ERR_TABLE(X)                                                                                      \
    X(SR_OK, SR_FAM_OK, "", "success")                                                                       \
    X(SR_ERR_USAGE, SR_FAM_USAGE, "BadParameter", "invalid arguments")                                        \
    X(SR_ERR_NOMEM, SR_FAM_INTERNAL, "InternalError", "out of memory")                                        \
    X(SR_ERR_INTERNAL, SR_FAM_INTERNAL, "InternalError", "internal error (a bug: please report it)")          \
    X(SR_ERR_CRYPTO, SR_FAM_INTERNAL, "InternalError", "cryptographic library failure")                       \
    X(SR_ERR_IO, SR_FAM_IO, "InternalError", "file system error")                                            \
    X(SR_ERR_TOO_LARGE, SR_FAM_INPUT, "BadParameter", "input is larger than allowed")                        \
    X(SR_ERR_TRUNCATED, SR_FAM_INTEGRITY, "BadParameter", "data is truncated or malformed")                   \
    X(SR_ERR_MALFORMED, SR_FAM_INTEGRITY, "BadParameter", "data is malformed")                               \
    X(SR_ERR_AUTH_FAILED, SR_FAM_INTEGRITY, "BadParameter", "authenticated decryption failed")             \
    X(SR_ERR_BAD_SIGNATURE, SR_FAM_INTEGRITY, "BadParameter", "signature verification failed")              \
    X(SR_ERR_RSA15_DECRYPT, SR_FAM_USAGE, "BadParameter",                                                    \
      "RSA1_5 decryption is refused: without implicit rejection it is a padding oracle; use RSA-OAEP-256")   \
    X(SR_ERR_DECRYPT_FAILED, SR_FAM_INPUT, "BadParameter", "decryption failed")                              \
    X(SR_ERR_ENC_ALG, SR_FAM_USAGE, "BadParameter",                                                          \
      "unknown algorithm for this key: RSA keys take RSA-OAEP, RSA-OAEP-256 or RSA1_5; oct keys A128GCM..A256GCM, " \
      "A128CBC[PAD]..A256CBC[PAD] (encrypt, decrypt) and A128KW..A256KW, CKM_AES_KEY_WRAP[_PAD] (wrapKey, "  \
      "unwrapKey), of the key's size")                                                                        \
    X(SR_ERR_DIGEST_LEN, SR_FAM_USAGE, "BadParameter",                                                       \
      "the digest length does not match the algorithm (32 bytes for *256, 48 for *384, 64 for *512)")        \
    X(SR_ERR_JWK, SR_FAM_USAGE, "BadParameter",                                                              \
      "invalid JSON web key: give kty RSA (n e d p q dp dq qi) or EC (crv x y d), base64url without padding") \
    X(SR_ERR_BACKUP, SR_FAM_INPUT, "BadParameter",                                                           \
      "the backup blob is damaged or was made in another region; backups restore only in their own region")  \
    X(SR_ERR_UNAUTHORIZED, SR_FAM_UNAUTH, "Unauthorized", "Request is missing a valid Bearer token.")          \
    X(SR_ERR_TOKEN_REVOKED, SR_FAM_UNAUTH, "Unauthorized", "The token was revoked; ask for a new one ('strongroom token create')") \
    X(SR_ERR_TOKEN_NAME, SR_FAM_USAGE, "BadParameter", "a token's --name is 1 to 31 letters, digits, '.', '_' or '-'") \
    X(SR_ERR_TOKEN_EXPIRED, SR_FAM_UNAUTH, "Unauthorized", "The token has expired; make a new one with 'strongroom token create'") \
    X(SR_ERR_JWT_ALG, SR_FAM_UNAUTH, "Unauthorized", "The token's alg is not one its key signs with (RS, PS or ES 256/384/512; none and HMAC are refused)") \
    X(SR_ERR_JWT_SIGNATURE, SR_FAM_UNAUTH, "Unauthorized", "The token's signature does not verify with its issuer's keys") \
    X(SR_ERR_JWT_NOT_YET, SR_FAM_UNAUTH, "Unauthorized", "The token is not valid yet (nbf); check the clocks") \
    X(SR_ERR_JWT_AUDIENCE, SR_FAM_UNAUTH, "Unauthorized", "The token is for another audience (aud); ask the authority for a token for this vault") \
    X(SR_ERR_JWT_ISSUER, SR_FAM_UNAUTH, "Unauthorized", "The token is not from this server's authority (iss, kid); ask it for a token at /{tenant}/oauth2/v2.0/token") \
    X(SR_ERR_PRINCIPAL_GONE, SR_FAM_UNAUTH, "Unauthorized", "The application this token was issued to no longer exists") \
    X(SR_ERR_FORBIDDEN, SR_FAM_DENIED, "Forbidden", "Caller is not authorized to perform this action on this vault") \
    X(SR_ERR_KEY_DISABLED, SR_FAM_DENIED, "Forbidden", "Operation is not allowed on a disabled key")         \
    X(SR_ERR_KEY_NOT_YET_VALID, SR_FAM_DENIED, "Forbidden", "Operation is not allowed: the key is not yet valid (nbf)") \
    X(SR_ERR_KEY_EXPIRED, SR_FAM_DENIED, "Forbidden", "Operation is not allowed: the key has expired (exp)")  \
    X(SR_ERR_KEY_OP, SR_FAM_DENIED, "Forbidden", "Operation is not permitted by this key's key_ops")         \
    X(SR_ERR_KEY_NOT_FOUND, SR_FAM_NOT_FOUND, "KeyNotFound", "A key with this name (and version) was not found in this key vault") \
    X(SR_ERR_VAULT_NOT_FOUND, SR_FAM_NOT_FOUND, "VaultNotFound", "No vault answers on this host name")        \
    X(SR_ERR_HOST_UNKNOWN, SR_FAM_NOT_FOUND, "VaultNotFound",                                                 \
      "The Host header names none of this server's names (localhost, 127.0.0.1, [::1] and <vault>.localhost, "\
      "which its certificate carries): the request is not answered")                                        \
    X(SR_ERR_ROUTE, SR_FAM_NOT_FOUND, "NotFound", "No such operation; see docs/api.md")                      \
    X(SR_ERR_METHOD, SR_FAM_METHOD, "MethodNotAllowed", "This method is not allowed on this path")          \
    X(SR_ERR_API_VERSION, SR_FAM_USAGE, "BadParameter",                                                      \
      "The api-version query parameter is missing or unsupported; accepted: 7.0 to 7.6 (and -preview), 2025-07-01, 2026-04-01") \
    X(SR_ERR_BODY_TOO_LARGE, SR_FAM_TOO_LARGE, "BadParameter", "The request body is larger than 1 MiB")      \
    X(SR_ERR_BAD_JSON, SR_FAM_USAGE, "BadParameter", "The request body is not valid JSON")                    \
    X(SR_ERR_BAD_PARAM, SR_FAM_USAGE, "BadParameter", "A parameter of the request is invalid")                \
    X(SR_ERR_KEY_NAME, SR_FAM_USAGE, "BadParameter", "Key names are 1 to 127 characters of 0-9, a-z, A-Z and '-'") \
    X(SR_ERR_KEY_CONFLICT, SR_FAM_CONFLICT, "Conflict",                                                      \
      "A key with this name exists, or is deleted but not purged; recover or purge it first")              \
    X(SR_ERR_NOT_DELETED, SR_FAM_NOT_FOUND, "KeyNotFound", "Deleted key not found")                          \
    X(SR_ERR_KV_SECRET_NOT_FOUND, SR_FAM_NOT_FOUND, "SecretNotFound", "A secret with this name (and version) was not found in this key vault") \
    X(SR_ERR_KV_SECRET_NOT_DELETED, SR_FAM_NOT_FOUND, "SecretNotFound", "Deleted secret not found")        \
    X(SR_ERR_KV_SECRET_NAME, SR_FAM_USAGE, "BadParameter", "Secret names are 1 to 127 characters of 0-9, a-z, A-Z and '-'") \
    X(SR_ERR_KV_SECRET_DISABLED, SR_FAM_DENIED, "Forbidden", "Operation get is not allowed on a disabled secret") \
    X(SR_ERR_KV_SECRET_NOT_YET_VALID, SR_FAM_DENIED, "Forbidden", "Operation get is not allowed: the secret is not yet valid (nbf)") \
    X(SR_ERR_KV_SECRET_EXPIRED, SR_FAM_DENIED, "Forbidden", "Operation get is not allowed: the secret has expired (exp)") \
    X(SR_ERR_KV_SECRET_TOO_LARGE, SR_FAM_USAGE, "BadParameter", "The secret value is larger than Key Vault's limit of 25 KB (25,600 bytes)") \
    X(SR_ERR_KV_SECRET_TAMPERED, SR_FAM_INTEGRITY, "BadParameter",                                          \
      "The stored secret failed authentication (changed, or moved from another name or vault): it is not "   \
      "served; set it again or restore it from a backup")                                                    \
    X(SR_ERR_CERT_KEY_MISMATCH, SR_FAM_INPUT, "BadParameter",                                                 \
      "No certificate given is for the key (a certificate must carry the public half of its private key)")   \
    X(SR_ERR_CERT_PASSWORD, SR_FAM_INPUT, "BadParameter",                                                     \
      "The password of the PKCS#12 or the encrypted private key is wrong (or missing)")                      \
    X(SR_ERR_CERT_NO_KEY, SR_FAM_INPUT, "BadParameter",                                                       \
      "The certificate comes without its private key: give a PKCS#12 or PEM that holds both")                \
    X(SR_ERR_CERT_FORMAT, SR_FAM_USAGE, "BadParameter",                                                       \
      "Not a PKCS#12 (DER) or a PEM with a private key and its certificate")                                 \
    X(SR_ERR_PKCS12_LEGACY, SR_FAM_INPUT, "BadParameter",                                                     \
      "The PKCS#12 is encrypted with a legacy algorithm (RC2, as openssl pkcs12 -legacy and old Windows "     \
      "make them), which is not read: export it again with AES-256 (openssl pkcs12 -export, OpenSSL 3's "     \
      "default, or -keypbe AES-256-CBC -certpbe AES-256-CBC)")                                               \
    X(SR_ERR_KV_SECRET_CONFLICT, SR_FAM_CONFLICT, "Conflict",                                                 \
      "A secret with this name exists, or is deleted but not purged; recover or purge it first")           \
    X(SR_ERR_APP_NAME, SR_FAM_USAGE, "BadParameter", "an application's name is 1 to 31 letters, digits, '.', '_' or '-' (and not a GUID)") \
    X(SR_ERR_APP_EXISTS, SR_FAM_CONFLICT, "Conflict", "an application or token label of that name exists; choose another name") \
    X(SR_ERR_APP_NOT_FOUND, SR_FAM_NOT_FOUND, "NotFound", "no such application (see 'strongroom app list')") \
    X(SR_ERR_APP_CERTIFICATE, SR_FAM_USAGE, "BadParameter", "the certificate is not a PEM X.509 certificate with an RSA or EC key") \
    X(SR_ERR_APP_CERTIFICATE_EXPIRED, SR_FAM_INPUT, "BadParameter", "the certificate has expired; give a current one") \
    X(SR_ERR_CREDENTIAL_NOT_FOUND, SR_FAM_NOT_FOUND, "NotFound", "the application has no credential with that id (see 'strongroom app show')") \
    X(SR_ERR_IDP_ISSUER, SR_FAM_USAGE, "BadParameter", "an issuer is an https:// (or http://) URL of at most 255 bytes") \
    X(SR_ERR_IDP_JWKS, SR_FAM_INPUT, "BadParameter", "the issuer's keys must be a JWKS ({\"keys\": [...]}) of RSA or EC public keys") \
    X(SR_ERR_IDP_UNREACHABLE, SR_FAM_UNAVAILABLE, "ServiceUnavailable", "cannot read the issuer's discovery document and keys (is it reachable, and an OIDC issuer?)") \
    X(SR_ERR_IDP_UNTRUSTED, SR_FAM_INPUT, "BadParameter", "that issuer is not trusted; trust it first with 'strongroom idp trust'") \
    X(SR_ERR_ROLE_SCOPE, SR_FAM_USAGE, "BadParameter", "a scope is /, /vaults/VAULT or /vaults/VAULT/keys/KEY (the API also takes /keys and /keys/KEY)") \
    X(SR_ERR_ROLE_ASSIGNMENT_NAME, SR_FAM_USAGE, "BadParameter", "a role assignment's name is a GUID") \
    X(SR_ERR_ROLE_ASSIGNMENT_EXISTS, SR_FAM_CONFLICT, "RoleAssignmentExists", "a role assignment of that name exists") \
    X(SR_ERR_ROLE_ASSIGNMENT_NOT_FOUND, SR_FAM_NOT_FOUND, "RoleAssignmentNotFound", "no such role assignment") \
    X(SR_ERR_ROLE_DEFINITION_NOT_FOUND, SR_FAM_NOT_FOUND, "RoleDefinitionNotFound", "no such role definition") \
    X(SR_ERR_SECRET_WRONG, SR_FAM_UNAUTH, "invalid_client", "the client secret is wrong") \
    X(SR_ERR_SECRET_EXPIRED, SR_FAM_UNAUTH, "invalid_client", "the client secret has expired; add a new one with 'strongroom app credential add'") \
    X(SR_ERR_OAUTH_CLIENT, SR_FAM_UNAUTH, "invalid_client", "client authentication failed") \
    X(SR_ERR_OAUTH_GRANT, SR_FAM_USAGE, "invalid_grant", "the assertion is not valid now") \
    X(SR_ERR_OAUTH_UNAUTHORIZED_CLIENT, SR_FAM_USAGE, "unauthorized_client", "the application does not accept this workload") \
    X(SR_ERR_OAUTH_REQUEST, SR_FAM_USAGE, "invalid_request", "the token request is malformed") \
    X(SR_ERR_OAUTH_SCOPE, SR_FAM_USAGE, "invalid_scope", "scope must be one resource's .default: https://vault.azure.net/.default or https://<vault host>/.default") \
    X(SR_ERR_OAUTH_GRANT_TYPE, SR_FAM_USAGE, "unsupported_grant_type", "only grant_type=client_credentials is supported") \
    X(SR_ERR_OAUTH_LOCKED, SR_FAM_TOO_MANY, "temporarily_unavailable", "too many failed client authentications from this address; wait a minute") \
    X(SR_ERR_ROLE, SR_FAM_USAGE, "BadParameter",                                                             \
      "unknown role: Administrator, \"Crypto Officer\", \"Crypto User\", \"Crypto Service Encryption User\", "      \
      "\"Crypto Service Release User\" or Reader")                                                              \
    X(SR_ERR_REGION_NAME, SR_FAM_USAGE, "BadParameter", "region names are 1 to 31 characters of A-Z, 0-9 and '-'") \
    X(SR_ERR_VAULT_NAME, SR_FAM_USAGE, "BadParameter",                                                       \
      "vault names are 3 to 24 characters of a-z, 0-9 and '-', starting with a letter")                     \
    X(SR_ERR_AUDIT_BROKEN, SR_FAM_INTEGRITY, "BadParameter", "the audit log's hash chain is broken")         \
    X(SR_ERR_BACKUP_ALTERED, SR_FAM_INTEGRITY, "BadParameter",                                               \
      "the backup file was altered or damaged: a file in it does not match its manifest")                    \
    X(SR_ERR_REMOTE, SR_FAM_INPUT, "BadParameter", "the vault refused the request")                        \
    X(SR_ERR_REMOTE_DENIED, SR_FAM_DENIED, "Forbidden", "the vault refused the token or its role")              \
    X(SR_ERR_REMOTE_FAILED, SR_FAM_UNAVAILABLE, "ServiceUnavailable", "the vault could not do the request")     \
    X(SR_ERR_CONNECT, SR_FAM_UNAVAILABLE, "ServiceUnavailable", "cannot reach the vault")                      \
    X(SR_ERR_TLS_NAME, SR_FAM_INTEGRITY, "BadParameter",                                                     \
      "the vault's TLS certificate is not for this host name (use the vault's URL as 'vault create' prints it)") \
    X(SR_ERR_TLS_UNTRUSTED, SR_FAM_INTEGRITY, "BadParameter",                                                \
      "the vault's TLS certificate is from a CA this machine does not trust (give it with --ca-file or STRONGROOM_CA_FILE)") \
    X(SR_ERR_BYOK_UNWRAP, SR_FAM_INPUT, "BadParameter",                                                      \
      "the BYOK package cannot be opened with this key exchange key: it was made for another KEK, "          \
      "subscription or region, or it was changed")                                                           \
    X(SR_ERR_BYOK_FORMAT, SR_FAM_USAGE, "BadParameter",                                                      \
      "not a BYOK package: expected {schema_version 1.0.0, header {kid, alg dir, enc CKM_RSA_AES_KEY_WRAP}, ciphertext}") \
    X(SR_ERR_BYOK_BINDING, SR_FAM_INPUT, "BadParameter",                                                     \
      "the package is bound to another subscription, region or world than this vault's")                    \
    X(SR_ERR_BYOK_KEK, SR_FAM_INPUT, "BadParameter",                                                         \
      "the package's KEK is not an import key of this vault or of this vault's region")                     \
    X(SR_ERR_ATTESTATION, SR_FAM_INTEGRITY, "BadParameter",                                                  \
      "the key attestation failed verification: do not rely on what it says")                              \
    X(SR_ERR_RELEASE_DENIED, SR_FAM_DENIED, "Forbidden", "The key was not released")                     \
    X(SR_ERR_P11_MECHANISM, SR_FAM_INPUT, "BadParameter", "the PKCS#11 library does not offer a mechanism this needs") \
    X(SR_ERR_PACKAGE, SR_FAM_INTEGRITY, "BadParameter", "the package failed verification")                  \
    X(SR_ERR_NOT_XFER_COPY, SR_FAM_USAGE, "BadParameter",                                                    \
      "keytransfer package works only on the key_xferacld_<ident> copy made by 'keytransfer modify-acls'")   \
    X(SR_ERR_NOT_FOUND, SR_FAM_NOT_FOUND, "NotFound", "not found")                                           \
    X(SR_ERR_EXISTS, SR_FAM_CONFLICT, "Conflict", "already exists and is never overwritten")                  \
    X(SR_ERR_SUITE_WEAK, SR_FAM_INPUT, "BadParameter",                                                      \
      "cipher suite DLf1024s160mRijndael (DSA-1024, SHA-1) is below 112-bit security and is refused; "       \
      "use --cipher-suite=DLf3072s256mRijndael")                                                              \
    X(SR_ERR_SUITE_UNKNOWN, SR_FAM_USAGE, "BadParameter",                                                    \
      "unknown cipher suite; accepted: DLf3072s256mRijndael, DLf3072s256mAEScSP800131Ar1")                    \
    X(SR_ERR_QUORUM, SR_FAM_USAGE, "BadParameter",                                                           \
      "invalid --acs-quorum: give K/N with 1 <= K <= N <= 64, e.g. --acs-quorum=2/3")                        \
    X(SR_ERR_MODE_I_NEEDED, SR_FAM_STATE, "Forbidden",                                                       \
      "the module is in operational mode (O); switch with 'strongroom module mode I' first")                 \
    X(SR_ERR_MODE_O_NEEDED, SR_FAM_STATE, "Forbidden",                                                       \
      "the module is in initialisation mode (I); switch with 'strongroom module mode O' first")              \
    X(SR_ERR_NO_WORLD, SR_FAM_STATE, "Forbidden",                                                           \
      "no security world is loaded in the module; create one with 'strongroom new-world' (mode I) or "       \
      "restore it with 'strongroom world load --cards ...'")                                                  \
    X(SR_ERR_WORLD_EXISTS, SR_FAM_CONFLICT, "Conflict",                                                      \
      "a security world already exists in this kmdata directory; it is never overwritten (move local/ "     \
      "away first to start over)")                                                                            \
    X(SR_ERR_WORLD_LOADED, SR_FAM_CONFLICT, "Conflict",                                                      \
      "the module already holds a world key; run 'strongroom module reset' before loading another")          \
    X(SR_ERR_WORLD_MISMATCH, SR_FAM_INTEGRITY, "BadParameter",                                               \
      "the key or card belongs to a different security world")                                               \
    X(SR_ERR_WORLD_TAMPERED, SR_FAM_INTEGRITY, "BadParameter",                                               \
      "the world file failed its integrity check (damaged or edited); restore it from backup")              \
    X(SR_ERR_NVRAM_TAMPERED, SR_FAM_INTEGRITY, "BadParameter",                                               \
      "the module NVRAM failed its integrity check; run 'strongroom module reset' and 'world load'")         \
    X(SR_ERR_QUORUM_NOT_MET, SR_FAM_DENIED, "Forbidden",                                                     \
      "not enough administrator cards for the quorum; give K of the N cards with --cards")                   \
    X(SR_ERR_BAD_PIN, SR_FAM_DENIED, "Forbidden", "wrong PIN for a card, or the card file is damaged")       \
    X(SR_ERR_CARD_FOREIGN, SR_FAM_INTEGRITY, "BadParameter",                                                 \
      "the cards do not reconstruct this world's key (a card of another world or a damaged card)")          \
    X(SR_ERR_CARD_TAMPERED, SR_FAM_INTEGRITY, "BadParameter", "the card file is damaged or was edited")      \
    X(SR_ERR_PIN_INPUT, SR_FAM_USAGE, "BadParameter",                                                        \
      "cannot read PINs: give --pin-file FILE (one PIN a line, card 1 first) or run on a terminal")          \
    X(SR_ERR_PIN_MISMATCH, SR_FAM_USAGE, "BadParameter", "the two PINs typed differ; nothing was written")  \
    X(SR_ERR_KEYFILE_TAMPERED, SR_FAM_INTEGRITY, "BadParameter",                                             \
      "the key file failed authentication (damaged, edited or swapped); it cannot be used")                 \
    X(SR_ERR_KEYFILE_FORMAT, SR_FAM_INTEGRITY, "BadParameter",                                               \
      "not a Strongroom key file, or an unsupported version of one")                                        \
    X(SR_ERR_IDENT, SR_FAM_USAGE, "BadParameter",                                                            \
      "invalid ident: use 1 to 64 characters from a-z, 0-9 and '-' (no capitals, spaces or '_')")          \
    X(SR_ERR_PROTECT, SR_FAM_INPUT, "BadParameter",                                                          \
      "only protect=module is supported: the BYOK transfer toolset accepts module-protected keys only")     \
    X(SR_ERR_NVRAM_KEY, SR_FAM_INPUT, "BadParameter",                                                        \
      "nvram=yes is not supported: the BYOK transfer toolset accepts keys stored in kmdata only (nvram=no)") \
    X(SR_ERR_KEY_TYPE, SR_FAM_USAGE, "BadParameter",                                                         \
      "unsupported key: use type=RSA with size=2048|3072|4096, type=EC with curve=P-256|P-384|P-521|P-256K, " \
      "or type=AES with size=128|192|256 (a BYOK target for oct-HSM; it neither signs nor has a public half)") \
    X(SR_ERR_PUBEXP, SR_FAM_USAGE, "BadParameter",                                                           \
      "invalid pubexp: leave it empty for 65537, or give an odd exponent of at least 65537")                \
    X(SR_ERR_ACL_DENIED, SR_FAM_DENIED, "Forbidden", "the key's ACL does not permit this operation")         \
    X(SR_ERR_ALG, SR_FAM_USAGE, "BadParameter",                                                              \
      "algorithm does not fit the key: RSA keys take RS256|RS384|RS512|PS256|PS384|PS512, EC keys ES256 "   \
      "(P-256), ES384 (P-384), ES512 (P-521), ES256K (P-256K)")                                             \
    X(SR_ERR_NO_ROOT, SR_FAM_NOT_FOUND, "NotFound",                                                          \
      "no manufacturer root here; create one with 'strongroom root init'")                                   \
    X(SR_ERR_ROOT_EXISTS, SR_FAM_CONFLICT, "Conflict", "a root already exists there and is never overwritten") \
    X(SR_ERR_FINGERPRINT, SR_FAM_USAGE, "BadParameter",                                                      \
      "invalid fingerprint: give 64 hex digits (spaces and colons allowed), as 'strongroom root show' prints") \
    X(SR_ERR_MODULE_NUMBER, SR_FAM_USAGE, "BadParameter", "no such module: this machine has module 1")     \
    X(SR_ERR_COMMIT_FAILED, SR_FAM_IO, "InternalError",                                                      \
      "the store could not make this request durable, so nothing of it was kept; retry it")                  \
    X(SR_ERR_SHUTTING_DOWN, SR_FAM_UNAVAILABLE, "ServiceUnavailable",                                        \
      "the server is shutting down, so nothing of this request was kept; retry it in a moment")             \
    X(SR_ERR_UNAVAILABLE, SR_FAM_UNAVAILABLE, "ServiceUnavailable",                                          \
      "the database cannot be reached, so nothing of this request was kept; retry it in a moment")           \
    X(SR_ERR_COMMIT_UNKNOWN, SR_FAM_UNAVAILABLE, "ServiceUnavailable",                                       \
      "the database connection was lost while this request was being committed: it may or may not have been "  \
      "kept; read before retrying it")                                                                        \
    X(SR_ERR_REGION_JOINED, SR_FAM_CONFLICT, "Conflict",                                                      \
      "this server holds that region already (DATA/regions/NAME exists)")                                    \
    X(SR_ERR_REGION_NO_FILES, SR_FAM_NOT_FOUND, "NotFound",                                                  \
      "the store holds no world for that region (made by a strongroom older than region join): it cannot be joined") \
    X(SR_ERR_REGION_NOT_JOINED, SR_FAM_UNAVAILABLE, "ServiceUnavailable",                                    \
      "this server has not joined the vault's region: its operator runs 'strongroom region join' with a quorum of the region's cards") \
    X(SR_ERR_NO_MODULE, SR_FAM_NOT_FOUND, "NotFound", "there is no module in that directory")              \
    X(SR_ERR_STORE_URL, SR_FAM_USAGE, "BadParameter",                                                        \
      "--store takes a postgresql:// URL (libpq's syntax); without it the store is SQLite in the data directory") \
    X(SR_ERR_STORE_NEWER, SR_FAM_IO, "InternalError",                                                        \
      "the database's schema is newer than this strongroom: run the newer version")                         \
    X(SR_ERR_BODY_BUDGET, SR_FAM_UNAVAILABLE, "ServiceUnavailable",                                          \
      "the server holds as many request bodies as it may at once; retry in a moment")                        \
    X(SR_ERR_BACKUP_SUBSCRIPTION, SR_FAM_INPUT, "BadParameter",                                              \
      "the backup was made in another subscription: a key backup restores only into a vault of the same "     \
      "subscription and region")                                                                              \
    X(SR_ERR_BACKUP_UNBOUND, SR_FAM_INPUT, "BadParameter",                                                   \
      "the backup names no subscription (made before backups were bound to one): back the key up again "      \
      "from its own vault")                                                                                  \
    X(SR_ERR_USER_PIN, SR_FAM_DENIED, "Forbidden",                                                           \
      "wrong PKCS#11 user PIN: keys made through the PKCS#11 library are used with the token's user PIN "     \
      "(--pin-file, or typed), here as through the library")                                                  \
    X(SR_ERR_USER_PIN_UNSET, SR_FAM_STATE, "Conflict",                                                       \
      "this module has no PKCS#11 user PIN, so its PKCS#11 keys cannot be used: set one with 'strongroom "    \
      "pkcs11 set-pin'")                                                                                     \
    X(SR_ERR_SEAL_BACKEND, SR_FAM_USAGE, "BadParameter",                                                     \
      "--backend is file, tpm2 or pkcs11 (the cards seal is not built yet)")                             \
    X(SR_ERR_SEAL_PCRS, SR_FAM_USAGE, "BadParameter", "--pcrs is a list of PCR numbers from 0 to 23, such as 7 or 0,2,7") \
    X(SR_ERR_SEAL_CONFIG, SR_FAM_INTEGRITY, "BadParameter",                                                  \
      "DATA/seal is damaged: it names the backend that keeps this directory's module keys")                  \
    X(SR_ERR_SEAL_EXISTS, SR_FAM_CONFLICT, "Conflict",                                                       \
      "this data directory already has a seal or module keys: 'seal init' is for a new directory")            \
    X(SR_ERR_SEAL_MISMATCH, SR_FAM_STATE, "Conflict",                                                        \
      "a module key is kept by another backend than the directory's seal (DATA/seal): nothing was made")     \
    X(SR_ERR_TPM_UNREACHABLE, SR_FAM_UNAVAILABLE, "ServiceUnavailable",                                      \
      "cannot reach the TPM: check the TCTI (--tpm, STRONGROOM_TPM_TCTI); a device needs read-write access "  \
      "to /dev/tpmrm0 (group tss)")                                                                           \
    X(SR_ERR_TPM_LOCKOUT, SR_FAM_UNAVAILABLE, "ServiceUnavailable",                                          \
      "the TPM is in dictionary-attack lockout: wait for its recovery time, or clear it with the lockout "    \
      "authorization (tpm2_dictionarylockout --clear-lockout)")                                              \
    X(SR_ERR_TPM_FOREIGN, SR_FAM_INTEGRITY, "Forbidden",                                                     \
      "this module key was sealed by another TPM: a copied data directory opens nothing here; on new "       \
      "hardware, restore from a 'strongroom backup' with the region's cards")                                 \
    X(SR_ERR_TPM_PCR, SR_FAM_DENIED, "Forbidden",                                                            \
      "the TPM's PCRs differ from those the module key was sealed to (the boot chain changed: a firmware or " \
      "boot loader update?): boot the old chain and 'seal migrate', or restore from backup and cards")        \
    X(SR_ERR_TPM, SR_FAM_IO, "InternalError", "the TPM refused the operation")                             \
    X(SR_ERR_P11_SEAL_URI, SR_FAM_USAGE, "BadParameter",                                                     \
      "--pkcs11 takes an RFC 7512 URI with module-path= and pin-source=file:PATH, such as "                    \
      "'pkcs11:token=vault;object=strongroom-km0?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/strongroom/pin'") \
    X(SR_ERR_P11_SEAL_TOKEN, SR_FAM_UNAVAILABLE, "ServiceUnavailable",                                       \
      "the PKCS#11 token that keeps the module keys is absent or refused: check the HSM, its library "        \
      "(module-path) and the token named in the URI")                                                          \
    X(SR_ERR_P11_SEAL_PIN, SR_FAM_DENIED, "Forbidden",                                                       \
      "the PKCS#11 token refused the PIN of the seal's pin-source (wrong, locked or unreadable)")              \
    X(SR_ERR_P11_SEAL_KEY, SR_FAM_STATE, "Conflict",                                                         \
      "the token no longer holds the AES key that sealed the module keys (deleted?): without it they cannot " \
      "be opened; restore from a 'strongroom backup' with the region's cards")                               \
    X(SR_ERR_HSM_UNAVAILABLE, SR_FAM_UNAVAILABLE, "ServiceUnavailable",                                     \
      "the region's HSM token is unreachable (removed, its library or network down): nothing was changed; "   \
      "retry once the token is back, which the server notices by itself")                                    \
    X(SR_ERR_HSM_KEY_GONE, SR_FAM_STATE, "Conflict",                                                          \
      "the region's HSM token no longer holds this key's object (deleted in the token?): the store's "        \
      "reference finds nothing")                                                                              \
    X(SR_ERR_HSM_BACKUP, SR_FAM_INPUT, "BadParameter",                                                        \
      "this key lives in the region's HSM and never leaves it: back it up with the HSM vendor's own backup "   \
      "(its security world or token backup), as Managed HSM does for keys that never leave")                  \
    X(SR_ERR_HSM_NO_SECRETS, SR_FAM_INPUT, "BadParameter",                                                     \
      "this HSM region was made before its token held a key for secrets' values (strongroom-values): keep "   \
      "secrets in a vault of a region made since, or of a software region")                                 \
    X(SR_ERR_HSM_CERT, SR_FAM_INPUT, "BadParameter",                                                          \
      "this region's keys live in a PKCS#11 token, which does not sign certificates here yet: make "           \
      "certificates in a vault of a software region")                                                        \
    X(SR_ERR_HSM_CLEAR_KEY, SR_FAM_INPUT, "BadParameter",                                                      \
      "the region's HSM token takes keys only by BYOK (key_hsm, wrapped under a key of the token): a key in "   \
      "clear never enters it")                                                                                 \
    X(SR_ERR_HSM_FOREIGN_TOKEN, SR_FAM_INTEGRITY, "Forbidden",                                               \
      "the token the URI names is not the region's: it does not hold the region's identity key; name the "     \
      "region's token (token=, serial= or the slot) in --hsm")                                                 \
    X(SR_ERR_P11_SEAL_FOREIGN, SR_FAM_INTEGRITY, "Forbidden",                                                \
      "this module key was sealed by another token's key: a copied data directory opens nothing here")         \
    X(SR_ERR_NVRAM_ROLLBACK, SR_FAM_INTEGRITY, "Forbidden",                                                  \
      "rollback refused: module/nvram is not the one the seal last recorded (an older copy of the directory, " \
      "restored after a module reset or a world change?); load the world again from a quorum of its cards "    \
      "('world load', or 'region join')")                                                                      \
    X(SR_ERR_SEAL_ANCHOR, SR_FAM_INTEGRITY, "Forbidden",                                                     \
      "the seal's rollback anchor for this module is gone (the TPM cleared, the token's object deleted), so " \
      "its NVRAM cannot be trusted: 'seal migrate' to another seal (and back) makes new anchors")            \
    X(SR_ERR_SEALED, SR_FAM_UNAVAILABLE, "ServiceUnavailable",                                              \
      "the region is sealed: its module keys open only with a quorum of its administrator cards; the "       \
      "operator runs 'strongroom unseal --data DIR --cards LIST --pin-file F' on the server's machine")      \
    X(SR_ERR_SEAL_CARDS_FOREIGN, SR_FAM_INTEGRITY, "Forbidden",                                              \
      "this module key was sealed under another world's key: the cards given are not this region's")        \
    X(SR_ERR_CARD_REPEATED, SR_FAM_INPUT, "BadParameter",                                                    \
      "that card was given already: a quorum needs distinct cards")                                          \
    X(SR_ERR_NO_SERVER, SR_FAM_UNAVAILABLE, "ServiceUnavailable",                                            \
      "no server of this data directory answers on DIR/control.sock: start 'strongroom serve' first")        \
    X(SR_ERR_UNSEAL_NOT_CARDS, SR_FAM_STATE, "Conflict",                                                     \
      "this server's data directory is not sealed by cards: its modules opened at start, nothing to unseal")  \
    X(SR_ERR_REBUILD_NOT_NEEDED, SR_FAM_CONFLICT, "Conflict",                                                \
      "every region's module opens here: nothing to rebuild ('seal migrate' moves a working directory to "   \
      "another seal)")                                                                                         \
    X(SR_ERR_PIN_LOCKED, SR_FAM_DENIED, "Forbidden",                                                         \
      "the user PIN is locked after too many wrong tries in a row: the security officer sets a new one "      \
      "(C_InitPIN, or 'strongroom pkcs11 set-pin')")                                                          \
    X(SR_ERR_CONTROL, SR_FAM_USAGE, "BadParameter",                                                          \
      "a control request is one JSON object on one line: {\"op\": \"status\"} or {\"op\": \"unseal\", ...}")

enum sr_err {
#define SR_X_ENUM(name, fam, kv, msg) name,
    SR_ERR_TABLE(SR_X_ENUM)
#undef SR_X_ENUM
        SR_ERR_COUNT_
};

const char *sr_err_name(enum sr_err e);
const char *sr_err_message(enum sr_err e);
const char *sr_err_kv_code(enum sr_err e);
enum sr_err_family sr_err_family(enum sr_err e);
/* HTTP status of an error answered by the API. */
int sr_err_http_status(enum sr_err e);
/* Command-line exit status: 0 success, 2 usage error, 1 any other failure. */
int sr_err_exit_status(enum sr_err e);

#endif
