/*
 * bench_sign.c - signatures per second through the module, in process: the cost the vault pays
 * per sign request below HTTP (blob parse, AEAD open under the world key, PKCS#8 decode, sign).
 * Printed as "name ops_per_second"; bench/run.sh puts it beside `openssl speed` of the same run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "crypto/crypto.h"
#include "hsm/blob.h"

/* The process's CPU time, as `openssl speed` divides by its own (user) CPU time unless given -elapsed:
 * time the hypervisor steals from a shared machine counts against neither side. */
static double sr_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sr_die(const char *what, enum sr_err r)
{
    fprintf(stderr, "bench_sign: %s: %s\n", what, sr_err_message(r));
    exit(1);
}

static void sr_bench(const struct sr_module *m, const char *label, const struct sr_key_spec *spec,
                     enum sr_sign_alg alg, double seconds)
{
    struct sr_buf blob;
    sr_buf_init(&blob, 1u << 20, SR_BUF_PLAIN);
    enum sr_err r = sr_blob_generate(m, "0123456789abcdef0123456789abcdef", label, spec, SR_ACL_SIGN, &blob);
    if (r != SR_OK) {
        sr_die("generate", r);
    }
    uint8_t digest[32] = {1, 2, 3};
    unsigned long ops = 0;
    double start = sr_now(), end = start;
    while (end - start < seconds) {
        for (int i = 0; i < 16; i++) {
            struct sr_buf sig;
            sr_buf_init(&sig, 1024, SR_BUF_PLAIN);
            r = sr_blob_sign_digest(m, blob.data, blob.len, alg, digest, sizeof(digest), &sig);
            sr_buf_release(&sig);
            if (r != SR_OK) {
                sr_die("sign", r);
            }
            ops++;
        }
        end = sr_now();
    }
    printf("%s %.0f\n", label, (double)ops / (end - start));
    sr_buf_release(&blob);
}

int main(int argc, char **argv)
{
    double seconds = argc > 2 ? atof(argv[2]) : 2.0;
    if (argc < 2 || sr_crypto_init() != SR_OK) {
        fprintf(stderr, "usage: bench_sign SCRATCH-DIR [SECONDS]\n");
        return 2;
    }
    struct sr_module *m = NULL;
    enum sr_err r = sr_module_open(argv[1], &m);
    struct sr_pins pins = {0};
    pins.pin[0] = OPENSSL_secure_zalloc(16);
    strcpy(pins.pin[0], "bench-pin");
    struct sr_world_params wp = {.suite = "DLf3072s256mRijndael", .quorum_k = 1, .quorum_n = 1};
    struct sr_world_info world;
    if (r == SR_OK && (r = sr_module_set_mode(m, 'I')) == SR_OK && (r = sr_world_create(m, &wp, &pins, &world)) == SR_OK) {
        r = sr_module_set_mode(m, 'O');
    }
    sr_pins_release(&pins);
    if (r != SR_OK) {
        sr_die("module", r);
    }
    struct sr_key_spec rsa = {.type = SR_KEY_RSA, .bits = 2048, .pubexp = 65537};
    struct sr_key_spec ec = {.type = SR_KEY_EC, .curve = SR_CURVE_P256};
    sr_bench(m, "rsa2048-sign", &rsa, SR_ALG_RS256, seconds);
    sr_bench(m, "ecdsap256-sign", &ec, SR_ALG_ES256, seconds);
    sr_module_free(m);
    return 0;
}
