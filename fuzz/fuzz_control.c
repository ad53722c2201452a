/*
 * fuzz_control.c - a request line on DATA/control.sock (http/control.h), from whoever can reach it.
 * Target: sr_control_parse. Properties: it never crashes or leaks; what it takes is one of the two shapes
 * (status; unseal with a region that fits, a non-empty PIN and card bytes); the request is released on
 * every path.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "http/control.h"

void sr_fuzz_setup(void)
{
    /* A pure parser: nothing to set up. */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sr_control_request req;
    enum sr_err r = sr_control_parse((const char *)data, size, &req);
    if (r == SR_OK) {
        bool status = strcmp(req.op, "status") == 0;
        bool unseal = strcmp(req.op, "unseal") == 0 && req.region[0] != 0 && req.pin[0] != 0 && req.card.len > 0 &&
                      strlen(req.region) <= SR_MAX_REGION;
        if (!status && !unseal) {
            abort();
        }
    } else if (r != SR_ERR_CONTROL) {
        abort(); /* one error for every malformed line */
    }
    sr_control_request_release(&req);
    return 0;
}

void sr_fuzz_seeds(struct sr_buf *seeds, size_t *n)
{
    static const char *const inputs[] = {
        "{\"op\":\"status\"}",
        "{\"op\":\"unseal\",\"region\":\"EU\",\"card\":\"U1JDQVJEMDE\",\"pin\":\"pin-one\"}",
        "{\"op\":\"unseal\",\"region\":\"EU\",\"card\":\"%%%\",\"pin\":\"x\"}",
        "{\"op\":\"status\",\"op\":\"unseal\"}",
        "[\"op\",\"status\"]",
    };
    for (size_t i = 0; i < SR_ARRAY_LEN(inputs); i++) {
        sr_buf_init(&seeds[i], 256, SR_BUF_PLAIN);
        if (sr_buf_append(&seeds[i], inputs[i], strlen(inputs[i])) != SR_OK) {
            abort();
        }
    }
    *n = SR_ARRAY_LEN(inputs);
}
