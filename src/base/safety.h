/*
 * safety.h - the error-propagation and cleanup idiom used everywhere.
 *
 *   SR_TRY(expr)          propagate a non-SR_OK code from expr
 *   SR_ENSURE(cond, code) return code unless cond holds
 *   SR_BAIL(code)         return code
 *   SR_AUTO(fn)           run fn(&var) when var leaves scope, so early returns never leak
 *   SR_TAKE(p)            hand ownership on: yields p and sets it to NULL
 *
 * Every fallible function is SR_MUST_USE. Functions use these macros and
 * cleanup attributes; none uses goto-out. See docs/internals/ERRORS.md.
 */
#ifndef SR_BASE_SAFETY_H
#define SR_BASE_SAFETY_H

#include <stdlib.h>

#include "base/err.h"

#define SR_MUST_USE __attribute__((warn_unused_result))

#define SR_TRY(expr)                              \
    do {                                          \
        enum sr_err sr_try_r_ = (expr);           \
        if (sr_try_r_ != SR_OK) {                 \
            return sr_try_r_;                     \
        }                                         \
    } while (0)

#define SR_ENSURE(cond, code)                     \
    do {                                          \
        if (!(cond)) {                            \
            return (code);                        \
        }                                         \
    } while (0)

#define SR_BAIL(code) return (code)

#define SR_AUTO(fn) __attribute__((cleanup(fn)))

#define SR_TAKE(p)                                \
    ({                                            \
        __typeof__(p) sr_take_ = (p);             \
        (p) = NULL;                               \
        sr_take_;                                 \
    })

/* Defines `static inline void name(type **p)` calling freefn(*p) when non-NULL. */
#define SR_DEFINE_CLEANUP(name, type, freefn)     \
    static inline void name(type **p)             \
    {                                             \
        if (*p != NULL) {                         \
            freefn(*p);                           \
            *p = NULL;                            \
        }                                         \
    }

SR_DEFINE_CLEANUP(sr_freep_char, char, free)

#define SR_AUTO_FREE SR_AUTO(sr_freep_char)

#define SR_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
