#include "hsm/shamir.h"

#include <stdlib.h>
#include <string.h>

#include <libgfshare.h>
#include <openssl/rand.h>

#include "base/buf.h"

/* libgfshare's hook has no way to report failure; a failed RAND_bytes must not yield weak shares. */
static void sr_gfshare_rand(unsigned char *buf, unsigned int n)
{
    if (RAND_bytes(buf, (int)n) != 1) {
        abort();
    }
}

static void sr_gfshare_hook(void)
{
    /* The hook is libgfshare's own global; setting it to the same function is idempotent. */
    gfshare_fill_rand = sr_gfshare_rand;
}

enum sr_err sr_shamir_split(const uint8_t secret[SR_SHARE_LEN], unsigned k, unsigned n,
                            uint8_t (*shares)[SR_SHARE_LEN])
{
    SR_ENSURE(k >= 1 && k <= n && n <= SR_MAX_CARDS, SR_ERR_QUORUM);
    sr_gfshare_hook();
    uint8_t xs[SR_MAX_CARDS];
    for (unsigned i = 0; i < n; i++) {
        xs[i] = (uint8_t)(i + 1);
    }
    gfshare_ctx *ctx = gfshare_ctx_init_enc(xs, n, (unsigned char)k, SR_SHARE_LEN);
    SR_ENSURE(ctx != NULL, SR_ERR_NOMEM);
    uint8_t copy[SR_SHARE_LEN];
    memcpy(copy, secret, SR_SHARE_LEN); /* setsecret takes a non-const pointer */
    gfshare_ctx_enc_setsecret(ctx, copy);
    sr_wipe(copy, sizeof(copy));
    for (unsigned i = 0; i < n; i++) {
        gfshare_ctx_enc_getshare(ctx, (unsigned char)i, shares[i]);
    }
    gfshare_ctx_free(ctx);
    return SR_OK;
}

enum sr_err sr_shamir_combine(const uint8_t *xs, const uint8_t (*shares)[SR_SHARE_LEN], unsigned count,
                              uint8_t secret[SR_SHARE_LEN])
{
    SR_ENSURE(count >= 1 && count <= SR_MAX_CARDS, SR_ERR_QUORUM_NOT_MET);
    uint8_t x[SR_MAX_CARDS];
    for (unsigned i = 0; i < count; i++) {
        SR_ENSURE(xs[i] != 0, SR_ERR_CARD_TAMPERED);
        for (unsigned j = 0; j < i; j++) {
            SR_ENSURE(xs[j] != xs[i], SR_ERR_CARD_TAMPERED);
        }
        x[i] = xs[i];
    }
    sr_gfshare_hook();
    gfshare_ctx *ctx = gfshare_ctx_init_dec(x, count, SR_SHARE_LEN);
    SR_ENSURE(ctx != NULL, SR_ERR_NOMEM);
    for (unsigned i = 0; i < count; i++) {
        uint8_t share[SR_SHARE_LEN];
        memcpy(share, shares[i], SR_SHARE_LEN);
        gfshare_ctx_dec_giveshare(ctx, (unsigned char)i, share);
        sr_wipe(share, sizeof(share));
    }
    gfshare_ctx_dec_extract(ctx, secret);
    gfshare_ctx_free(ctx);
    return SR_OK;
}
