/* fixture.c - the tokens of the PKCS#11 conformance programs (fixture.h). */
#include "fixture.h"

#include "testlib.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SR_SOFTHSM "/usr/lib/softhsm/libsofthsm2.so"



static void sr_token_load(struct sr_token *t, const char *path)
{
    t->lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    assert_non_null(t->lib);
    CK_C_GetFunctionList get = (CK_C_GetFunctionList)dlsym(t->lib, "C_GetFunctionList");
    assert_non_null(get);
    assert_int_equal(get(&t->f), CKR_OK);
    assert_int_equal(t->f->C_Initialize(NULL), CKR_OK);
    CK_SLOT_ID slots[8];
    CK_ULONG n = 8;
    assert_int_equal(t->f->C_GetSlotList(CK_TRUE, slots, &n), CKR_OK);
    assert_true(n >= 1);
    t->slot = slots[0];
}

/* Strongroom: a module with a 2-of-3 world; its SO is a quorum of the cards. */
void sr_token_strongroom(struct sr_token *t)
{
    t->name = "libstrongroom-pkcs11.so";
    sr_test_tmpdir(t->dir, sizeof(t->dir));
    struct sr_module *m = sr_test_module_with_world(t->dir, 2, 3, NULL);
    sr_module_free(m);
    setenv("STRONGROOM_KMDATA", t->dir, 1);
    t->so_pin = "1:pin-1,2:pin-2";
    sr_token_load(t, SR_PKCS11_LIB);
}

/* SoftHSMv2: a token of its own under its own SOFTHSM2_CONF; skipped (false) where it is not installed. */
bool sr_token_softhsm(struct sr_token *t)
{
    if (access(SR_SOFTHSM, R_OK) != 0) {
        fprintf(stderr, "SoftHSMv2 is not installed (%s): its column is skipped\n", SR_SOFTHSM);
        return false;
    }
    t->name = "SoftHSMv2";
    sr_test_tmpdir(t->dir, sizeof(t->dir));
    char conf[400], cmd[1024];
    snprintf(conf, sizeof(conf), "%s/softhsm2.conf", t->dir);
    FILE *f = fopen(conf, "w");
    assert_non_null(f);
    fprintf(f, "directories.tokendir = %s\n", t->dir);
    fclose(f);
    setenv("SOFTHSM2_CONF", conf, 1);
    snprintf(cmd, sizeof(cmd), "softhsm2-util --init-token --free --label conf --pin 1234 --so-pin 5678 >/dev/null");
    assert_int_equal(system(cmd), 0);
    t->so_pin = "5678";
    sr_token_load(t, SR_SOFTHSM);
    return true;
}

void sr_token_restart(struct sr_token *t)
{
    assert_int_equal(t->f->C_Finalize(NULL), CKR_OK);
    dlclose(t->lib);
    sr_token_load(t, strcmp(t->name, "SoftHSMv2") == 0 ? SR_SOFTHSM : SR_PKCS11_LIB);
}

void sr_token_close(struct sr_token *t)
{
    assert_int_equal(t->f->C_Finalize(NULL), CKR_OK);
    dlclose(t->lib);
    sr_test_rmrf(t->dir);
}

CK_SESSION_HANDLE sr_open(struct sr_token *t, CK_FLAGS rw)
{
    CK_SESSION_HANDLE s = 0;
    assert_int_equal(t->f->C_OpenSession(t->slot, CKF_SERIAL_SESSION | rw, NULL, NULL, &s), CKR_OK);
    return s;
}


enum sr_err sr_module_set_user_pin_of(const char *dir, const char *pin)
{
    struct sr_module *m = NULL;
    SR_TRY(sr_module_open(dir, &m));
    enum sr_err r = sr_module_set_user_pin(m, pin, strlen(pin));
    sr_module_free(m);
    return r;
}
