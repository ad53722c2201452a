/* package.c - KEK and Security World packages: made by a region's module, verified by the key owner. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/fileio.h"
#include "base/json.h"
#include "base/text.h"
#include "byok/byok.h"
#include "crypto/crypto.h"
#include "crypto/ossl.h"
#include "hsm/suite.h"
#include "hsm/transfer.h"

#define SR_MAX_PACKAGE (256u * 1024u)

void sr_package_names(const char *region, char *kek_name, char *sw_name, size_t cap)
{
    snprintf(kek_name, cap, "BYOK-KEK-pkg-%s-1", region);
    snprintf(sw_name, cap, "BYOK-SecurityWorld-pkg-%s-1", region);
}

void sr_kek_package_release(struct sr_kek_package *p)
{
    EVP_PKEY_free(p->kek);
    p->kek = NULL;
}

static enum sr_err sr_b64_string(const uint8_t *p, size_t n, json_t **ret)
{
    SR_AUTO_BUF struct sr_buf t = {0};
    sr_buf_init(&t, SR_MAX_PACKAGE * 2, SR_BUF_PLAIN);
    SR_TRY(sr_base64_encode(p, n, &t));
    *ret = json_string((const char *)t.data);
    SR_ENSURE(*ret != NULL, SR_ERR_NOMEM);
    return SR_OK;
}

/* Envelope: the payload's exact bytes, the module's signature over them, its warrant and root. */
enum sr_err sr_signed_bytes(const struct sr_hsm *m, const json_t *payload, struct sr_buf *out)
{
    SR_AUTO_FREE char *text = json_dumps(payload, JSON_COMPACT | JSON_SORT_KEYS);
    SR_ENSURE(text != NULL, SR_ERR_NOMEM);
    SR_AUTO_BUF struct sr_buf sig = {0};
    SR_AUTO_BUF struct sr_buf warrant = {0};
    SR_AUTO_BUF struct sr_buf root = {0};
    sr_buf_init(&sig, 1024, SR_BUF_PLAIN);
    sr_buf_init(&warrant, 65536, SR_BUF_PLAIN);
    sr_buf_init(&root, 65536, SR_BUF_PLAIN);
    SR_TRY(sr_hsm_attest(m, (const uint8_t *)text, strlen(text), &sig));
    SR_TRY(sr_hsm_certificates(m, &warrant, &root));
    json_t *p64 = NULL;
    json_t *s64 = NULL;
    SR_TRY(sr_b64_string((const uint8_t *)text, strlen(text), &p64));
    if (sr_b64_string(sig.data, sig.len, &s64) != SR_OK) {
        json_decref(p64);
        return SR_ERR_NOMEM;
    }
    SR_AUTO_JSON json_t *env = json_pack("{s:s,s:o,s:o,s:s,s:s}", "format", SR_PACKAGE_FORMAT, "payload", p64,
                                         "signature", s64, "warrant", (const char *)warrant.data, "root",
                                         (const char *)root.data);
    SR_ENSURE(env != NULL, SR_ERR_NOMEM);
    SR_AUTO_FREE char *bytes = json_dumps(env, JSON_INDENT(1) | JSON_SORT_KEYS);
    SR_ENSURE(bytes != NULL, SR_ERR_NOMEM);
    return sr_buf_append(out, bytes, strlen(bytes));
}

static enum sr_err sr_package_seal(const struct sr_hsm *m, const json_t *payload, const char *path)
{
    SR_AUTO_BUF struct sr_buf bytes = {0};
    sr_buf_init(&bytes, SR_MAX_PACKAGE, SR_BUF_PLAIN);
    SR_TRY(sr_signed_bytes(m, payload, &bytes));
    return sr_file_write_atomic(path, bytes.data, bytes.len, SR_WRITE_REPLACE);
}

enum sr_err sr_signed_write(const struct sr_hsm *m, const json_t *payload, const char *path)
{
    return sr_package_seal(m, payload, path);
}

static enum sr_err sr_world_json(const struct sr_world_info *w, json_t **ret)
{
    json_t *o = json_pack("{s:s,s:s,s:i,s:i}", "id", w->id, "cipher_suite", w->suite, "quorum_k", (int)w->quorum_k,
                          "quorum_n", (int)w->quorum_n);
    SR_ENSURE(o != NULL, SR_ERR_NOMEM);
    SR_TRY(sr_json_set_hex(o, "hkm", w->hkm, SR_HASH_LEN));
    *ret = o;
    return SR_OK;
}

enum sr_err sr_packages_make(const struct sr_hsm *m, const char *region, const char *dir)
{
    struct sr_world_info world;
    SR_TRY(sr_hsm_world(m, &world));
    SR_AUTO_PKEY EVP_PKEY *kek = NULL;
    SR_TRY(sr_hsm_kek_public(m, &kek));
    struct sr_key_spec spec;
    SR_TRY(sr_pkey_describe(kek, &spec));
    SR_AUTO_BUF struct sr_buf spki = {0};
    sr_buf_init(&spki, 4096, SR_BUF_PLAIN);
    SR_TRY(sr_pkey_public_to_spki(kek, &spki));
    uint8_t hash[SR_HASH_LEN];
    SR_TRY(sr_pkey_public_hash(kek, hash));
    json_t *pub = NULL;
    SR_TRY(sr_b64_string(spki.data, spki.len, &pub));
    char kid[128];
    snprintf(kid, sizeof(kid), SR_KEK_KID_PREFIX "%s:1", region);
    json_t *w1 = NULL, *w2 = NULL;
    SR_TRY(sr_world_json(&world, &w1));
    SR_TRY(sr_world_json(&world, &w2));
    long long now = (long long)time(NULL);
    SR_AUTO_JSON json_t *kp = json_pack(
        "{s:s,s:s,s:s,s:{s:o,s:s,s:i},s:[s],s:b,s:b,s:{s:s},s:o,s:I}", "type", "kek", "region", region, "kid", kid,
        "key", "public_key", pub, "kty", "RSA", "size", (int)spec.bits, "acl", "Import", "exportable", 0,
        "generated_in_module", 1, "module", "esn", sr_hsm_esn(m), "world", w1, "created", (json_int_t)now);
    SR_AUTO_JSON json_t *sp = json_pack("{s:s,s:s,s:{s:s},s:o,s:I}", "type", "security-world", "region", region,
                                        "module", "esn", sr_hsm_esn(m), "world", w2, "created", (json_int_t)now);
    SR_ENSURE(kp != NULL && sp != NULL, SR_ERR_NOMEM);
    SR_TRY(sr_json_set_hex(json_object_get(kp, "key"), "key_hash", hash, SR_HASH_LEN));
    char kek_name[128], sw_name[128], path[SR_PATH_MAX];
    sr_package_names(region, kek_name, sw_name, sizeof(kek_name));
    SR_TRY(sr_dir_make(dir));
    SR_TRY(sr_path_join(path, sizeof(path), dir, kek_name));
    SR_TRY(sr_package_seal(m, kp, path));
    SR_TRY(sr_path_join(path, sizeof(path), dir, sw_name));
    return sr_package_seal(m, sp, path);
}

/* --- verification --- */

static bool sr_check(struct sr_check_report *rep, const char *name, bool ok, const char *reason)
{
    if (rep->n < SR_MAX_CHECKS) {
        rep->name[rep->n] = name;
        rep->ok[rep->n] = ok;
        rep->n++;
    }
    if (!ok && rep->reason[0] == 0) {
        snprintf(rep->reason, sizeof(rep->reason), "%s", reason);
    }
    return ok;
}

struct sr_envelope {
    json_t *env;
    json_t *payload;
    struct sr_buf payload_bytes;
    struct sr_buf sig;
    X509 *warrant;
    X509 *root;
};

static void sr_envelope_release(struct sr_envelope *e)
{
    json_decref(e->env);
    json_decref(e->payload);
    sr_buf_release(&e->payload_bytes);
    sr_buf_release(&e->sig);
    X509_free(e->warrant);
    X509_free(e->root);
    memset(e, 0, sizeof(*e));
}

/* Strict: each field must be exactly what re-encoding its decoded value gives, so that no byte of a
 * package (padding bits, PEM layout) can change without the verification failing. */
static bool sr_b64_canonical(const char *text, const struct sr_buf *decoded)
{
    struct sr_buf again;
    sr_buf_init(&again, SR_MAX_PACKAGE * 2, SR_BUF_PLAIN);
    bool same = sr_base64_encode(decoded->data, decoded->len, &again) == SR_OK && strcmp((const char *)again.data, text) == 0;
    sr_buf_release(&again);
    return same;
}

static bool sr_pem_canonical(X509 *cert, const char *text)
{
    struct sr_buf again;
    sr_buf_init(&again, 65536, SR_BUF_PLAIN);
    bool same = sr_x509_to_pem(cert, &again) == SR_OK && strcmp((const char *)again.data, text) == 0;
    sr_buf_release(&again);
    return same;
}

static enum sr_err sr_envelope_parse(const uint8_t *data, size_t len, struct sr_envelope *e)
{
    sr_buf_init(&e->payload_bytes, SR_MAX_PACKAGE, SR_BUF_PLAIN);
    sr_buf_init(&e->sig, 4096, SR_BUF_PLAIN);
    SR_ENSURE(len <= SR_MAX_PACKAGE, SR_ERR_PACKAGE);
    e->env = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, NULL);
    const char *format = json_string_value(json_object_get(e->env, "format"));
    const char *payload = json_string_value(json_object_get(e->env, "payload"));
    const char *sig = json_string_value(json_object_get(e->env, "signature"));
    const char *warrant = json_string_value(json_object_get(e->env, "warrant"));
    const char *root = json_string_value(json_object_get(e->env, "root"));
    SR_ENSURE(format && payload && sig && warrant && root && strcmp(format, SR_PACKAGE_FORMAT) == 0, SR_ERR_PACKAGE);
    SR_ENSURE(json_object_size(e->env) == 5, SR_ERR_PACKAGE);
    SR_ENSURE(sr_base64_decode(payload, &e->payload_bytes) == SR_OK, SR_ERR_PACKAGE);
    SR_ENSURE(sr_base64_decode(sig, &e->sig) == SR_OK, SR_ERR_PACKAGE);
    SR_ENSURE(sr_x509_from_pem((const uint8_t *)warrant, strlen(warrant), &e->warrant) == SR_OK, SR_ERR_PACKAGE);
    SR_ENSURE(sr_x509_from_pem((const uint8_t *)root, strlen(root), &e->root) == SR_OK, SR_ERR_PACKAGE);
    SR_ENSURE(sr_b64_canonical(payload, &e->payload_bytes) && sr_b64_canonical(sig, &e->sig), SR_ERR_PACKAGE);
    SR_ENSURE(sr_pem_canonical(e->warrant, warrant) && sr_pem_canonical(e->root, root), SR_ERR_PACKAGE);
    e->payload = json_loadb((const char *)e->payload_bytes.data, e->payload_bytes.len, JSON_REJECT_DUPLICATES, NULL);
    SR_ENSURE(json_is_object(e->payload), SR_ERR_PACKAGE);
    return SR_OK;
}

static bool sr_same_cert(X509 *a, X509 *b)
{
    return X509_cmp(a, b) == 0;
}

/* root pinned -> root self-signed -> warrant by root -> payload by warrant key; names the module's ESN. */
/* The names of the four chain checks, per package, as verifykeypackage prints them. */
static const char *const sr_kek_chain[] = {
    "KEK package: root of trust matches the pinned fingerprint", "KEK package: root certificate is self-signed",
    "KEK package: module warrant is signed by the root", "KEK package: signed by the warranted module"};
static const char *const sr_sw_chain[] = {
    "Security World package: root of trust matches the pinned fingerprint",
    "Security World package: root certificate is self-signed",
    "Security World package: module warrant is signed by the root",
    "Security World package: signed by the warranted module"};

static bool sr_chain_ok(struct sr_envelope *e, struct sr_check_report *rep, const uint8_t *pinned, uint8_t fp[32],
                        const char *const *names)
{
    EVP_PKEY *root_pub = X509_get0_pubkey(e->root);
    bool ok = root_pub != NULL && sr_pkey_public_hash(root_pub, fp) == SR_OK;
    if (!sr_check(rep, names[0],
                  ok && (pinned == NULL || sr_ct_equal(fp, pinned, SR_HASH_LEN)),
                  "the packages chain to a root other than the pinned one")) {
        return false;
    }
    if (!sr_check(rep, names[1],
                  sr_x509_check_signed_by(e->root, root_pub) == SR_OK, "the root certificate's signature is bad")) {
        return false;
    }
    if (!sr_check(rep, names[2], sr_x509_check_signed_by(e->warrant, root_pub) == SR_OK,
                  "the module warrant is not signed by the root")) {
        return false;
    }
    EVP_PKEY *identity = X509_get0_pubkey(e->warrant);
    bool sig_ok = identity != NULL && sr_pkey_verify_message(identity, SR_ALG_ES384, e->payload_bytes.data,
                                                             e->payload_bytes.len, SR_SIG_DER, e->sig.data,
                                                             e->sig.len) == SR_OK;
    return sr_check(rep, names[3], sig_ok, "a package's signature does not verify under the warranted module key");
}

enum sr_err sr_signed_read(const uint8_t *data, size_t len, const uint8_t pinned[SR_HASH_LEN], json_t **ret_payload,
                           char *why, size_t cap)
{
    static const char *const names[] = {"root of trust matches the pinned fingerprint", "root certificate is self-signed",
                                        "module warrant is signed by the root", "signed by the warranted module"};
    struct sr_envelope e = {0};
    struct sr_check_report rep = {0};
    uint8_t fp[SR_HASH_LEN];
    enum sr_err r = sr_envelope_parse(data, len, &e);
    if (r != SR_OK) {
        snprintf(why, cap, "not a signed Strongroom document, or altered");
    } else if (!sr_chain_ok(&e, &rep, pinned, fp, names)) {
        snprintf(why, cap, "%s", rep.reason);
        r = SR_ERR_PACKAGE;
    } else {
        *ret_payload = SR_TAKE(e.payload);
    }
    sr_envelope_release(&e);
    return r;
}

static bool sr_payload_str(const json_t *o, const char *key, char *out, size_t cap)
{
    const char *s = json_string_value(json_object_get(o, key));
    if (s == NULL || strlen(s) >= cap) {
        return false;
    }
    strcpy(out, s);
    return true;
}

static bool sr_esn_matches(X509 *warrant, const json_t *payload)
{
    char cn[64] = "";
    X509_NAME_get_text_by_NID(X509_get_subject_name(warrant), NID_commonName, cn, sizeof(cn));
    const char *esn = json_string_value(json_object_get(json_object_get(payload, "module"), "esn"));
    return esn != NULL && strcmp(esn, cn) == 0;
}

static enum sr_err sr_kek_from_payload(const json_t *p, struct sr_kek_package *k)
{
    const json_t *key = json_object_get(p, "key");
    const char *pub = json_string_value(json_object_get(key, "public_key"));
    const json_t *world = json_object_get(p, "world");
    SR_ENSURE(pub != NULL && sr_payload_str(p, "kid", k->kid, sizeof(k->kid)) &&
                  sr_payload_str(p, "region", k->region, sizeof(k->region)) &&
                  sr_payload_str(json_object_get(p, "module"), "esn", k->esn, sizeof(k->esn)) &&
                  sr_payload_str(world, "id", k->world_id, sizeof(k->world_id)) &&
                  sr_payload_str(world, "cipher_suite", k->suite, sizeof(k->suite)),
              SR_ERR_PACKAGE);
    SR_ENSURE(sr_json_hex(world, "hkm", SR_ERR_PACKAGE, k->world_hkm, SR_HASH_LEN) == SR_OK, SR_ERR_PACKAGE);
    SR_ENSURE(sr_json_hex(key, "key_hash", SR_ERR_PACKAGE, k->kek_hash, SR_HASH_LEN) == SR_OK, SR_ERR_PACKAGE);
    SR_AUTO_BUF struct sr_buf der = {0};
    sr_buf_init(&der, 8192, SR_BUF_PLAIN);
    SR_ENSURE(sr_base64_decode(pub, &der) == SR_OK, SR_ERR_PACKAGE);
    SR_ENSURE(sr_pkey_public_from_spki(der.data, der.len, &k->kek) == SR_OK, SR_ERR_PACKAGE);
    return SR_OK;
}

static bool sr_acl_is_import_only(const json_t *acl)
{
    return json_is_array(acl) && json_array_size(acl) == 1 &&
           json_string_value(json_array_get(acl, 0)) != NULL &&
           strcmp(json_string_value(json_array_get(acl, 0)), "Import") == 0;
}

static enum sr_err sr_verify_pair(struct sr_envelope *kek, struct sr_envelope *sw, const uint8_t *pinned,
                                  struct sr_check_report *rep, struct sr_kek_package *k)
{
    uint8_t fp_kek[SR_HASH_LEN], fp_sw[SR_HASH_LEN];
    SR_ENSURE(sr_chain_ok(kek, rep, pinned, fp_kek, sr_kek_chain), SR_ERR_PACKAGE);
    SR_ENSURE(sr_chain_ok(sw, rep, pinned, fp_sw, sr_sw_chain), SR_ERR_PACKAGE);
    SR_ENSURE(sr_check(rep, "both packages come from the same module",
                       sr_same_cert(kek->warrant, sw->warrant) && sr_esn_matches(kek->warrant, kek->payload) &&
                           sr_esn_matches(sw->warrant, sw->payload),
                       "the packages name different modules, or a module other than their warrant's"),
              SR_ERR_PACKAGE);
    const json_t *kp = kek->payload;
    const json_t *sp = sw->payload;
    const char *kt = json_string_value(json_object_get(kp, "type"));
    const char *st = json_string_value(json_object_get(sp, "type"));
    SR_ENSURE(sr_check(rep, "package types: a KEK package and a Security World package",
                       kt && st && strcmp(kt, "kek") == 0 && strcmp(st, "security-world") == 0,
                       "-k must be a KEK package and -w a Security World package"),
              SR_ERR_PACKAGE);
    enum sr_err r = sr_kek_from_payload(kp, k);
    uint8_t h[SR_HASH_LEN];
    bool key_ok = r == SR_OK && sr_pkey_public_hash(k->kek, h) == SR_OK && sr_ct_equal(h, k->kek_hash, SR_HASH_LEN);
    struct sr_key_spec spec = {0};
    key_ok = key_ok && sr_pkey_describe(k->kek, &spec) == SR_OK && spec.type == SR_KEY_RSA && spec.bits >= 2048;
    SR_ENSURE(sr_check(rep, "KEK is an RSA key of at least 2048 bits, as hashed", key_ok,
                       "the KEK public key is malformed, too small, or does not match its hash"),
              SR_ERR_PACKAGE);
    /* = seeds: the KEK was generated in that module and is not exportable */
    SR_ENSURE(sr_check(rep, "KEK was generated in the attested module",
                       json_is_true(json_object_get(kp, "generated_in_module")),
                       "the attestation does not say the KEK was generated in the module"),
              SR_ERR_PACKAGE);
    SR_ENSURE(sr_check(rep, "KEK is not exportable and its ACL is import only",
                       json_is_false(json_object_get(kp, "exportable")) &&
                           sr_acl_is_import_only(json_object_get(kp, "acl")),
                       "the attestation says the KEK is exportable, or allows more than import"),
              SR_ERR_PACKAGE);
    const json_t *kw = json_object_get(kp, "world");
    const json_t *sww = json_object_get(sp, "world");
    const char *kr = json_string_value(json_object_get(kp, "region"));
    const char *sr = json_string_value(json_object_get(sp, "region"));
    SR_ENSURE(sr_check(rep, "KEK belongs to the Security World of the package (same world and region)",
                       json_equal(kw, sww) && kr && sr && strcmp(kr, sr) == 0,
                       "the KEK package and the Security World package describe different worlds or regions"),
              SR_ERR_PACKAGE);
    const char *suite = json_string_value(json_object_get(sww, "cipher_suite"));
    const struct sr_suite *known = NULL;
    SR_ENSURE(sr_check(rep, "world cipher suite has at least 128-bit strength",
                       suite && sr_suite_lookup(suite, &known) == SR_OK && known->strength_bits >= 128,
                       "the world's cipher suite is weak or unknown"),
              SR_ERR_PACKAGE);
    memcpy(k->root_fingerprint, fp_kek, SR_HASH_LEN);
    return SR_OK;
}

enum sr_err sr_packages_verify(const uint8_t *kek_pkg, size_t kek_len, const uint8_t *sw_pkg, size_t sw_len,
                               const uint8_t pinned[SR_HASH_LEN], struct sr_check_report *report,
                               struct sr_kek_package *ret)
{
    struct sr_envelope kek = {0}, sw = {0};
    struct sr_kek_package k = {0};
    enum sr_err r = SR_OK;
    memset(report, 0, sizeof(*report));
    bool parsed = sr_envelope_parse(kek_pkg, kek_len, &kek) == SR_OK;
    if (!sr_check(report, "KEK package is well formed", parsed, "the KEK package is malformed or damaged")) {
        r = SR_ERR_PACKAGE;
    } else if (!sr_check(report, "Security World package is well formed", sr_envelope_parse(sw_pkg, sw_len, &sw) == SR_OK,
                         "the Security World package is malformed or damaged")) {
        r = SR_ERR_PACKAGE;
    } else {
        r = sr_verify_pair(&kek, &sw, pinned, report, &k);
    }
    sr_envelope_release(&kek);
    sr_envelope_release(&sw);
    if (r != SR_OK) {
        sr_kek_package_release(&k);
        return r;
    }
    *ret = k;
    return SR_OK;
}

enum sr_err sr_binding_make(const char *subscription, const char *region, const uint8_t world_hkm[SR_HASH_LEN],
                            char *out, size_t cap)
{
    char hkm[2 * SR_HASH_LEN + 1];
    sr_hex_encode(world_hkm, SR_HASH_LEN, hkm);
    int n = snprintf(out, cap, "strongroom-byok-v1;subscription=%s;region=%s;world=%s", subscription, region, hkm);
    SR_ENSURE(n > 0 && (size_t)n < cap, SR_ERR_TOO_LARGE);
    return SR_OK;
}
