/*
 * random_weights: the deterministic pseudo-random numbers and weight rows of
 * every ggml type that the product tests (test_matmul_thin, test_matmul_panel)
 * and test_quant feed to the kernels. See random_weights.h.
 */
#include "random_weights.h"

#include <string.h>

#include "quant.h"
#include "ggml_types.h"

static uint64_t rng_state = TEST_RNG_DEFAULT_SEED;

void test_rng_seed(uint64_t seed)
{
    rng_state = seed ? seed : TEST_RNG_DEFAULT_SEED;
}

uint64_t test_rng_next(void)
{
    uint64_t x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* uniform in [-1, 1) */
float test_rng_unit(void)
{
    return (float)((double)(test_rng_next() >> 11) / 4503599627370496.0 - 1.0);
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

/* Byte offsets of the f16 scale fields inside one block (ggml-common.h),
 * -1 terminated: random bytes there could be inf/NaN, which would make the
 * comparison meaningless, so they get finite values of moderate size. */
static const int *scale_fields(uint32_t type)
{
    static const int d0[] = {0, -1}, dm[] = {0, 2, -1}, q2k[] = {80, 82, -1}, q3k[] = {108, -1},
                     q6k[] = {208, -1}, none[] = {-1};
    switch (type) {
    case GGML_TYPE_Q4_0:
    case GGML_TYPE_Q5_0:
    case GGML_TYPE_Q8_0:
    case GGML_TYPE_IQ4_NL:
    case GGML_TYPE_IQ4_XS:
        return d0;
    case GGML_TYPE_Q4_1:
    case GGML_TYPE_Q5_1:
    case GGML_TYPE_Q4_K:
    case GGML_TYPE_Q5_K:
        return dm;
    case GGML_TYPE_Q2_K:
        return q2k;
    case GGML_TYPE_Q3_K:
        return q3k;
    case GGML_TYPE_Q6_K:
        return q6k;
    default:
        return none;
    }
}

/* n_rows rows of K elements of `type`, row_bytes apart, at buf + 0. */
void test_fill_weights(uint8_t *buf, uint32_t type, size_t K, size_t n_rows, size_t row_bytes)
{
    const ggml_type_info *info = ggml_type_get(type);
    for (size_t r = 0; r < n_rows; r++) {
        uint8_t *row = buf + r * row_bytes;
        if (type == GGML_TYPE_F32) {
            for (size_t k = 0; k < K; k++) {
                float v = test_rng_unit();
                memcpy(row + 4 * k, &v, 4);
            }
        } else if (type == GGML_TYPE_F16) {
            for (size_t k = 0; k < K; k++)
                put16(row + 2 * k, emb_f32_to_f16(test_rng_unit()));
        } else if (type == GGML_TYPE_BF16) {
            for (size_t k = 0; k < K; k++) {
                float v = test_rng_unit();
                uint32_t bits;
                memcpy(&bits, &v, 4);
                put16(row + 2 * k, (uint16_t)(bits >> 16));
            }
        } else {
            for (size_t i = 0; i < K / info->block_size * info->type_size; i++)
                row[i] = (uint8_t)(test_rng_next() >> 56);
            for (size_t b = 0; b < K / info->block_size; b++)
                for (const int *f = scale_fields(type); *f >= 0; f++)
                    put16(row + b * info->type_size + (size_t)*f,
                          emb_f32_to_f16(0.01f + 0.05f * (test_rng_unit() + 1.0f)));
        }
    }
}
