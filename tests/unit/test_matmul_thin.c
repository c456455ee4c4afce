/*
 * test_matmul_thin: the thin-batch products (src/matmul_thin.h) against an
 * independent reference: the scalar reference dequantization
 * (emb_quant_kernel_ref, itself checked against the gguf PyPI package by
 * test_quant) and double-precision dot products computed here.
 *
 * For every computable type and every SIMD level the CPU can run (scalar,
 * avx2, avx512): odd K (element-wise types: K not a multiple of the vector
 * width; every type: K over one tile chunk, EMB_THIN_KC), T = 1..32 tokens,
 * output row ranges that start and end inside a 4-row group, leading
 * dimensions larger than the widths, weights at unaligned addresses. Every
 * output must be within the float accumulation bound of the double result,
 * and nothing outside y[0..T)[r0..r1) may be written.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <float.h>
#include <stdbool.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ggml_types.h"
#include "matmul_thin.h"
#include "quant.h"
#include "random_weights.h"

static const uint32_t TYPES[] = {
    GGML_TYPE_F32,  GGML_TYPE_F16,  GGML_TYPE_BF16, GGML_TYPE_Q4_0,   GGML_TYPE_Q4_1,
    GGML_TYPE_Q5_0, GGML_TYPE_Q5_1, GGML_TYPE_Q8_0, GGML_TYPE_Q2_K,   GGML_TYPE_Q3_K,
    GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K, GGML_TYPE_IQ4_NL, GGML_TYPE_IQ4_XS,
};
#define N_TYPES (sizeof TYPES / sizeof TYPES[0])
static const char *const LEVELS[] = {"scalar", "avx2", "avx512"};
#define CANARY (-7777.0f)

/* Runs one product at the current level and checks it; returns 1 if good. */
static int check_case(uint32_t type, size_t K, size_t N, size_t T, size_t r0, size_t r1,
                      size_t misalign)
{
    const ggml_type_info *info = ggml_type_get(type);
    const size_t row_bytes = K / info->block_size * info->type_size;
    const size_t ldx = K + 3, ldy = N + 5;
    uint8_t *wbuf = malloc(N * row_bytes + misalign + 1);
    float *x = malloc(T * ldx * sizeof(float));
    float *y = malloc(T * ldy * sizeof(float));
    float *wf = malloc(N * K * sizeof(float));
    assert_true(wbuf && x && y && wf);
    uint8_t *wdata = wbuf + misalign;
    test_fill_weights(wdata, type, K, N, row_bytes);
    for (size_t i = 0; i < T * ldx; i++)
        x[i] = test_rng_unit();
    for (size_t i = 0; i < T * ldy; i++)
        y[i] = CANARY;
    for (size_t r = 0; r < N; r++)
        emb_quant_kernel_ref(type)(wf + r * K, wdata + r * row_bytes, K);

    emb_weight w = {.data = wdata, .type = type, .ne0 = (int64_t)K, .ne1 = (int64_t)N,
                    .row_bytes = row_bytes};
    emb_matmul_thin(y, ldy, x, ldx, T, &w, r0, r1);

    int ok = 1;
    for (size_t t = 0; t < T && ok; t++) {
        for (size_t c = 0; c < ldy && ok; c++) {
            const float got = y[t * ldy + c];
            if (c < r0 || c >= r1) {
                if (got != CANARY) {
                    print_error("%s K=%zu N=%zu T=%zu rows [%zu,%zu) at %s: wrote y[%zu][%zu]\n",
                                ggml_type_name(type), K, N, T, r0, r1, emb_quant_simd_level(), t, c);
                    ok = 0;
                }
                continue;
            }
            double want = 0.0, mag = 0.0;
            for (size_t k = 0; k < K; k++) {
                const double p = (double)x[t * ldx + k] * (double)wf[c * K + k];
                want += p;
                mag += fabs(p);
            }
            /* f32 accumulation in lanes of K/8 terms at most, plus the
             * pairwise lane sum and one add per K chunk */
            const double tol = ((double)K / 8.0 + 16.0) * FLT_EPSILON * mag + 1e-30;
            if (!(fabs((double)got - want) <= tol)) {
                print_error("%s K=%zu N=%zu T=%zu rows [%zu,%zu) at %s: y[%zu][%zu] = %.9g, "
                            "want %.9g (tol %.3g)\n",
                            ggml_type_name(type), K, N, T, r0, r1, emb_quant_simd_level(), t, c,
                            (double)got, want, tol);
                ok = 0;
            }
        }
    }
    free(wbuf);
    free(x);
    free(y);
    free(wf);
    return ok;
}

/* emb_matmul_thin_part on a column slice [k0, k0 + kc) of rows [r0, r1),
 * y relative to r0, optionally accumulating onto y's previous values. */
static int check_part(uint32_t type, size_t K, size_t N, size_t T, size_t r0, size_t r1,
                      size_t k0, size_t kc, bool accumulate)
{
    const ggml_type_info *info = ggml_type_get(type);
    const size_t row_bytes = K / info->block_size * info->type_size;
    const size_t W = r1 - r0, ldx = kc + 1, ldy = W + 3;
    uint8_t *wdata = malloc(N * row_bytes);
    float *x = malloc(T * ldx * sizeof(float)), *y = malloc(T * ldy * sizeof(float));
    float *y0 = malloc(T * ldy * sizeof(float)), *wf = malloc(N * K * sizeof(float));
    assert_true(wdata && x && y && y0 && wf);
    test_fill_weights(wdata, type, K, N, row_bytes);
    for (size_t i = 0; i < T * ldx; i++)
        x[i] = test_rng_unit();
    for (size_t i = 0; i < T * ldy; i++)
        y0[i] = y[i] = (i % ldy) < W ? test_rng_unit() : CANARY;
    for (size_t r = 0; r < N; r++)
        emb_quant_kernel_ref(type)(wf + r * K, wdata + r * row_bytes, K);
    emb_weight w = {.data = wdata, .type = type, .ne0 = (int64_t)K, .ne1 = (int64_t)N,
                    .row_bytes = row_bytes};
    emb_matmul_thin_part(y, ldy, x, ldx, T, &w, r0, r1, k0, kc, accumulate);
    int ok = 1;
    for (size_t t = 0; t < T && ok; t++) {
        for (size_t c = 0; c < ldy && ok; c++) {
            const float got = y[t * ldy + c];
            if (c >= W) {
                ok = got == CANARY;
                continue;
            }
            double want = accumulate ? (double)y0[t * ldy + c] : 0.0, mag = fabs(want);
            for (size_t k = 0; k < kc; k++) {
                const double p = (double)x[t * ldx + k] * (double)wf[(r0 + c) * K + k0 + k];
                want += p;
                mag += fabs(p);
            }
            const double tol = ((double)kc / 8.0 + 16.0) * FLT_EPSILON * mag + 1e-30;
            ok = fabs((double)got - want) <= tol;
        }
    }
    if (!ok)
        print_error("%s K=%zu cols [%zu,+%zu) rows [%zu,%zu) T=%zu acc=%d at %s: wrong\n",
                    ggml_type_name(type), K, k0, kc, r0, r1, T, (int)accumulate,
                    emb_quant_simd_level());
    free(wdata);
    free(x);
    free(y);
    free(y0);
    free(wf);
    return ok;
}

static void restore_best_level(void)
{
    for (int i = 2; i >= 0; i--)
        if (emb_quant_force_level(LEVELS[i]))
            return;
    fail_msg("no level accepted, not even scalar");
}

/* Ks of a type: one odd small width, one just over a tile chunk. */
static void widths(uint32_t type, size_t ks[2])
{
    const size_t bs = ggml_type_get(type)->block_size;
    if (bs == 1) {
        ks[0] = 37;                  /* 2 x 16 + 5: vector tails at both widths */
        ks[1] = EMB_THIN_KC + 41;    /* two chunks, the second with a tail      */
    } else {
        ks[0] = 3 * bs;
        ks[1] = (EMB_THIN_KC / bs + 1) * bs;
    }
}

static void test_every_type_level_and_shape(void **state)
{
    (void)state;
    size_t cases = 0;
    int ok = 1;
    for (int l = 0; l < 3; l++) {
        if (!emb_quant_force_level(LEVELS[l]))
            continue;
        for (size_t ti = 0; ti < N_TYPES; ti++) {
            const uint32_t type = TYPES[ti];
            size_t ks[2];
            widths(type, ks);
            /* every T at the small width, 11 rows: groups 4 + 4 + 3 */
            for (size_t T = 1; T <= 32; T++) {
                ok &= check_case(type, ks[0], 11, T, 0, 11, 0);
                cases++;
            }
            /* row ranges starting/ending inside groups; unaligned weights */
            static const size_t ranges[][2] = {{1, 10}, {3, 4}, {5, 11}, {0, 2}};
            static const size_t Ts[] = {1, 5, 6, 7, 14, 32, 64};
            for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++)
                for (size_t j = 0; j < sizeof Ts / sizeof Ts[0]; j++) {
                    ok &= check_case(type, ks[0], 11, Ts[j], ranges[i][0], ranges[i][1], i % 3);
                    cases++;
                }
            /* many rows: 137 = 34 groups + 1, inside a range */
            ok &= check_case(type, ks[0], 137, 14, 2, 135, 0);
            cases++;
            /* more than one K chunk */
            for (size_t j = 0; j < sizeof Ts / sizeof Ts[0]; j++) {
                ok &= check_case(type, ks[1], 6, Ts[j], j % 2, 6, j % 2);
                cases++;
            }
        }
    }
    restore_best_level();
    print_message("[          ] %zu product cases\n", cases);
    assert_true(ok);
}

/* Column slices (as a caller splitting K uses them) and accumulation. */
static void test_column_slices_and_accumulate(void **state)
{
    (void)state;
    size_t cases = 0;
    int ok = 1;
    for (int l = 0; l < 3; l++) {
        if (!emb_quant_force_level(LEVELS[l]))
            continue;
        for (size_t ti = 0; ti < N_TYPES; ti++) {
            const uint32_t type = TYPES[ti];
            const size_t bs = ggml_type_get(type)->block_size;
            size_t ks[2];
            widths(type, ks);
            const size_t K = ks[1];
            const size_t k0 = bs == 1 ? 7 : bs, kc = bs == 1 ? K - 7 - 5 : K - 2 * bs;
            for (int acc = 0; acc < 2; acc++) {
                ok &= check_part(type, K, 9, 14, 1, 8, k0, kc, acc);
                ok &= check_part(type, K, 9, 3, 0, 9, 0, K, acc);
                ok &= check_part(type, K, 9, 6, 5, 9, K - kc, kc, acc); /* a slice to the end */
                cases += 3;
            }
        }
    }
    restore_best_level();
    print_message("[          ] %zu slice cases\n", cases);
    assert_true(ok);
}

/* T == 0 and empty row ranges write nothing. */
static void test_empty_products_write_nothing(void **state)
{
    (void)state;
    float w[64], x[64], y[64];
    for (int i = 0; i < 64; i++) {
        w[i] = 1.0f;
        x[i] = 1.0f;
        y[i] = CANARY;
    }
    emb_weight wt = {.data = w, .type = GGML_TYPE_F32, .ne0 = 16, .ne1 = 4, .row_bytes = 64};
    emb_matmul_thin(y, 4, x, 16, 0, &wt, 0, 4);
    emb_matmul_thin(y, 4, x, 16, 2, &wt, 3, 3);
    emb_matmul_thin(y, 4, x, 16, 2, &wt, 4, 2);
    for (int i = 0; i < 64; i++)
        assert_true(y[i] == CANARY);
}

/* The predicate: never for types that cannot be computed or T == 0; at the
 * scalar level never (BLAS wins); on SIMD levels for 1..EMB_THIN_MAX_TOKENS. */
static void test_predicate(void **state)
{
    (void)state;
    assert_false(emb_matmul_thin_wins(GGML_TYPE_F16, 0));
    assert_false(emb_matmul_thin_wins(GGML_TYPE_COUNT, 1));
    assert_false(emb_matmul_thin_wins(4 /* Q4_2, removed */, 1));
    assert_true(emb_quant_force_level("scalar"));
    assert_false(emb_matmul_thin_wins(GGML_TYPE_F16, 1));
    restore_best_level();
    if (strcmp(emb_quant_simd_level(), "scalar") != 0) {
        for (size_t i = 0; i < N_TYPES; i++) {
            assert_true(emb_matmul_thin_wins(TYPES[i], 1));
            assert_true(emb_matmul_thin_wins(TYPES[i], 14));
            assert_true(emb_matmul_thin_wins(TYPES[i], EMB_THIN_MAX_TOKENS));
            assert_false(emb_matmul_thin_wins(TYPES[i], EMB_THIN_MAX_TOKENS + 1));
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_type_level_and_shape),
        cmocka_unit_test(test_column_slices_and_accumulate),
        cmocka_unit_test(test_empty_products_write_nothing),
        cmocka_unit_test(test_predicate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
