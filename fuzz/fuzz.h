/*
 * fuzz.h - the contract between a harness and replay_main.c.
 *
 * A harness implements LLVMFuzzerTestOneInput (so libFuzzer can drive it:
 * clang -fsanitize=fuzzer) and sr_fuzz_seeds, which makes valid inputs at run
 * time. replay_main.c runs every seed and a fixed, deterministic set of
 * mutations of each under ctest, so every harness is also a regression test.
 */
#ifndef SR_FUZZ_H
#define SR_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

#define SR_FUZZ_MAX_SEEDS 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Fills seeds[0..*n) with valid inputs (each initialised by the harness). */
void sr_fuzz_seeds(struct sr_buf *seeds, size_t *n);

#endif
