/*
 * fuzz.h - the contract between a harness and replay_main.c.
 *
 * A harness implements sr_fuzz_setup (everything LLVMFuzzerTestOneInput needs:
 * a module, a store, genuine partner files; idempotent), LLVMFuzzerTestOneInput
 * and sr_fuzz_seeds, which makes valid inputs at run time after the set-up.
 * Under ctest, replay_main.c runs every seed and a fixed, deterministic set of
 * mutations of each, so every harness is also a regression test. Under
 * libFuzzer (make fuzz), libfuzzer_init.c's LLVMFuzzerInitialize does the
 * set-up and writes the seeds into $SR_FUZZ_SEED_DIR as the initial corpus.
 */
#ifndef SR_FUZZ_H
#define SR_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

#define SR_FUZZ_MAX_SEEDS 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
void sr_fuzz_setup(void);
/* Fills seeds[0..*n) with valid inputs (each initialised by the harness). */
void sr_fuzz_seeds(struct sr_buf *seeds, size_t *n);

#endif
