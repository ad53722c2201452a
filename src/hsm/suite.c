#include "hsm/suite.h"

#include <string.h>

static const struct sr_suite sr_suites[] = {
    {"DLf3072s256mRijndael", 128},
    {"DLf3072s256mAEScSP800131Ar1", 128},
    {SR_SUITE_TOKEN, 128},
};

/* = reference/hsm-world.md §1.4 | SP 800-131A Rev 1 */
/*# DSA-1024 and SHA-1 signatures are disallowed: refuse the legacy suite and name the replacement. */
static const char *const sr_refused_suites[] = {"DLf1024s160mRijndael"};

enum sr_err sr_suite_lookup(const char *name, const struct sr_suite **ret)
{
    for (size_t i = 0; i < SR_ARRAY_LEN(sr_suites); i++) {
        if (strcmp(sr_suites[i].name, name) == 0) {
            *ret = &sr_suites[i];
            return SR_OK;
        }
    }
    for (size_t i = 0; i < SR_ARRAY_LEN(sr_refused_suites); i++) {
        if (strcmp(sr_refused_suites[i], name) == 0) {
            return SR_ERR_SUITE_WEAK;
        }
    }
    return SR_ERR_SUITE_UNKNOWN;
}
