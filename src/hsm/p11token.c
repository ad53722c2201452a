/* p11token.c - loading a PKCS#11 library, finding the URI's token and logging in (p11token.h). */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "base/fileio.h"
#include "base/safety.h"
#include "hsm/p11token.h"

static void sr_p11_trim(char *out, size_t cap, const unsigned char *field, size_t len)
{
    snprintf(out, cap, "%.*s", (int)len, (const char *)field);
    for (size_t e = strlen(out); e > 0 && out[e - 1] == ' '; e--) {
        out[e - 1] = 0;
    }
}

enum sr_err sr_p11_token_load(struct sr_p11_token *t, const char *uri, char *diag, size_t cap)
{
    *t = (struct sr_p11_token){0};
    t->uri = p11_kit_uri_new();
    SR_ENSURE(t->uri != NULL, SR_ERR_NOMEM);
    int pr = p11_kit_uri_parse(uri, P11_KIT_URI_FOR_ANY, t->uri);
    if (pr != P11_KIT_URI_OK) {
        snprintf(diag, cap, "%s", p11_kit_uri_message(pr));
        return SR_ERR_P11_SEAL_URI;
    }
    const char *module = p11_kit_uri_get_module_path(t->uri);
    if (module == NULL) {
        snprintf(diag, cap, "the URI has no module-path= (the HSM's PKCS#11 library)");
        return SR_ERR_P11_SEAL_URI;
    }
    t->lib = dlopen(module, RTLD_NOW | RTLD_LOCAL);
    CK_C_GetFunctionList get = t->lib ? (CK_C_GetFunctionList)dlsym(t->lib, "C_GetFunctionList") : NULL;
    if (get == NULL || get(&t->f) != CKR_OK) {
        snprintf(diag, cap, "cannot load the PKCS#11 library %s", module);
        return SR_ERR_P11_SEAL_TOKEN;
    }
    CK_C_INITIALIZE_ARGS init = {.flags = CKF_OS_LOCKING_OK};
    CK_RV rv = t->f->C_Initialize(&init);
    if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
        snprintf(diag, cap, "C_Initialize of %s returned 0x%lx", module, (unsigned long)rv);
        return SR_ERR_P11_SEAL_TOKEN;
    }
    t->initialized = rv == CKR_OK;
    return SR_OK;
}

enum sr_err sr_p11_token_find(struct sr_p11_token *t, char *diag, size_t cap)
{
    CK_SLOT_ID slots[64];
    CK_ULONG n = SR_ARRAY_LEN(slots);
    CK_RV rv = t->f->C_GetSlotList(CK_TRUE, slots, &n);
    if (rv != CKR_OK) {
        snprintf(diag, cap, "C_GetSlotList returned 0x%lx", (unsigned long)rv);
        return SR_ERR_P11_SEAL_TOKEN;
    }
    for (CK_ULONG i = 0; i < n; i++) {
        CK_TOKEN_INFO info;
        if (t->f->C_GetTokenInfo(slots[i], &info) == CKR_OK && p11_kit_uri_match_token_info(t->uri, &info)) {
            t->slot = slots[i];
            t->info = info;
            sr_p11_trim(t->label, sizeof(t->label), info.label, sizeof(info.label));
            sr_p11_trim(t->serial, sizeof(t->serial), info.serialNumber, sizeof(info.serialNumber));
            sr_p11_trim(t->model, sizeof(t->model), info.model, sizeof(info.model));
            sr_p11_trim(t->manufacturer, sizeof(t->manufacturer), info.manufacturerID, sizeof(info.manufacturerID));
            return SR_OK;
        }
    }
    CK_TOKEN_INFO_PTR want = p11_kit_uri_get_token_info(t->uri);
    char label[33] = "";
    if (want != NULL && want->label[0] != 0) {
        sr_p11_trim(label, sizeof(label), want->label, sizeof(want->label));
    }
    snprintf(diag, cap, "no token present matches the URI (token=%s)", label[0] ? label : "any");
    return SR_ERR_P11_SEAL_TOKEN;
}

enum sr_err sr_p11_token_login(struct sr_p11_token *t, CK_SESSION_HANDLE s, char *diag, size_t cap)
{
    SR_AUTO_BUF struct sr_buf pin = {0};
    sr_buf_init(&pin, 4096, SR_BUF_SECRET);
    const char *value = p11_kit_uri_get_pin_value(t->uri);
    const char *source = p11_kit_uri_get_pin_source(t->uri);
    if (value != NULL) {
        SR_TRY(sr_buf_append_str(&pin, value));
    } else if (source == NULL) {
        snprintf(diag, cap, "the URI has no pin-source=file:PATH");
        return SR_ERR_P11_SEAL_URI;
    } else {
        const char *path = strncmp(source, "file:", 5) == 0 ? source + 5 : source;
        SR_AUTO_BUF struct sr_buf file = {0};
        sr_buf_init(&file, 4096, SR_BUF_SECRET);
        if (sr_file_read(path, &file) != SR_OK) {
            snprintf(diag, cap, "cannot read the PIN file %s", path);
            return SR_ERR_P11_SEAL_PIN;
        }
        size_t len = 0;
        while (len < file.len && file.data[len] != '\n' && file.data[len] != '\r') {
            len++;
        }
        SR_TRY(sr_buf_append(&pin, file.data, len));
    }
    CK_RV rv = t->f->C_Login(s, CKU_USER, pin.data, pin.len);
    if (rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN) {
        return SR_OK;
    }
    snprintf(diag, cap, "C_Login returned 0x%lx (token %s)", (unsigned long)rv, t->label[0] ? t->label : "?");
    return rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED ? SR_ERR_P11_SEAL_PIN : SR_ERR_P11_SEAL_TOKEN;
}

void sr_p11_token_close(struct sr_p11_token *t)
{
    if (t->initialized) {
        (void)t->f->C_Finalize(NULL);
    }
    if (t->lib != NULL) {
        dlclose(t->lib);
    }
    if (t->uri != NULL) {
        p11_kit_uri_free(t->uri);
    }
    *t = (struct sr_p11_token){0};
}
