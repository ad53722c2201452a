/*
 * bench_p11.c - C_Sign per second through any PKCS#11 library, as an application calls it: one session
 * per thread, C_SignInit then C_Sign of a 32-byte input, for a fixed time. bench/pkcs11.sh runs it on
 * libstrongroom-pkcs11.so and on SoftHSMv2 in the same run, beside `openssl speed`.
 *
 * usage: bench_p11 LIBRARY PIN LABEL rsa|ec SECONDS THREADS   (prints "ops/s")
 */
#include <p11-kit/pkcs11.h>

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct bench {
    CK_FUNCTION_LIST_PTR f;
    CK_SLOT_ID slot; /* the first with a token */
    CK_MECHANISM_TYPE mech;
    const char *label;
    double seconds;
    atomic_long done;
    atomic_int failed;
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static CK_OBJECT_HANDLE find_key(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s, const char *label)
{
    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_LABEL, (void *)label, strlen(label)}};
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
    CK_ULONG n = 0;
    if (f->C_FindObjectsInit(s, tmpl, 2) != CKR_OK || f->C_FindObjects(s, &h, 1, &n) != CKR_OK ||
        f->C_FindObjectsFinal(s) != CKR_OK || n != 1) {
        return CK_INVALID_HANDLE;
    }
    return h;
}

static void *worker(void *arg)
{
    struct bench *b = arg;
    CK_SESSION_HANDLE s;
    if (b->f->C_OpenSession(b->slot, CKF_SERIAL_SESSION, NULL, NULL, &s) != CKR_OK) {
        atomic_fetch_add(&b->failed, 1);
        return NULL;
    }
    CK_OBJECT_HANDLE key = find_key(b->f, s, b->label);
    CK_BYTE data[32] = {1, 2, 3}, sig[1024];
    CK_MECHANISM mech = {b->mech, NULL, 0};
    double end = now() + b->seconds;
    long n = 0;
    while (key != CK_INVALID_HANDLE && now() < end) {
        CK_ULONG siglen = sizeof(sig);
        if (b->f->C_SignInit(s, &mech, key) != CKR_OK || b->f->C_Sign(s, data, sizeof(data), sig, &siglen) != CKR_OK) {
            atomic_fetch_add(&b->failed, 1);
            break;
        }
        n++;
    }
    if (key == CK_INVALID_HANDLE) {
        atomic_fetch_add(&b->failed, 1);
    }
    atomic_fetch_add(&b->done, n);
    b->f->C_CloseSession(s);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: bench_p11 LIBRARY PIN LABEL rsa|ec SECONDS THREADS\n");
        return 2;
    }
    void *lib = dlopen(argv[1], RTLD_NOW);
    CK_C_GetFunctionList get = lib ? (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList") : NULL;
    struct bench b = {.label = argv[3], .mech = strcmp(argv[4], "ec") == 0 ? CKM_ECDSA : CKM_SHA256_RSA_PKCS,
                      .seconds = atof(argv[5])};
    CK_C_INITIALIZE_ARGS init = {.flags = CKF_OS_LOCKING_OK};
    CK_SESSION_HANDLE login;
    CK_SLOT_ID slots[16];
    CK_ULONG nslots = 16;
    if (get == NULL || get(&b.f) != CKR_OK || b.f->C_Initialize(&init) != CKR_OK ||
        b.f->C_GetSlotList(CK_TRUE, slots, &nslots) != CKR_OK || nslots < 1 || (b.slot = slots[0], false) ||
        b.f->C_OpenSession(b.slot, CKF_SERIAL_SESSION, NULL, NULL, &login) != CKR_OK ||
        b.f->C_Login(login, CKU_USER, (CK_UTF8CHAR_PTR)argv[2], strlen(argv[2])) != CKR_OK) {
        fprintf(stderr, "bench_p11: cannot load %s, or log in\n", argv[1]);
        return 1;
    }
    int threads = atoi(argv[6]);
    pthread_t th[64];
    double start = now();
    for (int i = 0; i < threads && i < 64; i++) {
        pthread_create(&th[i], NULL, worker, &b);
    }
    for (int i = 0; i < threads && i < 64; i++) {
        pthread_join(th[i], NULL);
    }
    double took = now() - start;
    b.f->C_Logout(login);
    b.f->C_CloseSession(login);
    b.f->C_Finalize(NULL);
    if (atomic_load(&b.failed) != 0) {
        fprintf(stderr, "bench_p11: %d threads failed\n", atomic_load(&b.failed));
        return 1;
    }
    printf("%.0f\n", (double)atomic_load(&b.done) / took);
    return 0;
}
