/*
 * random_weights: deterministic test inputs for the product and quantization
 * tests. One xorshift64* stream per test process (each test is its own
 * executable), so a failing case reproduces run after run.
 */
#ifndef EMB_TEST_RANDOM_WEIGHTS_H
#define EMB_TEST_RANDOM_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

#define TEST_RNG_DEFAULT_SEED 0x243F6A8885A308D3ull

/* Restarts the stream (0: the default seed). */
void test_rng_seed(uint64_t seed);
uint64_t test_rng_next(void);
/* uniform in [-1, 1) */
float test_rng_unit(void);

/* n_rows rows of K elements of `type` (K a whole number of its blocks),
 * row_bytes apart, at buf: random values in [-1, 1) for F32/F16/BF16, random
 * bytes for block types except their f16 scale fields, which get finite
 * values in [0.01, 0.11) (random bytes there could be inf/NaN). */
void test_fill_weights(uint8_t *buf, uint32_t type, size_t K, size_t n_rows, size_t row_bytes);

#endif
