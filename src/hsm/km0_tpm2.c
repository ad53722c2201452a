/*
 * km0_tpm2.c - the `tpm2` seal: KM0 as a keyed-hash object sealed by a TPM 2.0 (tpm2-tss ESAPI).
 *
 * The parent is a primary key the TPM derives from its storage seed (an ECC P-256 storage key, the TCG's
 * SRK template): the same on every start of the same TPM, impossible on another. The sealed object is
 * fixedTPM and fixedParent; its public and private blobs are what KM0.tpm2 keeps, and only that TPM can
 * load them. Every command that carries KM0 (Create, Unseal) runs in a session salted to the primary
 * key, with parameter encryption in the direction KM0 travels (decrypt on Create, encrypt on Unseal), so
 * it never crosses the bus in clear (the interposer attacks on discrete TPMs read exactly that). With
 * PCRs, the object's authPolicy is PolicyPCR over their SHA-256 values at sealing: it unseals only on the
 * same boot chain.
 */
#include <stdio.h>
#include <string.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "base/json.h"
#include "crypto/crypto.h"
#include "hsm/container.h"
#include "hsm/km0_internal.h"

#define SR_MAGIC_TPM_KM0 "SRTPMKM0"
/* The owner's NV index range (TCG handle registry): each module key's rollback anchor is one of these. */
#define SR_TPM_NV_FIRST 0x01800000u
#define SR_TPM_NV_SPAN 0x00400000u

/* An ESAPI connection and the handles made on it, all released by sr_tpm_close. */
struct sr_tpm {
    TSS2_TCTI_CONTEXT *tcti;
    ESYS_CONTEXT *esys;
    ESYS_TR primary, session, object;
    struct sr_seal_config *cfg;
};

static void sr_tpm_close(struct sr_tpm *t)
{
    ESYS_TR *handles[] = {&t->object, &t->session, &t->primary};
    for (size_t i = 0; i < SR_ARRAY_LEN(handles); i++) {
        if (*handles[i] != ESYS_TR_NONE && t->esys != NULL) {
            (void)Esys_FlushContext(t->esys, *handles[i]);
        }
        *handles[i] = ESYS_TR_NONE;
    }
    if (t->esys != NULL) {
        Esys_Finalize(&t->esys);
    }
    if (t->tcti != NULL) {
        Tss2_TctiLdr_Finalize(&t->tcti);
    }
}

/* The TPM's answer in our terms; cfg->diag keeps the TPM's own words and what was being done. */
static enum sr_err sr_tpm_fail(struct sr_tpm *t, const char *doing, TSS2_RC rc)
{
    snprintf(t->cfg->diag, sizeof(t->cfg->diag), "%s on TCTI %s: %s", doing, t->cfg->tcti, Tss2_RC_Decode(rc));
    if ((rc & TSS2_RC_LAYER_MASK) == TSS2_TCTI_RC_LAYER) {
        return SR_ERR_TPM_UNREACHABLE; /* the transport, not the TPM, failed */
    }
    TSS2_RC base = (rc & TPM2_RC_FMT1) ? (rc & (TPM2_RC_FMT1 | 0x3f)) : (rc & 0xfff);
    switch (base) {
    case TPM2_RC_LOCKOUT:
        return SR_ERR_TPM_LOCKOUT;
    case TPM2_RC_INTEGRITY:
    case TPM2_RC_BINDING:
    case TPM2_RC_KEY:
        return SR_ERR_TPM_FOREIGN;
    case TPM2_RC_POLICY_FAIL:
        return SR_ERR_TPM_PCR; /* the only policy KM0 is sealed under is PolicyPCR */
    default:
        return SR_ERR_TPM;
    }
}

/* An ESAPI connection on the TCTI: all the rollback anchor's NV commands need. */
static enum sr_err sr_tpm_connect(struct sr_tpm *t, struct sr_seal_config *cfg)
{
    *t = (struct sr_tpm){.primary = ESYS_TR_NONE, .session = ESYS_TR_NONE, .object = ESYS_TR_NONE, .cfg = cfg};
    if (cfg->tcti[0] == 0) {
        snprintf(cfg->tcti, sizeof(cfg->tcti), "%s", SR_TPM_TCTI_DEFAULT);
    }
    if (Tss2_TctiLdr_Initialize(cfg->tcti, &t->tcti) != TSS2_RC_SUCCESS) {
        snprintf(cfg->diag, sizeof(cfg->diag), "TCTI %s", cfg->tcti);
        return SR_ERR_TPM_UNREACHABLE;
    }
    TSS2_RC rc = Esys_Initialize(&t->esys, t->tcti, NULL);
    return rc == TSS2_RC_SUCCESS ? SR_OK : sr_tpm_fail(t, "connecting", rc);
}

/* A connection and the storage primary key: what sealing and unsealing KM0 need. */
static enum sr_err sr_tpm_open(struct sr_tpm *t, struct sr_seal_config *cfg)
{
    SR_TRY(sr_tpm_connect(t, cfg));
    /* The TCG's storage root key template: deterministic, so the same TPM derives the same key each time. */
    TPM2B_PUBLIC tmpl = {
        .publicArea = {
            .type = TPM2_ALG_ECC,
            .nameAlg = TPM2_ALG_SHA256,
            .objectAttributes = TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT | TPMA_OBJECT_FIXEDTPM |
                                TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
                                TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_NODA,
            .parameters.eccDetail = {.symmetric = {.algorithm = TPM2_ALG_AES, .keyBits.aes = 128,
                                                   .mode.aes = TPM2_ALG_CFB},
                                     .scheme.scheme = TPM2_ALG_NULL,
                                     .curveID = TPM2_ECC_NIST_P256,
                                     .kdf.scheme = TPM2_ALG_NULL},
        },
    };
    TPM2B_SENSITIVE_CREATE none = {0};
    TPM2B_DATA outside = {0};
    TPML_PCR_SELECTION creation = {0};
    TSS2_RC rc = Esys_CreatePrimary(t->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &none,
                                    &tmpl,
                            &outside, &creation, &t->primary, NULL, NULL, NULL, NULL);
    if (rc != TSS2_RC_SUCCESS) {
        /* The first command to reach the TPM: a connection refused shows here. */
        return sr_tpm_fail(t, "deriving the storage primary key", rc);
    }
    return SR_OK;
}

/* A session salted to the primary key, AES-128-CFB parameter encryption in the given directions. */
static enum sr_err sr_tpm_session(struct sr_tpm *t, TPM2_SE type, TPMA_SESSION crypt, ESYS_TR *ret)
{
    TPMT_SYM_DEF sym = {.algorithm = TPM2_ALG_AES, .keyBits.aes = 128, .mode.aes = TPM2_ALG_CFB};
    TSS2_RC rc = Esys_StartAuthSession(t->esys, t->primary, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                       NULL, type, &sym, TPM2_ALG_SHA256, ret);
    if (rc != TSS2_RC_SUCCESS) {
        return sr_tpm_fail(t, "starting a salted session", rc);
    }
    rc = Esys_TRSess_SetAttributes(t->esys, *ret, TPMA_SESSION_CONTINUESESSION | crypt, 0xff);
    return rc == TSS2_RC_SUCCESS ? SR_OK : sr_tpm_fail(t, "setting session attributes", rc);
}

static void sr_tpm_pcr_selection(uint32_t pcrs, TPML_PCR_SELECTION *sel)
{
    *sel = (TPML_PCR_SELECTION){.count = 1};
    sel->pcrSelections[0].hash = TPM2_ALG_SHA256;
    sel->pcrSelections[0].sizeofSelect = 3;
    for (unsigned i = 0; i < 24; i++) {
        if (pcrs & (1u << i)) {
            sel->pcrSelections[0].pcrSelect[i / 8] |= (uint8_t)(1u << (i % 8));
        }
    }
}

/* PolicyPCR over the PCRs' current values into session (a trial one gives the digest to seal under). */
static enum sr_err sr_tpm_policy_pcr(struct sr_tpm *t, ESYS_TR session, uint32_t pcrs)
{
    TPML_PCR_SELECTION sel;
    sr_tpm_pcr_selection(pcrs, &sel);
    TPM2B_DIGEST current = {0}; /* empty: the TPM takes the PCRs' values now */
    TSS2_RC rc = Esys_PolicyPCR(t->esys, session, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &current, &sel);
    return rc == TSS2_RC_SUCCESS ? SR_OK : sr_tpm_fail(t, "unsealing: PolicyPCR", rc);
}

static enum sr_err sr_tpm_policy_digest(struct sr_tpm *t, uint32_t pcrs, TPM2B_DIGEST *ret)
{
    ESYS_TR trial = ESYS_TR_NONE;
    SR_TRY(sr_tpm_session(t, TPM2_SE_TRIAL, 0, &trial));
    enum sr_err r = sr_tpm_policy_pcr(t, trial, pcrs);
    TPM2B_DIGEST *digest = NULL;
    if (r == SR_OK) {
        TSS2_RC rc = Esys_PolicyGetDigest(t->esys, trial, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &digest);
        r = rc == TSS2_RC_SUCCESS ? SR_OK : sr_tpm_fail(t, "computing the PCR policy", rc);
    }
    if (r == SR_OK) {
        *ret = *digest;
    }
    Esys_Free(digest);
    (void)Esys_FlushContext(t->esys, trial);
    return r;
}

/* A new NV index of 32 bytes, zeros (no NVRAM yet), readable and writable with the owner's authorization. */
static enum sr_err sr_tpm_anchor_define(struct sr_tpm *t, uint32_t *ret)
{
    for (int attempt = 0; attempt < 16; attempt++) {
        uint32_t r32 = 0;
        SR_TRY(sr_rand_bytes(&r32, sizeof(r32)));
        TPM2B_NV_PUBLIC pub = {.nvPublic = {.nvIndex = SR_TPM_NV_FIRST + r32 % SR_TPM_NV_SPAN,
                                            .nameAlg = TPM2_ALG_SHA256,
                                            .attributes = (TPM2_NT_ORDINARY << TPMA_NV_TPM2_NT_SHIFT) |
                                                          TPMA_NV_OWNERWRITE | TPMA_NV_OWNERREAD,
                                            .dataSize = SR_KM0_LEN}};
        TPM2B_AUTH none = {0};
        ESYS_TR nv = ESYS_TR_NONE;
        TSS2_RC rc = Esys_NV_DefineSpace(t->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                                         &none, &pub, &nv);
        if ((rc & (TPM2_RC_FMT1 | 0xfff)) == TPM2_RC_NV_DEFINED) {
            continue; /* taken: another directory's, or anything else's */
        }
        if (rc != TSS2_RC_SUCCESS) {
            return sr_tpm_fail(t, "defining the rollback anchor (NV index)", rc);
        }
        TPM2B_MAX_NV_BUFFER zeros = {.size = SR_KM0_LEN};
        rc = Esys_NV_Write(t->esys, ESYS_TR_RH_OWNER, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &zeros, 0);
        (void)Esys_TR_Close(t->esys, &nv);
        if (rc != TSS2_RC_SUCCESS) {
            return sr_tpm_fail(t, "initialising the rollback anchor", rc);
        }
        *ret = pub.nvPublic.nvIndex;
        return SR_OK;
    }
    snprintf(t->cfg->diag, sizeof(t->cfg->diag), "no free NV index in 0x%x..0x%x", SR_TPM_NV_FIRST,
             SR_TPM_NV_FIRST + SR_TPM_NV_SPAN - 1);
    return SR_ERR_TPM;
}

static enum sr_err sr_tpm_header(uint32_t pcrs, uint32_t nv, json_t **ret)
{
    SR_AUTO_JSON json_t *list = json_array();
    SR_ENSURE(list != NULL, SR_ERR_NOMEM);
    for (unsigned i = 0; i < 24; i++) {
        if (pcrs & (1u << i)) {
            SR_ENSURE(json_array_append_new(list, json_integer(i)) == 0, SR_ERR_NOMEM);
        }
    }
    *ret = json_pack("{s:s,s:s,s:O,s:I}", "parent", "owner hierarchy, ECC P-256 storage primary (TCG SRK template)",
                     "pcrBank", "sha256", "pcrs", list, "nvIndex", (json_int_t)nv);
    SR_ENSURE(*ret != NULL, SR_ERR_NOMEM);
    return SR_OK;
}

static enum sr_err sr_tpm2_seal_with(struct sr_tpm *t, const uint8_t km0[SR_KM0_LEN], struct sr_buf *out)
{
    struct sr_seal_config *cfg = t->cfg;
    TPM2B_PUBLIC tmpl = {
        .publicArea = {
            .type = TPM2_ALG_KEYEDHASH,
            .nameAlg = TPM2_ALG_SHA256,
            .objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_NODA |
                                (cfg->pcrs ? 0 : TPMA_OBJECT_USERWITHAUTH),
            .parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL,
        },
    };
    if (cfg->pcrs) {
        SR_TRY(sr_tpm_policy_digest(t, cfg->pcrs, &tmpl.publicArea.authPolicy));
    }
    TPM2B_SENSITIVE_CREATE sens = {0};
    sens.sensitive.data.size = SR_KM0_LEN;
    memcpy(sens.sensitive.data.buffer, km0, SR_KM0_LEN);
    SR_TRY(sr_tpm_session(t, TPM2_SE_HMAC, TPMA_SESSION_DECRYPT, &t->session));
    TPM2B_DATA outside = {0};
    TPML_PCR_SELECTION creation = {0};
    TPM2B_PRIVATE *priv = NULL;
    TPM2B_PUBLIC *pub = NULL;
    TSS2_RC rc = Esys_Create(t->esys, t->primary, t->session, ESYS_TR_NONE, ESYS_TR_NONE, &sens, &tmpl, &outside,
                             &creation, &priv, &pub, NULL, NULL, NULL);
    sr_wipe(&sens, sizeof(sens));
    enum sr_err r = rc == TSS2_RC_SUCCESS ? SR_OK : sr_tpm_fail(t, "sealing KM0", rc);
    uint8_t blobs[sizeof(TPM2B_PUBLIC) + sizeof(TPM2B_PRIVATE)];
    size_t off = 0;
    if (r == SR_OK && (Tss2_MU_TPM2B_PUBLIC_Marshal(pub, blobs, sizeof(blobs), &off) != TSS2_RC_SUCCESS ||
                       Tss2_MU_TPM2B_PRIVATE_Marshal(priv, blobs, sizeof(blobs), &off) != TSS2_RC_SUCCESS)) {
        r = SR_ERR_TPM;
    }
    Esys_Free(priv);
    Esys_Free(pub);
    SR_TRY(r);
    uint32_t nv = 0;
    SR_TRY(sr_tpm_anchor_define(t, &nv));
    SR_AUTO_JSON json_t *header = NULL;
    SR_TRY(sr_tpm_header(cfg->pcrs, nv, &header));
    SR_TRY(sr_container_prefix(SR_MAGIC_TPM_KM0, header, out));
    return sr_container_finish(out, blobs, off);
}

static enum sr_err sr_tpm2_seal(struct sr_seal_config *cfg, const uint8_t km0[SR_KM0_LEN], struct sr_buf *out)
{
    struct sr_tpm t;
    enum sr_err r = sr_tpm_open(&t, cfg);
    if (r == SR_OK) {
        r = sr_tpm2_seal_with(&t, km0, out);
    }
    sr_tpm_close(&t);
    return r;
}

struct sr_tpm_kept {
    TPM2B_PUBLIC pub;
    TPM2B_PRIVATE priv;
    uint32_t pcrs;
    uint32_t nv; /* the rollback anchor's NV index; 0: none */
};

static enum sr_err sr_tpm_kept_parse(const uint8_t *kept, size_t len, struct sr_tpm_kept *ret)
{
    SR_AUTO_CONTAINER struct sr_container c = {0};
    SR_TRY(sr_container_parse(kept, len, SR_MAGIC_TPM_KM0, SR_ERR_NVRAM_TAMPERED, &c));
    *ret = (struct sr_tpm_kept){0};
    size_t off = 0;
    SR_ENSURE(Tss2_MU_TPM2B_PUBLIC_Unmarshal(c.payload, c.payload_len, &off, &ret->pub) == TSS2_RC_SUCCESS &&
                  Tss2_MU_TPM2B_PRIVATE_Unmarshal(c.payload, c.payload_len, &off, &ret->priv) == TSS2_RC_SUCCESS &&
                  off == c.payload_len,
              SR_ERR_NVRAM_TAMPERED);
    size_t i;
    const json_t *pcr;
    json_array_foreach(json_object_get(c.header, "pcrs"), i, pcr) {
        SR_ENSURE(json_is_integer(pcr) && json_integer_value(pcr) >= 0 && json_integer_value(pcr) <= 23,
                  SR_ERR_NVRAM_TAMPERED);
        ret->pcrs |= 1u << json_integer_value(pcr);
    }
    const json_t *nv = json_object_get(c.header, "nvIndex");
    if (nv != NULL) {
        SR_ENSURE(json_is_integer(nv) && json_integer_value(nv) >= SR_TPM_NV_FIRST &&
                      json_integer_value(nv) < SR_TPM_NV_FIRST + SR_TPM_NV_SPAN,
                  SR_ERR_NVRAM_TAMPERED);
        ret->nv = (uint32_t)json_integer_value(nv);
    }
    return SR_OK;
}

static enum sr_err sr_tpm2_unseal_with(struct sr_tpm *t, const struct sr_tpm_kept *k, uint8_t km0[SR_KM0_LEN])
{
    SR_TRY(sr_tpm_session(t, TPM2_SE_HMAC, 0, &t->session));
    TSS2_RC rc = Esys_Load(t->esys, t->primary, t->session, ESYS_TR_NONE, ESYS_TR_NONE, &k->priv, &k->pub, &t->object);
    if (rc != TSS2_RC_SUCCESS) {
        return sr_tpm_fail(t, "loading the sealed KM0", rc);
    }
    (void)Esys_FlushContext(t->esys, t->session);
    t->session = ESYS_TR_NONE;
    /* The unseal's session: a policy session when PCRs bind KM0, else an HMAC one; salted, KM0 encrypted. */
    SR_TRY(sr_tpm_session(t, k->pcrs ? TPM2_SE_POLICY : TPM2_SE_HMAC, TPMA_SESSION_ENCRYPT, &t->session));
    if (k->pcrs) {
        SR_TRY(sr_tpm_policy_pcr(t, t->session, k->pcrs));
    }
    TPM2B_SENSITIVE_DATA *data = NULL;
    rc = Esys_Unseal(t->esys, t->object, t->session, ESYS_TR_NONE, ESYS_TR_NONE, &data);
    if (rc != TSS2_RC_SUCCESS) {
        enum sr_err r = sr_tpm_fail(t, "unsealing KM0", rc);
        if (r == SR_ERR_TPM_PCR) {
            char pcrs[80] = "";
            for (unsigned i = 0, n = 0; i < 24; i++) {
                if (k->pcrs & (1u << i)) {
                    n += (unsigned)snprintf(pcrs + n, sizeof(pcrs) - n, "%s%u", n ? "," : "", i);
                }
            }
            snprintf(t->cfg->diag, sizeof(t->cfg->diag), "SHA-256 PCRs %s differ from their values at sealing", pcrs);
        }
        return r;
    }
    enum sr_err r = data->size == SR_KM0_LEN ? SR_OK : SR_ERR_NVRAM_TAMPERED;
    if (r == SR_OK) {
        memcpy(km0, data->buffer, SR_KM0_LEN);
    }
    sr_wipe(data, sizeof(*data));
    Esys_Free(data);
    return r;
}

static enum sr_err sr_tpm2_unseal(struct sr_seal_config *cfg, const uint8_t *kept, size_t len, uint8_t km0[SR_KM0_LEN])
{
    struct sr_tpm_kept k;
    SR_TRY(sr_tpm_kept_parse(kept, len, &k));
    struct sr_tpm t;
    enum sr_err r = sr_tpm_open(&t, cfg);
    if (r == SR_OK) {
        r = sr_tpm2_unseal_with(&t, &k, km0);
    }
    sr_tpm_close(&t);
    return r;
}

static enum sr_err sr_tpm2_describe(const struct sr_seal_config *cfg, const uint8_t *kept, size_t len, json_t *into)
{
    struct sr_tpm_kept k;
    SR_TRY(sr_tpm_kept_parse(kept, len, &k));
    SR_AUTO_JSON json_t *pcrs = json_array();
    SR_ENSURE(pcrs != NULL, SR_ERR_NOMEM);
    for (unsigned i = 0; i < 24; i++) {
        if (k.pcrs & (1u << i)) {
            SR_ENSURE(json_array_append_new(pcrs, json_integer(i)) == 0, SR_ERR_NOMEM);
        }
    }
    char bound[128];
    snprintf(bound, sizeof(bound), "this TPM's storage hierarchy%s", k.pcrs ? " and the SHA-256 PCRs listed" : "");
    SR_ENSURE(json_object_set_new(into, "boundTo", json_string(bound)) == 0 &&
                  json_object_set_new(into, "tcti", json_string(cfg->tcti)) == 0 &&
                  json_object_set(into, "pcrs", pcrs) == 0,
              SR_ERR_NOMEM);
    return SR_OK;
}

/* The TPM reached and the anchor the kept KM0 names found in it (SR_ERR_NOT_FOUND: it names none). Its NV
 * commands take the owner's authorization, not the primary key: none is derived. */
static enum sr_err sr_tpm2_anchor_open(struct sr_tpm *t, struct sr_seal_config *cfg, const uint8_t *kept, size_t len,
                                       ESYS_TR *ret)
{
    struct sr_tpm_kept k;
    *t = (struct sr_tpm){.primary = ESYS_TR_NONE, .session = ESYS_TR_NONE, .object = ESYS_TR_NONE, .cfg = cfg};
    SR_TRY(sr_tpm_kept_parse(kept, len, &k));
    SR_ENSURE(k.nv != 0, SR_ERR_NOT_FOUND);
    SR_TRY(sr_tpm_connect(t, cfg));
    TSS2_RC rc = Esys_TR_FromTPMPublic(t->esys, k.nv, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ret);
    if ((rc & TSS2_RC_LAYER_MASK) == TSS2_TCTI_RC_LAYER) {
        return sr_tpm_fail(t, "reaching the rollback anchor", rc);
    }
    if (rc != TSS2_RC_SUCCESS) {
        snprintf(cfg->diag, sizeof(cfg->diag), "NV index 0x%08x is gone from the TPM on TCTI %s", k.nv, cfg->tcti);
        return SR_ERR_SEAL_ANCHOR;
    }
    return SR_OK;
}

static void sr_tpm2_anchor_close(struct sr_tpm *t, ESYS_TR *nv)
{
    if (*nv != ESYS_TR_NONE && t->esys != NULL) {
        (void)Esys_TR_Close(t->esys, nv);
    }
    sr_tpm_close(t);
}

static enum sr_err sr_tpm2_anchor_read(struct sr_seal_config *cfg, const uint8_t *kept, size_t len,
                                       uint8_t out[SR_KM0_LEN])
{
    struct sr_tpm t;
    ESYS_TR nv = ESYS_TR_NONE;
    enum sr_err r = sr_tpm2_anchor_open(&t, cfg, kept, len, &nv);
    TPM2B_MAX_NV_BUFFER *data = NULL;
    if (r == SR_OK) {
        TSS2_RC rc = Esys_NV_Read(t.esys, ESYS_TR_RH_OWNER, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                                  SR_KM0_LEN, 0, &data);
        r = rc == TSS2_RC_SUCCESS ? SR_OK : sr_tpm_fail(&t, "reading the rollback anchor", rc);
    }
    if (r == SR_OK && data != NULL && data->size == SR_KM0_LEN) {
        memcpy(out, data->buffer, SR_KM0_LEN);
    } else if (r == SR_OK) {
        r = SR_ERR_SEAL_ANCHOR;
    }
    Esys_Free(data);
    sr_tpm2_anchor_close(&t, &nv);
    return r;
}

static enum sr_err sr_tpm2_anchor_write(struct sr_seal_config *cfg, const uint8_t *kept, size_t len,
                                        const uint8_t in[SR_KM0_LEN])
{
    struct sr_tpm t;
    ESYS_TR nv = ESYS_TR_NONE;
    enum sr_err r = sr_tpm2_anchor_open(&t, cfg, kept, len, &nv);
    if (r == SR_OK) {
        TPM2B_MAX_NV_BUFFER data = {.size = SR_KM0_LEN};
        memcpy(data.buffer, in, SR_KM0_LEN);
        TSS2_RC rc =
            Esys_NV_Write(t.esys, ESYS_TR_RH_OWNER, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &data, 0);
        r = rc == TSS2_RC_SUCCESS ? SR_OK : sr_tpm_fail(&t, "writing the rollback anchor", rc);
    }
    sr_tpm2_anchor_close(&t, &nv);
    return r;
}

static enum sr_err sr_tpm2_forget(struct sr_seal_config *cfg, const uint8_t *kept, size_t len)
{
    struct sr_tpm t;
    ESYS_TR nv = ESYS_TR_NONE;
    enum sr_err r = sr_tpm2_anchor_open(&t, cfg, kept, len, &nv);
    if (r == SR_OK) {
        TSS2_RC rc = Esys_NV_UndefineSpace(t.esys, ESYS_TR_RH_OWNER, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE);
        nv = ESYS_TR_NONE; /* undefining closes the handle too */
        r = rc == TSS2_RC_SUCCESS ? SR_OK : sr_tpm_fail(&t, "freeing the rollback anchor", rc);
    } else if (r == SR_ERR_NOT_FOUND || r == SR_ERR_SEAL_ANCHOR) {
        r = SR_OK; /* nothing to free */
    }
    sr_tpm2_anchor_close(&t, &nv);
    return r;
}

const struct sr_seal_ops sr_seal_tpm2 = {
    .name = "tpm2", .suffix = ".tpm2", .seal = sr_tpm2_seal, .unseal = sr_tpm2_unseal, .describe = sr_tpm2_describe,
    .anchor_read = sr_tpm2_anchor_read, .anchor_write = sr_tpm2_anchor_write, .forget = sr_tpm2_forget,
};
